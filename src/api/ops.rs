//! Operations endpoints: liveness, readiness, metrics, the API description.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::error::{ApiError, ErrorEnvelope};
use super::{AppState, Caller};
use crate::domain::Role;

/// Liveness answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    #[schema(example = "ok")]
    status: &'static str,
    /// `memory` or `redis`.
    #[schema(example = "memory")]
    engine: &'static str,
    /// Campanile's version.
    version: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        engine: state.engine.kind(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: 200 when the engine is reachable, 503 when not.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", responses(
    (status = 200, description = "Engine reachable", body = super::schemas::Ready),
    (status = 503, description = "Engine unreachable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.engine.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready", "engine": state.engine.kind()})),
        Err(e) => actix_web::ResponseError::error_response(&super::error::ApiError::Unavailable(e)),
    }
}

/// Prometheus metrics in the text exposition format, for operators: rates,
/// engine latencies and rejection codes tell an adversary how the server is
/// doing and which of their inputs bite. Scrapers without a token use the
/// `--metrics-listen` address instead.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
              (status = 401, description = "Missing, forged or expired token", body = ErrorEnvelope),
              (status = 403, description = "Only operators read metrics here; scrapers use --metrics-listen", body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn metrics(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    Ok(exposition(&state))
}

/// `/metrics` on the `--metrics-listen` address: no token, because only
/// that address's network (the operator's choice) can reach it.
pub async fn metrics_for_scrapers(state: web::Data<AppState>) -> HttpResponse {
    exposition(&state)
}

fn exposition(state: &AppState) -> HttpResponse {
    let body = state.prometheus.as_ref().map(|p| p.render()).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// The routes of the `--metrics-listen` address: `/metrics` and nothing else.
pub fn configure_metrics_listener(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource(
        "/metrics",
        [(actix_web::http::Method::GET, web::to(metrics_for_scrapers))],
    ))
    .default_service(web::to(super::not_found));
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi", responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    let mut doc = ApiDoc::openapi();
    describe_deployment(&mut doc, &state.settings);
    match serde_json::to_value(doc) {
        Ok(mut value) => {
            require_retry_after(&mut value);
            HttpResponse::Ok().json(value)
        }
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialise");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Marks `Retry-After` required wherever a response has it (429 and 503
/// always send it): utoipa's header type has no `required`, and without it
/// a checker would accept an answer that leaves the header out.
fn require_retry_after(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation.get_mut("responses").and_then(|r| r.as_object_mut()) else {
            continue;
        };
        for response in responses.values_mut() {
            if let Some(header) = response
                .pointer_mut("/headers/Retry-After")
                .and_then(|h| h.as_object_mut())
            {
                header.insert("required".into(), serde_json::Value::Bool(true));
            }
        }
    }
}

/// Writes this deployment's own bounds into the heatmap's parameters: the
/// resolutions it counts and the windows it keeps are configuration, and a
/// client (or a checker) should not have to guess them.
fn describe_deployment(doc: &mut utoipa::openapi::OpenApi, settings: &crate::config::Settings) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let Some(get) = doc
        .paths
        .paths
        .get_mut("/api/v1/heatmap")
        .and_then(|item| item.get.as_mut())
    else {
        return;
    };
    for param in get.parameters.iter_mut().flatten() {
        let schema = match param.name.as_str() {
            "res" => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(u8::from(settings.resolutions.coarsest())))
                .maximum(Some(u8::from(settings.resolutions.finest()))),
            "window" => ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(settings.windows.all().iter().map(|w| w.name().to_owned()))),
            _ => continue,
        };
        param.schema = Some(schema.into());
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI 3 description, generated from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Campanile", description = "Live crowd heatmaps and safety broadcasts for crises and mass gatherings."),
    paths(healthz, readyz, metrics, openapi_json, super::posts::ingest_posts, super::heatmap::get_heatmap, super::zones::get_zones, super::zones::get_status, super::calibration::take_headcount, super::calibration::get_calibration, super::event::get_event,
        super::broadcasts::send, super::broadcasts::list, super::broadcasts::one, super::broadcasts::cap_xml,
        super::broadcasts::atom, super::broadcasts::acknowledge, super::broadcasts::audit,
        super::reports::create, super::reports::list, super::reports::moderate, super::stats::ingest, super::alerts::list,
        super::export::export,
        super::integrity::list_posts, super::integrity::reveal_post, super::integrity::get_trends, super::integrity::list_clusters,
        super::integrity::discount_cluster, super::integrity::restore_cluster,
        super::rumours::create, super::rumours::update, super::rumours::list, super::rumours::one, super::rumours::atom,
        super::rumours::broadcast, super::basemap::basemap_archive,
        super::open311::discovery, super::open311::services, super::open311::service_definition,
        super::open311::list_requests, super::open311::one_request, super::open311::create_request,
        super::official::list, super::official::relay),
    components(schemas(
        Health, ErrorEnvelope, super::error::ErrorBody,
        super::posts::PostInput, super::posts::IngestResponse, super::posts::RejectedItem,
        crate::protocol::CellOut, crate::protocol::FullCell, crate::protocol::PublicCell,
        super::schemas::HeatmapFormat, super::schemas::ReportStatus,
        super::rumours::RumourList, crate::rumours::RumourView,
        super::open311::schemas::Open311Format, super::open311::schemas::GeoReportError,
        super::open311::schemas::Discovery, super::open311::schemas::Endpoint, super::open311::schemas::Service,
        super::open311::schemas::ServiceDefinition, super::open311::schemas::RequestForm,
        super::open311::schemas::RequestCreated, super::open311::schemas::ServiceRequest
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
