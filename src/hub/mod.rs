//! The hub: reads the engine once per tick and fans changes out to sessions.
//!
//! Sessions subscribe to a heatmap *group* — one (resolution, window,
//! audience) — and receive a [`tokio::sync::watch`] of its latest
//! [`HeatmapFrame`]. A watch keeps only the newest value, which is exactly
//! the contract's coalescing: a slow client gets the latest state, never a
//! backlog. Each frame carries its delta from the previous one, computed once
//! for every subscriber of the group.

mod frame;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use h3o::Resolution;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use frame::{CellStat, HeatmapFrame, sort_hottest_first};

use crate::domain::Window;
use crate::engine::{CountQuery, Engine, EngineError};
use crate::telemetry::metric;

/// Who a heatmap is for: the public view hides thin cells (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Operators, commanders and ingest clients: every cell.
    Full,
    /// No token: only cells with at least k distinct contributors.
    Public,
}

/// One heatmap group: everything a subscriber's frames depend on, bbox aside.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeatmapKey {
    /// H3 resolution.
    pub res: Resolution,
    /// Sliding window.
    pub window: Window,
    /// Audience.
    pub audience: Audience,
}

/// Whether the engine answered the last tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineStatus {
    /// Reachable.
    Up,
    /// Unreachable; sessions are told.
    Down,
}

/// The registry of heatmap groups and the engine status.
pub struct Hub {
    engine: Arc<dyn Engine>,
    k_anonymity: u64,
    groups: Mutex<HashMap<HeatmapKey, watch::Sender<Arc<HeatmapFrame>>>>,
    status: watch::Sender<EngineStatus>,
}

impl Hub {
    /// A hub over `engine`; public heatmaps need `k_anonymity` contributors a cell.
    pub fn new(engine: Arc<dyn Engine>, k_anonymity: u64) -> Self {
        Self {
            engine,
            k_anonymity,
            groups: Mutex::new(HashMap::new()),
            status: watch::channel(EngineStatus::Up).0,
        }
    }

    /// Reads one heatmap straight from the engine.
    pub async fn read(&self, key: &HeatmapKey, now: DateTime<Utc>) -> Result<Vec<CellStat>, EngineError> {
        let counts = self
            .engine
            .counts(CountQuery {
                res: key.res,
                window_secs: key.window.secs(),
                now: now.timestamp(),
            })
            .await?;
        let min_contributors = match key.audience {
            Audience::Full => 0,
            Audience::Public => self.k_anonymity,
        };
        Ok(counts
            .into_iter()
            .filter(|c| c.count > 0 && c.contributors >= min_contributors)
            .map(CellStat::from)
            .collect())
    }

    /// Joins a group, reading its first frame if the group is new.
    pub async fn subscribe(&self, key: HeatmapKey) -> Result<watch::Receiver<Arc<HeatmapFrame>>, EngineError> {
        if let Some(rx) = self.lock_groups().get(&key).map(watch::Sender::subscribe) {
            return Ok(rx);
        }
        let now = Utc::now();
        let first = HeatmapFrame::first(now, self.read(&key, now).await?);
        let mut groups = self.lock_groups();
        let tx = groups.entry(key).or_insert_with(|| watch::channel(Arc::new(first)).0);
        Ok(tx.subscribe())
    }

    /// Engine status changes, for sessions to relay.
    pub fn status(&self) -> watch::Receiver<EngineStatus> {
        self.status.subscribe()
    }

    /// Refreshes every group that has subscribers and forgets the others.
    pub async fn tick(&self) {
        let groups: Vec<(HeatmapKey, watch::Sender<Arc<HeatmapFrame>>)> = {
            let mut groups = self.lock_groups();
            groups.retain(|_, tx| tx.receiver_count() > 0);
            groups.iter().map(|(k, tx)| (k.clone(), tx.clone())).collect()
        };
        let now = Utc::now();
        let read_any = !groups.is_empty();
        let recovering = *self.status.borrow() == EngineStatus::Down;
        let mut healthy = true;
        let mut read = Vec::new();
        for (key, tx) in groups {
            match self.read(&key, now).await {
                Ok(cells) => read.push((tx, cells)),
                Err(e) => {
                    healthy = false;
                    metrics::counter!(metric::HUB_TICK_FAILURES).increment(1);
                    tracing::warn!(error = %e, "heatmap tick failed");
                    break;
                }
            }
        }
        if !read_any {
            // With no subscribers the tick read nothing: ask the engine directly.
            healthy = self.engine.ping().await.is_ok();
        }
        // The status first: a client is told the engine is back before it
        // gets the fresh snapshot read from it.
        let status = if healthy { EngineStatus::Up } else { EngineStatus::Down };
        self.status.send_if_modified(|s| std::mem::replace(s, status) != status);
        for (tx, cells) in read {
            // Computed before sending: the borrow must end before the send.
            let next = if recovering {
                Some(tx.borrow().resync(now, cells))
            } else {
                tx.borrow().next(now, cells)
            };
            if let Some(next) = next {
                tx.send_replace(Arc::new(next));
            }
        }
    }

    /// Runs [`Hub::tick`] every `period` until `shutdown`.
    pub fn spawn_ticker(self: Arc<Self>, period: Duration, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        crate::schedule::spawn_every(period, shutdown, move || {
            let hub = self.clone();
            async move { hub.tick().await }
        })
    }

    fn lock_groups(&self) -> std::sync::MutexGuard<'_, HashMap<HeatmapKey, watch::Sender<Arc<HeatmapFrame>>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every update is one insert or retain), so the data stays usable.
        self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
