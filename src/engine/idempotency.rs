//! Answers kept under `Idempotency-Key` (DESIGN §3; the IETF httpapi draft
//! "The Idempotency-Key HTTP Header Field").
//!
//! A request under a key first *claims* the key's slot with a hash of its
//! body. The first claim holds a short lease while the request runs; the
//! request then *finishes* (its answer is kept, for the retention period) or,
//! when it failed, *releases* the lease so that the client's retry may run.
//! Later claims find the answer (same body), the lease (a concurrent attempt:
//! 409) or another body (422).
//!
//! The lease only spares a concurrent duplicate the work: counting exactly
//! once does not rest on it but on the engine's chunk markers, which a
//! retry under the same key names alike. A lease left behind by a node that
//! died, or by a release that failed with the store, simply runs out.
//!
//! A slot is an opaque name the caller derives from its scope and key; the
//! store never sees either.

use std::time::Duration;

use async_trait::async_trait;

use super::EngineError;

/// The answer given to a request, kept to be given again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body as sent.
    pub body: String,
}

/// What claiming a slot found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody holds the slot: run the request, then [`IdempotencyStore::finish`]
    /// or [`IdempotencyStore::release`] with `token`.
    Fresh {
        /// Proves the lease is this attempt's.
        token: String,
        /// When the key's first attempt ran (Unix milliseconds): every
        /// attempt stamps posts that carry no `ts` with it, so that a retry
        /// puts them in the same time buckets as the attempt it completes.
        first_at: i64,
    },
    /// The request was answered before: answer the same.
    Answered(StoredAnswer),
    /// An attempt with the same body holds the lease right now.
    InFlight,
    /// The slot was claimed with another body.
    Mismatch,
}

/// Where answers under idempotency keys are kept; each engine has one, so
/// that every node of a deployment sees the same answers.
///
/// A slot lives for `keep` from its first claim, through failed attempts,
/// so that every attempt shares the first one's time; its lease is only a
/// part of it.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `slot` for a request whose body hashes to `body_hash` at
    /// `now` (Unix milliseconds), holding the lease for at most `lease`
    /// unless finished or released first; a new slot is kept for `keep`.
    async fn claim(
        &self,
        slot: &str,
        body_hash: &str,
        now: i64,
        lease: Duration,
        keep: Duration,
    ) -> Result<Claim, EngineError>;

    /// Keeps `answer`, at `now` (Unix milliseconds), for `keep` and returns
    /// the answer that stands: the first one kept, should another attempt
    /// have finished first.
    async fn finish(
        &self,
        slot: &str,
        body_hash: &str,
        answer: &StoredAnswer,
        now: i64,
        keep: Duration,
    ) -> Result<StoredAnswer, EngineError>;

    /// Gives up, at `now` (Unix milliseconds), the lease taken with `token`
    /// (the request failed and kept no answer); a lease taken since by
    /// another attempt is left alone.
    async fn release(&self, slot: &str, token: &str, now: i64) -> Result<(), EngineError>;
}

/// `now` (Unix milliseconds) plus `span`, saturating.
pub(crate) fn millis_after(now: i64, span: Duration) -> i64 {
    now.saturating_add(i64::try_from(span.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh lease token.
pub(crate) fn new_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
