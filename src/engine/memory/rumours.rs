//! The memory engine's [`RumourStore`]: entries by id with the time each was
//! last written, pruned when written to.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{MemoryEngine, lock};
use crate::engine::{EngineError, RumourStore};

/// id → (last written at, body).
pub(super) type Rumours = HashMap<String, (i64, String)>;

#[async_trait]
impl RumourStore for MemoryEngine {
    async fn put_rumour(&self, id: &str, body: &str, now: i64) -> Result<(), EngineError> {
        let mut stored = lock(&self.rumours, "rumours")?;
        let oldest = now - self.layout.broadcast_secs;
        stored.retain(|_, (at, _)| *at >= oldest);
        stored.insert(id.to_owned(), (now, body.to_owned()));
        Ok(())
    }

    async fn swap_rumour(&self, id: &str, expected: &str, body: &str, now: i64) -> Result<bool, EngineError> {
        let mut stored = lock(&self.rumours, "rumours")?;
        if stored.get(id).is_none_or(|(_, current)| current != expected) {
            return Ok(false);
        }
        stored.insert(id.to_owned(), (now, body.to_owned()));
        Ok(true)
    }

    async fn rumour(&self, id: &str) -> Result<Option<String>, EngineError> {
        Ok(lock(&self.rumours, "rumours")?.get(id).map(|(_, body)| body.clone()))
    }

    async fn rumours(&self) -> Result<Vec<String>, EngineError> {
        let stored = lock(&self.rumours, "rumours")?;
        let mut all: Vec<(&String, &(i64, String))> = stored.iter().collect();
        // Ties broken by id, so that both engines list alike.
        all.sort_by(|(a_id, (a_at, _)), (b_id, (b_at, _))| a_at.cmp(b_at).then(a_id.cmp(b_id)));
        Ok(all.into_iter().map(|(_, (_, body))| body.clone()).collect())
    }
}
