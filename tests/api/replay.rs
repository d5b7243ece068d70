//! `?at=` on `GET /api/v1/heatmap` and `GET /api/v1/zones/status`: a past
//! moment answered as the live read answered it then, for operators and
//! commanders only; `--count-retention` at start-up.

use std::process::Command;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_campanile");

/// A post stamped `ago` seconds before now.
fn post_ago(lat: f64, lon: f64, author: &str, ago: i64) -> Value {
    let mut p = post_at(lat, lon, author, None);
    p["ts"] = json!((Utc::now() - chrono::Duration::seconds(ago)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    p
}

fn at_param(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).replace('+', "%2B")
}

/// The last second of the last whole minute at or before `t`: what a
/// replay of `t` answers for.
fn replayed_moment(t: DateTime<Utc>) -> String {
    let s = (t.timestamp() + 1).div_euclid(60) * 60 - 1;
    DateTime::from_timestamp(s, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Posts stamped two to ten minutes ago (never in the current minute, which
/// a replay of now does not cover yet), some authors posting repeatedly.
fn an_event() -> Vec<Value> {
    let places = [
        (44.4937, 11.3430),
        (44.4940, 11.3436),
        (44.4990, 11.3300),
        (44.4930, 11.3425),
    ];
    (0..120)
        .map(|i| {
            let (lat, lon) = places[i % places.len()];
            post_ago(lat, lon, &format!("author-{}", i % 37), 120 + (i as i64 * 13) % 480)
        })
        .collect()
}

/// Waits for the last bucket (10 s) of a minute, when a live read covers
/// whole minutes: the moments a replay answers for.
async fn the_last_bucket_of_a_minute() {
    loop {
        let second = Utc::now().timestamp().rem_euclid(60);
        if (50..57).contains(&second) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn live_reads(app: &TestApp) -> Vec<(u8, &'static str, Value)> {
    let mut live = Vec::new();
    for res in [8, 9, 11] {
        for window in ["1m", "5m", "15m", "60m"] {
            let (status, body) = app
                .get(
                    &format!("/api/v1/heatmap?res={res}&window={window}"),
                    Some(&app.operator),
                )
                .await;
            assert_eq!(status, 200);
            live.push((res, window, body));
        }
    }
    live
}

async fn a_replayed_moment_equals_what_the_live_map_showed(app: TestApp) {
    let (status, body) = app.post_json(&json!(an_event())).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(120)));
    // Record what the live map shows at the end of a minute, during an
    // ingest: a post arrives in the minute, just before the reads.
    let (minute_end, live) = loop {
        the_last_bucket_of_a_minute().await;
        let started = Utc::now();
        let (status, _) = app
            .post_json(&json!([post_at(44.4937, 11.3430, "between", None)]))
            .await;
        assert_eq!(status, 202);
        let live = live_reads(&app).await;
        let end = started.timestamp().div_euclid(60) * 60 + 59;
        if Utc::now().timestamp() <= end {
            break (end, live);
        }
    };
    assert!(live.iter().any(|(_, _, b)| {
        b["cells"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["count"].as_u64() > c["contributors"].as_u64()))
    }));
    let moment = DateTime::from_timestamp(minute_end, 0).expect("time");
    while Utc::now().timestamp() <= minute_end {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Posts now, after the moment: not in its replay.
    let (status, _) = app
        .post_json(&json!([
            post_at(44.4937, 11.3430, "late-1", None),
            post_at(44.4937, 11.3430, "late-2", None)
        ]))
        .await;
    assert_eq!(status, 202);
    for (res, window, said) in &live {
        let (status, body) = app
            .get(
                &format!("/api/v1/heatmap?res={res}&window={window}&at={}", at_param(moment)),
                Some(&app.commander),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["as_of"], json!(replayed_moment(moment)));
        assert_eq!(
            body["cells"], said["cells"],
            "res {res} window {window}: live as of {}, replay {}",
            said["as_of"], body["as_of"]
        );
        assert_eq!((&body["res"], &body["window"]), (&said["res"], &said["window"]));
    }
    // The same replay as GeoJSON: the same cells.
    let (status, geo) = app
        .get(
            &format!(
                "/api/v1/heatmap?res=9&window=15m&format=geojson&at={}",
                at_param(moment)
            ),
            Some(&app.operator),
        )
        .await;
    assert_eq!(status, 200);
    let fifteen = live
        .iter()
        .find(|(r, w, _)| *r == 9 && *w == "15m")
        .expect("res 9, 15m");
    assert_eq!(
        geo["features"].as_array().map(Vec::len),
        fifteen.2["cells"].as_array().map(Vec::len)
    );
}

#[actix_web::test]
async fn a_replayed_moment_equals_what_the_live_map_showed_on_memory() {
    a_replayed_moment_equals_what_the_live_map_showed(spawn_app(EngineKind::Memory).await).await;
}

#[actix_web::test]
async fn a_replayed_moment_equals_what_the_live_map_showed_on_redis() {
    let redis = TestRedis::start();
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    a_replayed_moment_equals_what_the_live_map_showed(spawn_on(args).await).await;
}

#[actix_web::test]
async fn zone_status_replays_the_posts_contributors_and_people_of_then() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, _) = app.post_json(&json!(an_event())).await;
    assert_eq!(status, 202);
    // The hub ticks every 100 ms: wait for a frame that has the event.
    let live = eventually(|| async {
        let (_, body) = app.get("/api/v1/zones/status", Some(&app.operator)).await;
        body["zones"]
            .as_array()
            .is_some_and(|z| z.iter().any(|z| z["posts"].as_u64() > Some(0)))
            .then_some(body)
    })
    .await
    .expect("a frame with the event");
    let moment = Utc::now();
    let (status, past) = app
        .get(
            &format!("/api/v1/zones/status?at={}", at_param(moment)),
            Some(&app.operator),
        )
        .await;
    assert_eq!(status, 200, "{past}");
    assert_eq!(past["as_of"], json!(replayed_moment(moment)));
    let figures = |body: &Value| -> Vec<(String, Value, Value, Value)> {
        let mut z: Vec<_> = body["zones"]
            .as_array()
            .expect("zones")
            .iter()
            .map(|z| {
                (
                    z["id"].as_str().unwrap_or("").to_owned(),
                    z["posts"].clone(),
                    z["contributors"].clone(),
                    z["people"].clone(),
                )
            })
            .collect();
        z.sort_by(|a, b| a.0.cmp(&b.0));
        z
    };
    assert_eq!(figures(&past), figures(&live));
}

#[actix_web::test]
async fn the_public_and_the_ingest_role_cannot_replay_whatever_they_send() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, _) = app.post_json(&json!(an_event())).await;
    assert_eq!(status, 202);
    let ingest = token(campanile::domain::Role::Ingest, "feeder");
    let now = Utc::now();
    let ats = [
        at_param(now),
        at_param(now - chrono::Duration::minutes(3)),
        at_param(now - chrono::Duration::hours(30)),
        at_param(now + chrono::Duration::hours(1)),
        "yesterday".into(),
        "%00%0a".into(),
        "x".repeat(10_000),
        String::new(),
    ];
    for path in ["/api/v1/heatmap?res=9&window=15m", "/api/v1/zones/status?window=15m"] {
        for at in &ats {
            for who in [None, Some(ingest.as_str())] {
                let (status, body) = app.get(&format!("{path}&at={at}"), who).await;
                // The same answer for every moment: no comparison of at
                // values can tell anything about the counts.
                assert_eq!(status, 403, "{path} at={at:.40}");
                assert_eq!(body["error"]["code"], "forbidden");
                assert!(body.get("cells").is_none() && body.get("zones").is_none());
            }
        }
    }
}

#[actix_web::test]
async fn a_bad_moment_is_400_naming_at() {
    let mut args = test_args();
    args.count_retention = Some("2h".into());
    let app = spawn_app_with(EngineKind::Memory, args).await;
    let now = Utc::now();
    for path in ["/api/v1/heatmap", "/api/v1/zones/status"] {
        for at in [
            at_param(now + chrono::Duration::minutes(5)),
            at_param(now - chrono::Duration::hours(3)),
            "2026-13-01T00:00:00Z".into(),
            "2026-11-28%2019:22".into(),
            "1764000000".into(),
            "%00".into(),
            "x".repeat(5_000),
            String::new(),
        ] {
            let (status, body) = app.get(&format!("{path}?at={at}"), Some(&app.operator)).await;
            assert_eq!(status, 400, "{path} at={at:.40}: {body}");
            assert_eq!(body["error"]["code"], "invalid_at");
            assert_eq!(body["error"]["field"], "at");
        }
        let (status, _) = app
            .get(
                &format!("{path}?at={}", at_param(now - chrono::Duration::minutes(100))),
                Some(&app.operator),
            )
            .await;
        assert_eq!(status, 200, "within count retention");
    }
}

#[test]
fn count_retention_out_of_bounds_stops_the_server_with_a_clear_error() {
    for (value, says) in [
        ("8d", "7 days"),
        ("30m", "longest window"),
        ("0s", "longer than zero"),
        ("soon", "count_retention"),
    ] {
        let out = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--count-retention", value])
            .env("CAMPANILE_JWT_SECRET", SECRET)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{value}: {stderr}");
    }
}

#[actix_web::test]
async fn at_is_in_the_openapi_document_of_both_routes() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    for path in ["/api/v1/heatmap", "/api/v1/zones/status"] {
        let op = &doc["paths"][path]["get"];
        let at = op["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "at"))
            .unwrap_or_else(|| panic!("{path} has no at parameter"));
        assert_eq!(
            (&at["in"], &at["schema"]["format"]),
            (&json!("query"), &json!("date-time")),
            "{path}"
        );
        assert!(op["responses"]["403"].is_object(), "{path} documents 403");
    }
}
