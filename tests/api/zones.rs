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
    let err = start_up_refusal(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[0,0]},"properties":{"name":"no id"}}]}"#,
    )
    .await;
    assert!(err.contains("bad.geojson"), "{err}");
}

/// Why the server refuses to start with `zones/bad.geojson` holding `text`.
async fn start_up_refusal(text: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/bad.geojson"), text).expect("write");
    let mut args = test_args();
    args.geodata_dir = Some(dir.path().to_path_buf());
    let settings = campanile::config::Settings::resolve(&args).expect("settings");
    campanile::startup::Application::build(settings)
        .await
        .err()
        .expect("refused")
        .to_string()
}

#[actix_web::test]
async fn zones_carry_their_usable_area_and_advice_per_language_as_the_file_gives_them() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, zones) = app.get("/api/v1/zones", None).await;
    assert_eq!(status, 200);
    let features = zones["features"].as_array().expect("features");
    let property = |id: &str, key: &str| {
        features
            .iter()
            .find(|f| f["properties"]["id"] == id)
            .map(|f| f["properties"][key].clone())
            .expect("zone")
    };
    assert!(property("station", "usable_area_m2").as_f64().is_some_and(|a| a > 0.0));
    let advice = property("piazza-nettuno", "advice");
    assert!(
        advice["en"].as_str().is_some_and(|t| t.contains("Via Rizzoli")),
        "{advice}"
    );
    assert!(advice["it"].is_string(), "{advice}");
}

#[actix_web::test]
async fn a_zone_with_a_bad_capacity_stops_the_start_up_with_its_file_and_zone_named() {
    let err = start_up_refusal(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[11.34,44.49],[11.35,44.49],[11.35,44.50],[11.34,44.49]]]},"properties":{"id":"square","name":"Square","kind":"sector","capacity":-5}}]}"#,
    )
    .await;
    assert!(
        err.contains("bad.geojson") && err.contains("\"square\"") && err.contains("capacity"),
        "{err}"
    );
}

#[test]
fn the_zones_command_prints_each_area_zone_beside_the_area_of_its_cells() {
    let geodata = concat!(env!("CARGO_MANIFEST_DIR"), "/geodata");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campanile"))
        .args(["zones", "--geodata-dir", geodata, "--res", "11"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).expect("utf8");
    assert!(table.contains("cells (res 11)"), "{table}");
    let nettuno = table
        .lines()
        .find(|l| l.starts_with("| piazza-nettuno |"))
        .expect("a row for the Neptune square");
    let columns: Vec<&str> = nettuno.split('|').map(str::trim).collect();
    let area: f64 = columns[3].parse().expect("area_m2");
    assert!((6_000.0..7_000.0).contains(&area), "{nettuno}");
    assert!(columns[5].parse::<usize>().is_ok_and(|cells| cells > 0), "{nettuno}");
    assert!(!table.contains("| exit-"), "point zones have no cells: {table}");
}
