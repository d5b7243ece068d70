//! The embedded engine: everything in one process, nothing to install.
//!
//! One mutex guards the whole state. Critical sections are short (a batch
//! update or a read of one resolution) and there is one writer path, so a
//! sharded design would buy little here; `benches/pipeline.rs` measures it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use h3o::CellIndex;

use tokio::sync::broadcast;

use super::Bucketed;
use super::{
    BROADCAST_FEED_CAPACITY, BroadcastRecord, CellCount, CountQuery, Engine, EngineError, IngestOutcome, Layout,
    REPORT_FEED_CAPACITY, WRITE_CHUNK, chunk_buckets, chunk_name, timed,
};

/// Keyed per process, so that chosen ids cannot collide on purpose, and
/// several times cheaper than the standard SipHash on the ingest path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct State {
    /// (resolution, bucket start) → cell → count.
    buckets: BTreeMap<(u8, i64), FastMap<CellIndex, u64>>,
    /// cell → contributor → last bucket seen.
    last_seen: FastMap<CellIndex, FastMap<u64, i64>>,
    /// De-duplication keys and when they expire, oldest first.
    seen: FastMap<String, i64>,
    seen_expiry: VecDeque<(i64, String)>,
    /// (bucket, chunk name) of every chunk counted in a bucket still read.
    applied: std::collections::HashSet<(i64, String), foldhash::fast::RandomState>,
    last_purge: i64,
}

/// The broadcast log, acknowledgements and audit trail.
#[derive(Default)]
struct Log {
    last_seq: u64,
    /// (sent at, record), oldest first.
    broadcasts: VecDeque<(i64, BroadcastRecord)>,
    acks: HashMap<String, Vec<(String, i64)>>,
    audit: VecDeque<String>,
    /// id → (received at, body).
    reports: HashMap<String, (i64, String)>,
    /// alert key → quiet until (Unix seconds).
    alerts_quiet: HashMap<String, i64>,
    /// (raised at, body) of every retained alert, oldest first.
    alerts: VecDeque<(i64, String)>,
}

/// Audit entries kept in memory.
const AUDIT_MAX: usize = 100_000;

/// The in-process engine.
pub struct MemoryEngine {
    layout: Layout,
    state: Mutex<State>,
    log: Mutex<Log>,
    feed: broadcast::Sender<BroadcastRecord>,
    report_feed: broadcast::Sender<String>,
    alert_feed: broadcast::Sender<String>,
    idempotency: std::sync::Arc<super::idempotency::MemoryIdempotency>,
}

impl MemoryEngine {
    /// An empty engine with this layout.
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            state: Mutex::new(State::default()),
            log: Mutex::new(Log::default()),
            feed: broadcast::channel(BROADCAST_FEED_CAPACITY).0,
            report_feed: broadcast::channel(REPORT_FEED_CAPACITY).0,
            alert_feed: broadcast::channel(REPORT_FEED_CAPACITY).0,
            idempotency: std::sync::Arc::default(),
        }
    }

    fn lock_log(&self) -> Result<std::sync::MutexGuard<'_, Log>, EngineError> {
        self.log
            .lock()
            .map_err(|_| EngineError::Unavailable("memory engine log poisoned by an earlier panic".into()))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, EngineError> {
        self.state
            .lock()
            .map_err(|_| EngineError::Unavailable("memory engine state poisoned by an earlier panic".into()))
    }
}

impl State {
    /// Drops what no window can read and dedup keys past retention, at most
    /// once a second so that the cost stays off the hot path.
    fn purge(&mut self, layout: &Layout, now: i64) {
        if now == self.last_purge {
            return;
        }
        self.last_purge = now;
        let oldest = layout.oldest_useful_bucket(now);
        self.buckets.retain(|(_, bucket), _| *bucket >= oldest);
        self.applied.retain(|(bucket, _)| *bucket >= oldest);
        self.last_seen.retain(|_, contributors| {
            contributors.retain(|_, last| *last >= oldest);
            !contributors.is_empty()
        });
        while let Some((expires, _)) = self.seen_expiry.front() {
            if *expires > now {
                break;
            }
            if let Some((expires, key)) = self.seen_expiry.pop_front()
                && self.seen.get(&key) == Some(&expires)
            {
                self.seen.remove(&key);
            }
        }
    }
}

#[async_trait]
impl Engine for MemoryEngine {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), EngineError> {
        self.lock().map(drop)
    }

    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        timed("memory", "ingest", async {
            let mut state = self.lock()?;
            state.purge(&self.layout, now);
            let oldest = self.layout.oldest_useful_bucket(now);
            let mut outcome = IngestOutcome::default();
            for (index, chunk) in batch.chunks(WRITE_CHUNK).enumerate() {
                let name = chunk_name(index, chunk);
                // A chunk already counted in a bucket is being sent again.
                let repeated: BTreeSet<i64> = chunk_buckets(chunk)
                    .into_iter()
                    .filter(|b| state.applied.contains(&(*b, name.clone())))
                    .collect();
                let mut counted = BTreeSet::new();
                for item in chunk {
                    if repeated.contains(&item.bucket) {
                        outcome.duplicates += 1;
                        continue;
                    }
                    if let Some(key) = &item.dedup_key {
                        if state.seen.get(key).is_some_and(|exp| *exp > now) {
                            outcome.duplicates += 1;
                            continue;
                        }
                        let expires = now + self.layout.dedup_secs;
                        state.seen.insert(key.clone(), expires);
                        state.seen_expiry.push_back((expires, key.clone()));
                    }
                    outcome.accepted += 1;
                    if item.bucket < oldest {
                        continue; // valid and kept as seen, but no window reads it
                    }
                    counted.insert(item.bucket);
                    for cell in &item.cells {
                        let res = u8::from(cell.resolution());
                        *state
                            .buckets
                            .entry((res, item.bucket))
                            .or_default()
                            .entry(*cell)
                            .or_default() += 1;
                        let last = state
                            .last_seen
                            .entry(*cell)
                            .or_default()
                            .entry(item.contributor)
                            .or_insert(item.bucket);
                        *last = (*last).max(item.bucket);
                    }
                }
                for bucket in counted {
                    state.applied.insert((bucket, name.clone()));
                }
            }
            Ok(outcome)
        })
        .await
    }

    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        timed("memory", "counts", async {
            let mut state = self.lock()?;
            state.purge(&self.layout, query.now);
            let res = u8::from(query.res);
            let first = self.layout.first_bucket(query.window_secs, query.now);
            let last = self.layout.bucket_start(query.now);
            let mut counts: HashMap<CellIndex, u64> = HashMap::new();
            for (_, cells) in state.buckets.range((res, first)..=(res, last)) {
                for (cell, n) in cells {
                    *counts.entry(*cell).or_default() += n;
                }
            }
            Ok(counts
                .into_iter()
                .map(|(cell, count)| {
                    let contributors = state
                        .last_seen
                        .get(&cell)
                        .map_or(0, |c| c.values().filter(|last| **last >= first).count() as u64);
                    CellCount {
                        cell,
                        count,
                        contributors,
                    }
                })
                .collect())
        })
        .await
    }

    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError> {
        let state = self.lock()?;
        let res = u8::from(self.layout.resolutions.coarsest());
        let mut out = Vec::new();
        let mut bucket = self.layout.bucket_start(first);
        while bucket <= last {
            let total = state
                .buckets
                .get(&(res, bucket))
                .map_or(0, |cells| cells.values().sum());
            out.push((bucket, total));
            bucket += self.layout.bucket_secs;
        }
        Ok(out)
    }

    async fn append_broadcast(&self, id: &str, body: &str, now: i64) -> Result<u64, EngineError> {
        let mut log = self.lock_log()?;
        log.last_seq += 1;
        let record = BroadcastRecord {
            seq: log.last_seq,
            id: id.to_owned(),
            body: body.to_owned(),
        };
        log.broadcasts.push_back((now, record.clone()));
        let oldest = now - self.layout.broadcast_secs;
        while log
            .broadcasts
            .front()
            .is_some_and(|(sent, _)| *sent < oldest || log.broadcasts.len() > self.layout.broadcast_max)
        {
            if let Some((_, gone)) = log.broadcasts.pop_front() {
                log.acks.remove(&gone.id);
            }
        }
        // Sent under the lock, so that the feed's order is the seq order.
        let _ = self.feed.send(record);
        Ok(log.last_seq)
    }

    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
        let log = self.lock_log()?;
        Ok(log
            .broadcasts
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.seq > after)
            .cloned()
            .collect())
    }

    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError> {
        let log = self.lock_log()?;
        Ok(log.broadcasts.iter().map(|(_, r)| r).find(|r| r.id == id).cloned())
    }

    fn broadcast_feed(&self) -> broadcast::Receiver<BroadcastRecord> {
        self.feed.subscribe()
    }

    async fn acknowledge(&self, id: &str, sub: &str, at: i64) -> Result<bool, EngineError> {
        let mut log = self.lock_log()?;
        let acks = log.acks.entry(id.to_owned()).or_default();
        if acks.iter().any(|(who, _)| who == sub) {
            return Ok(false);
        }
        acks.push((sub.to_owned(), at));
        Ok(true)
    }

    async fn acknowledgements(&self, id: &str) -> Result<Vec<(String, i64)>, EngineError> {
        Ok(self.lock_log()?.acks.get(id).cloned().unwrap_or_default())
    }

    async fn append_audit(&self, entry: &str) -> Result<(), EngineError> {
        let mut log = self.lock_log()?;
        log.audit.push_back(entry.to_owned());
        if log.audit.len() > AUDIT_MAX {
            log.audit.pop_front();
        }
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError> {
        Ok(self.lock_log()?.audit.iter().rev().take(limit).cloned().collect())
    }

    fn idempotency(&self) -> std::sync::Arc<dyn super::idempotency::IdempotencyStore> {
        self.idempotency.clone()
    }

    async fn put_report(&self, id: &str, body: &str, received_at: i64) -> Result<(), EngineError> {
        let mut log = self.lock_log()?;
        // A report is put when it is received: that is the engine's now.
        let oldest = received_at - self.layout.dedup_secs;
        log.reports.retain(|_, (at, _)| *at >= oldest);
        log.reports.insert(id.to_owned(), (received_at, body.to_owned()));
        // Sent under the lock, so that the feed's order is the order stored.
        let _ = self.report_feed.send(body.to_owned());
        Ok(())
    }

    async fn swap_report(&self, id: &str, expected: &str, body: &str, received_at: i64) -> Result<bool, EngineError> {
        let mut log = self.lock_log()?;
        if log.reports.get(id).is_none_or(|(_, stored)| stored != expected) {
            return Ok(false);
        }
        log.reports.insert(id.to_owned(), (received_at, body.to_owned()));
        let _ = self.report_feed.send(body.to_owned());
        Ok(true)
    }

    fn report_feed(&self) -> broadcast::Receiver<String> {
        self.report_feed.subscribe()
    }

    async fn raise_alert(&self, key: &str, body: &str, quiet_secs: i64, now: i64) -> Result<bool, EngineError> {
        let mut log = self.lock_log()?;
        log.alerts_quiet.retain(|_, until| *until > now);
        if log.alerts_quiet.contains_key(key) {
            return Ok(false);
        }
        log.alerts_quiet.insert(key.to_owned(), now + quiet_secs);
        let oldest = now - super::ALERT_RETENTION_SECS;
        while log.alerts.front().is_some_and(|(at, _)| *at < oldest) {
            log.alerts.pop_front();
        }
        log.alerts.push_back((now, body.to_owned()));
        let _ = self.alert_feed.send(body.to_owned());
        Ok(true)
    }

    fn alert_feed(&self) -> broadcast::Receiver<String> {
        self.alert_feed.subscribe()
    }

    async fn alerts_since(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let log = self.lock_log()?;
        // Callers' clocks may step back a little: sorted by time, not by arrival.
        let mut found: Vec<&(i64, String)> = log.alerts.iter().filter(|(at, _)| *at >= since).collect();
        found.sort_by_key(|(at, _)| *at);
        Ok(found.into_iter().map(|(_, body)| body.clone()).collect())
    }

    async fn report(&self, id: &str) -> Result<Option<String>, EngineError> {
        Ok(self.lock_log()?.reports.get(id).map(|(_, body)| body.clone()))
    }

    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let log = self.lock_log()?;
        let mut found: Vec<&(i64, String)> = log.reports.values().filter(|(at, _)| *at >= since).collect();
        found.sort_by_key(|(at, _)| *at);
        Ok(found.into_iter().map(|(_, body)| body.clone()).collect())
    }

    async fn uncount(&self, item: &Bucketed) -> Result<(), EngineError> {
        let mut state = self.lock()?;
        if !state
            .applied
            .insert((item.bucket, format!("u{:016x}", item.fingerprint)))
        {
            return Ok(());
        }
        for cell in &item.cells {
            let key = (u8::from(cell.resolution()), item.bucket);
            if let Some(cells) = state.buckets.get_mut(&key)
                && let Some(n) = cells.get_mut(cell)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    cells.remove(cell);
                }
            }
            if let Some(seen) = state.last_seen.get_mut(cell) {
                seen.remove(&item.contributor);
            }
        }
        Ok(())
    }
}
