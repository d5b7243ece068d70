//! Posts per second through the real HTTP API into each engine.
//!
//! Starts the real server (memory engine, then Redis engine on a
//! `redis-server` of its own), and posts NDJSON batches of 1,000 from several
//! concurrent connections for a fixed time. Client and server share this
//! machine's cores, so the figures are a floor for the server alone.
//!
//! `cargo bench --bench ingest_http` (env `BENCH_SECS`, default 10; `BENCH_CONNECTIONS`, default 8)

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use campanile::auth::TokenKeys;
use campanile::config::{Secret, ServeArgs, Settings};
use campanile::domain::Role;
use campanile::startup::Application;

const BATCH: usize = 1_000;
const SECRET: &str = "bench-secret-bench-secret-bench";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn batch(seq: u64) -> String {
    let mut body = String::with_capacity(BATCH * 140);
    for i in 0..BATCH as u64 {
        let n = seq * BATCH as u64 + i;
        let lat = 44.48 + (n % 997) as f64 * 0.00003;
        let lon = 11.33 + (n % 991) as f64 * 0.00003;
        body.push_str(&format!(
            "{{\"source\":\"bench\",\"id\":\"{n}\",\"lat\":{lat:.6},\"lon\":{lon:.6},\"author\":\"u{}\",\"text\":\"crowded\"}}\n",
            n % 5_000
        ));
    }
    body
}

struct Redis(Child);
impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> Redis {
    let redis = Redis(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    for _ in 0..200 {
        let ok = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "PING"])
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"PONG"));
        if ok {
            return redis;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start");
}

async fn run(label: &str, redis_url: Option<String>) {
    let args = ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        jwt_secret: Some(Secret::new(SECRET)),
        redis_url,
        ..ServeArgs::default()
    };
    let app = Application::build(Settings::resolve(&args).expect("settings"))
        .await
        .expect("server");
    let url = format!("http://127.0.0.1:{}/api/v1/posts", app.port());
    let stopper = app.stopper();
    actix_web::rt::spawn(app.run_until_stopped());
    let token = TokenKeys::new(SECRET.as_bytes())
        .and_then(|k| k.issue(Role::Ingest, "bench", Duration::from_secs(3600)))
        .expect("token");

    let secs = env_or("BENCH_SECS", 10);
    let connections = env_or("BENCH_CONNECTIONS", 8);
    let accepted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (url, token, accepted) = (url.clone(), token.clone(), accepted.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
            let mut seq = c;
            while Instant::now() < deadline {
                // Every id is new: each post is validated, hashed, bucketed and counted.
                let body = batch(seq);
                seq += connections;
                let resp = client
                    .post(&url)
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .insert_header(("Content-Type", "application/x-ndjson"))
                    .send_body(body)
                    .await;
                if let Ok(mut r) = resp
                    && let Ok(v) = r.json::<serde_json::Value>().await
                {
                    accepted.fetch_add(v["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = accepted.load(Ordering::Relaxed);
    println!(
        "{label:>6}: {n} posts accepted in {elapsed:.1} s = {:.0} posts/s ({connections} connections, batches of {BATCH})",
        n as f64 / elapsed
    );
    stopper.stop().await;
}

#[actix_web::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and
    // only needs this to build: a 20-second measurement is no test.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ingest_http: measurement skipped (run it with `cargo bench --bench ingest_http`)");
        return;
    }
    run("memory", None).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let _redis = start_redis(port);
    run("redis", Some(format!("redis://127.0.0.1:{port}"))).await;
}
