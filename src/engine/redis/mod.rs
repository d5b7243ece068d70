//! The production engine: Redis, durable with Redis persistence and shared by
//! every node of a deployment, on one server or on a Redis Cluster.
//!
//! This file holds what every store shares: the connection (one server or a
//! cluster), the engine's health and the stream follower that feeds reports
//! and alerts to every node. Each store is a file of its own beside it
//! (`counts.rs`, `broadcast_log.rs`, `reports.rs`, `rumours.rs`, `alerts.rs`, `audit.rs`,
//! `idempotency.rs`), every key name is in `keys.rs`, and every Lua script
//! is a file under `scripts/`, run through [`redis::Script`] (by its SHA,
//! loaded again whenever a server has lost it).

mod alerts;
mod audit;
mod broadcast_log;
mod counts;
mod crowd;
mod idempotency;
mod keys;
mod reports;
mod rumours;
mod texts;

pub use idempotency::RedisIdempotency;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, ErrorKind, RedisError, RedisFuture, Script, ServerErrorKind, Value, cmd};
use tokio::sync::broadcast;

use self::keys::Keys;
use super::idempotency::IdempotencyStore;
use super::{
    ALERT_FEED_CAPACITY, BroadcastRecord, Engine, EngineError, Layout, Page, REPORT_FEED_CAPACITY, offset_cursor, timed,
};

/// How long a stream feed waits per call.
const STREAM_BLOCK: Duration = Duration::from_millis(1_000);

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
    /// Replicas that must confirm a write before it is acknowledged (Redis
    /// `WAIT`); 0 does not wait.
    pub wait_replicas: u32,
}

/// A connection to one server or to a cluster; both multiplex and reconnect
/// by themselves.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(Cluster),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => Box::pin(async move {
                let answer = c.current().req_packed_command(cmd).await;
                c.observe(&answer);
                answer
            }),
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
            Conn::Cluster(c) => Box::pin(async move {
                let answer = c.current().req_packed_commands(pipeline, offset, count).await;
                c.observe(&answer);
                answer
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.current().get_db(),
        }
    }
}

/// A Redis Cluster connection that is built again from the configured nodes
/// when a call fails for want of a node (a timeout, a dropped or refused
/// connection).
///
/// The client refreshes its slot map by itself on MOVED, ASK and READONLY
/// answers, but a master killed outright answers nothing: the client keeps
/// repairing that node's connection, and under ingest it was seen to time
/// out every call, to every node, long after the cluster had promoted the
/// replica. A new connection asks a live node for the slot map and so
/// routes to the promoted replica. Rebuilds come at most once per response timeout, so a
/// cluster that is down altogether costs one connection attempt per node
/// and period.
#[derive(Clone)]
struct Cluster(Arc<ClusterShared>);

struct ClusterShared {
    nodes: Vec<String>,
    response_timeout: Duration,
    current: std::sync::RwLock<ClusterConnection>,
    rebuilds: std::sync::Mutex<Rebuilds>,
}

struct Rebuilds {
    under_way: bool,
    last: tokio::time::Instant,
}

impl Cluster {
    async fn connect(nodes: &[String], response_timeout: Duration) -> Result<ClusterConnection, RedisError> {
        ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(response_timeout)
            .response_timeout(response_timeout)
            .retries(2)
            .build()?
            .get_async_connection()
            .await
    }

    async fn open(nodes: &[String], response_timeout: Duration) -> Result<Self, RedisError> {
        let conn = Self::connect(nodes, response_timeout).await?;
        Ok(Self(Arc::new(ClusterShared {
            nodes: nodes.to_vec(),
            response_timeout,
            current: std::sync::RwLock::new(conn),
            rebuilds: std::sync::Mutex::new(Rebuilds {
                under_way: false,
                last: tokio::time::Instant::now(),
            }),
        })))
    }

    fn current(&self) -> ClusterConnection {
        // A poisoned lock still holds a whole connection: only a clone or a
        // swap ever ran under it.
        self.0.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts a rebuild when `answer` says a node could not be reached.
    fn observe<T>(&self, answer: &Result<T, RedisError>) {
        let Err(e) = answer else { return };
        let unreachable = e.is_timeout() || e.is_io_error() || e.kind() == ErrorKind::ClusterConnectionNotFound;
        if !unreachable {
            return;
        }
        {
            let mut rebuilds = self.0.rebuilds.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            if rebuilds.under_way || now.duration_since(rebuilds.last) < self.0.response_timeout {
                return;
            }
            rebuilds.under_way = true;
            rebuilds.last = now;
        }
        let shared = self.0.clone();
        let cause = e.to_string();
        tokio::spawn(async move {
            // Connecting waits on each node for the response timeout at most;
            // the bound covers the slot map and the connections after it.
            let fresh = tokio::time::timeout(
                shared.response_timeout * 4,
                Self::connect(&shared.nodes, shared.response_timeout),
            )
            .await;
            match fresh {
                Ok(Ok(conn)) => {
                    *shared.current.write().unwrap_or_else(|e| e.into_inner()) = conn;
                    tracing::warn!(%cause, "Redis Cluster connection rebuilt from the configured nodes");
                }
                Ok(Err(error)) => tracing::warn!(%cause, %error, "rebuilding the Redis Cluster connection failed"),
                Err(_) => tracing::warn!(%cause, "rebuilding the Redis Cluster connection timed out"),
            }
            let mut rebuilds = shared.rebuilds.lock().unwrap_or_else(|e| e.into_inner());
            rebuilds.under_way = false;
            rebuilds.last = tokio::time::Instant::now();
        });
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
            RedisTarget::Cluster(nodes) => Ok(Conn::Cluster(Cluster::open(nodes, response_timeout).await?)),
        }
    }

    /// Runs commands that need not be atomic together, answers in order: one
    /// pipeline on a single server; on a cluster, concurrently, each to the
    /// node that owns its key (a cluster pipeline may not cross slots).
    ///
    /// `scripts` are those the commands run by SHA: a server that has lost
    /// them (a restart, a new cluster node) gets them loaded and the
    /// commands run again, which every caller's writes allow, being
    /// idempotent.
    async fn run_each(&self, cmds: Vec<Cmd>, scripts: &[&Script]) -> Result<Vec<Value>, EngineError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self.run_each_once(&cmds).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) && !scripts.is_empty() => {
                for script in scripts {
                    script.load_async(&mut self.clone()).await.map_err(unavailable)?;
                }
                self.run_each_once(&cmds).await.map_err(unavailable)
            }
            answers => answers.map_err(unavailable),
        }
    }

    async fn run_each_once(&self, cmds: &[Cmd]) -> Result<Vec<Value>, RedisError> {
        match self {
            Conn::Single(c) => {
                let mut pipe = redis::pipe();
                for c in cmds {
                    pipe.add_command(c.clone());
                }
                pipe.query_async(&mut c.clone()).await
            }
            Conn::Cluster(_) => {
                let calls = cmds.iter().map(|command| {
                    let mut conn = self.clone();
                    async move { command.query_async::<Value>(&mut conn).await }
                });
                futures_util::future::try_join_all(calls).await
            }
        }
    }
}

/// The Redis engine.
pub struct RedisEngine {
    conn: Conn,
    layout: Layout,
    keys: Keys,
    broadcast_feed: broadcast::Sender<BroadcastRecord>,
    report_feed: broadcast::Sender<String>,
    alert_feed: broadcast::Sender<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    upkept: std::sync::Mutex<counts::Upkept>,
    idempotency: Arc<RedisIdempotency>,
    wait_replicas: u32,
    /// How long `WAIT` may block: well inside the response timeout, so that
    /// a missing replica is told as such rather than as a timeout.
    wait_timeout: Duration,
}

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

impl RedisEngine {
    /// Connects to Redis; fails if it cannot be reached now.
    pub async fn connect(options: &RedisOptions, layout: Layout) -> Result<Self, EngineError> {
        let keys = Keys::new(&options.prefix).ok_or_else(|| {
            EngineError::Unavailable(
                "the Redis key prefix may not contain { or }: they would break the hash tags".into(),
            )
        })?;
        let conn = Conn::open(&options.target, options.response_timeout)
            .await
            .map_err(unavailable)?;

        let broadcast_feed = broadcast::channel(super::BROADCAST_FEED_CAPACITY).0;
        let broadcast_task = broadcast_log::start_feed(options, &conn, &keys, broadcast_feed.clone()).await?;

        let report_feed = broadcast::channel(REPORT_FEED_CAPACITY).0;
        let report_task = follow_stream(options, &conn, keys.report_changes(), report_feed.clone()).await?;
        let alert_feed = broadcast::channel(ALERT_FEED_CAPACITY).0;
        let alert_task = follow_stream(options, &conn, keys.alert_changes(), alert_feed.clone()).await?;

        Ok(Self {
            layout,
            idempotency: Arc::new(RedisIdempotency::new(conn.clone(), keys.clone())),
            keys,
            broadcast_feed,
            report_feed,
            alert_feed,
            tasks: vec![broadcast_task, report_task, alert_task],
            upkept: std::sync::Mutex::default(),
            conn,
            wait_replicas: options.wait_replicas,
            wait_timeout: options.response_timeout / 2,
        })
    }

    /// Waits until `--redis-wait-replicas` replicas have every write this
    /// node sent so far; called before a write is acknowledged. `WAIT` covers
    /// all earlier writes on the connection, which is one per server (a
    /// cluster's goes to every master and answers for the least replicated).
    async fn replicated(&self) -> Result<(), EngineError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let wanted = self.wait_replicas;
        let millis = self.wait_timeout.as_millis() as u64;
        timed("redis", "wait_replicas", async {
            let confirmed: i64 = cmd("WAIT")
                .arg(wanted)
                .arg(millis)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            if confirmed < i64::from(wanted) {
                return Err(EngineError::Unavailable(format!(
                    "only {confirmed} of {wanted} Redis replicas confirmed the write within {millis} ms"
                )));
            }
            Ok(())
        })
        .await
    }

    /// One page, from an [`offset_cursor`], of the members of the sorted set
    /// `key` scored in `[from, to]`, in the set's order (by score, then by
    /// member), so that the order holds between pages.
    async fn scored_page(
        &self,
        key: String,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        let start = offset_cursor(cursor);
        let items: Vec<String> = cmd("ZRANGEBYSCORE")
            .arg(key)
            .arg(from)
            .arg(to)
            .arg("LIMIT")
            .arg(start)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let next = (items.len() == limit && limit > 0).then(|| (start + items.len()).to_string());
        Ok(Page { items, next })
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
            cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    fn idempotency(&self) -> Arc<dyn IdempotencyStore> {
        self.idempotency.clone()
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
