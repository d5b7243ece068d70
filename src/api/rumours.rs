//! The rumour register over HTTP (DESIGN §10): operators record, change and
//! broadcast entries; anyone reads the published ones, as JSON or Atom,
//! from the node's snapshot rather than the engine.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::broadcasts::{BroadcastView, Broadcasts};
use crate::domain::Role;
use crate::domain::rumour::RumourInput;
use crate::rumours::{BroadcastOptions, PublicRumourView, RumourError, RumourView, StoredRumour};

/// The largest entry: fifty translations of long facts fit.
const MAX_RUMOUR_BYTES: usize = 1024 * 1024;

impl From<RumourError> for ApiError {
    fn from(e: RumourError) -> Self {
        match e {
            RumourError::Invalid(f) => ApiError::Invalid(f),
            RumourError::NotFound(id) => ApiError::NotFound(format!("no rumour {id:?}")),
            e @ RumourError::NotPublished(_) => {
                ApiError::WrongState(crate::domain::FieldError::general("not_published", e.to_string()))
            }
            RumourError::Report(e) => e.into(),
            RumourError::Engine(e) => ApiError::Unavailable(e),
        }
    }
}

/// Whether the caller sees every entry with its links and authors.
fn operator(caller: &Caller) -> bool {
    caller.0.has_any(&[Role::Operator])
}

/// `GET /api/v1/rumours`: operators get every entry.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RumourList {
    /// Newest update first.
    pub rumours: Vec<RumourView>,
}

/// `GET /api/v1/rumours`: everyone else gets the published entries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicRumourList {
    /// Newest update first.
    pub rumours: Vec<PublicRumourView>,
}

/// `POST /api/v1/rumours/{id}/broadcast`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RumourBroadcast {
    /// The public broadcast sent.
    #[schema(value_type = super::schemas::BroadcastView)]
    pub broadcast: BroadcastView,
    /// The entry, with the broadcast's id in `broadcasts`.
    pub rumour: RumourView,
}

/// Records an entry (operators).
#[utoipa::path(post, path = "/api/v1/rumours", tag = "rumours", operation_id = "create_rumour",
    request_body(content = RumourInput, content_type = "application/json"),
    responses((status = 201, description = "The stored entry with id, created, updated and version", body = RumourView),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators record rumours", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 1 MiB", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let body = super::read_body(&req, payload, MAX_RUMOUR_BYTES).await?;
    let input: RumourInput = super::body::parse_json(&body, "rumour", RumourInput::FIELDS)?;
    let stored = state.rumours.create(&input, caller.sub()?).await?;
    Ok(HttpResponse::Created().json(stored.view()))
}

/// Changes any fields of an entry (operators); audited.
#[utoipa::path(patch, path = "/api/v1/rumours/{id}", tag = "rumours", operation_id = "update_rumour",
    params(("id" = String, Path, description = "The entry's id")),
    request_body(content = RumourInput, content_type = "application/json", description = "Only the fields to change"),
    responses((status = 200, description = "The entry with its new version and updated time", body = RumourView),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators change rumours", body = super::error::ErrorEnvelope), (status = 404, description = "No such entry", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 1 MiB", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn update(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let body = super::read_body(&req, payload, MAX_RUMOUR_BYTES).await?;
    let patch: RumourInput = super::body::parse_json(&body, "rumour", RumourInput::FIELDS)?;
    let stored = state.rumours.update(&id, patch, caller.sub()?).await?;
    Ok(HttpResponse::Ok().json(stored.view()))
}

/// Lists the register: operators every entry, everyone else the published
/// ones without links or authors.
#[utoipa::path(get, path = "/api/v1/rumours", tag = "rumours", operation_id = "list_rumours",
    responses((status = 200, description = "Newest update first; operators get RumourList, everyone else PublicRumourList", body = PublicRumourList),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if operator(&caller) {
        let rumours = state.rumours.all().await?.iter().map(StoredRumour::view).collect();
        return Ok(HttpResponse::Ok().json(RumourList { rumours }));
    }
    let rumours = state
        .rumours
        .published()
        .await?
        .iter()
        .map(StoredRumour::public_view)
        .collect();
    Ok(HttpResponse::Ok().json(PublicRumourList { rumours }))
}

/// One entry; an unpublished one is 404 for all but operators.
#[utoipa::path(get, path = "/api/v1/rumours/{id}", tag = "rumours", operation_id = "get_rumour",
    params(("id" = String, Path, description = "The entry's id")),
    responses((status = 200, description = "The entry; operators get RumourView, everyone else PublicRumourView", body = PublicRumourView),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 404, description = "No such entry the caller may see", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn one(caller: Caller, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let missing = || ApiError::NotFound(format!("no rumour {:?}", id.as_str()));
    if operator(&caller) {
        let stored = state.rumours.get(&id).await?.ok_or_else(missing)?;
        return Ok(HttpResponse::Ok().json(stored.view()));
    }
    let published = state.rumours.published().await?;
    let stored = published.iter().find(|r| r.id == *id).ok_or_else(missing)?;
    Ok(HttpResponse::Ok().json(stored.public_view()))
}

/// The published entries as Atom, newest update first.
#[utoipa::path(get, path = "/api/v1/rumours.atom", tag = "rumours", operation_id = "rumours_atom",
    responses((status = 200, description = "Atom 1.0 feed: each entry \"Rumour: … / Fact: …\" with its status", content_type = "application/atom+xml", body = String),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn atom(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let published = state.rumours.published().await?;
    let xml = crate::rumours::render_atom(&published, &state.settings.publisher);
    Ok(HttpResponse::Ok()
        .content_type("application/atom+xml; charset=utf-8")
        .body(xml))
}

/// Makes a published entry a public broadcast in one step (operators).
#[utoipa::path(post, path = "/api/v1/rumours/{id}/broadcast", tag = "rumours", operation_id = "broadcast_rumour",
    params(("id" = String, Path, description = "The entry's id")),
    request_body(content = BroadcastOptions, content_type = "application/json", description = "Optional; the area defaults to the entry's zones"),
    responses((status = 201, description = "The broadcast sent and the entry linking it", body = RumourBroadcast),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators broadcast", body = super::error::ErrorEnvelope), (status = 404, description = "No such entry", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 409, description = "`not_published`: publish the entry first", body = super::error::ErrorEnvelope), (status = 413, description = "More than 1 MiB", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn broadcast(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let body = super::read_body(&req, payload, MAX_RUMOUR_BYTES).await?;
    let options: BroadcastOptions = if body.iter().all(u8::is_ascii_whitespace) {
        BroadcastOptions::default()
    } else {
        super::body::parse_json(&body, "broadcast of a rumour", BroadcastOptions::FIELDS)?
    };
    let (sent, entry) = state.rumours.broadcast(&id, &options, caller.sub()?).await?;
    Ok(HttpResponse::Created().json(RumourBroadcast {
        broadcast: Broadcasts::view(&sent, &caller.0),
        rumour: entry.view(),
    }))
}
