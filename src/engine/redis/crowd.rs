//! The Redis engine's [`CrowdStore`]: head-counts in one sorted set by the
//! time they were taken, and each window's zone minutes in a sorted set by
//! minute, written once per minute by whichever node reads it first.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::{RedisEngine, unavailable};
use crate::engine::crowd::{HEADCOUNT_RETENTION_SECS, Headcount, ZONE_MINUTE_RETENTION_SECS, ZoneMinute};
use crate::engine::{CrowdStore, EngineError};

static RECORD_ZONE_MINUTE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/record_zone_minute.lua")));

fn encode<T: serde::Serialize>(value: &T) -> Result<String, EngineError> {
    serde_json::to_string(value).map_err(|e| EngineError::Unavailable(format!("cannot encode: {e}")))
}

/// Decodes what this engine wrote; an entry another version wrote in a
/// shape this one cannot read is skipped rather than failing every read.
fn decode_all<T: serde::de::DeserializeOwned>(raw: Vec<String>, what: &str) -> Vec<T> {
    raw.iter()
        .filter_map(|entry| match serde_json::from_str(entry) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable {what} in Redis skipped");
                None
            }
        })
        .collect()
}

#[async_trait]
impl CrowdStore for RedisEngine {
    async fn add_headcount(&self, headcount: &Headcount, now: i64) -> Result<(), EngineError> {
        let key = self.keys.headcounts();
        redis::pipe()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(format!("({}", now - HEADCOUNT_RETENTION_SECS))
            .ignore()
            .cmd("ZADD")
            .arg(&key)
            .arg(headcount.at)
            .arg(encode(headcount)?)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(HEADCOUNT_RETENTION_SECS)
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.replicated().await
    }

    async fn headcounts_since(&self, since: i64) -> Result<Vec<Headcount>, EngineError> {
        let raw: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.headcounts())
            .arg(since)
            .arg("+inf")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(decode_all(raw, "head-count"))
    }

    async fn record_zone_minute(&self, window_secs: i64, minute: &ZoneMinute, now: i64) -> Result<(), EngineError> {
        let _recorded: i64 = RECORD_ZONE_MINUTE
            .key(self.keys.zone_minutes(window_secs))
            .arg(minute.minute)
            .arg(encode(minute)?)
            .arg(now - ZONE_MINUTE_RETENTION_SECS)
            .arg(ZONE_MINUTE_RETENTION_SECS)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn zone_minutes(&self, window_secs: i64, since: i64) -> Result<Vec<ZoneMinute>, EngineError> {
        let raw: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.zone_minutes(window_secs))
            .arg(since)
            .arg("+inf")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(decode_all(raw, "zone minute"))
    }
}
