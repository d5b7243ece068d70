//! Safety broadcasts over HTTP: send, list, read, CAP, Atom, acknowledge,
//! and the audit log of operator actions.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::broadcasts::{BroadcastView, Broadcasts, SendError, visible};
use crate::domain::broadcast::{AudienceKind, BroadcastInput, StoredBroadcast};
use crate::domain::{FieldError, Principal, Role};

/// The largest broadcast body: fifty translations of long texts fit.
const MAX_BROADCAST_BYTES: usize = 1024 * 1024;

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid(f) => ApiError::Invalid(f),
            SendError::Engine(e) => ApiError::Unavailable(e),
        }
    }
}

/// A message as the caller may see it: with every acknowledgement for
/// operators; with their own, if any, for a commander, so that a tablet
/// opened again shows what it already acknowledged without learning who
/// else did.
async fn view(state: &AppState, b: &StoredBroadcast, caller: &Caller) -> Result<BroadcastView, ApiError> {
    let mut v = Broadcasts::view(b, &caller.0);
    match &caller.0 {
        Principal::User {
            role: Role::Operator, ..
        } => {
            v.acks = Some(state.broadcasts.acknowledgements(&b.id).await?);
        }
        Principal::User {
            role: Role::Commander,
            sub,
        } if b.broadcast.audience == AudienceKind::Responders => {
            let mut acks = state.broadcasts.acknowledgements(&b.id).await?;
            acks.retain(|a| a.sub == *sub);
            v.acks = Some(acks);
        }
        _ => {}
    }
    Ok(v)
}

async fn visible_one(state: &AppState, id: &str, caller: &Caller) -> Result<StoredBroadcast, ApiError> {
    match state.broadcasts.get(id).await? {
        Some(b) if visible(&caller.0, b.broadcast.audience) => Ok(b),
        _ => Err(ApiError::NotFound(format!("no broadcast {id:?}"))),
    }
}

/// Sends, updates or cancels a message (operators).
#[utoipa::path(post, path = "/api/v1/broadcasts", tag = "broadcasts", operation_id = "send_broadcast",
    request_body(content = super::schemas::BroadcastRequest, content_type = "application/json"),
    responses((status = 201, description = "The stored message with id, seq and sent", body = super::schemas::BroadcastView),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators send", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 1 MiB", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn send(
    req: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let body = super::read_body(&req, payload, MAX_BROADCAST_BYTES).await?;
    let input: BroadcastInput = super::body::parse_json(&body, "broadcast", BroadcastInput::FIELDS)?;
    let stored = state.broadcasts.send(input, caller.sub()?).await?;
    Ok(HttpResponse::Created().json(view(&state, &stored, &caller).await?))
}

/// `?active=true` keeps messages in force; anything but `true` or `false`
/// is refused with the field named (actix's own query errors name none).
fn active_flag(req: &HttpRequest) -> Result<bool, ApiError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| FieldError::general("invalid_query", e.to_string()))?;
    match query.get("active").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(FieldError::new(
            "invalid_query",
            "active",
            format!(
                "active must be true or false, not {:?}",
                other.chars().take(32).collect::<String>()
            ),
        )
        .into()),
    }
}

/// Lists retained messages the caller may see, oldest first.
#[utoipa::path(get, path = "/api/v1/broadcasts", tag = "broadcasts", operation_id = "list_broadcasts",
    params(("active" = Option<bool>, Query, description = "true: only unexpired, uncancelled, unsuperseded messages")),
    responses((status = 200, description = "The messages the caller may see (the public: public audience only)", body = super::schemas::BroadcastList),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn list(req: HttpRequest, caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let active = active_flag(&req)?;
    let messages = if active {
        state.broadcasts.active(Utc::now()).await?
    } else {
        state.broadcasts.all().await?
    };
    let mut out = Vec::new();
    for b in messages.iter().filter(|b| visible(&caller.0, b.broadcast.audience)) {
        out.push(view(&state, b, &caller).await?);
    }
    Ok(HttpResponse::Ok().json(json!({"broadcasts": out})))
}

/// One message.
#[utoipa::path(get, path = "/api/v1/broadcasts/{id}", tag = "broadcasts", operation_id = "get_broadcast", params(("id" = String, Path, description = "The message's id")),
    responses((status = 200, description = "The message", body = super::schemas::BroadcastView),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 404, description = "No such message the caller may see", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn one(caller: Caller, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let b = visible_one(&state, &id, &caller).await?;
    Ok(HttpResponse::Ok().json(view(&state, &b, &caller).await?))
}

/// One message as a CAP 1.2 document.
#[utoipa::path(get, path = "/api/v1/broadcasts/{id}/cap.xml", tag = "broadcasts", operation_id = "get_broadcast_cap", params(("id" = String, Path, description = "The message's id")),
    responses((status = 200, description = "A CAP 1.2 document", content_type = "application/cap+xml", body = String),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 404, description = "No such message the caller may see", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn cap_xml(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = visible_one(&state, &id, &caller).await?;
    let referenced = match &b.broadcast.references {
        Some(r) => state.broadcasts.get(r).await?,
        None => None,
    };
    let xml = crate::alert::cap::render(&b, referenced.as_ref(), &state.zones, &state.settings.publisher);
    Ok(HttpResponse::Ok()
        .content_type("application/cap+xml; charset=utf-8")
        .body(xml))
}

/// The active public messages as Atom, each entry linking its CAP document.
/// Anyone may read it; a forged token is still refused, as on every route.
#[utoipa::path(get, path = "/api/v1/alerts.atom", tag = "broadcasts", operation_id = "alerts_atom",
    responses((status = 200, description = "Atom 1.0 feed", content_type = "application/atom+xml", body = String),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 429, description = "Too many requests from this address", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn atom(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let active: Vec<StoredBroadcast> = state
        .broadcasts
        .active(Utc::now())
        .await?
        .into_iter()
        .filter(|b| b.broadcast.audience == AudienceKind::Public)
        .collect();
    // Links come from --public-url only: Host and X-Forwarded-Host are the
    // caller's to choose, and a feed that pointed elsewhere would be a phish.
    let xml = crate::alert::atom::render(&active, &state.settings.publisher);
    Ok(HttpResponse::Ok()
        .content_type("application/atom+xml; charset=utf-8")
        .body(xml))
}

/// A commander acknowledges a message; repeating it changes nothing.
#[utoipa::path(post, path = "/api/v1/broadcasts/{id}/ack", tag = "broadcasts", operation_id = "acknowledge_broadcast", params(("id" = String, Path, description = "The message's id")),
    responses((status = 200, description = "Acknowledged", body = super::schemas::Acknowledged),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only commanders acknowledge", body = super::error::ErrorEnvelope), (status = 404, description = "No such message the caller may see", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn acknowledge(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Commander])?;
    let b = visible_one(&state, &id, &caller).await?;
    let first = state.broadcasts.acknowledge(&b.id, caller.sub()?).await?;
    Ok(HttpResponse::Ok().json(json!({"id": b.id, "acknowledged": true, "first": first})))
}

/// `?limit=N` (default 100, clamped to 1..=1,000); not a number is refused
/// with the field named.
fn audit_limit(req: &HttpRequest) -> Result<usize, ApiError> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| FieldError::general("invalid_query", e.to_string()))?;
    match query.get("limit") {
        None => Ok(100),
        Some(n) => n.parse::<usize>().map(|n| n.clamp(1, 1_000)).map_err(|_| {
            FieldError::new("invalid_query", "limit", "limit must be a whole number from 1 to 1000").into()
        }),
    }
}

/// The audit log of operator and commander actions, newest first (operators).
#[utoipa::path(get, path = "/api/v1/audit", tag = "broadcasts", operation_id = "audit_log",
    params(("limit" = Option<u32>, Query, description = "Entries to return: default 100; 0 is taken as 1 and more than 1000 as 1000", minimum = 0)),
    responses((status = 200, description = "Newest first", body = super::schemas::AuditLog),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators read the audit log", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn audit(req: HttpRequest, caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let limit = audit_limit(&req)?;
    let entries: Vec<Value> = state
        .engine
        .audit_log(limit)
        .await?
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    Ok(HttpResponse::Ok().json(json!({"entries": entries})))
}
