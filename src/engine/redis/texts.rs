//! The Redis engine's [`TextLog`]: one stream in the `{texts}` slot, written
//! by `put_texts.lua` once per chunk, trimmed to the retention period by
//! entry id, and the operators' cluster decisions in a hash beside it.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::{Script, cmd};

use super::{RedisEngine, unavailable};
use crate::engine::texts::{TEXT_READ_MAX, TextEntry, TextKey, TextLog};
use crate::engine::{Bucketed, EngineError};

static PUT_TEXTS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/put_texts.lua")));

/// A stream entry as read back: its id and fields.
type Entries = Vec<(String, HashMap<String, String>)>;

impl RedisEngine {
    /// Stores the texts of a chunk's new items, once per chunk `name`.
    pub(super) async fn put_texts<'a>(
        &self,
        name: &str,
        fresh: impl Iterator<Item = &'a Bucketed>,
        now: i64,
    ) -> Result<(), EngineError> {
        let bodies: Vec<&str> = fresh.filter_map(|item| item.text.as_deref()).collect();
        if bodies.is_empty() {
            return Ok(());
        }
        let keep = self.layout.dedup_secs.max(1);
        PUT_TEXTS
            .key(self.keys.text_chunk(name))
            .key(self.keys.text_log())
            .arg(keep)
            .arg(TextKey::at_secs(now - keep).ms)
            .arg(bodies)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

impl RedisEngine {
    /// One page of the log: `XRANGE` from `from` to `to`, or `XREVRANGE`
    /// from `to` down to `from`, at most `limit` entries.
    async fn read_texts(
        &self,
        command: &str,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<TextEntry>, EngineError> {
        let read: Entries = cmd(command)
            .arg(self.keys.text_log())
            .arg(from)
            .arg(to)
            .arg("COUNT")
            .arg(limit.clamp(1, TEXT_READ_MAX))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(entries(read))
    }
}

fn entries(read: Entries) -> Vec<TextEntry> {
    read.into_iter()
        .filter_map(|(id, mut fields)| {
            Some(TextEntry {
                key: id.parse().ok()?,
                body: fields.remove("b")?,
            })
        })
        .collect()
}

#[async_trait]
impl TextLog for RedisEngine {
    async fn texts_after(&self, after: TextKey, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        self.read_texts("XRANGE", &format!("({after}"), "+", limit).await
    }

    async fn texts_before(&self, before: Option<TextKey>, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        let end = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
        self.read_texts("XREVRANGE", &end, "-", limit).await
    }

    async fn text(&self, key: TextKey) -> Result<Option<TextEntry>, EngineError> {
        let read: Entries = cmd("XRANGE")
            .arg(self.keys.text_log())
            .arg(key.to_string())
            .arg(key.to_string())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(entries(read).into_iter().next())
    }

    async fn put_cluster_decision(&self, cluster: &str, body: &str, _now: i64) -> Result<(), EngineError> {
        let key = self.keys.text_clusters();
        let _: () = redis::pipe()
            .atomic()
            .hset(&key, cluster, body)
            .ignore()
            .expire(&key, self.layout.dedup_secs.max(1))
            .ignore()
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn cluster_decisions(&self) -> Result<Vec<String>, EngineError> {
        cmd("HVALS")
            .arg(self.keys.text_clusters())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}
