//! What the durable engine's log holds: one record per write call, as the
//! call was made, so that replaying the records in order through the memory
//! engine rebuilds exactly the state the live calls built.
//!
//! A record is framed `[length u32 LE][CRC-32 u32 LE][postcard payload]`,
//! the checksum covering the length and the payload: the length finds the
//! next record, the checksum tells a whole record from one the process was
//! killed in the middle of writing (a torn tail) or from damage.

use std::borrow::Cow;

use h3o::CellIndex;
use serde::{Deserialize, Serialize};

use crate::engine::crowd::{HEADCOUNT_RETENTION_SECS, Headcount, ZONE_MINUTE_RETENTION_SECS, ZoneMinute};
use crate::engine::{ALERT_RETENTION_SECS, AUDIT_RETENTION_SECS, Bucketed, Layout};

/// Bytes before a record's payload: its length and its checksum.
pub(super) const FRAME_HEADER: usize = 8;

/// The largest payload a record may claim; a length above it is damage,
/// not a record (a batch of 10,000 posts with texts stays far below).
pub(super) const RECORD_MAX: usize = 256 * 1024 * 1024;

/// A post as the log keeps it: its finest cell only, the coarser ones
/// being its parents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Item<'a> {
    #[serde(borrow)]
    pub dedup_key: Option<Cow<'a, str>>,
    pub fingerprint: u64,
    pub contributor: u64,
    pub bucket: i64,
    pub cell: u64,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
}

impl<'a> Item<'a> {
    /// The post as the log keeps it; `None` for a post with no cell, which
    /// the bucketer never makes.
    pub fn of(post: &'a Bucketed) -> Option<Self> {
        Some(Self {
            dedup_key: post.dedup_key.as_deref().map(Cow::Borrowed),
            fingerprint: post.fingerprint,
            contributor: post.contributor,
            bucket: post.bucket,
            cell: u64::from(*post.cells.last()?),
            text: post.text.as_deref().map(Cow::Borrowed),
        })
    }

    /// The post again, its cells at every resolution of `layout`.
    pub fn bucketed(&self, layout: &Layout) -> Result<Bucketed, String> {
        let finest = CellIndex::try_from(self.cell).map_err(|e| format!("cell {:x}: {e}", self.cell))?;
        let cells = layout
            .resolutions
            .iter()
            .map(|res| {
                finest
                    .parent(res)
                    .ok_or_else(|| format!("cell {finest} has no parent at {res}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Bucketed {
            dedup_key: self.dedup_key.as_deref().map(str::to_owned),
            fingerprint: self.fingerprint,
            contributor: self.contributor,
            bucket: self.bucket,
            cells,
            text: self.text.as_deref().map(std::sync::Arc::from),
        })
    }
}

/// One write call. Times are those the caller gave the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum Op<'a> {
    Ingest {
        now: i64,
        #[serde(borrow)]
        items: Vec<Item<'a>>,
    },
    Uncount {
        now: i64,
        #[serde(borrow)]
        item: Item<'a>,
    },
    Broadcast {
        id: Cow<'a, str>,
        body: Cow<'a, str>,
        now: i64,
    },
    Acknowledge {
        id: Cow<'a, str>,
        sub: Cow<'a, str>,
        at: i64,
    },
    PutReport {
        id: Cow<'a, str>,
        body: Cow<'a, str>,
        received_at: i64,
    },
    SwapReport {
        id: Cow<'a, str>,
        expected: Cow<'a, str>,
        body: Cow<'a, str>,
        received_at: i64,
    },
    RaiseAlert {
        key: Cow<'a, str>,
        body: Cow<'a, str>,
        quiet_secs: i64,
        now: i64,
    },
    Audit {
        entry: Cow<'a, str>,
        now: i64,
    },
    Headcount {
        headcount: Headcount,
        now: i64,
    },
    ZoneMinute {
        window_secs: i64,
        minute: ZoneMinute,
        now: i64,
    },
    ClusterDecision {
        cluster: Cow<'a, str>,
        body: Cow<'a, str>,
        now: i64,
    },
    PutRumour {
        id: Cow<'a, str>,
        body: Cow<'a, str>,
        now: i64,
    },
    SwapRumour {
        id: Cow<'a, str>,
        expected: Cow<'a, str>,
        body: Cow<'a, str>,
        now: i64,
    },
    /// An `Idempotency-Key` claim; times in milliseconds.
    Claim {
        slot: Cow<'a, str>,
        body_hash: Cow<'a, str>,
        now_ms: i64,
        lease_ms: u64,
        keep_ms: u64,
    },
    /// An answer kept under an `Idempotency-Key`; times in milliseconds.
    Finish {
        slot: Cow<'a, str>,
        body_hash: Cow<'a, str>,
        status: u16,
        body: Cow<'a, str>,
        now_ms: i64,
        keep_ms: u64,
    },
}

impl Op<'_> {
    /// The record framed for the log.
    pub fn frame(&self) -> Result<Vec<u8>, String> {
        let mut framed = vec![0u8; FRAME_HEADER];
        framed = postcard::to_extend(self, framed).map_err(|e| format!("cannot encode a log record: {e}"))?;
        let len = u32::try_from(framed.len() - FRAME_HEADER)
            .ok()
            .filter(|len| (*len as usize) <= RECORD_MAX)
            .ok_or_else(|| format!("a log record of {} bytes is too large", framed.len()))?;
        framed[..4].copy_from_slice(&len.to_le_bytes());
        let crc = checksum(&framed[..4], &framed[FRAME_HEADER..]);
        framed[4..FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
        Ok(framed)
    }

    /// When replaying the record can no longer change anything, in Unix
    /// seconds (what it wrote has expired on every path that reads it);
    /// `None` for the records kept for as long as the data directory:
    /// broadcasts and their acknowledgements (so that `seq` never starts
    /// again) and the rumour register (public, few).
    pub fn expires_at(&self, layout: &Layout) -> Option<i64> {
        let posts_kept = layout
            .dedup_secs
            .max(layout.count_retention_secs + layout.longest_window_secs + layout.step_secs)
            + layout.bucket_secs
            + layout.step_secs;
        let item_expiry = |now: i64, item: &Item| now.max(item.bucket).saturating_add(posts_kept);
        match self {
            Op::Ingest { now, items } => Some(items.iter().map(|i| item_expiry(*now, i)).max().unwrap_or(*now)),
            Op::Uncount { now, item } => Some(item_expiry(*now, item)),
            Op::RaiseAlert { quiet_secs, now, .. } => Some(now.saturating_add(ALERT_RETENTION_SECS + quiet_secs)),
            Op::Audit { now, .. } => Some(now.saturating_add(AUDIT_RETENTION_SECS)),
            Op::Headcount { now, .. } => Some(now.saturating_add(HEADCOUNT_RETENTION_SECS)),
            Op::ZoneMinute { window_secs, now, .. } => {
                Some(now.saturating_add(ZONE_MINUTE_RETENTION_SECS + window_secs))
            }
            Op::ClusterDecision { now, .. } => Some(now.saturating_add(layout.dedup_secs)),
            // A report (and the reporter's contact) is kept for the
            // retention period from its receipt, as the engines keep it.
            Op::PutReport { received_at, .. } | Op::SwapReport { received_at, .. } => {
                Some(received_at.saturating_add(layout.dedup_secs))
            }
            Op::Claim { now_ms, keep_ms, .. } | Op::Finish { now_ms, keep_ms, .. } => {
                Some((now_ms / 1000).saturating_add(i64::try_from(keep_ms / 1000 + 1).unwrap_or(i64::MAX / 4)))
            }
            Op::Broadcast { .. } | Op::Acknowledge { .. } | Op::PutRumour { .. } | Op::SwapRumour { .. } => None,
        }
    }

    /// When the post texts the record carries are past the retention
    /// period (`--retention`) and must leave the disk, though the counts of
    /// the same record may be kept longer (`--count-retention`); `None`
    /// when it carries none.
    pub fn texts_expire_at(&self, layout: &Layout) -> Option<i64> {
        match self {
            Op::Ingest { now, items } if items.iter().any(|i| i.text.is_some()) => {
                Some(now.saturating_add(layout.dedup_secs))
            }
            _ => None,
        }
    }

    /// The record without its post texts: what replaying it builds once
    /// they have expired, as the memory engine forgets them then too.
    pub fn without_texts(self) -> Self {
        match self {
            Op::Ingest { now, items } => Op::Ingest {
                now,
                items: items.into_iter().map(|i| Item { text: None, ..i }).collect(),
            },
            other => other,
        }
    }

    /// The caller's time of the record, in Unix seconds: the log's clock
    /// (the engine reads no wall clock), which decides what has expired.
    pub fn at(&self) -> i64 {
        match self {
            Op::Ingest { now, .. }
            | Op::Uncount { now, .. }
            | Op::Broadcast { now, .. }
            | Op::RaiseAlert { now, .. }
            | Op::Audit { now, .. }
            | Op::Headcount { now, .. }
            | Op::ZoneMinute { now, .. }
            | Op::ClusterDecision { now, .. }
            | Op::PutRumour { now, .. }
            | Op::SwapRumour { now, .. } => *now,
            Op::Acknowledge { at, .. } => *at,
            Op::PutReport { received_at, .. } | Op::SwapReport { received_at, .. } => *received_at,
            Op::Claim { now_ms, .. } | Op::Finish { now_ms, .. } => now_ms / 1000,
        }
    }
}

fn checksum(len: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(payload);
    hasher.finalize()
}

/// What reading one record from a byte slice found.
pub(super) enum Read<'a> {
    /// A whole record and the bytes it took.
    Record(Op<'a>, usize),
    /// The bytes end before the record does: a write cut off by a crash,
    /// when it is the end of the log.
    Incomplete,
    /// The record's bytes are all there but their checksum is wrong: the
    /// bytes it claims.
    BadChecksum(usize),
    /// A whole, checksummed record that does not decode: written by another
    /// version, or damaged in a way a crash does not explain.
    Undecodable(String),
}

/// Reads the record at the start of `bytes`.
pub(super) fn read(bytes: &[u8]) -> Read<'_> {
    let Some(header) = bytes.get(..FRAME_HEADER) else {
        return Read::Incomplete;
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let Some(payload) = bytes.get(FRAME_HEADER..FRAME_HEADER + len.min(RECORD_MAX)) else {
        return Read::Incomplete;
    };
    if len > RECORD_MAX || checksum(&header[..4], payload) != crc {
        return Read::BadChecksum(FRAME_HEADER + len.min(RECORD_MAX));
    }
    match postcard::from_bytes(payload) {
        Ok(op) => Read::Record(op, FRAME_HEADER + len),
        Err(e) => Read::Undecodable(e.to_string()),
    }
}
