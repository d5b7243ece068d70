//! A Redis Cluster failover under ingest: a master killed at once, its
//! replica promoted by the cluster, and the node carrying on by itself.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestCluster, heatmap_total, post_at, serve_process_with};

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
/// 503 would; answers when the first 202 came, or `None` past `deadline`.
async fn send_until_acknowledged(app: &TestApp, n: usize, deadline: Instant) -> Option<Instant> {
    loop {
        let (status, body) = app.post_json(&batch(n)).await;
        if status == 202 {
            let acknowledged = body["accepted"].as_u64().unwrap_or(0) + body["duplicates"].as_u64().unwrap_or(0);
            assert_eq!(
                acknowledged, BATCH as u64,
                "every post of the batch is acknowledged: {body}"
            );
            return Some(Instant::now());
        }
        assert_eq!(status, 503, "an unreachable engine is a 503: {body}");
        if Instant::now() > deadline {
            return None;
        }
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
    let survivors: Vec<usize> = (0..cluster.nodes.len()).filter(|i| *i != victim).collect();

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
    println!(
        "failover (cluster-node-timeout {NODE_TIMEOUT_MS} ms, {} survivors): first 202 after {:.1} s, /readyz 200 after {:.1} s; \
         {acknowledged} posts acknowledged, {stored} on the map, {} lost",
        survivors.len(),
        to_first_202.as_secs_f64(),
        (ready_at - killed).as_secs_f64(),
        acknowledged - stored
    );
}
