//! Official alerts taken in from `--cap-feed` (DESIGN §11): owns the list
//! of CAP 1.2 alerts published by authorities, as operators and commanders
//! read it at `GET /api/v1/official-alerts` and relay it to the public.
//!
//! [`feed`] fetches and [`xml`] + [`cap_in`] check; this module keeps what
//! passed: each alert once (CAP's sender + identifier + sent), an Update
//! replacing what it references and a Cancel removing it, nothing past its
//! expiry. The list is this node's own: every node polls the feeds itself,
//! so that nodes agree without sharing state, as the feeds are the truth.

pub mod cap_in;
pub mod feed;
pub mod index;
pub mod tls;
pub mod xml;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use cap_in::{AlertKey, MsgType, OfficialAlert};

/// How long an alert that gives no `expires` stays listed after `sent`.
const UNDATED_LIFETIME_HOURS: i64 = 24;
/// Vertices of the polygon a circle is drawn as.
const CIRCLE_VERTICES: usize = 36;
/// Alerts kept at most; past it the oldest `sent` go first.
const MAX_ALERTS: usize = 5_000;
/// Refusals remembered for the operators, newest first.
const MAX_REFUSALS: usize = 500;
/// ... and of those, at most so many of one feed.
const MAX_REFUSALS_PER_FEED: usize = 50;

/// One alert kept, with where it came from.
#[derive(Debug, Clone)]
pub struct Kept {
    /// A stable id: the same alert has the same id on every node.
    pub id: String,
    /// The feed URL it was read from.
    pub source: String,
    /// The checked document.
    pub alert: OfficialAlert,
}

impl Kept {
    /// When it drops off the list.
    pub fn ends(&self) -> DateTime<Utc> {
        self.alert
            .expires()
            .unwrap_or_else(|| self.alert.sent.with_timezone(&Utc) + chrono::Duration::hours(UNDATED_LIFETIME_HOURS))
    }
}

/// What taking one valid document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A new alert is listed.
    Added,
    /// The same alert was already listed (or already superseded): nothing changed.
    Duplicate,
    /// An Update is listed in place of what it references.
    Replaced,
    /// A Cancel removed what it references.
    Cancelled,
    /// Valid but not an alert to list: an Ack or Error, or already expired.
    Ignored,
}

#[derive(Default)]
struct Store {
    alerts: BTreeMap<AlertKey, Kept>,
    /// Alerts superseded or cancelled: listed again by a feed, they stay off.
    gone: HashSet<AlertKey>,
    refusals: VecDeque<RefusalView>,
}

/// A feed answer or document that was not taken, as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefusalView {
    /// The feed URL.
    pub source: String,
    /// The document's URL (the feed's own when the index itself was refused).
    pub document: String,
    /// A short code: `fetch`, `tls`, `redirect`, `downgrade`, `too_large`,
    /// `timeout`, `status`, `xml`, `doctype`, `not_a_feed`, `schema` or `over_cap`.
    pub code: String,
    /// What was wrong.
    pub reason: String,
    /// When, RFC 3339 UTC.
    pub at: String,
}

/// The official alerts of this node.
#[derive(Default)]
pub struct OfficialAlerts {
    store: Mutex<Store>,
}

/// A stable id for an alert: hex of SHA-256 over sender, identifier and
/// sent (as an instant), 32 characters.
pub fn alert_id(key: &AlertKey) -> String {
    let mut hash = Sha256::new();
    hash.update(key.sender.as_bytes());
    hash.update([0]);
    hash.update(key.identifier.as_bytes());
    hash.update([0]);
    hash.update(key.sent.timestamp().to_be_bytes());
    hex::encode(&hash.finalize()[..16])
}

impl OfficialAlerts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the map half-changed
        // in a way later readers would trip on: keep serving it.
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one valid document read from `source`.
    pub fn take(&self, source: &str, alert: OfficialAlert, now: DateTime<Utc>) -> Taken {
        let key = alert.key();
        let mut store = self.lock();
        if store.alerts.contains_key(&key) || store.gone.contains(&key) {
            return Taken::Duplicate;
        }
        match alert.msg_type {
            MsgType::Ack | MsgType::Error => return Taken::Ignored,
            MsgType::Cancel => {
                for r in &alert.references {
                    store.alerts.remove(r);
                    store.gone.insert(r.clone());
                }
                store.gone.insert(key);
                return Taken::Cancelled;
            }
            MsgType::Alert | MsgType::Update => {}
        }
        let kept = Kept {
            id: alert_id(&key),
            source: source.to_owned(),
            alert,
        };
        if kept.ends() <= now {
            return Taken::Ignored;
        }
        let mut taken = Taken::Added;
        for r in &kept.alert.references {
            store.alerts.remove(r);
            store.gone.insert(r.clone());
            taken = Taken::Replaced;
        }
        store.alerts.insert(key, kept);
        while store.alerts.len() > MAX_ALERTS {
            let Some(oldest) = store
                .alerts
                .values()
                .min_by_key(|k| k.alert.sent)
                .map(|k| k.alert.key())
            else {
                break;
            };
            store.alerts.remove(&oldest);
        }
        taken
    }

    /// Remembers a refusal for the operators' list.
    pub fn note_refusal(&self, source: &str, document: &str, refusal: &feed::Refusal) {
        let mut store = self.lock();
        // The newest of each (document, code) only: a feed failing every
        // poll the same way does not push the others out.
        store
            .refusals
            .retain(|r| !(r.document == document && r.code == refusal.code && r.source == source));
        store.refusals.push_front(RefusalView {
            source: source.to_owned(),
            document: document.chars().take(512).collect(),
            code: refusal.code.to_owned(),
            reason: refusal.reason.chars().take(512).collect(),
            at: rfc3339(Utc::now()),
        });
        // At most so many per feed, so that one feed's flood of bad links
        // does not hide another feed's refusal.
        let mut seen = 0;
        store.refusals.retain(|r| {
            if r.source != source {
                return true;
            }
            seen += 1;
            seen <= MAX_REFUSALS_PER_FEED
        });
        store.refusals.truncate(MAX_REFUSALS);
    }

    /// The latest refusals, newest first.
    pub fn refusals(&self) -> Vec<RefusalView> {
        self.lock().refusals.iter().cloned().collect()
    }

    /// Drops what has expired; forgets superseded keys old enough that no
    /// feed still lists them.
    pub fn prune(&self, now: DateTime<Utc>) {
        let mut store = self.lock();
        store.alerts.retain(|_, k| k.ends() > now);
        let horizon = now - chrono::Duration::days(7);
        store.gone.retain(|k| k.sent > horizon);
    }

    /// The alerts in force, newest `sent` first.
    pub fn current(&self, now: DateTime<Utc>) -> Vec<Kept> {
        let store = self.lock();
        let mut out: Vec<Kept> = store.alerts.values().filter(|k| k.ends() > now).cloned().collect();
        out.sort_by(|a, b| b.alert.sent.cmp(&a.alert.sent).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// One alert in force by id.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Kept> {
        self.current(now).into_iter().find(|k| k.id == id)
    }
}

/// An official alert as `GET /api/v1/official-alerts` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfficialAlertView {
    /// Stable id, for the relay route.
    pub id: String,
    /// The feed URL it was read from.
    pub source: String,
    /// CAP `identifier`.
    pub identifier: String,
    /// CAP `sender`.
    pub sender: String,
    /// CAP `senderName` of the shown info, if given.
    pub sender_name: Option<String>,
    /// CAP `sent`, RFC 3339 UTC.
    pub sent: String,
    /// The latest `expires` of its infos, RFC 3339 UTC; null when it gives none.
    pub expires: Option<String>,
    /// CAP `status`: Actual, Exercise, System, Test or Draft.
    pub status: String,
    /// CAP `msgType`: Alert or Update.
    pub msg_type: String,
    /// CAP `scope`.
    pub scope: String,
    /// The shown info's language (the first English one, else the first).
    pub language: Option<String>,
    /// The shown info's categories.
    pub categories: Vec<String>,
    /// The shown info's `event`.
    pub event: Option<String>,
    /// `headline`, or the event when there is none.
    pub headline: Option<String>,
    /// CAP `severity`.
    pub severity: Option<String>,
    /// CAP `urgency`.
    pub urgency: Option<String>,
    /// CAP `certainty`.
    pub certainty: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `instruction`.
    pub instruction: Option<String>,
    /// The `areaDesc`s, joined with "; ".
    pub area_description: Option<String>,
    /// The areas as a GeoJSON MultiPolygon (`[lon, lat]`, closed rings,
    /// exterior rings counter-clockwise, circles drawn as polygons); null
    /// when the alert names its areas by code only.
    #[schema(value_type = Option<Object>)]
    pub area: Value,
}

impl Kept {
    /// The view of this alert.
    pub fn view(&self) -> OfficialAlertView {
        let a = &self.alert;
        let info = a.main_info();
        let areas: Vec<&cap_in::Area> = info.map(|i| i.areas.iter().collect()).unwrap_or_default();
        let descriptions: Vec<&str> = areas
            .iter()
            .map(|x| x.description.as_str())
            .filter(|d| !d.is_empty())
            .collect();
        OfficialAlertView {
            id: self.id.clone(),
            source: self.source.clone(),
            identifier: a.identifier.clone(),
            sender: a.sender.clone(),
            sender_name: info.and_then(|i| i.sender_name.clone()),
            sent: rfc3339(a.sent.with_timezone(&Utc)),
            expires: a.expires().map(rfc3339),
            status: format!("{:?}", a.status),
            msg_type: format!("{:?}", a.msg_type),
            scope: format!("{:?}", a.scope),
            language: info.map(|i| i.language.clone()),
            categories: info
                .map(|i| i.categories.iter().map(|c| c.as_str().to_owned()).collect())
                .unwrap_or_default(),
            event: info.map(|i| i.event.clone()),
            headline: info.map(|i| i.headline.clone().unwrap_or_else(|| i.event.clone())),
            severity: info.map(|i| i.severity.as_str().to_owned()),
            urgency: info.map(|i| i.urgency.as_str().to_owned()),
            certainty: info.map(|i| i.certainty.as_str().to_owned()),
            description: info.and_then(|i| i.description.clone()),
            instruction: info.and_then(|i| i.instruction.clone()),
            area_description: (!descriptions.is_empty()).then(|| descriptions.join("; ")),
            area: geometry(&areas),
        }
    }
}

impl OfficialAlertView {
    /// The view for a reader other than an operator: phone numbers and
    /// e-mail addresses in its texts masked, as everywhere outside the
    /// operators' views (DESIGN §6); an authority's sender is often an
    /// address of a person at its desk.
    pub fn masked(mut self) -> Self {
        let mask = |t: &mut String| *t = crate::integrity::pii::mask(t).text;
        mask(&mut self.sender);
        for text in [
            &mut self.sender_name,
            &mut self.headline,
            &mut self.description,
            &mut self.instruction,
            &mut self.area_description,
            &mut self.event,
        ]
        .into_iter()
        .flatten()
        {
            mask(text);
        }
        self
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The areas' polygons and circles as one GeoJSON MultiPolygon, or null.
pub fn geometry(areas: &[&cap_in::Area]) -> Value {
    let mut polygons: Vec<Value> = Vec::new();
    for area in areas {
        for ring in &area.polygons {
            polygons.push(json!([counter_clockwise(ring.clone())]));
        }
        for c in &area.circles {
            polygons.push(json!([circle_ring(c)]));
        }
    }
    if polygons.is_empty() {
        return Value::Null;
    }
    json!({"type": "MultiPolygon", "coordinates": polygons})
}

/// RFC 7946 §3.1.6: exterior rings are counter-clockwise.
fn counter_clockwise(mut ring: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    let twice_area: f64 = ring.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum();
    if twice_area < 0.0 {
        ring.reverse();
    }
    ring
}

/// A circle as a closed counter-clockwise ring of `[lon, lat]`, on a
/// sphere (plenty for areas of a few km).
pub fn circle_ring(c: &cap_in::Circle) -> Vec<[f64; 2]> {
    const EARTH_RADIUS_KM: f64 = 6_371.0;
    // A radius of 0 is a point; draw it as 10 m so that it can be seen and relayed.
    let d = c.radius_km.max(0.01) / EARTH_RADIUS_KM;
    let (lat1, lon1) = (c.lat.to_radians(), c.lon.to_radians());
    let mut ring: Vec<[f64; 2]> = (0..CIRCLE_VERTICES)
        .map(|i| {
            // Counter-clockwise: bearings from east through north.
            let bearing = std::f64::consts::TAU * (CIRCLE_VERTICES - i) as f64 / CIRCLE_VERTICES as f64;
            let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * bearing.cos()).asin();
            let lon2 = lon1 + (bearing.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
            let lon = (lon2.to_degrees() + 540.0) % 360.0 - 180.0;
            [round7(lon), round7(lat2.to_degrees())]
        })
        .collect();
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    counter_clockwise(ring)
}

fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

#[cfg(test)]
mod tests {
    use super::cap_in::{Circle, validate};
    use super::*;

    fn doc(identifier: &str, msg_type: &str, references: &str, expires: &str) -> OfficialAlert {
        let refs = if references.is_empty() {
            String::new()
        } else {
            format!("<references>{references}</references>")
        };
        let xml = format!(
            r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{identifier}</identifier><sender>s@x</sender>
            <sent>2026-11-28T10:00:00+00:00</sent><status>Actual</status><msgType>{msg_type}</msgType><scope>Public</scope>{refs}
            <info><category>Safety</category><event>E</event><urgency>Immediate</urgency><severity>Severe</severity>
            <certainty>Observed</certainty><expires>{expires}</expires><area><areaDesc>A</areaDesc>
            <polygon>44.0,11.0 44.0,11.1 44.1,11.1 44.0,11.0</polygon></area></info></alert>"#
        );
        validate(&xml::parse(xml.as_bytes()).expect("xml")).expect("valid")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn once_update_replaces_cancel_removes_expiry_drops() {
        let store = OfficialAlerts::default();
        let now = at("2026-11-28T11:00:00Z");
        let first = doc("A1", "Alert", "", "2026-11-28T12:00:00+00:00");
        assert_eq!(store.take("f", first.clone(), now), Taken::Added);
        assert_eq!(store.take("f", first, now), Taken::Duplicate);
        assert_eq!(store.current(now).len(), 1);
        let update = doc(
            "A2",
            "Update",
            "s@x,A1,2026-11-28T10:00:00+00:00",
            "2026-11-28T13:00:00+00:00",
        );
        assert_eq!(store.take("f", update, now), Taken::Replaced);
        let listed = store.current(now);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].alert.identifier, "A2");
        // The superseded alert, listed again by the feed, stays off.
        assert_eq!(
            store.take("f", doc("A1", "Alert", "", "2026-11-28T12:00:00+00:00"), now),
            Taken::Duplicate
        );
        let cancel = doc(
            "A3",
            "Cancel",
            "s@x,A2,2026-11-28T10:00:00+00:00",
            "2026-11-28T13:00:00+00:00",
        );
        assert_eq!(store.take("f", cancel, now), Taken::Cancelled);
        assert!(store.current(now).is_empty());
        assert_eq!(
            store.take("f", doc("B", "Alert", "", "2026-11-28T11:30:00+00:00"), now),
            Taken::Added
        );
        assert_eq!(store.current(at("2026-11-28T11:31:00Z")).len(), 0);
        assert_eq!(
            store.take("f", doc("C", "Alert", "", "2026-11-28T10:30:00+00:00"), now),
            Taken::Ignored
        );
    }

    #[test]
    fn geometry_is_closed_counter_clockwise_lon_lat() {
        let a = doc("G", "Alert", "", "2026-11-28T12:00:00+00:00");
        let areas: Vec<&cap_in::Area> = a.infos[0].areas.iter().collect();
        let g = geometry(&areas);
        let ring = &g["coordinates"][0][0];
        assert_eq!(ring[0], json!([11.0, 44.0]));
        assert_eq!(ring[0], ring[ring.as_array().map_or(0, Vec::len) - 1]);
        let circle = circle_ring(&Circle {
            lat: 44.0,
            lon: 11.0,
            radius_km: 1.0,
        });
        assert_eq!(circle.first(), circle.last());
        let twice_area: f64 = circle.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum();
        assert!(twice_area > 0.0, "counter-clockwise");
        assert!(
            circle
                .iter()
                .all(|p| (p[1] - 44.0).abs() < 0.01 && (p[0] - 11.0).abs() < 0.02)
        );
        assert_eq!(geometry(&[]), Value::Null);
    }
}
