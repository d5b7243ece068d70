//! The Redis engine's [`IdempotencyStore`]: one hash per slot (its key in
//! `keys.rs`), with fields `hash` (of the body), `first_at`,
//! `token` and `lease_until` while an attempt runs, `status` and `body` once
//! answered; the key expires `keep` after the first claim. The caller's clock
//! decides the lease; the key's expiry is relative to Redis's, so that a
//! caller whose clock is behind cannot set it in the past. Each key is its own hash tag, so on a Redis Cluster the slots
//! spread over the nodes while each script still touches one key.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::keys::Keys;
use super::{Conn, unavailable};
use crate::engine::EngineError;
use crate::engine::idempotency::{Claim, IdempotencyStore, StoredAnswer, new_token};

static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/idempotency_claim.lua")));
static FINISH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/idempotency_finish.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/idempotency_release.lua")));

/// Answers under idempotency keys, in the engine's Redis.
pub struct RedisIdempotency {
    conn: Conn,
    keys: Keys,
    /// Leases this node could not release because Redis was down: slot →
    /// (token, when). The client's retry usually comes back to this node
    /// once Redis is up again; it releases the lease then instead of
    /// answering 409 until the lease runs out. The time is the caller's
    /// (Unix milliseconds).
    unreleased: Mutex<HashMap<String, (String, i64)>>,
}

/// Unreleased leases remembered at most: beyond, the oldest are left to run out.
const UNRELEASED_MAX: usize = 10_000;

impl RedisIdempotency {
    pub(super) fn new(conn: Conn, keys: Keys) -> Self {
        Self {
            conn,
            keys,
            unreleased: Mutex::default(),
        }
    }

    fn unreleased(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, i64)>> {
        self.unreleased
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn release_now(&self, slot: &str, token: &str) -> Result<(), EngineError> {
        self.eval::<i64>(&RELEASE, slot, &[token]).await.map(drop)
    }

    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        slot: &str,
        args: &[&str],
    ) -> Result<T, EngineError> {
        let mut invocation = script.key(self.keys.idempotency(slot));
        for a in args {
            invocation.arg(*a);
        }
        invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}

/// How long a slot is kept, in milliseconds: relative, never a time of the
/// caller's clock, which may be behind Redis's.
fn kept_millis(keep: Duration) -> String {
    keep.as_millis().clamp(1, i64::MAX as u128).to_string()
}

fn answer(status: Option<&String>, body: Option<&String>) -> Result<StoredAnswer, EngineError> {
    let status = status
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| EngineError::Unavailable("an idempotency slot holds no valid status".into()))?;
    Ok(StoredAnswer {
        status,
        body: body.cloned().unwrap_or_default(),
    })
}

#[async_trait]
impl IdempotencyStore for RedisIdempotency {
    async fn claim(
        &self,
        slot: &str,
        body_hash: &str,
        now: i64,
        lease: Duration,
        keep: Duration,
    ) -> Result<Claim, EngineError> {
        let left = self.unreleased().get(slot).cloned();
        if let Some((left_token, _)) = left {
            self.release_now(slot, &left_token).await?;
            self.unreleased().remove(slot);
        }
        let token = new_token();
        let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2));
        let args = [
            body_hash,
            &token,
            &now.to_string(),
            &lease_until.to_string(),
            &kept_millis(keep),
        ];
        let reply: Vec<String> = self.eval(&CLAIM, slot, &args).await?;
        match reply.first().map(String::as_str) {
            Some("fresh") => Ok(Claim::Fresh {
                token,
                first_at: reply.get(1).and_then(|t| t.parse().ok()).unwrap_or(now),
            }),
            Some("answered") => Ok(Claim::Answered(answer(reply.get(1), reply.get(2))?)),
            Some("in_flight") => Ok(Claim::InFlight),
            Some("mismatch") => Ok(Claim::Mismatch),
            _ => Err(EngineError::Unavailable(
                "unexpected reply to an idempotency claim".into(),
            )),
        }
    }

    async fn finish(
        &self,
        slot: &str,
        body_hash: &str,
        stored: &StoredAnswer,
        _now: i64,
        keep: Duration,
    ) -> Result<StoredAnswer, EngineError> {
        let status = stored.status.to_string();
        let reply: Vec<String> = self
            .eval(&FINISH, slot, &[body_hash, &status, &stored.body, &kept_millis(keep)])
            .await?;
        answer(reply.first(), reply.get(1))
    }

    async fn release(&self, slot: &str, token: &str, now: i64) -> Result<(), EngineError> {
        let released = self.release_now(slot, token).await;
        if released.is_err() {
            let mut unreleased = self.unreleased();
            if unreleased.len() >= UNRELEASED_MAX {
                let cutoff = now.saturating_sub(300_000);
                unreleased.retain(|_, (_, at)| *at > cutoff);
                if unreleased.len() >= UNRELEASED_MAX {
                    unreleased.clear();
                }
            }
            unreleased.insert(slot.to_owned(), (token.to_owned(), now));
        }
        released
    }
}
