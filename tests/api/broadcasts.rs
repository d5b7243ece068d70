//! Safety broadcasts on both engines: the model's rules, audiences, areas,
//! lossless resume, Update and Cancel, CAP against the OASIS schema, Atom in
//! a standard feed parser, acknowledgements and the audit log.

use std::process::Command;
use std::time::Duration;

use campanile::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

const SECOND: Duration = Duration::from_secs(1);
const BOTH: [EngineKind; 2] = [EngineKind::Memory, EngineKind::Redis];

fn alert(audience: &str, headline: &str) -> Value {
    json!({
        "audience": audience, "msg_type": "Alert", "category": "Safety", "event": "Crowd crush risk",
        "severity": "Severe", "urgency": "Immediate", "certainty": "Observed",
        "headline": headline, "description": "Density above 4 people per m² at the fountain.",
        "instruction": "Leave Piazza Maggiore by Via Rizzoli", "language": "en",
        "translations": [{"language": "it", "headline": "Lasciate Piazza Maggiore", "instruction": "Uscite da Via Rizzoli"}],
        "area": {"description": "Piazza Maggiore", "zones": ["piazza-maggiore"],
                 "circles": [{"lat": 44.4937, "lon": 11.3430, "radius_m": 150}],
                 "polygons": [[[11.342, 44.493], [11.344, 44.493], [11.344, 44.494], [11.342, 44.493]]]},
        "expires": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
    })
}

impl TestApp {
    pub(crate) async fn send_broadcast(&self, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.post(format!("{}/api/v1/broadcasts", self.address));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send_json(body).await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn text(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send().await.expect("request");
        let body = resp.body().await.expect("body");
        (resp.status().as_u16(), String::from_utf8_lossy(&body).into_owned())
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["broadcasts"]
        .as_array()
        .expect("list")
        .iter()
        .map(|b| b["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[actix_web::test]
async fn operators_send_and_every_rule_of_the_model_is_checked() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, sent) = app
        .send_broadcast(&alert("public", "Leave by Via Rizzoli"), Some(&app.operator))
        .await;
    assert_eq!(status, 201, "{sent}");
    assert!(sent["id"].is_string() && sent["seq"].as_u64() == Some(1) && sent["sent"].is_string());
    assert_eq!(
        app.send_broadcast(&alert("public", "x"), Some(&app.commander)).await.0,
        403
    );
    assert_eq!(app.send_broadcast(&alert("public", "x"), None).await.0, 401);

    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("severity", json!("Apocalyptic"), "invalid_severity"),
        ("urgency", json!("Soonish"), "invalid_urgency"),
        ("certainty", json!("Maybe"), "invalid_certainty"),
        ("category", json!("Party"), "invalid_category"),
        ("audience", json!("everyone"), "invalid_audience"),
        ("headline", json!("h".repeat(161)), "field_too_long"),
        ("expires", json!(past), "expires_in_past"),
        (
            "area",
            json!({"polygons": [[[11.34, 44.49], [11.35, 44.49], [11.35, 44.50], [11.34, 44.50]]]}),
            "invalid_polygon",
        ),
        (
            "area",
            json!({"polygons": [[[11.34, 44.49], [11.35, 44.49], [11.34, 44.49]]]}),
            "invalid_polygon",
        ),
        (
            "area",
            json!({"circles": [{"lat": 44.49, "lon": 11.34, "radius_m": 0}]}),
            "invalid_circle",
        ),
        ("area", json!({"zones": ["atlantis"]}), "unknown_zone"),
        ("area", json!({"description": "nowhere"}), "empty_area"),
        ("msg_type", json!("Update"), "missing_field"),
    ];
    for (field, value, code) in cases {
        let mut body = alert("public", "x");
        body[field] = value.clone();
        let (status, answer) = app.send_broadcast(&body, Some(&app.operator)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{field} = {value}"
        );
    }
    let mut update = alert("public", "x");
    update["msg_type"] = json!("Update");
    update["references"] = json!("no-such-message");
    let (status, answer) = app.send_broadcast(&update, Some(&app.operator)).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("unknown_reference"))
    );
}

#[actix_web::test]
async fn seq_increases_and_the_public_sees_only_public_messages() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let mut seqs = Vec::new();
        for (audience, headline) in [("public", "p1"), ("responders", "r1"), ("public", "p2")] {
            let (status, sent) = app
                .send_broadcast(&alert(audience, headline), Some(&app.operator))
                .await;
            assert_eq!(status, 201, "{kind:?} {sent}");
            seqs.push(sent["seq"].as_u64().expect("seq"));
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{kind:?} {seqs:?}");
        let (_, public) = app.get("/api/v1/broadcasts", None).await;
        let headlines: Vec<&str> = public["broadcasts"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|b| b["headline"].as_str())
            .collect();
        assert_eq!(headlines, vec!["p1", "p2"], "{kind:?}");
        assert!(
            public["broadcasts"][0].get("sender").is_none(),
            "the sender is for operators"
        );
        let (_, commander) = app.get("/api/v1/broadcasts", Some(&app.commander)).await;
        assert_eq!(ids(&commander).len(), 3, "{kind:?}");
        let responders_id = commander["broadcasts"][1]["id"].as_str().expect("id").to_owned();
        let (status, _) = app.get(&format!("/api/v1/broadcasts/{responders_id}"), None).await;
        assert_eq!(status, 404, "{kind:?}: a responders' message is not the public's");
        let (status, one) = app
            .get(&format!("/api/v1/broadcasts/{responders_id}"), Some(&app.commander))
            .await;
        assert_eq!(
            (status, one["audience"].as_str()),
            (200, Some("responders")),
            "{kind:?}"
        );
    }
}

#[actix_web::test]
async fn update_and_cancel_change_what_is_active_and_what_the_feed_lists() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let (_, first) = app
            .send_broadcast(&alert("public", "Leave by Via Rizzoli"), Some(&app.operator))
            .await;
        let first_id = first["id"].as_str().expect("id").to_owned();
        let (status, update) = app
            .send_broadcast(
                &json!({"msg_type": "Update", "references": first_id, "headline": "Leave by Via Ugo Bassi"}),
                Some(&app.operator),
            )
            .await;
        assert_eq!(status, 201, "{kind:?} {update}");
        assert_eq!(
            update["instruction"], first["instruction"],
            "an Update inherits what it does not change"
        );
        let update_id = update["id"].as_str().expect("id").to_owned();
        let (_, active) = app.get("/api/v1/broadcasts?active=true", None).await;
        assert_eq!(ids(&active), vec![update_id.clone()], "{kind:?}");
        let (_, atom) = app.text("/api/v1/alerts.atom", None).await;
        assert!(atom.contains(&update_id) && !atom.contains(&first_id), "{kind:?}");

        let (status, _) = app
            .send_broadcast(
                &json!({"msg_type": "Cancel", "references": update_id}),
                Some(&app.operator),
            )
            .await;
        assert_eq!(status, 201, "{kind:?}");
        let (_, active) = app.get("/api/v1/broadcasts?active=true", None).await;
        assert!(ids(&active).is_empty(), "{kind:?} {active}");
        let (_, atom) = app.text("/api/v1/alerts.atom", None).await;
        assert!(!atom.contains("<entry>"), "{kind:?}");
        let (_, all) = app.get("/api/v1/broadcasts", None).await;
        assert_eq!(ids(&all).len(), 3, "{kind:?}: the log keeps all three");
    }
}

async fn subscribe_broadcasts(app: &TestApp, token: Option<&str>, extra: Value) -> Ws {
    let mut ws = app.ws(token).await;
    let mut msg = json!({"type": "subscribe", "channel": "broadcasts"});
    if let (Some(m), Some(e)) = (msg.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    send(&mut ws, msg).await;
    // A `status` frame may come first: a test that has just stopped Redis
    // subscribes while the engine watch is telling every session so.
    let reply = loop {
        let msg = next_json(&mut ws, 5 * SECOND).await;
        if msg["type"] != "status" {
            break msg;
        }
    };
    assert_eq!(reply["type"], "subscribed", "{reply}");
    ws
}

/// Collects broadcast frames until `quiet` passes without one.
async fn drain(ws: &mut Ws, quiet: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(msg) = tokio::time::timeout(quiet, next_of_type(ws, "broadcast", 60 * SECOND)).await {
        got.push(msg);
    }
    got
}

#[actix_web::test]
async fn live_delivery_respects_audience_and_area() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let mut in_piazza = subscribe_broadcasts(&app, None, json!({"near": {"lat": 44.4936, "lon": 11.3428}})).await;
        let mut far_away = subscribe_broadcasts(&app, None, json!({"near": {"lat": 45.4642, "lon": 9.19}})).await;
        let mut commander = subscribe_broadcasts(&app, Some(&app.commander), json!({})).await;
        app.send_broadcast(&alert("responders", "Hold the cordon"), Some(&app.operator))
            .await;
        app.send_broadcast(&alert("public", "Leave by Via Rizzoli"), Some(&app.operator))
            .await;

        let got = drain(&mut in_piazza, SECOND).await;
        assert_eq!(got.len(), 1, "{kind:?} {got:?}");
        assert_eq!(got[0]["broadcast"]["headline"], "Leave by Via Rizzoli");
        assert!(got[0]["seq"].as_u64().is_some() && got[0]["sub"].is_string());
        assert!(drain(&mut far_away, SECOND).await.is_empty(), "{kind:?}");
        let got = drain(&mut commander, SECOND).await;
        let headlines: Vec<&str> = got.iter().filter_map(|m| m["broadcast"]["headline"].as_str()).collect();
        assert_eq!(headlines, vec!["Hold the cordon", "Leave by Via Rizzoli"], "{kind:?}");
    }
}

#[actix_web::test]
async fn a_resume_replays_exactly_the_missed_messages_in_order_then_live_ones() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let mut seqs = Vec::new();
        for i in 0..5 {
            let (_, sent) = app
                .send_broadcast(&alert("public", &format!("m{i}")), Some(&app.operator))
                .await;
            seqs.push(sent["seq"].as_u64().expect("seq"));
        }
        // The client saw up to the second message, then lost its connection.
        let mut ws = subscribe_broadcasts(&app, None, json!({"since_seq": seqs[1]})).await;
        let replayed = drain(&mut ws, SECOND).await;
        let got: Vec<u64> = replayed.iter().filter_map(|m| m["seq"].as_u64()).collect();
        assert_eq!(got, seqs[2..].to_vec(), "{kind:?}");
        let (_, live) = app.send_broadcast(&alert("public", "live"), Some(&app.operator)).await;
        let next = next_of_type(&mut ws, "broadcast", 5 * SECOND).await;
        assert_eq!(next["seq"], live["seq"], "{kind:?}");
        assert!(
            drain(&mut ws, Duration::from_millis(500)).await.is_empty(),
            "{kind:?}: no duplicate"
        );

        // Without since_seq: the active messages, then live ones.
        let mut fresh = subscribe_broadcasts(&app, None, json!({})).await;
        assert_eq!(drain(&mut fresh, SECOND).await.len(), 6, "{kind:?}");
    }
}

#[actix_web::test]
async fn every_cap_document_is_valid_cap_1_2_and_the_atom_feed_parses() {
    for kind in BOTH {
        cap_and_atom_are_valid_on(spawn_app(kind).await).await;
    }
}

async fn cap_and_atom_are_valid_on(app: TestApp) {
    let (_, first) = app
        .send_broadcast(&alert("public", "Leave by Via Rizzoli"), Some(&app.operator))
        .await;
    let (_, responders) = app
        .send_broadcast(&alert("responders", "Hold the cordon & wait"), Some(&app.operator))
        .await;
    let (_, update) = app
        .send_broadcast(
            &json!({"msg_type": "Update", "references": first["id"], "headline": "Use <Via Ugo Bassi>"}),
            Some(&app.operator),
        )
        .await;
    let (_, zones_only) = app
        .send_broadcast(
            &json!({"audience": "public", "category": "Health", "event": "First aid", "severity": "Minor",
            "urgency": "Expected", "certainty": "Likely", "headline": "First aid at the fountain", "language": "it",
            "area": {"zones": ["first-aid-nettuno", "piazza-nettuno"]},
            "expires": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}),
            Some(&app.operator),
        )
        .await;
    let (_, cancel) = app
        .send_broadcast(
            &json!({"msg_type": "Cancel", "references": update["id"]}),
            Some(&app.operator),
        )
        .await;

    let dir = tempfile::tempdir().expect("dir");
    let mut files = Vec::new();
    for msg in [&first, &responders, &update, &zones_only, &cancel] {
        let id = msg["id"].as_str().expect("id");
        let (status, xml) = app
            .text(&format!("/api/v1/broadcasts/{id}/cap.xml"), Some(&app.operator))
            .await;
        assert_eq!(status, 200);
        let path = dir.path().join(format!("{id}.xml"));
        std::fs::write(&path, &xml).expect("write");
        files.push(path);
    }
    let cancel_xml = std::fs::read_to_string(&files[4]).expect("read");
    assert!(
        cancel_xml.contains("<msgType>Cancel</msgType>")
            && cancel_xml.contains(&format!(",{},", update["id"].as_str().expect("id")))
    );
    let responders_xml = std::fs::read_to_string(&files[1]).expect("read");
    assert!(responders_xml.contains("<scope>Restricted</scope>"));
    let (status, _) = app
        .text(
            &format!("/api/v1/broadcasts/{}/cap.xml", responders["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_eq!(status, 404, "the public gets no responders' CAP");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/check_cap_atom.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("cap")
        .args(&files)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "CAP invalid: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, atom) = app.text("/api/v1/alerts.atom", None).await;
    assert_eq!(status, 200);
    assert!(atom.len() < 100_000);
    let feed = dir.path().join("alerts.atom");
    std::fs::write(&feed, &atom).expect("write");
    let out = Command::new("python3")
        .arg(script)
        .arg("atom")
        .arg(&feed)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "Atom: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: Value = serde_json::from_slice(&out.stdout).expect("entries");
    let entries = entries.as_array().expect("array");
    assert_eq!(entries.len(), 1, "only the active public message: {entries:?}");
    assert_eq!(entries[0]["title"], "First aid at the fountain");
    assert!(entries[0]["links"][0].as_str().is_some_and(|l| l.ends_with("/cap.xml")));
}

#[actix_web::test]
async fn commanders_acknowledge_once_and_operators_see_who_and_the_audit_log() {
    for kind in BOTH {
        let app = spawn_app(kind).await;
        let (_, sent) = app
            .send_broadcast(&alert("responders", "Hold the cordon"), Some(&app.operator))
            .await;
        let id = sent["id"].as_str().expect("id");
        let ack = |token: String| {
            let (client, url) = (
                app.client.clone(),
                format!("{}/api/v1/broadcasts/{id}/ack", app.address),
            );
            async move {
                let mut resp = client
                    .post(url)
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .send()
                    .await
                    .expect("ack");
                (
                    resp.status().as_u16(),
                    resp.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };
        let (status, first) = ack(app.commander.clone()).await;
        assert_eq!((status, first["first"].as_bool()), (200, Some(true)), "{kind:?}");
        let (_, again) = ack(app.commander.clone()).await;
        assert_eq!(again["first"], false, "{kind:?}: idempotent");
        assert_eq!(ack(app.operator.clone()).await.0, 403, "{kind:?}");
        let (_, one) = app.get(&format!("/api/v1/broadcasts/{id}"), Some(&app.operator)).await;
        let acks = one["acks"].as_array().expect("acks");
        assert_eq!(acks.len(), 1, "{kind:?}");
        assert_eq!(acks[0]["sub"], "test-commander");
        let (status, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
        assert_eq!(status, 200);
        let actions: Vec<(&str, &str)> = audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| (e["action"].as_str().unwrap_or(""), e["sub"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            actions,
            vec![("broadcast.ack", "test-commander"), ("broadcast.send", "test-operator")],
            "{kind:?}"
        );
        assert_eq!(app.get("/api/v1/audit", Some(&app.commander)).await.0, 403);
    }
}

#[actix_web::test]
async fn a_commander_reads_back_only_their_own_acknowledgement_of_a_responders_message() {
    let app = spawn_app(EngineKind::Memory).await;
    let (_, responders) = app
        .send_broadcast(&alert("responders", "Hold the cordon"), Some(&app.operator))
        .await;
    let (_, public) = app
        .send_broadcast(&alert("public", "Leave by Via Rizzoli"), Some(&app.operator))
        .await;
    let id = responders["id"].as_str().expect("id");
    let other = token(Role::Commander, "cmdr-south");
    let path = format!("/api/v1/broadcasts/{id}");
    async fn read(app: &TestApp, path: &str, who: &str) -> Value {
        app.get(path, Some(who)).await.1
    }
    assert_eq!(
        read(&app, &path, &app.commander).await["acks"],
        json!([]),
        "nothing acknowledged yet"
    );
    for who in [&app.commander, &other] {
        let resp = app
            .client
            .post(format!("{}/api/v1/broadcasts/{id}/ack", app.address))
            .insert_header(("Authorization", format!("Bearer {who}")))
            .send()
            .await
            .expect("ack");
        assert_eq!(resp.status(), 200);
    }
    // Each tablet learns what it acknowledged, never who else did.
    fn subs(view: &Value) -> Vec<&str> {
        let acks = view["acks"].as_array().expect("acks");
        acks.iter().filter_map(|a| a["sub"].as_str()).collect()
    }
    let mine = read(&app, &path, &app.commander).await;
    assert_eq!(subs(&mine), ["test-commander"]);
    assert_eq!(subs(&read(&app, &path, &other).await), ["cmdr-south"]);
    // The operators see both; a public message carries none for a commander,
    // and the active list carries the same as the message itself.
    assert_eq!(
        read(&app, &path, &app.operator).await["acks"].as_array().map(Vec::len),
        Some(2)
    );
    let public_id = public["id"].as_str().expect("id");
    let (_, one) = app
        .get(&format!("/api/v1/broadcasts/{public_id}"), Some(&app.commander))
        .await;
    assert!(one.get("acks").is_none(), "{one}");
    let (_, active) = app.get("/api/v1/broadcasts?active=true", Some(&app.commander)).await;
    let listed = active["broadcasts"]
        .as_array()
        .expect("list")
        .iter()
        .find(|b| b["id"] == id)
        .cloned();
    assert_eq!(listed.map(|b| b["acks"].clone()), Some(mine["acks"].clone()));
    // The public reads no acknowledgement at all.
    let (_, anyone) = app.get(&format!("/api/v1/broadcasts/{id}"), None).await;
    assert!(anyone.get("acks").is_none(), "{anyone}");
}

#[actix_web::test]
async fn two_nodes_on_one_redis_share_one_seq_and_deliver_each_others_messages() {
    let (_redis, node_a, node_b) = two_nodes_on_one_redis().await;
    let mut on_b = subscribe_broadcasts(&node_b, None, json!({})).await;
    let mut seqs = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        let (status, sent) = node
            .send_broadcast(&alert("public", &format!("n{i}")), Some(&node.operator))
            .await;
        assert_eq!(status, 201);
        seqs.push(sent["seq"].as_u64().expect("seq"));
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let got: Vec<u64> = drain(&mut on_b, SECOND)
        .await
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .collect();
    assert_eq!(got, seqs, "node B's client gets every message, in order");
}

#[actix_web::test]
async fn a_client_that_stops_reading_is_closed_with_1013_and_resumes_without_a_gap() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut slow = subscribe_broadcasts(&app, None, json!({})).await;
    // Large messages fill the socket buffers quickly: 50 translations of 4,000 characters.
    let translations: Vec<Value> = (0..50)
        .map(|i: u8| {
            let language = format!("{}{}", (b'a' + i / 26) as char, (b'a' + i % 26) as char);
            json!({"language": language, "headline": "h", "description": "d".repeat(4_000)})
        })
        .collect();
    let mut sent = Vec::new();
    // More than the session's queues (64 + 32 frames) and the socket buffers hold.
    for i in 0..200 {
        let mut body = alert("public", &format!("big {i}"));
        body["translations"] = json!(translations);
        let (status, stored) = app.send_broadcast(&body, Some(&app.operator)).await;
        assert_eq!(status, 201, "{stored}");
        sent.push(stored["seq"].as_u64().expect("seq"));
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    // Read what reached the client before it was closed.
    let mut seen = Vec::new();
    let code = loop {
        match tokio::time::timeout(10 * SECOND, futures_util::StreamExt::next(&mut slow)).await {
            Ok(Some(Ok(awc::ws::Frame::Text(bytes)))) => {
                let msg: Value = serde_json::from_slice(&bytes).expect("json");
                if let Some(seq) = msg["seq"].as_u64() {
                    seen.push(seq);
                }
            }
            Ok(Some(Ok(awc::ws::Frame::Close(reason)))) => break reason.map(|r| u16::from(r.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!(
                "expected a close frame after {} messages, got {:?}",
                seen.len(),
                other.map(|o| o.map(|r| r.map(|_| ())))
            ),
        }
    };
    assert_eq!(code, Some(1013));
    assert!(
        seen.len() < sent.len(),
        "the client was closed before it had everything"
    );
    assert_eq!(
        seen,
        sent[..seen.len()].to_vec(),
        "what arrived came in order, without a gap"
    );
    let last = seen.last().copied().unwrap_or(0);
    let mut resumed = subscribe_broadcasts(&app, None, json!({"since_seq": last})).await;
    let mut rest = Vec::new();
    while rest.len() < sent.len() - seen.len() {
        rest.push(
            next_of_type(&mut resumed, "broadcast", 10 * SECOND).await["seq"]
                .as_u64()
                .expect("seq"),
        );
    }
    assert_eq!(rest, sent[seen.len()..].to_vec(), "the resume brings exactly the rest");
}

#[actix_web::test]
async fn expired_messages_leave_the_active_list() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut body = alert("public", "short");
    body["expires"] = json!((chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339());
    assert_eq!(app.send_broadcast(&body, Some(&app.operator)).await.0, 201);
    let (_, active) = app.get("/api/v1/broadcasts?active=true", None).await;
    assert_eq!(ids(&active).len(), 1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, active) = app.get("/api/v1/broadcasts?active=true", None).await;
    assert!(ids(&active).is_empty());
}

#[actix_web::test]
async fn sending_while_redis_is_down_is_503_and_nothing_is_half_sent() {
    let mut app = spawn_app(EngineKind::Redis).await;
    app.redis.as_mut().expect("redis").kill();
    let (status, body) = app.send_broadcast(&alert("public", "lost?"), Some(&app.operator)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("engine_unavailable"))
    );
    app.redis.as_mut().expect("redis").restart();
    let sent = eventually(|| async {
        let (status, sent) = app.send_broadcast(&alert("public", "after"), Some(&app.operator)).await;
        (status == 201).then_some(sent)
    })
    .await
    .expect("sending recovered without a restart");
    assert_eq!(sent["seq"], 1, "the failed send took no seq");
}

/// A Redis that lost its broadcast log numbers again from 1, under a new
/// epoch. A subscriber that stayed connected gets the new messages although
/// their `seq` is below what it had; one resuming with its old position
/// gets the active messages afresh instead of waiting for numbers it
/// already had; one resuming within the new epoch gets nothing twice.
#[actix_web::test]
async fn a_lost_log_starts_a_new_epoch_and_no_subscriber_misses_what_follows() {
    let app = spawn_app(EngineKind::Redis).await;
    let mut stayed = subscribe_broadcasts(&app, None, json!({})).await;
    let mut before = Vec::new();
    for i in 0..3 {
        let (status, sent) = app
            .send_broadcast(&alert("public", &format!("before {i}")), Some(&app.operator))
            .await;
        assert_eq!(status, 201, "{sent}");
        before.push(next_of_type(&mut stayed, "broadcast", 10 * SECOND).await);
    }
    let old_epoch = before[0]["epoch"].as_str().expect("epoch").to_owned();
    assert!(!old_epoch.is_empty());
    assert!(
        before.iter().all(|m| m["epoch"] == old_epoch.as_str()),
        "one log, one epoch"
    );
    let last = before[2]["seq"].as_u64().expect("seq");

    app.redis.as_ref().expect("redis").cli(&["FLUSHALL"]).expect("flushall");
    let (status, sent) = app
        .send_broadcast(&alert("public", "after the loss"), Some(&app.operator))
        .await;
    assert_eq!(status, 201, "{sent}");
    assert!(
        sent["seq"].as_u64().expect("seq") <= last,
        "the lost log numbers again: {sent}"
    );

    let fresh = next_of_type(&mut stayed, "broadcast", 10 * SECOND).await;
    assert_eq!(fresh["broadcast"]["headline"], "after the loss");
    assert_ne!(fresh["epoch"], old_epoch.as_str(), "a new epoch");

    let mut resumed = subscribe_broadcasts(&app, None, json!({"since_seq": last, "epoch": old_epoch})).await;
    let replayed: Vec<Value> = drain(&mut resumed, Duration::from_millis(1_500))
        .await
        .iter()
        .map(|m| m["broadcast"]["headline"].clone())
        .collect();
    assert_eq!(replayed, vec![json!("after the loss")], "the active messages afresh");

    let mut current =
        subscribe_broadcasts(&app, None, json!({"since_seq": fresh["seq"], "epoch": fresh["epoch"]})).await;
    assert!(
        drain(&mut current, Duration::from_secs(1)).await.is_empty(),
        "nothing twice"
    );
}

/// A subscription made while Redis is down waits for it instead of ending
/// unheard: once Redis is back, the next message reaches the subscriber.
#[actix_web::test]
async fn a_subscription_made_while_redis_is_down_delivers_once_it_is_back() {
    let mut app = spawn_app(EngineKind::Redis).await;
    app.redis.as_mut().expect("redis").kill();
    let mut waiting = subscribe_broadcasts(&app, None, json!({})).await;
    // Long enough for the subscription's first read to fail.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.redis.as_mut().expect("redis").restart();
    eventually(|| async {
        let (status, _) = app.send_broadcast(&alert("public", "back"), Some(&app.operator)).await;
        (status == 201).then_some(())
    })
    .await
    .expect("sending recovered");
    let got = next_of_type(&mut waiting, "broadcast", 30 * SECOND).await;
    assert_eq!(got["broadcast"]["headline"], "back");
}
