//! `GET /api/v1/heatmap`: parameters, privacy limits, GeoJSON.

use serde_json::{Value, json};

use crate::helpers::*;

async fn seed(app: &TestApp, authors: usize, lat: f64, lon: f64) {
    let posts: Vec<Value> = (0..authors)
        .map(|i| post_at(lat, lon, &format!("author-{i}"), None))
        .collect();
    let (status, body) = app.post_json(&json!(posts)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(authors as u64)));
}

#[actix_web::test]
async fn counts_contributors_and_density_are_reported_per_cell() {
    let app = spawn_app(EngineKind::Memory).await;
    seed(&app, 3, 44.4937, 11.3430).await;
    // Two more posts by an author already counted.
    app.post_json(&json!([
        post_at(44.4937, 11.3430, "author-0", None),
        post_at(44.4937, 11.3430, "author-0", None)
    ]))
    .await;
    let (status, body) = app.get("/api/v1/heatmap?res=9&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200);
    assert_eq!((body["res"].as_u64(), body["window"].as_str()), (Some(9), Some("15m")));
    assert!(body["as_of"].as_str().is_some_and(|t| t.ends_with('Z')));
    let cell = &body["cells"][0];
    assert_eq!(
        (cell["count"].as_u64(), cell["contributors"].as_u64()),
        (Some(5), Some(3))
    );
    let id: h3o::CellIndex = cell["cell"].as_str().expect("cell").parse().expect("h3 cell");
    assert_eq!(u8::from(id.resolution()), 9);
    let expected = 5.0 / id.area_km2();
    assert!((cell["density_km2"].as_f64().expect("density") - expected).abs() < 0.01);
}

#[actix_web::test]
async fn defaults_are_resolution_9_and_the_15_minute_window() {
    let app = spawn_app(EngineKind::Memory).await;
    let (_, body) = app.get("/api/v1/heatmap", Some(&app.operator)).await;
    assert_eq!((body["res"].as_u64(), body["window"].as_str()), (Some(9), Some("15m")));
    assert_eq!(body["cells"], json!([]));
}

#[actix_web::test]
async fn bad_parameters_are_400_naming_the_field() {
    let app = spawn_app(EngineKind::Memory).await;
    for (query, code, field) in [
        ("res=12", "invalid_resolution", "res"),
        ("res=6", "invalid_resolution", "res"),
        ("res=nine", "invalid_resolution", "res"),
        ("res=-1", "invalid_resolution", "res"),
        ("window=2m", "invalid_window", "window"),
        ("bbox=1,2,3", "invalid_bbox", "bbox"),
        ("bbox=0,95,1,96", "invalid_bbox", "bbox"),
        ("format=kml", "invalid_format", "format"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/heatmap?{query}"), Some(&app.operator)).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(
            (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
            (Some(code), Some(field)),
            "{query}"
        );
    }
}

#[actix_web::test]
async fn bbox_keeps_only_cells_inside_it() {
    let app = spawn_app(EngineKind::Memory).await;
    seed(&app, 1, 44.4937, 11.3430).await; // Bologna
    seed(&app, 1, 45.4642, 9.1900).await; // Milan
    let (_, all) = app.get("/api/v1/heatmap", Some(&app.operator)).await;
    assert_eq!(all["cells"].as_array().map(Vec::len), Some(2));
    let (_, bologna) = app
        .get("/api/v1/heatmap?bbox=11.2,44.4,11.5,44.6", Some(&app.operator))
        .await;
    assert_eq!(bologna["cells"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn a_public_bbox_read_gives_only_the_frames_cells_inside_it() {
    let app = spawn_app(EngineKind::Memory).await;
    // Five contributors each, so that every cell is public (k = 5).
    seed(&app, 5, 44.4937, 11.3430).await; // Bologna, Piazza Maggiore
    seed(&app, 5, 44.5050, 11.3560).await; // Bologna, further north-east
    seed(&app, 5, 45.4642, 9.1900).await; // Milan
    let cells = |map: &Value| -> Vec<String> {
        let mut cells: Vec<String> = map["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .map(|c| c["cell"].as_str().expect("cell").to_owned())
            .collect();
        cells.sort();
        cells
    };
    let (_, operator) = app.get("/api/v1/heatmap?res=9", Some(&app.operator)).await;
    assert_eq!(cells(&operator).len(), 3, "the cells outside exist: {operator}");
    let (_, frame) = app.get("/api/v1/heatmap?res=9", None).await;
    assert_eq!(cells(&frame), cells(&operator), "all three are public");
    let (status, bologna) = app.get("/api/v1/heatmap?res=9&bbox=11.2,44.4,11.5,44.6", None).await;
    assert_eq!(status, 200, "{bologna}");
    let mut inside: Vec<&Value> = frame["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| {
            let cell: h3o::CellIndex = c["cell"].as_str().expect("cell").parse().expect("h3 cell");
            let centre = h3o::LatLng::from(cell);
            (11.2..=11.5).contains(&centre.lng()) && (44.4..=44.6).contains(&centre.lat())
        })
        .collect();
    assert_eq!(inside.len(), 2, "two of the frame's cells are in Bologna");
    inside.sort_by_key(|c| c["cell"].to_string());
    let mut answered: Vec<&Value> = bologna["cells"].as_array().expect("cells").iter().collect();
    answered.sort_by_key(|c| c["cell"].to_string());
    assert_eq!(
        answered, inside,
        "the frame's own cells inside the box, with their levels, and nothing else"
    );
    let (_, milan) = app.get("/api/v1/heatmap?res=9&bbox=9.0,45.3,9.3,45.6", None).await;
    assert_eq!(cells(&milan).len(), 1, "{milan}");
    let (_, empty) = app.get("/api/v1/heatmap?res=9&bbox=0.0,0.0,1.0,1.0", None).await;
    assert_eq!(empty["cells"], json!([]), "{empty}");
}

#[actix_web::test]
async fn the_public_sees_only_cells_with_k_contributors_and_no_finer_than_9() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        seed(&app, 5, 44.4937, 11.3430).await; // k = 5: shown
        seed(&app, 4, 45.4642, 9.1900).await; // 4 contributors: hidden
        let (status, public) = app.get("/api/v1/heatmap?res=9", None).await;
        assert_eq!(status, 200);
        assert_eq!(public["cells"].as_array().map(Vec::len), Some(1));
        let cell = public["cells"][0].as_object().expect("a cell");
        let mut fields: Vec<&str> = cell.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["cell", "level"], "levels, not counts (DESIGN §6)");
        assert!((1..=5).contains(&cell["level"].as_u64().unwrap_or(0)));
        let (_, operator) = app.get("/api/v1/heatmap?res=9", Some(&app.operator)).await;
        assert_eq!(operator["cells"].as_array().map(Vec::len), Some(2));
        let (status, body) = app.get("/api/v1/heatmap?res=10", None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
        let (status, _) = app.get("/api/v1/heatmap?res=11", Some(&app.commander)).await;
        assert_eq!(status, 200);
        let (status, _) = app.get("/api/v1/heatmap", Some("forged.token.here")).await;
        assert_eq!(status, 401);
    }
}

#[actix_web::test]
async fn geojson_has_closed_hexagons_with_the_same_properties() {
    let app = spawn_app(EngineKind::Memory).await;
    seed(&app, 2, 44.4937, 11.3430).await;
    let (_, plain) = app.get("/api/v1/heatmap?res=9", Some(&app.operator)).await;
    let (status, geo) = app
        .get("/api/v1/heatmap?res=9&format=geojson", Some(&app.operator))
        .await;
    assert_eq!(status, 200);
    assert_eq!(geo["type"], "FeatureCollection");
    let feature = &geo["features"][0];
    assert_eq!(feature["geometry"]["type"], "Polygon");
    let ring = feature["geometry"]["coordinates"][0].as_array().expect("ring");
    assert_eq!(ring.len(), 7, "six corners and the closing point");
    assert_eq!(ring.first(), ring.last());
    let lon = ring[0][0].as_f64().expect("lon");
    assert!((11.3..11.4).contains(&lon), "[lon, lat] order");
    assert_eq!(feature["properties"], plain["cells"][0]);

    let mut resp = app
        .client
        .get(format!("{}/api/v1/heatmap?res=9", app.address))
        .insert_header(("Accept", "application/geo+json"))
        .insert_header(("Authorization", format!("Bearer {}", app.operator)))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/geo+json")
    );
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["type"], "FeatureCollection");
}

#[actix_web::test]
async fn the_ingest_timeline_has_an_hour_of_buckets_for_operators_and_commanders() {
    let app = spawn_app(EngineKind::Memory).await;
    seed(&app, 3, 44.4937, 11.3430).await;
    assert_eq!(app.get("/api/v1/stats/ingest", None).await.0, 401);
    let (status, stats) = app.get("/api/v1/stats/ingest", Some(&app.commander)).await;
    assert_eq!(status, 200);
    assert_eq!(stats["bucket_secs"], 10);
    let buckets = stats["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 360);
    assert_eq!(buckets.iter().map(|b| b["count"].as_u64().unwrap_or(0)).sum::<u64>(), 3);
    assert!(
        buckets
            .last()
            .and_then(|b| b["start"].as_str())
            .is_some_and(|t| t.ends_with('Z'))
    );
}
