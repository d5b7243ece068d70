//! The memory engine's [`IdempotencyStore`]: slots in a map, each with its
//! expiry and its lease in the caller's milliseconds; one process, nothing
//! survives it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::engine::EngineError;
use crate::engine::idempotency::{Claim, IdempotencyStore, StoredAnswer, millis_after, new_token};

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
    /// Ends every lease: the attempts holding them are gone (the durable
    /// engine's replay), so a retry may run at once.
    pub(crate) fn drop_leases(&self) -> Result<(), EngineError> {
        for slot in self.lock()?.by_name.values_mut() {
            slot.lease = None;
        }
        Ok(())
    }

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
