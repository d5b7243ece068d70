//! Outbound formats at the end of the flow: each stored broadcast as a CAP
//! 1.2 document, and the active public ones as an Atom index. Renderings
//! only; nothing here changes state.

pub mod atom;
pub mod cap;

use chrono::{DateTime, Utc};

/// CAP and Atom settings of the deployment.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// CAP `sender`: who issues the alerts, e.g. `safety@bologna.example`.
    pub sender: String,
    /// CAP `status`: Actual, Exercise (drills) or Test.
    pub status: String,
}

fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// CAP's dateTime has no `Z`: UTC is written `+00:00`.
pub fn cap_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}
