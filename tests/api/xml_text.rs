//! Text that XML cannot carry: refused at the door with the field named, and
//! dropped by the CAP and Atom writers if it was stored before the rule, so
//! that one message can never make the public feed unreadable.

use std::path::PathBuf;
use std::process::Command;

use campanile::alert::Publisher;
use campanile::domain::Zones;
use campanile::domain::broadcast::{BroadcastInput, StoredBroadcast};
use proptest::prelude::*;
use quick_xml::events::Event;
use serde_json::{Value, json};

use crate::helpers::*;

/// The XML 1.0 `Char` production, written out here independently of the
/// server's own predicate so that a mistake there cannot hide.
fn allowed_in_xml(c: char) -> bool {
    let c = u32::from(c);
    c == 0x9
        || c == 0xA
        || c == 0xD
        || (0x20..=0xD7FF).contains(&c)
        || (0xE000..=0xFFFD).contains(&c)
        || (0x10000..=0x0010_FFFF).contains(&c)
}

/// Reads `xml` to the end with quick-xml and checks every character of the
/// document and of every unescaped text and attribute; the error says what broke.
fn well_formed(xml: &str) -> Result<(), String> {
    if let Some(c) = xml.chars().find(|c| !allowed_in_xml(*c)) {
        return Err(format!("U+{:04X} in the document", u32::from(c)));
    }
    let check = |text: &str| match text.chars().find(|c| !allowed_in_xml(*c)) {
        Some(c) => Err(format!("U+{:04X} after unescaping", u32::from(c))),
        None => Ok(()),
    };
    let attributes = |e: &quick_xml::events::BytesStart<'_>| -> Result<(), String> {
        for attr in e.attributes() {
            let attr = attr.map_err(|e| e.to_string())?;
            check(&attr.unescape_value().map_err(|e| e.to_string())?)?;
        }
        Ok(())
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let (mut depth, mut roots) = (0usize, 0usize);
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                attributes(&e)?;
                roots += usize::from(depth == 0);
                depth += 1;
            }
            Event::Empty(e) => {
                attributes(&e)?;
                roots += usize::from(depth == 0);
            }
            Event::End(_) => depth = depth.checked_sub(1).ok_or("an end tag without a start")?,
            Event::Text(t) => {
                let text = t.decode().map_err(|e| e.to_string())?;
                check(&quick_xml::escape::unescape(&text).map_err(|e| e.to_string())?)?;
                if depth == 0 && !text.trim().is_empty() {
                    return Err("text outside the root element".into());
                }
            }
            Event::GeneralRef(r) => {
                // quick-xml 0.38 reports `&amp;` and friends apart from the text.
                let name = r.decode().map_err(|e| e.to_string())?;
                check(&quick_xml::escape::unescape(&format!("&{name};")).map_err(|e| e.to_string())?)?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 || roots != 1 {
        return Err(format!("{roots} root elements, {depth} left open"));
    }
    Ok(())
}

fn message() -> Value {
    json!({
        "audience": "public", "category": "Safety", "event": "Crowd crush risk",
        "severity": "Severe", "urgency": "Immediate", "certainty": "Observed",
        "headline": "Leave by Via Rizzoli", "description": "Density is high.", "instruction": "Walk east.",
        "language": "en",
        "translations": [{"language": "it", "headline": "Uscite da Via Rizzoli", "description": "Densità alta.",
                          "instruction": "Andate verso est."}],
        "area": {"description": "Piazza Maggiore", "zones": ["piazza-maggiore"]},
        "expires": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
    })
}

impl TestApp {
    async fn post_json_as(&self, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send_json(body).await.expect("request");
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn document(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send().await.expect("request");
        let body = resp.body().limit(16 << 20).await.expect("body");
        (resp.status().as_u16(), String::from_utf8(body.to_vec()).expect("UTF-8"))
    }
}

/// Runs tests/tools/check_cap_atom.py (OASIS schema, feedparser) on one file.
fn python_check(kind: &str, dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/check_cap_atom.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(kind)
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{kind} check failed: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The published CAP document of `id` and the feed pass the standard tools
/// and quick-xml; returns the feed's entries as the feed parser sees them.
async fn feed_and_cap_are_valid(app: &TestApp, id: &str) -> Value {
    let dir = tempfile::tempdir().expect("dir");
    let (status, cap) = app.document(&format!("/api/v1/broadcasts/{id}/cap.xml"), None).await;
    assert_eq!(status, 200, "{cap}");
    well_formed(&cap).unwrap_or_else(|e| panic!("CAP: {e}\n{cap}"));
    python_check("cap", &dir, "message.xml", &cap);
    let (status, atom) = app.document("/api/v1/alerts.atom", None).await;
    assert_eq!(status, 200, "{atom}");
    well_formed(&atom).unwrap_or_else(|e| panic!("Atom: {e}\n{atom}"));
    serde_json::from_str(&python_check("atom", &dir, "alerts.atom", &atom)).expect("entries")
}

#[actix_web::test]
async fn a_forbidden_character_in_any_broadcast_text_is_a_400_naming_its_path_and_the_feed_stays_xml() {
    // Both engines: each stores and lists broadcasts its own way, and the feed
    // is read back from what the engine kept.
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        forbidden_characters_are_refused_and_the_feed_stays_xml(kind).await;
    }
}

async fn forbidden_characters_are_refused_and_the_feed_stays_xml(kind: EngineKind) {
    let app = spawn_app(kind).await;
    let (status, good) = app
        .post_json_as("/api/v1/broadcasts", &message(), Some(&app.operator))
        .await;
    assert_eq!(status, 201, "{good}");
    let cases: [(&[&str], &str, &str); 9] = [
        (&["headline"], "Leave\u{1} now", "headline"),
        (&["description"], "\u{1B}[2J cleared", "description"),
        (&["instruction"], "Walk\u{FFFF}", "instruction"),
        (&["event"], "Crush\u{FFFE}", "event"),
        (&["area", "description"], "Piazza\u{8}", "area.description"),
        (
            &["translations", "0", "headline"],
            "Uscite\u{1}",
            "translations[0].headline",
        ),
        (
            &["translations", "0", "description"],
            "\u{0}",
            "translations[0].description",
        ),
        (
            &["translations", "0", "instruction"],
            "e\u{C}st",
            "translations[0].instruction",
        ),
        (&["headline"], "vertical\u{B}tab", "headline"),
    ];
    for (path, text, field) in cases {
        let mut body = message();
        let mut slot = &mut body;
        for key in path {
            slot = match key.parse::<usize>() {
                Ok(i) => &mut slot[i],
                Err(_) => &mut slot[*key],
            };
        }
        *slot = json!(text);
        let (status, answer) = app.post_json_as("/api/v1/broadcasts", &body, Some(&app.operator)).await;
        assert_eq!(
            (
                status,
                answer["error"]["code"].as_str(),
                answer["error"]["field"].as_str()
            ),
            (400, Some("invalid_text"), Some(field)),
            "{kind:?} {path:?} = {text:?}: {answer}"
        );
    }
    // Nothing refused was kept: one message, and both documents are XML.
    let (_, list) = app.get("/api/v1/broadcasts", None).await;
    assert_eq!(list["broadcasts"].as_array().map(Vec::len), Some(1), "{kind:?}: {list}");
    let entries = feed_and_cap_are_valid(&app, good["id"].as_str().expect("id")).await;
    assert_eq!(entries[0]["title"], "Leave by Via Rizzoli");
    // Tabs and line breaks are text, not control characters: taken.
    let mut body = message();
    body["description"] = json!("Line one\nline two\r\n\tindented");
    assert_eq!(
        app.post_json_as("/api/v1/broadcasts", &body, Some(&app.operator))
            .await
            .0,
        201
    );
}

#[actix_web::test]
async fn a_report_with_an_escape_character_is_a_400_naming_the_field() {
    let app = spawn_app(EngineKind::Memory).await;
    let report = |field: &str, text: &str| {
        let mut r = json!({"lat": 44.4937, "lon": 11.343, "category": "crowd", "text": "busy", "contact": "+39 051"});
        r[field] = json!(text);
        r
    };
    for field in ["text", "contact"] {
        for token in [None, Some(app.commander.as_str())] {
            let (status, answer) = app
                .post_json_as("/api/v1/reports", &report(field, "\u{1B}]0;owned\u{7}"), token)
                .await;
            assert_eq!(
                (
                    status,
                    answer["error"]["code"].as_str(),
                    answer["error"]["field"].as_str()
                ),
                (400, Some("invalid_text"), Some(field)),
                "{answer}"
            );
        }
    }
    let (status, _) = app
        .post_json_as("/api/v1/reports", &report("text", "crowded\tnear the fountain"), None)
        .await;
    assert_eq!(status, 201);
}

#[actix_web::test]
async fn a_post_with_a_noncharacter_is_rejected_by_index_and_its_neighbours_are_taken() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut bad_text = post_at(44.4937, 11.343, "b", Some("x2"));
    bad_text["text"] = json!("crowd\u{FFFE}");
    let mut bad_id = post_at(44.4937, 11.343, "c", Some("x3\u{1}"));
    bad_id["text"] = json!("fine");
    let batch = json!([
        post_at(44.4937, 11.343, "a", Some("x1")),
        bad_text,
        post_at(44.4937, 11.343, "d", Some("x4")),
        bad_id,
    ]);
    let (status, answer) = app.post_json(&batch).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], 2, "{answer}");
    let rejected: Vec<(u64, &str, &str)> = answer["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap_or(99),
                r["code"].as_str().unwrap_or(""),
                r["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(rejected, [(1, "invalid_text", "text"), (3, "invalid_text", "id")]);
}

/// A message written by an older version, with characters today's rules
/// refuse, straight into the engine's log.
fn stored_before_the_rule(id: &str) -> StoredBroadcast {
    serde_json::from_value(json!({
        "id": id, "seq": 0, "sent": chrono::Utc::now().to_rfc3339(), "sender": "old-operator",
        "audience": "public", "msg_type": "Alert", "category": "Safety", "event": "Crush\u{1}",
        "severity": "Severe", "urgency": "Immediate", "certainty": "Observed",
        "headline": "Leave\u{1B}[31m now\u{FFFE}", "description": "a\u{0}b", "instruction": "c\u{FFFF}d",
        "language": "en",
        "translations": [{"language": "it", "headline": "Uscite\u{8}"}],
        "area": {"description": "Piazza\u{1F}", "polygons": [], "circles": [], "zones": ["piazza-maggiore"]},
        "expires": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
    }))
    .expect("a stored broadcast")
}

#[actix_web::test]
async fn a_message_stored_in_redis_before_the_rule_still_gives_valid_cap_and_atom() {
    let app = spawn_app(EngineKind::Redis).await;
    let redis = app.redis.as_ref().expect("redis");
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    let engine = engine_for(&args).await;
    let old = stored_before_the_rule("old-1");
    let body = serde_json::to_string(&old).expect("json");
    engine
        .append_broadcast(&old.id, &body, chrono::Utc::now().timestamp())
        .await
        .expect("appended");
    let listed = eventually(|| async {
        let (_, list) = app.get("/api/v1/broadcasts?active=true", None).await;
        (list["broadcasts"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
    assert!(listed.is_some(), "the old message did not reach the server");
    let entries = feed_and_cap_are_valid(&app, "old-1").await;
    assert_eq!(
        entries[0]["title"], "Leave[31m now",
        "forbidden characters dropped, the rest kept"
    );
    let (_, cap) = app.document("/api/v1/broadcasts/old-1/cap.xml", None).await;
    for kept in [
        "<event>Crush</event>",
        "<description>ab</description>",
        "<areaDesc>Piazza</areaDesc>",
    ] {
        assert!(cap.contains(kept), "{kept} missing from {cap}");
    }
}

fn publisher() -> Publisher {
    Publisher {
        base_url: "https://campanile.example.org".into(),
        sender: "safety@bologna.example".into(),
        status: "Actual".into(),
    }
}

/// Any text at all, control characters and noncharacters included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        prop::collection::vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect()),
        prop::collection::vec(
            prop_oneof![
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or(' ')),
                Just('\u{FFFE}'),
                Just('\u{FFFF}'),
                Just('<'),
                Just('&'),
                Just(']'),
                Just('>'),
                Just('"'),
                "[a-zé]".prop_map(|s| s.chars().next().unwrap_or('a')),
            ],
            0..40
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
}

fn input_with(texts: &[String; 8]) -> Value {
    let mut body = message();
    body["headline"] = json!(texts[0]);
    body["description"] = json!(texts[1]);
    body["instruction"] = json!(texts[2]);
    body["event"] = json!(texts[3]);
    body["area"]["description"] = json!(texts[4]);
    body["translations"][0]["headline"] = json!(texts[5]);
    body["translations"][0]["description"] = json!(texts[6]);
    body["translations"][0]["instruction"] = json!(texts[7]);
    body
}

fn stored(broadcast: campanile::domain::broadcast::Broadcast) -> StoredBroadcast {
    StoredBroadcast {
        id: "b-1".into(),
        seq: 1,
        sent: chrono::Utc::now(),
        sender: "op".into(),
        broadcast,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_accepted_broadcast_renders_as_well_formed_cap_and_atom(texts in prop::array::uniform8(any_text())) {
        let zones = campanile::geodata::load_zones(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/geodata/zones"))).expect("zones");
        let input: BroadcastInput = serde_json::from_value(input_with(&texts)).expect("input");
        if let Ok(broadcast) = input.validate(chrono::Utc::now(), &zones, None) {
            let b = stored(broadcast);
            let cap = campanile::alert::cap::render(&b, None, &zones, &publisher());
            prop_assert!(well_formed(&cap).is_ok(), "{:?}\n{}", well_formed(&cap), cap);
            let atom = campanile::alert::atom::render(std::slice::from_ref(&b), &publisher());
            prop_assert!(well_formed(&atom).is_ok(), "{:?}\n{}", well_formed(&atom), atom);
        } else {
            // Refused only for a reason: some text XML cannot carry, or too long.
            let bad = texts.iter().any(|t| t.trim().chars().any(|c| !allowed_in_xml(c)))
                || [0, 3, 5].iter().any(|&i| texts[i].trim().is_empty());
            prop_assert!(bad, "{texts:?} was refused");
        }
    }

    #[test]
    fn any_stored_text_still_renders_as_well_formed_cap_and_atom(texts in prop::array::uniform8(any_text())) {
        let zones = Zones::default();
        let mut b = stored_before_the_rule("b-2");
        let m = &mut b.broadcast;
        m.headline = texts[0].clone();
        m.description = Some(texts[1].clone());
        m.instruction = Some(texts[2].clone());
        m.event = texts[3].clone();
        m.area.description = texts[4].clone();
        m.translations[0].headline = texts[5].clone();
        m.translations[0].description = Some(texts[6].clone());
        b.id = texts[7].clone();
        let cap = campanile::alert::cap::render(&b, Some(&b), &zones, &publisher());
        prop_assert!(well_formed(&cap).is_ok(), "{:?}\n{}", well_formed(&cap), cap);
        let atom = campanile::alert::atom::render(std::slice::from_ref(&b), &publisher());
        prop_assert!(well_formed(&atom).is_ok(), "{:?}\n{}", well_formed(&atom), atom);
    }
}
