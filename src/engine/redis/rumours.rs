//! The Redis engine's [`RumourStore`]: one string per entry and an index by
//! last write, both in the `{rumours}` slot so that a compare-and-set and
//! its index update are one step, on one server as on a cluster.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::{Script, cmd};

use super::{RedisEngine, unavailable};
use crate::engine::{EngineError, RumourStore};

static SWAP_RUMOUR: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/swap_rumour.lua")));

impl RedisEngine {
    fn rumour_secs(&self) -> i64 {
        self.layout.broadcast_secs.max(1)
    }
}

#[async_trait]
impl RumourStore for RedisEngine {
    async fn put_rumour(&self, id: &str, body: &str, now: i64) -> Result<(), EngineError> {
        let ttl = self.rumour_secs();
        let index = self.keys.rumour_index();
        let key = self.keys.rumour(id);
        // Expiry as a time from the caller's now, as every store sets it,
        // so that both engines forget alike.
        let _: () = redis::pipe()
            .atomic()
            .set(&key, body)
            .ignore()
            .expire_at(&key, now + ttl)
            .ignore()
            .zadd(&index, id, now)
            .ignore()
            .zrembyscore(&index, "-inf", format!("({}", now - ttl))
            .ignore()
            .expire_at(&index, now + ttl)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.replicated().await
    }

    async fn swap_rumour(&self, id: &str, expected: &str, body: &str, now: i64) -> Result<bool, EngineError> {
        let swapped = SWAP_RUMOUR
            .key(self.keys.rumour(id))
            .key(self.keys.rumour_index())
            .arg(expected)
            .arg(body)
            .arg(self.rumour_secs())
            .arg(now)
            .arg(id)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        // A swap refused wrote nothing to wait for.
        if swapped {
            self.replicated().await?;
        }
        Ok(swapped)
    }

    async fn rumour(&self, id: &str) -> Result<Option<String>, EngineError> {
        cmd("GET")
            .arg(self.keys.rumour(id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn rumours(&self) -> Result<Vec<String>, EngineError> {
        let mut conn = self.conn.clone();
        // By score, then by id for ties: the memory engine's order.
        let ids: Vec<String> = cmd("ZRANGE")
            .arg(self.keys.rumour_index())
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.rumour(id)).collect();
        let bodies: Vec<Option<String>> = cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        // An entry past its retention is gone though its id may linger in
        // the index until the next write prunes it.
        Ok(bodies.into_iter().flatten().collect())
    }
}
