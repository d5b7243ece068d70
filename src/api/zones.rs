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
