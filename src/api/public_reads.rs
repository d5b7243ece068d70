//! One limit for every public read, at the door of the API.

/// Charges every public read — any `GET` or `HEAD` of the API or a
/// WebSocket upgrade without a valid token — to the client's address, in one
/// place, so that no read path is forgotten (DESIGN §6).
pub async fn limit(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::http::{Method, header};
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    let path = req.path();
    let is_api = path.starts_with("/api/") || path == "/ws" || path.starts_with("/open311/");
    if is_read
        && is_api
        && let Some(state) = req.app_data::<actix_web::web::Data<super::AppState>>()
    {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        let holds_token = state.keys.from_header(header).is_ok_and(|p| !p.is_public());
        if !holds_token && let Err(wait) = state.limits.check(req.request(), crate::limits::Spend::Read) {
            let refusal = super::error::ApiError::RateLimited(wait.as_secs().max(1));
            // GeoReport clients read errors in their standard's form only.
            if path.starts_with("/open311/") {
                let format = super::open311::wire::Format::of_path(path);
                return Err(super::open311::GeoError::new(format, refusal).into());
            }
            return Err(refusal.into());
        }
    }
    next.call(req).await
}
