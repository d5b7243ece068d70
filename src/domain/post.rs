//! A geotagged post (DESIGN §3, Posts): the raw fields as sent, each checked
//! into a [`Post`] whose author is already a pseudonym (DESIGN §6).

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::text::xml_safe;
use super::{FieldError, LatLon};

/// The most a post's timestamp may lie ahead of the server clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);
const MAX_ID_CHARS: usize = 128;
const MAX_TEXT_CHARS: usize = 4_000;
const MAX_AUTHOR_CHARS: usize = 256;

/// One post as it arrived, fields still unparsed JSON.
///
/// Fields are kept raw so that a wrong type in one field becomes an error
/// naming that field, instead of a parser message about the whole object.
/// Unknown fields are ignored: connectors send whatever their network has.
#[derive(Deserialize, Default)]
pub struct RawPost<'a> {
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    lat: Option<&'a RawValue>,
    #[serde(borrow, default)]
    lon: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    author: Option<&'a RawValue>,
    #[serde(borrow, default)]
    lang: Option<&'a RawValue>,
}

// Deliberately no Debug: a raw post holds the author as given (§6).

/// Where a post came from: 1–32 chars of `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(String);

impl Source {
    /// Checks the character set and length.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        if text.is_empty() || text.len() > 32 || !text.chars().all(ok_char) {
            return Err(FieldError::new(
                "invalid_source",
                "source",
                "source must be 1-32 characters of [a-z0-9_-]",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The source name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post's id within its source: 1–128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostId(String);

impl PostId {
    /// Checks the length.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_ID_CHARS {
            return Err(FieldError::new(
                "invalid_id",
                "id",
                format!("id must be 1-{MAX_ID_CHARS} characters"),
            ));
        }
        // Operators read ids beside the texts they verify.
        xml_safe(text, "id")?;
        Ok(Self(text.to_owned()))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A BCP 47 language tag, syntax checked (`en`, `it`, `pt-BR`, `zh-Hant-TW`).
/// Written as the tag; reading one back checks it again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl TryFrom<String> for Language {
    type Error = String;

    fn try_from(tag: String) -> Result<Self, String> {
        Self::parse(&tag).map_err(|e| e.message)
    }
}

impl From<Language> for String {
    fn from(tag: Language) -> Self {
        tag.0
    }
}

impl Language {
    /// Checks the tag's shape: a 2–8 letter primary subtag, then 1–8
    /// alphanumeric subtags, at most 35 characters in all.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let mut parts = text.split('-');
        let primary_ok = parts
            .next()
            .is_some_and(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
        let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !primary_ok || !rest_ok || text.len() > 35 {
            return Err(FieldError::new(
                "invalid_language",
                "lang",
                "lang must be a BCP 47 language tag such as en or pt-BR",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The tag as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An opaque identity used only to count distinct contributors.
///
/// Derived from a keyed hash of the author, never reversible to it (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Contributor(pub u64);

/// A validated, located post. The raw author is gone by the time one exists.
#[derive(Debug, Clone)]
pub struct Post {
    /// The network or channel it came from.
    pub source: Source,
    /// The id within the source, for de-duplication.
    pub id: Option<PostId>,
    /// Where it was posted.
    pub location: LatLon,
    /// When it was posted.
    pub ts: DateTime<Utc>,
    /// The text, for operators only.
    pub text: Option<String>,
    /// Keyed hash of the author, or a contributor of its own.
    pub contributor: Contributor,
    /// Neither author nor id was given: the contributor was made up for
    /// this post alone, and the ingest path may choose it (a retry under an
    /// idempotency key must get the same one back).
    pub own_contributor: bool,
    /// The language of the text.
    pub lang: Option<Language>,
    /// A stable hash of what the sender gave (server defaults left out), so
    /// that the same post sent again, by a retry, is recognisably the same.
    pub fingerprint: u64,
}

/// What a post's timestamp is checked against.
#[derive(Debug, Clone, Copy)]
pub struct PostRules {
    /// The server's clock at ingest.
    pub now: DateTime<Utc>,
    /// Posts older than this are refused: the engine would not keep them.
    pub retention: Duration,
}

/// Turns who posted into a [`Contributor`] at once, so that a parsed post
/// never holds its author (DESIGN §6). `privacy::AuthorHasher` is the
/// deployment's; the trait keeps the domain free of keys and secrets.
pub trait Pseudonymiser {
    /// The contributor behind `author` at `now`.
    fn contributor(&self, author: &str, now: DateTime<Utc>) -> Contributor;
    /// The contributor of a post without an author.
    fn anonymous_contributor(&self, source: &Source, id: Option<&PostId>) -> Contributor;
}

impl Post {
    /// Parses and checks every field of one raw post (DESIGN §3, Posts).
    pub fn parse(raw: &RawPost<'_>, rules: PostRules, hasher: &impl Pseudonymiser) -> Result<Self, FieldError> {
        let source = Source::parse(&required_string(raw.source, "source")?)?;
        let id = optional_string(raw.id, "id")?.map(|s| PostId::parse(&s)).transpose()?;
        let lat = required_number(raw.lat, "lat")?;
        let lon = required_number(raw.lon, "lon")?;
        let location = LatLon::new(lat, lon)?;
        let ts = match optional_string(raw.ts, "ts")? {
            None => rules.now,
            Some(text) => parse_timestamp(&text, rules)?,
        };
        let text = optional_string(raw.text, "text")?;
        if let Some(t) = &text {
            check_length(t, MAX_TEXT_CHARS, "text")?;
            xml_safe(t, "text")?;
        }
        let lang = optional_string(raw.lang, "lang")?
            .map(|s| Language::parse(&s))
            .transpose()?;
        let given_ts = raw.ts.is_some();
        let (contributor, has_author) = match optional_string(raw.author, "author")? {
            Some(author) => {
                // No character check: the author is only hashed, never shown
                // or stored, and a connector's odd name must not lose a post.
                check_length(&author, MAX_AUTHOR_CHARS, "author")?;
                (hasher.contributor(&author, rules.now), true)
            }
            None => (hasher.anonymous_contributor(&source, id.as_ref()), false),
        };
        let id_is_none = id.is_none();
        let mut post = Self {
            source,
            id,
            location,
            ts,
            text,
            contributor,
            own_contributor: !has_author && id_is_none,
            lang,
            fingerprint: 0,
        };
        post.fingerprint = post.fingerprint(given_ts, has_author);
        Ok(post)
    }

    /// Hashes the fields as given: a defaulted `ts` or a made-up anonymous
    /// contributor would differ on a retry, so they are left out.
    fn fingerprint(&self, given_ts: bool, has_author: bool) -> u64 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.source.as_str().as_bytes());
        h.update([0]);
        if let Some(id) = &self.id {
            h.update(id.as_str().as_bytes());
        }
        h.update([0]);
        if has_author {
            h.update(self.contributor.0.to_le_bytes());
        }
        if given_ts {
            h.update(self.ts.timestamp_nanos_opt().unwrap_or(i64::MAX).to_le_bytes());
        }
        h.update(self.location.lat().to_le_bytes());
        h.update(self.location.lon().to_le_bytes());
        if let Some(text) = &self.text {
            h.update(text.as_bytes());
        }
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

fn parse_timestamp(text: &str, rules: PostRules) -> Result<DateTime<Utc>, FieldError> {
    let ts = DateTime::parse_from_rfc3339(text)
        .map_err(|_| FieldError::new("invalid_timestamp", "ts", "ts must be an RFC 3339 timestamp"))?
        .with_timezone(&Utc);
    if ts > rules.now + MAX_CLOCK_SKEW {
        return Err(FieldError::new(
            "timestamp_in_future",
            "ts",
            "ts is more than 5 minutes in the future",
        ));
    }
    if ts < rules.now - rules.retention {
        return Err(FieldError::new(
            "timestamp_too_old",
            "ts",
            "ts is older than the retention period",
        ));
    }
    Ok(ts)
}

fn check_length(text: &str, max: usize, field: &'static str) -> Result<(), FieldError> {
    // Byte length bounds the char count from above: skip the count when it cannot fail.
    if text.len() > max && text.chars().count() > max {
        return Err(FieldError::new(
            "field_too_long",
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

fn optional_string(raw: Option<&RawValue>, field: &'static str) -> Result<Option<String>, FieldError> {
    match raw {
        None => Ok(None),
        Some(r) if is_null(r) => Ok(None),
        Some(r) => serde_json::from_str::<String>(r.get())
            .map(Some)
            .map_err(|_| FieldError::new("invalid_field", field, format!("{field} must be a string"))),
    }
}

fn required_string(raw: Option<&RawValue>, field: &'static str) -> Result<String, FieldError> {
    optional_string(raw, field)?.ok_or_else(|| FieldError::missing(field))
}

fn required_number(raw: Option<&RawValue>, field: &'static str) -> Result<f64, FieldError> {
    match raw {
        None => Err(FieldError::missing(field)),
        Some(r) if is_null(r) => Err(FieldError::missing(field)),
        Some(r) => serde_json::from_str::<f64>(r.get()).map_err(|_| {
            FieldError::new(
                "invalid_coordinates",
                field,
                format!("{field} must be a number in decimal degrees"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PostRules {
        PostRules {
            now: Utc::now(),
            retention: Duration::hours(24),
        }
    }

    fn parse(json: &str) -> Result<Post, FieldError> {
        let raw: RawPost<'_> = serde_json::from_str(json).expect("test json");
        Post::parse(&raw, rules(), &crate::privacy::AuthorHasher::new(b"test-secret"))
    }

    #[test]
    fn a_minimal_post_is_taken_with_the_current_time() {
        let p = parse(r#"{"source":"sms","lat":44.49,"lon":11.34}"#).unwrap();
        assert_eq!(p.source.as_str(), "sms");
        assert!(p.id.is_none());
        assert!((Utc::now() - p.ts).num_seconds() < 5);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"lat":1,"lon":1}"#, "missing_field", "source"),
            (r#"{"source":"A","lat":1,"lon":1}"#, "invalid_source", "source"),
            (r#"{"source":"s","lon":1}"#, "missing_field", "lat"),
            (r#"{"source":"s","lat":"1","lon":1}"#, "invalid_coordinates", "lat"),
            (r#"{"source":"s","lat":1,"lon":200}"#, "invalid_coordinates", "lon"),
            (
                r#"{"source":"s","lat":1,"lon":1,"ts":"yesterday"}"#,
                "invalid_timestamp",
                "ts",
            ),
            (
                r#"{"source":"s","lat":1,"lon":1,"lang":"english!"}"#,
                "invalid_language",
                "lang",
            ),
            (r#"{"source":"s","lat":1,"lon":1,"id":""}"#, "invalid_id", "id"),
            (r#"{"source":"s","lat":1,"lon":1,"text":5}"#, "invalid_field", "text"),
            (
                r#"{"source":"s","lat":1,"lon":1,"text":"a\ufffe"}"#,
                "invalid_text",
                "text",
            ),
            (
                r#"{"source":"s","lat":1,"lon":1,"text":"\u001b[2J"}"#,
                "invalid_text",
                "text",
            ),
            (r#"{"source":"s","lat":1,"lon":1,"id":"x\u0000"}"#, "invalid_text", "id"),
        ];
        for (json, code, field) in cases {
            let err = parse(json).unwrap_err();
            assert_eq!((err.code, err.field.as_deref()), (code, Some(field)), "{json}");
        }
    }

    #[test]
    fn timestamps_too_far_ahead_or_behind_are_refused() {
        let future = (Utc::now() + Duration::minutes(6)).to_rfc3339();
        let old = (Utc::now() - Duration::hours(25)).to_rfc3339();
        let near = (Utc::now() + Duration::minutes(4)).to_rfc3339();
        let p = |ts: &str| parse(&format!(r#"{{"source":"s","lat":1,"lon":1,"ts":"{ts}"}}"#));
        assert_eq!(p(&future).unwrap_err().code, "timestamp_in_future");
        assert_eq!(p(&old).unwrap_err().code, "timestamp_too_old");
        assert!(p(&near).is_ok());
    }

    #[test]
    fn text_over_4000_characters_is_refused_but_4000_multibyte_ones_are_not() {
        let ok = "é".repeat(4000);
        let long = "a".repeat(4001);
        assert!(parse(&format!(r#"{{"source":"s","lat":1,"lon":1,"text":"{ok}"}}"#)).is_ok());
        let err = parse(&format!(r#"{{"source":"s","lat":1,"lon":1,"text":"{long}"}}"#)).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), ("field_too_long", Some("text")));
    }

    #[test]
    fn the_same_author_is_the_same_contributor_and_others_differ() {
        let a = parse(r#"{"source":"s","lat":1,"lon":1,"author":"@alice"}"#).unwrap();
        let b = parse(r#"{"source":"s","lat":1,"lon":1,"author":"@alice"}"#).unwrap();
        let c = parse(r#"{"source":"s","lat":1,"lon":1,"author":"@bob"}"#).unwrap();
        let anon1 = parse(r#"{"source":"s","lat":1,"lon":1,"text":"help"}"#).unwrap();
        let anon2 = parse(r#"{"source":"s","lat":1,"lon":1,"text":"fire"}"#).unwrap();
        let anon1_resent = parse(r#"{"source":"s","lat":1,"lon":1,"text":"help"}"#).unwrap();
        assert_eq!(a.contributor, b.contributor);
        assert_ne!(a.contributor, c.contributor);
        assert_ne!(anon1.contributor, anon2.contributor);
        // Without an id, the same words from the same place are another
        // person's post: only an idempotency key makes a resend the same.
        assert_ne!(anon1.contributor, anon1_resent.contributor);
        assert!(anon1.own_contributor && !a.own_contributor);
    }

    #[test]
    fn a_post_sent_again_has_the_same_fingerprint_and_any_other_a_different_one() {
        let post = r#"{"source":"s","lat":44.49,"lon":11.34,"author":"@a","text":"crowded"}"#;
        let first = parse(post).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        // The defaulted ts differs between the two parses; the fingerprint must not.
        assert_eq!(first.fingerprint, parse(post).unwrap().fingerprint);
        let stamped = format!(
            r#"{{"source":"s","lat":44.49,"lon":11.34,"author":"@a","text":"crowded","ts":"{}"}}"#,
            Utc::now().to_rfc3339()
        );
        for other in [
            r#"{"source":"s","lat":44.49,"lon":11.34,"author":"@b","text":"crowded"}"#,
            r#"{"source":"s","lat":44.491,"lon":11.34,"author":"@a","text":"crowded"}"#,
            r#"{"source":"s","lat":44.49,"lon":11.34,"author":"@a","text":"calm"}"#,
            r#"{"source":"s","lat":44.49,"lon":11.34,"author":"@a","text":"crowded","id":"1"}"#,
            stamped.as_str(),
        ] {
            assert_ne!(first.fingerprint, parse(other).unwrap().fingerprint, "{other}");
        }
    }
}
