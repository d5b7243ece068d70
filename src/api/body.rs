//! JSON bodies into the domain's input types, with the field at fault named.
//!
//! serde's own message ("invalid type: floating point `7937.0`, expected
//! u64 at line 1 column 131") tells a caller neither which field nor what
//! to send; the envelope has a `field` for that. serde_path_to_error
//! follows the path to the failing value, and the first segment of it is
//! matched against the type's own field names, so that `field` is always
//! one the caller can find in the document.

use serde::de::DeserializeOwned;

use crate::domain::FieldError;

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
