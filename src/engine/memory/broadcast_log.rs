//! The memory engine's [`BroadcastLog`]: the log, its feed and the
//! acknowledgements, under one lock so that the feed's order is `seq` order.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{MemoryEngine, lock};
use crate::engine::{BROADCAST_FEED_CAPACITY, BroadcastLog, BroadcastRecord, EngineError};

/// The log of one process: without a data directory it dies with the
/// process, so each such log is an epoch of its own.
pub(super) struct Broadcasts {
    epoch: String,
    log: Mutex<Log>,
    feed: broadcast::Sender<BroadcastRecord>,
}

#[derive(Default)]
struct Log {
    last_seq: u64,
    /// (sent at, record), oldest first.
    records: VecDeque<(i64, BroadcastRecord)>,
    acks: HashMap<String, Vec<(String, i64)>>,
}

impl Broadcasts {
    pub(super) fn new(epoch: String) -> Self {
        Self {
            epoch,
            log: Mutex::default(),
            feed: broadcast::channel(BROADCAST_FEED_CAPACITY).0,
        }
    }
}

#[async_trait]
impl BroadcastLog for MemoryEngine {
    async fn append_broadcast(&self, id: &str, body: &str, now: i64) -> Result<u64, EngineError> {
        let mut log = lock(&self.broadcasts.log, "broadcast log")?;
        log.last_seq += 1;
        let record = BroadcastRecord {
            seq: log.last_seq,
            epoch: self.broadcasts.epoch.clone(),
            id: id.to_owned(),
            body: body.to_owned(),
        };
        log.records.push_back((now, record.clone()));
        let oldest = now - self.layout.broadcast_secs;
        while log
            .records
            .front()
            .is_some_and(|(sent, _)| *sent < oldest || log.records.len() > self.layout.broadcast_max)
        {
            if let Some((_, gone)) = log.records.pop_front() {
                log.acks.remove(&gone.id);
            }
        }
        // Sent under the lock, so that the feed's order is the seq order.
        let _ = self.broadcasts.feed.send(record);
        Ok(log.last_seq)
    }

    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
        self.broadcasts_page(after, usize::MAX).await
    }

    async fn broadcasts_page(&self, after: u64, limit: usize) -> Result<Vec<BroadcastRecord>, EngineError> {
        let log = lock(&self.broadcasts.log, "broadcast log")?;
        Ok(log
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError> {
        let log = lock(&self.broadcasts.log, "broadcast log")?;
        Ok(log.records.iter().map(|(_, r)| r).find(|r| r.id == id).cloned())
    }

    async fn broadcast_epoch(&self) -> Result<String, EngineError> {
        Ok(self.broadcasts.epoch.clone())
    }

    fn broadcast_feed(&self) -> broadcast::Receiver<BroadcastRecord> {
        self.broadcasts.feed.subscribe()
    }

    async fn acknowledge(&self, id: &str, sub: &str, at: i64) -> Result<bool, EngineError> {
        let mut log = lock(&self.broadcasts.log, "broadcast log")?;
        let acks = log.acks.entry(id.to_owned()).or_default();
        if acks.iter().any(|(who, _)| who == sub) {
            return Ok(false);
        }
        acks.push((sub.to_owned(), at));
        Ok(true)
    }

    async fn acknowledgements(&self, id: &str) -> Result<Vec<(String, i64)>, EngineError> {
        let mut acks = lock(&self.broadcasts.log, "broadcast log")?
            .acks
            .get(id)
            .cloned()
            .unwrap_or_default();
        // By time as the caller stamped it, then by name, as Redis orders them.
        acks.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(acks)
    }
}
