//! Privacy by design (DESIGN §6) as the engines and logs enforce it.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn every_redis_key_with_data_expires_reports_and_broadcasts_included() {
    let app = spawn_app(EngineKind::Redis).await;
    app.post_json(&json!([post_at(44.49, 11.34, "@someone", Some("p1"))]))
        .await;
    let status = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .send_json(
            &json!({"lat": 44.49, "lon": 11.34, "category": "medical", "text": "fainted", "contact": "+39 333 000"}),
        )
        .await
        .expect("report")
        .status();
    assert_eq!(status, 201);
    assert_eq!(
        app.send_broadcast(&minimal_broadcast(), Some(&app.operator)).await.0,
        201
    );
    let redis = app.redis.as_ref().expect("redis");
    let keys = redis.cli(&["--scan"]).expect("scan");
    let mut checked = 0;
    for key in keys.lines() {
        if key == "campanile:{broadcasts}:seq" || key == "campanile:{broadcasts}:epoch" {
            continue; // a counter that must only grow and the random id of its numbering, holding no data about anyone
        }
        let ttl: i64 = redis
            .cli(&["TTL", key])
            .and_then(|t| t.trim().parse().ok())
            .expect("ttl");
        assert!(ttl > 0, "{key} has no expiry");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} keys");
}

#[actix_web::test]
async fn logs_carry_no_author_token_or_contact_even_at_debug_level() {
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_campanile"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CAMPANILE_JWT_SECRET", SECRET)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    // Read the logs while the server writes them: a full pipe would stop it.
    let mut stderr = server.stderr.take().expect("stderr");
    let draining = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut all);
        std::io::Cursor::new(all)
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::default();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up);
    let ingest = token(campanile::domain::Role::Ingest, "connector");
    let author = "@author-who-must-not-appear";
    let contact = "contact-who-must-not-appear@example.org";
    client
        .post(format!("{base}/api/v1/posts"))
        .insert_header(("Authorization", format!("Bearer {ingest}")))
        .send_json(
            &json!([post_at(44.49, 11.34, author, Some("x")), {"source": "s", "lat": 99, "lon": 0, "author": author}]),
        )
        .await
        .expect("posts");
    client
        .post(format!("{base}/api/v1/reports"))
        .send_json(&json!({"lat": 44.49, "lon": 11.34, "category": "other", "contact": contact}))
        .await
        .expect("report");
    client
        .get(format!("{base}/api/v1/heatmap"))
        .bearer_auth("forged.token.value")
        .send()
        .await
        .expect("heatmap");
    let _ = server.kill();
    let mut logs = String::new();
    draining
        .join()
        .expect("stderr reader")
        .read_to_string(&mut logs)
        .expect("logs");
    let _ = server.wait();
    assert!(!logs.is_empty(), "the server logged nothing at debug level");
    for secret in [author, contact, ingest.as_str(), "forged.token.value"] {
        assert!(!logs.contains(secret), "the logs contain {secret}");
    }
}
