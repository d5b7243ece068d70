//! Zone alerts, the alert history and `GET /api/v1/alerts` (DESIGN §3, §4,
//! §9): real nodes on memory, on one Redis and on a Redis Cluster; the
//! crowd is made of real posts in Piazza del Nettuno (capacity 12,900).

use std::collections::BTreeMap;
use std::time::Duration;

use awc::ws;
use campanile::config::{ServeArgs, Settings};
use campanile::engine::Engine;
use campanile::engine::crowd::ZoneMinute;
use campanile::startup::Application;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::*;

const SECOND: Duration = Duration::from_secs(1);
const NETTUNO: &str = "piazza-nettuno";
/// Inside Piazza del Nettuno.
const IN_NETTUNO: (f64, f64) = (44.4947, 11.34275);

/// A thousand people per poster, so that a dozen posters fill the square:
/// 12 are 93 % of its capacity (`caution`), 13 over it (`alert`).
fn crowd_args() -> ServeArgs {
    ServeArgs {
        people_per_contributor: Some(1000.0),
        ..test_args()
    }
}

/// Posters `from..to` post once each in Piazza del Nettuno.
async fn posters(app: &TestApp, from: usize, to: usize) {
    let posts: Vec<Value> = (from..to)
        .map(|i| {
            post_at(
                IN_NETTUNO.0,
                IN_NETTUNO.1,
                &format!("poster{i}"),
                Some(&format!("nettuno-{i}")),
            )
        })
        .collect();
    let (status, body) = app.post_json(&json!(posts)).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (202, Some((to - from) as u64)),
        "{body}"
    );
}

async fn alerts_ws(app: &TestApp, token: &str) -> Ws {
    let mut ws = app.ws(Some(token)).await;
    send(&mut ws, json!({"type": "subscribe", "channel": "alerts"})).await;
    assert_eq!(next_json(&mut ws, 5 * SECOND).await["type"], "subscribed");
    ws
}

/// Every alert frame `ws` brings within `within`, in order.
async fn alerts_within(ws: &mut Ws, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let ws::Frame::Text(bytes) = frame {
            let msg: Value = serde_json::from_slice(&bytes).expect("JSON");
            if msg["type"] == "alert" {
                seen.push(msg);
            }
        }
    }
    seen
}

/// Alert frames of `ws` until one of `kind` at `level` (any level when
/// `None`) arrives; panics after `within`.
async fn until_alert(ws: &mut Ws, kind: &str, level: Option<&str>, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let alert = next_of_type(ws, "alert", left).await;
        let done = alert["kind"] == kind && level.is_none_or(|l| alert["level"] == l);
        seen.push(alert);
        if done {
            return seen;
        }
    }
}

fn levels_of(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .filter(|a| a["kind"] == "zone_level" && a["zone"] == NETTUNO)
        .map(|a| a["level"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn assert_zone_alert(alert: &Value, kind: &str) {
    assert_eq!(alert["kind"], kind, "{alert}");
    assert_eq!(alert["zone"], NETTUNO, "{alert}");
    assert_eq!(alert["place"], "Piazza del Nettuno", "{alert}");
    assert_eq!(alert["name"], "Piazza del Nettuno", "{alert}");
    for field in ["id", "raised_at", "sub", "level", "level_high", "trend"] {
        assert!(alert[field].is_string(), "{field} in {alert}");
    }
    for field in ["estimate", "low", "high"] {
        assert!(alert["people"][field].is_u64(), "people.{field} in {alert}");
    }
    assert_eq!(alert["people"]["calibrated"], false, "{alert}");
    assert!(alert["density_m2"].as_f64().is_some_and(|d| d > 1.0), "{alert}");
    assert!(alert["utilisation"].as_f64().is_some_and(|u| u >= 0.9), "{alert}");
    for field in ["trend_pct", "minutes_to_serious"] {
        assert!(alert.get(field).is_some(), "{field} missing from {alert}");
    }
}

/// The square fills in two steps on `posting` while every subscriber
/// watches: each subscriber gets exactly one `zone_level` per level, in
/// order, however many nodes saw the rise.
async fn rising_density_raises_one_zone_level_per_level(posting: &TestApp, subscribers: &mut [Ws]) {
    posters(posting, 0, 12).await;
    for ws in subscribers.iter_mut() {
        let seen = until_alert(ws, "zone_level", Some("caution"), 15 * SECOND).await;
        assert_zone_alert(seen.last().expect("an alert"), "zone_level");
        assert_eq!(levels_of(&seen), ["caution"]);
    }
    posters(posting, 12, 13).await;
    for ws in subscribers.iter_mut() {
        let seen = until_alert(ws, "zone_level", Some("alert"), 15 * SECOND).await;
        let alert = seen.last().expect("an alert");
        assert_zone_alert(alert, "zone_level");
        assert_eq!(alert["people"]["estimate"], 13_000);
        assert_eq!(levels_of(&seen), ["alert"]);
    }
    // Every node keeps seeing the square at `alert`: nothing more is news.
    for ws in subscribers.iter_mut() {
        let more = alerts_within(ws, 2 * SECOND).await;
        assert_eq!(levels_of(&more), Vec::<String>::new(), "{more:?}");
    }
}

#[actix_web::test]
async fn rising_density_raises_zone_level_once_per_level_on_memory() {
    let app = spawn_on(crowd_args()).await;
    let mut subscribers = [
        alerts_ws(&app, &app.operator).await,
        alerts_ws(&app, &app.commander).await,
    ];
    rising_density_raises_one_zone_level_per_level(&app, &mut subscribers).await;
}

#[actix_web::test]
async fn rising_density_raises_zone_level_once_per_level_across_two_nodes_on_one_redis() {
    let redis = TestRedis::start();
    let args = ServeArgs {
        redis_url: Some(redis.url()),
        ..crowd_args()
    };
    let (node_a, node_b) = (spawn_on(args.clone()).await, spawn_on(args).await);
    let mut subscribers = [
        alerts_ws(&node_a, &node_a.operator).await,
        alerts_ws(&node_b, &node_b.commander).await,
    ];
    rising_density_raises_one_zone_level_per_level(&node_a, &mut subscribers).await;
}

#[actix_web::test]
async fn rising_density_raises_zone_level_once_per_level_across_two_nodes_on_a_redis_cluster() {
    let cluster = TestCluster::start();
    let args = ServeArgs {
        redis_cluster_nodes: Some(cluster.node_urls()),
        ..crowd_args()
    };
    let (node_a, node_b) = (spawn_on(args.clone()).await, spawn_on(args).await);
    let mut subscribers = [
        alerts_ws(&node_a, &node_a.operator).await,
        alerts_ws(&node_b, &node_b.commander).await,
    ];
    rising_density_raises_one_zone_level_per_level(&node_b, &mut subscribers).await;
}

/// A quarter of an hour of steady rise in Piazza del Nettuno, one poster a
/// minute up to 26 now (26,000 people, `alert`), written into `engine`
/// before the nodes on it start, as their zones ticks would have: at that
/// pace the square is `serious` (5 /m², about 32,000 people) within minutes.
async fn seed_a_steady_rise(engine: &dyn Engine) {
    let now = chrono::Utc::now().timestamp();
    let minute = now - now.rem_euclid(60);
    let window_secs = 15 * 60;
    // The minutes to come are written too: the first record of a minute
    // stands, and a node would otherwise record one before the posts land.
    for k in -15..=2_i64 {
        let posters = u64::try_from(26 + k.min(0)).expect("positive");
        let record = ZoneMinute {
            minute: minute + 60 * k,
            contributors: BTreeMap::from([(NETTUNO.to_owned(), posters)]),
        };
        engine
            .record_zone_minute(window_secs, &record, now)
            .await
            .expect("minute recorded");
    }
}

/// The 26 posters arrive on `posting`: every subscriber gets one forecast
/// of `serious`, while the square is still at `alert`.
async fn a_steady_rise_raises_a_forecast_before_serious(posting: &TestApp, subscribers: &mut [Ws]) {
    posters(posting, 0, 26).await;
    for ws in subscribers.iter_mut() {
        let seen = until_alert(ws, "zone_forecast", None, 15 * SECOND).await;
        let forecast = seen.last().expect("an alert");
        assert_zone_alert(forecast, "zone_forecast");
        assert!(
            forecast["minutes_to_serious"].as_u64().is_some_and(|m| m <= 10),
            "{forecast}"
        );
        assert_eq!(forecast["trend"], "rising", "{forecast}");
        // Raised before the square is serious.
        assert_eq!(forecast["level"], "alert", "{forecast}");
        let more = alerts_within(ws, 2 * SECOND).await;
        assert!(
            more.iter().all(|a| a["kind"] != "zone_forecast"),
            "a second forecast: {more:?}"
        );
    }
}

/// Two nodes on the engine `args` name, seeded with the steady rise.
async fn two_nodes_on_a_steady_rise(args: ServeArgs) {
    seed_a_steady_rise(engine_for(&args).await.as_ref()).await;
    let (node_a, node_b) = (spawn_on(args.clone()).await, spawn_on(args).await);
    let mut subscribers = [
        alerts_ws(&node_a, &node_a.operator).await,
        alerts_ws(&node_b, &node_b.commander).await,
    ];
    a_steady_rise_raises_a_forecast_before_serious(&node_a, &mut subscribers).await;
}

#[actix_web::test]
async fn a_steady_rise_raises_one_zone_forecast_before_serious_on_memory() {
    // The memory engine is the server's own: seeded after it is built,
    // before it serves or ticks.
    let settings = Settings::resolve(&crowd_args()).expect("settings");
    let built = Application::build(settings).await.expect("server starts");
    seed_a_steady_rise(built.state().engine.as_ref()).await;
    let app = serve(built);
    let mut subscribers = [
        alerts_ws(&app, &app.operator).await,
        alerts_ws(&app, &app.commander).await,
    ];
    a_steady_rise_raises_a_forecast_before_serious(&app, &mut subscribers).await;
}

#[actix_web::test]
async fn a_steady_rise_raises_one_zone_forecast_before_serious_across_two_nodes_on_one_redis() {
    let redis = TestRedis::start();
    two_nodes_on_a_steady_rise(ServeArgs {
        redis_url: Some(redis.url()),
        ..crowd_args()
    })
    .await;
}

#[actix_web::test]
async fn a_steady_rise_raises_one_zone_forecast_before_serious_on_a_redis_cluster() {
    let cluster = TestCluster::start();
    two_nodes_on_a_steady_rise(ServeArgs {
        redis_cluster_nodes: Some(cluster.node_urls()),
        ..crowd_args()
    })
    .await;
}

/// Waits until `GET /api/v1/alerts` holds `n` alerts and returns them.
async fn listed(app: &TestApp, n: usize) -> Vec<Value> {
    eventually(|| async {
        let (status, body) = app.get("/api/v1/alerts", Some(&app.operator)).await;
        assert_eq!(status, 200, "{body}");
        let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
        (alerts.len() >= n).then_some(alerts)
    })
    .await
    .unwrap_or_else(|| panic!("{n} alerts listed in time"))
}

#[actix_web::test]
async fn a_subscriber_opened_after_alerts_gets_them_first_oldest_first_then_the_live_ones_without_repeats() {
    let redis = TestRedis::start();
    let args = ServeArgs {
        redis_url: Some(redis.url()),
        ..crowd_args()
    };
    let node_a = spawn_on(args.clone()).await;
    posters(&node_a, 0, 12).await;
    listed(&node_a, 1).await;
    posters(&node_a, 12, 13).await;
    let raised = listed(&node_a, 2).await;
    assert_eq!(levels_of(&raised), ["alert", "caution"]);
    // A node started after the alerts, and a subscriber on each.
    let node_b = spawn_on(args).await;
    let mut late = [
        alerts_ws(&node_a, &node_a.operator).await,
        alerts_ws(&node_b, &node_b.commander).await,
    ];
    for ws in late.iter_mut() {
        let first = next_of_type(ws, "alert", 5 * SECOND).await;
        let second = next_of_type(ws, "alert", 5 * SECOND).await;
        assert_eq!(
            [&first["id"], &second["id"]],
            [&raised[1]["id"], &raised[0]["id"]],
            "the history first, oldest first: {first} {second}"
        );
    }
    // The square fills on: `serious` or worse, live, once.
    posters(&node_a, 13, 35).await;
    for ws in late.iter_mut() {
        let seen = until_alert(ws, "zone_level", None, 15 * SECOND).await;
        let levels = levels_of(&seen);
        assert_eq!(levels.len(), 1, "the history again or a gap: {seen:?}");
        assert!(["serious", "critical"].contains(&levels[0].as_str()), "{seen:?}");
        let more = alerts_within(ws, SECOND).await;
        assert_eq!(levels_of(&more), Vec::<String>::new());
    }
}

#[actix_web::test]
async fn the_alert_history_reaches_back_as_far_as_alert_history_and_no_further() {
    let app = spawn_on(ServeArgs {
        alert_history: Some("2s".into()),
        ..crowd_args()
    })
    .await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(60);
    posters(&app, 0, 12).await;
    let raised = listed(&app, 1).await;
    tokio::time::sleep(3 * SECOND).await;
    let mut late = alerts_ws(&app, &app.operator).await;
    let seen = alerts_within(&mut late, 2 * SECOND).await;
    assert!(seen.is_empty(), "an alert older than the history: {seen:?}");
    let (status, body) = app.get("/api/v1/alerts", Some(&app.operator)).await;
    assert_eq!(
        (status, body["alerts"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, body) = app
        .get(&format!("/api/v1/alerts?since={since}"), Some(&app.operator))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["alerts"][0]["id"], raised[0]["id"], "{body}");
}

#[actix_web::test]
async fn get_alerts_lists_newest_first_for_operators_and_commanders_only() {
    let app = spawn_on(crowd_args()).await;
    posters(&app, 0, 12).await;
    listed(&app, 1).await;
    posters(&app, 12, 13).await;
    let alerts = listed(&app, 2).await;
    assert_eq!(levels_of(&alerts), ["alert", "caution"], "newest first: {alerts:?}");
    let raised: Vec<&str> = alerts.iter().filter_map(|a| a["raised_at"].as_str()).collect();
    assert!(raised.windows(2).all(|w| w[0] >= w[1]), "{raised:?}");
    for alert in &alerts {
        assert!(alert.get("sub").is_none() && alert.get("type").is_none(), "{alert}");
    }

    let (status, body) = app.get("/api/v1/alerts", Some(&app.commander)).await;
    assert_eq!((status, body["alerts"].as_array().map(Vec::len)), (200, Some(2)));
    let (status, body) = app.get("/api/v1/alerts", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app.get("/api/v1/alerts", Some(&app.ingest)).await;
    assert_eq!(status, 403, "{body}");
    for bad in ["yesterday", "2026-13-01T00:00:00Z", "1700000000", ""] {
        let (status, body) = app
            .get(&format!("/api/v1/alerts?since={bad}"), Some(&app.operator))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some("since")),
            "{bad}: {body}"
        );
    }
    // A moment after both: nothing.
    let later = (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, body) = app
        .get(&format!("/api/v1/alerts?since={later}"), Some(&app.operator))
        .await;
    assert_eq!(
        (status, body["alerts"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
}

/// `n` posters in a minute at `at`, where nobody was before: a surge.
async fn surge_at(app: &TestApp, at: (f64, f64), n: usize) {
    let posts: Vec<Value> = (0..n)
        .map(|i| post_at(at.0, at.1, &format!("surger{i}"), Some(&format!("surge-{}-{i}", at.0))))
        .collect();
    let (status, body) = app.post_json(&json!(posts)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(n as u64)), "{body}");
}

#[actix_web::test]
async fn a_cells_alert_names_its_smallest_zone_or_where_it_is_when_no_zone_holds_it() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = alerts_ws(&app, &app.operator).await;
    surge_at(&app, IN_NETTUNO, 40).await;
    // Far outside every zone of the event, in the hills south of Bologna.
    surge_at(&app, (44.40, 11.20), 40).await;
    let mut surges: Vec<Value> = Vec::new();
    while surges.len() < 2 {
        let alert = next_of_type(&mut ws, "alert", 10 * SECOND).await;
        if alert["kind"] == "surge" {
            surges.push(alert);
        }
    }
    let (_, zones) = app.get("/api/v1/zones", None).await;
    let name_of = |id: &str| {
        zones["features"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["properties"]["id"] == id)
            .and_then(|f| f["properties"]["name"].as_str())
            .map(str::to_owned)
    };
    let (inside, outside): (Vec<&Value>, Vec<&Value>) = surges.iter().partition(|a| a["lat"].as_f64() > Some(44.45));
    let (inside, outside) = (inside[0], outside[0]);
    let zone = inside["zone"].as_str().expect("a zone holds the square's cell");
    assert_eq!(inside["place"].as_str().map(str::to_owned), name_of(zone), "{inside}");
    assert!(outside["zone"].is_null() && outside.get("zone").is_some(), "{outside}");
    let place = outside["place"].as_str().expect("a place in words");
    assert!(place.starts_with("near 44.") && place.contains(", 11."), "{place}");
}

/// `alert` against its schema in `doc`: the one of `RaisedAlert`'s shapes
/// whose `kind` enum names it, with every required field and no other.
fn assert_fits_the_openapi_document(alert: &Value, doc: &Value) {
    let schemas = &doc["components"]["schemas"];
    let shapes: Vec<&Value> = schemas["RaisedAlert"]["oneOf"]
        .as_array()
        .expect("RaisedAlert is a oneOf")
        .iter()
        .filter_map(|s| s["$ref"].as_str())
        .filter_map(|r| r.strip_prefix("#/components/schemas/"))
        .map(|name| &schemas[name])
        .filter(|shape| {
            let kinds = shape["properties"]["kind"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(|name| &schemas[name]["enum"]);
            kinds
                .and_then(Value::as_array)
                .is_some_and(|kinds| kinds.contains(&alert["kind"]))
        })
        .collect();
    assert_eq!(shapes.len(), 1, "exactly one shape for {alert}");
    let properties = shapes[0]["properties"].as_object().expect("properties");
    for key in alert.as_object().expect("an object").keys() {
        assert!(properties.contains_key(key), "{key} is not in the schema: {alert}");
    }
    for required in shapes[0]["required"].as_array().into_iter().flatten() {
        let key = required.as_str().expect("a name");
        assert!(alert.get(key).is_some(), "required {key} missing: {alert}");
    }
}

#[actix_web::test]
async fn listed_cell_and_zone_alerts_each_fit_exactly_one_shape_of_the_openapi_document() {
    let app = spawn_on(crowd_args()).await;
    surge_at(&app, (44.40, 11.20), 40).await;
    posters(&app, 0, 12).await;
    let alerts = eventually(|| async {
        let alerts = listed(&app, 2).await;
        let kinds: Vec<&str> = alerts.iter().filter_map(|a| a["kind"].as_str()).collect();
        (kinds.contains(&"surge") && kinds.contains(&"zone_level")).then_some(alerts)
    })
    .await
    .expect("a surge and a zone alert");
    let (_, doc) = app.get("/openapi.json", None).await;
    for alert in &alerts {
        assert_fits_the_openapi_document(alert, &doc);
    }
}

/// A report in Piazza del Nettuno from `address`, with `token` if given.
async fn report_in_nettuno(app: &TestApp, address: &str, token: Option<&str>) -> u16 {
    let mut req = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("X-Forwarded-For", address.to_owned()));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let body = json!({"lat": IN_NETTUNO.0, "lon": IN_NETTUNO.1, "category": "crowd"});
    req.send_body(body.to_string())
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn strangers_reports_from_many_addresses_cannot_fake_a_crowd_alert_but_field_reports_can() {
    let app = spawn_on(ServeArgs {
        people_per_contributor: Some(1000.0),
        ..behind_a_trusted_proxy()
    })
    .await;
    let mut ws = alerts_ws(&app, &app.operator).await;
    // Thirteen anonymous reports, each from its own address so that no
    // rate limit stops them: over the square's capacity if they counted.
    for i in 0..13 {
        assert_eq!(
            report_in_nettuno(&app, &format!("198.51.100.{}", i + 1), None).await,
            201
        );
    }
    let faked = alerts_within(&mut ws, 3 * SECOND).await;
    assert_eq!(
        levels_of(&faked),
        Vec::<String>::new(),
        "unverified reports made a crowd: {faked:?}"
    );
    // The same from a commander in the field counts at once.
    for _ in 0..13 {
        assert_eq!(report_in_nettuno(&app, "192.0.2.1", Some(&app.commander)).await, 201);
    }
    let seen = until_alert(&mut ws, "zone_level", Some("alert"), 15 * SECOND).await;
    assert_eq!(levels_of(&seen), ["alert"], "{seen:?}");
}
