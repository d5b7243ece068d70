//! A Redis Cluster failover under ingest: a master killed at once, its
//! replica promoted by the cluster, and the node carrying on by itself:
//! ingest, readiness, and every WebSocket channel a client was subscribed
//! to through it (DESIGN §4: `status` down, `status` up, a fresh snapshot).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    Channels, StopOnDrop, TestCluster, created, heatmap_total, ingest_until_done, is_heatmap, log_tail,
    minimal_broadcast, post_at, ready_again, report_created, send_until_acknowledged, serve_process_with,
};

/// How long a silent master goes before the cluster fails it over, as an
/// operator would set it.
const NODE_TIMEOUT_MS: u32 = 2_000;
/// Posts per batch: small enough that a batch stays well within
/// `--redis-timeout 1s` while the subscribers' heatmaps are read every tick
/// (500 did not, in a debug build, before any failover).
const BATCH: usize = 200;
/// How long the node may take to answer 202 again after the kill.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

/// Applies a heatmap snapshot or delta to a picture of cell → count.
fn apply(picture: &mut std::collections::HashMap<String, u64>, msg: &Value) {
    if msg["type"] == "heatmap.snapshot" {
        picture.clear();
    }
    for c in msg["cells"].as_array().into_iter().flatten() {
        picture.insert(
            c["cell"].as_str().unwrap_or_default().to_owned(),
            c["count"].as_u64().unwrap_or(0),
        );
    }
    for gone in msg["removed"].as_array().into_iter().flatten() {
        picture.remove(gone.as_str().unwrap_or_default());
    }
}

/// Inside Piazza del Nettuno, a zone of the event.
const IN_NETTUNO: (f64, f64) = (44.4947, 11.34275);
/// Posters of the surge raised after the failover: over the default
/// `--alert-surge-min` of 30 items in a cell in a minute.
const SURGE: usize = 40;

#[actix_web::test]
async fn a_redis_cluster_failover_under_ingest_recovers_without_a_restart() {
    let mut cluster = TestCluster::start_replicated(NODE_TIMEOUT_MS);
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (server, app) = serve_process_with(
        &["--redis-cluster-nodes", &cluster.node_urls(), "--redis-timeout", "1s"],
        log.reopen().expect("log file"),
    )
    .await;
    let _server = StopOnDrop(server);

    let Channels {
        mut operator_map,
        mut public_map,
        mut broadcasts,
        mut reports,
        mut alerts,
        mut zones,
    } = Channels::open(&app).await;

    let mut sent = 0;
    for _ in 0..3 {
        let acked = send_until_acknowledged(&app, "f", sent, BATCH, Instant::now()).await;
        assert!(
            acked.is_some(),
            "ingest works before the failover; the node's log ends:\n{}",
            log_tail(&log)
        );
        sent += 1;
    }
    let before_kill = sent;
    // Nothing the feeds got so far is about the failover.
    let mut feeds = [
        &mut operator_map,
        &mut public_map,
        &mut broadcasts,
        &mut reports,
        &mut alerts,
        &mut zones,
    ];
    for feed in feeds.iter_mut() {
        feed.drain();
        assert!(feed.statuses().is_empty(), "{}: {:?}", feed.name, feed.types());
        feed.seen.clear();
    }

    // The master holding the most keys dies as a crash would.
    let victim = busiest_master(&cluster);
    let killed = Instant::now();
    cluster.nodes[victim].kill();

    // Ingest carries on, each batch retried until acknowledged; when each
    // 202 came, by the wall clock the server stamps its frames with.
    let deadline = killed + RECOVERY_LIMIT;
    let first_after = send_until_acknowledged(&app, "f", sent, BATCH, deadline).await;
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
    let mut acked_at = vec![chrono::Utc::now()];
    sent += 1;
    let to_first_202 = first_after - killed;
    for _ in 0..3 {
        let acked = send_until_acknowledged(&app, "f", sent, BATCH, Instant::now() + RECOVERY_LIMIT).await;
        assert!(acked.is_some(), "ingest keeps working after the failover");
        acked_at.push(chrono::Utc::now());
        sent += 1;
    }

    let ready_at = ready_again(&app, killed + RECOVERY_LIMIT + RECOVERY_LIMIT, &log).await;

    let (status, map) = app.get("/api/v1/heatmap?res=7&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200, "the heatmap answers after the failover: {map}");
    let stored = heatmap_total(&map);
    let acknowledged = (sent * BATCH) as u64;
    let after_kill = ((sent - before_kill) * BATCH) as u64;
    assert!(
        stored >= after_kill,
        "every post acknowledged after the kill is on the map: {stored} stored, {after_kill} acknowledged after the kill"
    );
    assert!(
        stored <= acknowledged,
        "no post counts twice: {stored} of {acknowledged}"
    );

    // Every subscriber was told the engine went down, then that it is back.
    let mut told = Vec::new();
    let mut feeds = [
        &mut operator_map,
        &mut public_map,
        &mut broadcasts,
        &mut reports,
        &mut alerts,
        &mut zones,
    ];
    for feed in feeds.iter_mut() {
        told.push(feed.down_then_up(RECOVERY_LIMIT).await);
    }
    // A heatmap subscriber's next frame after the `up` is a fresh snapshot,
    // read from the promoted replica: it holds every batch acknowledged
    // before it was read (`as_of`), and the deltas after it bring the
    // picture to every post acknowledged after the kill.
    let mut snapshots = Vec::new();
    for (feed, up) in [(&mut operator_map, told[0].0), (&mut public_map, told[1].0)] {
        let next = feed.until(up + 1, RECOVERY_LIMIT, "heatmap frame", is_heatmap).await;
        assert_eq!(
            feed.seen[next].1["type"],
            "heatmap.snapshot",
            "{}: {:?}",
            feed.name,
            feed.types()
        );
        snapshots.push(next);
    }
    let snapshot_at = snapshots[0];
    let snapshot = operator_map.seen[snapshot_at].1.clone();
    let as_of = chrono::DateTime::parse_from_rfc3339(snapshot["as_of"].as_str().unwrap_or_default())
        .expect("as_of is RFC 3339");
    let in_snapshot = heatmap_total(&snapshot);
    let acked_before_read = (acked_at.iter().filter(|t| **t < as_of).count() * BATCH) as u64;
    assert!(
        in_snapshot >= acked_before_read,
        "the snapshot read at {as_of} holds {in_snapshot} posts, {acked_before_read} were acknowledged after the kill before it"
    );
    let mut picture = std::collections::HashMap::new();
    apply(&mut picture, &snapshot);
    let mut at = snapshot_at;
    while picture.values().sum::<u64>() < stored {
        at = operator_map
            .until(at + 1, RECOVERY_LIMIT, "heatmap delta", |m| {
                m["type"] == "heatmap.delta"
            })
            .await;
        apply(&mut picture, &operator_map.seen[at].1);
    }
    assert_eq!(
        picture.values().sum::<u64>(),
        stored,
        "the subscriber's picture is what the engine holds, every post acknowledged after the kill in it"
    );

    // The feeds resume: a report, a broadcast and an alert made after the
    // failover reach the subscribers that were connected through it, and
    // the zones' figures move with the posts.
    let report = report_created(&app, RECOVERY_LIMIT).await;
    let live = reports
        .until(0, RECOVERY_LIMIT, "report", |m| m["type"] == "report")
        .await;
    assert_eq!(
        reports.seen[live].1["report"]["id"], report["id"],
        "{:?}",
        reports.seen[live]
    );
    let alert = minimal_broadcast();
    let broadcast = created("a broadcast", RECOVERY_LIMIT, || {
        app.send_broadcast(&alert, Some(&app.operator))
    })
    .await;
    let live = broadcasts
        .until(0, RECOVERY_LIMIT, "broadcast", |m| m["type"] == "broadcast")
        .await;
    assert_eq!(
        broadcasts.seen[live].1["seq"], broadcast["seq"],
        "{:?}",
        broadcasts.seen[live]
    );

    let surge: Vec<Value> = (0..SURGE)
        .map(|i| {
            post_at(
                IN_NETTUNO.0,
                IN_NETTUNO.1,
                &format!("surger{i}"),
                Some(&format!("surge-{i}")),
            )
        })
        .collect();
    let (status, body) = app.post_json(&json!(surge)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(SURGE as u64)), "{body}");
    let raised = alerts
        .until(0, RECOVERY_LIMIT, "surge alert", |m| {
            m["type"] == "alert" && m["kind"] == "surge" && m["count"].as_u64().is_some_and(|c| c >= SURGE as u64)
        })
        .await;
    let surge_alert = &alerts.seen[raised].1;
    assert!(
        surge_alert["place"].is_string(),
        "an alert names its place: {surge_alert}"
    );
    zones
        .until(0, RECOVERY_LIMIT, "zones.update with the surge", |m| {
            m["type"] == "zones.update"
                && m["zones"].as_array().into_iter().flatten().any(|z| {
                    z["id"] == "piazza-nettuno" && z["contributors"].as_u64().is_some_and(|c| c >= SURGE as u64)
                })
        })
        .await;

    // Told once each way: no subscriber was told the engine failed again.
    let mut feeds = [
        &mut operator_map,
        &mut public_map,
        &mut broadcasts,
        &mut reports,
        &mut alerts,
        &mut zones,
    ];
    for feed in feeds.iter_mut() {
        feed.drain();
        let told: Vec<String> = feed.statuses().into_iter().map(|(_, s)| s).collect();
        assert_eq!(told, ["down", "up"], "{}: {:?}", feed.name, feed.types());
    }

    let secs = |d: Duration| d.as_secs_f64();
    let downs: Vec<Duration> = told.iter().map(|t| t.1 - killed).collect();
    let ups: Vec<Duration> = told.iter().map(|t| t.2 - killed).collect();
    let span = |all: &[Duration]| {
        let (lo, hi) = (
            all.iter().min().copied().unwrap_or_default(),
            all.iter().max().copied().unwrap_or_default(),
        );
        format!("{:.1}-{:.1} s", secs(lo), secs(hi))
    };
    println!(
        "failover (cluster-node-timeout {NODE_TIMEOUT_MS} ms, --redis-timeout 1s): first 202 after {:.1} s, \
         `down` after {} (six subscribers), `up` after {}, /readyz 200 after {:.1} s; \
         {acknowledged} posts acknowledged, {stored} on the map, {} lost (all {after_kill} acknowledged after the kill kept); \
         snapshot after `up` held {in_snapshot}; surge alert {:.1} s after the kill",
        secs(to_first_202),
        span(&downs),
        span(&ups),
        secs(ready_at - killed),
        acknowledged - stored,
        secs(alerts.seen[raised].0 - killed),
    );
}

/// The master holding the most keys: the one whose loss hurts most.
fn busiest_master(cluster: &TestCluster) -> usize {
    cluster
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.cli(&["ROLE"]).is_some_and(|r| r.starts_with("master")))
        .max_by_key(|(_, n)| n.cli(&["DBSIZE"]).and_then(|s| s.trim().parse::<u64>().ok()))
        .map(|(i, _)| i)
        .expect("a master")
}

/// With `--redis-wait-replicas 1`, a master killed in the middle of ingest
/// takes nothing acknowledged with it: every 202 waited until a replica had
/// the posts. Until the killed node is back (as a replica of the promoted
/// one) the promoted master has no replica, so writes are refused, not
/// acknowledged and then lost.
#[actix_web::test]
async fn with_wait_replicas_a_master_killed_under_ingest_loses_no_acknowledged_post() {
    let mut cluster = TestCluster::start_replicated(NODE_TIMEOUT_MS);
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (server, app) = serve_process_with(
        &[
            "--redis-cluster-nodes",
            &cluster.node_urls(),
            "--redis-timeout",
            "1s",
            "--redis-wait-replicas",
            "1",
        ],
        log.reopen().expect("log file"),
    )
    .await;
    let _server = StopOnDrop(server);
    let mut sent = 0;
    for _ in 0..3 {
        assert!(
            send_until_acknowledged(&app, "f", sent, BATCH, Instant::now() + RECOVERY_LIMIT)
                .await
                .is_some(),
            "ingest works before the failover; the node's log ends:\n{}",
            log_tail(&log)
        );
        sent += 1;
    }

    // The kill lands while batches are in flight; the node comes back 6 s
    // later, as an operator's supervisor would bring it back.
    let mut victim = cluster.nodes.swap_remove(busiest_master(&cluster));
    let chaos = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let killed = Instant::now();
        victim.kill();
        std::thread::sleep(Duration::from_secs(6));
        victim.restart();
        (victim, killed)
    });
    let acknowledged_at = ingest_until_done(&app, "f", sent, BATCH, &chaos, RECOVERY_LIMIT, &log).await;
    sent += acknowledged_at.len();
    let (_victim, killed) = chaos.join().expect("chaos thread");
    let first_after = acknowledged_at.iter().find(|at| **at > killed).copied();

    let acknowledged = (sent * BATCH) as u64;
    let (status, map) = app.get("/api/v1/heatmap?res=7&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200, "{map}");
    let stored = heatmap_total(&map);
    assert_eq!(
        stored, acknowledged,
        "acknowledged = stored, exactly, across the failover"
    );
    println!(
        "failover with --redis-wait-replicas 1: first 202 {:.1} s after the kill (the killed node back after 6 s); \
         {acknowledged} posts acknowledged, {stored} on the map, 0 lost",
        first_after.map_or(f64::NAN, |at| (at - killed).as_secs_f64()),
    );
}
