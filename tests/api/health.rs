//! `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, and the envelope on
//! unknown routes.

use crate::helpers::*;

#[actix_web::test]
async fn healthz_names_the_engine_and_version() {
    for (kind, name) in [(EngineKind::Memory, "memory"), (EngineKind::Redis, "redis")] {
        let app = spawn_app(kind).await;
        let (status, body) = app.get("/healthz", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["engine"], name);
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        let (status, _) = app.get("/readyz", None).await;
        assert_eq!(status, 200);
    }
}

#[actix_web::test]
async fn readyz_follows_redis_down_and_back_up_without_a_restart() {
    let mut app = spawn_app(EngineKind::Redis).await;
    let redis = app.redis.as_mut().expect("redis");
    redis.kill();
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("engine_unavailable"))
    );
    app.redis.as_mut().expect("redis").restart();
    let ready = eventually(|| async { (app.get("/readyz", None).await.0 == 200).then_some(()) }).await;
    assert!(ready.is_some(), "readyz did not recover after Redis came back");
}

#[actix_web::test]
async fn metrics_count_accepted_rejected_and_duplicate_posts() {
    let app = spawn_app(EngineKind::Memory).await;
    let batch = serde_json::json!([
        post_at(44.49, 11.34, "a", Some("m1")),
        post_at(44.49, 11.34, "a", Some("m1")),
        {"source": "test", "lat": 100, "lon": 0},
    ]);
    app.post_json(&batch).await;
    let mut resp = app
        .client
        .get(format!("{}/metrics", app.address))
        .insert_header(("Authorization", format!("Bearer {}", app.operator)))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let text = String::from_utf8(resp.body().await.expect("body").to_vec()).expect("utf8");
    for name in [
        "campanile_posts_accepted_total",
        "campanile_posts_duplicates_total",
        "campanile_posts_rejected_total{code=\"invalid_coordinates\"}",
        "campanile_engine_call_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

#[actix_web::test]
async fn openapi_describes_every_route_of_the_core_api() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/api/v1/posts",
        "/api/v1/heatmap",
        "/api/v1/zones",
        "/api/v1/broadcasts",
        "/api/v1/broadcasts/{id}",
        "/api/v1/broadcasts/{id}/cap.xml",
        "/api/v1/broadcasts/{id}/ack",
        "/api/v1/alerts.atom",
        "/api/v1/alerts",
        "/api/v1/audit",
        "/api/v1/reports",
        "/api/v1/reports/{id}",
        "/api/v1/stats/ingest",
        "/api/v1/zones/{id}/headcount",
        "/api/v1/calibration",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["paths"]["/api/v1/posts"]["post"]["responses"]["413"].is_object());
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_in_the_envelope() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, body) = app.get("/api/v1/nothing-here", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, body) = app.get("/api/v1/broadcasts/b-1/ack", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}
