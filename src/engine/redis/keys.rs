//! The Redis engine's key layout: every key name, in one place, so that the
//! hash tags agree.
//!
//! All keys live under the configured prefix (default `campanile:`). Keys
//! that one atomic step touches together share a hash tag (`{…}`), so that
//! they live in one slot of a Redis Cluster; the rest spread freely.
//!
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `seen:{t<tag>}` | hash | the epochs of one of the 64 tags that share the post ids: epoch start (Redis time) → `<level> <split> <ids> <bare addresses>` of its linear hashing (bare: addresses no sub-hash holds yet, whose expiry the next id there sets) | with its newest epoch |
//! | `seen:{t<tag>}:<epoch>:<n>` | hash | four bytes of the id's hash, then `source:id` (a numeric id as eight bytes; SHA-256 past 48 bytes) → the attempt at a chunk that holds a post id and the bucket it counts in (12 bytes); a few dozen ids each, so that Redis keeps them as a listpack | retention after the epoch's end (epochs are a quarter of retention) |
//! | `{s<step>}:b<bucket>:count:{res}` | hash | cell → items in that time bucket | when the longest window has slid past the bucket |
//! | `{s<step>}:b<bucket>:applied:a<attempt>` | string | an attempt at a chunk in the bucket: `p` pending, `d` counted, `f` fenced by another request | a minute after the bucket |
//! | `{s<step>}:b<bucket>:applied:i<chunk>` | string | a chunk's posts without id are counted in the bucket | a minute after the bucket |
//! | `{s<step>}:b<bucket>:applied:u<fingerprint>` | string | a retraction is applied to the bucket and its step | with the step |
//! | `{s<step>}:count:{res}` | hash | cell → items in that replay step (a minute) | count retention (default 24 h) after the longest window |
//! | `last:{cell}` | sorted set | contributor hash → last bucket seen in the cell | longest window after the last write; trimmed on write |
//! | `steps:{<cell>}:<step>` | set | the contributor hashes (as signed integers, so that Redis keeps a small set as an intset) that contributed to the cell in that replay step (a minute); a cell's steps share its hash tag, so one `SUNION` reads a window | with the step's counts |
//! | `{broadcasts}:seq` | string | the last broadcast `seq` | never (it must only grow) |
//! | `{broadcasts}:epoch` | string | the epoch the `seq` counter numbers in; a new one whenever the counter is found gone | never |
//! | `{broadcasts}:msg:{id}` | hash | `seq`, `epoch`, `body` (JSON) | broadcast retention |
//! | `{broadcasts}:log` | sorted set | id by `seq`, capped at the most kept | broadcast retention after the last append |
//! | `acks:{id}` | hash | commander `sub` → Unix time | broadcast retention |
//! | `{reports}:report:{id}` | string | one report (JSON) | retention |
//! | `{reports}:index` | sorted set | report id by arrival time | retention after the last report |
//! | `{reports}:changes` | stream | every stored report body, in order | retention, at most ~10,000 entries |
//! | `{rumours}:rumour:{id}` | string | one rumour register entry (JSON) | broadcast retention after its last write |
//! | `{rumours}:index` | sorted set | entry id by last write | broadcast retention after the last write |
//! | `{alerts}:quiet:{key}` | string | an alert was raised for this key | the quiet period |
//! | `{alerts}:changes` | stream | every raised alert, in order | a day, at most ~1,000 entries |
//! | `{alerts}:raised` | sorted set | every raised alert by the time it was raised | a day |
//! | `{crowd}:headcounts` | sorted set | head-counts (JSON) by the time they were taken | 6 h |
//! | `{crowd}:minutes:{window}` | sorted set | each zone's contributors over the window ending at each minute (JSON) by minute | an hour |
//! | `{texts}:log` | stream | post texts (JSON), in the order stored | retention, trimmed by entry id |
//! | `{texts}:chunk:{chunk}` | string | marks a chunk's texts as stored | retention |
//! | `{texts}:clusters` | hash | cluster id → the operators' decision (discounted or restored, JSON) | retention after the last decision |
//! | `audit` | stream | one JSON entry per operator action | 30 days after the last entry, at most ~100,000 entries |
//! | `{idem:<slot>}` | hash | an `Idempotency-Key` request: body hash, first attempt's time, lease, then status and answer | retention after the first attempt |
//!
//! Pub/sub channel `broadcasts` carries each appended broadcast.

use h3o::CellIndex;

/// Every key the engine writes, under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`, which may hold neither `{` nor `}` (the hash
    /// tags would break).
    pub(super) fn new(prefix: &str) -> Option<Self> {
        (!prefix.contains(['{', '}'])).then(|| Self {
            prefix: prefix.to_owned(),
        })
    }

    pub(super) fn seen_epochs(&self, tag: u16) -> String {
        format!("{}seen:{{t{tag}}}", self.prefix)
    }
    pub(super) fn seen_sub_hash_prefix(&self, tag: u16) -> String {
        format!("{}seen:{{t{tag}}}:", self.prefix)
    }
    pub(super) fn counts(&self, step: i64, bucket: i64, res: u8) -> String {
        format!("{}{{s{step}}}:b{bucket}:count:{res}", self.prefix)
    }
    pub(super) fn applied(&self, step: i64, bucket: i64, chunk: &str) -> String {
        format!("{}{{s{step}}}:b{bucket}:applied:{chunk}", self.prefix)
    }
    pub(super) fn step_counts(&self, step: i64, res: u8) -> String {
        format!("{}{{s{step}}}:count:{res}", self.prefix)
    }
    pub(super) fn step_contributors(&self, cell: CellIndex, step: i64) -> String {
        format!("{}steps:{{{cell}}}:{step}", self.prefix)
    }
    pub(super) fn last(&self, cell: CellIndex) -> String {
        format!("{}last:{cell}", self.prefix)
    }
    pub(super) fn broadcast_seq(&self) -> String {
        format!("{}{{broadcasts}}:seq", self.prefix)
    }
    pub(super) fn broadcast_epoch(&self) -> String {
        format!("{}{{broadcasts}}:epoch", self.prefix)
    }
    pub(super) fn broadcast_log(&self) -> String {
        format!("{}{{broadcasts}}:log", self.prefix)
    }
    pub(super) fn broadcast(&self, id: &str) -> String {
        format!("{}{{broadcasts}}:msg:{id}", self.prefix)
    }
    pub(super) fn broadcast_channel(&self) -> String {
        format!("{}broadcasts", self.prefix)
    }
    pub(super) fn acks(&self, id: &str) -> String {
        format!("{}acks:{id}", self.prefix)
    }
    pub(super) fn report(&self, id: &str) -> String {
        format!("{}{{reports}}:report:{id}", self.prefix)
    }
    pub(super) fn report_index(&self) -> String {
        format!("{}{{reports}}:index", self.prefix)
    }
    pub(super) fn report_changes(&self) -> String {
        format!("{}{{reports}}:changes", self.prefix)
    }
    pub(super) fn rumour(&self, id: &str) -> String {
        format!("{}{{rumours}}:rumour:{id}", self.prefix)
    }
    pub(super) fn rumour_index(&self) -> String {
        format!("{}{{rumours}}:index", self.prefix)
    }
    pub(super) fn alert_quiet(&self, key: &str) -> String {
        format!("{}{{alerts}}:quiet:{key}", self.prefix)
    }
    pub(super) fn alert_changes(&self) -> String {
        format!("{}{{alerts}}:changes", self.prefix)
    }
    pub(super) fn alerts_raised(&self) -> String {
        format!("{}{{alerts}}:raised", self.prefix)
    }
    pub(super) fn headcounts(&self) -> String {
        format!("{}{{crowd}}:headcounts", self.prefix)
    }
    pub(super) fn zone_minutes(&self, window_secs: i64) -> String {
        format!("{}{{crowd}}:minutes:{window_secs}", self.prefix)
    }
    pub(super) fn text_log(&self) -> String {
        format!("{}{{texts}}:log", self.prefix)
    }
    pub(super) fn text_chunk(&self, chunk: &str) -> String {
        format!("{}{{texts}}:chunk:{chunk}", self.prefix)
    }
    pub(super) fn text_clusters(&self) -> String {
        format!("{}{{texts}}:clusters", self.prefix)
    }
    pub(super) fn audit(&self) -> String {
        format!("{}audit", self.prefix)
    }
    /// Each slot is its own hash tag, so that on a Redis Cluster the slots
    /// spread over the nodes while each script still touches one key.
    pub(super) fn idempotency(&self, slot: &str) -> String {
        format!("{}{{idem:{slot}}}", self.prefix)
    }
}
