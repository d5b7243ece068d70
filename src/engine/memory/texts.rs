//! The memory engine's [`TextLog`]: texts in the order stored, keyed by the
//! caller's clock, forgotten after the retention period.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;

use super::{MemoryEngine, lock};
use crate::engine::texts::{TEXT_READ_MAX, TextEntry, TextKey, TextLog};
use crate::engine::{EngineError, Layout};

#[derive(Default)]
pub(super) struct Texts {
    entries: VecDeque<TextEntry>,
    last: TextKey,
    /// cluster → (decision, when it is forgotten).
    decisions: HashMap<String, (String, i64)>,
}

impl Texts {
    /// Appends `body` at `now` (Unix seconds): keys follow the caller's
    /// clock but never go back, as a stream's do.
    pub(super) fn append(&mut self, body: Arc<str>, now: i64, layout: &Layout) {
        let ms = TextKey::at_secs(now).ms;
        self.last = if ms > self.last.ms {
            TextKey { ms, seq: 0, index: 0 }
        } else {
            TextKey {
                ms: self.last.ms,
                seq: self.last.seq + 1,
                index: 0,
            }
        };
        self.entries.push_back(TextEntry { key: self.last, body });
        let oldest = TextKey::at_secs(now - layout.dedup_secs);
        while self.entries.front().is_some_and(|e| e.key < oldest) {
            self.entries.pop_front();
        }
    }
}

#[async_trait]
impl TextLog for MemoryEngine {
    async fn texts_after(&self, after: TextKey, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        let texts = lock(&self.texts, "texts")?;
        let start = texts.entries.partition_point(|e| e.key <= after);
        Ok(texts
            .entries
            .range(start..)
            .take(limit.min(TEXT_READ_MAX))
            .cloned()
            .collect())
    }

    async fn texts_before(&self, before: Option<TextKey>, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        let texts = lock(&self.texts, "texts")?;
        let end = before.map_or(texts.entries.len(), |b| texts.entries.partition_point(|e| e.key < b));
        Ok(texts
            .entries
            .range(..end)
            .rev()
            .take(limit.min(TEXT_READ_MAX))
            .cloned()
            .collect())
    }

    async fn text(&self, key: TextKey) -> Result<Option<TextEntry>, EngineError> {
        let texts = lock(&self.texts, "texts")?;
        Ok(texts
            .entries
            .binary_search_by(|e| e.key.cmp(&key))
            .ok()
            .and_then(|i| texts.entries.get(i).cloned()))
    }

    async fn put_cluster_decision(&self, cluster: &str, body: &str, now: i64) -> Result<(), EngineError> {
        let mut texts = lock(&self.texts, "texts")?;
        texts.decisions.retain(|_, (_, until)| *until > now);
        texts
            .decisions
            .insert(cluster.to_owned(), (body.to_owned(), now + self.layout.dedup_secs));
        Ok(())
    }

    async fn cluster_decisions(&self) -> Result<Vec<String>, EngineError> {
        let texts = lock(&self.texts, "texts")?;
        Ok(texts.decisions.values().map(|(body, _)| body.clone()).collect())
    }
}
