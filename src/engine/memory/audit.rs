//! The memory engine's [`AuditLog`]: the newest entries, capped in number
//! since nothing else bounds a process's memory.

use std::collections::VecDeque;

use async_trait::async_trait;

use super::{MemoryEngine, lock};
use crate::engine::{AuditLog, EngineError};

/// Audit entries kept in memory.
const AUDIT_MAX: usize = 100_000;

/// Entries, oldest first.
#[derive(Default)]
pub(super) struct Audit {
    entries: VecDeque<String>,
}

#[async_trait]
impl AuditLog for MemoryEngine {
    async fn append_audit(&self, entry: &str, _now: i64) -> Result<(), EngineError> {
        let mut audit = lock(&self.audit, "audit log")?;
        audit.entries.push_back(entry.to_owned());
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
            .cloned()
            .collect())
    }
}
