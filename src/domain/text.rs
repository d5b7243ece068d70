//! Free text as the API takes it: trimmed, bounded, and made only of
//! characters that XML 1.0 can carry.
//!
//! Every text a caller sends may end up in a CAP document, the public Atom
//! feed or a page. One character XML forbids (a C0 control such as U+0001 or
//! ESC, or U+FFFE/U+FFFF) would make the whole feed unreadable for everyone
//! until the message expired, so it is refused here, at the door, with the
//! field named. The renderers drop such characters too (a second line of
//! defence for text stored before this rule), using [`is_xml_char`].

use std::borrow::Cow;

use super::FieldError;

/// Whether XML 1.0 allows `c` in a document (its production `Char`:
/// `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`).
/// Surrogates cannot occur in a Rust `char`.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Refuses text with a character XML 1.0 forbids: `invalid_text`, naming
/// `field` and where the character is.
pub(crate) fn xml_safe(value: &str, field: impl Into<Cow<'static, str>>) -> Result<(), FieldError> {
    match value.chars().enumerate().find(|(_, c)| !is_xml_char(*c)) {
        None => Ok(()),
        Some((at, c)) => {
            let field = field.into();
            let message = format!(
                "{field} contains U+{:04X} at character {at}: control characters (other than tab and line breaks) \
                 and U+FFFE/U+FFFF cannot be published",
                u32::from(c)
            );
            Err(FieldError::new("invalid_text", field, message))
        }
    }
}

/// A text of at most `max` characters, all of them XML-safe.
pub(crate) fn bounded(value: &str, max: usize, field: impl Into<Cow<'static, str>>) -> Result<String, FieldError> {
    let field = field.into();
    // Byte length bounds the char count from above: skip the count when it cannot fail.
    if value.len() > max && value.chars().count() > max {
        let message = format!("{field} must be at most {max} characters");
        return Err(FieldError::new("field_too_long", field, message));
    }
    xml_safe(value, field)?;
    Ok(value.to_owned())
}

/// A trimmed optional text of at most `max` XML-safe characters; empty is none.
pub(crate) fn optional_text(
    value: &Option<String>,
    max: usize,
    field: impl Into<Cow<'static, str>>,
) -> Result<Option<String>, FieldError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| bounded(v, max, field))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_chars_are_exactly_those_of_the_xml_1_0_char_production() {
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            'é',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
            '\u{10FFFF}',
        ] {
            assert!(is_xml_char(c), "U+{:04X}", u32::from(c));
        }
        for c in [
            '\u{0}', '\u{1}', '\u{8}', '\u{B}', '\u{C}', '\u{1B}', '\u{1F}', '\u{FFFE}', '\u{FFFF}',
        ] {
            assert!(!is_xml_char(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn a_forbidden_character_is_refused_naming_the_field_and_the_character() {
        let err = xml_safe("ab\u{1B}[31m", "translations[2].headline").unwrap_err();
        assert_eq!(err.code, "invalid_text");
        assert_eq!(err.field.as_deref(), Some("translations[2].headline"));
        assert!(err.message.contains("U+001B at character 2"), "{}", err.message);
    }

    #[test]
    fn bounded_checks_the_length_before_the_characters() {
        let long = format!("{}\u{1}", "a".repeat(10));
        assert_eq!(bounded(&long, 5, "text").unwrap_err().code, "field_too_long");
        assert_eq!(bounded("a\u{1}", 5, "text").unwrap_err().code, "invalid_text");
        assert_eq!(bounded("tab\there\r\n", 20, "text").unwrap(), "tab\there\r\n");
    }

    #[test]
    fn optional_text_treats_blank_as_none_and_still_checks_what_is_left() {
        assert_eq!(optional_text(&Some("   ".into()), 5, "contact").unwrap(), None);
        assert_eq!(optional_text(&None, 5, "contact").unwrap(), None);
        let err = optional_text(&Some(" \u{FFFE} ".into()), 5, "contact").unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("invalid_text", Some("contact")));
    }
}
