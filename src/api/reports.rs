//! Reports over HTTP: anyone may report; operators and commanders read;
//! operators moderate.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::domain::report::{ReportInput, ReportStatus};
use crate::domain::rumour::RumourInput;
use crate::domain::{BBox, FieldError, Role};
use crate::reports::{ReportError, ReportFilter, view};
use crate::rumours::RumourLink;

/// The largest report body.
const MAX_REPORT_BYTES: usize = 64 * 1024;

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Invalid(f) => ApiError::Invalid(f),
            ReportError::NotFound(id) => ApiError::NotFound(format!("no report {id:?}")),
            ReportError::Engine(e) => ApiError::Unavailable(e),
        }
    }
}

/// Takes a citizen report, or a field report with a commander token.
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", operation_id = "create_report",
    request_body(content = super::schemas::ReportRequest, content_type = "application/json"),
    responses((status = 201, description = "Taken; citizen reports count in public views once verified", body = super::schemas::ReportCreated),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 64 KiB", body = super::error::ErrorEnvelope), (status = 415, description = "Not application/json", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.throttle(&req, &state, crate::limits::Spend::Report)?;
    super::body::require_json(&req, "report")?;
    let body = super::read_body(&req, payload, MAX_REPORT_BYTES).await?;
    let input: ReportInput = super::body::parse_json(&body, "report", ReportInput::FIELDS)?;
    let report = intake(&caller, &state, &input).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": report.id, "status": report.status, "origin": report.origin,
        "received_at": crate::domain::rfc3339(report.received_at),
    })))
}

/// The one intake of every report, whatever its wire form (this route,
/// Open311): a commander's is a field report and calibrates the estimates,
/// anyone else's is a citizen report awaiting moderation. The caller has
/// been throttled already.
pub(crate) async fn intake(
    caller: &Caller,
    state: &AppState,
    input: &ReportInput,
) -> Result<crate::domain::report::Report, ApiError> {
    let field = caller.0.has_any(&[Role::Commander]);
    let report = state.reports.create(input, field).await?;
    if field {
        super::calibration::calibrate_from_field_report(state, &report, caller.sub()?).await;
    }
    Ok(report)
}

/// Reports as GeoJSON Points (operators and commanders).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", operation_id = "list_reports",
    params(("status" = Option<super::schemas::ReportStatus>, Query, description = "Only reports in this state"),
           ("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Only reports received at or after this RFC 3339 time"),
           ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat", pattern = r"^-?[0-9]+(\.[0-9]+)?(,-?[0-9]+(\.[0-9]+)?){3}$")),
    responses((status = 200, description = "Reports as GeoJSON Points; `contact` to operators only", content_type = "application/geo+json", body = super::schemas::ReportCollection),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators and commanders read reports", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn list(caller: Caller, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator, Role::Commander])?;
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| FieldError::general("invalid_query", e.to_string()))?;
    let status = query.get("status").map(|s| ReportStatus::parse_filter(s)).transpose()?;
    let since = match query.get("since") {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| FieldError::new("invalid_timestamp", "since", "since must be an RFC 3339 timestamp"))?
            .timestamp(),
        None => 0,
    };
    let bbox = query.get("bbox").map(|b| BBox::parse(b)).transpose()?;
    let operator = caller.0.has_any(&[Role::Operator]);
    let reports = state.reports.list(&ReportFilter { status, since, bbox }).await?;
    let features: Vec<_> = reports
        .iter()
        .map(|r| json!({"type": "Feature", "id": r.id, "geometry": {"type": "Point", "coordinates": [r.location.lon(), r.location.lat()]}, "properties": view(r, operator)}))
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/geo+json")
        .json(json!({"type": "FeatureCollection", "features": features})))
}

/// The moderation body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moderation {
    /// verified, dismissed or false (a rumour).
    status: String,
    /// With `false` only: the rumour register entry the report carried, by
    /// id, or a new entry (an object as `POST /api/v1/rumours` takes).
    #[serde(default)]
    rumour: Option<serde_json::Value>,
}

/// The `rumour` of a moderation as a link: a string names an entry, an
/// object is a new one, with its fields' errors named under `rumour.`.
fn rumour_link(value: serde_json::Value) -> Result<RumourLink, FieldError> {
    match value {
        serde_json::Value::String(id) => Ok(RumourLink::Existing(id)),
        object @ serde_json::Value::Object(_) => {
            let text = object.to_string();
            let input: RumourInput =
                super::body::parse_json(text.as_bytes(), "rumour", RumourInput::FIELDS).map_err(|e| {
                    let field = e.field.map_or_else(|| "rumour".to_owned(), |f| format!("rumour.{f}"));
                    FieldError::new(e.code, field, e.message)
                })?;
            Ok(RumourLink::New(Box::new(input)))
        }
        _ => Err(FieldError::new(
            "invalid_rumour",
            "rumour",
            "rumour must be an entry's id or a new entry {\"claim\", \"status\", \"fact\", …}",
        )),
    }
}

/// Moderates a report (operators); dismissed and false reports stop
/// counting. With `"status": "false"` and `rumour`, the report is linked to
/// a rumour register entry (an existing one, or one recorded now) in the
/// same step.
#[utoipa::path(patch, path = "/api/v1/reports/{id}", tag = "reports", operation_id = "moderate_report",
    params(("id" = String, Path, description = "The report's id")),
    request_body(content = super::schemas::ModerationRequest, content_type = "application/json"),
    responses((status = 200, description = "The moderated report", body = super::schemas::ReportView),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators moderate", body = super::error::ErrorEnvelope), (status = 404, description = "No such report", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 64 KiB", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn moderate(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    // A new rumour entry may come with its translations.
    let body = super::read_body(&req, payload, MAX_REPORT_BYTES).await?;
    let m: Moderation = serde_json::from_slice(&body)
        .map_err(|e| FieldError::general("invalid_json", format!("send {{\"status\": …}}: {e}")))?;
    let report = match m.rumour {
        None => {
            state
                .reports
                .moderate(&id, &m.status, None, caller.sub()?, &state.broadcasts)
                .await?
        }
        Some(_) if m.status != ReportStatus::False.as_str() => {
            return Err(FieldError::new(
                "invalid_rumour",
                "rumour",
                "only a report moderated false is linked to a rumour",
            )
            .into());
        }
        Some(value) => {
            let link = rumour_link(value)?;
            state
                .rumours
                .link_report(&state.reports, &id, link, caller.sub()?)
                .await?
                .0
        }
    };
    Ok(HttpResponse::Ok().json(view(&report, true)))
}
