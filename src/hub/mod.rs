//! The hub: owns every channel a session can subscribe to, reads the engine
//! once for all of them and fans changes out to sessions as [`Messages`].
//!
//! Heatmaps: sessions subscribe to a heatmap *group* — one (resolution,
//! window, audience) — read once per tick into a [`tokio::sync::watch`] of
//! its latest [`HeatmapFrame`]. A watch keeps only the newest value, which is
//! exactly the contract's coalescing: a slow client gets the latest state,
//! never a backlog. Each frame carries its delta from the previous one,
//! computed once for every subscriber of the group.
//!
//! Broadcasts, reports and alerts: one task per node per feed reads the
//! engine's feed, decodes and encodes each message once per view, and hands
//! sessions shared bytes; nothing is lost to a reader that falls behind
//! ([`channel`]).
//!
//! Zones: every area zone's status, computed once per tick from one count
//! read and shared by the route, the sessions and the zone alerts
//! ([`ZoneChannel`]).

mod alerts;
mod broadcasts;
pub mod channel;
mod frame;
mod group;
mod heatmap;
mod integrity;
mod reports;
mod request;
mod zones;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use h3o::Resolution;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use crate::reports::PendingReports;
pub use alerts::AlertChannel;
pub use broadcasts::{BroadcastChannel, Resume};
pub use channel::Messages;
pub use frame::{CellStat, HeatmapFrame, PublicBands, sort_hottest_first};
pub use integrity::{
    CellTrends, ClusterView, Decision, DecisionError, IntegrityChannel, IntegritySettings, TrendView, TrendsFrame,
    ZoneTrends,
};
pub use reports::ReportChannel;
pub use request::{HeatmapLimits, HeatmapRefusal, HeatmapRequest, ReplayAt};
pub use zones::{
    Calibration, CrowdPicture, HeadcountError, MAX_PEOPLE_PER_M2, ReplayCache, TREND_LOOKBACK_SECS, ZoneChannel,
    ZonesFrame,
};

use crate::domain::Window;
use crate::engine::{CellCount, CountQuery, Engine, EngineError, Layout};
use crate::telemetry::metric;

/// Who a heatmap is for: the public view hides thin cells (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Operators and commanders: every cell, unverified citizen reports
    /// included.
    Full,
    /// No token (and the `ingest` role): levels of cells with at least k
    /// distinct contributors, from trusted counts only.
    Public,
}

/// What the public may see of the counts (DESIGN §6).
#[derive(Debug, Clone, Copy)]
pub struct PublicView {
    /// Contributors a cell needs to be shown.
    pub k_anonymity: u64,
    /// The finest resolution the public reads. Coarser public cells are
    /// sums of the shown cells of this one, so that no comparison of
    /// resolutions can reveal a hidden cell.
    pub finest: Resolution,
    /// Density bands of the levels.
    pub bands: PublicBands,
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

/// A frame's zones, for readers that need no more of the hub (the zone
/// alerts).
impl AsRef<[crate::crowd::status::ZoneStatus]> for ZonesFrame {
    fn as_ref(&self) -> &[crate::crowd::status::ZoneStatus] {
        &self.zones
    }
}

/// The registry of heatmap groups and the engine status.
pub struct Hub {
    engine: Arc<dyn Engine>,
    public: PublicView,
    pending: Arc<PendingReports>,
    layout: Layout,
    groups: group::Groups<HeatmapKey, HeatmapFrame>,
    status: watch::Sender<EngineStatus>,
    broadcasts: Arc<BroadcastChannel>,
    reports: Arc<ReportChannel>,
    alerts: Arc<AlertChannel>,
    zones: Arc<ZoneChannel>,
}

impl Hub {
    /// A hub over `engine`, showing the public what `public` allows and the
    /// operators also the reports in `pending`; broadcasts' areas are
    /// resolved with `zones`; a new alerts subscriber first gets the alerts
    /// of the last `alert_history_secs`.
    pub fn new(
        engine: Arc<dyn Engine>,
        public: PublicView,
        pending: Arc<PendingReports>,
        layout: Layout,
        crowd: CrowdPicture,
        alert_history_secs: i64,
    ) -> Self {
        Self {
            broadcasts: Arc::new(BroadcastChannel::new(engine.clone(), crowd.zones.clone())),
            zones: Arc::new(ZoneChannel::new(engine.clone(), crowd)),
            reports: Arc::new(ReportChannel::new(engine.clone(), layout.dedup_secs)),
            alerts: Arc::new(AlertChannel::new(engine.clone(), alert_history_secs)),
            engine,
            public,
            pending,
            layout,
            groups: group::Groups::new(),
            status: watch::channel(EngineStatus::Up).0,
        }
    }

    /// Starts the one relay per feed of this node, until `shutdown`.
    pub fn spawn_relays(&self, shutdown: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            self.broadcasts.spawn(shutdown.clone()),
            self.reports.spawn(shutdown.clone()),
            self.alerts.spawn(shutdown.clone()),
        ]
    }

    /// The broadcasts channel.
    pub fn broadcasts(&self) -> &Arc<BroadcastChannel> {
        &self.broadcasts
    }

    /// The reports channel.
    pub fn reports(&self) -> &Arc<ReportChannel> {
        &self.reports
    }

    /// The alerts channel.
    pub fn alerts(&self) -> &Arc<AlertChannel> {
        &self.alerts
    }

    /// The zones channel.
    pub fn zones(&self) -> &Arc<ZoneChannel> {
        &self.zones
    }

    /// Subscription `sub` to the heatmap `request` asks for: joins its
    /// group, reading the group's first frame if it is new.
    pub async fn heatmap(&self, sub: String, request: HeatmapRequest) -> Result<Messages, EngineError> {
        let frames = self.subscribe(request.key.clone()).await?;
        Ok(heatmap::follow(sub, request.key, request.bbox, frames))
    }

    /// Reads one heatmap straight from the engine.
    pub async fn read(&self, key: &HeatmapKey, now: DateTime<Utc>) -> Result<Vec<CellStat>, EngineError> {
        match key.audience {
            Audience::Full => self.read_full(key, now).await,
            Audience::Public => self.read_public(key, now).await,
        }
    }

    /// The engine's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Reads one heatmap as it was at a past moment, for operators and
    /// commanders: the counts of the replay steps, each cell with its zone.
    /// Reports still waiting to be stored are not in it: the past holds
    /// what the engine held.
    pub async fn read_at(&self, key: &HeatmapKey, at: ReplayAt) -> Result<Vec<CellStat>, EngineError> {
        let counts = self
            .engine
            .counts_at(CountQuery {
                res: key.res,
                window_secs: key.window.secs(),
                now: at.moment().timestamp(),
            })
            .await?;
        let cover = &self.zones.picture().cover;
        let mut cells: Vec<CellStat> = counts.into_iter().map(CellStat::from).collect();
        for c in &mut cells {
            c.zone = cover.smallest_zone(c.cell);
        }
        Ok(cells)
    }

    async fn read_full(&self, key: &HeatmapKey, now: DateTime<Utc>) -> Result<Vec<CellStat>, EngineError> {
        let counts = self
            .engine
            .counts(CountQuery {
                res: key.res,
                window_secs: key.window.secs(),
                now: now.timestamp(),
            })
            .await?;
        let first_bucket = self.layout.first_bucket(key.window.secs(), now.timestamp());
        let mut pending = self.pending.overlay(key.res, first_bucket);
        let cover = &self.zones.picture().cover;
        let mut cells: Vec<CellStat> = counts
            .into_iter()
            .map(|mut c| {
                // Each report is a contributor of its own.
                let extra = pending.remove(&c.cell).unwrap_or(0);
                c.count += extra;
                c.contributors += extra;
                c
            })
            .filter(|c| c.count > 0)
            .map(CellStat::from)
            .collect();
        cells.extend(pending.into_iter().map(|(cell, n)| {
            CellStat::from(CellCount {
                cell,
                count: n,
                contributors: n,
            })
        }));
        for c in &mut cells {
            c.zone = cover.smallest_zone(c.cell);
        }
        Ok(cells)
    }

    /// The public's cells: the cells of the finest public resolution with at
    /// least k contributors, summed into their parents at coarser
    /// resolutions, shown as levels. A hidden cell adds to nothing.
    async fn read_public(&self, key: &HeatmapKey, now: DateTime<Utc>) -> Result<Vec<CellStat>, EngineError> {
        let finest = self.public.finest.max(key.res);
        let counts = self
            .engine
            .counts(CountQuery {
                res: finest,
                window_secs: key.window.secs(),
                now: now.timestamp(),
            })
            .await?;
        let mut sums: HashMap<h3o::CellIndex, u64> = HashMap::new();
        for c in counts {
            if c.count == 0 || c.contributors < self.public.k_anonymity {
                continue;
            }
            if let Some(parent) = c.cell.parent(key.res) {
                *sums.entry(parent).or_default() += c.count;
            }
        }
        let minutes = key.window.secs() as f64 / 60.0;
        Ok(sums
            .into_iter()
            .map(|(cell, count)| CellStat::public(cell, count, minutes, &self.public.bands))
            .collect())
    }

    /// Joins a group, reading its first frame if the group is new.
    pub async fn subscribe(&self, key: HeatmapKey) -> Result<watch::Receiver<Arc<HeatmapFrame>>, EngineError> {
        Ok(self.group(key, None).await?.subscribe())
    }

    /// The group's current frame, for a read over HTTP: no engine read of
    /// its own while the group is live (a flood of readers costs the engine
    /// nothing more); a group nobody watches is read once and then kept
    /// fresh by the tick for a while.
    pub async fn current(&self, key: HeatmapKey) -> Result<Arc<HeatmapFrame>, EngineError> {
        let frames = self.group(key, group::http_keep_until()).await?;
        let frame = frames.borrow().clone();
        Ok(frame)
    }

    /// The frames of the group `key`, made with a first frame read from the
    /// engine if it is new; `keep_until` extends how long HTTP readers keep
    /// it without a subscriber.
    async fn group(
        &self,
        key: HeatmapKey,
        keep_until: Option<Instant>,
    ) -> Result<watch::Sender<Arc<HeatmapFrame>>, EngineError> {
        if let Some(frames) = self.groups.get(&key, keep_until) {
            return Ok(frames);
        }
        let now = Utc::now();
        let first = Arc::new(HeatmapFrame::first(now, self.read(&key, now).await?));
        Ok(self.groups.insert(key, first, keep_until))
    }

    /// Engine status changes, for sessions to relay.
    pub fn status(&self) -> watch::Receiver<EngineStatus> {
        self.status.subscribe()
    }

    /// Refreshes every group that has subscribers and forgets the others.
    /// Records how long the heatmap part and the zones part took in
    /// [`metric::TICK_SECONDS`].
    pub async fn tick(&self) {
        let started = Instant::now();
        let groups = self.groups.live();
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
        let zones_started = Instant::now();
        if healthy && let Err(e) = self.zones.tick(now).await {
            healthy = false;
            metrics::counter!(metric::HUB_TICK_FAILURES).increment(1);
            tracing::warn!(error = %e, "zones tick failed");
        }
        let zones_ended = Instant::now();
        if !read_any && healthy {
            // With no subscribers the tick read no heatmap: ask the engine directly.
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
        // The zones' own time is theirs (recorded by their tick); the
        // heatmap's is the reads before and the frames after.
        crate::telemetry::record_tick(
            crate::telemetry::work::HEATMAP,
            (zones_started - started) + zones_ended.elapsed(),
        );
    }

    /// Runs [`Hub::tick`] every `period` until `shutdown`.
    pub fn spawn_ticker(self: Arc<Self>, period: Duration, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        crate::schedule::spawn_every(period, shutdown, move || {
            let hub = self.clone();
            async move { hub.tick().await }
        })
    }
}
