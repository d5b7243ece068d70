//! The production engine: Redis, durable with Redis persistence and shared by
//! every node of a deployment.
//!
//! # Key layout (all under the configured prefix, default `campanile:`)
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `seen:{source}:{id}` | string | a post id already counted | retention (default 24 h) |
//! | `count:{res}:{bucket}` | hash | cell → items in that time bucket | when the longest window has slid past the bucket |
//! | `last:{cell}` | sorted set | contributor hash → last bucket seen in the cell | longest window after the last write; trimmed on write |
//!
//! | `broadcast:seq` | string | the last broadcast `seq` | never (it must only grow) |
//! | `broadcast:{id}` | hash | `seq`, `body` (JSON) | broadcast retention |
//! | `broadcasts` | sorted set | id by `seq`, capped at 10,000 | broadcast retention after the last append |
//! | `acks:{id}` | hash | commander `sub` → Unix time | broadcast retention |
//! | `report:{id}` | string | one report (JSON) | retention |
//! | `reports` | sorted set | report id by arrival time | retention after the last report |
//! | `audit` | stream | one JSON entry per operator action | 30 days after the last entry, at most ~100,000 entries |
//!
//! Writes go through one Lua script per chunk of a batch (`ingest.lua`) so
//! that de-duplication and counting are one atomic step. A broadcast is
//! appended and published on the `broadcasts` channel by one script
//! (`append_broadcast.lua`), so that pub/sub order is `seq` order; each node's
//! feed task fills any gap it sees from the log, so a dropped subscription
//! loses nothing.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use h3o::CellIndex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::{
    BROADCAST_FEED_CAPACITY, BroadcastRecord, CellCount, CountQuery, Engine, EngineError, IngestOutcome, Layout, timed,
};

/// Audit entries are kept this long after the last one.
const AUDIT_TTL_SECS: i64 = 30 * 24 * 3600;
use crate::ingest::Bucketed;

/// Posts per script call: large enough to amortise the round trip, small
/// enough that one call never blocks Redis for long.
const CHUNK: usize = 500;

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key.
    pub prefix: String,
    /// Give up on a call after this long, so that a dead Redis yields a
    /// prompt 503 instead of a hung request.
    pub response_timeout: Duration,
}

/// The Redis engine.
pub struct RedisEngine {
    conn: ConnectionManager,
    layout: Layout,
    prefix: String,
    ingest_script: Script,
    append_script: Script,
    feed: broadcast::Sender<BroadcastRecord>,
    feed_task: tokio::task::JoinHandle<()>,
}

impl Drop for RedisEngine {
    fn drop(&mut self) {
        self.feed_task.abort();
    }
}

fn unavailable(e: redis::RedisError) -> EngineError {
    EngineError::Unavailable(e.to_string())
}

impl RedisEngine {
    /// Connects to Redis; fails if it cannot be reached now.
    pub async fn connect(options: &RedisOptions, layout: Layout) -> Result<Self, EngineError> {
        let client = Client::open(options.url.as_str()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.response_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(unavailable)?;
        let feed = broadcast::channel(BROADCAST_FEED_CAPACITY).0;
        let start: Option<u64> = redis::cmd("GET")
            .arg(format!("{}broadcast:seq", options.prefix))
            .query_async(&mut conn.clone())
            .await
            .map_err(unavailable)?;
        let feed_task = tokio::spawn(run_feed(
            client,
            conn.clone(),
            options.prefix.clone(),
            start.unwrap_or(0),
            feed.clone(),
        ));
        Ok(Self {
            conn,
            layout,
            prefix: options.prefix.clone(),
            ingest_script: Script::new(include_str!("ingest.lua")),
            append_script: Script::new(include_str!("append_broadcast.lua")),
            feed,
            feed_task,
        })
    }

    async fn ingest_chunk(&self, chunk: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        let resolutions: Vec<u8> = self.layout.resolutions.iter().map(u8::from).collect();
        let oldest = self.layout.oldest_useful_bucket(now);
        let mut call = self.ingest_script.prepare_invoke();
        call.arg(&self.prefix)
            .arg(self.layout.dedup_secs.max(1))
            .arg(self.layout.longest_window_secs + self.layout.bucket_secs)
            .arg(oldest)
            .arg(resolutions.len());
        // One argument each: a Vec<u8> would go as a single binary string.
        for res in &resolutions {
            call.arg(*res);
        }
        for item in chunk {
            let expires_at = if item.bucket < oldest {
                0
            } else {
                self.layout.bucket_expires_at(item.bucket)
            };
            call.arg(item.dedup_key.as_deref().unwrap_or(""))
                .arg(format!("{:016x}", item.contributor))
                .arg(item.bucket)
                .arg(expires_at);
            for cell in &item.cells {
                call.arg(cell.to_string());
            }
        }
        let mut conn = self.conn.clone();
        let (accepted, duplicates): (u64, u64) = call.invoke_async(&mut conn).await.map_err(unavailable)?;
        Ok(IngestOutcome { accepted, duplicates })
    }
}

#[async_trait]
impl Engine for RedisEngine {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        timed("redis", "ping", async {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        timed("redis", "ingest", async {
            let mut total = IngestOutcome::default();
            for chunk in batch.chunks(CHUNK) {
                let outcome = self.ingest_chunk(chunk, now).await?;
                total.accepted += outcome.accepted;
                total.duplicates += outcome.duplicates;
            }
            Ok(total)
        })
        .await
    }

    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        timed("redis", "counts", async {
            let res = u8::from(query.res);
            let first = self.layout.first_bucket(query.window_secs, query.now);
            let last = self.layout.bucket_start(query.now);
            let mut conn = self.conn.clone();

            let mut read = redis::pipe();
            let mut bucket = first;
            while bucket <= last {
                read.hgetall(format!("{}count:{res}:{bucket}", self.prefix));
                bucket += self.layout.bucket_secs;
            }
            // Signed: a moderated report's decrement may land on a bucket alone.
            let per_bucket: Vec<HashMap<String, i64>> = read.query_async(&mut conn).await.map_err(unavailable)?;
            let mut counts: HashMap<String, i64> = HashMap::new();
            for cells in per_bucket {
                for (cell, n) in cells {
                    *counts.entry(cell).or_default() += n;
                }
            }

            let cells: Vec<(String, u64)> = counts
                .into_iter()
                .filter_map(|(cell, n)| u64::try_from(n).ok().filter(|n| *n > 0).map(|n| (cell, n)))
                .collect();
            let mut distinct = redis::pipe();
            for (cell, _) in &cells {
                distinct.zcount(format!("{}last:{cell}", self.prefix), first, "+inf");
            }
            let contributors: Vec<u64> = if cells.is_empty() {
                Vec::new()
            } else {
                distinct.query_async(&mut conn).await.map_err(unavailable)?
            };
            Ok(cells
                .into_iter()
                .zip(contributors)
                .filter_map(|((cell, count), contributors)| {
                    // A field that is not a cell was not written by us; skip it
                    // rather than fail the whole map.
                    let cell = cell.parse::<CellIndex>().ok()?;
                    Some(CellCount {
                        cell,
                        count,
                        contributors,
                    })
                })
                .collect())
        })
        .await
    }

    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError> {
        let res = u8::from(self.layout.resolutions.coarsest());
        let mut conn = self.conn.clone();
        let buckets: Vec<i64> = (0..)
            .map(|i| self.layout.bucket_start(first) + i * self.layout.bucket_secs)
            .take_while(|b| *b <= last)
            .collect();
        let mut read = redis::pipe();
        for b in &buckets {
            read.hvals(format!("{}count:{res}:{b}", self.prefix));
        }
        let values: Vec<Vec<i64>> = read.query_async(&mut conn).await.map_err(unavailable)?;
        Ok(buckets
            .into_iter()
            .zip(values)
            .map(|(b, v)| (b, u64::try_from(v.iter().sum::<i64>()).unwrap_or(0)))
            .collect())
    }

    async fn append_broadcast(&self, id: &str, body: &str, _now: i64) -> Result<u64, EngineError> {
        let mut conn = self.conn.clone();
        timed("redis", "append_broadcast", async {
            self.append_script
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(id)
                .arg(body)
                .arg(self.layout.broadcast_secs.max(1))
                .arg(self.layout.broadcast_max)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)
        })
        .await
    }

    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
        read_after(&mut self.conn.clone(), &self.prefix, after).await
    }

    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError> {
        let mut conn = self.conn.clone();
        let (seq, body): (Option<u64>, Option<String>) = redis::cmd("HMGET")
            .arg(format!("{}broadcast:{id}", self.prefix))
            .arg("seq")
            .arg("body")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(seq.zip(body).map(|(seq, body)| BroadcastRecord {
            seq,
            id: id.to_owned(),
            body,
        }))
    }

    fn broadcast_feed(&self) -> broadcast::Receiver<BroadcastRecord> {
        self.feed.subscribe()
    }

    async fn acknowledge(&self, id: &str, sub: &str, at: i64) -> Result<bool, EngineError> {
        let mut conn = self.conn.clone();
        let key = format!("{}acks:{id}", self.prefix);
        let (new, _): (bool, i64) = redis::pipe()
            .atomic()
            .hset_nx(&key, sub, at)
            .expire(&key, self.layout.broadcast_secs.max(1))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(new)
    }

    async fn acknowledgements(&self, id: &str) -> Result<Vec<(String, i64)>, EngineError> {
        let mut conn = self.conn.clone();
        let acks: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(format!("{}acks:{id}", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut acks: Vec<(String, i64)> = acks.into_iter().collect();
        acks.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(acks)
    }

    async fn put_report(&self, id: &str, body: &str, received_at: i64) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        let ttl = self.layout.dedup_secs.max(1);
        let index = format!("{}reports", self.prefix);
        let _: () = redis::pipe()
            .atomic()
            .set_ex(format!("{}report:{id}", self.prefix), body, ttl as u64)
            .ignore()
            .zadd(&index, id, received_at)
            .ignore()
            .zrembyscore(&index, "-inf", format!("({}", received_at - ttl))
            .ignore()
            .expire(&index, ttl)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn report(&self, id: &str) -> Result<Option<String>, EngineError> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(format!("{}report:{id}", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(format!("{}reports", self.prefix))
            .arg(since)
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| format!("{}report:{id}", self.prefix)).collect();
        let bodies: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(bodies.into_iter().flatten().collect())
    }

    async fn uncount(&self, item: &Bucketed) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for cell in &item.cells {
            let res = u8::from(cell.resolution());
            pipe.hincr(
                format!("{}count:{res}:{}", self.prefix, item.bucket),
                cell.to_string(),
                -1,
            )
            .ignore()
            .zrem(
                format!("{}last:{cell}", self.prefix),
                format!("{:016x}", item.contributor),
            )
            .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        Ok(())
    }

    async fn append_audit(&self, entry: &str) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        let key = format!("{}audit", self.prefix);
        let _: (String, i64) = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("entry")
            .arg(entry)
            .expire(&key, AUDIT_TTL_SECS)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError> {
        let mut conn = self.conn.clone();
        let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XREVRANGE")
            .arg(format!("{}audit", self.prefix))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(entries
            .into_iter()
            .filter_map(|(_, mut fields)| fields.remove("entry"))
            .collect())
    }
}

async fn read_after(
    conn: &mut ConnectionManager,
    prefix: &str,
    after: u64,
) -> Result<Vec<BroadcastRecord>, EngineError> {
    let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(format!("{prefix}broadcasts"))
        .arg(format!("({after}"))
        .arg("+inf")
        .query_async(conn)
        .await
        .map_err(unavailable)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut read = redis::pipe();
    for id in &ids {
        read.cmd("HMGET")
            .arg(format!("{prefix}broadcast:{id}"))
            .arg("seq")
            .arg("body");
    }
    let rows: Vec<(Option<u64>, Option<String>)> = read.query_async(conn).await.map_err(unavailable)?;
    // A message past its retention is gone from its hash before the log is trimmed: skip it.
    Ok(ids
        .into_iter()
        .zip(rows)
        .filter_map(|(id, (seq, body))| {
            Some(BroadcastRecord {
                seq: seq?,
                id,
                body: body?,
            })
        })
        .collect())
}

/// Relays the `broadcasts` channel into this node's feed, in `seq` order,
/// re-reading the log for any gap (a reconnect, a message published while the
/// subscription was down).
async fn run_feed(
    client: Client,
    mut conn: ConnectionManager,
    prefix: String,
    mut last: u64,
    feed: broadcast::Sender<BroadcastRecord>,
) {
    let channel = format!("{prefix}broadcasts");
    loop {
        let pubsub = match client.get_async_pubsub().await {
            Ok(mut p) => match p.subscribe(&channel).await {
                Ok(()) => Some(p),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let Some(mut pubsub) = pubsub else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        // Whatever was appended while we were not listening.
        if let Ok(missed) = read_after(&mut conn, &prefix, last).await {
            for record in missed {
                last = record.seq;
                let _ = feed.send(record);
            }
        }
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            let mut parts = payload.splitn(3, '\n');
            let (Some(seq), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(seq) = seq.parse::<u64>() else { continue };
            if seq <= last {
                continue;
            }
            if seq > last + 1
                && let Ok(missed) = read_after(&mut conn, &prefix, last).await
            {
                for record in missed.into_iter().filter(|r| r.seq < seq) {
                    let _ = feed.send(record);
                }
            }
            last = seq;
            let _ = feed.send(BroadcastRecord {
                seq,
                id: id.to_owned(),
                body: body.to_owned(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
