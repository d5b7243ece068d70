//! The Redis engine's [`ReportStore`]: one string per report, an index by
//! arrival time and a stream of every body stored, all in the `{reports}`
//! slot so that storing, indexing and announcing are one step. Each node
//! follows the stream from the last entry it saw.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::{Script, cmd};
use tokio::sync::broadcast;

use super::{RedisEngine, unavailable};
use crate::engine::{EngineError, Page, ReportStore};

/// Stream entries kept at most (approximately: `MAXLEN ~`).
const CHANGES_KEPT: u64 = 10_000;

static SWAP_REPORT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/swap_report.lua")));

impl RedisEngine {
    /// The bodies of the reports `ids` names, in that order: a report past
    /// its retention leaves its body before its index entry, and is left out.
    async fn report_bodies(&self, ids: &[String]) -> Result<Vec<String>, EngineError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.report(id)).collect();
        let bodies: Vec<Option<String>> = cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(bodies.into_iter().flatten().collect())
    }
}

#[async_trait]
impl ReportStore for RedisEngine {
    async fn put_report(&self, id: &str, body: &str, received_at: i64) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        let ttl = self.layout.dedup_secs.max(1);
        let index = self.keys.report_index();
        let changes = self.keys.report_changes();
        // One slot ({reports}), one transaction: stored, indexed and
        // announced together.
        let _: () = redis::pipe()
            .atomic()
            .set_ex(self.keys.report(id), body, ttl as u64)
            .ignore()
            .zadd(&index, id, received_at)
            .ignore()
            .zrembyscore(&index, "-inf", format!("({}", received_at - ttl))
            .ignore()
            .expire(&index, ttl)
            .ignore()
            .cmd("XADD")
            .arg(&changes)
            .arg("MAXLEN")
            .arg("~")
            .arg(CHANGES_KEPT)
            .arg("*")
            .arg("body")
            .arg(body)
            .ignore()
            .expire(&changes, ttl)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        self.replicated().await
    }

    async fn swap_report(&self, id: &str, expected: &str, body: &str, _received_at: i64) -> Result<bool, EngineError> {
        let swapped = SWAP_REPORT
            .key(self.keys.report(id))
            .key(self.keys.report_changes())
            .arg(expected)
            .arg(body)
            .arg(self.layout.dedup_secs.max(1))
            .arg(CHANGES_KEPT)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        // A swap refused wrote nothing to wait for.
        if swapped {
            self.replicated().await?;
        }
        Ok(swapped)
    }

    async fn report(&self, id: &str) -> Result<Option<String>, EngineError> {
        cmd("GET")
            .arg(self.keys.report(id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn reports(&self, since: i64) -> Result<Vec<String>, EngineError> {
        let ids: Vec<String> = cmd("ZRANGEBYSCORE")
            .arg(self.keys.report_index())
            .arg(since)
            .arg("+inf")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.report_bodies(&ids).await
    }

    async fn reports_between(
        &self,
        from: i64,
        to: i64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        // The index orders equal times by id.
        let ids = self
            .scored_page(self.keys.report_index(), from, to, cursor, limit)
            .await?;
        Ok(Page {
            items: self.report_bodies(&ids.items).await?,
            next: ids.next,
        })
    }

    fn report_feed(&self) -> broadcast::Receiver<String> {
        self.report_feed.subscribe()
    }
}
