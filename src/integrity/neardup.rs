//! Coordinated posting (DESIGN §10): near-duplicate texts grouped into
//! clusters, and the clusters that at least `min_contributors` distinct
//! contributors joined within a window marked ready for a `coordination`
//! alert.
//!
//! Pure: the hub feeds the texts in the engine's order, with the time and
//! contributor the engine stored, and calls [`Clusters::expire`] each tick;
//! every hash is fixed, so two nodes fed alike name and fill the same
//! clusters.
//!
//! # How texts are compared
//!
//! A text is normalised (lowercase, accents folded, letters and digits only,
//! links dropped) and cut into shingles: its pairs of adjacent words. Two
//! texts are near-duplicates when the Jaccard similarity of their shingle
//! sets reaches [`ClusterConfig::similarity`]. Changing one word of a
//! twelve-word text leaves 9 of its 13 pairs shared (0.69), of a twenty-word
//! one 0.81; punctuation, case and emoji leave all of them.
//!
//! Pairs rather than single words: an event's chatter shares its words
//! ("piazza", "polizia", "the", "crowd") but rarely its pairs, so two
//! strangers almost never meet in a band below, and a text costs a few
//! lookups rather than a comparison with every cluster its words touch.
//!
//! MinHash rather than SimHash: SimHash's Hamming distance follows cosine
//! similarity of weighted features, and on a tweet-length text one changed
//! word moves several of its 64 bits, so a bit threshold loose enough to
//! catch it also joins texts that merely share the event's vocabulary. MinHash
//! estimates the Jaccard similarity the threshold is written in.
//!
//! Finding the cluster costs no comparison against every cluster: the MinHash
//! signature (36 values) is cut into 12 bands of 3; each cluster's first text
//! files its bands in buckets, and a new text is compared only with the
//! clusters that share a band with it. At a true similarity of 0.6 a text
//! meets its cluster in at least one band 95 % of the time, at 0.7 99.4 %,
//! at 0.5 80 %; a stranger sharing a tenth of its pairs is a candidate
//! 1.2 % of the time, and most strangers share none. Every band is a bucket
//! to write when a text opens a cluster and to clear when it is forgotten,
//! which at 20,000 texts a second is most of the cost: 12 bands of 3 find
//! near-duplicates as well as 20 of 4 did with single words in the shingles,
//! at 60 % of the lookups. A candidate is then
//! checked exactly on a bottom-128 sketch of the shingle sets, which is the
//! exact Jaccard similarity for any text of up to about 128 words; the
//! signature itself is computed from that sketch, so a 4,000-character text
//! costs no more than a 64-word one.

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::FixedState;
use h3o::CellIndex;

use crate::integrity::terms::{is_link, is_mark};

/// The engine's id of a stored text; opaque here.
pub type PostKey = String;

/// When near-duplicates make a cluster worth an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterConfig {
    /// Distinct contributors a cluster needs (`--coordination-min`, default 20).
    pub min_contributors: usize,
    /// Within how many seconds of each other they must post (default 600).
    pub window_secs: i64,
    /// The Jaccard similarity of shingle sets from which two texts are
    /// near-duplicates (default 0.6). The bands are tuned for 0.5 and above.
    pub similarity: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            min_contributors: 20,
            window_secs: 600,
            similarity: 0.6,
        }
    }
}

/// What [`Clusters`] may hold, so that a flood of texts costs bounded memory
/// (about 2 KB per cluster held plus its texts: some 130 MB when full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterLimits {
    /// How long a cluster that was ever ready is kept, whole, after its last
    /// member (default 3600 s), so an operator can still discount it after
    /// the burst.
    pub forget_secs: i64,
    /// Members kept per cluster (default 10,000); beyond it the oldest are
    /// dropped, an eighth at a time, and only counted in [`Cluster::size`].
    pub max_members: usize,
    /// Clusters kept at once (default 65,536). When full, a new text first
    /// pushes out the oldest cluster of one member, then the oldest that was
    /// never ready, then the oldest ready one: a flood of unrelated texts
    /// cannot push out a campaign that already has two members. At `r` texts
    /// per second a lone text waits `max_open / r` seconds for a twin.
    pub max_open: usize,
}

impl Default for ClusterLimits {
    fn default() -> Self {
        ClusterLimits {
            forget_secs: 3600,
            max_members: 10_000,
            max_open: 65_536,
        }
    }
}

/// One text of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The stored text it is.
    pub post: PostKey,
    /// The keyed hash of its author.
    pub contributor: u64,
    /// When it was posted, Unix seconds.
    pub at: i64,
    /// Where, at the alert resolution.
    pub cell: CellIndex,
}

/// Near-duplicate texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// `c` and 16 hex digits of a fixed hash of the first member's key: every
    /// node names a cluster alike.
    pub id: String,
    /// The earliest member's time (of the members still held, until the
    /// cluster is ready; then of all it ever had).
    pub first_seen: i64,
    /// The latest member's time.
    pub last_seen: i64,
    /// The first member's text as given.
    pub sample: String,
    /// In arrival order; at most [`ClusterLimits::max_members`], the newest.
    pub members: Vec<Member>,
    /// Distinct contributors among `members`.
    pub contributors: usize,
    /// Members dropped for the cap.
    dropped: usize,
}

impl Cluster {
    /// The members' cells, distinct, sorted.
    pub fn cells(&self) -> Vec<CellIndex> {
        let mut cells: Vec<CellIndex> = self.members.iter().map(|m| m.cell).collect();
        cells.sort_unstable();
        cells.dedup();
        cells
    }

    /// How many texts joined it while it was held, including those dropped
    /// for the member cap (not those a window forgot before it was ready).
    pub fn size(&self) -> usize {
        self.members.len() + self.dropped
    }
}

/// Rows per band: a band matches with probability `J^ROWS`.
const ROWS: usize = 3;
/// Bands: a cluster is a candidate with probability `1 - (1 - J^ROWS)^BANDS`.
const BANDS: usize = 12;
const SLOTS: usize = ROWS * BANDS;
/// Shingles kept per text, the smallest hashes: the exact set up to here.
const SKETCH: usize = 128;
/// Clusters remembered per bucket, the newest; a cluster has 12 buckets, so
/// one crowded bucket rarely hides it.
const MAX_BUCKET: usize = 32;
/// Shorter texts never cluster: a crowd all writing "#concerto" or "che
/// bello" is not a brigade.
pub const MIN_WORDS: usize = 5;

/// The tiers a full [`Clusters`] evicts from, first to last.
const LONE: usize = 0;
const GROWING: usize = 1;
const READY: usize = 2;

/// The fixed seed of every hash here; changing it renames every cluster.
const SEED: u64 = 0x6361_6d70_616e_696c; // "campanil"

/// SplitMix64's finaliser: a fixed bijection of `u64` with good avalanche.
pub(crate) const fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_4760_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: a byte hash whose definition never changes with a crate version,
/// so that cluster ids survive an upgrade of one node.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(state, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// The MinHash permutations: `a·x + b` with odd `a`, one per slot.
const PERMUTATIONS: [(u64, u64); SLOTS] = {
    let mut out = [(0, 0); SLOTS];
    let mut i = 0;
    while i < SLOTS {
        out[i] = (mix64(SEED ^ (2 * i as u64)) | 1, mix64(SEED ^ (2 * i as u64 + 1)));
        i += 1;
    }
    out
};

/// The clusters of one stream of texts, and the index that finds them.
#[derive(Debug)]
pub struct Clusters {
    config: ClusterConfig,
    limits: ClusterLimits,
    next_seq: u64,
    /// By sequence number, which follows the arrival of first members.
    /// Looked up for every candidate, so hashed; a walk over it is sorted
    /// before it changes anything.
    entries: HashMap<u64, Entry, FixedState>,
    /// The hash in a cluster's id, to its entry.
    by_id: HashMap<u64, u64, FixedState>,
    /// Band hash to the clusters whose first text has that band; only ever
    /// looked up, and what comes out is sorted, so no order leaks.
    buckets: HashMap<u64, Bucket, FixedState>,
    /// Entries by eviction tier ([`LONE`], [`GROWING`], [`READY`]).
    tiers: [BTreeSet<u64>; 3],
    /// Reused per text so that adding one allocates nothing but what it keeps.
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    words: Vec<u64>,
    shingles: Vec<u64>,
    candidates: Vec<u64>,
}

#[derive(Debug)]
struct Entry {
    cluster: Cluster,
    id_hash: u64,
    /// The first text's smallest shingle hashes, ascending.
    sketch: Box<[u64]>,
    /// The first text's bands, to leave the buckets.
    bands: [u64; BANDS],
    /// Members per contributor.
    counts: HashMap<u64, u32, FixedState>,
    tier: usize,
}

/// Most bands hold one cluster: no allocation for those.
#[derive(Debug)]
enum Bucket {
    One(u64),
    Many(Vec<u64>),
}

impl Bucket {
    fn as_slice(&self) -> &[u64] {
        match self {
            Bucket::One(seq) => std::slice::from_ref(seq),
            Bucket::Many(seqs) => seqs,
        }
    }
}

impl Clusters {
    /// No clusters yet, with the default [`ClusterLimits`].
    pub fn new(config: ClusterConfig) -> Self {
        Self::with_limits(config, ClusterLimits::default())
    }

    /// No clusters yet, holding at most what `limits` allows.
    pub fn with_limits(config: ClusterConfig, limits: ClusterLimits) -> Self {
        let limits = ClusterLimits {
            max_members: limits.max_members.max(1),
            max_open: limits.max_open.max(1),
            ..limits
        };
        Clusters {
            config,
            limits,
            next_seq: 0,
            entries: HashMap::with_hasher(FixedState::default()),
            by_id: HashMap::with_hasher(FixedState::default()),
            buckets: HashMap::with_hasher(FixedState::default()),
            tiers: Default::default(),
            scratch: Scratch::default(),
        }
    }

    /// Adds a text; returns the id of the cluster it joined (the most similar
    /// one, the oldest on a tie) or started, `None` if it has fewer than
    /// [`MIN_WORDS`] words and cannot cluster.
    pub fn add(&mut self, member: Member, text: &str) -> Option<String> {
        let (sketch, bands) = self.fingerprint(text)?;
        let seq = match self.best_match(&sketch, &bands) {
            Some(seq) => {
                self.join(seq, member);
                seq
            }
            None => self.start(member, text, sketch, bands),
        };
        self.entries.get(&seq).map(|entry| entry.cluster.id.clone())
    }

    /// Forgets the members of clusters never ready that are older than
    /// `now - window_secs`, and those clusters once empty; a cluster that was
    /// ever ready is kept whole until `forget_secs` after its last member.
    /// Call it every tick: it visits every cluster.
    pub fn expire(&mut self, now: i64) {
        let cutoff = now.saturating_sub(self.config.window_secs);
        let mut gone = Vec::new();
        let mut moved = Vec::new();
        for (&seq, entry) in &mut self.entries {
            if entry.tier == READY {
                if now.saturating_sub(entry.cluster.last_seen) > self.limits.forget_secs {
                    gone.push(seq);
                }
                continue;
            }
            if entry.cluster.first_seen >= cutoff {
                continue;
            }
            let Entry { cluster, counts, .. } = entry;
            cluster.members.retain(|m| {
                let keep = m.at >= cutoff;
                if !keep {
                    forget_one(counts, m.contributor);
                }
                keep
            });
            cluster.contributors = counts.len();
            match cluster.members.iter().map(|m| m.at).min() {
                None => gone.push(seq),
                Some(first) => {
                    cluster.first_seen = first;
                    moved.push(seq);
                }
            }
        }
        gone.sort_unstable();
        moved.sort_unstable();
        for seq in gone {
            self.remove(seq);
        }
        for seq in moved {
            self.settle(seq);
        }
    }

    /// Clusters with at least `min_contributors` distinct contributors whose
    /// texts arrived within `window_secs` of each other, ever (until
    /// forgotten), oldest first.
    pub fn ready(&self) -> Vec<&Cluster> {
        let mut ready: Vec<(i64, u64, &Cluster)> = self.tiers[READY]
            .iter()
            .filter_map(|seq| self.entries.get(seq).map(|e| (e.cluster.first_seen, *seq, &e.cluster)))
            .collect();
        ready.sort_unstable_by_key(|&(first_seen, seq, _)| (first_seen, seq));
        ready.into_iter().map(|(_, _, cluster)| cluster).collect()
    }

    /// The cluster of this id, ready or not, while it is held.
    pub fn get(&self, id: &str) -> Option<&Cluster> {
        let hex = id.strip_prefix('c').filter(|hex| hex.len() == 16)?;
        let hash = u64::from_str_radix(hex, 16).ok()?;
        let seq = self.by_id.get(&hash)?;
        self.entries
            .get(seq)
            .map(|entry| &entry.cluster)
            .filter(|cluster| cluster.id == id)
    }

    /// How many clusters are held, ready or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no cluster is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The text's shingle sketch and bands, or `None` when it is too short.
    fn fingerprint(&mut self, text: &str) -> Option<(Box<[u64]>, [u64; BANDS])> {
        let Scratch { words, shingles, .. } = &mut self.scratch;
        normalised_words(text, words);
        if words.len() < MIN_WORDS {
            return None;
        }
        shingles.clear();
        shingles.extend(
            words
                .windows(2)
                .map(|pair| mix64(pair[0].rotate_left(23) ^ pair[1] ^ !SEED)),
        );
        shingles.sort_unstable();
        shingles.dedup();
        shingles.truncate(SKETCH);
        let mut signature = [u64::MAX; SLOTS];
        for &x in shingles.iter() {
            for (slot, &(a, b)) in signature.iter_mut().zip(PERMUTATIONS.iter()) {
                *slot = (*slot).min(a.wrapping_mul(x).wrapping_add(b));
            }
        }
        let mut bands = [0; BANDS];
        for (i, (band, rows)) in bands.iter_mut().zip(signature.chunks_exact(ROWS)).enumerate() {
            // Seeded with the band's index: equal rows in two different
            // bands say nothing, and must not meet in one bucket.
            *band = rows.iter().fold(mix64(SEED ^ i as u64), |h, &v| mix64(h ^ v));
        }
        Some((shingles.as_slice().into(), bands))
    }

    /// The most similar cluster reaching the threshold among those sharing a
    /// band, the oldest on a tie.
    fn best_match(&mut self, sketch: &[u64], bands: &[u64; BANDS]) -> Option<u64> {
        let candidates = &mut self.scratch.candidates;
        candidates.clear();
        for band in bands {
            if let Some(bucket) = self.buckets.get(band) {
                candidates.extend_from_slice(bucket.as_slice());
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut best: Option<(f64, u64)> = None;
        for &seq in candidates.iter() {
            let Some(entry) = self.entries.get(&seq) else { continue };
            // Once one reaches the threshold, only a better one matters.
            let threshold = best.map_or(self.config.similarity, |(b, _)| b);
            match similarity_from(sketch, &entry.sketch, threshold) {
                Some(similarity) if best.is_none_or(|(b, _)| similarity > b) => best = Some((similarity, seq)),
                _ => {}
            }
        }
        best.map(|(_, seq)| seq)
    }

    fn start(&mut self, member: Member, text: &str, sketch: Box<[u64]>, bands: [u64; BANDS]) -> u64 {
        if self.entries.len() >= self.limits.max_open {
            let oldest = self.tiers.iter().find_map(|tier| tier.first().copied());
            if let Some(seq) = oldest {
                self.remove(seq);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut id_hash = fnv1a(FNV_OFFSET, member.post.as_bytes());
        // The same key twice (a replay) must not take over the first's name.
        while self.by_id.contains_key(&id_hash) {
            id_hash = mix64(id_hash);
        }
        let cluster = Cluster {
            id: format!("c{id_hash:016x}"),
            first_seen: member.at,
            last_seen: member.at,
            sample: text.to_owned(),
            members: Vec::new(),
            contributors: 0,
            dropped: 0,
        };
        let entry = Entry {
            cluster,
            id_hash,
            sketch,
            bands,
            counts: HashMap::with_hasher(FixedState::default()),
            tier: LONE,
        };
        for band in bands {
            match self.buckets.entry(band) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(Bucket::One(seq));
                }
                std::collections::hash_map::Entry::Occupied(mut slot) => {
                    let bucket = slot.get_mut();
                    match bucket {
                        Bucket::One(other) => *bucket = Bucket::Many(vec![*other, seq]),
                        Bucket::Many(seqs) => {
                            seqs.push(seq);
                            if seqs.len() > MAX_BUCKET {
                                seqs.remove(0);
                            }
                        }
                    }
                }
            }
        }
        self.by_id.insert(id_hash, seq);
        self.entries.insert(seq, entry);
        self.tiers[LONE].insert(seq);
        self.join(seq, member);
        seq
    }

    fn join(&mut self, seq: u64, member: Member) {
        let max_members = self.limits.max_members;
        let Some(Entry { cluster, counts, .. }) = self.entries.get_mut(&seq) else {
            return;
        };
        *counts.entry(member.contributor).or_default() += 1;
        cluster.first_seen = cluster.first_seen.min(member.at);
        cluster.last_seen = cluster.last_seen.max(member.at);
        cluster.members.push(member);
        if cluster.members.len() > max_members {
            // An eighth at a time, so that a flood costs amortised O(1).
            let drop = (cluster.members.len() - max_members + max_members / 8).min(cluster.members.len());
            for old in cluster.members.drain(..drop) {
                forget_one(counts, old.contributor);
            }
            cluster.dropped += drop;
        }
        cluster.contributors = counts.len();
        self.settle(seq);
    }

    /// Puts a cluster in the tier its members now call for; readiness is
    /// for good.
    fn settle(&mut self, seq: u64) {
        let (min, window) = (self.config.min_contributors.max(1), self.config.window_secs);
        let Some(entry) = self.entries.get_mut(&seq) else {
            return;
        };
        let tier = if entry.tier == READY
            || (entry.cluster.contributors >= min && quorum_within(&entry.cluster.members, window, min))
        {
            READY
        } else if entry.cluster.members.len() > 1 {
            GROWING
        } else {
            LONE
        };
        if tier != entry.tier {
            self.tiers[entry.tier].remove(&seq);
            self.tiers[tier].insert(seq);
            entry.tier = tier;
        }
    }

    fn remove(&mut self, seq: u64) {
        let Some(entry) = self.entries.remove(&seq) else { return };
        self.by_id.remove(&entry.id_hash);
        self.tiers[entry.tier].remove(&seq);
        for band in entry.bands {
            let std::collections::hash_map::Entry::Occupied(mut slot) = self.buckets.entry(band) else {
                continue;
            };
            match slot.get_mut() {
                Bucket::One(other) if *other == seq => {
                    slot.remove();
                }
                Bucket::One(_) => {}
                Bucket::Many(seqs) => {
                    seqs.retain(|&s| s != seq);
                    match seqs.as_slice() {
                        [] => {
                            slot.remove();
                        }
                        &[only] => *slot.get_mut() = Bucket::One(only),
                        _ => {}
                    }
                }
            }
        }
    }
}

fn forget_one(counts: &mut HashMap<u64, u32, FixedState>, contributor: u64) {
    if let std::collections::hash_map::Entry::Occupied(mut count) = counts.entry(contributor) {
        *count.get_mut() -= 1;
        if *count.get() == 0 {
            count.remove();
        }
    }
}

/// Whether some `window` seconds hold texts of `min` distinct contributors.
/// Only asked once the cluster has that many contributors at all, which, with
/// [`Clusters::expire`] called each tick, happens for a few texts before it
/// is ready or never.
fn quorum_within(members: &[Member], window: i64, min: usize) -> bool {
    let mut times: Vec<(i64, u64)> = members.iter().map(|m| (m.at, m.contributor)).collect();
    times.sort_unstable();
    let mut counts: HashMap<u64, u32, FixedState> = HashMap::with_hasher(FixedState::default());
    let mut first = 0;
    for &(at, contributor) in &times {
        *counts.entry(contributor).or_default() += 1;
        while at.saturating_sub(times[first].0) > window {
            forget_one(&mut counts, times[first].1);
            first += 1;
        }
        if counts.len() >= min {
            return true;
        }
    }
    false
}

/// The similarity of two sketches when it reaches `threshold`. Most
/// candidates are strangers sharing a band by chance: for two whole sets
/// (texts of up to about 128 words) their sizes alone, or the first quarter
/// of the merge, usually rule them out.
fn similarity_from(a: &[u64], b: &[u64], threshold: f64) -> Option<f64> {
    if a.len() >= SKETCH || b.len() >= SKETCH {
        return Some(jaccard(a, b)).filter(|&j| j >= threshold);
    }
    let (small, large) = if a.len() <= b.len() {
        (a.len(), b.len())
    } else {
        (b.len(), a.len())
    };
    // |A ∩ B| / |A ∪ B| is at most |small| / |large|.
    // The slack keeps a similarity exactly at the threshold from being lost
    // to rounding; the exact comparison at the end decides.
    if (small as f64) < threshold * large as f64 - 1e-9 {
        return None;
    }
    // With `m` shingles in one set only, |A ∩ B| ≤ (total − m) / 2, so the
    // similarity is at most (total − m) / (total + m).
    let total = a.len() + b.len();
    let max_only = total as f64 * (1.0 - threshold) / (1.0 + threshold) + 1e-9;
    let (mut i, mut j, mut both, mut only) = (0, 0, 0usize, 0usize);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if x == y {
            both += 1;
            i += 1;
            j += 1;
        } else {
            only += 1;
            if x < y {
                i += 1;
            } else {
                j += 1;
            }
            if only as f64 > max_only {
                return None;
            }
        }
    }
    let similarity = both as f64 / (total - both) as f64;
    (similarity >= threshold).then_some(similarity)
}

/// The Jaccard similarity of two bottom-k sketches (ascending, distinct):
/// exact when their union holds at most [`SKETCH`] shingles, otherwise the
/// share of the union's smallest [`SKETCH`] that both hold.
fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut union, mut both) = (0, 0, 0usize, 0usize);
    while union < SKETCH {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                both += 1;
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => i += 1,
            (Some(_), Some(_)) | (None, Some(_)) => j += 1,
            (Some(_), None) => i += 1,
            (None, None) => break,
        }
        union += 1;
    }
    if union == 0 { 0.0 } else { both as f64 / union as f64 }
}

/// The hashes of a text's normalised words, in order: lowercase, accents
/// folded, letters and digits only (anything else separates words, an
/// apostrophe too), links left out.
fn normalised_words(text: &str, out: &mut Vec<u64>) {
    out.clear();
    let mut utf8 = [0; 4];
    for chunk in text.split_whitespace() {
        if is_link(chunk) {
            continue;
        }
        let mut hash = FNV_OFFSET;
        let mut len = 0;
        for c in chunk.chars().flat_map(char::to_lowercase) {
            if is_mark(c) {
                continue;
            }
            if c.is_alphanumeric() {
                hash = fnv1a(hash, fold_accent(c).encode_utf8(&mut utf8).as_bytes());
                len += 1;
            } else if len > 0 {
                out.push(hash);
                (hash, len) = (FNV_OFFSET, 0);
            }
        }
        if len > 0 {
            out.push(hash);
        }
    }
}

/// The base letter of a lowercase accented Latin letter: "perché" and
/// "perche" are the same word to a copy-paster.
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ğ' => 'g',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
        'ł' => 'l',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ř' => 'r',
        'ś' | 'š' | 'ş' => 's',
        'ť' | 'ţ' => 't',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use h3o::{LatLng, Resolution};

    use super::*;

    /// One campaign text, rewritten the ways copy-pasters do: punctuation,
    /// case, emoji, spacing, one word changed, added or dropped.
    const ITALIAN: [&str; 25] = [
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo! Condividete prima che cancellino tutto",
        "STANNO CHIUDENDO TUTTE LE USCITE DI PIAZZA MAGGIORE!!! la polizia carica la folla senza motivo, condividete prima che cancellino tutto",
        "🚨🚨 Stanno chiudendo tutte le uscite di piazza Maggiore... la polizia carica la folla senza motivo. Condividete prima che cancellino tutto 🚨",
        "stanno chiudendo tutte le uscite di piazza maggiore la polizia carica la folla senza motivo condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore: la polizia carica la gente senza motivo. Condividete prima che cancellino tutto",
        "Stanno bloccando tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia picchia la folla senza motivo. Condividete prima che cancellino tutto!!",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza ragione, condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo: diffondete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che censurino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino tutto!!! 😡😡",
        "Stanno chiudendo tutte le vie di piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino tutto",
        "stanno chiudendo tutte le uscite di piazza Maggiore — la POLIZIA carica la folla senza motivo — condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la celere carica la folla senza motivo, condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di piazza Nettuno, la polizia carica la folla senza motivo, condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite in piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino TUTTO #bologna",
        "Ragazzi stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore , la polizia carica la folla senza motivo , condividete prima che cancellino tutto .",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore; la polizia carica la folla senza alcun motivo; condividete prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino tutto 🙏🙏🙏",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, RICONDIVIDETE prima che cancellino tutto",
        "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete subito che cancellino tutto",
        "‼️ Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo, condividete prima che cancellino tutto ‼️",
    ];

    const ENGLISH: [&str; 25] = [
        "They are closing every exit of the main square and the police are charging the crowd for no reason. Share this before they delete it!",
        "THEY ARE CLOSING EVERY EXIT OF THE MAIN SQUARE and the police are charging the crowd for no reason, share this before they delete it",
        "😱 They are closing every exit of the main square & the police are charging the crowd for no reason... share this before they delete it 😱",
        "they are closing every exit of the main square and the police are charging the crowd for no reason share this before they delete it",
        "They are blocking every exit of the main square and the police are charging the crowd for no reason. Share this before they delete it",
        "They are closing every exit of the main square and the cops are charging the crowd for no reason. Share this before they delete it",
        "They are closing every exit of the main square and the police are beating the crowd for no reason. Share this before they delete it",
        "They are closing every exit of the main square and the police are charging the people for no reason. Share this before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason. Spread this before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason. Share this before they remove it",
        "They're closing every exit of the main square and the police are charging the crowd for no reason. Share this before they delete it",
        "They are closing all exit of the main square and the police are charging the crowd for no reason. Share this before they delete it",
        "They are closing every gate of the main square and the police are charging the crowd for no reason. Share this before they delete it",
        "They are closing every exit of the old square and the police are charging the crowd for no reason. Share this before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason!!! Share this before they delete it!!!",
        "BREAKING they are closing every exit of the main square and the police are charging the crowd for no reason. Share this before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason. Share this before they delete it #protest",
        "They are closing every exit of the main square and the police are charging the crowd for no reason. Share this before they delete",
        "They are closing every exit of the main square and the police are charging the crowd for absolutely no reason. Share this before they delete it",
        "they are closing every exit of the main square, and the police are charging the crowd, for no reason; share this before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason. RT this before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason. Share this now before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason 🙏 Share this before they delete it 🙏",
        "They are closing every exit of the main square and the police are attacking the crowd for no reason. Share this before they delete it",
        "They are closing every exit of the main square and the police are charging the crowd for no reason. Share this before they delete it. Now.",
    ];

    /// The same event, the same words, different sentences.
    const UNRELATED: [&str; 25] = [
        "Piazza Maggiore pienissima stasera, il concerto inizia alle nove",
        "Le uscite di piazza Maggiore sono un po' intasate ma la polizia gestisce bene la folla",
        "Che bello il concerto in piazza Maggiore, la folla canta tutte le canzoni",
        "La polizia ha chiuso via Rizzoli, per uscire dalla piazza passate da via dell'Archiginnasio",
        "Qualcuno sa se le uscite verso via Ugo Bassi sono aperte? Siamo bloccati vicino al palco",
        "Acqua finita al bar di piazza Maggiore, portatevi la borraccia per il concerto",
        "Troppa gente sotto il palco, mi sposto verso il Nettuno per respirare un attimo",
        "Bellissima serata in piazza Maggiore con amici, la polizia è gentilissima con tutti",
        "Cerco il mio amico che si è perso tra la folla vicino alle uscite della piazza",
        "Il concerto è stato rimandato di mezz'ora per il caldo, dicono dal palco",
        "Coda lunghissima per entrare in piazza Maggiore, controlli della polizia agli ingressi",
        "The main square is packed tonight, the concert starts at nine and the crowd is great",
        "Police closed one exit of the main square but the other exits are open and moving",
        "Lost my phone near the stage in the main square, if anyone finds it please tell security",
        "The crowd in the main square is singing along, best concert of the summer so far",
        "Exits on the east side of the square are slow, use the north gate instead",
        "Police and volunteers are handing out water near the fountain in the main square",
        "Is the concert still on? The crowd is not moving and nobody tells us anything",
        "Amazing atmosphere in the square, families with kids and the police chatting with people",
        "The square is too crowded for my taste, heading to a bar near the old towers",
        "Security says the main square is full and they are closing the entrances for now",
        "Ambulanza ferma in via Indipendenza, la folla si è spostata per farla passare",
        "Stasera concerto gratuito in piazza, arrivate presto perché la folla è già enorme",
        "Ho visto la polizia a cavallo in piazza Nettuno, tutto tranquillo per ora",
        "The crowd cheered when the band came back on stage, the square is shaking",
    ];

    fn cell(i: usize) -> CellIndex {
        LatLng::new(44.4938 + (i % 5) as f64 * 0.005, 11.3426)
            .expect("valid")
            .to_cell(Resolution::Nine)
    }

    fn member(i: usize, contributor: u64, at: i64) -> Member {
        Member {
            post: format!("post-{i}"),
            contributor,
            at,
            cell: cell(i),
        }
    }

    fn config(min_contributors: usize) -> ClusterConfig {
        ClusterConfig {
            min_contributors,
            ..ClusterConfig::default()
        }
    }

    /// Feeds texts one every 10 s from contributor `contributor(i)`.
    fn feed(clusters: &mut Clusters, texts: &[&str], contributor: impl Fn(usize) -> u64) -> Vec<Option<String>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| clusters.add(member(i, contributor(i), 1_000 + 10 * i as i64), text))
            .collect()
    }

    #[test]
    fn twenty_five_italian_near_duplicates_from_25_contributors_make_one_ready_cluster() {
        let mut clusters = Clusters::new(config(20));
        let ids = feed(&mut clusters, &ITALIAN, |i| i as u64);
        let first = ids[0].clone().expect("long enough");
        assert!(ids.iter().all(|id| id.as_deref() == Some(first.as_str())), "{ids:?}");
        let ready = clusters.ready();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].id, first);
        assert_eq!((ready[0].size(), ready[0].contributors), (25, 25));
        assert_eq!(ready[0].sample, ITALIAN[0]);
        assert_eq!((ready[0].first_seen, ready[0].last_seen), (1_000, 1_240));
        assert_eq!(ready[0].cells().len(), 5);
    }

    #[test]
    fn twenty_five_english_near_duplicates_from_25_contributors_make_one_ready_cluster() {
        let mut clusters = Clusters::new(config(20));
        let ids = feed(&mut clusters, &ENGLISH, |i| 100 + i as u64);
        assert!(ids.iter().all(|id| id.is_some() && *id == ids[0]), "{ids:?}");
        assert_eq!(clusters.ready().len(), 1);
        assert_eq!(clusters.len(), 1);
    }

    #[test]
    fn two_campaigns_interleaved_stay_apart() {
        let mut clusters = Clusters::new(config(20));
        let texts: Vec<&str> = ITALIAN.iter().zip(ENGLISH.iter()).flat_map(|(a, b)| [*a, *b]).collect();
        let ids = feed(&mut clusters, &texts, |i| i as u64);
        let distinct: BTreeSet<_> = ids.iter().flatten().collect();
        assert_eq!(distinct.len(), 2);
        assert_eq!(clusters.ready().len(), 2);
        assert!(clusters.ready().iter().all(|c| c.contributors == 25));
    }

    #[test]
    fn texts_about_the_same_event_in_other_words_make_no_cluster() {
        let mut clusters = Clusters::new(config(2));
        let ids = feed(&mut clusters, &UNRELATED, |i| i as u64);
        let distinct: BTreeSet<_> = ids.iter().flatten().collect();
        assert_eq!(distinct.len(), UNRELATED.len(), "{ids:?}");
        assert!(clusters.ready().is_empty());
    }

    #[test]
    fn unrelated_texts_do_not_join_a_campaign() {
        let mut clusters = Clusters::new(config(20));
        let texts: Vec<&str> = ITALIAN.iter().chain(UNRELATED.iter()).copied().collect();
        let ids = feed(&mut clusters, &texts, |i| i as u64);
        let campaign = ids[0].clone();
        assert!(ids[25..].iter().all(|id| *id != campaign));
        assert_eq!(clusters.ready()[0].size(), 25);
    }

    #[test]
    fn the_same_texts_from_5_contributors_are_not_ready_with_min_20() {
        let mut clusters = Clusters::new(config(20));
        let ids = feed(&mut clusters, &ITALIAN, |i| (i % 5) as u64);
        assert!(ids.iter().all(|id| *id == ids[0]));
        assert!(clusters.ready().is_empty());
        let id = ids[0].clone().expect("clustered");
        let cluster = clusters.get(&id).expect("held");
        assert_eq!((cluster.size(), cluster.contributors), (25, 5));
    }

    #[test]
    fn nineteen_contributors_are_not_ready_and_the_twentieth_makes_it() {
        let mut clusters = Clusters::new(config(20));
        feed(&mut clusters, &ITALIAN[..19], |i| i as u64);
        assert!(clusters.ready().is_empty());
        clusters.add(member(19, 19, 1_200), ITALIAN[19]);
        assert_eq!(clusters.ready().len(), 1);
    }

    #[test]
    fn contributors_spread_beyond_the_window_are_not_ready() {
        let mut clusters = Clusters::new(config(20));
        // One text every 40 s: any 600 s hold 16 contributors.
        for (i, text) in ITALIAN.iter().enumerate() {
            clusters.add(member(i, i as u64, 40 * i as i64), text);
        }
        assert!(clusters.ready().is_empty());
        assert_eq!(clusters.len(), 1);
    }

    #[test]
    fn short_texts_never_cluster() {
        let mut clusters = Clusters::new(config(2));
        for i in 0..25 {
            assert_eq!(
                clusters.add(member(i, i as u64, 1_000), "#concerto che bello!!! 🎉"),
                None
            );
            assert_eq!(
                clusters.add(member(i, i as u64, 1_000), "https://t.co/abc uno due tre quattro"),
                None
            );
        }
        assert!(clusters.is_empty());
        assert!(
            clusters
                .add(member(99, 1, 1_000), "uno due tre quattro cinque")
                .is_some()
        );
    }

    #[test]
    fn cluster_ids_are_equal_across_two_instances_fed_alike() {
        let texts: Vec<&str> = ITALIAN
            .iter()
            .chain(UNRELATED.iter())
            .chain(ENGLISH.iter())
            .copied()
            .collect();
        let mut a = Clusters::new(config(20));
        let mut b = Clusters::new(config(20));
        let ids_a = feed(&mut a, &texts, |i| i as u64 % 30);
        let ids_b = feed(&mut b, &texts, |i| i as u64 % 30);
        assert_eq!(ids_a, ids_b);
        let ready = |c: &Clusters| c.ready().into_iter().cloned().collect::<Vec<_>>();
        assert_eq!(ready(&a), ready(&b));
        // The name comes from the first member's key, nothing else.
        let expected = format!("c{:016x}", fnv1a(FNV_OFFSET, b"post-0"));
        assert_eq!(ids_a[0].as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn a_replayed_key_gets_its_own_name() {
        let mut clusters = Clusters::new(config(2));
        let a = clusters.add(member(0, 1, 0), UNRELATED[0]).expect("clusters");
        let b = clusters.add(member(0, 1, 0), UNRELATED[1]).expect("clusters");
        assert_ne!(a, b);
        assert_eq!(clusters.get(&a).map(|c| c.sample.as_str()), Some(UNRELATED[0]));
        assert_eq!(clusters.get(&b).map(|c| c.sample.as_str()), Some(UNRELATED[1]));
        assert!(clusters.get("c0000000000000000").is_none());
        assert!(clusters.get("nonsense").is_none());
    }

    #[test]
    fn expire_forgets_members_of_clusters_never_ready() {
        let mut clusters = Clusters::new(config(20));
        let ids = feed(&mut clusters, &ITALIAN[..10], |i| i as u64); // at 1000..=1090
        let id = ids[0].clone().expect("clustered");
        clusters.expire(1_000 + 600 + 45);
        let cluster = clusters.get(&id).expect("still has members");
        assert_eq!((cluster.size(), cluster.first_seen), (5, 1_050));
        clusters.expire(1_090 + 601);
        assert!(clusters.get(&id).is_none());
        assert!(clusters.is_empty());
    }

    #[test]
    fn a_ready_cluster_is_kept_whole_until_forget_secs_after_its_last_member() {
        let mut clusters = Clusters::new(config(20));
        let ids = feed(&mut clusters, &ITALIAN, |i| i as u64); // last at 1240
        let id = ids[0].clone().expect("clustered");
        clusters.expire(1_240 + 3_600);
        assert_eq!(clusters.get(&id).map(Cluster::size), Some(25));
        assert_eq!(clusters.ready().len(), 1);
        clusters.expire(1_240 + 3_601);
        assert!(clusters.get(&id).is_none());
        assert!(clusters.ready().is_empty());
    }

    #[test]
    fn the_member_cap_drops_the_oldest_and_still_counts_them() {
        let limits = ClusterLimits {
            max_members: 8,
            ..ClusterLimits::default()
        };
        let mut clusters = Clusters::with_limits(config(2), limits);
        let ids = feed(&mut clusters, &ITALIAN, |i| i as u64);
        let cluster = clusters.get(ids[0].as_deref().expect("clustered")).expect("held");
        assert!(cluster.members.len() <= 8);
        assert_eq!(cluster.size(), 25);
        assert_eq!(cluster.members.last().map(|m| m.post.as_str()), Some("post-24"));
        assert_eq!(cluster.contributors, cluster.members.len());
    }

    #[test]
    fn a_full_book_pushes_out_lone_texts_before_a_growing_campaign() {
        let limits = ClusterLimits {
            max_open: 4,
            ..ClusterLimits::default()
        };
        let mut clusters = Clusters::with_limits(config(20), limits);
        let campaign = clusters.add(member(0, 0, 0), ITALIAN[0]).expect("clusters");
        clusters.add(member(1, 1, 1), ITALIAN[1]);
        for (i, text) in UNRELATED.iter().enumerate() {
            clusters.add(member(100 + i, 100 + i as u64, 2 + i as i64), text);
        }
        assert_eq!(clusters.len(), 4);
        assert_eq!(clusters.get(&campaign).map(Cluster::size), Some(2));
        let mut last_id = None;
        for (i, text) in ITALIAN.iter().enumerate().skip(2) {
            last_id = clusters.add(member(i, i as u64, 30 + i as i64), text);
        }
        assert_eq!(last_id, Some(campaign));
        assert_eq!(clusters.ready().len(), 1);
    }

    #[test]
    fn a_text_with_one_word_changed_nearly_always_finds_its_cluster_and_strangers_never_do() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let vocabulary: Vec<String> = (0..400).map(|i| format!("w{i}x")).collect();
        let mut clusters = Clusters::new(config(2));
        let (mut joined, mut strangers_joined) = (0, 0);
        for i in 0..300 {
            let mut words: Vec<&str> = (0..15)
                .map(|_| vocabulary[rng.random_range(0..vocabulary.len())].as_str())
                .collect();
            let first = clusters.add(member(3 * i, 1, 0), &words.join(" "));
            let at = rng.random_range(0..words.len());
            words[at] = "changed";
            joined += usize::from(clusters.add(member(3 * i + 1, 2, 0), &words.join(" ")) == first);
            let stranger: Vec<&str> = (0..15)
                .map(|_| vocabulary[rng.random_range(0..vocabulary.len())].as_str())
                .collect();
            strangers_joined += usize::from(clusters.add(member(3 * i + 2, 3, 0), &stranger.join(" ")) == first);
        }
        // One word of 15 changed leaves 0.75 of the pairs: 99 % by the bands.
        assert!(joined >= 290, "{joined} of 300");
        assert_eq!(strangers_joined, 0);
    }

    #[test]
    fn jaccard_is_exact_on_small_sets() {
        assert_eq!(jaccard(&[1, 2, 3, 4], &[3, 4, 5, 6]), 2.0 / 6.0);
        assert_eq!(jaccard(&[1, 2], &[1, 2]), 1.0);
        assert_eq!(jaccard(&[], &[]), 0.0);
    }

    proptest::proptest! {
        #[test]
        fn the_shortcut_similarity_agrees_with_jaccard(
            a in proptest::collection::btree_set(0u64..60, 1..50),
            b in proptest::collection::btree_set(0u64..60, 1..50),
            threshold in 0.0f64..1.0,
        ) {
            let (a, b): (Vec<u64>, Vec<u64>) = (a.into_iter().collect(), b.into_iter().collect());
            let exact = jaccard(&a, &b);
            let expected = (exact >= threshold).then_some(exact);
            proptest::prop_assert_eq!(similarity_from(&a, &b, threshold), expected);
        }
    }

    #[test]
    fn normalisation_ignores_case_punctuation_emoji_accents_and_links() {
        let hashes = |text: &str| {
            let mut out = Vec::new();
            normalised_words(text, &mut out);
            out
        };
        assert_eq!(
            hashes("Perché?! la FOLLA... 🔥 corre https://x.y/z"),
            hashes("perche la folla corre")
        );
        assert_eq!(hashes("e\u{301}vacuez"), hashes("évacuez"));
        assert_eq!(hashes("dell'uscita").len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn noise_does_not_move_a_text_out_of_its_cluster(
            words in proptest::collection::vec("[a-z]{3,9}", 5..30),
            noise in proptest::collection::vec(proptest::sample::select(vec!["!", "...", " 🔥", ",", "?!", " #"]), 30),
        ) {
            let plain = words.join(" ");
            let noisy: String = words.iter().zip(&noise).map(|(w, n)| format!("{}{n} ", w.to_uppercase())).collect();
            let mut clusters = Clusters::new(config(2));
            let a = clusters.add(member(0, 1, 0), &plain);
            let b = clusters.add(member(1, 2, 1), &noisy);
            proptest::prop_assert!(a.is_some());
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(clusters.ready().len(), 1);
        }

        #[test]
        fn two_instances_fed_alike_agree(
            texts in proptest::collection::vec(("[a-c]{1,2}( [a-c]{1,2}){4,8}", 0u64..6, 0i64..900), 1..60),
        ) {
            let mut a = Clusters::new(config(3));
            let mut b = Clusters::new(config(3));
            for (i, (text, contributor, at)) in texts.iter().enumerate() {
                let m = member(i, *contributor, *at);
                proptest::prop_assert_eq!(a.add(m.clone(), text), b.add(m, text));
            }
            a.expire(900);
            b.expire(900);
            let ready = |c: &Clusters| c.ready().into_iter().cloned().collect::<Vec<_>>();
            proptest::prop_assert_eq!(ready(&a), ready(&b));
            proptest::prop_assert_eq!(a.len(), b.len());
        }
    }
}
