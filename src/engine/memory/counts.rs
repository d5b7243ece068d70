//! The memory engine's [`CountStore`]: counts per (resolution, bucket, cell)
//! and each cell's contributors by the last bucket they were seen in, and
//! for replay the same per step with each step's contributors.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use async_trait::async_trait;
use h3o::CellIndex;

use super::{MemoryEngine, lock};
use crate::engine::{
    Bucketed, CellCount, CountQuery, CountStore, EngineError, IngestOutcome, Layout, WRITE_CHUNK, chunk_buckets,
    chunk_name, timed,
};

/// Keyed per process, so that chosen ids cannot collide on purpose, and
/// several times cheaper than the standard SipHash on the ingest path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
pub(super) struct Counts {
    /// (resolution, bucket start) → cell → count.
    buckets: BTreeMap<(u8, i64), FastMap<CellIndex, u64>>,
    /// cell → contributor → last bucket seen.
    last_seen: FastMap<CellIndex, FastMap<u64, i64>>,
    /// (resolution, step start) → cell → count and contributors, kept for
    /// count retention.
    steps: BTreeMap<(u8, i64), FastMap<CellIndex, StepCell>>,
    /// (bucket, fingerprint) of every item taken out again, kept as long as
    /// its step: a retraction repeated a day later takes nothing more away.
    uncounted: std::collections::HashSet<(i64, u64), foldhash::fast::RandomState>,
    /// De-duplication keys and when they expire, oldest first.
    seen: FastMap<String, i64>,
    seen_expiry: VecDeque<(i64, String)>,
    /// (bucket, chunk name) of every chunk counted in a bucket still read.
    applied: std::collections::HashSet<(i64, String), foldhash::fast::RandomState>,
    last_purge: i64,
    /// The oldest useful bucket when `last_seen` was last swept.
    last_seen_swept: i64,
}

/// One cell's numbers in one step.
#[derive(Default)]
struct StepCell {
    count: u64,
    contributors: std::collections::HashSet<u64, foldhash::fast::RandomState>,
}

impl Counts {
    /// Drops what no window can read and dedup keys past retention, at most
    /// once a second so that the cost stays off the hot path.
    fn purge(&mut self, layout: &Layout, now: i64) {
        if now == self.last_purge {
            return;
        }
        self.last_purge = now;
        let oldest = layout.oldest_useful_bucket(now);
        self.buckets.retain(|(_, bucket), _| *bucket >= oldest);
        self.applied.retain(|(bucket, _)| *bucket >= oldest);
        let oldest_step = layout.oldest_kept_step(now);
        self.steps.retain(|(_, step), _| *step >= oldest_step);
        self.uncounted
            .retain(|(bucket, _)| layout.step_start(*bucket) >= oldest_step);
        // Reads count only contributors seen at or after their window's
        // first bucket, so an older entry is never counted: sweeping is for
        // memory alone, and a sweep touches every entry. Once per longest
        // window of the callers' time keeps the map within two windows and
        // the cost off a replay, whose every record is a second of its own
        // (the durable engine's start, `benches/durable_start.rs`).
        if oldest - self.last_seen_swept >= layout.longest_window_secs {
            self.last_seen_swept = oldest;
            self.last_seen.retain(|_, contributors| {
                contributors.retain(|_, last| *last >= oldest);
                !contributors.is_empty()
            });
        }
        while let Some((expires, _)) = self.seen_expiry.front() {
            if *expires > now {
                break;
            }
            if let Some((expires, key)) = self.seen_expiry.pop_front()
                && self.seen.get(&key) == Some(&expires)
            {
                self.seen.remove(&key);
            }
        }
    }
}

#[async_trait]
impl CountStore for MemoryEngine {
    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        timed("memory", "ingest", async {
            let mut state = lock(&self.counts, "counts")?;
            state.purge(&self.layout, now);
            let oldest = self.layout.oldest_useful_bucket(now);
            let mut outcome = IngestOutcome::default();
            let mut texts = Vec::new();
            for (index, chunk) in batch.chunks(WRITE_CHUNK).enumerate() {
                let name = chunk_name(index, chunk);
                // A chunk already counted in a bucket is being sent again.
                let repeated: BTreeSet<i64> = chunk_buckets(chunk)
                    .into_iter()
                    .filter(|b| state.applied.contains(&(*b, name.clone())))
                    .collect();
                let mut counted = BTreeSet::new();
                for item in chunk {
                    if repeated.contains(&item.bucket) {
                        outcome.duplicates += 1;
                        continue;
                    }
                    if let Some(key) = &item.dedup_key {
                        if state.seen.get(key).is_some_and(|exp| *exp > now) {
                            outcome.duplicates += 1;
                            continue;
                        }
                        let expires = now + self.layout.dedup_secs;
                        state.seen.insert(key.clone(), expires);
                        state.seen_expiry.push_back((expires, key.clone()));
                    }
                    outcome.accepted += 1;
                    if let Some(body) = &item.text {
                        texts.push(body.clone());
                    }
                    if item.bucket < oldest {
                        continue; // valid and kept as seen, but no window reads it
                    }
                    counted.insert(item.bucket);
                    let step = self.layout.step_start(item.bucket);
                    for cell in &item.cells {
                        let res = u8::from(cell.resolution());
                        let in_step = state.steps.entry((res, step)).or_default().entry(*cell).or_default();
                        in_step.count += 1;
                        in_step.contributors.insert(item.contributor);
                        *state
                            .buckets
                            .entry((res, item.bucket))
                            .or_default()
                            .entry(*cell)
                            .or_default() += 1;
                        let last = state
                            .last_seen
                            .entry(*cell)
                            .or_default()
                            .entry(item.contributor)
                            .or_insert(item.bucket);
                        *last = (*last).max(item.bucket);
                    }
                }
                for bucket in counted {
                    state.applied.insert((bucket, name.clone()));
                }
            }
            if !texts.is_empty() {
                // Under the counts' lock: texts enter the log in the order counted.
                let mut log = lock(&self.texts, "texts")?;
                for body in texts {
                    log.append(body, now, &self.layout);
                }
            }
            Ok(outcome)
        })
        .await
    }

    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        timed("memory", "counts", async {
            let mut state = lock(&self.counts, "counts")?;
            state.purge(&self.layout, query.now);
            let res = u8::from(query.res);
            let first = self.layout.first_bucket(query.window_secs, query.now);
            let last = self.layout.bucket_start(query.now);
            let mut counts: HashMap<CellIndex, u64> = HashMap::new();
            for (_, cells) in state.buckets.range((res, first)..=(res, last)) {
                for (cell, n) in cells {
                    *counts.entry(*cell).or_default() += n;
                }
            }
            Ok(counts
                .into_iter()
                .map(|(cell, count)| {
                    let contributors = state
                        .last_seen
                        .get(&cell)
                        .map_or(0, |c| c.values().filter(|last| **last >= first).count() as u64);
                    CellCount {
                        cell,
                        count,
                        contributors,
                    }
                })
                .collect())
        })
        .await
    }

    async fn counts_at(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        timed("memory", "counts_at", async {
            let state = lock(&self.counts, "counts")?;
            let res = u8::from(query.res);
            let first = self.layout.first_step(query.window_secs, query.now);
            let last = self.layout.step_start(query.now);
            let mut cells: HashMap<CellIndex, (u64, std::collections::HashSet<u64>)> = HashMap::new();
            for (_, step) in state.steps.range((res, first)..=(res, last)) {
                for (cell, numbers) in step {
                    let (count, contributors) = cells.entry(*cell).or_default();
                    *count += numbers.count;
                    contributors.extend(numbers.contributors.iter().copied());
                }
            }
            Ok(cells
                .into_iter()
                .filter(|(_, (count, _))| *count > 0)
                .map(|(cell, (count, contributors))| CellCount {
                    cell,
                    count,
                    contributors: contributors.len() as u64,
                })
                .collect())
        })
        .await
    }

    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError> {
        let state = lock(&self.counts, "counts")?;
        let res = u8::from(self.layout.resolutions.coarsest());
        let mut out = Vec::new();
        let mut bucket = self.layout.bucket_start(first);
        while bucket <= last {
            let total = state
                .buckets
                .get(&(res, bucket))
                .map_or(0, |cells| cells.values().sum());
            out.push((bucket, total));
            bucket += self.layout.bucket_secs;
        }
        Ok(out)
    }

    async fn uncount(&self, item: &Bucketed, now: i64) -> Result<(), EngineError> {
        let mut state = lock(&self.counts, "counts")?;
        state.purge(&self.layout, now);
        if !state.uncounted.insert((item.bucket, item.fingerprint)) {
            return Ok(());
        }
        let step = self.layout.step_start(item.bucket);
        for cell in &item.cells {
            let key = (u8::from(cell.resolution()), step);
            if let Some(cells) = state.steps.get_mut(&key)
                && let Some(numbers) = cells.get_mut(cell)
            {
                numbers.count = numbers.count.saturating_sub(1);
                numbers.contributors.remove(&item.contributor);
                if numbers.count == 0 {
                    cells.remove(cell);
                }
            }
            let key = (u8::from(cell.resolution()), item.bucket);
            if let Some(cells) = state.buckets.get_mut(&key)
                && let Some(n) = cells.get_mut(cell)
            {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    cells.remove(cell);
                }
            }
            if let Some(seen) = state.last_seen.get_mut(cell) {
                seen.remove(&item.contributor);
            }
        }
        Ok(())
    }
}
