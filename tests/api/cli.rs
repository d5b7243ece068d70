//! The binary itself: `token`, `simulate`, `replay`, `bench`, `serve --demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use campanile::auth::TokenKeys;
use campanile::domain::{Principal, Role};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_campanile");

#[test]
fn token_prints_a_token_the_server_accepts() {
    let out = Command::new(BIN)
        .args(["token", "--role", "operator", "--sub", "alice", "--ttl", "12h"])
        .env("CAMPANILE_JWT_SECRET", SECRET)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).expect("utf8");
    let keys = TokenKeys::new(SECRET.as_bytes()).expect("keys");
    assert_eq!(
        keys.verify(token.trim()),
        Ok(Principal::User {
            sub: "alice".into(),
            role: Role::Operator
        })
    );
    let bad = Command::new(BIN)
        .args(["token", "--role", "admin", "--sub", "x"])
        .env("CAMPANILE_JWT_SECRET", SECRET)
        .output()
        .expect("runs");
    assert!(!bad.status.success());
}

#[actix_web::test]
async fn simulate_writes_ndjson_that_replay_plays_into_a_server() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("event.ndjson");
    let geodata = concat!(env!("CARGO_MANIFEST_DIR"), "/geodata");
    let out = Command::new(BIN)
        .args(["simulate", "--geodata-dir", geodata, "--out"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).expect("written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(lines.len() > 5_000, "{} posts", lines.len());
    assert!(
        lines
            .iter()
            .all(|l| l["lat"].is_number() && l["ts"].is_string() && l["author"].is_string())
    );

    // Keep the first minute only, so that the replay is short at speed 60.
    let start = chrono::DateTime::parse_from_rfc3339(lines[0]["ts"].as_str().expect("ts")).expect("rfc3339");
    let first_minute: Vec<String> = text
        .lines()
        .zip(&lines)
        .filter(|(_, l)| {
            let ts = chrono::DateTime::parse_from_rfc3339(l["ts"].as_str().unwrap_or("")).expect("ts");
            (ts - start).num_seconds() < 60
        })
        .map(|(raw, _)| raw.to_owned())
        .collect();
    std::fs::write(&file, first_minute.join("\n")).expect("write");

    let app = spawn_app(EngineKind::Memory).await;
    let replay = actix_web::rt::task::spawn_blocking({
        let (address, token, file) = (app.address.clone(), app.ingest.clone(), file.clone());
        move || {
            Command::new(BIN)
                .args(["replay", "--target", &address, "--token", &token, "--speed", "60"])
                .arg(&file)
                .output()
                .expect("runs")
        }
    })
    .await
    .expect("joined");
    let summary = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{summary} {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(
        summary.contains(&format!("accepted:        {}", first_minute.len())),
        "{summary}"
    );
    let (_, map) = app.get("/api/v1/heatmap?res=7&window=60m", Some(&app.operator)).await;
    assert_eq!(heatmap_total(&map), first_minute.len() as u64);
}

#[actix_web::test]
async fn serve_demo_prints_its_url_and_tokens_and_the_map_comes_alive() {
    let port = free_port();
    let mut child = serve(None, port, &["--demo"]);
    let lines = first_lines(&mut child, 8).await;
    let text = lines.join("\n");
    assert!(text.contains(&format!("http://127.0.0.1:{port}")), "{text}");
    let operator = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("operator token:"))
        .map(|t| t.trim().to_owned())
        .expect("operator token printed");
    assert!(text.contains("commander token:"), "{text}");

    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut cells = 0;
    while Instant::now() < deadline && cells == 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(mut resp) = client
            .get(format!("http://127.0.0.1:{port}/api/v1/heatmap?res=9&window=1m"))
            .insert_header(("Authorization", format!("Bearer {operator}")))
            .send()
            .await
        {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            cells = body["cells"].as_array().map_or(0, Vec::len);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(cells > 0, "the demo put nothing on the map");
}

#[actix_web::test]
async fn bench_loads_a_server_and_reports_what_its_users_felt() {
    let app = spawn_app(EngineKind::Memory).await;
    let out = tokio::process::Command::new(BIN)
        .args(["bench", "--target", &app.address, "--token", &app.operator])
        .args([
            "--ingest-rate",
            "2000",
            "--batch",
            "200",
            "--clients",
            "20",
            "--res",
            "8,9",
        ])
        .args(["--broadcasts", "3", "--duration", "4s", "--json"])
        .output()
        .await
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["clients"]["connected"], 20, "{report}");
    assert_eq!(report["clients"]["dropped"], 0, "{report}");
    let offered = report["ingest"]["offered_per_s"].as_f64().expect("offered");
    let accepted = report["ingest"]["accepted_per_s"].as_f64().expect("accepted");
    assert!(offered > 1_000.0 && (accepted - offered).abs() < 1.0, "{report}");
    // Every acknowledged batch timed, none faster than nothing.
    let latency = &report["ingest"]["latency_ms"];
    assert!(latency["samples"].as_u64().is_some_and(|n| n > 0), "{report}");
    assert!(latency["p50"].as_f64().is_some_and(|v| v > 0.0), "{report}");
    assert!(latency["p50"].as_f64() <= latency["max"].as_f64(), "{report}");
    // Every subscriber got every broadcast, and saw the probes in its deltas.
    assert_eq!(report["broadcast_latency_ms"]["delivered"], 60, "{report}");
    assert!(
        report["delta_latency_ms"]["samples"].as_u64().is_some_and(|n| n >= 20),
        "{report}"
    );
    for key in ["p50", "p90", "p99", "max"] {
        let v = report["delta_latency_ms"][key].as_f64().expect("a figure");
        // A probe shows at the next tick (100 ms here): never before it was sent.
        assert!(v > 0.0 && v < 5_000.0, "{key} = {v}");
    }
    assert!(report["broadcast_latency_ms"]["max"].as_f64().is_some_and(|v| v > 0.0));
    assert_eq!(
        report["params"]["clients"], 20,
        "the report says how it was made: {report}"
    );
    // Twenty subscribers fit in one address's ports: the first loopback address.
    let sources = &report["clients"]["source_addresses"];
    assert_eq!(sources["count"], 1, "{report}");
    assert_eq!(sources["first"], "127.0.0.1", "{report}");
    assert_eq!(sources["last"], "127.0.0.1", "{report}");
    assert!(sources["ports_per_address"].as_u64().is_some_and(|n| n > 0), "{report}");
    assert!(
        report["broadcast_latency_ms"]["deliveries_per_s"]
            .as_f64()
            .is_some_and(|v| v > 0.0),
        "{report}"
    );
}

/// `campanile bench --json` with 30 subscribers (15 public, 15 operators)
/// from `sources` loopback addresses, one broadcast, a second of load.
async fn bench_from(app: &TestApp, sources: &str) -> serde_json::Value {
    bench_report(
        &app.address,
        &app.operator,
        &[
            "--clients",
            "30",
            "--res",
            "8,9",
            "--ingest-rate",
            "0",
            "--broadcasts",
            "1",
            "--duration",
            "1s",
            "--source-addresses",
            sources,
        ],
    )
    .await
}

#[actix_web::test]
async fn bench_spreads_its_subscribers_over_loopback_source_addresses() {
    // One source address holds only as many connections to the server as
    // the kernel has ephemeral ports (about 28,000); 127.0.0.0/8 is all
    // loopback. The server tells addresses apart by their cap of public
    // WebSocket connections, here 5 (tokens pass it): of 30 subscribers,
    // the 15 public ones fit from 3 addresses (5 on each), not from one.
    let capped = || {
        let mut args = test_args();
        args.ws_max_per_address = Some(5);
        spawn_on(args)
    };
    let (one, three) = (capped().await, capped().await);
    let (alone, spread) = tokio::join!(bench_from(&one, "1"), bench_from(&three, "3"));

    let sources = &spread["clients"]["source_addresses"];
    assert_eq!(sources["count"], 3, "{spread}");
    assert_eq!(sources["first"], "127.0.0.1", "{spread}");
    assert_eq!(sources["last"], "127.0.0.3", "{spread}");
    assert_eq!(spread["clients"]["connected"], 30, "{spread}");
    assert_eq!(spread["clients"]["dropped"], 0, "{spread}");
    assert_eq!(spread["broadcast_latency_ms"]["delivered"], 30, "{spread}");

    // The control: from one address the server refuses the 6th public
    // subscriber on (429), and each refusal counts as dropped.
    assert_eq!(alone["clients"]["source_addresses"]["count"], 1, "{alone}");
    assert_eq!(alone["clients"]["connected"], 20, "{alone}");
    assert_eq!(alone["clients"]["dropped"], 10, "{alone}");
    // They never connected: the broadcast is owed to the 20 that did, and
    // reached them all.
    assert_eq!(alone["clients"]["refused"], 10, "{alone}");
    assert_eq!(alone["broadcast_latency_ms"]["expected"], 20, "{alone}");
    assert_eq!(alone["broadcast_latency_ms"]["delivered"], 20, "{alone}");
}

/// `campanile serve ARGS` on `port`, its stdout piped; under `ulimit
/// LIMITS` when given, as a distribution or a container would start it.
fn serve(limits: Option<&str>, port: u16, args: &[&str]) -> std::process::Child {
    let mut command = match limits {
        Some(limits) => {
            let mut sh = Command::new("sh");
            sh.args(["-c", &format!("ulimit {limits} && exec \"$0\" \"$@\""), BIN]);
            sh
        }
        None => Command::new(BIN),
    };
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args);
    if args.contains(&"--demo") {
        command.env_remove("CAMPANILE_JWT_SECRET");
    } else {
        command.env("CAMPANILE_JWT_SECRET", SECRET);
    }
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts")
}

/// What `read` makes of the lines the server prints, read as they come.
async fn read_lines<T: Send + 'static>(
    child: &mut std::process::Child,
    read: impl FnOnce(&mut dyn Iterator<Item = String>) -> T + Send + 'static,
) -> T {
    let stdout = child.stdout.take().expect("stdout");
    actix_web::rt::task::spawn_blocking(move || read(&mut BufReader::new(stdout).lines().map_while(Result::ok)))
        .await
        .expect("joined")
}

/// The first `n` lines the server prints.
async fn first_lines(child: &mut std::process::Child, n: usize) -> Vec<String> {
    read_lines(child, move |lines| lines.take(n).collect()).await
}

/// The line where the server says its open-file limit, if it does within
/// its first lines.
async fn open_files_line(child: &mut std::process::Child) -> Option<String> {
    read_lines(child, |lines| {
        lines.take(6).find(|l| l.trim_start().starts_with("open files:"))
    })
    .await
}

#[actix_web::test]
async fn serve_raises_its_open_file_limit_and_says_what_it_got() {
    // Started as a distribution would leave it: a soft limit of 256 descriptors.
    let port = free_port();
    let mut child = serve(Some("-Sn 256"), port, &["--ephemeral"]);
    let pid = child.id();
    let line = open_files_line(&mut child).await;
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("the server says its open-file limit");
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("the kernel's limits of the process");
    let figures: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(figures[0], figures[1], "soft limit raised to the hard one: {files}");
    assert!(
        line.contains(&format!("up to {} (raised from 256)", figures[0])),
        "{line}"
    );
    assert!(line.contains("WebSocket sessions"), "{line}");
}

/// Started where the open-file limit cannot be raised (soft = hard = 1,100
/// descriptors) and asked for more WebSocket sessions than that holds, the
/// server serves only as many as leave descriptors for everything else, says
/// so, and refuses the rest with 503: a crowd of phones never leaves a node
/// unable to take posts or answer its health check.
#[actix_web::test]
async fn websockets_past_the_open_file_limit_are_refused_and_ingest_still_works() {
    let port = free_port();
    let mut child = serve(
        Some("-n 1100"),
        port,
        &[
            "--ephemeral",
            "--ws-max-connections",
            "5000",
            "--ws-max-per-address",
            "100000",
        ],
    );
    let line = open_files_line(&mut child)
        .await
        .expect("the server says its open-file limit");
    // (1,100 − 1,024 kept back) / 2 descriptors a session.
    assert!(
        line.contains("for up to 38 WebSocket sessions (not the 5000 of --ws-max-connections"),
        "{line}"
    );

    // More than the descriptors could hold without the cap: 600 × 2 > 1,100.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..600 {
        match crate::ws_conformance::RawWs::connect(port, &[]).await {
            Ok(ws) => held.push(ws),
            Err(r) => {
                assert_eq!(r.status, 503, "{r:?}");
                assert_eq!(r.body["error"]["code"], "server_full", "{r:?}");
                refused += 1;
            }
        }
    }
    assert_eq!((held.len(), refused), (38, 562));

    let client = awc::Client::default();
    let ready = client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .expect("the health check is answered");
    assert_eq!(ready.status().as_u16(), 200);
    let ingest = TokenKeys::new(SECRET.as_bytes())
        .expect("keys")
        .issue(Role::Ingest, "connector", Duration::from_secs(600))
        .expect("token");
    let mut posted = client
        .post(format!("http://127.0.0.1:{port}/api/v1/posts"))
        .bearer_auth(&ingest)
        .send_json(&serde_json::json!([{"source": "sms", "id": "full-1", "lat": 44.4937, "lon": 11.343}]))
        .await
        .expect("a post is taken");
    assert_eq!(posted.status().as_u16(), 202, "{:?}", posted.body().await);
    let _ = child.kill();
    let _ = child.wait();
}

/// `--text-share` gives the posts texts as a crowd writes them, and a
/// twentieth of them one slogan: what masking, trends and the coordination
/// detector are measured on.
#[actix_web::test]
async fn bench_posts_carry_texts_when_asked_and_some_repeat_one_slogan() {
    let app = spawn_app(EngineKind::Memory).await;
    bench_report(
        &app.address,
        &app.operator,
        &[
            "--clients",
            "0",
            "--ingest-rate",
            "2000",
            "--batch",
            "100",
            "--broadcasts",
            "0",
            "--duration",
            "1s",
            "--text-share",
            "0.5",
        ],
    )
    .await;
    let texts = eventually(|| async {
        let (status, body) = app.get("/api/v1/posts?limit=1000", Some(&app.operator)).await;
        assert_eq!(status, 200, "{body}");
        let texts: Vec<String> = body["posts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect();
        (texts.len() >= 500).then_some(texts)
    })
    .await
    .expect("the posts' texts are kept");
    let slogans = texts
        .iter()
        .filter(|t| t.starts_with("tutti in piazza maggiore"))
        .count();
    assert!(
        slogans * 30 > texts.len() && slogans * 12 < texts.len(),
        "{slogans} slogans in {} texts",
        texts.len()
    );
    assert!(texts.iter().any(|t| t.split_whitespace().count() == 5));
}
