//! What the server hands out besides the API (DESIGN §7): the pages and the
//! library files they load and nothing else of `web/`; `/metrics` to
//! operators or on its own address; links in feeds from `--public-url`,
//! never from the request.

use serde_json::{Value, json};

use crate::helpers::*;

const PUBLIC_URL: &str = "https://campanile.example.org";

/// A GET written byte for byte ([`raw`]): status, head in lower case, body.
async fn raw_get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let answer = raw(port, "GET", path, headers).await;
    (
        answer.status,
        answer.head.to_ascii_lowercase(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

fn web_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web"))
}

/// Every `/vendor/…` and `/shared/…` path the pages and their scripts name.
fn paths_the_pages_load() -> Vec<String> {
    let mut sources = vec![
        web_dir().join("index.html"),
        web_dir().join("ops/index.html"),
        web_dir().join("field/index.html"),
        web_dir().join("rumours/index.html"),
    ];
    for entry in std::fs::read_dir(web_dir().join("shared")).expect("web/shared") {
        sources.push(entry.expect("entry").path());
    }
    let mut paths = Vec::new();
    for source in sources {
        let text = std::fs::read_to_string(&source).unwrap_or_default();
        for prefix in ["\"/vendor/", "\"/shared/", "\"/favicon"] {
            for (at, _) in text.match_indices(prefix) {
                let rest = &text[at + 1..];
                if let Some(end) = rest.find('"') {
                    paths.push(rest[..end].to_owned());
                }
            }
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

#[actix_web::test]
async fn the_pages_and_every_library_file_they_load_are_served() {
    let app = spawn_app(EngineKind::Memory).await;
    let loaded = paths_the_pages_load();
    for needed in [
        "/vendor/maplibre-gl/maplibre-gl.mjs",
        "/vendor/maplibre-gl/maplibre-gl.css",
        "/vendor/h3-js/h3-js.es.js",
    ] {
        assert!(
            loaded.iter().any(|p| p == needed),
            "{needed} not found in the pages: {loaded:?}"
        );
    }
    let pages = ["/", "/index.html", "/ops/", "/field/", "/rumours/", "/favicon.svg"];
    // MapLibre starts its worker from the file beside its module.
    let worker = "/vendor/maplibre-gl/maplibre-gl-worker.mjs";
    for path in pages
        .iter()
        .copied()
        .chain(loaded.iter().map(String::as_str))
        .chain([worker])
    {
        let (status, head, body) = raw_get(app.port, path, &[]).await;
        assert_eq!(
            status, 200,
            "{path} must be served (web/node_modules comes from `npm ci` in web/): {body:.200}"
        );
        assert!(!body.is_empty(), "{path} is empty");
        if path.ends_with(".mjs") || path.ends_with(".js") {
            assert!(
                head.contains("content-type: text/javascript") || head.contains("content-type: application/javascript"),
                "{path}: {head}"
            );
        }
    }
    for folder in ["/ops", "/rumours"] {
        let (status, head, _) = raw_get(app.port, folder, &[]).await;
        assert_eq!(status, 302, "{folder}");
        assert!(head.contains(&format!("location: {folder}/")), "{head}");
    }
}

#[actix_web::test]
async fn nothing_else_of_web_is_served_however_the_path_is_spelt() {
    let app = spawn_app(EngineKind::Memory).await;
    for path in [
        "/package.json",
        "/package-lock.json",
        "/tests/pages.test.mjs",
        "/tests/",
        "/node_modules/.package-lock.json",
        "/node_modules/maplibre-gl/package.json",
        "/node_modules/playwright-core/package.json",
        "/vendor/../package.json",
        "/vendor/maplibre-gl/../../package.json",
        "/vendor/maplibre-gl/../../../Cargo.toml",
        "/vendor/%2e%2e/package.json",
        "/%2e%2e/package.json",
        "/%2E%2E/%2E%2E/Cargo.toml",
        "/shared/%2e%2e/package.json",
        "/shared/..%2fpackage.json",
        "/ops/../package.json",
        "/ops/%2e%2e/tests/pages.test.mjs",
        "/vendor/maplibre-gl/%2e%2e/package.json",
        "/vendor/maplibre-gl/package.json",
        "/vendor/maplibre-gl/maplibre-gl-dev.mjs",
        "/vendor/maplibre-gl/maplibre-gl.d.ts",
        "/vendor/maplibre-gl/dist/maplibre-gl.mjs",
        "/vendor/h3-js/h3-js.js",
        "/vendor/h3-js/../h3-js/package.json",
        "/vendor/playwright-core/index.js",
        "/vendor/axe-core/axe.min.js",
        "/vendor/",
        "/shared/",
        "/shared/.hidden",
        "/web/package.json",
        "/index.html/../package.json",
    ] {
        let (status, _, body) = raw_get(app.port, path, &[]).await;
        assert_eq!(status, 404, "{path}: {body:.300}");
        let envelope: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(envelope["error"]["code"], "not_found", "{path}: {body:.300}");
        // The envelope names the path asked for, never what is at it.
        for leak in ["dependencies", "lockfileVersion", "[package]", "node:test"] {
            assert!(!body.contains(leak), "{path} leaked: {body:.300}");
        }
    }
}

#[actix_web::test]
async fn metrics_need_an_operator_token_on_the_main_listener() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, body) = app.get("/metrics", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );
    for token in [&app.commander, &app.ingest] {
        let (status, body) = app.get("/metrics", Some(token)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    let (status, _, body) = raw_get(app.port, "/metrics", &[("Authorization", "Bearer not-a-token")]).await;
    assert_eq!(status, 401, "{body}");
    let bearer = format!("Bearer {}", app.operator);
    let (status, head, body) = raw_get(app.port, "/metrics", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 200, "{body:.300}");
    assert!(head.contains("content-type: text/plain"), "{head}");
}

#[actix_web::test]
async fn metrics_listen_serves_only_metrics_and_without_a_token() {
    let metrics_port = free_port();
    let mut args = test_args();
    args.metrics_listen = Some(format!("127.0.0.1:{metrics_port}"));
    let app = spawn_app_with(EngineKind::Memory, args).await;
    app.post_json(&json!([post_at(44.49, 11.34, "a", Some("m1"))])).await;

    let (status, _, text) = raw_get(metrics_port, "/metrics", &[]).await;
    assert_eq!(status, 200, "{text:.300}");
    assert!(text.contains("campanile_posts_accepted_total"), "{text:.500}");
    for path in [
        "/",
        "/healthz",
        "/api/v1/heatmap",
        "/api/v1/alerts.atom",
        "/package.json",
        "/metrics/../healthz",
    ] {
        let (status, _, body) = raw_get(metrics_port, path, &[]).await;
        let envelope: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(
            (status, envelope["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {body}"
        );
    }
    let mut post = app
        .client
        .post(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(post.status().as_u16(), 405);
    let body: Value = post.json().await.expect("envelope");
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // The main listener still answers operators, and only them.
    assert_eq!(app.get("/metrics", None).await.0, 401);
    let bearer = format!("Bearer {}", app.operator);
    assert_eq!(
        raw_get(app.port, "/metrics", &[("Authorization", &bearer)]).await.0,
        200
    );
}

/// Every absolute URL in `doc`, as written (attribute or element text),
/// and any mention of the attacker's host; namespace names are not links.
fn urls(doc: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for scheme in ["http://", "https://", "evil.example"] {
        for (at, _) in doc.match_indices(scheme) {
            if doc[..at].ends_with("xmlns=\"") {
                continue;
            }
            let end = doc[at..].find(['"', '<', ' ']).map_or(doc.len(), |e| at + e);
            found.push(&doc[at..end]);
        }
    }
    found
}

const EVIL_HEADERS: [(&str, &str); 5] = [
    ("Host", "evil.example"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "http"),
    ("Forwarded", "for=127.0.0.1;host=evil.example;proto=http"),
    ("X-Forwarded-For", "203.0.113.9"),
];

#[actix_web::test]
async fn feed_and_cap_links_come_from_public_url_whatever_host_the_request_names() {
    let mut args = test_args();
    args.public_url = Some(format!("{PUBLIC_URL}/"));
    // Even from a trusted proxy, a forwarded host is not where links point.
    args.trusted_proxies = Some("127.0.0.1".into());
    let app = spawn_app_with(EngineKind::Memory, args).await;
    let mut ids = Vec::new();
    for audience in ["public", "responders"] {
        let mut body = minimal_broadcast();
        body["audience"] = json!(audience);
        let (status, sent) = app.post_json_as_operator_for_links(&body).await;
        assert_eq!(status, 201, "{sent}");
        ids.push(sent["id"].as_str().expect("id").to_owned());
    }
    let (status, _, atom) = raw_get(app.port, "/api/v1/alerts.atom", &EVIL_HEADERS).await;
    assert_eq!(status, 200, "{atom}");
    let bearer = format!("Bearer {}", app.operator);
    let mut evil_with_token = EVIL_HEADERS.to_vec();
    evil_with_token.push(("Authorization", &bearer));
    let mut documents = vec![("atom".to_owned(), atom)];
    for id in &ids {
        let (status, _, cap) = raw_get(app.port, &format!("/api/v1/broadcasts/{id}/cap.xml"), &evil_with_token).await;
        assert_eq!(status, 200, "{cap}");
        documents.push((id.clone(), cap));
    }
    for (name, doc) in &documents {
        let found = urls(doc);
        assert!(!found.is_empty(), "{name} has no link at all: {doc}");
        for url in found {
            assert!(url.starts_with(&format!("{PUBLIC_URL}/")), "{name}: {url} in {doc}");
        }
    }
    let atom = &documents[0].1;
    assert!(
        atom.contains(&format!(r#"href="{PUBLIC_URL}/api/v1/broadcasts/{}/cap.xml""#, ids[0])),
        "{atom}"
    );
    assert!(
        atom.contains(&format!("<id>{PUBLIC_URL}/api/v1/alerts.atom</id>")),
        "{atom}"
    );
    assert!(
        documents[1].1.contains(&format!("<web>{PUBLIC_URL}/</web>")),
        "{}",
        documents[1].1
    );
    assert!(
        documents[2].1.contains(&format!("<web>{PUBLIC_URL}/field/</web>")),
        "{}",
        documents[2].1
    );
}

#[actix_web::test]
async fn without_public_url_links_point_at_the_bound_listen_address() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, sent) = app.post_json_as_operator_for_links(&minimal_broadcast()).await;
    assert_eq!(status, 201, "{sent}");
    let (_, _, atom) = raw_get(app.port, "/api/v1/alerts.atom", &EVIL_HEADERS).await;
    let own = format!("http://127.0.0.1:{}/", app.port);
    for url in urls(&atom) {
        assert!(url.starts_with(&own), "{url} in {atom}");
    }
}

#[test]
fn serve_refuses_to_start_with_a_public_url_it_cannot_put_in_links() {
    for (how, value) in [
        ("flag", "campanile.example.org"),
        ("flag", "ftp://campanile.example.org"),
        ("env", "https://campanile.example.org/?utm=1"),
        ("env", "https://campanile.example.org/#top"),
    ] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_campanile"));
        cmd.args(["serve", "--ephemeral", "--listen", "127.0.0.1:0"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CAMPANILE_JWT_SECRET", SECRET)
            .env("RUST_LOG", "error");
        match how {
            "flag" => cmd.args(["--public-url", value]),
            _ => cmd.env("CAMPANILE_PUBLIC_URL", value),
        };
        let out = cmd.output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{value} was taken");
        assert!(stderr.contains("public_url"), "{value}: {stderr}");
    }
}

impl TestApp {
    async fn post_json_as_operator_for_links(&self, body: &Value) -> (u16, Value) {
        let mut resp = self
            .client
            .post(format!("{}/api/v1/broadcasts", self.address))
            .insert_header(("Authorization", format!("Bearer {}", self.operator)))
            .send_json(body)
            .await
            .expect("request");
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }
}
