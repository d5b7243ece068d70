//! The Redis engine's [`TextLog`]: one stream in the `{texts}` slot, one
//! entry a chunk written by `put_texts.lua` (its texts one a line: a body is
//! JSON, which never holds a raw line break), trimmed to the retention
//! period by entry id, and the operators' cluster decisions in a hash
//! beside it.
//!
//! One entry a chunk rather than one a text: at 20,000 posts/s, 20 entries
//! a second instead of 20,000 for Redis's one core to add, and for every
//! node's follower to read back and parse.

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

/// Entries read per command: a chunk holds up to a thousand texts.
const ENTRIES_PER_READ: usize = 32;

impl RedisEngine {
    /// Stores the texts of a chunk's new items, once per chunk `name`.
    pub(super) async fn put_texts<'a>(
        &self,
        name: &str,
        fresh: impl Iterator<Item = &'a Bucketed>,
        now: i64,
    ) -> Result<(), EngineError> {
        let mut lines = String::new();
        for body in fresh.filter_map(|item| item.text.as_deref()) {
            if !lines.is_empty() {
                lines.push('\n');
            }
            lines.push_str(body);
        }
        if lines.is_empty() {
            return Ok(());
        }
        let keep = self.layout.dedup_secs.max(1);
        PUT_TEXTS
            .key(self.keys.text_chunk(name))
            .key(self.keys.text_log())
            .arg(keep)
            .arg(TextKey::at_secs(now - keep).ms)
            .arg(lines)
            .invoke_async::<i64>(&mut self.conn.clone())
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// Entries of the log: `XRANGE` from `from` to `to`, or `XREVRANGE`
    /// from `to` down to `from`, at most [`ENTRIES_PER_READ`].
    async fn read_entries(&self, command: &str, from: &str, to: &str) -> Result<Vec<Entry>, EngineError> {
        let read: Entries = cmd(command)
            .arg(self.keys.text_log())
            .arg(from)
            .arg(to)
            .arg("COUNT")
            .arg(ENTRIES_PER_READ)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(read
            .into_iter()
            .filter_map(|(id, mut fields)| {
                Some(Entry {
                    key: id.parse().ok()?,
                    lines: fields.remove("b")?,
                })
            })
            .collect())
    }
}

/// Which way [`RedisEngine::walk`] reads the log.
#[derive(Clone, Copy, PartialEq)]
enum Walk {
    Forwards,
    Backwards,
}

impl RedisEngine {
    /// Texts from the entry at `start` on, in the direction given, those
    /// whose key `wanted` accepts, at most `limit` (capped at
    /// [`TEXT_READ_MAX`]): as many entries are read as that takes.
    async fn walk(
        &self,
        direction: Walk,
        mut start: String,
        wanted: impl Fn(TextKey) -> bool,
        limit: usize,
    ) -> Result<Vec<TextEntry>, EngineError> {
        let limit = limit.clamp(1, TEXT_READ_MAX);
        let mut out = Vec::new();
        loop {
            let entries = match direction {
                Walk::Forwards => self.read_entries("XRANGE", &start, "+").await?,
                Walk::Backwards => self.read_entries("XREVRANGE", &start, "-").await?,
            };
            for entry in &entries {
                let mut texts = entry.texts();
                if direction == Walk::Backwards {
                    texts.reverse();
                }
                for text in texts.into_iter().filter(|t| wanted(t.key)) {
                    out.push(text);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            match entries.last() {
                Some(last) if entries.len() == ENTRIES_PER_READ => start = format!("({}", last.key),
                _ => return Ok(out),
            }
        }
    }
}

/// One entry: a chunk's texts.
struct Entry {
    key: TextKey,
    lines: String,
}

impl Entry {
    /// Its texts, first to last.
    fn texts(&self) -> Vec<TextEntry> {
        self.lines
            .split('\n')
            .zip(0u32..)
            .map(|(body, index)| TextEntry {
                key: TextKey { index, ..self.key },
                body: body.into(),
            })
            .collect()
    }
}

#[async_trait]
impl TextLog for RedisEngine {
    async fn texts_after(&self, after: TextKey, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        // The entry `after` is in may hold texts after it.
        self.walk(Walk::Forwards, after.entry().to_string(), |key| key > after, limit)
            .await
    }

    async fn texts_before(&self, before: Option<TextKey>, limit: usize) -> Result<Vec<TextEntry>, EngineError> {
        let start = before.map_or_else(|| "+".to_owned(), |b| b.entry().to_string());
        self.walk(Walk::Backwards, start, |key| before.is_none_or(|b| key < b), limit)
            .await
    }

    async fn text(&self, key: TextKey) -> Result<Option<TextEntry>, EngineError> {
        let id = key.entry().to_string();
        let entries = self.read_entries("XRANGE", &id, &id).await?;
        Ok(entries.iter().flat_map(Entry::texts).find(|t| t.key == key))
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
        self.replicated().await
    }

    async fn cluster_decisions(&self) -> Result<Vec<String>, EngineError> {
        cmd("HVALS")
            .arg(self.keys.text_clusters())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}
