//! The audit log: one JSON entry per operator or commander action, read
//! back newest first by operators.

use async_trait::async_trait;

use super::EngineError;

/// Where the audit trail is kept.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends one entry (JSON) to the audit log at `now` (Unix seconds),
    /// from which its retention runs.
    async fn append_audit(&self, entry: &str, now: i64) -> Result<(), EngineError>;

    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError>;
}
