//! The crowd picture's people (DESIGN §9): posts move a zone's status,
//! head-counts and commanders' field reports calibrate it on every engine
//! and every node, citizens' estimates never do, and the public reads
//! words only.

use std::time::Duration;

use campanile::config::ServeArgs;
use serde_json::{Value, json};

use crate::helpers::*;

/// Inside the Neptune square (about 6,450 m², capacity 12,900), away from
/// its edges, so that the cell at the cover's resolution is the square's.
const NETTUNO: (f64, f64) = (44.4947, 11.34285);

impl TestApp {
    async fn headcount(&self, zone: &str, body: &str, content_type: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/api/v1/zones/{zone}/headcount", self.address))
            .insert_header(("Content-Type", content_type));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send_body(body.to_owned()).await.expect("request");
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    /// Posts from `n` new distinct authors (named `{tag}-{i}`) in the square.
    async fn posters_in_nettuno(&self, tag: &str, n: usize) {
        let posts: Vec<Value> = (0..n)
            .map(|i| post_at(NETTUNO.0, NETTUNO.1, &format!("{tag}-{i}"), None))
            .collect();
        let (status, body) = self.post_json(&Value::Array(posts)).await;
        assert_eq!((status, body["accepted"].as_u64()), (202, Some(n as u64)), "{body}");
    }

    /// The operators' status of zone `id` now.
    async fn zone_status(&self, id: &str) -> Value {
        let (status, body) = self.get("/api/v1/zones/status", Some(&self.operator)).await;
        assert_eq!(status, 200, "{body}");
        body["zones"]
            .as_array()
            .and_then(|zones| zones.iter().find(|z| z["id"] == id).cloned())
            .unwrap_or(Value::Null)
    }

    /// The status of zone `id` once `ready` holds for it, within `secs`:
    /// longer than [`eventually`] waits, since head-counts taken on another
    /// node reach a node's fit within 5 s.
    async fn zone_status_when(&self, id: &str, secs: u64, ready: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..secs * 10 {
            last = self.zone_status(id).await;
            if ready(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("zone {id} never got there; last: {last}")
    }
}

/// Least squares through `pairs`, computed here from the textbook formulas:
/// what the server's line must be.
fn ols(pairs: &[(f64, f64)]) -> (f64, f64) {
    let n = pairs.len() as f64;
    let mu = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mu) * (p.1 - my)).sum();
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mu).powi(2)).sum();
    let b = sxy / sxx;
    (my - b * mu, b)
}

fn contributors_are(n: u64) -> impl Fn(&Value) -> bool {
    move |z| z["contributors"] == n
}

/// Posts move the status; three head-counts at two distinct `u` calibrate
/// it, and the calibration endpoint shows the fit they make.
async fn head_counts_calibrate_the_zone(app: &TestApp) {
    app.posters_in_nettuno("first", 10).await;
    let zone = app.zone_status_when("piazza-nettuno", 10, contributors_are(10)).await;
    assert_eq!(zone["posts"], 10, "{zone}");
    assert_eq!(zone["people"]["calibrated"], false, "{zone}");
    assert_eq!(zone["people"]["estimate"], 250, "the prior of 25 per poster: {zone}");
    assert!(zone["density_m2"].as_f64().is_some_and(|d| d > 0.0), "{zone}");
    assert_eq!(zone["level"], "normal", "{zone}");

    for (people, token) in [(1000, &app.operator), (1100, &app.commander)] {
        let (status, stored) = app
            .headcount(
                "piazza-nettuno",
                &json!({"people": people}).to_string(),
                "application/json",
                Some(token),
            )
            .await;
        assert_eq!(status, 201, "{stored}");
        assert_eq!(
            (stored["u"].as_u64(), stored["people"].as_u64()),
            (Some(10), Some(people)),
            "{stored}"
        );
        assert_eq!(stored["source"], "headcount");
        assert_eq!(stored["zone"], "piazza-nettuno");
        assert!(
            stored["at"]
                .as_str()
                .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
            "{stored}"
        );
    }
    // Two pairs at one u make no line: still the prior, and said so.
    let zone = app.zone_status("piazza-nettuno").await;
    assert_eq!(
        (&zone["people"]["calibrated"], &zone["people"]["estimate"]),
        (&json!(false), &json!(250)),
        "{zone}"
    );

    app.posters_in_nettuno("second", 10).await;
    app.zone_status_when("piazza-nettuno", 10, contributors_are(20)).await;
    let (status, stored) = app
        .headcount(
            "piazza-nettuno",
            r#"{"people": 2000.0}"#,
            "application/json",
            Some(&app.operator),
        )
        .await;
    assert_eq!((status, stored["u"].as_u64()), (201, Some(20)), "{stored}");

    let (a, b) = ols(&[(10.0, 1000.0), (10.0, 1100.0), (20.0, 2000.0)]);
    let expected = (a + b * 20.0).round() as u64;
    let zone = app
        .zone_status_when("piazza-nettuno", 10, |z| z["people"]["calibrated"] == true)
        .await;
    assert_eq!(zone["people"]["estimate"].as_u64(), Some(expected), "{zone}");
    let (low, high) = (zone["people"]["low"].as_u64(), zone["people"]["high"].as_u64());
    assert!(
        low < Some(expected) && high > Some(expected),
        "an interval around it: {zone}"
    );

    let (status, calibration) = app.get("/api/v1/calibration", Some(&app.operator)).await;
    assert_eq!(status, 200, "{calibration}");
    assert_eq!(calibration["deployment"]["n"], 3, "{calibration}");
    assert_eq!(calibration["deployment"]["calibrated"], true, "{calibration}");
    let nettuno = calibration["zones"]
        .as_array()
        .and_then(|z| z.iter().find(|z| z["id"] == "piazza-nettuno"))
        .expect("the square's model");
    assert_eq!(nettuno["model"], "zone", "{nettuno}");
    assert_eq!(
        (nettuno["n"].as_u64(), nettuno["own_pairs"].as_u64()),
        (Some(3), Some(3))
    );
    let close = |got: &Value, want: f64| got.as_f64().is_some_and(|g| (g - want).abs() < 1e-6);
    assert!(
        close(&nettuno["a"], a) && close(&nettuno["b"], b),
        "{nettuno} vs a {a} b {b}"
    );
    assert!(nettuno["r2"].as_f64().is_some_and(|r| r > 0.9 && r <= 1.0), "{nettuno}");
    assert!(nettuno["loo_mape"].as_f64().is_some(), "{nettuno}");
    let other = calibration["zones"]
        .as_array()
        .and_then(|z| z.iter().find(|z| z["id"] == "station"))
        .expect("the station's model");
    assert_eq!(
        other["model"], "deployment",
        "a zone never counted borrows the deployment's fit: {other}"
    );
    assert_eq!(calibration["prior"]["people_per_contributor"], 25.0);
    assert_eq!(calibration["recency"], json!({"max_pairs": 50, "max_age_secs": 21600}));
    let pairs = calibration["pairs"].as_array().expect("pairs");
    let mut seen: Vec<(u64, u64, &str)> = pairs
        .iter()
        .map(|p| {
            (
                p["u"].as_u64().unwrap_or(0),
                p["people"].as_u64().unwrap_or(0),
                p["by"].as_str().unwrap_or(""),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (10, 1000, "test-operator"),
            (10, 1100, "test-commander"),
            (20, 2000, "test-operator")
        ]
    );

    // Many more posters move the level.
    app.posters_in_nettuno("surge", 600).await;
    let zone = app.zone_status_when("piazza-nettuno", 10, contributors_are(620)).await;
    assert_ne!(zone["level"], "normal", "{zone}");
}

#[actix_web::test]
async fn head_counts_calibrate_a_zone_on_memory() {
    head_counts_calibrate_the_zone(&spawn_app(EngineKind::Memory).await).await;
}

#[actix_web::test]
async fn head_counts_calibrate_a_zone_on_redis() {
    head_counts_calibrate_the_zone(&spawn_app(EngineKind::Redis).await).await;
}

#[actix_web::test]
async fn head_counts_calibrate_a_zone_on_a_redis_cluster() {
    let cluster = TestCluster::start();
    let mut args = test_args();
    args.redis_cluster_nodes = Some(cluster.node_urls());
    head_counts_calibrate_the_zone(&spawn_on(args).await).await;
}

#[actix_web::test]
async fn a_head_count_taken_on_one_node_calibrates_the_other() {
    let (_redis, node_a, node_b) = two_nodes_on_one_redis().await;
    node_a.posters_in_nettuno("one", 4).await;
    node_b.zone_status_when("piazza-nettuno", 10, contributors_are(4)).await;
    node_a.zone_status_when("piazza-nettuno", 10, contributors_are(4)).await;
    for people in [300, 340] {
        let (status, body) = node_a
            .headcount(
                "piazza-nettuno",
                &json!({"people": people}).to_string(),
                "application/json",
                Some(&node_a.operator),
            )
            .await;
        assert_eq!((status, body["u"].as_u64()), (201, Some(4)), "{body}");
    }
    node_a.posters_in_nettuno("two", 4).await;
    node_a.zone_status_when("piazza-nettuno", 10, contributors_are(8)).await;
    let (status, body) = node_a
        .headcount(
            "piazza-nettuno",
            r#"{"people": 700}"#,
            "application/json",
            Some(&node_a.commander),
        )
        .await;
    assert_eq!((status, body["u"].as_u64()), (201, Some(8)), "{body}");
    let (a, b) = ols(&[(4.0, 300.0), (4.0, 340.0), (8.0, 700.0)]);
    let zone = node_b
        .zone_status_when("piazza-nettuno", 15, |z| z["people"]["calibrated"] == true)
        .await;
    assert_eq!(
        zone["people"]["estimate"].as_u64(),
        Some((a + b * 8.0).round() as u64),
        "{zone}"
    );
    let (_, calibration) = node_b.get("/api/v1/calibration", Some(&node_b.operator)).await;
    assert_eq!(calibration["deployment"]["n"], 3, "{calibration}");
}

#[actix_web::test]
async fn head_counts_are_for_operators_and_commanders_with_a_plausible_whole_number() {
    let app = spawn_app(EngineKind::Memory).await;
    let ok = r#"{"people": 100}"#;
    let json = "application/json";
    assert_eq!(app.headcount("piazza-nettuno", ok, json, None).await.0, 401);
    assert_eq!(
        app.headcount("piazza-nettuno", ok, json, Some(&app.ingest)).await.0,
        403
    );
    let forged = token(campanile::domain::Role::Operator, "x").replace('.', "!");
    assert_eq!(app.headcount("piazza-nettuno", ok, json, Some(&forged)).await.0, 401);
    let (status, body) = app
        .headcount("piazza-nettuno", ok, "text/plain", Some(&app.operator))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{body}"
    );

    for (body, code, field) in [
        (r#"{"people": -1}"#, "invalid_headcount", Some("people")),
        (r#"{"people": 12.5}"#, "invalid_headcount", Some("people")),
        (r#"{"people": "many"}"#, "invalid_headcount", Some("people")),
        (r#"{}"#, "missing_field", Some("people")),
        (r#"{"people": 10, "zone": "station"}"#, "invalid_json", None),
        (r#"{"people": 10"#, "invalid_json", None),
        (r#"[100]"#, "invalid_json", None),
        (r#"100"#, "invalid_json", None),
        // 6,450 m² hold at most 64,500 people at 10 per m².
        (r#"{"people": 65000}"#, "implausible_headcount", Some("people")),
        (
            r#"{"people": 18446744073709551615}"#,
            "implausible_headcount",
            Some("people"),
        ),
    ] {
        let (status, answer) = app.headcount("piazza-nettuno", body, json, Some(&app.operator)).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        if code != "invalid_json" {
            assert_eq!(answer["error"]["field"].as_str(), field, "{body}: {answer}");
        }
    }
    for zone in ["no-such-zone", "exit-via-rizzoli"] {
        let (status, answer) = app.headcount(zone, ok, json, Some(&app.operator)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{zone}: {answer}"
        );
    }
    // Nothing refused was kept; the one taken is audited with who counted.
    assert_eq!(
        app.headcount("piazza-nettuno", ok, json, Some(&app.commander)).await.0,
        201
    );
    let (_, calibration) = app.get("/api/v1/calibration", Some(&app.operator)).await;
    assert_eq!(calibration["pairs"].as_array().map(Vec::len), Some(1), "{calibration}");
    let (_, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
    let entry = audit["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == "zone.headcount"))
        .cloned()
        .expect("an audit entry");
    assert_eq!(
        (entry["sub"].as_str(), entry["detail"]["people"].as_u64()),
        (Some("test-commander"), Some(100))
    );

    assert_eq!(app.get("/api/v1/calibration", None).await.0, 401);
    assert_eq!(app.get("/api/v1/calibration", Some(&app.commander)).await.0, 403);
    assert_eq!(app.get("/api/v1/calibration", Some(&app.ingest)).await.0, 403);
}

#[actix_web::test]
async fn a_head_count_while_the_engine_is_down_is_refused_with_retry_after() {
    let mut app = spawn_app(EngineKind::Redis).await;
    app.zone_status_when("piazza-nettuno", 10, |z| !z.is_null()).await;
    app.redis.as_mut().expect("redis").kill();
    let mut resp = app
        .client
        .post(format!("{}/api/v1/zones/piazza-nettuno/headcount", app.address))
        .insert_header(("Authorization", format!("Bearer {}", app.operator)))
        .send_json(&json!({"people": 100}))
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    let body: Value = resp.json().await.expect("envelope");
    assert_eq!(body["error"]["code"], "engine_unavailable");
}

#[actix_web::test]
async fn citizens_estimates_never_calibrate_and_commanders_field_reports_do() {
    let mut args = test_args();
    args.public_report_rate = Some(1000);
    let app = spawn_app_with(EngineKind::Memory, args).await;
    let report = |n: u64| json!({"lat": NETTUNO.0, "lon": NETTUNO.1, "category": "crowd", "crowd_estimate": n});
    for _ in 0..50 {
        let (status, body) = app.report(&report(1_000_000), None).await;
        assert_eq!(status, 201, "{body}");
    }
    // An implausible field estimate is still a report, not a calibration.
    let (status, body) = app.report(&report(1_000_000), Some(&app.commander)).await;
    assert_eq!((status, body["origin"].as_str()), (201, Some("field")), "{body}");
    let (status, body) = app.report(&report(900), Some(&app.commander)).await;
    assert_eq!(status, 201, "{body}");

    // The field reports count as posters at once: the barrier that shows
    // this frame was read after all 52 reports.
    let zone = app.zone_status_when("piazza-nettuno", 10, contributors_are(2)).await;
    assert_eq!(zone["people"]["estimate"], 50, "{zone}");
    let (_, calibration) = app.get("/api/v1/calibration", Some(&app.operator)).await;
    let pairs = calibration["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 1, "{calibration}");
    assert_eq!(
        (
            &pairs[0]["source"],
            &pairs[0]["people"],
            &pairs[0]["zone"],
            &pairs[0]["by"]
        ),
        (
            &json!("field_report"),
            &json!(900),
            &json!("piazza-nettuno"),
            &json!("test-commander")
        ),
        "{calibration}"
    );
    assert_eq!(calibration["deployment"]["calibrated"], false);
    let (_, status) = app.get("/api/v1/zones/status", Some(&app.operator)).await;
    for zone in status["zones"].as_array().expect("zones") {
        let people = zone["people"]["estimate"].as_u64().unwrap_or(u64::MAX);
        assert!(people <= 50, "{zone}");
    }
}

/// Strangers may report as often as a test needs.
fn citizen_report_args() -> ServeArgs {
    ServeArgs {
        public_report_rate: Some(1000),
        ..test_args()
    }
}

#[actix_web::test]
async fn unverified_citizen_reports_count_in_no_zone_until_verified_on_memory() {
    unverified_citizen_reports_count_in_no_zone_until_verified(
        &spawn_app_with(EngineKind::Memory, citizen_report_args()).await,
    )
    .await;
}

#[actix_web::test]
async fn unverified_citizen_reports_count_in_no_zone_until_verified_on_redis() {
    unverified_citizen_reports_count_in_no_zone_until_verified(
        &spawn_app_with(EngineKind::Redis, citizen_report_args()).await,
    )
    .await;
}

#[actix_web::test]
async fn unverified_citizen_reports_count_in_no_zone_until_verified_on_a_redis_cluster() {
    let cluster = TestCluster::start();
    let args = ServeArgs {
        redis_cluster_nodes: Some(cluster.node_urls()),
        ..citizen_report_args()
    };
    unverified_citizen_reports_count_in_no_zone_until_verified(&spawn_on(args).await).await;
}

/// Six strangers' crowd reports in the square and one poster: the zone
/// counts the poster alone until an operator verifies the reports.
async fn unverified_citizen_reports_count_in_no_zone_until_verified(app: &TestApp) {
    let mut ids = Vec::new();
    for _ in 0..6 {
        let (status, body) = app
            .report(&json!({"lat": NETTUNO.0, "lon": NETTUNO.1, "category": "crowd"}), None)
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    app.posters_in_nettuno("barrier", 1).await;
    let zone = app.zone_status_when("piazza-nettuno", 10, |z| z["posts"] == 1).await;
    assert_eq!(zone["contributors"], 1, "{zone}");
    assert_eq!(zone["people"]["estimate"], 25, "{zone}");
    for id in &ids {
        assert_eq!(app.moderate(id, "verified", &app.operator).await.0, 200);
    }
    let zone = app.zone_status_when("piazza-nettuno", 10, contributors_are(7)).await;
    assert_eq!(zone["people"]["estimate"], 175, "{zone}");
}

/// Whether `text` looks like an H3 index (15 hex digits).
fn looks_like_a_cell(text: &str) -> bool {
    text.len() == 15 && text.chars().all(|c| c.is_ascii_hexdigit())
}

fn assert_words_only(value: &Value) {
    match value {
        Value::Number(n) => panic!("a figure in the public view: {n}"),
        Value::String(s) => assert!(!looks_like_a_cell(s), "a cell in the public view: {s}"),
        Value::Array(items) => items.iter().for_each(assert_words_only),
        Value::Object(map) => map.values().for_each(assert_words_only),
        Value::Bool(_) | Value::Null => {}
    }
}

#[actix_web::test]
async fn the_public_reads_words_only_and_none_below_k_posters_on_memory() {
    the_public_reads_words_only_and_none_below_k_posters(&spawn_app(EngineKind::Memory).await).await;
}

#[actix_web::test]
async fn the_public_reads_words_only_and_none_below_k_posters_on_redis() {
    the_public_reads_words_only_and_none_below_k_posters(&spawn_app(EngineKind::Redis).await).await;
}

#[actix_web::test]
async fn the_public_reads_words_only_and_none_below_k_posters_on_a_redis_cluster() {
    let cluster = TestCluster::start();
    let mut args = test_args();
    args.redis_cluster_nodes = Some(cluster.node_urls());
    the_public_reads_words_only_and_none_below_k_posters(&spawn_on(args).await).await;
}

/// Four posters in the square give the public no word for it, a fifth
/// gives one; the public's view holds words only, whoever asks.
async fn the_public_reads_words_only_and_none_below_k_posters(app: &TestApp) {
    app.posters_in_nettuno("few", 4).await;
    app.zone_status_when("piazza-nettuno", 10, contributors_are(4)).await;
    let public_nettuno = |body: &Value| {
        body["zones"]
            .as_array()
            .and_then(|z| z.iter().find(|z| z["id"] == "piazza-nettuno").cloned())
            .expect("the square")
    };
    let (status, body) = app.get("/api/v1/zones/status", None).await;
    assert_eq!(status, 200);
    for zone in body["zones"].as_array().expect("zones") {
        assert_words_only(zone);
        let keys: Vec<&str> = zone.as_object().expect("object").keys().map(String::as_str).collect();
        for key in &keys {
            assert!(
                ["id", "name", "kind", "public_level", "trend", "advice"].contains(key),
                "{key} in {zone}"
            );
        }
    }
    let nettuno = public_nettuno(&body);
    assert_eq!(
        (&nettuno["public_level"], &nettuno["trend"]),
        (&Value::Null, &Value::Null),
        "{nettuno}"
    );

    app.posters_in_nettuno("enough", 1).await;
    app.zone_status_when("piazza-nettuno", 10, contributors_are(5)).await;
    let (_, body) = app.get("/api/v1/zones/status", Some(&app.ingest)).await;
    let nettuno = public_nettuno(&body);
    assert_words_only(&nettuno);
    assert_eq!(nettuno["public_level"], "relaxed", "125 people on 6,450 m²: {nettuno}");
}
