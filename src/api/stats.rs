//! `GET /api/v1/stats/ingest`: items per time bucket over the last hour, for
//! the operations room's ingest-rate timeline.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::domain::Role;
use crate::domain::rfc3339;

/// Items per bucket over the last hour (operators and commanders).
#[utoipa::path(get, path = "/api/v1/stats/ingest", tag = "heatmap", operation_id = "ingest_stats",
    responses((status = 200, description = "Items per bucket over the last hour", body = super::schemas::IngestStats),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators and commanders", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn ingest(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator, Role::Commander])?;
    let layout = state.settings.layout();
    let now = Utc::now().timestamp();
    let first = layout.first_bucket(3_600.min(layout.longest_window_secs), now);
    let totals = state.engine.bucket_totals(first, now).await?;
    let secs = layout.bucket_secs as f64;
    let buckets: Vec<_> = totals
        .into_iter()
        .map(|(start, count)| {
            let start = DateTime::from_timestamp(start, 0).map(rfc3339);
            json!({"start": start, "count": count, "per_s": count as f64 / secs})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"bucket_secs": layout.bucket_secs, "buckets": buckets})))
}
