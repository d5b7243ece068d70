//! `campanile bench`: a load generator that uses a server as its users do.
//!
//! It is not a step of the data flow but an instrument for it: it posts
//! batches through the real HTTP API, holds real WebSocket subscribers and
//! sends real broadcasts, and measures what those users would feel:
//! - ingest-to-delta latency, from a probe batch's send to the first
//!   `heatmap.delta` on each client that shows the probe's cell;
//! - broadcast fan-out latency, from the send to the arrival on each
//!   subscriber, and until the last subscriber has it.
//!
//! Clients are spread over several threads (actix arbiters), each with its
//! own HTTP client, so that one thread is not the bottleneck; the generator
//! reports its own CPU use so that a saturated generator is visible.
//! Against a loopback target they connect from as many loopback addresses as
//! the kernel's ephemeral ports need ([`sources`]), so that 50,000 of them
//! are not held to the 28,000 or so ports of one address.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

mod process;
use process::{cpu_ticks, rss_mb, ticks_to_pct};
mod report;
mod sources;
mod subscriber;
mod ticks;

pub use report::BenchReport;
use report::*;
use sources::Sources;
use subscriber::{Subscription, subscriber};

/// The wire protocol of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Campanile's own API.
    Campanile,
    /// The Node.js `ws` peer: Campanile's broadcast subset, no posts.
    Ws,
    /// Socket.IO (Engine.IO 4 over a WebSocket), for the Socket.IO peer.
    Socketio,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Base URL of the server.
    pub target: String,
    /// An operator token: posts, broadcasts and the full heatmap.
    pub token: String,
    /// Posts per second offered.
    pub ingest_rate: u64,
    /// Posts per request.
    pub batch: usize,
    /// WebSocket subscribers.
    pub clients: usize,
    /// Resolutions the heatmap subscribers spread over.
    pub resolutions: Vec<u8>,
    /// Broadcasts sent over the run.
    pub broadcasts: u64,
    /// How long to load the server.
    pub duration: Duration,
    /// The server's process, for its RSS and CPU.
    pub server_pid: Option<u32>,
    /// Threads for the clients.
    pub threads: usize,
    /// What the target speaks.
    pub protocol: Protocol,
    /// Subscribe to broadcasts only (no heatmap, no probes): the load the
    /// Node.js peers can be compared on.
    pub broadcasts_only: bool,
    /// Loopback source addresses asked for; 0: as many as needed.
    pub source_addresses: usize,
    /// Share of the posts with a text (0–1).
    pub text_share: f64,
}

/// What the clients share with the senders: when each probe cell and each
/// broadcast was sent.
#[derive(Default)]
struct Shared {
    probes: RwLock<HashMap<String, Instant>>,
    broadcasts: RwLock<HashMap<String, Instant>>,
    delta_latency: Mutex<Vec<Duration>>,
    /// From a batch's send to its 202.
    ingest_latency: Mutex<Vec<Duration>>,
    broadcast_arrivals: Mutex<HashMap<String, Vec<Duration>>>,
    connected: AtomicU64,
    dropped: AtomicU64,
    /// Of the dropped, those that never connected.
    refused: AtomicU64,
    accepted: AtomicU64,
    offered: AtomicU64,
    broadcasts_sent: AtomicU64,
    failed: AtomicU64,
}

/// Runs the load and measures.
pub async fn run(options: BenchOptions) -> Result<BenchReport, String> {
    // As far as it goes, as the server does: each subscriber holds a descriptor.
    let _ = campanile::ws::admission::raise_open_file_limit();
    let shared = Arc::new(Shared::default());
    let server_before = options.server_pid.and_then(cpu_ticks);
    let self_before = cpu_ticks(std::process::id());
    let ports = sources::ephemeral_ports();
    let requested = options.source_addresses;
    let sources = Sources::plan(&options.target, options.clients, requested, ports);
    if requested > 0 && sources == Sources::Os {
        eprintln!("--source-addresses: the target is not a loopback address: the OS chooses the source address");
    }
    let started = Instant::now();
    // Fired a moment after the load ends, however long connecting took.
    let stop_clients = CancellationToken::new();

    // Subscribers, spread over threads.
    let threads = options.threads.max(1);
    let mut arbiters = Vec::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for t in 0..threads {
        let arbiter = actix_rt::Arbiter::new();
        let mine: Vec<usize> = (0..options.clients).filter(|c| c % threads == t).collect();
        let (shared, options, done, stop) = (shared.clone(), options.clone(), done_tx.clone(), stop_clients.clone());
        // The HTTP client is not Send: build it, and everything that uses it, on the arbiter's thread.
        arbiter.spawn_fn(move || {
            actix_rt::spawn(async move {
                // One HTTP client per source address: the address is the
                // connector's. A thread's clients come in order, and so do
                // their addresses.
                let mut http: Option<(Option<IpAddr>, awc::Client)> = None;
                let mut tasks = Vec::new();
                for c in mine {
                    let from = sources.address_of(c, options.clients);
                    let http = match &http {
                        Some((at, client)) if *at == from => client.clone(),
                        _ => http.insert((from, http_client(from))).1.clone(),
                    };
                    let res = options.resolutions[c % options.resolutions.len()];
                    // Every other client is public (res ≤ 9), the rest operators.
                    let token = (c % 2 == 0 || res > 9).then(|| options.token.clone());
                    tasks.push(actix_rt::spawn(subscriber(
                        http,
                        Subscription {
                            target: options.target.clone(),
                            protocol: options.protocol,
                            token,
                            res: (!options.broadcasts_only).then_some(res),
                        },
                        shared.clone(),
                        stop.clone(),
                    )));
                    if c % 100 == 99 {
                        // Let the server accept in waves rather than all at once.
                        actix_rt::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                for t in tasks {
                    let _ = t.await;
                }
                let _ = done.send(());
            });
        });
        arbiters.push(arbiter);
    }
    drop(done_tx);
    // Let the subscribers connect before the load starts.
    let connect_deadline = Instant::now() + Duration::from_secs(30);
    while (shared.connected.load(Ordering::Relaxed) + shared.dropped.load(Ordering::Relaxed)) < options.clients as u64
        && Instant::now() < connect_deadline
    {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let http = http_client(None);
    // The periodic work's histogram before and after the load: what the
    // server's ticks cost meanwhile. Only Campanile has one.
    let has_metrics = options.protocol == Protocol::Campanile;
    let ticks_before = match has_metrics {
        true => ticks::scrape(&http, &options.target, &options.token).await,
        false => None,
    };
    let load_started = Instant::now();
    let ingest = actix_rt::spawn(ingest(
        http.clone(),
        options.clone(),
        shared.clone(),
        load_started + options.duration,
    ));
    let broadcasts = actix_rt::spawn(send_broadcasts(
        http.clone(),
        options.clone(),
        shared.clone(),
        load_started + options.duration,
    ));
    let probes = actix_rt::spawn(send_probes(
        http.clone(),
        options.clone(),
        shared.clone(),
        load_started + options.duration,
    ));
    let _ = ingest.await;
    let _ = broadcasts.await;
    let _ = probes.await;
    let elapsed = load_started.elapsed().as_secs_f64().max(0.001);
    let ticks_after = match has_metrics {
        true => ticks::scrape(&http, &options.target, &options.token).await,
        false => None,
    };
    let tick_costs = ticks::costs(ticks_before.as_ref(), ticks_after.as_ref());
    // Deliveries still in flight arrive in this grace period.
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    stop_clients.cancel();
    while done_rx.recv().await.is_some() {}
    for a in arbiters {
        a.stop();
    }

    let arrivals = lock(&shared.broadcast_arrivals);
    let each: Vec<Duration> = arrivals.values().flatten().copied().collect();
    let last: Vec<Duration> = arrivals.values().filter_map(|a| a.iter().max().copied()).collect();
    let connected = shared.connected.load(Ordering::Relaxed);
    let dropped = shared.dropped.load(Ordering::Relaxed);
    let refused = shared.refused.load(Ordering::Relaxed);
    let wall = started.elapsed().as_secs_f64();
    let own = cpu_ticks(std::process::id())
        .zip(self_before)
        .map(|(now, before)| now.saturating_sub(before))
        .unwrap_or(0);
    let generator = ProcessFigures {
        rss_mb: rss_mb(std::process::id()).unwrap_or(0.0),
        cpu_pct: ticks_to_pct(own, wall),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let report = BenchReport {
        params: RunParams {
            clients: options.clients,
            ingest_rate: options.ingest_rate,
            batch: options.batch,
            broadcasts: options.broadcasts,
            duration_s: options.duration.as_secs_f64(),
            resolutions: options.resolutions.clone(),
            protocol: options.protocol,
            broadcasts_only: options.broadcasts_only,
        },
        ingest: IngestFigures {
            offered_per_s: shared.offered.load(Ordering::Relaxed) as f64 / elapsed,
            accepted_per_s: shared.accepted.load(Ordering::Relaxed) as f64 / elapsed,
            failed_requests: shared.failed.load(Ordering::Relaxed),
            latency_ms: percentiles(&lock(&shared.ingest_latency)),
        },
        delta_latency_ms: percentiles(&lock(&shared.delta_latency)),
        broadcast_latency_ms: BroadcastFigures {
            each: percentiles(&each),
            last_subscriber: percentiles(&last),
            delivered: each.len() as u64,
            // Those connected and still there at the end: a subscriber
            // refused at the start was never counted connected.
            expected: shared.broadcasts_sent.load(Ordering::Relaxed)
                * connected.saturating_sub(dropped.saturating_sub(refused)),
            deliveries_per_s: each.len() as f64 / elapsed,
        },
        clients: ClientFigures {
            connected,
            dropped,
            refused,
            source_addresses: sources.figures(ports),
        },
        server: options.server_pid.and_then(|pid| {
            let cpu = cpu_ticks(pid)?.saturating_sub(server_before?);
            Some(ProcessFigures {
                rss_mb: rss_mb(pid)?,
                cpu_pct: ticks_to_pct(cpu, wall),
            })
        }),
        generator_saturated: generator.cpu_pct > 90.0 * (threads as f64 + 1.0).min(cores),
        generator,
        tick_costs,
    };
    Ok(report)
}

/// An HTTP/1.1 client without the default cap of 100 open connections,
/// which would hold all but the first hundred subscribers of a thread;
/// its connections come from `from` (bound before connecting), or from the
/// OS's choice. A connection the kernel has no port left for fails as any
/// other that cannot be made: its subscriber counts as dropped.
fn http_client(from: Option<IpAddr>) -> awc::Client {
    let mut connector = awc::Connector::new().limit(0);
    if let Some(ip) = from {
        connector = connector.local_address(ip);
    }
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .max_http_version(awc::http::Version::HTTP_11)
        .connector(connector)
        .finish()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn percentiles(samples: &[Duration]) -> Percentiles {
    let Ok(mut h) = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3) else {
        return Percentiles::default();
    };
    for s in samples {
        let _ = h.record((s.as_micros() as u64).max(1));
    }
    Percentiles::from(&h)
}

/// Places the n-th probe in a cell of its own, far from the event's posts,
/// so that the first delta showing the cell is the probe's.
fn probe_point(n: u64) -> (f64, f64) {
    (-30.0 + (n % 400) as f64 * 0.05, -40.0 + (n / 400 % 400) as f64 * 0.05)
}

/// Words a crowd's posts are made of, Italian and English.
const CROWD_WORDS: [&str; 24] = [
    "piazza",
    "maggiore",
    "folla",
    "crowd",
    "polizia",
    "police",
    "uscita",
    "exit",
    "bloccata",
    "blocked",
    "gente",
    "people",
    "concerto",
    "stage",
    "stazione",
    "station",
    "fumo",
    "smoke",
    "calma",
    "calm",
    "via",
    "rizzoli",
    "nettuno",
    "ambulanza",
];

/// The text of the k-th post, if it has one: a `share` of the posts do,
/// five words each (the terms trends count); one in twenty of those is the
/// same slogan, which the coordination detector should cluster.
fn post_text(k: u64, share: f64) -> Option<String> {
    if (k % 1_000) as f64 >= share * 1_000.0 {
        return None;
    }
    if k.is_multiple_of(20) {
        return Some("tutti in piazza maggiore alle nove, passate parola".to_owned());
    }
    let word = |n: u64| CROWD_WORDS[(k.wrapping_mul(n) % CROWD_WORDS.len() as u64) as usize];
    Some(format!(
        "{} {} {} {} {}",
        word(7),
        word(13),
        word(31),
        word(61),
        word(97)
    ))
}

/// Offers `ingest_rate` posts/s in batches.
async fn ingest(http: awc::Client, options: BenchOptions, shared: Arc<Shared>, until: Instant) {
    if options.ingest_rate == 0 || options.protocol != Protocol::Campanile {
        return;
    }
    let batch = options.batch.clamp(1, campanile::ingest::MAX_BATCH_ITEMS);
    let per_second = (options.ingest_rate as usize).div_ceil(batch).max(1);
    let period = Duration::from_secs_f64(1.0 / per_second as f64);
    let run = hex::encode(rand::random::<[u8; 4]>());
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let url = format!("{}/api/v1/posts", options.target.trim_end_matches('/'));
    let mut next = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < until {
        let mut body = String::with_capacity(batch * 110);
        body.push('[');
        let ts = chrono::Utc::now().to_rfc3339();
        for i in 0..batch {
            if i > 0 {
                body.push(',');
            }
            let k = n * batch as u64 + i as u64;
            let (lat, lon) = (
                44.480 + (k * 7_919 % 1_000) as f64 * 0.000_03,
                11.320 + (k * 104_729 % 1_000) as f64 * 0.000_04,
            );
            let text = post_text(k, options.text_share)
                .map(|t| format!(r#","text":"{t}""#))
                .unwrap_or_default();
            body.push_str(&format!(
                r#"{{"source":"bench","id":"{run}-{k}","lat":{lat:.6},"lon":{lon:.6},"author":"a{}","ts":"{ts}"{text}}}"#,
                k % 5_000
            ));
        }
        body.push(']');
        let count = batch as u64;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let (http, url, token, shared) = (http.clone(), url.clone(), options.token.clone(), shared.clone());
        actix_rt::spawn(async move {
            shared.offered.fetch_add(count, Ordering::Relaxed);
            let sent = Instant::now();
            let answer = http
                .post(&url)
                .bearer_auth(&token)
                .insert_header(("Content-Type", "application/json"))
                .send_body(body)
                .await;
            match answer {
                Ok(r) if r.status().as_u16() == 202 => {
                    lock(&shared.ingest_latency).push(sent.elapsed());
                    shared.accepted.fetch_add(count, Ordering::Relaxed);
                }
                _ => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(permit);
        });
        n += 1;
        next += period;
        let now = Instant::now();
        if next > now {
            actix_rt::time::sleep(next - now).await;
        }
    }
    // Let the requests in flight finish.
    let _ = in_flight.acquire_many(64).await;
}

/// Sends a probe about four times a second, at random moments so that
/// probes do not fall at one phase of the server's tick (and enough of them
/// that percentiles are not those of a handful of send times): five posts
/// by five authors (so that public clients see it too) in a cell of its own.
async fn send_probes(http: awc::Client, options: BenchOptions, shared: Arc<Shared>, until: Instant) {
    if options.protocol != Protocol::Campanile || options.broadcasts_only {
        return;
    }
    let url = format!("{}/api/v1/posts", options.target.trim_end_matches('/'));
    let run = hex::encode(rand::random::<[u8; 4]>());
    let mut n: u64 = 0;
    while Instant::now() < until {
        actix_rt::time::sleep(Duration::from_millis(100 + rand::random::<u64>() % 300)).await;
        let (lat, lon) = probe_point(n);
        let ts = chrono::Utc::now().to_rfc3339();
        let posts: Vec<Value> = (0..5)
            .map(|a| {
                json!({"source": "bench", "id": format!("{run}-probe-{n}-{a}"), "lat": lat, "lon": lon,
                            "author": format!("probe{a}"), "ts": ts})
            })
            .collect();
        let Ok(ll) = h3o::LatLng::new(lat, lon) else { continue };
        let sent = Instant::now();
        {
            let mut probes = lock_write(&shared.probes);
            for res in &options.resolutions {
                if let Ok(r) = h3o::Resolution::try_from(*res) {
                    probes.insert(ll.to_cell(r).to_string(), sent);
                }
            }
        }
        let answer = http.post(&url).bearer_auth(&options.token).send_json(&posts).await;
        if !answer.is_ok_and(|r| r.status().as_u16() == 202) {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
    }
}

/// Sends `broadcasts` public messages spread over the run.
async fn send_broadcasts(http: awc::Client, options: BenchOptions, shared: Arc<Shared>, until: Instant) {
    if options.broadcasts == 0 {
        return;
    }
    let gap = options.duration.div_f64(options.broadcasts as f64 + 1.0);
    let url = format!("{}/api/v1/broadcasts", options.target.trim_end_matches('/'));
    let start = Instant::now();
    let mut sends = Vec::new();
    for n in 0..options.broadcasts {
        // On a fixed schedule, so that a slow answer does not lower the rate.
        let at = start + gap.mul_f64(n as f64 + 1.0);
        actix_rt::time::sleep_until(at.into()).await;
        if Instant::now() > until + gap {
            break;
        }
        let headline = format!("bench {n} {}", hex::encode(rand::random::<[u8; 4]>()));
        let body = json!({
            "audience": "public", "msg_type": "Alert", "category": "Safety", "event": "Load test",
            "severity": "Minor", "urgency": "Future", "certainty": "Possible",
            "headline": headline, "language": "en",
            "expires": (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339(),
            "area": {"description": "The whole event", "circles": [{"lat": 44.4937, "lon": 11.343, "radius_m": 5_000}]},
        });
        lock_write(&shared.broadcasts).insert(headline.clone(), Instant::now());
        // Not awaited here: a slow answer must not hold back the next send.
        let (http, url, token, shared) = (http.clone(), url.clone(), options.token.clone(), shared.clone());
        sends.push(actix_rt::spawn(async move {
            let sent = http.post(&url).bearer_auth(&token).send_json(&body).await;
            if sent.is_ok_and(|r| r.status().as_u16() == 201) {
                shared.broadcasts_sent.fetch_add(1, Ordering::Relaxed);
            } else {
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for send in sends {
        let _ = send.await;
    }
}

fn lock_write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
