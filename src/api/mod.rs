//! HTTP routes by resource. Handlers turn requests into domain types, call
//! the ingest path, the hub or the engine, and turn the result into the
//! contract's JSON; errors go through [`error::ApiError`].

pub mod alerts;
pub mod basemap;
pub mod body;
pub mod broadcasts;
pub mod calibration;
pub mod error;
pub mod event;
pub mod export;
pub mod geojson;
pub mod heatmap;
pub mod idempotency;
pub mod integrity;
pub mod official;
pub mod open311;
pub mod ops;
pub mod posts;
pub mod public_reads;
pub mod reports;
pub mod rumours;
pub mod schemas;
pub mod stats;
pub mod ws;
pub mod zones;

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Resource, Route, web};
use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::domain::{Principal, Role};
use crate::engine::Engine;
use crate::hub::Hub;
use crate::ingest::Ingestor;
use error::ApiError;

/// Everything a request handler may use.
pub struct AppState {
    /// The resolved configuration.
    pub settings: Settings,
    /// The engine, for health and reads.
    pub engine: Arc<dyn Engine>,
    /// The ingest path.
    pub ingestor: Arc<Ingestor>,
    /// Heatmap fan-out.
    pub hub: Arc<Hub>,
    /// Trends and coordinated clusters.
    pub integrity: Arc<crate::hub::IntegrityChannel>,
    /// Token verification.
    pub keys: Arc<TokenKeys>,
    /// Fired once at shutdown; sessions close with 1001.
    pub shutdown: CancellationToken,
    /// Citizen and field reports.
    pub reports: Arc<crate::reports::Reports>,
    /// Per-address limits of public callers.
    pub limits: Arc<crate::limits::PublicLimits>,
    /// Safety broadcasts.
    pub broadcasts: Arc<crate::broadcasts::Broadcasts>,
    /// Official CAP alerts taken in from `--cap-feed`.
    pub official: Arc<crate::official::OfficialAlerts>,
    /// The rumour register.
    pub rumours: Arc<crate::rumours::Rumours>,
    /// The event's zones, loaded at start-up.
    pub zones: Arc<crate::domain::Zones>,
    /// The cells covering each zone at the finest resolution, made once at
    /// start-up: what zone figures are summed over.
    pub cover: Arc<crate::crowd::cover::ZoneCover>,
    /// The Prometheus registry, when one could be installed.
    pub prometheus: Option<PrometheusHandle>,
    /// Who may open a WebSocket: caps per address and per node.
    pub ws_admission: Arc<crate::ws::admission::Admission>,
    /// What every WebSocket session runs with.
    pub sessions: Arc<crate::ws::session::Context>,
    /// What heatmap requests are checked against, over HTTP as over WebSocket.
    pub heatmap_limits: Arc<crate::hub::HeatmapLimits>,
    /// What the public reads of Open311 requests, shared by every caller.
    pub open311: Arc<open311::PublicRequests>,
}

/// The verified caller of a request.
pub struct Caller(pub Principal);

impl Caller {
    /// Refuses callers without one of `roles`: 401 for the public, 403 for
    /// a token of another role.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        match &self.0 {
            Principal::Public => Err(ApiError::Unauthorized(crate::auth::AuthError::InvalidToken)),
            p if p.has_any(roles) => Ok(()),
            Principal::User { role, .. } => Err(ApiError::Forbidden(format!("role {} may not do this", role.as_str()))),
        }
    }

    /// The token's `sub` of a caller that passed [`Caller::require`]; the
    /// audit log records it.
    pub fn sub(&self) -> Result<&str, ApiError> {
        match &self.0 {
            Principal::User { sub, .. } => Ok(sub),
            Principal::Public => Err(ApiError::Unauthorized(crate::auth::AuthError::InvalidToken)),
        }
    }

    /// Charges a public caller's request to its address: 429 with
    /// `Retry-After` past the limit. Token holders pass.
    pub fn throttle(&self, req: &HttpRequest, state: &AppState, spend: crate::limits::Spend) -> Result<(), ApiError> {
        if !self.0.is_public() {
            return Ok(());
        }
        state
            .limits
            .check(req, spend)
            .map_err(|wait| ApiError::RateLimited(wait.as_secs().max(1)))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Ok(Caller(Principal::Public)));
        };
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        ready(state.keys.from_header(header).map(Caller).map_err(ApiError::from))
    }
}

/// Reads a body of at most `limit` bytes; more is 413 in the envelope. The
/// whole body must arrive within `--body-timeout` of the handler asking for
/// it, or the answer is 408 and the connection is closed: a client that
/// sends headers and then a trickle (or nothing) holds no worker for long.
/// One deadline for the whole body, not one per read, so that a byte every
/// few seconds does not keep it alive either.
pub(crate) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map_or(std::time::Duration::from_secs(30), |s| s.settings.body_timeout);
    tokio::time::timeout(timeout, read_body_untimed(req, payload, limit))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::Timeout(format!(
                "the request body did not arrive within {} s",
                timeout.as_secs_f64()
            )))
        })
}

async fn read_body_untimed(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large = || ApiError::TooLarge(format!("the body exceeds {limit} bytes"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::Invalid(crate::domain::FieldError::general(
                "invalid_body",
                format!("the body could not be read: {e}"),
            ))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Mounts every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use Method as M;
    cfg.service(resource("/healthz", [(M::GET, web::to(ops::healthz))]))
        .service(resource("/readyz", [(M::GET, web::to(ops::readyz))]))
        .service(resource("/metrics", [(M::GET, web::to(ops::metrics))]))
        .service(resource("/openapi.json", [(M::GET, web::to(ops::openapi_json))]))
        .service(resource(
            "/api/v1/posts",
            [
                (M::POST, web::to(posts::ingest_posts)),
                (M::GET, web::to(integrity::list_posts)),
            ],
        ))
        .service(resource(
            "/api/v1/posts/{id}/reveal",
            [(M::POST, web::to(integrity::reveal_post))],
        ))
        .service(resource("/api/v1/trends", [(M::GET, web::to(integrity::get_trends))]))
        .service(resource(
            "/api/v1/clusters",
            [(M::GET, web::to(integrity::list_clusters))],
        ))
        .service(resource(
            "/api/v1/clusters/{id}/discount",
            [(M::POST, web::to(integrity::discount_cluster))],
        ))
        .service(resource(
            "/api/v1/clusters/{id}/restore",
            [(M::POST, web::to(integrity::restore_cluster))],
        ))
        .service(resource("/api/v1/zones", [(M::GET, web::to(zones::get_zones))]))
        .service(resource("/api/v1/zones/status", [(M::GET, web::to(zones::get_status))]))
        .service(resource(
            "/api/v1/zones/{id}/headcount",
            [(M::POST, web::to(calibration::take_headcount))],
        ))
        .service(resource(
            "/api/v1/calibration",
            [(M::GET, web::to(calibration::get_calibration))],
        ))
        .service(resource("/api/v1/event", [(M::GET, web::to(event::get_event))]))
        .service(resource(
            "/api/v1/broadcasts",
            [
                (M::GET, web::to(broadcasts::list)),
                (M::POST, web::to(broadcasts::send)),
            ],
        ))
        .service(resource(
            "/api/v1/broadcasts/{id}",
            [(M::GET, web::to(broadcasts::one))],
        ))
        .service(resource(
            "/api/v1/broadcasts/{id}/cap.xml",
            [(M::GET, web::to(broadcasts::cap_xml))],
        ))
        .service(resource(
            "/api/v1/broadcasts/{id}/ack",
            [(M::POST, web::to(broadcasts::acknowledge))],
        ))
        .service(resource("/api/v1/alerts.atom", [(M::GET, web::to(broadcasts::atom))]))
        .service(resource("/api/v1/alerts", [(M::GET, web::to(alerts::list))]))
        .service(resource("/api/v1/official-alerts", [(M::GET, web::to(official::list))]))
        .service(resource(
            "/api/v1/official-alerts/{id}/relay",
            [(M::POST, web::to(official::relay))],
        ))
        .service(resource(
            "/api/v1/reports",
            [(M::GET, web::to(reports::list)), (M::POST, web::to(reports::create))],
        ))
        .service(resource(
            "/api/v1/reports/{id}",
            [(M::PATCH, web::to(reports::moderate))],
        ))
        .service(resource(
            "/api/v1/rumours",
            [(M::GET, web::to(rumours::list)), (M::POST, web::to(rumours::create))],
        ))
        .service(resource("/api/v1/rumours.atom", [(M::GET, web::to(rumours::atom))]))
        .service(resource(
            "/api/v1/rumours/{id}",
            [(M::GET, web::to(rumours::one)), (M::PATCH, web::to(rumours::update))],
        ))
        .service(resource(
            "/api/v1/rumours/{id}/broadcast",
            [(M::POST, web::to(rumours::broadcast))],
        ))
        .service(resource("/api/v1/stats/ingest", [(M::GET, web::to(stats::ingest))]))
        .service(resource("/api/v1/audit", [(M::GET, web::to(broadcasts::audit))]))
        .service(resource("/api/v1/export", [(M::GET, web::to(export::export))]))
        .service(resource("/api/v1/heatmap", [(M::GET, web::to(heatmap::get_heatmap))]))
        .configure(open311::configure);
}

/// A route answering `routes`, and any other method with 405 in the
/// envelope and an `Allow` header naming the methods it takes (RFC 9110
/// §15.5.6).
pub fn resource<const N: usize>(path: &str, routes: [(Method, Route); N]) -> Resource {
    let (resource, allow) = routed(path, routes);
    resource.default_service(web::to(move || {
        let allow = allow.clone();
        async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow)) }
    }))
}

/// `routes` at `path`, with the `Allow` list of the methods they take: the
/// list is made from the routes themselves, so the two cannot drift apart.
/// A GET route answers HEAD too (RFC 9110 §9.1: every general-purpose
/// server supports both; the body is left out for HEAD). What answers the
/// other methods is the caller's: the envelope, or GeoReport's form.
fn routed<const N: usize>(path: &str, routes: [(Method, Route); N]) -> (Resource, String) {
    let mut allow: Vec<String> = Vec::with_capacity(N + 1);
    let mut resource = web::resource(path);
    for (method, route) in routes {
        allow.push(method.to_string());
        resource = if method == Method::GET {
            allow.push(Method::HEAD.to_string());
            resource.route(route.guard(page_methods()))
        } else {
            resource.route(route.method(method))
        };
    }
    (resource, allow.join(", "))
}

/// GET or HEAD: what pages, assets and GET routes take.
pub fn page_methods() -> impl actix_web::guard::Guard {
    actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head())
}

/// Answers what no route took, in the envelope: 404 for a GET or HEAD and
/// for anything under `/api/`; elsewhere every path is a page or an asset
/// of the web root, which take GET and HEAD only, so other methods are 405
/// with that `Allow`.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    if !read && !req.path().starts_with("/api/") {
        return Err(ApiError::MethodNotAllowed("GET, HEAD".to_owned()));
    }
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Maps actix's own query-string errors into the envelope.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::Invalid(crate::domain::FieldError::general("invalid_query", err.to_string())).into()
}
