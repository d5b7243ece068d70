//! The rumour register's entries (DESIGN §10, FEMA's "Rumor Control"): a
//! claim going round, its status and the fact, checked before it exists.
//! A [`Rumour`] that exists has passed every rule; ids it links are only
//! checked for shape here (whether they name something stored is the
//! service's question, which needs the engine).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::text::bounded;
use super::{FieldError, Language, Zones};

/// A claim fits on a phone's screen and in a feed title.
const MAX_CLAIM: usize = 500;
/// The fact may explain; it is still read in a crowd.
const MAX_FACT: usize = 2_000;
/// A trend term, as the trends feed shows it.
const MAX_TERM: usize = 64;
/// Ids the server makes are 24 hex digits; room for ids of other origins.
const MAX_ID: usize = 64;
/// Translations, zones and links each.
const MAX_LIST: usize = 50;

/// What the register says about a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RumourStatus {
    /// Not checked yet: said so, so that people wait for the fact.
    Unverified,
    /// The claim is false.
    False,
    /// True in part, but leads people to a wrong conclusion.
    Misleading,
    /// The claim is true.
    True,
}

impl RumourStatus {
    /// Every value as written.
    pub const NAMES: &'static [&'static str] = &["unverified", "false", "misleading", "true"];

    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            RumourStatus::Unverified => "unverified",
            RumourStatus::False => "false",
            RumourStatus::Misleading => "misleading",
            RumourStatus::True => "true",
        }
    }

    fn parse(text: &str) -> Result<Self, FieldError> {
        match text {
            "unverified" => Ok(RumourStatus::Unverified),
            "false" => Ok(RumourStatus::False),
            "misleading" => Ok(RumourStatus::Misleading),
            "true" => Ok(RumourStatus::True),
            _ => Err(FieldError::new(
                "invalid_status",
                "status",
                format!("status must be one of {}", Self::NAMES.join(", ")),
            )),
        }
    }

    /// Whether an entry with this status must state the fact: only a claim
    /// not yet checked may go without one.
    fn needs_fact(self) -> bool {
        self != RumourStatus::Unverified
    }
}

/// An entry as an operator sends it (`POST`), every field unchecked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RumourInput {
    /// The claim going round, 1–500 characters.
    pub claim: Option<String>,
    /// `unverified`, `false`, `misleading` or `true`.
    pub status: Option<String>,
    /// What is true, up to 2,000 characters; required unless `unverified`.
    pub fact: Option<String>,
    /// BCP 47 tag of `claim` and `fact`; default the event's first language.
    pub language: Option<String>,
    /// The claim and fact in other languages.
    pub translations: Option<Vec<RumourTranslationInput>>,
    /// Ids of the event's zones the claim concerns.
    pub zones: Option<Vec<String>>,
    /// Ids of reports that carried the claim.
    pub reports: Option<Vec<String>>,
    /// Ids of broadcasts that answered it.
    pub broadcasts: Option<Vec<String>>,
    /// Trend terms that carried it, up to 64 characters each.
    pub trends: Option<Vec<String>>,
    /// Whether the public sees it; default false.
    pub published: Option<bool>,
}

impl RumourInput {
    /// The body's field names, as the envelope's `field` gives them.
    pub const FIELDS: &'static [&'static str] = &[
        "claim",
        "status",
        "fact",
        "language",
        "translations",
        "zones",
        "reports",
        "broadcasts",
        "trends",
        "published",
    ];

    /// This input over `base`: every field the input leaves out is taken
    /// from the stored entry, so that a `PATCH` names only what it changes
    /// and the whole is checked again as one.
    pub fn over(self, base: &Rumour) -> RumourInput {
        RumourInput {
            claim: self.claim.or_else(|| Some(base.claim.clone())),
            status: self.status.or_else(|| Some(base.status.as_str().to_owned())),
            fact: self.fact.or_else(|| Some(base.fact.clone())),
            language: self.language.or_else(|| Some(base.language.as_str().to_owned())),
            translations: self.translations.or_else(|| {
                Some(
                    base.translations
                        .iter()
                        .map(|t| RumourTranslationInput {
                            language: Some(t.language.as_str().to_owned()),
                            claim: Some(t.claim.clone()),
                            fact: Some(t.fact.clone()),
                        })
                        .collect(),
                )
            }),
            zones: self.zones.or_else(|| Some(base.zones.clone())),
            reports: self.reports.or_else(|| Some(base.reports.clone())),
            broadcasts: self.broadcasts.or_else(|| Some(base.broadcasts.clone())),
            trends: self.trends.or_else(|| Some(base.trends.clone())),
            published: self.published.or(Some(base.published)),
        }
    }

    /// Checks every field. `default_language` is the event's first;
    /// `zones` the event's zones, which every zone id must name.
    pub fn validate(&self, default_language: &Language, zones: &Zones) -> Result<Rumour, FieldError> {
        let status = RumourStatus::parse(
            self.status
                .as_deref()
                .map(str::trim)
                .ok_or_else(|| FieldError::missing("status"))?,
        )?;
        let claim = claim(self.claim.as_deref(), "claim")?;
        let fact = fact(self.fact.as_deref(), status, "fact")?;
        let language = match self.language.as_deref().map(str::trim) {
            None | Some("") => default_language.clone(),
            Some(tag) => Language::parse(tag).map_err(|e| FieldError::new(e.code, "language", e.message))?,
        };
        let inputs = self.translations.as_deref().unwrap_or_default();
        at_most(inputs.len(), "translations")?;
        let mut translations: Vec<RumourTranslation> = Vec::with_capacity(inputs.len());
        for (i, t) in inputs.iter().enumerate() {
            let t = RumourTranslation::parse(t, i, status)?;
            if t.language == language || translations.iter().any(|other| other.language == t.language) {
                return Err(FieldError::new(
                    "duplicate_language",
                    format!("translations[{i}].language"),
                    format!(
                        "{} is already the entry's language or another translation's",
                        t.language.as_str()
                    ),
                ));
            }
            translations.push(t);
        }
        let zone_ids = ids(self.zones.as_deref(), "zones")?;
        if let Some((i, unknown)) = zone_ids.iter().enumerate().find(|(_, z)| !zones.contains(z)) {
            return Err(FieldError::new(
                "unknown_zone",
                format!("zones[{i}]"),
                format!("the event has no zone {unknown:?}"),
            ));
        }
        Ok(Rumour {
            claim,
            status,
            fact,
            language,
            translations,
            zones: zone_ids,
            reports: ids(self.reports.as_deref(), "reports")?,
            broadcasts: ids(self.broadcasts.as_deref(), "broadcasts")?,
            trends: terms(self.trends.as_deref())?,
            published: self.published.unwrap_or(false),
        })
    }
}

/// One translation, as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RumourTranslationInput {
    /// BCP 47 tag.
    pub language: Option<String>,
    /// The claim in that language.
    pub claim: Option<String>,
    /// The fact in that language.
    pub fact: Option<String>,
}

/// A checked translation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RumourTranslation {
    /// BCP 47 tag.
    #[schema(value_type = String, example = "it")]
    pub language: Language,
    /// The claim in that language.
    pub claim: String,
    /// The fact in that language; empty only while the entry is unverified.
    pub fact: String,
}

impl RumourTranslation {
    /// Checks the translation at `index` under the entry's `status`; errors
    /// name its path, e.g. `translations[0].fact`.
    fn parse(t: &RumourTranslationInput, index: usize, status: RumourStatus) -> Result<Self, FieldError> {
        let at = |name: &str| format!("translations[{index}].{name}");
        let tag = t
            .language
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| FieldError::missing(at("language")))?;
        Ok(Self {
            language: Language::parse(tag).map_err(|e| FieldError::new(e.code, at("language"), e.message))?,
            claim: claim(t.claim.as_deref(), at("claim"))?,
            fact: fact(t.fact.as_deref(), status, at("fact"))?,
        })
    }
}

/// A checked entry of the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rumour {
    /// The claim going round.
    pub claim: String,
    /// What the register says of it.
    pub status: RumourStatus,
    /// What is true; empty only while unverified.
    pub fact: String,
    /// The language of `claim` and `fact`.
    pub language: Language,
    /// Other languages.
    pub translations: Vec<RumourTranslation>,
    /// Zones concerned, all known.
    pub zones: Vec<String>,
    /// Reports that carried the claim.
    pub reports: Vec<String>,
    /// Broadcasts that answered it.
    pub broadcasts: Vec<String>,
    /// Trend terms that carried it.
    pub trends: Vec<String>,
    /// Whether the public sees it.
    pub published: bool,
}

impl Rumour {
    /// The fields whose values differ between `self` and `next`, by name:
    /// what an audit entry says was changed.
    pub fn changed_fields(&self, next: &Rumour) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut note = |name, differs: bool| {
            if differs {
                changed.push(name);
            }
        };
        note("claim", self.claim != next.claim);
        note("status", self.status != next.status);
        note("fact", self.fact != next.fact);
        note("language", self.language != next.language);
        note("translations", self.translations != next.translations);
        note("zones", self.zones != next.zones);
        note("reports", self.reports != next.reports);
        note("broadcasts", self.broadcasts != next.broadcasts);
        note("trends", self.trends != next.trends);
        note("published", self.published != next.published);
        changed
    }
}

fn claim(value: Option<&str>, field: impl Into<Cow<'static, str>>) -> Result<String, FieldError> {
    let field = field.into();
    match value.map(str::trim) {
        Some(text) if !text.is_empty() => bounded(text, MAX_CLAIM, field),
        _ => Err(FieldError::missing(field)),
    }
}

fn fact(value: Option<&str>, status: RumourStatus, field: impl Into<Cow<'static, str>>) -> Result<String, FieldError> {
    let field = field.into();
    let text = value.map(str::trim).unwrap_or("");
    if text.is_empty() && status.needs_fact() {
        let message = format!("{field} is required unless the status is unverified");
        return Err(FieldError::new("missing_field", field, message));
    }
    bounded(text, MAX_FACT, field)
}

fn at_most(len: usize, field: &'static str) -> Result<(), FieldError> {
    if len > MAX_LIST {
        return Err(FieldError::new(
            "too_many",
            field,
            format!("at most {MAX_LIST} {field}"),
        ));
    }
    Ok(())
}

/// Ids of other things: 1–64 characters of letters, digits, `-` and `_`,
/// each once, in the order given.
fn ids(values: Option<&[String]>, field: &'static str) -> Result<Vec<String>, FieldError> {
    let values = values.unwrap_or_default();
    at_most(values.len(), field)?;
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, id) in values.iter().enumerate() {
        let shaped =
            (1..=MAX_ID).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !shaped {
            return Err(FieldError::new(
                "invalid_id",
                format!("{field}[{i}]"),
                format!("{field} are ids of 1 to {MAX_ID} letters, digits, - or _"),
            ));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// Trend terms: non-blank, at most 64 XML-safe characters each.
fn terms(values: Option<&[String]>) -> Result<Vec<String>, FieldError> {
    let values = values.unwrap_or_default();
    at_most(values.len(), "trends")?;
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, term) in values.iter().enumerate() {
        let field = format!("trends[{i}]");
        let term = term.trim();
        if term.is_empty() {
            return Err(FieldError::missing(field));
        }
        let term = bounded(term, MAX_TERM, field)?;
        if !out.contains(&term) {
            out.push(term);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn zones() -> Zones {
        let piazza = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
            "properties": {"id": "piazza", "name": "Piazza", "kind": "sector"},
            "geometry": {"type": "Point", "coordinates": [11.34, 44.49]}}]});
        Zones::from_collections([("z.geojson".to_owned(), &piazza)]).expect("zones")
    }

    fn en() -> Language {
        Language::parse("en").expect("en")
    }

    fn input(v: serde_json::Value) -> RumourInput {
        serde_json::from_value(v).expect("input")
    }

    fn refused(v: serde_json::Value) -> (&'static str, Option<String>) {
        let e = input(v).validate(&en(), &zones()).expect_err("refused");
        (e.code, e.field.map(|f| f.into_owned()))
    }

    #[test]
    fn a_full_entry_is_taken_with_defaults_filled_in() {
        let r = input(
            json!({"claim": " The bridge is closed ", "status": "false", "fact": "It is open.",
            "translations": [{"language": "it", "claim": "Il ponte è chiuso", "fact": "È aperto."}],
            "zones": ["piazza"], "trends": ["#ponte", "#ponte"]}),
        )
        .validate(&en(), &zones())
        .expect("valid");
        assert_eq!(r.claim, "The bridge is closed");
        assert_eq!(r.language.as_str(), "en");
        assert_eq!(r.trends, ["#ponte"]);
        assert!(!r.published);
        assert_eq!(r.translations[0].fact, "È aperto.");
    }

    #[test]
    fn every_broken_rule_names_its_field() {
        let long = "x".repeat(MAX_CLAIM + 1);
        for (body, code, field) in [
            (json!({"status": "false", "fact": "f"}), "missing_field", "claim"),
            (
                json!({"claim": " ", "status": "true", "fact": "f"}),
                "missing_field",
                "claim",
            ),
            (
                json!({"claim": long, "status": "true", "fact": "f"}),
                "field_too_long",
                "claim",
            ),
            (
                json!({"claim": "a\u{1}b", "status": "true", "fact": "f"}),
                "invalid_text",
                "claim",
            ),
            (json!({"claim": "c", "status": "maybe"}), "invalid_status", "status"),
            (json!({"claim": "c"}), "missing_field", "status"),
            (json!({"claim": "c", "status": "false"}), "missing_field", "fact"),
            (
                json!({"claim": "c", "status": "misleading", "fact": "  "}),
                "missing_field",
                "fact",
            ),
            (
                json!({"claim": "c", "status": "true", "fact": "f", "language": "english!"}),
                "invalid_language",
                "language",
            ),
            (
                json!({"claim": "c", "status": "true", "fact": "f", "zones": ["nowhere"]}),
                "unknown_zone",
                "zones[0]",
            ),
            (
                json!({"claim": "c", "status": "true", "fact": "f", "reports": ["a b"]}),
                "invalid_id",
                "reports[0]",
            ),
            (
                json!({"claim": "c", "status": "true", "fact": "f", "trends": ["ok", "y".repeat(65)]}),
                "field_too_long",
                "trends[1]",
            ),
            (
                json!({"claim": "c", "status": "true", "fact": "f", "translations": [{"language": "it", "claim": "c"}]}),
                "missing_field",
                "translations[0].fact",
            ),
            (
                json!({"claim": "c", "status": "true", "fact": "f", "translations": [{"language": "en", "claim": "c", "fact": "f"}]}),
                "duplicate_language",
                "translations[0].language",
            ),
        ] {
            assert_eq!(refused(body.clone()), (code, Some(field.to_owned())), "{body}");
        }
    }

    #[test]
    fn an_unverified_claim_may_go_without_a_fact() {
        let r =
            input(json!({"claim": "c", "status": "unverified", "translations": [{"language": "it", "claim": "c"}]}))
                .validate(&en(), &zones())
                .expect("valid");
        assert_eq!((r.fact.as_str(), r.translations[0].fact.as_str()), ("", ""));
    }

    #[test]
    fn a_patch_over_an_entry_changes_only_what_it_names() {
        let base = input(json!({"claim": "c", "status": "unverified", "zones": ["piazza"]}))
            .validate(&en(), &zones())
            .expect("valid");
        let next = input(json!({"status": "false", "fact": "f"}))
            .over(&base)
            .validate(&en(), &zones())
            .expect("valid");
        assert_eq!(next.zones, ["piazza"]);
        assert_eq!(base.changed_fields(&next), ["status", "fact"]);
        let refused = input(json!({"status": "true"})).over(&base).validate(&en(), &zones());
        assert_eq!(refused.expect_err("no fact").field.as_deref(), Some("fact"));
    }
}
