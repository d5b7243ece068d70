//! Alerts at the end of the flow. Outbound formats: each stored broadcast as
//! a CAP 1.2 document, and the active public ones as an Atom index
//! (renderings only, nothing there changes state). And the detector that
//! raises surge and threshold alerts from the counts, and the zone watch
//! that raises zone alerts from the zones' status, by the kinds in
//! [`rules`].

pub mod atom;
pub mod cap;
mod detector;
pub mod rules;
mod zone_watch;

pub use detector::{Alert, AlertRules, Places, detect, spawn_detector};
pub use zone_watch::{ZoneAlert, ZoneWatch, spawn_zone_watch};

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::domain::text::is_xml_char;

/// CAP and Atom settings of the deployment.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Where this deployment is reached (`--public-url`), without a trailing
    /// slash: the start of every link written into feeds and documents. Never
    /// taken from a request, whose `Host` an attacker chooses.
    pub base_url: String,
    /// CAP `sender`: who issues the alerts, e.g. `safety@bologna.example`.
    pub sender: String,
    /// CAP `status`: Actual, Exercise (drills) or Test.
    pub status: String,
}

/// Escapes text for XML and drops the characters XML 1.0 forbids: every XML
/// writer should put its text through this.
///
/// Input is refused at the door when it holds one (domain::text), but text
/// stored before that rule, or reaching here by another path, must not make
/// the feed unreadable for everyone: a dropped character is the lesser harm.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if text.chars().all(is_xml_char) {
        return quick_xml::escape::escape(text);
    }
    let kept: String = text.chars().filter(|c| is_xml_char(*c)).collect();
    Cow::Owned(quick_xml::escape::escape(&kept).into_owned())
}

/// An alert's `raised_at`: RFC 3339 to the millisecond, because the engine
/// keeps raised alerts by the second and two alerts of one second (a zone
/// passing two levels, a surge beside a zone) must still read back in the
/// order they were raised.
pub fn raised_at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Raised alerts' bodies, oldest first by their `raised_at` (a body
/// without one keeps its place before the others): the engine's order
/// within one second is not the order of raising.
pub fn oldest_first(mut bodies: Vec<String>) -> Vec<String> {
    let raised = |body: &String| {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("raised_at")?.as_str().map(str::to_owned))
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
    };
    bodies.sort_by_cached_key(raised);
    bodies
}

/// CAP's dateTime has no `Z`: UTC is written `+00:00`.
pub fn cap_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_alerts_read_back_in_the_order_raised_within_one_second() {
        let body = |id: &str, at: &str| format!(r#"{{"id":"{id}","raised_at":"{at}"}}"#);
        // The engine's order within a second is its members' order, not the raising's.
        let engine_order = vec![
            body("a", "2026-11-29T21:00:00.900Z"),
            body("b", "2026-11-29T21:00:00.100Z"),
            body("c", "2026-11-29T20:59:59.999Z"),
        ];
        let ids: Vec<String> = oldest_first(engine_order).iter().map(|b| b[7..8].to_owned()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!(
            raised_at(
                DateTime::parse_from_rfc3339("2026-11-29T21:00:00.1234Z")
                    .unwrap()
                    .into()
            ),
            "2026-11-29T21:00:00.123Z"
        );
    }

    #[test]
    fn escape_drops_what_xml_forbids_and_escapes_markup() {
        assert_eq!(escape("a\u{1}b\u{1B}c\u{FFFE}\u{FFFF}d"), "abcd");
        assert_eq!(escape("<b>&\u{0}\"'"), "&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("tab\tline\nreturn\r"), "tab\tline\nreturn\r");
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
    }
}
