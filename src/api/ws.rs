//! `GET /ws`: the WebSocket upgrade. The HTTP side of a session: the
//! token in the header, the caps per address and node, then the handshake;
//! what follows belongs to `ws::session`.

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::ApiError;
use crate::domain::FieldError;
use crate::ws::{admission, session, socket};

/// Upgrades to a WebSocket. A token may come in the `Authorization` header
/// (a bad one is a 401 before the upgrade) or in a first `auth` message.
/// Past the caps the answer is 429 (this address) or 503 (this node), both
/// with `Retry-After`, before any upgrade.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let token = state.keys.token_from_header(header)?;
    let address = if token.is_some() {
        None
    } else {
        state.limits.client_ip(&req)
    };
    let ticket = state.ws_admission.admit(address).map_err(|refusal| match refusal {
        admission::Refusal::AddressFull(cap) => ApiError::TooManyConnections(cap),
        admission::Refusal::NodeFull => ApiError::ServerFull,
    })?;
    // actix-ws answers the handshake and writes frames; the frames the
    // client sends are read by `frames`, from the body kept back here.
    let no_body = web::Payload::from_request(&req, &mut actix_web::dev::Payload::None)
        .await
        .map_err(|e| FieldError::general("not_a_websocket", e.to_string()))?;
    let (response, ws, _unused) = actix_ws::handle(&req, no_body)
        .map_err(|e| FieldError::general("not_a_websocket", format!("expected a WebSocket upgrade: {e}")))?;
    let tcp = req.conn_data::<std::sync::Arc<socket::TcpHandle>>().cloned();
    let ends = session::Ends { ticket, tcp };
    actix_web::rt::spawn(session::run(state.sessions.clone(), token, ends, ws, body));
    Ok(response)
}
