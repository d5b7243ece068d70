//! The `reports` channel: one task per node relays the engine's report
//! feed, each body decoded once and its `report` frame encoded once per
//! view. Bodies of one report are ordered by their moderation version, so
//! that a relay or a subscription that fell behind re-reads the retained
//! reports and skips every version it already delivered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::channel::{self, CatchUp, Messages, Numbered};
use crate::domain::report::Report;
use crate::engine::{Engine, EngineError};
use crate::protocol::{ServerMessage, SharedEncoding};
use crate::reports::Reports;

/// One version of a report as the channel published it.
pub struct LiveReport {
    n: u64,
    report: Report,
    /// Frames as operators see them (with the contact).
    for_operators: SharedEncoding,
    /// Frames as commanders see them.
    for_others: SharedEncoding,
}

impl Numbered for LiveReport {
    fn number(&self) -> u64 {
        self.n
    }
}

impl LiveReport {
    fn new(n: u64, report: Report) -> Self {
        Self {
            n,
            report,
            for_operators: SharedEncoding::default(),
            for_others: SharedEncoding::default(),
        }
    }

    fn message(&self, sub: &str, operator: bool) -> ServerMessage {
        let frames = if operator {
            &self.for_operators
        } else {
            &self.for_others
        };
        frames.get(sub, || ServerMessage::Report {
            sub: sub.to_owned(),
            report: crate::reports::view(&self.report, operator),
        })
    }
}

/// The newest version of a report the channel knows, and the number it
/// was published under (0: it existed before this node started).
#[derive(Clone, Copy)]
struct Seen {
    version: u64,
    n: u64,
    received_at: i64,
}

struct Published {
    /// The number of the next item.
    next: u64,
    latest: HashMap<String, Seen>,
    /// Whether `latest` holds every report retained when the relay started.
    seeded: bool,
    published_since_prune: usize,
}

/// Publications between two prunings of reports past their retention.
const PRUNE_EVERY: usize = 1_024;

/// The reports channel of this node.
pub struct ReportChannel {
    engine: Arc<dyn Engine>,
    retention_secs: i64,
    started: i64,
    live: broadcast::Sender<Arc<LiveReport>>,
    published: Mutex<Published>,
}

impl ReportChannel {
    /// The channel over `engine`'s reports, kept for `retention_secs`.
    pub fn new(engine: Arc<dyn Engine>, retention_secs: i64) -> Self {
        Self {
            engine,
            retention_secs,
            started: Utc::now().timestamp(),
            live: broadcast::channel(channel::CHANNEL_CAPACITY).0,
            published: Mutex::new(Published {
                next: 1,
                latest: HashMap::new(),
                seeded: false,
                published_since_prune: 0,
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
        let (feed, channel) = (self.engine.report_feed(), self.clone());
        channel::spawn_relay(shutdown, async move { channel.relay(feed).await })
    }

    async fn relay(&self, mut feed: broadcast::Receiver<String>) {
        match self.engine.reports(0).await {
            Ok(bodies) => self.seed(&bodies),
            Err(e) => tracing::warn!(error = %e, "reading the retained reports failed; a re-read skips the older ones"),
        }
        loop {
            match feed.recv().await {
                Ok(body) => {
                    if let Some((report, version)) = Reports::live_versioned(&body) {
                        self.publish(report, version, true);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the reports relay fell behind; re-reading the retained reports");
                    let bodies = channel::until_read("the retained reports", || self.engine.reports(0)).await;
                    let mut missed: Vec<(Report, u64)> =
                        bodies.iter().filter_map(|b| Reports::live_versioned(b)).collect();
                    // The engine orders by the second; the feed ordered by arrival.
                    missed.sort_by_key(|(report, _)| report.received_at);
                    for (report, version) in missed {
                        self.publish(report, version, false);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Takes the reports retained when the relay started as known: what
    /// existed already is not news, even to a re-read.
    fn seed(&self, bodies: &[String]) {
        let mut published = self.lock();
        for (report, version) in bodies.iter().filter_map(|b| Reports::live_versioned(b)) {
            let received_at = report.received_at.timestamp();
            published.latest.insert(
                report.id,
                Seen {
                    version,
                    n: 0,
                    received_at,
                },
            );
        }
        published.seeded = true;
    }

    /// Publishes `version` of `report` unless a version as new was; a
    /// report first seen by a re-read (not `fed`) that predates this node
    /// and the seeding failed is old news. One the feed brings that the
    /// seeding read also caught (stored between the relay's subscribing and
    /// its reading) is news all the same: nobody was sent it.
    fn publish(&self, report: Report, version: u64, fed: bool) {
        let mut published = self.lock();
        let received_at = report.received_at.timestamp();
        match published.latest.get(&report.id) {
            Some(seen) if seen.version == version && seen.n == 0 && fed && received_at >= self.started => {}
            Some(seen) if seen.version >= version => return,
            None if !fed && !published.seeded && received_at < self.started => return,
            _ => {}
        }
        let n = published.next;
        published.next += 1;
        published.latest.insert(
            report.id.clone(),
            Seen {
                version,
                n,
                received_at,
            },
        );
        published.published_since_prune += 1;
        if published.published_since_prune >= PRUNE_EVERY {
            let oldest = Utc::now().timestamp() - self.retention_secs;
            published.latest.retain(|_, seen| seen.received_at >= oldest);
            published.published_since_prune = 0;
        }
        // Sent under the lock: the channel's order is the numbers' order.
        let _ = self.live.send(Arc::new(LiveReport::new(n, report)));
    }

    /// One subscription: reports stored from now on, and every later
    /// moderation, with the contact for an `operator`.
    pub fn subscribe(self: &Arc<Self>, sub: String, operator: bool) -> Messages {
        let (live, last) = {
            let published = self.lock();
            (self.live.subscribe(), published.next - 1)
        };
        let start = Box::pin(std::future::ready(channel::Begin::at(last)));
        channel::follow(self.clone(), live, start, move |r: &LiveReport| {
            Some(r.message(&sub, operator))
        })
    }
}

#[async_trait]
impl CatchUp for ReportChannel {
    type Item = LiveReport;

    /// The retained reports of which a version was published after
    /// `after`, as the engine holds them now; a version the relay has not
    /// published yet comes through the channel.
    async fn after(&self, after: u64, _era: Option<&str>) -> Result<Vec<Arc<LiveReport>>, EngineError> {
        let bodies = self.engine.reports(0).await?;
        // Decoded before taking the lock the relay publishes under.
        let decoded: Vec<(Report, u64)> = bodies.iter().filter_map(|b| Reports::live_versioned(b)).collect();
        let published = self.lock();
        let mut missed: Vec<Arc<LiveReport>> = decoded
            .into_iter()
            .filter_map(|(report, version)| {
                let seen = published.latest.get(&report.id)?;
                (seen.n > after && seen.version == version).then(|| Arc::new(LiveReport::new(seen.n, report)))
            })
            .collect();
        missed.sort_by_key(|r| r.n);
        Ok(missed)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::domain::report::ReportInput;
    use crate::engine::memory::MemoryEngine;

    fn report() -> Report {
        let input: ReportInput = serde_json::from_value(serde_json::json!({
            "category": "fire", "lat": 44.4937, "lon": 11.343, "text": "smoke by the fountain"
        }))
        .expect("input");
        input.validate("r1".into(), false, Utc::now()).expect("valid")
    }

    #[tokio::test]
    async fn a_report_the_seeding_read_also_caught_still_reaches_subscribers() {
        let settings = crate::config::Settings::resolve(&crate::config::ServeArgs::default()).expect("settings");
        let engine = Arc::new(MemoryEngine::new(settings.layout()));
        let channel = Arc::new(ReportChannel::new(engine, 3_600));
        let mut messages = channel.subscribe("s1".into(), true);
        // Stored after the relay subscribed to the feed, before it read the
        // retained reports: the read sees it, then the feed brings it.
        let stored = report();
        {
            let mut published = channel.lock();
            published.latest.insert(
                stored.id.clone(),
                Seen {
                    version: 0,
                    n: 0,
                    received_at: stored.received_at.timestamp(),
                },
            );
            published.seeded = true;
        }
        channel.publish(stored, 0, true);
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), messages.next())
            .await
            .expect("in time")
            .expect("a message");
        let ServerMessage::Encoded { text, .. } = got else {
            panic!("encoded");
        };
        assert!(text.contains("\"id\":\"r1\""), "{text}");
    }
}
