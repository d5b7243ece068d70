//! `GET /api/v1/alerts`: the alerts raised since a time, newest first, for
//! operators and commanders (DESIGN §3); read from the engine, which keeps
//! every node's alerts.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::domain::{FieldError, Role};

/// `?since=` as Unix seconds; without it, the start of the alert history.
fn since(req: &HttpRequest, state: &AppState) -> Result<i64, ApiError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| FieldError::general("invalid_query", e.to_string()))?;
    match query.get("since") {
        Some(t) => Ok(chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| FieldError::new("invalid_timestamp", "since", "since must be an RFC 3339 timestamp"))?
            .timestamp()),
        None => {
            let history = i64::try_from(state.settings.alert_history.as_secs()).unwrap_or(i64::MAX);
            Ok(Utc::now().timestamp().saturating_sub(history))
        }
    }
}

/// The alerts raised since `since` (default: the alert history), newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", operation_id = "list_alerts",
    params(("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Only alerts raised at or after this RFC 3339 time; default: the last `--alert-history` (30 min). Alerts are kept for a day")),
    responses((status = 200, description = "Surge, threshold and zone alerts, newest first", body = super::schemas::AlertList),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators and commanders read alerts", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn list(caller: Caller, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator, Role::Commander])?;
    let since = since(&req, &state)?;
    let mut alerts: Vec<Value> = crate::alert::oldest_first(state.engine.alerts_since(since).await?)
        .iter()
        .filter_map(|body| serde_json::from_str(body).ok())
        .collect();
    alerts.reverse();
    Ok(HttpResponse::Ok().json(json!({"alerts": alerts})))
}
