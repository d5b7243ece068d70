//! The zones tick at the scale of a large event: 500 named zones over
//! 100,000 live cells of the finest resolution, everything one tick does
//! (the count read of the memory engine, the sums per zone, people,
//! levels, trend and forecast, the risk order, the public views and the
//! change list against the frame before).
//!
//! `cargo bench --bench zones`

use std::sync::Arc;

use campanile::crowd::cover::ZoneCover;
use campanile::crowd::estimate::{Prior, Recency};
use campanile::crowd::level::DensityLevels;
use campanile::domain::{ResolutionRange, Window, Zones};
use campanile::engine::memory::MemoryEngine;
use campanile::engine::{Bucketed, CountStore, Layout};
use campanile::hub::{CrowdPicture, ZoneChannel};
use criterion::{Criterion, criterion_main};
use h3o::Resolution;

const ZONES_ACROSS: usize = 25;
const ZONES_DOWN: usize = 20;
/// Each zone's side, in degrees of latitude (about 650 m), so that the 500
/// zones hold about 100,000 cells of resolution 11 between them.
const SIDE: f64 = 0.0059;

fn zones() -> Zones {
    let features: Vec<serde_json::Value> = (0..ZONES_ACROSS * ZONES_DOWN)
        .map(|i| {
            let (lat, lon) = (44.40 + (i / ZONES_ACROSS) as f64 * SIDE, 11.20 + (i % ZONES_ACROSS) as f64 * SIDE * 1.4);
            let (dlat, dlon) = (SIDE, SIDE * 1.4);
            serde_json::json!({"type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]]]},
                "properties": {"id": format!("zone-{i}"), "name": format!("Zone {i}"), "kind": "sector", "capacity": 200_000,
                               "advice": {"en": "Keep moving", "it": "Continuate a camminare"}}})
        })
        .collect();
    let doc = serde_json::json!({"type": "FeatureCollection", "features": features});
    Zones::from_collections([("bench".to_owned(), &doc)]).expect("zones")
}

fn layout() -> Layout {
    Layout {
        resolutions: ResolutionRange::new(11, 11).expect("range"),
        bucket_secs: 10,
        longest_window_secs: 3600,
        dedup_secs: 86_400,
        broadcast_secs: 86_400,
        broadcast_max: 10_000,
        count_retention_secs: 86_400,
        step_secs: 60,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let zones = Arc::new(zones());
    let cover = Arc::new(ZoneCover::new(&zones, Resolution::Eleven).expect("cover"));
    let cells: Vec<h3o::CellIndex> = cover
        .zones()
        .flat_map(|z| cover.cells(z).unwrap_or_default().iter().copied())
        .collect();
    let now = chrono::Utc::now();
    let t = now.timestamp();
    let engine = Arc::new(MemoryEngine::new(layout()));
    // One to three posters a cell, so that every zone holds a crowd.
    let batch: Vec<Bucketed> = cells
        .iter()
        .enumerate()
        .flat_map(|(i, cell)| {
            (0..=(i % 3) as u64).map(move |k| Bucketed {
                dedup_key: None,
                fingerprint: (i as u64) << 8 | k,
                contributor: (i as u64) << 8 | k,
                bucket: t - t.rem_euclid(10),
                cells: vec![*cell],
                text: None,
            })
        })
        .collect();
    rt.block_on(async {
        for chunk in batch.chunks(10_000) {
            engine.ingest(chunk, t).await.expect("ingest");
        }
    });
    let picture = CrowdPicture {
        zones: zones.clone(),
        cover: cover.clone(),
        levels: DensityLevels::default(),
        prior: Prior::default(),
        recency: Recency::default(),
        estimate_window: Window::parse("15m").expect("window"),
        k_anonymity: 5,
    };
    let channel = ZoneChannel::new(engine, picture);
    rt.block_on(channel.tick(now)).expect("first tick");
    let frame = channel.estimate_frames().borrow().clone();
    eprintln!(
        "zones tick: {} zones over {} live cells ({} posts)",
        frame.zones.len(),
        cells.len(),
        batch.len()
    );
    assert_eq!(frame.zones.len(), ZONES_ACROSS * ZONES_DOWN);

    let mut g = c.benchmark_group("zones");
    g.sample_size(20);
    g.bench_function("tick_500_zones_100k_cells", |b| {
        b.iter(|| rt.block_on(channel.tick(now)).expect("tick"));
    });
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
