//! `POST /api/v1/posts`: bulk ingest of geotagged posts.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::idempotency::{self, IdempotencyKey};
use super::{AppState, Caller};
use crate::domain::Role;
use crate::engine::idempotency::{Claim, StoredAnswer};
use crate::ingest::{BodyError, BodyFormat, IngestReport, MAX_BATCH_ITEMS, WriteId, split_items};

/// The largest body accepted (DESIGN §3).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// One post as connectors send it (documentation only: items are parsed by
/// the intake, which names the field at fault).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PostInput {
    /// 1–32 chars of `[a-z0-9_-]`.
    #[schema(example = "mastodon", pattern = "^[a-z0-9_-]{1,32}$")]
    source: String,
    /// ≤128 chars; `(source, id)` seen again within retention is a duplicate.
    #[schema(max_length = 128)]
    id: Option<String>,
    /// Latitude, WGS84 degrees.
    #[schema(example = 44.4937, minimum = -90, maximum = 90)]
    lat: f64,
    /// Longitude, WGS84 degrees.
    #[schema(example = 11.343, minimum = -180, maximum = 180)]
    lon: f64,
    /// RFC 3339; default now; ≤5 min ahead, not older than retention.
    ts: Option<chrono::DateTime<chrono::Utc>>,
    /// ≤4,000 chars.
    #[schema(max_length = 4000)]
    text: Option<String>,
    /// ≤256 chars; replaced by a keyed hash at once, never stored.
    #[schema(max_length = 256)]
    author: Option<String>,
    /// BCP 47 tag.
    #[schema(example = "it", max_length = 35)]
    lang: Option<String>,
}

/// A JSON body: one post, or an array of at most 10,000 (written by hand:
/// the derive cannot bound an array inside a `oneOf`).
pub struct PostBatch;

impl utoipa::PartialSchema for PostBatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Ref};
        OneOfBuilder::new()
            .item(Ref::from_schema_name("PostInput"))
            .item(
                ArrayBuilder::new()
                    .items(Ref::from_schema_name("PostInput"))
                    .max_items(Some(MAX_BATCH_ITEMS)),
            )
            .description(Some("One post, or an array of at most 10,000"))
            .into()
    }
}

impl ToSchema for PostBatch {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((
            PostInput::name().into_owned(),
            <PostInput as utoipa::PartialSchema>::schema(),
        ));
        <PostInput as ToSchema>::schemas(schemas);
    }
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    /// Items stored and counted.
    pub accepted: u64,
    /// Items already seen.
    pub duplicates: u64,
    /// Items refused, by position.
    pub rejected: Vec<RejectedItem>,
}

/// One refused item.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedItem {
    /// 0-based position in the batch (NDJSON: among non-blank lines).
    pub index: usize,
    /// Stable error code.
    pub code: String,
    /// Explanation.
    pub message: String,
    /// The field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

fn body_format(req: &HttpRequest) -> Result<BodyFormat, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/x-ndjson" | "application/ndjson" => Ok(BodyFormat::Ndjson),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "content type {content_type:?} is not accepted: send application/json or application/x-ndjson"
        ))),
    }
}

/// Ingests one post, a JSON array of posts, or NDJSON.
#[utoipa::path(
    post, path = "/api/v1/posts", tag = "ingest", operation_id = "ingest_posts",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key with the same body answers as the first time and counts nothing again; the same key with another body is 422"),
    ),
    request_body(description = "One post, a JSON array of at most 10,000 posts, or NDJSON (one post per line); at most 8 MiB", content(
        (PostBatch = "application/json"),
        (String = "application/x-ndjson"),
    )),
    responses(
        (status = 202, description = "Processed: valid items stored, bad ones named by index", body = IngestResponse),
        (status = 400, description = "The body is not JSON or NDJSON of objects", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope),
        (status = 403, description = "Only ingest and operator tokens may post", body = super::error::ErrorEnvelope),
        (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope),
        (status = 409, description = "A request with this Idempotency-Key is in flight; retry shortly", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 413, description = "More than 10,000 items or 8 MiB", body = super::error::ErrorEnvelope),
        (status = 415, description = "Not application/json or application/x-ndjson", body = super::error::ErrorEnvelope),
        (status = 422, description = "This Idempotency-Key was used with another body", body = super::error::ErrorEnvelope),
        (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ),
    security(("bearer" = []))
)]
pub async fn ingest_posts(
    req: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Ingest, Role::Operator])?;
    let format = body_format(&req)?;
    let key = IdempotencyKey::from_request(&req)?;
    let body = super::read_body(&req, payload, MAX_BODY_BYTES).await?;
    let items = split_items(&body, format).map_err(|e| match e {
        BodyError::Malformed(err) => ApiError::Invalid(err),
        BodyError::TooManyItems => ApiError::TooLarge(format!(
            "the batch holds more than {MAX_BATCH_ITEMS} items, the most accepted"
        )),
    })?;
    let Some(key) = key else {
        let report = state.ingestor.ingest(items, &WriteId::unique()).await?;
        return Ok(HttpResponse::Accepted().json(IngestResponse::from(report)));
    };

    // Under a key: the first answer is kept and given again to every retry
    // with the same body, and the writes are named by the key, so that a
    // retry after a failure mid-batch finishes the batch instead of counting
    // its first part twice.
    let scope = idempotency::scope(&caller, &req, &state);
    let slot = idempotency::slot(&scope, &key);
    let hash = idempotency::body_hash(format, &body);
    let store = state.engine.idempotency();
    let keep = state.settings.retention;
    let now = chrono::Utc::now();
    let (token, first_at) = match store
        .claim(&slot, &hash, now.timestamp_millis(), idempotency::LEASE, keep)
        .await?
    {
        Claim::Fresh { token, first_at } => (token, first_at),
        Claim::Answered(answer) => return Ok(idempotency::respond(answer, true)),
        Claim::InFlight => return Err(idempotency::in_flight()),
        Claim::Mismatch => return Err(idempotency::reused()),
    };
    let answered = async {
        let at = chrono::DateTime::from_timestamp_millis(first_at).unwrap_or(now);
        let report = state
            .ingestor
            .ingest(items, &WriteId::keyed(&scope, key.as_str(), at))
            .await?;
        let body = serde_json::to_string(&IngestResponse::from(report))
            .map_err(|e| crate::engine::EngineError::Unavailable(e.to_string()))?;
        let answer = StoredAnswer { status: 202, body };
        store
            .finish(&slot, &hash, &answer, chrono::Utc::now().timestamp_millis(), keep)
            .await
    }
    .await;
    match answered {
        Ok(answer) => Ok(idempotency::respond(answer, false)),
        Err(e) => {
            // Let the client's retry run now rather than when the lease ends;
            // if the store is down too, the lease simply runs out.
            if let Err(release) = store
                .release(&slot, &token, chrono::Utc::now().timestamp_millis())
                .await
            {
                tracing::debug!(error = %release, "could not release an idempotency lease");
            }
            Err(e.into())
        }
    }
}

impl From<IngestReport> for IngestResponse {
    fn from(report: IngestReport) -> Self {
        IngestResponse {
            accepted: report.accepted,
            duplicates: report.duplicates,
            rejected: report
                .rejected
                .into_iter()
                .map(|r| RejectedItem {
                    index: r.index,
                    code: r.error.code.to_owned(),
                    message: r.error.message,
                    field: r.error.field.as_deref().map(str::to_owned),
                })
                .collect(),
        }
    }
}
