//! The memory engine's [`AuditLog`]: the newest entries with the time each
//! was appended, capped in number since nothing else bounds a process's
//! memory.

use std::collections::VecDeque;

use async_trait::async_trait;

use super::{MemoryEngine, lock};
use crate::engine::{AuditLog, EngineError, Page};

/// Audit entries kept in memory.
const AUDIT_MAX: usize = 100_000;

/// Entries, oldest first, each numbered so that a page cursor stays right
/// while older entries leave.
#[derive(Default)]
pub(super) struct Audit {
    last_seq: u64,
    /// (number, appended at, entry).
    entries: VecDeque<(u64, i64, String)>,
}

#[async_trait]
impl AuditLog for MemoryEngine {
    async fn append_audit(&self, entry: &str, now: i64) -> Result<(), EngineError> {
        let mut audit = lock(&self.audit, "audit log")?;
        audit.last_seq += 1;
        let seq = audit.last_seq;
        audit.entries.push_back((seq, now, entry.to_owned()));
        if audit.entries.len() > AUDIT_MAX {
            audit.entries.pop_front();
        }
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError> {
        Ok(lock(&self.audit, "audit log")?
            .entries
            .iter()
            .rev()
            .take(limit)
            .map(|(_, _, entry)| entry.clone())
            .collect())
    }

    async fn audit_between(&self, from: i64, to: i64, cursor: Option<&str>, limit: usize) -> Result<Page, EngineError> {
        let after: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let audit = lock(&self.audit, "audit log")?;
        let mut last = None;
        let mut items = Vec::new();
        let mut more = false;
        for (seq, _, entry) in audit
            .entries
            .iter()
            .filter(|(seq, at, _)| *seq > after && (from..=to).contains(at))
        {
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(entry.clone());
            last = Some(*seq);
        }
        Ok(Page {
            items,
            next: if more { last.map(|s| s.to_string()) } else { None },
        })
    }
}
