//! The embedded engine: everything in one process, nothing to install.
//!
//! Each store keeps its state behind a mutex of its own, so that a long
//! count read never holds up a broadcast. Critical sections are short (a
//! batch update or a read of one resolution) and there is one writer path
//! per store, so a sharded design would buy little here;
//! `benches/pipeline.rs` measures it.

mod alerts;
mod audit;
mod broadcast_log;
mod counts;
mod crowd;
mod idempotency;
mod reports;
mod rumours;
mod texts;

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

pub use idempotency::MemoryIdempotency;

use super::idempotency::IdempotencyStore;
use super::{Engine, EngineError, Layout, Page, offset_cursor};

/// The in-process engine.
pub struct MemoryEngine {
    layout: Layout,
    counts: Mutex<counts::Counts>,
    broadcasts: broadcast_log::Broadcasts,
    reports: reports::Reports,
    rumours: Mutex<rumours::Rumours>,
    alerts: alerts::Alerts,
    crowd: crowd::Crowd,
    texts: Mutex<texts::Texts>,
    audit: Mutex<audit::Audit>,
    idempotency: Arc<MemoryIdempotency>,
}

impl MemoryEngine {
    /// An empty engine with this layout; its broadcast log starts a new
    /// epoch.
    pub fn new(layout: Layout) -> Self {
        Self::with_epoch(layout, super::broadcast_log::new_epoch())
    }

    /// An empty engine whose broadcast log continues `epoch`: the durable
    /// engine's, replayed from its data directory.
    pub(crate) fn with_epoch(layout: Layout, epoch: String) -> Self {
        Self {
            layout,
            counts: Mutex::default(),
            broadcasts: broadcast_log::Broadcasts::new(epoch),
            reports: reports::Reports::new(),
            rumours: Mutex::default(),
            alerts: alerts::Alerts::new(),
            crowd: crowd::Crowd::default(),
            texts: Mutex::default(),
            audit: Mutex::default(),
            idempotency: Arc::default(),
        }
    }

    /// Its idempotency store as the concrete type, for the durable engine.
    pub(crate) fn memory_idempotency(&self) -> &Arc<MemoryIdempotency> {
        &self.idempotency
    }
}

/// Takes a store's lock; a panic under it earlier makes the store
/// unavailable rather than the process.
fn lock<'a, T>(mutex: &'a Mutex<T>, what: &str) -> Result<MutexGuard<'a, T>, EngineError> {
    mutex
        .lock()
        .map_err(|_| EngineError::Unavailable(format!("memory engine {what} poisoned by an earlier panic")))
}

/// The page from `cursor` (an [`offset_cursor`]) of a whole range already
/// in the order Redis keeps it: the memory engine reads on as Redis does.
fn offset_page<T>(sorted: &[T], cursor: Option<&str>, limit: usize, body: impl Fn(&T) -> String) -> Page {
    let start = offset_cursor(cursor);
    let items: Vec<String> = sorted.iter().skip(start).take(limit).map(body).collect();
    let next = (start + items.len() < sorted.len() && !items.is_empty()).then(|| (start + items.len()).to_string());
    Page { items, next }
}

#[async_trait]
impl Engine for MemoryEngine {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), EngineError> {
        lock(&self.counts, "counts").map(drop)
    }

    fn idempotency(&self) -> Arc<dyn IdempotencyStore> {
        self.idempotency.clone()
    }
}
