//! The `zones` channel and the zone names on heatmap cells (DESIGN §9):
//! a snapshot then only the zones that changed, figures for operators and
//! commanders, words for everyone else.

use std::collections::BTreeSet;
use std::time::Duration;

use campanile::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

/// Inside Piazza del Nettuno, near its centre.
const NETTUNO: (f64, f64) = (44.49488, 11.34283);

fn posts_in_nettuno(authors: std::ops::Range<u32>) -> Value {
    Value::Array(
        authors
            .map(|a| post_at(NETTUNO.0, NETTUNO.1, &format!("nettuno-{a}"), None))
            .collect(),
    )
}

fn zone<'a>(zones: &'a Value, id: &str) -> &'a Value {
    zones
        .as_array()
        .expect("zones")
        .iter()
        .find(|z| z["id"] == id)
        .unwrap_or_else(|| panic!("no zone {id} in {zones}"))
}

const PUBLIC_FIELDS: [&str; 6] = ["advice", "id", "kind", "name", "public_level", "trend"];

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().expect("object").keys().map(String::as_str).collect()
}

async fn subscribe_zones(ws: &mut Ws) -> Value {
    send(ws, json!({"type": "subscribe", "channel": "zones"})).await;
    let ack = next_of_type(ws, "subscribed", Duration::from_secs(5)).await;
    assert_eq!(ack["channel"], "zones");
    next_of_type(ws, "zones.snapshot", Duration::from_secs(5)).await
}

#[actix_web::test]
async fn an_operator_gets_every_area_zone_then_only_the_zones_that_changed() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(Some(&token(Role::Operator, "op"))).await;
    let snapshot = subscribe_zones(&mut ws).await;
    assert_eq!(snapshot["window"], "15m");
    let ids: BTreeSet<&str> = snapshot["zones"]
        .as_array()
        .expect("zones")
        .iter()
        .filter_map(|z| z["id"].as_str())
        .collect();
    assert!(
        ids.contains("piazza-nettuno") && ids.contains("event-perimeter"),
        "{ids:?}"
    );
    assert!(
        !ids.contains("exit-via-rizzoli"),
        "a point zone has no area to count people over"
    );
    let nettuno = zone(&snapshot["zones"], "piazza-nettuno");
    assert_eq!(nettuno["contributors"], 0);
    assert_eq!(nettuno["people"]["calibrated"], false);

    let (status, _) = app.post_json(&posts_in_nettuno(0..8)).await;
    assert_eq!(status, 202);
    let update = next_of_type(&mut ws, "zones.update", Duration::from_secs(5)).await;
    let changed: BTreeSet<&str> = update["zones"]
        .as_array()
        .expect("zones")
        .iter()
        .filter_map(|z| z["id"].as_str())
        .collect();
    // The fountain and the perimeter around it moved; the station did not.
    assert_eq!(
        changed,
        BTreeSet::from(["event-perimeter", "piazza-nettuno"]),
        "{update}"
    );
    let nettuno = zone(&update["zones"], "piazza-nettuno");
    assert_eq!(nettuno["contributors"], 8);
    assert_eq!(nettuno["posts"], 8);
    // The prior: 25 people per poster, uncalibrated, with its interval.
    assert_eq!(nettuno["people"]["estimate"], 200);
    assert!(nettuno["people"]["low"].as_u64() < Some(200) && nettuno["people"]["high"].as_u64() > Some(200));
    assert!(nettuno["density_m2"].as_f64().is_some_and(|d| d > 0.0));
}

#[actix_web::test]
async fn the_public_channel_carries_words_only_and_no_word_below_k_on_memory() {
    the_public_channel_carries_words_only_and_no_word_below_k(&spawn_app(EngineKind::Memory).await).await;
}

#[actix_web::test]
async fn the_public_channel_carries_words_only_and_no_word_below_k_on_redis() {
    the_public_channel_carries_words_only_and_no_word_below_k(&spawn_app(EngineKind::Redis).await).await;
}

#[actix_web::test]
async fn the_public_channel_carries_words_only_and_no_word_below_k_on_a_redis_cluster() {
    let cluster = TestCluster::start();
    let mut args = test_args();
    args.redis_cluster_nodes = Some(cluster.node_urls());
    the_public_channel_carries_words_only_and_no_word_below_k(&spawn_on(args).await).await;
}

/// The operators' contributors in the square, once they are `n`.
async fn nettuno_contributors_reach(app: &TestApp, n: u64) {
    let reached = eventually(|| async {
        let (_, body) = app.get("/api/v1/zones/status", Some(&app.operator)).await;
        (zone(&body["zones"], "piazza-nettuno")["contributors"] == n).then_some(())
    })
    .await;
    assert!(reached.is_some(), "the square never had {n} posters");
}

async fn the_public_channel_carries_words_only_and_no_word_below_k(app: &TestApp) {
    let mut ws = app.ws(None).await;
    let snapshot = subscribe_zones(&mut ws).await;
    for z in snapshot["zones"].as_array().expect("zones") {
        assert_eq!(keys(z), BTreeSet::from(PUBLIC_FIELDS), "{z}");
    }
    // Four posters: below k = 5, the place has no word and no trend.
    let (status, _) = app.post_json(&posts_in_nettuno(0..4)).await;
    assert_eq!(status, 202);
    nettuno_contributors_reach(app, 4).await;
    let (_, now) = app.get("/api/v1/zones/status", None).await;
    let nettuno = zone(&now["zones"], "piazza-nettuno");
    assert_eq!(nettuno["public_level"], Value::Null, "{nettuno}");
    assert_eq!(nettuno["trend"], Value::Null);
    // Nor did the channel send the public anything: nothing it sees changed.
    let early = tokio::time::timeout(Duration::from_millis(300), next_json(&mut ws, Duration::from_secs(1))).await;
    assert!(early.is_err(), "an update below k: {early:?}");
    // A fifth gives it a word.
    let (status, _) = app.post_json(&posts_in_nettuno(4..5)).await;
    assert_eq!(status, 202);
    let update = next_of_type(&mut ws, "zones.update", Duration::from_secs(5)).await;
    let nettuno = zone(&update["zones"], "piazza-nettuno");
    assert_eq!(keys(nettuno), BTreeSet::from(PUBLIC_FIELDS));
    assert!(nettuno["public_level"].is_string(), "{nettuno}");
    assert!(!update.to_string().contains("contributors"));
    // Words only: no figure, and no H3 index, anywhere in the places sent.
    assert!(
        !update["zones"].to_string().chars().any(|c| c.is_ascii_digit()),
        "a figure in the public's update: {update}"
    );
}

#[actix_web::test]
async fn a_zones_subscription_to_an_unknown_window_is_refused_in_the_envelope() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = app.ws(None).await;
    send(
        &mut ws,
        json!({"type": "subscribe", "channel": "zones", "window": "7m"}),
    )
    .await;
    let error = next_of_type(&mut ws, "error", Duration::from_secs(5)).await;
    assert_eq!(error["code"], "invalid_window");
    let (status, body) = app.get("/api/v1/zones/status?window=7m", None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "window");
}

#[actix_web::test]
async fn another_window_changes_posts_and_contributors_but_not_people() {
    let app = spawn_app(EngineKind::Memory).await;
    let operator = token(Role::Operator, "op");
    let (status, _) = app.post_json(&posts_in_nettuno(0..6)).await;
    assert_eq!(status, 202);
    let read = |window: &'static str| {
        let app = &app;
        let operator = operator.clone();
        async move {
            eventually(|| {
                let operator = operator.clone();
                async move {
                    let (_, body) = app
                        .get(&format!("/api/v1/zones/status?window={window}"), Some(&operator))
                        .await;
                    let z = zone(&body["zones"], "piazza-nettuno").clone();
                    (z["contributors"] == 6).then_some((body["window"].clone(), z))
                }
            })
            .await
            .expect("the posts show")
        }
    };
    let (w15, in15) = read("15m").await;
    let (w1, in1) = read("1m").await;
    assert_eq!((w15, w1), (json!("15m"), json!("1m")));
    assert_eq!(in1["window"], "1m");
    assert_eq!(in15["people"], in1["people"]);
}

#[actix_web::test]
async fn operators_cells_are_named_by_their_smallest_zone_and_the_publics_are_not() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, _) = app.post_json(&posts_in_nettuno(0..6)).await;
    assert_eq!(status, 202);
    let operator = token(Role::Operator, "op");
    let (status, map) = app.get("/api/v1/heatmap?res=11", Some(&operator)).await;
    assert_eq!(status, 200);
    let cells = map["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1, "{map}");
    // Inside the perimeter too: the smallest zone names it.
    assert_eq!(cells[0]["zone"], "piazza-nettuno");
    let (_, public) = app.get("/api/v1/heatmap?res=9", None).await;
    assert!(!public.to_string().contains("zone"), "{public}");
}

/// What operators and commanders read of a zone (DESIGN §9).
const FULL_FIELDS: [&str; 18] = [
    "area_m2",
    "as_of",
    "capacity",
    "contributors",
    "density_m2",
    "id",
    "kind",
    "level",
    "level_high",
    "minutes_to_serious",
    "name",
    "people",
    "posts",
    "public_level",
    "trend",
    "trend_pct",
    "utilisation",
    "window",
];

/// The square's figures as the model makes them from `posters`: the prior's
/// 25 people each over its area, and their level.
fn assert_nettuno_figures(nettuno: &Value, posters: u64) {
    assert_eq!(keys(nettuno), BTreeSet::from(FULL_FIELDS), "{nettuno}");
    assert_eq!(
        (&nettuno["posts"], &nettuno["contributors"]),
        (&json!(posters), &json!(posters))
    );
    let people = 25 * posters;
    assert_eq!(nettuno["people"]["estimate"], people, "{nettuno}");
    assert_eq!(nettuno["people"]["calibrated"], false);
    let area = nettuno["area_m2"].as_f64().expect("area");
    let density = nettuno["density_m2"].as_f64().expect("density");
    assert!(
        (density - people as f64 / area).abs() < 0.005,
        "{density} /m² for {people} on {area} m²"
    );
    let capacity = nettuno["capacity"].as_f64().expect("capacity");
    assert!((nettuno["utilisation"].as_f64().expect("utilisation") - people as f64 / capacity).abs() < 0.005);
    assert_eq!(nettuno["level"], "normal", "{nettuno}");
    assert_eq!(nettuno["public_level"], "relaxed", "{nettuno}");
}

#[actix_web::test]
async fn a_commander_reads_every_zones_people_density_and_level_over_http_and_the_channel() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, _) = app.post_json(&posts_in_nettuno(0..8)).await;
    assert_eq!(status, 202);
    nettuno_contributors_reach(&app, 8).await;

    let (status, body) = app.get("/api/v1/zones/status", Some(&app.commander)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["window"], "15m", "{body}");
    let zones = body["zones"].as_array().expect("zones");
    assert!(zones.len() > 1, "{body}");
    for z in zones {
        assert_eq!(keys(z), BTreeSet::from(FULL_FIELDS), "{z}");
    }
    let over_http = zone(&body["zones"], "piazza-nettuno").clone();
    assert_nettuno_figures(&over_http, 8);

    let mut ws = app.ws(Some(&app.commander)).await;
    let snapshot = subscribe_zones(&mut ws).await;
    let on_the_channel = zone(&snapshot["zones"], "piazza-nettuno");
    assert_nettuno_figures(on_the_channel, 8);
    for field in ["people", "density_m2", "level", "utilisation"] {
        assert_eq!(on_the_channel[field], over_http[field], "{field}");
    }
}
