//! Posts per second through the real HTTP API into each engine.
//!
//! Starts the real server (memory engine, then Redis engine on a
//! `redis-server` of its own), and posts NDJSON batches of 1,000 from several
//! concurrent connections for a fixed time. Client and server share this
//! machine's cores, so the figures are a floor for the server alone.
//!
//! `cargo bench --bench ingest_http` (env `BENCH_SECS`, default 10;
//! `BENCH_CONNECTIONS`, default 8; `BENCH_ENGINES`, default `memory,redis`,
//! also `durable-everysec` and `durable-always` (the embedded engine on a
//! temporary data directory);
//! `BENCH_RATE`, posts/s in all, to send a steady stream instead of as
//! many as the server takes; `BENCH_TEXT_ANALYSIS=false` for a server
//! without trends and clustering; `BENCH_AUTHORS`, default 5,000: how many
//! authors share the posts, each posting in turn)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use campanile::domain::Role;

const BATCH: usize = 1_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Words of the posts, Italian and English, as a crowd writes them.
const WORDS: [&str; 48] = [
    "piazza",
    "maggiore",
    "crowd",
    "police",
    "music",
    "stage",
    "people",
    "the",
    "is",
    "very",
    "full",
    "near",
    "fountain",
    "gente",
    "tantissima",
    "polizia",
    "concerto",
    "bello",
    "che",
    "non",
    "si",
    "muove",
    "exit",
    "blocked",
    "via",
    "rizzoli",
    "indipendenza",
    "station",
    "train",
    "late",
    "water",
    "hot",
    "families",
    "kids",
    "amazing",
    "scary",
    "pushing",
    "calm",
    "lights",
    "fireworks",
    "arrivati",
    "siamo",
    "qui",
    "tutti",
    "andiamo",
    "dove",
    "bagni",
    "fila",
];
const TAGS: [&str; 8] = [
    "#bologna",
    "#concerto",
    "#piazzamaggiore",
    "#sciopero",
    "#corteo",
    "#live",
    "#crowd",
    "#fumogeni",
];

/// A post's text: 8–15 words and a hashtag, varied by `n`; one post in 20
/// is a brigade's near-identical call, one in 33 carries a phone number.
fn text(n: u64) -> String {
    if n.is_multiple_of(20) {
        return format!(
            "Everyone to Piazza Maggiore now the police are beating people near the fountain {}",
            n % 3
        );
    }
    let mut x = n
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let mut words = Vec::new();
    for _ in 0..(8 + n % 8) {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        words.push(WORDS[(x >> 33) as usize % WORDS.len()]);
    }
    words.push(TAGS[(x >> 40) as usize % TAGS.len()]);
    if n.is_multiple_of(33) {
        words.push("call 333 555 0142");
    }
    words.join(" ")
}

fn batch(seq: u64, authors: u64) -> String {
    let mut body = String::with_capacity(BATCH * 220);
    for i in 0..BATCH as u64 {
        let n = seq * BATCH as u64 + i;
        let lat = 44.48 + (n % 997) as f64 * 0.00003;
        let lon = 11.33 + (n % 991) as f64 * 0.00003;
        body.push_str(&format!(
            "{{\"source\":\"bench\",\"id\":\"{n}\",\"lat\":{lat:.6},\"lon\":{lon:.6},\"author\":\"u{}\",\"text\":\"{}\"}}\n",
            n % authors,
            text(n)
        ));
    }
    body
}

/// CPU seconds this process has used (user and system), from
/// `/proc/self/stat`; 0 where there is none.
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which may hold spaces, in brackets.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are the 14th and 15th fields of the line, the 12th and 13th after it.
    (ticks(11) + ticks(12)) / 100.0
}

async fn run(label: &str, engine: support::BenchEngine) {
    let (port, stopper) = support::start_server(&engine).await;
    let url = format!("http://127.0.0.1:{port}/api/v1/posts");
    let token = support::token(Role::Ingest);

    let secs = env_or("BENCH_SECS", 10);
    let connections = env_or("BENCH_CONNECTIONS", 8);
    // With BENCH_RATE, posts/s in all: each connection sends a batch on a
    // fixed schedule (an event's steady stream) and the figures are the
    // request latencies and the CPU the process spent, not the ceiling.
    let rate = env_or("BENCH_RATE", 0);
    // A few thousand authors each post several times a second at full
    // rate; an event's crowd has far more, each posting now and then.
    let authors = env_or("BENCH_AUTHORS", 5_000).max(1);
    let interval = (rate > 0).then(|| Duration::from_secs_f64((connections * BATCH as u64) as f64 / rate as f64));
    let accepted = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (url, token, accepted, latencies) = (url.clone(), token.clone(), accepted.clone(), latencies.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
            let mut seq = c;
            // Connections start spread over one interval, not all at once.
            let mut next = started + interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / connections as f64));
            while Instant::now() < deadline {
                if let Some(i) = interval {
                    actix_web::rt::time::sleep_until(next.into()).await;
                    next += i;
                }
                // Every id is new: each post is validated, hashed, bucketed and counted.
                let body = batch(seq, authors);
                seq += connections;
                let sent = Instant::now();
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
                    if let Ok(mut l) = latencies.lock() {
                        l.push(sent.elapsed());
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_secs() - cpu_before;
    let n = accepted.load(Ordering::Relaxed);
    println!(
        "{label:>6}: {n} posts accepted in {elapsed:.1} s = {:.0} posts/s ({connections} connections, batches of {BATCH})",
        n as f64 / elapsed
    );
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort();
    let at = |q: f64| {
        l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{label:>6}: batch latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; the process used {:.2} cores (server, its text follower and this client)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        l.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        cpu / elapsed
    );
    stopper.stop().await;
}

#[actix_web::main]
async fn main() {
    if !support::measuring("ingest_http") {
        return;
    }
    let engines = std::env::var("BENCH_ENGINES").unwrap_or_else(|_| "memory,redis".into());
    for engine in engines.split(',') {
        match engine {
            "memory" => run("memory", support::BenchEngine::Memory).await,
            "durable-everysec" | "durable-always" => {
                let dir = tempfile::tempdir().expect("data directory");
                let fsync = if engine.ends_with("always") {
                    "always"
                } else {
                    "everysec"
                };
                run(engine, support::BenchEngine::Durable(dir.path().to_owned(), fsync)).await;
                let bytes: u64 = std::fs::read_dir(dir.path())
                    .map(|d| {
                        d.filter_map(Result::ok)
                            .filter_map(|e| e.metadata().ok())
                            .map(|m| m.len())
                            .sum()
                    })
                    .unwrap_or(0);
                println!("{engine}: the data directory holds {:.0} MiB", bytes as f64 / 1048576.0);
            }
            "redis" => {
                let redis = support::start_redis();
                run("redis", support::BenchEngine::Redis(redis.url.clone())).await;
            }
            other => {
                eprintln!("ingest_http: unknown engine {other:?} (memory, durable-everysec, durable-always, redis)")
            }
        }
    }
}
