//! `GET /api/v1/zones`: the event's zones from `geodata/zones/` as GeoJSON.

use std::path::Path;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::AppState;

/// The kinds of zone an event has.
pub const ZONE_KINDS: [&str; 5] = ["perimeter", "sector", "exit", "first_aid", "assembly_point"];

/// Loads and merges every `*.geojson` in `dir` into one FeatureCollection.
/// A feature without a string `id`, `name` and a known `kind` is refused
/// with the file and feature named: a broken zones file must stop the
/// start-up, not silently hide an exit.
pub fn load_zones(dir: &Path) -> Result<Value, String> {
    let mut features = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(json!({"type": "FeatureCollection", "features": []}));
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "geojson"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let Some(list) = doc["features"].as_array() else {
            return Err(format!("{}: not a FeatureCollection", path.display()));
        };
        for (i, f) in list.iter().enumerate() {
            let props = &f["properties"];
            let ok = props["id"].is_string()
                && props["name"].is_string()
                && props["kind"].as_str().is_some_and(|k| ZONE_KINDS.contains(&k))
                && f["geometry"]["type"].is_string();
            if !ok {
                return Err(format!(
                    "{}: feature {i} needs a geometry and string id, name and kind (one of {})",
                    path.display(),
                    ZONE_KINDS.join(", ")
                ));
            }
            features.push(f.clone());
        }
    }
    Ok(json!({"type": "FeatureCollection", "features": features}))
}

/// The event's zones: perimeter, sectors, exits, first-aid posts, assembly points.
#[utoipa::path(get, path = "/api/v1/zones", tag = "zones",
    responses((status = 200, description = "GeoJSON FeatureCollection; properties id, name, kind, capacity?", content_type = "application/geo+json")))]
pub async fn get_zones(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/geo+json")
        .json(&*state.zones)
}
