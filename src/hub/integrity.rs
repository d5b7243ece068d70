//! The `trends` channel and coordinated clusters (DESIGN §10): one task per
//! node follows the engine's text log in the order it was stored, masks
//! personal data, feeds each text's terms to the trends and the text itself
//! to the near-duplicate clusters, raises a `coordination` alert when a
//! cluster reaches `--coordination-min` distinct contributors, and publishes
//! the rising terms per zone and per cell once per round.
//!
//! Every node reads the same log in the same order, so every node derives
//! the same trends and clusters; the engine's alert gate lets one alert per
//! cluster through. An operator's decision to discount a cluster is stored
//! in the engine: its posts are taken out of the counts exactly once per
//! decision (each count change is named by the post, the decision's
//! version and its direction), later members of a discounted cluster are
//! taken out as they arrive, and the trends are drawn again without them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

use super::channel::Messages;
use crate::alert::Places;
use crate::domain::{LatLon, PostText, rfc3339};
use crate::engine::{Engine, EngineError, TextEntry, TextKey};
use crate::ingest::{Ingestor, Located, write_identity};
use crate::integrity::neardup::{Cluster, ClusterConfig, Clusters, Member};
use crate::integrity::pii;
use crate::integrity::terms::Vocabulary;
use crate::integrity::trends::{Place, Trend, TrendBook};
use crate::protocol::ServerMessage;

/// Terms shown per place.
const TERMS_PER_PLACE: usize = 10;

/// Texts read per round at most, so that a round after a long outage (or
/// the start-up replay) still publishes in between.
const TEXTS_PER_ROUND: usize = 50_000;

/// How often the operators' decisions are read again: another node's
/// decision reaches this one within this time.
const DECISIONS_EVERY: Duration = Duration::from_secs(2);

/// The share of one core the text follower may take: it rests between
/// rounds in proportion to the time a round took.
const CPU_SHARE: f64 = 0.75;

/// How long a cluster keeps its alert quiet: one alert per cluster.
const COORDINATION_QUIET_SECS: i64 = 6 * 3600;

/// How long the follower may stay behind the log at idle priority before
/// it asks for a share of busy cores.
const BEHIND_AT_IDLE: Duration = Duration::from_secs(10);

/// The follower's scheduling: idle priority (`SCHED_IDLE`: it runs only on a
/// core nothing else wants) while it keeps up, so that under a flood
/// counting and fan-out keep every cycle; the lowest ordinary priority (nice
/// 19) once it has been behind for [`BEHIND_AT_IDLE`], so that a machine
/// busy for minutes still gets its trends and coordination alerts, late
/// rather than never; idle again once caught up.
struct FollowerPriority {
    idle: bool,
    behind_since: Option<Instant>,
}

impl FollowerPriority {
    fn new() -> Self {
        let mut priority = FollowerPriority {
            idle: false,
            behind_since: None,
        };
        priority.set(true);
        priority
    }

    fn after_round(&mut self, caught_up: bool, now: Instant) {
        if caught_up {
            self.behind_since = None;
            if !self.idle {
                self.set(true);
            }
            return;
        }
        let since = *self.behind_since.get_or_insert(now);
        if self.idle && now.duration_since(since) >= BEHIND_AT_IDLE {
            self.set(false);
        }
    }

    fn set(&mut self, idle: bool) {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
        let policy = if idle {
            NormalThreadSchedulePolicy::Idle
        } else {
            NormalThreadSchedulePolicy::Other
        };
        let result = thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(policy),
        );
        match result {
            Ok(()) => self.idle = idle,
            Err(e) => tracing::info!(error = ?e, idle, "the text log follower keeps its priority"),
        }
    }
}

/// What the channel is tuned by.
#[derive(Debug, Clone)]
pub struct IntegritySettings {
    /// The window terms are counted over (and compared with the one before).
    pub trends_window_secs: i64,
    /// Its name, as clients see it.
    pub trends_window: String,
    /// Distinct contributors a term needs to be shown at a place.
    pub k_anonymity: u64,
    /// The resolution of the cells trends are kept for (the alerts').
    pub res: Resolution,
    /// What makes a cluster.
    pub coordination: ClusterConfig,
    /// The event's languages: whose stop-words are dropped.
    pub languages: Vec<String>,
    /// Whether the log is followed at all (`--text-analysis`).
    pub analysis: bool,
}

/// One term as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrendView {
    /// The term (a hashtag keeps its `#`).
    pub term: String,
    /// Distinct contributors who used it there in the window.
    pub contributors: u64,
    /// Posts that used it there in the window.
    pub posts: u64,
    /// Distinct contributors in the window before.
    pub before: u64,
    /// `(contributors + 1) / (before + 1)`: what the list is ranked by.
    pub growth: f64,
}

impl From<Trend> for TrendView {
    fn from(t: Trend) -> Self {
        Self {
            term: t.term,
            contributors: t.contributors,
            posts: t.posts,
            before: t.before,
            growth: (t.growth * 100.0).round() / 100.0,
        }
    }
}

/// A zone's rising terms.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ZoneTrends {
    /// The zone's id.
    pub zone: String,
    /// Its name.
    pub name: String,
    /// Rising terms, fastest first.
    pub terms: Vec<TrendView>,
}

/// A cell's rising terms.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CellTrends {
    /// The H3 cell at the alert resolution.
    pub cell: String,
    /// The smallest zone holding it, if any.
    pub zone: Option<String>,
    /// Where it is in words.
    pub place: String,
    /// Rising terms, fastest first.
    pub terms: Vec<TrendView>,
}

/// The trends of one round: what `GET /api/v1/trends` and the `trends`
/// channel serve.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrendsFrame {
    /// When it was drawn.
    pub as_of: String,
    /// The window terms are counted over.
    pub window: String,
    /// Zones with a term shown, by name.
    pub zones: Vec<ZoneTrends>,
    /// Cells with a term shown, fastest-rising first.
    pub cells: Vec<CellTrends>,
}

impl TrendsFrame {
    fn same_terms(&self, other: &Self) -> bool {
        self.zones == other.zones && self.cells == other.cells
    }
}

/// An operator's decision about a cluster, as the engine keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The cluster.
    pub cluster: String,
    /// Whether its posts are taken out of the counts.
    pub discounted: bool,
    /// Counts the decisions about this cluster: names their count changes.
    pub version: u64,
    /// Who decided (token `sub`).
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// Why, in the operator's words.
    pub reason: String,
    /// The posts (text keys) it applied to.
    pub members: Vec<String>,
}

/// A coordinated cluster as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// Its id.
    pub id: String,
    /// Posts in it.
    pub size: usize,
    /// Distinct contributors.
    pub contributors: usize,
    /// Its first post's time (RFC 3339).
    pub first_seen: String,
    /// Its latest post's time (RFC 3339).
    pub last_seen: String,
    /// The first post's text, personal data masked.
    pub sample: String,
    /// The cells of its posts at the alert resolution.
    pub cells: Vec<String>,
    /// The zone most of its posts are in, if any.
    pub zone: Option<String>,
    /// Where in words.
    pub place: String,
    /// Whether an operator discounted it.
    pub discounted: bool,
    /// The last decision about it: who, when and why.
    #[schema(value_type = Option<Object>)]
    pub decision: Option<serde_json::Value>,
}

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// No ready cluster of that id on this node.
    #[error("no coordinated cluster {0:?}")]
    NotFound(String),
    /// The engine failed; nothing half-done stays wrong (retry).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A post taken out of the counts or put back, named by the decision.
struct CountChange {
    text: PostText,
    location: LatLon,
    fingerprint: u64,
}

impl CountChange {
    fn new(text: PostText, cluster: &str, version: u64, discount: bool) -> Option<Self> {
        let direction: &[u8] = if discount { b"discount" } else { b"restore" };
        Some(Self {
            location: text.location()?,
            fingerprint: write_identity(&[
                b"campanile/cluster-count/v1\0",
                &text.fingerprint.to_le_bytes(),
                cluster.as_bytes(),
                &version.to_le_bytes(),
                direction,
            ]),
            text,
        })
    }
}

impl Located for CountChange {
    fn location(&self) -> LatLon {
        self.location
    }
    fn counted_at(&self) -> i64 {
        self.text.counted_at
    }
    fn contributor(&self) -> u64 {
        self.text.contributor
    }
    fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// Where a round's time went besides reading the log: the parts of its
/// `texts` time in `campanile_tick_seconds`.
#[derive(Default)]
struct RoundCosts {
    masking: Duration,
    trends: Duration,
    coordination: Duration,
}

/// What the follower keeps between rounds.
struct State {
    last: TextKey,
    trends: TrendBook,
    clusters: Clusters,
    /// Clusters this node has asked the alert gate about.
    alerted: HashSet<String>,
    decisions_read: Option<Instant>,
}

/// The trends channel and the clusters of this node.
pub struct IntegrityChannel {
    engine: Arc<dyn Engine>,
    /// The server's runtime, where every engine call of the channel runs
    /// (see [`IntegrityChannel::engine_call`]).
    io: tokio::runtime::Handle,
    ingestor: Arc<Ingestor>,
    places: Places,
    settings: IntegritySettings,
    vocabulary: Vocabulary,
    state: Mutex<State>,
    frames: watch::Sender<Arc<TrendsFrame>>,
    /// Ready clusters as of the last round.
    ready: RwLock<Arc<Vec<ClusterView>>>,
    /// Text key → the ready cluster it belongs to.
    member_of: RwLock<HashMap<String, String>>,
    /// The operators' decisions, by cluster.
    decisions: RwLock<HashMap<String, Decision>>,
}

impl IntegrityChannel {
    /// The channel over `engine`, taking discounted posts out through
    /// `ingestor`, naming places with `places`; it starts from the texts of
    /// the last two trend windows.
    pub fn new(engine: Arc<dyn Engine>, ingestor: Arc<Ingestor>, places: Places, settings: IntegritySettings) -> Self {
        let languages: Vec<&str> = settings.languages.iter().map(String::as_str).collect();
        let now = Utc::now();
        let replay = (2 * settings.trends_window_secs).max(settings.coordination.window_secs);
        Self {
            vocabulary: Vocabulary::new(&languages),
            state: Mutex::new(State {
                last: TextKey::at_secs(now.timestamp() - replay),
                trends: TrendBook::new(settings.trends_window_secs, settings.k_anonymity),
                clusters: Clusters::new(settings.coordination),
                alerted: HashSet::new(),
                decisions_read: None,
            }),
            frames: watch::channel(Arc::new(TrendsFrame {
                as_of: rfc3339(now),
                window: settings.trends_window.clone(),
                zones: Vec::new(),
                cells: Vec::new(),
            }))
            .0,
            ready: RwLock::default(),
            member_of: RwLock::default(),
            decisions: RwLock::default(),
            io: tokio::runtime::Handle::current(),
            engine,
            ingestor,
            places,
            settings,
        }
    }

    /// Follows the text log every `period` until `shutdown` (unless
    /// `--text-analysis false`), on a thread of its own, within
    /// [`CPU_SHARE`] of one core and at idle priority ([`FollowerPriority`]):
    /// masking, terms and clusters cost microseconds a post, which on the
    /// runtime that relays broadcasts and ticks the heatmaps would hold up
    /// every channel, and under a flood would take the cores ingest needs.
    /// Behind, the follower catches up from the log; nothing is skipped.
    pub fn spawn(self: &Arc<Self>, period: Duration, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        if !self.settings.analysis {
            tracing::info!("text analysis is off on this node: no trends, no coordination alerts");
            return tokio::spawn(async {});
        }
        // A thread of its own, not tokio's blocking pool: a runtime waits
        // for its blocking tasks when dropped. It holds the channel weakly
        // and ends with it, or at `shutdown`; the task returned ends then.
        let channel = Arc::downgrade(self);
        let (ended, on_end) = tokio::sync::oneshot::channel::<()>();
        let follow = move || {
            let mut priority = FollowerPriority::new();
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "the text log follower could not start: no trends, no clusters");
                    return;
                }
            };
            runtime.block_on(async move {
                while !shutdown.is_cancelled() {
                    let Some(channel) = channel.upgrade() else { return };
                    let started = Instant::now();
                    match channel.round(Utc::now()).await {
                        Ok(caught_up) => priority.after_round(caught_up, Instant::now()),
                        Err(e) => tracing::warn!(error = %e, "reading the text log failed; reading again next round"),
                    }
                    drop(channel);
                    let rest = period.max(started.elapsed().mul_f64(1.0 / CPU_SHARE - 1.0));
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(rest) => {}
                    }
                }
            });
            let _ = ended.send(());
        };
        if let Err(e) = std::thread::Builder::new().name("campanile-texts".into()).spawn(follow) {
            tracing::error!(error = %e, "the text log follower could not start: no trends, no clusters");
        }
        tokio::spawn(async move {
            let _ = on_end.await;
        })
    }

    /// Runs an engine call on the server's runtime, whichever thread asks.
    /// The follower's own runtime must not: a Redis connection that a
    /// failed call reconnects starts its driver on the caller's runtime,
    /// and on the follower's, busy for seconds with a round, every
    /// request of the server would wait for it (ingest stalled for 30 s
    /// after a Redis restart).
    async fn engine_call<T, F>(&self, call: impl FnOnce(Arc<dyn Engine>, Arc<Ingestor>) -> F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, EngineError>> + Send + 'static,
    {
        let running = self.io.spawn(call(self.engine.clone(), self.ingestor.clone()));
        running
            .await
            .map_err(|e| EngineError::Unavailable(format!("the server's runtime is gone: {e}")))?
    }

    /// The current trends.
    pub fn current(&self) -> Arc<TrendsFrame> {
        self.frames.borrow().clone()
    }

    /// Subscription `sub` to the trends: a snapshot, then each round whose
    /// terms changed.
    pub fn subscribe(&self, sub: String) -> Messages {
        let frames = self.frames.subscribe();
        Box::pin(futures_util::stream::unfold(
            (sub, frames, true),
            |(sub, mut frames, first)| async move {
                if !first {
                    frames.changed().await.ok()?;
                }
                let frame = frames.borrow_and_update().clone();
                let (as_of, window) = (frame.as_of.clone(), frame.window.clone());
                let zones = serde_json::to_value(&frame.zones).unwrap_or_default();
                let cells = serde_json::to_value(&frame.cells).unwrap_or_default();
                let sub_id = sub.clone();
                let msg = if first {
                    ServerMessage::TrendsSnapshot {
                        sub: sub_id,
                        as_of,
                        window,
                        zones,
                        cells,
                    }
                } else {
                    ServerMessage::TrendsUpdate {
                        sub: sub_id,
                        as_of,
                        window,
                        zones,
                        cells,
                    }
                };
                Some((msg, (sub, frames, false)))
            },
        ))
    }

    /// Ready clusters, newest first, as of the last round.
    pub fn clusters(&self) -> Arc<Vec<ClusterView>> {
        self.ready
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The ready cluster holding the text `key`, if any.
    pub fn cluster_of(&self, key: &str) -> Option<String> {
        self.member_of
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Whether the cluster `id` is discounted.
    pub fn is_discounted(&self, id: &str) -> bool {
        self.decision(id).is_some_and(|d| d.discounted)
    }

    fn decision(&self, id: &str) -> Option<Decision> {
        self.decisions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// One round: the decisions if due, the new texts, expiry, alerts and
    /// the trends frame.
    /// Returns whether it read the log to its end. How long it took, and
    /// its parts, go to [`metric::TICK_SECONDS`].
    ///
    /// [`metric::TICK_SECONDS`]: crate::telemetry::metric::TICK_SECONDS
    pub async fn round(&self, now: DateTime<Utc>) -> Result<bool, EngineError> {
        use crate::telemetry::{record_tick, work};
        let mut state = self.state.lock().await;
        let started = Instant::now();
        let mut costs = RoundCosts::default();
        let caught_up = self.round_with(&mut state, now, &mut costs).await;
        record_tick(work::TEXTS, started.elapsed());
        record_tick(work::MASKING, costs.masking);
        record_tick(work::TRENDS, costs.trends);
        record_tick(work::COORDINATION, costs.coordination);
        caught_up
    }

    async fn round_with(
        &self,
        state: &mut State,
        now: DateTime<Utc>,
        costs: &mut RoundCosts,
    ) -> Result<bool, EngineError> {
        let t = now.timestamp();
        let due = state.decisions_read.is_none_or(|at| at.elapsed() >= DECISIONS_EVERY);
        if due {
            let changed = self.read_decisions().await?;
            state.decisions_read = Some(Instant::now());
            if changed {
                let redrawing = Instant::now();
                self.redraw_trends(state, t).await?;
                costs.trends += redrawing.elapsed();
            }
        }
        let (mut read, mut caught_up) = (0, false);
        while read < TEXTS_PER_ROUND {
            let last = state.last;
            let texts = self
                .engine_call(|engine, _| async move { engine.texts_after(last, crate::engine::TEXT_READ_MAX).await })
                .await?;
            let n = texts.len();
            for entry in texts {
                state.last = entry.key;
                self.take(state, &entry, costs).await?;
            }
            read += n;
            if n < crate::engine::TEXT_READ_MAX {
                caught_up = true;
                break;
            }
        }
        let expiring = Instant::now();
        state.trends.expire(t);
        let clustering = Instant::now();
        state.clusters.expire(t);
        self.publish_clusters(state, now).await;
        let publishing = Instant::now();
        self.publish_trends(state, now);
        costs.trends += (clustering - expiring) + publishing.elapsed();
        costs.coordination += publishing - clustering;
        Ok(caught_up)
    }

    /// Reads the decisions; true if any changed since the last read.
    async fn read_decisions(&self) -> Result<bool, EngineError> {
        let read: HashMap<String, Decision> = self
            .engine_call(|engine, _| async move { engine.cluster_decisions().await })
            .await?
            .iter()
            .filter_map(|body| serde_json::from_str::<Decision>(body).ok())
            .map(|d| (d.cluster.clone(), d))
            .collect();
        let mut decisions = self
            .decisions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = *decisions != read;
        *decisions = read;
        Ok(changed)
    }

    /// Takes one text: trends (unless it holds personal data or belongs to
    /// a discounted cluster) and clusters; a new member of a discounted
    /// cluster is taken out of the counts.
    /// Its masking, clustering and trends are timed in `costs`: a few
    /// clock reads against the microseconds the text takes.
    async fn take(&self, state: &mut State, entry: &TextEntry, costs: &mut RoundCosts) -> Result<(), EngineError> {
        let Some((text, centre)) = decode(entry) else {
            return Ok(());
        };
        let masking = Instant::now();
        let masked = pii::mask(&text.text);
        let clustering = Instant::now();
        costs.masking += clustering - masking;
        // The member's cell is the post's own, at the cover's resolution:
        // it names the cluster's zone exactly; views show its parent.
        let member = Member {
            post: entry.key.to_string(),
            contributor: text.contributor,
            at: text.counted_at,
            cell: centre.to_cell(self.places.cover.resolution()),
        };
        let joined = state.clusters.add(member, &masked.text);
        let discounted = joined
            .as_deref()
            .and_then(|id| self.decision(id))
            .filter(|d| d.discounted);
        if let Some(decision) = &discounted {
            let uncounted = match CountChange::new(text, &decision.cluster, decision.version, true) {
                Some(change) => {
                    self.engine_call(
                        |_, ingestor| async move { ingestor.uncount(&change, Utc::now().timestamp()).await },
                    )
                    .await
                }
                None => Ok(()),
            };
            costs.coordination += clustering.elapsed();
            return uncounted;
        }
        let counting = Instant::now();
        costs.coordination += counting - clustering;
        self.add_to_trends(&mut state.trends, &text, centre, &masked);
        costs.trends += counting.elapsed();
        Ok(())
    }

    /// Counts a text's terms in `trends` at its places, unless it holds
    /// personal data: a post that names a person pushes up no word.
    fn add_to_trends(&self, trends: &mut TrendBook, text: &PostText, centre: LatLng, masked: &pii::Masked) {
        if !masked.kinds.is_empty() {
            return;
        }
        let terms = self.vocabulary.terms(&masked.text);
        if terms.is_empty() {
            return;
        }
        let places = self.places_of(centre, centre.to_cell(self.settings.res));
        trends.add(text.counted_at, &places, text.contributor, &terms);
    }

    /// Where a post at `centre` counts for trends: its cell at the alert
    /// resolution, and the smallest zone holding the post itself. The
    /// zone is read at the cover's resolution, not from the coarse cell:
    /// a cell of resolution 9 spans neighbouring squares and would give
    /// one square's words to the other.
    fn places_of(&self, centre: LatLng, cell: CellIndex) -> Vec<Place> {
        let mut places = vec![Place::Cell(cell)];
        let exact = centre.to_cell(self.places.cover.resolution());
        if let Some(zone) = self.places.cover.smallest_zone(exact) {
            places.push(Place::Zone(zone.to_owned()));
        }
        places
    }

    /// Draws the trends again from the log, leaving out discounted
    /// clusters' posts: a decision changes what they counted for.
    async fn redraw_trends(&self, state: &mut State, now: i64) -> Result<(), EngineError> {
        let discounted: HashSet<String> = {
            let decisions = self.decisions.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            decisions
                .values()
                .filter(|d| d.discounted)
                .filter_map(|d| state.clusters.get(&d.cluster))
                .flat_map(|c| c.members.iter().map(|m| m.post.clone()))
                .collect()
        };
        let mut trends = TrendBook::new(self.settings.trends_window_secs, self.settings.k_anonymity);
        let mut after = TextKey::at_secs(now - 2 * self.settings.trends_window_secs);
        'read: loop {
            let texts = self
                .engine_call(|engine, _| async move { engine.texts_after(after, crate::engine::TEXT_READ_MAX).await })
                .await?;
            let n = texts.len();
            for entry in texts {
                if entry.key > state.last {
                    break 'read;
                }
                after = entry.key;
                if discounted.contains(&entry.key.to_string()) {
                    continue;
                }
                if let Some((text, centre)) = decode(&entry) {
                    self.add_to_trends(&mut trends, &text, centre, &pii::mask(&text.text));
                }
            }
            if n < crate::engine::TEXT_READ_MAX {
                break;
            }
        }
        state.trends = trends;
        Ok(())
    }

    /// Publishes the ready clusters and raises an alert for each new one.
    async fn publish_clusters(&self, state: &mut State, now: DateTime<Utc>) {
        let mut views = Vec::new();
        let mut member_of = HashMap::new();
        let mut to_alert = Vec::new();
        for cluster in state.clusters.ready() {
            for m in &cluster.members {
                member_of.insert(m.post.clone(), cluster.id.clone());
            }
            let view = self.view(cluster);
            if !state.alerted.contains(&cluster.id) {
                to_alert.push(view.clone());
            }
            views.push(view);
        }
        views.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.id.cmp(&b.id)));
        // A forgotten cluster is forgotten here too; the gate's quiet
        // period keeps one that forms again from alerting twice.
        let ready: HashSet<&str> = views.iter().map(|v| v.id.as_str()).collect();
        state.alerted.retain(|id| ready.contains(id.as_str()));
        *self.ready.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(views);
        *self
            .member_of
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = member_of;
        for view in to_alert {
            if self.raise(&view, now).await {
                state.alerted.insert(view.id);
            }
        }
    }

    /// Asks the gate to raise the `coordination` alert of a cluster; true
    /// once the gate answered.
    async fn raise(&self, view: &ClusterView, now: DateTime<Utc>) -> bool {
        let body = serde_json::json!({
            "id": hex::encode(rand::random::<[u8; 8]>()),
            "kind": "coordination",
            "cluster": view.id,
            "zone": view.zone,
            "place": view.place,
            "size": view.size,
            "contributors": view.contributors,
            "first_seen": view.first_seen,
            "sample": view.sample,
            "cells": view.cells,
            "raised_at": crate::alert::raised_at(now),
        });
        let key = format!("coordination:{}", view.id);
        let (body, at) = (body.to_string(), now.timestamp());
        match self
            .engine_call(|engine, _| async move { engine.raise_alert(&key, &body, COORDINATION_QUIET_SECS, at).await })
            .await
        {
            Ok(raised) => {
                if raised {
                    metrics::counter!(crate::telemetry::metric::ALERTS_RAISED, "kind" => "coordination").increment(1);
                    tracing::info!(cluster = %view.id, size = view.size, "coordination alert raised");
                }
                true
            }
            Err(_) => false,
        }
    }

    fn view(&self, cluster: &Cluster) -> ClusterView {
        let cells: BTreeSet<CellIndex> = cluster
            .cells()
            .into_iter()
            .filter_map(|c| c.parent(self.settings.res))
            .collect();
        // The zone most of its posts are in names it (outside every zone:
        // the busiest cell's position).
        let mut per_zone: BTreeMap<Option<&'static str>, (usize, CellIndex)> = BTreeMap::new();
        for m in &cluster.members {
            let entry = per_zone
                .entry(self.places.cover.smallest_zone(m.cell))
                .or_insert((0, m.cell));
            entry.0 += 1;
        }
        let busiest = per_zone
            .iter()
            .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(a.0)))
            .map(|(_, (_, cell))| *cell);
        let (zone, place) = busiest.map_or((None, String::new()), |cell| {
            self.places.of_cell(cell, LatLng::from(cell))
        });
        let decision = self.decision(&cluster.id);
        ClusterView {
            id: cluster.id.clone(),
            size: cluster.size(),
            contributors: cluster.contributors,
            first_seen: at(cluster.first_seen),
            last_seen: at(cluster.last_seen),
            sample: pii::mask(&cluster.sample).text,
            cells: cells.iter().map(ToString::to_string).collect(),
            zone,
            place,
            discounted: decision.as_ref().is_some_and(|d| d.discounted),
            decision: decision
                .map(|d| serde_json::json!({"discounted": d.discounted, "by": d.by, "at": d.at, "reason": d.reason})),
        }
    }

    fn publish_trends(&self, state: &State, now: DateTime<Utc>) {
        let t = now.timestamp();
        let mut zones = Vec::new();
        let mut cells = Vec::new();
        for place in state.trends.places(t) {
            let terms: Vec<TrendView> = state
                .trends
                .top(t, &place, TERMS_PER_PLACE)
                .into_iter()
                .map(TrendView::from)
                .collect();
            if terms.is_empty() {
                continue;
            }
            match place {
                Place::Zone(id) => zones.push(ZoneTrends {
                    name: self.places.zones.name(&id).unwrap_or(&id).to_owned(),
                    zone: id,
                    terms,
                }),
                Place::Cell(cell) => {
                    let (zone, place) = self.places.of_cell(cell, LatLng::from(cell));
                    cells.push(CellTrends {
                        cell: cell.to_string(),
                        zone,
                        place,
                        terms,
                    });
                }
            }
        }
        zones.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.zone.cmp(&b.zone)));
        let top_growth = |terms: &[TrendView]| terms.first().map_or(0.0, |t| t.growth);
        cells.sort_by(|a, b| {
            top_growth(&b.terms)
                .total_cmp(&top_growth(&a.terms))
                .then_with(|| a.cell.cmp(&b.cell))
        });
        let frame = TrendsFrame {
            as_of: rfc3339(now),
            window: self.settings.trends_window.clone(),
            zones,
            cells,
        };
        self.frames.send_if_modified(|current| {
            if current.same_terms(&frame) {
                return false;
            }
            *current = Arc::new(frame);
            true
        });
    }

    /// Discounts (`discount`) or restores the cluster `id` for `by`, with
    /// `reason`: its posts' counts change once per decision, whichever node
    /// and however often it is asked; the decision is stored and audited.
    pub async fn decide(&self, id: &str, discount: bool, reason: &str, by: &str) -> Result<ClusterView, DecisionError> {
        let mut state = self.state.lock().await;
        let Some(cluster) = state.clusters.ready().into_iter().find(|c| c.id == id).cloned() else {
            return Err(DecisionError::NotFound(id.to_owned()));
        };
        // Another node's decision may be newer than this node's last read.
        self.read_decisions().await?;
        let previous = self.decision(id);
        if previous.as_ref().is_some_and(|d| d.discounted == discount) {
            return Ok(self.view(&cluster));
        }
        let version = previous.map_or(1, |d| d.version + 1);
        let now = Utc::now();
        let mut changes = Vec::new();
        for m in &cluster.members {
            let Ok(key) = m.post.parse::<TextKey>() else { continue };
            let Some(entry) = self.engine.text(key).await? else {
                continue;
            };
            let Some(text) = PostText::from_body(&entry.body) else {
                continue;
            };
            if let Some(change) = CountChange::new(text, id, version, discount) {
                changes.push(change);
            }
        }
        if discount {
            for change in &changes {
                self.ingestor.uncount(change, now.timestamp()).await?;
            }
        } else {
            self.ingestor.count(&changes, now.timestamp()).await?;
        }
        let decision = Decision {
            cluster: id.to_owned(),
            discounted: discount,
            version,
            by: by.to_owned(),
            at: rfc3339(now),
            reason: reason.to_owned(),
            members: cluster.members.iter().map(|m| m.post.clone()).collect(),
        };
        let body = serde_json::to_string(&decision).unwrap_or_default();
        self.engine.put_cluster_decision(id, &body, now.timestamp()).await?;
        crate::broadcasts::write_audit(
            self.engine.as_ref(),
            if discount {
                "cluster.discount"
            } else {
                "cluster.restore"
            },
            by,
            serde_json::json!({"cluster": id, "posts": decision.members.len(), "reason": reason}),
        )
        .await?;
        self.decisions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), decision);
        self.redraw_trends(&mut state, now.timestamp()).await?;
        // The list operators read, and the trends, show the decision at once.
        self.publish_clusters(&mut state, now).await;
        self.publish_trends(&state, now);
        Ok(self.view(&cluster))
    }
}

/// A stored text and where it was posted; `None` for one this version
/// cannot read.
fn decode(entry: &TextEntry) -> Option<(PostText, LatLng)> {
    let text = PostText::from_body(&entry.body)?;
    let centre = LatLng::new(text.lat, text.lon).ok()?;
    Some((text, centre))
}

fn at(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map(rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use thread_priority::{NormalThreadSchedulePolicy as Normal, ThreadSchedulePolicy as Policy};

    use super::FollowerPriority;

    #[test]
    fn the_follower_runs_at_idle_priority_and_takes_a_share_only_after_ten_seconds_behind() {
        std::thread::spawn(|| {
            let policy = || thread_priority::thread_schedule_policy().expect("readable");
            let mut priority = FollowerPriority::new();
            assert_eq!(policy(), Policy::Normal(Normal::Idle));
            let t0 = Instant::now();
            priority.after_round(false, t0);
            priority.after_round(false, t0 + Duration::from_secs(9));
            assert_eq!(policy(), Policy::Normal(Normal::Idle));
            priority.after_round(false, t0 + Duration::from_secs(10));
            assert_eq!(policy(), Policy::Normal(Normal::Other));
            priority.after_round(true, t0 + Duration::from_secs(11));
            assert_eq!(policy(), Policy::Normal(Normal::Idle));
        })
        .join()
        .expect("the test thread");
    }
}
