//! The memory engine's [`ReportStore`]: reports by id with their arrival
//! time, and their feed, under one lock so that the feed's order is the
//! order stored.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{MemoryEngine, lock, offset_page};
use crate::engine::{EngineError, Page, REPORT_FEED_CAPACITY, ReportStore};

pub(super) struct Reports {
    /// id → (received at, body).
    stored: Mutex<HashMap<String, (i64, String)>>,
    feed: broadcast::Sender<String>,
}

impl Reports {
    pub(super) fn new() -> Self {
        Self {
            stored: Mutex::default(),
            feed: broadcast::channel(REPORT_FEED_CAPACITY).0,
        }
    }
}

#[async_trait]
impl ReportStore for MemoryEngine {
    async fn put_report(&self, id: &str, body: &str, received_at: i64) -> Result<(), EngineError> {
        let mut stored = lock(&self.reports.stored, "reports")?;
        // A report is put when it is received: that is the engine's now.
        let oldest = received_at - self.layout.dedup_secs;
        stored.retain(|_, (at, _)| *at >= oldest);
        stored.insert(id.to_owned(), (received_at, body.to_owned()));
        // Sent under the lock, so that the feed's order is the order stored.
        let _ = self.reports.feed.send(body.to_owned());
        Ok(())
    }

    async fn swap_report(&self, id: &str, expected: &str, body: &str, received_at: i64) -> Result<bool, EngineError> {
        let mut stored = lock(&self.reports.stored, "reports")?;
        if stored.get(id).is_none_or(|(_, current)| current != expected) {
            return Ok(false);
        }
        stored.insert(id.to_owned(), (received_at, body.to_owned()));
        let _ = self.reports.feed.send(body.to_owned());
        Ok(true)
    }

    async fn report(&self, id: &str) -> Result<Option<String>, EngineError> {
        Ok(lock(&self.reports.stored, "reports")?
            .get(id)
            .map(|(_, body)| body.clone()))
    }

    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let stored = lock(&self.reports.stored, "reports")?;
        let mut found: Vec<(i64, &str, &str)> = stored
            .iter()
            .filter(|(_, (at, _))| *at >= since)
            .map(|(id, (at, body))| (*at, id.as_str(), body.as_str()))
            .collect();
        // Ties by id, as Redis orders its index: the same reports read in
        // the same order, in this process or after a restart.
        found.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        Ok(found.into_iter().map(|(_, _, body)| body.to_owned()).collect())
    }

    async fn reports_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        let stored = lock(&self.reports.stored, "reports")?;
        let mut found: Vec<(i64, &str, &str)> = stored
            .iter()
            .filter(|(_, (at, _))| (from..=to).contains(at))
            .map(|(id, (at, body))| (*at, id.as_str(), body.as_str()))
            .collect();
        // By time, then by id, as Redis orders its index: the order must
        // not change between pages.
        found.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        Ok(offset_page(&found, cursor, limit, |(_, _, body)| (*body).to_owned()))
    }

    fn report_feed(&self) -> broadcast::Receiver<String> {
        self.reports.feed.subscribe()
    }
}
