//! The `alerts` channel: one task per node relays the engine's alert feed,
//! each alert decoded and its frame encoded once for every session. Alerts
//! never change, so an alert is known by its body: a relay or subscription
//! that fell behind re-reads the alerts raised since it last heard
//! (`Engine::alerts_since`) and skips what it already delivered.
//!
//! A new subscription first gets the alerts raised within the deployment's
//! alert history, read from the engine (this node may have started after
//! them), oldest first, then the live ones: the history and the live alerts
//! meet in the channel's numbering, so none is sent twice or skipped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::channel::{self, CatchUp, Messages, Numbered};
use crate::engine::{ALERT_RETENTION_SECS, Engine, EngineError};
use crate::protocol::{ServerMessage, SharedEncoding};

/// How far before its arrival here an alert may have been raised: nodes'
/// clocks differ, and the detector's `now` precedes the feed.
const RAISED_BEFORE_ARRIVAL_SECS: i64 = 300;

/// An alert as the channel published it.
pub struct LiveAlert {
    n: u64,
    /// When it arrived here, Unix seconds.
    arrived: i64,
    alert: serde_json::Map<String, serde_json::Value>,
    frames: SharedEncoding,
}

impl Numbered for LiveAlert {
    fn number(&self) -> u64 {
        self.n
    }
}

impl LiveAlert {
    fn message(&self, sub: &str) -> ServerMessage {
        self.frames.get(sub, || ServerMessage::Alert {
            sub: sub.to_owned(),
            alert: self.alert.clone(),
        })
    }
}

struct Published {
    /// The number of the next item.
    next: u64,
    by_body: HashMap<String, Arc<LiveAlert>>,
    /// Bodies by arrival, oldest first, to forget them after the retention.
    arrivals: VecDeque<String>,
    /// When the feed last brought an alert, or the relay started.
    last_heard: i64,
}

/// The alerts channel of this node.
pub struct AlertChannel {
    engine: Arc<dyn Engine>,
    /// How far back a new subscription starts, seconds.
    history_secs: i64,
    live: broadcast::Sender<Arc<LiveAlert>>,
    published: Mutex<Published>,
}

impl AlertChannel {
    /// The channel over `engine`'s alerts; a new subscription first gets
    /// those raised within `history_secs`.
    pub fn new(engine: Arc<dyn Engine>, history_secs: i64) -> Self {
        Self {
            engine,
            history_secs,
            live: broadcast::channel(channel::CHANNEL_CAPACITY).0,
            published: Mutex::new(Published {
                next: 1,
                by_body: HashMap::new(),
                arrivals: VecDeque::new(),
                last_heard: Utc::now().timestamp(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        // Every update is a few inserts under the lock: a panic leaves it usable.
        self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Relays the engine's feed until `shutdown`: the one reader of it on
    /// this node.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let (feed, channel) = (self.engine.alert_feed(), self.clone());
        channel::spawn_relay(shutdown, async move { channel.relay(feed).await })
    }

    async fn relay(&self, mut feed: broadcast::Receiver<String>) {
        loop {
            match feed.recv().await {
                Ok(body) => {
                    self.lock().last_heard = Utc::now().timestamp();
                    self.publish(body);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the alerts relay fell behind; re-reading the raised alerts");
                    let since = self.lock().last_heard - RAISED_BEFORE_ARRIVAL_SECS;
                    let bodies = channel::until_read("the raised alerts", || self.engine.alerts_since(since)).await;
                    crate::alert::oldest_first(bodies)
                        .into_iter()
                        .for_each(|body| self.publish(body));
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Publishes an alert not published yet; one that is not a JSON object
    /// is no alert.
    fn publish(&self, body: String) {
        Self::publish_locked(&mut self.lock(), &self.live, body);
    }

    /// Publishes `body` unless it was already, under the caller's lock;
    /// the alert as published either way, `None` when it is no alert.
    fn publish_locked(
        published: &mut Published,
        live: &broadcast::Sender<Arc<LiveAlert>>,
        body: String,
    ) -> Option<Arc<LiveAlert>> {
        if let Some(known) = published.by_body.get(&body) {
            return Some(known.clone());
        }
        let alert = serde_json::from_str(&body).ok()?;
        let arrived = Utc::now().timestamp();
        while let Some(oldest) = published.arrivals.front() {
            if published
                .by_body
                .get(oldest)
                .is_some_and(|a| a.arrived >= arrived - ALERT_RETENTION_SECS)
            {
                break;
            }
            if let Some(gone) = published.arrivals.pop_front() {
                published.by_body.remove(&gone);
            }
        }
        let n = published.next;
        published.next += 1;
        let item = Arc::new(LiveAlert {
            n,
            arrived,
            alert,
            frames: SharedEncoding::default(),
        });
        published.arrivals.push_back(body.clone());
        published.by_body.insert(body, item.clone());
        // Sent under the lock: the channel's order is the numbers' order.
        let _ = live.send(item.clone());
        Some(item)
    }

    /// One subscription: the alerts raised within the history, oldest
    /// first, then the live ones.
    pub fn subscribe(self: &Arc<Self>, sub: String) -> Messages {
        let (live, subscribed_at) = {
            let published = self.lock();
            (self.live.subscribe(), published.next - 1)
        };
        let channel = self.clone();
        let start = Box::pin(async move { channel.history(subscribed_at).await });
        channel::follow(self.clone(), live, start, move |a: &LiveAlert| Some(a.message(&sub)))
    }

    /// Where a subscription made when `subscribed_at` was the newest number
    /// starts: the history from the engine, then whatever the channel
    /// published since that the history does not hold. A history alert the
    /// relay has not brought yet is published now, so that the relay skips
    /// it when it comes and every subscriber hears of it once.
    async fn history(&self, subscribed_at: u64) -> channel::Begin<LiveAlert> {
        let since = Utc::now().timestamp() - self.history_secs;
        let bodies = channel::until_read("the alert history", || self.engine.alerts_since(since)).await;
        let bodies = crate::alert::oldest_first(bodies);
        let mut published = self.lock();
        let mut items: Vec<Arc<LiveAlert>> = Vec::with_capacity(bodies.len());
        let mut held = HashSet::with_capacity(bodies.len());
        for body in bodies {
            if let Some(item) = Self::publish_locked(&mut published, &self.live, body)
                && held.insert(item.n)
            {
                items.push(item);
            }
        }
        let mut since_subscribed: Vec<Arc<LiveAlert>> = published
            .by_body
            .values()
            .filter(|a| a.n > subscribed_at && !held.contains(&a.n))
            .cloned()
            .collect();
        since_subscribed.sort_by_key(|a| a.n);
        items.extend(since_subscribed);
        channel::Begin {
            items,
            last: published.next - 1,
            era: None,
        }
    }
}

#[async_trait]
impl CatchUp for AlertChannel {
    type Item = LiveAlert;

    /// The alerts published after `after`, in the order published: this
    /// node holds every alert it published for the retention period, so a
    /// subscriber that fell behind the channel needs no engine read (the
    /// relay itself re-reads the engine when it falls behind the feed).
    async fn after(&self, after: u64, _era: Option<&str>) -> Result<Vec<Arc<LiveAlert>>, EngineError> {
        let published = self.lock();
        let mut missed: Vec<Arc<LiveAlert>> = published.by_body.values().filter(|a| a.n > after).cloned().collect();
        missed.sort_by_key(|a| a.n);
        Ok(missed)
    }
}
