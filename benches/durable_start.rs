//! How long the durable embedded engine takes to start on the data
//! directory of a busy day: 24 hours of posts written through the engine,
//! then the directory reopened and timed.
//!
//! `cargo bench --bench durable_start` (env `BENCH_POSTS`, default
//! 5,000,000; `BENCH_DIR` to keep the directory somewhere, else a
//! temporary one). The posts carry unique ids, 50,000 distinct authors,
//! ~2,000 positions over 3 × 3 km of Bologna and a short text on one in
//! ten, spread evenly over the day and written in batches of 1,000 at
//! their own times, as ingest would have written them.

mod support;

use std::sync::Arc;
use std::time::Instant;

use campanile::config::{ServeArgs, Settings};
use campanile::engine::durable::{DurableEngine, DurableOptions, Fsync};
use campanile::engine::{Bucketed, CountQuery, CountStore, Layout};
use h3o::{LatLng, Resolution};

const BATCH: usize = 1_000;
const DAY: i64 = 24 * 3600;

fn layout() -> Layout {
    Settings::resolve(&ServeArgs {
        ephemeral: Some(true),
        ..ServeArgs::default()
    })
    .expect("defaults")
    .layout()
}

/// The `n`th post of the day ending at `end`.
fn post(n: u64, at: i64, layout: &Layout) -> Bucketed {
    // A cheap, well-spread mix of n, so that positions and authors vary
    // without a random generator in the loop.
    let mix = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let (lat, lon) = (
        44.48 + (mix % 45) as f64 * 0.0006,
        11.33 + ((mix >> 8) % 45) as f64 * 0.0008,
    );
    let finest = LatLng::new(lat, lon)
        .expect("in range")
        .to_cell(layout.resolutions.finest());
    let cells = layout
        .resolutions
        .iter()
        .map(|res: Resolution| finest.parent(res).expect("coarser"))
        .collect();
    Bucketed {
        dedup_key: Some(format!("bench:{n}")),
        fingerprint: mix,
        contributor: (mix >> 20) % 50_000,
        bucket: layout.bucket_start(at),
        cells,
        text: n
            .is_multiple_of(10)
            .then(|| Arc::from(format!("tantissima gente in piazza {}", n % 97))),
    }
}

async fn open(dir: &std::path::Path, layout: Layout) -> DurableEngine {
    let options = DurableOptions {
        data_dir: dir.to_owned(),
        fsync: Fsync::Everysec,
    };
    DurableEngine::open(&options, layout).await.expect("opens")
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[actix_web::main]
async fn main() {
    if !support::measuring("durable_start") {
        return;
    }
    let posts: u64 = std::env::var("BENCH_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let temp = tempfile::tempdir().expect("temporary directory");
    let dir = std::env::var("BENCH_DIR").map_or_else(|_| temp.path().to_owned(), std::path::PathBuf::from);
    let layout = layout();
    let end = chrono::Utc::now().timestamp();
    let start = end - DAY;

    let written = Instant::now();
    {
        let engine = open(&dir, layout).await;
        let mut n = 0;
        while n < posts {
            // Batches at their own moment of the day, oldest first.
            let at = start + (n as i128 * DAY as i128 / posts as i128) as i64;
            let batch: Vec<Bucketed> = (n..(n + BATCH as u64).min(posts))
                .map(|i| post(i, at, &layout))
                .collect();
            let outcome = engine.ingest(&batch, at).await.expect("ingest");
            assert_eq!(outcome.accepted as usize, batch.len(), "every id is new");
            n += batch.len() as u64;
        }
        println!(
            "wrote {posts} posts over 24 h in {:.1} s; the log holds {:.0} MiB ({:.0} bytes per post)",
            written.elapsed().as_secs_f64(),
            engine.disk_bytes() as f64 / 1048576.0,
            engine.disk_bytes() as f64 / posts as f64
        );
    }

    let rss_before = rss_mib();
    let opened = Instant::now();
    let engine = open(&dir, layout).await;
    let took = opened.elapsed();
    let (replayed, _) = engine.replayed();
    println!(
        "reopened in {:.2} s: {} records, {:.0} MiB in {} segments replayed ({:.0} posts/s); resident memory +{:.0} MiB",
        took.as_secs_f64(),
        replayed.records,
        replayed.bytes as f64 / 1048576.0,
        replayed.segments,
        posts as f64 / took.as_secs_f64(),
        rss_mib() - rss_before
    );
    // What was written is what is read: the last hour's posts, on the map.
    let hour: u64 = engine
        .counts(CountQuery {
            res: Resolution::Seven,
            window_secs: 3600,
            now: end,
        })
        .await
        .expect("counts")
        .iter()
        .map(|c| c.count)
        .sum();
    let expected = (0..posts)
        .filter(|n| start + (*n as i128 * DAY as i128 / posts as i128) as i64 > end - 3600)
        .count() as u64;
    println!("the last hour holds {hour} posts after the restart (written: about {expected})");
}
