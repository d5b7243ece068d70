//! What a run measured, as JSON for bench/results and as text for a person.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::Protocol;
pub use super::sources::SourceAddresses;

/// What was asked of a run, echoed in its report so that a result file
/// says how it was made.
#[derive(Debug, Clone, Serialize)]
pub struct RunParams {
    /// WebSocket subscribers.
    pub clients: usize,
    /// Posts per second offered.
    pub ingest_rate: u64,
    /// Posts per request.
    pub batch: usize,
    /// Broadcasts sent.
    pub broadcasts: u64,
    /// Load duration, seconds.
    pub duration_s: f64,
    /// Heatmap resolutions.
    pub resolutions: Vec<u8>,
    /// Target protocol.
    pub protocol: Protocol,
    /// Broadcasts only, no heatmap.
    pub broadcasts_only: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub samples: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl From<&Histogram<u64>> for Percentiles {
    fn from(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1_000.0;
        Self {
            samples: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Ingest figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestFigures {
    /// Posts per second sent.
    pub offered_per_s: f64,
    /// Posts per second the server acknowledged (202).
    pub accepted_per_s: f64,
    /// Requests that did not get a 202.
    pub failed_requests: u64,
    /// From a batch's send to its 202: what waiting for replicas, say, adds.
    pub latency_ms: Percentiles,
}

/// Broadcast figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BroadcastFigures {
    /// Send → arrival on each subscriber.
    #[serde(flatten)]
    pub each: Percentiles,
    /// Send → arrival on the last subscriber, per broadcast.
    pub last_subscriber: Percentiles,
    /// Deliveries seen / deliveries expected.
    pub delivered: u64,
    /// Broadcasts accepted by the server × subscribers connected at the end.
    pub expected: u64,
    /// Deliveries per second of load: the fan-out throughput.
    pub deliveries_per_s: f64,
}

/// Connections.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientFigures {
    /// Established.
    pub connected: u64,
    /// Closed or failed before the end, refused or never made (no port
    /// left on the source address among them).
    pub dropped: u64,
    /// Of the dropped, those that never connected: refused by the server
    /// (a full node answers 503) or never made.
    pub refused: u64,
    /// Where the subscribers connected from.
    pub source_addresses: SourceAddresses,
}

/// A process's resources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessFigures {
    /// Resident memory at the end, MiB.
    pub rss_mb: f64,
    /// CPU over the run, percent of one core.
    pub cpu_pct: f64,
}

/// What one kind of the server's periodic work cost during the load, from
/// its `campanile_tick_seconds` histogram read before and after.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickCost {
    /// The work: `heatmap`, `zones`, `texts`, `masking`, `trends`,
    /// `coordination`.
    pub work: String,
    /// Runs during the load.
    pub runs: u64,
    /// Mean wall time of a run, ms.
    pub mean_ms: f64,
    /// 99th percentile of a run's wall time, ms, estimated from the
    /// histogram's buckets as Prometheus does; `None` without runs.
    pub p99_ms: Option<f64>,
    /// Seconds of work per second of load: the share of one core it took
    /// (at most; time a run waited for a core or the engine counts too).
    pub core_share: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// What was asked.
    pub params: RunParams,
    /// Ingest.
    pub ingest: IngestFigures,
    /// Ingest-to-delta latency.
    pub delta_latency_ms: Percentiles,
    /// Broadcast fan-out latency.
    pub broadcast_latency_ms: BroadcastFigures,
    /// Connections.
    pub clients: ClientFigures,
    /// The server, when its process is known.
    pub server: Option<ProcessFigures>,
    /// This generator.
    pub generator: ProcessFigures,
    /// Whether the generator itself was near saturation (its figures then
    /// bound the server's from below).
    pub generator_saturated: bool,
    /// The server's periodic work during the load, by work; empty when its
    /// `/metrics` could not be read (the Node.js peers have none).
    pub tick_costs: Vec<TickCost>,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = |p: &Percentiles| {
            format!(
                "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
                p.p50, p.p90, p.p99, p.max, p.samples
            )
        };
        writeln!(
            f,
            "ingest: offered {:.0} posts/s, accepted {:.0} posts/s, {} failed requests",
            self.ingest.offered_per_s, self.ingest.accepted_per_s, self.ingest.failed_requests
        )?;
        writeln!(f, "ingest request → 202: {}", p(&self.ingest.latency_ms))?;
        writeln!(f, "ingest → delta: {}", p(&self.delta_latency_ms))?;
        writeln!(f, "broadcast → each subscriber: {}", p(&self.broadcast_latency_ms.each))?;
        writeln!(
            f,
            "broadcast → last subscriber: {} ({}/{} delivered, {:.0} deliveries/s)",
            p(&self.broadcast_latency_ms.last_subscriber),
            self.broadcast_latency_ms.delivered,
            self.broadcast_latency_ms.expected,
            self.broadcast_latency_ms.deliveries_per_s
        )?;
        let sources = &self.clients.source_addresses;
        let from = match (sources.first, sources.last) {
            (Some(first), Some(last)) if first == last => format!("1 source address ({first})"),
            (Some(first), Some(last)) => format!("{} source addresses ({first}–{last})", sources.count),
            _ => "1 source address (the OS's choice: the target is not loopback)".to_owned(),
        };
        writeln!(
            f,
            "clients: {} connected from {from}, {} dropped ({} of them never connected)",
            self.clients.connected, self.clients.dropped, self.clients.refused
        )?;
        if let Some(s) = &self.server {
            writeln!(f, "server: {:.1} MiB RSS, {:.0}% CPU", s.rss_mb, s.cpu_pct)?;
        }
        if self.tick_costs.is_empty() {
            writeln!(f, "periodic work: unknown (the server's /metrics could not be read)")?;
        } else {
            writeln!(f, "periodic work during the load (from /metrics):")?;
            for c in &self.tick_costs {
                let p99 = c.p99_ms.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} ms"));
                writeln!(
                    f,
                    "  {}: {} runs, mean {:.2} ms, p99 {p99}, {:.2}% of one core",
                    c.work,
                    c.runs,
                    c.mean_ms,
                    c.core_share * 100.0
                )?;
            }
        }
        write!(
            f,
            "generator: {:.1} MiB RSS, {:.0}% CPU{}",
            self.generator.rss_mb,
            self.generator.cpu_pct,
            if self.generator_saturated {
                " — saturated: the figures are bounded by the generator"
            } else {
                ""
            }
        )
    }
}
