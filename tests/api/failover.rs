//! A Redis Cluster failover under ingest: a master killed at once, its
//! replica promoted by the cluster, and the node carrying on by itself.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestCluster, Ws, heatmap_total, minimal_broadcast, next_json, next_of_type, post_at, send,
    serve_process_with,
};

/// How long a silent master goes before the cluster fails it over, as an
/// operator would set it.
const NODE_TIMEOUT_MS: u32 = 2_000;
const BATCH: usize = 500;
/// How long the node may take to answer 202 again after the kill.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

/// A batch of posts over a whole district, so that its keys land on every
/// master; ids make a batch sent again count once.
fn batch(n: usize) -> Value {
    let posts: Vec<Value> = (0..BATCH)
        .map(|i| {
            post_at(
                44.47 + (i % 20) as f64 * 0.002,
                11.31 + (i / 20 % 20) as f64 * 0.003,
                &format!("f{n}-{i}"),
                Some(&format!("f{n}-{i}")),
            )
        })
        .collect();
    json!(posts)
}

/// Sends batch `n` until it is acknowledged, as an ingest client retrying a
/// 503 would: the same bytes under the same `Idempotency-Key`, so that what
/// a failed attempt stored counts once. Answers when the 202 came, or
/// `None` past `deadline`.
async fn send_until_acknowledged(app: &TestApp, n: usize, deadline: Instant) -> Option<Instant> {
    let body = batch(n).to_string();
    loop {
        let mut resp = app
            .client
            .post(format!("{}/api/v1/posts", app.address))
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Idempotency-Key", format!("failover-{n}")))
            .bearer_auth(&app.ingest)
            .send_body(body.clone())
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let answer: Value = resp.json().limit(1 << 20).await.unwrap_or(Value::Null);
        if status == 202 {
            assert_eq!(
                answer["accepted"].as_u64(),
                Some(BATCH as u64),
                "every post of the batch is counted, once: {answer}"
            );
            return Some(Instant::now());
        }
        // 409: an earlier attempt still holds the key.
        assert!(
            status == 503 || status == 409,
            "an unreachable engine is a 503: {status} {answer}"
        );
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn subscribed(app: &TestApp, token: &str, channel: &str) -> Ws {
    let mut ws = app.ws(Some(token)).await;
    send(&mut ws, json!({"type": "subscribe", "channel": channel})).await;
    assert_eq!(next_json(&mut ws, Duration::from_secs(5)).await["type"], "subscribed");
    ws
}

/// Sends a request until it is answered `201`, as a client retrying a 503
/// would, and answers the created resource.
async fn created<F, Fut>(what: &str, mut attempt: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let deadline = Instant::now() + RECOVERY_LIMIT;
    loop {
        let (status, body) = attempt().await;
        if status == 201 {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn log_tail(log: &tempfile::NamedTempFile) -> String {
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn a_redis_cluster_failover_under_ingest_recovers_without_a_restart() {
    let mut cluster = TestCluster::start_replicated(NODE_TIMEOUT_MS);
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (server, app) = serve_process_with(
        &["--redis-cluster-nodes", &cluster.node_urls(), "--redis-timeout", "1s"],
        log.reopen().expect("log file"),
    )
    .await;
    let _server = Stop(server);

    let mut reports = subscribed(&app, &app.operator, "reports").await;
    let mut broadcasts = subscribed(&app, &app.commander, "broadcasts").await;

    let mut sent = 0;
    for _ in 0..3 {
        let acked = send_until_acknowledged(&app, sent, Instant::now()).await;
        assert!(acked.is_some(), "ingest works before the failover");
        sent += 1;
    }

    // The master holding the most keys dies as a crash would.
    let victim = cluster
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.cli(&["ROLE"]).is_some_and(|r| r.starts_with("master")))
        .max_by_key(|(_, n)| n.cli(&["DBSIZE"]).and_then(|s| s.trim().parse::<u64>().ok()))
        .map(|(i, _)| i)
        .expect("a master");
    let killed = Instant::now();
    cluster.nodes[victim].kill();

    // Ingest carries on, each batch retried until acknowledged.
    let deadline = killed + RECOVERY_LIMIT;
    let first_after = send_until_acknowledged(&app, sent, deadline).await;
    let promoted = cluster.nodes.iter().enumerate().any(|(i, n)| {
        i != victim
            && n.cli(&["CLUSTER", "INFO"])
                .is_some_and(|info| info.contains("cluster_state:ok"))
    });
    let Some(first_after) = first_after else {
        panic!(
            "no 202 within {RECOVERY_LIMIT:?} of the kill (cluster ok again: {promoted}); the node's log ends:\n{}",
            log_tail(&log)
        );
    };
    sent += 1;
    let to_first_202 = first_after - killed;
    for _ in 0..3 {
        let acked = send_until_acknowledged(&app, sent, Instant::now() + RECOVERY_LIMIT).await;
        assert!(acked.is_some(), "ingest keeps working after the failover");
        sent += 1;
    }

    let mut ready_at = None;
    while Instant::now() < killed + RECOVERY_LIMIT + RECOVERY_LIMIT {
        let (status, _) = app.get("/readyz", None).await;
        if status == 200 {
            ready_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(ready_at) = ready_at else {
        panic!("/readyz never came back; the node's log ends:\n{}", log_tail(&log));
    };

    let (status, map) = app.get("/api/v1/heatmap?res=7&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200, "the heatmap answers after the failover: {map}");
    let stored = heatmap_total(&map);
    let acknowledged = (sent * BATCH) as u64;
    let after_kill = acknowledged - (3 * BATCH) as u64;
    assert!(
        stored >= after_kill,
        "every post acknowledged after the kill is on the map: {stored} stored, {after_kill} acknowledged after the kill"
    );
    assert!(
        stored <= acknowledged,
        "no post counts twice: {stored} of {acknowledged}"
    );

    // The feeds resume: a report and a broadcast made after the failover
    // reach the subscribers that were connected through it.
    let report = created("a report", || async {
        let mut resp = app
            .client
            .post(format!("{}/api/v1/reports", app.address))
            .send_json(&json!({"lat": 44.4937, "lon": 11.343, "category": "medical", "text": "someone fainted"}))
            .await
            .expect("report");
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    })
    .await;
    let live = next_of_type(&mut reports, "report", RECOVERY_LIMIT).await;
    assert_eq!(live["report"]["id"], report["id"], "{live}");
    let alert = minimal_broadcast();
    let broadcast = created("a broadcast", || app.send_broadcast(&alert, Some(&app.operator))).await;
    let live = next_of_type(&mut broadcasts, "broadcast", RECOVERY_LIMIT).await;
    assert_eq!(live["seq"], broadcast["seq"], "{live}");

    println!(
        "failover (cluster-node-timeout {NODE_TIMEOUT_MS} ms): first 202 after {:.1} s, /readyz 200 after {:.1} s; \
         {acknowledged} posts acknowledged, {stored} on the map, {} lost",
        to_first_202.as_secs_f64(),
        (ready_at - killed).as_secs_f64(),
        acknowledged - stored
    );
}
