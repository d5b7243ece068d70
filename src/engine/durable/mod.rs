//! The embedded engine on disk: the memory engine, with every write call
//! logged under `--data-dir` before it is applied and replayed at start,
//! so that a restart or a crash keeps what was acknowledged.
//!
//! The log records calls, not their results: the memory engine decides
//! alike given the same calls with the same times (it reads no clock and
//! draws no random number, its broadcast epoch aside, which the directory
//! keeps), so replaying the calls in their order rebuilds the same counts,
//! de-duplication keys, reports, broadcasts with their `seq`,
//! acknowledgements, audit entries and answers kept under
//! `Idempotency-Key`. The order is the one the calls were applied in: a
//! call is appended and applied under one lock.
//!
//! An append-only log of our own rather than an embedded database (redb,
//! fjall): the state is already the memory engine's, so all a store could
//! add is the log; a database would hold every count twice (its B-tree or
//! LSM tree, and the memory engine), cost a write per key instead of one
//! sequential append per call, and still need replay into memory at start.

mod log;
mod record;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

pub use log::{Fsync, Replayed, SEGMENT_BYTES};

use self::log::Log;
use self::record::{Item, Op};
use super::crowd::{Headcount, ZoneMinute};
use super::idempotency::{Claim, IdempotencyStore, StoredAnswer};
use super::memory::{MemoryEngine, MemoryIdempotency};
use super::{
    AlertGate, AuditLog, BroadcastLog, BroadcastRecord, Bucketed, CellCount, CountQuery, CountStore, CrowdStore,
    Engine, EngineError, IngestOutcome, Layout, Page, ReportStore, RumourStore, TextEntry, TextKey, TextLog,
};

/// Where and how the durable engine keeps its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableOptions {
    /// The data directory, made on first start.
    pub data_dir: PathBuf,
    /// When writes reach the disk.
    pub fsync: Fsync,
}

/// The memory engine, kept on disk.
pub struct DurableEngine {
    memory: Arc<MemoryEngine>,
    log: Arc<Log>,
    idempotency: Arc<DurableIdempotency>,
    replayed: Replayed,
    took: Duration,
}

/// Applies logged calls to a memory engine: the one path both the live
/// calls (through [`DurableEngine`]) and the replay take for a call.
pub(crate) struct Replay<'a> {
    memory: &'a MemoryEngine,
    layout: Layout,
}

impl Replay<'_> {
    async fn apply(&self, op: &Op<'_>) -> Result<(), EngineError> {
        let m = self.memory;
        let broken = |e: String| EngineError::Unavailable(format!("data directory: {e}"));
        match op {
            Op::Ingest { now, items } => {
                let batch = items
                    .iter()
                    .map(|i| i.bucketed(&self.layout))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(broken)?;
                m.ingest(&batch, *now).await.map(drop)
            }
            Op::Uncount { now, item } => m.uncount(&item.bucketed(&self.layout).map_err(broken)?, *now).await,
            Op::Broadcast { id, body, now } => m.append_broadcast(id, body, *now).await.map(drop),
            Op::Acknowledge { id, sub, at } => m.acknowledge(id, sub, *at).await.map(drop),
            Op::PutReport { id, body, received_at } => m.put_report(id, body, *received_at).await,
            Op::SwapReport {
                id,
                expected,
                body,
                received_at,
            } => m.swap_report(id, expected, body, *received_at).await.map(drop),
            Op::RaiseAlert {
                key,
                body,
                quiet_secs,
                now,
            } => m.raise_alert(key, body, *quiet_secs, *now).await.map(drop),
            Op::Audit { entry, now } => m.append_audit(entry, *now).await,
            Op::Headcount { headcount, now } => m.add_headcount(headcount, *now).await,
            Op::ZoneMinute {
                window_secs,
                minute,
                now,
            } => m.record_zone_minute(*window_secs, minute, *now).await,
            Op::ClusterDecision { cluster, body, now } => m.put_cluster_decision(cluster, body, *now).await,
            Op::PutRumour { id, body, now } => m.put_rumour(id, body, *now).await,
            Op::SwapRumour {
                id,
                expected,
                body,
                now,
            } => m.swap_rumour(id, expected, body, *now).await.map(drop),
            Op::Claim {
                slot,
                body_hash,
                now_ms,
                lease_ms,
                keep_ms,
            } => m
                .memory_idempotency()
                .claim(
                    slot,
                    body_hash,
                    *now_ms,
                    Duration::from_millis(*lease_ms),
                    Duration::from_millis(*keep_ms),
                )
                .await
                .map(drop),
            Op::Finish {
                slot,
                body_hash,
                status,
                body,
                now_ms,
                keep_ms,
            } => {
                let answer = StoredAnswer {
                    status: *status,
                    body: body.to_string(),
                };
                m.memory_idempotency()
                    .finish(slot, body_hash, &answer, *now_ms, Duration::from_millis(*keep_ms))
                    .await
                    .map(drop)
            }
        }
    }
}

impl DurableEngine {
    /// Opens `options.data_dir` (made on first start) and replays it. The
    /// directory is this process's until it exits: a second one is
    /// refused, as is a directory written with another layout.
    pub async fn open(options: &DurableOptions, layout: Layout) -> Result<Self, EngineError> {
        Self::open_sized(options, layout, SEGMENT_BYTES).await
    }

    /// [`DurableEngine::open`] with segments closed at `segment_bytes`
    /// instead of [`SEGMENT_BYTES`]: what the tests of compaction need.
    pub async fn open_sized(options: &DurableOptions, layout: Layout, segment_bytes: u64) -> Result<Self, EngineError> {
        let started = Instant::now();
        let (lock, meta) = log::take(&options.data_dir, &layout)?;
        let memory = Arc::new(MemoryEngine::with_epoch(layout, meta.epoch));
        let replay = Replay {
            memory: &memory,
            layout,
        };
        let (log, replayed) = log::open(&options.data_dir, layout, options.fsync, segment_bytes, lock, &replay).await?;
        // The attempts that held leases died with the process that ran
        // them: their clients' retries must not wait for the leases to
        // run out.
        memory.memory_idempotency().drop_leases()?;
        let log = Arc::new(log);
        spawn_upkeep(Arc::downgrade(&log));
        Ok(Self {
            idempotency: Arc::new(DurableIdempotency {
                memory: memory.memory_idempotency().clone(),
                log: log.clone(),
            }),
            memory,
            log,
            replayed,
            took: started.elapsed(),
        })
    }

    /// What opening found, and how long opening took.
    pub fn replayed(&self) -> (&Replayed, Duration) {
        (&self.replayed, self.took)
    }

    /// The flush policy.
    pub fn fsync(&self) -> Fsync {
        self.log.fsync()
    }

    /// Bytes the log holds on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.log.disk_bytes()
    }

    /// Compacts the closed segments now rather than at the next minute;
    /// the bytes freed.
    pub async fn compact(&self) -> Result<u64, EngineError> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.compact())
            .await
            .map_err(|e| EngineError::Unavailable(format!("compaction: {e}")))?
    }

    /// [`logged`] on this engine's log.
    async fn write<T>(&self, op: Op<'_>, call: impl Future<Output = Result<T, EngineError>>) -> Result<T, EngineError> {
        logged(&self.log, &op, call).await
    }
}

/// Logs `op`, then runs `call` (the memory engine's call it records: a
/// future does nothing until awaited, so it runs after the append), in the
/// log's order; answers once the `--fsync` policy has it on disk.
async fn logged<T>(
    log: &Log,
    op: &Op<'_>,
    call: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    let appended = log.append(op).await?;
    let result = call.await;
    log.durable(appended.release()).await?;
    result
}

/// The `everysec` flush and compaction, until the engine is dropped.
fn spawn_upkeep(log: std::sync::Weak<Log>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            let Some(log) = log.upgrade() else { return };
            if log.fsync() == Fsync::Everysec {
                // A failed flush marks the log broken; writes report it.
                let _ = log.flush().await;
            }
            ticks += 1;
            if ticks.is_multiple_of(60) {
                match tokio::task::spawn_blocking(move || log.compact()).await {
                    Ok(Ok(freed)) if freed > 0 => tracing::info!(freed, "compacted the log"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "log compaction failed; it will be tried again"),
                    _ => {}
                }
            }
        }
    });
}

fn items(batch: &[Bucketed]) -> Result<Vec<Item<'_>>, EngineError> {
    batch
        .iter()
        .map(|post| Item::of(post).ok_or_else(|| EngineError::Unavailable("a post without a cell".into())))
        .collect()
}

#[async_trait]
impl CountStore for DurableEngine {
    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        let op = Op::Ingest {
            now,
            items: items(batch)?,
        };
        self.write(op, self.memory.ingest(batch, now)).await
    }

    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        self.memory.counts(query).await
    }

    async fn counts_at(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        self.memory.counts_at(query).await
    }

    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError> {
        self.memory.bucket_totals(first, last).await
    }

    async fn uncount(&self, item: &Bucketed, now: i64) -> Result<(), EngineError> {
        let logged = Item::of(item).ok_or_else(|| EngineError::Unavailable("a post without a cell".into()))?;
        let op = Op::Uncount { now, item: logged };
        self.write(op, self.memory.uncount(item, now)).await
    }
}

#[async_trait]
impl BroadcastLog for DurableEngine {
    async fn append_broadcast(&self, id: &str, body: &str, now: i64) -> Result<u64, EngineError> {
        let op = Op::Broadcast {
            id: id.into(),
            body: body.into(),
            now,
        };
        self.write(op, self.memory.append_broadcast(id, body, now)).await
    }

    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
        self.memory.broadcasts_after(after).await
    }

    async fn broadcasts_page(&self, after: u64, limit: usize) -> Result<Vec<BroadcastRecord>, EngineError> {
        self.memory.broadcasts_page(after, limit).await
    }

    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError> {
        self.memory.broadcast(id).await
    }

    async fn broadcast_epoch(&self) -> Result<String, EngineError> {
        self.memory.broadcast_epoch().await
    }

    fn broadcast_feed(&self) -> tokio::sync::broadcast::Receiver<BroadcastRecord> {
        self.memory.broadcast_feed()
    }

    async fn acknowledge(&self, id: &str, sub: &str, at: i64) -> Result<bool, EngineError> {
        let op = Op::Acknowledge {
            id: id.into(),
            sub: sub.into(),
            at,
        };
        self.write(op, self.memory.acknowledge(id, sub, at)).await
    }

    async fn acknowledgements(&self, id: &str) -> Result<Vec<(String, i64)>, EngineError> {
        self.memory.acknowledgements(id).await
    }
}

#[async_trait]
impl ReportStore for DurableEngine {
    async fn put_report(&self, id: &str, body: &str, received_at: i64) -> Result<(), EngineError> {
        let op = Op::PutReport {
            id: id.into(),
            body: body.into(),
            received_at,
        };
        self.write(op, self.memory.put_report(id, body, received_at)).await
    }

    async fn swap_report(&self, id: &str, expected: &str, body: &str, received_at: i64) -> Result<bool, EngineError> {
        let op = Op::SwapReport {
            id: id.into(),
            expected: expected.into(),
            body: body.into(),
            received_at,
        };
        self.write(op, self.memory.swap_report(id, expected, body, received_at))
            .await
    }

    async fn report(&self, id: &str) -> Result<Option<String>, EngineError> {
        self.memory.report(id).await
    }

    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError> {
        self.memory.reports(since).await
    }

    async fn reports_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        self.memory.reports_between(from, to, cursor, limit).await
    }

    fn report_feed(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.memory.report_feed()
    }
}

#[async_trait]
impl AlertGate for DurableEngine {
    async fn raise_alert(&self, key: &str, body: &str, quiet_secs: i64, now: i64) -> Result<bool, EngineError> {
        let op = Op::RaiseAlert {
            key: key.into(),
            body: body.into(),
            quiet_secs,
            now,
        };
        self.write(op, self.memory.raise_alert(key, body, quiet_secs, now))
            .await
    }

    fn alert_feed(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.memory.alert_feed()
    }

    async fn alerts_since(&self, since: i64) -> Result<Vec<String>, EngineError> {
        self.memory.alerts_since(since).await
    }

    async fn alerts_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        self.memory.alerts_between(from, to, cursor, limit).await
    }
}

#[async_trait]
impl AuditLog for DurableEngine {
    async fn append_audit(&self, entry: &str, now: i64) -> Result<(), EngineError> {
        let op = Op::Audit {
            entry: entry.into(),
            now,
        };
        self.write(op, self.memory.append_audit(entry, now)).await
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError> {
        self.memory.audit_log(limit).await
    }

    async fn audit_between(&self, from: i64, to: i64, cursor: Option<&str>, limit: usize) -> Result<Page, EngineError> {
        self.memory.audit_between(from, to, cursor, limit).await
    }
}

#[async_trait]
impl CrowdStore for DurableEngine {
    async fn add_headcount(&self, headcount: &Headcount, now: i64) -> Result<(), EngineError> {
        let op = Op::Headcount {
            headcount: headcount.clone(),
            now,
        };
        self.write(op, self.memory.add_headcount(headcount, now)).await
    }

    async fn headcounts_since(&self, since: i64) -> Result<Vec<Headcount>, EngineError> {
        self.memory.headcounts_since(since).await
    }

    async fn record_zone_minute(&self, window_secs: i64, minute: &ZoneMinute, now: i64) -> Result<(), EngineError> {
        let op = Op::ZoneMinute {
            window_secs,
            minute: minute.clone(),
            now,
        };
        self.write(op, self.memory.record_zone_minute(window_secs, minute, now))
            .await
    }

    async fn zone_minutes(&self, window_secs: i64, since: i64) -> Result<Vec<ZoneMinute>, EngineError> {
        self.memory.zone_minutes(window_secs, since).await
    }
}

#[async_trait]
impl TextLog for DurableEngine {
    async fn texts_after(&self, after: TextKey, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        self.memory.texts_after(after, limit).await
    }

    async fn texts_before(&self, before: Option<TextKey>, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        self.memory.texts_before(before, limit).await
    }

    async fn text(&self, key: TextKey) -> Result<Option<TextEntry>, EngineError> {
        self.memory.text(key).await
    }

    async fn put_cluster_decision(&self, cluster: &str, body: &str, now: i64) -> Result<(), EngineError> {
        let op = Op::ClusterDecision {
            cluster: cluster.into(),
            body: body.into(),
            now,
        };
        self.write(op, self.memory.put_cluster_decision(cluster, body, now))
            .await
    }

    async fn cluster_decisions(&self) -> Result<Vec<String>, EngineError> {
        self.memory.cluster_decisions().await
    }
}

#[async_trait]
impl RumourStore for DurableEngine {
    async fn put_rumour(&self, id: &str, body: &str, now: i64) -> Result<(), EngineError> {
        let op = Op::PutRumour {
            id: id.into(),
            body: body.into(),
            now,
        };
        self.write(op, self.memory.put_rumour(id, body, now)).await
    }

    async fn swap_rumour(&self, id: &str, expected: &str, body: &str, now: i64) -> Result<bool, EngineError> {
        let op = Op::SwapRumour {
            id: id.into(),
            expected: expected.into(),
            body: body.into(),
            now,
        };
        self.write(op, self.memory.swap_rumour(id, expected, body, now)).await
    }

    async fn rumour(&self, id: &str) -> Result<Option<String>, EngineError> {
        self.memory.rumour(id).await
    }

    async fn rumours(&self) -> Result<Vec<String>, EngineError> {
        self.memory.rumours().await
    }
}

#[async_trait]
impl Engine for DurableEngine {
    fn kind(&self) -> &'static str {
        // The contract names the embedded engine `memory` whether or not it
        // keeps a data directory (DESIGN §2).
        "memory"
    }

    async fn ping(&self) -> Result<(), EngineError> {
        self.log.check()?;
        self.memory.ping().await
    }

    fn idempotency(&self) -> Arc<dyn IdempotencyStore> {
        self.idempotency.clone()
    }
}

/// Answers under `Idempotency-Key`, logged as the other writes are and in
/// the same order, so that a retry after a restart finds its first
/// attempt's time and answer.
struct DurableIdempotency {
    memory: Arc<MemoryIdempotency>,
    log: Arc<Log>,
}

fn millis(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl IdempotencyStore for DurableIdempotency {
    async fn claim(
        &self,
        slot: &str,
        body_hash: &str,
        now: i64,
        lease: Duration,
        keep: Duration,
    ) -> Result<Claim, EngineError> {
        let op = Op::Claim {
            slot: slot.into(),
            body_hash: body_hash.into(),
            now_ms: now,
            lease_ms: millis(lease),
            keep_ms: millis(keep),
        };
        logged(&self.log, &op, self.memory.claim(slot, body_hash, now, lease, keep)).await
    }

    async fn finish(
        &self,
        slot: &str,
        body_hash: &str,
        answer: &StoredAnswer,
        now: i64,
        keep: Duration,
    ) -> Result<StoredAnswer, EngineError> {
        let op = Op::Finish {
            slot: slot.into(),
            body_hash: body_hash.into(),
            status: answer.status,
            body: answer.body.as_str().into(),
            now_ms: now,
            keep_ms: millis(keep),
        };
        logged(&self.log, &op, self.memory.finish(slot, body_hash, answer, now, keep)).await
    }

    async fn release(&self, slot: &str, token: &str, now: i64) -> Result<(), EngineError> {
        // Leases are not logged (a restart drops them all), so neither is
        // giving one up.
        self.memory.release(slot, token, now).await
    }
}

/// The default data directory, relative to where the server starts.
pub fn default_data_dir() -> &'static Path {
    Path::new("campanile-data")
}
