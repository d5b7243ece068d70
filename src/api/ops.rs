//! Operations endpoints: liveness, readiness, metrics, the API description.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::AppState;
use super::error::ErrorEnvelope;

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
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        engine: state.engine.kind(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: 200 when the engine is reachable, 503 when not.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Engine reachable"),
    (status = 503, description = "Engine unreachable", body = ErrorEnvelope)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.engine.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready", "engine": state.engine.kind()})),
        Err(e) => actix_web::ResponseError::error_response(&super::error::ApiError::Unavailable(e)),
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let body = state.prometheus.as_ref().map(|p| p.render()).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
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
    paths(healthz, readyz, metrics, openapi_json, super::posts::ingest_posts, super::heatmap::get_heatmap, super::zones::get_zones,
        super::broadcasts::send, super::broadcasts::list, super::broadcasts::one, super::broadcasts::cap_xml,
        super::broadcasts::atom, super::broadcasts::acknowledge, super::broadcasts::audit,
        super::reports::create, super::reports::list, super::reports::moderate, super::stats::ingest),
    components(schemas(
        Health, ErrorEnvelope, super::error::ErrorBody,
        super::posts::PostInput, super::posts::IngestResponse, super::posts::RejectedItem,
        super::heatmap::HeatmapResponse, super::heatmap::CellOut
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
