//! Safety broadcasts, modelled on CAP 1.2 so that each maps onto public
//! alerting systems one to one. A [`Broadcast`] that exists has passed every
//! check of DESIGN §3 (Broadcasts).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::text::{bounded, optional_text};
use super::{FieldError, Language, LatLon, Ring, Shape};
use crate::domain::Zones;

macro_rules! cap_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order CAP lists them.
            pub const VALUES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// The CAP value, as written in documents.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            fn parse(text: &str) -> Result<Self, FieldError> {
                match text {
                    $(stringify!($variant) => Ok($name::$variant),)+
                    _ => Err(FieldError::new(
                        concat!("invalid_", $field),
                        $field,
                        format!("{} must be one of {}", $field, [$(stringify!($variant)),+].join(", ")),
                    )),
                }
            }
        }
    };
}

cap_enum!(
    /// Who may see a message.
    AudienceKind, "audience" { Public, Responders });
cap_enum!(
    /// CAP `msgType`: a new message, or one superseding an earlier one.
    MsgType, "msg_type" { Alert, Update, Cancel });
cap_enum!(
    /// CAP `category`.
    Category, "category" { Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other });
cap_enum!(
    /// CAP `severity`.
    Severity, "severity" { Extreme, Severe, Moderate, Minor, Unknown });
cap_enum!(
    /// CAP `urgency`.
    Urgency, "urgency" { Immediate, Expected, Future, Past, Unknown });
cap_enum!(
    /// CAP `certainty`.
    Certainty, "certainty" { Observed, Likely, Possible, Unlikely, Unknown });

const MAX_HEADLINE: usize = 160;
const MAX_EVENT: usize = 128;
const MAX_LONG_TEXT: usize = 4_000;
const MAX_LIST: usize = 50;
const MAX_POLYGON_POINTS: usize = 1_000;

/// A broadcast as an operator sends it; every field still unchecked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastInput {
    /// `public` or `responders` (the CAP scope Public or Restricted).
    pub audience: Option<String>,
    /// `Alert`, `Update` or `Cancel`.
    pub msg_type: Option<String>,
    /// The id an Update or Cancel supersedes.
    pub references: Option<String>,
    /// A CAP category, e.g. `Safety`.
    pub category: Option<String>,
    /// What is happening, e.g. "Crowd crush risk".
    pub event: Option<String>,
    /// Extreme, Severe, Moderate, Minor, Unknown.
    pub severity: Option<String>,
    /// Immediate, Expected, Future, Past, Unknown.
    pub urgency: Option<String>,
    /// Observed, Likely, Possible, Unlikely, Unknown.
    pub certainty: Option<String>,
    /// At most 160 characters.
    pub headline: Option<String>,
    /// Longer explanation.
    pub description: Option<String>,
    /// What people should do.
    pub instruction: Option<String>,
    /// BCP 47 tag of the main language.
    pub language: Option<String>,
    /// The same message in other languages.
    pub translations: Option<Vec<TranslationInput>>,
    /// Where it applies.
    pub area: Option<AreaInput>,
    /// RFC 3339; must be in the future.
    pub expires: Option<String>,
}

impl BroadcastInput {
    /// The body's field names, as the envelope's `field` gives them.
    pub const FIELDS: &'static [&'static str] = &[
        "audience",
        "msg_type",
        "references",
        "category",
        "event",
        "severity",
        "urgency",
        "certainty",
        "headline",
        "description",
        "instruction",
        "language",
        "translations",
        "area",
        "expires",
    ];
}

/// One translation, as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslationInput {
    /// BCP 47 tag.
    pub language: Option<String>,
    /// Headline in that language.
    pub headline: Option<String>,
    /// Description in that language.
    pub description: Option<String>,
    /// Instruction in that language.
    pub instruction: Option<String>,
}

/// An area, as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaInput {
    /// A name people know, e.g. "Piazza Maggiore".
    pub description: Option<String>,
    /// Closed rings of `[lon, lat]`, at least 4 positions each.
    pub polygons: Option<Vec<Vec<[f64; 2]>>>,
    /// Circles by centre and radius.
    pub circles: Option<Vec<CircleInput>>,
    /// Ids of zones from `geodata/zones/`.
    pub zones: Option<Vec<String>>,
}

/// A circle, as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CircleInput {
    /// Centre latitude.
    pub lat: Option<f64>,
    /// Centre longitude.
    pub lon: Option<f64>,
    /// Radius in metres, more than 0.
    pub radius_m: Option<f64>,
}

/// A checked translation. Fields in the order the wire has always shown
/// them (alphabetical), as views write them as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Translation {
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Headline.
    pub headline: String,
    /// Instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// BCP 47 tag.
    pub language: Language,
}

/// A checked circle, written as `lat`, `lon` and `radius_m`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Circle {
    /// The centre.
    #[serde(flatten)]
    pub centre: LatLon,
    /// Radius in metres.
    pub radius_m: f64,
}

impl Circle {
    /// The circle as the shape containment is checked on.
    fn shape(self) -> Shape {
        Shape::Disc {
            centre: self.centre,
            radius_m: self.radius_m,
        }
    }
}

/// A checked area: at least one polygon, circle or known zone. Fields in
/// the wire's (alphabetical) order, as views write them as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// Circles.
    pub circles: Vec<Circle>,
    /// A name people know.
    pub description: String,
    /// Closed rings of `[lon, lat]`, prepared for containment checks.
    pub polygons: Vec<Ring>,
    /// Zone ids, all known.
    pub zones: Vec<String>,
}

/// A checked broadcast, ready to be stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    /// `public` or `responders`.
    #[serde(with = "lowercase_audience")]
    pub audience: AudienceKind,
    /// Alert, Update or Cancel.
    pub msg_type: MsgType,
    /// The superseded message, for Update and Cancel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
    /// CAP category.
    pub category: Category,
    /// The event.
    pub event: String,
    /// CAP severity.
    pub severity: Severity,
    /// CAP urgency.
    pub urgency: Urgency,
    /// CAP certainty.
    pub certainty: Certainty,
    /// Headline.
    pub headline: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Main language.
    pub language: Language,
    /// Other languages.
    pub translations: Vec<Translation>,
    /// Where it applies.
    pub area: Area,
    /// When it stops applying.
    pub expires: DateTime<Utc>,
}

mod lowercase_audience {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::AudienceKind;

    pub fn serialize<S: Serializer>(a: &AudienceKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.wire())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AudienceKind, D::Error> {
        match String::deserialize(d)?.as_str() {
            "public" => Ok(AudienceKind::Public),
            "responders" => Ok(AudienceKind::Responders),
            other => Err(serde::de::Error::custom(format!("unknown audience {other}"))),
        }
    }
}

fn required(value: &Option<String>, field: impl Into<Cow<'static, str>>) -> Result<&str, FieldError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(FieldError::missing(field)),
    }
}

impl BroadcastInput {
    /// Checks every field. `earlier` is the retained message an Update's or
    /// Cancel's `references` names, if any: what the input leaves out is
    /// taken from it, already checked, so that "Cancel X" needs nothing but
    /// the reference.
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        zones: &Zones,
        earlier: Option<&Broadcast>,
    ) -> Result<Broadcast, FieldError> {
        // The superseded message's value when the input has none, the
        // input's (checked by `$check`) otherwise.
        macro_rules! sent_or_earlier {
            ($field:ident, $check:expr) => {
                match (&self.$field, earlier) {
                    (None, Some(e)) => e.$field.clone(),
                    _ => $check,
                }
            };
        }
        let audience = sent_or_earlier!(
            audience,
            AudienceKind::parse(&capitalised(required(&self.audience, "audience")?))?
        );
        let msg_type = match self.msg_type.as_deref() {
            None => MsgType::Alert,
            Some(t) => MsgType::parse(t)?,
        };
        let references = match (msg_type, self.references.as_deref()) {
            (MsgType::Alert, None) => None,
            (MsgType::Alert, Some(_)) => {
                return Err(FieldError::new(
                    "invalid_references",
                    "references",
                    "an Alert references nothing; send an Update or Cancel",
                ));
            }
            (_, None) => {
                return Err(FieldError::new(
                    "missing_field",
                    "references",
                    "an Update or Cancel must name the message it supersedes",
                ));
            }
            (_, Some(r)) if earlier.is_none() => {
                return Err(FieldError::new(
                    "unknown_reference",
                    "references",
                    format!("no retained message has id {r:?}"),
                ));
            }
            (_, Some(r)) => Some(r.to_owned()),
        };
        let language = sent_or_earlier!(
            language,
            Language::parse(required(&self.language, "language").unwrap_or("en"))
                .map_err(|e| FieldError::new(e.code, "language", e.message))?
        );
        let expires = sent_or_earlier!(
            expires,
            DateTime::parse_from_rfc3339(required(&self.expires, "expires")?)
                .map_err(|_| FieldError::new("invalid_timestamp", "expires", "expires must be an RFC 3339 timestamp"))?
                .with_timezone(&Utc)
        );
        if expires <= now && msg_type != MsgType::Cancel {
            return Err(FieldError::new(
                "expires_in_past",
                "expires",
                "expires must be in the future",
            ));
        }
        let translations = self.translations.as_deref().unwrap_or_default();
        if translations.len() > MAX_LIST {
            return Err(FieldError::new(
                "too_many",
                "translations",
                format!("at most {MAX_LIST} translations"),
            ));
        }
        Ok(Broadcast {
            audience,
            msg_type,
            references,
            category: sent_or_earlier!(category, Category::parse(required(&self.category, "category")?)?),
            event: sent_or_earlier!(event, bounded(required(&self.event, "event")?, MAX_EVENT, "event")?),
            severity: sent_or_earlier!(severity, Severity::parse(required(&self.severity, "severity")?)?),
            urgency: sent_or_earlier!(urgency, Urgency::parse(required(&self.urgency, "urgency")?)?),
            certainty: sent_or_earlier!(certainty, Certainty::parse(required(&self.certainty, "certainty")?)?),
            headline: sent_or_earlier!(
                headline,
                bounded(required(&self.headline, "headline")?, MAX_HEADLINE, "headline")?
            ),
            description: sent_or_earlier!(
                description,
                optional_text(&self.description, MAX_LONG_TEXT, "description")?
            ),
            instruction: sent_or_earlier!(
                instruction,
                optional_text(&self.instruction, MAX_LONG_TEXT, "instruction")?
            ),
            language,
            translations: sent_or_earlier!(
                translations,
                translations
                    .iter()
                    .enumerate()
                    .map(|(i, t)| Translation::parse(t, i))
                    .collect::<Result<_, _>>()?
            ),
            area: sent_or_earlier!(
                area,
                Area::parse(self.area.as_ref().ok_or_else(|| FieldError::missing("area"))?, zones)?
            ),
            expires,
        })
    }
}

/// `public` → `Public`, so that the JSON's lowercase audience meets the enum.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

impl Translation {
    /// Checks the translation at `index`; errors name its path, e.g.
    /// `translations[0].headline`, so that the operator knows which one.
    fn parse(t: &TranslationInput, index: usize) -> Result<Self, FieldError> {
        let at = |name: &str| format!("translations[{index}].{name}");
        let language = Language::parse(required(&t.language, at("language"))?)
            .map_err(|e| FieldError::new(e.code, at("language"), e.message))?;
        let headline = required(&t.headline, at("headline"))?;
        Ok(Self {
            language,
            headline: bounded(headline, MAX_HEADLINE, at("headline"))?,
            description: optional_text(&t.description, MAX_LONG_TEXT, at("description"))?,
            instruction: optional_text(&t.instruction, MAX_LONG_TEXT, at("instruction"))?,
        })
    }
}

impl Area {
    fn parse(a: &AreaInput, zones: &Zones) -> Result<Self, FieldError> {
        let polygons = a.polygons.clone().unwrap_or_default();
        let circles_in = a.circles.clone().unwrap_or_default();
        let zone_ids = a.zones.clone().unwrap_or_default();
        if polygons.is_empty() && circles_in.is_empty() && zone_ids.is_empty() {
            return Err(FieldError::new(
                "empty_area",
                "area",
                "the area needs at least one polygon, circle or zone",
            ));
        }
        if polygons.len() > MAX_LIST || circles_in.len() > MAX_LIST || zone_ids.len() > MAX_LIST {
            return Err(FieldError::new(
                "too_many",
                "area",
                format!("at most {MAX_LIST} polygons, circles and zones each"),
            ));
        }
        for ring in &polygons {
            if ring.len() < 4 || ring.len() > MAX_POLYGON_POINTS {
                return Err(FieldError::new(
                    "invalid_polygon",
                    "area.polygons",
                    format!("a polygon needs 4 to {MAX_POLYGON_POINTS} positions"),
                ));
            }
            if ring.first() != ring.last() {
                return Err(FieldError::new(
                    "invalid_polygon",
                    "area.polygons",
                    "a polygon must be closed: its last position repeats the first",
                ));
            }
            for [lon, lat] in ring {
                LatLon::new(*lat, *lon).map_err(|e| FieldError::new("invalid_polygon", "area.polygons", e.message))?;
            }
        }
        let circles = circles_in
            .iter()
            .map(|c| {
                let (Some(lat), Some(lon), Some(radius_m)) = (c.lat, c.lon, c.radius_m) else {
                    return Err(FieldError::new(
                        "invalid_circle",
                        "area.circles",
                        "a circle needs lat, lon and radius_m",
                    ));
                };
                let centre =
                    LatLon::new(lat, lon).map_err(|e| FieldError::new("invalid_circle", "area.circles", e.message))?;
                if !radius_m.is_finite() || radius_m <= 0.0 || radius_m > 1_000_000.0 {
                    return Err(FieldError::new(
                        "invalid_circle",
                        "area.circles",
                        "radius_m must be more than 0 and at most 1,000 km",
                    ));
                }
                Ok(Circle { centre, radius_m })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(unknown) = zone_ids.iter().find(|z| !zones.contains(z)) {
            return Err(FieldError::new(
                "unknown_zone",
                "area.zones",
                format!("no zone has id {unknown:?}"),
            ));
        }
        let description = match a.description.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => bounded(d, 256, "area.description")?,
            None => zone_ids
                .iter()
                .filter_map(|z| zones.name(z))
                .collect::<Vec<_>>()
                .join(", "),
        };
        Ok(Self {
            description: if description.is_empty() {
                "Event area".into()
            } else {
                description
            },
            polygons: polygons.into_iter().map(Ring::new).collect(),
            circles,
            zones: zone_ids,
        })
    }

    /// Whether the point lies in the area: in a polygon, within a circle
    /// (great-circle distance), or in a zone.
    pub fn contains(&self, point: LatLon, zones: &Zones) -> bool {
        self.polygons.iter().any(|ring| ring.contains(point))
            || self.circles.iter().any(|c| c.shape().contains(point))
            || self.zones.iter().any(|z| zones.covers(z, point))
    }
}

/// A stored broadcast: the message with its deployment-wide `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBroadcast {
    /// Its id.
    pub id: String,
    /// Strictly increasing across the deployment.
    pub seq: u64,
    /// When it was sent.
    pub sent: DateTime<Utc>,
    /// The operator who sent it (token `sub`); shown to operators only.
    pub sender: String,
    /// The message.
    #[serde(flatten)]
    pub broadcast: Broadcast,
}

impl AudienceKind {
    /// The audience as the JSON API writes it: `public` or `responders`.
    pub fn wire(self) -> &'static str {
        match self {
            AudienceKind::Public => "public",
            AudienceKind::Responders => "responders",
        }
    }
}

impl StoredBroadcast {
    /// Active: not a Cancel, not superseded, not expired.
    pub fn is_active(&self, now: DateTime<Utc>, superseded: &std::collections::HashSet<String>) -> bool {
        self.broadcast.msg_type != MsgType::Cancel && !superseded.contains(&self.id) && self.broadcast.expires > now
    }
}

/// The ids that a later Update or Cancel superseded.
pub fn superseded<'a>(log: impl IntoIterator<Item = &'a StoredBroadcast>) -> std::collections::HashSet<String> {
    log.into_iter().filter_map(|b| b.broadcast.references.clone()).collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn alert(now: DateTime<Utc>) -> Broadcast {
        BroadcastInput {
            audience: Some("public".into()),
            category: Some("Safety".into()),
            event: Some("Crowd".into()),
            severity: Some("Severe".into()),
            urgency: Some("Immediate".into()),
            certainty: Some("Observed".into()),
            headline: Some("Leave by the east exit".into()),
            language: Some("it".into()),
            area: Some(AreaInput {
                circles: Some(vec![CircleInput {
                    lat: Some(44.49),
                    lon: Some(11.34),
                    radius_m: Some(200.0),
                }]),
                ..AreaInput::default()
            }),
            expires: Some((now + Duration::hours(1)).to_rfc3339()),
            ..BroadcastInput::default()
        }
        .validate(now, &Zones::default(), None)
        .expect("valid alert")
    }

    #[test]
    fn an_update_takes_what_it_leaves_out_from_the_message_it_supersedes() {
        let now = Utc::now();
        let earlier = alert(now);
        let update = BroadcastInput {
            msg_type: Some("Update".into()),
            references: Some("b1".into()),
            headline: Some("Leave by the west exit".into()),
            ..BroadcastInput::default()
        }
        .validate(now, &Zones::default(), Some(&earlier))
        .expect("valid update");
        assert_eq!(update.headline, "Leave by the west exit");
        assert_eq!(update.msg_type, MsgType::Update);
        assert_eq!(update.references.as_deref(), Some("b1"));
        assert_eq!(
            Broadcast {
                msg_type: MsgType::Alert,
                references: None,
                headline: earlier.headline.clone(),
                ..update
            },
            earlier
        );
    }

    #[test]
    fn what_an_update_sends_is_checked_and_an_expired_message_is_not_updated() {
        let now = Utc::now();
        let earlier = alert(now);
        let update = |input: BroadcastInput, at| {
            BroadcastInput {
                msg_type: Some("Update".into()),
                references: Some("b1".into()),
                ..input
            }
            .validate(at, &Zones::default(), Some(&earlier))
        };
        let bad = update(
            BroadcastInput {
                severity: Some("Catastrophic".into()),
                ..BroadcastInput::default()
            },
            now,
        );
        assert_eq!(bad.map_err(|e| e.code), Err("invalid_severity"));
        let late = update(BroadcastInput::default(), now + Duration::hours(2));
        assert_eq!(late.map_err(|e| e.code), Err("expires_in_past"));
        let cancel = BroadcastInput {
            msg_type: Some("Cancel".into()),
            references: Some("b1".into()),
            ..BroadcastInput::default()
        }
        .validate(now + Duration::hours(2), &Zones::default(), Some(&earlier));
        assert!(cancel.is_ok(), "a Cancel of an expired message stands");
    }
}
