//! Logs and metrics: how the engineers who run Campanile see inside it.
//!
//! Metric names live here so that the `/metrics` page and the code that
//! records into it cannot drift apart.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Names of every metric Campanile records.
pub mod metric {
    /// Surge and threshold alerts raised by this node.
    pub const ALERTS_RAISED: &str = "campanile_alerts_raised_total";
    /// Posts stored by the engine.
    pub const POSTS_ACCEPTED: &str = "campanile_posts_accepted_total";
    /// Posts refused at validation, labelled by `code`.
    pub const POSTS_REJECTED: &str = "campanile_posts_rejected_total";
    /// Posts already seen within retention.
    pub const POSTS_DUPLICATE: &str = "campanile_posts_duplicates_total";
    /// Open WebSocket sessions.
    pub const WS_SESSIONS: &str = "campanile_ws_sessions";
    /// Frames sent to WebSocket clients, labelled by message `type`.
    pub const WS_FRAMES_SENT: &str = "campanile_ws_frames_sent_total";
    /// Engine call latency in seconds, labelled by `engine`, `op`, `outcome`.
    pub const ENGINE_CALL_SECONDS: &str = "campanile_engine_call_seconds";
    /// XML parses of official CAP input, by feed and kind (index, document):
    /// a `304` adds none.
    pub const OFFICIAL_PARSES: &str = "campanile_official_parses_total";
    /// Feed answers and CAP documents refused, by feed and code.
    pub const OFFICIAL_REFUSED: &str = "campanile_official_refused_total";
    /// Requests to the feeds, by feed and outcome (fresh, not_modified, failed).
    pub const OFFICIAL_FETCHES: &str = "campanile_official_fetches_total";
    /// Valid CAP documents that changed the official alerts, by feed.
    pub const OFFICIAL_TAKEN: &str = "campanile_official_taken_total";
    /// Hub ticks that found the engine unavailable.
    pub const HUB_TICK_FAILURES: &str = "campanile_hub_tick_failures_total";
    /// Wall time of each run of the periodic work, in seconds, labelled by
    /// `work`: `heatmap` (the hub's tick: every live heatmap group read and
    /// its delta made; with no group, the engine's ping), `zones` (every zone's status), and for each round
    /// of the text log follower `texts` (the whole round: reading the log,
    /// masking, terms, clusters, alerts, publishing) and its parts
    /// `masking`, `trends` and `coordination` (near-duplicate clusters,
    /// their discounts and alerts). `_sum` over a span of time, divided by
    /// it, is the share of one core the work took (an upper bound: a thread
    /// waiting for a core or for the engine counts too).
    pub const TICK_SECONDS: &str = "campanile_tick_seconds";
}

/// The `work` label values of [`metric::TICK_SECONDS`].
pub mod work {
    /// The hub's heatmap tick.
    pub const HEATMAP: &str = "heatmap";
    /// The zones' status.
    pub const ZONES: &str = "zones";
    /// One whole round of the text log follower.
    pub const TEXTS: &str = "texts";
    /// Masking personal data in a round's texts.
    pub const MASKING: &str = "masking";
    /// A round's trends: terms counted, expired, published.
    pub const TRENDS: &str = "trends";
    /// A round's coordination: clusters grown, expired, published, alerted.
    pub const COORDINATION: &str = "coordination";
}

/// Records one run of the periodic `work` that took `took`.
pub fn record_tick(work: &'static str, took: std::time::Duration) {
    metrics::histogram!(metric::TICK_SECONDS, "work" => work).record(took.as_secs_f64());
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once and returns its
/// handle. Several servers in one process (tests) share it.
pub fn prometheus() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ];
            // From a tenth of a millisecond (a tick with little to do) to
            // two seconds (a round catching up on a flood of texts).
            let tick_buckets = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(metric::ENGINE_CALL_SECONDS.to_owned()), &buckets)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(metric::TICK_SECONDS.to_owned()), &tick_buckets)
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Sets up logging to stderr, filtered by `RUST_LOG` (default `info`).
/// Safe to call more than once.
pub fn init_logging(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // The geometry library logs every step of covering the zones by cells
    // at debug level (some 700 KiB at start-up), which would drown the
    // server's own debug logs; its warnings still show.
    let filter = match "geo=info".parse() {
        Ok(quiet_geometry) => filter.add_directive(quiet_geometry),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
