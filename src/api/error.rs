//! The one place where errors become HTTP answers, in the contract's
//! envelope: `{"error": {"code", "message", "field"?}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::domain::FieldError;
use crate::engine::EngineError;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    #[schema(example = "invalid_coordinates")]
    pub code: String,
    /// Human-readable explanation.
    #[schema(example = "lat must be a finite number within [-90, 90]")]
    pub message: String,
    /// The input field at fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "lat")]
    pub field: Option<String>,
}

/// Every way an HTTP request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the input broke a rule.
    #[error("{0}")]
    Invalid(FieldError),
    /// 401: missing, forged, expired or unknown token.
    #[error("{0}")]
    Unauthorized(#[from] AuthError),
    /// 403: a known caller without the right.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route takes only the methods named (its `Allow` header).
    #[error("this route takes only {0}")]
    MethodNotAllowed(String),
    /// 413: the body or batch is too large.
    #[error("{0}")]
    TooLarge(String),
    /// 415: a content type the route does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many requests from this address; retry after the seconds given.
    #[error("too many requests from this address; retry in {0} s")]
    RateLimited(u64),
    /// 503: the engine cannot be reached; nothing was acknowledged (a batch
    /// may be partly stored, and its retry counts nothing twice).
    #[error("{0}")]
    Unavailable(#[from] EngineError),
    /// 408: the body did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// 409: the same request is being handled right now; retry shortly.
    #[error("{0}")]
    Conflict(FieldError),
    /// 409: the resource is not in a state that allows this (e.g. an
    /// unpublished rumour cannot be broadcast); retrying will not help
    /// until someone changes it, so no `Retry-After`.
    #[error("{0}")]
    WrongState(FieldError),
    /// 422: well-formed, but not what this key was used for.
    #[error("{0}")]
    Unprocessable(FieldError),
    /// 429: this address holds as many WebSockets as it may (the cap given).
    #[error("this address already holds {0} WebSocket connections; close one or retry later")]
    TooManyConnections(usize),
    /// 503: this node holds as many WebSockets as it may.
    #[error("this server is at its WebSocket capacity; retry later or elsewhere")]
    ServerFull,
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(e)
    }
}

impl ApiError {
    fn code(&self) -> &str {
        match self {
            ApiError::Invalid(e) => e.code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Unavailable(_) => "engine_unavailable",
            ApiError::Timeout(_) => "request_timeout",
            ApiError::Conflict(e) | ApiError::WrongState(e) | ApiError::Unprocessable(e) => e.code,
            ApiError::TooManyConnections(_) => "too_many_connections",
            ApiError::ServerFull => "server_full",
        }
    }
}

impl ApiError {
    /// The sentence a client is told: the engine's own words may name hosts,
    /// and the client needs none of them. Shared with the GeoReport errors
    /// (`api::open311`), which say the same in another form.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Unavailable(e) => {
                tracing::warn!(error = %e, "answering 503");
                "the storage engine is unavailable; nothing was acknowledged, retry later".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The `Retry-After` seconds this answer carries, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Unavailable(_) => Some(u64::from(RETRY_AFTER_SECS)),
            ApiError::RateLimited(secs) => Some(*secs),
            ApiError::Conflict(_) => Some(1),
            ApiError::TooManyConnections(_) | ApiError::ServerFull => Some(crate::ws::admission::RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) | ApiError::WrongState(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyConnections(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServerFull => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let field = match self {
            ApiError::Invalid(e) | ApiError::Conflict(e) | ApiError::WrongState(e) | ApiError::Unprocessable(e) => {
                e.field.as_deref().map(str::to_owned)
            }
            _ => None,
        };
        let message = self.public_message();
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        // The connection is not worth keeping: the client stalled on it.
        if let ApiError::Timeout(_) = self {
            response.force_close();
        }
        if let ApiError::MethodNotAllowed(allow) = self
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, value));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(ErrorEnvelope {
            error: ErrorBody {
                code: self.code().to_owned(),
                message,
                field,
            },
        })
    }
}
