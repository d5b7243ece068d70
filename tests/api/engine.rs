//! The storage contract's conformance suite, run unchanged against both
//! engines: each case takes an engine and knows nothing of which it is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use campanile::domain::ResolutionRange;
use campanile::engine::Bucketed;
use campanile::engine::idempotency::{Claim, StoredAnswer};
use campanile::engine::{CountQuery, Engine};
use campanile::ingest::Bucketer;
use h3o::Resolution;

use crate::helpers::*;

const BUCKET: i64 = 10;

fn bucketer() -> Bucketer {
    Bucketer::new(ResolutionRange::new(7, 11).expect("range"), BUCKET)
}

fn item(lat: f64, lon: f64, contributor: u64, at: i64, dedup: Option<&str>) -> Bucketed {
    let b = bucketer();
    Bucketed {
        dedup_key: dedup.map(str::to_owned),
        fingerprint: rand::random(),
        contributor,
        bucket: b.bucket_start(at),
        cells: b.cells(lat, lon),
    }
}

async fn counts(engine: &Arc<dyn Engine>, res: u8, window_secs: i64, now: i64) -> HashMap<String, (u64, u64)> {
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

fn now() -> i64 {
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
        .finish(&slot, "h1", &answer("{\"accepted\":1}"), KEEP)
        .await
        .expect("finish");
    assert_eq!(kept, answer("{\"accepted\":1}"));
    // A second finisher (a concurrent attempt past an expired lease) gets the first answer.
    let second = store
        .finish(&slot, "h1", &answer("{\"accepted\":0}"), KEEP)
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
    store.release(&slot, "not-the-token").await.expect("release");
    assert_eq!(
        store.claim(&slot, "h", t + 5, LEASE, KEEP).await.expect("claim"),
        Claim::InFlight
    );
    store.release(&slot, &token).await.expect("release");
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
    store.finish(&slot, "h", &answer("{}"), keep).await.expect("finish");
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

macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(
                #[actix_web::test]
                async fn $case() {
                    let engine = crate::helpers::engine_for(&crate::helpers::test_args()).await;
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
                    let engine = crate::helpers::engine_for(&args).await;
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
                    let engine = crate::helpers::engine_for(&args).await;
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
    engine.uncount(&it).await.expect("uncount");
    for res in 7..=11 {
        assert_eq!(
            counts(&engine, res, 60, t).await.values().next(),
            Some(&(1, 1)),
            "res {res}"
        );
    }
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
