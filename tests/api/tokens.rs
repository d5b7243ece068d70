//! Token rules (DESIGN §5) against the running server: RFC 7519 claims, the
//! pinned issuer, the lifetime cap, the `ingest` role's public view, and a
//! WebSocket session whose token expires (or is refreshed in time).

use std::time::Duration;

use campanile::auth::TokenKeys;
use campanile::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::*;

const SECOND: Duration = Duration::from_secs(1);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token with exactly these claims, signed with the test secret.
fn signed(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("sign")
}

async fn reports_status(app: &TestApp, token: &str) -> (u16, Value) {
    app.get("/api/v1/reports", Some(token)).await
}

#[actix_web::test]
async fn tokens_breaking_rfc_7519_or_the_deployment_rules_are_401() {
    let mut args = test_args();
    args.jwt_issuer = Some("campanile-test".into());
    args.token_max_ttl = Some("1h".into());
    let app = spawn_on(args).await;
    let good = json!({"sub": "alice", "role": "operator", "exp": now() + 600, "iss": "campanile-test"});
    assert_eq!(
        reports_status(&app, &signed(good.clone())).await.0,
        200,
        "the control token passes"
    );
    let without_iat_or_nbf = signed(good.clone());
    assert_eq!(reports_status(&app, &without_iat_or_nbf).await.0, 200);

    let mut cases = Vec::new();
    let mut early = good.clone();
    early["nbf"] = json!(now() + 300);
    cases.push(("nbf in the future", early));
    let mut empty = good.clone();
    empty["sub"] = json!("");
    cases.push(("empty sub", empty));
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("someone-else");
    cases.push(("wrong iss", wrong_iss));
    let mut no_iss = good.clone();
    no_iss.as_object_mut().expect("object").remove("iss");
    cases.push(("no iss where one is pinned", no_iss));
    let mut long = good.clone();
    long["iat"] = json!(now());
    long["exp"] = json!(now() + 2 * 3600);
    cases.push(("lifetime over --token-max-ttl", long));
    let mut no_exp = good.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    cases.push(("no exp", no_exp));
    for (name, claims) in cases {
        let token = signed(claims);
        let (status, body) = reports_status(&app, &token).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{name}");
        // The same token is refused before a WebSocket upgrade.
        assert_eq!(upgrade_refusal(&app, &token).await, Some(401), "{name}");
    }
}

#[test]
fn campanile_token_refuses_an_empty_subject() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campanile"))
        .args(["token", "--role", "operator", "--sub", " "])
        .env("CAMPANILE_JWT_SECRET", SECRET)
        .output()
        .expect("campanile token");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no token printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sub"));
}

#[actix_web::test]
async fn campanile_token_writes_the_pinned_issuer() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campanile"))
        .args(["token", "--role", "commander", "--sub", "carla", "--ttl", "30m"])
        .env("CAMPANILE_JWT_SECRET", SECRET)
        .env("CAMPANILE_JWT_ISSUER", "campanile-test")
        .output()
        .expect("campanile token");
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let pinned = TokenKeys::new(SECRET.as_bytes())
        .expect("keys")
        .with_issuer(Some("campanile-test".into()));
    assert!(pinned.verify(&token).is_ok());
    let elsewhere = TokenKeys::new(SECRET.as_bytes())
        .expect("keys")
        .with_issuer(Some("other".into()));
    assert!(elsewhere.verify(&token).is_err());
}

/// The first heatmap snapshot (res 9, 1m) that has `cells` cells, as
/// `token` sees it.
async fn snapshot_with(app: &TestApp, token: Option<&str>, cells: usize) -> Value {
    eventually(|| async move {
        let mut ws = app.ws(token).await;
        send(
            &mut ws,
            json!({"type": "subscribe", "channel": "heatmap", "res": 9, "window": "1m"}),
        )
        .await;
        let snap = next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
        (snap["cells"].as_array()?.len() == cells).then_some(snap)
    })
    .await
    .unwrap_or_else(|| panic!("a snapshot with {cells} cells"))
}

#[actix_web::test]
async fn an_ingest_token_reads_no_more_than_the_public_on_the_websocket() {
    let app = spawn_app(EngineKind::Memory).await;
    // A busy cell in Bologna (6 contributors) and a thin one in Milan (2,
    // below k = 5): only the whole-picture roles may see the thin one.
    let mut posts: Vec<Value> = (0..6)
        .map(|i| post_at(44.4937, 11.3430, &format!("author-{i}"), None))
        .collect();
    posts.extend((0..2).map(|i| post_at(45.4642, 9.1900, &format!("milan-{i}"), None)));
    assert_eq!(app.post_json(&json!(posts)).await.0, 202);
    let mut ws = app.ws(Some(&app.ingest)).await;
    for channel in ["reports", "alerts"] {
        send(&mut ws, json!({"type": "subscribe", "channel": channel})).await;
        let refused = next_json(&mut ws, 5 * SECOND).await;
        assert_eq!(
            (refused["type"].as_str(), refused["code"].as_str()),
            (Some("error"), Some("forbidden")),
            "{channel}"
        );
    }
    send(&mut ws, json!({"type": "subscribe", "channel": "heatmap", "res": 11})).await;
    assert_eq!(
        next_json(&mut ws, 5 * SECOND).await["code"],
        "forbidden",
        "finer than public"
    );

    let full = snapshot_with(&app, Some(&app.operator), 2).await;
    let public = snapshot_with(&app, None, 1).await;
    let ingest = snapshot_with(&app, Some(&app.ingest), 1).await;
    assert_eq!(ingest["cells"], public["cells"], "ingest sees exactly the public cells");
    assert_ne!(ingest["cells"], full["cells"]);
}

#[actix_web::test]
async fn an_ingest_token_reads_no_more_than_the_public_over_http() {
    let app = spawn_app(EngineKind::Memory).await;
    let posts: Vec<Value> = (0..6)
        .map(|i| post_at(44.4937, 11.3430, &format!("author-{i}"), None))
        .collect();
    assert_eq!(app.post_json(&json!(posts)).await.0, 202);
    let (_, full) = app.get("/api/v1/heatmap?res=9", Some(&app.operator)).await;
    assert_eq!(heatmap_total(&full), 6, "the counts exist: {full}");
    let (status, ingest) = app.get("/api/v1/heatmap?res=9", Some(&app.ingest)).await;
    let (_, public) = app.get("/api/v1/heatmap?res=9", None).await;
    assert_eq!(status, 200, "{ingest}");
    assert_eq!(ingest["cells"], public["cells"], "ingest sees exactly the public cells");
    let cells = ingest["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1, "{ingest}");
    assert!(
        cells.iter().all(|c| c["level"].is_u64()
            && c.get("count").is_none()
            && c.get("contributors").is_none()
            && c.get("density_km2").is_none()),
        "levels, never counts: {ingest}"
    );

    for (audience, headline) in [("public", "Leave east"), ("responders", "Hold the cordon")] {
        let mut message = minimal_broadcast();
        message["audience"] = json!(audience);
        message["headline"] = json!(headline);
        let (status, sent) = app.send_broadcast(&message, Some(&app.operator)).await;
        assert_eq!(status, 201, "{sent}");
    }
    let headlines = |list: &Value| -> Vec<String> {
        list["broadcasts"]
            .as_array()
            .expect("broadcasts")
            .iter()
            .filter_map(|b| b["headline"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, commander) = app.get("/api/v1/broadcasts", Some(&app.commander)).await;
    assert_eq!(headlines(&commander).len(), 2, "{commander}");
    let (status, ingest) = app.get("/api/v1/broadcasts", Some(&app.ingest)).await;
    assert_eq!(status, 200, "{ingest}");
    assert_eq!(headlines(&ingest), ["Leave east"], "no responders' message: {ingest}");
    let responders = commander["broadcasts"]
        .as_array()
        .expect("broadcasts")
        .iter()
        .find(|b| b["audience"] == "responders")
        .and_then(|b| b["id"].as_str())
        .expect("the responders' message")
        .to_owned();
    let (status, _) = app
        .get(&format!("/api/v1/broadcasts/{responders}"), Some(&app.ingest))
        .await;
    assert_eq!(status, 404, "nor one by its id");
}

async fn post_report(app: &TestApp) {
    let resp = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .insert_header(("Content-Type", "application/json"))
        .send_body(json!({"lat": 44.4937, "lon": 11.3430, "category": "crowd"}).to_string())
        .await
        .expect("report");
    assert_eq!(resp.status().as_u16(), 201);
}

/// A session with a commander token that expires in `secs`, subscribed to reports.
async fn reports_session(app: &TestApp, secs: u64) -> Ws {
    let token = TokenKeys::new(SECRET.as_bytes())
        .and_then(|k| k.issue(Role::Commander, "short-lived", Duration::from_secs(secs)))
        .expect("token");
    let mut ws = app.ws(Some(&token)).await;
    send(&mut ws, json!({"type": "subscribe", "channel": "reports"})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["type"], "subscribed");
    ws
}

#[actix_web::test]
async fn a_session_whose_token_expires_is_told_loses_its_reports_and_stays_open() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut expiring = reports_session(&app, 3).await;
    let mut refreshed = reports_session(&app, 3).await;
    send(&mut refreshed, json!({"type": "auth", "token": app.commander})).await;
    assert_eq!(next_json(&mut refreshed, 5 * SECOND).await["type"], "authenticated");

    // Before expiry both receive reports.
    post_report(&app).await;
    assert_eq!(next_json(&mut expiring, 5 * SECOND).await["type"], "report");
    assert_eq!(next_json(&mut refreshed, 5 * SECOND).await["type"], "report");

    let told = next_json(&mut expiring, 10 * SECOND).await;
    assert_eq!(
        (told["type"].as_str(), told["code"].as_str()),
        (Some("error"), Some("token_expired"))
    );
    assert!(told["message"].is_string());
    assert_eq!(next_json(&mut expiring, 5 * SECOND).await["type"], "unsubscribed");
    // Past the old expiry (and its second of rounding) for the refreshed one too.
    tokio::time::sleep(2 * SECOND).await;

    post_report(&app).await;
    assert_eq!(
        next_json(&mut refreshed, 5 * SECOND).await["type"],
        "report",
        "a session that refreshed in time keeps its reports"
    );
    // The expired session gets no report, and is still open as the public.
    tokio::time::sleep(SECOND).await;
    send(&mut expiring, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut expiring, 5 * SECOND).await["type"],
        "pong",
        "no report after expiry"
    );
    send(&mut expiring, json!({"type": "subscribe", "channel": "reports"})).await;
    assert_eq!(next_json(&mut expiring, 5 * SECOND).await["code"], "forbidden");
}

/// The `sub` of the next `subscribed` answer, passing over anything sent
/// for earlier subscriptions (snapshots, history).
async fn subscribed(ws: &mut Ws, request: Value) -> String {
    send(ws, request.clone()).await;
    let answer = next_of_type(ws, "subscribed", 5 * SECOND).await;
    answer["sub"]
        .as_str()
        .unwrap_or_else(|| panic!("{request}: {answer}"))
        .to_owned()
}

#[actix_web::test]
async fn a_session_whose_token_expires_also_loses_its_alerts_and_its_full_heatmap() {
    let app = spawn_app(EngineKind::Memory).await;
    let posts: Vec<Value> = (0..6)
        .map(|i| post_at(44.4937, 11.3430, &format!("author-{i}"), None))
        .collect();
    assert_eq!(app.post_json(&json!(posts)).await.0, 202);
    let token = TokenKeys::new(SECRET.as_bytes())
        .and_then(|k| k.issue(Role::Commander, "short-lived", Duration::from_secs(3)))
        .expect("token");
    let mut ws = app.ws(Some(&token)).await;
    let alerts = subscribed(&mut ws, json!({"type": "subscribe", "channel": "alerts"})).await;
    // Resolution 11 is finer than the public may read: only the whole picture has it.
    let fine = subscribed(
        &mut ws,
        json!({"type": "subscribe", "channel": "heatmap", "res": 11, "window": "1m"}),
    )
    .await;
    let snapshot = next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
    assert_eq!(snapshot["sub"], fine.as_str());
    assert!(
        snapshot["cells"][0]["count"].as_u64().is_some(),
        "before expiry the commander sees counts: {snapshot}"
    );

    // Whatever frames arrive first, the next word about the token is its end.
    let told = next_of_type(&mut ws, "error", 10 * SECOND).await;
    assert_eq!(told["code"], "token_expired", "{told}");
    let mut ended = Vec::new();
    for _ in 0..2 {
        let message = next_json(&mut ws, 5 * SECOND).await;
        assert_eq!(message["type"], "unsubscribed", "{message}");
        ended.push(message["sub"].as_str().expect("sub").to_owned());
    }
    ended.sort();
    let mut expected = vec![alerts, fine];
    expected.sort();
    assert_eq!(ended, expected, "both the alerts and the full heatmap ended");

    // Still open, now as the public: neither comes back, and the heatmap it
    // may read is the public's, in levels.
    send(&mut ws, json!({"type": "subscribe", "channel": "alerts"})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["code"], "forbidden");
    send(&mut ws, json!({"type": "subscribe", "channel": "heatmap", "res": 11})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["code"], "forbidden");
    subscribed(
        &mut ws,
        json!({"type": "subscribe", "channel": "heatmap", "res": 9, "window": "1m"}),
    )
    .await;
    let public = next_of_type(&mut ws, "heatmap.snapshot", 5 * SECOND).await;
    let cell = &public["cells"][0];
    assert!(
        cell["level"].is_u64() && cell.get("count").is_none() && cell.get("contributors").is_none(),
        "{public}"
    );
}
