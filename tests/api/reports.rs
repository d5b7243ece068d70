//! Citizen and field reports on both engines: rules, roles, counting in the
//! heatmap, moderation, the live reports channel.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const BOTH: [EngineKind; 2] = [EngineKind::Memory, EngineKind::Redis];

impl TestApp {
    pub(crate) async fn report(&self, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.post(format!("{}/api/v1/reports", self.address));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send_json(body).await.expect("request");
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn moderate(&self, id: &str, status: &str, token: &str) -> (u16, Value) {
        let mut resp = self
            .client
            .patch(format!("{}/api/v1/reports/{id}", self.address))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send_json(&json!({"status": status}))
            .await
            .expect("request");
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn count_at(&self, lat: f64, lon: f64) -> u64 {
        let cell = h3o::LatLng::new(lat, lon)
            .expect("ll")
            .to_cell(h3o::Resolution::Eleven)
            .to_string();
        let (_, map) = self.get("/api/v1/heatmap?res=11&window=1m", Some(&self.operator)).await;
        map["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["cell"] == cell.as_str())
            .map_or(0, |c| c["count"].as_u64().unwrap_or(0))
    }
}

fn fire(text: &str) -> Value {
    json!({"lat": 44.4937, "lon": 11.3430, "category": "fire", "text": text, "contact": "+39 000 000"})
}

#[actix_web::test]
async fn anyone_reports_and_a_commander_report_is_a_field_report() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let (status, citizen) = app.report(&fire("smoke near the fountain"), None).await;
        assert_eq!(status, 201, "{kind:?} {citizen}");
        assert_eq!(
            (citizen["status"].as_str(), citizen["origin"].as_str()),
            (Some("unverified"), Some("citizen"))
        );
        assert!(citizen["id"].is_string() && citizen["received_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let (_, field) = app
            .report(
                &json!({"lat": 44.5, "lon": 11.345, "category": "crowd", "crowd_estimate": 4000}),
                Some(&app.commander),
            )
            .await;
        assert_eq!(field["origin"], "field", "{kind:?}");
    }
}

#[actix_web::test]
async fn bad_reports_are_400_naming_the_field() {
    let app = spawn_app(EngineKind::Memory).await;
    for (body, code, field) in [
        (json!({"lat": 44.49, "lon": 11.34}), "missing_field", Some("category")),
        (
            json!({"lat": 44.49, "lon": 11.34, "category": "aliens"}),
            "invalid_category",
            Some("category"),
        ),
        (
            json!({"lat": 95, "lon": 11.34, "category": "fire"}),
            "invalid_coordinates",
            Some("lat"),
        ),
        (json!({"lon": 11.34, "category": "fire"}), "missing_field", Some("lat")),
        (
            json!({"lat": 44.49, "lon": 11.34, "category": "fire", "text": "x".repeat(2_001)}),
            "field_too_long",
            Some("text"),
        ),
        (
            json!({"lat": 44.49, "lon": 11.34, "category": "crowd", "crowd_estimate": 20_000_000}),
            "invalid_crowd_estimate",
            Some("crowd_estimate"),
        ),
        (
            json!({"lat": 44.49, "lon": 11.34, "category": "fire", "author": "me"}),
            "invalid_json",
            None,
        ),
    ] {
        let (status, answer) = app.report(&body, None).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            (answer["error"]["code"].as_str(), answer["error"]["field"].as_str()),
            (Some(code), field),
            "{body}"
        );
    }
}

#[actix_web::test]
async fn reports_count_in_the_heatmap_until_dismissed_or_false() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let (_, a) = app.report(&fire("a"), None).await;
        let (_, b) = app.report(&fire("b"), None).await;
        assert_eq!(app.count_at(44.4937, 11.3430).await, 2, "{kind:?}");
        let (status, moderated) = app
            .moderate(a["id"].as_str().expect("id"), "dismissed", &app.operator)
            .await;
        assert_eq!(
            (status, moderated["status"].as_str()),
            (200, Some("dismissed")),
            "{kind:?}"
        );
        assert_eq!(app.count_at(44.4937, 11.3430).await, 1, "{kind:?}");
        app.moderate(b["id"].as_str().expect("id"), "false", &app.operator)
            .await;
        assert_eq!(app.count_at(44.4937, 11.3430).await, 0, "{kind:?}");
        app.moderate(a["id"].as_str().expect("id"), "verified", &app.operator)
            .await;
        assert_eq!(
            app.count_at(44.4937, 11.3430).await,
            1,
            "{kind:?}: verified again, counted again"
        );
    }
}

#[actix_web::test]
async fn reading_and_moderating_reports_follow_the_roles() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let (_, r) = app.report(&fire("<script>alert(1)</script>"), None).await;
        let id = r["id"].as_str().expect("id").to_owned();
        assert_eq!(app.get("/api/v1/reports", None).await.0, 401);
        assert_eq!(app.get("/api/v1/reports", Some(&app.ingest)).await.0, 403);
        let (status, commander) = app.get("/api/v1/reports", Some(&app.commander)).await;
        assert_eq!(status, 200);
        let feature = &commander["features"][0];
        assert_eq!(feature["geometry"]["coordinates"], json!([11.3430, 44.4937]));
        assert_eq!(
            feature["properties"]["text"], "<script>alert(1)</script>",
            "kept as given, shown as text"
        );
        assert!(
            feature["properties"].get("contact").is_none(),
            "{kind:?}: contact is for operators"
        );
        let (_, operator) = app.get("/api/v1/reports", Some(&app.operator)).await;
        assert_eq!(operator["features"][0]["properties"]["contact"], "+39 000 000");

        assert_eq!(app.moderate(&id, "verified", &app.commander).await.0, 403);
        let (status, bad) = app.moderate(&id, "maybe", &app.operator).await;
        assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_status")));
        assert_eq!(app.moderate("no-such-report", "verified", &app.operator).await.0, 404);
        app.moderate(&id, "verified", &app.operator).await;

        let (_, verified) = app.get("/api/v1/reports?status=verified", Some(&app.operator)).await;
        assert_eq!(verified["features"].as_array().map(Vec::len), Some(1), "{kind:?}");
        let (_, elsewhere) = app
            .get("/api/v1/reports?bbox=9.0,45.0,9.5,45.5", Some(&app.operator))
            .await;
        assert_eq!(elsewhere["features"].as_array().map(Vec::len), Some(0));
        let later = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
        let (_, none) = app
            .get(
                &format!("/api/v1/reports?since={}", later.replace('+', "%2B")),
                Some(&app.operator),
            )
            .await;
        assert_eq!(none["features"].as_array().map(Vec::len), Some(0));
        let (_, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
        assert_eq!(audit["entries"][0]["action"], "report.moderate", "{kind:?}");
        assert_eq!(audit["entries"][0]["detail"]["to"], "verified");
    }
}

#[actix_web::test]
async fn operators_see_new_and_moderated_reports_live_and_the_public_may_not() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(Some(&app.operator)).await;
    send(&mut ws, json!({"type": "subscribe", "channel": "reports"})).await;
    assert_eq!(next_json(&mut ws, Duration::from_secs(5)).await["type"], "subscribed");
    let (_, r) = app.report(&fire("smoke"), None).await;
    let new = next_of_type(&mut ws, "report", Duration::from_secs(5)).await;
    assert_eq!(
        (new["report"]["id"].clone(), new["report"]["status"].as_str()),
        (r["id"].clone(), Some("unverified"))
    );
    app.moderate(r["id"].as_str().expect("id"), "false", &app.operator)
        .await;
    let moderated = next_of_type(&mut ws, "report", Duration::from_secs(5)).await;
    assert_eq!(moderated["report"]["status"], "false");

    let mut public = app.ws(None).await;
    send(&mut public, json!({"type": "subscribe", "channel": "reports"})).await;
    let refused = next_json(&mut public, Duration::from_secs(5)).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
}

/// A hub over `engine` as the server builds one, its relays running until
/// the returned token is cancelled.
pub(crate) fn hub_over(
    engine: std::sync::Arc<dyn campanile::engine::Engine>,
) -> (std::sync::Arc<campanile::hub::Hub>, tokio_util::sync::CancellationToken) {
    let settings = campanile::config::Settings::resolve(&test_args()).expect("settings");
    let zones = campanile::geodata::load_zones(&settings.geodata_dir.join("zones")).expect("zones");
    let public = campanile::hub::PublicView {
        k_anonymity: settings.k_anonymity,
        finest: h3o::Resolution::Nine,
        bands: settings.public_bands,
    };
    let hub = std::sync::Arc::new(campanile::hub::Hub::new(
        engine,
        public,
        std::sync::Arc::default(),
        settings.layout(),
        settings
            .crowd_picture(std::sync::Arc::new(zones))
            .expect("zones covered"),
        i64::try_from(settings.alert_history.as_secs()).expect("a history in seconds"),
    ));
    let shutdown = tokio_util::sync::CancellationToken::new();
    hub.spawn_relays(&shutdown);
    (hub, shutdown)
}

/// The JSON a session would send for `msg`.
pub(crate) fn wire(msg: campanile::protocol::ServerMessage) -> Value {
    match msg {
        campanile::protocol::ServerMessage::Encoded { text, .. } => serde_json::from_str(&text).expect("json"),
        other => serde_json::to_value(&other).expect("json"),
    }
}

/// The next `n` messages of `messages`, each within a few seconds.
pub(crate) async fn take(messages: &mut campanile::hub::Messages, n: usize) -> Vec<Value> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(messages)).await;
        match next {
            Ok(Some(msg)) => got.push(wire(msg)),
            other => panic!("after {} messages: {:?}", got.len(), other.map(|m| m.map(wire))),
        }
    }
    got
}

#[actix_web::test]
async fn a_subscriber_far_behind_the_channel_misses_no_report_and_gets_none_twice() {
    // Everything below runs on this test's one thread: until the test
    // awaits, neither the relay nor the subscription reads, so the engine's
    // feed overflows the relay and the relay's channel the subscription.
    let engine = engine_for(&test_args()).await;
    let (hub, shutdown) = hub_over(engine.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut messages = hub.reports().subscribe("s1".into(), true);
    let settings = campanile::config::Settings::resolve(&test_args()).expect("settings");
    let service = campanile::reports::Reports::new(
        engine.clone(),
        std::sync::Arc::new(campanile::ingest::Ingestor::new(
            engine,
            campanile::ingest::Bucketer::new(settings.resolutions, settings.bucket_secs),
            settings.author_hasher(),
            chrono::Duration::from_std(settings.retention).unwrap_or(chrono::Duration::hours(24)),
        )),
        std::sync::Arc::default(),
    );
    let capacity = campanile::hub::channel::CHANNEL_CAPACITY;
    let total = campanile::engine::REPORT_FEED_CAPACITY + capacity + 10;
    let mut sent = Vec::with_capacity(total);
    for i in 0..total {
        let input: campanile::domain::report::ReportInput =
            serde_json::from_value(fire(&format!("report {i}"))).expect("input");
        sent.push(service.create(&input, false).await.expect("create").id);
    }
    let got = take(&mut messages, total).await;
    let ids: Vec<&str> = got.iter().map(|m| m["report"]["id"].as_str().expect("id")).collect();
    assert_eq!(ids, sent, "every report, once, in order");
    assert!(
        got.iter()
            .all(|m| m["sub"] == "s1" && m["report"]["contact"] == "+39 000 000")
    );
    // A moderation after the catch-up arrives as it would have anyway.
    let broadcasts = campanile::broadcasts::Broadcasts::new(
        engine_for(&test_args()).await,
        std::sync::Arc::new(campanile::domain::Zones::default()),
    );
    service
        .moderate(&sent[0], "verified", None, "test-operator", &broadcasts)
        .await
        .expect("moderate");
    let moderated = take(&mut messages, 1).await;
    assert_eq!(
        (
            moderated[0]["report"]["id"].as_str(),
            moderated[0]["report"]["status"].as_str()
        ),
        (Some(sent[0].as_str()), Some("verified"))
    );
    shutdown.cancel();
}
