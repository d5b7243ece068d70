//! `GET /api/v1/heatmap`: current counts per cell, as JSON or GeoJSON.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::domain::{BBox, FieldError, rfc3339};
use crate::hub::{Audience, CellStat};
use crate::protocol::CellOut;

/// The heatmap answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeatmapResponse {
    /// Resolution.
    pub res: u8,
    /// Window.
    #[schema(example = "15m")]
    pub window: String,
    /// When the counts were read.
    pub as_of: String,
    /// Cells, hottest first.
    pub cells: Vec<CellOut>,
}

pub use crate::hub::{HeatmapRefusal, HeatmapRequest};

impl From<HeatmapRefusal> for ApiError {
    fn from(refusal: HeatmapRefusal) -> Self {
        match refusal {
            HeatmapRefusal::Invalid(field) => ApiError::Invalid(field),
            HeatmapRefusal::Forbidden(message) => ApiError::Forbidden(message),
        }
    }
}

fn wants_geojson(req: &HttpRequest, query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("format").map(String::as_str) {
        Some("geojson") => return Ok(true),
        Some("json") => return Ok(false),
        Some(other) => {
            return Err(FieldError::new(
                "invalid_format",
                "format",
                format!("format {other:?} must be json or geojson"),
            )
            .into());
        }
        None => {}
    }
    Ok(req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/geo+json")))
}

/// The heatmap's cells as GeoJSON hexagons.
fn geojson(res: &HeatmapResponse, stats: &[CellStat]) -> serde_json::Value {
    let features: Vec<serde_json::Value> = stats
        .iter()
        .zip(&res.cells)
        .map(|(stat, out)| {
            json!({
                "type": "Feature",
                "id": stat.cell.to_string(),
                "geometry": super::geojson::cell_geometry(stat.cell),
                "properties": out,
            })
        })
        .collect();
    json!({
        "type": "FeatureCollection",
        "res": res.res, "window": res.window, "as_of": res.as_of,
        "features": features,
    })
}

fn response(request: &HeatmapRequest, as_of: DateTime<Utc>, stats: &[CellStat]) -> HeatmapResponse {
    HeatmapResponse {
        res: u8::from(request.key.res),
        window: request.key.window.name().to_owned(),
        as_of: rfc3339(as_of),
        cells: stats.iter().map(CellOut::from).collect(),
    }
}

/// Current counts per cell.
#[utoipa::path(
    get, path = "/api/v1/heatmap", tag = "heatmap", operation_id = "get_heatmap",
    params(
        ("res" = Option<u8>, Query, description = "H3 resolution in the configured range (default 9; public ≤ 9)", minimum = 0, maximum = 15),
        ("window" = Option<String>, Query, description = "One of the configured windows (default 15m)"),
        ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat", pattern = r"^-?[0-9]+(\.[0-9]+)?(,-?[0-9]+(\.[0-9]+)?){3}$"),
        ("format" = Option<super::schemas::HeatmapFormat>, Query, description = "json (default) or geojson; `Accept: application/geo+json` also asks for GeoJSON"),
        ("at" = Option<String>, Query, format = DateTime, description = "Operators and commanders: the map as it was at this past moment (RFC 3339, within count retention), rounded down to the last second of its last whole minute, which `as_of` then names"),
    ),
    responses(
        (status = 200, description = "Cells with a count: counts for operators and commanders, a level for the public (only cells with ≥ k contributors)", content(
            (super::schemas::Heatmap = "application/json"),
            (super::schemas::HeatmapGeoJson = "application/geo+json"),
        )),
        (status = 400, description = "Bad input; `field` names it (`at` in the future or older than count retention included)", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope),
        (status = 403, description = "Resolution too fine for the public, or `at` without an operator or commander token", body = super::error::ErrorEnvelope),
        (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn get_heatmap(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| FieldError::general("invalid_query", e.to_string()))?
        .into_inner();
    let res = query
        .get("res")
        .map(|r| r.parse::<u64>())
        .transpose()
        .map_err(|_| FieldError::new("invalid_resolution", "res", "res must be an integer"))?;
    let bbox = query.get("bbox").map(|b| BBox::parse(b)).transpose()?;
    let geo = wants_geojson(&req, &query)?;
    let request = HeatmapRequest::parse(
        res,
        query.get("window").map(String::as_str),
        bbox,
        &caller.0,
        &state.heatmap_limits,
    )?;
    let replay = query
        .get("at")
        .map(|at| crate::hub::ReplayAt::parse(at, &caller.0, state.hub.layout(), Utc::now()))
        .transpose()?;
    let (as_of, stats) = match (request.key.audience, replay) {
        // A past moment: operators and commanders only (ReplayAt).
        (_, Some(at)) => {
            let mut stats: Vec<CellStat> = state
                .hub
                .read_at(&request.key, at)
                .await?
                .into_iter()
                .filter(|c| request.bbox.as_ref().is_none_or(|b| c.within(b)))
                .collect();
            crate::hub::sort_hottest_first(&mut stats);
            (at.moment(), stats)
        }
        // Operators read the engine: a moderation shows at once.
        (Audience::Full, None) => {
            let now = Utc::now();
            let mut stats: Vec<CellStat> = state
                .hub
                .read(&request.key, now)
                .await?
                .into_iter()
                .filter(|c| request.bbox.as_ref().is_none_or(|b| c.within(b)))
                .collect();
            crate::hub::sort_hottest_first(&mut stats);
            (now, stats)
        }
        // The public reads the hub's frame: however many ask, the engine is
        // read once per tick (DESIGN §6).
        (Audience::Public, None) => {
            let frame = state.hub.current(request.key.clone()).await?;
            if request.bbox.is_none() && !geo {
                let encoded = frame.encoded_http.get_or_init(|| {
                    let body = response(&request, frame.as_of, &frame.snapshot(None));
                    // Strings and integers only: serialising cannot fail.
                    serde_json::to_vec(&body).map(bytes::Bytes::from).unwrap_or_default()
                });
                return Ok(HttpResponse::Ok()
                    .content_type("application/json")
                    .body(encoded.clone()));
            }
            (frame.as_of, frame.snapshot(request.bbox.as_ref()))
        }
    };
    let body = response(&request, as_of, &stats);
    if geo {
        Ok(HttpResponse::Ok()
            .content_type("application/geo+json")
            .json(geojson(&body, &stats)))
    } else {
        Ok(HttpResponse::Ok().json(body))
    }
}
