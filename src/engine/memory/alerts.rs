//! The memory engine's [`AlertGate`]: each alert key's quiet period, and
//! the feed of raised alerts.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{MemoryEngine, lock};
use crate::engine::{ALERT_FEED_CAPACITY, AlertGate, EngineError};

pub(super) struct Alerts {
    /// alert key → quiet until (Unix seconds).
    quiet: Mutex<HashMap<String, i64>>,
    feed: broadcast::Sender<String>,
}

impl Alerts {
    pub(super) fn new() -> Self {
        Self {
            quiet: Mutex::default(),
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
        let _ = self.alerts.feed.send(body.to_owned());
        Ok(true)
    }

    fn alert_feed(&self) -> broadcast::Receiver<String> {
        self.alerts.feed.subscribe()
    }
}
