//! De-duplication at the scale of a day: a million distinct post ids are
//! all accepted, a replay of all of them is all duplicates, and Redis holds
//! them in at most 64 bytes each (issue 17). `INFO memory` and the key
//! count before and after are printed for docs/PERFORMANCE.md. And with
//! epochs of 2 s, ids seen in each of five live epochs stay duplicates, as
//! a day in with epochs of 6 h.

use std::sync::Arc;

use campanile::engine::{Bucketed, Engine, IngestOutcome};

use campanile::config::ServeArgs;

use crate::engine::{conformance_engine, counts, engine_on_cluster, engine_on_redis, item, now};
use crate::helpers::*;

const IDS: u64 = 1_000_000;
/// Posts per `ingest` call: as many as a few busy connectors' batches.
const BATCH: u64 = 20_000;
/// What a day of ids may cost Redis, per post.
const BYTES_PER_POST: f64 = 64.0;

/// Ids shaped like the platforms', half numeric (a Mastodon status id: 18
/// digits), half not (a Bluesky record key: 13 characters of base32), from
/// many authors in one square, at one time.
fn batch(template: &Bucketed, first: u64) -> Vec<Bucketed> {
    (first..first + BATCH)
        .map(|n| Bucketed {
            dedup_key: Some(if n % 2 == 0 {
                format!("mastodon:{}", 113_000_000_000_000_000 + n * 7919)
            } else {
                format!("bluesky:3l{:011x}", n * 7919)
            }),
            fingerprint: n,
            contributor: n % 5_000,
            ..template.clone()
        })
        .collect()
}

/// Sends the million ids; answers what each pass told.
async fn send_all(engine: &Arc<dyn Engine>, template: &Bucketed, t: i64) -> IngestOutcome {
    let mut total = IngestOutcome::default();
    for first in (0..IDS).step_by(BATCH as usize) {
        let outcome = engine.ingest(&batch(template, first), t).await.expect("ingest");
        total.accepted += outcome.accepted;
        total.duplicates += outcome.duplicates;
    }
    total
}

/// A figure of `INFO`.
fn info_field<T: std::str::FromStr>(info: &str, name: &str) -> T {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in INFO"))
}

/// `used_memory`, the number of keys and the CPU seconds Redis used,
/// summed over `nodes`.
fn memory_keys_and_cpu(nodes: &[&TestRedis]) -> (u64, u64, f64) {
    nodes.iter().fold((0, 0, 0.0), |(memory, keys, cpu), node| {
        let info = node.cli(&["INFO"]).expect("INFO");
        let size = node.cli(&["DBSIZE"]).expect("DBSIZE");
        (
            memory + info_field::<u64>(&info, "used_memory:"),
            keys + size
                .trim()
                .trim_start_matches("(integer) ")
                .parse::<u64>()
                .expect("DBSIZE"),
            cpu + info_field::<f64>(&info, "used_cpu_user:") + info_field::<f64>(&info, "used_cpu_sys:"),
        )
    })
}

async fn a_million_ids_are_all_new_then_all_duplicates(name: &str, engine: Arc<dyn Engine>, nodes: &[&TestRedis]) {
    let t = now();
    let template = item(44.4937, 11.343, 0, t, None);
    let (memory_before, keys_before, cpu_before) = memory_keys_and_cpu(nodes);

    let first = send_all(&engine, &template, t).await;
    assert_eq!(
        (first.accepted, first.duplicates),
        (IDS, 0),
        "{name}: every distinct id is a new post"
    );
    let (memory_after, keys_after, cpu_after) = memory_keys_and_cpu(nodes);
    let lasting: usize = nodes.iter().map(|n| n.keys_without_expiry("*seen:*")).sum();
    assert_eq!(lasting, 0, "{name}: every de-duplication key expires");

    let again = send_all(&engine, &template, t + 1).await;
    assert_eq!(
        (again.accepted, again.duplicates),
        (0, IDS),
        "{name}: every id sent again is a duplicate"
    );
    let cells = counts(&engine, 7, 900, t + 1).await;
    assert_eq!(
        cells.values().map(|(n, _)| n).sum::<u64>(),
        IDS,
        "{name}: each post counted once"
    );

    let per_post = (memory_after - memory_before) as f64 / IDS as f64;
    // Redis's own time for the first pass, the whole write set: a figure
    // for docs/PERFORMANCE.md, not a test (the machine's load moves it).
    let cpu_per_post = (cpu_after - cpu_before) * 1e6 / IDS as f64;
    println!(
        "{name}: {IDS} posts: used_memory {memory_before} → {memory_after} B, keys {keys_before} → {keys_after}, {per_post:.1} B per post; Redis CPU {cpu_per_post:.1} µs per post"
    );
    assert!(
        per_post <= BYTES_PER_POST,
        "{name}: {per_post:.1} bytes of Redis per post, over {BYTES_PER_POST}"
    );
}

#[actix_web::test]
async fn a_million_ids_on_redis_cost_at_most_64_bytes_each_and_are_never_taken_twice() {
    let redis = TestRedis::start();
    let engine = engine_on_redis(&redis).await;
    a_million_ids_are_all_new_then_all_duplicates("redis", engine, &[&redis]).await;
}

#[actix_web::test]
async fn a_million_ids_on_a_redis_cluster_cost_at_most_64_bytes_each_and_are_never_taken_twice() {
    let cluster = TestCluster::start();
    let engine = engine_on_cluster(&cluster).await;
    let nodes: Vec<&TestRedis> = cluster.nodes.iter().collect();
    a_million_ids_are_all_new_then_all_duplicates("redis cluster", engine, &nodes).await;
}

/// Ids per round of the epochs test: some 150 a tag, so that each epoch's
/// sub-hashes split a few times.
const ROUND: u64 = 10_000;

/// `HGET` calls Redis counted (inside scripts too) since the last reset.
fn hget_calls(nodes: &[&TestRedis]) -> u64 {
    nodes
        .iter()
        .map(|node| {
            let stats = node.cli(&["INFO", "commandstats"]).expect("INFO");
            stats
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_hget:calls=")?.split(',').next()?.parse().ok())
                .unwrap_or(0)
        })
        .sum()
}

async fn ids_of_older_epochs_stay_duplicates(name: &str, engine: Arc<dyn Engine>, nodes: &[&TestRedis]) {
    use std::time::{Duration, Instant};
    let template = item(44.4937, 11.343, 0, now(), None);
    let round = |first: u64| -> Vec<Bucketed> {
        (first..first + ROUND)
            .map(|n| Bucketed {
                dedup_key: Some(format!("mastodon:{}", 113_000_000_000_000_000 + n)),
                fingerprint: n,
                contributor: n % 500,
                ..template.clone()
            })
            .collect()
    };
    // Seven rounds 2.1 s apart over epochs of 2 s: each round's ids are new,
    // and every earlier round still within retention (8 s; 6 s to be safe)
    // is all duplicates, from whichever epoch holds it.
    let mut sent: Vec<(Instant, u64)> = Vec::new();
    for r in 0..7 {
        let started = Instant::now();
        if r == 6 {
            for node in nodes {
                node.cli(&["CONFIG", "RESETSTAT"]).expect("RESETSTAT");
            }
        }
        let outcome = engine.ingest(&round(r * ROUND), now()).await.expect("ingest");
        assert_eq!(
            (outcome.accepted, outcome.duplicates),
            (ROUND, 0),
            "{name}: round {r} is new"
        );
        if r == 6 {
            // Four older epochs are live, and a new id is looked up in each
            // (what that costs Redis: bench/dedup_epochs.py).
            let epochs = nodes
                .iter()
                .flat_map(|node| node.each_key("*seen:{t*}", "HLEN"))
                .max()
                .unwrap_or(0);
            assert!(epochs >= 4, "{name}: {epochs} live epochs");
            println!(
                "{name}: {:.2} lookups in older epochs a new id",
                hget_calls(nodes) as f64 / ROUND as f64
            );
        }
        for (when, first) in &sent {
            if when.elapsed() < Duration::from_secs(6) {
                let again = engine.ingest(&round(*first), now()).await.expect("ingest");
                assert_eq!(
                    (again.accepted, again.duplicates),
                    (0, ROUND),
                    "{name}: round from {first} again"
                );
            }
        }
        sent.push((started, r * ROUND));
        tokio::time::sleep_until((started + Duration::from_millis(2_100)).into()).await;
    }
    let lasting: usize = nodes.iter().map(|n| n.keys_without_expiry("*seen:*")).sum();
    assert_eq!(lasting, 0, "{name}: every de-duplication key expires");
}

/// A server's settings whose ids are kept 8 s: epochs of 2 s.
fn short_retention() -> ServeArgs {
    ServeArgs {
        retention: Some("8s".into()),
        ..test_args()
    }
}

#[actix_web::test]
async fn ids_seen_in_each_of_five_epochs_on_redis_stay_duplicates() {
    let redis = TestRedis::start();
    let args = ServeArgs {
        redis_url: Some(redis.url()),
        ..short_retention()
    };
    ids_of_older_epochs_stay_duplicates("redis", conformance_engine(&args).await, &[&redis]).await;
}

#[actix_web::test]
async fn ids_seen_in_each_of_five_epochs_on_a_redis_cluster_stay_duplicates() {
    let cluster = TestCluster::start();
    let args = ServeArgs {
        redis_cluster_nodes: Some(cluster.node_urls()),
        ..short_retention()
    };
    let nodes: Vec<&TestRedis> = cluster.nodes.iter().collect();
    ids_of_older_epochs_stay_duplicates("redis cluster", conformance_engine(&args).await, &nodes).await;
}
