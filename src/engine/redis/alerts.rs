//! The Redis engine's [`AlertGate`]: a quiet key per alert and a stream of
//! raised alerts, both in the `{alerts}` slot, so that checking the quiet
//! period and announcing are one step whichever node detects the alert
//! first. Each node follows the stream from the last entry it saw.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;
use tokio::sync::broadcast;

use super::{RedisEngine, unavailable};
use crate::engine::{ALERT_RETENTION_SECS, AlertGate, EngineError, Page};

static RAISE_ALERT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/raise_alert.lua")));

#[async_trait]
impl AlertGate for RedisEngine {
    async fn raise_alert(&self, key: &str, body: &str, quiet_secs: i64, now: i64) -> Result<bool, EngineError> {
        RAISE_ALERT
            .key(self.keys.alert_quiet(key))
            .key(self.keys.alert_changes())
            .key(self.keys.alerts_raised())
            .arg(now)
            .arg(now + quiet_secs.max(1))
            .arg(body)
            .arg(ALERT_RETENTION_SECS)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    fn alert_feed(&self) -> broadcast::Receiver<String> {
        self.alert_feed.subscribe()
    }

    async fn alerts_since(&self, since: i64) -> Result<Vec<String>, EngineError> {
        redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.alerts_raised())
            .arg(since)
            .arg("+inf")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn alerts_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        self.scored_page(self.keys.alerts_raised(), from, to, cursor, limit)
            .await
    }
}
