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
use crate::engine::durable::DurableEngine;
use crate::engine::memory::MemoryEngine;
use crate::engine::redis::{RedisEngine, RedisOptions, RedisTarget};
use crate::hub::Hub;
use crate::ingest::{Bucketer, Ingestor};
use crate::{demo, telemetry, ws};

/// Scripts only from this server, never inline; connections only to it
/// (WebSocket included); MapLibre's worker and tiles from `blob:`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; \
     child-src 'self' blob:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The policy the pages are served with: [`CONTENT_SECURITY_POLICY`], and
/// for a base-map style on another server (`--basemap-style`, the
/// operator's explicit choice) that server's origin for fetches and images,
/// since the style, its tiles, sprites and glyphs come from there. No other
/// origin is let in.
pub fn content_security_policy(basemap: &crate::basemap::Basemap) -> String {
    match basemap {
        crate::basemap::Basemap::Style(style) => match style.foreign_origin() {
            Some(origin) => CONTENT_SECURITY_POLICY
                .replace("connect-src 'self'", &format!("connect-src 'self' {origin}"))
                .replace("img-src 'self'", &format!("img-src 'self' {origin}")),
            None => CONTENT_SECURITY_POLICY.to_owned(),
        },
        _ => CONTENT_SECURITY_POLICY.to_owned(),
    }
}

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
    /// A setting resolved earlier does not make a domain value.
    #[error("settings: {0}")]
    Settings(String),
}

/// A built, listening server.
pub struct Application {
    port: u16,
    server: Server,
    /// The `--metrics-listen` server and its port, when asked for.
    metrics: Option<(Server, u16)>,
    state: web::Data<AppState>,
    background: Vec<JoinHandle<()>>,
}

/// Builds the engine the settings ask for.
pub async fn build_engine(settings: &Settings) -> Result<Arc<dyn Engine>, crate::engine::EngineError> {
    Ok(match &settings.engine {
        EngineChoice::Memory => Arc::new(MemoryEngine::new(settings.layout())),
        EngineChoice::Durable(options) => {
            let engine = DurableEngine::open(options, settings.layout()).await?;
            let (replayed, took) = engine.replayed();
            tracing::info!(
                data_dir = %options.data_dir.display(),
                fsync = %options.fsync,
                records = replayed.records,
                bytes = replayed.bytes,
                segments = replayed.segments,
                torn_tail = replayed.torn_tail,
                took_ms = took.as_millis() as u64,
                "replayed the data directory"
            );
            Arc::new(engine)
        }
        EngineChoice::Redis { url } => redis(settings, RedisTarget::Single(url.clone())).await?,
        EngineChoice::RedisCluster { nodes } => redis(settings, RedisTarget::Cluster(nodes.clone())).await?,
        EngineChoice::RedisSentinel { sentinels, master } => {
            let target = RedisTarget::Sentinel {
                sentinels: sentinels.clone(),
                master: master.clone(),
            };
            redis(settings, target).await?
        }
    })
}

async fn redis(settings: &Settings, target: RedisTarget) -> Result<Arc<dyn Engine>, crate::engine::EngineError> {
    let options = RedisOptions {
        target,
        prefix: settings.redis_prefix.clone(),
        response_timeout: settings.redis_timeout,
        wait_replicas: settings.redis_wait_replicas,
    };
    Ok(Arc::new(RedisEngine::connect(&options, settings.layout()).await?))
}

impl Application {
    /// Connects the engine, binds the address and starts the background
    /// tasks. Nothing is served until [`Application::run_until_stopped`].
    pub async fn build(mut settings: Settings) -> Result<Self, StartupError> {
        let engine = build_engine(&settings).await?;
        let listener =
            TcpListener::bind(&settings.listen).map_err(|e| StartupError::Bind(settings.listen.clone(), e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(settings.listen.clone(), e))?;
        let port = bound.port();
        // The default public URL is the listen address; with port 0 only the
        // bound address says where links must point.
        if settings.publisher.base_url == format!("http://{}", settings.listen) {
            settings.publisher.base_url = format!("http://{bound}");
        }
        let metrics_listener = match &settings.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).map_err(|e| StartupError::Bind(addr.clone(), e))?),
            None => None,
        };

        let shutdown = CancellationToken::new();
        let bucketer = Bucketer::new(settings.resolutions, settings.bucket_secs);
        let pending = Arc::new(crate::reports::PendingReports::default());
        let ingestor = Arc::new(Ingestor::new(
            engine.clone(),
            bucketer,
            settings.author_hasher(),
            chrono::Duration::from_std(settings.retention).unwrap_or(chrono::Duration::hours(24)),
        ));
        let reports = Arc::new(crate::reports::Reports::new(
            engine.clone(),
            ingestor.clone(),
            pending.clone(),
        ));
        let public_view = crate::hub::PublicView {
            k_anonymity: settings.k_anonymity,
            finest: h3o::Resolution::try_from(settings.public_max_res)
                .unwrap_or(settings.resolutions.finest())
                .min(settings.resolutions.finest()),
            bands: settings.public_bands,
        };
        let zones =
            Arc::new(crate::geodata::load_zones(&settings.geodata_dir.join("zones")).map_err(StartupError::Geodata)?);
        let crowd = settings.crowd_picture(zones.clone()).map_err(StartupError::Geodata)?;
        let cover = crowd.cover.clone();
        let hub = Arc::new(Hub::new(
            engine.clone(),
            public_view,
            pending.clone(),
            settings.layout(),
            crowd,
            i64::try_from(settings.alert_history.as_secs()).unwrap_or(i64::MAX),
        ));
        let places = crate::alert::Places {
            zones: zones.clone(),
            cover: cover.clone(),
        };
        let integrity = Arc::new(crate::hub::IntegrityChannel::new(
            engine.clone(),
            ingestor.clone(),
            places.clone(),
            settings.integrity.clone(),
        ));
        let mut background = vec![
            integrity.spawn(settings.tick, shutdown.clone()),
            pending.spawn_follower(reports.clone(), settings.layout().longest_window_secs, shutdown.clone()),
            hub.clone().spawn_ticker(settings.tick, shutdown.clone()),
            crate::alert::spawn_detector(
                engine.clone(),
                settings.alerts,
                places,
                settings.tick * 4,
                shutdown.clone(),
            ),
            crate::alert::spawn_zone_watch(
                engine.clone(),
                hub.zones().estimate_frames(),
                settings.alerts.quiet_secs,
                shutdown.clone(),
            ),
        ];
        background.extend(hub.spawn_relays(&shutdown));
        if settings.demo {
            let scenario =
                demo::Scenario::load(&settings.geodata_dir, &settings.demo_scenario).map_err(StartupError::Demo)?;
            let commander = Arc::new(DemoCommander { hub: hub.clone() });
            background.push(demo::play(scenario, ingestor.clone(), commander, shutdown.clone()));
        }
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
        let keys = Arc::new(
            TokenKeys::new(settings.jwt_secret.expose())
                .map_err(|e| StartupError::Secret(e.to_string()))?
                .with_issuer(settings.jwt_issuer.clone())
                .with_max_ttl(settings.token_max_ttl),
        );
        let heatmap_limits = Arc::new(settings.heatmap_limits());
        let sessions = Arc::new(ws::session::Context {
            hub: hub.clone(),
            integrity: integrity.clone(),
            keys: keys.clone(),
            heatmap_limits: heatmap_limits.clone(),
            ping: settings.ws_ping,
            timeout: settings.ws_timeout,
            shutdown: shutdown.clone(),
        });
        let broadcasts = Arc::new(crate::broadcasts::Broadcasts::new(engine.clone(), zones.clone()));
        let official = Arc::new(crate::official::OfficialAlerts::default());
        if !settings.cap_feeds.feeds.is_empty() {
            let tls = crate::official::tls::client_config(&settings.cap_feeds.ca).map_err(StartupError::Settings)?;
            background.push(crate::official::feed::spawn(
                settings.cap_feeds.clone(),
                tls,
                official.clone(),
                shutdown.clone(),
            ));
        }
        let default_language = crate::domain::Language::parse(settings.languages.first().map_or("en", String::as_str))
            .map_err(|e| StartupError::Settings(e.message))?;
        let rumours = Arc::new(crate::rumours::Rumours::new(
            engine.clone(),
            zones.clone(),
            broadcasts.clone(),
            default_language,
        ));
        let state = web::Data::new(AppState {
            open311: Arc::new(api::open311::PublicRequests::default()),
            limits,
            reports,
            broadcasts,
            official,
            rumours,
            zones,
            cover,
            keys,
            sessions,
            heatmap_limits,
            ws_admission: Arc::new(ws::admission::Admission::new(
                settings.ws_max_per_address,
                ws::admission::max_connections(settings.ws_max_connections),
            )),
            settings,
            engine,
            ingestor,
            hub,
            integrity,
            shutdown,
            prometheus: telemetry::prometheus(),
        });

        let app_state = state.clone();
        let assets = crate::assets::Assets::discover(&state.settings.web_dir);
        let csp = content_security_policy(&state.settings.basemap);
        let server = HttpServer::new(move || {
            let basemap_dir = app_state.settings.geodata_dir.join("basemap");
            App::new()
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("Content-Security-Policy", csp.clone()))
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .wrap(actix_web::middleware::from_fn(api::public_reads::limit))
                .app_data(app_state.clone())
                .app_data(web::QueryConfig::default().error_handler(api::query_error))
                .configure(api::configure)
                .service(api::resource(
                    "/ws",
                    [(actix_web::http::Method::GET, web::to(crate::api::ws::upgrade))],
                ))
                .configure(|cfg| api::basemap::configure(&app_state.settings.basemap, cfg))
                .service(
                    actix_files::Files::new("/basemap", basemap_dir)
                        .default_handler(web::to(api::not_found))
                        .guard(api::page_methods()),
                )
                .configure(|cfg| assets.configure(cfg))
                .default_service(web::to(api::not_found))
        })
        .on_connect(ws::socket::on_connect)
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)
        .map_err(|e| StartupError::Bind(state.settings.listen.clone(), e))?
        .run();

        let metrics = match metrics_listener {
            None => None,
            Some(listener) => {
                let addr = state.settings.metrics_listen.clone().unwrap_or_default();
                let metrics_port = listener
                    .local_addr()
                    .map_err(|e| StartupError::Bind(addr.clone(), e))?
                    .port();
                let app_state = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(app_state.clone())
                        .configure(api::ops::configure_metrics_listener)
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(2)
                .listen(listener)
                .map_err(|e| StartupError::Bind(addr, e))?
                .run();
                Some((server, metrics_port))
            }
        };

        Ok(Self {
            port,
            server,
            metrics,
            state,
            background,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `--metrics-listen` address, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// The shared state, for callers that need the settings or token keys.
    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }

    /// A handle that stops the server gracefully.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            handle: self.server.handle(),
            metrics: self.metrics.as_ref().map(|(server, _)| server.handle()),
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
        let metrics = self.metrics.map(|(server, _)| (server.handle(), tokio::spawn(server)));
        let result = self.server.await;
        self.state.shutdown.cancel();
        if let Some((handle, task)) = metrics {
            // The main server's end is the metrics listener's too; its own
            // errors do not outweigh the main server's.
            handle.stop(true).await;
            let _ = task.await;
        }
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
    metrics: Option<ServerHandle>,
    shutdown: CancellationToken,
}

impl Stopper {
    /// Stops gracefully.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        // Give sessions a moment to send their close frames.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        self.handle.stop(true).await;
        if let Some(metrics) = &self.metrics {
            metrics.stop(true).await;
        }
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

/// The demo's commander: counts through the zones channel, as
/// `POST /api/v1/zones/{id}/headcount` does.
struct DemoCommander {
    hub: Arc<Hub>,
}

#[async_trait::async_trait]
impl demo::Commander for DemoCommander {
    async fn posters(&self, zone: &str) -> Option<u64> {
        let zones = self.hub.zones();
        let frame = zones.current(&zones.picture().estimate_window).await.ok()?;
        frame.zone(zone).map(|z| z.contributors)
    }

    async fn count(&self, zone: &str, people: u64) -> Result<(), String> {
        self.hub
            .zones()
            .take_headcount(
                zone,
                people,
                crate::engine::crowd::HeadcountSource::Headcount,
                "demo-commander",
            )
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
