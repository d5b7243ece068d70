//! The base map (DESIGN §11): an operator's PMTiles archive served at
//! `/basemap.pmtiles` with HTTP range requests (RFC 9110 §14) and nothing
//! else beside it, a start-up refusal of a file that is no archive, an
//! operator's style, and `basemap` in `GET /api/v1/event`.
//!
//! The archive is made by `tests/tools/make_pmtiles.py` with the `pmtiles`
//! PyPI package from the demo's streets, so the server is checked against
//! another implementation of the format.

use std::path::{Path, PathBuf};
use std::process::Command;

use campanile::config::{ServeArgs, Settings};

use crate::helpers::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Writes a PMTiles archive of the demo's streets into `dir`.
fn make_pmtiles(dir: &Path) -> PathBuf {
    let target = dir.join("bologna.pmtiles");
    let out = Command::new("python3")
        .arg(Path::new(ROOT).join("tests/tools/make_pmtiles.py"))
        .arg(Path::new(ROOT).join("geodata/basemap/bologna-streets.geojson"))
        .arg(&target)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "make_pmtiles.py failed (python3 -m pip install pmtiles mapbox-vector-tile): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    target
}

fn with_basemap(path: &Path) -> ServeArgs {
    ServeArgs {
        basemap: Some(path.to_owned()),
        ..test_args()
    }
}

#[actix_web::test]
async fn the_event_names_the_built_in_map_by_default_and_it_is_served() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, event) = app.get("/api/v1/event", None).await;
    assert_eq!(status, 200);
    assert_eq!(event["basemap"]["kind"], "builtin", "{event}");
    let url = event["basemap"]["url"].as_str().expect("url");
    let (status, streets) = app.get(url, None).await;
    assert_eq!(status, 200, "{url}");
    assert!(
        streets["features"]
            .as_array()
            .expect("features")
            .iter()
            .any(|f| f["properties"]["name"] == "Via Rizzoli"),
        "the built-in map carries names"
    );
    // No archive configured: nothing at its path.
    assert_eq!(raw(app.port, "GET", "/basemap.pmtiles", &[]).await.status, 404);
}

#[actix_web::test]
async fn the_archive_is_served_in_ranges_as_http_asks() {
    let dir = tempfile::tempdir().expect("dir");
    let file = make_pmtiles(dir.path());
    let bytes = std::fs::read(&file).expect("archive");
    let len = bytes.len();
    let app = spawn_on(with_basemap(&file)).await;

    let (status, event) = app.get("/api/v1/event", None).await;
    assert_eq!(status, 200);
    assert_eq!(event["basemap"]["kind"], "pmtiles", "{event}");
    assert_eq!(event["basemap"]["url"], "/basemap.pmtiles");

    // Whole: 200, says it takes ranges.
    let whole = raw(app.port, "GET", "/basemap.pmtiles", &[]).await;
    assert_eq!(whole.status, 200, "{}", whole.head);
    assert_eq!(whole.body, bytes);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-type"), Some("application/octet-stream"));
    assert!(whole.header("content-disposition").is_none(), "{}", whole.head);

    // The header, as the pages' reader first asks for it.
    let header = raw(app.port, "GET", "/basemap.pmtiles", &[("Range", "bytes=0-126")]).await;
    assert_eq!(header.status, 206, "{}", header.head);
    let content_range = format!("bytes 0-126/{len}");
    assert_eq!(header.header("content-range"), Some(content_range.as_str()));
    assert_eq!(header.header("content-length"), Some("127"));
    assert_eq!(header.body, bytes[..127]);
    assert!(header.body.starts_with(b"PMTiles\x03"));

    // A piece in the middle, and the last bytes by suffix.
    let middle = raw(app.port, "GET", "/basemap.pmtiles", &[("Range", "bytes=200-299")]).await;
    assert_eq!(middle.status, 206);
    assert_eq!(middle.body, bytes[200..300]);
    let tail = raw(app.port, "GET", "/basemap.pmtiles", &[("Range", "bytes=-10")]).await;
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, bytes[len - 10..]);
    let content_range = format!("bytes {}-{}/{len}", len - 10, len - 1);
    assert_eq!(tail.header("content-range"), Some(content_range.as_str()));

    // A range that covers the whole archive (the reader's first read of
    // 16 KiB may): all of it, as 200, which RFC 9110 lets a server answer.
    let all = raw(app.port, "GET", "/basemap.pmtiles", &[("Range", "bytes=0-1048575")]).await;
    assert!([200, 206].contains(&all.status), "{}", all.head);
    assert_eq!(all.body, bytes);

    // A range past the end: 416, naming the length.
    let past = format!("bytes={len}-{}", len + 100);
    let beyond = raw(app.port, "GET", "/basemap.pmtiles", &[("Range", &past)]).await;
    assert_eq!(beyond.status, 416, "{}", beyond.head);
    let unsatisfied = format!("bytes */{len}");
    assert_eq!(beyond.header("content-range"), Some(unsatisfied.as_str()));

    // HEAD: the length, no body.
    let head = raw(app.port, "HEAD", "/basemap.pmtiles", &[]).await;
    assert_eq!(head.status, 200);
    let length = len.to_string();
    assert_eq!(head.header("content-length"), Some(length.as_str()));
    assert!(head.body.is_empty());

    // If-Range: a range while the file is the one the reader saw, the whole
    // file once it has changed (here: a validator it never had).
    let etag = whole.header("etag").expect("an ETag").to_owned();
    let same = raw(
        app.port,
        "GET",
        "/basemap.pmtiles",
        &[("Range", "bytes=0-9"), ("If-Range", &etag)],
    )
    .await;
    assert_eq!(same.status, 206, "{}", same.head);
    let changed = raw(
        app.port,
        "GET",
        "/basemap.pmtiles",
        &[("Range", "bytes=0-9"), ("If-Range", "\"not-the-file\"")],
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.head);
    assert_eq!(changed.body.len(), len);
    let weak = format!("W/{etag}");
    let modified = whole.header("last-modified").expect("Last-Modified").to_owned();
    for (condition, status) in [
        (weak.as_str(), 200),
        (modified.as_str(), 206),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 200),
        ("yesterday", 200),
    ] {
        let answer = raw(
            app.port,
            "GET",
            "/basemap.pmtiles",
            &[("Range", "bytes=0-9"), ("If-Range", condition)],
        )
        .await;
        assert_eq!(answer.status, status, "If-Range {condition}: {}", answer.head);
    }

    // Writes are refused in the envelope.
    let post = raw(app.port, "POST", "/basemap.pmtiles", &[("Content-Length", "0")]).await;
    assert_eq!(post.status, 405);
    assert!(String::from_utf8_lossy(&post.body).contains("\"error\""));
}

#[actix_web::test]
async fn hostile_ranges_get_an_answer_and_never_more_than_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let file = make_pmtiles(dir.path());
    let len = std::fs::metadata(&file).expect("archive").len() as usize;
    let app = spawn_on(with_basemap(&file)).await;
    let many = (0..500).map(|i| format!("{i}-{i}")).collect::<Vec<_>>().join(",");
    let many = format!("bytes={many}");
    let huge = "bytes=0-99999999999999999999999999".to_owned();
    for range in [
        "bytes=9-3",
        "bytes=abc",
        "items=0-10",
        "bytes=--5",
        "bytes=0-0\r\nX-Injected: 1",
        huge.as_str(),
        many.as_str(),
    ] {
        // A header with CR LF inside is two headers on the wire: the test
        // writes it so, as an attacker would.
        let answer = raw(app.port, "GET", "/basemap.pmtiles", &[("Range", range)]).await;
        assert!(
            [200, 206, 400, 416].contains(&answer.status),
            "{range:?}: {}",
            answer.head
        );
        assert!(answer.body.len() <= len, "{range:?}: {} bytes", answer.body.len());
        assert!(!answer.head.to_ascii_lowercase().contains("x-injected"), "{range:?}");
    }
    // The server is still there.
    assert_eq!(raw(app.port, "GET", "/basemap.pmtiles", &[]).await.status, 200);
}

#[actix_web::test]
async fn nothing_beside_the_archive_is_reachable() {
    let dir = tempfile::tempdir().expect("dir");
    let file = make_pmtiles(dir.path());
    std::fs::write(dir.path().join("secret.txt"), "operator notes").expect("write");
    let app = spawn_on(with_basemap(&file)).await;
    for path in [
        "/basemap.pmtiles/",
        "/basemap.pmtiles/secret.txt",
        "/basemap.pmtiles/../secret.txt",
        "/basemap.pmtiles%2f..%2fsecret.txt",
        "/basemap.pmtiles/%2e%2e/secret.txt",
        "/secret.txt",
        "/bologna.pmtiles",
        "/basemap/../secret.txt",
        "/basemap/%2e%2e/Cargo.toml",
        "/basemap/",
        "/basemap",
        "/basemap.pmtiles.bak",
        "/BASEMAP.PMTILES",
        "/basemap.pmtiles%00",
    ] {
        let answer = raw(app.port, "GET", path, &[]).await;
        let body = String::from_utf8_lossy(&answer.body);
        assert!(
            answer.status == 404 || answer.status == 400,
            "{path}: {} {body}",
            answer.status
        );
        assert!(!body.contains("operator notes"), "{path}");
        assert!(!body.contains("PMTiles"), "{path}");
        assert!(!body.contains("<a href"), "{path}: a listing");
    }
}

#[test]
fn serve_refuses_to_start_with_a_file_that_is_no_pmtiles_archive() {
    let dir = tempfile::tempdir().expect("dir");
    let geojson = Path::new(ROOT).join("geodata/basemap/bologna-streets.geojson");
    let mut v2 = b"PMTiles\x02".to_vec();
    v2.resize(512, 0);
    std::fs::write(dir.path().join("old.pmtiles"), v2).expect("write");
    std::fs::write(dir.path().join("empty.pmtiles"), b"").expect("write");
    for (file, why) in [
        (geojson, "not a PMTiles archive"),
        (dir.path().join("old.pmtiles"), "version 2"),
        (dir.path().join("empty.pmtiles"), "shorter than a PMTiles header"),
        (dir.path().join("missing.pmtiles"), "missing.pmtiles"),
        (dir.path().to_owned(), "not a file"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_campanile"))
            .args(["serve", "--listen", "127.0.0.1:0", "--basemap"])
            .arg(&file)
            .current_dir(ROOT)
            .env("CAMPANILE_JWT_SECRET", SECRET)
            .env("RUST_LOG", "error")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} was taken", file.display());
        assert!(stderr.contains("basemap"), "{}: {stderr}", file.display());
        assert!(stderr.contains(why), "{}: {stderr}", file.display());
    }
}

#[test]
fn a_style_is_an_explicit_choice_and_one_base_map_only() {
    let dir = tempfile::tempdir().expect("dir");
    let file = make_pmtiles(dir.path());
    let both = ServeArgs {
        basemap_style: Some("/styles/dark.json".into()),
        ..with_basemap(&file)
    };
    assert!(Settings::resolve(&both).is_err_and(|e| e.to_string().contains("give one")));
    for bad in [
        "//tiles.example.org/style.json",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://user:secret@tiles.example.org/style.json",
        "/styles/\u{7}.json",
        "/styles/../../Cargo.toml",
    ] {
        let args = ServeArgs {
            basemap_style: Some(bad.into()),
            ..test_args()
        };
        assert!(
            Settings::resolve(&args).is_err_and(|e| e.to_string().contains("basemap_style")),
            "{bad:?} was taken"
        );
    }
}

#[actix_web::test]
async fn a_style_is_named_to_the_pages_and_only_its_origin_is_let_in() {
    let app = spawn_on(ServeArgs {
        basemap_style: Some("https://tiles.example.org/styles/light.json".into()),
        ..test_args()
    })
    .await;
    let (status, event) = app.get("/api/v1/event", None).await;
    assert_eq!(status, 200);
    assert_eq!(event["basemap"]["kind"], "style");
    assert_eq!(event["basemap"]["url"], "https://tiles.example.org/styles/light.json");
    let page = raw(app.port, "GET", "/ops/", &[]).await;
    let csp = page.header("content-security-policy").expect("CSP").to_owned();
    assert!(csp.contains("connect-src 'self' https://tiles.example.org;"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "scripts stay our own: {csp}");

    // A style on this server lets nothing else in.
    let own = spawn_on(ServeArgs {
        basemap_style: Some("/basemap/style.json".into()),
        ..test_args()
    })
    .await;
    let (_, event) = own.get("/api/v1/event", None).await;
    assert_eq!(event["basemap"]["url"], "/basemap/style.json");
    let page = raw(own.port, "GET", "/ops/", &[]).await;
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
}
