//! The rumour register on both engines: who may write, what the public
//! sees, the rules, the audit, concurrent changes, reports moderated false
//! linked in one step, broadcasting a published entry, the Atom feed, and
//! public reads served without an engine read each.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::*;

const BOTH: [EngineKind; 2] = [EngineKind::Memory, EngineKind::Redis];

/// Sends `body` (or nothing) with `method` to `path`, with a token if given.
async fn call(app: &TestApp, method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> (u16, Value) {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app.client.request(method, format!("{}{path}", app.address));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = match body {
        Some(b) => req.send_json(b).await,
        None => req.send().await,
    }
    .expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.body().limit(16 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The body of a GET as text.
async fn text(app: &TestApp, path: &str) -> (u16, String) {
    let mut resp = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("request");
    let bytes = resp.body().limit(16 << 20).await.expect("body");
    (
        resp.status().as_u16(),
        String::from_utf8(bytes.to_vec()).expect("UTF-8"),
    )
}

/// Records an entry as the operator; panics unless 201.
async fn record(app: &TestApp, body: Value) -> Value {
    let (status, entry) = call(app, "POST", "/api/v1/rumours", Some(&body), Some(&app.operator)).await;
    assert_eq!(status, 201, "{entry}");
    entry
}

async fn patch(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    call(
        app,
        "PATCH",
        &format!("/api/v1/rumours/{id}"),
        Some(&body),
        Some(&app.operator),
    )
    .await
}

/// A citizen report's id.
async fn citizen_report(app: &TestApp, text: &str) -> String {
    let (status, report) = app
        .report(
            &json!({"lat": 44.4937, "lon": 11.3430, "category": "rumour", "text": text}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{report}");
    report["id"].as_str().expect("id").to_owned()
}

fn bridge(published: bool) -> Value {
    json!({"claim": "The Ponte Vecchio exit is closed", "status": "false",
           "fact": "Every exit is open; stewards are at each one.",
           "translations": [{"language": "it", "claim": "L'uscita del Ponte Vecchio è chiusa",
                             "fact": "Tutte le uscite sono aperte; ci sono steward a ognuna."}],
           "zones": ["piazza-maggiore"], "trends": ["#pontevecchio"], "published": published})
}

#[actix_web::test]
async fn writes_need_an_operator_and_the_public_sees_only_published_entries_without_links() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let report = citizen_report(&app, "they closed the bridge").await;
        for token in [None, Some(app.commander.as_str()), Some(app.ingest.as_str())] {
            let want = if token.is_none() { 401 } else { 403 };
            let (status, body) = call(&app, "POST", "/api/v1/rumours", Some(&bridge(true)), token).await;
            assert_eq!(
                (status, body["error"]["code"].is_string()),
                (want, true),
                "{kind:?} {body}"
            );
            let (status, _) = call(
                &app,
                "PATCH",
                "/api/v1/rumours/x",
                Some(&json!({"published": true})),
                token,
            )
            .await;
            assert_eq!(status, want, "{kind:?}");
            let (status, _) = call(&app, "POST", "/api/v1/rumours/x/broadcast", None, token).await;
            assert_eq!(status, want, "{kind:?}");
        }
        let mut hidden = bridge(false);
        hidden["claim"] = json!("Not yet checked");
        hidden["reports"] = json!([report]);
        let hidden = record(&app, hidden).await;
        let mut shown = bridge(true);
        shown["reports"] = json!([report]);
        let shown = record(&app, shown).await;
        assert_eq!(
            (shown["version"].as_u64(), shown["author"].as_str()),
            (Some(1), Some("test-operator"))
        );
        assert_eq!(shown["created"], shown["updated"]);

        for token in [None, Some(app.commander.as_str())] {
            let (status, list) = call(&app, "GET", "/api/v1/rumours", None, token).await;
            assert_eq!(status, 200, "{kind:?}");
            let entries = list["rumours"].as_array().expect("rumours");
            assert_eq!(entries.len(), 1, "{kind:?} {list}");
            let entry = &entries[0];
            assert_eq!(entry["id"], shown["id"]);
            assert_eq!(entry["claim"], "The Ponte Vecchio exit is closed");
            assert_eq!(entry["translations"][0]["language"], "it");
            for private in ["reports", "author", "updated_by", "trends", "broadcasts", "published"] {
                assert!(
                    entry.get(private).is_none(),
                    "{kind:?}: {private} shown to {token:?}: {entry}"
                );
            }
            let (status, _) = call(
                &app,
                "GET",
                &format!("/api/v1/rumours/{}", hidden["id"].as_str().unwrap()),
                None,
                token,
            )
            .await;
            assert_eq!(status, 404, "{kind:?}: an unpublished entry is not found");
            let (status, one) = call(
                &app,
                "GET",
                &format!("/api/v1/rumours/{}", shown["id"].as_str().unwrap()),
                None,
                token,
            )
            .await;
            assert_eq!((status, one.get("reports")), (200, None), "{kind:?} {one}");
        }
        let (_, all) = call(&app, "GET", "/api/v1/rumours", None, Some(&app.operator)).await;
        let entries = all["rumours"].as_array().expect("rumours");
        assert_eq!(entries.len(), 2, "{all}");
        assert_eq!(entries[0]["id"], shown["id"], "newest update first");
        assert_eq!(entries[1]["reports"], json!([report]));
        let (status, one) = call(
            &app,
            "GET",
            &format!("/api/v1/rumours/{}", hidden["id"].as_str().unwrap()),
            None,
            Some(&app.operator),
        )
        .await;
        assert_eq!((status, one["published"].as_bool()), (200, Some(false)));
        // A forged token is refused even on a public read.
        let (status, _) = call(&app, "GET", "/api/v1/rumours", None, Some("not-a-token")).await;
        assert_eq!(status, 401);
    }
}

#[actix_web::test]
async fn a_broken_rule_is_a_400_naming_the_field() {
    let app = spawn_app(EngineKind::Memory).await;
    let cases = [
        (json!({"status": "false", "fact": "f"}), "missing_field", Some("claim")),
        (
            json!({"claim": "x".repeat(501), "status": "true", "fact": "f"}),
            "field_too_long",
            Some("claim"),
        ),
        (
            json!({"claim": "Leave\u{1B}[2J now", "status": "true", "fact": "f"}),
            "invalid_text",
            Some("claim"),
        ),
        (
            json!({"claim": "c", "status": "fake"}),
            "invalid_status",
            Some("status"),
        ),
        (json!({"claim": "c", "status": "false"}), "missing_field", Some("fact")),
        (
            json!({"claim": "c", "status": "true", "fact": "x".repeat(2001)}),
            "field_too_long",
            Some("fact"),
        ),
        (
            json!({"claim": "c", "status": "true", "fact": "f", "zones": ["atlantis"]}),
            "unknown_zone",
            Some("zones[0]"),
        ),
        (
            json!({"claim": "c", "status": "true", "fact": "f", "reports": ["no-such-report"]}),
            "unknown_report",
            Some("reports[0]"),
        ),
        (
            json!({"claim": "c", "status": "true", "fact": "f", "broadcasts": ["no-such"]}),
            "unknown_broadcast",
            Some("broadcasts[0]"),
        ),
        (
            json!({"claim": "c", "status": "true", "fact": "f", "trends": ["x".repeat(65)]}),
            "field_too_long",
            Some("trends[0]"),
        ),
        (
            json!({"claim": "c", "status": "true", "fact": "f", "language": "not a tag"}),
            "invalid_language",
            Some("language"),
        ),
        (
            json!({"claim": "c", "status": "true", "fact": "f", "published": "yes"}),
            "invalid_json",
            Some("published"),
        ),
        (
            json!({"claim": "c", "status": "true", "fact": "f", "translations": [{"language": "it", "claim": "c"}]}),
            "missing_field",
            Some("translations[0].fact"),
        ),
    ];
    for (body, code, field) in cases {
        let (status, answer) = call(&app, "POST", "/api/v1/rumours", Some(&body), Some(&app.operator)).await;
        assert_eq!(
            (
                status,
                answer["error"]["code"].as_str(),
                answer["error"]["field"].as_str()
            ),
            (400, Some(code), field),
            "{body}: {answer}"
        );
    }
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/rumours",
        Some(&json!({"claim": "c", "status": "true", "fact": "f", "colour": "red"})),
        Some(&app.operator),
    )
    .await;
    assert_eq!(status, 400, "an unknown field is refused");
    let entry = record(&app, json!({"claim": "c", "status": "unverified"})).await;
    let id = entry["id"].as_str().expect("id");
    let (status, answer) = patch(&app, id, json!({"status": "true"})).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("fact")),
        "a patch is checked with the entry it changes: {answer}"
    );
    assert_eq!(patch(&app, "no-such-entry", json!({"published": true})).await.0, 404);
    // Nothing refused was stored.
    let (_, all) = call(&app, "GET", "/api/v1/rumours", None, Some(&app.operator)).await;
    assert_eq!(all["rumours"].as_array().map(Vec::len), Some(1), "{all}");
}

#[actix_web::test]
async fn a_patch_raises_the_version_and_the_audit_log_says_who_changed_what() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let entry = record(&app, json!({"claim": "The metro is shut", "status": "unverified"})).await;
        let id = entry["id"].as_str().expect("id");
        let (status, changed) = patch(
            &app,
            id,
            json!({"status": "false", "fact": "Line 1 runs every 4 minutes.", "published": true}),
        )
        .await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["version"], 2);
        assert_eq!(changed["claim"], "The metro is shut", "fields not named are kept");
        assert!(changed["updated"].as_str() >= entry["updated"].as_str());
        assert_eq!(changed["created"], entry["created"]);
        // The same patch again changes nothing and makes no version.
        let (_, again) = patch(&app, id, json!({"status": "false"})).await;
        assert_eq!(again["version"], 2);

        let (status, audit) = call(&app, "GET", "/api/v1/audit?limit=10", None, Some(&app.operator)).await;
        assert_eq!(status, 200);
        let entries = audit["entries"].as_array().expect("entries");
        let update = entries
            .iter()
            .find(|e| e["action"] == "rumour.update")
            .expect("update audited");
        assert_eq!(update["sub"], "test-operator", "{kind:?}");
        assert_eq!(update["detail"]["id"], id);
        assert_eq!(update["detail"]["version"], 2);
        assert_eq!(
            update["detail"]["changed"]["status"],
            json!({"from": "unverified", "to": "false"})
        );
        assert_eq!(
            update["detail"]["changed"]["published"],
            json!({"from": false, "to": true})
        );
        assert_eq!(
            update["detail"]["changed"]["fact"]["to"],
            "Line 1 runs every 4 minutes."
        );
        assert!(update["detail"]["changed"].get("claim").is_none(), "{update}");
        assert_eq!(entries.iter().filter(|e| e["action"] == "rumour.update").count(), 1);
        let create = entries
            .iter()
            .find(|e| e["action"] == "rumour.create")
            .expect("create audited");
        assert_eq!(
            (create["sub"].as_str(), create["detail"]["id"].as_str()),
            (Some("test-operator"), Some(id))
        );
    }
}

#[actix_web::test]
async fn concurrent_patches_from_two_nodes_on_redis_each_land_and_none_is_lost() {
    let (_redis, node_a, node_b) = two_nodes_on_one_redis().await;
    let entry = record(&node_a, json!({"claim": "c0", "status": "false", "fact": "f0"})).await;
    let id = entry["id"].as_str().expect("id").to_owned();
    // Each patch names another field: with a read-modify-write that is not
    // serialised, a later write would put back an earlier field's old value.
    let patches = [
        json!({"claim": "c1"}),
        json!({"fact": "f1"}),
        json!({"status": "misleading"}),
        json!({"zones": ["piazza-maggiore"]}),
        json!({"trends": ["#ponte"]}),
        json!({"published": true}),
        json!({"translations": [{"language": "it", "claim": "c-it", "fact": "f-it"}]}),
        json!({"language": "en-GB"}),
    ];
    let calls = patches.iter().enumerate().map(|(i, body)| {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        let id = id.clone();
        async move { patch(node, &id, body.clone()).await }
    });
    let answers = futures_util::future::join_all(calls).await;
    let mut versions = BTreeSet::new();
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        versions.insert(answer["version"].as_u64().expect("version"));
    }
    assert_eq!(
        versions,
        (2..=9).collect::<BTreeSet<u64>>(),
        "each patch made its own version"
    );
    let (_, last) = call(
        &node_b,
        "GET",
        &format!("/api/v1/rumours/{id}"),
        None,
        Some(&node_b.operator),
    )
    .await;
    assert_eq!(last["version"], 9);
    assert_eq!(
        (
            &last["claim"],
            &last["fact"],
            &last["status"],
            &last["language"],
            last["published"].as_bool()
        ),
        (
            &json!("c1"),
            &json!("f1"),
            &json!("misleading"),
            &json!("en-GB"),
            Some(true)
        ),
        "{last}"
    );
    assert_eq!(last["zones"], json!(["piazza-maggiore"]));
    assert_eq!(last["trends"], json!(["#ponte"]));
    assert_eq!(last["translations"][0]["claim"], "c-it");
}

#[actix_web::test]
async fn a_report_moderated_false_is_linked_to_an_existing_entry_in_one_step() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let entry = record(&app, bridge(true)).await;
        let id = entry["id"].as_str().expect("id");
        let report = citizen_report(&app, "bridge closed!!").await;
        let path = format!("/api/v1/reports/{report}");
        let (status, moderated) = call(
            &app,
            "PATCH",
            &path,
            Some(&json!({"status": "false", "rumour": id})),
            Some(&app.operator),
        )
        .await;
        assert_eq!(status, 200, "{kind:?} {moderated}");
        assert_eq!(
            (moderated["status"].as_str(), moderated["rumour"].as_str()),
            (Some("false"), Some(id))
        );
        let (_, linked) = call(&app, "GET", &format!("/api/v1/rumours/{id}"), None, Some(&app.operator)).await;
        assert_eq!(linked["reports"], json!([report]), "{kind:?} {linked}");
        assert_eq!(linked["version"], 2);
        let (_, listed) = app.get("/api/v1/reports?status=false", Some(&app.operator)).await;
        assert_eq!(listed["features"][0]["properties"]["rumour"], id, "{listed}");
        // Linking only goes with false, and only to an entry that exists.
        let other = citizen_report(&app, "another").await;
        let other_path = format!("/api/v1/reports/{other}");
        for (body, code) in [
            (json!({"status": "verified", "rumour": id}), "invalid_rumour"),
            (json!({"status": "false", "rumour": "no-such-entry"}), "unknown_rumour"),
            (json!({"status": "false", "rumour": 7}), "invalid_rumour"),
        ] {
            let (status, answer) = call(&app, "PATCH", &other_path, Some(&body), Some(&app.operator)).await;
            assert_eq!(
                (
                    status,
                    answer["error"]["code"].as_str(),
                    answer["error"]["field"].as_str()
                ),
                (400, Some(code), Some("rumour")),
                "{kind:?} {body}: {answer}"
            );
        }
        let (_, untouched) = app.get("/api/v1/reports?status=unverified", Some(&app.operator)).await;
        assert_eq!(
            untouched["features"].as_array().map(Vec::len),
            Some(1),
            "a refused link moderated nothing"
        );
        let (status, _) = call(
            &app,
            "PATCH",
            "/api/v1/reports/no-such",
            Some(&json!({"status": "false", "rumour": id})),
            Some(&app.operator),
        )
        .await;
        assert_eq!(status, 404);
    }
}

#[actix_web::test]
async fn a_report_moderated_false_can_record_a_new_entry_in_the_same_step() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let report = citizen_report(&app, "the water is poisoned").await;
        let path = format!("/api/v1/reports/{report}");
        let (status, answer) = call(
            &app,
            "PATCH",
            &path,
            Some(&json!({"status": "false", "rumour": {"claim": "The water is poisoned", "status": "false"}})),
            Some(&app.operator),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some("rumour.fact")),
            "{kind:?}: the new entry's rules, named under rumour: {answer}"
        );
        let body = json!({"status": "false", "rumour": {"claim": "The water is poisoned", "status": "false",
                                                        "fact": "The fountains' water is tested hourly and safe."}});
        let (status, moderated) = call(&app, "PATCH", &path, Some(&body), Some(&app.operator)).await;
        assert_eq!(status, 200, "{kind:?} {moderated}");
        let id = moderated["rumour"].as_str().expect("the new entry's id");
        let (_, entry) = call(&app, "GET", &format!("/api/v1/rumours/{id}"), None, Some(&app.operator)).await;
        assert_eq!(entry["claim"], "The water is poisoned");
        assert_eq!(entry["reports"], json!([report]));
        assert_eq!(entry["published"], false);
        let (_, audit) = call(&app, "GET", "/api/v1/audit?limit=5", None, Some(&app.operator)).await;
        let actions: Vec<&str> = audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert!(
            actions.contains(&"rumour.create") && actions.contains(&"report.moderate"),
            "{actions:?}"
        );
    }
}

#[actix_web::test]
async fn a_published_entry_becomes_a_public_broadcast_in_one_step() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let entry = record(&app, bridge(false)).await;
        let id = entry["id"].as_str().expect("id");
        let path = format!("/api/v1/rumours/{id}/broadcast");
        let (status, refused) = call(&app, "POST", &path, None, Some(&app.operator)).await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (409, Some("not_published")),
            "{kind:?} {refused}"
        );
        assert_eq!(patch(&app, id, json!({"published": true})).await.0, 200);
        let (status, sent) = call(&app, "POST", &path, None, Some(&app.operator)).await;
        assert_eq!(status, 201, "{kind:?} {sent}");
        let broadcast_id = sent["broadcast"]["id"].as_str().expect("broadcast id");
        assert_eq!(sent["rumour"]["broadcasts"], json!([broadcast_id]));
        assert_eq!(sent["broadcast"]["area"]["zones"], json!(["piazza-maggiore"]));

        let (_, public) = call(&app, "GET", "/api/v1/broadcasts?active=true", None, None).await;
        let b = public["broadcasts"]
            .as_array()
            .expect("broadcasts")
            .iter()
            .find(|b| b["id"] == broadcast_id)
            .unwrap_or_else(|| panic!("{kind:?}: the broadcast is public: {public}"));
        assert_eq!(b["headline"], "FALSE: The Ponte Vecchio exit is closed");
        assert_eq!(
            b["description"],
            "Rumour: The Ponte Vecchio exit is closed\nFact: Every exit is open; stewards are at each one."
        );
        assert_eq!(
            b["translations"][0]["headline"],
            "FALSO: L'uscita del Ponte Vecchio è chiusa"
        );
        assert!(
            b["translations"][0]["description"]
                .as_str()
                .is_some_and(|d| d.contains("Fatto: Tutte le uscite"))
        );
        let (_, audit) = call(&app, "GET", "/api/v1/audit?limit=5", None, Some(&app.operator)).await;
        let linked = audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["action"] == "rumour.broadcast")
            .expect("audited");
        assert_eq!(linked["detail"]["changed"]["broadcasts"]["to"], json!([broadcast_id]));

        // An entry without zones needs an area; options are checked as a broadcast's.
        let bare = record(
            &app,
            json!({"claim": "c", "status": "true", "fact": "f", "published": true}),
        )
        .await;
        let bare_path = format!("/api/v1/rumours/{}/broadcast", bare["id"].as_str().unwrap());
        let (status, answer) = call(&app, "POST", &bare_path, None, Some(&app.operator)).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some("area")),
            "{answer}"
        );
        let (status, answer) = call(
            &app,
            "POST",
            &bare_path,
            Some(&json!({"area": {"zones": ["piazza-nettuno"]}, "severity": "Dire"})),
            Some(&app.operator),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some("severity")),
            "{answer}"
        );
        let (status, sent) = call(
            &app,
            "POST",
            &bare_path,
            Some(&json!({"area": {"zones": ["piazza-nettuno"]}, "severity": "Moderate"})),
            Some(&app.operator),
        )
        .await;
        assert_eq!(
            (status, sent["broadcast"]["severity"].as_str()),
            (201, Some("Moderate")),
            "{sent}"
        );
    }
}

/// Runs tests/tools/check_cap_atom.py's feed parser on `atom`; its entries.
fn feedparser_entries(atom: &str) -> Value {
    let dir = tempfile::tempdir().expect("dir");
    let path: PathBuf = dir.path().join("rumours.atom");
    std::fs::write(&path, atom).expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/check_cap_atom.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("atom")
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "feedparser: {}{}\n{atom}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("entries")
}

#[actix_web::test]
async fn the_atom_feed_parses_in_feedparser_newest_update_first_with_markup_in_a_claim() {
    for kind in BOTH {
        let app = spawn_app_with(
            kind,
            campanile::config::ServeArgs {
                public_url: Some("https://rumours.example.org".into()),
                ..test_args()
            },
        )
        .await;
        // A control character is refused at the door, naming the field…
        let (status, answer) = call(
            &app,
            "POST",
            "/api/v1/rumours",
            Some(&json!({"claim": "bad\u{1}claim", "status": "false", "fact": "f\u{FFFF}", "published": true})),
            Some(&app.operator),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("invalid_text")),
            "{answer}"
        );
        // …and markup is text.
        let script = record(
            &app,
            json!({"claim": "<script>alert(1)</script> & the exits are shut", "status": "false",
                                          "fact": "Exits are open </content>", "published": true}),
        )
        .await;
        let second = record(&app, bridge(true)).await;
        record(&app, json!({"claim": "hidden", "status": "unverified"})).await;
        let (status, atom) = text(&app, "/api/v1/rumours.atom").await;
        assert_eq!(status, 200);
        assert!(!atom.contains("<script>"), "{atom}");
        let entries = feedparser_entries(&atom);
        let entries = entries.as_array().expect("entries");
        assert_eq!(entries.len(), 2, "{kind:?}: published only: {atom}");
        assert_eq!(
            entries[0]["id"],
            format!(
                "https://rumours.example.org/api/v1/rumours/{}",
                second["id"].as_str().unwrap()
            )
        );
        // Changed later, the first entry comes first.
        assert_eq!(
            patch(&app, script["id"].as_str().unwrap(), json!({"status": "misleading"}))
                .await
                .0,
            200
        );
        let (_, atom) = text(&app, "/api/v1/rumours.atom").await;
        let entries = feedparser_entries(&atom);
        let first = &entries[0];
        assert_eq!(
            first["id"],
            format!(
                "https://rumours.example.org/api/v1/rumours/{}",
                script["id"].as_str().unwrap()
            )
        );
        assert_eq!(
            first["title"], "MISLEADING — Rumour: <script>alert(1)</script> & the exits are shut",
            "{atom}"
        );
        assert!(
            first["links"].as_array().expect("links").iter().all(|l| l
                .as_str()
                .is_some_and(|l| l.starts_with("https://rumours.example.org/"))),
            "{first}"
        );
        assert!(atom.contains("Fact: Exits are open &lt;/content&gt;"), "{atom}");
    }
}

/// Calls of one Redis command so far, from `INFO commandstats`.
fn redis_calls(redis: &TestRedis, command: &str) -> u64 {
    let info = redis.cli(&["INFO", "commandstats"]).expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn public_reads_are_served_from_the_nodes_snapshot_not_an_engine_read_each() {
    let app = spawn_app(EngineKind::Redis).await;
    let entry = record(&app, bridge(true)).await;
    let id = entry["id"].as_str().expect("id");
    let redis = app.redis.as_ref().expect("redis");
    let before = redis_calls(redis, "zrange");
    for _ in 0..10 {
        assert_eq!(call(&app, "GET", "/api/v1/rumours", None, None).await.0, 200);
        assert_eq!(
            call(&app, "GET", &format!("/api/v1/rumours/{id}"), None, None).await.0,
            200
        );
        assert_eq!(text(&app, "/api/v1/rumours.atom").await.0, 200);
    }
    let after = redis_calls(redis, "zrange");
    // One read of the register, two if the snapshot went stale meanwhile.
    assert!(
        after - before <= 2,
        "30 public reads listed the register {} times",
        after - before
    );
    // The operators read the store itself (and the count is not stuck).
    call(&app, "GET", "/api/v1/rumours", None, Some(&app.operator)).await;
    assert!(redis_calls(redis, "zrange") > after);
}

#[actix_web::test]
async fn with_the_engine_down_public_reads_are_503_with_retry_after_and_recover_after_it() {
    let mut app = spawn_app(EngineKind::Redis).await;
    record(&app, bridge(true)).await;
    assert_eq!(call(&app, "GET", "/api/v1/rumours", None, None).await.0, 200);
    app.redis.as_mut().expect("redis").kill();
    // Past the snapshot's period, the next read goes to the engine and fails.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    for path in ["/api/v1/rumours", "/api/v1/rumours.atom", "/api/v1/rumours/any"] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 503, "{path}");
        assert!(resp.headers().contains_key("retry-after"), "{path}");
    }
    app.redis.as_mut().expect("redis").restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, list) = call(&app, "GET", "/api/v1/rumours", None, None).await;
        if status == 200 {
            assert!(list["rumours"].is_array(), "{list}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status} after Redis came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
