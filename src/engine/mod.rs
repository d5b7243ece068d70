//! The engine: where a deployment's state lives. One store per concern, two
//! engines behind every store.
//!
//! Each concern has its own contract, in its own file, as centrifuge keeps
//! its broker apart from its presence manager: [`CountStore`] (posts counted
//! per cell and window), [`BroadcastLog`] (operators' messages, their live
//! feed and acknowledgements), [`ReportStore`], [`AlertGate`], [`AuditLog`],
//! [`CrowdStore`] (head-counts and zone minutes), [`TextLog`] (post texts
//! and the operators' decisions about coordinated clusters), [`RumourStore`]
//! (the rumour register) and [`idempotency::IdempotencyStore`]. [`Engine`]
//! is all of them at once
//! plus health; a service that needs one concern can hold just that store
//! (an `Arc<dyn Engine>` turns into an `Arc<dyn CountStore>` by upcasting).
//!
//! [`memory::MemoryEngine`] (embedded, the default) and
//! [`redis::RedisEngine`] (durable, shared by several nodes) implement every
//! store and pass one conformance suite (`tests/api/engine.rs`).
//!
//! No engine reads the wall clock: every write is given its `now` by the
//! caller, and expiry is set as a time from it, so that both engines decide
//! alike given the same times. (Redis applies those expiry times by its own
//! clock, as any store must, and numbers stream entries by it only to
//! order them.)

pub mod alerts;
pub mod audit;
pub mod broadcast_log;
pub mod counts;
pub mod crowd;
pub mod durable;
pub mod idempotency;
pub mod memory;
pub mod redis;
pub mod reports;
pub mod rumours;
pub mod texts;

use std::time::Instant;

use async_trait::async_trait;

use crate::domain::ResolutionRange;
use crate::telemetry::metric;

pub use alerts::{ALERT_FEED_CAPACITY, ALERT_RETENTION_SECS, AlertGate};
pub use audit::{AUDIT_RETENTION_SECS, AuditLog};
pub use broadcast_log::{BROADCAST_FEED_CAPACITY, BroadcastLog, BroadcastRecord};
pub use counts::{Bucketed, CellCount, CountQuery, CountStore, IngestOutcome, WRITE_CHUNK, chunk_buckets, chunk_name};
pub use crowd::CrowdStore;
pub use reports::{REPORT_FEED_CAPACITY, ReportStore};
pub use rumours::RumourStore;
pub use texts::{TEXT_READ_MAX, TextEntry, TextKey, TextLog};

/// One page of a ranged read, oldest first, and where the next page
/// starts: reads that may span a whole retention period come in pages, so
/// that no caller ever holds the period at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The stored bodies, oldest first.
    pub items: Vec<String>,
    /// The cursor of the next page; `None` when this page was the last.
    /// Opaque: only the engine that made it reads it.
    pub next: Option<String>,
}

/// A page cursor that is a count of items already read: the engines whose
/// ranges are ordered sets read on from there.
pub(crate) fn offset_cursor(cursor: Option<&str>) -> usize {
    cursor.and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// The engine could not do what was asked; the caller answers 503.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The backing store is unreachable or failed.
    #[error("engine unavailable: {0}")]
    Unavailable(String),
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
    /// How long counts are kept for replay (`--count-retention`), in
    /// seconds; at least the longest window.
    pub count_retention_secs: i64,
    /// The step counts are kept in for replay once older than the longest
    /// window ([`Layout::step_for`]).
    pub step_secs: i64,
}

impl Layout {
    /// The start of the bucket holding `t`.
    pub fn bucket_start(&self, t: i64) -> i64 {
        crate::domain::bucket_start(t, self.bucket_secs)
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

    /// The replay step for these buckets and windows: a minute when buckets
    /// divide it and every window is whole minutes, so that a window read
    /// from steps covers exactly the buckets a live read covered; otherwise
    /// the bucket itself.
    pub fn step_for(bucket_secs: i64, windows: impl IntoIterator<Item = i64>) -> i64 {
        let mut windows = windows.into_iter();
        if bucket_secs > 0 && 60 % bucket_secs == 0 && windows.all(|w| w % 60 == 0) {
            60
        } else {
            bucket_secs.max(1)
        }
    }

    /// The start of the step holding `t`.
    pub fn step_start(&self, t: i64) -> i64 {
        crate::domain::bucket_start(t, self.step_secs)
    }

    /// The moment a replay of `at` answers for: the last second of the last
    /// whole step at or before `at`. A live read at that moment covered
    /// whole steps, so the replay equals it; a later moment of the same
    /// step would show posts that came after `at`.
    pub fn replay_moment(&self, at: i64) -> i64 {
        self.step_start(at.saturating_add(1)) - 1
    }

    /// The first step a replayed window ending at `moment` reads.
    pub fn first_step(&self, window_secs: i64, moment: i64) -> i64 {
        self.step_start(moment) - window_secs + self.step_secs
    }

    /// How long a step's counts are kept: until count retention has slid
    /// past the end of the longest window that reads it.
    pub fn step_expires_at(&self, step: i64) -> i64 {
        step + self.count_retention_secs + self.longest_window_secs + self.step_secs
    }

    /// Steps older than this are read by no replay at `now`.
    pub fn oldest_kept_step(&self, now: i64) -> i64 {
        self.step_start(now - self.count_retention_secs) - self.longest_window_secs
    }

    /// Whether `at` can be replayed at `now`: not in the future, and no
    /// older than count retention.
    pub fn replayable(&self, at: i64, now: i64) -> bool {
        at <= now && at >= now - self.count_retention_secs
    }
}

/// Every store of one engine, and its health: what the server is built on.
#[async_trait]
pub trait Engine:
    CountStore + BroadcastLog + ReportStore + AlertGate + AuditLog + CrowdStore + TextLog + RumourStore
{
    /// `memory` or `redis`, as `/healthz` reports it.
    fn kind(&self) -> &'static str;

    /// Succeeds when the engine can serve reads and writes.
    async fn ping(&self) -> Result<(), EngineError>;

    /// Where answers under `Idempotency-Key` are kept, beside the counts
    /// they stand for.
    fn idempotency(&self) -> std::sync::Arc<dyn idempotency::IdempotencyStore>;
}

/// Times an engine call into the latency histogram. The monotonic clock
/// read here measures the call; it never decides anything stored.
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
