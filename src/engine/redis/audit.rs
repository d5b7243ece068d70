//! The Redis engine's [`AuditLog`]: one stream, capped in length and kept
//! for a while after its last entry.

use std::collections::HashMap;

use async_trait::async_trait;
use redis::cmd;

use super::{RedisEngine, unavailable};
use crate::engine::{AuditLog, EngineError};

/// Audit entries are kept this long after the last one.
const AUDIT_TTL_SECS: i64 = 30 * 24 * 3600;

/// Entries kept at most (approximately: `MAXLEN ~`).
const AUDIT_KEPT: u64 = 100_000;

#[async_trait]
impl AuditLog for RedisEngine {
    async fn append_audit(&self, entry: &str, _now: i64) -> Result<(), EngineError> {
        let key = self.keys.audit();
        let _: (String, i64) = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(AUDIT_KEPT)
            .arg("*")
            .arg("entry")
            .arg(entry)
            // Relative: a time of the caller's clock could be in Redis's past.
            .expire(&key, AUDIT_TTL_SECS)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError> {
        let entries: Vec<(String, HashMap<String, String>)> = cmd("XREVRANGE")
            .arg(self.keys.audit())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(entries
            .into_iter()
            .filter_map(|(_, mut fields)| fields.remove("entry"))
            .collect())
    }
}
