//! The Redis engine's [`CountStore`].
//!
//! # Writing a batch exactly once
//! A batch is written in chunks, each named by a hash of its posts'
//! fingerprints, which the ingest path salts with the request (a fresh salt
//! per request, or one derived from its `Idempotency-Key`). Each attempt at
//! a chunk also draws a name of its own, and:
//! 1. sets its marker in each of the chunk's buckets to *pending*, before
//!    anything names it;
//! 2. claims every post id for itself (`dedup.lua`, the claim naming the
//!    attempt and the post's bucket). An id nobody held is fresh. One held
//!    by another attempt is that attempt's: a duplicate if its marker in
//!    that bucket says it counted, taken over (a compare-and-set of the
//!    claim) if its marker says it never will (fenced, or gone). One still
//!    pending is looked at again for a second, then fenced, so that the
//!    other attempt, cut off or too slow, can no longer count it;
//! 3. folds in the contributors (`ZADD GT`, which is idempotent) and adds
//!    the counts per bucket with `ingest_chunk.lua`, which counts only
//!    while the attempt's marker is still pending and marks it counted.
//!    Posts without an id count there once per chunk, by the chunk's
//!    marker.
//!
//! A chunk cut off anywhere by a failing Redis can therefore be sent again,
//! under its key or without one, and each post ends up counted exactly
//! once; no post is ever answered as a duplicate of a write that did not
//! count it. No clocks are compared: a node whose clock is off counts the
//! same.
//!
//! # Keeping a day of ids in little memory
//! The ids are shared among 64 tags (hash slots), and each tag keeps them
//! as fields of small hashes, a few dozen per hash, in epochs of a quarter
//! of retention (`dedup.lua`): Redis stores such a hash as one listpack,
//! about 50 bytes per id where a key per id cost about 190. The ids are
//! kept whole (see [`TableId`]), so no post is ever taken for another's
//! duplicate.
//!
//! # Replay
//! The same script adds the counts to the bucket's replay step (a minute,
//! in the bucket's hash slot), kept for count retention; who contributed in
//! each step goes to a set of its own per cell and step (`SADD`, idempotent
//! too), and a replayed window is the `SUNION` of its steps' sets. A set per
//! step, rather than one sorted set per cell with a member per step and
//! contributor, costs Redis a hash lookup instead of a skip-list insert per
//! member, a third of its CPU per post under load, and expires whole.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use h3o::CellIndex;
use redis::{Cmd, Script, cmd};

use super::{RedisEngine, parse};
use crate::engine::{
    Bucketed, CellCount, CountQuery, CountStore, EngineError, IngestOutcome, WRITE_CHUNK, chunk_buckets, chunk_name,
    timed,
};

/// Contributors per `ZADD` or `SADD`, so that no command grows without bound.
const MEMBERS_PER_COMMAND: usize = 500;

static APPLY_COUNTS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/apply_counts.lua")));
static INGEST_CHUNK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/ingest_chunk.lua")));
static FENCE_ATTEMPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/fence_attempt.lua")));
static DEDUP: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/dedup.lua")));

/// How often, and how far apart, a request looks again at posts another
/// attempt claimed and has not counted yet before it fences that attempt:
/// a live request counts within milliseconds, so a second of silence means
/// it was cut off (or is so slow that failing it is better than waiting).
const PENDING_LOOKS: u32 = 10;
const PENDING_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// How much longer than its bucket an attempt's marker is kept.
const MARKER_MARGIN_SECS: i64 = 60;

/// Cell → when this node last trimmed its contributor set, and (cell,
/// step) → when it last set the expiry of that step's contributor set;
/// forgotten a period later, so that the maps hold only what was written
/// recently.
#[derive(Default)]
pub(super) struct Upkept {
    at: HashMap<CellIndex, i64>,
    step_sets: HashMap<(CellIndex, i64), i64>,
    swept: i64,
}

/// How often a node trims and re-expires a contributor set it writes to.
/// Doing it on every write cost Redis two commands per cell per chunk, a
/// fifth of its CPU under load; stale members in between are harmless
/// because reads count only members inside the window.
const UPKEEP_SECS: i64 = 60;

/// How often a node sets again the expiry of a step's contributor set it
/// writes to: a set that Redis lost (a failover, a restart without
/// persistence) and that the next write made anew has an expiry again
/// within this, as long as it is written.
const STEP_SET_UPKEEP_SECS: i64 = 15;

/// The counts one attempt at a chunk adds to one time bucket: the posts it
/// claimed by id, and those without id (counted once per chunk).
#[derive(Default)]
struct AttemptChanges {
    claimed: BTreeMap<u8, HashMap<CellIndex, i64>>,
    anonymous: BTreeMap<u8, HashMap<CellIndex, i64>>,
}

/// The counts a retraction takes from one time bucket.
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
        let chunk_marker = format!("i{name}");
        let attempt = rand::random::<u64>();
        let attempt_marker = attempt_marker(attempt);
        let buckets = chunk_buckets(chunk);
        let oldest = self.layout.oldest_useful_bucket(now);

        // 1. This attempt's markers, pending, before any claim names the
        //    attempt (so that a claim never names an attempt without one);
        //    and whether an earlier attempt at the chunk counted its posts
        //    without id.
        let mut first = Vec::new();
        for bucket in &buckets {
            let step = self.layout.step_start(*bucket);
            let mut pending = cmd("SET");
            pending
                .arg(self.keys.applied(step, *bucket, &attempt_marker))
                .arg("p")
                .arg("EX")
                .arg(self.marker_secs(*bucket, now));
            first.push(pending);
            let mut exists = cmd("EXISTS");
            exists.arg(self.keys.applied(step, *bucket, &chunk_marker));
            first.push(exists);
        }
        let mut anonymous_counted = HashSet::new();
        for (bucket, counted) in buckets
            .iter()
            .zip(self.conn.run_each(first, &[]).await?.into_iter().skip(1).step_by(2))
        {
            if parse::<bool>(counted)? {
                anonymous_counted.insert(*bucket);
            }
        }

        // 2. Claim every post id for this attempt: an id nobody holds is
        //    fresh, one another attempt holds is looked into below.
        let mut fresh = vec![false; chunk.len()];
        let mut claimed = Vec::new();
        let mut in_chunk = HashSet::new();
        for (i, item) in chunk.iter().enumerate() {
            match &item.dedup_key {
                None => fresh[i] = !anonymous_counted.contains(&item.bucket),
                Some(key) if in_chunk.insert(key.as_str()) => claimed.push((i, key.as_str())),
                Some(_) => {}
            }
        }
        let mut contested = Vec::new();
        let ids: Vec<TableId> = claimed.iter().map(|(_, key)| TableId::of(key)).collect();
        let by_tag = by_tag(&ids);
        let calls: Vec<Cmd> = by_tag
            .iter()
            .map(|(tag, posts)| {
                let mut invocation = self.dedup_invocation(*tag, "claim");
                for n in posts {
                    invocation
                        .arg(ids[*n].field.as_slice())
                        .arg(&claim(attempt, chunk[claimed[*n].0].bucket)[..]);
                }
                Cmd::invoke_script(&invocation)
            })
            .collect();
        for ((_, posts), holders) in by_tag.iter().zip(self.conn.run_each(calls, &[&DEDUP]).await?) {
            let holders: Vec<Option<Vec<u8>>> = parse(holders)?;
            for (n, holder) in posts.iter().zip(holders) {
                let index = claimed[*n].0;
                match holder {
                    None => fresh[index] = true,
                    Some(held) => contested.push(Contested {
                        index,
                        id: ids[*n].clone(),
                        held,
                    }),
                }
            }
        }

        // 3. Posts another attempt holds: duplicates if it counted them,
        //    taken over if it never will.
        let (taken, in_doubt) = self.take_over(chunk, contested, attempt, oldest).await?;
        for i in taken {
            fresh[i] = true;
        }
        let accepted = fresh.iter().filter(|f| **f).count() as u64;
        let outcome = IngestOutcome {
            accepted,
            duplicates: chunk.len() as u64 - accepted,
        };

        // 4. Fold the fresh posts into per-bucket counts and per-cell contributors.
        let mut buckets: BTreeMap<i64, AttemptChanges> = BTreeMap::new();
        let mut latest: HashMap<CellIndex, HashMap<u64, i64>> = HashMap::new();
        let mut in_steps: HashMap<(CellIndex, i64), HashSet<u64>> = HashMap::new();
        for item in chunk.iter().zip(&fresh).filter(|(_, f)| **f).map(|(item, _)| item) {
            // Too old for any window: acknowledged, nothing to count.
            if item.bucket < oldest {
                continue;
            }
            let changes = buckets.entry(item.bucket).or_default();
            let step = self.layout.step_start(item.bucket);
            let per_res = if item.dedup_key.is_some() {
                &mut changes.claimed
            } else {
                &mut changes.anonymous
            };
            for cell in &item.cells {
                in_steps.entry((*cell, step)).or_default().insert(item.contributor);
                *per_res
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

        // 5. The new items' texts (once per chunk), then contributors
        //    (idempotent), then counts (once per attempt and bucket, and
        //    for posts without id once per chunk). Texts first: a text may
        //    then be kept for a chunk the client gives up on, but never a
        //    count be acknowledged without its text.
        self.put_texts(
            &name,
            chunk.iter().zip(&fresh).filter(|(_, f)| **f).map(|(item, _)| item),
            now,
        )
        .await?;
        let mut writes = self.contributor_writes(&latest, &in_steps, oldest, now);
        let contributor_writes = writes.len();
        writes.extend(
            buckets
                .iter()
                .map(|(bucket, changes)| self.count_attempt(*bucket, &attempt_marker, &chunk_marker, changes, now)),
        );
        let answers = match self.conn.run_each(writes, &[&INGEST_CHUNK]).await {
            Ok(answers) => answers,
            Err(error) => {
                // Some of the expiries this node counts as set may not be.
                self.forget_upkeep();
                return Err(error);
            }
        };
        for answer in answers.into_iter().skip(contributor_writes) {
            if parse::<i64>(answer)? < 0 {
                return Err(EngineError::Unavailable(
                    "another request took over posts of this batch while it was being stored; retry".into(),
                ));
            }
        }
        if in_doubt > 0 {
            return Err(EngineError::Unavailable(format!(
                "{in_doubt} posts of this batch were being stored by another request at the same moment; retry"
            )));
        }
        Ok(outcome)
    }

    /// A call of `dedup.lua` on one tag, its arguments up to the posts.
    fn dedup_invocation(&self, tag: u16, mode: &str) -> redis::ScriptInvocation<'static> {
        let retention = self.layout.dedup_secs.max(1);
        let mut invocation = DEDUP.key(self.keys.seen_epochs(tag));
        invocation
            .arg(self.keys.seen_sub_hash_prefix(tag))
            .arg(retention)
            .arg((retention / DEDUP_EPOCHS_PER_RETENTION).max(1))
            .arg(IDS_PER_SUB_HASH)
            .arg(mode);
        invocation
    }

    /// How long an attempt's markers in `bucket` are kept: as long as the
    /// bucket is read, and a minute more, so that a clock a little ahead of
    /// Redis's never finds a counted attempt's marker gone while the bucket
    /// still counts.
    fn marker_secs(&self, bucket: i64, now: i64) -> i64 {
        self.layout.bucket_expires_at(bucket).saturating_sub(now).max(1) + MARKER_MARGIN_SECS
    }

    /// Looks into the posts whose ids another attempt holds. An attempt whose marker says it
    /// counted them makes them duplicates. One still pending is looked at
    /// again for a while (a concurrent request about to count) and then
    /// fenced, so that it can no longer count them; those of an attempt that
    /// never will are then claimed for `attempt`, each only if its claim is
    /// still the one read. Answers the posts taken over, and how many
    /// another request took over first.
    async fn take_over(
        &self,
        chunk: &[Bucketed],
        contested: Vec<Contested>,
        attempt: u64,
        oldest: i64,
    ) -> Result<(Vec<usize>, usize), EngineError> {
        let mut by_marker: HashMap<String, Vec<Contested>> = HashMap::new();
        for post in contested {
            // A claim in a bucket no window reads any more counts nowhere
            // either way.
            let Some((holder, bucket)) = parse_claim(&post.held).filter(|(_, b)| *b >= oldest) else {
                continue;
            };
            let marker = self
                .keys
                .applied(self.layout.step_start(bucket), bucket, &attempt_marker(holder));
            by_marker.entry(marker).or_default().push(post);
        }
        let mut abandoned = Vec::new();
        for look in 0..=PENDING_LOOKS {
            if by_marker.is_empty() {
                break;
            }
            let fence = look == PENDING_LOOKS;
            if look > 0 && !fence {
                tokio::time::sleep(PENDING_PAUSE).await;
            }
            let markers: Vec<String> = by_marker.keys().cloned().collect();
            let reads: Vec<Cmd> = markers
                .iter()
                .map(|marker| {
                    if fence {
                        Cmd::invoke_script(&FENCE_ATTEMPT.key(marker))
                    } else {
                        let mut get = cmd("GET");
                        get.arg(marker);
                        get
                    }
                })
                .collect();
            let states = self.conn.run_each(reads, &[&FENCE_ATTEMPT]).await?;
            for (marker, state) in markers.into_iter().zip(states) {
                match parse::<Option<String>>(state)?.as_deref() {
                    Some("d") => {
                        by_marker.remove(&marker);
                    }
                    Some("p") if !fence => {}
                    _ => abandoned.extend(by_marker.remove(&marker).unwrap_or_default()),
                }
            }
        }
        let by_tag = by_tag(abandoned.iter().map(|post| &post.id));
        let calls: Vec<Cmd> = by_tag
            .iter()
            .map(|(tag, posts)| {
                let mut invocation = self.dedup_invocation(*tag, "take");
                for n in posts {
                    let post = &abandoned[*n];
                    invocation
                        .arg(post.id.field.as_slice())
                        .arg(post.held.as_slice())
                        .arg(&claim(attempt, chunk[post.index].bucket)[..]);
                }
                Cmd::invoke_script(&invocation)
            })
            .collect();
        let mut taken = Vec::new();
        let mut lost_race = 0;
        for ((_, posts), moved) in by_tag.iter().zip(self.conn.run_each(calls, &[&DEDUP]).await?) {
            let moved: Vec<bool> = parse(moved)?;
            for (n, moved) in posts.iter().zip(moved) {
                if moved {
                    taken.push(abandoned[*n].index);
                } else {
                    lost_race += 1;
                }
            }
        }
        Ok((taken, lost_race))
    }

    fn contributor_writes(
        &self,
        latest: &HashMap<CellIndex, HashMap<u64, i64>>,
        in_steps: &HashMap<(CellIndex, i64), HashSet<u64>>,
        oldest: i64,
        now: i64,
    ) -> Vec<Cmd> {
        // A set refreshed up to UPKEEP_SECS ago must outlive its newest member by a window.
        let ttl = self.layout.longest_window_secs + self.layout.bucket_secs + UPKEEP_SECS;
        let mut upkept = self.upkept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now - upkept.swept >= UPKEEP_SECS {
            upkept.swept = now;
            upkept.at.retain(|_, at| now - *at < UPKEEP_SECS);
            // A step written again after this only has its expiry set again.
            let recent = self.layout.step_start(now) - self.layout.step_secs;
            upkept.step_sets.retain(|(_, step), _| *step >= recent);
        }
        let mut writes = Vec::new();
        for (cell, contributors) in latest {
            let key = self.keys.last(*cell);
            let members: Vec<(&u64, &i64)> = contributors.iter().collect();
            for part in members.chunks(MEMBERS_PER_COMMAND) {
                let mut zadd = cmd("ZADD");
                // GT keeps a later bucket already stored by another batch.
                zadd.arg(&key).arg("GT");
                for (contributor, bucket) in part {
                    zadd.arg(**bucket).arg(contributor_member(**contributor));
                }
                writes.push(zadd);
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
        }
        for ((cell, step), contributors) in in_steps {
            let key = self.keys.step_contributors(*cell, *step);
            let members: Vec<&u64> = contributors.iter().collect();
            for part in members.chunks(MEMBERS_PER_COMMAND) {
                let mut sadd = cmd("SADD");
                sadd.arg(&key);
                for contributor in part {
                    sadd.arg(step_member(**contributor));
                }
                writes.push(sadd);
            }
            // After the members, so that the set it expires exists.
            let last_upkeep = upkept.step_sets.entry((*cell, *step)).or_insert(i64::MIN);
            if now.saturating_sub(*last_upkeep) >= STEP_SET_UPKEEP_SECS {
                *last_upkeep = now;
                let mut expire = cmd("EXPIRE");
                expire
                    .arg(&key)
                    .arg(self.layout.step_expires_at(*step).saturating_sub(now).max(1));
                writes.push(expire);
            }
        }
        writes
    }

    /// Forgets which contributor sets this node trimmed and expired, so
    /// that its next writes to them do it again.
    fn forget_upkeep(&self) {
        let mut upkept = self.upkept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        upkept.at.clear();
        upkept.step_sets.clear();
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

    /// One `ingest_chunk.lua` call: an attempt's counts in one bucket.
    fn count_attempt(
        &self,
        bucket: i64,
        attempt_marker: &str,
        chunk_marker: &str,
        changes: &AttemptChanges,
        now: i64,
    ) -> Cmd {
        let step = self.layout.step_start(bucket);
        let resolutions: BTreeSet<u8> = changes
            .claimed
            .keys()
            .chain(changes.anonymous.keys())
            .copied()
            .collect();
        let mut invocation = INGEST_CHUNK.key(self.keys.applied(step, bucket, attempt_marker));
        invocation.key(self.keys.applied(step, bucket, chunk_marker));
        for res in &resolutions {
            invocation.key(self.keys.counts(step, bucket, *res));
        }
        for res in &resolutions {
            invocation.key(self.keys.step_counts(step, *res));
        }
        invocation
            .arg(self.marker_secs(bucket, now))
            .arg(self.layout.bucket_expires_at(bucket).saturating_sub(now).max(1))
            .arg(self.layout.step_expires_at(step).saturating_sub(now).max(1));
        for res in &resolutions {
            for group in [&changes.claimed, &changes.anonymous] {
                let cells = group.get(res);
                invocation.arg(cells.map_or(0, HashMap::len));
                for (cell, n) in cells.into_iter().flatten() {
                    invocation.arg(cell.to_string()).arg(*n);
                }
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

/// The name of an attempt's marker in each bucket it counts in.
fn attempt_marker(attempt: u64) -> String {
    format!("a{attempt:016x}")
}

/// A post id's claim: the attempt that holds it and the bucket the post
/// counts in, where that attempt's marker says whether it counted. Twelve
/// bytes (the attempt, then the bucket's Unix second, big-endian): a day of
/// claims is most of what de-duplication keeps. A bucket outside what four
/// bytes hold counts in no window, and is kept as 0, which says so too.
fn claim(attempt: u64, bucket: i64) -> [u8; 12] {
    let mut claim = [0; 12];
    claim[..8].copy_from_slice(&attempt.to_be_bytes());
    claim[8..].copy_from_slice(&u32::try_from(bucket).unwrap_or(0).to_be_bytes());
    claim
}

/// The attempt and bucket a claim names; `None` for anything else.
fn parse_claim(held: &[u8]) -> Option<(u64, i64)> {
    let attempt = u64::from_be_bytes(held.get(..8)?.try_into().ok()?);
    let bucket = u32::from_be_bytes(held.get(8..)?.try_into().ok()?);
    Some((attempt, i64::from(bucket)))
}

/// A post whose id another attempt held when this one claimed it.
struct Contested {
    /// Its place in the chunk.
    index: usize,
    /// Its id as the de-duplication tables hold it.
    id: TableId,
    /// The claim read.
    held: Vec<u8>,
}

/// How many tags the post ids are shared among: each tag is one hash slot
/// of a Redis Cluster, so that the de-duplication work spreads over the
/// nodes. Changing it moves ids to other tags, so it is fixed.
const DEDUP_TAGS: u16 = 64;

/// Epochs per retention: an id is looked up in this many and one more, and
/// an epoch is kept a retention after its last write, so ids are kept up
/// to a quarter longer than needed, on average an eighth.
const DEDUP_EPOCHS_PER_RETENTION: i64 = 4;

/// Ids per sub-hash before the next one splits: a listpack holds at most
/// 128 entries by default (`hash-max-listpack-entries`), and linear hashing
/// leaves the sub-hashes not yet split in a round with up to twice the
/// average, so the average stays well under half of that.
const IDS_PER_SUB_HASH: usize = 48;

/// Ids longer than this are kept by their SHA-256: a listpack holds values
/// of at most 64 bytes by default (`hash-max-listpack-value`), and one long
/// field would turn its whole sub-hash into a hash table.
const LONGEST_KEPT_ID: usize = 48;

/// A post id as the de-duplication tables hold it.
#[derive(Clone)]
struct TableId {
    /// The tag (hash slot) that holds it.
    tag: u16,
    /// Four bytes of its hash, which place it among the tag's sub-hashes
    /// (so that the script never hashes), then the id itself in one of
    /// three forms that never meet:
    /// - `source` 0x01 and the id as eight bytes, for a numeric id without
    ///   leading zeros (the platforms' ids: ten bytes fewer);
    /// - `source:id` as it came, when it holds no control character and
    ///   fits in [`LONGEST_KEPT_ID`];
    /// - NUL and its SHA-256, for the rest: the one form where two ids
    ///   could in theory meet, with a chance of 2⁻¹²⁸ a pair.
    field: Vec<u8>,
}

impl TableId {
    fn of(key: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let tag = u16::from_be_bytes([digest[0], digest[1]]) % DEDUP_TAGS;
        let mut field = digest[2..6].to_vec();
        let numeric = key.split_once(':').and_then(|(source, id)| {
            let source_ok = !source.is_empty()
                && source
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
            let canonical = id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0');
            let number = id.parse::<u64>().ok().filter(|_| source_ok && canonical)?;
            Some((source, number))
        });
        if let Some((source, number)) = numeric {
            field.extend_from_slice(source.as_bytes());
            field.push(1);
            field.extend_from_slice(&number.to_be_bytes());
        } else if key.len() <= LONGEST_KEPT_ID && !key.bytes().any(|b| b.is_ascii_control()) {
            field.extend_from_slice(key.as_bytes());
        } else {
            field.push(0);
            field.extend_from_slice(&digest);
        }
        Self { tag, field }
    }
}

/// The places of `ids`, grouped by the tag each belongs to.
fn by_tag<'a>(ids: impl IntoIterator<Item = &'a TableId>) -> Vec<(u16, Vec<usize>)> {
    let mut tags: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (place, id) in ids.into_iter().enumerate() {
        tags.entry(id.tag).or_default().push(place);
    }
    tags.into_iter().collect()
}

fn contributor_member(contributor: u64) -> String {
    format!("{contributor:016x}")
}

/// A contributor in a step's set: its hash's bits as a signed integer, so
/// that Redis keeps a set of up to 512 as an intset (eight bytes each).
fn step_member(contributor: u64) -> i64 {
    contributor as i64
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
            self.replicated().await?;
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
            let steps: Vec<i64> = (0..)
                .map(|i| first + i * self.layout.step_secs)
                .take_while(|s| *s <= last)
                .collect();
            let reads: Vec<Cmd> = steps
                .iter()
                .map(|step| {
                    let mut read = cmd("HGETALL");
                    read.arg(self.keys.step_counts(*step, res));
                    read
                })
                .collect();
            let cells = self.summed_cells(reads).await?;
            // A window's contributors are the union of its steps' (one
            // hash slot per cell, so one command on a Redis Cluster too).
            let unions: Vec<Cmd> = cells
                .iter()
                .map(|(cell, _)| {
                    let mut union = cmd("SUNION");
                    for step in &steps {
                        union.arg(self.keys.step_contributors(*cell, *step));
                    }
                    union
                })
                .collect();
            let members = self.conn.run_each(unions, &[]).await?;
            cells
                .into_iter()
                .zip(members)
                .map(|((cell, count), members)| {
                    let members: Vec<redis::Value> = parse(members)?;
                    Ok(CellCount {
                        cell,
                        count,
                        contributors: members.len() as u64,
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
            let mut srem = cmd("SREM");
            srem.arg(self.keys.step_contributors(*cell, step))
                .arg(step_member(item.contributor));
            writes.push(srem);
        }
        let marker = format!("u{:016x}", item.fingerprint);
        // Kept as long as the step: a retraction repeated later, while the
        // step is still replayed, takes nothing more away.
        writes.push(self.apply_counts(item.bucket, &marker, &changes, changes.step_keep_secs, -1));
        self.conn.run_each(writes, &[&APPLY_COUNTS]).await?;
        self.replicated().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str) -> Vec<u8> {
        TableId::of(key).field
    }

    #[test]
    fn distinct_ids_never_share_a_field() {
        let long = format!("web:{}", "x".repeat(60));
        let keys = [
            "mastodon:113000000000000000",
            "mastodon:0113000000000000000",
            "mastodon:113000000000000001",
            "twitter:113000000000000000",
            "mastodon:123",
            "mastodon:0123",
            "mastodon:18446744073709551615",
            "mastodon:18446744073709551616",
            "mastodon:abc",
            "mastodon:1:2",
            "Mastodon:123",
            "mastodon:\u{1}23",
            long.as_str(),
        ];
        let fields: HashSet<Vec<u8>> = keys.iter().map(|k| field(k)[4..].to_vec()).collect();
        assert_eq!(fields.len(), keys.len(), "two ids met");
    }

    #[test]
    fn an_id_is_kept_in_the_smallest_exact_form() {
        // A numeric id: the source, 0x01, eight bytes.
        assert_eq!(field("mastodon:113000000000000000").len(), 4 + 8 + 1 + 8);
        // A leading zero would be lost in a number: kept as it came.
        assert_eq!(&field("mastodon:0123")[4..], b"mastodon:0123");
        assert_eq!(&field("sms:abc-1")[4..], b"sms:abc-1");
        // Past 48 bytes, or with a control character: NUL and the SHA-256.
        let long = format!("web:{}", "x".repeat(60));
        assert_eq!(field(&long).len(), 4 + 1 + 32);
        assert_eq!(field(&long)[4], 0);
        assert_eq!(field("sms:a\u{7}b")[4], 0);
        // The same id, the same place.
        let a = TableId::of("sms:abc-1");
        let b = TableId::of("sms:abc-1");
        assert_eq!((a.tag, a.field), (b.tag, b.field));
    }

    #[test]
    fn a_claim_reads_back_as_its_attempt_and_bucket() {
        let claim = claim(0xdead_beef_0123_4567, 1_790_000_000);
        assert_eq!(claim.len(), 12);
        assert_eq!(parse_claim(&claim), Some((0xdead_beef_0123_4567, 1_790_000_000)));
        // A bucket no four bytes hold counts nowhere, and says so.
        assert_eq!(parse_claim(&super::claim(7, -10)), Some((7, 0)));
        assert_eq!(parse_claim(b"short"), None);
    }
}
