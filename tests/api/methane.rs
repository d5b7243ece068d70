//! METHANE field reports (DESIGN §11): commanders send them, citizens may
//! not, every heading is checked, and they come back with the report on
//! both engines, masked for commanders as report text is.

use serde_json::{Value, json};

use crate::helpers::*;

fn methane() -> Value {
    json!({
        "major_incident": true,
        "exact_location": "Piazza Maggiore, north side by the Neptune fountain",
        "type": "Crowd crush",
        "hazards": "Barrier collapsed; crowd still pushing from Via Rizzoli",
        "access": "Via dell'Archiginnasio from the south; RVP at Piazza Galvani",
        "casualties": {"number": 12, "kind": "3 P1, 9 P3"},
        "emergency_services": {"present": "Police, 2 ambulances", "required": "4 ambulances, fire brigade; call +39 051 555 0199"}
    })
}

fn field_report(m: Value) -> Value {
    json!({"lat": 44.4937, "lon": 11.343, "category": "crowd", "text": "METHANE", "methane": m})
}

async fn methane_of(app: &TestApp, id: &str, token: &str) -> Value {
    let (status, list) = app.get("/api/v1/reports", Some(token)).await;
    assert_eq!(status, 200, "{list}");
    list["features"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["properties"]["id"] == id))
        .map(|x| x["properties"]["methane"].clone())
        .unwrap_or(Value::Null)
}

#[actix_web::test]
async fn a_commanders_methane_report_round_trips_on_both_engines() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        let (status, created) = app.report(&field_report(methane()), Some(&app.commander)).await;
        assert_eq!(status, 201, "{kind:?}: {created}");
        assert_eq!(created["origin"], "field");
        let id = created["id"].as_str().expect("id").to_owned();
        let seen = methane_of(&app, &id, &app.operator).await;
        assert_eq!(seen, methane(), "{kind:?}: operators read it as sent");
        // Commanders read it with the phone number masked, the rest as sent.
        let masked = methane_of(&app, &id, &app.commander).await;
        assert_eq!(masked["exact_location"], methane()["exact_location"]);
        assert_eq!(masked["casualties"]["number"], 12);
        let required = masked["emergency_services"]["required"].as_str().expect("required");
        assert!(
            !required.contains("555 0199") && required.starts_with("4 ambulances"),
            "{required}"
        );
        // Unknown headings may be left out; only M and the first E are required.
        let short = json!({"major_incident": false, "exact_location": "Via Rizzoli 3"});
        let (status, created) = app.report(&field_report(short.clone()), Some(&app.commander)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(
            methane_of(&app, &id, &app.operator).await,
            json!({"major_incident": false, "exact_location": "Via Rizzoli 3", "casualties": {}, "emergency_services": {}})
        );
        app.stop().await;
    }
}

#[actix_web::test]
async fn only_commanders_send_methane_and_bad_headings_are_400_naming_them() {
    let app = spawn_app(EngineKind::Memory).await;
    for token in [None, Some(app.operator.clone())] {
        let (status, body) = app.report(&field_report(methane()), token.as_deref()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "methane_field_only");
        assert_eq!(body["error"]["field"], "methane");
    }
    let cases: Vec<(Value, &str)> = vec![
        (json!({"exact_location": "x"}), "methane.major_incident"),
        (json!({"major_incident": true}), "methane.exact_location"),
        (
            json!({"major_incident": true, "exact_location": "   "}),
            "methane.exact_location",
        ),
        (
            json!({"major_incident": true, "exact_location": "x".repeat(501)}),
            "methane.exact_location",
        ),
        (
            json!({"major_incident": true, "exact_location": "a\u{1}b"}),
            "methane.exact_location",
        ),
        (
            json!({"major_incident": true, "exact_location": "x", "hazards": "\u{1b}[2J"}),
            "methane.hazards",
        ),
        (
            json!({"major_incident": true, "exact_location": "x", "type": "t".repeat(600)}),
            "methane.type",
        ),
        (
            json!({"major_incident": true, "exact_location": "x", "casualties": {"number": 100_001}}),
            "methane.casualties.number",
        ),
        (
            json!({"major_incident": true, "exact_location": "x", "emergency_services": {"required": "\u{0}"}}),
            "methane.emergency_services.required",
        ),
        // Shapes serde refuses: the envelope names `methane`.
        (
            json!({"major_incident": true, "exact_location": "x", "casualties": {"number": -1}}),
            "methane",
        ),
        (
            json!({"major_incident": true, "exact_location": "x", "casualties": {"number": 2.5}}),
            "methane",
        ),
        (json!({"major_incident": "yes", "exact_location": "x"}), "methane"),
        (
            json!({"major_incident": true, "exact_location": "x", "extra": 1}),
            "methane",
        ),
        (json!(["not", "an", "object"]), "methane"),
    ];
    for (m, field) in cases {
        let (status, body) = app.report(&field_report(m.clone()), Some(&app.commander)).await;
        assert_eq!(status, 400, "{m}: {body}");
        assert_eq!(body["error"]["field"], field, "{m}: {body}");
    }
    // Nothing refused was stored.
    let (_, list) = app.get("/api/v1/reports", Some(&app.operator)).await;
    assert_eq!(list["features"].as_array().map(Vec::len), Some(0), "{list}");
    app.stop().await;
}
