//! `GET /api/v1/zones`: the event's zones from `geodata/zones/` as GeoJSON.

use actix_web::{HttpResponse, web};

use super::AppState;

/// The event's zones: perimeter, sectors, exits, first-aid posts, assembly points.
#[utoipa::path(get, path = "/api/v1/zones", tag = "zones", operation_id = "get_zones",
    responses((status = 200, description = "GeoJSON FeatureCollection of the zones", content_type = "application/geo+json", body = super::schemas::ZoneCollection)))]
pub async fn get_zones(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/geo+json")
        .json(state.zones.geojson())
}

/// `GET /api/v1/zones/status` for operators and commanders.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ZonesStatus {
    /// The window of `posts` and `contributors`.
    #[schema(example = "15m")]
    pub window: String,
    /// When the counts were read.
    pub as_of: String,
    /// Every area zone, riskiest first.
    pub zones: Vec<crate::crowd::status::ZoneStatus>,
}

/// `GET /api/v1/zones/status` for the public: words, never figures.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicZonesStatus {
    /// The window asked for.
    #[schema(example = "15m")]
    pub window: String,
    /// When the counts were read.
    pub as_of: String,
    /// Every area zone, busiest first.
    pub zones: Vec<crate::crowd::status::PublicZoneStatus>,
}

/// What `GET /api/v1/zones/status` answers, by role.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ZonesStatusBody {
    /// Operators and commanders.
    Full(ZonesStatus),
    /// Everyone else.
    Public(PublicZonesStatus),
}

/// The crowd picture per named zone (DESIGN §9): people with their 90 %
/// interval, density, level, trend and forecast for operators and
/// commanders; a word, a trend and advice for everyone else. Served from
/// the hub's current frame: however many ask, the engine is read once per
/// tick.
#[utoipa::path(
    get, path = "/api/v1/zones/status", tag = "zones", operation_id = "get_zones_status",
    params(
        ("window" = Option<String>, Query, description = "One of the configured windows for `posts` and `contributors` (default: the estimate window); people are always estimated over the estimate window"),
        ("at" = Option<String>, Query, format = DateTime, description = "Operators and commanders: the picture as it was at this past moment (RFC 3339, within count retention), rounded down to the last second of its last whole minute, which `as_of` then names"),
    ),
    responses(
        (status = 200, description = "Every area zone, riskiest first: figures for operators and commanders, words for the public", body = ZonesStatusBody),
        (status = 400, description = "Unknown window, or `at` not a past moment within count retention", body = super::error::ErrorEnvelope),
        (status = 401, description = "Forged or expired token", body = super::error::ErrorEnvelope),
        (status = 403, description = "`at` without an operator or commander token", body = super::error::ErrorEnvelope),
        (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 503, description = "Engine unavailable", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn get_status(
    req: actix_web::HttpRequest,
    caller: super::Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, super::error::ApiError> {
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| crate::domain::FieldError::general("invalid_query", e.to_string()))?
        .into_inner();
    let zones = state.hub.zones();
    let window = match query.get("window") {
        Some(name) => state.heatmap_limits.windows.get(name)?,
        None => zones.picture().estimate_window.clone(),
    };
    let replay = query
        .get("at")
        .map(|at| crate::hub::ReplayAt::parse(at, &caller.0, state.hub.layout(), chrono::Utc::now()))
        .transpose()?;
    let frame = match replay {
        Some(at) => std::sync::Arc::new(zones.replay(&window, at).await?),
        None => zones.current(&window).await?,
    };
    let window = frame.window.name().to_owned();
    let as_of = crate::domain::rfc3339(frame.as_of);
    Ok(HttpResponse::Ok().json(if caller.0.sees_full_picture() {
        ZonesStatusBody::Full(ZonesStatus {
            window,
            as_of,
            zones: frame.zones.clone(),
        })
    } else {
        ZonesStatusBody::Public(PublicZonesStatus {
            window,
            as_of,
            zones: frame.public.clone(),
        })
    }))
}
