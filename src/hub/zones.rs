//! The `zones` channel: every area zone's status (DESIGN §9), computed once
//! per tick for the whole node and handed to every reader, the HTTP route
//! and the zone alerts included.
//!
//! Each tick reads the counts of the estimate window at the cover's
//! resolution once, sums them per zone, turns contributors into people with
//! the zone's model, and compares with the zone's minutes (recorded once a
//! minute in the engine, so every node draws the same trend). Other windows
//! change only `posts` and `contributors`: people are people whatever
//! window a reader looks through, and the model is calibrated on the
//! estimate window's contributors. A session gets a snapshot, then an
//! update with the zones whose status changed.
//!
//! The channel also takes the head-counts that calibrate those models:
//! each is paired with the zone's contributors in the frame it was counted
//! against, checked for plausibility, stored, and fitted at the next tick;
//! the calibration endpoint reads the models that tick used.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::channel::Messages;
use crate::crowd::cover::ZoneCover;
use crate::crowd::estimate::{CalibrationPair, Model, Prior, Recency, TimedPair, recent_pairs};
use crate::crowd::level::{DensityLevels, FORECAST_MINUTES};
use crate::crowd::status::{CellFigures, PublicZoneStatus, Reading, ZoneCounts, ZoneStatus, status, zone_counts};
use crate::domain::{FieldError, LatLon, Window, Zones, bucket_start, rfc3339};
use crate::engine::crowd::{Headcount, HeadcountSource, ZoneMinute};
use crate::engine::{CountQuery, Engine, EngineError};
use crate::protocol::{ServerMessage, SharedEncoding};

/// What the crowd picture is made with: the deployment's zones and their
/// cover, its levels, its prior and its estimate window.
#[derive(Clone)]
pub struct CrowdPicture {
    /// The zones.
    pub zones: Arc<Zones>,
    /// The cells covering each zone.
    pub cover: Arc<ZoneCover>,
    /// Density levels.
    pub levels: DensityLevels,
    /// People per contributor until calibrated.
    pub prior: Prior,
    /// Which head-counts a fit uses.
    pub recency: Recency,
    /// The window whose contributors people are estimated from.
    pub estimate_window: Window,
    /// Contributors a zone needs before the public gets its word.
    pub k_anonymity: u64,
}

/// How far back the trend looks (§9: the same window 15 minutes earlier).
pub const TREND_LOOKBACK_SECS: i64 = 15 * 60;

/// With a shorter history than [`TREND_LOOKBACK_SECS`] (the first quarter
/// of an hour of a deployment), the trend compares with the oldest minute
/// recorded if it is at least this old; younger, the trend is `steady`.
const SHORTEST_TREND_SECS: i64 = 5 * 60;

/// Head-counts posted on other nodes reach this one within this time.
const HEADCOUNT_REFRESH: Duration = Duration::from_secs(5);

/// Nobody stands denser than this (people per m²): reconstructions of the
/// worst crushes found 7.7–10.7 /m² (DESIGN §9). A head-count above it is a
/// typo or a forgery, and one such pair would drag the least-squares line
/// wherever its sender wanted.
pub const MAX_PEOPLE_PER_M2: f64 = 10.0;

/// Why a head-count was not taken.
#[derive(Debug, thiserror::Error)]
pub enum HeadcountError {
    /// No zone by that id, or a point zone (no area to count people in).
    #[error("no area zone {0:?}")]
    UnknownZone(String),
    /// More people than the zone can hold at any density.
    #[error("{0}")]
    Implausible(FieldError),
    /// The engine could not be read or written; nothing was stored.
    #[error("{0}")]
    Engine(#[from] EngineError),
}

/// The posts → people models the last fit produced, and what they were
/// fitted from: what `GET /api/v1/calibration` shows.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The deployment's model: its fit over every recent pair, or the prior.
    pub deployment: Model,
    /// Each area zone's model as its status uses it, by id.
    pub zones: Vec<(String, Model)>,
    /// Retained head-counts within the recency rule's age, newest first.
    pub headcounts: Vec<Headcount>,
    /// The prior until calibrated.
    pub prior: Prior,
    /// Which head-counts a fit uses.
    pub recency: Recency,
}

/// One frame of a window: every area zone's status, riskiest first.
#[derive(Debug)]
pub struct ZonesFrame {
    /// The window of `posts` and `contributors`.
    pub window: Window,
    /// When it was read.
    pub as_of: DateTime<Utc>,
    /// Numbers frames of one window, so that a follower can tell it is one
    /// frame behind.
    pub number: u64,
    /// Operators' and commanders' view, riskiest first.
    pub zones: Vec<ZoneStatus>,
    /// The public's view, in the same order.
    pub public: Vec<PublicZoneStatus>,
    /// Indices of `zones` whose status differs from the frame before.
    changed: Vec<usize>,
    /// Indices of `public` whose view differs from the frame before.
    public_changed: Vec<usize>,
    encoded_full: SharedEncoding,
    encoded_public: SharedEncoding,
}

impl ZonesFrame {
    fn new(window: Window, as_of: DateTime<Utc>, zones: Vec<ZoneStatus>, picture: &CrowdPicture) -> Self {
        let public = zones.iter().map(|z| z.public(&picture.zones)).collect();
        Self::with_public(window, as_of, zones, public)
    }

    /// A frame whose public views are already made: they hold no figure
    /// that a window changes, so every window shares the estimate window's.
    fn with_public(
        window: Window,
        as_of: DateTime<Utc>,
        zones: Vec<ZoneStatus>,
        public: Vec<PublicZoneStatus>,
    ) -> Self {
        Self {
            window,
            as_of,
            number: 0,
            changed: (0..zones.len()).collect(),
            public_changed: (0..zones.len()).collect(),
            zones,
            public,
            encoded_full: SharedEncoding::default(),
            encoded_public: SharedEncoding::default(),
        }
    }

    /// This frame as the one after `before`: numbered next, with what
    /// changed since.
    fn after(mut self, before: &ZonesFrame) -> Self {
        self.number = before.number + 1;
        self.changed = since(before, &self, true);
        self.public_changed = since(before, &self, false);
        self
    }

    /// The status of zone `id`.
    pub fn zone(&self, id: &str) -> Option<&ZoneStatus> {
        self.zones.iter().find(|z| z.id == id)
    }
}

fn changed_indices<T>(items: &[T], unchanged: impl Fn(&T) -> bool) -> Vec<usize> {
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| !unchanged(item))
        .map(|(i, _)| i)
        .collect()
}

/// Equal but for the moment read: a zone whose figures did not move is not
/// sent again.
fn same_status(a: &ZoneStatus, b: &ZoneStatus) -> bool {
    ZoneStatus {
        as_of: String::new(),
        ..a.clone()
    } == ZoneStatus {
        as_of: String::new(),
        ..b.clone()
    }
}

/// Riskiest first: level, then how bad the interval says it may be, then
/// density; the id settles ties so that every node orders alike.
fn sort_by_risk(zones: &mut [ZoneStatus]) {
    zones.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then(b.level_high.cmp(&a.level_high))
            .then(b.density_m2.total_cmp(&a.density_m2))
            .then(a.id.cmp(&b.id))
    });
}

/// What the tick keeps between reads: the models and the recent minutes.
#[derive(Default)]
struct Memory {
    /// Retained head-counts, and when they were read.
    headcounts: Vec<Headcount>,
    headcounts_read: Option<Instant>,
    /// Each zone's model, and the deployment's for zones without their own.
    models: HashMap<String, Model>,
    deployment: Option<Model>,
    /// Minutes of the estimate window, oldest first, and the last minute
    /// this node recorded.
    minutes: Vec<ZoneMinute>,
    recorded_minute: Option<i64>,
}

impl Memory {
    /// The model zone `id` uses: its own fit, the deployment's, or `prior`.
    fn model_for<'a>(&'a self, id: &str, prior: &'a Model) -> &'a Model {
        self.models.get(id).or(self.deployment.as_ref()).unwrap_or(prior)
    }
}

/// Zone counts of past moments, by the second their estimate window ends,
/// kept across the replays of one walk through the past (the export).
#[derive(Default)]
pub struct ReplayCache {
    by_end: std::collections::BTreeMap<i64, Arc<[(String, ZoneCounts)]>>,
}

/// The zones channel of one node.
pub struct ZoneChannel {
    engine: Arc<dyn Engine>,
    picture: CrowdPicture,
    estimate: watch::Sender<Arc<ZonesFrame>>,
    others: super::group::Groups<Window, ZonesFrame>,
    memory: tokio::sync::Mutex<Memory>,
}

impl ZoneChannel {
    /// A channel over `engine`; its first frame is empty until the first
    /// tick.
    pub fn new(engine: Arc<dyn Engine>, picture: CrowdPicture) -> Self {
        let empty = ZonesFrame::new(picture.estimate_window.clone(), Utc::now(), Vec::new(), &picture);
        Self {
            engine,
            estimate: watch::channel(Arc::new(empty)).0,
            picture,
            others: super::group::Groups::new(),
            memory: tokio::sync::Mutex::default(),
        }
    }

    /// What the picture is made with.
    pub fn picture(&self) -> &CrowdPicture {
        &self.picture
    }

    /// The estimate window's frames: what the zone alerts follow.
    pub fn estimate_frames(&self) -> watch::Receiver<Arc<ZonesFrame>> {
        self.estimate.subscribe()
    }

    /// The current frame of `window`: no engine read of its own while the
    /// window is live.
    pub async fn current(&self, window: &Window) -> Result<Arc<ZonesFrame>, EngineError> {
        Ok(self
            .frames(window, super::group::http_keep_until())
            .await?
            .borrow()
            .clone())
    }

    /// Subscription `sub` to `window`, as the public (`full` false) or
    /// operators and commanders see it.
    pub async fn subscribe(&self, sub: String, window: &Window, full: bool) -> Result<Messages, EngineError> {
        let frames = self.frames(window, None).await?.subscribe();
        Ok(follow(sub, full, frames))
    }

    /// Makes the models' next read happen now: a head-count was just taken.
    pub async fn forget_headcounts(&self) {
        self.memory.lock().await.headcounts_read = None;
    }

    /// Checks that `people` can stand in zone `id`: 404 material for an
    /// unknown or point zone, refused above [`MAX_PEOPLE_PER_M2`]. `field`
    /// names the input the figure came from.
    pub fn check_headcount(&self, id: &str, people: u64, field: &'static str) -> Result<(), HeadcountError> {
        let area = self
            .picture
            .zones
            .area_m2(id)
            .ok_or_else(|| HeadcountError::UnknownZone(id.to_owned()))?;
        let most = (area * MAX_PEOPLE_PER_M2).floor();
        if people as f64 > most {
            return Err(HeadcountError::Implausible(FieldError::new(
                "implausible_headcount",
                field,
                format!(
                    "{people} people cannot stand in {id:?}: {area:.0} m² hold at most {most:.0} at {MAX_PEOPLE_PER_M2} people per m²"
                ),
            )));
        }
        Ok(())
    }

    /// Takes a head-count of `people` in zone `id` counted by `by` now:
    /// paired with the zone's contributors in the current frame of the
    /// estimate window (the `u` the model turns into people), stored for
    /// every node, and fitted at this node's next tick.
    pub async fn take_headcount(
        &self,
        id: &str,
        people: u64,
        source: HeadcountSource,
        by: &str,
    ) -> Result<Headcount, HeadcountError> {
        self.take_headcount_at(id, people, source, by, Utc::now()).await
    }

    /// [`ZoneChannel::take_headcount`] counted at `at`: the clock of a
    /// simulated event, whose frames are ticked at its own times.
    pub async fn take_headcount_at(
        &self,
        id: &str,
        people: u64,
        source: HeadcountSource,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Headcount, HeadcountError> {
        self.check_headcount(id, people, "people")?;
        let frame = self.current(&self.picture.estimate_window).await?;
        let now = at.timestamp();
        let headcount = Headcount {
            id: hex::encode(rand::random::<[u8; 12]>()),
            zone: id.to_owned(),
            at: now,
            // A zone nobody posts from has no status yet: nobody posted.
            u: frame.zone(id).map_or(0, |z| z.contributors),
            people,
            source,
            by: by.to_owned(),
        };
        self.engine.add_headcount(&headcount, now).await?;
        self.forget_headcounts().await;
        Ok(headcount)
    }

    /// The area zone a report at `location` calibrates: the smallest zone
    /// containing it at the cover's resolution, if that zone has an area.
    pub fn zone_at(&self, location: LatLon) -> Option<&str> {
        let cell = h3o::LatLng::new(location.lat(), location.lon())
            .ok()?
            .to_cell(self.picture.cover.resolution());
        let zone = self.picture.cover.smallest_zone(cell)?;
        self.picture.zones.area_m2(zone).map(|_| zone)
    }

    /// The models the ticks use now, fitted afresh only when a head-count
    /// arrived since the last fit (on any node, within the refresh time).
    pub async fn calibration(&self, now: DateTime<Utc>) -> Result<Calibration, EngineError> {
        let mut memory = self.memory.lock().await;
        self.refresh_models(&mut memory, now).await?;
        let prior = Model::Prior(self.picture.prior);
        let mut zones: Vec<(String, Model)> = self
            .picture
            .cover
            .zones()
            .map(|id| (id.to_owned(), *memory.model_for(id, &prior)))
            .collect();
        zones.sort_by(|a, b| a.0.cmp(&b.0));
        let oldest = now.timestamp() - self.picture.recency.max_age_secs;
        let mut headcounts: Vec<Headcount> = memory.headcounts.iter().filter(|h| h.at >= oldest).cloned().collect();
        headcounts.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
        Ok(Calibration {
            deployment: memory.deployment.unwrap_or(prior),
            zones,
            headcounts,
            prior: self.picture.prior,
            recency: self.picture.recency,
        })
    }

    /// The frames of `window`, read once now if nobody reads it yet.
    async fn frames(
        &self,
        window: &Window,
        keep_until: Option<Instant>,
    ) -> Result<watch::Sender<Arc<ZonesFrame>>, EngineError> {
        if *window == self.picture.estimate_window {
            return self.estimate_sender().await;
        }
        if let Some(frames) = self.others.get(window, keep_until) {
            return Ok(frames);
        }
        let now = Utc::now();
        let base = self.estimate_sender().await?.borrow().clone();
        let first = Arc::new(self.reframe(&base, window, now).await?);
        Ok(self.others.insert(window.clone(), first, keep_until))
    }

    /// The estimate window's frames, read now if no tick has run yet.
    async fn estimate_sender(&self) -> Result<watch::Sender<Arc<ZonesFrame>>, EngineError> {
        if self.estimate.borrow().zones.is_empty() && !self.picture.cover.is_empty() {
            self.tick(Utc::now()).await?;
        }
        Ok(self.estimate.clone())
    }

    /// Every zone's counts, from its cells' figures.
    fn counts_by_zone(&self, cells: &CellFigures) -> Vec<(&str, ZoneCounts)> {
        let cover = &self.picture.cover;
        cover.zones().map(|id| (id, zone_counts(cover, id, cells))).collect()
    }

    /// Reads the counts of `window` at the cover's resolution, per cell:
    /// live, or from the replay steps when `replay`.
    async fn cell_figures(
        &self,
        window: &Window,
        now: DateTime<Utc>,
        replay: bool,
    ) -> Result<CellFigures, EngineError> {
        let query = CountQuery {
            res: self.picture.cover.resolution(),
            window_secs: window.secs(),
            now: now.timestamp(),
        };
        let counts = if replay {
            self.engine.counts_at(query).await?
        } else {
            self.engine.counts(query).await?
        };
        Ok(counts
            .into_iter()
            .map(|c| (c.cell, (c.count, c.contributors)))
            .collect())
    }

    /// The estimate window's frame `base` with the posts and contributors
    /// of `window`.
    async fn reframe(&self, base: &ZonesFrame, window: &Window, now: DateTime<Utc>) -> Result<ZonesFrame, EngineError> {
        self.reframe_from(base, window, now, false).await
    }

    async fn reframe_from(
        &self,
        base: &ZonesFrame,
        window: &Window,
        now: DateTime<Utc>,
        replay: bool,
    ) -> Result<ZonesFrame, EngineError> {
        let cells = self.cell_figures(window, now, replay).await?;
        let as_of = rfc3339(now);
        let zones = base
            .zones
            .iter()
            .map(|z| {
                let counts = zone_counts(&self.picture.cover, &z.id, &cells);
                ZoneStatus {
                    window: window.name().to_owned(),
                    as_of: as_of.clone(),
                    posts: counts.posts,
                    contributors: counts.contributors,
                    ..z.clone()
                }
            })
            .collect();
        Ok(ZonesFrame::with_public(window.clone(), now, zones, base.public.clone()))
    }

    /// The crowd picture of `window` as it was at a past moment (DESIGN
    /// §11), read from the replay steps. The minutes its trend and forecast
    /// draw on are replayed too (each the estimate window ending at that
    /// minute); people are estimated with today's calibration, the best
    /// model of the crowd there is.
    pub async fn replay(&self, window: &Window, at: super::ReplayAt) -> Result<ZonesFrame, EngineError> {
        self.replay_with(window, at, &mut ReplayCache::default()).await
    }

    /// [`ZoneChannel::replay`] drawing on, and adding to, the zone counts
    /// `cache` holds from earlier replays: a walk forward a minute at a
    /// time reads each minute once, not once per replay that draws on it.
    pub async fn replay_with(
        &self,
        window: &Window,
        at: super::ReplayAt,
        cache: &mut ReplayCache,
    ) -> Result<ZonesFrame, EngineError> {
        let moment = at.moment();
        let t = moment.timestamp();
        let minute = bucket_start(t, 60);
        let wanted: std::collections::BTreeSet<i64> = (0..FORECAST_MINUTES as i64)
            .map(|i| minute - 60 * i)
            .chain([minute - TREND_LOOKBACK_SECS])
            .collect();
        // What no later moment draws on goes: the cache stays a quarter of an hour.
        let oldest_end = minute - TREND_LOOKBACK_SECS - 1;
        cache.by_end.retain(|end, _| *end >= oldest_end);
        let mut past = Memory::default();
        for m in wanted {
            let counts = self.replayed_counts(m - 1, cache).await?;
            past.minutes.push(ZoneMinute {
                minute: m,
                contributors: counts
                    .iter()
                    .filter(|(_, c)| c.contributors > 0)
                    .map(|(id, c)| (id.clone(), c.contributors))
                    .collect(),
            });
        }
        {
            let live = self.memory.lock().await;
            past.models = live.models.clone();
            past.deployment = live.deployment;
        }
        let counts = self.replayed_counts(t, cache).await?;
        let counts: Vec<(&str, ZoneCounts)> = counts.iter().map(|(id, c)| (id.as_str(), *c)).collect();
        let base = self.assemble(&past, &counts, moment);
        if *window == self.picture.estimate_window {
            return Ok(base);
        }
        self.reframe_from(&base, window, moment, true).await
    }

    /// Every zone's counts of the estimate window ending at second `end`,
    /// from the replay steps, or from `cache` when an earlier replay read them.
    async fn replayed_counts(
        &self,
        end: i64,
        cache: &mut ReplayCache,
    ) -> Result<Arc<[(String, ZoneCounts)]>, EngineError> {
        if let Some(counts) = cache.by_end.get(&end) {
            return Ok(counts.clone());
        }
        let Some(end_time) = DateTime::from_timestamp(end, 0) else {
            return Ok(Arc::from(Vec::new()));
        };
        let cells = self.cell_figures(&self.picture.estimate_window, end_time, true).await?;
        let counts: Arc<[(String, ZoneCounts)]> = self
            .counts_by_zone(&cells)
            .into_iter()
            .map(|(id, c)| (id.to_owned(), c))
            .collect();
        cache.by_end.insert(end, counts.clone());
        Ok(counts)
    }

    /// Reads the engine and sends every live window its next frame; how
    /// long that took, failed or not, goes to [`metric::TICK_SECONDS`].
    ///
    /// [`metric::TICK_SECONDS`]: crate::telemetry::metric::TICK_SECONDS
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let started = Instant::now();
        let ticked = self.tick_windows(now).await;
        crate::telemetry::record_tick(crate::telemetry::work::ZONES, started.elapsed());
        ticked
    }

    async fn tick_windows(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let mut memory = self.memory.lock().await;
        let window = &self.picture.estimate_window;
        let cells = self.cell_figures(window, now, false).await?;
        let counts = self.counts_by_zone(&cells);
        self.remember_minute(&mut memory, &counts, now).await?;
        self.refresh_models(&mut memory, now).await?;
        let frame = self.assemble(&memory, &counts, now);
        drop(memory);
        let next = Arc::new(frame.after(&self.estimate.borrow()));
        self.estimate.send_replace(next.clone());

        let others = self.others.live();
        for (window, tx) in others {
            let frame = self.reframe(&next, &window, now).await?;
            let frame = Arc::new(frame.after(&tx.borrow()));
            tx.send_replace(frame);
        }
        Ok(())
    }

    /// Records this minute's contributors the first time a tick reads it,
    /// and re-reads the minutes the trend and the forecast draw on.
    async fn remember_minute(
        &self,
        memory: &mut Memory,
        counts: &[(&str, ZoneCounts)],
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let t = now.timestamp();
        let minute = bucket_start(t, 60);
        if memory.recorded_minute == Some(minute) {
            return Ok(());
        }
        let window_secs = self.picture.estimate_window.secs();
        let record = ZoneMinute {
            minute,
            contributors: counts
                .iter()
                .filter(|(_, c)| c.contributors > 0)
                .map(|(id, c)| ((*id).to_owned(), c.contributors))
                .collect(),
        };
        self.engine.record_zone_minute(window_secs, &record, t).await?;
        memory.minutes = self
            .engine
            .zone_minutes(window_secs, minute - TREND_LOOKBACK_SECS - 60)
            .await?;
        memory.recorded_minute = Some(minute);
        Ok(())
    }

    /// Re-reads the head-counts when they may have changed, and fits again.
    async fn refresh_models(&self, memory: &mut Memory, now: DateTime<Utc>) -> Result<(), EngineError> {
        if memory
            .headcounts_read
            .is_some_and(|read| read.elapsed() < HEADCOUNT_REFRESH)
        {
            return Ok(());
        }
        let t = now.timestamp();
        let headcounts = self
            .engine
            .headcounts_since(t - self.picture.recency.max_age_secs)
            .await?;
        memory.headcounts_read = Some(Instant::now());
        if headcounts == memory.headcounts && memory.deployment.is_some() {
            return Ok(());
        }
        let (models, deployment) = fit_models(&headcounts, t, &self.picture);
        memory.models = models;
        memory.deployment = Some(deployment);
        memory.headcounts = headcounts;
        Ok(())
    }

    fn assemble(&self, memory: &Memory, counts: &[(&str, ZoneCounts)], now: DateTime<Utc>) -> ZonesFrame {
        let picture = &self.picture;
        let as_of = rfc3339(now);
        let minute = bucket_start(now.timestamp(), 60);
        let before = trend_base(&memory.minutes, minute);
        let recent: Vec<&ZoneMinute> = memory
            .minutes
            .iter()
            // A minute ahead of this node's clock (another node's, a little fast) is not
            // yet a point of the line.
            .filter(|m| m.minute > minute - 60 * FORECAST_MINUTES as i64 && m.minute <= minute)
            .collect();
        let prior = Model::Prior(picture.prior);
        let mut zones: Vec<ZoneStatus> = counts
            .iter()
            .filter_map(|(id, now_counts)| {
                let model = memory.model_for(id, &prior);
                let per_minute: Vec<u64> = recent
                    .iter()
                    .map(|m| m.contributors.get(*id).copied().unwrap_or(0))
                    .collect();
                let contributors_before = match before {
                    Some(b) => b.contributors.get(*id).copied().unwrap_or(0),
                    // No history yet: compared with itself, the trend is steady.
                    None => now_counts.contributors,
                };
                let zone = status(
                    &picture.zones,
                    id,
                    &Reading {
                        window: picture.estimate_window.name(),
                        as_of: &as_of,
                        now: *now_counts,
                        contributors_before,
                        contributors_per_minute: &per_minute,
                        model,
                        levels: &picture.levels,
                        k: picture.k_anonymity,
                    },
                )?;
                // Without a history there is no change to give a figure for.
                Some(ZoneStatus {
                    trend_pct: zone.trend_pct.filter(|_| before.is_some()),
                    ..zone
                })
            })
            .collect();
        sort_by_risk(&mut zones);
        ZonesFrame::new(picture.estimate_window.clone(), now, zones, picture)
    }
}

/// The minute the trend compares with: 15 minutes before `minute`, or with
/// a shorter history the oldest minute at least 5 minutes old.
fn trend_base(minutes: &[ZoneMinute], minute: i64) -> Option<&ZoneMinute> {
    minutes
        .iter()
        .find(|m| m.minute >= minute - TREND_LOOKBACK_SECS && m.minute <= minute - SHORTEST_TREND_SECS)
}

/// Each zone's model from its own recent head-counts, and the deployment's
/// from all of them.
fn fit_models(headcounts: &[Headcount], now: i64, picture: &CrowdPicture) -> (HashMap<String, Model>, Model) {
    let timed = |h: &Headcount| TimedPair {
        at: h.at,
        pair: CalibrationPair {
            u: h.u,
            people: h.people,
        },
    };
    let all: Vec<TimedPair> = headcounts.iter().map(timed).collect();
    let deployment_pairs = recent_pairs(&all, now, picture.recency);
    let deployment = Model::choose(&[], &deployment_pairs, picture.prior);
    let counted: HashSet<&str> = headcounts.iter().map(|h| h.zone.as_str()).collect();
    let models = counted
        .into_iter()
        .map(|zone| {
            let own: Vec<TimedPair> = headcounts.iter().filter(|h| h.zone == zone).map(timed).collect();
            let own = recent_pairs(&own, now, picture.recency);
            (zone.to_owned(), Model::choose(&own, &deployment_pairs, picture.prior))
        })
        .collect();
    (models, deployment)
}

struct Follower {
    sub: String,
    full: bool,
    frames: watch::Receiver<Arc<ZonesFrame>>,
    last: Option<Arc<ZonesFrame>>,
}

impl Follower {
    fn snapshot(&self, frame: &ZonesFrame) -> ServerMessage {
        ServerMessage::ZonesSnapshot {
            sub: self.sub.clone(),
            window: frame.window.name().to_owned(),
            as_of: rfc3339(frame.as_of),
            zones: self.view(frame, None),
        }
    }

    /// The zones of `frame` this follower sees, all or those at `only`.
    fn view(&self, frame: &ZonesFrame, only: Option<&[usize]>) -> serde_json::Value {
        fn pick<T: serde::Serialize>(items: &[T], only: Option<&[usize]>) -> serde_json::Value {
            let picked: Vec<&T> = match only {
                Some(indices) => indices.iter().filter_map(|i| items.get(*i)).collect(),
                None => items.iter().collect(),
            };
            serde_json::to_value(picked).unwrap_or_default()
        }
        if self.full {
            pick(&frame.zones, only)
        } else {
            pick(&frame.public, only)
        }
    }

    fn update(&self, frame: &ZonesFrame, changed: &[usize]) -> ServerMessage {
        ServerMessage::ZonesUpdate {
            sub: self.sub.clone(),
            window: frame.window.name().to_owned(),
            as_of: rfc3339(frame.as_of),
            zones: self.view(frame, Some(changed)),
        }
    }

    async fn next(&mut self) -> Option<ServerMessage> {
        let Some(last) = self.last.clone() else {
            let first = self.frames.borrow_and_update().clone();
            let msg = self.snapshot(&first);
            self.last = Some(first);
            return Some(msg);
        };
        let mut last = last;
        loop {
            self.frames.changed().await.ok()?;
            let frame = self.frames.borrow_and_update().clone();
            let msg = if frame.number == last.number + 1 {
                // One frame behind, as nearly every follower is: the frame's
                // own change list, encoded once for all of them.
                let changed = if self.full {
                    &frame.changed
                } else {
                    &frame.public_changed
                };
                if changed.is_empty() {
                    last = frame;
                    self.last = Some(last.clone());
                    continue;
                }
                let encoded = if self.full {
                    &frame.encoded_full
                } else {
                    &frame.encoded_public
                };
                encoded.get(&self.sub, || self.update(&frame, changed))
            } else {
                // Skipped frames: everything that differs from what was sent.
                let changed = since(&last, &frame, self.full);
                if changed.is_empty() {
                    last = frame;
                    self.last = Some(last.clone());
                    continue;
                }
                self.update(&frame, &changed)
            };
            self.last = Some(frame);
            return Some(msg);
        }
    }
}

/// Indices of `now`'s zones that differ from `sent` in the follower's view.
fn since(sent: &ZonesFrame, now: &ZonesFrame, full: bool) -> Vec<usize> {
    if full {
        let was: HashMap<&str, &ZoneStatus> = sent.zones.iter().map(|z| (z.id.as_str(), z)).collect();
        changed_indices(&now.zones, |z| {
            was.get(z.id.as_str()).is_some_and(|w| same_status(w, z))
        })
    } else {
        let was: HashMap<&str, &PublicZoneStatus> = sent.public.iter().map(|z| (z.id.as_str(), z)).collect();
        changed_indices(&now.public, |z| was.get(z.id.as_str()) == Some(&z))
    }
}

fn follow(sub: String, full: bool, frames: watch::Receiver<Arc<ZonesFrame>>) -> Messages {
    let follower = Follower {
        sub,
        full,
        frames,
        last: None,
    };
    Box::pin(futures_util::stream::unfold(follower, |mut f| async move {
        let msg = f.next().await?;
        Some((msg, f))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minutes recorded from `first` to `last` minutes before `now`, oldest
    /// first, each with its own contributors so that a test can tell them apart.
    fn history(now: i64, first: i64, last: i64) -> Vec<ZoneMinute> {
        (last..=first)
            .rev()
            .map(|back| ZoneMinute {
                minute: now - 60 * back,
                contributors: [("square".to_owned(), back as u64)].into(),
            })
            .collect()
    }

    fn minutes_back(base: Option<&ZoneMinute>, now: i64) -> Option<i64> {
        base.map(|m| (now - m.minute) / 60)
    }

    #[test]
    fn the_trend_compares_with_the_minute_a_quarter_of_an_hour_back() {
        let now = 1_764_500_400;
        assert_eq!(now % 60, 0);
        // An hour of history: the minute exactly 15 back, not an older one.
        let minutes = history(now, 60, 0);
        assert_eq!(minutes_back(trend_base(&minutes, now), now), Some(15));
        // That minute missing (no node read it): the next younger one.
        let gap: Vec<ZoneMinute> = minutes.into_iter().filter(|m| m.minute != now - 15 * 60).collect();
        assert_eq!(minutes_back(trend_base(&gap, now), now), Some(14));
    }

    #[test]
    fn in_the_first_quarter_hour_the_trend_compares_with_the_oldest_minute_at_least_five_back() {
        let now = 1_764_500_400;
        for oldest in 5..15 {
            let minutes = history(now, oldest, 0);
            assert_eq!(
                minutes_back(trend_base(&minutes, now), now),
                Some(oldest),
                "with {oldest} minutes of history"
            );
        }
        // Younger than five minutes, or no history: nothing to compare
        // with, and the zone's trend is steady.
        for oldest in 0..5 {
            assert!(trend_base(&history(now, oldest, 0), now).is_none(), "{oldest}");
        }
        assert!(trend_base(&[], now).is_none());
        // A minute ahead of this node's clock is no base either.
        let ahead = history(now + 10 * 60, 3, 0);
        assert!(trend_base(&ahead, now).is_none());
    }
}
