//! The text log: post texts kept for the retention period, for operators
//! only (DESIGN §10), in the order the engine stored them, with the
//! operators' decisions about coordinated clusters beside them.
//!
//! Texts are written by [`super::CountStore::ingest`] with the counts, for
//! the items it counts as new only, so that a duplicate or a retried chunk
//! never stores a text twice. Every node reads the log in the same order
//! ([`TextLog::texts_after`]), which is what lets each derive the same
//! trends and the same clusters. The engine never looks inside a body.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use super::EngineError;

/// A text's place in the log: milliseconds of the engine's clock and a
/// sequence within that millisecond, as a Redis stream numbers entries, and
/// the text's place within its entry when an engine stores a chunk's texts
/// together (the Redis engine: one entry a chunk). Ordered as stored.
/// Printed `ms-seq`, or `ms-seq-index` past an entry's first text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TextKey {
    /// Milliseconds since the Unix epoch when it was stored.
    pub ms: u64,
    /// Order within the millisecond.
    pub seq: u64,
    /// Order within the entry.
    pub index: u32,
}

impl TextKey {
    /// The first key at or after Unix time `secs`.
    pub fn at_secs(secs: i64) -> Self {
        Self {
            ms: u64::try_from(secs.max(0)).unwrap_or(0).saturating_mul(1000),
            seq: 0,
            index: 0,
        }
    }

    /// The entry this text is in: its key with index 0.
    pub fn entry(self) -> Self {
        Self { index: 0, ..self }
    }

    /// When it was stored, Unix seconds.
    pub fn secs(self) -> i64 {
        i64::try_from(self.ms / 1000).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for TextKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)?;
        if self.index > 0 {
            write!(f, "-{}", self.index)?;
        }
        Ok(())
    }
}

impl FromStr for TextKey {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let digits = |t: &str| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
        let mut parts = s.split('-');
        let (Some(ms), Some(seq), index, None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(());
        };
        if !digits(ms) || !digits(seq) || index.is_some_and(|i| !digits(i)) {
            return Err(());
        }
        let index = match index {
            // "-0" is the entry's first text, which prints without it.
            Some(i) => i.parse().ok().filter(|&i| i > 0).ok_or(())?,
            None => 0,
        };
        Ok(Self {
            ms: ms.parse().map_err(|_| ())?,
            seq: seq.parse().map_err(|_| ())?,
            index,
        })
    }
}

/// One stored text: its key and the body the ingest path wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEntry {
    /// Its place in the log.
    pub key: TextKey,
    /// What was stored (JSON of `domain::PostText`); shared, so that a read
    /// of thousands copies no text under the memory engine's lock.
    pub body: std::sync::Arc<str>,
}

/// Entries one read returns at most.
pub const TEXT_READ_MAX: usize = 5_000;

/// Where texts are kept.
#[async_trait]
pub trait TextLog: Send + Sync + 'static {
    /// Texts stored after `after`, oldest first, at most `limit` (capped
    /// at [`TEXT_READ_MAX`]).
    async fn texts_after(&self, after: TextKey, limit: usize) -> Result<Vec<TextEntry>, EngineError>;

    /// Texts stored before `before` (the newest when `None`), newest first,
    /// at most `limit` (capped at [`TEXT_READ_MAX`]).
    async fn texts_before(&self, before: Option<TextKey>, limit: usize) -> Result<Vec<TextEntry>, EngineError>;

    /// One retained text.
    async fn text(&self, key: TextKey) -> Result<Option<TextEntry>, EngineError>;

    /// Records the operators' decision about cluster `cluster` (JSON),
    /// replacing the one before; kept for the retention period.
    async fn put_cluster_decision(&self, cluster: &str, body: &str, now: i64) -> Result<(), EngineError>;

    /// Every retained decision about a cluster, in no particular order.
    async fn cluster_decisions(&self) -> Result<Vec<String>, EngineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_what_they_print_and_order_as_stored() {
        let a = TextKey {
            ms: 1_764_470_000_123,
            seq: 4,
            index: 0,
        };
        let key = |ms, seq, index| TextKey { ms, seq, index };
        assert_eq!("1764470000123-4".parse::<TextKey>(), Ok(a));
        assert_eq!(a.to_string().parse::<TextKey>(), Ok(a));
        let third = key(a.ms, 4, 3);
        assert_eq!(third.to_string(), "1764470000123-4-3");
        assert_eq!("1764470000123-4-3".parse::<TextKey>(), Ok(third));
        assert_eq!(third.entry(), a);
        assert!(a < third && third < key(a.ms, 5, 0));
        assert!(key(9, 99, 7) < key(10, 0, 0));
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-1-0",
            "1-1-",
            "1-1-1-1",
            "1-1-99999999999",
            "+1-1",
            "99999999999999999999999-0",
        ] {
            assert!(bad.parse::<TextKey>().is_err(), "{bad}");
        }
        assert_eq!(TextKey::at_secs(12).ms, 12_000);
        assert_eq!(TextKey::at_secs(-5).ms, 0);
    }
}
