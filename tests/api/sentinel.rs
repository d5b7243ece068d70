//! A Redis Sentinel failover under ingest: the primary killed at once, the
//! sentinels promoting its replica, and the node following them by itself.

use std::time::{Duration, Instant};

use crate::helpers::{
    Channels, INGEST_BATCH, SENTINEL_MASTER, StopOnDrop, TestSentinels, created, heatmap_total, ingest_until_done,
    is_heatmap, log_tail, minimal_broadcast, ready_again, report_created, send_until_acknowledged, serve_process_with,
};

/// How long the node may take to answer 202 again after the kill.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);
const TAG: &str = "sentinel";

#[actix_web::test]
async fn a_killed_primary_under_ingest_is_followed_to_its_promoted_replica_without_a_restart() {
    let mut set = TestSentinels::start();
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (server, app) = serve_process_with(
        &[
            "--redis-sentinel",
            &set.sentinel_urls(),
            "--redis-sentinel-master",
            SENTINEL_MASTER,
            "--redis-timeout",
            "1s",
        ],
        log.reopen().expect("log file"),
    )
    .await;
    let _server = StopOnDrop(server);

    let channels = Channels::open(&app).await;

    let mut sent = 0;
    for _ in 0..3 {
        // A few seconds' grace: on a loaded machine a call of a node just
        // started can outlast the 1 s timeout once.
        let acked =
            send_until_acknowledged(&app, TAG, sent, INGEST_BATCH, Instant::now() + Duration::from_secs(5)).await;
        assert!(acked.is_some(), "ingest works before the failover");
        sent += 1;
    }
    let primary = set.primary.port;
    assert_eq!(set.primary_port(), Some(primary), "the sentinels name the primary");

    // The primary dies as a crash would.
    let killed = Instant::now();
    set.primary.kill();

    // Ingest carries on, each batch retried until acknowledged.
    let first_after = send_until_acknowledged(&app, TAG, sent, INGEST_BATCH, killed + RECOVERY_LIMIT).await;
    let promoted = set.primary_port();
    let Some(first_after) = first_after else {
        panic!(
            "no 202 within {RECOVERY_LIMIT:?} of the kill (the sentinels name port {promoted:?}, the replica is {}); \
             the node's log ends:\n{}",
            set.replica.port,
            log_tail(&log)
        );
    };
    sent += 1;
    let to_first_202 = first_after - killed;
    assert_eq!(
        promoted,
        Some(set.replica.port),
        "the 202 came from the promoted replica, the only server left"
    );
    for _ in 0..3 {
        let acked = send_until_acknowledged(&app, TAG, sent, INGEST_BATCH, Instant::now() + RECOVERY_LIMIT).await;
        assert!(acked.is_some(), "ingest keeps working after the failover");
        sent += 1;
    }

    let ready_at = ready_again(&app, killed + RECOVERY_LIMIT + RECOVERY_LIMIT, &log).await;

    let (status, map) = app.get("/api/v1/heatmap?res=7&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200, "the heatmap answers after the failover: {map}");
    let stored = heatmap_total(&map);
    let acknowledged = (sent * INGEST_BATCH) as u64;
    let after_kill = acknowledged - (3 * INGEST_BATCH) as u64;
    assert!(
        stored >= after_kill,
        "every post acknowledged after the kill is on the map: {stored} stored, {after_kill} acknowledged after the kill"
    );
    assert!(
        stored <= acknowledged,
        "no post counts twice: {stored} of {acknowledged}"
    );

    // Every subscriber was told the engine went down, then that it is back,
    // and stayed connected; a heatmap's next frame is a fresh snapshot.
    let Channels {
        mut operator_map,
        mut public_map,
        mut broadcasts,
        mut reports,
        mut alerts,
        mut zones,
    } = channels;
    for feed in [
        &mut operator_map,
        &mut public_map,
        &mut broadcasts,
        &mut reports,
        &mut alerts,
        &mut zones,
    ] {
        let (up, _, _) = feed.down_then_up(RECOVERY_LIMIT).await;
        if feed.name.ends_with("heatmap") {
            let next = feed.until(up + 1, RECOVERY_LIMIT, "heatmap frame", is_heatmap).await;
            assert_eq!(
                feed.seen[next].1["type"],
                "heatmap.snapshot",
                "{}: {:?}",
                feed.name,
                feed.types()
            );
        }
    }

    // The feeds resume: a report and a broadcast made after the failover
    // reach the subscribers that were connected through it.
    let report = report_created(&app, RECOVERY_LIMIT).await;
    let live = reports
        .until(0, RECOVERY_LIMIT, "the report", |m| m["report"]["id"] == report["id"])
        .await;
    assert_eq!(reports.seen[live].1["type"], "report");
    let alert = minimal_broadcast();
    let broadcast = created("a broadcast", RECOVERY_LIMIT, || {
        app.send_broadcast(&alert, Some(&app.operator))
    })
    .await;
    let live = broadcasts
        .until(0, RECOVERY_LIMIT, "the broadcast", |m| m["seq"] == broadcast["seq"])
        .await;
    assert_eq!(broadcasts.seen[live].1["type"], "broadcast");

    println!(
        "sentinel failover (down-after-milliseconds 1000, --redis-timeout 1s): first 202 after {:.1} s, \
         /readyz 200 after {:.1} s; {acknowledged} posts acknowledged, {stored} on the map, {} lost",
        to_first_202.as_secs_f64(),
        (ready_at - killed).as_secs_f64(),
        acknowledged - stored
    );
}

/// With `--redis-wait-replicas 1`, a primary killed in the middle of ingest
/// takes nothing acknowledged with it: every 202 waited until the replica
/// had the posts. The promoted replica has no replica of its own until the
/// old primary is back (the sentinels make it one), so until then writes
/// are refused rather than acknowledged and lost.
#[actix_web::test]
async fn with_wait_replicas_a_killed_primary_loses_no_acknowledged_post() {
    let set = TestSentinels::start();
    // A replica (re)joining is sent the data at once, not after the 5 s a
    // primary waits by default for others to join the same transfer.
    for node in [&set.primary, &set.replica] {
        assert!(node.cli(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"]).is_some());
    }
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (server, app) = serve_process_with(
        &[
            "--redis-sentinel",
            &set.sentinel_urls(),
            "--redis-sentinel-master",
            SENTINEL_MASTER,
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
        let acked =
            send_until_acknowledged(&app, TAG, sent, INGEST_BATCH, Instant::now() + Duration::from_secs(5)).await;
        assert!(acked.is_some(), "ingest works before the failover");
        sent += 1;
    }

    // The kill lands while batches are in flight; the old primary comes
    // back 6 s later, as a supervisor would bring it back.
    let set = std::sync::Arc::new(std::sync::Mutex::new(set));
    let chaos = {
        let set = set.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let killed = Instant::now();
            set.lock().expect("sentinels").primary.kill();
            std::thread::sleep(Duration::from_secs(6));
            set.lock().expect("sentinels").primary.restart();
            killed
        })
    };
    let acknowledged_at = ingest_until_done(&app, TAG, sent, INGEST_BATCH, &chaos, RECOVERY_LIMIT, &log).await;
    sent += acknowledged_at.len();
    let killed = chaos.join().expect("chaos thread");
    let first_after = acknowledged_at.iter().find(|at| **at > killed).copied();

    let acknowledged = (sent * INGEST_BATCH) as u64;
    let (status, map) = app.get("/api/v1/heatmap?res=7&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200, "{map}");
    let stored = heatmap_total(&map);
    assert_eq!(
        stored, acknowledged,
        "acknowledged = stored, exactly, across the failover"
    );
    println!(
        "sentinel failover with --redis-wait-replicas 1: first 202 {:.1} s after the kill (the old primary back \
         after 6 s); {acknowledged} posts acknowledged, {stored} on the map, 0 lost",
        first_after.map_or(f64::NAN, |at| (at - killed).as_secs_f64()),
    );
}
