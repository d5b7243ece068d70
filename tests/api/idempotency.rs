//! DESIGN §3, Posts: `(source, id)` is the only de-duplication without a
//! key; with `Idempotency-Key` a retry answers as the first time and counts
//! nothing again, and the same key with another body is 422.

use campanile::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;

/// What a POST to `/api/v1/posts` answered: status, whether it was a
/// replay, and the body exactly as sent.
pub struct Answer {
    pub status: u16,
    pub replayed: bool,
    pub raw: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.raw).unwrap_or(Value::Null)
    }
}

/// POSTs a JSON body with the given `Idempotency-Key` header values.
pub async fn post_keyed(app: &TestApp, body: &str, keys: &[&str], token: &str) -> Answer {
    let mut req = app
        .client
        .post(format!("{}/api/v1/posts", app.address))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("Authorization", format!("Bearer {token}")));
    for key in keys {
        req = req.append_header(("Idempotency-Key", *key));
    }
    let mut resp = req.send_body(body.to_owned()).await.expect("request");
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    let raw = resp.body().limit(64 << 20).await.expect("body");
    Answer {
        status,
        replayed,
        raw: String::from_utf8_lossy(&raw).into_owned(),
    }
}

async fn total(app: &TestApp) -> u64 {
    let (status, map) = app.get("/api/v1/heatmap?res=9&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200, "{map}");
    heatmap_total(&map)
}

fn anonymous(lat: f64, lon: f64, text: &str) -> Value {
    json!({"source": "sms", "lat": lat, "lon": lon, "text": text})
}

#[actix_web::test]
async fn posts_without_id_sent_in_separate_requests_are_each_counted() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        // Same words, same place, same 10 s bucket, even the same stamp:
        // three people, not one post three times.
        let ts = chrono::Utc::now().to_rfc3339();
        let mut post = anonymous(44.4937, 11.343, "help at the fountain");
        post["ts"] = ts.into();
        for _ in 0..3 {
            let (status, body) = app.post_json(&post).await;
            assert_eq!(status, 202, "{kind:?}");
            assert_eq!(
                (body["accepted"].as_u64(), body["duplicates"].as_u64()),
                (Some(1), Some(0))
            );
        }
        let mut by_author = post_at(44.4937, 11.343, "@same", None);
        by_author["text"] = "crowded".into();
        for _ in 0..2 {
            assert_eq!(app.post_json(&by_author).await.1["accepted"], 1, "{kind:?}");
        }
        let (_, map) = app.get("/api/v1/heatmap?res=11&window=1m", Some(&app.operator)).await;
        assert_eq!(heatmap_total(&map), 5, "{kind:?}: {map}");
        // Each anonymous post is a contributor of its own; the author is one.
        assert_eq!(map["cells"][0]["contributors"], 4, "{kind:?}: {map}");
    }
}

#[actix_web::test]
async fn a_batch_retried_under_its_idempotency_key_gets_the_first_answer_and_counts_nothing_again() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        let mut posts: Vec<Value> = (0..2_500)
            .map(|i| anonymous(44.49 + f64::from(i % 7) * 0.001, 11.34, "same words"))
            .collect();
        posts.push(json!({"source": "sms", "lat": 95, "lon": 11.34}));
        posts.push(post_at(44.49, 11.34, "a", Some("with-id")));
        let body = json!(posts).to_string();

        let first = post_keyed(&app, &body, &["batch-0001"], &app.ingest).await;
        assert_eq!((first.status, first.replayed), (202, false), "{kind:?}: {}", first.raw);
        let answer = first.json();
        assert_eq!(
            (answer["accepted"].as_u64(), answer["duplicates"].as_u64()),
            (Some(2_501), Some(0)),
            "{kind:?}"
        );
        assert_eq!(answer["rejected"][0]["index"], 2_500);
        let counted = total(&app).await;
        assert_eq!(counted, 2_501, "{kind:?}");

        // The quoted Structured Field form is the same key.
        for key in ["batch-0001", "\"batch-0001\""] {
            let again = post_keyed(&app, &body, &[key], &app.ingest).await;
            assert_eq!((again.status, again.replayed), (202, true), "{kind:?}");
            assert_eq!(again.raw, first.raw, "{kind:?}: the first answer, byte for byte");
        }
        assert_eq!(total(&app).await, counted, "{kind:?}: a retry counts nothing");

        // Without the key the same body is new data: ids are still known.
        let (status, fresh) = app.post_raw(body, "application/json", Some(&app.ingest)).await;
        assert_eq!(
            (fresh["accepted"].as_u64(), fresh["duplicates"].as_u64()),
            (Some(2_500), Some(1)),
            "{kind:?}: {status} {fresh}"
        );
    }
}

#[actix_web::test]
async fn the_same_idempotency_key_with_another_body_is_422_and_counts_nothing() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        let first = json!([anonymous(44.49, 11.34, "one")]).to_string();
        assert_eq!(post_keyed(&app, &first, &["k-1"], &app.ingest).await.status, 202);
        let other = json!([anonymous(44.49, 11.34, "one"), anonymous(44.49, 11.34, "two")]).to_string();
        let refused = post_keyed(&app, &other, &["k-1"], &app.ingest).await;
        assert_eq!(refused.status, 422, "{kind:?}: {}", refused.raw);
        let error = &refused.json()["error"];
        assert_eq!(
            (&error["code"], &error["field"]),
            (&json!("idempotency_key_reused"), &json!("Idempotency-Key")),
        );
        assert_eq!(total(&app).await, 1, "{kind:?}");
        // The first body still gets its answer.
        assert!(post_keyed(&app, &first, &["k-1"], &app.ingest).await.replayed);
    }
}

#[actix_web::test]
async fn a_malformed_or_repeated_idempotency_key_is_400_and_counts_nothing() {
    let app = spawn_app(EngineKind::Memory).await;
    let body = json!([anonymous(44.49, 11.34, "x")]).to_string();
    let long = "k".repeat(256);
    let longest = "k".repeat(255);
    for keys in [
        vec![""],
        vec![long.as_str()],
        vec!["\"\""],
        vec!["\"unterminated"],
        vec!["a\tb"],
        vec!["one", "two"],
    ] {
        let answer = post_keyed(&app, &body, &keys, &app.ingest).await;
        assert_eq!(answer.status, 400, "{keys:?}: {}", answer.raw);
        assert_eq!(answer.json()["error"]["code"], "invalid_idempotency_key", "{keys:?}");
        assert_eq!(answer.json()["error"]["field"], "Idempotency-Key", "{keys:?}");
    }
    // Not ASCII: sent as raw bytes, which the header allows.
    let mut resp = app
        .client
        .post(format!("{}/api/v1/posts", app.address))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("Authorization", format!("Bearer {}", app.ingest)))
        .insert_header((
            "Idempotency-Key",
            awc::http::header::HeaderValue::from_bytes(b"caf\xc3\xa9").expect("opaque bytes"),
        ))
        .send_body(body.clone())
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    let _ = resp.body().await;
    assert_eq!(total(&app).await, 0);
    assert_eq!(post_keyed(&app, &body, &[&longest], &app.ingest).await.status, 202);
}

#[actix_web::test]
async fn one_callers_idempotency_key_neither_reads_nor_blocks_anothers() {
    let app = spawn_app(EngineKind::Redis).await;
    let alice = token(Role::Ingest, "connector-alice");
    let mallory = token(Role::Ingest, "connector-mallory");
    let real = json!([anonymous(44.49, 11.34, "real")]).to_string();
    let first = post_keyed(&app, &real, &["shared-key"], &alice).await;
    assert_eq!((first.status, first.replayed), (202, false));
    // Mallory guesses the key: she gets no replay of Alice's answer and
    // cannot make Alice's retry look like a reuse.
    let poison = json!([anonymous(44.49, 11.34, "fake"), anonymous(44.49, 11.34, "fake")]).to_string();
    let hers = post_keyed(&app, &poison, &["shared-key"], &mallory).await;
    assert_eq!((hers.status, hers.replayed), (202, false), "{}", hers.raw);
    assert_eq!(hers.json()["accepted"], 2);
    let retry = post_keyed(&app, &real, &["shared-key"], &alice).await;
    assert_eq!((retry.status, retry.replayed, &retry.raw), (202, true, &first.raw));
    assert_eq!(total(&app).await, 3);
}

#[actix_web::test]
async fn concurrent_attempts_under_one_key_count_once_and_the_others_get_the_answer_or_409() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app(kind).await;
        let posts: Vec<Value> = (0..5_000)
            .map(|i| anonymous(44.49 + f64::from(i % 11) * 0.001, 11.34, "crowd"))
            .collect();
        let body = json!(posts).to_string();
        let answers =
            futures_util::future::join_all((0..6).map(|_| post_keyed(&app, &body, &["one-batch"], &app.ingest))).await;
        let mut answered = Vec::new();
        for a in &answers {
            match a.status {
                202 => answered.push(a.raw.clone()),
                409 => {
                    assert_eq!(a.json()["error"]["code"], "idempotency_key_in_flight", "{}", a.raw);
                }
                other => panic!("{kind:?}: unexpected {other}: {}", a.raw),
            }
        }
        println!(
            "{kind:?}: {} answered, {} told 409",
            answered.len(),
            answers.len() - answered.len()
        );
        assert!(!answered.is_empty(), "{kind:?}: nobody was answered");
        assert!(answered.iter().all(|a| *a == answered[0]), "{kind:?}: answers differ");
        assert_eq!(total(&app).await, 5_000, "{kind:?}");
        // Once answered, every retry gets that answer.
        let late = post_keyed(&app, &body, &["one-batch"], &app.ingest).await;
        assert_eq!((late.status, late.replayed, &late.raw), (202, true, &answered[0]));
    }
}

#[actix_web::test]
async fn a_retry_under_a_key_after_the_time_bucket_turned_counts_posts_without_ts_in_the_first_attempts_bucket() {
    use campanile::domain::ResolutionRange;
    use campanile::ingest::{BodyFormat, Bucketer, Ingestor, WriteId, split_items};
    use campanile::privacy::AuthorHasher;

    for redis in [None, Some(TestRedis::start())] {
        let mut args = test_args();
        args.bucket = Some("1s".into());
        args.redis_url = redis.as_ref().map(TestRedis::url);
        let engine = engine_for(&args).await;
        let ingestor = Ingestor::new(
            engine.clone(),
            Bucketer::new(ResolutionRange::new(7, 11).expect("range"), 1),
            AuthorHasher::new(b"a test secret of some length"),
            chrono::Duration::hours(24),
        );
        // Two chunks of posts without ts, id or author.
        let body: String = (0..1_500)
            .map(|i| anonymous(44.49, 11.34 + f64::from(i % 3) * 0.01, "no ts").to_string() + "\n")
            .collect();
        let items = || split_items(body.as_bytes(), BodyFormat::Ndjson).expect("items");
        let first_at = chrono::Utc::now();
        let first = ingestor
            .ingest(items(), &WriteId::keyed("sub\0c", "k", first_at))
            .await
            .expect("ingest");
        assert_eq!((first.accepted, first.duplicates), (1_500, 0), "{}", engine.kind());
        // The bucket turns before the client's retry arrives.
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        let retry = ingestor
            .ingest(items(), &WriteId::keyed("sub\0c", "k", first_at))
            .await
            .expect("ingest");
        assert_eq!((retry.accepted, retry.duplicates), (0, 1_500), "{}", engine.kind());
        // Stamped with the retry's own time the posts would have landed in
        // another bucket, under markers never set, and counted again.
        let restamped = ingestor
            .ingest(items(), &WriteId::keyed("sub\0c", "k", chrono::Utc::now()))
            .await
            .expect("ingest");
        assert_eq!(restamped.accepted, 1_500, "{}", engine.kind());
    }
}

/// The Redis deployments a cut-off attempt is tried on: one server, a cluster.
enum Deployment {
    Single(TestRedis),
    Cluster(TestCluster),
}

impl Deployment {
    fn name(&self) -> &'static str {
        match self {
            Deployment::Single(_) => "redis",
            Deployment::Cluster(_) => "redis cluster",
        }
    }

    fn nodes(&self) -> Vec<&TestRedis> {
        match self {
            Deployment::Single(redis) => vec![redis],
            Deployment::Cluster(cluster) => cluster.nodes.iter().collect(),
        }
    }

    /// Runs `redis-cli` on every node.
    fn on_every_node(&self, args: &[&str]) {
        for node in self.nodes() {
            assert!(node.cli(args).is_some(), "redis-cli {args:?} failed");
        }
    }

    fn seen_ids(&self) -> u64 {
        self.nodes().iter().map(|n| n.seen_ids()).sum()
    }

    async fn app(&self) -> TestApp {
        let mut args = test_args();
        match self {
            Deployment::Single(redis) => args.redis_url = Some(redis.url()),
            Deployment::Cluster(cluster) => args.redis_cluster_nodes = Some(cluster.node_urls()),
        }
        args.redis_timeout = Some("5s".into());
        spawn_on(args).await
    }
}

/// `n` posts with ids, no text, spread over a district so that a cluster's
/// every master holds some.
fn posts_with_ids(tag: &str, n: usize) -> String {
    let posts: Vec<Value> = (0..n)
        .map(|i| {
            post_at(
                44.48 + (i % 40) as f64 * 0.0005,
                11.33 + (i / 40 % 40) as f64 * 0.0005,
                &format!("author{}", i % 300),
                Some(&format!("{tag}-{i}")),
            )
        })
        .collect();
    json!(posts).to_string()
}

/// Sends `body` without a key until it is answered 202, as a connector that
/// relies on ids alone would; answers `(accepted, duplicates)`.
async fn sent_until_acknowledged(app: &TestApp, body: &str) -> (u64, u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let answer = post_keyed(app, body, &[], &app.ingest).await;
        if answer.status == 202 {
            let json = answer.json();
            return (
                json["accepted"].as_u64().expect("accepted"),
                json["duplicates"].as_u64().expect("duplicates"),
            );
        }
        assert_eq!(answer.status, 503, "a refusal is retryable: {}", answer.raw);
        assert!(
            std::time::Instant::now() < deadline,
            "never acknowledged: {}",
            answer.raw
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// An attempt cut off after it claimed its posts' ids but before it counted
/// them (here: Redis refuses the command that counts) leaves claims behind. A
/// retry without a key comes with another salt, so it is not the same
/// write; it must still count those posts, once, rather than answer them
/// as duplicates of a write that never happened.
#[actix_web::test]
async fn a_retry_without_a_key_counts_the_posts_a_cut_off_attempt_claimed_but_never_counted() {
    for deployment in [
        Deployment::Single(TestRedis::start()),
        Deployment::Cluster(TestCluster::start()),
    ] {
        let app = deployment.app().await;
        let body = posts_with_ids("cut", 1_500);
        deployment.on_every_node(&["ACL", "SETUSER", "default", "-hincrby"]);
        let first = post_keyed(&app, &body, &[], &app.ingest).await;
        assert_eq!(first.status, 503, "the counting was refused: {}", first.raw);
        // Its first chunk's ids, claimed before the chunk's counts were refused.
        assert_eq!(
            deployment.seen_ids(),
            1_000,
            "the attempt claimed its ids before it failed"
        );
        deployment.on_every_node(&["ACL", "SETUSER", "default", "+@all"]);

        let (accepted, duplicates) = sent_until_acknowledged(&app, &body).await;
        assert_eq!(
            (accepted, duplicates),
            (1_500, 0),
            "nothing of the first attempt counted"
        );
        assert_eq!(total(&app).await, 1_500, "every post counted once");
        // And the retry itself is now what a third sending finds.
        assert_eq!(sent_until_acknowledged(&app, &body).await, (0, 1_500));
        assert_eq!(total(&app).await, 1_500);
    }
}

/// Requests carrying the same ids at the same time (two connectors scraping
/// one feed) count each post once between them, whoever gets there first.
/// A request may be refused (503) when it found another one silent on posts
/// both carry and fenced it; its retry then finds what it stored as
/// duplicates, so only the total, not each answer, is exact.
#[actix_web::test]
async fn concurrent_requests_with_the_same_ids_count_each_post_once() {
    for deployment in [
        None,
        Some(Deployment::Single(TestRedis::start())),
        Some(Deployment::Cluster(TestCluster::start())),
    ] {
        let app = match &deployment {
            None => spawn_app(EngineKind::Memory).await,
            Some(d) => d.app().await,
        };
        let name = deployment.as_ref().map_or("memory", Deployment::name);
        let body = posts_with_ids("race", 2_000);
        let answers = futures_util::future::join_all((0..8).map(|_| sent_until_acknowledged(&app, &body))).await;
        for (accepted, duplicates) in &answers {
            assert_eq!(
                accepted + duplicates,
                2_000,
                "{name}: every post acknowledged: {answers:?}"
            );
        }
        assert!(
            answers.iter().map(|(a, _)| a).sum::<u64>() <= 2_000,
            "{name}: no post accepted twice: {answers:?}"
        );
        assert_eq!(total(&app).await, 2_000, "{name}: each post counted once: {answers:?}");
        // Sent again once they all answered, every post is a duplicate.
        assert_eq!(sent_until_acknowledged(&app, &body).await, (0, 2_000), "{name}");
        assert_eq!(total(&app).await, 2_000, "{name}");
    }
}
