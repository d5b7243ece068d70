//! The Redis engine's [`BroadcastLog`].
//!
//! A broadcast is appended and published by one script
//! (`append_broadcast.lua`), so that pub/sub order is `seq` order; each
//! node's feed fills any gap it sees from the log, so a dropped
//! subscription loses nothing. The log's epoch lives beside its seq
//! counter; the scripts start a new one whenever they find the counter
//! gone, and the feed starts counting again when it sees the epoch change.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::{Script, cmd};
use tokio::sync::broadcast;

use super::keys::Keys;
use super::{Conn, RedisEngine, RedisOptions, RedisTarget, unavailable};
use crate::engine::broadcast_log::new_epoch;
use crate::engine::{BroadcastLog, BroadcastRecord, EngineError, timed};

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/append_broadcast.lua")));
static EPOCH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/broadcast_epoch.lua")));

#[async_trait]
impl BroadcastLog for RedisEngine {
    async fn append_broadcast(&self, id: &str, body: &str, now: i64) -> Result<u64, EngineError> {
        let mut conn = self.conn.clone();
        let seq: u64 = timed("redis", "append_broadcast", async {
            APPEND
                .key(self.keys.broadcast_seq())
                .key(self.keys.broadcast_log())
                .key(self.keys.broadcast(id))
                .key(self.keys.broadcast_epoch())
                .arg(id)
                .arg(body)
                .arg(now.saturating_add(self.layout.broadcast_secs.max(1)))
                .arg(self.layout.broadcast_max)
                .arg(self.keys.broadcast_channel())
                .arg(new_epoch())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)
        })
        .await?;
        self.replicated().await?;
        Ok(seq)
    }

    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
        read_after(&self.conn, &self.keys, after, None).await
    }

    async fn broadcasts_page(&self, after: u64, limit: usize) -> Result<Vec<BroadcastRecord>, EngineError> {
        read_after(&self.conn, &self.keys, after, Some(limit)).await
    }

    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError> {
        // One slot ({broadcasts}): one pipeline, on a cluster too.
        let ((seq, epoch, body), current): (StoredFields, Option<String>) = redis::pipe()
            .cmd("HMGET")
            .arg(self.keys.broadcast(id))
            .arg("seq")
            .arg("epoch")
            .arg("body")
            .get(self.keys.broadcast_epoch())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let epoch = match epoch.or(current) {
            Some(epoch) => Some(epoch),
            None if seq.is_some() => Some(current_epoch(&self.conn, &self.keys).await?),
            None => None,
        };
        Ok(record(id.to_owned(), seq, epoch, body))
    }

    async fn broadcast_epoch(&self) -> Result<String, EngineError> {
        current_epoch(&self.conn, &self.keys).await
    }

    fn broadcast_feed(&self) -> broadcast::Receiver<BroadcastRecord> {
        self.broadcast_feed.subscribe()
    }

    async fn acknowledge(&self, id: &str, sub: &str, at: i64) -> Result<bool, EngineError> {
        let mut conn = self.conn.clone();
        let key = self.keys.acks(id);
        let (new, _): (bool, i64) = redis::pipe()
            .atomic()
            .hset_nx(&key, sub, at)
            // Relative: a caller whose clock is behind Redis's would set an
            // expiry at its own time in the past and lose the acknowledgement.
            .expire(&key, self.layout.broadcast_secs.max(1))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.replicated().await?;
        Ok(new)
    }

    async fn acknowledgements(&self, id: &str) -> Result<Vec<(String, i64)>, EngineError> {
        let mut conn = self.conn.clone();
        let acks: HashMap<String, i64> = cmd("HGETALL")
            .arg(self.keys.acks(id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut acks: Vec<(String, i64)> = acks.into_iter().collect();
        acks.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(acks)
    }
}

/// A message hash's `seq`, `epoch` and `body`, each absent once expired.
type StoredFields = (Option<u64>, Option<String>, Option<String>);

/// A stored message, when all of it is there: one past its retention is
/// gone from its hash before the log is trimmed. A message stored before
/// epochs existed takes the log's.
fn record(id: String, seq: Option<u64>, epoch: Option<String>, body: Option<String>) -> Option<BroadcastRecord> {
    Some(BroadcastRecord {
        seq: seq?,
        epoch: epoch?,
        id,
        body: body?,
    })
}

async fn current_epoch(conn: &Conn, keys: &Keys) -> Result<String, EngineError> {
    EPOCH
        .key(keys.broadcast_seq())
        .key(keys.broadcast_log())
        .key(keys.broadcast_epoch())
        .arg(new_epoch())
        .invoke_async(&mut conn.clone())
        .await
        .map_err(unavailable)
}

async fn read_after(
    conn: &Conn,
    keys: &Keys,
    after: u64,
    limit: Option<usize>,
) -> Result<Vec<BroadcastRecord>, EngineError> {
    let mut range = cmd("ZRANGEBYSCORE");
    range.arg(keys.broadcast_log()).arg(format!("({after}")).arg("+inf");
    if let Some(limit) = limit {
        range.arg("LIMIT").arg(0).arg(limit);
    }
    let ids: Vec<String> = range.query_async(&mut conn.clone()).await.map_err(unavailable)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One slot ({broadcasts}): one pipeline, on a cluster too.
    let mut read = redis::pipe();
    read.get(keys.broadcast_epoch());
    for id in &ids {
        read.cmd("HMGET")
            .arg(keys.broadcast(id))
            .arg("seq")
            .arg("epoch")
            .arg("body");
    }
    let (current, rows): (Option<String>, Vec<StoredFields>) = {
        let mut values: Vec<redis::Value> = read.query_async(&mut conn.clone()).await.map_err(unavailable)?;
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let rows = values.split_off(1);
        let current = values.into_iter().next().map(super::parse).transpose()?.flatten();
        (current, rows.into_iter().map(super::parse).collect::<Result<_, _>>()?)
    };
    // A log written before epochs existed takes one now.
    let current = match current {
        Some(epoch) => Some(epoch),
        None => Some(current_epoch(conn, keys).await?),
    };
    Ok(ids
        .into_iter()
        .zip(rows)
        .filter_map(|(id, (seq, epoch, body))| record(id, seq, epoch.or_else(|| current.clone()), body))
        .collect())
}

/// Starts this node's feed from the log's current position.
pub(super) async fn start_feed(
    options: &RedisOptions,
    conn: &Conn,
    keys: &Keys,
    feed: broadcast::Sender<BroadcastRecord>,
) -> Result<tokio::task::JoinHandle<()>, EngineError> {
    // Read, not started: a node that starts writes nothing until asked to.
    let (epoch, start): (Option<String>, Option<u64>) = redis::pipe()
        .get(keys.broadcast_epoch())
        .get(keys.broadcast_seq())
        .query_async(&mut conn.clone())
        .await
        .map_err(unavailable)?;
    let position = Position {
        epoch,
        last: start.unwrap_or(0),
    };
    Ok(tokio::spawn(run_feed(
        options.target.clone(),
        conn.clone(),
        keys.clone(),
        position,
        feed,
    )))
}

/// How long one attempt to subscribe may take, the sentinels' answer included.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The last record this node's feed delivered.
#[derive(Clone)]
struct Position {
    /// None until the log has an epoch (a log never appended to, or one
    /// written before epochs existed).
    epoch: Option<String>,
    last: u64,
}

impl Position {
    /// Moves to `epoch`, from its start if it is a new one. The first epoch
    /// seen keeps the position: it numbers the same log.
    fn enter(&mut self, epoch: &str) {
        match &self.epoch {
            Some(current) if current == epoch => {}
            Some(_) => {
                self.epoch = Some(epoch.to_owned());
                self.last = 0;
            }
            None => self.epoch = Some(epoch.to_owned()),
        }
    }

    /// Delivers the records of the current epoch past the position, up to
    /// (not including) `before`.
    fn deliver(&mut self, records: Vec<BroadcastRecord>, before: u64, feed: &broadcast::Sender<BroadcastRecord>) {
        for record in records {
            if self.epoch.is_none() {
                self.enter(&record.epoch);
            }
            if self.epoch.as_ref() == Some(&record.epoch) && record.seq > self.last && record.seq < before {
                self.last = record.seq;
                let _ = feed.send(record);
            }
        }
    }
}

/// Pauses between failed reads of the log, from 100 ms doubling up to
/// 5 s: the feed must not move past records it has not read, or this node
/// would never deliver them (nothing else reads them again), so it reads
/// until a read answers. The feed's task is aborted when its engine goes,
/// which ends the retries.
const REREAD_PAUSES: crate::schedule::Pauses = crate::schedule::Pauses {
    first: Duration::from_millis(100),
    longest: Duration::from_secs(5),
    jittered: false,
};

/// The position moved into the log's current epoch (a new one numbers from
/// the start), and the records of that epoch past it.
async fn catch_up(
    conn: &Conn,
    keys: &Keys,
    position: &Position,
) -> Result<(Position, Vec<BroadcastRecord>), EngineError> {
    let epoch: Option<String> = cmd("GET")
        .arg(keys.broadcast_epoch())
        .query_async(&mut conn.clone())
        .await
        .map_err(unavailable)?;
    let mut entered = position.clone();
    if let Some(epoch) = epoch {
        entered.enter(&epoch);
    }
    let records = read_after(conn, keys, entered.last, None).await?;
    Ok((entered, records))
}

/// Reads the log after `after` until a read answers.
async fn read_gap(conn: &Conn, keys: &Keys, after: u64) -> Vec<BroadcastRecord> {
    crate::schedule::until_ok("the broadcast log's gap", REREAD_PAUSES, || {
        read_after(conn, keys, after, None)
    })
    .await
}

/// Relays the `broadcasts` channel into this node's feed, in `seq` order,
/// re-reading the log for any gap (a reconnect, a message published while the
/// subscription was down, a new epoch). On a cluster it moves to the next
/// node when the one it listens on fails; behind sentinels it subscribes on
/// the primary they name at each attempt, so that it follows a failover.
async fn run_feed(
    target: RedisTarget,
    conn: Conn,
    keys: Keys,
    mut position: Position,
    feed: broadcast::Sender<BroadcastRecord>,
) {
    let channel = keys.broadcast_channel();
    for attempt in 0usize.. {
        // Bounded: a server that went away without closing its connections
        // must not hold the feed up; the next attempt asks again.
        let subscribed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, async {
            let client = target.subscriber(attempt).await.ok()?;
            let mut p = client.get_async_pubsub().await.ok()?;
            p.subscribe(&channel).await.ok().map(|()| p)
        })
        .await;
        let pubsub = subscribed.ok().flatten();
        let Some(mut pubsub) = pubsub else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        // Whatever was appended while we were not listening.
        let (entered, missed) = crate::schedule::until_ok("the broadcast log after a reconnect", REREAD_PAUSES, || {
            catch_up(&conn, &keys, &position)
        })
        .await;
        position = entered;
        position.deliver(missed, u64::MAX, &feed);
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            let mut parts = payload.splitn(4, '\n');
            let (Some(seq), Some(epoch), Some(id), Some(body)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(seq) = seq.parse::<u64>() else { continue };
            position.enter(epoch);
            if seq <= position.last {
                continue;
            }
            if seq > position.last + 1 {
                let missed = read_gap(&conn, &keys, position.last).await;
                position.deliver(missed, seq, &feed);
            }
            position.last = seq;
            let _ = feed.send(BroadcastRecord {
                seq,
                epoch: epoch.to_owned(),
                id: id.to_owned(),
                body: body.to_owned(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
