//! Framing of a posts body: one object, a JSON array or NDJSON, split into
//! raw items one at a time, so that a batch over the limit is refused while
//! it is read, and a bad item is named by its index while the rest go on.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::domain::{FieldError, RawPost};

/// The most items one batch may hold (DESIGN §3).
pub const MAX_BATCH_ITEMS: usize = 10_000;

/// How a posts body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON object or a JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Why a body could not be split into items at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not UTF-8, not JSON, or not an object or array.
    Malformed(FieldError),
    /// More than [`MAX_BATCH_ITEMS`] items: splitting stopped at the first
    /// item too many, so the rest of the body was never parsed.
    TooManyItems,
}

/// Splits a body into raw items. A malformed item is an error of its own,
/// so that the good items around it are kept.
pub fn split_items(body: &[u8], format: BodyFormat) -> Result<Vec<Result<RawPost<'_>, FieldError>>, BodyError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| BodyError::Malformed(FieldError::general("invalid_encoding", "the body must be UTF-8")))?;
    match format {
        BodyFormat::Json => split_json(text),
        BodyFormat::Ndjson => split_ndjson(text),
    }
}

fn split_json(text: &str) -> Result<Vec<Result<RawPost<'_>, FieldError>>, BodyError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let too_many = Cell::new(false);
        let mut de = serde_json::Deserializer::from_str(text);
        let items = de
            .deserialize_seq(BoundedItems { too_many: &too_many })
            .and_then(|items| de.end().map(|()| items))
            .map_err(|e| {
                if too_many.get() {
                    BodyError::TooManyItems
                } else {
                    malformed_json(&e)
                }
            })?;
        Ok(items.into_iter().map(|raw| item(raw.get())).collect())
    } else if trimmed.starts_with('{') {
        let post = serde_json::from_str::<RawPost<'_>>(text).map_err(|e| malformed_json(&e))?;
        Ok(vec![Ok(post)])
    } else {
        Err(BodyError::Malformed(FieldError::general(
            "invalid_json",
            "the body must be a JSON object or an array of objects",
        )))
    }
}

fn split_ndjson(text: &str) -> Result<Vec<Result<RawPost<'_>, FieldError>>, BodyError> {
    let mut items = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if items.len() == MAX_BATCH_ITEMS {
            return Err(BodyError::TooManyItems);
        }
        items.push(item(line));
    }
    Ok(items)
}

/// Reads a JSON array's items as raw JSON, one at a time, and gives up at
/// the first one past [`MAX_BATCH_ITEMS`]: a batch too large is refused
/// while it is being split, before the rest of it is parsed or held.
struct BoundedItems<'f> {
    too_many: &'f Cell<bool>,
}

impl<'de> Visitor<'de> for BoundedItems<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of posts")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_BATCH_ITEMS));
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if items.len() == MAX_BATCH_ITEMS {
                self.too_many.set(true);
                return Err(de::Error::custom("too many items"));
            }
            items.push(raw);
        }
        Ok(items)
    }
}

fn item(text: &str) -> Result<RawPost<'_>, FieldError> {
    if !text.trim_start().starts_with('{') {
        return Err(FieldError::general("invalid_item", "each item must be a JSON object"));
    }
    serde_json::from_str(text).map_err(|e| FieldError::general("invalid_json", format!("item is not valid JSON: {e}")))
}

fn malformed_json(e: &serde_json::Error) -> BodyError {
    BodyError::Malformed(FieldError::general(
        "invalid_json",
        format!("the body is not valid JSON: {e}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_of_ndjson_spoils_only_itself() {
        let body = b"{\"source\":\"a\"}\nnot json\n\n[1]\n{\"source\":\"b\"}\n";
        let items = split_items(body, BodyFormat::Ndjson).unwrap();
        assert_eq!(items.len(), 4);
        assert!(items[0].is_ok() && items[3].is_ok());
        assert_eq!(items[1].as_ref().err().map(|e| e.code), Some("invalid_item"));
        assert_eq!(items[2].as_ref().err().map(|e| e.code), Some("invalid_item"));
    }

    #[test]
    fn arrays_keep_good_items_beside_non_objects() {
        let items = split_items(br#"[{"source":"a"}, 5, "x", {"source":"b"}]"#, BodyFormat::Json).unwrap();
        assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 2);
    }

    #[test]
    fn a_body_that_is_not_json_is_malformed() {
        for body in [&b"hello"[..], b"[1,", b"{", b"\xff\xfe"] {
            assert!(matches!(
                split_items(body, BodyFormat::Json),
                Err(BodyError::Malformed(_))
            ));
        }
    }

    #[test]
    fn more_than_ten_thousand_items_is_too_many() {
        let body = "{}\n".repeat(MAX_BATCH_ITEMS + 1);
        assert_eq!(
            split_items(body.as_bytes(), BodyFormat::Ndjson).err(),
            Some(BodyError::TooManyItems)
        );
        let exactly = "{}\n".repeat(MAX_BATCH_ITEMS);
        assert_eq!(
            split_items(exactly.as_bytes(), BodyFormat::Ndjson)
                .map(|i| i.len())
                .ok(),
            Some(MAX_BATCH_ITEMS)
        );
    }

    #[test]
    fn splitting_stops_at_the_first_item_too_many_without_reading_the_rest() {
        // What follows the 10,001st item is not JSON at all: had the splitter
        // read on, the answer would be a parse error, not "too many".
        let items = vec!["{}"; MAX_BATCH_ITEMS + 1].join(",");
        let json = format!("[{items}, this is never read");
        assert_eq!(
            split_items(json.as_bytes(), BodyFormat::Json).err(),
            Some(BodyError::TooManyItems)
        );
        let ndjson = format!("{}never read either\n", "{}\n".repeat(MAX_BATCH_ITEMS + 1));
        assert_eq!(
            split_items(ndjson.as_bytes(), BodyFormat::Ndjson).err(),
            Some(BodyError::TooManyItems)
        );
        // 10,000 items and a broken tail is malformed, not too many.
        let items = vec!["{}"; MAX_BATCH_ITEMS].join(",");
        assert!(matches!(
            split_items(format!("[{items}, oops").as_bytes(), BodyFormat::Json),
            Err(BodyError::Malformed(_))
        ));
        let items = vec!["{}"; MAX_BATCH_ITEMS].join(",");
        assert_eq!(
            split_items(format!("[{items}]").as_bytes(), BodyFormat::Json)
                .map(|i| i.len())
                .ok(),
            Some(MAX_BATCH_ITEMS)
        );
    }
}
