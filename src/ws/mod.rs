//! `GET /ws`: the WebSocket upgrade. The protocol's types live in
//! [`protocol`]; one connection's state machine in [`session`].

pub mod protocol;
pub mod session;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::domain::FieldError;

/// Upgrades to a WebSocket. A token may come in the `Authorization` header
/// (a bad one is a 401 before the upgrade) or in a first `auth` message.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let principal = state.keys.from_header(header)?;
    let (response, ws, stream) = actix_ws::handle(&req, body)
        .map_err(|e| FieldError::general("not_a_websocket", format!("expected a WebSocket upgrade: {e}")))?;
    actix_web::rt::spawn(session::run(state.into_inner(), principal, ws, stream));
    Ok(response)
}
