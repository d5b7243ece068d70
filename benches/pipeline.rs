//! Micro-benchmarks of the hot path's steps, one core each:
//! parse + validate, H3 bucketing, the memory engine's ingest and read,
//! and heatmap delta computation.
//!
//! `cargo bench --bench pipeline`

use std::sync::Arc;

use campanile::domain::ResolutionRange;
use campanile::domain::{Post, PostRules};
use campanile::engine::Bucketed;
use campanile::engine::memory::MemoryEngine;
use campanile::engine::{CountQuery, CountStore, Layout};
use campanile::hub::{CellStat, HeatmapFrame};
use campanile::ingest::{BodyFormat, Bucketer, split_items};
use campanile::privacy::AuthorHasher;
use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BATCH: usize = 1_000;

fn points(n: usize) -> Vec<(f64, f64)> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n)
        .map(|_| (rng.random_range(44.48..44.51), rng.random_range(11.33..11.36)))
        .collect()
}

fn ndjson(n: usize) -> String {
    points(n)
        .iter()
        .enumerate()
        .map(|(i, (lat, lon))| {
            format!(
                "{{\"source\":\"bench\",\"id\":\"{i}\",\"lat\":{lat},\"lon\":{lon},\"author\":\"user{}\",\"text\":\"crowded here\",\"lang\":\"en\"}}\n",
                i % 500
            )
        })
        .collect()
}

fn layout() -> Layout {
    Layout {
        resolutions: ResolutionRange::new(7, 11).expect("range"),
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
    let bucketer = Bucketer::new(ResolutionRange::new(7, 11).expect("range"), 10);
    let pts = points(BATCH);

    let mut g = c.benchmark_group("bucketing");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("cells_at_res_7_to_11", |b| {
        b.iter(|| {
            pts.iter()
                .map(|(lat, lon)| bucketer.cells(*lat, *lon).len())
                .sum::<usize>()
        })
    });
    g.finish();

    let body = ndjson(BATCH);
    let hasher = AuthorHasher::new(b"bench-secret");
    let mut g = c.benchmark_group("parse_validate");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("ndjson_1000_posts", |b| {
        b.iter(|| {
            let rules = PostRules {
                now: chrono::Utc::now(),
                retention: chrono::Duration::hours(24),
            };
            let items = split_items(body.as_bytes(), BodyFormat::Ndjson).expect("items");
            items
                .into_iter()
                .filter_map(|i| i.ok())
                .filter_map(|raw| Post::parse(&raw, rules, &hasher).ok())
                .count()
        })
    });
    g.finish();

    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let now = chrono::Utc::now().timestamp();
    let batch: Vec<Bucketed> = pts
        .iter()
        .enumerate()
        .map(|(i, (lat, lon))| Bucketed {
            dedup_key: None,
            fingerprint: i as u64,
            contributor: i as u64 % 500,
            bucket: bucketer.bucket_start(now),
            cells: bucketer.cells(*lat, *lon),
            text: None,
        })
        .collect();
    let mut g = c.benchmark_group("memory_engine");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("ingest_1000", |b| {
        b.iter_batched(
            || Arc::new(MemoryEngine::new(layout())),
            |engine| runtime.block_on(engine.ingest(&batch, now)).expect("ingest"),
            BatchSize::SmallInput,
        )
    });
    let engine = MemoryEngine::new(layout());
    for _ in 0..50 {
        runtime.block_on(engine.ingest(&batch, now)).expect("ingest");
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("read_res11_15m_after_50k_posts", |b| {
        b.iter(|| {
            runtime
                .block_on(engine.counts(CountQuery {
                    res: h3o::Resolution::Eleven,
                    window_secs: 900,
                    now,
                }))
                .expect("counts")
                .len()
        })
    });
    g.finish();

    let cells: Vec<CellStat> = runtime
        .block_on(engine.counts(CountQuery {
            res: h3o::Resolution::Eleven,
            window_secs: 900,
            now,
        }))
        .expect("counts")
        .into_iter()
        .map(CellStat::from)
        .collect();
    let frame = HeatmapFrame::first(chrono::Utc::now(), cells.clone());
    let changed: Vec<CellStat> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i % 10 == 0 {
                CellStat {
                    count: c.count + 1,
                    ..*c
                }
            } else {
                *c
            }
        })
        .collect();
    let mut g = c.benchmark_group("hub");
    g.throughput(Throughput::Elements(cells.len() as u64));
    g.bench_function("delta_10pct_changed", |b| {
        b.iter(|| frame.next(chrono::Utc::now(), changed.clone()).map(|f| f.changed.len()))
    });
    g.finish();
}

mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
