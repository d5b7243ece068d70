//! `GET /api/v1/zones`: the event's zones from `geodata/zones/` as GeoJSON.

use actix_web::{HttpResponse, web};

use super::AppState;

/// The event's zones: perimeter, sectors, exits, first-aid posts, assembly points.
#[utoipa::path(get, path = "/api/v1/zones", tag = "zones",
    responses((status = 200, description = "GeoJSON FeatureCollection; properties id, name, kind, capacity?", content_type = "application/geo+json")))]
pub async fn get_zones(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/geo+json")
        .json(state.zones.geojson())
}
