//! `--redis-wait-replicas`: a write is acknowledged only once Redis's
//! replicas have it, so that a failover cannot take back what a client was
//! told is stored.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// A primary with one replica that has caught up with it.
fn primary_and_replica() -> (TestRedis, TestRedis) {
    let primary = TestRedis::start();
    // A replica (re)joining is sent the data at once, not after the 5 s a
    // primary waits by default for others to join the same transfer.
    assert!(
        primary
            .cli(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"])
            .is_some()
    );
    let replica = TestRedis::start();
    follow(&replica, &primary);
    (primary, replica)
}

fn follow(replica: &TestRedis, primary: &TestRedis) {
    assert!(
        replica
            .cli(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()])
            .is_some()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    // Online as the primary sees it, which is when `WAIT` counts it.
    let port = format!("port={},state=online", replica.port);
    while !primary
        .cli(&["INFO", "replication"])
        .is_some_and(|info| info.contains(&port))
    {
        assert!(Instant::now() < deadline, "the replica did not synchronise");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn keys(redis: &TestRedis, pattern: &str) -> usize {
    redis
        .cli(&["KEYS", pattern])
        .map_or(0, |out| out.lines().filter(|l| !l.trim().is_empty()).count())
}

fn batch(tag: &str, n: usize) -> Value {
    json!(
        (0..n)
            .map(|i| post_at(44.4937, 11.343, &format!("a{i}"), Some(&format!("{tag}-{i}"))))
            .collect::<Vec<_>>()
    )
}

#[actix_web::test]
async fn a_write_is_acknowledged_only_once_the_replica_has_it() {
    let (primary, mut replica) = primary_and_replica();
    let mut args = test_args();
    args.redis_url = Some(primary.url());
    // WAIT is given half the timeout: 1.5 s, so that a loaded machine's
    // replica still confirms in time; the refusal below is timed against it.
    args.redis_timeout = Some("3s".into());
    args.redis_wait_replicas = Some(1);
    let app = spawn_on(args).await;

    // Acknowledged: the replica holds it already, with no wait of ours.
    let (status, body) = app.post_json(&batch("w", 300)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(replica.seen_ids(), 300, "every acknowledged post is on the replica");
    let (status, sent) = app.send_broadcast(&minimal_broadcast(), Some(&app.operator)).await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(
        keys(&replica, "*{broadcasts}:msg:*"),
        1,
        "the broadcast is on the replica"
    );
    let resp = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .send_json(&json!({"lat": 44.4937, "lon": 11.343, "category": "medical", "text": "fainted"}))
        .await
        .expect("report");
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(keys(&replica, "*{reports}:report:*"), 1, "the report is on the replica");

    // Without the replica nothing is acknowledged: a clear, prompt 503.
    replica.kill();
    let started = Instant::now();
    let (status, body) = app.post_json(&batch("x", 300)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "engine_unavailable", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "told within twice the timeout"
    );
    let (status, body) = app.send_broadcast(&minimal_broadcast(), Some(&app.operator)).await;
    assert_eq!(status, 503, "a broadcast is not acknowledged either: {body}");

    // The replica back: the same batch sent again is acknowledged and counts once.
    replica.restart();
    follow(&replica, &primary);
    let (status, body) = app.post_json(&batch("x", 300)).await;
    assert_eq!(status, 202, "{body}");
    let (_, map) = app.get("/api/v1/heatmap?res=9&window=15m", Some(&app.operator)).await;
    // 600 posts and the report, which operators see counted at once.
    assert_eq!(heatmap_total(&map), 601, "{map}");
}

#[test]
fn waiting_for_replicas_needs_a_redis_engine() {
    let mut args = test_args();
    args.redis_wait_replicas = Some(1);
    let error = campanile::config::Settings::resolve(&args).expect_err("a memory engine has no replicas");
    assert!(error.to_string().contains("redis_wait_replicas"), "{error}");
}
