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
