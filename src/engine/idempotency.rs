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

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
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

struct Slot {
    body_hash: String,
    first_at: i64,
    /// The attempt running now: its token and when its lease ends (Unix
    /// milliseconds).
    lease: Option<(String, i64)>,
    answer: Option<StoredAnswer>,
    /// Unix milliseconds.
    expires: i64,
}

#[derive(Default)]
struct Slots {
    by_name: HashMap<String, Slot>,
    /// (expiry, slot) in the order set; an entry whose slot has since been
    /// set again is stale and skipped.
    expiry: VecDeque<(i64, String)>,
}

impl Slots {
    fn purge(&mut self, now: i64) {
        // Every slot keeps the same time, so the queue is in order.
        while let Some((at, _)) = self.expiry.front() {
            if *at > now {
                break;
            }
            if let Some((at, name)) = self.expiry.pop_front()
                && self.by_name.get(&name).is_some_and(|s| s.expires <= at)
            {
                self.by_name.remove(&name);
            }
        }
    }

    fn live(&mut self, name: &str, now: i64) -> Option<&mut Slot> {
        self.by_name.get_mut(name).filter(|s| s.expires > now)
    }

    fn set(&mut self, name: &str, slot: Slot) {
        self.expiry.push_back((slot.expires, name.to_owned()));
        self.by_name.insert(name.to_owned(), slot);
    }
}

/// The memory engine's store: one process, nothing survives it.
#[derive(Default)]
pub struct MemoryIdempotency {
    slots: Mutex<Slots>,
}

impl MemoryIdempotency {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Slots>, EngineError> {
        self.slots
            .lock()
            .map_err(|_| EngineError::Unavailable("idempotency store poisoned by an earlier panic".into()))
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn claim(
        &self,
        slot: &str,
        body_hash: &str,
        now: i64,
        lease: Duration,
        keep: Duration,
    ) -> Result<Claim, EngineError> {
        let mut slots = self.lock()?;
        slots.purge(now);
        let token = new_token();
        if let Some(found) = slots.live(slot, now) {
            if found.body_hash != body_hash {
                return Ok(Claim::Mismatch);
            }
            if let Some(answer) = &found.answer {
                return Ok(Claim::Answered(answer.clone()));
            }
            if found.lease.as_ref().is_some_and(|(_, until)| *until > now) {
                return Ok(Claim::InFlight);
            }
            found.lease = Some((token.clone(), millis_after(now, lease)));
            return Ok(Claim::Fresh {
                token,
                first_at: found.first_at,
            });
        }
        slots.set(
            slot,
            Slot {
                body_hash: body_hash.to_owned(),
                first_at: now,
                lease: Some((token.clone(), millis_after(now, lease))),
                answer: None,
                expires: millis_after(now, keep),
            },
        );
        Ok(Claim::Fresh { token, first_at: now })
    }

    async fn finish(
        &self,
        slot: &str,
        body_hash: &str,
        answer: &StoredAnswer,
        now: i64,
        keep: Duration,
    ) -> Result<StoredAnswer, EngineError> {
        let mut slots = self.lock()?;
        match slots.live(slot, now) {
            Some(found) if found.body_hash != body_hash => Ok(answer.clone()),
            Some(found) => {
                let kept = found.answer.get_or_insert_with(|| answer.clone()).clone();
                found.lease = None;
                Ok(kept)
            }
            // The slot ran out under the request (a keep shorter than it):
            // keep the answer from now.
            None => {
                slots.set(
                    slot,
                    Slot {
                        body_hash: body_hash.to_owned(),
                        first_at: 0,
                        lease: None,
                        answer: Some(answer.clone()),
                        expires: millis_after(now, keep),
                    },
                );
                Ok(answer.clone())
            }
        }
    }

    async fn release(&self, slot: &str, token: &str, _now: i64) -> Result<(), EngineError> {
        let mut slots = self.lock()?;
        if let Some(found) = slots.by_name.get_mut(slot)
            && found.lease.as_ref().is_some_and(|(t, _)| t == token)
        {
            found.lease = None;
        }
        Ok(())
    }
}
