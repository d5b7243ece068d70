//! The Redis engine's [`CountStore`].
//!
//! # Writing a batch exactly once
//! A batch is written in chunks, each named by a hash of its posts'
//! fingerprints, which the ingest path salts with the request (a fresh salt
//! per request, or one derived from its `Idempotency-Key`). First every post
//! id is marked seen with that name (`SET NX GET`): an id already held by
//! *another* chunk is a duplicate, one held by this chunk's name is this
//! chunk retried. Then the contributors are folded in (`ZADD GT`, which is
//! idempotent) and the counts are added per bucket by `apply_counts.lua`,
//! which first sets the chunk's marker in that bucket and does nothing if it
//! was already set. A chunk cut off anywhere by a failing Redis can
//! therefore be sent again, by the client's retry, and ends up counted
//! exactly once.
//!
//! # Replay
//! The same script adds the counts to the bucket's replay step (a minute,
//! in the bucket's hash slot), kept for count retention; who contributed in
//! each step goes to the cell's `steps:` sorted set as `<step>:<hash>`
//! members (idempotent too). A replayed window unions its steps' members.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use h3o::CellIndex;
use redis::{Cmd, Script, Value, cmd};

use super::{RedisEngine, parse};
use crate::engine::{
    Bucketed, CellCount, CountQuery, CountStore, EngineError, IngestOutcome, WRITE_CHUNK, chunk_buckets, chunk_name,
    timed,
};

/// Contributors per `ZADD`, so that no command grows without bound.
const ZADD_MEMBERS: usize = 500;

static APPLY_COUNTS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/apply_counts.lua")));

/// Cell → when this node last trimmed its contributor set; forgotten a
/// period later, so that the map holds only cells written recently.
#[derive(Default)]
pub(super) struct Upkept {
    at: HashMap<CellIndex, i64>,
    swept: i64,
}

/// How often a node trims and re-expires a contributor set it writes to.
/// Doing it on every write cost Redis two commands per cell per chunk, a
/// fifth of its CPU under load; stale members in between are harmless
/// because reads count only members inside the window.
const UPKEEP_SECS: i64 = 60;

/// The counts one chunk adds to one time bucket.
#[derive(Default)]
struct BucketChanges {
    /// Seconds the bucket is still read, by the caller's clock: a relative
    /// expiry, since a time of the caller's clock may be in Redis's past.
    keep_secs: i64,
    /// Seconds its step is still kept for replay, likewise.
    step_keep_secs: i64,
    per_res: BTreeMap<u8, HashMap<CellIndex, i64>>,
}

impl RedisEngine {
    async fn ingest_chunk(&self, index: usize, chunk: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        let name = chunk_name(index, chunk);
        let marker = format!("i{name}");

        // 1. Claim every post id for this chunk, and ask whether an earlier
        //    attempt already counted the chunk in each of its buckets.
        let buckets = chunk_buckets(chunk);
        let mut reads: Vec<Cmd> = buckets
            .iter()
            .map(|b| {
                let mut exists = cmd("EXISTS");
                exists.arg(self.keys.applied(self.layout.step_start(*b), *b, &marker));
                exists
            })
            .collect();
        let mut fresh = vec![true; chunk.len()];
        let mut claimed = Vec::new();
        let mut in_chunk = HashSet::new();
        for (i, item) in chunk.iter().enumerate() {
            let Some(key) = &item.dedup_key else { continue };
            if !in_chunk.insert(key.as_str()) {
                fresh[i] = false;
                continue;
            }
            let mut set = cmd("SET");
            set.arg(self.keys.seen(key))
                .arg(&name)
                .arg("NX")
                .arg("GET")
                .arg("EX")
                .arg(self.layout.dedup_secs.max(1));
            reads.push(set);
            claimed.push(i);
        }
        let mut answers = self.conn.run_each(reads, &[]).await?.into_iter();
        let mut counted_before = HashSet::new();
        for (bucket, applied) in buckets.iter().zip(answers.by_ref()) {
            if parse::<bool>(applied)? {
                counted_before.insert(*bucket);
            }
        }
        for (i, holder) in claimed.into_iter().zip(answers) {
            fresh[i] = match holder {
                Value::Nil => true,
                Value::BulkString(b) => b == name.as_bytes(),
                _ => false,
            };
        }
        for (item, fresh) in chunk.iter().zip(fresh.iter_mut()) {
            if counted_before.contains(&item.bucket) {
                *fresh = false;
            }
        }
        let accepted = fresh.iter().filter(|f| **f).count() as u64;
        let outcome = IngestOutcome {
            accepted,
            duplicates: chunk.len() as u64 - accepted,
        };

        // 2. Fold the fresh posts into per-bucket counts and per-cell contributors.
        let oldest = self.layout.oldest_useful_bucket(now);
        let mut buckets: BTreeMap<i64, BucketChanges> = BTreeMap::new();
        let mut latest: HashMap<CellIndex, HashMap<u64, i64>> = HashMap::new();
        let mut in_steps: HashMap<CellIndex, HashSet<(i64, u64)>> = HashMap::new();
        for item in chunk.iter().zip(&fresh).filter(|(_, f)| **f).map(|(item, _)| item) {
            // Too old for any window: acknowledged, nothing to count.
            if item.bucket < oldest {
                continue;
            }
            let changes = buckets.entry(item.bucket).or_default();
            changes.keep_secs = self.layout.bucket_expires_at(item.bucket).saturating_sub(now).max(1);
            let step = self.layout.step_start(item.bucket);
            changes.step_keep_secs = self.layout.step_expires_at(step).saturating_sub(now).max(1);
            for cell in &item.cells {
                in_steps.entry(*cell).or_default().insert((step, item.contributor));
                *changes
                    .per_res
                    .entry(u8::from(cell.resolution()))
                    .or_default()
                    .entry(*cell)
                    .or_default() += 1;
                let seen = latest
                    .entry(*cell)
                    .or_default()
                    .entry(item.contributor)
                    .or_insert(item.bucket);
                *seen = (*seen).max(item.bucket);
            }
        }

        // 3. The new items' texts (once per chunk), then contributors
        //    (idempotent), then counts (once per chunk and bucket). Texts
        //    first: a text may then be kept for a chunk the client gives up
        //    on, but never a count be acknowledged without its text.
        self.put_texts(
            &name,
            chunk.iter().zip(&fresh).filter(|(_, f)| **f).map(|(item, _)| item),
            now,
        )
        .await?;
        let mut writes = self.contributor_writes(&latest, &in_steps, oldest, now);
        writes.extend(
            buckets
                .iter()
                .map(|(bucket, changes)| self.apply_counts(*bucket, &marker, changes, changes.keep_secs, 1)),
        );
        self.conn.run_each(writes, &[&APPLY_COUNTS]).await?;
        Ok(outcome)
    }

    fn contributor_writes(
        &self,
        latest: &HashMap<CellIndex, HashMap<u64, i64>>,
        in_steps: &HashMap<CellIndex, HashSet<(i64, u64)>>,
        oldest: i64,
        now: i64,
    ) -> Vec<Cmd> {
        // A set refreshed up to UPKEEP_SECS ago must outlive its newest member by a window.
        let ttl = self.layout.longest_window_secs + self.layout.bucket_secs + UPKEEP_SECS;
        let step_ttl =
            self.layout.count_retention_secs + self.layout.longest_window_secs + self.layout.step_secs + UPKEEP_SECS;
        let oldest_step = self.layout.oldest_kept_step(now);
        let mut upkept = self.upkept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now - upkept.swept >= UPKEEP_SECS {
            upkept.swept = now;
            upkept.at.retain(|_, at| now - *at < UPKEEP_SECS);
        }
        let mut writes = Vec::new();
        for (cell, contributors) in latest {
            let key = self.keys.last(*cell);
            let members: Vec<(&u64, &i64)> = contributors.iter().collect();
            for part in members.chunks(ZADD_MEMBERS) {
                let mut zadd = cmd("ZADD");
                // GT keeps a later bucket already stored by another batch.
                zadd.arg(&key).arg("GT");
                for (contributor, bucket) in part {
                    zadd.arg(**bucket).arg(contributor_member(**contributor));
                }
                writes.push(zadd);
            }
            if let Some(members) = in_steps.get(cell) {
                let members: Vec<&(i64, u64)> = members.iter().collect();
                for part in members.chunks(ZADD_MEMBERS) {
                    let mut zadd = cmd("ZADD");
                    zadd.arg(self.keys.step_contributors(*cell));
                    for (step, contributor) in part {
                        zadd.arg(*step).arg(step_member(*step, *contributor));
                    }
                    writes.push(zadd);
                }
            }
            let last_upkeep = upkept.at.entry(*cell).or_insert(i64::MIN);
            if now.saturating_sub(*last_upkeep) < UPKEEP_SECS {
                continue;
            }
            *last_upkeep = now;
            let mut trim = cmd("ZREMRANGEBYSCORE");
            trim.arg(&key).arg("-inf").arg(format!("({oldest}"));
            writes.push(trim);
            let mut expire = cmd("EXPIRE");
            expire.arg(&key).arg(ttl);
            writes.push(expire);
            let steps_key = self.keys.step_contributors(*cell);
            let mut trim = cmd("ZREMRANGEBYSCORE");
            trim.arg(&steps_key).arg("-inf").arg(format!("({oldest_step}"));
            writes.push(trim);
            let mut expire = cmd("EXPIRE");
            expire.arg(&steps_key).arg(step_ttl);
            writes.push(expire);
        }
        writes
    }

    /// One `apply_counts.lua` call: `sign` 1 adds, -1 takes away; the
    /// marker is kept `marker_secs`.
    fn apply_counts(&self, bucket: i64, marker: &str, changes: &BucketChanges, marker_secs: i64, sign: i64) -> Cmd {
        let step = self.layout.step_start(bucket);
        let mut invocation = APPLY_COUNTS.key(self.keys.applied(step, bucket, marker));
        for res in changes.per_res.keys() {
            invocation.key(self.keys.counts(step, bucket, *res));
        }
        for res in changes.per_res.keys() {
            invocation.key(self.keys.step_counts(step, *res));
        }
        invocation
            .arg(marker_secs)
            .arg(changes.keep_secs)
            .arg(changes.step_keep_secs);
        for cells in changes.per_res.values() {
            invocation.arg(cells.len());
            for (cell, n) in cells {
                invocation.arg(cell.to_string()).arg(sign * n);
            }
        }
        Cmd::invoke_script(&invocation)
    }

    /// The cells' counts summed over the hashes `reads` fetch (`HGETALL`,
    /// one per bucket or step), the cells left at zero or below dropped.
    async fn summed_cells(&self, reads: Vec<Cmd>) -> Result<Vec<(CellIndex, u64)>, EngineError> {
        // Signed: a moderated report's decrement may land on a bucket alone.
        let mut counts: HashMap<String, i64> = HashMap::new();
        for cells in self.conn.run_each(reads, &[]).await? {
            for (cell, n) in parse::<HashMap<String, i64>>(cells)? {
                *counts.entry(cell).or_default() += n;
            }
        }
        // A field that is not a cell was not written by us; skip it
        // rather than fail the whole map.
        Ok(counts
            .into_iter()
            .filter_map(|(cell, n)| {
                let n = u64::try_from(n).ok().filter(|n| *n > 0)?;
                Some((cell.parse::<CellIndex>().ok()?, n))
            })
            .collect())
    }
}

fn contributor_member(contributor: u64) -> String {
    format!("{contributor:016x}")
}

fn step_member(step: i64, contributor: u64) -> String {
    format!("{step}:{contributor:016x}")
}

#[async_trait]
impl CountStore for RedisEngine {
    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        timed("redis", "ingest", async {
            let mut total = IngestOutcome::default();
            for (index, chunk) in batch.chunks(WRITE_CHUNK).enumerate() {
                let outcome = self.ingest_chunk(index, chunk, now).await?;
                total.accepted += outcome.accepted;
                total.duplicates += outcome.duplicates;
            }
            Ok(total)
        })
        .await
    }

    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        timed("redis", "counts", async {
            let res = u8::from(query.res);
            let first = self.layout.first_bucket(query.window_secs, query.now);
            let last = self.layout.bucket_start(query.now);
            let reads: Vec<Cmd> = (0..)
                .map(|i| first + i * self.layout.bucket_secs)
                .take_while(|b| *b <= last)
                .map(|bucket| {
                    let mut read = cmd("HGETALL");
                    read.arg(self.keys.counts(self.layout.step_start(bucket), bucket, res));
                    read
                })
                .collect();
            let cells = self.summed_cells(reads).await?;
            let distinct: Vec<Cmd> = cells
                .iter()
                .map(|(cell, _)| {
                    let mut zcount = cmd("ZCOUNT");
                    zcount.arg(self.keys.last(*cell)).arg(first).arg("+inf");
                    zcount
                })
                .collect();
            let contributors = self.conn.run_each(distinct, &[]).await?;
            cells
                .into_iter()
                .zip(contributors)
                .map(|((cell, count), contributors)| {
                    Ok(CellCount {
                        cell,
                        count,
                        contributors: parse(contributors)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn counts_at(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        timed("redis", "counts_at", async {
            let res = u8::from(query.res);
            let first = self.layout.first_step(query.window_secs, query.now);
            let last = self.layout.step_start(query.now);
            let reads: Vec<Cmd> = (0..)
                .map(|i| first + i * self.layout.step_secs)
                .take_while(|s| *s <= last)
                .map(|step| {
                    let mut read = cmd("HGETALL");
                    read.arg(self.keys.step_counts(step, res));
                    read
                })
                .collect();
            let cells = self.summed_cells(reads).await?;
            let members: Vec<Cmd> = cells
                .iter()
                .map(|(cell, _)| {
                    let mut range = cmd("ZRANGE");
                    range
                        .arg(self.keys.step_contributors(*cell))
                        .arg(first)
                        .arg(last)
                        .arg("BYSCORE");
                    range
                })
                .collect();
            let members = self.conn.run_each(members, &[]).await?;
            cells
                .into_iter()
                .zip(members)
                .map(|((cell, count), members)| {
                    // A window's contributors are the union of its steps'.
                    let members: Vec<String> = parse(members)?;
                    let distinct: HashSet<&str> = members
                        .iter()
                        .filter_map(|m| m.split_once(':').map(|(_, who)| who))
                        .collect();
                    Ok(CellCount {
                        cell,
                        count,
                        contributors: distinct.len() as u64,
                    })
                })
                .collect()
        })
        .await
    }

    async fn bucket_totals(&self, first: i64, last: i64) -> Result<Vec<(i64, u64)>, EngineError> {
        let res = u8::from(self.layout.resolutions.coarsest());
        let buckets: Vec<i64> = (0..)
            .map(|i| self.layout.bucket_start(first) + i * self.layout.bucket_secs)
            .take_while(|b| *b <= last)
            .collect();
        let reads: Vec<Cmd> = buckets
            .iter()
            .map(|b| {
                let mut read = cmd("HVALS");
                read.arg(self.keys.counts(self.layout.step_start(*b), *b, res));
                read
            })
            .collect();
        let values = self.conn.run_each(reads, &[]).await?;
        buckets
            .into_iter()
            .zip(values)
            .map(|(b, v)| {
                let v: Vec<i64> = parse(v)?;
                Ok((b, u64::try_from(v.iter().sum::<i64>()).unwrap_or(0)))
            })
            .collect()
    }

    async fn uncount(&self, item: &Bucketed, now: i64) -> Result<(), EngineError> {
        let step = self.layout.step_start(item.bucket);
        let mut changes = BucketChanges {
            keep_secs: self.layout.bucket_expires_at(item.bucket).saturating_sub(now).max(1),
            step_keep_secs: self.layout.step_expires_at(step).saturating_sub(now).max(1),
            per_res: BTreeMap::new(),
        };
        let mut writes = Vec::new();
        for cell in &item.cells {
            changes
                .per_res
                .entry(u8::from(cell.resolution()))
                .or_default()
                .insert(*cell, 1);
            let mut zrem = cmd("ZREM");
            zrem.arg(self.keys.last(*cell))
                .arg(contributor_member(item.contributor));
            writes.push(zrem);
            let mut zrem = cmd("ZREM");
            zrem.arg(self.keys.step_contributors(*cell))
                .arg(step_member(step, item.contributor));
            writes.push(zrem);
        }
        let marker = format!("u{:016x}", item.fingerprint);
        // Kept as long as the step: a retraction repeated later, while the
        // step is still replayed, takes nothing more away.
        writes.push(self.apply_counts(item.bucket, &marker, &changes, changes.step_keep_secs, -1));
        self.conn.run_each(writes, &[&APPLY_COUNTS]).await?;
        Ok(())
    }
}
