//! The `Idempotency-Key` request header (DESIGN §3; IETF httpapi draft "The
//! Idempotency-Key HTTP Header Field").
//!
//! A key is 1–255 printable ASCII characters, sent bare (`abc-123`) or, as
//! the draft defines it, as a Structured Field string (`"abc-123"`). Keys
//! belong to their caller: the token's `sub`, or the client address of a
//! public caller, so that nobody can read or spoil another's answers by
//! guessing a key.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::domain::{FieldError, Principal};
use crate::engine::idempotency::StoredAnswer;
use crate::ingest::BodyFormat;

/// The header's name.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on an answer given again from the store.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a request may hold its key before a concurrent attempt may run
/// too: longer than a healthy batch of 10,000 takes, short enough that a
/// lease a crashed node left behind does not block the client's retries for
/// long. Counting once does not depend on it (see `engine::idempotency`).
pub const LEASE: Duration = Duration::from_secs(30);

const MAX_KEY_CHARS: usize = 255;

/// A checked key, as the client meant it (quotes and escapes removed).
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl std::fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdempotencyKey(..)")
    }
}

fn invalid(message: &str) -> FieldError {
    FieldError::new("invalid_idempotency_key", "Idempotency-Key", message.to_owned())
}

impl IdempotencyKey {
    /// The request's key, if it sent one; 400 for a malformed or repeated one.
    pub fn from_request(req: &HttpRequest) -> Result<Option<Self>, ApiError> {
        let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(invalid("send one Idempotency-Key header, not several").into());
        }
        Ok(Some(Self::parse(value.as_bytes())?))
    }

    /// Checks a header value: bare, or a Structured Field string.
    pub fn parse(value: &[u8]) -> Result<Self, FieldError> {
        let printable = |b: u8| (0x20..=0x7e).contains(&b);
        let key = match value {
            [b'"', inner @ .., b'"'] => {
                let mut key = Vec::with_capacity(inner.len());
                let mut bytes = inner.iter();
                while let Some(&b) = bytes.next() {
                    match b {
                        b'\\' => match bytes.next() {
                            Some(&e @ (b'"' | b'\\')) => key.push(e),
                            _ => return Err(invalid("a quoted Idempotency-Key may escape only \" and \\")),
                        },
                        b'"' => return Err(invalid("a quoted Idempotency-Key must escape \" inside")),
                        b if printable(b) => key.push(b),
                        _ => return Err(invalid("Idempotency-Key must be printable ASCII")),
                    }
                }
                key
            }
            [b'"', ..] => return Err(invalid("a quoted Idempotency-Key must end with \"")),
            bare if bare.iter().all(|b| printable(*b)) => bare.to_vec(),
            _ => return Err(invalid("Idempotency-Key must be printable ASCII")),
        };
        if key.is_empty() || key.len() > MAX_KEY_CHARS {
            return Err(invalid("Idempotency-Key must be 1-255 characters"));
        }
        // Only printable ASCII got this far, so this cannot fail.
        String::from_utf8(key)
            .map(Self)
            .map_err(|_| invalid("Idempotency-Key must be printable ASCII"))
    }

    /// The key as the client meant it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose keys these are: one caller's keys never meet another's.
pub fn scope(caller: &Caller, req: &HttpRequest, state: &AppState) -> String {
    match &caller.0 {
        Principal::User { sub, .. } => format!("sub\0{sub}"),
        Principal::Public => match state.limits.client_ip(req) {
            Some(ip) => format!("addr\0{ip}"),
            None => "addr\0unknown".to_owned(),
        },
    }
}

/// The store's name for a caller's key: a hash, so that neither the key
/// nor the caller shows in the store.
pub fn slot(scope: &str, key: &IdempotencyKey) -> String {
    slot_named(scope, key.as_str())
}

/// The store's name for `name` in `scope`, for requests the server itself
/// makes idempotent (an official alert is relayed once).
pub fn slot_named(scope: &str, name: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"campanile/idempotency/v1\0");
    h.update((scope.len() as u64).to_le_bytes());
    h.update(scope.as_bytes());
    h.update(name.as_bytes());
    hex::encode(h.finalize())
}

/// What makes two requests the same: their exact bytes, read the same way.
pub fn body_hash(format: BodyFormat, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(match format {
        BodyFormat::Json => b"json\0",
        BodyFormat::Ndjson => b"nd\0\0\0",
    });
    h.update(body);
    hex::encode(h.finalize())
}

/// Sends a kept answer as it was first sent.
pub fn respond(answer: StoredAnswer, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::ACCEPTED);
    let mut response = HttpResponse::build(status);
    response.content_type(header::ContentType::json());
    if replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    response.body(answer.body)
}

/// 409: the same request is running now.
pub fn in_flight() -> ApiError {
    ApiError::Conflict(FieldError::new(
        "idempotency_key_in_flight",
        "Idempotency-Key",
        "a request with this Idempotency-Key is being processed; retry shortly",
    ))
}

/// 422: the key was used for another body.
pub fn reused() -> ApiError {
    ApiError::Unprocessable(FieldError::new(
        "idempotency_key_reused",
        "Idempotency-Key",
        "this Idempotency-Key was used with another request body; use a new key for new data",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bare_or_quoted_printable_ascii_of_1_to_255_characters() {
        let ok = |v: &[u8]| IdempotencyKey::parse(v).map(|k| k.0);
        assert_eq!(ok(b"abc-123").as_deref(), Ok("abc-123"));
        assert_eq!(ok(b"\"abc 123\"").as_deref(), Ok("abc 123"));
        assert_eq!(ok(br#""a\"b\\c""#).as_deref(), Ok(r#"a"b\c"#));
        assert_eq!(ok(&[b'k'; 255]).map(|k| k.len()), Ok(255));
        for bad in [
            &b""[..],
            b"\"\"",
            &[b'k'; 256],
            b"caf\xc3\xa9",
            b"tab\there",
            b"\"open",
            br#""a\nb""#,
            br#""a"b""#,
        ] {
            let err = IdempotencyKey::parse(bad).expect_err("refused");
            assert_eq!(
                (err.code, err.field.as_deref()),
                ("invalid_idempotency_key", Some("Idempotency-Key"))
            );
        }
    }

    #[test]
    fn the_same_key_of_two_callers_names_two_slots() {
        let key = IdempotencyKey::parse(b"k").expect("key");
        assert_ne!(slot("sub\0alice", &key), slot("sub\0bob", &key));
        assert_eq!(slot("sub\0alice", &key), slot("sub\0alice", &key));
    }
}
