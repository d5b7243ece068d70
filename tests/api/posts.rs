//! `POST /api/v1/posts`: every rule of the contract's field table.

use serde_json::{Value, json};

use crate::helpers::*;

fn codes(body: &Value) -> Vec<(u64, String)> {
    body["rejected"]
        .as_array()
        .expect("rejected array")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn one_object_an_array_and_ndjson_are_all_accepted() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, body) = app.post_json(&post_at(44.4937, 11.343, "a", None)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)));

    let batch = json!([post_at(44.4937, 11.343, "a", None), post_at(44.4940, 11.344, "b", None)]);
    let (status, body) = app.post_json(&batch).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(2)));

    let ndjson = format!(
        "{}\n\n{}\n",
        post_at(44.49, 11.34, "a", None),
        post_at(44.49, 11.34, "b", None)
    );
    let (status, body) = app.post_raw(ndjson, "application/x-ndjson", Some(&app.ingest)).await;
    assert_eq!(status, 202);
    assert_eq!(body, json!({"accepted": 2, "duplicates": 0, "rejected": []}));
}

#[actix_web::test]
async fn bad_items_are_named_by_index_and_the_good_ones_around_them_are_kept() {
    let app = spawn_app(EngineKind::Memory).await;
    let future = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let old = (chrono::Utc::now() - chrono::Duration::hours(25)).to_rfc3339();
    let batch = json!([
        post_at(44.49, 11.34, "ok0", None),
        {"source": "test", "lat": 91, "lon": 11},
        {"source": "test", "lat": 44, "lon": "east"},
        {"source": "Bad Source!", "lat": 44, "lon": 11},
        {"lat": 44, "lon": 11},
        {"source": "test", "lat": 44, "lon": 11, "ts": future},
        {"source": "test", "lat": 44, "lon": 11, "ts": old},
        {"source": "test", "lat": 44, "lon": 11, "ts": "not a time"},
        {"source": "test", "lat": 44, "lon": 11, "text": "x".repeat(4001)},
        {"source": "test", "lat": 44, "lon": 11, "author": "y".repeat(257)},
        {"source": "test", "lat": 44, "lon": 11, "id": "z".repeat(129)},
        {"source": "test", "lat": 44, "lon": 11, "lang": "not a tag"},
        "a string, not an object",
        {"source": "x".repeat(33), "lat": 44, "lon": 11},
        {"source": "test", "lat": null, "lon": 11},
        {"source": "test", "lat": 44, "lon": 11, "ts": "2026-11-28T19:22:11"},
        post_at(44.49, 11.34, "ok16", None),
    ]);
    let (status, body) = app.post_json(&batch).await;
    assert_eq!(status, 202);
    assert_eq!(body["accepted"], 2);
    let expected: Vec<(u64, &str)> = vec![
        (1, "invalid_coordinates"),
        (2, "invalid_coordinates"),
        (3, "invalid_source"),
        (4, "missing_field"),
        (5, "timestamp_in_future"),
        (6, "timestamp_too_old"),
        (7, "invalid_timestamp"),
        (8, "field_too_long"),
        (9, "field_too_long"),
        (10, "invalid_id"),
        (11, "invalid_language"),
        (12, "invalid_item"),
        (13, "invalid_source"),
        (14, "missing_field"),
        (15, "invalid_timestamp"),
    ];
    let got = codes(&body);
    assert_eq!(got.iter().map(|(i, c)| (*i, c.as_str())).collect::<Vec<_>>(), expected);
    let first = &body["rejected"][0];
    assert_eq!(first["field"], "lat");
    assert!(first["message"].as_str().is_some_and(|m| m.contains("[-90, 90]")));
}

#[actix_web::test]
async fn a_source_and_id_seen_again_is_a_duplicate_counted_once() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        let batch = json!([
            post_at(44.49, 11.34, "a", Some("p1")),
            post_at(44.49, 11.34, "a", Some("p1")),
            post_at(44.49, 11.34, "a", Some("p2")),
        ]);
        let (_, body) = app.post_json(&batch).await;
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some(2), Some(1)),
            "{kind:?}"
        );
        let (_, again) = app.post_json(&batch).await;
        assert_eq!(
            (again["accepted"].as_u64(), again["duplicates"].as_u64()),
            (Some(0), Some(3)),
            "{kind:?}"
        );
        // Another source with the same id is another post.
        let mut other = post_at(44.49, 11.34, "a", Some("p1"));
        other["source"] = "sms".into();
        let (_, body) = app.post_json(&other).await;
        assert_eq!(body["accepted"], 1, "{kind:?}");
        let (_, map) = app.get("/api/v1/heatmap?res=11&window=1m", Some(&app.operator)).await;
        assert_eq!(map["cells"][0]["count"], 3, "{kind:?}");
    }
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_400_in_the_envelope() {
    let app = spawn_app(EngineKind::Memory).await;
    for body in ["{not json", "[1, 2", "42", ""] {
        let (status, answer) = app.post_raw(body, "application/json", Some(&app.ingest)).await;
        assert_eq!(status, 400, "{body:?}");
        assert_eq!(answer["error"]["code"], "invalid_json", "{body:?}");
        assert!(answer["error"]["message"].is_string());
    }
}

#[actix_web::test]
async fn other_content_types_are_415() {
    let app = spawn_app(EngineKind::Memory).await;
    for ct in ["text/plain", "application/xml", "multipart/form-data"] {
        let (status, body) = app
            .post_raw(post_at(1.0, 1.0, "a", None).to_string(), ct, Some(&app.ingest))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{ct}"
        );
    }
    let (status, _) = app
        .post_raw(
            post_at(1.0, 1.0, "a", None).to_string(),
            "application/json; charset=utf-8",
            Some(&app.ingest),
        )
        .await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn more_than_ten_thousand_items_or_eight_mib_is_413() {
    let app = spawn_app(EngineKind::Memory).await;
    let item = post_at(44.49, 11.34, "a", None).to_string();
    let many = format!("{}\n", item).repeat(10_001);
    let (status, body) = app.post_raw(many, "application/x-ndjson", Some(&app.ingest)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let exactly = format!("{}\n", item).repeat(10_000);
    let (status, body) = app.post_raw(exactly, "application/x-ndjson", Some(&app.ingest)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(10_000)));

    let big_text = "t".repeat(3_900);
    let big = json!({"source": "s", "lat": 1, "lon": 1, "text": big_text}).to_string();
    let huge = format!("{big}\n").repeat(2_200); // ~8.6 MB
    let (status, body) = app.post_raw(huge, "application/x-ndjson", Some(&app.ingest)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
}

#[actix_web::test]
async fn ingest_needs_an_ingest_or_operator_token() {
    let app = spawn_app(EngineKind::Memory).await;
    let body = post_at(44.49, 11.34, "a", None).to_string();
    let (status, answer) = app.post_raw(body.clone(), "application/json", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = app
        .post_raw(body.clone(), "application/json", Some("not.a.token"))
        .await;
    assert_eq!(status, 401);
    let (status, answer) = app
        .post_raw(body.clone(), "application/json", Some(&app.commander))
        .await;
    assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = app.post_raw(body, "application/json", Some(&app.operator)).await;
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn the_raw_author_is_never_stored_in_redis() {
    let app = spawn_app(EngineKind::Redis).await;
    let author = "@very-identifiable-person";
    let (status, _) = app.post_json(&json!([post_at(44.49, 11.34, author, Some("x1"))])).await;
    assert_eq!(status, 202);
    let redis = app.redis.as_ref().expect("redis");
    let keys = redis.cli(&["--scan"]).expect("scan");
    assert!(!keys.trim().is_empty());
    for key in keys.lines() {
        assert!(key.starts_with("campanile:"), "{key}");
        let dump = redis.cli(&["--no-raw", "DUMP", key]).unwrap_or_default();
        assert!(!key.contains("identifiable") && !dump.contains("identifiable"), "{key}");
        let ttl: i64 = redis
            .cli(&["TTL", key])
            .and_then(|t| t.trim().parse().ok())
            .expect("ttl");
        assert!(ttl > 0, "{key} has no expiry ({ttl})");
    }
}

#[actix_web::test]
async fn when_redis_is_down_ingest_is_503_with_retry_after_and_nothing_is_acknowledged() {
    let mut app = spawn_app(EngineKind::Redis).await;
    app.redis.as_mut().expect("redis").kill();
    let mut resp = app
        .client
        .post(format!("{}/api/v1/posts", app.address))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("Authorization", format!("Bearer {}", app.ingest)))
        .send_body(post_at(44.49, 11.34, "a", None).to_string())
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.expect("envelope");
    assert_eq!(body["error"]["code"], "engine_unavailable");
    let (status, _) = app.get("/readyz", None).await;
    assert_eq!(status, 503);
}
