//! The production engine: Redis, durable with Redis persistence and shared by
//! every node of a deployment, on one server, on a primary with replicas
//! watched by Redis Sentinel, or on a Redis Cluster.
//!
//! This file holds what every store shares: the connection (one server, the
//! primary the sentinels name, or a cluster), the engine's health and the stream follower that feeds reports
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
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, RedisError, RedisFuture, Script, ServerErrorKind, Value, cmd,
};
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
    /// A primary with replicas, found through the Redis Sentinels that
    /// monitor it under the name `master`.
    Sentinel {
        /// `redis://…` of the sentinels.
        sentinels: Vec<String>,
        /// The name the sentinels monitor the primary under.
        master: String,
    },
}

impl RedisTarget {
    /// A client for a pub/sub connection, the `attempt`th since the feed
    /// started: on a cluster each attempt takes the next node, so that a
    /// dead one is left behind; behind sentinels each asks them for the
    /// current primary, so that a feed follows a failover.
    async fn subscriber(&self, attempt: usize) -> Result<Client, RedisError> {
        match self {
            RedisTarget::Single(url) => Client::open(url.as_str()),
            // A cluster relays PUBLISH to every node: any one will do.
            RedisTarget::Cluster(nodes) => match nodes.get(attempt % nodes.len().max(1)) {
                Some(node) => Client::open(node.as_str()),
                None => Err(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "no cluster node given",
                ))),
            },
            RedisTarget::Sentinel { sentinels, master } => {
                SentinelMaster::client(sentinels, master)?.async_get_client().await
            }
        }
    }
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

/// A connection to one server, to the primary the sentinels name, or to a
/// cluster; each multiplexes and reconnects by itself.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(Rebuilt<ClusterNodes>),
    Sentinel(Rebuilt<SentinelMaster>),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
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
            Conn::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// How a connection that must follow the deployment is made again: from
/// the cluster's configured nodes, or to the primary the sentinels name now.
trait Connector: Send + Sync + 'static {
    type Conn: redis::aio::ConnectionLike + Clone + Send + Sync + 'static;

    /// What the log calls the connection.
    const NAME: &'static str;

    fn connect(&self, response_timeout: Duration) -> impl Future<Output = Result<Self::Conn, RedisError>> + Send;
}

/// A Redis Cluster, built from some of its nodes.
struct ClusterNodes(Vec<String>);

impl Connector for ClusterNodes {
    type Conn = ClusterConnection;
    const NAME: &'static str = "Redis Cluster";

    async fn connect(&self, response_timeout: Duration) -> Result<ClusterConnection, RedisError> {
        ClusterClientBuilder::new(self.0.clone())
            .connection_timeout(response_timeout)
            .response_timeout(response_timeout)
            .retries(2)
            .build()?
            .get_async_connection()
            .await
    }
}

/// The primary that a set of sentinels monitor under one name.
struct SentinelMaster {
    sentinels: Vec<String>,
    master: String,
}

impl SentinelMaster {
    fn client(sentinels: &[String], master: &str) -> Result<SentinelClient, RedisError> {
        SentinelClient::build(sentinels.to_vec(), master.to_owned(), None, SentinelServerType::Master)
    }
}

impl Connector for SentinelMaster {
    /// Not a [`ConnectionManager`]: that would reconnect to the address it
    /// was given, which after a failover is a dead server or a replica;
    /// a broken connection instead fails its calls at once and so brings
    /// a rebuild, which asks the sentinels again.
    type Conn = redis::aio::MultiplexedConnection;
    const NAME: &'static str = "Redis Sentinel primary";

    async fn connect(&self, response_timeout: Duration) -> Result<Self::Conn, RedisError> {
        // The sentinels' answer is checked: the client asks the named
        // server for its ROLE and refuses one that is not a master.
        let client = Self::client(&self.sentinels, &self.master)?.async_get_client().await?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(response_timeout))
            .set_response_timeout(Some(response_timeout));
        client.get_multiplexed_async_connection_with_config(&config).await
    }
}

/// A connection that is built again by its [`Connector`] when a call fails
/// for want of a node (a timeout, a dropped or refused connection), or
/// reaches a server that is no longer a primary.
///
/// On a cluster: the client refreshes its slot map by itself on MOVED, ASK
/// and READONLY answers, but a master killed outright answers nothing: the
/// client keeps repairing that node's connection, and under ingest it was
/// seen to time out every call, to every node, long after the cluster had
/// promoted the replica. A new connection asks a live node for the slot map
/// and so routes to the promoted replica. Behind sentinels: a connection to
/// a killed primary stays broken, and an old primary that comes back is
/// made a replica and answers writes READONLY; a new connection goes to
/// the primary the sentinels name once they have failed over.
///
/// Rebuilds come at most once per response timeout, so a deployment that is
/// down altogether costs one connection attempt per node and period.
struct Rebuilt<C: Connector>(Arc<RebuiltShared<C>>);

impl<C: Connector> Clone for Rebuilt<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

struct RebuiltShared<C: Connector> {
    connector: C,
    response_timeout: Duration,
    current: std::sync::RwLock<C::Conn>,
    rebuilds: std::sync::Mutex<Rebuilds>,
}

struct Rebuilds {
    under_way: bool,
    last: tokio::time::Instant,
}

impl<C: Connector> Rebuilt<C> {
    async fn open(connector: C, response_timeout: Duration) -> Result<Self, RedisError> {
        let conn = connector.connect(response_timeout).await?;
        Ok(Self(Arc::new(RebuiltShared {
            connector,
            response_timeout,
            current: std::sync::RwLock::new(conn),
            rebuilds: std::sync::Mutex::new(Rebuilds {
                under_way: false,
                last: tokio::time::Instant::now(),
            }),
        })))
    }

    fn current(&self) -> C::Conn {
        // A poisoned lock still holds a whole connection: only a clone or a
        // swap ever ran under it.
        self.0.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts a rebuild when `answer` says a node could not be reached.
    fn observe<T>(&self, answer: &Result<T, RedisError>) {
        let Err(e) = answer else { return };
        let unreachable = e.is_timeout()
            || e.is_io_error()
            || e.kind() == ErrorKind::ClusterConnectionNotFound
            || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly);
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
            // the bound covers the slot map or the sentinels' answer and the
            // connections after it.
            let fresh = tokio::time::timeout(
                shared.response_timeout * 4,
                shared.connector.connect(shared.response_timeout),
            )
            .await;
            let name = C::NAME;
            match fresh {
                Ok(Ok(conn)) => {
                    *shared.current.write().unwrap_or_else(|e| e.into_inner()) = conn;
                    tracing::warn!(%cause, "{name} connection rebuilt");
                }
                Ok(Err(error)) => tracing::warn!(%cause, %error, "rebuilding the {name} connection failed"),
                Err(_) => tracing::warn!(%cause, "rebuilding the {name} connection timed out"),
            }
            let mut rebuilds = shared.rebuilds.lock().unwrap_or_else(|e| e.into_inner());
            rebuilds.under_way = false;
            rebuilds.last = tokio::time::Instant::now();
        });
    }
}

impl<C: Connector> redis::aio::ConnectionLike for Rebuilt<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let answer = self.current().req_packed_command(cmd).await;
            self.observe(&answer);
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let answer = self.current().req_packed_commands(pipeline, offset, count).await;
            self.observe(&answer);
            answer
        })
    }

    fn get_db(&self) -> i64 {
        self.current().get_db()
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
            RedisTarget::Cluster(nodes) => Ok(Conn::Cluster(
                Rebuilt::open(ClusterNodes(nodes.clone()), response_timeout).await?,
            )),
            RedisTarget::Sentinel { sentinels, master } => Ok(Conn::Sentinel(
                Rebuilt::open(
                    SentinelMaster {
                        sentinels: sentinels.clone(),
                        master: master.clone(),
                    },
                    response_timeout,
                )
                .await?,
            )),
        }
    }

    /// Runs commands that need not be atomic together, answers in order: one
    /// pipeline on a single server (the sentinels' primary is one too); on a cluster, concurrently, each to the
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
            Conn::Single(_) | Conn::Sentinel(_) => {
                let mut pipe = redis::pipe();
                for c in cmds {
                    pipe.add_command(c.clone());
                }
                pipe.query_async(&mut self.clone()).await
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
