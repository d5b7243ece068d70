//! How times are written on the wire: one format for every answer, feed and
//! frame, so that a client parses them all the same way.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 UTC with second precision, as the contract shows it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The start of the `bucket_secs`-long time bucket holding Unix time `t`.
///
/// The one definition that ingest (which files an item under its bucket) and
/// the engines (which read windows of buckets) share: were they to round
/// differently, an item would be counted in a bucket no window reads.
/// `div_euclid` keeps buckets aligned before 1970 too.
pub fn bucket_start(t: i64, bucket_secs: i64) -> i64 {
    let secs = bucket_secs.max(1);
    t.div_euclid(secs) * secs
}
