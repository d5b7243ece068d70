//! The memory engine's [`AlertGate`]: each alert key's quiet period, and
//! the feed of raised alerts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{MemoryEngine, lock, offset_page};
use crate::engine::{ALERT_FEED_CAPACITY, ALERT_RETENTION_SECS, AlertGate, EngineError, Page};

pub(super) struct Alerts {
    /// alert key → quiet until (Unix seconds).
    quiet: Mutex<HashMap<String, i64>>,
    /// (raised at, body) of every retained alert, in the order raised.
    raised: Mutex<VecDeque<(i64, String)>>,
    feed: broadcast::Sender<String>,
}

impl Alerts {
    pub(super) fn new() -> Self {
        Self {
            quiet: Mutex::default(),
            raised: Mutex::default(),
            feed: broadcast::channel(ALERT_FEED_CAPACITY).0,
        }
    }
}

#[async_trait]
impl AlertGate for MemoryEngine {
    async fn raise_alert(&self, key: &str, body: &str, quiet_secs: i64, now: i64) -> Result<bool, EngineError> {
        let mut quiet = lock(&self.alerts.quiet, "alerts")?;
        quiet.retain(|_, until| *until > now);
        if quiet.contains_key(key) {
            return Ok(false);
        }
        quiet.insert(key.to_owned(), now + quiet_secs);
        let mut raised = lock(&self.alerts.raised, "alerts")?;
        let oldest = now - ALERT_RETENTION_SECS;
        while raised.front().is_some_and(|(at, _)| *at < oldest) {
            raised.pop_front();
        }
        raised.push_back((now, body.to_owned()));
        let _ = self.alerts.feed.send(body.to_owned());
        Ok(true)
    }

    fn alert_feed(&self) -> broadcast::Receiver<String> {
        self.alerts.feed.subscribe()
    }

    async fn alerts_since(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let raised = lock(&self.alerts.raised, "alerts")?;
        // Callers' clocks may step back a little: sorted by time, not by arrival.
        let mut found: Vec<&(i64, String)> = raised.iter().filter(|(at, _)| *at >= since).collect();
        found.sort_by_key(|(at, _)| *at);
        Ok(found.into_iter().map(|(_, body)| body.clone()).collect())
    }

    async fn alerts_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        let raised = lock(&self.alerts.raised, "alerts")?;
        let mut found: Vec<&(i64, String)> = raised.iter().filter(|(at, _)| (from..=to).contains(at)).collect();
        // By time, then by body, as Redis orders its sorted set.
        found.sort_unstable();
        Ok(offset_page(&found, cursor, limit, |(_, body)| body.clone()))
    }
}
