//! `GET /ws`: the heatmap channel end to end with a real WebSocket client.

use std::time::{Duration, Instant};

use awc::ws;
use futures_util::SinkExt;
use serde_json::json;

use crate::helpers::*;

const SECOND: Duration = Duration::from_secs(1);

async fn subscribed_heatmap(app: &TestApp, token: Option<&str>, res: u8) -> Ws {
    let mut ws = app.ws(token).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "channel": "heatmap", "res": res, "window": "1m"}),
    )
    .await;
    let ack = next_json(&mut ws, 5 * SECOND).await;
    assert_eq!(
        (ack["type"].as_str(), ack["channel"].as_str()),
        (Some("subscribed"), Some("heatmap"))
    );
    let snapshot = next_json(&mut ws, 5 * SECOND).await;
    assert_eq!(snapshot["type"], "heatmap.snapshot");
    assert_eq!(snapshot["sub"], ack["sub"]);
    ws
}

#[actix_web::test]
async fn a_client_sees_its_own_ingest_as_a_delta_within_a_tick() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let mut args = test_args();
        args.tick = Some("500ms".into()); // the default tick, as users get it
        let app = spawn_app_with(kind, args).await;
        let mut ws = subscribed_heatmap(&app, Some(&app.operator), 11).await;
        let sent = Instant::now();
        let (status, _) = app.post_json(&post_at(44.4937, 11.3430, "me", None)).await;
        assert_eq!(status, 202);
        let delta = next_of_type(&mut ws, "heatmap.delta", 5 * SECOND).await;
        let latency = sent.elapsed();
        assert_eq!(delta["cells"][0]["count"], 1);
        assert_eq!(delta["removed"], json!([]));
        let expected: h3o::CellIndex = h3o::LatLng::new(44.4937, 11.3430)
            .expect("ll")
            .to_cell(h3o::Resolution::Eleven);
        assert_eq!(delta["cells"][0]["cell"], expected.to_string());
        eprintln!("{kind:?}: ingest-to-delta latency {latency:?} (tick 500 ms; the contract's bound is 600 ms)");
        // Measured, not asserted tight: a loaded CI machine must not flake.
        assert!(latency < 5 * SECOND);
    }
}

#[actix_web::test]
async fn deltas_carry_only_changed_cells_and_nothing_is_sent_when_nothing_changes() {
    let app = spawn_app(EngineKind::Memory).await;
    app.post_json(&post_at(44.4937, 11.3430, "a", None)).await;
    let mut ws = subscribed_heatmap(&app, Some(&app.operator), 11).await;
    app.post_json(&post_at(45.4642, 9.1900, "b", None)).await;
    let delta = next_of_type(&mut ws, "heatmap.delta", 5 * SECOND).await;
    let cells = delta["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1, "only the new Milan cell: {delta}");
    // No ingest: no frame for several ticks (only our pong answers a ping).
    send(&mut ws, json!({"type": "ping"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let next = next_json(&mut ws, SECOND).await;
    assert_eq!(next["type"], "pong", "no delta may be sent when nothing changed");
}

#[actix_web::test]
async fn cells_that_leave_the_window_are_reported_as_removed() {
    let mut args = test_args();
    args.bucket = Some("1s".into());
    args.windows = Some("2s,1m".into());
    args.default_window = Some("2s".into());
    let app = spawn_on(args).await;
    let mut ws = app.ws(Some(&app.operator)).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "channel": "heatmap", "res": 9, "window": "2s"}),
    )
    .await;
    next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
    app.post_json(&post_at(44.4937, 11.3430, "a", None)).await;
    let added = next_of_type(&mut ws, "heatmap.delta", 5 * SECOND).await;
    let cell = added["cells"][0]["cell"].clone();
    let gone = next_of_type(&mut ws, "heatmap.delta", 10 * SECOND).await;
    assert_eq!(gone["removed"], json!([cell]));
    assert_eq!(gone["cells"], json!([]));
}

#[actix_web::test]
async fn a_bbox_subscription_sees_only_its_area() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(Some(&app.operator)).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "channel": "heatmap", "res": 9, "window": "1m", "bbox": [11.2, 44.4, 11.5, 44.6]}),
    )
    .await;
    next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
    app.post_json(&post_at(45.4642, 9.1900, "milan", None)).await;
    app.post_json(&post_at(44.4937, 11.3430, "bologna", None)).await;
    let delta = next_of_type(&mut ws, "heatmap.delta", 5 * SECOND).await;
    let cells = delta["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1);
    let cell: h3o::CellIndex = cells[0]["cell"].as_str().expect("cell").parse().expect("h3");
    let centre = h3o::LatLng::from(cell);
    assert!((centre.lat() - 44.49).abs() < 0.05);
}

#[actix_web::test]
async fn bad_messages_get_an_error_and_the_connection_stays_open() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(None).await;
    for bad in [
        json!({"type": "dance"}),
        json!({"type": "subscribe", "channel": "gossip"}),
        json!({"type": "subscribe", "channel": "heatmap", "res": 42}),
        json!({"type": "subscribe", "channel": "heatmap", "window": "3m"}),
        json!({"type": "subscribe", "channel": "heatmap", "bbox": [1, 2]}),
        json!({"type": "unsubscribe", "sub": "nope"}),
    ] {
        send(&mut ws, bad.clone()).await;
        let answer = next_json(&mut ws, 5 * SECOND).await;
        assert_eq!(answer["type"], "error", "{bad}");
        assert!(answer["code"].is_string() && answer["message"].is_string(), "{bad}");
    }
    ws.send(ws::Message::Text("not json at all".into()))
        .await
        .expect("send");
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["code"], "invalid_message");
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["type"], "pong");
}

#[actix_web::test]
async fn the_public_may_not_subscribe_finer_than_9_until_it_authenticates() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(None).await;
    send(&mut ws, json!({"type": "subscribe", "channel": "heatmap", "res": 11})).await;
    let refused = next_json(&mut ws, 5 * SECOND).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );

    let mut ws = app.ws(None).await;
    send(&mut ws, json!({"type": "auth", "token": "forged"})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["code"], "unauthorized");
    send(&mut ws, json!({"type": "auth", "token": app.commander})).await;
    let ok = next_json(&mut ws, 5 * SECOND).await;
    assert_eq!(
        (ok["type"].as_str(), ok["role"].as_str()),
        (Some("authenticated"), Some("commander"))
    );
    send(&mut ws, json!({"type": "subscribe", "channel": "heatmap", "res": 11})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["type"], "subscribed");
}

#[actix_web::test]
async fn a_forged_header_token_is_refused_before_the_upgrade() {
    let app = spawn_app(EngineKind::Memory).await;
    let result = app
        .client
        .ws(format!("ws://127.0.0.1:{}/ws", app.port))
        .bearer_auth("forged")
        .connect()
        .await;
    match result {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => assert_eq!(status.as_u16(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
}

#[actix_web::test]
async fn unsubscribe_stops_the_deltas() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(Some(&app.operator)).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "channel": "heatmap", "res": 9, "window": "1m"}),
    )
    .await;
    let sub = next_of_type(&mut ws, "subscribed", 5 * SECOND).await["sub"].clone();
    next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
    send(&mut ws, json!({"type": "unsubscribe", "sub": sub})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["type"], "unsubscribed");
    app.post_json(&post_at(44.4937, 11.3430, "a", None)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut ws, SECOND).await["type"],
        "pong",
        "no delta after unsubscribe"
    );
}

#[actix_web::test]
async fn a_frame_over_64_kib_closes_with_1009() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(None).await;
    let big = format!("{{\"type\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    ws.send(ws::Message::Text(big.into())).await.expect("send");
    assert_eq!(close_code(&mut ws, 5 * SECOND).await, Some(1009));
}

#[actix_web::test]
async fn a_silent_client_is_dropped_after_the_timeout() {
    let mut args = test_args();
    args.ws_ping = Some("200ms".into());
    args.ws_timeout = Some("1s".into());
    let app = spawn_on(args).await;
    let mut ws = app.ws(None).await;
    // The test client never answers pings.
    let started = Instant::now();
    assert_eq!(close_code(&mut ws, 10 * SECOND).await, Some(1000));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[actix_web::test]
async fn the_server_pings_and_a_client_that_answers_stays() {
    let mut args = test_args();
    args.ws_ping = Some("200ms".into());
    args.ws_timeout = Some("1s".into());
    let app = spawn_on(args).await;
    let mut ws = app.ws(None).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut pings = 0;
    while Instant::now() < deadline {
        match tokio::time::timeout(SECOND, futures_util::StreamExt::next(&mut ws)).await {
            Ok(Some(Ok(ws::Frame::Ping(p)))) => {
                pings += 1;
                ws.send(ws::Message::Pong(p)).await.expect("pong");
            }
            Ok(Some(Ok(ws::Frame::Close(r)))) => panic!("closed although answering: {r:?}"),
            _ => {}
        }
    }
    assert!(pings >= 5, "only {pings} pings in 3 s");
}

#[actix_web::test]
async fn shutdown_closes_sessions_with_1001() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(None).await;
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["type"], "pong");
    let stopping = actix_web::rt::spawn(async move {
        app.stop().await;
    });
    assert_eq!(close_code(&mut ws, 10 * SECOND).await, Some(1001));
    let _ = stopping.await;
}

#[actix_web::test]
async fn clients_are_told_when_the_engine_goes_down_and_comes_back() {
    let mut app = spawn_app(EngineKind::Redis).await;
    let mut ws = subscribed_heatmap(&app, Some(&app.operator), 9).await;
    app.redis.as_mut().expect("redis").kill();
    let down = next_of_type(&mut ws, "status", 15 * SECOND).await;
    assert_eq!(down["engine"], "down");
    app.redis.as_mut().expect("redis").restart();
    let up = next_of_type(&mut ws, "status", 15 * SECOND).await;
    assert_eq!(up["engine"], "up");
}

/// Applies snapshot and delta frames to a map of cell → count.
fn apply(state: &mut std::collections::HashMap<String, u64>, msg: &serde_json::Value) {
    if msg["type"] == "heatmap.snapshot" {
        state.clear();
    }
    for c in msg["cells"].as_array().into_iter().flatten() {
        state.insert(
            c["cell"].as_str().unwrap_or_default().to_owned(),
            c["count"].as_u64().unwrap_or(0),
        );
    }
    for r in msg["removed"].as_array().into_iter().flatten() {
        state.remove(r.as_str().unwrap_or_default());
    }
}

#[actix_web::test]
async fn a_client_that_stops_reading_slows_nobody_and_catches_up_to_the_exact_state() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut slow = app.ws(Some(&app.operator)).await;
    send(
        &mut slow,
        json!({"type": "subscribe", "channel": "heatmap", "res": 11, "window": "1m"}),
    )
    .await;
    let mut fast = app.ws(Some(&app.operator)).await;
    send(
        &mut fast,
        json!({"type": "subscribe", "channel": "heatmap", "res": 11, "window": "1m"}),
    )
    .await;
    next_of_type(&mut fast, "heatmap.snapshot", 5 * SECOND).await;

    // Many ticks of changes over thousands of cells while `slow` reads nothing.
    for round in 0..15 {
        let posts: Vec<serde_json::Value> = (0..2_000)
            .map(|i| {
                let lat = 44.40 + (i % 100) as f64 * 0.002;
                let lon = 11.20 + (i / 100) as f64 * 0.002 + round as f64 * 0.0001;
                post_at(lat, lon, &format!("a{i}"), None)
            })
            .collect();
        let (status, _) = app.post_json(&json!(posts)).await;
        assert_eq!(status, 202);
        // The reading client keeps getting its deltas promptly.
        let delta = next_of_type(&mut fast, "heatmap.delta", 5 * SECOND).await;
        assert!(!delta["cells"].as_array().expect("cells").is_empty());
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, truth) = app.get("/api/v1/heatmap?res=11&window=1m", Some(&app.operator)).await;
    let truth: std::collections::HashMap<String, u64> = truth["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                c["cell"].as_str().unwrap_or_default().to_owned(),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(truth.len() > 5_000, "{} cells", truth.len());

    // Now the slow client reads: coalesced frames must add up to the exact state.
    let mut state = std::collections::HashMap::new();
    let mut frames = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while state != truth && Instant::now() < deadline {
        let msg = next_json(&mut slow, 5 * SECOND).await;
        if msg["type"].as_str().is_some_and(|t| t.starts_with("heatmap.")) {
            apply(&mut state, &msg);
            frames += 1;
        }
    }
    assert_eq!(state.len(), truth.len());
    assert!(state == truth, "the slow client's state differs from the heatmap");
    eprintln!("slow client caught up with {frames} frames for 15 rounds of changes");
}

#[actix_web::test]
async fn a_flooding_client_is_refused_then_closed_while_a_polite_one_stays() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut flood = app.ws(None).await;
    for _ in 0..60 {
        send(&mut flood, json!({"type": "ping"})).await;
    }
    let mut pongs = 0;
    let mut refused = 0;
    for _ in 0..60 {
        match next_json(&mut flood, 5 * SECOND).await["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(pongs >= 40 && refused >= 1, "{pongs} answered, {refused} refused");
    for _ in 0..400 {
        if flood
            .send(ws::Message::Text(r#"{"type":"ping"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(close_code(&mut flood, 10 * SECOND).await, Some(1008));
    let mut polite = app.ws(None).await;
    send(&mut polite, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut polite, 5 * SECOND).await["type"], "pong");
}

#[actix_web::test]
async fn a_connection_holds_at_most_16_subscriptions() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(Some(&app.operator)).await;
    for i in 0..17 {
        send(&mut ws, json!({"type": "subscribe", "channel": "broadcasts"})).await;
        let answer = next_json(&mut ws, 5 * SECOND).await;
        if i < 16 {
            assert_eq!(answer["type"], "subscribed", "subscription {i}");
        } else {
            assert_eq!(answer["code"], "too_many_subscriptions");
        }
    }
}

#[actix_web::test]
async fn an_alerts_subscriber_far_behind_the_channel_misses_no_alert_and_gets_none_twice() {
    // One thread: until the test awaits, neither the relay nor the
    // subscription reads, so both fall behind and must re-read the engine.
    let engine = engine_for(&test_args()).await;
    let (hub, shutdown) = crate::reports::hub_over(engine.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut messages = hub.alerts().subscribe("s1".into());
    let total = campanile::engine::REPORT_FEED_CAPACITY + campanile::hub::channel::CHANNEL_CAPACITY + 10;
    let now = chrono::Utc::now().timestamp();
    for i in 0..total {
        let body = json!({"kind": "surge", "cell": format!("c{i}"), "count": i}).to_string();
        assert!(
            engine
                .raise_alert(&format!("surge:c{i}"), &body, 60, now)
                .await
                .expect("raise")
        );
    }
    let got = crate::reports::take(&mut messages, total).await;
    let counts: Vec<u64> = got.iter().map(|m| m["count"].as_u64().expect("count")).collect();
    assert_eq!(
        counts,
        (0..total as u64).collect::<Vec<_>>(),
        "every alert, once, in order"
    );
    assert!(got.iter().all(|m| m["type"] == "alert" && m["sub"] == "s1"));
    shutdown.cancel();
}

/// A client that subscribes to a busy heatmap and then stops reading gives
/// its place on the node back within the silence timeout, whether the
/// session notices by the pongs that stop or by a frame it cannot hand
/// over (a send that waits longer than the timeout ends the session; on
/// loopback here the pongs always told first).
#[actix_web::test]
async fn a_heatmap_client_that_stops_reading_gives_its_place_back_within_the_timeout() {
    let mut args = test_args();
    args.ws_ping = Some("500ms".into());
    args.ws_timeout = Some("4s".into());
    args.ws_max_connections = Some(1);
    let app = spawn_on(args).await;
    let mut stuck = app.ws(Some(&app.operator)).await;
    send(
        &mut stuck,
        json!({"type": "subscribe", "channel": "heatmap", "res": 11, "window": "1m"}),
    )
    .await;
    assert_eq!(
        upgrade_refusal(&app, &app.operator).await,
        Some(503),
        "the node holds one"
    );
    // A thousand cells changing every tick.
    for round in 0..20 {
        let posts: Vec<serde_json::Value> = (0..1_000)
            .map(|i| {
                let (row, col) = (f64::from(i / 40), f64::from(i % 40));
                let mut post = post_at(
                    44.47 + row * 0.0015,
                    11.31 + col * 0.0015,
                    &format!("a{round}-{i}"),
                    None,
                );
                post["id"] = json!(format!("p{round}-{i}"));
                post
            })
            .collect();
        assert_eq!(app.post_json(&json!(posts)).await.0, 202);
    }
    // The stuck session ends and its place is free again.
    let started = Instant::now();
    let mut admitted = None;
    while admitted.is_none() && started.elapsed() < Duration::from_secs(15) {
        admitted = upgrade_refusal(&app, &app.operator).await.is_none().then_some(());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        admitted.is_some(),
        "the stuck session still holds the node's only place"
    );
    drop(stuck);
}
