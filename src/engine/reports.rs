//! The report store: field reports kept for the retention period, replaced
//! by compare-and-set when moderated, and fed live to every node.

use async_trait::async_trait;

use super::EngineError;

/// How many stored reports a slow feed subscriber may fall behind.
pub const REPORT_FEED_CAPACITY: usize = 1_024;

/// Where reports are kept.
#[async_trait]
pub trait ReportStore: Send + Sync + 'static {
    /// Stores (or replaces) report `id`, received at `received_at`, which is
    /// also the engine's now for expiry; kept for the retention period.
    /// Every node's [`ReportStore::report_feed`] then delivers `body`.
    async fn put_report(&self, id: &str, body: &str, received_at: i64) -> Result<(), EngineError>;

    /// Replaces report `id` with `body` only if it is still stored as
    /// `expected`; true if this call replaced it. Like
    /// [`ReportStore::put_report`], every node's feed then delivers `body`.
    /// This is the compare-and-set that makes concurrent moderations of one
    /// report happen one after the other.
    async fn swap_report(&self, id: &str, expected: &str, body: &str, received_at: i64) -> Result<bool, EngineError>;

    /// One retained report.
    async fn report(&self, id: &str) -> Result<Option<String>, EngineError>;

    /// Retained reports received at or after `since`, oldest first.
    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError>;

    /// Retained reports received in `[from, to]` (Unix seconds), oldest
    /// first, at most `limit` of them, from `cursor` (the `next` of the
    /// page before; `None` for the first).
    async fn reports_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<super::Page, EngineError>;

    /// Report bodies stored from now on, by any node, in the order stored.
    fn report_feed(&self) -> tokio::sync::broadcast::Receiver<String>;
}
