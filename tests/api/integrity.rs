//! Information integrity (DESIGN §10), black-box: post texts for operators
//! only and never an author, trends shown from k contributors, coordinated
//! clusters alerted and discounted exactly, personal data masked and
//! revealed only with a reason, on every engine.

use std::time::Duration;

use campanile::config::ServeArgs;
use serde_json::{Value, json};

use crate::helpers::*;

const MAGGIORE: (f64, f64) = (44.49375, 11.34295);
const NETTUNO: (f64, f64) = (44.49479, 11.34279);
const STATION: (f64, f64) = (44.50552, 11.34268);
const SECOND: Duration = Duration::from_secs(1);

fn text_post((lat, lon): (f64, f64), author: &str, text: &str) -> Value {
    let mut p = post_at(lat, lon, author, None);
    p["text"] = text.into();
    p
}

/// POSTs `body` (JSON) to `path` with `token`.
async fn post(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}{path}", app.address))
        .insert_header(("Content-Type", "application/json"));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = req.send_body(body.to_string()).await.expect("request");
    let status = resp.status().as_u16();
    let bytes = resp.body().limit(16 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn ingest(app: &TestApp, posts: Vec<Value>) {
    let n = posts.len() as u64;
    let (status, body) = app.post_json(&Value::Array(posts)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(n)), "{body}");
}

/// Waits until `read` of `path` satisfies `ok`, returning the last read.
async fn until(app: &TestApp, path: &str, token: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + 15 * SECOND;
    loop {
        let (status, body) = app.get(path, Some(token)).await;
        if status == 200 && ok(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never became as expected; last: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn texts(list: &Value) -> Vec<String> {
    list["posts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[actix_web::test]
async fn operators_read_post_texts_newest_first_filtered_and_never_an_author() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        ingest(
            &app,
            vec![text_post(
                STATION,
                "alice-the-author",
                "Treni fermi alla stazione centrale",
            )],
        )
        .await;
        ingest(
            &app,
            vec![text_post(
                NETTUNO,
                "bob-the-author",
                "Crowd pushing near the Neptune fountain",
            )],
        )
        .await;
        ingest(
            &app,
            vec![
                text_post(MAGGIORE, "carol-the-author", "Police closing Via Rizzoli, go round"),
                post_at(MAGGIORE.0, MAGGIORE.1, "dan", None),
            ],
        )
        .await;

        let all = until(&app, "/api/v1/posts", &app.operator, |b| texts(b).len() == 3).await;
        assert_eq!(
            texts(&all),
            [
                "Police closing Via Rizzoli, go round",
                "Crowd pushing near the Neptune fountain",
                "Treni fermi alla stazione centrale"
            ],
            "newest first, posts without text left out"
        );
        assert!(!all.to_string().contains("-the-author"), "never an author: {all}");
        let first = &all["posts"][0];
        assert_eq!(first["zone"], "piazza-maggiore", "{first}");
        assert_eq!(first["source"], "test");
        assert!(first["id"].as_str().is_some_and(|id| id.contains('-')), "{first}");
        assert_eq!(all["complete"], true);

        for (query, expected) in [
            ("zone=piazza-nettuno", vec!["Crowd pushing near the Neptune fountain"]),
            ("q=RIZZOLI%20round", vec!["Police closing Via Rizzoli, go round"]),
            ("q=rizzoli%20nowhere", vec![]),
            (
                "bbox=11.340,44.503,11.346,44.508",
                vec!["Treni fermi alla stazione centrale"],
            ),
            ("limit=1", vec!["Police closing Via Rizzoli, go round"]),
            ("since=2099-01-01T00:00:00Z", vec![]),
        ] {
            let (status, body) = app.get(&format!("/api/v1/posts?{query}"), Some(&app.operator)).await;
            assert_eq!(status, 200, "{query}: {body}");
            assert_eq!(texts(&body), expected, "{query}");
        }
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("zone=atlantis", "zone"),
            ("since=yesterday", "since"),
            ("bbox=1,2,3", "bbox"),
        ] {
            let (status, body) = app.get(&format!("/api/v1/posts?{query}"), Some(&app.operator)).await;
            assert_eq!(
                (status, body["error"]["field"].as_str()),
                (400, Some(field)),
                "{query}: {body}"
            );
        }
        for token in [Some(app.commander.as_str()), Some(app.ingest.as_str())] {
            assert_eq!(app.get("/api/v1/posts", token).await.0, 403);
        }
        assert_eq!(app.get("/api/v1/posts", None).await.0, 401);
    }
}

#[actix_web::test]
async fn a_post_sent_again_stores_its_text_once() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        let mut p = text_post(NETTUNO, "erin", "Fireworks at the fountain");
        p["id"] = "once".into();
        ingest(&app, vec![p.clone()]).await;
        let (status, body) = app.post_json(&json!([p])).await;
        assert_eq!((status, body["duplicates"].as_u64()), (202, Some(1)), "{body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, list) = app.get("/api/v1/posts", Some(&app.operator)).await;
        assert_eq!(texts(&list), ["Fireworks at the fountain"], "{list}");
    }
}

fn terms_at<'a>(frame: &'a Value, list: &str, key: &str, id: &str) -> Vec<&'a str> {
    frame[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p[key] == id)
        .flat_map(|p| p["terms"].as_array().into_iter().flatten())
        .filter_map(|t| t["term"].as_str())
        .collect()
}

fn every_term(frame: &Value) -> Vec<String> {
    ["zones", "cells"]
        .iter()
        .flat_map(|list| frame[*list].as_array().into_iter().flatten())
        .flat_map(|p| p["terms"].as_array().into_iter().flatten())
        .filter_map(|t| t["term"].as_str().map(str::to_owned))
        .collect()
}

async fn trends_show_from_k_contributors_and_a_burst_ranks_first_where_it_is(app: &TestApp) {
    // k = 5: four contributors are not enough, however often they post.
    let smoke: Vec<Value> = (0..4)
        .flat_map(|i| {
            let author = format!("smoke-{i}");
            vec![
                text_post(NETTUNO, &author, "Fumogeni in piazza, #fumogeni ovunque"),
                text_post(NETTUNO, &author, "Ancora #fumogeni vicino alla fontana"),
            ]
        })
        .collect();
    ingest(app, smoke).await;
    // Background chatter in Piazza Maggiore, and a burst of one hashtag there.
    let chatter: Vec<Value> = (0..6)
        .map(|i| text_post(MAGGIORE, &format!("fan-{i}"), "Il concerto in piazza è bellissimo"))
        .collect();
    ingest(app, chatter).await;
    let burst: Vec<Value> = (0..8)
        .map(|i| text_post(MAGGIORE, &format!("runner-{i}"), "#evacuazione dal lato di via Rizzoli"))
        .collect();
    ingest(app, burst).await;

    let frame = until(app, "/api/v1/trends", &app.operator, |f| {
        terms_at(f, "zones", "zone", "piazza-maggiore").first() == Some(&"#evacuazione")
    })
    .await;
    let maggiore = terms_at(&frame, "zones", "zone", "piazza-maggiore");
    assert!(maggiore.contains(&"concerto"), "{frame}");
    assert!(!terms_at(&frame, "zones", "zone", "piazza-nettuno").contains(&"#evacuazione"));
    let all = every_term(&frame);
    assert!(!all.iter().any(|t| t == "#fumogeni"), "4 contributors < k: {frame}");
    for stop in ["il", "in", "è", "dal", "di", "the", "and", "della"] {
        assert!(!all.iter().any(|t| t == stop), "stop-word {stop:?} shown: {frame}");
    }
    // The hotspot cell (resolution 9 spans both squares) has the burst too.
    let cell = h3o::LatLng::new(MAGGIORE.0, MAGGIORE.1)
        .expect("point")
        .to_cell(h3o::Resolution::Nine)
        .to_string();
    let burst = frame["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["cell"] == cell.as_str())
        .flat_map(|c| c["terms"].as_array().into_iter().flatten())
        .find(|t| t["term"] == "#evacuazione")
        .cloned();
    assert_eq!(burst.map(|t| t["contributors"].clone()), Some(json!(8)), "{frame}");

    // The fifth contributor makes it show, in Nettuno only.
    ingest(app, vec![text_post(NETTUNO, "smoke-4", "#fumogeni anche qui")]).await;
    let frame = until(app, "/api/v1/trends", &app.commander, |f| {
        terms_at(f, "zones", "zone", "piazza-nettuno").contains(&"#fumogeni")
    })
    .await;
    assert!(!terms_at(&frame, "zones", "zone", "piazza-maggiore").contains(&"#fumogeni"));

    let (status, only) = app.get("/api/v1/trends?zone=piazza-nettuno", Some(&app.operator)).await;
    assert_eq!(status, 200);
    assert!(only["zones"].as_array().is_some_and(|z| z.len() == 1), "{only}");
    assert_eq!(app.get("/api/v1/trends", None).await.0, 401);
    assert_eq!(app.get("/api/v1/trends", Some(&app.ingest)).await.0, 403);
}

fn event_languages() -> ServeArgs {
    let mut args = test_args();
    args.languages = Some("it,en".into());
    args
}

#[actix_web::test]
async fn trends_show_from_k_contributors_on_memory() {
    let app = spawn_app_with(EngineKind::Memory, event_languages()).await;
    trends_show_from_k_contributors_and_a_burst_ranks_first_where_it_is(&app).await;
}

#[actix_web::test]
async fn trends_show_from_k_contributors_on_redis() {
    let app = spawn_app_with(EngineKind::Redis, event_languages()).await;
    trends_show_from_k_contributors_and_a_burst_ranks_first_where_it_is(&app).await;
}

#[actix_web::test]
async fn a_node_without_text_analysis_keeps_texts_searchable_and_shows_no_trends() {
    let mut args = event_languages();
    args.text_analysis = Some(false);
    let app = spawn_app_with(EngineKind::Memory, args).await;
    let burst: Vec<Value> = (0..8)
        .map(|i| text_post(MAGGIORE, &format!("runner-{i}"), "#evacuazione dal lato di via Rizzoli"))
        .collect();
    ingest(&app, burst).await;
    let (status, posts) = app.get("/api/v1/posts?q=evacuazione", Some(&app.operator)).await;
    assert_eq!(status, 200);
    assert_eq!(posts["posts"].as_array().map(Vec::len), Some(8), "{posts}");
    // Three ticks and more: a following node would have shown the burst.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, frame) = app.get("/api/v1/trends", Some(&app.operator)).await;
    assert_eq!(status, 200);
    assert!(every_term(&frame).is_empty(), "{frame}");
}

#[actix_web::test]
async fn commanders_follow_the_trends_channel_and_the_public_may_not() {
    let app = spawn_app_with(EngineKind::Memory, event_languages()).await;
    let mut ws = app.ws(Some(&app.commander)).await;
    send(&mut ws, json!({"type": "subscribe", "channel": "trends"})).await;
    assert_eq!(
        next_of_type(&mut ws, "subscribed", 5 * SECOND).await["channel"],
        "trends"
    );
    let snapshot = next_of_type(&mut ws, "trends.snapshot", 5 * SECOND).await;
    assert_eq!(snapshot["window"], "15m");
    let burst: Vec<Value> = (0..5)
        .map(|i| {
            text_post(
                STATION,
                &format!("traveller-{i}"),
                "Binari chiusi, #sciopero in stazione",
            )
        })
        .collect();
    ingest(&app, burst).await;
    let update = next_of_type(&mut ws, "trends.update", 10 * SECOND).await;
    assert!(every_term(&update).contains(&"#sciopero".to_owned()), "{update}");

    let mut public = app.ws(None).await;
    send(&mut public, json!({"type": "subscribe", "channel": "trends"})).await;
    assert_eq!(
        next_of_type(&mut public, "error", 5 * SECOND).await["code"],
        "forbidden"
    );
}

/// Paraphrase-level near-duplicates: punctuation, case, emoji, one word.
fn brigade() -> Vec<String> {
    let base = "Everyone to Piazza Maggiore now the police are beating people near the fountain";
    let swaps = [
        ("Everyone", "EVERYONE"),
        ("now", "now!!!"),
        ("police", "cops"),
        ("beating", "attacking"),
        ("people", "people 😡"),
        ("fountain", "fountain..."),
        ("near", "by"),
        ("Piazza", "piazza"),
    ];
    (0..25)
        .map(|i| {
            let (from, to) = swaps[i % swaps.len()];
            let mut t = base.replacen(from, to, 1);
            if i % 3 == 0 {
                t = format!("{t} 🚨");
            }
            if i % 4 == 1 {
                t = t.to_lowercase();
            }
            if i % 5 == 2 {
                t = t.replace(' ', ",  ");
            }
            t
        })
        .collect()
}

fn unrelated() -> Vec<String> {
    [
        "The band just started playing and the square is full of families",
        "Lost my friend near the fountain, she has a red scarf",
        "Queues at the food trucks on Via dell'Indipendenza are huge",
        "Police are directing people towards the station exit calmly",
        "Great atmosphere tonight, lots of kids dancing near the stage",
        "Rain is starting, people are opening umbrellas in the piazza",
        "The first aid tent by the Montagnola is quiet right now",
        "Someone dropped a phone near the stage, it is at the info desk",
        "Il tram è bloccato in via Ugo Bassi da mezz'ora",
        "Che bello vedere così tanta gente in centro stasera",
        "Traffic is stuck on the ring road, take the train instead",
        "The speakers near the Neptune fountain are too loud for my ears",
        "Volunteers are handing out water bottles at the corner of the square",
        "Il palco è stato montato davanti a San Petronio questa mattina",
        "My bus was diverted, walking the last kilometre to the square",
        "Street vendors selling flags and scarves all along the arcades",
        "Saw a dog wearing a tiny festival hat, best thing today",
        "The screens show the set list, two more songs before the break",
        "La fila per i bagni chimici è lunghissima, portate pazienza",
        "Two ambulances parked behind the town hall just in case",
        "Fireworks are planned at midnight according to the organisers",
        "Phone signal is terrible near the basilica, texts take ages",
        "Le luci sulle torri sono spettacolari da qui",
        "Cyclists are asked to leave their bikes outside the perimeter",
        "Marching band from Modena just arrived with drums and trumpets",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

async fn heatmap_sum(app: &TestApp) -> u64 {
    let (status, map) = app.get("/api/v1/heatmap?res=9", Some(&app.operator)).await;
    assert_eq!(status, 200, "{map}");
    heatmap_total(&map)
}

async fn maggiore(app: &TestApp) -> (u64, u64) {
    let (_, status) = app.get("/api/v1/zones/status", Some(&app.operator)).await;
    let zone = status["zones"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|z| z["id"] == "piazza-maggiore")
        .cloned()
        .unwrap_or_default();
    (
        zone["posts"].as_u64().unwrap_or(0),
        zone["contributors"].as_u64().unwrap_or(0),
    )
}

async fn settle(app: &TestApp, total: u64, zone: (u64, u64)) {
    let deadline = tokio::time::Instant::now() + 15 * SECOND;
    loop {
        let (t, z) = (heatmap_sum(app).await, maggiore(app).await);
        if (t, z) == (total, zone) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected heatmap {total} and zone {zone:?}, saw {t} and {z:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_brigade_is_one_cluster_and_discounting_it_is_exact(app: &TestApp) {
    // Ten genuine people in the square, with texts of their own.
    let genuine: Vec<Value> = unrelated()
        .into_iter()
        .take(10)
        .enumerate()
        .map(|(i, t)| text_post(MAGGIORE, &format!("genuine-{i}"), &t))
        .collect();
    ingest(app, genuine).await;
    let posts: Vec<Value> = brigade()
        .iter()
        .enumerate()
        .map(|(i, t)| text_post(MAGGIORE, &format!("sock-{i}"), t))
        .collect();
    ingest(app, posts).await;

    let list = until(app, "/api/v1/clusters", &app.operator, |b| {
        b["clusters"]
            .as_array()
            .is_some_and(|c| c.len() == 1 && c[0]["size"] == 25)
    })
    .await;
    let cluster = &list["clusters"][0];
    assert_eq!(cluster["contributors"], 25, "{cluster}");
    assert_eq!(cluster["zone"], "piazza-maggiore");
    assert_eq!(cluster["discounted"], false);
    assert!(
        cluster["sample"].as_str().is_some_and(|s| s.contains("police")),
        "{cluster}"
    );
    let id = cluster["id"].as_str().expect("id").to_owned();

    let alerts = until(app, "/api/v1/alerts", &app.commander, |b| {
        b["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["kind"] == "coordination"))
    })
    .await;
    let alert = alerts["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["kind"] == "coordination")
        .expect("the coordination alert");
    assert_eq!(
        (alert["cluster"].as_str(), alert["size"].as_u64()),
        (Some(id.as_str()), Some(25))
    );
    assert_eq!(alert["place"], "Piazza Maggiore", "{alert}");
    assert!(alert["first_seen"].is_string() && alert["cells"].as_array().is_some_and(|c| !c.is_empty()));

    settle(app, 35, (35, 35)).await;
    let path = format!("/api/v1/clusters/{id}/discount");
    let (status, body) = post(app, &path, &json!({}), Some(&app.operator)).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("reason")),
        "{body}"
    );
    assert_eq!(
        post(app, &path, &json!({"reason": "r"}), Some(&app.commander)).await.0,
        403
    );
    let (status, body) = post(app, &path, &json!({"reason": "25 sock puppets"}), Some(&app.operator)).await;
    assert_eq!((status, body["discounted"].as_bool()), (200, Some(true)), "{body}");
    settle(app, 10, (10, 10)).await;
    // Asked again (a double click, another operator): nothing more is taken.
    assert_eq!(
        post(app, &path, &json!({"reason": "again"}), Some(&app.operator))
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    settle(app, 10, (10, 10)).await;
    let (_, posts) = app
        .get("/api/v1/posts?zone=piazza-maggiore&limit=100", Some(&app.operator))
        .await;
    let flagged = posts["posts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["discounted"] == true)
        .count();
    assert_eq!(flagged, 25, "{posts}");

    let restore = format!("/api/v1/clusters/{id}/restore");
    let (status, body) = post(app, &restore, &json!({"reason": "they were real"}), Some(&app.operator)).await;
    assert_eq!((status, body["discounted"].as_bool()), (200, Some(false)), "{body}");
    settle(app, 35, (35, 35)).await;
    // A second decision is a change of its own.
    post(
        app,
        &path,
        &json!({"reason": "on second thoughts"}),
        Some(&app.operator),
    )
    .await;
    settle(app, 10, (10, 10)).await;

    let (_, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["detail"]["cluster"] == id.as_str())
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["cluster.discount", "cluster.restore", "cluster.discount"],
        "{audit}"
    );
    assert_eq!(
        post(
            app,
            "/api/v1/clusters/c0000/discount",
            &json!({"reason": "x"}),
            Some(&app.operator)
        )
        .await
        .0,
        404
    );
}

#[actix_web::test]
async fn a_brigade_is_discounted_exactly_on_memory() {
    a_brigade_is_one_cluster_and_discounting_it_is_exact(&spawn_app(EngineKind::Memory).await).await;
}

#[actix_web::test]
async fn a_brigade_is_discounted_exactly_on_redis() {
    a_brigade_is_one_cluster_and_discounting_it_is_exact(&spawn_app(EngineKind::Redis).await).await;
}

#[actix_web::test]
async fn a_brigade_is_discounted_exactly_on_a_redis_cluster() {
    let cluster = TestCluster::start();
    let mut args = test_args();
    args.redis_cluster_nodes = Some(cluster.node_urls());
    a_brigade_is_one_cluster_and_discounting_it_is_exact(&spawn_on(args).await).await;
}

#[actix_web::test]
async fn twenty_five_unrelated_texts_make_no_cluster() {
    let app = spawn_app(EngineKind::Memory).await;
    let posts: Vec<Value> = unrelated()
        .iter()
        .enumerate()
        .map(|(i, t)| text_post(MAGGIORE, &format!("person-{i}"), t))
        .collect();
    ingest(&app, posts).await;
    until(&app, "/api/v1/posts?limit=100", &app.operator, |b| texts(b).len() == 25).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, list) = app.get("/api/v1/clusters", Some(&app.operator)).await;
    assert_eq!(list["clusters"], json!([]), "{list}");
    let (_, alerts) = app.get("/api/v1/alerts", Some(&app.operator)).await;
    assert!(
        !alerts["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["kind"] == "coordination"),
        "{alerts}"
    );
}

#[actix_web::test]
async fn personal_data_is_masked_kept_out_of_trends_and_revealed_only_with_a_reason() {
    let app = spawn_app(EngineKind::Memory).await;
    let doxx = "The guy who threw the bottle is Marco, call him on +39 333 555 0142 or marco.r@example.org #caccia";
    let posts: Vec<Value> = (0..6)
        .map(|i| text_post(NETTUNO, &format!("hunter-{i}"), doxx))
        .collect();
    ingest(&app, posts).await;
    let list = until(&app, "/api/v1/posts", &app.operator, |b| texts(b).len() == 6).await;
    let first = &list["posts"][0];
    let shown = first["text"].as_str().unwrap_or_default();
    assert!(!shown.contains("555 0142") && !shown.contains("example.org"), "{first}");
    assert!(shown.contains("[phone]") && shown.contains("[e-mail]"), "{first}");
    assert_eq!(first["personal_data"], json!(["phone", "email"]), "{first}");

    // Six contributors used #caccia, but in texts that hunt a person: never a trend.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, frame) = app.get("/api/v1/trends", Some(&app.operator)).await;
    assert!(!every_term(&frame).iter().any(|t| t == "#caccia"), "{frame}");

    let id = first["id"].as_str().expect("id");
    let path = format!("/api/v1/posts/{id}/reveal");
    let (status, body) = post_to(&app, &path, &json!({"reason": ""})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("reason")),
        "{body}"
    );
    assert_eq!(
        post(&app, &path, &json!({"reason": "x"}), Some(&app.commander)).await.0,
        403
    );
    assert_eq!(
        post(
            &app,
            "/api/v1/posts/1-1/reveal",
            &json!({"reason": "x"}),
            Some(&app.operator)
        )
        .await
        .0,
        404
    );
    let (status, body) = post_to(&app, &path, &json!({"reason": "threat to life: identify the caller"})).await;
    assert_eq!((status, body["text"].as_str()), (200, Some(doxx)), "{body}");
    let (_, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
    let reveal = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "post.reveal")
        .expect("the reveal is audited");
    assert_eq!(reveal["detail"]["reason"], "threat to life: identify the caller");
    assert_eq!(reveal["detail"]["post"], id);
    assert!(
        !reveal.to_string().contains("555 0142"),
        "the audit names the post, not its data"
    );
}

async fn post_to(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    post(app, path, body, Some(&app.operator)).await
}

/// Reads every frame `ws` gets for `quiet` after the last.
async fn frames_for(ws: &mut Ws, quiet: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(msg) = tokio::time::timeout(quiet, next_json(ws, 60 * SECOND)).await {
        got.push(msg);
    }
    got
}

#[actix_web::test]
async fn no_surface_shows_a_phone_number_or_an_email_to_anyone_but_an_operator() {
    use campanile::integrity::pii::contains_contact;
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app_with(kind, event_languages()).await;
        let mut commander_ws = app.ws(Some(&app.commander)).await;
        for channel in ["reports", "alerts", "trends"] {
            send(&mut commander_ws, json!({"type": "subscribe", "channel": channel})).await;
        }
        let doxx = "Call Giulia on 333 555 0178 or giulia.b@example.com, she saw the #incendio";
        let posts: Vec<Value> = (0..6)
            .map(|i| text_post(NETTUNO, &format!("witness-{i}"), doxx))
            .collect();
        ingest(&app, posts).await;
        let brigade: Vec<Value> = brigade()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                text_post(
                    MAGGIORE,
                    &format!("sock-{i}"),
                    &format!("{t} write to rally@example.org"),
                )
            })
            .collect();
        ingest(&app, brigade).await;
        let (status, report) = post(
            &app,
            "/api/v1/reports",
            &json!({"lat": NETTUNO.0, "lon": NETTUNO.1, "category": "fire",
                    "text": "Smoke behind the fountain, ring me +44 7700 900123 or me@example.net",
                    "contact": "+44 7700 900123"}),
            None,
        )
        .await;
        assert_eq!(status, 201, "{report}");
        let id = report["id"].as_str().expect("id");
        let mut req = app
            .client
            .patch(format!("{}/api/v1/reports/{id}", app.address))
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Authorization", format!("Bearer {}", app.operator)));
        req = req.timeout(Duration::from_secs(10));
        let resp = req
            .send_body(json!({"status": "verified"}).to_string())
            .await
            .expect("moderation");
        assert_eq!(resp.status().as_u16(), 200);
        let (status, field) = post(
            &app,
            "/api/v1/reports",
            &json!({"lat": MAGGIORE.0, "lon": MAGGIORE.1, "category": "crowd",
                    "text": "Lost child, mother on 051 555 0199, plate AB 123 CD"}),
            Some(&app.commander),
        )
        .await;
        assert_eq!(status, 201, "{field}");
        // The operator sees what there is to see: the clusters and the texts exist.
        until(&app, "/api/v1/clusters", &app.operator, |b| {
            b["clusters"].as_array().is_some_and(|c| !c.is_empty())
        })
        .await;

        let paths = [
            "/api/v1/heatmap?res=9",
            "/api/v1/heatmap?res=9&format=geojson",
            "/api/v1/zones/status",
            "/api/v1/zones",
            "/api/v1/event",
            "/api/v1/reports",
            "/api/v1/alerts",
            "/api/v1/alerts.atom",
            "/api/v1/trends",
            "/api/v1/broadcasts",
            "/api/v1/clusters",
            "/api/v1/posts",
            "/api/v1/calibration",
            "/api/v1/stats/ingest",
            "/api/v1/audit",
        ];
        for token in [None, Some(app.ingest.as_str()), Some(app.commander.as_str())] {
            for path in paths {
                let (_, body) = app.get(path, token).await;
                assert!(!contains_contact(&body.to_string()), "{path} as {token:?}: {body}");
            }
        }
        let (_, reports) = app.get("/api/v1/reports", Some(&app.commander)).await;
        assert!(
            reports.to_string().contains("[phone]"),
            "the commander reads the report, masked: {reports}"
        );
        for frame in frames_for(&mut commander_ws, 2 * SECOND).await {
            assert!(!contains_contact(&frame.to_string()), "a commander's frame: {frame}");
        }
    }
}

/// What a hostile operator token's holder, or a script with one, might send
/// to the texts and decisions: each refused in the envelope, naming the
/// field, and nothing revealed or decided.
#[actix_web::test]
async fn hostile_searches_reasons_and_ids_are_refused_in_the_envelope() {
    let app = spawn_app(EngineKind::Memory).await;
    ingest(
        &app,
        vec![text_post(NETTUNO, "victim", "Call me on 333 555 0199 #help")],
    )
    .await;
    let list = until(&app, "/api/v1/posts", &app.operator, |b| texts(b).len() == 1).await;
    let id = list["posts"][0]["id"].as_str().expect("id").to_owned();
    let reveal = format!("/api/v1/posts/{id}/reveal");

    let long_query = format!("/api/v1/posts?q={}", "a".repeat(201));
    let (status, body) = app.get(&long_query, Some(&app.operator)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("q")), "{body}");

    for reason in [
        json!("why\u{1b}[2J"),
        json!("x".repeat(501)),
        json!(42),
        json!(null),
        json!("   "),
    ] {
        let (status, body) = post(&app, &reveal, &json!({"reason": reason}), Some(&app.operator)).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some("reason")),
            "{reason}: {body}"
        );
    }
    let (status, body) = post(&app, &reveal, &json!([{"reason": "an array"}]), Some(&app.operator)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
    let (status, _) = post(
        &app,
        &reveal,
        &json!({"reason": "ok", "also": "this"}),
        Some(&app.operator),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused");
    let huge = json!({"reason": "y".repeat(8 * 1024)});
    assert_eq!(post(&app, &reveal, &huge, Some(&app.operator)).await.0, 413);
    for forged in ["abc", "1-", "99999999999999999999999-0", "1-1%2F..%2Fetc"] {
        let path = format!("/api/v1/posts/{forged}/reveal");
        let (status, body) = post(&app, &path, &json!({"reason": "probe"}), Some(&app.operator)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{forged}: {body}"
        );
    }
    let (status, body) = post(
        &app,
        "/api/v1/clusters/c1/discount",
        &json!({"reason": "\u{0}"}),
        Some(&app.operator),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("reason")),
        "{body}"
    );

    // None of it revealed anything or reached the audit log.
    let (_, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
    assert!(
        !audit["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "post.reveal"),
        "{audit}"
    );
}
