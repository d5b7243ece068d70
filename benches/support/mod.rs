//! What the end-to-end benchmarks share: a `redis-server` of their own, the
//! real server on a free port, and tokens.

// Each benchmark uses the part it needs.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use campanile::auth::TokenKeys;
use campanile::config::{Secret, ServeArgs, Settings};
use campanile::domain::Role;
use campanile::startup::{Application, Stopper};

const SECRET: &str = "bench-secret-bench-secret-bench";

/// Whether `cargo bench` runs us; `cargo test --all-targets` only needs the
/// benchmark to build, and a measurement of many seconds is no test.
pub fn measuring(name: &str) -> bool {
    let yes = std::env::args().any(|a| a == "--bench");
    if !yes {
        println!("{name}: measurement skipped (run it with `cargo bench --bench {name}`)");
    }
    yes
}

/// A `redis-server` on a free port, killed when dropped.
pub struct Redis {
    child: Child,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a throw-away `redis-server` and waits until it answers.
pub fn start_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let redis = Redis {
        child: Command::new("redis-server")
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
        url: format!("redis://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        let ok = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "PING"])
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"PONG"));
        if ok {
            return redis;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start");
}

/// The engine a benchmark's server runs on.
pub enum BenchEngine {
    /// Embedded, memory only (`--ephemeral`).
    Memory,
    /// Embedded, kept under this data directory with this `--fsync`.
    Durable(std::path::PathBuf, &'static str),
    /// Redis at this URL.
    Redis(String),
}

/// Starts the real server on a free port on `engine`.
pub async fn start_server(engine: &BenchEngine) -> (u16, Stopper) {
    let (redis_url, data_dir, fsync) = match engine {
        BenchEngine::Memory => (None, None, None),
        BenchEngine::Durable(dir, fsync) => (None, Some(dir.clone()), Some((*fsync).to_owned())),
        BenchEngine::Redis(url) => (Some(url.clone()), None, None),
    };
    let args = ServeArgs {
        listen: Some("127.0.0.1:0".into()),
        jwt_secret: Some(Secret::new(SECRET)),
        ephemeral: Some(data_dir.is_none()),
        redis_url,
        data_dir,
        fsync,
        geodata_dir: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/geodata").into()),
        // The demo's place and its people's languages: the trends drop the stop-words of both.
        languages: Some("en,it".into()),
        // BENCH_TEXT_ANALYSIS=false: the same server without trends and
        // clustering, to measure what they cost side by side.
        text_analysis: std::env::var("BENCH_TEXT_ANALYSIS").ok().map(|v| v != "false"),
        ..ServeArgs::default()
    };
    let app = Application::build(Settings::resolve(&args).expect("settings"))
        .await
        .expect("server");
    let (port, stopper) = (app.port(), app.stopper());
    actix_web::rt::spawn(app.run_until_stopped());
    (port, stopper)
}

/// A token for `role`.
pub fn token(role: Role) -> String {
    TokenKeys::new(SECRET.as_bytes())
        .and_then(|k| k.issue(role, "bench", Duration::from_secs(3600)))
        .expect("token")
}
