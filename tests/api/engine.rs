//! The storage contract's conformance suite, run unchanged against both
//! engines: each case takes an engine and knows nothing of which it is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use campanile::config::{EngineChoice, ServeArgs, Settings};
use campanile::domain::ResolutionRange;
use campanile::engine::Bucketed;
use campanile::engine::idempotency::{Claim, StoredAnswer};
use campanile::engine::{BroadcastRecord, Layout};
use campanile::engine::{CountQuery, Engine};
use campanile::ingest::Bucketer;
use h3o::Resolution;

use crate::helpers::*;

const BUCKET: i64 = 10;

fn bucketer() -> Bucketer {
    Bucketer::new(ResolutionRange::new(7, 11).expect("range"), BUCKET)
}

pub(crate) fn item(lat: f64, lon: f64, contributor: u64, at: i64, dedup: Option<&str>) -> Bucketed {
    let b = bucketer();
    Bucketed {
        dedup_key: dedup.map(str::to_owned),
        fingerprint: rand::random(),
        contributor,
        bucket: b.bucket_start(at),
        cells: b.cells(lat, lon),
        text: None,
    }
}

pub(crate) async fn counts(
    engine: &Arc<dyn Engine>,
    res: u8,
    window_secs: i64,
    now: i64,
) -> HashMap<String, (u64, u64)> {
    engine
        .counts(CountQuery {
            res: Resolution::try_from(res).expect("res"),
            window_secs,
            now,
        })
        .await
        .expect("counts")
        .into_iter()
        .map(|c| (c.cell.to_string(), (c.count, c.contributors)))
        .collect()
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub async fn counts_an_item_at_every_resolution(engine: Arc<dyn Engine>) {
    let t = now();
    let out = engine
        .ingest(&[item(44.4937, 11.343, 1, t, None)], t)
        .await
        .expect("ingest");
    assert_eq!((out.accepted, out.duplicates), (1, 0));
    for res in 7..=11 {
        let c = counts(&engine, res, 900, t).await;
        assert_eq!(c.len(), 1, "res {res}");
        let cell: h3o::CellIndex = c.keys().next().expect("cell").parse().expect("h3");
        assert_eq!(u8::from(cell.resolution()), res);
        assert_eq!(c.values().next(), Some(&(1, 1)));
    }
}

pub async fn counts_a_repeated_key_once_within_and_across_batches(engine: Arc<dyn Engine>) {
    let t = now();
    let batch = [
        item(44.49, 11.34, 1, t, Some("s:1")),
        item(44.49, 11.34, 1, t, Some("s:1")),
        item(44.49, 11.34, 1, t, Some("s:2")),
        item(44.49, 11.34, 1, t, None),
    ];
    let out = engine.ingest(&batch, t).await.expect("ingest");
    assert_eq!((out.accepted, out.duplicates), (3, 1));
    let out = engine.ingest(&batch[..2], t).await.expect("ingest");
    assert_eq!((out.accepted, out.duplicates), (0, 2));
    let c = counts(&engine, 9, 60, t).await;
    assert_eq!(c.values().next(), Some(&(3, 1)));
}

pub async fn counts_distinct_contributors_per_cell(engine: Arc<dyn Engine>) {
    let t = now();
    let batch: Vec<Bucketed> = [1, 2, 2, 3, 3, 3]
        .iter()
        .map(|c| item(44.49, 11.34, *c, t, None))
        .collect();
    engine.ingest(&batch, t).await.expect("ingest");
    engine
        .ingest(&[item(45.46, 9.19, 3, t, None)], t)
        .await
        .expect("ingest");
    let c = counts(&engine, 9, 60, t).await;
    let mut values: Vec<(u64, u64)> = c.values().copied().collect();
    values.sort();
    assert_eq!(values, vec![(1, 1), (6, 3)]);
}

pub async fn reads_only_the_buckets_inside_the_window(engine: Arc<dyn Engine>) {
    let t = now();
    let ten_min_ago = t - 600;
    engine
        .ingest(&[item(44.49, 11.34, 1, ten_min_ago, None)], t)
        .await
        .expect("ingest");
    engine
        .ingest(&[item(44.49, 11.34, 2, t, None)], t)
        .await
        .expect("ingest");
    assert_eq!(counts(&engine, 9, 60, t).await.values().next(), Some(&(1, 1)));
    assert_eq!(counts(&engine, 9, 300, t).await.values().next(), Some(&(1, 1)));
    assert_eq!(counts(&engine, 9, 900, t).await.values().next(), Some(&(2, 2)));
    assert_eq!(counts(&engine, 9, 3600, t).await.values().next(), Some(&(2, 2)));
}

pub async fn a_contributor_counts_in_the_window_of_its_latest_item(engine: Arc<dyn Engine>) {
    let t = now();
    // Contributor 7 posted 10 minutes ago and again now; 8 only 10 minutes ago.
    engine
        .ingest(
            &[
                item(44.49, 11.34, 7, t - 600, None),
                item(44.49, 11.34, 8, t - 600, None),
            ],
            t,
        )
        .await
        .expect("ingest");
    engine
        .ingest(&[item(44.49, 11.34, 7, t, None)], t)
        .await
        .expect("ingest");
    // A late item from 7, stamped in the past, must not hide its recent one.
    engine
        .ingest(&[item(44.49, 11.34, 7, t - 700, None)], t)
        .await
        .expect("ingest");
    assert_eq!(counts(&engine, 9, 60, t).await.values().next(), Some(&(1, 1)));
    assert_eq!(counts(&engine, 9, 900, t).await.values().next(), Some(&(4, 2)));
}

pub async fn accepts_but_does_not_count_items_older_than_every_window(engine: Arc<dyn Engine>) {
    let t = now();
    let out = engine
        .ingest(&[item(44.49, 11.34, 1, t - 7200, Some("s:old"))], t)
        .await
        .expect("ingest");
    assert_eq!(out.accepted, 1);
    assert!(counts(&engine, 9, 3600, t).await.is_empty());
    let again = engine
        .ingest(&[item(44.49, 11.34, 1, t - 7200, Some("s:old"))], t)
        .await
        .expect("ingest");
    assert_eq!(again.duplicates, 1, "still remembered for de-duplication");
}

pub async fn forgets_counts_once_every_window_has_slid_past(engine: Arc<dyn Engine>) {
    let t = now();
    engine
        .ingest(&[item(44.49, 11.34, 1, t, None)], t)
        .await
        .expect("ingest");
    let later = t + 3600 + 2 * BUCKET;
    assert!(counts(&engine, 9, 3600, later).await.is_empty());
}

pub async fn sums_thousands_of_items_exactly(engine: Arc<dyn Engine>) {
    let t = now();
    let mut expected: HashMap<String, u64> = HashMap::new();
    let mut batch = Vec::new();
    for i in 0..3_000u64 {
        let lat = 44.48 + (i % 50) as f64 * 0.0007;
        let lon = 11.33 + (i / 50) as f64 * 0.0005;
        let it = item(lat, lon, i % 97, t, Some(&format!("s:{i}")));
        *expected.entry(it.cells[2].to_string()).or_default() += 1;
        batch.push(it);
    }
    let out = engine.ingest(&batch, t).await.expect("ingest");
    assert_eq!(out.accepted, 3_000);
    let got: HashMap<String, u64> = counts(&engine, 9, 900, t)
        .await
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    assert_eq!(got, expected);
}

pub async fn a_batch_sent_again_is_counted_once_and_reported_as_duplicates(engine: Arc<dyn Engine>) {
    let t = now();
    // 2,500 items: three write chunks, half of them without an id.
    let batch: Vec<Bucketed> = (0..2_500u64)
        .map(|i| {
            let id = format!("retry:{i}");
            item(44.49, 11.34, i % 40, t, (i % 2 == 0).then_some(id.as_str()))
        })
        .collect();
    let first = engine.ingest(&batch, t).await.expect("ingest");
    assert_eq!((first.accepted, first.duplicates), (2_500, 0));
    let again = engine.ingest(&batch, t).await.expect("ingest");
    assert_eq!((again.accepted, again.duplicates), (0, 2_500));
    assert_eq!(counts(&engine, 9, 60, t).await.values().next(), Some(&(2_500, 40)));
    // The same posts with one more are a different batch: only the new one counts.
    let mut grown = batch.clone();
    grown.insert(0, item(44.49, 11.34, 99, t, None));
    let third = engine.ingest(&grown[..1], t).await.expect("ingest");
    assert_eq!(third.accepted, 1);
    assert_eq!(counts(&engine, 9, 60, t).await.values().next(), Some(&(2_501, 41)));
}

pub async fn an_alert_is_raised_once_per_quiet_period_and_fed_to_subscribers(engine: Arc<dyn Engine>) {
    let mut feed = engine.alert_feed();
    let now = chrono::Utc::now().timestamp();
    assert!(
        engine
            .raise_alert("surge:a", r#"{"n":1}"#, 60, now)
            .await
            .expect("raise")
    );
    assert!(
        !engine
            .raise_alert("surge:a", r#"{"n":2}"#, 60, now + 59)
            .await
            .expect("raise")
    );
    assert!(
        engine
            .raise_alert("surge:b", r#"{"n":3}"#, 60, now)
            .await
            .expect("raise")
    );
    // Past the quiet period by the caller's clock, on every engine alike.
    assert!(
        engine
            .raise_alert("surge:a", r#"{"n":4}"#, 60, now + 60)
            .await
            .expect("raise")
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        let body = tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv())
            .await
            .expect("in time")
            .expect("a body");
        got.push(body);
    }
    assert_eq!(got, [r#"{"n":1}"#, r#"{"n":3}"#, r#"{"n":4}"#]);
}

fn answer(body: &str) -> StoredAnswer {
    StoredAnswer {
        status: 202,
        body: body.to_owned(),
    }
}

const LEASE: Duration = Duration::from_secs(30);
const KEEP: Duration = Duration::from_secs(3600);

pub async fn an_idempotency_slot_is_claimed_once_answered_once_and_refused_for_another_body(engine: Arc<dyn Engine>) {
    let store = engine.idempotency();
    let slot = format!("{:032x}", rand::random::<u128>());
    let t = chrono::Utc::now().timestamp_millis();
    let Claim::Fresh { first_at, .. } = store.claim(&slot, "h1", t, LEASE, KEEP).await.expect("claim") else {
        panic!("a new slot is fresh");
    };
    assert_eq!(first_at, t);
    assert_eq!(
        store.claim(&slot, "h1", t + 1, LEASE, KEEP).await.expect("claim"),
        Claim::InFlight
    );
    assert_eq!(
        store.claim(&slot, "h2", t + 1, LEASE, KEEP).await.expect("claim"),
        Claim::Mismatch
    );
    let kept = store
        .finish(&slot, "h1", &answer("{\"accepted\":1}"), t + 1, KEEP)
        .await
        .expect("finish");
    assert_eq!(kept, answer("{\"accepted\":1}"));
    // A second finisher (a concurrent attempt past an expired lease) gets the first answer.
    let second = store
        .finish(&slot, "h1", &answer("{\"accepted\":0}"), t + 1, KEEP)
        .await
        .expect("finish");
    assert_eq!(second, kept);
    assert_eq!(
        store.claim(&slot, "h1", t + 2, LEASE, KEEP).await.expect("claim"),
        Claim::Answered(kept)
    );
    assert_eq!(
        store.claim(&slot, "h2", t + 2, LEASE, KEEP).await.expect("claim"),
        Claim::Mismatch
    );
    // Another slot knows nothing of it.
    let other = format!("{:032x}", rand::random::<u128>());
    assert!(matches!(
        store.claim(&other, "h1", t, LEASE, KEEP).await.expect("claim"),
        Claim::Fresh { .. }
    ));
}

pub async fn a_released_or_expired_idempotency_lease_lets_a_retry_run_at_the_first_attempts_time(
    engine: Arc<dyn Engine>,
) {
    let store = engine.idempotency();
    let slot = format!("{:032x}", rand::random::<u128>());
    let t = chrono::Utc::now().timestamp_millis();
    let Claim::Fresh { token, .. } = store.claim(&slot, "h", t, LEASE, KEEP).await.expect("claim") else {
        panic!("fresh");
    };
    // A stale token (an attempt whose lease was taken over) releases nothing.
    store.release(&slot, "not-the-token", t + 5).await.expect("release");
    assert_eq!(
        store.claim(&slot, "h", t + 5, LEASE, KEEP).await.expect("claim"),
        Claim::InFlight
    );
    store.release(&slot, &token, t + 5).await.expect("release");
    let retried_at = chrono::Utc::now().timestamp_millis();
    let Claim::Fresh { first_at, .. } = store
        .claim(&slot, "h", retried_at, Duration::from_millis(300), KEEP)
        .await
        .expect("claim")
    else {
        panic!("released: the retry runs");
    };
    assert_eq!(first_at, t, "a retry shares the first attempt's time");
    // The retry's node dies without releasing: its lease runs out by itself.
    let later = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        store.claim(&slot, "h", later, LEASE, KEEP).await.expect("claim"),
        Claim::InFlight
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let now = chrono::Utc::now().timestamp_millis();
    assert!(matches!(
        store.claim(&slot, "h", now, LEASE, KEEP).await.expect("claim"),
        Claim::Fresh { first_at, .. } if first_at == t
    ));
}

pub async fn an_idempotency_slot_is_forgotten_after_its_keep(engine: Arc<dyn Engine>) {
    let store = engine.idempotency();
    let slot = format!("{:032x}", rand::random::<u128>());
    let keep = Duration::from_millis(300);
    let t = chrono::Utc::now().timestamp_millis();
    store.claim(&slot, "h", t, LEASE, keep).await.expect("claim");
    store.finish(&slot, "h", &answer("{}"), t, keep).await.expect("finish");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let now = chrono::Utc::now().timestamp_millis();
    assert!(matches!(
        store.claim(&slot, "other", now, LEASE, keep).await.expect("claim"),
        Claim::Fresh { first_at, .. } if first_at == now
    ));
}

pub async fn an_empty_engine_reads_nothing(engine: Arc<dyn Engine>) {
    assert!(counts(&engine, 7, 900, now()).await.is_empty());
    engine.ping().await.expect("ping");
}

/// Broadcasts the conformance engines keep at most: few, so that a case
/// can go past the cap.
const BROADCASTS_KEPT: usize = 5;

/// The conformance engine on a test Redis server.
pub(crate) async fn engine_on_redis(redis: &TestRedis) -> Arc<dyn Engine> {
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    conformance_engine(&args).await
}

/// The conformance engine on a test Redis Cluster.
pub(crate) async fn engine_on_cluster(cluster: &TestCluster) -> Arc<dyn Engine> {
    let mut args = test_args();
    args.redis_cluster_nodes = Some(cluster.node_urls());
    conformance_engine(&args).await
}

/// An engine built as the server builds it from `args`, but keeping only
/// [`BROADCASTS_KEPT`] broadcasts.
pub(crate) async fn conformance_engine(args: &ServeArgs) -> Arc<dyn Engine> {
    use campanile::engine::memory::MemoryEngine;
    use campanile::engine::redis::{RedisEngine, RedisOptions, RedisTarget};
    let settings = Settings::resolve(args).expect("settings");
    let layout = Layout {
        broadcast_max: BROADCASTS_KEPT,
        ..settings.layout()
    };
    let target = match &settings.engine {
        EngineChoice::Memory => return Arc::new(MemoryEngine::new(layout)),
        EngineChoice::Durable(options) => {
            let engine = campanile::engine::durable::DurableEngine::open(options, layout).await;
            return Arc::new(engine.expect("durable engine"));
        }
        EngineChoice::Redis { url } => RedisTarget::Single(url.clone()),
        EngineChoice::RedisCluster { nodes } => RedisTarget::Cluster(nodes.clone()),
        EngineChoice::RedisSentinel { sentinels, master } => RedisTarget::Sentinel {
            sentinels: sentinels.clone(),
            master: master.clone(),
        },
    };
    // These cases assert exactness, not latency (the benchmarks measure
    // that): since count retention doubled the writes per cell, a chunk of
    // thousands of items on a Redis Cluster outlasted the 2 s default on a
    // loaded CI machine (docs/PERFORMANCE.md, "Information integrity").
    let options = RedisOptions {
        target,
        prefix: settings.redis_prefix.clone(),
        response_timeout: settings.redis_timeout.max(std::time::Duration::from_secs(10)),
        wait_replicas: settings.redis_wait_replicas,
    };
    Arc::new(RedisEngine::connect(&options, layout).await.expect("engine"))
}

macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(
                #[actix_web::test]
                async fn $case() {
                    let engine = super::conformance_engine(&crate::helpers::test_args()).await;
                    assert_eq!(engine.kind(), "memory");
                    super::$case(engine).await;
                }
            )+
        }
        mod durable {
            $(
                #[actix_web::test]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("data dir");
                    let mut args = crate::helpers::test_args();
                    args.ephemeral = None;
                    args.data_dir = Some(dir.path().to_owned());
                    let engine = super::conformance_engine(&args).await;
                    assert_eq!(engine.kind(), "memory");
                    super::$case(engine).await;
                }
            )+
        }
        mod redis {
            $(
                #[actix_web::test]
                async fn $case() {
                    let redis = crate::helpers::TestRedis::start();
                    let mut args = crate::helpers::test_args();
                    args.redis_url = Some(redis.url());
                    let engine = super::conformance_engine(&args).await;
                    assert_eq!(engine.kind(), "redis");
                    super::$case(engine).await;
                }
            )+
        }
        mod redis_cluster {
            $(
                #[actix_web::test]
                async fn $case() {
                    let cluster = crate::helpers::TestCluster::start();
                    let mut args = crate::helpers::test_args();
                    args.redis_cluster_nodes = Some(cluster.node_urls());
                    let engine = super::conformance_engine(&args).await;
                    assert_eq!(engine.kind(), "redis");
                    super::$case(engine).await;
                }
            )+
        }
    };
}

conformance!(
    counts_an_item_at_every_resolution,
    counts_a_repeated_key_once_within_and_across_batches,
    counts_distinct_contributors_per_cell,
    reads_only_the_buckets_inside_the_window,
    a_contributor_counts_in_the_window_of_its_latest_item,
    accepts_but_does_not_count_items_older_than_every_window,
    forgets_counts_once_every_window_has_slid_past,
    sums_thousands_of_items_exactly,
    an_empty_engine_reads_nothing,
    a_batch_sent_again_is_counted_once_and_reported_as_duplicates,
    an_alert_is_raised_once_per_quiet_period_and_fed_to_subscribers,
    totals_per_bucket_count_each_item_once,
    a_report_taken_out_no_longer_counts,
    an_idempotency_slot_is_claimed_once_answered_once_and_refused_for_another_body,
    a_released_or_expired_idempotency_lease_lets_a_retry_run_at_the_first_attempts_time,
    an_idempotency_slot_is_forgotten_after_its_keep,
    broadcasts_are_numbered_in_append_order_and_read_back_in_the_logs_epoch,
    the_broadcast_feed_delivers_every_append_to_each_subscriber_in_seq_order,
    an_acknowledgement_is_recorded_once_and_listed_oldest_first,
    the_broadcast_log_keeps_the_newest_up_to_its_cap,
    the_broadcast_log_forgets_messages_past_their_retention,
    a_report_is_read_back_by_id_and_listed_oldest_first_since_a_time,
    a_report_swap_succeeds_once_against_concurrent_swaps,
    stored_and_swapped_reports_are_fed_in_the_order_stored,
    audit_entries_are_read_newest_first_up_to_the_limit,
    a_past_moment_reads_what_the_live_read_said_then,
    a_retraction_leaves_the_replay_too_and_only_once,
);

#[actix_web::test]
async fn redis_data_survives_a_campanile_restart() {
    let redis = TestRedis::start();
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    let first = spawn_on(args.clone()).await;
    let (status, _) = first
        .post_json(&serde_json::json!([
            post_at(44.49, 11.34, "a", Some("r1")),
            post_at(44.49, 11.34, "b", Some("r2"))
        ]))
        .await;
    assert_eq!(status, 202);
    first.stop().await;
    let second = spawn_on(args).await;
    let (_, map) = second.get("/api/v1/heatmap?res=9", Some(&second.operator)).await;
    assert_eq!(map["cells"][0]["count"], 2);
    assert_eq!(map["cells"][0]["contributors"], 2);
    let (_, again) = second
        .post_json(&serde_json::json!([post_at(44.49, 11.34, "a", Some("r1"))]))
        .await;
    assert_eq!(again["duplicates"], 1, "de-duplication survives too");
}

/// Who contributed in each replay step lives in a set per cell and step:
/// every such set, and every cell's set of latest contributions, must
/// expire, also when Redis lost them and a later write made them anew.
#[actix_web::test]
async fn every_contributor_set_on_redis_expires_even_one_lost_and_made_anew() {
    let redis = TestRedis::start();
    let engine = engine_on_redis(&redis).await;
    let start = now().div_euclid(60) * 60 - 180;
    let batch = |t: i64| -> Vec<Bucketed> {
        (0..40)
            .map(|n| item(44.49 + n as f64 * 1e-3, 11.34, n, t, Some(&format!("t:{t}-{n}"))))
            .collect()
    };
    let ttls = |pattern: &str| redis.each_key(pattern, "TTL");
    engine.ingest(&batch(start + 1), start + 1).await.expect("ingest");
    let steps = ttls("*steps:{*}:*");
    // 40 places 111 m apart: 40 cells at the finer resolutions, a few at
    // the coarser ones.
    assert!(steps.len() > 40, "{} step sets", steps.len());
    assert!(steps.iter().all(|ttl| *ttl > 0), "{steps:?}");
    assert_eq!(redis.keys_without_expiry("*last:*"), 0);

    // Redis loses everything (a restart without persistence); the next
    // writes in the same minute make the sets anew, and within a quarter
    // of a minute of writing they expire again.
    redis.cli(&["FLUSHALL"]).expect("FLUSHALL");
    engine.ingest(&batch(start + 5), start + 5).await.expect("ingest");
    engine.ingest(&batch(start + 25), start + 25).await.expect("ingest");
    assert!(!ttls("*steps:{*}:*").is_empty());
    assert_eq!(redis.keys_without_expiry("*steps:{*}:*"), 0);
    // The latest contributions' sets are looked after once a minute.
    engine.ingest(&batch(start + 65), start + 65).await.expect("ingest");
    assert_eq!(redis.keys_without_expiry("*last:*"), 0);
    assert_eq!(redis.keys_without_expiry("*steps:{*}:*"), 0);

    // What the sets hold: the 40 contributors of the first minute, each
    // always at its own place, once each however often they wrote in it.
    let replay = engine
        .counts_at(CountQuery {
            res: h3o::Resolution::Seven,
            window_secs: 60,
            now: start + 59,
        })
        .await
        .expect("counts_at");
    assert_eq!(replay.iter().map(|c| c.count).sum::<u64>(), 80);
    assert_eq!(replay.iter().map(|c| c.contributors).sum::<u64>(), 40, "{replay:?}");
}

#[actix_web::test]
async fn acknowledged_posts_survive_a_redis_crash_with_persistence_on() {
    let mut redis = TestRedis::start_persistent();
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    let app = spawn_on(args).await;
    let posts: Vec<serde_json::Value> = (0..200)
        .map(|i| post_at(44.49, 11.34, &format!("a{i}"), Some(&format!("p{i}"))))
        .collect();
    let (status, body) = app.post_json(&serde_json::json!(posts)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(200)));
    redis.kill();
    redis.restart();
    let count = eventually(|| async {
        let (status, map) = app.get("/api/v1/heatmap?res=9", Some(&app.operator)).await;
        (status == 200).then(|| map["cells"][0]["count"].clone())
    })
    .await;
    assert_eq!(count, Some(serde_json::json!(200)));
}

pub async fn totals_per_bucket_count_each_item_once(engine: Arc<dyn Engine>) {
    let t = now();
    let b = bucketer();
    engine
        .ingest(
            &[
                item(44.49, 11.34, 1, t, None),
                item(45.46, 9.19, 2, t, None),
                item(44.49, 11.34, 3, t - 30, None),
            ],
            t,
        )
        .await
        .expect("ingest");
    let totals = engine.bucket_totals(t - 60, t).await.expect("totals");
    assert_eq!(totals.len(), 7, "{totals:?}");
    assert_eq!(totals.last(), Some(&(b.bucket_start(t), 2)));
    assert_eq!(totals.iter().map(|(_, n)| n).sum::<u64>(), 3);
}

pub async fn a_report_taken_out_no_longer_counts(engine: Arc<dyn Engine>) {
    let t = now();
    let it = item(44.49, 11.34, 42, t, None);
    engine
        .ingest(&[it.clone(), item(44.49, 11.34, 7, t, None)], t)
        .await
        .expect("ingest");
    engine.uncount(&it, t).await.expect("uncount");
    for res in 7..=11 {
        assert_eq!(
            counts(&engine, res, 60, t).await.values().next(),
            Some(&(1, 1)),
            "res {res}"
        );
    }
}

/// Waits for the next record on a feed, failing the case if none comes.
async fn next_on<T: Clone>(feed: &mut tokio::sync::broadcast::Receiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), feed.recv())
        .await
        .expect("a record in time")
        .expect("a record")
}

fn ids(records: &[BroadcastRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

pub async fn broadcasts_are_numbered_in_append_order_and_read_back_in_the_logs_epoch(engine: Arc<dyn Engine>) {
    let t = now();
    let epoch = engine.broadcast_epoch().await.expect("epoch");
    assert!(!epoch.is_empty());
    let mut seqs = Vec::new();
    for id in ["a", "b", "c"] {
        seqs.push(
            engine
                .append_broadcast(id, &format!(r#"{{"id":"{id}"}}"#), t)
                .await
                .expect("append"),
        );
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "consecutive: {seqs:?}");
    let all = engine.broadcasts_after(0).await.expect("after");
    assert_eq!(ids(&all), ["a", "b", "c"]);
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), seqs);
    assert!(all.iter().all(|r| r.epoch == epoch), "{all:?}");
    assert_eq!(ids(&engine.broadcasts_after(seqs[0]).await.expect("after")), ["b", "c"]);
    assert!(engine.broadcasts_after(seqs[2]).await.expect("after").is_empty());
    assert_eq!(
        engine.broadcast("b").await.expect("get"),
        Some(BroadcastRecord {
            seq: seqs[1],
            epoch: epoch.clone(),
            id: "b".into(),
            body: r#"{"id":"b"}"#.into(),
        })
    );
    assert_eq!(engine.broadcast("nope").await.expect("get"), None);
    assert_eq!(
        engine.broadcast_epoch().await.expect("epoch"),
        epoch,
        "appending keeps the epoch"
    );
}

pub async fn the_broadcast_feed_delivers_every_append_to_each_subscriber_in_seq_order(engine: Arc<dyn Engine>) {
    let t = now();
    let epoch = engine.broadcast_epoch().await.expect("epoch");
    let mut first = engine.broadcast_feed();
    let mut second = engine.broadcast_feed();
    let mut appended = Vec::new();
    for id in ["x", "y", "z"] {
        let seq = engine.append_broadcast(id, "{}", t).await.expect("append");
        appended.push((seq, id.to_owned()));
    }
    for feed in [&mut first, &mut second] {
        let mut got = Vec::new();
        for _ in 0..3 {
            let record = next_on(feed).await;
            assert_eq!(record.epoch, epoch);
            assert_eq!(record.body, "{}");
            got.push((record.seq, record.id));
        }
        assert_eq!(got, appended);
    }
}

pub async fn an_acknowledgement_is_recorded_once_and_listed_oldest_first(engine: Arc<dyn Engine>) {
    let t = now();
    engine.append_broadcast("m", "{}", t).await.expect("append");
    assert!(engine.acknowledge("m", "late", t + 5).await.expect("ack"));
    assert!(
        !engine.acknowledge("m", "late", t + 6).await.expect("ack"),
        "once per commander"
    );
    assert!(engine.acknowledge("m", "early", t + 1).await.expect("ack"));
    assert_eq!(
        engine.acknowledgements("m").await.expect("acks"),
        [("early".to_owned(), t + 1), ("late".to_owned(), t + 5)]
    );
    assert!(engine.acknowledgements("other").await.expect("acks").is_empty());
}

pub async fn the_broadcast_log_keeps_the_newest_up_to_its_cap(engine: Arc<dyn Engine>) {
    let t = now();
    let appended: Vec<String> = (0..BROADCASTS_KEPT + 3).map(|i| format!("m{i}")).collect();
    for id in &appended {
        engine.append_broadcast(id, "{}", t).await.expect("append");
    }
    let kept = engine.broadcasts_after(0).await.expect("after");
    assert_eq!(ids(&kept), appended[3..].iter().map(String::as_str).collect::<Vec<_>>());
}

pub async fn the_broadcast_log_forgets_messages_past_their_retention(engine: Arc<dyn Engine>) {
    let t = now();
    let retention = Settings::resolve(&test_args())
        .expect("settings")
        .layout()
        .broadcast_secs;
    // Sent, by the caller's clock, longer ago than the retention.
    engine
        .append_broadcast("old", "{}", t - retention - 60)
        .await
        .expect("append");
    engine.append_broadcast("new", "{}", t).await.expect("append");
    assert_eq!(ids(&engine.broadcasts_after(0).await.expect("after")), ["new"]);
    assert_eq!(engine.broadcast("old").await.expect("get"), None);
}

pub async fn a_report_is_read_back_by_id_and_listed_oldest_first_since_a_time(engine: Arc<dyn Engine>) {
    let t = now();
    engine.put_report("r1", r#"{"n":1}"#, t - 100).await.expect("put");
    engine.put_report("r2", r#"{"n":2}"#, t).await.expect("put");
    assert_eq!(engine.report("r1").await.expect("get").as_deref(), Some(r#"{"n":1}"#));
    assert_eq!(engine.report("r3").await.expect("get"), None);
    assert_eq!(
        engine.reports(t - 200).await.expect("since"),
        [r#"{"n":1}"#, r#"{"n":2}"#]
    );
    assert_eq!(engine.reports(t - 50).await.expect("since"), [r#"{"n":2}"#]);
    assert!(engine.reports(t + 1).await.expect("since").is_empty());
    // Putting again replaces.
    engine.put_report("r1", r#"{"n":10}"#, t - 100).await.expect("put");
    assert_eq!(engine.report("r1").await.expect("get").as_deref(), Some(r#"{"n":10}"#));
}

pub async fn a_report_swap_succeeds_once_against_concurrent_swaps(engine: Arc<dyn Engine>) {
    let t = now();
    engine.put_report("r", "v0", t).await.expect("put");
    let swaps = (0..8).map(|i| {
        let engine = engine.clone();
        async move {
            let body = format!("v1-{i}");
            let won = engine.swap_report("r", "v0", &body, t).await.expect("swap");
            won.then_some(body)
        }
    });
    let winners: Vec<String> = futures_util::future::join_all(swaps)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(engine.report("r").await.expect("get"), winners.first().cloned());
    assert!(
        !engine.swap_report("r", "v0", "stale", t).await.expect("swap"),
        "a stale read loses"
    );
    assert!(
        !engine.swap_report("gone", "v0", "v1", t).await.expect("swap"),
        "nothing to swap"
    );
    assert_eq!(engine.report("gone").await.expect("get"), None);
}

pub async fn stored_and_swapped_reports_are_fed_in_the_order_stored(engine: Arc<dyn Engine>) {
    let t = now();
    let mut feed = engine.report_feed();
    engine.put_report("a", "a0", t).await.expect("put");
    engine.put_report("b", "b0", t).await.expect("put");
    assert!(engine.swap_report("a", "a0", "a1", t).await.expect("swap"));
    assert!(!engine.swap_report("a", "a0", "lost", t).await.expect("swap"));
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_on(&mut feed).await);
    }
    assert_eq!(got, ["a0", "b0", "a1"]);
}

pub async fn audit_entries_are_read_newest_first_up_to_the_limit(engine: Arc<dyn Engine>) {
    let t = now();
    assert!(engine.audit_log(10).await.expect("log").is_empty());
    let entries: Vec<String> = (0..5).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    for (i, entry) in entries.iter().enumerate() {
        engine.append_audit(entry, t + i as i64).await.expect("append");
    }
    let newest: Vec<String> = entries.iter().rev().cloned().collect();
    assert_eq!(engine.audit_log(3).await.expect("log"), newest[..3]);
    assert_eq!(engine.audit_log(10).await.expect("log"), newest);
}

#[actix_web::test]
async fn each_memory_engine_starts_a_broadcast_epoch_of_its_own() {
    let a = conformance_engine(&test_args()).await;
    let b = conformance_engine(&test_args()).await;
    assert_ne!(
        a.broadcast_epoch().await.expect("epoch"),
        b.broadcast_epoch().await.expect("epoch")
    );
}

/// Appends, empties every server as FLUSHALL or a restart without
/// persistence would, and appends again: the log starts over under a new
/// epoch, and the feed follows it there.
async fn a_lost_log_starts_a_new_epoch(engine: Arc<dyn Engine>, flush: impl Fn()) {
    let t = now();
    let mut feed = engine.broadcast_feed();
    engine.append_broadcast("before", "{}", t).await.expect("append");
    let before = next_on(&mut feed).await;
    assert_eq!(before.id, "before");
    flush();
    let seq = engine.append_broadcast("after", "{}", t).await.expect("append");
    assert_eq!(seq, 1, "numbering starts over");
    let after = next_on(&mut feed).await;
    assert_eq!((after.id.as_str(), after.seq), ("after", 1));
    assert_ne!(after.epoch, before.epoch);
    assert_eq!(engine.broadcast_epoch().await.expect("epoch"), after.epoch);
    let log = engine.broadcasts_after(0).await.expect("after");
    assert_eq!(ids(&log), ["after"]);
    assert_eq!(log[0].epoch, after.epoch);
}

#[actix_web::test]
async fn a_redis_that_lost_its_broadcast_log_starts_a_new_epoch() {
    let redis = TestRedis::start();
    let engine = engine_on_redis(&redis).await;
    a_lost_log_starts_a_new_epoch(engine, || {
        redis.cli(&["FLUSHALL"]).expect("flushall");
    })
    .await;
}

#[actix_web::test]
async fn a_redis_cluster_that_lost_its_broadcast_log_starts_a_new_epoch() {
    let cluster = TestCluster::start();
    let engine = engine_on_cluster(&cluster).await;
    a_lost_log_starts_a_new_epoch(engine, || {
        for node in &cluster.nodes {
            node.cli(&["FLUSHALL"]).expect("flushall");
        }
    })
    .await;
}

#[actix_web::test]
async fn a_new_epoch_read_before_any_append_is_the_one_the_first_append_carries() {
    let redis = TestRedis::start();
    let engine = engine_on_redis(&redis).await;
    redis.cli(&["FLUSHALL"]).expect("flushall");
    let epoch = engine.broadcast_epoch().await.expect("epoch");
    engine.append_broadcast("first", "{}", now()).await.expect("append");
    let log = engine.broadcasts_after(0).await.expect("after");
    assert_eq!((log[0].seq, &log[0].epoch), (1, &epoch));
}

/// Counts, broadcasts, reports, alerts and idempotency slots all written
/// after every server forgot its scripts (a restart, a failover to a node
/// that never ran them): each script is loaded again and runs.
async fn writes_survive_a_server_that_forgot_its_scripts(engine: Arc<dyn Engine>, forget: impl Fn()) {
    let t = now();
    engine
        .ingest(&[item(44.49, 11.34, 1, t, Some("s:1"))], t)
        .await
        .expect("ingest");
    forget();
    let it = item(44.49, 11.34, 2, t, Some("s:2"));
    engine.ingest(std::slice::from_ref(&it), t).await.expect("ingest");
    assert_eq!(counts(&engine, 9, 60, t).await.values().next(), Some(&(2, 2)));
    forget();
    engine.uncount(&it, t).await.expect("uncount");
    assert_eq!(counts(&engine, 9, 60, t).await.values().next(), Some(&(1, 1)));
    forget();
    engine.append_broadcast("m", "{}", t).await.expect("append");
    forget();
    engine.put_report("r", "v0", t).await.expect("put");
    assert!(engine.swap_report("r", "v0", "v1", t).await.expect("swap"));
    forget();
    assert!(engine.raise_alert("k", "{}", 60, t).await.expect("raise"));
    forget();
    let claimed = engine
        .idempotency()
        .claim("slot", "h", t * 1000, LEASE, KEEP)
        .await
        .expect("claim");
    assert!(matches!(claimed, Claim::Fresh { .. }));
}

#[actix_web::test]
async fn redis_writes_survive_a_server_that_forgot_its_scripts() {
    let redis = TestRedis::start();
    let engine = engine_on_redis(&redis).await;
    writes_survive_a_server_that_forgot_its_scripts(engine, || {
        redis.cli(&["SCRIPT", "FLUSH"]).expect("script flush");
    })
    .await;
}

#[actix_web::test]
async fn redis_cluster_writes_survive_nodes_that_forgot_their_scripts() {
    let cluster = TestCluster::start();
    let engine = engine_on_cluster(&cluster).await;
    writes_survive_a_server_that_forgot_its_scripts(engine, || {
        for node in &cluster.nodes {
            node.cli(&["SCRIPT", "FLUSH"]).expect("script flush");
        }
    })
    .await;
}

#[actix_web::test]
async fn a_redis_that_lost_only_its_seq_counter_starts_a_new_epoch_too() {
    let redis = TestRedis::start();
    let engine = engine_on_redis(&redis).await;
    a_lost_log_starts_a_new_epoch(engine, || {
        redis.cli(&["DEL", "campanile:{broadcasts}:seq"]).expect("del");
    })
    .await;
}

#[actix_web::test]
async fn a_redis_log_written_before_epochs_keeps_its_messages_and_takes_an_epoch() {
    let redis = TestRedis::start();
    for command in [
        &["SET", "campanile:{broadcasts}:seq", "2"][..],
        &["ZADD", "campanile:{broadcasts}:log", "1", "a", "2", "b"],
        &["HSET", "campanile:{broadcasts}:msg:a", "seq", "1", "body", "{}"],
        &["HSET", "campanile:{broadcasts}:msg:b", "seq", "2", "body", "{}"],
    ] {
        redis.cli(command).expect("seed");
    }
    let engine = engine_on_redis(&redis).await;
    let mut feed = engine.broadcast_feed();
    let log = engine.broadcasts_after(0).await.expect("after");
    assert_eq!(ids(&log), ["a", "b"]);
    let epoch = log[0].epoch.clone();
    assert!(!epoch.is_empty() && log[1].epoch == epoch);
    assert_eq!(
        engine.broadcast("a").await.expect("get").map(|r| r.epoch),
        Some(epoch.clone())
    );
    assert_eq!(engine.append_broadcast("c", "{}", now()).await.expect("append"), 3);
    let fed = next_on(&mut feed).await;
    assert_eq!((fed.id.as_str(), fed.seq, &fed.epoch), ("c", 3, &epoch));
}

/// Two nodes of one deployment: what one appends, the other's feed
/// delivers, in the same epoch.
async fn a_second_node_is_fed_every_append(args: ServeArgs) {
    let writer = conformance_engine(&args).await;
    let reader = conformance_engine(&args).await;
    let mut feed = reader.broadcast_feed();
    let t = now();
    let seqs = [
        writer.append_broadcast("one", "{}", t).await.expect("append"),
        writer.append_broadcast("two", "{}", t).await.expect("append"),
    ];
    let epoch = writer.broadcast_epoch().await.expect("epoch");
    for (seq, id) in seqs.into_iter().zip(["one", "two"]) {
        let record = next_on(&mut feed).await;
        assert_eq!((record.seq, record.id.as_str(), &record.epoch), (seq, id, &epoch));
    }
    assert_eq!(reader.broadcast_epoch().await.expect("epoch"), epoch);
}

#[actix_web::test]
async fn a_second_node_on_redis_is_fed_every_append() {
    let redis = TestRedis::start();
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    a_second_node_is_fed_every_append(args).await;
}

#[actix_web::test]
async fn a_second_node_on_a_redis_cluster_is_fed_every_append() {
    let cluster = TestCluster::start();
    let mut args = test_args();
    args.redis_cluster_nodes = Some(cluster.node_urls());
    a_second_node_is_fed_every_append(args).await;
}

/// Raised alerts stay readable by the time they were raised, so that a feed
/// that fell behind re-reads what it missed instead of dropping it.
mod retained_alerts {
    use super::*;

    pub async fn raised_alerts_are_read_again_from_a_time_oldest_first(engine: Arc<dyn Engine>) {
        let t = now();
        for (i, at) in [t - 30, t - 20, t - 10].into_iter().enumerate() {
            let body = format!(r#"{{"n":{i}}}"#);
            assert!(
                engine
                    .raise_alert(&format!("k{i}"), &body, 60, at)
                    .await
                    .expect("raise")
            );
        }
        // Quieted: not raised, so not retained either.
        assert!(!engine.raise_alert("k0", r#"{"n":9}"#, 60, t).await.expect("raise"));
        assert_eq!(
            engine.alerts_since(t - 20).await.expect("alerts"),
            vec![r#"{"n":1}"#.to_owned(), r#"{"n":2}"#.to_owned()]
        );
        assert_eq!(engine.alerts_since(t - 60).await.expect("alerts").len(), 3);
        assert!(engine.alerts_since(t + 1).await.expect("alerts").is_empty());
    }

    conformance!(raised_alerts_are_read_again_from_a_time_oldest_first);
}

/// A node whose clock is behind Redis's by more than its expiries (an hour
/// or two here) still keeps what it wrote: Redis expiries are relative, the
/// node's own clock decides quiet periods and leases.
mod lagging_clocks {
    use super::*;

    /// Far enough behind that any expiry at a time of this clock is in
    /// Redis's past.
    const BEHIND_SECS: i64 = 2 * 3600;

    fn lagging_now() -> i64 {
        now() - BEHIND_SECS
    }

    pub async fn an_alert_raised_by_a_lagging_clock_stays_quiet_for_its_period(engine: Arc<dyn Engine>) {
        let t = lagging_now();
        assert!(engine.raise_alert("surge", r#"{"n":1}"#, 60, t).await.expect("raise"));
        assert!(
            !engine
                .raise_alert("surge", r#"{"n":2}"#, 60, t + 1)
                .await
                .expect("raise")
        );
        assert!(
            !engine
                .raise_alert("surge", r#"{"n":3}"#, 60, t + 59)
                .await
                .expect("raise")
        );
        assert!(
            engine
                .raise_alert("surge", r#"{"n":4}"#, 60, t + 60)
                .await
                .expect("raise")
        );
        assert_eq!(
            engine.alerts_since(t - 1).await.expect("alerts"),
            vec![r#"{"n":1}"#.to_owned(), r#"{"n":4}"#.to_owned()]
        );
    }

    pub async fn an_idempotency_slot_claimed_by_a_lagging_clock_keeps_its_lease_and_answer(engine: Arc<dyn Engine>) {
        let store = engine.idempotency();
        let slot = format!("{:032x}", rand::random::<u128>());
        let t = lagging_now() * 1000;
        assert!(matches!(
            store.claim(&slot, "h", t, LEASE, KEEP).await.expect("claim"),
            Claim::Fresh { first_at, .. } if first_at == t
        ));
        assert_eq!(
            store.claim(&slot, "h", t + 1, LEASE, KEEP).await.expect("claim"),
            Claim::InFlight
        );
        let kept = store
            .finish(&slot, "h", &answer("{\"accepted\":1}"), t + 2, KEEP)
            .await
            .expect("finish");
        assert_eq!(
            store.claim(&slot, "h", t + 3, LEASE, KEEP).await.expect("claim"),
            Claim::Answered(kept)
        );
    }

    pub async fn counts_and_acknowledgements_written_by_a_lagging_clock_stay(engine: Arc<dyn Engine>) {
        let retention = Settings::resolve(&test_args())
            .expect("settings")
            .layout()
            .broadcast_secs;
        let t = now() - BEHIND_SECS.max(2 * retention);
        engine
            .ingest(&[item(44.49, 11.34, 1, t, None)], t)
            .await
            .expect("ingest");
        assert_eq!(counts(&engine, 9, 60, t).await.values().next(), Some(&(1, 1)));
        // A broadcast's retention is measured from when it was sent (its
        // caller's now), so it is appended at Redis's time here.
        engine.append_broadcast("late", "{}", now()).await.expect("append");
        assert!(engine.acknowledge("late", "s1", t).await.expect("ack"));
        assert!(!engine.acknowledge("late", "s1", t + 1).await.expect("ack"));
        assert_eq!(
            engine.acknowledgements("late").await.expect("acks"),
            vec![("s1".to_owned(), t)]
        );
    }

    conformance!(
        an_alert_raised_by_a_lagging_clock_stays_quiet_for_its_period,
        an_idempotency_slot_claimed_by_a_lagging_clock_keeps_its_lease_and_answer,
        counts_and_acknowledgements_written_by_a_lagging_clock_stay,
    );
}

/// A node's feed that sees a gap (a seq past the next one) reads the log
/// for it; when that read fails, the feed reads again until it answers
/// instead of skipping the missing records for good.
#[actix_web::test]
async fn a_feed_whose_gap_read_fails_reads_again_and_delivers_every_seq_in_order() {
    let redis = TestRedis::start();
    let writer = engine_on_redis(&redis).await;
    let reader = engine_on_redis(&redis).await;
    let mut feed = reader.broadcast_feed();
    let t = now();
    // Once the reader has one record, it listens: what follows comes by pub/sub.
    let first = writer.append_broadcast("first", "{}", t).await.expect("append");
    assert_eq!(next_on(&mut feed).await.seq, first);
    // A record this node never heard announced (its publish lost), whose
    // stored message cannot be read for now: the gap read fails.
    let gap = first + 1;
    let message = "campanile:{broadcasts}:msg:gap";
    for command in [
        &["INCR", "campanile:{broadcasts}:seq"][..],
        &["ZADD", "campanile:{broadcasts}:log", &gap.to_string(), "gap"],
        &["SET", message, "unreadable as a message"],
    ] {
        redis.cli(command).expect("seed");
    }
    let after = writer.append_broadcast("after", "{}", t).await.expect("append");
    assert_eq!(after, gap + 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The message becomes readable: the next read fills the gap.
    redis.cli(&["DEL", message]).expect("del");
    redis
        .cli(&["HSET", message, "seq", &gap.to_string(), "body", "{}"])
        .expect("hset");
    let delivered = [next_on(&mut feed).await, next_on(&mut feed).await];
    assert_eq!(
        delivered.iter().map(|r| (r.seq, r.id.as_str())).collect::<Vec<_>>(),
        [(gap, "gap"), (after, "after")]
    );
}

/// A node listening across a Redis crash and restart (with persistence)
/// is fed, in order and in the same epoch, what is appended once Redis is
/// back, including what was appended before it listened again.
#[actix_web::test]
async fn a_feed_delivers_every_seq_across_a_redis_restart_with_persistence() {
    let mut redis = TestRedis::start_persistent();
    let writer = engine_on_redis(&redis).await;
    let reader = engine_on_redis(&redis).await;
    let mut feed = reader.broadcast_feed();
    let t = now();
    let first = writer.append_broadcast("first", "{}", t).await.expect("append");
    let before = next_on(&mut feed).await;
    assert_eq!((before.seq, before.id.as_str()), (first, "first"));
    redis.kill();
    redis.restart();
    let mut appended = Vec::new();
    for id in ["second", "third"] {
        let seq = eventually(|| async { writer.append_broadcast(id, "{}", t).await.ok() })
            .await
            .expect("Redis is back");
        appended.push((seq, id));
    }
    assert_eq!(appended, [(first + 1, "second"), (first + 2, "third")]);
    for (seq, id) in appended {
        let record = next_on(&mut feed).await;
        assert_eq!(
            (record.seq, record.id.as_str(), &record.epoch),
            (seq, id, &before.epoch)
        );
    }
}

/// The crowd store keeps head-counts and zone minutes by time, and the
/// first record of a zone minute stands whichever node writes it.
mod crowd_store {
    use std::collections::BTreeMap;

    use campanile::engine::crowd::{
        HEADCOUNT_RETENTION_SECS, Headcount, HeadcountSource, ZONE_MINUTE_RETENTION_SECS, ZoneMinute,
    };

    use super::*;

    fn headcount(id: &str, zone: &str, at: i64, u: u64, people: u64) -> Headcount {
        Headcount {
            id: id.to_owned(),
            zone: zone.to_owned(),
            at,
            u,
            people,
            source: HeadcountSource::Headcount,
            by: "cmdr".to_owned(),
        }
    }

    fn minute(at: i64, pairs: &[(&str, u64)]) -> ZoneMinute {
        ZoneMinute {
            minute: at,
            contributors: pairs
                .iter()
                .map(|(z, u)| ((*z).to_owned(), *u))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    pub async fn headcounts_are_kept_by_time_and_forgotten_after_retention(engine: Arc<dyn Engine>) {
        let t = now();
        // Two counts of one crowd at one moment are two records.
        let same_moment = [
            headcount("a", "nettuno", t - 60, 10, 300),
            headcount("b", "nettuno", t - 60, 10, 320),
        ];
        for h in &same_moment {
            engine.add_headcount(h, t).await.expect("add");
        }
        engine
            .add_headcount(&headcount("c", "maggiore", t - 30, 40, 1_000), t)
            .await
            .expect("add");
        let all = engine.headcounts_since(t - 120).await.expect("read");
        assert_eq!(all.len(), 3);
        assert_eq!(all[2], headcount("c", "maggiore", t - 30, 40, 1_000));
        assert!(all[..2].contains(&same_moment[0]) && all[..2].contains(&same_moment[1]));
        assert_eq!(engine.headcounts_since(t - 45).await.expect("read").len(), 1);
        // A write past the retention forgets what it has outlived.
        let later = t + HEADCOUNT_RETENTION_SECS - 40;
        engine
            .add_headcount(&headcount("d", "maggiore", later, 5, 100), later)
            .await
            .expect("add");
        let kept: Vec<String> = engine
            .headcounts_since(0)
            .await
            .expect("read")
            .into_iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(kept, vec!["c".to_owned(), "d".to_owned()]);
    }

    pub async fn the_first_record_of_a_zone_minute_stands(engine: Arc<dyn Engine>) {
        let t = now() / 60 * 60;
        engine
            .record_zone_minute(900, &minute(t - 60, &[("a", 3)]), t)
            .await
            .expect("record");
        engine
            .record_zone_minute(900, &minute(t, &[("a", 5), ("b", 1)]), t)
            .await
            .expect("record");
        // A second node that read the same minute later: the first stands.
        engine
            .record_zone_minute(900, &minute(t, &[("a", 6)]), t)
            .await
            .expect("record");
        // Another window keeps its own minutes.
        engine
            .record_zone_minute(60, &minute(t, &[("a", 1)]), t)
            .await
            .expect("record");
        assert_eq!(
            engine.zone_minutes(900, t - 600).await.expect("read"),
            vec![minute(t - 60, &[("a", 3)]), minute(t, &[("a", 5), ("b", 1)])]
        );
        assert_eq!(engine.zone_minutes(900, t).await.expect("read").len(), 1);
        assert_eq!(
            engine.zone_minutes(60, 0).await.expect("read"),
            vec![minute(t, &[("a", 1)])]
        );
        let later = t + ZONE_MINUTE_RETENTION_SECS + 30;
        engine
            .record_zone_minute(900, &minute(later, &[("a", 9)]), later)
            .await
            .expect("record");
        assert_eq!(
            engine.zone_minutes(900, 0).await.expect("read"),
            vec![minute(later, &[("a", 9)])]
        );
    }

    conformance!(
        headcounts_are_kept_by_time_and_forgotten_after_retention,
        the_first_record_of_a_zone_minute_stands
    );
}

/// The text log (DESIGN §10): texts stored with their counts, once, in the
/// order stored, and read back from any point in either direction.
mod text_log {
    use campanile::engine::{TextKey, WRITE_CHUNK};

    use super::*;

    fn with_text(at: i64, dedup: Option<&str>, text: &str) -> Bucketed {
        Bucketed {
            text: Some(Arc::from(text)),
            ..item(44.4937, 11.343, rand::random(), at, dedup)
        }
    }

    fn bodies(entries: &[campanile::engine::TextEntry]) -> Vec<&str> {
        entries.iter().map(|e| &*e.body).collect()
    }

    pub async fn texts_are_stored_once_with_their_counts_and_read_in_order(engine: Arc<dyn Engine>) {
        let t = now();
        let batch = vec![
            with_text(t, Some("s:1"), "one"),
            item(44.4937, 11.343, 7, t, Some("s:2")),
            with_text(t, Some("s:1"), "one again, a duplicate"),
            with_text(t, None, "three"),
        ];
        let out = engine.ingest(&batch, t).await.expect("ingest");
        assert_eq!((out.accepted, out.duplicates), (3, 1));
        // The same chunk sent again (a retry) stores nothing more; a later
        // post with a seen id neither.
        engine.ingest(&batch, t).await.expect("retry");
        engine
            .ingest(&[with_text(t, Some("s:1"), "one, third time")], t)
            .await
            .expect("ingest");
        engine
            .ingest(&[with_text(t + 1, None, "four")], t + 1)
            .await
            .expect("ingest");

        let all = engine.texts_after(TextKey::default(), 100).await.expect("read");
        assert_eq!(bodies(&all), ["one", "three", "four"]);
        assert!(all.windows(2).all(|w| w[0].key < w[1].key), "keys grow: {all:?}");
        let newest_first = engine.texts_before(None, 100).await.expect("read");
        assert_eq!(bodies(&newest_first), ["four", "three", "one"]);
        assert_eq!(
            bodies(&engine.texts_after(all[0].key, 1).await.expect("read")),
            ["three"]
        );
        assert_eq!(
            bodies(&engine.texts_before(Some(all[2].key), 100).await.expect("read")),
            ["three", "one"]
        );
        assert_eq!(engine.text(all[1].key).await.expect("read"), Some(all[1].clone()));
        assert_eq!(
            engine
                .text(TextKey {
                    ms: 1,
                    seq: 0,
                    index: 0
                })
                .await
                .expect("read"),
            None
        );
        assert!(engine.texts_after(all[2].key, 10).await.expect("read").is_empty());
    }

    pub async fn a_large_batch_keeps_every_text_in_the_order_sent(engine: Arc<dyn Engine>) {
        let t = now();
        let n = WRITE_CHUNK * 2 + 17;
        let batch: Vec<Bucketed> = (0..n).map(|i| with_text(t, None, &format!("post {i}"))).collect();
        engine.ingest(&batch, t).await.expect("ingest");
        let mut read = Vec::new();
        let mut after = TextKey::default();
        loop {
            let page = engine.texts_after(after, 1_000).await.expect("read");
            let Some(last) = page.last() else { break };
            after = last.key;
            read.extend(page.into_iter().map(|e| e.body.to_string()));
        }
        let expected: Vec<String> = (0..n).map(|i| format!("post {i}")).collect();
        assert_eq!(read, expected);
        // Pages that end inside a chunk, backwards from the newest, and
        // each text by its own key.
        let mut back = Vec::new();
        let mut before = None;
        loop {
            let page = engine.texts_before(before, 333).await.expect("read");
            let Some(last) = page.last() else { break };
            before = Some(last.key);
            for entry in page {
                assert_eq!(engine.text(entry.key).await.expect("read").as_ref(), Some(&entry));
                back.push(entry.body.to_string());
            }
        }
        back.reverse();
        assert_eq!(back, expected);
    }

    pub async fn the_newest_decision_about_a_cluster_is_kept(engine: Arc<dyn Engine>) {
        let t = now();
        assert!(engine.cluster_decisions().await.expect("read").is_empty());
        engine.put_cluster_decision("c1", r#"{"v":1}"#, t).await.expect("put");
        engine.put_cluster_decision("c2", r#"{"v":1}"#, t).await.expect("put");
        engine.put_cluster_decision("c1", r#"{"v":2}"#, t).await.expect("put");
        let mut all = engine.cluster_decisions().await.expect("read");
        all.sort();
        assert_eq!(all, [r#"{"v":1}"#, r#"{"v":2}"#]);
    }

    conformance!(
        texts_are_stored_once_with_their_counts_and_read_in_order,
        a_large_batch_keeps_every_text_in_the_order_sent,
        the_newest_decision_about_a_cluster_is_kept
    );
}

/// The rumour store keeps the register's entries by id, lists them least
/// recently written first, replaces one only by compare-and-set, and
/// forgets an entry as long after its last write as broadcasts are kept.
mod rumour_store {
    use super::*;

    fn retention() -> i64 {
        Settings::resolve(&test_args())
            .expect("settings")
            .layout()
            .broadcast_secs
    }

    pub async fn rumours_are_read_back_by_id_and_listed_least_recently_written_first(engine: Arc<dyn Engine>) {
        let t = now();
        assert!(engine.rumours().await.expect("list").is_empty());
        engine.put_rumour("r1", r#"{"n":1}"#, t - 10).await.expect("put");
        engine.put_rumour("r2", r#"{"n":2}"#, t).await.expect("put");
        assert_eq!(engine.rumour("r1").await.expect("get").as_deref(), Some(r#"{"n":1}"#));
        assert_eq!(engine.rumour("r3").await.expect("get"), None);
        assert_eq!(engine.rumours().await.expect("list"), [r#"{"n":1}"#, r#"{"n":2}"#]);
        // Written again: it is now the most recent.
        assert!(
            engine
                .swap_rumour("r1", r#"{"n":1}"#, r#"{"n":10}"#, t + 1)
                .await
                .expect("swap")
        );
        assert_eq!(engine.rumours().await.expect("list"), [r#"{"n":2}"#, r#"{"n":10}"#]);
    }

    pub async fn a_rumour_swap_succeeds_once_against_concurrent_swaps(engine: Arc<dyn Engine>) {
        let t = now();
        engine.put_rumour("r", "v1", t).await.expect("put");
        let swaps = (0..8).map(|i| {
            let engine = engine.clone();
            async move {
                let body = format!("v2-{i}");
                let won = engine.swap_rumour("r", "v1", &body, t).await.expect("swap");
                won.then_some(body)
            }
        });
        let winners: Vec<String> = futures_util::future::join_all(swaps)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert_eq!(engine.rumour("r").await.expect("get"), winners.first().cloned());
        assert!(
            !engine.swap_rumour("r", "v1", "stale", t).await.expect("swap"),
            "a stale read loses"
        );
        assert!(
            !engine.swap_rumour("gone", "v1", "v2", t).await.expect("swap"),
            "nothing to swap"
        );
        assert_eq!(engine.rumour("gone").await.expect("get"), None);
    }

    pub async fn a_rumour_is_forgotten_a_broadcast_retention_after_its_last_write(engine: Arc<dyn Engine>) {
        let t = now();
        // Written, by the caller's clock, longer ago than the retention.
        engine
            .put_rumour("old", "old", t - retention() - 60)
            .await
            .expect("put");
        engine
            .put_rumour("kept", "kept", t - retention() + 600)
            .await
            .expect("put");
        engine.put_rumour("new", "new", t).await.expect("put");
        assert_eq!(engine.rumours().await.expect("list"), ["kept", "new"]);
        assert_eq!(engine.rumour("old").await.expect("get"), None);
        assert_eq!(engine.rumour("kept").await.expect("get").as_deref(), Some("kept"));
    }

    conformance!(
        rumours_are_read_back_by_id_and_listed_least_recently_written_first,
        a_rumour_swap_succeeds_once_against_concurrent_swaps,
        a_rumour_is_forgotten_a_broadcast_retention_after_its_last_write,
    );
}

/// Ranged reads a page at a time: what an export of a whole period reads,
/// so that neither engine nor server holds the period at once.
mod paged_reads {
    use super::*;
    use campanile::engine::Page;

    /// Every page from the first, each at most `limit` long.
    async fn all_pages<F, Fut>(limit: usize, read: F) -> Vec<String>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Page>,
    {
        let mut cursor = None;
        let mut out = Vec::new();
        for _ in 0..100 {
            let page = read(cursor.clone()).await;
            assert!(page.items.len() <= limit, "a page of {} over {limit}", page.items.len());
            out.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return out,
            }
        }
        panic!("the pages never ended");
    }

    pub async fn reports_of_a_period_are_read_a_page_at_a_time_oldest_first(engine: Arc<dyn Engine>) {
        let t = now();
        engine.put_report("early", "early", t - 500).await.expect("put");
        // Two of one second: the order between them must hold across pages.
        for (id, at) in [
            ("a", t - 100),
            ("c", t - 90),
            ("b", t - 90),
            ("d", t - 80),
            ("e", t - 10),
        ] {
            engine.put_report(id, id, at).await.expect("put");
        }
        engine.put_report("late", "late", t).await.expect("put");
        let read = |cursor: Option<String>| {
            let engine = engine.clone();
            async move {
                engine
                    .reports_between(t - 100, t - 10, cursor.as_deref(), 2)
                    .await
                    .expect("page")
            }
        };
        assert_eq!(all_pages(2, read).await, ["a", "b", "c", "d", "e"]);
        let first = engine.reports_between(t - 100, t - 10, None, 10).await.expect("page");
        assert_eq!(first.next, None, "one page holds them all");
        assert!(
            engine
                .reports_between(t + 1, t + 100, None, 10)
                .await
                .expect("page")
                .items
                .is_empty()
        );
    }

    pub async fn alerts_of_a_period_are_read_a_page_at_a_time_oldest_first(engine: Arc<dyn Engine>) {
        let t = now();
        for (i, at) in [t - 300, t - 50, t - 40, t - 30, t - 20, t].into_iter().enumerate() {
            let raised = engine
                .raise_alert(&format!("k{i}"), &format!("a{i}"), 60, at)
                .await
                .expect("raise");
            assert!(raised);
        }
        let read = |cursor: Option<String>| {
            let engine = engine.clone();
            async move {
                engine
                    .alerts_between(t - 50, t - 20, cursor.as_deref(), 3)
                    .await
                    .expect("page")
            }
        };
        assert_eq!(all_pages(3, read).await, ["a1", "a2", "a3", "a4"]);
    }

    pub async fn audit_entries_of_a_period_are_read_a_page_at_a_time_oldest_first(engine: Arc<dyn Engine>) {
        // Redis numbers its stream by its own clock: entries are written now.
        let t = now();
        let entries: Vec<String> = (0..5).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
        for entry in &entries {
            engine.append_audit(entry, t).await.expect("append");
        }
        let read = |cursor: Option<String>| {
            let engine = engine.clone();
            async move {
                engine
                    .audit_between(t - 60, t + 60, cursor.as_deref(), 2)
                    .await
                    .expect("page")
            }
        };
        assert_eq!(all_pages(2, read).await, entries);
        assert!(
            engine
                .audit_between(t - 7200, t - 3600, None, 10)
                .await
                .expect("page")
                .items
                .is_empty(),
            "nothing was appended an hour ago"
        );
    }

    pub async fn broadcasts_are_read_a_page_at_a_time_in_seq_order(engine: Arc<dyn Engine>) {
        let t = now();
        for i in 0..5 {
            engine
                .append_broadcast(&format!("m{i}"), "{}", t)
                .await
                .expect("append");
        }
        let mut after = 0;
        let mut seen = Vec::new();
        loop {
            let page = engine.broadcasts_page(after, 2).await.expect("page");
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            after = last.seq;
            seen.extend(page.iter().map(|r| r.id.clone()));
        }
        assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
    }

    conformance!(
        reports_of_a_period_are_read_a_page_at_a_time_oldest_first,
        alerts_of_a_period_are_read_a_page_at_a_time_oldest_first,
        audit_entries_of_a_period_are_read_a_page_at_a_time_oldest_first,
        broadcasts_are_read_a_page_at_a_time_in_seq_order,
    );
}

async fn counts_at(engine: &Arc<dyn Engine>, res: u8, window_secs: i64, at: i64) -> HashMap<String, (u64, u64)> {
    engine
        .counts_at(CountQuery {
            res: Resolution::try_from(res).expect("res"),
            window_secs,
            now: at,
        })
        .await
        .expect("counts_at")
        .into_iter()
        .map(|c| (c.cell.to_string(), (c.count, c.contributors)))
        .collect()
}

/// A whole minute an hour ago: the test's clock runs from there.
fn an_hour_ago_on_the_minute() -> i64 {
    now().div_euclid(60) * 60 - 3600
}

pub async fn a_past_moment_reads_what_the_live_read_said_then(engine: Arc<dyn Engine>) {
    let base = an_hour_ago_on_the_minute();
    let places = [(44.4937, 11.343), (44.4940, 11.3435), (44.4990, 11.3300)];
    // A fixed sequence, so that a failure can be replayed.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut live = Vec::new();
    for minute in 0..25 {
        let start = base + minute * 60;
        // Six writes a minute, each at its own moment of the minute, some
        // stamped late (within the minute: a post stamped in a minute
        // already read changes that minute's past, as it should), contributors
        // returning from minute to minute.
        for k in 0..6 {
            let t = start + k * 10 + 3;
            let batch: Vec<Bucketed> = (0..1 + next(4))
                .map(|_| {
                    let (lat, lon) = places[next(3) as usize];
                    let stamped = (t - next(60) as i64).max(start);
                    item(lat, lon, 1 + next(9), stamped, None)
                })
                .collect();
            engine.ingest(&batch, t).await.expect("ingest");
        }
        // What the live map said at the minute's last second.
        let moment = start + 59;
        for (res, window) in [(9, 60), (9, 300), (11, 900), (7, 3600)] {
            live.push((res, window, moment, counts(&engine, res, window, moment).await));
        }
    }
    assert!(
        live.iter()
            .any(|(_, _, _, cells)| cells.values().any(|(n, who)| n > who))
    );
    // Two hours on, every live bucket is long gone: the steps alone answer.
    let later = base + 2 * 3600;
    engine
        .ingest(&[item(45.46, 9.19, 99, later, None)], later)
        .await
        .expect("ingest");
    assert!(counts(&engine, 9, 3600, later).await.len() == 1);
    for (res, window, moment, said) in &live {
        assert_eq!(
            &counts_at(&engine, *res, *window, *moment).await,
            said,
            "res {res}, window {window}s at {moment}"
        );
    }
}

pub async fn a_retraction_leaves_the_replay_too_and_only_once(engine: Arc<dyn Engine>) {
    let base = an_hour_ago_on_the_minute();
    let report = item(44.49, 11.34, 42, base + 5, None);
    engine
        .ingest(&[report.clone(), item(44.49, 11.34, 7, base + 15, None)], base + 20)
        .await
        .expect("ingest");
    assert_eq!(
        counts_at(&engine, 9, 60, base + 59).await.values().next(),
        Some(&(2, 2))
    );
    engine.uncount(&report, base + 30).await.expect("uncount");
    assert_eq!(counts(&engine, 9, 60, base + 59).await.values().next(), Some(&(1, 1)));
    assert_eq!(
        counts_at(&engine, 9, 60, base + 59).await.values().next(),
        Some(&(1, 1))
    );
    // The same retraction again, long after its bucket expired, takes
    // nothing more away from the step still replayed.
    let later = base + 2 * 3600;
    engine.uncount(&report, later).await.expect("uncount");
    for res in 7..=11 {
        assert_eq!(
            counts_at(&engine, res, 60, base + 59).await.values().next(),
            Some(&(1, 1)),
            "res {res}"
        );
    }
}

/// The memory engine forgets a step once count retention has slid past it
/// (Redis lets the keys expire, which a test cannot hurry).
#[actix_web::test]
async fn the_memory_engine_forgets_counts_past_count_retention() {
    let mut args = crate::helpers::test_args();
    args.count_retention = Some("2h".into());
    let engine = conformance_engine(&args).await;
    let base = an_hour_ago_on_the_minute();
    engine
        .ingest(&[item(44.49, 11.34, 1, base + 5, None)], base + 10)
        .await
        .expect("ingest");
    let within = base + 2 * 3600 - 60;
    engine
        .ingest(&[item(45.46, 9.19, 2, within, None)], within)
        .await
        .expect("ingest");
    assert_eq!(
        counts_at(&engine, 9, 60, base + 59).await.len(),
        1,
        "kept within retention"
    );
    let past = base + 2 * 3600 + 3600 + 120;
    engine
        .ingest(&[item(45.46, 9.19, 2, past, None)], past)
        .await
        .expect("ingest");
    assert!(
        counts_at(&engine, 9, 60, base + 59).await.is_empty(),
        "forgotten past retention"
    );
}

/// The durable embedded engine across a restart: what a reopened data
/// directory reads is what the engine read before it closed, whatever was
/// cut off, compacted or left half-written.
mod reopened {
    use std::path::Path;

    use campanile::engine::crowd::{HeadcountSource, ZoneMinute};
    use campanile::engine::durable::{DurableEngine, DurableOptions, Fsync};
    use campanile::engine::{
        AlertGate, AuditLog, BroadcastLog, CountStore, CrowdStore, ReportStore, RumourStore, TextKey, TextLog,
        crowd::Headcount,
    };

    use super::*;

    async fn open(dir: &Path, layout: Layout) -> Arc<DurableEngine> {
        open_sized(dir, layout, campanile::engine::durable::SEGMENT_BYTES).await
    }

    async fn open_sized(dir: &Path, layout: Layout, segment_bytes: u64) -> Arc<DurableEngine> {
        let options = DurableOptions {
            data_dir: dir.to_owned(),
            fsync: Fsync::Always,
        };
        Arc::new(
            DurableEngine::open_sized(&options, layout, segment_bytes)
                .await
                .expect("opens"),
        )
    }

    fn layout() -> Layout {
        Settings::resolve(&test_args()).expect("settings").layout()
    }

    /// Every read of every store, at `t`, as one comparable value.
    async fn everything(engine: &DurableEngine, t: i64) -> Vec<String> {
        let mut seen = Vec::new();
        for res in 7..=11 {
            let query = CountQuery {
                res: Resolution::try_from(res).expect("res"),
                window_secs: 3600,
                now: t,
            };
            let mut cells: Vec<_> = engine
                .counts(query)
                .await
                .expect("counts")
                .iter()
                .map(|c| (c.cell.to_string(), c.count, c.contributors))
                .collect();
            cells.sort();
            seen.push(format!("{cells:?}"));
        }
        let moment = layout().replay_moment(t - 60);
        let mut past: Vec<_> = engine
            .counts_at(CountQuery {
                res: Resolution::Nine,
                window_secs: 900,
                now: moment,
            })
            .await
            .expect("counts_at")
            .iter()
            .map(|c| (c.cell.to_string(), c.count, c.contributors))
            .collect();
        past.sort();
        seen.push(format!("{past:?}"));
        seen.push(format!("{:?}", engine.bucket_totals(t - 600, t).await.expect("totals")));
        let broadcasts = engine.broadcasts_after(0).await.expect("broadcasts");
        seen.push(format!("{broadcasts:?}"));
        for b in &broadcasts {
            seen.push(format!("{:?}", engine.acknowledgements(&b.id).await.expect("acks")));
        }
        seen.push(format!("{:?}", engine.reports(0).await.expect("reports")));
        seen.push(format!("{:?}", engine.alerts_since(0).await.expect("alerts")));
        seen.push(format!("{:?}", engine.audit_log(1_000).await.expect("audit")));
        seen.push(format!("{:?}", engine.headcounts_since(0).await.expect("headcounts")));
        seen.push(format!(
            "{:?}",
            engine.zone_minutes(900, 0).await.expect("zone minutes")
        ));
        seen.push(format!("{:?}", engine.texts_before(None, 1_000).await.expect("texts")));
        seen.push(format!("{:?}", engine.cluster_decisions().await.expect("decisions")));
        seen.push(format!("{:?}", engine.rumours().await.expect("rumours")));
        seen
    }

    /// Fails naming the first read that differs, not all of them.
    fn same(after: &[String], before: &[String], why: &str) {
        assert_eq!(after.len(), before.len(), "{why}");
        if let Some((i, (a, b))) = after.iter().zip(before).enumerate().find(|(_, (a, b))| a != b) {
            let cut = |s: &str| s.chars().take(1_500).collect::<String>();
            panic!("{why}: read {i} was\n{}\nand is now\n{}", cut(b), cut(a));
        }
    }

    /// One write of every kind the engine takes, at `t`.
    async fn write_everything(engine: &DurableEngine, t: i64) {
        let mut posts: Vec<Bucketed> = (0..500)
            .map(|i| {
                let mut post = item(
                    44.49 + (i % 7) as f64 * 0.001,
                    11.34 + (i % 5) as f64 * 0.001,
                    i % 40,
                    t - (i as i64 % 120),
                    Some(&format!("src:{i}")),
                );
                post.text = (i % 3 == 0).then(|| Arc::from(format!("folla in piazza {i}")));
                post
            })
            .collect();
        // A repeated id in the batch is counted once, before and after.
        posts.push(posts[0].clone());
        let outcome = engine.ingest(&posts, t).await.expect("ingest");
        assert_eq!((outcome.accepted, outcome.duplicates), (500, 1));
        engine.uncount(&posts[1], t).await.expect("uncount");
        for n in 0..3 {
            engine
                .append_broadcast(&format!("b{n}"), &format!("{{\"n\":{n}}}"), t)
                .await
                .expect("broadcast");
        }
        assert!(engine.acknowledge("b1", "cmdr-1", t).await.expect("ack"));
        engine
            .put_report("r1", "{\"status\":\"new\"}", t)
            .await
            .expect("report");
        engine
            .put_report("r2", "{\"status\":\"new\"}", t)
            .await
            .expect("report");
        assert!(
            engine
                .swap_report("r1", "{\"status\":\"new\"}", "{\"status\":\"verified\"}", t)
                .await
                .expect("swap")
        );
        assert!(
            engine
                .raise_alert("surge:a", "{\"alert\":1}", 300, t)
                .await
                .expect("alert")
        );
        for n in 0..3 {
            engine
                .append_audit(&format!("{{\"audit\":{n}}}"), t)
                .await
                .expect("audit");
        }
        let headcount = Headcount {
            id: "h1".into(),
            zone: "nettuno".into(),
            at: t - 30,
            u: 12,
            people: 400,
            source: HeadcountSource::Headcount,
            by: "cmdr-1".into(),
        };
        engine.add_headcount(&headcount, t).await.expect("headcount");
        let minute = ZoneMinute {
            minute: t - t % 60,
            contributors: [("nettuno".to_owned(), 12)].into_iter().collect(),
        };
        engine.record_zone_minute(900, &minute, t).await.expect("zone minute");
        engine
            .put_cluster_decision("c1", "{\"decision\":\"coordinated\"}", t)
            .await
            .expect("decision");
        engine
            .put_rumour("q1", "{\"state\":\"open\"}", t)
            .await
            .expect("rumour");
        assert!(
            engine
                .swap_rumour("q1", "{\"state\":\"open\"}", "{\"state\":\"answered\"}", t)
                .await
                .expect("swap rumour")
        );
    }

    #[actix_web::test]
    async fn a_reopened_data_directory_reads_what_every_store_read_before() {
        let dir = tempfile::tempdir().expect("dir");
        let t = now();
        let keep = Duration::from_secs(3600);
        let (before, epoch) = {
            let engine = open(dir.path(), layout()).await;
            write_everything(&engine, t).await;
            let store = engine.idempotency();
            // One request answered, one cut off while it ran.
            store
                .claim("answered", "h", t * 1000, LEASE, keep)
                .await
                .expect("claim");
            store
                .finish("answered", "h", &answer("{\"accepted\":3}"), t * 1000, keep)
                .await
                .expect("finish");
            store
                .claim("cut-off", "h", t * 1000 - 5, LEASE, keep)
                .await
                .expect("claim");
            (
                everything(&engine, t).await,
                engine.broadcast_epoch().await.expect("epoch"),
            )
        };

        let engine = open(dir.path(), layout()).await;
        let (replayed, took) = engine.replayed();
        println!("replayed {} records in {took:?}", replayed.records);
        assert_eq!(
            everything(&engine, t).await,
            before,
            "a store reads otherwise after the restart"
        );

        // The broadcast log goes on in its epoch: no seq is taken twice.
        assert_eq!(engine.broadcast_epoch().await.expect("epoch"), epoch);
        assert_eq!(engine.append_broadcast("b3", "{}", t + 1).await.expect("append"), 4);
        // The ids seen before are still seen.
        let again: Vec<Bucketed> = (0..10)
            .map(|i| item(44.49, 11.34, 1, t, Some(&format!("src:{i}"))))
            .collect();
        let outcome = engine.ingest(&again, t + 1).await.expect("ingest");
        assert_eq!((outcome.accepted, outcome.duplicates), (0, 10));
        // A kept answer is given again; a retry of the request cut off runs
        // at once, at its first attempt's time.
        let store = engine.idempotency();
        assert_eq!(
            store
                .claim("answered", "h", t * 1000 + 10, LEASE, keep)
                .await
                .expect("claim"),
            Claim::Answered(answer("{\"accepted\":3}"))
        );
        assert!(matches!(
            store.claim("cut-off", "h", t * 1000 + 10, LEASE, keep).await.expect("claim"),
            Claim::Fresh { first_at, .. } if first_at == t * 1000 - 5
        ));
        // A report swap after the restart still sees the verified body.
        assert!(
            !engine
                .swap_report("r1", "{\"status\":\"new\"}", "{\"status\":\"false\"}", t + 1)
                .await
                .expect("swap")
        );
        assert!(engine.text(TextKey::at_secs(t)).await.is_ok());
    }

    #[actix_web::test]
    async fn a_record_half_written_by_a_crash_is_cut_and_the_rest_replayed() {
        let dir = tempfile::tempdir().expect("dir");
        let t = now();
        let before = {
            let engine = open(dir.path(), layout()).await;
            write_everything(&engine, t).await;
            everything(&engine, t).await
        };
        // A crash in the middle of a write leaves the start of a record.
        let segment = dir.path().join("0000000001.log");
        let whole = std::fs::metadata(&segment).expect("segment").len();
        let mut file = std::fs::OpenOptions::new().append(true).open(&segment).expect("open");
        std::io::Write::write_all(&mut file, &[200, 1, 0, 0, 7, 7, 7, 7, 1, 2, 3]).expect("write");
        drop(file);

        let engine = open(dir.path(), layout()).await;
        assert_eq!(engine.replayed().0.torn_tail, 11);
        assert_eq!(
            std::fs::metadata(&segment).expect("segment").len(),
            whole,
            "the torn record was cut"
        );
        same(
            &everything(&engine, t).await,
            &before,
            "a store reads otherwise after the cut",
        );
        // Appends follow whole records: a third start reads them.
        engine.append_audit("{\"after\":1}", t + 1).await.expect("audit");
        drop(engine);
        let engine = open(dir.path(), layout()).await;
        assert_eq!(engine.replayed().0.torn_tail, 0);
        assert_eq!(
            engine.audit_log(1).await.expect("audit"),
            vec!["{\"after\":1}".to_owned()]
        );
    }

    #[actix_web::test]
    async fn damage_before_the_end_of_the_log_refuses_to_start() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let engine = open(dir.path(), layout()).await;
            write_everything(&engine, now()).await;
        }
        let segment = dir.path().join("0000000001.log");
        let mut bytes = std::fs::read(&segment).expect("segment");
        bytes[100] ^= 0xff;
        std::fs::write(&segment, &bytes).expect("damage");
        let options = DurableOptions {
            data_dir: dir.path().to_owned(),
            fsync: Fsync::Everysec,
        };
        let error = DurableEngine::open(&options, layout()).await.err().expect("refused");
        assert!(error.to_string().contains("damaged"), "{error}");
    }

    #[actix_web::test]
    async fn a_directory_in_use_or_made_for_other_resolutions_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let options = DurableOptions {
            data_dir: dir.path().to_owned(),
            fsync: Fsync::Everysec,
        };
        let first = open(dir.path(), layout()).await;
        let error = DurableEngine::open(&options, layout()).await.err().expect("refused");
        assert!(error.to_string().contains("in use"), "{error}");
        drop(first);
        let other = Layout {
            resolutions: ResolutionRange::new(7, 10).expect("range"),
            ..layout()
        };
        let error = DurableEngine::open(&options, other).await.err().expect("refused");
        assert!(error.to_string().contains("resolutions 7-11"), "{error}");
        DurableEngine::open(&options, layout())
            .await
            .expect("the same layout opens");
    }

    #[actix_web::test]
    async fn the_data_directory_is_readable_by_the_servers_user_only() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().expect("dir");
        let dir = parent.path().join("campanile-data");
        let engine = open(&dir, layout()).await;
        write_everything(&engine, now()).await;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for entry in std::fs::read_dir(&dir).expect("dir").filter_map(Result::ok) {
            assert_eq!(mode(&entry.path()), 0o600, "{:?}", entry.file_name());
        }
    }

    #[actix_web::test]
    async fn post_texts_leave_the_disk_at_the_retention_period_while_their_counts_stay() {
        let dir = tempfile::tempdir().expect("dir");
        // Texts for ten minutes, counts for a day.
        let layout = Layout {
            dedup_secs: 600,
            ..layout()
        };
        let t = now() - 2 * 3600;
        let engine = open(dir.path(), layout).await;
        let mut posts: Vec<Bucketed> = (0..50)
            .map(|i| item(44.49, 11.34, i, t, Some(&format!("texted:{i}"))))
            .collect();
        for post in &mut posts {
            post.text = Some(Arc::from("call me on 333 1234567 near the fountain"));
        }
        engine.ingest(&posts, t).await.expect("ingest");
        let on_disk = |dir: &Path| {
            std::fs::read_dir(dir)
                .expect("dir")
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .any(|e| {
                    let bytes = std::fs::read(e.path()).expect("segment");
                    bytes.windows(12).any(|w| w == b"333 1234567 ")
                })
        };
        assert!(on_disk(dir.path()), "the text was never written");
        // Two hours later (a new segment: the first is an hour old), the
        // texts are past retention; the counts of their minute are not.
        let later = t + 2 * 3600;
        engine.append_audit("{\"later\":1}", later).await.expect("audit");
        let past = CountQuery {
            res: Resolution::Eleven,
            window_secs: 900,
            now: layout.replay_moment(t + 60),
        };
        let before = engine.counts_at(past).await.expect("counts_at");
        assert_eq!(before.iter().map(|c| c.count).sum::<u64>(), 50);
        engine.compact().await.expect("compact");
        assert!(!on_disk(dir.path()), "a text outlived the retention period on disk");
        drop(engine);
        let engine = open(dir.path(), layout).await;
        assert_eq!(
            engine.counts_at(past).await.expect("counts_at"),
            before,
            "the counts went with the texts"
        );
        assert!(engine.texts_before(None, 100).await.expect("texts").is_empty());
    }

    #[actix_web::test]
    async fn compaction_frees_what_expired_and_a_restart_reads_the_same() {
        let dir = tempfile::tempdir().expect("dir");
        // A short retention, so that posts expire within the test's times.
        let layout = Layout {
            dedup_secs: 600,
            broadcast_secs: 600,
            count_retention_secs: 600,
            ..layout()
        };
        let t = now() - 4 * 3600;
        let engine = open_sized(dir.path(), layout, 16 * 1024).await;
        write_everything(&engine, t).await;
        for round in 0..20 {
            let posts: Vec<Bucketed> = (0..200)
                .map(|i| item(44.49, 11.34, i, t, Some(&format!("old:{round}:{i}"))))
                .collect();
            engine.ingest(&posts, t).await.expect("ingest");
        }
        // Hours later: the old posts are past every retention; the
        // broadcasts, reports and audit entries are kept.
        let later = t + 4 * 3600;
        write_everything(&engine, later).await;
        let before_bytes = engine.disk_bytes();
        let freed = engine.compact().await.expect("compact");
        assert!(freed > before_bytes / 2, "freed {freed} of {before_bytes} bytes");
        assert_eq!(engine.disk_bytes(), before_bytes - freed);
        let before = everything(&engine, later).await;
        let seq = engine
            .broadcasts_after(0)
            .await
            .expect("broadcasts")
            .last()
            .map(|b| b.seq);
        drop(engine);

        let engine = open_sized(dir.path(), layout, 16 * 1024).await;
        assert_eq!(
            everything(&engine, later).await,
            before,
            "compaction changed what a restart reads"
        );
        let next = engine.append_broadcast("next", "{}", later).await.expect("append");
        assert_eq!(Some(next - 1), seq, "seq went back after compaction");
        assert_eq!(
            engine.audit_log(1_000).await.expect("audit").len(),
            6,
            "an audit entry was compacted away"
        );
    }
}
