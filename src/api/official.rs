//! Official CAP alerts over HTTP (DESIGN §11): the list operators and
//! commanders read, and the relay that makes one a public broadcast.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::error::ApiError;
use super::{AppState, Caller, idempotency};
use crate::broadcasts::{BroadcastView, Broadcasts};
use crate::domain::broadcast::{AreaInput, BroadcastInput, CircleInput};
use crate::domain::text::is_xml_char;
use crate::domain::{FieldError, Language, Role};
use crate::engine::EngineError;
use crate::engine::idempotency::{Claim, StoredAnswer};
use crate::official::cap_in::{Scope, Status};
use crate::official::{Kept, OfficialAlertView, RefusalView};

/// The list and what was lately refused.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OfficialAlertList {
    /// Alerts in force, newest `sent` first; each alert once.
    pub official_alerts: Vec<OfficialAlertView>,
    /// The latest feed answers and documents not taken, newest first (at most 50 per feed, 500 in all; the newest of each document and code).
    pub refused: Vec<RefusalView>,
}

/// What a relay answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RelayAnswer {
    /// The public broadcast sent.
    #[schema(value_type = super::schemas::BroadcastView)]
    pub broadcast: BroadcastView,
    /// The official alert it relays.
    pub official_alert: OfficialAlertView,
}

/// The official alerts in force (operators, commanders; commanders read
/// phone numbers and e-mail addresses masked, DESIGN §6).
#[utoipa::path(get, path = "/api/v1/official-alerts", tag = "official alerts", operation_id = "list_official_alerts",
    responses((status = 200, description = "Official CAP alerts taken in from --cap-feed, and recent refusals", body = OfficialAlertList),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators and commanders read them", body = super::error::ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator, Role::Commander])?;
    let now = Utc::now();
    let operator = caller.0.has_any(&[Role::Operator]);
    Ok(HttpResponse::Ok().json(OfficialAlertList {
        official_alerts: state
            .official
            .current(now)
            .iter()
            .map(|k| if operator { k.view() } else { k.view().masked() })
            .collect(),
        refused: state.official.refusals(),
    }))
}

/// Relays an official alert to the public as a broadcast (operators).
#[utoipa::path(post, path = "/api/v1/official-alerts/{id}/relay", tag = "official alerts", operation_id = "relay_official_alert",
    params(("id" = String, Path, description = "The official alert's id")),
    responses((status = 201, description = "The public broadcast sent, and the alert it relays. An alert is relayed once: relaying it again answers the first relay's answer, with `Idempotent-Replayed: true`", body = RelayAnswer),
              (status = 400, description = "`not_actual` (a Test, Exercise, System or Draft alert), `not_public` (scope Restricted or Private), `no_area` (areas by code only) or `no_expiry`, or the alert does not fit a broadcast; `field` names why", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators relay", body = super::error::ErrorEnvelope), (status = 404, description = "No such alert in force", body = super::error::ErrorEnvelope), (status = 409, description = "`relay_in_progress`: another request is relaying this alert right now", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn relay(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let sub = caller.sub()?;
    let kept = state.official.get(&id, Utc::now()).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no official alert {:?} in force",
            id.chars().take(64).collect::<String>()
        ))
    })?;
    let input = broadcast_input(&kept)?;
    // Relayed once per deployment: a second click, a second operator or a
    // retry after a lost answer gets the first relay's answer, not a second
    // public message.
    let store = state.engine.idempotency();
    let slot = idempotency::slot_named("official-relay", &kept.id);
    let keep = state.settings.retention;
    let now = Utc::now().timestamp_millis();
    let token = match store.claim(&slot, RELAY, now, idempotency::LEASE, keep).await? {
        Claim::Fresh { token, .. } => token,
        Claim::Answered(answer) => return Ok(idempotency::respond(answer, true)),
        Claim::InFlight | Claim::Mismatch => {
            return Err(ApiError::Conflict(FieldError::general(
                "relay_in_progress",
                "this alert is being relayed by another request right now; read the broadcasts in a moment",
            )));
        }
    };
    let relayed = async {
        let sent = state.broadcasts.send(input, sub).await?;
        state
            .broadcasts
            .audit(
                "official.relay",
                sub,
                json!({"official_alert": kept.id, "source": kept.source, "sender": kept.alert.sender,
                       "identifier": kept.alert.identifier, "broadcast": sent.id}),
            )
            .await?;
        let answer = RelayAnswer {
            broadcast: Broadcasts::view(&sent, &caller.0),
            official_alert: kept.view(),
        };
        let body = serde_json::to_string(&answer).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let answer = StoredAnswer { status: 201, body };
        Ok::<_, ApiError>(
            store
                .finish(&slot, RELAY, &answer, Utc::now().timestamp_millis(), keep)
                .await?,
        )
    }
    .await;
    match relayed {
        Ok(answer) => Ok(idempotency::respond(answer, false)),
        Err(e) => {
            if let Err(release) = store.release(&slot, &token, Utc::now().timestamp_millis()).await {
                tracing::debug!(error = %release, "could not release a relay's lease");
            }
            Err(e)
        }
    }
}

/// What every relay of one alert claims its slot with: they are all the same request.
const RELAY: &str = "relay";

/// At most `max` characters XML can carry, trimmed; none when empty.
fn fitted(text: &str, max: usize) -> Option<String> {
    let kept: String = text.trim().chars().filter(|c| is_xml_char(*c)).take(max).collect();
    let kept = kept.trim().to_owned();
    (!kept.is_empty()).then_some(kept)
}

/// The broadcast a relay sends: the alert's main info, its polygons and
/// circles, and its expiry; CAP's category, severity, urgency and
/// certainty carry over as they are (broadcasts are CAP too).
fn broadcast_input(kept: &Kept) -> Result<BroadcastInput, ApiError> {
    let alert = &kept.alert;
    // A drill, a test or a draft is not news for the public, and what its
    // author restricted is not ours to publish.
    if alert.status != Status::Actual {
        return Err(FieldError::new(
            "not_actual",
            "status",
            format!(
                "the official alert's status is {:?}: only Actual alerts are relayed to the public",
                alert.status
            ),
        )
        .into());
    }
    if alert.scope != Scope::Public {
        return Err(FieldError::new(
            "not_public",
            "scope",
            format!(
                "the official alert's scope is {:?}: only Public alerts are relayed to the public",
                alert.scope
            ),
        )
        .into());
    }
    let info = alert.main_info().ok_or_else(|| {
        FieldError::new(
            "no_info",
            "id",
            "the official alert has no info block: nothing to relay",
        )
    })?;
    let expires = alert.expires().ok_or_else(|| {
        FieldError::new(
            "no_expiry",
            "expires",
            "the official alert gives no expiry; a broadcast needs one",
        )
    })?;
    let polygons: Vec<Vec<[f64; 2]>> = info.areas.iter().flat_map(|a| a.polygons.iter().cloned()).collect();
    let circles: Vec<CircleInput> = info
        .areas
        .iter()
        .flat_map(|a| a.circles.iter())
        .map(|c| CircleInput {
            lat: Some(c.lat),
            lon: Some(c.lon),
            // CAP's radius 0 is a point; a broadcast's circle needs a size.
            radius_m: Some((c.radius_km * 1000.0).max(10.0)),
        })
        .collect();
    if polygons.is_empty() && circles.is_empty() {
        return Err(FieldError::new(
            "no_area",
            "area",
            "the official alert names its areas by code only; a broadcast needs a polygon or circle",
        )
        .into());
    }
    let area_description: Vec<&str> = info.areas.iter().map(|a| a.description.as_str()).collect();
    let language = Language::parse(&info.language).map_or_else(|_| "en".to_owned(), |l| l.as_str().to_owned());
    Ok(BroadcastInput {
        audience: Some("public".into()),
        msg_type: Some("Alert".into()),
        category: info.categories.first().map(|c| c.as_str().to_owned()),
        event: fitted(&info.event, 128),
        severity: Some(info.severity.as_str().into()),
        urgency: Some(info.urgency.as_str().into()),
        certainty: Some(info.certainty.as_str().into()),
        headline: fitted(info.headline.as_deref().unwrap_or(&info.event), 160),
        description: info.description.as_deref().and_then(|d| fitted(d, 4_000)),
        instruction: info.instruction.as_deref().and_then(|d| fitted(d, 4_000)),
        language: Some(language),
        area: Some(AreaInput {
            description: fitted(&area_description.join("; "), 256),
            polygons: (!polygons.is_empty()).then_some(polygons),
            circles: (!circles.is_empty()).then_some(circles),
            zones: None,
        }),
        expires: Some(expires.to_rfc3339()),
        ..BroadcastInput::default()
    })
}
