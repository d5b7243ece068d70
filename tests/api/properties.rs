//! Property tests: no input makes the ingest parser panic, every item gets
//! an answer, and no body makes the server answer 5xx.

use campanile::domain::{Post, PostRules};
use campanile::ingest::{BodyFormat, split_items};
use campanile::privacy::AuthorHasher;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Map, Value, json};

use crate::helpers::*;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("lat"),
            Just("lon"),
            Just("source"),
            Just("ts"),
            Just("2026-11-28T19:22:11Z")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("source".to_owned()),
                    Just("id".to_owned()),
                    Just("lat".to_owned()),
                    Just("lon".to_owned()),
                    Just("ts".to_owned()),
                    Just("text".to_owned()),
                    Just("author".to_owned()),
                    Just("lang".to_owned()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn arb_post() -> impl Strategy<Value = Value> {
    (
        "[a-z0-9_-]{1,32}",
        -90.0f64..=90.0,
        -180.0f64..=180.0,
        proptest::option::of("\\PC{1,128}"),
        proptest::option::of("\\PC{0,300}"),
    )
        .prop_map(|(source, lat, lon, id, author)| {
            let mut p = json!({"source": source, "lat": lat, "lon": lon});
            if let Some(id) = id {
                p["id"] = id.into();
            }
            if let Some(a) = author.filter(|a| a.chars().count() <= 256) {
                p["author"] = a.into();
            }
            p
        })
}

fn parse_all(body: &[u8], format: BodyFormat) -> Option<(usize, usize)> {
    let hasher = AuthorHasher::new(b"prop");
    let rules = PostRules {
        now: chrono::Utc::now(),
        retention: chrono::Duration::hours(24),
    };
    let items = split_items(body, format).ok()?;
    let n = items.len();
    let ok = items
        .into_iter()
        .filter_map(Result::ok)
        .filter(|raw| Post::parse(raw, rules, &hasher).is_ok())
        .count();
    Some((n, ok))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_json_body_is_parsed_or_refused_without_panicking(value in arb_json()) {
        let text = value.to_string();
        let _ = parse_all(text.as_bytes(), BodyFormat::Json);
        let _ = parse_all(text.as_bytes(), BodyFormat::Ndjson);
    }

    #[test]
    fn any_bytes_are_parsed_or_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_all(&bytes, BodyFormat::Json);
        let _ = parse_all(&bytes, BodyFormat::Ndjson);
    }

    #[test]
    fn every_valid_post_is_taken_whatever_surrounds_it(
        posts in prop::collection::vec(arb_post(), 1..20),
        noise in prop::collection::vec(arb_json(), 0..20),
    ) {
        let mut batch: Vec<Value> = posts.clone();
        batch.extend(noise.into_iter().filter(|v| !v.is_object()));
        let (n, ok) = parse_all(json!(batch).to_string().as_bytes(), BodyFormat::Json).expect("an array");
        prop_assert_eq!(n, batch.len());
        prop_assert_eq!(ok, posts.len());
    }
}

#[actix_web::test]
async fn no_random_body_makes_the_server_answer_5xx() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = arb_json();
    for i in 0..300 {
        let value = strategy.new_tree(&mut runner).expect("value").current();
        let (ct, body) = if i % 2 == 0 {
            ("application/json", value.to_string())
        } else {
            ("application/x-ndjson", format!("{value}\n{value}\n"))
        };
        let (status, answer) = app.post_raw(body.clone(), ct, Some(&app.ingest)).await;
        assert!(status < 500, "{status} for {body}");
        assert!(
            status == 202 || answer["error"]["code"].is_string(),
            "{status} {answer} for {body}"
        );
        let (status, _) = app
            .get(&format!("/api/v1/heatmap?bbox={}", urlencode(&value.to_string())), None)
            .await;
        assert!(status < 500, "heatmap answered {status}");
    }
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn no_json_panics_the_broadcast_parser(value in arb_json(), zone in "[a-z-]{0,20}") {
        let zones = campanile::domain::Zones::default();
        let mut value = value;
        if let Value::Object(map) = &mut value {
            map.insert("area".into(), json!({"zones": [zone], "circles": [{"lat": 1, "lon": 2, "radius_m": -1}]}));
        }
        if let Ok(input) = serde_json::from_value::<campanile::domain::broadcast::BroadcastInput>(value) {
            let _ = input.validate(chrono::Utc::now(), &zones, None);
        }
    }

    #[test]
    fn no_json_panics_the_report_parser(value in arb_json()) {
        if let Ok(input) = serde_json::from_value::<campanile::domain::report::ReportInput>(value) {
            let _ = input.validate("id".into(), false, chrono::Utc::now());
        }
    }

    #[test]
    fn no_text_panics_the_websocket_parser(value in arb_json(), text in "\\PC{0,200}") {
        let _ = campanile::protocol::parse(&value.to_string());
        let _ = campanile::protocol::parse(&text);
        let wrapped = json!({"type": "subscribe", "channel": "heatmap", "res": value.clone(), "bbox": value});
        let _ = campanile::protocol::parse(&wrapped.to_string());
    }

    #[test]
    fn valid_reports_are_always_taken(lat in -90.0f64..=90.0, lon in -180.0f64..=180.0, c in 0usize..9, text in "\\PC{0,300}") {
        let input: campanile::domain::report::ReportInput = serde_json::from_value(json!({
            "lat": lat, "lon": lon, "category": campanile::domain::report::CATEGORIES[c], "text": text,
        })).expect("input");
        prop_assert!(input.validate("id".into(), true, chrono::Utc::now()).is_ok());
    }
}
