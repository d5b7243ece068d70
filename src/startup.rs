//! Builds and runs the server: the same code in production and in tests.
//!
//! One [`CancellationToken`] is the shutdown signal for everything: the HTTP
//! server, the hub's tick loop, the demo player and every WebSocket session
//! (which close with 1001 so that clients reconnect elsewhere).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::TokenKeys;
use crate::config::{EngineChoice, Settings};
use crate::engine::Engine;
use crate::engine::memory::MemoryEngine;
use crate::engine::redis::{RedisEngine, RedisOptions, RedisTarget};
use crate::hub::Hub;
use crate::ingest::{Bucketer, Ingestor};
use crate::privacy::AuthorHasher;
use crate::{demo, telemetry, ws};

/// Scripts only from this server, never inline; connections only to it
/// (WebSocket included); MapLibre's worker and tiles from `blob:`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; \
     child-src 'self' blob:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The listen address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    /// The engine could not be reached.
    #[error("{0}")]
    Engine(#[from] crate::engine::EngineError),
    /// The token secret cannot key HMAC.
    #[error("jwt secret: {0}")]
    Secret(String),
    /// A zones file is broken.
    #[error("geodata: {0}")]
    Geodata(String),
    /// The demo scenario could not be loaded.
    #[error("demo: {0}")]
    Demo(String),
}

/// A built, listening server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    background: Vec<JoinHandle<()>>,
}

/// Builds the engine the settings ask for.
pub async fn build_engine(settings: &Settings) -> Result<Arc<dyn Engine>, crate::engine::EngineError> {
    Ok(match &settings.engine {
        EngineChoice::Memory => Arc::new(MemoryEngine::new(settings.layout())),
        EngineChoice::Redis { url } => redis(settings, RedisTarget::Single(url.clone())).await?,
        EngineChoice::RedisCluster { nodes } => redis(settings, RedisTarget::Cluster(nodes.clone())).await?,
    })
}

async fn redis(settings: &Settings, target: RedisTarget) -> Result<Arc<dyn Engine>, crate::engine::EngineError> {
    let options = RedisOptions {
        target,
        prefix: settings.redis_prefix.clone(),
        response_timeout: settings.redis_timeout,
    };
    Ok(Arc::new(RedisEngine::connect(&options, settings.layout()).await?))
}

impl Application {
    /// Connects the engine, binds the address and starts the background
    /// tasks. Nothing is served until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let engine = build_engine(&settings).await?;
        let listener =
            TcpListener::bind(&settings.listen).map_err(|e| StartupError::Bind(settings.listen.clone(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(settings.listen.clone(), e))?
            .port();

        let shutdown = CancellationToken::new();
        let hub = Arc::new(Hub::new(engine.clone(), settings.k_anonymity));
        let bucketer = Bucketer::new(settings.resolutions, settings.bucket_secs);
        let ingestor = Arc::new(Ingestor::new(
            engine.clone(),
            bucketer,
            AuthorHasher::new(settings.jwt_secret.expose()),
            chrono::Duration::from_std(settings.retention).unwrap_or(chrono::Duration::hours(24)),
        ));
        let mut background = vec![
            hub.clone().spawn_ticker(settings.tick, shutdown.clone()),
            crate::surge::spawn_detector(engine.clone(), settings.alerts, settings.tick * 4, shutdown.clone()),
        ];
        if settings.demo {
            let scenario =
                demo::Scenario::load(&settings.geodata_dir, &settings.demo_scenario).map_err(StartupError::Demo)?;
            background.push(demo::play(scenario, ingestor.clone(), shutdown.clone()));
        }
        let zones =
            Arc::new(crate::geodata::Zones::load(&settings.geodata_dir.join("zones")).map_err(StartupError::Geodata)?);
        let limits = Arc::new(crate::limits::PublicLimits::new(
            settings.public_report_rate,
            settings.public_read_rate,
            settings.trusted_proxies.clone(),
        ));
        background.push({
            let limits = limits.clone();
            crate::schedule::spawn_every(std::time::Duration::from_secs(60), shutdown.clone(), move || {
                limits.forget_idle();
                std::future::ready(())
            })
        });
        let state = web::Data::new(AppState {
            limits,
            reports: Arc::new(crate::reports::Reports::new(engine.clone(), bucketer)),
            broadcasts: Arc::new(crate::broadcasts::Broadcasts::new(engine.clone(), zones.clone())),
            zones,
            keys: Arc::new(
                TokenKeys::new(settings.jwt_secret.expose()).map_err(|e| StartupError::Secret(e.to_string()))?,
            ),
            settings,
            engine,
            ingestor,
            hub,
            shutdown,
            prometheus: telemetry::prometheus(),
        });

        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let web_dir = app_state.settings.web_dir.clone();
            let basemap_dir = app_state.settings.geodata_dir.join("basemap");
            let vendor = web_dir.join("node_modules");
            App::new()
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .app_data(app_state.clone())
                .app_data(web::QueryConfig::default().error_handler(api::query_error))
                .configure(api::configure)
                .service(api::resource(
                    "/ws",
                    [(actix_web::http::Method::GET, web::to(ws::upgrade))],
                ))
                .service(
                    actix_files::Files::new("/basemap", basemap_dir)
                        .default_handler(web::to(api::not_found))
                        .guard(api::page_methods()),
                )
                // Front-end libraries come from npm (web/package-lock.json), served
                // from here: an operations room may be offline, no request leaves.
                .service(
                    actix_files::Files::new("/vendor/maplibre-gl", vendor.join("maplibre-gl/dist"))
                        .default_handler(web::to(api::not_found))
                        .guard(api::page_methods()),
                )
                .service(
                    actix_files::Files::new("/vendor/h3-js", vendor.join("h3-js/dist/browser"))
                        .default_handler(web::to(api::not_found))
                        .guard(api::page_methods()),
                )
                .service(
                    actix_files::Files::new("/", web_dir)
                        .index_file("index.html")
                        .redirect_to_slash_directory()
                        .default_handler(web::to(api::not_found))
                        .guard(api::page_methods()),
                )
                .default_service(web::to(api::not_found))
        })
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)
        .map_err(|e| StartupError::Bind(state.settings.listen.clone(), e))?
        .run();

        Ok(Self {
            port,
            server,
            state,
            background,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for callers that need the settings or token keys.
    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }

    /// A handle that stops the server gracefully.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            handle: self.server.handle(),
            shutdown: self.state.shutdown.clone(),
        }
    }

    /// Serves until stopped by [`Stopper::stop`] or SIGINT/SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        let signals = tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: closing WebSockets with 1001, finishing requests");
            stopper.stop().await;
        });
        let result = self.server.await;
        self.state.shutdown.cancel();
        signals.abort();
        for task in self.background {
            let _ = task.await;
        }
        result
    }
}

/// Stops a running server: sessions are told first, then in-flight
/// requests are finished.
#[derive(Clone)]
pub struct Stopper {
    handle: ServerHandle,
    shutdown: CancellationToken,
}

impl Stopper {
    /// Stops gracefully.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        // Give sessions a moment to send their close frames.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        self.handle.stop(true).await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
