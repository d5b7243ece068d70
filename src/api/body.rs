//! JSON bodies into the domain's input types, with the field at fault named.
//!
//! serde's own message ("invalid type: floating point `7937.0`, expected
//! u64 at line 1 column 131") tells a caller neither which field nor what
//! to send; the envelope has a `field` for that. serde_path_to_error
//! follows the path to the failing value, and the first segment of it is
//! matched against the type's own field names, so that `field` is always
//! one the caller can find in the document.

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::FieldError;

/// Refuses any body but JSON; `what` names the body in the message. A
/// `text/plain` or form POST is what any web site can make its visitors'
/// browsers send without asking (a "simple" cross-origin request); JSON
/// needs a CORS preflight, which Campanile does not grant, so a hostile
/// page cannot act in its visitors' names.
pub fn require_json(req: &HttpRequest, what: &str) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "a {what} must be sent as application/json, not {:?}",
            if content_type.is_empty() {
                "no content type"
            } else {
                content_type
            }
        )))
    }
}

/// Parses `body` as `T`; `what` names the body in messages ("report"),
/// `fields` are `T`'s top-level field names.
pub fn parse_json<T: DeserializeOwned>(
    body: &[u8],
    what: &str,
    fields: &'static [&'static str],
) -> Result<T, FieldError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let field = e.path().iter().next().and_then(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => fields.iter().copied().find(|f| f == key),
            _ => None,
        });
        let inner = e.inner();
        match field {
            Some(field) => FieldError::new(
                "invalid_json",
                field,
                format!("{field} is not valid in this {what}: {inner}"),
            ),
            None => FieldError::general("invalid_json", format!("the body is not a valid {what}: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| FieldError::general("invalid_json", format!("the body is not a valid {what}: {e}")))?;
    Ok(value)
}

/// Parses `body` as `T` when it is a JSON object, as [`parse_json`] does;
/// anything else is refused with `shape`, the object to send. serde reads a
/// struct from an array too (`[100]`): the contract's bodies are objects,
/// and a schema checker rightly expects anything else refused.
pub fn parse_json_object<T: DeserializeOwned>(
    body: &[u8],
    what: &str,
    fields: &'static [&'static str],
    shape: &str,
) -> Result<T, FieldError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(FieldError::general(
            "invalid_json",
            format!("send a JSON object: {shape}"),
        ));
    }
    parse_json(body, what, fields)
}
