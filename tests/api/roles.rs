//! Roles on every route (DESIGN §3, §5): 401 for no, forged, expired,
//! `alg: none` or unknown-role tokens where a role is needed (and for any
//! bad token anywhere), 403 for a known role without the right.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::*;

fn signed(role: &str, exp_offset: i64, secret: &[u8]) -> String {
    let claims = json!({"sub": "mallory", "role": role, "exp": chrono::Utc::now().timestamp() + exp_offset, "iat": 0});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret).expect("key"),
    )
    .expect("token")
}

fn bad_tokens() -> Vec<(&'static str, String)> {
    vec![
        ("forged", signed("operator", 3600, b"not the deployment secret at all")),
        ("expired", signed("operator", -3600, SECRET.as_bytes())),
        ("unknown role", signed("admin", 3600, SECRET.as_bytes())),
        // {"alg":"none"} . {"sub":"x","role":"operator","exp":9999999999}
        (
            "alg none",
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6Im9wZXJhdG9yIiwiZXhwIjo5OTk5OTk5OTk5fQ."
                .into(),
        ),
        ("garbage", "not-a-token".into()),
    ]
}

async fn call(app: &TestApp, method: &str, path: &str, body: &Value, token: Option<&str>) -> u16 {
    let url = format!("{}{path}", app.address);
    let mut req = match method {
        "GET" => app.client.get(url),
        "POST" => app.client.post(url),
        "PATCH" => app.client.patch(url),
        other => panic!("{other}"),
    };
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let resp = if method == "GET" {
        req.send().await
    } else {
        req.send_json(body).await
    };
    resp.expect("answer").status().as_u16()
}

#[actix_web::test]
async fn every_route_admits_exactly_its_roles() {
    let app = spawn_app(EngineKind::Memory).await;
    let (_, b) = app.send_broadcast(&minimal_broadcast(), Some(&app.operator)).await;
    let broadcast = b["id"].as_str().expect("id").to_owned();
    let (_, r) = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .send_json(&json!({"lat": 44.49, "lon": 11.34, "category": "crowd"}))
        .await
        .map(|mut r| async move { (r.status(), r.json::<Value>().await.unwrap_or_default()) })
        .expect("report")
        .await;
    let report = r["id"].as_str().expect("id").to_owned();

    let post = json!({"source": "test", "lat": 44.49, "lon": 11.34});
    let alert = json!({"msg_type": "Cancel", "references": broadcast});
    let routes: Vec<(&str, String, Value, Vec<&str>)> = vec![
        ("POST", "/api/v1/posts".into(), post, vec!["ingest", "operator"]),
        (
            "GET",
            "/api/v1/heatmap".into(),
            json!(null),
            vec!["public", "ingest", "operator", "commander"],
        ),
        (
            "POST",
            "/api/v1/reports".into(),
            json!({"lat": 44.49, "lon": 11.34, "category": "crowd"}),
            vec!["public", "ingest", "operator", "commander"],
        ),
        (
            "GET",
            "/api/v1/reports".into(),
            json!(null),
            vec!["operator", "commander"],
        ),
        (
            "PATCH",
            format!("/api/v1/reports/{report}"),
            json!({"status": "verified"}),
            vec!["operator"],
        ),
        (
            "GET",
            "/api/v1/broadcasts".into(),
            json!(null),
            vec!["public", "ingest", "operator", "commander"],
        ),
        (
            "GET",
            format!("/api/v1/broadcasts/{broadcast}"),
            json!(null),
            vec!["public", "ingest", "operator", "commander"],
        ),
        (
            "POST",
            format!("/api/v1/broadcasts/{broadcast}/ack"),
            json!(null),
            vec!["commander"],
        ),
        ("GET", "/api/v1/audit".into(), json!(null), vec!["operator"]),
        ("GET", "/api/v1/export".into(), json!(null), vec!["operator"]),
        (
            "GET",
            "/api/v1/alerts".into(),
            json!(null),
            vec!["operator", "commander"],
        ),
        (
            "GET",
            "/api/v1/stats/ingest".into(),
            json!(null),
            vec!["operator", "commander"],
        ),
        (
            "GET",
            "/api/v1/alerts.atom".into(),
            json!(null),
            vec!["public", "ingest", "operator", "commander"],
        ),
        ("POST", "/api/v1/broadcasts".into(), alert, vec!["operator"]),
    ];
    let tokens = [
        ("public", None),
        ("ingest", Some(app.ingest.clone())),
        ("operator", Some(app.operator.clone())),
        ("commander", Some(app.commander.clone())),
    ];
    for (method, path, body, allowed) in &routes {
        for (role, token) in &tokens {
            let status = call(&app, method, path, body, token.as_deref()).await;
            let expected_refusal = if *role == "public" { 401 } else { 403 };
            if allowed.contains(role) {
                assert!(status < 400, "{method} {path} as {role}: {status}");
            } else {
                assert_eq!(status, expected_refusal, "{method} {path} as {role}");
            }
        }
        for (what, token) in bad_tokens() {
            assert_eq!(
                call(&app, method, path, body, Some(&token)).await,
                401,
                "{method} {path} with a {what} token"
            );
        }
    }
}

#[actix_web::test]
async fn websocket_channels_follow_the_roles_too() {
    let app = spawn_app(EngineKind::Memory).await;
    for (what, token) in bad_tokens() {
        assert_eq!(
            upgrade_refusal(&app, &token).await,
            Some(401),
            "upgrade with a {what} token"
        );
    }
    for (channel, allowed) in [("reports", ["operator", "commander"])] {
        for (role, token) in [
            ("public", None),
            ("ingest", Some(app.ingest.clone())),
            ("operator", Some(app.operator.clone())),
            ("commander", Some(app.commander.clone())),
        ] {
            let mut ws = app.ws(token.as_deref()).await;
            send(&mut ws, json!({"type": "subscribe", "channel": channel})).await;
            let answer = next_json(&mut ws, std::time::Duration::from_secs(5)).await;
            if allowed.contains(&role) {
                assert_eq!(answer["type"], "subscribed", "{channel} as {role}");
            } else {
                assert_eq!(
                    (answer["type"].as_str(), answer["code"].as_str()),
                    (Some("error"), Some("forbidden")),
                    "{channel} as {role}"
                );
            }
        }
    }
}
