//! Configuration: flags, then `CAMPANILE_*` environment variables, then an
//! optional TOML file, then defaults — the first that sets a value wins.
//!
//! [`ServeArgs`] is both the clap definition and the TOML schema, so that a
//! setting cannot exist in one place and not the other. [`Settings`] is the
//! resolved, checked result the server runs with.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::domain::ResolutionRange;
use crate::domain::{Window, Windows};
use crate::engine::Layout;

/// A secret that never prints.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's bytes, for keying.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// `campanile serve` options. Every option can also be set by the
/// environment variable shown, or by the same name (snake_case) in the TOML
/// file given with `--config`.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML configuration file (lowest precedence after the defaults).
    #[arg(long, env = "CAMPANILE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CAMPANILE_LISTEN")]
    pub listen: Option<String>,

    /// Use the Redis engine at this URL instead of the embedded memory engine.
    #[arg(long, env = "CAMPANILE_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Use the Redis engine on a Redis Cluster given by some of its nodes,
    /// comma-separated (`redis://h1:7000,redis://h2:7001`).
    #[arg(long, env = "CAMPANILE_REDIS_CLUSTER_NODES")]
    pub redis_cluster_nodes: Option<String>,

    /// Use the Redis engine on a primary with replicas, reached through the
    /// Redis Sentinels given here, comma-separated
    /// (`redis://h1:26379,redis://h2:26379`); needs `--redis-sentinel-master`.
    #[arg(long, env = "CAMPANILE_REDIS_SENTINEL")]
    pub redis_sentinel: Option<String>,

    /// The name the sentinels monitor the primary under (`sentinel monitor NAME …`).
    #[arg(long, env = "CAMPANILE_REDIS_SENTINEL_MASTER")]
    pub redis_sentinel_master: Option<String>,

    /// Prefix of every Redis key [default: campanile:].
    #[arg(long, env = "CAMPANILE_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,

    /// Redis call timeout; past it the API answers 503 [default: 2s].
    #[arg(long, env = "CAMPANILE_REDIS_TIMEOUT")]
    pub redis_timeout: Option<String>,

    /// Where the embedded engine keeps its data, made on first start; a
    /// restart replays it [default: ./campanile-data; with --demo, none
    /// unless given].
    #[arg(long, env = "CAMPANILE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Keep the embedded engine's data in memory only: a restart or a crash
    /// loses every count, report, broadcast and audit entry (tests,
    /// benchmarks, a demo that should leave nothing behind).
    #[arg(long, env = "CAMPANILE_EPHEMERAL", num_args = 0..=1, default_missing_value = "true")]
    pub ephemeral: Option<bool>,

    /// When the embedded engine's writes reach the disk: `always` before
    /// each answer, `everysec` once a second (a crash of the process loses
    /// nothing answered, a power cut up to a second) [default: everysec].
    #[arg(long, env = "CAMPANILE_FSYNC")]
    pub fsync: Option<String>,

    /// Acknowledge a write only once this many Redis replicas have it
    /// (Redis `WAIT`, on every master of a cluster), else answer 503; 0
    /// acknowledges what the master has, which a failover may lose
    /// [default: 0].
    #[arg(long, env = "CAMPANILE_REDIS_WAIT_REPLICAS")]
    pub redis_wait_replicas: Option<u32>,

    /// Secret that signs tokens. Without it a random one is made for this
    /// process only.
    #[arg(long, env = "CAMPANILE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Secret that keys the author hash (never the token secret, DESIGN §6).
    /// Without it a random one is made for this process only: every node of
    /// a deployment needs the same one to count contributors alike.
    #[arg(long, env = "CAMPANILE_AUTHOR_SECRET", hide_env_values = true)]
    pub author_secret: Option<Secret>,

    /// Issuer (`iss`) that tokens must carry [default: none required].
    #[arg(long, env = "CAMPANILE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Longest lifetime a token may claim (exp − iat) [default: 24h].
    #[arg(long, env = "CAMPANILE_TOKEN_MAX_TTL")]
    pub token_max_ttl: Option<String>,

    /// Coarsest H3 resolution counted [default: 7].
    #[arg(long, env = "CAMPANILE_RES_MIN")]
    pub res_min: Option<u8>,

    /// Finest H3 resolution counted; every item is bucketed at it [default: 11].
    #[arg(long, env = "CAMPANILE_RES_MAX")]
    pub res_max: Option<u8>,

    /// Resolution of a heatmap request that names none [default: 9].
    #[arg(long, env = "CAMPANILE_DEFAULT_RES")]
    pub default_res: Option<u8>,

    /// Length of a time bucket [default: 10s].
    #[arg(long, env = "CAMPANILE_BUCKET")]
    pub bucket: Option<String>,

    /// Sliding windows clients may read, comma separated [default: 1m,5m,15m,60m].
    #[arg(long, env = "CAMPANILE_WINDOWS")]
    pub windows: Option<String>,

    /// Window of a request that names none [default: 15m].
    #[arg(long, env = "CAMPANILE_DEFAULT_WINDOW")]
    pub default_window: Option<String>,

    /// How long post ids (and later texts) are kept [default: 24h].
    #[arg(long, env = "CAMPANILE_RETENTION")]
    pub retention: Option<String>,

    /// How long counts are kept so that `?at=` can replay them, in 1-minute
    /// steps once older than the longest window; at least the longest
    /// window, at most 7d [default: 24h].
    #[arg(long, env = "CAMPANILE_COUNT_RETENTION")]
    pub count_retention: Option<String>,

    /// A request body must have arrived this long after its headers; a
    /// stalled one is answered 408 and its connection closed [default: 30s].
    #[arg(long, env = "CAMPANILE_BODY_TIMEOUT")]
    pub body_timeout: Option<String>,

    /// How often heatmap deltas are pushed [default: 500ms].
    #[arg(long, env = "CAMPANILE_TICK")]
    pub tick: Option<String>,

    /// Finest resolution the public may read [default: 9].
    #[arg(long, env = "CAMPANILE_PUBLIC_MAX_RES")]
    pub public_max_res: Option<u8>,

    /// Fewest distinct contributors a cell needs to be shown to the public [default: 5].
    #[arg(long, env = "CAMPANILE_K_ANONYMITY")]
    pub k_anonymity: Option<u64>,

    /// Upper bounds of public heatmap levels 1–4 in items per km² per
    /// minute; above the last is level 5 [default: 10,30,100,300].
    #[arg(long, env = "CAMPANILE_PUBLIC_BANDS")]
    pub public_bands: Option<String>,

    /// The window over which a zone's contributors become people; one of
    /// the windows [default: 15m, else the default window].
    #[arg(long, env = "CAMPANILE_ESTIMATE_WINDOW")]
    pub estimate_window: Option<String>,

    /// People per distinct contributor until head-counts calibrate the
    /// estimates [default: 25].
    #[arg(long, env = "CAMPANILE_PEOPLE_PER_CONTRIBUTOR")]
    pub people_per_contributor: Option<f64>,

    /// People per m² from which a zone is caution, alert, serious and
    /// critical [default: 2,4,5,6].
    #[arg(long, env = "CAMPANILE_DENSITY_LEVELS")]
    pub density_levels: Option<String>,

    /// Resolution watched for surge and threshold alerts [default: 9].
    #[arg(long, env = "CAMPANILE_ALERT_RES")]
    pub alert_res: Option<u8>,

    /// A surge alert needs at least this many items in a cell in the last minute [default: 30].
    #[arg(long, env = "CAMPANILE_ALERT_SURGE_MIN")]
    pub alert_surge_min: Option<u64>,

    /// ... and this many times the cell's per-minute rate of the 15 minutes before [default: 3].
    #[arg(long, env = "CAMPANILE_ALERT_SURGE_FACTOR")]
    pub alert_surge_factor: Option<f64>,

    /// Items per km² in the last minute that raise a threshold alert [default: 2000].
    #[arg(long, env = "CAMPANILE_ALERT_DENSITY")]
    pub alert_density: Option<f64>,

    /// How far back a new `alerts` subscriber and `GET /api/v1/alerts` look
    /// by default; at most 24h, as long as raised alerts are kept [default: 30m].
    #[arg(long, env = "CAMPANILE_ALERT_HISTORY")]
    pub alert_history: Option<String>,

    /// The window trends count terms over, compared with the one before
    /// it [default: 15m].
    #[arg(long, env = "CAMPANILE_TRENDS_WINDOW")]
    pub trends_window: Option<String>,

    /// Distinct contributors of near-duplicate texts that make a
    /// coordinated cluster [default: 20].
    #[arg(long, env = "CAMPANILE_COORDINATION_MIN")]
    pub coordination_min: Option<u64>,

    /// How close in time a cluster's posts must come [default: 10m].
    #[arg(long, env = "CAMPANILE_COORDINATION_WINDOW")]
    pub coordination_window: Option<String>,

    /// Whether this node reads the text log for trends and coordinated
    /// clusters [default: true]. `false` leaves texts stored and searchable
    /// but gives no trends and no coordination alerts on this node: for a
    /// node that only ingests, and to measure what the analysis costs.
    #[arg(long, env = "CAMPANILE_TEXT_ANALYSIS", num_args = 0..=1, default_missing_value = "true")]
    pub text_analysis: Option<bool>,

    /// How often the server pings WebSocket clients [default: 15s].
    #[arg(long, env = "CAMPANILE_WS_PING")]
    pub ws_ping: Option<String>,

    /// A WebSocket client silent this long is dropped [default: 45s].
    #[arg(long, env = "CAMPANILE_WS_TIMEOUT")]
    pub ws_timeout: Option<String>,

    /// WebSocket connections one public address may hold at once [default: 20].
    #[arg(long, env = "CAMPANILE_WS_MAX_PER_ADDRESS")]
    pub ws_max_per_address: Option<u32>,

    /// WebSocket connections this node holds at most [default: 20000, or
    /// fewer if the open-file limit cannot hold them].
    #[arg(long, env = "CAMPANILE_WS_MAX_CONNECTIONS")]
    pub ws_max_connections: Option<u32>,

    /// Folder of the web pages [default: web].
    #[arg(long, env = "CAMPANILE_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Folder of zones and scenarios [default: geodata].
    #[arg(long, env = "CAMPANILE_GEODATA_DIR")]
    pub geodata_dir: Option<PathBuf>,

    /// A PMTiles v3 archive of vector tiles the pages draw as the base map,
    /// served at /basemap.pmtiles [default: the built-in streets of geodata/basemap].
    #[arg(long, env = "CAMPANILE_BASEMAP")]
    pub basemap: Option<PathBuf>,

    /// A MapLibre style the pages load as the base map instead: a path on
    /// this server, or an http(s) URL (the pages' requests then leave this
    /// server) [default: none].
    #[arg(long, env = "CAMPANILE_BASEMAP_STYLE")]
    pub basemap_style: Option<String>,

    /// Play the demo scenario into this server.
    #[arg(long, env = "CAMPANILE_DEMO", num_args = 0..=1, default_missing_value = "true")]
    pub demo: Option<bool>,

    /// Reports a public address may send per minute [default: 10].
    #[arg(long, env = "CAMPANILE_PUBLIC_REPORT_RATE")]
    pub public_report_rate: Option<u32>,

    /// Reads (heatmap, broadcasts, WebSocket upgrades) a public address may make per minute [default: 600].
    #[arg(long, env = "CAMPANILE_PUBLIC_READ_RATE")]
    pub public_read_rate: Option<u32>,

    /// Proxies whose X-Forwarded-For is trusted for the client address, comma separated [default: none].
    #[arg(long, env = "CAMPANILE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,

    /// CAP `sender` of the broadcasts [default: campanile@localhost].
    #[arg(long, env = "CAMPANILE_CAP_SENDER")]
    pub cap_sender: Option<String>,

    /// CAP `status`: Actual, Exercise (for drills) or Test [default: Actual].
    #[arg(long, env = "CAMPANILE_CAP_STATUS")]
    pub cap_status: Option<String>,

    /// Address written into feeds and CAP documents, e.g. `https://campanile.example.org`
    /// (never taken from a request's Host) [default: http:// and the listen address].
    #[arg(long, env = "CAMPANILE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// A second address that serves only /metrics, without a token, for
    /// Prometheus on a private network [default: none; /metrics needs an operator token].
    #[arg(long, env = "CAMPANILE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Scenario the demo plays [default: bologna-march].
    #[arg(long, env = "CAMPANILE_DEMO_SCENARIO")]
    pub demo_scenario: Option<String>,

    /// An official CAP source to take alerts in from: an Atom or RSS index of
    /// CAP 1.2 documents, or one CAP document, over https:// or http://.
    /// Repeat the flag for more; the environment variable takes them comma separated.
    #[arg(long = "cap-feed", env = "CAMPANILE_CAP_FEEDS", value_delimiter = ',')]
    pub cap_feed: Option<Vec<String>>,

    /// How often each `--cap-feed` is polled [default: 60s].
    #[arg(long, env = "CAMPANILE_CAP_FEED_INTERVAL")]
    pub cap_feed_interval: Option<String>,

    /// Deadline of one request to a feed, body included [default: 10s].
    #[arg(long, env = "CAMPANILE_CAP_FEED_TIMEOUT")]
    pub cap_feed_timeout: Option<String>,

    /// PEM file of one or more CA certificates trusted for https feeds
    /// besides the system's roots, for a private PKI [default: none].
    #[arg(long, env = "CAMPANILE_CAP_FEED_CA")]
    pub cap_feed_ca: Option<PathBuf>,

    /// The event's name, shown by the pages [default: Campanile].
    #[arg(long, env = "CAMPANILE_EVENT_NAME")]
    pub event_name: Option<String>,

    /// The event's languages, BCP 47 tags, the first the default; trends
    /// drop the stop-words of each [default: en; with --demo, en,it].
    #[arg(long, env = "CAMPANILE_LANGUAGES")]
    pub languages: Option<String>,
}

macro_rules! prefer {
    ($first:expr, $second:expr; $($field:ident),+ $(,)?) => {
        ServeArgs {
            config: $first.config.clone(),
            $($field: $first.$field.clone().or_else(|| $second.$field.clone()),)+
        }
    };
}

impl ServeArgs {
    /// These options, with the TOML file's values where none is set.
    pub fn layered(&self) -> Result<ServeArgs, ConfigError> {
        let Some(path) = &self.config else {
            return Ok(self.clone());
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let file: ServeArgs = toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Ok(
            prefer!(self, file; listen, data_dir, ephemeral, fsync, redis_url, redis_cluster_nodes, redis_sentinel, redis_sentinel_master, redis_prefix, redis_timeout, redis_wait_replicas, jwt_secret, author_secret, jwt_issuer, token_max_ttl, res_min, res_max,
            default_res, bucket, windows, default_window, retention, count_retention, body_timeout, tick, public_max_res, k_anonymity, public_bands, estimate_window, people_per_contributor, density_levels, alert_res, alert_surge_min, alert_surge_factor, alert_density, alert_history, trends_window, coordination_min, coordination_window, text_analysis,
            ws_ping, ws_timeout, ws_max_per_address, ws_max_connections, web_dir, geodata_dir, basemap, basemap_style, demo, demo_scenario, event_name, languages, cap_sender, cap_status,
            public_url, metrics_listen, public_report_rate, public_read_rate, trusted_proxies, cap_feed, cap_feed_interval, cap_feed_timeout, cap_feed_ca),
        )
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Which engine holds the counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineChoice {
    /// Embedded, in this process's memory only (`--ephemeral`).
    Memory,
    /// Embedded, kept on disk under a data directory.
    Durable(crate::engine::durable::DurableOptions),
    /// Redis at this URL.
    Redis {
        /// `redis://…`
        url: String,
    },
    /// A Redis Cluster reached through these nodes.
    RedisCluster {
        /// `redis://…` of some of its nodes.
        nodes: Vec<String>,
    },
    /// A primary with replicas, found through Redis Sentinel.
    RedisSentinel {
        /// `redis://…` of the sentinels.
        sentinels: Vec<String>,
        /// The name they monitor the primary under.
        master: String,
    },
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port` to listen on; port 0 picks a free one.
    pub listen: String,
    /// The engine.
    pub engine: EngineChoice,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    /// Redis call timeout.
    pub redis_timeout: Duration,
    /// Replicas that must have a write before it is acknowledged.
    pub redis_wait_replicas: u32,
    /// Token secret.
    pub jwt_secret: Secret,
    /// Author-hash secret, apart from the token secret.
    pub author_secret: Secret,
    /// Whether the author secret was made up for this process.
    pub author_secret_is_ephemeral: bool,
    /// The `iss` tokens must carry, if pinned.
    pub jwt_issuer: Option<String>,
    /// Longest token lifetime accepted.
    pub token_max_ttl: Duration,
    /// Whether the secret was made up for this process.
    pub jwt_secret_is_ephemeral: bool,
    /// Resolutions counted.
    pub resolutions: ResolutionRange,
    /// Resolution of requests that name none.
    pub default_res: u8,
    /// Time bucket length in seconds.
    pub bucket_secs: i64,
    /// The windows clients may read.
    pub windows: Windows,
    /// Post id retention.
    pub retention: Duration,
    /// How long counts are kept for replay (DESIGN §11).
    pub count_retention: Duration,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Heatmap push period.
    pub tick: Duration,
    /// Finest public resolution.
    pub public_max_res: u8,
    /// Public k-anonymity threshold.
    pub k_anonymity: u64,
    /// Density bands of the public's levels.
    pub public_bands: crate::hub::PublicBands,
    /// The window zone estimates read.
    pub estimate_window: crate::domain::Window,
    /// People per contributor before calibration.
    pub prior: crate::crowd::estimate::Prior,
    /// A zone's levels in people per m².
    pub density_levels: crate::crowd::level::DensityLevels,
    /// When cells raise alerts.
    pub alerts: crate::alert::AlertRules,
    /// How far back a new `alerts` subscriber and the alerts route look.
    pub alert_history: Duration,
    /// Trends and coordinated clusters.
    pub integrity: crate::hub::IntegritySettings,
    /// WebSocket ping period.
    pub ws_ping: Duration,
    /// WebSocket silence limit.
    pub ws_timeout: Duration,
    /// WebSocket connections per public address.
    pub ws_max_per_address: usize,
    /// WebSocket connections per node; `None` leaves it to what the
    /// process's descriptor limit holds (`ws::admission`).
    pub ws_max_connections: Option<usize>,
    /// Web pages folder.
    pub web_dir: PathBuf,
    /// Zones and scenarios folder.
    pub geodata_dir: PathBuf,
    /// The base map the pages draw.
    pub basemap: crate::basemap::Basemap,
    /// Whether to play the demo.
    pub demo: bool,
    /// The demo scenario's name.
    pub demo_scenario: String,
    /// The event's name, as the pages show it.
    pub event_name: String,
    /// The event's languages, the default first.
    pub languages: Vec<String>,
    /// CAP sender and status, and the public URL of links.
    pub publisher: crate::alert::Publisher,
    /// The address of the listener that serves only `/metrics`, if any.
    pub metrics_listen: Option<String>,
    /// Public reports per address per minute.
    pub public_report_rate: u32,
    /// Public reads per address per minute.
    pub public_read_rate: u32,
    /// Proxies trusted for X-Forwarded-For.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Official CAP feeds and how they are polled.
    pub cap_feeds: crate::official::feed::FeedSettings,
}

fn duration(value: Option<&str>, default: &str, name: &str) -> Result<Duration, ConfigError> {
    let text = value.unwrap_or(default);
    let d = humantime::parse_duration(text).map_err(|e| ConfigError(format!("{name} {text:?}: {e}")))?;
    if d.is_zero() {
        return Err(ConfigError(format!("{name} must be longer than zero")));
    }
    Ok(d)
}

/// Counts are kept for a week at most (DESIGN §6).
const COUNT_RETENTION_MAX_SECS: i64 = 7 * 24 * 3600;

/// `--count-retention`: no shorter than the longest window (a live read
/// must find its counts), no longer than a week.
fn count_retention(value: Option<&str>, windows: &Windows) -> Result<Duration, ConfigError> {
    let d = duration(value, "24h", "count_retention")?;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if secs > COUNT_RETENTION_MAX_SECS {
        return Err(ConfigError(format!(
            "count_retention {} is longer than the 7 days counts may be kept",
            humantime::format_duration(d)
        )));
    }
    if secs < windows.longest_secs() {
        return Err(ConfigError(format!(
            "count_retention {} is shorter than the longest window ({}s): live windows could not be read",
            humantime::format_duration(d),
            windows.longest_secs()
        )));
    }
    Ok(d)
}

/// Trends and coordination, over the alerts' cells, the public's k and
/// the event's languages: the windows are whole minutes (trends are kept
/// per minute), at most a day.
fn integrity_settings(
    args: &ServeArgs,
    k_anonymity: u64,
    res: h3o::Resolution,
    languages: Vec<String>,
) -> Result<crate::hub::IntegritySettings, ConfigError> {
    let minutes = |value: Option<&str>, default: &str, name: &str| -> Result<(i64, String), ConfigError> {
        let text = value.unwrap_or(default);
        let d = duration(Some(text), default, name)?;
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        if secs % 60 != 0 || !(60..=24 * 3600).contains(&secs) {
            return Err(ConfigError(format!(
                "{name} {text:?}: a whole number of minutes from 1m to 24h"
            )));
        }
        Ok((secs, text.to_owned()))
    };
    let (trends_window_secs, trends_window) = minutes(args.trends_window.as_deref(), "15m", "trends_window")?;
    let (coordination_secs, _) = minutes(args.coordination_window.as_deref(), "10m", "coordination_window")?;
    Ok(crate::hub::IntegritySettings {
        trends_window_secs,
        trends_window,
        k_anonymity: k_anonymity.max(1),
        res,
        coordination: crate::integrity::neardup::ClusterConfig {
            min_contributors: usize::try_from(args.coordination_min.unwrap_or(20).clamp(2, 100_000)).unwrap_or(20),
            window_secs: coordination_secs,
            similarity: 0.6,
        },
        languages,
        analysis: args.text_analysis.unwrap_or(true),
    })
}

/// Checks `--alert-history`: a duration no longer than raised alerts are
/// kept, since a longer one would promise alerts the engine no longer has.
fn alert_history(value: Option<&str>) -> Result<Duration, ConfigError> {
    let history = duration(value, "30m", "alert_history")?;
    let kept = Duration::from_secs(crate::engine::ALERT_RETENTION_SECS.unsigned_abs());
    if history > kept {
        return Err(ConfigError(format!(
            "alert_history {}: raised alerts are kept for {} at most",
            humantime::format_duration(history),
            humantime::format_duration(kept)
        )));
    }
    Ok(history)
}

/// Checks the `--cap-feed` URLs: absolute `http://` or `https://` URLs
/// with a host and no credentials (they are logged and shown to
/// operators); reads `--cap-feed-ca` now, so that a bad file stops the start.
fn cap_feeds(args: &ServeArgs) -> Result<crate::official::feed::FeedSettings, ConfigError> {
    let mut feeds = Vec::new();
    for text in args
        .cap_feed
        .iter()
        .flatten()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        let bad = |why: &str| ConfigError(format!("cap_feed {text:?}: {why}"));
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must start with https:// or http://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("may hold no user name or password: feed URLs are logged and shown"));
        }
        if !feeds.contains(&url) {
            feeds.push(url);
        }
    }
    let interval = duration(args.cap_feed_interval.as_deref(), "60s", "cap_feed_interval")?;
    let timeout = duration(args.cap_feed_timeout.as_deref(), "10s", "cap_feed_timeout")?;
    if interval < Duration::from_secs(1) {
        return Err(ConfigError("cap_feed_interval must be at least 1s".into()));
    }
    let ca = match &args.cap_feed_ca {
        Some(path) => crate::official::tls::read_ca_file(path).map_err(|e| ConfigError(format!("cap_feed_ca {e}")))?,
        None => Vec::new(),
    };
    Ok(crate::official::feed::FeedSettings {
        feeds,
        interval,
        timeout,
        ca,
    })
}

/// Checks `--public-url`: an absolute http(s) URL with a host, no
/// credentials, query or fragment (links are built by appending paths to
/// it); returned without a trailing slash.
fn public_url(text: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError(format!("public_url {text:?}: {why}"));
    let url = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("may have no query (?) or fragment (#)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("may hold no user name or password: it is published"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

impl Settings {
    /// Resolves options (already layered with the file) against defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Self, ConfigError> {
        let resolutions =
            ResolutionRange::new(args.res_min.unwrap_or(7), args.res_max.unwrap_or(11)).map_err(ConfigError)?;
        let default_res = args.default_res.unwrap_or(9);
        let public_max_res = args.public_max_res.unwrap_or(9);
        let alert_res = args.alert_res.unwrap_or(9);
        for (name, res) in [
            ("default_res", default_res),
            ("public_max_res", public_max_res),
            ("alert_res", alert_res),
        ] {
            let ok = h3o::Resolution::try_from(res).is_ok_and(|r| resolutions.contains(r));
            if !ok {
                return Err(ConfigError(format!("{name} {res} is outside the counted resolutions")));
            }
        }
        let bucket = duration(args.bucket.as_deref(), "10s", "bucket")?;
        let bucket_secs = i64::try_from(bucket.as_secs()).unwrap_or(0);
        if bucket_secs < 1 || bucket.subsec_nanos() != 0 {
            return Err(ConfigError("bucket must be a whole number of seconds".into()));
        }
        let windows = args
            .windows
            .as_deref()
            .unwrap_or("1m,5m,15m,60m")
            .split(',')
            .map(|w| Window::parse(w.trim()).map_err(|e| ConfigError(e.message)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(w) = windows.iter().find(|w| w.secs() % bucket_secs != 0) {
            return Err(ConfigError(format!("window {w} is not a whole number of buckets")));
        }
        let windows = Windows::new(windows, args.default_window.as_deref().unwrap_or("15m")).map_err(ConfigError)?;
        let count_retention = count_retention(args.count_retention.as_deref(), &windows)?;
        let estimate_window = match args.estimate_window.as_deref() {
            Some(name) => windows
                .get(name)
                .map_err(|e| ConfigError(format!("--estimate-window: {}", e.message)))?,
            None => windows.get("15m").unwrap_or_else(|_| windows.default_window().clone()),
        };
        let (jwt_secret, jwt_secret_is_ephemeral) = match &args.jwt_secret {
            Some(s) if s.expose().len() >= 16 => (s.clone(), false),
            Some(_) => return Err(ConfigError("jwt_secret must be at least 16 bytes".into())),
            None => (Secret::new(hex::encode(rand::random::<[u8; 32]>())), true),
        };
        let (author_secret, author_secret_is_ephemeral) = match &args.author_secret {
            Some(s) if s.expose().len() >= 16 => (s.clone(), false),
            Some(_) => return Err(ConfigError("author_secret must be at least 16 bytes".into())),
            None => (Secret::new(hex::encode(rand::random::<[u8; 32]>())), true),
        };
        let jwt_issuer = match args.jwt_issuer.as_deref().map(str::trim) {
            Some("") => return Err(ConfigError("jwt_issuer is empty: give a name or leave it out".into())),
            other => other.map(str::to_owned),
        };
        let engine = engine_choice(args)?;
        let redis_wait_replicas = args.redis_wait_replicas.unwrap_or(0);
        if redis_wait_replicas > 0 && matches!(engine, EngineChoice::Memory | EngineChoice::Durable(_)) {
            return Err(ConfigError(
                "redis_wait_replicas needs a Redis engine: give redis_url, redis_cluster_nodes or redis_sentinel"
                    .into(),
            ));
        }
        let redis_prefix = args.redis_prefix.clone().unwrap_or_else(|| "campanile:".into());
        if redis_prefix.contains(['{', '}']) {
            return Err(ConfigError(
                "redis_prefix may not contain { or }: Redis Cluster hash tags rely on them".into(),
            ));
        }
        let listen = args.listen.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
        let base_url = match &args.public_url {
            Some(url) => public_url(url)?,
            None => format!("http://{listen}"),
        };
        let alert_cells = h3o::Resolution::try_from(alert_res).map_err(|e| ConfigError(e.to_string()))?;
        let k_anonymity = args.k_anonymity.unwrap_or(5);
        let languages: Vec<String> = args
            .languages
            .as_deref()
            // The demo's march is in Bologna: its people write Italian and English.
            .unwrap_or(if args.demo.unwrap_or(false) { "en,it" } else { "en" })
            .split(',')
            .map(|tag| {
                crate::domain::Language::parse(tag.trim())
                    .map(|l| l.as_str().to_owned())
                    .map_err(|_| ConfigError(format!("language {tag:?} is not a BCP 47 tag such as en or pt-BR")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            listen,
            engine,
            redis_prefix,
            redis_timeout: duration(args.redis_timeout.as_deref(), "2s", "redis_timeout")?,
            redis_wait_replicas,
            jwt_secret,
            author_secret,
            author_secret_is_ephemeral,
            jwt_issuer,
            token_max_ttl: duration(args.token_max_ttl.as_deref(), "24h", "token_max_ttl")?,
            jwt_secret_is_ephemeral,
            resolutions,
            default_res,
            bucket_secs,
            windows,
            retention: duration(args.retention.as_deref(), "24h", "retention")?,
            count_retention,
            body_timeout: duration(args.body_timeout.as_deref(), "30s", "body_timeout")?,
            tick: duration(args.tick.as_deref(), "500ms", "tick")?,
            public_max_res,
            k_anonymity,
            public_bands: match args.public_bands.as_deref() {
                Some(text) => crate::hub::PublicBands::parse(text).map_err(ConfigError)?,
                None => crate::hub::PublicBands::default(),
            },
            estimate_window,
            prior: crate::crowd::estimate::Prior::new(args.people_per_contributor.unwrap_or(25.0))
                .map_err(|e| ConfigError(format!("--people-per-contributor: {e}")))?,
            density_levels: args
                .density_levels
                .as_deref()
                .unwrap_or("2,4,5,6")
                .parse()
                .map_err(|e| ConfigError(format!("--density-levels: {e}")))?,
            alerts: crate::alert::AlertRules {
                res: alert_cells,
                surge_min: args.alert_surge_min.unwrap_or(30).max(1),
                surge_factor: args.alert_surge_factor.unwrap_or(3.0).max(1.0),
                density_km2: args.alert_density.unwrap_or(2_000.0).max(1.0),
                quiet_secs: 300,
            },
            alert_history: alert_history(args.alert_history.as_deref())?,
            integrity: integrity_settings(args, k_anonymity, alert_cells, languages.clone())?,
            ws_ping: duration(args.ws_ping.as_deref(), "15s", "ws_ping")?,
            ws_timeout: duration(args.ws_timeout.as_deref(), "45s", "ws_timeout")?,
            ws_max_per_address: usize::try_from(args.ws_max_per_address.unwrap_or(20).max(1)).unwrap_or(usize::MAX),
            ws_max_connections: args
                .ws_max_connections
                .map(|n| usize::try_from(n.max(1)).unwrap_or(usize::MAX)),
            web_dir: args.web_dir.clone().unwrap_or_else(|| "web".into()),
            geodata_dir: args.geodata_dir.clone().unwrap_or_else(|| "geodata".into()),
            basemap: crate::basemap::Basemap::resolve(args.basemap.as_deref(), args.basemap_style.as_deref())
                .map_err(ConfigError)?,
            demo: args.demo.unwrap_or(false),
            demo_scenario: args.demo_scenario.clone().unwrap_or_else(|| "bologna-march".into()),
            event_name: match args.event_name.as_deref().map(str::trim) {
                None => "Campanile".into(),
                Some(name)
                    if (1..=120).contains(&name.chars().count())
                        && crate::domain::text::xml_safe(name, "event_name").is_ok() =>
                {
                    name.to_owned()
                }
                Some(_) => return Err(ConfigError("event_name must be 1-120 characters of text".into())),
            },
            languages,
            public_report_rate: args.public_report_rate.unwrap_or(10).max(1),
            public_read_rate: args.public_read_rate.unwrap_or(600).max(1),
            trusted_proxies: args
                .trusted_proxies
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.parse()
                        .map_err(|_| ConfigError(format!("trusted_proxies: {a:?} is not an IP address")))
                })
                .collect::<Result<_, _>>()?,
            metrics_listen: args.metrics_listen.clone(),
            cap_feeds: cap_feeds(args)?,
            publisher: crate::alert::Publisher {
                base_url,
                sender: args.cap_sender.clone().unwrap_or_else(|| "campanile@localhost".into()),
                status: match args.cap_status.as_deref().unwrap_or("Actual") {
                    s @ ("Actual" | "Exercise" | "Test") => s.to_owned(),
                    other => {
                        return Err(ConfigError(format!(
                            "cap_status {other:?} must be Actual, Exercise or Test"
                        )));
                    }
                },
            },
        })
    }

    /// The author hasher a server with these settings runs: keyed by the
    /// author secret alone, so rotating the token secret changes no
    /// contributor (DESIGN §6).
    pub fn author_hasher(&self) -> crate::privacy::AuthorHasher {
        crate::privacy::AuthorHasher::new(self.author_secret.expose())
    }

    /// What heatmap requests are checked against.
    pub fn heatmap_limits(&self) -> crate::hub::HeatmapLimits {
        crate::hub::HeatmapLimits {
            resolutions: self.resolutions,
            default_res: self.default_res,
            public_max_res: self.public_max_res,
            windows: self.windows.clone(),
        }
    }

    /// The crowd picture over `zones`: each area zone covered once, now, by
    /// the cells of the finest resolution; a zone the cells cannot cover is
    /// refused like a broken zones file.
    pub fn crowd_picture(
        &self,
        zones: std::sync::Arc<crate::domain::Zones>,
    ) -> Result<crate::hub::CrowdPicture, String> {
        let cover = crate::crowd::cover::ZoneCover::new(&zones, self.resolutions.finest())?;
        Ok(crate::hub::CrowdPicture {
            zones,
            cover: std::sync::Arc::new(cover),
            levels: self.density_levels,
            prior: self.prior,
            recency: crate::crowd::estimate::Recency::default(),
            estimate_window: self.estimate_window.clone(),
            k_anonymity: self.k_anonymity,
        })
    }

    /// The engine's layout from these settings.
    pub fn layout(&self) -> Layout {
        Layout {
            resolutions: self.resolutions,
            bucket_secs: self.bucket_secs,
            longest_window_secs: self.windows.longest_secs(),
            dedup_secs: i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 4),
            broadcast_secs: i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 4),
            broadcast_max: 10_000,
            count_retention_secs: i64::try_from(self.count_retention.as_secs()).unwrap_or(COUNT_RETENTION_MAX_SECS),
            step_secs: Layout::step_for(self.bucket_secs, self.windows.all().iter().map(Window::secs)),
        }
    }
}

/// The engine the Redis settings name: at most one of a URL, cluster nodes
/// and sentinels, the sentinels with the name of their primary.
fn engine_choice(args: &ServeArgs) -> Result<EngineChoice, ConfigError> {
    let given: Vec<&str> = [
        ("redis_url", args.redis_url.is_some()),
        ("redis_cluster_nodes", args.redis_cluster_nodes.is_some()),
        ("redis_sentinel", args.redis_sentinel.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if let [first, second, ..] = given[..] {
        return Err(ConfigError(format!(
            "{first} and {second} exclude each other: give one"
        )));
    }
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let master = args
        .redis_sentinel_master
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    if args.redis_sentinel_master.is_some() && master.is_none() {
        return Err(ConfigError(
            "redis_sentinel_master is empty: give the monitored name".into(),
        ));
    }
    Ok(
        match (&args.redis_url, &args.redis_cluster_nodes, &args.redis_sentinel) {
            (_, _, None) if master.is_some() => {
                return Err(ConfigError(
                    "redis_sentinel_master needs redis_sentinel, the sentinels to ask for that primary".into(),
                ));
            }
            (Some(url), _, _) => EngineChoice::Redis { url: url.clone() },
            (_, Some(nodes), _) => {
                let nodes = list(nodes);
                if nodes.is_empty() {
                    return Err(ConfigError("redis_cluster_nodes names no node".into()));
                }
                EngineChoice::RedisCluster { nodes }
            }
            (_, _, Some(sentinels)) => {
                let sentinels = list(sentinels);
                if sentinels.is_empty() {
                    return Err(ConfigError("redis_sentinel names no sentinel".into()));
                }
                let Some(master) = master else {
                    return Err(ConfigError(
                        "redis_sentinel needs redis_sentinel_master, the name the sentinels monitor the primary under"
                            .into(),
                    ));
                };
                EngineChoice::RedisSentinel {
                    sentinels,
                    master: master.to_owned(),
                }
            }
            (None, None, None) => return embedded_choice(args),
        },
    )
    // `ephemeral` asks for nothing on disk, which Redis engines keep none
    // of anyway; a data directory or a flush policy would be ignored.
    .and_then(|redis| match (&args.data_dir, &args.fsync) {
        (None, None) => Ok(redis),
        _ => Err(ConfigError(
            "data_dir and fsync are for the embedded engine, not Redis: Redis keeps the data".into(),
        )),
    })
}

/// The embedded engine: on disk under `data_dir` (by default
/// `./campanile-data`), or memory only when `ephemeral` is set, or for a
/// demo not given a data directory (it should leave nothing behind).
fn embedded_choice(args: &ServeArgs) -> Result<EngineChoice, ConfigError> {
    use crate::engine::durable::{DurableOptions, Fsync, default_data_dir};
    let fsync = args
        .fsync
        .as_deref()
        .map(str::parse::<Fsync>)
        .transpose()
        .map_err(ConfigError)?;
    let ephemeral = args
        .ephemeral
        .unwrap_or(args.demo == Some(true) && args.data_dir.is_none());
    match (ephemeral, &args.data_dir) {
        (true, Some(_)) => Err(ConfigError(
            "ephemeral and data_dir exclude each other: memory only, or kept in a directory".into(),
        )),
        (true, None) if fsync.is_some() => Err(ConfigError("fsync needs a data directory, not ephemeral".into())),
        (true, None) => Ok(EngineChoice::Memory),
        (false, dir) => {
            let data_dir = dir.clone().unwrap_or_else(|| default_data_dir().to_owned());
            if data_dir.as_os_str().is_empty() {
                return Err(ConfigError("data_dir is empty: give a directory or ephemeral".into()));
            }
            Ok(EngineChoice::Durable(DurableOptions {
                data_dir,
                fsync: fsync.unwrap_or(Fsync::Everysec),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_alert_history_is_a_duration_no_longer_than_alerts_are_kept() {
        let history = |text: Option<&str>| {
            Settings::resolve(&ServeArgs {
                alert_history: text.map(str::to_owned),
                ..ServeArgs::default()
            })
            .map(|s| s.alert_history)
            .map_err(|e| e.to_string())
        };
        assert_eq!(history(None), Ok(std::time::Duration::from_secs(30 * 60)));
        assert_eq!(history(Some("24h")), Ok(std::time::Duration::from_secs(24 * 3600)));
        for refused in ["25h", "0s", "soon", ""] {
            let error = history(Some(refused)).expect_err(refused);
            assert!(error.contains("alert_history"), "{refused}: {error}");
        }
    }

    #[test]
    fn contributors_follow_the_author_secret_and_never_the_token_secret() {
        let settings = |jwt: &str, author: &str| {
            Settings::resolve(&ServeArgs {
                jwt_secret: Some(Secret::new(jwt)),
                author_secret: Some(Secret::new(author)),
                ..ServeArgs::default()
            })
            .unwrap()
        };
        let now = chrono::Utc::now();
        let contributor = |s: &Settings| {
            use crate::domain::Pseudonymiser;
            s.author_hasher().contributor("@a", now)
        };
        let base = settings("token-secret-one-0000", "author-secret-one-000");
        let jwt_rotated = settings("token-secret-two-0000", "author-secret-one-000");
        let author_rotated = settings("token-secret-one-0000", "author-secret-two-000");
        assert_eq!(contributor(&base), contributor(&jwt_rotated));
        assert_ne!(contributor(&base), contributor(&author_rotated));
        // Tokens signed before the author key changed still verify.
        let keys = |s: &Settings| crate::auth::TokenKeys::new(s.jwt_secret.expose()).unwrap();
        let token = keys(&base)
            .issue(crate::domain::Role::Operator, "op", std::time::Duration::from_secs(60))
            .unwrap();
        assert!(keys(&author_rotated).verify(&token).is_ok());
        assert!(keys(&jwt_rotated).verify(&token).is_err());
    }

    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let s = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(
            s.engine,
            EngineChoice::Durable(crate::engine::durable::DurableOptions {
                data_dir: PathBuf::from("campanile-data"),
                fsync: crate::engine::durable::Fsync::Everysec,
            })
        );
        assert_eq!(
            (u8::from(s.resolutions.coarsest()), u8::from(s.resolutions.finest())),
            (7, 11)
        );
        assert_eq!(s.bucket_secs, 10);
        assert_eq!(s.windows.default_window().name(), "15m");
        assert_eq!(s.tick, Duration::from_millis(500));
        assert_eq!((s.public_max_res, s.k_anonymity), (9, 5));
        assert!(format!("{:?}", s.jwt_secret).contains("redacted"));
        assert!(format!("{:?}", s.author_secret).contains("redacted"));
        assert_ne!(s.author_secret.expose(), s.jwt_secret.expose(), "two keys, not one");
        assert_eq!(
            (s.token_max_ttl, s.jwt_issuer.as_deref()),
            (Duration::from_secs(24 * 3600), None)
        );
        assert_eq!(s.ws_max_per_address, 20);
        assert_eq!(s.ws_max_connections, None);
        assert_eq!(s.body_timeout, Duration::from_secs(30), "--body-timeout");
    }

    #[test]
    fn cap_feeds_come_from_the_file_or_the_flags_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "cap_feed = [\"http://alerts.example/a.atom\", \"http://alerts.example/a.atom\", \"http://b.example/cap.xml\"]\ncap_feed_interval = \"30s\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(&args.layered().unwrap()).unwrap();
        let feeds: Vec<String> = s.cap_feeds.feeds.iter().map(ToString::to_string).collect();
        assert_eq!(feeds, ["http://alerts.example/a.atom", "http://b.example/cap.xml"]);
        assert_eq!(s.cap_feeds.interval, Duration::from_secs(30));
        assert_eq!(s.cap_feeds.timeout, Duration::from_secs(10));
        assert!(s.cap_feeds.ca.is_empty());
        // The private CA, from the file like the other cap_feed settings.
        let ca = rcgen::generate_simple_self_signed(["feeds.example".to_owned()]).unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, ca.cert.pem()).unwrap();
        std::fs::write(
            &path,
            format!(
                "cap_feed = [\"https://alerts.example/a.atom\"]\ncap_feed_ca = {:?}\n",
                pem.display().to_string()
            ),
        )
        .unwrap();
        let s = Settings::resolve(&args.layered().unwrap()).unwrap();
        assert_eq!(s.cap_feeds.ca, [ca.cert.der().clone()]);
        assert_eq!(s.cap_feeds.feeds[0].scheme(), "https");
        #[derive(clap::Parser)]
        struct Line {
            #[command(flatten)]
            serve: ServeArgs,
        }
        use clap::Parser;
        let line = Line::try_parse_from([
            "serve",
            "--cap-feed",
            "http://x.example/1.atom",
            "--cap-feed",
            "http://y.example/2.atom",
        ])
        .expect("the flag repeats");
        assert_eq!(line.serve.cap_feed.map(|f| f.len()), Some(2));
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:9000\"\ntick = \"250ms\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            listen: Some("127.0.0.1:1".into()),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(&args.layered().unwrap()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:1");
        assert_eq!(s.tick, Duration::from_millis(250));
    }

    #[test]
    fn public_url_is_an_absolute_http_url_without_a_trailing_slash() {
        let resolve = |url: &str| {
            Settings::resolve(&ServeArgs {
                public_url: Some(url.into()),
                ..Default::default()
            })
            .map(|s| s.publisher.base_url)
        };
        assert_eq!(
            resolve("https://campanile.example.org/").unwrap(),
            "https://campanile.example.org"
        );
        assert_eq!(
            resolve("https://Campanile.Example.org").unwrap(),
            "https://campanile.example.org"
        );
        assert_eq!(
            resolve("http://h.example:8443/bologna/").unwrap(),
            "http://h.example:8443/bologna"
        );
        for bad in [
            "campanile.example.org",
            "/relative",
            "ftp://campanile.example.org",
            "javascript:alert(1)",
            "https://campanile.example.org/?a=1",
            "https://campanile.example.org/#top",
            "https://user:pw@campanile.example.org",
            "https://",
        ] {
            let err = resolve(bad).unwrap_err().0;
            assert!(err.contains("public_url"), "{bad}: {err}");
        }
        let default = Settings::resolve(&ServeArgs {
            listen: Some("0.0.0.0:9000".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(default.publisher.base_url, "http://0.0.0.0:9000");
    }

    #[test]
    fn sentinels_come_with_their_primary_name_and_exclude_the_other_redis_targets() {
        let resolve = |args: ServeArgs| Settings::resolve(&args).map(|s| s.engine).map_err(|e| e.0);
        let sentinel = || ServeArgs {
            redis_sentinel: Some("redis://h1:26379, redis://h2:26379,".into()),
            redis_sentinel_master: Some("campanile".into()),
            ..ServeArgs::default()
        };
        assert_eq!(
            resolve(sentinel()),
            Ok(EngineChoice::RedisSentinel {
                sentinels: vec!["redis://h1:26379".into(), "redis://h2:26379".into()],
                master: "campanile".into(),
            })
        );
        let refused = |args: ServeArgs, names: &[&str]| {
            let error = resolve(args).expect_err("refused");
            for name in names {
                assert!(error.contains(name), "{names:?}: {error}");
            }
        };
        refused(
            ServeArgs {
                redis_url: Some("redis://127.0.0.1:6379".into()),
                ..sentinel()
            },
            &["redis_url", "redis_sentinel", "exclude"],
        );
        refused(
            ServeArgs {
                redis_cluster_nodes: Some("redis://127.0.0.1:7000".into()),
                ..sentinel()
            },
            &["redis_cluster_nodes", "redis_sentinel", "exclude"],
        );
        refused(
            ServeArgs {
                redis_sentinel_master: None,
                ..sentinel()
            },
            &["redis_sentinel needs redis_sentinel_master"],
        );
        refused(
            ServeArgs {
                redis_sentinel: None,
                ..sentinel()
            },
            &["redis_sentinel_master needs redis_sentinel"],
        );
        refused(
            ServeArgs {
                redis_sentinel: None,
                redis_url: Some("redis://127.0.0.1:6379".into()),
                ..sentinel()
            },
            &["redis_sentinel_master needs redis_sentinel"],
        );
        refused(
            ServeArgs {
                redis_sentinel: Some(" , ".into()),
                ..sentinel()
            },
            &["redis_sentinel names no sentinel"],
        );
        refused(
            ServeArgs {
                redis_sentinel_master: Some(" ".into()),
                ..sentinel()
            },
            &["redis_sentinel_master is empty"],
        );
        assert!(
            resolve(ServeArgs {
                redis_url: Some("redis://a".into()),
                redis_cluster_nodes: Some("redis://b".into()),
                ..ServeArgs::default()
            })
            .is_err_and(|e| e.contains("redis_url and redis_cluster_nodes exclude each other"))
        );
        // From the file, like the other redis_ settings; a flag still wins.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "redis_sentinel = \"redis://s1:26379,redis://s2:26379,redis://s3:26379\"\nredis_sentinel_master = \"mymaster\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            redis_sentinel_master: Some("campanile".into()),
            ..ServeArgs::default()
        };
        assert_eq!(
            resolve(args.layered().unwrap()),
            Ok(EngineChoice::RedisSentinel {
                sentinels: vec![
                    "redis://s1:26379".into(),
                    "redis://s2:26379".into(),
                    "redis://s3:26379".into()
                ],
                master: "campanile".into(),
            })
        );
    }

    #[test]
    fn nonsense_is_refused_with_its_name() {
        let bad = |args: ServeArgs| Settings::resolve(&args).unwrap_err().0;
        assert!(
            bad(ServeArgs {
                res_min: Some(12),
                ..Default::default()
            })
            .contains("reversed")
        );
        assert!(
            bad(ServeArgs {
                tick: Some("soon".into()),
                ..Default::default()
            })
            .contains("tick")
        );
        assert!(
            bad(ServeArgs {
                windows: Some("15s".into()),
                ..Default::default()
            })
            .contains("whole number")
        );
    }
}
