//! How times are written on the wire: one format for every answer, feed and
//! frame, so that a client parses them all the same way.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 UTC with second precision, as the contract shows it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
