//! The alerts gate: an automatic alert is raised once per quiet period,
//! deployment-wide, whichever node detects it first, and fed to every node.

use async_trait::async_trait;

use super::EngineError;

/// How many raised alerts a slow feed subscriber may fall behind.
pub const ALERT_FEED_CAPACITY: usize = 1_024;

/// How long raised alerts stay readable by [`AlertGate::alerts_since`]: a
/// day, as long as the alerts stream keeps them, far longer than any
/// subscriber takes to catch up.
pub const ALERT_RETENTION_SECS: i64 = 24 * 3600;

/// Where raised alerts are gated and announced.
#[async_trait]
pub trait AlertGate: Send + Sync + 'static {
    /// Raises alert `body` at `now` (Unix seconds) unless one with the same
    /// `key` was raised, by any node, in the `quiet_secs` before; true if
    /// this call raised it. Every node's [`AlertGate::alert_feed`] then
    /// delivers it. The caller's clock, not the engine's, decides.
    async fn raise_alert(&self, key: &str, body: &str, quiet_secs: i64, now: i64) -> Result<bool, EngineError>;

    /// Alerts raised from now on, by any node, in order.
    fn alert_feed(&self) -> tokio::sync::broadcast::Receiver<String>;

    /// Retained alerts raised at or after `since` (the caller's `now` of
    /// [`AlertGate::raise_alert`]), oldest first: what a feed that fell
    /// behind re-reads. Kept for [`ALERT_RETENTION_SECS`].
    async fn alerts_since(&self, since: i64) -> Result<Vec<String>, EngineError>;

    /// Retained alerts raised in `[from, to]` (the caller's `now` of
    /// [`AlertGate::raise_alert`]), oldest first, at most `limit` of them,
    /// from `cursor` (the `next` of the page before; `None` for the first).
    async fn alerts_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<super::Page, EngineError>;
}
