//! The `broadcasts` channel: one task per node relays the engine's log
//! feed, each record decoded once and its `broadcast` frame encoded once
//! per view for every session; a subscription replays the log after its
//! `since_seq` (or the active messages), then follows the relay, and
//! re-reads the log whenever it falls behind. `{seq, epoch}` is a message's
//! position: `seq` numbers the log and the epoch names the log itself, so
//! that a Redis that lost its log (and numbers again from 1) is told from
//! the one a client resumes from.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::channel::{self, Begin, CatchUp, Messages, Numbered};
use crate::broadcasts::{Broadcasts, decode, sees_sender, visible};
use crate::domain::Zones;
use crate::domain::broadcast::{StoredBroadcast, superseded};
use crate::domain::{LatLon, Principal};
use crate::engine::{BroadcastRecord, Engine, EngineError};
use crate::protocol::{ServerMessage, SharedEncoding};

/// How many recent messages stay decoded, for subscriptions that replay
/// them right after the relay published them.
const PREPARED_KEPT: usize = 256;

/// A logged message decoded once, and its `broadcast` frame encoded once
/// per view, for every session that receives it.
pub struct Prepared {
    /// Its sequence number.
    pub seq: u64,
    /// The log's epoch when it was appended.
    pub epoch: Arc<str>,
    /// Its id: with the position, what identifies the record.
    id: String,
    /// The message; `None` when the record could not be read.
    pub broadcast: Option<StoredBroadcast>,
    /// Frames as operators see them (with the sender).
    for_operators: SharedEncoding,
    /// Frames as everyone else sees them.
    for_others: SharedEncoding,
}

impl Numbered for Prepared {
    fn number(&self) -> u64 {
        self.seq
    }

    fn era(&self) -> Option<&str> {
        Some(&self.epoch)
    }
}

impl Prepared {
    fn frames_for(&self, principal: &Principal) -> &SharedEncoding {
        if sees_sender(principal) {
            &self.for_operators
        } else {
            &self.for_others
        }
    }
}

/// Where a subscriber left the channel: the last `seq` it had, and the
/// epoch it was numbered in when it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The last `seq` it had.
    pub since_seq: u64,
    /// The epoch of that `seq`; `None` from a client that predates epochs.
    pub epoch: Option<String>,
}

/// The broadcasts channel of this node.
pub struct BroadcastChannel {
    engine: Arc<dyn Engine>,
    zones: Arc<Zones>,
    live: broadcast::Sender<Arc<Prepared>>,
    recent: Mutex<VecDeque<Arc<Prepared>>>,
    /// The log's epoch as this node last saw it: from the newest record
    /// relayed, else read once. Kept so that a subscribe (public ones
    /// included) costs no read of it.
    epoch: Mutex<Option<String>>,
}

impl BroadcastChannel {
    /// The channel over `engine`'s log, resolving `near` with `zones`.
    pub fn new(engine: Arc<dyn Engine>, zones: Arc<Zones>) -> Self {
        Self {
            engine,
            zones,
            live: broadcast::channel(channel::CHANNEL_CAPACITY).0,
            recent: Mutex::default(),
            epoch: Mutex::default(),
        }
    }

    /// `record` decoded, from the recent ones when it already was.
    fn prepare(&self, record: &BroadcastRecord) -> Arc<Prepared> {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = recent
            .iter()
            .rev()
            .find(|p| p.seq == record.seq && p.id == record.id && *p.epoch == *record.epoch)
        {
            return p.clone();
        }
        let p = Arc::new(Prepared {
            seq: record.seq,
            epoch: Arc::from(record.epoch.as_str()),
            id: record.id.clone(),
            broadcast: decode(record),
            for_operators: SharedEncoding::default(),
            for_others: SharedEncoding::default(),
        });
        if recent.len() >= PREPARED_KEPT {
            recent.pop_front();
        }
        recent.push_back(p.clone());
        p
    }

    /// Relays the engine's feed until `shutdown`: the one reader of it on
    /// this node.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let (feed, channel) = (self.engine.broadcast_feed(), self.clone());
        channel::spawn_relay(shutdown, async move { channel.relay(feed).await })
    }

    async fn relay(&self, mut feed: broadcast::Receiver<BroadcastRecord>) {
        let mut last = 0;
        let mut epoch: Option<String> = None;
        loop {
            match feed.recv().await {
                Ok(record) => {
                    last = record.seq;
                    epoch = Some(record.epoch.clone());
                    *self.lock_epoch() = Some(record.epoch.clone());
                    let _ = self.live.send(self.prepare(&record));
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the broadcasts relay fell behind; re-reading the log");
                    let missed =
                        channel::until_read("the broadcasts log", || self.missed_by_relay(last, epoch.as_deref()))
                            .await;
                    for p in missed {
                        last = p.seq;
                        epoch = Some(p.epoch.to_string());
                        *self.lock_epoch() = Some(p.epoch.to_string());
                        let _ = self.live.send(p);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// One subscription for `viewer`: the retained messages after
    /// `since_seq` (or the active ones), then live ones, with no gap and no
    /// duplicate across the switch (`seq` decides); only messages
    /// concerning `near`, when given. A `since_seq` of another `epoch` than
    /// the log's counts from a log that is gone: the subscriber gets the
    /// active messages afresh, as a new one would, rather than wait for
    /// numbers it already had.
    pub fn subscribe(
        self: &Arc<Self>,
        sub: String,
        viewer: Principal,
        resume: Option<Resume>,
        near: Option<LatLon>,
    ) -> Messages {
        // Subscribe to the live channel before reading the log: nothing falls between.
        let live = self.live.subscribe();
        let channel = self.clone();
        let start = Box::pin(async move {
            let current = channel.current_epoch().await;
            let after = resume.and_then(|r| r.epoch.is_none_or(|e| e == current).then_some(r.since_seq));
            let (items, last) = match after {
                Some(after) => {
                    let replay = channel::until_read("the broadcasts log", || channel.records_after(after)).await;
                    let last = replay.last().map_or(after, |p| p.seq.max(after));
                    (replay, last)
                }
                None => channel::until_read("the broadcasts log", || channel.active()).await,
            };
            Begin {
                items,
                last,
                era: Some(current),
            }
        });
        let channel = self.clone();
        let render = move |p: &Prepared| channel.message(p, &sub, &viewer, near);
        channel::follow(self.clone(), live, start, render)
    }

    /// The log's current epoch as this node knows it. A log lost since the
    /// last record relayed shows with the next append, which the relay
    /// carries to every subscription as a new era.
    async fn current_epoch(&self) -> String {
        if let Some(epoch) = self.lock_epoch().clone() {
            return epoch;
        }
        let read = channel::until_read("the broadcast log's epoch", || self.engine.broadcast_epoch()).await;
        self.lock_epoch().get_or_insert(read).clone()
    }

    fn lock_epoch(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.epoch.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the relay missed after `last` of `epoch`, the log's epoch read
    /// afresh: the relay is what tells every subscription of a new one.
    async fn missed_by_relay(&self, last: u64, epoch: Option<&str>) -> Result<Vec<Arc<Prepared>>, EngineError> {
        let current = self.engine.broadcast_epoch().await?;
        let from = if epoch.is_some_and(|e| e != current) { 0 } else { last };
        self.records_after(from).await
    }

    /// Every retained record after `after`, prepared.
    async fn records_after(&self, after: u64) -> Result<Vec<Arc<Prepared>>, EngineError> {
        let records = self.engine.broadcasts_after(after).await?;
        Ok(records.iter().map(|r| self.prepare(r)).collect())
    }

    /// The messages in force now, and the newest `seq` of the log.
    async fn active(&self) -> Result<(Vec<Arc<Prepared>>, u64), EngineError> {
        let all = self.records_after(0).await?;
        let gone = superseded(all.iter().filter_map(|p| p.broadcast.as_ref()));
        let now = chrono::Utc::now();
        let last = all.iter().map(|p| p.seq).max().unwrap_or(0);
        let active = all
            .into_iter()
            .filter(|p| p.broadcast.as_ref().is_some_and(|b| b.is_active(now, &gone)))
            .collect();
        Ok((active, last))
    }

    /// The `broadcast` frame of `p` for `viewer`, if it may see it and it
    /// concerns `near`.
    fn message(&self, p: &Prepared, sub: &str, viewer: &Principal, near: Option<LatLon>) -> Option<ServerMessage> {
        let b = p.broadcast.as_ref()?;
        let concerns = near.is_none_or(|point| b.broadcast.area.contains(point, &self.zones));
        if !visible(viewer, b.broadcast.audience) || !concerns {
            return None;
        }
        Some(p.frames_for(viewer).get(sub, || ServerMessage::Broadcast {
            sub: sub.to_owned(),
            seq: b.seq,
            epoch: p.epoch.to_string(),
            broadcast: Broadcasts::view(b, viewer),
        }))
    }
}

#[async_trait]
impl CatchUp for BroadcastChannel {
    type Item = Prepared;

    async fn after(&self, after: u64, epoch: Option<&str>) -> Result<Vec<Arc<Prepared>>, EngineError> {
        let from = match epoch {
            Some(epoch) if self.current_epoch().await != epoch => 0,
            _ => after,
        };
        self.records_after(from).await
    }
}
