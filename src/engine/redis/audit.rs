//! The Redis engine's [`AuditLog`]: one stream, capped in length and kept
//! for a while after its last entry.

use std::collections::HashMap;

use async_trait::async_trait;
use redis::cmd;

use super::{RedisEngine, unavailable};
use crate::engine::{AUDIT_RETENTION_SECS, AuditLog, EngineError, Page};

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
            .expire(&key, AUDIT_RETENTION_SECS)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.replicated().await
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

    async fn audit_between(&self, from: i64, to: i64, cursor: Option<&str>, limit: usize) -> Result<Page, EngineError> {
        // Stream ids are Redis's milliseconds: a range of seconds is a range
        // of ids, and the last id read is where the next page starts (after it).
        let start = match cursor {
            Some(id) => format!("({id}"),
            None => (from.max(0).saturating_mul(1000)).to_string(),
        };
        let end = format!("{}", to.max(0).saturating_mul(1000).saturating_add(999));
        let entries: Vec<(String, HashMap<String, String>)> = cmd("XRANGE")
            .arg(self.keys.audit())
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let next = if entries.len() == limit && limit > 0 {
            entries.last().map(|(id, _)| id.clone())
        } else {
            None
        };
        Ok(Page {
            items: entries
                .into_iter()
                .filter_map(|(_, mut fields)| fields.remove("entry"))
                .collect(),
            next,
        })
    }
}
