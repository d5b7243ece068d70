//! The engine: where counts live. One storage contract, two engines.
//!
//! [`Engine`] is the contract; [`memory::MemoryEngine`] (embedded, the
//! default) and [`redis::RedisEngine`] (durable, shared by several nodes)
//! implement it and pass one conformance suite (`tests/api/engine.rs`).
//!
//! # Model
//! Counts are kept per (resolution, time bucket, cell). For distinct
//! contributors each cell keeps the last bucket in which each contributor was
//! seen, so "distinct contributors in the window" is "contributors last seen
//! at or after the window's first bucket": exact, and one range count per
//! cell to read. Both engines expire what no window can read any more.

pub mod idempotency;
pub mod memory;
pub mod redis;

use std::time::Instant;

use async_trait::async_trait;
use h3o::{CellIndex, Resolution};

use crate::domain::ResolutionRange;
use crate::telemetry::metric;

/// A post reduced to what the engine counts: its cells, its time bucket, who
/// contributed it and its de-duplication key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucketed {
    /// `source:id` when the post has an id; `source` cannot hold `:`, so the
    /// key is unambiguous.
    pub dedup_key: Option<String>,
    /// Identifies the write: equal for a post sent again (so that an engine
    /// can tell a retried batch from new data), different for different
    /// posts in all but astronomically rare cases.
    pub fingerprint: u64,
    /// The keyed hash of its author.
    pub contributor: u64,
    /// Start of its time bucket, Unix seconds.
    pub bucket: i64,
    /// Its cell at every configured resolution, coarsest first.
    pub cells: Vec<CellIndex>,
}

/// The engine could not do what was asked; the caller answers 503.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The backing store is unreachable or failed.
    #[error("engine unavailable: {0}")]
    Unavailable(String),
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Items stored and counted.
    pub accepted: u64,
    /// Items whose de-duplication key had been seen within retention.
    pub duplicates: u64,
}

/// One cell's numbers in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellCount {
    /// The H3 cell.
    pub cell: CellIndex,
    /// Items in the window.
    pub count: u64,
    /// Distinct contributors in the window.
    pub contributors: u64,
}

/// One broadcast in the engine's log: its deployment-wide `seq`, its id and
/// its JSON body (the engine does not look inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastRecord {
    /// Strictly increasing across the deployment.
    pub seq: u64,
    /// The message id.
    pub id: String,
    /// The stored message as JSON.
    pub body: String,
}

/// How many live broadcasts a slow feed subscriber may fall behind before it
/// must re-read the log.
pub const BROADCAST_FEED_CAPACITY: usize = 1_024;

/// How many stored reports a slow feed subscriber may fall behind.
pub const REPORT_FEED_CAPACITY: usize = 1_024;

/// How long raised alerts stay readable by [`Engine::alerts_since`]: a
/// day, as long as the alerts stream keeps them, far longer than any
/// subscriber takes to catch up.
pub const ALERT_RETENTION_SECS: i64 = 24 * 3600;

/// Posts per write unit. A batch is stored chunk by chunk; a chunk sent
/// again (a retry after a failure or a timeout) is recognised by its name
/// and counted once, its posts then reported as duplicates.
pub const WRITE_CHUNK: usize = 1_000;

/// Names the `index`th chunk of a batch by its items' fingerprints: the same
/// write sent again gets the same names, while identical chunks at different
/// places of one batch (a batch of repeated posts) do not. The ingest path
/// salts every fingerprint with its request (`ingest::WriteId`), so that
/// only a retry of the same request, never another request with the same
/// posts, is taken for one.
pub fn chunk_name(index: usize, chunk: &[Bucketed]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((index as u64).to_le_bytes());
    for item in chunk {
        h.update(item.fingerprint.to_le_bytes());
        h.update(item.bucket.to_le_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The distinct time buckets of a chunk, oldest first.
pub fn chunk_buckets(chunk: &[Bucketed]) -> std::collections::BTreeSet<i64> {
    chunk.iter().map(|item| item.bucket).collect()
}

/// A read of counts: one resolution, one window, ending at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountQuery {
    /// The resolution to read.
    pub res: Resolution,
    /// The window's length in seconds.
    pub window_secs: i64,
    /// The window's end, Unix seconds.
    pub now: i64,
}

/// How the engine lays out time and space; fixed for a deployment.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The resolutions counted.
    pub resolutions: ResolutionRange,
    /// Time bucket length in seconds.
    pub bucket_secs: i64,
    /// The longest window any client may read, in seconds.
    pub longest_window_secs: i64,
    /// How long a `(source, id)` is remembered for de-duplication.
    pub dedup_secs: i64,
    /// How long broadcasts and their acknowledgements are kept.
    pub broadcast_secs: i64,
    /// How many broadcasts are kept at most.
    pub broadcast_max: usize,
}

impl Layout {
    /// The start of the bucket holding `t`.
    pub fn bucket_start(&self, t: i64) -> i64 {
        t.div_euclid(self.bucket_secs) * self.bucket_secs
    }

    /// The first bucket a window ending at `now` reads: the window covers
    /// `window_secs / bucket_secs` buckets, the current one included.
    pub fn first_bucket(&self, window_secs: i64, now: i64) -> i64 {
        self.bucket_start(now) - window_secs + self.bucket_secs
    }

    /// How long a bucket stays readable: until the longest window has slid
    /// past it.
    pub fn bucket_expires_at(&self, bucket: i64) -> i64 {
        bucket + self.longest_window_secs + self.bucket_secs
    }

    /// Buckets older than this are read by no window at `now`.
    pub fn oldest_useful_bucket(&self, now: i64) -> i64 {
        self.first_bucket(self.longest_window_secs, now)
    }
}

/// The storage contract shared by every engine.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// `memory` or `redis`, as `/healthz` reports it.
    fn kind(&self) -> &'static str;

    /// Succeeds when the engine can serve reads and writes.
    async fn ping(&self) -> Result<(), EngineError>;

    /// Stores a batch: each item not seen before is counted at every
    /// resolution and in its bucket; each repeated `dedup_key`, and every
    /// item of a chunk ([`WRITE_CHUNK`]) already stored, is counted as a
    /// duplicate only. On error nothing may be reported as stored, and
    /// sending the batch again counts each item exactly once.
    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError>;

    /// Counts per cell for one resolution and window, cells with a zero
    /// count omitted, in no particular order.
    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError>;

    /// Items per time bucket from `first` to `last` (bucket starts), counted
    /// at the coarsest resolution, oldest first, empty buckets included: the
    /// ingest-rate timeline.
    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError>;

    /// Appends a broadcast to the log under the next `seq`, which it
    /// returns. Every node's [`Engine::broadcast_feed`] then delivers it, in
    /// `seq` order.
    async fn append_broadcast(&self, id: &str, body: &str, now: i64) -> Result<u64, EngineError>;

    /// Every retained broadcast with a `seq` above `after`, in order.
    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError>;

    /// One retained broadcast.
    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError>;

    /// Broadcasts appended from now on, by any node, in `seq` order.
    fn broadcast_feed(&self) -> tokio::sync::broadcast::Receiver<BroadcastRecord>;

    /// Records that `sub` acknowledged broadcast `id`; false if it already had.
    async fn acknowledge(&self, id: &str, sub: &str, at: i64) -> Result<bool, EngineError>;

    /// Who acknowledged broadcast `id`, and when (Unix seconds), oldest first.
    async fn acknowledgements(&self, id: &str) -> Result<Vec<(String, i64)>, EngineError>;

    /// Stores (or replaces) report `id`, received at `received_at`, which is
    /// also the engine's now for expiry; kept for the retention period. Every node's [`Engine::report_feed`] then
    /// delivers `body`.
    async fn put_report(&self, id: &str, body: &str, received_at: i64) -> Result<(), EngineError>;

    /// Replaces report `id` with `body` only if it is still stored as
    /// `expected`; true if this call replaced it. Like
    /// [`Engine::put_report`], every node's feed then delivers `body`. This is
    /// the compare-and-set that makes concurrent moderations of one report
    /// happen one after the other.
    async fn swap_report(&self, id: &str, expected: &str, body: &str, received_at: i64) -> Result<bool, EngineError>;

    /// Report bodies stored from now on, by any node, in the order stored.
    fn report_feed(&self) -> tokio::sync::broadcast::Receiver<String>;

    /// Raises alert `body` at `now` (Unix seconds) unless one with the same
    /// `key` was raised, by any node, in the `quiet_secs` before; true if
    /// this call raised it. Every node's [`Engine::alert_feed`] then
    /// delivers it. The caller's clock, not the engine's, decides.
    async fn raise_alert(&self, key: &str, body: &str, quiet_secs: i64, now: i64) -> Result<bool, EngineError>;

    /// Alerts raised from now on, by any node, in order.
    fn alert_feed(&self) -> tokio::sync::broadcast::Receiver<String>;

    /// Retained alerts raised at or after `since` (the caller's `now` of
    /// [`Engine::raise_alert`]), oldest first: what a feed that fell behind
    /// re-reads. Kept for [`ALERT_RETENTION_SECS`].
    async fn alerts_since(&self, since: i64) -> Result<Vec<String>, EngineError>;

    /// One retained report.
    async fn report(&self, id: &str) -> Result<Option<String>, EngineError>;

    /// Retained reports received at or after `since`, oldest first.
    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError>;

    /// Takes an item counted by [`Engine::ingest`] out of the counts again
    /// (a report moderated as dismissed or false). Its contributor must be
    /// its own, as a report's is. Exactly once per `item.fingerprint`: a
    /// repeated call with the same fingerprint takes nothing more away.
    async fn uncount(&self, item: &Bucketed) -> Result<(), EngineError>;

    /// Appends one entry (JSON) to the audit log.
    async fn append_audit(&self, entry: &str) -> Result<(), EngineError>;

    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError>;

    /// Where answers under `Idempotency-Key` are kept, beside the counts
    /// they stand for.
    fn idempotency(&self) -> std::sync::Arc<dyn idempotency::IdempotencyStore>;
}

/// Times an engine call into the latency histogram.
pub(crate) async fn timed<T>(
    engine: &'static str,
    op: &'static str,
    call: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    let started = Instant::now();
    let result = call.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!(metric::ENGINE_CALL_SECONDS, "engine" => engine, "op" => op, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    result
}
