//! The CAP 1.2 schema check of documents taken in from `--cap-feed`: owns
//! the step from a parsed XML tree to an [`OfficialAlert`].
//!
//! It follows the OASIS CAP 1.2 XSD element by element: every element of
//! `alert`, `info`, `resource` and `area` in the schema's order with its
//! cardinality, the enumerations of status, msgType, scope, category,
//! responseType, urgency, severity and certainty, the schema's dateTime
//! pattern (`YYYY-MM-DDThh:mm:ss±hh:mm`, no `Z`), `xs:language`,
//! `xs:integer` and `xs:decimal`; and from the specification's text what
//! the schema leaves as strings: the polygon (closed, at least four
//! `lat,lon` pairs) and circle (`lat,lon radius`) syntax, and `references`
//! (`sender,identifier,sent` triples). An element out of place, missing or
//! unknown refuses the whole document, as a schema validator would.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use super::xml::Element;
use crate::domain::broadcast::{Category, Certainty, Severity, Urgency};

/// The CAP 1.2 namespace.
pub const CAP_12: &str = "urn:oasis:names:tc:emergency:cap:1.2";
const XMLDSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Why a document is not valid CAP 1.2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CapError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, CapError> {
    Err(CapError(message.into()))
}

/// CAP `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum Status {
    Actual,
    Exercise,
    System,
    Test,
    Draft,
}

/// CAP `msgType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
    Ack,
    Error,
}

/// CAP `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum Scope {
    Public,
    Restricted,
    Private,
}

/// Which alert a message is: CAP identifies one by sender, identifier and
/// sent time together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    /// `sender`.
    pub sender: String,
    /// `identifier`.
    pub identifier: String,
    /// `sent`, as an instant (the same moment written with another offset
    /// is the same alert).
    pub sent: DateTime<Utc>,
}

/// A circle: centre and radius in kilometres, as CAP writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Circle {
    /// Centre latitude.
    pub lat: f64,
    /// Centre longitude.
    pub lon: f64,
    /// Radius in km (0 for a point).
    pub radius_km: f64,
}

/// One `area` of an `info`.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// `areaDesc`.
    pub description: String,
    /// Closed rings of `[lon, lat]`.
    pub polygons: Vec<Vec<[f64; 2]>>,
    /// Circles.
    pub circles: Vec<Circle>,
    /// `geocode` pairs: areas named by code only.
    pub geocodes: Vec<(String, String)>,
}

/// One `info` block, the fields the operators see and a relay needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// `language` (`en-US` when absent, as the schema's default).
    pub language: String,
    /// `category`, one or more.
    pub categories: Vec<Category>,
    /// `event`.
    pub event: String,
    /// `urgency`.
    pub urgency: Urgency,
    /// `severity`.
    pub severity: Severity,
    /// `certainty`.
    pub certainty: Certainty,
    /// `expires`.
    pub expires: Option<DateTime<FixedOffset>>,
    /// `senderName`.
    pub sender_name: Option<String>,
    /// `headline`.
    pub headline: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `instruction`.
    pub instruction: Option<String>,
    /// `area`s.
    pub areas: Vec<Area>,
}

/// A CAP 1.2 document that passed the schema check.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialAlert {
    /// `identifier`.
    pub identifier: String,
    /// `sender`.
    pub sender: String,
    /// `sent`, with the offset the sender wrote.
    pub sent: DateTime<FixedOffset>,
    /// `status`.
    pub status: Status,
    /// `msgType`.
    pub msg_type: MsgType,
    /// `scope`.
    pub scope: Scope,
    /// The alerts an Update or Cancel supersedes.
    pub references: Vec<AlertKey>,
    /// The `info` blocks, in document order.
    pub infos: Vec<Info>,
}

impl OfficialAlert {
    /// Which alert this is.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            sender: self.sender.clone(),
            identifier: self.identifier.clone(),
            sent: self.sent.with_timezone(&Utc),
        }
    }

    /// The info shown: the first in English if there is one, else the first.
    pub fn main_info(&self) -> Option<&Info> {
        self.infos
            .iter()
            .find(|i| i.language.to_ascii_lowercase().starts_with("en"))
            .or_else(|| self.infos.first())
    }

    /// When the alert stops being in force: the latest `expires` of its
    /// infos; `None` when no info says.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.infos
            .iter()
            .filter_map(|i| i.expires)
            .map(|e| e.with_timezone(&Utc))
            .max()
    }
}

/// The children of one element, read in the schema's order.
struct Sequence<'a> {
    parent: &'static str,
    items: &'a [Element],
    at: usize,
}

impl<'a> Sequence<'a> {
    fn of(element: &'a Element, parent: &'static str) -> Result<Self, CapError> {
        if !element.text.trim().is_empty() {
            return err(format!("<{parent}> holds text outside its elements"));
        }
        Ok(Self {
            parent,
            items: &element.children,
            at: 0,
        })
    }

    /// The next child if it is `name` in CAP's namespace, taken.
    fn take(&mut self, name: &str) -> Option<&'a Element> {
        let items = self.items;
        let next = items.get(self.at).filter(|e| e.ns == CAP_12 && e.name == name)?;
        self.at += 1;
        Some(next)
    }

    fn optional(&mut self, name: &str) -> Result<Option<&'a Element>, CapError> {
        Ok(self.take(name))
    }

    fn required(&mut self, name: &str) -> Result<&'a Element, CapError> {
        match self.optional(name)? {
            Some(e) => Ok(e),
            None => err(match self.items.get(self.at) {
                Some(found) => format!(
                    "<{}> needs <{name}> where <{}> is (missing or out of order)",
                    self.parent,
                    display_name(found)
                ),
                None => format!("<{}> needs <{name}>", self.parent),
            }),
        }
    }

    fn many(&mut self, name: &str) -> Vec<&'a Element> {
        std::iter::from_fn(|| self.take(name)).collect()
    }

    fn at_least_one(&mut self, name: &str) -> Result<Vec<&'a Element>, CapError> {
        let first = self.required(name)?;
        let mut out = vec![first];
        out.extend(self.many(name));
        Ok(out)
    }

    /// Skips elements of `ns` (the schema's `xs:any` for signatures).
    fn any_of(&mut self, ns: &str) {
        while self.items.get(self.at).is_some_and(|e| e.ns == ns) {
            self.at += 1;
        }
    }

    fn end(&self) -> Result<(), CapError> {
        match self.items.get(self.at) {
            None => Ok(()),
            Some(e) => err(format!(
                "<{}> has <{}> where the schema allows no such element (unknown, repeated or out of order)",
                self.parent,
                display_name(e)
            )),
        }
    }
}

fn display_name(e: &Element) -> String {
    if e.ns == CAP_12 {
        e.name.chars().take(64).collect()
    } else {
        format!(
            "{{{}}}{}",
            e.ns.chars().take(128).collect::<String>(),
            e.name.chars().take(64).collect::<String>()
        )
    }
}

/// The text of a simple-typed element (no child elements).
fn simple(e: &Element) -> Result<&str, CapError> {
    if let Some(child) = e.children.first() {
        return err(format!(
            "<{}> may hold only text, not <{}>",
            e.name,
            display_name(child)
        ));
    }
    Ok(&e.text)
}

fn enumeration<T: Copy>(e: &Element, values: &[(&str, T)]) -> Result<T, CapError> {
    let text = simple(e)?;
    values.iter().find(|(v, _)| *v == text).map(|(_, t)| *t).ok_or_else(|| {
        CapError(format!(
            "<{}> must be one of {}, not {:?}",
            e.name,
            values.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", "),
            text.chars().take(64).collect::<String>()
        ))
    })
}

/// The schema's dateTime: `\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-,+]\d\d:\d\d`
/// (whitespace collapsed, as xs:dateTime does), and a real date and time.
fn date_time(e: &Element) -> Result<DateTime<FixedOffset>, CapError> {
    let text = simple(e)?.trim();
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.into_iter().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let shaped = b.len() == 25
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && matches!(b[19], b'-' | b'+')
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25);
    let bad = || {
        CapError(format!(
            "<{}> must be a date and time as YYYY-MM-DDThh:mm:ss±hh:mm, not {:?}",
            e.name,
            text.chars().take(40).collect::<String>()
        ))
    };
    if !shaped {
        return Err(bad());
    }
    DateTime::parse_from_rfc3339(text).map_err(|_| bad())
}

fn string(e: &Element) -> Result<String, CapError> {
    Ok(simple(e)?.to_owned())
}

fn optional_string(e: Option<&Element>) -> Result<Option<String>, CapError> {
    e.map(string).transpose()
}

/// `xs:language`: `[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*`.
fn language(e: &Element) -> Result<String, CapError> {
    let text = simple(e)?.trim();
    let ok = text.split('-').enumerate().all(|(i, part)| {
        (1..=8).contains(&part.len())
            && if i == 0 {
                part.bytes().all(|c| c.is_ascii_alphabetic())
            } else {
                part.bytes().all(|c| c.is_ascii_alphanumeric())
            }
    });
    if !ok {
        return err(format!(
            "<language> {:?} is not a language tag",
            text.chars().take(40).collect::<String>()
        ));
    }
    Ok(text.to_owned())
}

fn integer(e: &Element) -> Result<(), CapError> {
    let text = simple(e)?.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return err(format!("<{}> must be an integer", e.name));
    }
    Ok(())
}

fn decimal(e: &Element) -> Result<(), CapError> {
    let text = simple(e)?.trim();
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let ok = (!whole.is_empty() || !fraction.is_empty())
        && whole.bytes().all(|c| c.is_ascii_digit())
        && fraction.bytes().all(|c| c.is_ascii_digit());
    if !ok {
        return err(format!("<{}> must be a decimal number", e.name));
    }
    Ok(())
}

/// `valueName` then `value`, as eventCode, parameter and geocode hold.
fn pair(e: &Element, parent: &'static str) -> Result<(String, String), CapError> {
    let mut seq = Sequence::of(e, parent)?;
    let name = string(seq.required("valueName")?)?;
    let value = string(seq.required("value")?)?;
    seq.end()?;
    Ok((name, value))
}

/// `lat,lon` in WGS 84 ranges.
fn point(text: &str, what: &str) -> Result<(f64, f64), CapError> {
    let bad = || {
        CapError(format!(
            "<{what}> has {:?} where a lat,lon pair belongs",
            text.chars().take(40).collect::<String>()
        ))
    };
    let (lat, lon) = text.split_once(',').ok_or_else(bad)?;
    let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
    let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
    if !lat.is_finite() || !lon.is_finite() || !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(bad());
    }
    Ok((lat, lon))
}

/// CAP polygon: space-separated `lat,lon` pairs, at least four, the first
/// and last the same. Returned as a `[lon, lat]` ring.
fn polygon(e: &Element) -> Result<Vec<[f64; 2]>, CapError> {
    let points = simple(e)?
        .split_whitespace()
        .map(|p| point(p, "polygon"))
        .collect::<Result<Vec<_>, _>>()?;
    if points.len() < 4 {
        return err("<polygon> needs at least four lat,lon pairs");
    }
    if points.first() != points.last() {
        return err("<polygon> must end where it starts (a closed ring)");
    }
    Ok(points.into_iter().map(|(lat, lon)| [lon, lat]).collect())
}

/// CAP circle: `lat,lon radius` with the radius in km.
fn circle(e: &Element) -> Result<Circle, CapError> {
    let text = simple(e)?;
    let mut parts = text.split_whitespace();
    let (Some(centre), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
        return err("<circle> must be a lat,lon pair, a space and a radius in km");
    };
    let (lat, lon) = point(centre, "circle")?;
    let radius_km: f64 = radius
        .parse()
        .ok()
        .filter(|r: &f64| r.is_finite() && *r >= 0.0 && *r <= 20_037.5)
        .ok_or_else(|| {
            CapError("<circle> radius must be a number of km from 0 to half the Earth's circumference".into())
        })?;
    Ok(Circle { lat, lon, radius_km })
}

fn references(text: &str) -> Result<Vec<AlertKey>, CapError> {
    text.split_whitespace()
        .map(|triple| {
            let mut parts = triple.split(',');
            let (Some(sender), Some(identifier), Some(sent), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return err("<references> must be sender,identifier,sent triples separated by spaces");
            };
            let probe = Element {
                ns: CAP_12.into(),
                name: "references".into(),
                text: sent.to_owned(),
                attributes: Vec::new(),
                children: Vec::new(),
            };
            Ok(AlertKey {
                sender: sender.to_owned(),
                identifier: identifier.to_owned(),
                sent: date_time(&probe)?.with_timezone(&Utc),
            })
        })
        .collect()
}

/// `identifier` and `sender`: the specification forbids spaces, commas and
/// `<`/`&` in them (they are joined in `references`).
fn token(e: &Element) -> Result<String, CapError> {
    let text = simple(e)?;
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == ',' || c == '<' || c == '&') {
        return err(format!("<{}> must be non-empty without spaces, commas, < or &", e.name));
    }
    Ok(text.to_owned())
}

/// Checks a parsed document against the CAP 1.2 schema.
pub fn validate(root: &Element) -> Result<OfficialAlert, CapError> {
    if root.name != "alert" {
        return err(format!(
            "the root element is <{}>, not a CAP <alert>",
            display_name(root)
        ));
    }
    if root.ns != CAP_12 {
        return err(format!(
            "the alert's namespace is {:?}, not CAP 1.2's {CAP_12}",
            root.ns.chars().take(128).collect::<String>()
        ));
    }
    let mut seq = Sequence::of(root, "alert")?;
    let identifier = token(seq.required("identifier")?)?;
    let sender = token(seq.required("sender")?)?;
    let sent = date_time(seq.required("sent")?)?;
    use MsgType as M;
    use Status as S;
    let status = enumeration(
        seq.required("status")?,
        &[
            ("Actual", S::Actual),
            ("Exercise", S::Exercise),
            ("System", S::System),
            ("Test", S::Test),
            ("Draft", S::Draft),
        ],
    )?;
    let msg_type = enumeration(
        seq.required("msgType")?,
        &[
            ("Alert", M::Alert),
            ("Update", M::Update),
            ("Cancel", M::Cancel),
            ("Ack", M::Ack),
            ("Error", M::Error),
        ],
    )?;
    optional_string(seq.optional("source")?)?;
    let scope = enumeration(
        seq.required("scope")?,
        &[
            ("Public", Scope::Public),
            ("Restricted", Scope::Restricted),
            ("Private", Scope::Private),
        ],
    )?;
    optional_string(seq.optional("restriction")?)?;
    optional_string(seq.optional("addresses")?)?;
    for code in seq.many("code") {
        string(code)?;
    }
    optional_string(seq.optional("note")?)?;
    let refs = match seq.optional("references")? {
        Some(e) => references(simple(e)?)?,
        None => Vec::new(),
    };
    optional_string(seq.optional("incidents")?)?;
    let infos = seq.many("info").into_iter().map(info).collect::<Result<Vec<_>, _>>()?;
    seq.any_of(XMLDSIG);
    seq.end()?;
    if matches!(msg_type, MsgType::Update | MsgType::Cancel) && refs.is_empty() {
        return err("an Update or Cancel must name what it supersedes in <references>");
    }
    Ok(OfficialAlert {
        identifier,
        sender,
        sent,
        status,
        msg_type,
        scope,
        references: refs,
        infos,
    })
}

fn info(e: &Element) -> Result<Info, CapError> {
    let mut seq = Sequence::of(e, "info")?;
    let language = match seq.optional("language")? {
        Some(l) => language(l)?,
        None => "en-US".to_owned(),
    };
    use Category as C;
    let categories = seq
        .at_least_one("category")?
        .into_iter()
        .map(|c| {
            enumeration(
                c,
                &[
                    ("Geo", C::Geo),
                    ("Met", C::Met),
                    ("Safety", C::Safety),
                    ("Security", C::Security),
                    ("Rescue", C::Rescue),
                    ("Fire", C::Fire),
                    ("Health", C::Health),
                    ("Env", C::Env),
                    ("Transport", C::Transport),
                    ("Infra", C::Infra),
                    ("CBRNE", C::CBRNE),
                    ("Other", C::Other),
                ],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let event = string(seq.required("event")?)?;
    for response in seq.many("responseType") {
        enumeration(
            response,
            &[
                ("Shelter", ()),
                ("Evacuate", ()),
                ("Prepare", ()),
                ("Execute", ()),
                ("Avoid", ()),
                ("Monitor", ()),
                ("Assess", ()),
                ("AllClear", ()),
                ("None", ()),
            ],
        )?;
    }
    use Urgency as U;
    let urgency = enumeration(
        seq.required("urgency")?,
        &[
            ("Immediate", U::Immediate),
            ("Expected", U::Expected),
            ("Future", U::Future),
            ("Past", U::Past),
            ("Unknown", U::Unknown),
        ],
    )?;
    use Severity as V;
    let severity = enumeration(
        seq.required("severity")?,
        &[
            ("Extreme", V::Extreme),
            ("Severe", V::Severe),
            ("Moderate", V::Moderate),
            ("Minor", V::Minor),
            ("Unknown", V::Unknown),
        ],
    )?;
    use Certainty as T;
    let certainty = enumeration(
        seq.required("certainty")?,
        &[
            ("Observed", T::Observed),
            ("Likely", T::Likely),
            ("Possible", T::Possible),
            ("Unlikely", T::Unlikely),
            ("Unknown", T::Unknown),
        ],
    )?;
    optional_string(seq.optional("audience")?)?;
    for code in seq.many("eventCode") {
        pair(code, "eventCode")?;
    }
    seq.optional("effective")?.map(date_time).transpose()?;
    seq.optional("onset")?.map(date_time).transpose()?;
    let expires = seq.optional("expires")?.map(date_time).transpose()?;
    let sender_name = optional_string(seq.optional("senderName")?)?;
    let headline = optional_string(seq.optional("headline")?)?;
    let description = optional_string(seq.optional("description")?)?;
    let instruction = optional_string(seq.optional("instruction")?)?;
    optional_string(seq.optional("web")?)?;
    optional_string(seq.optional("contact")?)?;
    for parameter in seq.many("parameter") {
        pair(parameter, "parameter")?;
    }
    for r in seq.many("resource") {
        resource(r)?;
    }
    let areas = seq.many("area").into_iter().map(area).collect::<Result<Vec<_>, _>>()?;
    seq.end()?;
    Ok(Info {
        language,
        categories,
        event,
        urgency,
        severity,
        certainty,
        expires,
        sender_name,
        headline,
        description,
        instruction,
        areas,
    })
}

fn resource(e: &Element) -> Result<(), CapError> {
    let mut seq = Sequence::of(e, "resource")?;
    string(seq.required("resourceDesc")?)?;
    string(seq.required("mimeType")?)?;
    seq.optional("size")?.map(integer).transpose()?;
    optional_string(seq.optional("uri")?)?;
    optional_string(seq.optional("derefUri")?)?;
    optional_string(seq.optional("digest")?)?;
    seq.end()
}

fn area(e: &Element) -> Result<Area, CapError> {
    let mut seq = Sequence::of(e, "area")?;
    let description = string(seq.required("areaDesc")?)?;
    let polygons = seq
        .many("polygon")
        .into_iter()
        .map(polygon)
        .collect::<Result<Vec<_>, _>>()?;
    let circles = seq
        .many("circle")
        .into_iter()
        .map(circle)
        .collect::<Result<Vec<_>, _>>()?;
    let geocodes = seq
        .many("geocode")
        .into_iter()
        .map(|g| pair(g, "geocode"))
        .collect::<Result<Vec<_>, _>>()?;
    seq.optional("altitude")?.map(decimal).transpose()?;
    seq.optional("ceiling")?.map(decimal).transpose()?;
    seq.end()?;
    Ok(Area {
        description,
        polygons,
        circles,
        geocodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::official::xml::parse;

    const GOOD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>TEST-1</identifier>
  <sender>civil.protection@example.org</sender>
  <sent>2026-11-28T19:00:00+01:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <code>IPAWSv1.0</code>
  <info>
    <language>en-GB</language>
    <category>Met</category>
    <category>Safety</category>
    <event>Flood</event>
    <responseType>Avoid</responseType>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <eventCode><valueName>SAME</valueName><value>FLW</value></eventCode>
    <expires>2026-11-29T19:00:00+01:00</expires>
    <headline>River Reno flood warning</headline>
    <description>Levels rising.</description>
    <instruction>Keep away from the banks.</instruction>
    <parameter><valueName>p</valueName><value>1</value></parameter>
    <resource><resourceDesc>map</resourceDesc><mimeType>image/png</mimeType><size>120</size></resource>
    <area>
      <areaDesc>Bologna</areaDesc>
      <polygon>44.49,11.34 44.50,11.34 44.50,11.35 44.49,11.34</polygon>
      <circle>44.49,11.34 0.5</circle>
      <geocode><valueName>ISTAT</valueName><value>037006</value></geocode>
      <altitude>10.5</altitude>
    </area>
  </info>
</alert>"#;

    fn check(xml: &str) -> Result<OfficialAlert, CapError> {
        validate(&parse(xml.as_bytes()).map_err(|e| CapError(e.to_string()))?)
    }

    #[test]
    fn a_complete_document_passes_with_its_fields() {
        let alert = check(GOOD).expect("valid");
        assert_eq!(alert.identifier, "TEST-1");
        assert_eq!(alert.msg_type, MsgType::Alert);
        let info = alert.main_info().expect("info");
        assert_eq!(info.categories, vec![Category::Met, Category::Safety]);
        assert_eq!(info.severity, Severity::Severe);
        assert_eq!(info.areas[0].polygons[0][0], [11.34, 44.49]);
        assert_eq!(info.areas[0].circles[0].radius_km, 0.5);
        assert_eq!(
            alert.expires().map(|e| e.to_rfc3339()),
            Some("2026-11-29T18:00:00+00:00".into())
        );
    }

    fn broken(from: &str, to: &str) -> CapError {
        assert!(GOOD.contains(from), "{from} is in the sample");
        check(&GOOD.replacen(from, to, 1)).expect_err("refused")
    }

    #[test]
    fn each_schema_rule_refuses() {
        // Required element missing.
        assert!(broken("<scope>Public</scope>", "").0.contains("needs <scope>"));
        // Order: scope before msgType.
        assert!(
            broken(
                "<msgType>Alert</msgType>\n  <scope>Public</scope>",
                "<scope>Public</scope><msgType>Alert</msgType>"
            )
            .0
            .contains("msgType")
        );
        // Enumerations.
        assert!(
            broken("<status>Actual</status>", "<status>Real</status>")
                .0
                .contains("status")
        );
        assert!(
            broken("<category>Met</category>", "<category>Weather</category>")
                .0
                .contains("category")
        );
        assert!(
            broken("<urgency>Expected</urgency>", "<urgency>Soon</urgency>")
                .0
                .contains("urgency")
        );
        assert!(
            broken("<severity>Severe</severity>", "<severity>severe</severity>")
                .0
                .contains("severity")
        );
        assert!(
            broken("<certainty>Likely</certainty>", "<certainty>Sure</certainty>")
                .0
                .contains("certainty")
        );
        assert!(
            broken("<responseType>Avoid</responseType>", "<responseType>Run</responseType>")
                .0
                .contains("responseType")
        );
        assert!(
            broken("<scope>Public</scope>", "<scope>Everyone</scope>")
                .0
                .contains("scope")
        );
        // dateTime form: Z is not the schema's pattern, nor a date alone.
        assert!(
            broken("2026-11-28T19:00:00+01:00", "2026-11-28T18:00:00Z")
                .0
                .contains("sent")
        );
        assert!(broken("2026-11-28T19:00:00+01:00", "2026-11-28").0.contains("sent"));
        assert!(
            broken("2026-11-28T19:00:00+01:00", "2026-02-30T19:00:00+01:00")
                .0
                .contains("sent")
        );
        // Unknown element, repeated single element, wrong namespace.
        assert!(
            broken("<code>IPAWSv1.0</code>", "<colour>red</colour>")
                .0
                .contains("colour")
        );
        assert!(
            broken("<event>Flood</event>", "<event>Flood</event><event>Again</event>")
                .0
                .contains("event")
        );
        assert!(
            check(&GOOD.replace("cap:1.2", "cap:1.1"))
                .expect_err("1.1")
                .0
                .contains("namespace")
        );
        // Required child of info missing; text where only elements belong.
        assert!(broken("<event>Flood</event>", "").0.contains("event"));
        assert!(broken("<info>", "<info>stray text").0.contains("text"));
        // Polygon and circle syntax.
        assert!(
            broken(
                "44.49,11.34 44.50,11.34 44.50,11.35 44.49,11.34",
                "44.49,11.34 44.50,11.34 44.50,11.35 44.48,11.34"
            )
            .0
            .contains("closed")
        );
        assert!(
            broken(
                "44.49,11.34 44.50,11.34 44.50,11.35 44.49,11.34",
                "44.49,11.34 44.50,11.34 44.49,11.34"
            )
            .0
            .contains("four")
        );
        assert!(
            broken(
                "44.49,11.34 44.50,11.34 44.50,11.35 44.49,11.34",
                "94.49,11.34 44.50,11.34 44.50,11.35 94.49,11.34"
            )
            .0
            .contains("lat,lon")
        );
        assert!(
            broken("<circle>44.49,11.34 0.5</circle>", "<circle>44.49,11.34</circle>")
                .0
                .contains("circle")
        );
        assert!(
            broken("<circle>44.49,11.34 0.5</circle>", "<circle>44.49,11.34 -1</circle>")
                .0
                .contains("radius")
        );
        // Numbers.
        assert!(broken("<size>120</size>", "<size>12.5</size>").0.contains("integer"));
        assert!(
            broken("<altitude>10.5</altitude>", "<altitude>high</altitude>")
                .0
                .contains("decimal")
        );
        // language, identifier.
        assert!(
            broken("<language>en-GB</language>", "<language>english language</language>")
                .0
                .contains("language")
        );
        assert!(
            broken("<identifier>TEST-1</identifier>", "<identifier>TEST 1</identifier>")
                .0
                .contains("identifier")
        );
        // An Update must reference.
        assert!(
            broken("<msgType>Alert</msgType>", "<msgType>Update</msgType>")
                .0
                .contains("references")
        );
        // Not an alert at all.
        assert!(check("<feed xmlns=\"http://www.w3.org/2005/Atom\"/>").is_err());
    }

    #[test]
    fn references_and_signatures() {
        let update = GOOD.replacen("<msgType>Alert</msgType>", "<msgType>Update</msgType>", 1).replacen(
            "<code>IPAWSv1.0</code>",
            "<code>IPAWSv1.0</code><references>a@b,ID-0,2026-11-28T18:00:00-00:00 a@b,ID-00,2026-11-28T18:30:00+00:00</references>",
            1,
        );
        let alert = check(&update).expect("valid update");
        assert_eq!(alert.references.len(), 2);
        assert_eq!(alert.references[0].identifier, "ID-0");
        let signed = GOOD.replace(
            "</alert>",
            "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo/></Signature></alert>",
        );
        assert!(check(&signed).is_ok());
        let bad_refs = GOOD.replacen(
            "<code>IPAWSv1.0</code>",
            "<code>IPAWSv1.0</code><references>nonsense</references>",
            1,
        );
        assert!(check(&bad_refs).is_err());
    }
}
