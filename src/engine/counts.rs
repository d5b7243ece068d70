//! The counts store: posts counted per (resolution, time bucket, cell), and
//! distinct contributors per cell, read back over a sliding window.
//!
//! # Model
//! Counts are kept per (resolution, time bucket, cell). For distinct
//! contributors each cell keeps the last bucket in which each contributor was
//! seen, so "distinct contributors in the window" is "contributors last seen
//! at or after the window's first bucket": exact, and one range count per
//! cell to read. Both engines expire what no window can read any more.
//!
//! # Replay
//! Every count is also kept per (resolution, step, cell), a step being a
//! minute ([`super::Layout::step_secs`]), with each cell's contributors of
//! each step, for count retention (`--count-retention`): a window's
//! contributors are the union of its steps'. A past moment is read from
//! the steps alone, so the answer is the same whether its buckets are
//! still kept or long gone. A retraction ([`CountStore::uncount`]) takes
//! the item out of its own step as well as its own bucket.

use async_trait::async_trait;
use h3o::{CellIndex, Resolution};

use super::EngineError;

/// A post reduced to what the engine counts: its cells, its time bucket, who
/// contributed it and its de-duplication key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucketed {
    /// `source:id` when the post has an id; `source` cannot hold `:`, so the
    /// key is unambiguous.
    pub dedup_key: Option<String>,
    /// Identifies the write: equal for a post sent again (so that an engine
    /// can tell a retried batch from new data), different for different
    /// posts in all but astronomically rare cases.
    pub fingerprint: u64,
    /// The keyed hash of its author.
    pub contributor: u64,
    /// Start of its time bucket, Unix seconds.
    pub bucket: i64,
    /// Its cell at every configured resolution, coarsest first.
    pub cells: Vec<CellIndex>,
    /// The body of its entry in the text log ([`super::TextLog`]), for a
    /// post with text: stored with the counts when the post is counted as
    /// new, never for a duplicate or a chunk sent again.
    pub text: Option<std::sync::Arc<str>>,
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Items stored and counted.
    pub accepted: u64,
    /// Items whose de-duplication key had been seen within retention.
    pub duplicates: u64,
}

/// One cell's numbers in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellCount {
    /// The H3 cell.
    pub cell: CellIndex,
    /// Items in the window.
    pub count: u64,
    /// Distinct contributors in the window.
    pub contributors: u64,
}

/// Posts per write unit. A batch is stored chunk by chunk; a chunk sent
/// again (a retry after a failure or a timeout) is recognised by its name
/// and counted once, its posts then reported as duplicates.
pub const WRITE_CHUNK: usize = 1_000;

/// Names the `index`th chunk of a batch by its items' fingerprints: the same
/// write sent again gets the same names, while identical chunks at different
/// places of one batch (a batch of repeated posts) do not. The ingest path
/// salts every fingerprint with its request (`ingest::WriteId`), so that
/// only a retry of the same request, never another request with the same
/// posts, is taken for one.
pub fn chunk_name(index: usize, chunk: &[Bucketed]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((index as u64).to_le_bytes());
    for item in chunk {
        h.update(item.fingerprint.to_le_bytes());
        h.update(item.bucket.to_le_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The distinct time buckets of a chunk, oldest first.
pub fn chunk_buckets(chunk: &[Bucketed]) -> std::collections::BTreeSet<i64> {
    chunk.iter().map(|item| item.bucket).collect()
}

/// A read of counts: one resolution, one window, ending at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountQuery {
    /// The resolution to read.
    pub res: Resolution,
    /// The window's length in seconds.
    pub window_secs: i64,
    /// The window's end, Unix seconds.
    pub now: i64,
}

/// Where posts are counted.
#[async_trait]
pub trait CountStore: Send + Sync + 'static {
    /// Stores a batch: each item not seen before is counted at every
    /// resolution and in its bucket; each repeated `dedup_key`, and every
    /// item of a chunk ([`WRITE_CHUNK`]) already stored, is counted as a
    /// duplicate only. On error nothing may be reported as stored, and
    /// sending the batch again counts each item exactly once.
    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError>;

    /// Counts per cell for one resolution and window, cells with a zero
    /// count omitted, in no particular order.
    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError>;

    /// Counts per cell as a live read at a past moment `query.now` (a
    /// [`super::Layout::replay_moment`] within count retention) answered,
    /// read from the steps; same shape as [`CountStore::counts`].
    async fn counts_at(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError>;

    /// Items per time bucket from `first` to `last` (bucket starts), counted
    /// at the coarsest resolution, oldest first, empty buckets included: the
    /// ingest-rate timeline.
    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError>;

    /// Takes an item counted by [`CountStore::ingest`] out of the counts
    /// again (a report moderated as dismissed or false) at `now`. Its
    /// contributor must be its own, as a report's is. Exactly once per
    /// `item.fingerprint`: a repeated call with the same fingerprint takes
    /// nothing more away.
    async fn uncount(&self, item: &Bucketed, now: i64) -> Result<(), EngineError>;
}
