//! Broadcast fan-out: the time from `POST /api/v1/broadcasts` until each of
//! 1,000 local WebSocket subscribers has the message, on each engine.
//!
//! `cargo bench --bench broadcast_fanout` (env `FANOUT_CLIENTS`, default 1000;
//! `FANOUT_MESSAGES`, default 20). Client and server share this machine.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awc::ws;
use campanile::domain::Role;
use futures_util::{SinkExt, StreamExt};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

type Arrivals = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

async fn run(label: &str, engine: support::BenchEngine) {
    let (port, stopper) = support::start_server(&engine).await;
    let operator = support::token(Role::Operator);

    let clients = env_or("FANOUT_CLIENTS", 1_000);
    let messages = env_or("FANOUT_MESSAGES", 20);
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let mut ready = Vec::new();
    for _ in 0..clients {
        let arrivals = arrivals.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(rx);
        actix_web::rt::spawn(async move {
            let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
            let Ok((_, mut framed)) = client.ws(format!("ws://127.0.0.1:{port}/ws")).connect().await else {
                return;
            };
            let sub = r#"{"type":"subscribe","channel":"broadcasts"}"#;
            if framed.send(ws::Message::Text(sub.into())).await.is_err() {
                return;
            }
            let mut tx = Some(tx);
            while let Some(Ok(frame)) = framed.next().await {
                if let ws::Frame::Text(bytes) = frame {
                    let msg: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                    match msg["type"].as_str() {
                        Some("subscribed") => {
                            if let Some(tx) = tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Some("broadcast") => {
                            let now = Instant::now();
                            if let (Some(seq), Ok(mut a)) = (msg["seq"].as_u64(), arrivals.lock()) {
                                a.entry(seq).or_default().push(now);
                            }
                        }
                        _ => {}
                    }
                }
            }
        });
    }
    let mut connected = 0;
    for rx in ready {
        if tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .is_ok_and(|r| r.is_ok())
        {
            connected += 1;
        }
    }

    let http = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    for i in 0..messages {
        let body = serde_json::json!({
            "audience": "public", "category": "Safety", "event": "Bench", "severity": "Minor",
            "urgency": "Expected", "certainty": "Likely", "headline": format!("bench {i}"),
            "area": {"zones": ["piazza-maggiore"]},
            "expires": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        });
        let started = Instant::now();
        let mut resp = http
            .post(format!("http://127.0.0.1:{port}/api/v1/broadcasts"))
            .insert_header(("Authorization", format!("Bearer {operator}")))
            .send_json(&body)
            .await
            .expect("post");
        let stored: serde_json::Value = resp.json().await.expect("json");
        if let Some(seq) = stored["seq"].as_u64() {
            sent_at.insert(seq, started);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut all = Vec::new();
    let mut to_last = Vec::new();
    let mut delivered = 0;
    for (seq, started) in &sent_at {
        let times = arrivals.get(seq).cloned().unwrap_or_default();
        delivered += times.len();
        let lat: Vec<Duration> = times.iter().map(|t| t.duration_since(*started)).collect();
        if let Some(max) = lat.iter().max() {
            to_last.push(*max);
        }
        all.extend(lat);
    }
    all.sort();
    to_last.sort();
    println!(
        "{label:>6}: {connected}/{clients} subscribers, {} messages, {delivered}/{} deliveries; \
         POST→subscriber p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; POST→last subscriber p50 {:.1} ms, max {:.1} ms",
        sent_at.len(),
        sent_at.len() * connected,
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        percentile(&all, 1.0).as_secs_f64() * 1e3,
        percentile(&to_last, 0.5).as_secs_f64() * 1e3,
        percentile(&to_last, 1.0).as_secs_f64() * 1e3,
    );
    stopper.stop().await;
}

#[actix_web::main]
async fn main() {
    if !support::measuring("broadcast_fanout") {
        return;
    }
    // Server and 1,000 clients in one process need more than the usual 1,024 descriptors.
    let _ = rlimit::increase_nofile_limit(65_536);
    run("memory", support::BenchEngine::Memory).await;
    let redis = support::start_redis();
    run("redis", support::BenchEngine::Redis(redis.url.clone())).await;
}
