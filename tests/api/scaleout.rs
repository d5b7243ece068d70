//! Several nodes, Redis Cluster and Redis outages (DESIGN §2, §7, §8): real
//! Campanile nodes on real `redis-server` processes that the tests kill and
//! restart.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const SECOND: Duration = Duration::from_secs(1);

async fn heatmap_ws(app: &TestApp, res: u8) -> Ws {
    let mut ws = app.ws(Some(&app.operator)).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "channel": "heatmap", "res": res, "window": "15m"}),
    )
    .await;
    next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
    ws
}

async fn subscribed(app: &TestApp, token: Option<&str>, subscribe: Value) -> Ws {
    let mut ws = app.ws(token).await;
    send(&mut ws, subscribe).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["type"], "subscribed");
    ws
}

fn public_alert(headline: &str) -> Value {
    let mut b = minimal_broadcast();
    b["headline"] = headline.into();
    b
}

/// Everything a user does on one node shows on the other: heatmap, reports,
/// broadcasts, acknowledgements.
async fn two_nodes_behave_as_one(node_a: &TestApp, node_b: &TestApp) {
    let mut heat_on_b = heatmap_ws(node_b, 9).await;
    let mut reports_on_b = subscribed(
        node_b,
        Some(&node_b.operator),
        json!({"type": "subscribe", "channel": "reports"}),
    )
    .await;
    let mut broadcasts_on_b = subscribed(
        node_b,
        Some(&node_b.commander),
        json!({"type": "subscribe", "channel": "broadcasts"}),
    )
    .await;

    // A post on A is a delta on B within a tick (100 ms here) plus the read.
    let posted = Instant::now();
    let (status, _) = node_a
        .post_json(&json!([
            post_at(44.4937, 11.343, "a", None),
            post_at(44.4937, 11.343, "b", None)
        ]))
        .await;
    assert_eq!(status, 202);
    let delta = next_of_type(&mut heat_on_b, "heatmap.delta", 5 * SECOND).await;
    let latency = posted.elapsed();
    assert_eq!(delta["cells"][0]["count"], 2, "{delta}");
    assert!(
        latency < Duration::from_secs(2),
        "post on A to delta on B took {latency:?}"
    );
    println!("post on node A → delta on node B: {latency:?}");

    // A report taken on A reaches B's operators, and so does its moderation on B.
    let mut resp = node_a
        .client
        .post(format!("{}/api/v1/reports", node_a.address))
        .send_json(&json!({"lat": 44.4937, "lon": 11.343, "category": "medical", "text": "someone fainted"}))
        .await
        .expect("report");
    assert_eq!(resp.status(), 201);
    let report: Value = resp.json().await.expect("json");
    let live = next_of_type(&mut reports_on_b, "report", 5 * SECOND).await;
    assert_eq!(live["report"]["id"], report["id"]);
    let id = report["id"].as_str().expect("id");
    let status = node_b
        .client
        .patch(format!("{}/api/v1/reports/{id}", node_b.address))
        .bearer_auth(&node_b.operator)
        .send_json(&json!({"status": "verified"}))
        .await
        .expect("moderate")
        .status();
    assert_eq!(status, 200);
    let moderated = next_of_type(&mut reports_on_b, "report", 5 * SECOND).await;
    assert_eq!(
        (&moderated["report"]["id"], &moderated["report"]["status"]),
        (&report["id"], &json!("verified"))
    );

    // A broadcast sent on A reaches B's commander, who acknowledges it on B;
    // A's operators see the acknowledgement.
    let (status, sent) = node_a
        .send_broadcast(&public_alert("Leave by Via Rizzoli"), Some(&node_a.operator))
        .await;
    assert_eq!(status, 201, "{sent}");
    let got = next_of_type(&mut broadcasts_on_b, "broadcast", 5 * SECOND).await;
    assert_eq!(got["seq"], sent["seq"]);
    let bid = sent["id"].as_str().expect("id");
    let status = node_b
        .client
        .post(format!("{}/api/v1/broadcasts/{bid}/ack", node_b.address))
        .bearer_auth(&node_b.commander)
        .send()
        .await
        .expect("ack")
        .status();
    assert!(status.is_success(), "{status}");
    let (_, seen_on_a) = node_a
        .get(&format!("/api/v1/broadcasts/{bid}"), Some(&node_a.operator))
        .await;
    assert_eq!(seen_on_a["acks"][0]["sub"], "test-commander", "{seen_on_a}");
}

#[actix_web::test]
async fn two_nodes_on_one_redis_behave_as_one_server() {
    let (_redis, node_a, node_b) = two_nodes_on_one_redis().await;
    two_nodes_behave_as_one(&node_a, &node_b).await;
}

#[actix_web::test]
async fn two_nodes_on_a_three_node_redis_cluster_behave_as_one_server_and_spread_the_keys() {
    let cluster = TestCluster::start();
    let mut args = test_args();
    args.redis_cluster_nodes = Some(cluster.node_urls());
    let node_a = spawn_on(args.clone()).await;
    let node_b = spawn_on(args).await;
    two_nodes_behave_as_one(&node_a, &node_b).await;

    // Posts over a whole district: their keys land on every cluster node.
    let posts: Vec<Value> = (0..300)
        .map(|i| {
            post_at(
                44.47 + f64::from(i % 20) * 0.002,
                11.31 + f64::from(i / 20) * 0.003,
                &format!("c{i}"),
                Some(&format!("k{i}")),
            )
        })
        .collect();
    let (status, body) = node_b.post_json(&json!(posts)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(300)), "{body}");
    let keys_per_node: Vec<usize> = cluster
        .nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).and_then(|s| s.trim().parse().ok()).unwrap_or(0))
        .collect();
    assert!(keys_per_node.iter().all(|k| *k > 0), "keys per node: {keys_per_node:?}");
    let (_, map) = node_a
        .get("/api/v1/heatmap?res=7&window=15m", Some(&node_a.operator))
        .await;
    assert_eq!(
        heatmap_total(&map),
        303,
        "the two earlier posts, the verified report and these 300, once each"
    );
}

#[actix_web::test]
async fn a_client_that_reconnects_to_another_node_resumes_without_loss() {
    let (_redis, node_a, node_b) = two_nodes_on_one_redis().await;
    let mut on_a = subscribed(&node_a, None, json!({"type": "subscribe", "channel": "broadcasts"})).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        // Operators carry on from node B once A is gone.
        let node = if i <= 1 { &node_a } else { &node_b };
        let (status, b) = node
            .send_broadcast(&public_alert(&format!("message {i}")), Some(&node.operator))
            .await;
        assert_eq!(status, 201);
        sent.push(b["seq"].as_u64().expect("seq"));
        if i == 1 {
            // The client has had two messages when its node goes away.
            for expected in &sent {
                let got = next_of_type(&mut on_a, "broadcast", 5 * SECOND).await;
                assert_eq!(got["seq"].as_u64(), Some(*expected));
            }
            node_a.stop().await;
        }
    }
    let mut on_b = subscribed(
        &node_b,
        None,
        json!({"type": "subscribe", "channel": "broadcasts", "since_seq": sent[1]}),
    )
    .await;
    for expected in &sent[2..] {
        let got = next_of_type(&mut on_b, "broadcast", 5 * SECOND).await;
        assert_eq!(got["seq"].as_u64(), Some(*expected));
    }
}

/// Which posts a batch holds.
#[derive(Clone, Copy)]
enum Posts {
    /// Half with ids, every one with an author.
    HalfWithIds,
    /// No id, no author: nothing but the idempotency key tells a retry
    /// from new data.
    Anonymous,
    /// Every one with an id, sent without an `Idempotency-Key`, as a
    /// connector that relies on ids alone retries: only the ids tell a
    /// retry from new data.
    IdsWithoutKey,
}

/// Posts 2,500 distinct posts a batch (three chunks) under one
/// `Idempotency-Key` per batch until `batches` batches are acknowledged,
/// retrying each refused batch with its key as a connector would; records
/// the acknowledged total and the refusals.
struct IngestRun {
    acknowledged: u64,
    /// Posts that a retry found stored by an attempt cut off mid-batch.
    completed_on_retry: u64,
    refusals: Vec<(Instant, Duration)>,
    successes: Vec<Instant>,
}

async fn ingest_with_retries(app: &TestApp, round: usize, batches: usize, kind: Posts) -> IngestRun {
    let mut run = IngestRun {
        acknowledged: 0,
        completed_on_retry: 0,
        refusals: Vec::new(),
        successes: Vec::new(),
    };
    let ts = chrono::Utc::now().to_rfc3339();
    for b in 0..batches {
        let posts: Vec<Value> = (0..2_500)
            .map(|i| {
                let (lat, lon) = (44.48 + f64::from(i % 50) * 0.0004, 11.33 + f64::from(i / 50) * 0.0004);
                match kind {
                    Posts::HalfWithIds => {
                        let mut p = post_at(
                            lat,
                            lon,
                            &format!("author{}", i % 400),
                            (i % 2 == 0).then(|| format!("b{b}-{i}")).as_deref(),
                        );
                        p["ts"] = ts.clone().into();
                        p["text"] = format!("batch {b} post {i}").into();
                        p
                    }
                    // The same words at the same places in every batch, and
                    // no ts: retries must land in the first attempt's buckets.
                    Posts::Anonymous => json!({"source": "sms", "lat": lat, "lon": lon, "text": "crowded here"}),
                    Posts::IdsWithoutKey => {
                        let mut p = post_at(
                            lat,
                            lon,
                            &format!("author{}", i % 400),
                            Some(&format!("r{round}-b{b}-{i}")),
                        );
                        p["ts"] = ts.clone().into();
                        p
                    }
                }
            })
            .collect();
        let body = json!(posts).to_string();
        let key = format!("round-{round}-batch-{b}");
        loop {
            let started = Instant::now();
            let keys: &[&str] = match kind {
                Posts::IdsWithoutKey => &[],
                _ => &[&key],
            };
            let answer = crate::idempotency::post_keyed(app, &body, keys, &app.ingest).await;
            match answer.status {
                202 => {
                    // A retry finds what an interrupted attempt stored as
                    // duplicates: both are acknowledged as kept.
                    let answer = answer.json();
                    run.completed_on_retry += answer["duplicates"].as_u64().expect("duplicates");
                    run.acknowledged += answer["accepted"].as_u64().expect("accepted")
                        + answer["duplicates"].as_u64().expect("duplicates");
                    run.successes.push(Instant::now());
                    break;
                }
                // 409: an attempt cut off by the outage may hold the key
                // until its lease ends; the draft's answer is to retry.
                503 | 409 => {
                    run.refusals.push((started, started.elapsed()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("unexpected {other}: {}", answer.raw),
            }
        }
    }
    run
}

/// When the chaos thread kills Redis.
#[derive(Clone, Copy)]
enum Crash {
    /// This long into the run.
    After(Duration),
    /// As soon as Redis holds one more chunk marker than when the run began:
    /// the first chunk of a batch is stored and the next are on their way,
    /// so the kill most likely cuts that batch in the middle.
    OnceAChunkIsStored,
}

/// The chunk markers Redis holds (none of them ever lost: AOF `always`).
fn chunk_markers(redis: &std::sync::Mutex<TestRedis>) -> u64 {
    redis
        .lock()
        .expect("redis")
        .cli(&["EVAL", "return #redis.call('KEYS', ARGV[1])", "0", "*:applied:i*"])
        .and_then(|out| out.trim().parse().ok())
        .unwrap_or(0)
}

/// Kills Redis during a run of `batches` batches, keeps it down 2 s and
/// restarts it; returns the run and when Redis was killed and restarted.
async fn ingest_through_a_redis_crash(
    app: &TestApp,
    redis: &std::sync::Arc<std::sync::Mutex<TestRedis>>,
    round: usize,
    batches: usize,
    kind: Posts,
    crash: Crash,
) -> (IngestRun, Instant, Instant) {
    let chaos = {
        let redis = redis.clone();
        std::thread::spawn(move || {
            match crash {
                Crash::After(delay) => std::thread::sleep(delay),
                Crash::OnceAChunkIsStored => {
                    let before = chunk_markers(&redis);
                    let give_up = Instant::now() + Duration::from_secs(20);
                    while chunk_markers(&redis) <= before && Instant::now() < give_up {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            let killed = Instant::now();
            redis.lock().expect("redis").kill();
            std::thread::sleep(Duration::from_secs(2));
            let restarted = Instant::now();
            redis.lock().expect("redis").restart();
            (killed, restarted)
        })
    };
    let run = ingest_with_retries(app, round, batches, kind).await;
    let (killed, restarted) = chaos.join().expect("chaos thread");
    assert!(!run.refusals.is_empty(), "the outage was never seen: make it longer");
    (run, killed, restarted)
}

#[actix_web::test]
async fn redis_killed_and_restarted_under_ingest_loses_and_doubles_nothing() {
    let redis = std::sync::Arc::new(std::sync::Mutex::new(TestRedis::start_persistent()));
    let mut args = test_args();
    args.redis_url = Some(redis.lock().expect("redis").url());
    args.redis_timeout = Some("500ms".into());
    let app = spawn_on(args).await;
    let mut heat = heatmap_ws(&app, 7).await;

    // Kill Redis while batches are in flight, keep it down 2 s, restart it.
    let (run, killed, restarted) = ingest_through_a_redis_crash(
        &app,
        &redis,
        0,
        12,
        Posts::HalfWithIds,
        Crash::After(Duration::from_millis(700)),
    )
    .await;

    // Every acknowledged post is counted, exactly once.
    assert_eq!(run.acknowledged, 12 * 2_500);
    let (status, map) = app.get("/api/v1/heatmap?res=7&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200);
    assert_eq!(heatmap_total(&map), run.acknowledged, "acknowledged and stored differ");

    // How fast ingest failed and came back.
    let slowest_refusal = run.refusals.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let first_refusal = run.refusals.iter().map(|(t, d)| *t + *d).min().expect("a refusal");
    let back = run
        .successes
        .iter()
        .find(|t| **t > restarted)
        .expect("a success after restart");
    println!(
        "ingest under a Redis crash: {} refusals, slowest 503 in {:?}, first 503 {:?} after the kill, \
         first 202 {:?} after the restart",
        run.refusals.len(),
        slowest_refusal,
        first_refusal.saturating_duration_since(killed),
        back.saturating_duration_since(restarted),
    );
    assert!(
        slowest_refusal < Duration::from_secs(3),
        "a 503 took {slowest_refusal:?}"
    );
    assert!(back.saturating_duration_since(restarted) < Duration::from_secs(5));

    // The subscriber was told, stayed connected and got a fresh snapshot.
    let mut saw_down = false;
    let snapshot = loop {
        let msg = next_json(&mut heat, 10 * SECOND).await;
        match msg["type"].as_str() {
            Some("status") if msg["engine"] == "down" => saw_down = true,
            Some("heatmap.snapshot") if saw_down => break msg,
            _ => {}
        }
    };
    assert!(saw_down);
    // What the snapshot holds depends on how much was stored when the hub
    // re-read it; from there the subscriber's picture must reach exactly
    // what was acknowledged, by deltas alone.
    let mut picture: std::collections::HashMap<String, u64> = snapshot["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                c["cell"].as_str().unwrap_or("").to_owned(),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let deadline = Instant::now() + 10 * SECOND;
    while picture.values().sum::<u64>() != run.acknowledged {
        assert!(
            Instant::now() < deadline,
            "the subscriber's picture stopped at {} of {}",
            picture.values().sum::<u64>(),
            run.acknowledged
        );
        let msg = next_json(&mut heat, 10 * SECOND).await;
        if msg["type"] == "heatmap.delta" {
            for c in msg["cells"].as_array().expect("cells") {
                picture.insert(
                    c["cell"].as_str().unwrap_or("").to_owned(),
                    c["count"].as_u64().unwrap_or(0),
                );
            }
            for gone in msg["removed"].as_array().expect("removed") {
                picture.remove(gone.as_str().unwrap_or(""));
            }
        }
    }
}

/// Crashes Redis under ingest of `kind` posts, round after round, until a
/// crash cut a batch in the middle and its retry found part of it stored;
/// after every round the map holds exactly what was acknowledged. Answers
/// the last map and prints the rounds' figures.
async fn crash_until_a_batch_is_cut(kind: Posts, what: &str) -> Value {
    let redis = std::sync::Arc::new(std::sync::Mutex::new(TestRedis::start_persistent()));
    let mut args = test_args();
    args.redis_url = Some(redis.lock().expect("redis").url());
    args.redis_timeout = Some("500ms".into());
    let app = spawn_on(args).await;
    // A crash between two batches proves nothing: crash again until one
    // cut a batch in the middle and its retry found part of it stored.
    let (mut acknowledged, mut completed_on_retry, mut refusals) = (0, 0, 0);
    for round in 0..5 {
        let (run, _, _) = ingest_through_a_redis_crash(&app, &redis, round, 12, kind, Crash::OnceAChunkIsStored).await;
        assert_eq!(run.acknowledged, 12 * 2_500);
        acknowledged += run.acknowledged;
        completed_on_retry += run.completed_on_retry;
        refusals += run.refusals.len();
        let (status, map) = app.get("/api/v1/heatmap?res=11&window=15m", Some(&app.operator)).await;
        assert_eq!(status, 200);
        assert_eq!(
            heatmap_total(&map),
            acknowledged,
            "acknowledged and stored differ after round {round}"
        );
        if completed_on_retry > 0 {
            println!(
                "{what} under Redis crashes: {refusals} refusals (503 or 409), acknowledged {acknowledged}, \
                 of which {completed_on_retry} stored by an attempt cut off mid-batch"
            );
            return map;
        }
    }
    panic!("no crash cut a batch in the middle in five tries");
}

#[actix_web::test]
async fn anonymous_posts_without_id_retried_under_their_key_through_a_redis_crash_count_exactly_once() {
    let map = crash_until_a_batch_is_cut(Posts::Anonymous, "anonymous ingest").await;
    // Every post is a contributor of its own, and a retry is not a new
    // one: as many contributors as posts in every cell.
    for cell in map["cells"].as_array().expect("cells") {
        assert_eq!(cell["count"], cell["contributors"], "{cell}");
    }
}

/// A connector that retries a refused batch without an `Idempotency-Key`
/// relies on the posts' ids alone. An attempt cut off by the crash may have
/// claimed ids it never counted; the retry must count those posts, not
/// answer them as duplicates of a write that never happened.
#[actix_web::test]
async fn posts_with_ids_retried_without_a_key_through_a_redis_crash_count_exactly_once() {
    crash_until_a_batch_is_cut(Posts::IdsWithoutKey, "ingest with ids and no key").await;
}

#[actix_web::test]
async fn after_an_outage_clients_get_up_and_a_fresh_snapshot_of_what_was_kept() {
    let mut redis = TestRedis::start_persistent();
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    let app = spawn_on(args).await;
    let (status, _) = app
        .post_json(&json!([
            post_at(44.4937, 11.343, "a", Some("o1")),
            post_at(44.4937, 11.343, "b", Some("o2")),
            post_at(44.4937, 11.343, "c", Some("o3"))
        ]))
        .await;
    assert_eq!(status, 202);
    let mut ws = heatmap_ws(&app, 9).await;
    redis.kill();
    assert_eq!(next_of_type(&mut ws, "status", 15 * SECOND).await["engine"], "down");
    let (status, _) = app.get("/readyz", None).await;
    assert_eq!(status, 503);
    redis.restart();
    assert_eq!(next_of_type(&mut ws, "status", 15 * SECOND).await["engine"], "up");
    let snapshot = next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
    assert_eq!(snapshot["cells"][0]["count"], 3, "{snapshot}");
    let ready = eventually(|| async { (app.get("/readyz", None).await.0 == 200).then_some(()) }).await;
    assert!(ready.is_some(), "/readyz recovers by itself");
}

#[actix_web::test]
async fn sigterm_finishes_the_request_in_flight_and_closes_websockets_with_1001() {
    let redis = TestRedis::start();
    let (mut server, app) = serve_process_on(&redis).await;
    let mut ws = heatmap_ws(&app, 9).await;

    // A batch whose body is still arriving when SIGTERM comes.
    let posts: Vec<Value> = (0..2_000)
        .map(|i| post_at(44.49, 11.34, &format!("s{i}"), Some(&format!("sig{i}"))))
        .collect();
    let body = json!(posts).to_string().into_bytes();
    let (first, rest) = body.split_at(body.len() / 2);
    let (first, rest) = (
        bytes::Bytes::copy_from_slice(first),
        bytes::Bytes::copy_from_slice(rest),
    );
    let pid = server.id().to_string();
    let stream = futures_util::stream::unfold(0u8, move |step| {
        let (first, rest, pid) = (first.clone(), rest.clone(), pid.clone());
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(first), 1)),
                1 => {
                    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status();
                    assert!(killed.is_ok_and(|s| s.success()));
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Some((Ok(rest), 2))
                }
                _ => None,
            }
        }
    });
    let mut resp = app
        .client
        .post(format!("{}/api/v1/posts", app.address))
        .bearer_auth(&app.ingest)
        .insert_header(("Content-Type", "application/json"))
        .send_stream(stream)
        .await
        .expect("the request in flight is answered");
    assert_eq!(resp.status(), 202);
    let answer: Value = resp.json().limit(1 << 20).await.expect("json");
    assert_eq!(answer["accepted"], 2_000);

    assert_eq!(close_code(&mut ws, 10 * SECOND).await, Some(1001));
    let exited = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        server.try_wait().ok().flatten()
    });
    assert!(exited.is_some_and(|s| s.success()), "{exited:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", app.port)).is_err(),
        "no longer accepting"
    );
    // What it acknowledged is in Redis for the other nodes.
    assert_eq!(redis.seen_ids(), 2_000);
}

async fn surge(app: &TestApp, at: (f64, f64), n: usize) {
    let posts: Vec<Value> = (0..n)
        .map(|i| post_at(at.0, at.1, &format!("crowd{i}"), Some(&format!("surge-{}-{i}", at.0))))
        .collect();
    let (status, body) = app.post_json(&json!(posts)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(n as u64)));
}

#[actix_web::test]
async fn a_surge_raises_one_alert_that_reaches_every_nodes_operators_and_commanders() {
    let (_redis, node_a, node_b) = two_nodes_on_one_redis().await;
    let alerts = json!({"type": "subscribe", "channel": "alerts"});
    let mut operator_on_a = subscribed(&node_a, Some(&node_a.operator), alerts.clone()).await;
    let mut commander_on_b = subscribed(&node_b, Some(&node_b.commander), alerts.clone()).await;
    let mut public = node_b.ws(None).await;
    send(&mut public, alerts).await;
    let refused = next_json(&mut public, 5 * SECOND).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );

    // 40 people in one block in a minute, where nobody was before: a surge.
    // A quieter block nearby stays below every rule.
    surge(&node_a, (44.4937, 11.343), 40).await;
    surge(&node_b, (44.5010, 11.350), 5).await;
    for ws in [&mut operator_on_a, &mut commander_on_b] {
        let alert = next_of_type(ws, "alert", 10 * SECOND).await;
        assert_eq!(alert["kind"], "surge", "{alert}");
        assert_eq!(alert["count"], 40);
        assert_eq!(alert["res"], 9);
        assert!(alert["sub"].is_string() && alert["cell"].is_string() && alert["raised_at"].is_string());
        let cell: h3o::CellIndex = alert["cell"].as_str().and_then(|c| c.parse().ok()).expect("a cell");
        let centre = h3o::LatLng::from(cell);
        assert!((centre.lat() - 44.4937).abs() < 0.01 && (centre.lng() - 11.343).abs() < 0.01);
    }
    // Both nodes saw the surge; the deployment raised it once.
    let again = tokio::time::timeout(2 * SECOND, next_of_type(&mut commander_on_b, "alert", 60 * SECOND)).await;
    assert!(again.is_err(), "a second alert for the same surge: {again:?}");
}
