//! Abuse resistance: per-address limits for the public, trusted proxies only.

use serde_json::json;

use crate::helpers::*;

fn report() -> serde_json::Value {
    json!({"lat": 44.4937, "lon": 11.3430, "category": "crowd"})
}

#[actix_web::test]
async fn a_burst_of_public_reports_gets_429_while_the_server_keeps_serving() {
    let app = spawn_app(EngineKind::Memory).await; // 10 reports a minute per address
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let mut resp = app
            .client
            .post(format!("{}/api/v1/reports", app.address))
            .send_json(&report())
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        if status == 429 {
            let retry: u64 = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("Retry-After");
            assert!((1..=60).contains(&retry), "{retry}");
            let body: serde_json::Value = resp.json().await.expect("envelope");
            assert_eq!(body["error"]["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5, "{statuses:?}");
    // The server keeps serving: health, token holders, and reads.
    assert_eq!(app.get("/healthz", None).await.0, 200);
    let (status, _) = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .insert_header(("Authorization", format!("Bearer {}", app.commander)))
        .send_json(&report())
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("answer");
    assert_eq!(status, 201, "a commander is not throttled by the public limit");
    assert_eq!(app.get("/api/v1/heatmap", None).await.0, 200);
}

#[actix_web::test]
async fn x_forwarded_for_counts_only_behind_a_trusted_proxy() {
    let post_as = |app: &TestApp, forwarded: &'static str| {
        let req = app
            .client
            .post(format!("{}/api/v1/reports", app.address))
            .insert_header(("X-Forwarded-For", forwarded));
        async move { req.send_json(&report()).await.expect("answer").status().as_u16() }
    };
    // Not trusted: a client cannot escape its limit by naming other addresses.
    let mut args = test_args();
    args.public_report_rate = Some(2);
    let untrusted = spawn_on(args.clone()).await;
    let statuses = [
        post_as(&untrusted, "10.0.0.1").await,
        post_as(&untrusted, "10.0.0.2").await,
        post_as(&untrusted, "10.0.0.3").await,
    ];
    assert_eq!(statuses, [201, 201, 429]);
    // Behind a trusted proxy: each forwarded client has its own limit.
    args.trusted_proxies = Some("127.0.0.1".into());
    let trusted = spawn_on(args).await;
    let statuses = [
        post_as(&trusted, "10.0.0.1").await,
        post_as(&trusted, "10.0.0.1").await,
        post_as(&trusted, "10.0.0.1").await,
        post_as(&trusted, "10.0.0.2, 127.0.0.1").await,
    ];
    assert_eq!(statuses, [201, 201, 429, 201]);
}

#[actix_web::test]
async fn oversized_bodies_are_413_in_the_envelope_on_every_write() {
    let app = spawn_app(EngineKind::Memory).await;
    let huge = json!({"text": "x".repeat(2 * 1024 * 1024)}).to_string();
    for (path, token) in [
        ("/api/v1/reports", None),
        ("/api/v1/broadcasts", Some(app.operator.clone())),
        ("/api/v1/posts", Some(app.ingest.clone())),
    ] {
        let mut req = app
            .client
            .post(format!("{}{path}", app.address))
            .insert_header(("Content-Type", "application/json"));
        if let Some(t) = &token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let body = if path.ends_with("posts") {
            "x".repeat(9 * 1024 * 1024)
        } else {
            huge.clone()
        };
        let mut resp = req.send_body(body).await.expect("answer");
        assert_eq!(resp.status().as_u16(), 413, "{path}");
        let envelope: serde_json::Value = resp.json().await.expect("envelope");
        assert_eq!(envelope["error"]["code"], "payload_too_large", "{path}");
    }
}
