//! The one error of validation: which field, which rule, in words. Every
//! domain constructor returns it, and the API maps it to the envelope.

use std::borrow::Cow;
use std::fmt;

/// Why one input value was refused: a stable machine `code`, the offending
/// `field` when there is one, and a sentence for people.
///
/// The codes are part of the API contract; clients switch on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Stable, snake_case error code (e.g. `invalid_coordinates`).
    pub code: &'static str,
    /// The input field at fault, when the error concerns one field: a name
    /// (`headline`) or a path into the input (`translations[0].headline`).
    pub field: Option<Cow<'static, str>>,
    /// Human readable explanation.
    pub message: String,
}

impl FieldError {
    /// An error about one named field.
    pub fn new(code: &'static str, field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// An error about the input as a whole.
    pub fn general(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field: None,
            message: message.into(),
        }
    }

    /// A required field is absent.
    pub fn missing(field: impl Into<Cow<'static, str>>) -> Self {
        let field = field.into();
        let message = format!("{field} is required");
        Self::new("missing_field", field, message)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}
