//! The attacker's tests (issue "Trust first", DESIGN §6): what a stranger
//! without a token tries against the crowd picture, and why it fails.
//!
//! Each test names the attack; each also shows the data is really there
//! (operators see it), so that "nothing revealed" cannot pass by accident.

use std::time::{Duration, Instant};

use campanile::config::ServeArgs;
use futures_util::future::join_all;
use h3o::{CellIndex, LatLng, Resolution};
use serde_json::{Value, json};

use crate::helpers::*;

/// A cell with enough contributors to be public, and a sibling under the
/// same res-8 and res-7 parents that must stay hidden whatever it holds.
fn shown_and_hidden_cells() -> (CellIndex, CellIndex) {
    let shown = LatLng::new(44.4937, 11.3430).expect("ll").to_cell(Resolution::Nine);
    let hidden = shown
        .grid_disk::<Vec<_>>(1)
        .into_iter()
        .find(|c| {
            *c != shown
                && c.parent(Resolution::Seven) == shown.parent(Resolution::Seven)
                && c.parent(Resolution::Eight) == shown.parent(Resolution::Eight)
        })
        .expect("a sibling under the same parents");
    (shown, hidden)
}

fn centre(cell: CellIndex) -> (f64, f64) {
    let ll = LatLng::from(cell);
    (ll.lat(), ll.lng())
}

async fn posts(app: &TestApp, cell: CellIndex, authors: &[&str]) {
    let (lat, lon) = centre(cell);
    let batch: Vec<Value> = authors.iter().map(|a| post_at(lat, lon, a, None)).collect();
    let (status, body) = app.post_json(&json!(batch)).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(authors.len() as u64)));
}

async fn citizen_report(app: &TestApp, cell: CellIndex, forwarded_for: Option<&str>) -> Value {
    let (lat, lon) = centre(cell);
    let mut req = app.client.post(format!("{}/api/v1/reports", app.address));
    if let Some(addr) = forwarded_for {
        req = req.insert_header(("X-Forwarded-For", addr));
    }
    let mut resp = req
        .send_json(&json!({"lat": lat, "lon": lon, "category": "crowd", "text": "huge crowd here"}))
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 201);
    resp.json().await.expect("report")
}

/// Everything the public can read of the heatmap: every public resolution,
/// every window, bboxes cut along the hidden cell's edges, JSON and GeoJSON,
/// with the read time taken out.
async fn public_view(app: &TestApp, hidden: CellIndex) -> Vec<(String, Value)> {
    let (lat, lon) = centre(hidden);
    let d = 0.0008;
    let bboxes = [
        String::new(),
        format!("&bbox={},{},{},{}", lon - d, lat - d, lon + d, lat + d),
        format!("&bbox={},{},{},{}", lon, lat, lon + 0.05, lat + 0.05),
        format!("&bbox={},{},{},{}", lon - 0.05, lat - 0.05, lon, lat),
        format!("&bbox={},{},{},{}", lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05),
    ];
    let mut views = Vec::new();
    for res in 7..=9 {
        for window in ["1m", "5m", "15m", "60m"] {
            for bbox in &bboxes {
                for format in ["json", "geojson"] {
                    let query = format!("/api/v1/heatmap?res={res}&window={window}&format={format}{bbox}");
                    let (status, mut body) = app.get(&query, None).await;
                    assert_eq!(status, 200, "{query}");
                    body.as_object_mut().expect("object").remove("as_of");
                    views.push((query, body));
                }
            }
        }
    }
    views
}

#[actix_web::test]
async fn neither_reports_nor_comparing_resolutions_windows_or_bboxes_reveal_a_cell_below_k() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let (shown, hidden) = shown_and_hidden_cells();
        let six: Vec<String> = (0..6).map(|i| format!("crowd-{i}")).collect();
        let six: Vec<&str> = six.iter().map(String::as_str).collect();
        // The same public cell in both deployments; the second also has a
        // thin cell next to it, pushed by four anonymous reports (n − 1).
        let plain = spawn_app(kind).await;
        posts(&plain, shown, &six).await;
        let attacked = spawn_app(kind).await;
        posts(&attacked, shown, &six).await;
        posts(&attacked, hidden, &["the-one", "the-one", "the-one"]).await;
        for _ in 0..4 {
            citizen_report(&attacked, hidden, None).await;
        }

        let (_, operator) = attacked
            .get(
                &format!("/api/v1/heatmap?res=9&window=1m&bbox={}", bbox_around(hidden)),
                Some(&attacked.operator),
            )
            .await;
        assert_eq!(
            operator["cells"][0]["count"], 7,
            "{kind:?}: operators see the thin cell and the reports at once"
        );

        let before = public_view(&plain, hidden).await;
        let after = public_view(&attacked, hidden).await;
        assert!(
            before
                .iter()
                .any(|(_, v)| v["cells"].as_array().is_some_and(|c| !c.is_empty())),
            "{kind:?}: the public does see the crowd that has k contributors"
        );
        for ((query, a), (_, b)) in before.iter().zip(&after) {
            assert_eq!(a, b, "{kind:?}: {query} changed because of a cell below k");
        }
    }
}

fn bbox_around(cell: CellIndex) -> String {
    let (lat, lon) = centre(cell);
    format!("{},{},{},{}", lon - 0.0008, lat - 0.0008, lon + 0.0008, lat + 0.0008)
}

#[actix_web::test]
async fn thirty_unverified_reports_from_three_addresses_raise_no_alert_and_no_public_level() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        let app = spawn_app_with(kind, behind_a_trusted_proxy()).await;
        let mut alerts = app.ws(Some(&app.operator)).await;
        send(&mut alerts, json!({"type": "subscribe", "channel": "alerts"})).await;
        next_of_type(&mut alerts, "subscribed", Duration::from_secs(5)).await;
        let (cell, _) = shown_and_hidden_cells();
        let mut ids = Vec::new();
        for address in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
            for _ in 0..10 {
                let r = citizen_report(&app, cell, Some(address)).await;
                ids.push(r["id"].as_str().expect("id").to_owned());
            }
        }
        // The detector runs every 4 ticks (400 ms here): give it several rounds.
        let quiet = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                let frame = next_json(&mut alerts, Duration::from_secs(10)).await;
                if frame["type"] == "alert" {
                    return frame;
                }
            }
        })
        .await;
        assert!(quiet.is_err(), "{kind:?}: unverified reports raised {quiet:?}");
        let (_, public) = app.get("/api/v1/heatmap?res=9&window=1m", None).await;
        assert_eq!(public["cells"], json!([]), "{kind:?}: the public sees no crowd");
        let (_, operator) = app.get("/api/v1/heatmap?res=9&window=1m", Some(&app.operator)).await;
        assert_eq!(heatmap_total(&operator), 30, "{kind:?}: operators see the reports");

        // Once an operator vouches for them they count everywhere: the same
        // reports now raise the surge.
        for id in &ids {
            assert_eq!(app.moderate(id, "verified", &app.operator).await.0, 200);
        }
        let alert = next_of_type(&mut alerts, "alert", Duration::from_secs(5)).await;
        assert_eq!(alert["cell"], cell.to_string(), "{kind:?}");
        let (_, public) = eventually(|| async {
            let (status, body) = app.get("/api/v1/heatmap?res=9&window=1m", None).await;
            body["cells"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
                .then_some((status, body))
        })
        .await
        .expect("verified reports become public");
        assert_eq!(public["cells"][0]["cell"], cell.to_string(), "{kind:?}");
    }
}

#[actix_web::test]
async fn fifty_concurrent_moderations_of_one_report_change_the_counts_exactly_once() {
    let cluster = TestCluster::start();
    let mut on_cluster = test_args();
    on_cluster.redis_cluster_nodes = Some(cluster.node_urls());
    let apps = [
        ("memory", spawn_app(EngineKind::Memory).await),
        ("redis", spawn_app(EngineKind::Redis).await),
        ("redis cluster", spawn_on(on_cluster).await),
    ];
    let statuses = ["dismissed", "verified", "false", "verified", "dismissed"];
    for (engine, app) in &apps {
        let (cell, _) = shown_and_hidden_cells();
        let (lat, lon) = centre(cell);
        posts(app, cell, &["a", "b", "c"]).await;
        let (_, field) = app
            .report(
                &json!({"lat": lat, "lon": lon, "category": "crowd"}),
                Some(&app.commander),
            )
            .await;
        let (_, citizen) = app
            .report(&json!({"lat": lat, "lon": lon, "category": "crowd"}), None)
            .await;
        for report in [&field, &citizen] {
            let id = report["id"].as_str().expect("id");
            let answers =
                join_all((0..50).map(|i| app.moderate(id, statuses[i % statuses.len()], &app.operator))).await;
            assert!(answers.iter().all(|(s, _)| *s == 200), "{engine}: {answers:?}");
        }
        let (_, listed) = app.get("/api/v1/reports", Some(&app.operator)).await;
        let verified = listed["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter(|f| f["properties"]["status"] == "verified")
            .count() as u64;
        for res in 7..=11 {
            let (_, map) = app
                .get(&format!("/api/v1/heatmap?res={res}&window=1m"), Some(&app.operator))
                .await;
            assert!(
                map["cells"]
                    .as_array()
                    .expect("cells")
                    .iter()
                    .all(|c| c["count"].as_i64() > Some(0)),
                "{engine}: no count may go to zero or below: {map}"
            );
            assert_eq!(
                heatmap_total(&map),
                3 + verified,
                "{engine}, res {res}: 3 posts and the {verified} verified reports, each once"
            );
        }
    }
}

#[actix_web::test]
async fn a_flood_of_public_heatmap_reads_costs_the_engine_nothing_and_ingest_keeps_its_pace() {
    // The public reads the hub's frame: with Redis gone, public reads still
    // answer from it while an operator's read, which goes to the engine, fails.
    let mut args = test_args();
    args.public_read_rate = Some(1_000_000);
    let mut app = spawn_app_with(EngineKind::Redis, args.clone()).await;
    let (cell, _) = shown_and_hidden_cells();
    let six: Vec<String> = (0..6).map(|i| format!("crowd-{i}")).collect();
    posts(&app, cell, &six.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (_, warm) = app.get("/api/v1/heatmap?res=9", None).await;
    assert_eq!(warm["cells"].as_array().map(Vec::len), Some(1));
    app.redis.as_mut().expect("redis").kill();
    for _ in 0..200 {
        let (status, body) = app.get("/api/v1/heatmap?res=9", None).await;
        assert_eq!((status, &body["cells"]), (200, &warm["cells"]));
    }
    assert_eq!(app.get("/api/v1/heatmap?res=9", Some(&app.operator)).await.0, 503);

    // Ingest latency, idle and under six public clients reading as fast as
    // they can, on each engine: printed, not asserted (timing belongs to
    // benchmarks). On Redis the writes go over the network, so the frame
    // builds and the reads compete with them differently.
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        ingest_under_a_flood_of_public_reads(kind, args.clone()).await;
    }
}

/// Prints the ingest p50 of `kind`, idle and while six public clients read
/// the heatmap as fast as they can.
async fn ingest_under_a_flood_of_public_reads(kind: EngineKind, args: ServeArgs) {
    let app = spawn_app_with(kind, args).await;
    let idle = ingest_p50(&app, 200).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers on threads of their own, so that the test's own client does
    // not queue behind them: what is measured is the server.
    let port = app.port;
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let client = TestApp::remote(port);
                    let mut reads = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let res = 7 + i % 3;
                        let query = format!("/api/v1/heatmap?res={res}&window=60m");
                        assert_eq!(client.get(&query, None).await.0, 200);
                        reads += 1;
                    }
                    reads
                })
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let loaded = ingest_p50(&app, 200).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    println!(
        "{kind:?}: ingest p50 idle {:.2} ms, under {reads} public heatmap reads {:.2} ms ({:.2}x)",
        idle.as_secs_f64() * 1e3,
        loaded.as_secs_f64() * 1e3,
        loaded.as_secs_f64() / idle.as_secs_f64()
    );
    assert!(reads > 100, "{kind:?}: the readers really read ({reads})");
}

/// The median time to store one single-post batch, over `n` batches.
async fn ingest_p50(app: &TestApp, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let (status, _) = app
            .post_json(&json!([post_at(44.4937, 11.3430, &format!("p{i}"), None)]))
            .await;
        times.push(started.elapsed());
        assert_eq!(status, 202);
    }
    times.sort();
    times[n / 2]
}

#[actix_web::test]
async fn forwarded_ports_brackets_and_ipv6_neighbours_share_one_limit() {
    let mut args = behind_a_trusted_proxy();
    args.public_report_rate = Some(3);
    let app = spawn_on(args).await;
    let (cell, _) = shown_and_hidden_cells();
    let (lat, lon) = centre(cell);
    let post_as = |forwarded: String| {
        let req = app
            .client
            .post(format!("{}/api/v1/reports", app.address))
            .insert_header(("X-Forwarded-For", forwarded));
        async move {
            req.send_json(&json!({"lat": lat, "lon": lon, "category": "other"}))
                .await
                .expect("answer")
                .status()
                .as_u16()
        }
    };
    // One IPv4 client writing its address with ever new ports.
    let mut v4 = Vec::new();
    for port in 1000..1004 {
        v4.push(post_as(format!("203.0.113.9:{port}")).await);
    }
    assert_eq!(v4, [201, 201, 201, 429]);
    // One IPv6 subscriber line (/64) with ever new addresses, bracketed or not.
    let v6 = [
        post_as("[2001:db8:1:2::1]:443".into()).await,
        post_as("2001:db8:1:2::2".into()).await,
        post_as("[2001:db8:1:2:ffff:ffff:ffff:ffff]".into()).await,
        post_as("2001:db8:1:2:abcd::9".into()).await,
        post_as("2001:db8:1:3::1".into()).await,
    ];
    assert_eq!(
        v6,
        [201, 201, 201, 429, 201],
        "the /64 is one client; the next /64 another"
    );
}

#[actix_web::test]
async fn public_reads_are_charged_per_ipv6_64_too() {
    let mut args = behind_a_trusted_proxy();
    args.public_read_rate = Some(3);
    let app = spawn_on(args).await;
    let read_as = |forwarded: &str| {
        let req = app
            .client
            .get(format!("{}/api/v1/heatmap", app.address))
            .insert_header(("X-Forwarded-For", forwarded.to_owned()));
        async move { req.send().await.expect("answer").status().as_u16() }
    };
    // One subscriber line (/64) reading with a new address each time, as
    // privacy extensions make a phone do, then its neighbour line.
    let statuses = [
        read_as("2001:db8:5:6::1").await,
        read_as("[2001:db8:5:6::2]:8443").await,
        read_as("2001:db8:5:6:ffff:ffff:ffff:fffe").await,
        read_as("2001:db8:5:6:1234::77").await,
        read_as("2001:db8:5:7::1").await,
    ];
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 200],
        "the /64 is one reader; the next /64 another"
    );
}

#[actix_web::test]
async fn a_hostile_web_site_cannot_file_reports_through_its_visitors() {
    let app = spawn_app(EngineKind::Memory).await;
    let body = json!({"lat": 44.4937, "lon": 11.3430, "category": "fire"}).to_string();
    // What a cross-site <form> or a "simple" fetch() can send without a preflight.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let mut resp = app
            .client
            .post(format!("{}/api/v1/reports", app.address))
            .insert_header(("Content-Type", content_type))
            .send_body(body.clone())
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 415, "{content_type}");
        let envelope: Value = resp.json().await.expect("envelope");
        assert_eq!(envelope["error"]["code"], "unsupported_media_type", "{content_type}");
    }
    let (_, listed) = app.get("/api/v1/reports", Some(&app.operator)).await;
    assert_eq!(listed["features"], json!([]), "nothing was filed");
    let mut resp = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .insert_header(("Content-Type", "application/json; charset=utf-8"))
        .send_body(body)
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.body().await);
}

#[actix_web::test]
async fn every_public_read_path_is_rate_limited_per_address() {
    let mut args = behind_a_trusted_proxy();
    args.public_read_rate = Some(5);
    let app = spawn_on(args).await;
    let (_, sent) = app.send_broadcast(&minimal_broadcast(), Some(&app.operator)).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let paths = [
        "/api/v1/heatmap".to_owned(),
        "/api/v1/broadcasts".to_owned(),
        format!("/api/v1/broadcasts/{id}"),
        format!("/api/v1/broadcasts/{id}/cap.xml"),
        "/api/v1/alerts.atom".to_owned(),
        "/api/v1/zones".to_owned(),
        "/ws".to_owned(),
        "/api/v1/rumours".to_owned(),
        "/api/v1/rumours/no-such-entry".to_owned(),
        "/api/v1/rumours.atom".to_owned(),
    ];
    for (i, path) in paths.iter().enumerate() {
        let address = format!("192.0.2.{}", i + 1);
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let resp = app
                .client
                .get(format!("{}{path}", app.address))
                .insert_header(("X-Forwarded-For", address.as_str()))
                .send()
                .await
                .expect("answer");
            if resp.status().as_u16() == 429 {
                assert!(resp.headers().contains_key("retry-after"), "{path}");
            }
            statuses.push(resp.status().as_u16());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            1,
            "{path}: {statuses:?}"
        );
        // A token holder is accountable by its token, not throttled by address.
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .insert_header(("X-Forwarded-For", address.as_str()))
            .insert_header(("Authorization", format!("Bearer {}", app.operator)))
            .send()
            .await
            .expect("answer");
        assert_ne!(resp.status().as_u16(), 429, "{path}");
    }
}
