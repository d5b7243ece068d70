//! The rumour store: the register's entries (DESIGN §10), kept as long as
//! broadcasts, and replaced by compare-and-set so that concurrent changes
//! of one entry happen one after the other.

use async_trait::async_trait;

use super::EngineError;

/// Where the rumour register is kept. Entries are opaque bodies (JSON) to
/// the engine; each is kept for [`super::Layout::broadcast_secs`] after it
/// was last written, as the broadcasts that answer it are.
#[async_trait]
pub trait RumourStore: Send + Sync + 'static {
    /// Stores (or replaces) entry `id` at `now` (Unix seconds), from which
    /// its retention runs.
    async fn put_rumour(&self, id: &str, body: &str, now: i64) -> Result<(), EngineError>;

    /// Replaces entry `id` with `body` only if it is still stored as
    /// `expected`; true if this call replaced it. Its retention runs again
    /// from `now`.
    async fn swap_rumour(&self, id: &str, expected: &str, body: &str, now: i64) -> Result<bool, EngineError>;

    /// One retained entry.
    async fn rumour(&self, id: &str) -> Result<Option<String>, EngineError>;

    /// Every retained entry, least recently written first.
    async fn rumours(&self) -> Result<Vec<String>, EngineError>;
}
