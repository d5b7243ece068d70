//! `GET /api/v1/zones` and the zones files behind it.

use crate::helpers::*;

#[actix_web::test]
async fn zones_are_served_as_geojson_with_id_name_and_kind() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, zones) = app.get("/api/v1/zones", None).await;
    assert_eq!(status, 200);
    assert_eq!(zones["type"], "FeatureCollection");
    let features = zones["features"].as_array().expect("features");
    let kinds: std::collections::BTreeSet<&str> = features
        .iter()
        .filter_map(|f| f["properties"]["kind"].as_str())
        .collect();
    for kind in ["perimeter", "sector", "exit", "first_aid", "assembly_point"] {
        assert!(kinds.contains(kind), "no {kind} zone");
    }
    let maggiore = features
        .iter()
        .find(|f| f["properties"]["id"] == "piazza-maggiore")
        .expect("piazza-maggiore");
    assert!(maggiore["properties"]["capacity"].as_u64().is_some_and(|c| c > 0));
    let ring = maggiore["geometry"]["coordinates"][0].as_array().expect("ring");
    assert_eq!(ring.first(), ring.last(), "closed ring");
}

#[actix_web::test]
async fn a_broken_zones_file_stops_the_start_up_with_its_name() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(
        dir.path().join("zones/bad.geojson"),
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[0,0]},"properties":{"name":"no id"}}]}"#,
    )
    .expect("write");
    let mut args = test_args();
    args.geodata_dir = Some(dir.path().to_path_buf());
    let settings = campanile::config::Settings::resolve(&args).expect("settings");
    let err = campanile::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("bad.geojson"), "{err}");
}
