//! Citizen and field reports (DESIGN §3, Reports): a located observation
//! with a category, checked before it exists.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::text::optional_text;
use super::{FieldError, LatLon};

/// An enum whose values are written as DESIGN spells them, with the list of
/// every value for error messages and `/api/v1/event`.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            /// Every value as written, in DESIGN's order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The value as written.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value written `text`, if it is one.
            pub fn from_wire(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

wire_enum!(
    /// What a report is about.
    ReportCategory {
        /// A crowd.
        Crowd = "crowd",
        /// Violence.
        Violence = "violence",
        /// A fire.
        Fire = "fire",
        /// Someone needs care.
        Medical = "medical",
        /// Someone is missing.
        MissingPerson = "missing_person",
        /// An object left behind.
        SuspiciousItem = "suspicious_item",
        /// Something built is failing.
        Infrastructure = "infrastructure",
        /// A rumour going round.
        Rumour = "rumour",
        /// Anything else.
        Other = "other",
    }
);

wire_enum!(
    /// Where a report came from.
    ReportOrigin {
        /// Anyone, without a token.
        Citizen = "citizen",
        /// A commander in the field.
        Field = "field",
    }
);

wire_enum!(
    /// A report's moderation state.
    ReportStatus {
        /// Not looked at yet.
        Unverified = "unverified",
        /// Confirmed by an operator.
        Verified = "verified",
        /// Set aside by an operator.
        Dismissed = "dismissed",
        /// Found to be a rumour.
        False = "false",
    }
);

/// What a report is about, every value as written.
pub const CATEGORIES: &[&str] = ReportCategory::NAMES;

impl ReportStatus {
    /// The states an operator may set: every one but `unverified`.
    pub const MODERATION: &'static [Self] = &[Self::Verified, Self::Dismissed, Self::False];

    /// A state as a filter names it: any of the four.
    pub fn parse_filter(text: &str) -> Result<Self, FieldError> {
        Self::from_wire(text).ok_or_else(|| {
            FieldError::new(
                "invalid_status",
                "status",
                "status must be unverified, verified, dismissed or false",
            )
        })
    }

    /// A state an operator sets: one of [`ReportStatus::MODERATION`].
    pub fn parse_moderation(text: &str) -> Result<Self, FieldError> {
        Self::from_wire(text)
            .filter(|s| Self::MODERATION.contains(s))
            .ok_or_else(|| {
                let names: Vec<_> = Self::MODERATION.iter().map(|s| s.as_str()).collect();
                FieldError::new(
                    "invalid_status",
                    "status",
                    format!("status must be one of {}", names.join(", ")),
                )
            })
    }
}

const MAX_TEXT: usize = 2_000;
const MAX_CONTACT: usize = 256;
const MAX_CROWD: u64 = 10_000_000;

/// A report as sent; nothing checked yet.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// One of crowd, violence, fire, medical, missing_person, suspicious_item, infrastructure, rumour, other.
    pub category: Option<String>,
    /// What the reporter saw, ≤2,000 characters.
    pub text: Option<String>,
    /// People the reporter estimates (field reports). JSON has one number
    /// type: `400.0` is the whole number 400, as JSON Schema reads it.
    #[serde(default, deserialize_with = "whole_number")]
    pub crowd_estimate: Option<u64>,
    /// How to reach the reporter; operators only.
    pub contact: Option<String>,
    /// JESIP's METHANE report (DESIGN §11): commanders' field reports only.
    pub methane: Option<MethaneInput>,
}

const MAX_METHANE_TEXT: usize = 500;
const MAX_CASUALTIES: u64 = 100_000;

/// A METHANE report as sent: JESIP's seven headings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MethaneInput {
    /// M: whether a major incident is declared (required).
    pub major_incident: Option<bool>,
    /// E: exact location (required), ≤500 characters.
    pub exact_location: Option<String>,
    /// T: type of incident, ≤500 characters.
    #[serde(rename = "type")]
    pub incident_type: Option<String>,
    /// H: hazards present and potential, ≤500 characters.
    pub hazards: Option<String>,
    /// A: access routes and rendezvous points, ≤500 characters.
    pub access: Option<String>,
    /// N: number and kind of casualties.
    pub casualties: Option<CasualtiesInput>,
    /// E: emergency services present and required.
    pub emergency_services: Option<ServicesInput>,
}

/// N of METHANE, as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasualtiesInput {
    /// How many, 0 to 100,000.
    #[serde(default, deserialize_with = "whole_number")]
    pub number: Option<u64>,
    /// Their kind or severity, ≤500 characters.
    pub kind: Option<String>,
}

/// The last E of METHANE, as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicesInput {
    /// Services on scene, ≤500 characters.
    pub present: Option<String>,
    /// Services needed, ≤500 characters.
    pub required: Option<String>,
}

/// A checked METHANE report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Methane {
    /// M.
    pub major_incident: bool,
    /// E.
    pub exact_location: String,
    /// T.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub incident_type: Option<String>,
    /// H.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hazards: Option<String>,
    /// A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    /// N.
    pub casualties: Casualties,
    /// E.
    pub emergency_services: Services,
}

/// N of a checked METHANE report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Casualties {
    /// How many; absent when not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The last E of a checked METHANE report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Services {
    /// Present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<String>,
    /// Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<String>,
}

impl MethaneInput {
    /// Checks every heading; errors name the path, e.g. `methane.casualties.number`.
    pub fn validate(&self) -> Result<Methane, FieldError> {
        let text = |value: &Option<String>, name: &'static str| optional_text(value, MAX_METHANE_TEXT, name);
        let major_incident = self
            .major_incident
            .ok_or_else(|| FieldError::missing("methane.major_incident"))?;
        let exact_location = text(&self.exact_location, "methane.exact_location")?
            .ok_or_else(|| FieldError::missing("methane.exact_location"))?;
        let casualties = self.casualties.clone().unwrap_or_default();
        if casualties.number.is_some_and(|n| n > MAX_CASUALTIES) {
            return Err(FieldError::new(
                "invalid_casualties",
                "methane.casualties.number",
                format!("methane.casualties.number must be a whole number from 0 to {MAX_CASUALTIES}"),
            ));
        }
        let services = self.emergency_services.clone().unwrap_or_default();
        Ok(Methane {
            major_incident,
            exact_location,
            incident_type: text(&self.incident_type, "methane.type")?,
            hazards: text(&self.hazards, "methane.hazards")?,
            access: text(&self.access, "methane.access")?,
            casualties: Casualties {
                number: casualties.number,
                kind: text(&casualties.kind, "methane.casualties.kind")?,
            },
            emergency_services: Services {
                present: text(&services.present, "methane.emergency_services.present")?,
                required: text(&services.required, "methane.emergency_services.required")?,
            },
        })
    }
}

impl Methane {
    /// The same report with personal data in its texts masked, for readers
    /// other than operators (DESIGN §6), as report text is.
    pub fn masked(&self) -> Self {
        let mask = |t: &Option<String>| t.as_deref().map(|t| crate::integrity::pii::mask(t).text);
        Self {
            major_incident: self.major_incident,
            exact_location: crate::integrity::pii::mask(&self.exact_location).text,
            incident_type: mask(&self.incident_type),
            hazards: mask(&self.hazards),
            access: mask(&self.access),
            casualties: Casualties {
                number: self.casualties.number,
                kind: mask(&self.casualties.kind),
            },
            emergency_services: Services {
                present: mask(&self.emergency_services.present),
                required: mask(&self.emergency_services.required),
            },
        }
    }
}

/// A whole, non-negative number however JSON spells it (`400` or `400.0`).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(whole) = n.as_u64() {
        return Ok(Some(whole));
    }
    match n.as_f64() {
        // Below 2^53 every whole f64 converts exactly.
        Some(f) if f.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&f) => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number from 0 to {MAX_CROWD}"
        ))),
    }
}

/// A checked report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Its id.
    pub id: String,
    /// Where it was seen, stored as `lat` and `lon`.
    #[serde(flatten)]
    pub location: LatLon,
    /// Category.
    pub category: ReportCategory,
    /// Text as sent (always shown as text, never as markup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Estimated people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crowd_estimate: Option<u64>,
    /// Contact detail, for operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// Who sent it.
    pub origin: ReportOrigin,
    /// Its moderation state.
    pub status: ReportStatus,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The rumour register's entry this report carried, once an operator
    /// linked it (moderated `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rumour: Option<String>,
    /// A commander's METHANE report, when the field report carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methane: Option<Methane>,
}

impl ReportInput {
    /// The body's field names, as the envelope's `field` gives them.
    pub const FIELDS: &'static [&'static str] =
        &["lat", "lon", "category", "text", "crowd_estimate", "contact", "methane"];

    /// Checks every field; `field` says whether a commander sent it.
    pub fn validate(&self, id: String, field: bool, now: DateTime<Utc>) -> Result<Report, FieldError> {
        let lat = self.lat.ok_or_else(|| FieldError::missing("lat"))?;
        let lon = self.lon.ok_or_else(|| FieldError::missing("lon"))?;
        let location = LatLon::new(lat, lon)?;
        let category = self
            .category
            .as_deref()
            .ok_or_else(|| FieldError::missing("category"))?;
        let category = ReportCategory::from_wire(category).ok_or_else(|| {
            FieldError::new(
                "invalid_category",
                "category",
                format!("category must be one of {}", CATEGORIES.join(", ")),
            )
        })?;
        if self.crowd_estimate.is_some_and(|n| n > MAX_CROWD) {
            return Err(FieldError::new(
                "invalid_crowd_estimate",
                "crowd_estimate",
                format!("crowd_estimate must be at most {MAX_CROWD}"),
            ));
        }
        let methane = match (&self.methane, field) {
            (None, _) => None,
            (Some(m), true) => Some(m.validate()?),
            // A citizen's body is refused as bad input, not as a role: the
            // same caller may send the same report without it.
            (Some(_), false) => {
                return Err(FieldError::new(
                    "methane_field_only",
                    "methane",
                    "only a commander's field report may carry a METHANE report",
                ));
            }
        };
        Ok(Report {
            methane,
            id,
            location,
            category,
            text: optional_text(&self.text, MAX_TEXT, "text")?,
            crowd_estimate: self.crowd_estimate,
            contact: optional_text(&self.contact, MAX_CONTACT, "contact")?,
            origin: if field {
                ReportOrigin::Field
            } else {
                ReportOrigin::Citizen
            },
            status: ReportStatus::Unverified,
            received_at: now,
            rumour: None,
        })
    }
}
