//! `GET /api/v1/event`: what the pages need to know about this deployment,
//! so that no page hard-codes the event (its place, windows, resolutions,
//! languages, categories, levels, CAP value lists and base map).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::basemap::Basemap;
use crate::domain::broadcast::{Category, Certainty, Severity, Urgency};

/// The resolutions a deployment counts and serves.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resolutions {
    /// The coarsest counted.
    pub min: u8,
    /// The finest counted.
    pub max: u8,
    /// What a request that names none reads.
    pub default: u8,
    /// The finest the public may read.
    pub public_max: u8,
}

/// One public level and the densities it covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicLevel {
    /// 1–5.
    #[schema(minimum = 1, maximum = 5)]
    pub level: u8,
    /// Items per km² per minute from which it applies.
    pub from: f64,
    /// Items per km² per minute below which it applies; none for the top level.
    pub below: Option<f64>,
}

/// One level of a zone and the densities it covers (DESIGN §9).
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneLevel {
    /// `normal`, `caution`, `alert`, `serious` or `critical`.
    #[schema(value_type = String)]
    pub level: crate::crowd::level::Level,
    /// People per m² from which it applies.
    pub from: f64,
    /// People per m² below which it applies; none for the top level.
    pub below: Option<f64>,
}

/// The levels the pages show, by scale.
#[derive(Debug, Serialize, ToSchema)]
pub struct Levels {
    /// The public heatmap's levels, in items per km² per minute.
    pub public: Vec<PublicLevel>,
    /// The zones' levels, in people per m² (`--density-levels`).
    pub zones: Vec<ZoneLevel>,
}

/// The CAP value lists a message may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapValues {
    /// CAP `category`.
    pub categories: Vec<&'static str>,
    /// CAP `severity`.
    pub severities: Vec<&'static str>,
    /// CAP `urgency`.
    pub urgencies: Vec<&'static str>,
    /// CAP `certainty`.
    pub certainties: Vec<&'static str>,
}

/// Which kind of base map the pages draw (DESIGN §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BasemapKind {
    /// The built-in offline streets, a GeoJSON of `geodata/basemap/`.
    Builtin,
    /// A PMTiles archive of vector tiles, read with HTTP range requests.
    Pmtiles,
    /// A MapLibre style.
    Style,
}

/// The base map the pages draw.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BasemapInfo {
    /// `builtin`, `pmtiles` or `style`.
    pub kind: BasemapKind,
    /// Where to load it from: the built-in streets' GeoJSON, the archive
    /// (`/basemap.pmtiles`) or the style. A style on another server makes
    /// the pages' requests leave this one: the operator chose so.
    #[schema(example = "/basemap.pmtiles")]
    pub url: String,
}

impl From<&Basemap> for BasemapInfo {
    fn from(basemap: &Basemap) -> Self {
        match basemap {
            Basemap::Builtin => Self {
                kind: BasemapKind::Builtin,
                url: "/basemap/bologna-streets.geojson".into(),
            },
            Basemap::Pmtiles(_) => Self {
                kind: BasemapKind::Pmtiles,
                url: crate::basemap::PMTILES_PATH.into(),
            },
            Basemap::Style(style) => Self {
                kind: BasemapKind::Style,
                url: style.as_str().to_owned(),
            },
        }
    }
}

/// The deployment, as the pages need it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// The event's name.
    pub name: String,
    /// `[minLon, minLat, maxLon, maxLat]` around the event's zones; none without zones.
    pub bbox: Option<[f64; 4]>,
    /// The windows clients may read, shortest first.
    pub windows: Vec<String>,
    /// The window of requests that name none.
    pub default_window: String,
    /// The resolutions counted and served.
    pub resolutions: Resolutions,
    /// The event's languages (BCP 47), the default first.
    pub languages: Vec<String>,
    /// What a report may be about.
    pub report_categories: Vec<&'static str>,
    /// The levels the pages show (the public heatmap's, in items per km²
    /// per minute).
    pub levels: Levels,
    /// Distinct contributors a cell needs before the public sees it.
    pub k_anonymity: u64,
    /// How far back `?at=` can replay counts (`--count-retention`), seconds.
    pub count_retention_secs: u64,
    /// The CAP value lists of safety messages.
    pub cap: CapValues,
    /// The base map the pages draw under the heat.
    pub basemap: BasemapInfo,
}

/// What the pages need to know about this deployment.
#[utoipa::path(get, path = "/api/v1/event", tag = "event", operation_id = "event",
    responses((status = 200, description = "The deployment: name, place, windows, resolutions, languages, categories, levels, CAP lists, base map", body = Event),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope),
              (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn get_event(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let s = &state.settings;
    let bounds = s.public_bands.bounds();
    let public_levels = (0..5)
        .map(|i| PublicLevel {
            level: i as u8 + 1,
            from: if i == 0 { 0.0 } else { bounds[i - 1] },
            below: bounds.get(i).copied(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Event {
        name: s.event_name.clone(),
        bbox: state.zones.extent(),
        windows: s.windows.all().iter().map(|w| w.name().to_owned()).collect(),
        default_window: s.windows.default_window().name().to_owned(),
        resolutions: Resolutions {
            min: u8::from(s.resolutions.coarsest()),
            max: u8::from(s.resolutions.finest()),
            default: s.default_res,
            public_max: s.public_max_res.min(u8::from(s.resolutions.finest())),
        },
        languages: s.languages.clone(),
        report_categories: crate::domain::report::CATEGORIES.to_vec(),
        levels: Levels {
            public: public_levels,
            zones: s
                .density_levels
                .scale()
                .into_iter()
                .map(|(level, from, below)| ZoneLevel { level, from, below })
                .collect(),
        },
        k_anonymity: s.k_anonymity,
        count_retention_secs: s.count_retention.as_secs(),
        cap: CapValues {
            categories: Category::VALUES.to_vec(),
            severities: Severity::VALUES.to_vec(),
            urgencies: Urgency::VALUES.to_vec(),
            certainties: Certainty::VALUES.to_vec(),
        },
        basemap: BasemapInfo::from(&s.basemap),
    }))
}
