//! The audit log: one JSON entry per operator or commander action, read
//! back newest first by operators.

use async_trait::async_trait;

use super::EngineError;

/// How long audit entries are kept after the last one: longer than any
/// other record, since the audit trail is what an after-action review
/// asks about first.
pub const AUDIT_RETENTION_SECS: i64 = 30 * 24 * 3600;

/// Where the audit trail is kept.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends one entry (JSON) to the audit log at `now` (Unix seconds),
    /// from which its retention runs.
    async fn append_audit(&self, entry: &str, now: i64) -> Result<(), EngineError>;

    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<String>, EngineError>;

    /// Entries appended in `[from, to]` (Unix seconds; on Redis by its own
    /// clock, which numbers the stream), oldest first, at most `limit` of
    /// them, from `cursor` (the `next` of the page before; `None` for the
    /// first).
    async fn audit_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<super::Page, EngineError>;
}
