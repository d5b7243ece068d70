//! The production engine: Redis, durable with Redis persistence and shared by
//! every node of a deployment, on one server or on a Redis Cluster.
//!
//! # Key layout (all under the configured prefix, default `campanile:`)
//! Keys that one atomic step touches together share a hash tag (`{…}`), so
//! that they live in one slot of a Redis Cluster; the rest spread freely.
//!
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `seen:{source}:{id}` | string | the chunk that first stored a post id | retention (default 24 h) |
//! | `{b<bucket>}:count:{res}` | hash | cell → items in that time bucket | when the longest window has slid past the bucket |
//! | `{b<bucket>}:applied:{chunk}` | string | marks a chunk's counts as applied to the bucket | with the bucket |
//! | `last:{cell}` | sorted set | contributor hash → last bucket seen in the cell | longest window after the last write; trimmed on write |
//! | `{broadcasts}:seq` | string | the last broadcast `seq` | never (it must only grow) |
//! | `{broadcasts}:msg:{id}` | hash | `seq`, `body` (JSON) | broadcast retention |
//! | `{broadcasts}:log` | sorted set | id by `seq`, capped at 10,000 | broadcast retention after the last append |
//! | `acks:{id}` | hash | commander `sub` → Unix time | broadcast retention |
//! | `{reports}:report:{id}` | string | one report (JSON) | retention |
//! | `{reports}:index` | sorted set | report id by arrival time | retention after the last report |
//! | `{reports}:changes` | stream | every stored report body, in order | retention, at most ~10,000 entries |
//! | `{alerts}:quiet:{key}` | string | an alert was raised for this key | the quiet period |
//! | `{alerts}:changes` | stream | every raised alert, in order | a day, at most ~1,000 entries |
//! | `{alerts}:raised` | sorted set | every raised alert by the time it was raised | a day |
//! | `audit` | stream | one JSON entry per operator action | 30 days after the last entry, at most ~100,000 entries |
//! | `{idem:<slot>}` | hash | an `Idempotency-Key` request: body hash, first attempt's time, lease, then status and answer | retention after the first attempt |
//!
//! Pub/sub channel `broadcasts` carries each appended broadcast.
//!
//! # Writing a batch exactly once
//! A batch is written in chunks, each named by a hash of its posts'
//! fingerprints, which the ingest path salts with the request (a fresh salt
//! per request, or one derived from its `Idempotency-Key`). First every post id is marked seen with that name
//! (`SET NX GET`): an id already held by *another* chunk is a duplicate, one
//! held by this chunk's name is this chunk retried. Then the contributors are
//! folded in (`ZADD GT`, which is idempotent) and the counts are added per
//! bucket by `apply_counts.lua`, which first sets the chunk's marker in that
//! bucket and does nothing if it was already set. A chunk cut off anywhere
//! by a failing Redis can therefore be sent again, by the client's retry, and
//! ends up counted exactly once.
//!
//! A broadcast is appended and published by one script
//! (`append_broadcast.lua`), so that pub/sub order is `seq` order; each node's
//! feed fills any gap it sees from the log, so a dropped subscription loses
//! nothing. Reports are followed through a stream, from the last entry seen.

mod idempotency;

pub use idempotency::RedisIdempotency;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use h3o::CellIndex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, RedisError, RedisFuture, Value, cmd};
use tokio::sync::broadcast;

use super::Bucketed;
use super::{
    BROADCAST_FEED_CAPACITY, BroadcastRecord, CellCount, CountQuery, Engine, EngineError, IngestOutcome, Layout,
    REPORT_FEED_CAPACITY, WRITE_CHUNK, chunk_buckets, chunk_name, timed,
};

/// Audit entries are kept this long after the last one.
const AUDIT_TTL_SECS: i64 = 30 * 24 * 3600;

/// Contributors per `ZADD`, so that no command grows without bound.
const ZADD_MEMBERS: usize = 500;

/// How long a stream feed waits per call.
const STREAM_BLOCK: Duration = Duration::from_millis(1_000);

const APPLY_COUNTS: &str = include_str!("apply_counts.lua");
const SWAP_REPORT: &str = include_str!("swap_report.lua");
const RAISE_ALERT: &str = include_str!("raise_alert.lua");

/// Where Redis is.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    /// One server (possibly with replicas behind a failover address).
    Single(String),
    /// A Redis Cluster, given by some of its nodes.
    Cluster(Vec<String>),
}

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// The server or the cluster.
    pub target: RedisTarget,
    /// Prefix of every key; it may not hold `{` or `}`.
    pub prefix: String,
    /// Give up on a call after this long, so that a dead Redis yields a
    /// prompt 503 instead of a hung request.
    pub response_timeout: Duration,
}

/// A connection to one server or to a cluster; both multiplex and reconnect
/// by themselves.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    async fn open(target: &RedisTarget, response_timeout: Duration) -> Result<Self, RedisError> {
        match target {
            RedisTarget::Single(url) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(response_timeout))
                    .set_response_timeout(Some(response_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                let client = Client::open(url.as_str())?;
                Ok(Conn::Single(ConnectionManager::new_with_config(client, config).await?))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(response_timeout)
                    .response_timeout(response_timeout)
                    .retries(2)
                    .build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// Runs commands that need not be atomic together, answers in order: one
    /// pipeline on a single server; on a cluster, concurrently, each to the
    /// node that owns its key (a cluster pipeline may not cross slots).
    async fn run_each(&self, cmds: Vec<Cmd>) -> Result<Vec<Value>, EngineError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Conn::Single(c) => {
                let mut pipe = redis::pipe();
                for c in cmds {
                    pipe.add_command(c);
                }
                pipe.query_async(&mut c.clone()).await.map_err(unavailable)
            }
            Conn::Cluster(c) => {
                let calls = cmds.into_iter().map(|command| {
                    let mut conn = c.clone();
                    async move { command.query_async::<Value>(&mut conn).await }
                });
                futures_util::future::try_join_all(calls).await.map_err(unavailable)
            }
        }
    }
}

/// Every key the engine writes, in one place so that the hash tags agree.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn seen(&self, dedup_key: &str) -> String {
        format!("{}seen:{dedup_key}", self.prefix)
    }
    fn counts(&self, bucket: i64, res: u8) -> String {
        format!("{}{{b{bucket}}}:count:{res}", self.prefix)
    }
    fn applied(&self, bucket: i64, chunk: &str) -> String {
        format!("{}{{b{bucket}}}:applied:{chunk}", self.prefix)
    }
    fn last(&self, cell: CellIndex) -> String {
        format!("{}last:{cell}", self.prefix)
    }
    fn broadcast_seq(&self) -> String {
        format!("{}{{broadcasts}}:seq", self.prefix)
    }
    fn broadcast_log(&self) -> String {
        format!("{}{{broadcasts}}:log", self.prefix)
    }
    fn broadcast(&self, id: &str) -> String {
        format!("{}{{broadcasts}}:msg:{id}", self.prefix)
    }
    fn broadcast_channel(&self) -> String {
        format!("{}broadcasts", self.prefix)
    }
    fn acks(&self, id: &str) -> String {
        format!("{}acks:{id}", self.prefix)
    }
    fn report(&self, id: &str) -> String {
        format!("{}{{reports}}:report:{id}", self.prefix)
    }
    fn report_index(&self) -> String {
        format!("{}{{reports}}:index", self.prefix)
    }
    fn report_changes(&self) -> String {
        format!("{}{{reports}}:changes", self.prefix)
    }
    fn alert_quiet(&self, key: &str) -> String {
        format!("{}{{alerts}}:quiet:{key}", self.prefix)
    }
    fn alert_changes(&self) -> String {
        format!("{}{{alerts}}:changes", self.prefix)
    }
    fn alerts_raised(&self) -> String {
        format!("{}{{alerts}}:raised", self.prefix)
    }
    fn audit(&self) -> String {
        format!("{}audit", self.prefix)
    }
}

/// The Redis engine.
pub struct RedisEngine {
    conn: Conn,
    layout: Layout,
    keys: Keys,
    append_script: redis::Script,
    feed: broadcast::Sender<BroadcastRecord>,
    report_feed: broadcast::Sender<String>,
    alert_feed: broadcast::Sender<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// When this node last trimmed and refreshed the expiry of each cell's
    /// contributor set (Unix seconds).
    upkept: std::sync::Mutex<Upkept>,
    idempotency: std::sync::Arc<idempotency::RedisIdempotency>,
}

/// Cell → when this node last trimmed its contributor set; forgotten a
/// period later, so that the map holds only cells written recently.
#[derive(Default)]
struct Upkept {
    at: HashMap<CellIndex, i64>,
    swept: i64,
}

/// How often a node trims and re-expires a contributor set it writes to.
/// Doing it on every write cost Redis two commands per cell per chunk, a
/// fifth of its CPU under load; stale members in between are harmless
/// because reads count only members inside the window.
const UPKEEP_SECS: i64 = 60;

impl Drop for RedisEngine {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable(e.to_string())
}

fn parse<T: redis::FromRedisValue>(v: Value) -> Result<T, EngineError> {
    redis::from_redis_value(v).map_err(unavailable)
}

/// The counts one chunk adds to one time bucket.
#[derive(Default)]
struct BucketChanges {
    expires_at: i64,
    per_res: BTreeMap<u8, HashMap<CellIndex, i64>>,
}

impl RedisEngine {
    /// Connects to Redis; fails if it cannot be reached now.
    pub async fn connect(options: &RedisOptions, layout: Layout) -> Result<Self, EngineError> {
        if options.prefix.contains(['{', '}']) {
            return Err(EngineError::Unavailable(
                "the Redis key prefix may not contain { or }: they would break the hash tags".into(),
            ));
        }
        let keys = Keys {
            prefix: options.prefix.clone(),
        };
        let conn = Conn::open(&options.target, options.response_timeout)
            .await
            .map_err(unavailable)?;

        let feed = broadcast::channel(BROADCAST_FEED_CAPACITY).0;
        let start: Option<u64> = cmd("GET")
            .arg(keys.broadcast_seq())
            .query_async(&mut conn.clone())
            .await
            .map_err(unavailable)?;
        let subscribe_urls = match &options.target {
            RedisTarget::Single(url) => vec![url.clone()],
            // A cluster relays PUBLISH to every node: any one will do.
            RedisTarget::Cluster(nodes) => nodes.clone(),
        };
        let broadcast_task = tokio::spawn(run_broadcast_feed(
            subscribe_urls,
            conn.clone(),
            keys.clone(),
            start.unwrap_or(0),
            feed.clone(),
        ));

        let report_feed = broadcast::channel(REPORT_FEED_CAPACITY).0;
        let report_task = follow_stream(options, &conn, keys.report_changes(), report_feed.clone()).await?;
        let alert_feed = broadcast::channel(REPORT_FEED_CAPACITY).0;
        let alert_task = follow_stream(options, &conn, keys.alert_changes(), alert_feed.clone()).await?;

        Ok(Self {
            layout,
            keys,
            append_script: redis::Script::new(include_str!("append_broadcast.lua")),
            feed,
            report_feed,
            alert_feed,
            tasks: vec![broadcast_task, report_task, alert_task],
            upkept: std::sync::Mutex::default(),
            idempotency: std::sync::Arc::new(idempotency::RedisIdempotency::new(conn.clone(), options.prefix.clone())),
            conn,
        })
    }

    async fn ingest_chunk(&self, index: usize, chunk: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        let name = chunk_name(index, chunk);
        let marker = format!("i{name}");

        // 1. Claim every post id for this chunk, and ask whether an earlier
        //    attempt already counted the chunk in each of its buckets.
        let buckets = chunk_buckets(chunk);
        let mut reads: Vec<Cmd> = buckets
            .iter()
            .map(|b| {
                let mut exists = cmd("EXISTS");
                exists.arg(self.keys.applied(*b, &marker));
                exists
            })
            .collect();
        let mut fresh = vec![true; chunk.len()];
        let mut claimed = Vec::new();
        let mut in_chunk = HashSet::new();
        for (i, item) in chunk.iter().enumerate() {
            let Some(key) = &item.dedup_key else { continue };
            if !in_chunk.insert(key.as_str()) {
                fresh[i] = false;
                continue;
            }
            let mut set = cmd("SET");
            set.arg(self.keys.seen(key))
                .arg(&name)
                .arg("NX")
                .arg("GET")
                .arg("EX")
                .arg(self.layout.dedup_secs.max(1));
            reads.push(set);
            claimed.push(i);
        }
        let mut answers = self.conn.run_each(reads).await?.into_iter();
        let mut counted_before = HashSet::new();
        for (bucket, applied) in buckets.iter().zip(answers.by_ref()) {
            if parse::<bool>(applied)? {
                counted_before.insert(*bucket);
            }
        }
        for (i, holder) in claimed.into_iter().zip(answers) {
            fresh[i] = match holder {
                Value::Nil => true,
                Value::BulkString(b) => b == name.as_bytes(),
                _ => false,
            };
        }
        for (item, fresh) in chunk.iter().zip(fresh.iter_mut()) {
            if counted_before.contains(&item.bucket) {
                *fresh = false;
            }
        }
        let accepted = fresh.iter().filter(|f| **f).count() as u64;
        let outcome = IngestOutcome {
            accepted,
            duplicates: chunk.len() as u64 - accepted,
        };

        // 2. Fold the fresh posts into per-bucket counts and per-cell contributors.
        let oldest = self.layout.oldest_useful_bucket(now);
        let mut buckets: BTreeMap<i64, BucketChanges> = BTreeMap::new();
        let mut latest: HashMap<CellIndex, HashMap<u64, i64>> = HashMap::new();
        for item in chunk.iter().zip(&fresh).filter(|(_, f)| **f).map(|(item, _)| item) {
            // Too old for any window: acknowledged, nothing to count.
            if item.bucket < oldest {
                continue;
            }
            let changes = buckets.entry(item.bucket).or_default();
            changes.expires_at = self.layout.bucket_expires_at(item.bucket);
            for cell in &item.cells {
                *changes
                    .per_res
                    .entry(u8::from(cell.resolution()))
                    .or_default()
                    .entry(*cell)
                    .or_default() += 1;
                let seen = latest
                    .entry(*cell)
                    .or_default()
                    .entry(item.contributor)
                    .or_insert(item.bucket);
                *seen = (*seen).max(item.bucket);
            }
        }

        // 3. Contributors first (idempotent), then counts (once per chunk and bucket).
        let mut writes = self.contributor_writes(&latest, oldest, now);
        writes.extend(
            buckets
                .iter()
                .map(|(bucket, changes)| self.apply_counts(*bucket, &marker, changes, 1)),
        );
        self.conn.run_each(writes).await?;
        Ok(outcome)
    }

    fn contributor_writes(&self, latest: &HashMap<CellIndex, HashMap<u64, i64>>, oldest: i64, now: i64) -> Vec<Cmd> {
        // A set refreshed up to UPKEEP_SECS ago must outlive its newest member by a window.
        let ttl = self.layout.longest_window_secs + self.layout.bucket_secs + UPKEEP_SECS;
        let mut upkept = self.upkept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now - upkept.swept >= UPKEEP_SECS {
            upkept.swept = now;
            upkept.at.retain(|_, at| now - *at < UPKEEP_SECS);
        }
        let mut writes = Vec::new();
        for (cell, contributors) in latest {
            let key = self.keys.last(*cell);
            let members: Vec<(&u64, &i64)> = contributors.iter().collect();
            for part in members.chunks(ZADD_MEMBERS) {
                let mut zadd = cmd("ZADD");
                // GT keeps a later bucket already stored by another batch.
                zadd.arg(&key).arg("GT");
                for (contributor, bucket) in part {
                    zadd.arg(**bucket).arg(contributor_member(**contributor));
                }
                writes.push(zadd);
            }
            let last_upkeep = upkept.at.entry(*cell).or_insert(i64::MIN);
            if now.saturating_sub(*last_upkeep) < UPKEEP_SECS {
                continue;
            }
            *last_upkeep = now;
            let mut trim = cmd("ZREMRANGEBYSCORE");
            trim.arg(&key).arg("-inf").arg(format!("({oldest}"));
            writes.push(trim);
            let mut expire = cmd("EXPIRE");
            expire.arg(&key).arg(ttl);
            writes.push(expire);
        }
        writes
    }

    /// One `apply_counts.lua` call: `sign` 1 adds, -1 takes away.
    fn apply_counts(&self, bucket: i64, marker: &str, changes: &BucketChanges, sign: i64) -> Cmd {
        let mut eval = cmd("EVAL");
        eval.arg(APPLY_COUNTS).arg(1 + changes.per_res.len());
        eval.arg(self.keys.applied(bucket, marker));
        for res in changes.per_res.keys() {
            eval.arg(self.keys.counts(bucket, *res));
        }
        eval.arg(changes.expires_at);
        for cells in changes.per_res.values() {
            eval.arg(cells.len());
            for (cell, n) in cells {
                eval.arg(cell.to_string()).arg(sign * n);
            }
        }
        eval
    }

    async fn read_broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
        read_after(&self.conn, &self.keys, after).await
    }
}

fn contributor_member(contributor: u64) -> String {
    format!("{contributor:016x}")
}

#[async_trait]
impl Engine for RedisEngine {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        timed("redis", "ping", async {
            cmd("PING")
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
            for (index, chunk) in batch.chunks(WRITE_CHUNK).enumerate() {
                let outcome = self.ingest_chunk(index, chunk, now).await?;
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
            let reads: Vec<Cmd> = (0..)
                .map(|i| first + i * self.layout.bucket_secs)
                .take_while(|b| *b <= last)
                .map(|bucket| {
                    let mut read = cmd("HGETALL");
                    read.arg(self.keys.counts(bucket, res));
                    read
                })
                .collect();
            // Signed: a moderated report's decrement may land on a bucket alone.
            let mut counts: HashMap<String, i64> = HashMap::new();
            for cells in self.conn.run_each(reads).await? {
                for (cell, n) in parse::<HashMap<String, i64>>(cells)? {
                    *counts.entry(cell).or_default() += n;
                }
            }

            // A field that is not a cell was not written by us; skip it
            // rather than fail the whole map.
            let cells: Vec<(CellIndex, u64)> = counts
                .into_iter()
                .filter_map(|(cell, n)| {
                    let n = u64::try_from(n).ok().filter(|n| *n > 0)?;
                    Some((cell.parse::<CellIndex>().ok()?, n))
                })
                .collect();
            let distinct: Vec<Cmd> = cells
                .iter()
                .map(|(cell, _)| {
                    let mut zcount = cmd("ZCOUNT");
                    zcount.arg(self.keys.last(*cell)).arg(first).arg("+inf");
                    zcount
                })
                .collect();
            let contributors = self.conn.run_each(distinct).await?;
            cells
                .into_iter()
                .zip(contributors)
                .map(|((cell, count), contributors)| {
                    Ok(CellCount {
                        cell,
                        count,
                        contributors: parse(contributors)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError> {
        let res = u8::from(self.layout.resolutions.coarsest());
        let buckets: Vec<i64> = (0..)
            .map(|i| self.layout.bucket_start(first) + i * self.layout.bucket_secs)
            .take_while(|b| *b <= last)
            .collect();
        let reads: Vec<Cmd> = buckets
            .iter()
            .map(|b| {
                let mut read = cmd("HVALS");
                read.arg(self.keys.counts(*b, res));
                read
            })
            .collect();
        let values = self.conn.run_each(reads).await?;
        buckets
            .into_iter()
            .zip(values)
            .map(|(b, v)| {
                let v: Vec<i64> = parse(v)?;
                Ok((b, u64::try_from(v.iter().sum::<i64>()).unwrap_or(0)))
            })
            .collect()
    }

    async fn append_broadcast(&self, id: &str, body: &str, _now: i64) -> Result<u64, EngineError> {
        let mut conn = self.conn.clone();
        timed("redis", "append_broadcast", async {
            self.append_script
                .key(self.keys.broadcast_seq())
                .key(self.keys.broadcast_log())
                .key(self.keys.broadcast(id))
                .arg(id)
                .arg(body)
                .arg(self.layout.broadcast_secs.max(1))
                .arg(self.layout.broadcast_max)
                .arg(self.keys.broadcast_channel())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)
        })
        .await
    }

    async fn broadcasts_after(&self, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
        self.read_broadcasts_after(after).await
    }

    async fn broadcast(&self, id: &str) -> Result<Option<BroadcastRecord>, EngineError> {
        let mut conn = self.conn.clone();
        let (seq, body): (Option<u64>, Option<String>) = cmd("HMGET")
            .arg(self.keys.broadcast(id))
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
        let key = self.keys.acks(id);
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
        let acks: HashMap<String, i64> = cmd("HGETALL")
            .arg(self.keys.acks(id))
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
        let index = self.keys.report_index();
        let changes = self.keys.report_changes();
        // One slot ({reports}), one transaction: stored, indexed and
        // announced together.
        let _: () = redis::pipe()
            .atomic()
            .set_ex(self.keys.report(id), body, ttl as u64)
            .ignore()
            .zadd(&index, id, received_at)
            .ignore()
            .zrembyscore(&index, "-inf", format!("({}", received_at - ttl))
            .ignore()
            .expire(&index, ttl)
            .ignore()
            .cmd("XADD")
            .arg(&changes)
            .arg("MAXLEN")
            .arg("~")
            .arg(10_000)
            .arg("*")
            .arg("body")
            .arg(body)
            .ignore()
            .expire(&changes, ttl)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn swap_report(&self, id: &str, expected: &str, body: &str, _received_at: i64) -> Result<bool, EngineError> {
        let mut conn = self.conn.clone();
        cmd("EVAL")
            .arg(SWAP_REPORT)
            .arg(2)
            .arg(self.keys.report(id))
            .arg(self.keys.report_changes())
            .arg(expected)
            .arg(body)
            .arg(self.layout.dedup_secs.max(1))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    fn report_feed(&self) -> broadcast::Receiver<String> {
        self.report_feed.subscribe()
    }

    async fn raise_alert(&self, key: &str, body: &str, quiet_secs: i64, now: i64) -> Result<bool, EngineError> {
        let mut conn = self.conn.clone();
        cmd("EVAL")
            .arg(RAISE_ALERT)
            .arg(3)
            .arg(self.keys.alert_quiet(key))
            .arg(self.keys.alert_changes())
            .arg(self.keys.alerts_raised())
            .arg(now)
            .arg(now + quiet_secs.max(1))
            .arg(body)
            .arg(super::ALERT_RETENTION_SECS)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    fn alert_feed(&self) -> broadcast::Receiver<String> {
        self.alert_feed.subscribe()
    }

    async fn alerts_since(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let mut conn = self.conn.clone();
        cmd("ZRANGEBYSCORE")
            .arg(self.keys.alerts_raised())
            .arg(since)
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn report(&self, id: &str) -> Result<Option<String>, EngineError> {
        let mut conn = self.conn.clone();
        cmd("GET")
            .arg(self.keys.report(id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = cmd("ZRANGEBYSCORE")
            .arg(self.keys.report_index())
            .arg(since)
            .arg("+inf")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.report(id)).collect();
        let bodies: Vec<Option<String>> = cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(bodies.into_iter().flatten().collect())
    }

    async fn uncount(&self, item: &Bucketed) -> Result<(), EngineError> {
        let mut changes = BucketChanges {
            expires_at: self.layout.bucket_expires_at(item.bucket),
            per_res: BTreeMap::new(),
        };
        let mut writes = Vec::new();
        for cell in &item.cells {
            changes
                .per_res
                .entry(u8::from(cell.resolution()))
                .or_default()
                .insert(*cell, 1);
            let mut zrem = cmd("ZREM");
            zrem.arg(self.keys.last(*cell))
                .arg(contributor_member(item.contributor));
            writes.push(zrem);
        }
        let marker = format!("u{:016x}", item.fingerprint);
        writes.push(self.apply_counts(item.bucket, &marker, &changes, -1));
        self.conn.run_each(writes).await?;
        Ok(())
    }

    async fn append_audit(&self, entry: &str) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        let key = self.keys.audit();
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

    fn idempotency(&self) -> std::sync::Arc<dyn super::idempotency::IdempotencyStore> {
        self.idempotency.clone()
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError> {
        let mut conn = self.conn.clone();
        let entries: Vec<(String, HashMap<String, String>)> = cmd("XREVRANGE")
            .arg(self.keys.audit())
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

async fn read_after(conn: &Conn, keys: &Keys, after: u64) -> Result<Vec<BroadcastRecord>, EngineError> {
    let ids: Vec<String> = cmd("ZRANGEBYSCORE")
        .arg(keys.broadcast_log())
        .arg(format!("({after}"))
        .arg("+inf")
        .query_async(&mut conn.clone())
        .await
        .map_err(unavailable)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One slot ({broadcasts}): one pipeline, on a cluster too.
    let mut read = redis::pipe();
    for id in &ids {
        read.cmd("HMGET").arg(keys.broadcast(id)).arg("seq").arg("body");
    }
    let rows: Vec<(Option<u64>, Option<String>)> = read.query_async(&mut conn.clone()).await.map_err(unavailable)?;
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
/// subscription was down). On a cluster it moves to the next node when the
/// one it listens on fails.
async fn run_broadcast_feed(
    urls: Vec<String>,
    conn: Conn,
    keys: Keys,
    mut last: u64,
    feed: broadcast::Sender<BroadcastRecord>,
) {
    let channel = keys.broadcast_channel();
    for url in urls.iter().cycle() {
        let pubsub = match Client::open(url.as_str()) {
            Ok(client) => match client.get_async_pubsub().await {
                Ok(mut p) => p.subscribe(&channel).await.ok().map(|()| p),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let Some(mut pubsub) = pubsub else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        // Whatever was appended while we were not listening.
        if let Ok(missed) = read_after(&conn, &keys, last).await {
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
                && let Ok(missed) = read_after(&conn, &keys, last).await
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

/// Starts following `stream` from its newest entry, on a connection of its
/// own so that the blocking reads never hold up the shared one.
async fn follow_stream(
    options: &RedisOptions,
    conn: &Conn,
    stream: String,
    feed: broadcast::Sender<String>,
) -> Result<tokio::task::JoinHandle<()>, EngineError> {
    let blocking = Conn::open(&options.target, options.response_timeout + STREAM_BLOCK)
        .await
        .map_err(unavailable)?;
    let newest: Vec<(String, Value)> = cmd("XREVRANGE")
        .arg(&stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn.clone())
        .await
        .map_err(unavailable)?;
    let last = newest.into_iter().next().map_or_else(|| "0-0".to_owned(), |(id, _)| id);
    Ok(tokio::spawn(run_stream_feed(blocking, stream, last, feed)))
}

/// Follows a stream from entry `last` on, so that a node that loses Redis
/// for a while resumes exactly where it stopped.
async fn run_stream_feed(conn: Conn, stream: String, mut last: String, feed: broadcast::Sender<String>) {
    loop {
        type Entries = Vec<(String, Vec<(String, HashMap<String, String>)>)>;
        let read: Result<Option<Entries>, RedisError> = cmd("XREAD")
            .arg("COUNT")
            .arg(500)
            .arg("BLOCK")
            .arg(STREAM_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last)
            .query_async(&mut conn.clone())
            .await;
        match read {
            Ok(streams) => {
                for (_, entries) in streams.unwrap_or_default() {
                    for (id, mut fields) in entries {
                        last = id;
                        if let Some(body) = fields.remove("body") {
                            let _ = feed.send(body);
                        }
                    }
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
