//! GeoReport's own error form, the one place where an [`ApiError`] under
//! `/open311/` becomes an answer: `[{"code": 400, "description": "…"}]` or
//! `<errors><error><code>400</code><description>…</description></error></errors>`,
//! with the status and headers (`Retry-After`, `Allow`) the envelope of the
//! rest of the API would carry.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use super::wire::{Document, Format, Node};
use crate::api::error::ApiError;

/// An error of a GeoReport route, in the form the client asked for.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct GeoError {
    /// The form of the answer.
    pub format: Format,
    /// What went wrong, as the rest of the API says it.
    pub error: ApiError,
}

impl GeoError {
    /// `error`, to be answered in `format`.
    pub fn new(format: Format, error: impl Into<ApiError>) -> Self {
        Self {
            format,
            error: error.into(),
        }
    }

    /// A 400 with this description.
    pub fn invalid(format: Format, field: &'static str, description: impl Into<String>) -> Self {
        Self::new(
            format,
            crate::domain::FieldError::new("invalid_georeport_request", field, description),
        )
    }

    /// A 404 with this description.
    pub fn not_found(format: Format, description: impl Into<String>) -> Self {
        Self::new(format, ApiError::NotFound(description.into()))
    }
}

impl ResponseError for GeoError {
    fn status_code(&self) -> StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let doc = Document::Many(
            "errors",
            "error",
            vec![vec![
                ("code", Node::Int(i64::from(status.as_u16()))),
                ("description", Node::Text(self.error.public_message())),
            ]],
        );
        let mut response = doc.respond(status, self.format);
        let headers = response.headers_mut();
        if let Some(secs) = self.error.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let ApiError::MethodNotAllowed(allow) = &self.error
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            headers.insert(header::ALLOW, value);
        }
        if let ApiError::Unauthorized(_) = &self.error {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Timeout(_) = &self.error {
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        response
    }
}
