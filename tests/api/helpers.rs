//! Test fixtures: a real `redis-server` on a free port and the real
//! Campanile server on port 0, with clients for both.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::rt::spawn;
use awc::ws;
use campanile::auth::TokenKeys;
use campanile::config::{Secret, ServeArgs, Settings};
use campanile::domain::Role;
use campanile::engine::Engine;
use campanile::startup::{Application, Stopper, build_engine};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const SECRET: &str = "test-secret-test-secret-test-secret";
/// The author-hash key of every test node: nodes of one deployment share it.
pub const AUTHOR_SECRET: &str = "test-author-secret-test-author-secret";

/// A free loopback port (the race with another process is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `redis-server` of our own, killed when dropped.
pub struct TestRedis {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    mode: RedisMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedisMode {
    Throwaway,
    Persistent,
    ClusterNode,
    /// A cluster node that declares a silent peer failed after this many
    /// milliseconds, so that a failover happens within a test's time.
    ClusterNodeTimeout(u32),
    /// A replica of the server on this port.
    ReplicaOf(u16),
    /// A sentinel that monitors the server on this port as [`SENTINEL_MASTER`].
    Sentinel(u16),
}

impl TestRedis {
    /// A throw-away Redis with no persistence.
    pub fn start() -> Self {
        Self::launch(RedisMode::Throwaway)
    }

    /// A Redis that writes every command to its AOF before answering.
    pub fn start_persistent() -> Self {
        Self::launch(RedisMode::Persistent)
    }

    fn launch(mode: RedisMode) -> Self {
        let mut redis = Self {
            child: None,
            port: 0,
            dir: tempfile::tempdir().expect("temp dir"),
            mode,
        };
        // A port found free can be taken before the server binds it: by
        // another test's server, or by a cluster node's bus, which listens
        // on its port + 10000. Then another port is tried.
        for _ in 0..5 {
            redis.port = redis.free_port_for_mode();
            if redis.start_here() {
                return redis;
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// A free port, and for a cluster node one whose bus port is free too.
    fn free_port_for_mode(&self) -> u16 {
        if matches!(self.mode, RedisMode::Throwaway | RedisMode::Persistent) {
            return free_port();
        }
        loop {
            let port = free_port();
            if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
                return port;
            }
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and data folder.
    pub fn restart(&mut self) {
        if !self.start_here() {
            panic!("redis-server on port {} did not start", self.port);
        }
    }

    /// Starts the server on `self.port`; false when it could not: the port
    /// was taken, or another server answers there (it is asked for its
    /// process id, so that a test never talks to someone else's Redis).
    fn start_here(&mut self) -> bool {
        let mut cmd = Command::new("redis-server");
        if let RedisMode::Sentinel(primary) = self.mode {
            // A sentinel needs a file it can rewrite, named first.
            cmd.arg(self.sentinel_config(primary)).arg("--sentinel");
        }
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match self.mode {
            RedisMode::Throwaway => cmd.args(["--appendonly", "no"]),
            RedisMode::Persistent => cmd.args(["--appendonly", "yes", "--appendfsync", "always"]),
            RedisMode::ClusterNode => cmd.args(["--appendonly", "no", "--cluster-enabled", "yes"]),
            RedisMode::ClusterNodeTimeout(ms) => cmd
                .args([
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                ])
                .arg(ms.to_string()),
            RedisMode::ReplicaOf(primary) => cmd
                .args(["--appendonly", "no", "--replicaof", "127.0.0.1"])
                .arg(primary.to_string()),
            RedisMode::Sentinel(_) => &mut cmd,
        };
        let mut child = cmd
            .spawn()
            .expect("redis-server must be installed (the test command installs it)");
        let ours = format!("process_id:{}", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if self
                .cli(&["INFO", "server"])
                .is_some_and(|info| info.lines().any(|l| l.trim() == ours))
            {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs one `redis-cli` command and returns its output.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The post ids this node holds for de-duplication: the fields of its
    /// `seen:` sub-hashes.
    pub fn seen_ids(&self) -> u64 {
        self.each_key("*seen:{t*}:*", "HLEN")
            .into_iter()
            .map(|n| n.unsigned_abs())
            .sum()
    }

    /// The keys matching `pattern` that never expire.
    pub fn keys_without_expiry(&self, pattern: &str) -> usize {
        self.each_key(pattern, "TTL").into_iter().filter(|ttl| *ttl < 0).count()
    }

    /// `COMMAND key` for each key matching `pattern`, pipelined: the
    /// integer answers.
    pub fn each_key(&self, pattern: &str, command: &str) -> Vec<i64> {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        let mut conn = client.get_connection().expect("connects to Redis");
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg(pattern).query(&mut conn).expect("KEYS");
        let mut answers = Vec::with_capacity(keys.len());
        for part in keys.chunks(10_000) {
            let mut pipe = redis::pipe();
            for key in part {
                pipe.cmd(command).arg(key);
            }
            answers.extend(pipe.query::<Vec<i64>>(&mut conn).expect(command));
        }
        answers
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A three-node Redis Cluster on loopback ports, made by `redis-cli --cluster
/// create` as an operator would make one; every node is killed when dropped.
pub struct TestCluster {
    pub nodes: Vec<TestRedis>,
}

impl TestCluster {
    pub fn start() -> Self {
        Self::create((0..3).map(|_| TestRedis::launch(RedisMode::ClusterNode)).collect(), 0)
    }

    /// Three masters, each with one replica, that fail over a master silent
    /// for `node_timeout_ms`; returned once every replica has synchronised.
    pub fn start_replicated(node_timeout_ms: u32) -> Self {
        let cluster = Self::create(
            (0..6)
                .map(|_| TestRedis::launch(RedisMode::ClusterNodeTimeout(node_timeout_ms)))
                .collect(),
            1,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.nodes.iter().all(|n| {
            n.cli(&["INFO", "replication"])
                .is_some_and(|info| info.contains("role:master") || info.contains("master_link_status:up"))
        }) {
            assert!(Instant::now() < deadline, "the replicas did not synchronise");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    fn create(nodes: Vec<TestRedis>, replicas: u32) -> Self {
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(created.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodes.iter().all(|n| {
            n.cli(&["CLUSTER", "INFO"])
                .is_some_and(|info| info.contains("cluster_state:ok"))
        }) {
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { nodes }
    }

    /// `redis://…` of every node, comma-separated, as `--redis-cluster-nodes` takes them.
    pub fn node_urls(&self) -> String {
        self.nodes.iter().map(TestRedis::url).collect::<Vec<_>>().join(",")
    }
}

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Memory,
    Redis,
}

/// Settings for tests: port 0, a fast tick, the repository's web and geodata.
pub fn test_args() -> ServeArgs {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        jwt_secret: Some(Secret::new(SECRET)),
        author_secret: Some(Secret::new(AUTHOR_SECRET)),
        tick: Some("100ms".into()),
        web_dir: Some(root.join("web")),
        geodata_dir: Some(root.join("geodata")),
        // The durable engine is tested on directories of its own
        // (tests/api/durable.rs); elsewhere nothing is left behind.
        ephemeral: Some(true),
        ..ServeArgs::default()
    }
}

/// Test settings for a server behind a proxy on loopback: every test client
/// then names its address in `X-Forwarded-For`, as a balancer would.
pub fn behind_a_trusted_proxy() -> ServeArgs {
    ServeArgs {
        trusted_proxies: Some("127.0.0.1".into()),
        ..test_args()
    }
}

/// The status a WebSocket upgrade with `token` is refused with, or `None`
/// when it is accepted.
pub async fn upgrade_refusal(app: &TestApp, token: &str) -> Option<u16> {
    match app
        .client
        .ws(format!("ws://127.0.0.1:{}/ws", app.port))
        .bearer_auth(token)
        .connect()
        .await
    {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => Some(s.as_u16()),
        _ => None,
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: awc::Client,
    pub operator: String,
    pub commander: String,
    pub ingest: String,
    stopper: Option<Stopper>,
    pub redis: Option<TestRedis>,
}

pub fn token(role: Role, sub: &str) -> String {
    TokenKeys::new(SECRET.as_bytes())
        .and_then(|k| k.issue(role, sub, Duration::from_secs(3600)))
        .expect("token")
}

/// Spawns the real server on the chosen engine (Redis: a fresh redis-server).
pub async fn spawn_app(kind: EngineKind) -> TestApp {
    spawn_app_with(kind, test_args()).await
}

/// Spawns the real server with custom options.
pub async fn spawn_app_with(kind: EngineKind, mut args: ServeArgs) -> TestApp {
    let redis = match kind {
        EngineKind::Memory => None,
        EngineKind::Redis => {
            let r = TestRedis::start();
            args.redis_url = Some(r.url());
            Some(r)
        }
    };
    let mut app = spawn_on(args).await;
    app.redis = redis;
    app
}

/// Spawns the real server with exactly these options.
pub async fn spawn_on(args: ServeArgs) -> TestApp {
    let settings = Settings::resolve(&args).expect("test settings");
    serve(Application::build(settings).await.expect("server starts"))
}

/// Serves `app`, built by the test: what a test that writes into the
/// server's own memory engine before it serves uses.
pub fn serve(app: Application) -> TestApp {
    let port = app.port();
    let stopper = app.stopper();
    spawn(app.run_until_stopped());
    TestApp {
        stopper: Some(stopper),
        ..TestApp::remote(port)
    }
}

/// Two nodes of one deployment on a fresh `redis-server` (kept alive by the
/// returned handle).
pub async fn two_nodes_on_one_redis() -> (TestRedis, TestApp, TestApp) {
    let redis = TestRedis::start();
    let mut args = test_args();
    args.redis_url = Some(redis.url());
    let node_a = spawn_on(args.clone()).await;
    let node_b = spawn_on(args).await;
    (redis, node_a, node_b)
}

impl TestApp {
    /// Clients for a server run elsewhere (a separate process) on `port`;
    /// [`TestApp::stop`] does nothing for it.
    pub fn remote(port: u16) -> Self {
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .wrap(crate::contact_scan::ContactScan { secret: SECRET })
                .finish(),
            operator: token(Role::Operator, "test-operator"),
            commander: token(Role::Commander, "test-commander"),
            ingest: token(Role::Ingest, "test-ingest"),
            stopper: None,
            redis: None,
        }
    }
}

/// The server binary in a process of its own (that a test can signal or
/// measure) on `redis`, once it answers `/readyz`; the caller stops it.
pub async fn serve_process_on(redis: &TestRedis) -> (Child, TestApp) {
    serve_process_with(&["--redis-url", &redis.url()], Stdio::null()).await
}

/// `campanile serve` on `127.0.0.1:port` with these arguments, as the
/// tests run it: the test secret, from the repository's folder, memory
/// only unless `args` name a `--data-dir`, its output discarded.
pub fn server_command(port: u16, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_campanile"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CAMPANILE_JWT_SECRET", SECRET)
        .env("CAMPANILE_EPHEMERAL", (!args.contains(&"--data-dir")).to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The server binary in a process of its own with these `serve` arguments
/// besides its address, its log written to `log`, once it answers `/readyz`.
pub async fn serve_process_with(args: &[&str], log: impl Into<Stdio>) -> (Child, TestApp) {
    let port = free_port();
    let mut server = server_command(port, args).stderr(log).spawn().expect("serve");
    let app = TestApp::remote(port);
    let up = eventually(|| async {
        let resp = app.client.get(format!("{}/readyz", app.address)).send().await.ok()?;
        resp.status().is_success().then_some(())
    })
    .await;
    if up.is_none() {
        let _ = server.kill();
        let _ = server.wait();
        panic!("the server did not start");
    }
    (server, app)
}

/// One answer read byte for byte: status, head, body.
pub struct Raw {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Raw {
    /// The value of the header `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A request written byte for byte, so that no client library normalises
/// the path (`..`, `%2e`) or adds headers of its own; `Host` names the
/// server unless `headers` give one.
pub async fn raw(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let body = answer.get(split + 4..).unwrap_or_default().to_vec();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Raw { status, head, body }
}

/// An engine built exactly as the server builds it.
pub async fn engine_for(args: &ServeArgs) -> Arc<dyn Engine> {
    build_engine(&Settings::resolve(args).expect("settings"))
        .await
        .expect("engine")
}

pub type Ws = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

impl TestApp {
    /// Stops the server gracefully.
    pub async fn stop(&self) {
        if let Some(stopper) = &self.stopper {
            stopper.stop().await;
        }
    }

    /// POSTs a body to `/api/v1/posts`.
    pub async fn post_raw(&self, body: impl Into<String>, content_type: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/api/v1/posts", self.address))
            .insert_header(("Content-Type", content_type));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send_body(body.into()).await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.body().limit(64 << 20).await.expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// POSTs JSON posts with the ingest token.
    pub async fn post_json(&self, body: &Value) -> (u16, Value) {
        self.post_raw(body.to_string(), "application/json", Some(&self.ingest))
            .await
    }

    /// GETs a path, with an optional token; returns status, headers' Retry-After and JSON.
    pub async fn get(&self, path_and_query: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(format!("{}{path_and_query}", self.address));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let mut resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.body().limit(64 << 20).await.expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Opens a WebSocket, with a token in the header if given.
    pub async fn ws(&self, token: Option<&str>) -> Ws {
        let mut req = self
            .client
            .ws(format!("ws://127.0.0.1:{}/ws", self.port))
            .max_frame_size(32 << 20);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (_, framed) = req.connect().await.expect("websocket connects");
        framed
    }
}

/// Sends a JSON text frame.
pub async fn send(ws: &mut Ws, msg: Value) {
    ws.send(ws::Message::Text(msg.to_string().into())).await.expect("send");
}

/// The next JSON text frame, skipping pings; panics after `within`.
pub async fn next_json(ws: &mut Ws, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a frame in time")
            .expect("the stream is open")
            .expect("a valid frame");
        match frame {
            ws::Frame::Text(bytes) => return serde_json::from_slice(&bytes).expect("JSON"),
            ws::Frame::Ping(_) | ws::Frame::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The next JSON frame whose `type` is `kind`.
pub async fn next_of_type(ws: &mut Ws, kind: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = next_json(ws, left).await;
        if msg["type"] == kind {
            return msg;
        }
    }
}

/// Waits for the close frame and returns its code.
pub async fn close_code(ws: &mut Ws, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(ws::Frame::Close(reason))) => return reason.map(|r| u16::from(r.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// A post at a point.
/// The sum of the counts of a heatmap answer: what the map holds in all.
pub fn heatmap_total(map: &Value) -> u64 {
    map["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter_map(|c| c["count"].as_u64())
        .sum()
}

pub fn post_at(lat: f64, lon: f64, author: &str, id: Option<&str>) -> Value {
    let mut p = serde_json::json!({"source": "test", "lat": lat, "lon": lon, "author": author});
    if let Some(id) = id {
        p["id"] = id.into();
    }
    p
}

/// Polls `attempt` every 100 ms for up to 5 s until it yields a value: for
/// what must recover by itself (a restarted Redis).
pub async fn eventually<T, F, Fut>(mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..50 {
        if let Some(v) = attempt().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The smallest valid public broadcast, for tests that only need one to exist.
pub fn minimal_broadcast() -> Value {
    serde_json::json!({"audience": "public", "category": "Safety", "event": "e", "severity": "Minor", "urgency": "Future",
        "certainty": "Likely", "headline": "h", "area": {"zones": ["piazza-maggiore"]},
        "expires": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()})
}

/// The name the sentinels of [`TestSentinels`] monitor their primary under.
pub const SENTINEL_MASTER: &str = "campanile";

impl TestRedis {
    /// A sentinel's configuration file, written afresh: down after 1 s of
    /// silence, a quorum of two.
    fn sentinel_config(&self, primary: u16) -> PathBuf {
        let path = self.dir.path().join("sentinel.conf");
        std::fs::write(
            &path,
            format!(
                "sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 5000\n"
            ),
        )
        .expect("sentinel.conf");
        path
    }
}

/// A primary, one replica and three Redis Sentinels on loopback ports, as
/// an operator would run them; every process is killed when dropped.
pub struct TestSentinels {
    pub primary: TestRedis,
    pub replica: TestRedis,
    pub sentinels: Vec<TestRedis>,
}

impl TestSentinels {
    /// Returned once the replica has synchronised and every sentinel knows
    /// the replica and the two other sentinels, so that a failover can be
    /// agreed at once.
    pub fn start() -> Self {
        let primary = TestRedis::start();
        let replica = TestRedis::launch(RedisMode::ReplicaOf(primary.port));
        let sentinels: Vec<TestRedis> = (0..3)
            .map(|_| TestRedis::launch(RedisMode::Sentinel(primary.port)))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !replica
            .cli(&["INFO", "replication"])
            .is_some_and(|info| info.contains("master_link_status:up"))
        {
            assert!(Instant::now() < deadline, "the replica did not synchronise");
            std::thread::sleep(Duration::from_millis(50));
        }
        let set = Self {
            primary,
            replica,
            sentinels,
        };
        while !set.sentinels.iter().all(|s| {
            let master = sentinel_fields(s, &["SENTINEL", "MASTER", SENTINEL_MASTER]);
            master.get("num-slaves").map(String::as_str) == Some("1")
                && master.get("num-other-sentinels").map(String::as_str) == Some("2")
        }) {
            assert!(
                Instant::now() < deadline,
                "the sentinels did not find the replica and each other"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        set
    }

    /// `redis://…` of every sentinel, comma-separated, as `--redis-sentinel` takes them.
    pub fn sentinel_urls(&self) -> String {
        self.sentinels.iter().map(TestRedis::url).collect::<Vec<_>>().join(",")
    }

    /// The primary's port as the first sentinel that answers names it.
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let out = s.cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER])?;
            out.lines().nth(1)?.trim().parse().ok()
        })
    }
}

/// A `redis-cli` answer of alternating names and values, as a map.
fn sentinel_fields(sentinel: &TestRedis, args: &[&str]) -> std::collections::HashMap<String, String> {
    let out = sentinel.cli(args).unwrap_or_default();
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    lines
        .chunks(2)
        .filter_map(|pair| Some((pair.first()?.to_string(), pair.get(1)?.to_string())))
        .collect()
}

/// A server process stopped (killed) when dropped.
pub struct StopOnDrop(pub Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last 20 lines of a server's log.
pub fn log_tail(log: &tempfile::NamedTempFile) -> String {
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Posts in one ingest batch of [`ingest_batch`], unless a test says otherwise.
pub const INGEST_BATCH: usize = 500;

/// Batch `n` of `size` posts of a test's ingest, tagged `tag`: posts over a
/// whole district (so that on a cluster its keys land on every master),
/// with ids that make a batch sent again count once.
pub fn ingest_batch(tag: &str, n: usize, size: usize) -> Value {
    let posts: Vec<Value> = (0..size)
        .map(|i| {
            let id = format!("{tag}{n}-{i}");
            post_at(
                44.47 + (i % 20) as f64 * 0.002,
                11.31 + (i / 20 % 20) as f64 * 0.003,
                &id,
                Some(&id),
            )
        })
        .collect();
    Value::Array(posts)
}

/// One attempt at batch `n` of a test's ingest (`body`, made by
/// [`ingest_batch`]) under its `Idempotency-Key`: the answer's status and
/// body, or why no answer came (a server killed under the request).
pub async fn send_batch(
    app: &TestApp,
    tag: &str,
    n: usize,
    body: &str,
) -> Result<(u16, Value), awc::error::SendRequestError> {
    let mut resp = app
        .client
        .post(format!("{}/api/v1/posts", app.address))
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("Idempotency-Key", format!("{tag}-{n}")))
        .bearer_auth(&app.ingest)
        .send_body(body.to_owned())
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().limit(1 << 20).await.unwrap_or(Value::Null)))
}

/// Sends [`ingest_batch`] `n` until it is acknowledged, as an ingest client
/// retrying a 503 would: the same bytes under the same `Idempotency-Key`,
/// so that what a failed attempt stored counts once. Answers when the 202
/// came, or `None` past `deadline`; any answer but 202, 503 and 409 (an
/// earlier attempt still holds the key) fails the test.
pub async fn send_until_acknowledged(
    app: &TestApp,
    tag: &str,
    n: usize,
    size: usize,
    deadline: Instant,
) -> Option<Instant> {
    let body = ingest_batch(tag, n, size).to_string();
    loop {
        let (status, answer) = send_batch(app, tag, n, &body).await.expect("request");
        if status == 202 {
            // What a refused attempt stored (it counted, then a replica did
            // not confirm in time) is a duplicate for the retry.
            assert_eq!(
                answer["accepted"].as_u64().unwrap_or(0) + answer["duplicates"].as_u64().unwrap_or(0),
                size as u64,
                "every post of the batch is acknowledged: {answer}"
            );
            return Some(Instant::now());
        }
        assert!(
            status == 503 || status == 409,
            "an unreachable engine is a 503: {status} {answer}"
        );
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends batches `first`, `first + 1`, … back to back, each until it is
/// acknowledged (within `patience`), while `chaos` runs, and three more once
/// it has finished; answers when each 202 came. No 202 within `patience`
/// fails the test with the end of the node's `log`.
pub async fn ingest_until_done<T>(
    app: &TestApp,
    tag: &str,
    first: usize,
    size: usize,
    chaos: &std::thread::JoinHandle<T>,
    patience: Duration,
    log: &tempfile::NamedTempFile,
) -> Vec<Instant> {
    let mut acknowledged_at = Vec::new();
    let mut after_chaos = 0;
    while after_chaos < 3 {
        let done = chaos.is_finished();
        let acked =
            send_until_acknowledged(app, tag, first + acknowledged_at.len(), size, Instant::now() + patience).await;
        let Some(at) = acked else {
            panic!("no 202 within {patience:?}; the node's log ends:\n{}", log_tail(log));
        };
        acknowledged_at.push(at);
        if done {
            after_chaos += 1;
        }
    }
    acknowledged_at
}

/// A public report filed until it is answered 201 or `within` has passed,
/// as a phone retrying a 503 or a dropped connection would; answers the
/// created report.
pub async fn report_created(app: &TestApp, within: Duration) -> Value {
    created("a report", within, || async {
        let sent = app
            .client
            .post(format!("{}/api/v1/reports", app.address))
            .send_json(
                &serde_json::json!({"lat": 44.4937, "lon": 11.343, "category": "medical", "text": "someone fainted"}),
            )
            .await;
        match sent {
            Ok(mut resp) => (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null)),
            Err(e) => (0, Value::String(e.to_string())),
        }
    })
    .await
}

/// When `/readyz` answered 200 again, polled until `deadline`; past it the
/// test fails with the end of the node's `log`.
pub async fn ready_again(app: &TestApp, deadline: Instant, log: &tempfile::NamedTempFile) -> Instant {
    while Instant::now() < deadline {
        if app.get("/readyz", None).await.0 == 200 {
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never came back; the node's log ends:\n{}", log_tail(log));
}

/// Sends a request until it is answered `201` or `within` has passed, as a
/// client retrying a 503 would, and answers the created resource.
pub async fn created<F, Fut>(what: &str, within: Duration, mut attempt: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = attempt().await;
        if status == 201 {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A subscriber connected through a failover. A task of its own reads the
/// socket all along, answering the server's pings as a browser would, and
/// stamps every message with when it came: the test reads them afterwards
/// in order, and times the `status` messages against the kill.
pub struct Feed {
    pub name: &'static str,
    incoming: tokio::sync::mpsc::UnboundedReceiver<(Instant, Value)>,
    /// Every message taken from `incoming`, in order.
    pub seen: Vec<(Instant, Value)>,
}

impl Feed {
    /// Subscribes `token` (the public when `None`) with `subscribe`, reads
    /// its first messages up to `first` and then keeps reading.
    pub async fn open(app: &TestApp, name: &'static str, token: Option<&str>, subscribe: Value, first: &str) -> Self {
        let mut ws = app.ws(token).await;
        send(&mut ws, subscribe).await;
        let subscribed = next_json(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(subscribed["type"], "subscribed", "{name}: {subscribed}");
        if first != "subscribed" {
            let msg = next_json(&mut ws, Duration::from_secs(5)).await;
            assert_eq!(msg["type"], first, "{name}: {msg}");
        }
        let (tx, incoming) = tokio::sync::mpsc::unbounded_channel();
        actix_web::rt::spawn(async move {
            while let Some(frame) = ws.next().await {
                let msg = match frame {
                    Ok(ws::Frame::Text(bytes)) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    Ok(ws::Frame::Ping(p)) => {
                        let _ = ws.send(ws::Message::Pong(p)).await;
                        continue;
                    }
                    Ok(ws::Frame::Close(reason)) => json!({"type": "closed", "reason": format!("{reason:?}")}),
                    Ok(_) => continue,
                    Err(e) => json!({"type": "closed", "reason": e.to_string()}),
                };
                let closed = msg["type"] == "closed";
                if tx.send((Instant::now(), msg)).is_err() || closed {
                    return;
                }
            }
            let _ = tx.send((Instant::now(), json!({"type": "closed", "reason": "end of stream"})));
        });
        Self {
            name,
            incoming,
            seen: Vec::new(),
        }
    }

    /// The first message from `from` on (an index into `seen`) that
    /// `wanted` accepts, read as it comes within `within`; its index.
    pub async fn until(&mut self, from: usize, within: Duration, what: &str, wanted: impl Fn(&Value) -> bool) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        let mut at = from;
        loop {
            while at < self.seen.len() {
                if wanted(&self.seen[at].1) {
                    return at;
                }
                at += 1;
            }
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some(message)) => {
                    assert_ne!(
                        message.1["type"], "closed",
                        "{}: the connection ended: {}",
                        self.name, message.1
                    );
                    self.seen.push(message);
                }
                _ => panic!("{}: no {what} within {within:?}; it got {:?}", self.name, self.types()),
            }
        }
    }

    /// Takes whatever has come so far.
    pub fn drain(&mut self) {
        while let Ok(message) = self.incoming.try_recv() {
            self.seen.push(message);
        }
    }

    /// The engine statuses it was told, with when.
    pub fn statuses(&self) -> Vec<(Instant, String)> {
        self.seen
            .iter()
            .filter(|(_, m)| m["type"] == "status")
            .map(|(at, m)| (*at, m["engine"].as_str().unwrap_or("?").to_owned()))
            .collect()
    }

    /// What it got, by type, for failure messages.
    pub fn types(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|(_, m)| match m["type"].as_str() {
                Some("status") => format!("status {}", m["engine"]),
                Some(t) => t.to_owned(),
                None => m.to_string(),
            })
            .collect()
    }

    /// Waits (each within `within`) for the engine to be reported down and
    /// then up again, and answers where the `up` is in `seen` and when each
    /// came.
    pub async fn down_then_up(&mut self, within: Duration) -> (usize, Instant, Instant) {
        let down = self.until(0, within, "status", |m| m["type"] == "status").await;
        assert_eq!(self.seen[down].1["engine"], "down", "{}: {:?}", self.name, self.types());
        let up = self
            .until(down + 1, within, "status up", |m| m["type"] == "status")
            .await;
        assert_eq!(self.seen[up].1["engine"], "up", "{}: {:?}", self.name, self.types());
        (up, self.seen[down].0, self.seen[up].0)
    }
}

pub fn is_heatmap(m: &Value) -> bool {
    m["type"].as_str().is_some_and(|t| t.starts_with("heatmap."))
}

/// One subscriber on every channel a client can watch, each on a connection
/// of its own so that each is told of the engine by itself: the operator's
/// and the public heatmap, broadcasts (a commander), reports, alerts and
/// zones (an operator).
pub struct Channels {
    pub operator_map: Feed,
    pub public_map: Feed,
    pub broadcasts: Feed,
    pub reports: Feed,
    pub alerts: Feed,
    pub zones: Feed,
}

impl Channels {
    pub async fn open(app: &TestApp) -> Self {
        let heatmap = json!({"type": "subscribe", "channel": "heatmap", "res": 7, "window": "15m"});
        let channel = |name: &str| json!({"type": "subscribe", "channel": name});
        Self {
            operator_map: Feed::open(
                app,
                "operator heatmap",
                Some(&app.operator),
                heatmap.clone(),
                "heatmap.snapshot",
            )
            .await,
            public_map: Feed::open(app, "public heatmap", None, heatmap, "heatmap.snapshot").await,
            broadcasts: Feed::open(
                app,
                "broadcasts",
                Some(&app.commander),
                channel("broadcasts"),
                "subscribed",
            )
            .await,
            reports: Feed::open(app, "reports", Some(&app.operator), channel("reports"), "subscribed").await,
            alerts: Feed::open(app, "alerts", Some(&app.operator), channel("alerts"), "subscribed").await,
            zones: Feed::open(app, "zones", Some(&app.operator), channel("zones"), "zones.snapshot").await,
        }
    }
}

/// `campanile bench --json ARGS` against `target` with `token`: its report.
pub async fn bench_report(target: &str, token: &str, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_campanile"))
        .args(["bench", "--target", target, "--token", token, "--json"])
        .args(args)
        .output()
        .await
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}
