//! H3 bucketing against the reference implementation: cells and areas
//! computed once by h3-py (`tests/fixtures/h3/make_reference.py`) must
//! match ours exactly, and so must the counts both engines report.
//!
//! An item is counted in the parents of its finest cell, so that each zoom
//! level adds up exactly to the next; the fixture also records where direct
//! indexing at a coarse resolution would differ (H3 is not perfectly nested).

use std::collections::HashMap;

use campanile::domain::ResolutionRange;
use campanile::engine::Bucketed;
use campanile::engine::CountQuery;
use campanile::ingest::Bucketer;
use serde::Deserialize;

use crate::helpers::*;

#[derive(Deserialize)]
struct Reference {
    generator: String,
    resolutions: Vec<u8>,
    points: Vec<Point>,
    area_km2: HashMap<String, f64>,
}

#[derive(Deserialize)]
struct Point {
    lat: f64,
    lon: f64,
    cells: HashMap<String, String>,
    #[serde(default)]
    direct: HashMap<String, String>,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/h3/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

fn bucketer() -> Bucketer {
    Bucketer::new(ResolutionRange::new(7, 11).expect("range"), 10)
}

#[test]
fn every_point_lands_in_the_reference_cell_at_every_resolution() {
    let r = reference();
    assert!(
        r.points.len() >= 5_000,
        "{} points from {}",
        r.points.len(),
        r.generator
    );
    assert_eq!(r.resolutions, vec![7, 8, 9, 10, 11]);
    let b = bucketer();
    let mut mismatches = Vec::new();
    for p in &r.points {
        let ours = b.cells(p.lat, p.lon);
        for (cell, res) in ours.iter().zip(&r.resolutions) {
            if p.cells[&res.to_string()] != cell.to_string() {
                mismatches.push((p.lat, p.lon, *res));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
}

#[test]
fn cell_areas_match_the_reference() {
    let r = reference();
    assert!(!r.area_km2.is_empty());
    for (cell, area) in &r.area_km2 {
        let ours = cell.parse::<h3o::CellIndex>().expect("cell").area_km2();
        // h3o and the C library sum spherical triangles in different orders: equal to 1e-6.
        assert!((ours - area).abs() / area < 1e-6, "{cell}: {ours} vs {area}");
    }
}

async fn counts_match_on(args: campanile::config::ServeArgs) {
    let r = reference();
    let engine = engine_for(&args).await;
    let b = bucketer();
    let now = chrono::Utc::now().timestamp();
    let batch: Vec<Bucketed> = r
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| Bucketed {
            dedup_key: Some(format!("ref:{i}")),
            fingerprint: i as u64,
            contributor: i as u64 % 13,
            bucket: b.bucket_start(now),
            cells: b.cells(p.lat, p.lon),
            text: None,
        })
        .collect();
    engine.ingest(&batch, now).await.expect("ingest");
    for res in &r.resolutions {
        let mut expected: HashMap<String, u64> = HashMap::new();
        for p in &r.points {
            *expected.entry(p.cells[&res.to_string()].clone()).or_default() += 1;
        }
        let got: HashMap<String, u64> = engine
            .counts(CountQuery {
                res: h3o::Resolution::try_from(*res).expect("res"),
                window_secs: 900,
                now,
            })
            .await
            .expect("counts")
            .into_iter()
            .map(|c| (c.cell.to_string(), c.count))
            .collect();
        assert_eq!(got, expected, "res {res}");
    }
}

#[actix_web::test]
async fn counts_per_cell_equal_the_reference_on_the_memory_engine() {
    counts_match_on(test_args()).await;
}

#[actix_web::test]
async fn counts_per_cell_equal_the_reference_on_the_redis_engine() {
    let redis = TestRedis::start();
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    counts_match_on(args).await;
}

#[test]
fn the_finest_cell_is_the_directly_indexed_one_and_coarse_differences_stay_rare() {
    let r = reference();
    let finest = r.resolutions.last().expect("resolutions").to_string();
    assert!(r.points.iter().all(|p| !p.direct.contains_key(&finest)));
    let differing: usize = r.points.iter().map(|p| p.direct.len()).sum();
    let total = r.points.len() * (r.resolutions.len() - 1);
    let share = differing as f64 / total as f64;
    eprintln!(
        "parent cell differs from direct indexing for {differing} of {total} coarse cells ({:.1}%)",
        share * 100.0
    );
    assert!(share > 0.0 && share < 0.10, "{share}");
}
