//! The broadcast log: operators' messages in one deployment-wide order, a
//! live feed of them for every node, and commanders' acknowledgements.
//!
//! A position in the log is `{seq, epoch}`, as in centrifuge's streams:
//! `seq` orders the messages, `epoch` names the log they were numbered in.
//! A store that lost its log (a Redis flushed or restarted without
//! persistence) numbers from 1 again under a new epoch, so that a
//! subscriber holding an old position can tell that its `seq` no longer
//! means what it did.

use async_trait::async_trait;

use super::EngineError;

/// One broadcast in the engine's log: its position, its id and its JSON
/// body (the engine does not look inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastRecord {
    /// Strictly increasing within an epoch, across the deployment.
    pub seq: u64,
    /// The log this `seq` was taken in; opaque, compared only for equality.
    pub epoch: String,
    /// The message id.
    pub id: String,
    /// The stored message as JSON.
    pub body: String,
}

/// How many live broadcasts a slow feed subscriber may fall behind before it
/// must re-read the log.
pub const BROADCAST_FEED_CAPACITY: usize = 1_024;

/// A fresh epoch: random, so that two logs never share one.
pub fn new_epoch() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Where broadcasts and their acknowledgements are kept.
#[async_trait]
pub trait BroadcastLog: Send + Sync + 'static {
    /// Appends a broadcast to the log under the next `seq`, which it
    /// returns. Every node's [`BroadcastLog::broadcast_feed`] then delivers
    /// it, in `seq` order. Messages older than the retention at `now`, and
    /// beyond the most kept, leave the log.
    async fn append_broadcast(&self, id: &str, body: &str, now: i64) -> Result<u64, EngineError>;

    /// Every retained broadcast with a `seq` above `after` in the current
    /// epoch, in order.
    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError>;

    /// At most `limit` retained broadcasts with a `seq` above `after` in
    /// the current epoch, in order: [`BroadcastLog::broadcasts_after`] a
    /// page at a time.
    async fn broadcasts_page(&self, after: u64, limit: usize) -> Result<Vec<BroadcastRecord>, EngineError>;

    /// One retained broadcast.
    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError>;

    /// The log's current epoch, for a subscriber that holds no record yet:
    /// the next append carries it unless the log is lost in between.
    async fn broadcast_epoch(&self) -> Result<String, EngineError>;

    /// Broadcasts appended from now on, by any node, in `seq` order.
    fn broadcast_feed(&self) -> tokio::sync::broadcast::Receiver<BroadcastRecord>;

    /// Records that `sub` acknowledged broadcast `id` at `at` (Unix
    /// seconds); false if it already had.
    async fn acknowledge(&self, id: &str, sub: &str, at: i64) -> Result<bool, EngineError>;

    /// Who acknowledged broadcast `id`, and when (Unix seconds), oldest first.
    async fn acknowledgements(&self, id: &str) -> Result<Vec<(String, i64)>, EngineError>;
}
