//! The production engine: Redis, durable with Redis persistence and shared by
//! every node of a deployment.
//!
//! # Key layout (all under the configured prefix, default `campanile:`)
//! | key | type | holds | expires |
//! |---|---|---|---|
//! | `seen:{source}:{id}` | string | a post id already counted | retention (default 24 h) |
//! | `count:{res}:{bucket}` | hash | cell → items in that time bucket | when the longest window has slid past the bucket |
//! | `last:{cell}` | sorted set | contributor hash → last bucket seen in the cell | longest window after the last write; trimmed on write |
//!
//! Writes go through one Lua script per chunk of a batch (`ingest.lua`) so
//! that de-duplication and counting are one atomic step.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use h3o::CellIndex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use super::{CellCount, CountQuery, Engine, EngineError, IngestOutcome, Layout, timed};
use crate::ingest::Bucketed;

/// Posts per script call: large enough to amortise the round trip, small
/// enough that one call never blocks Redis for long.
const CHUNK: usize = 500;

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key.
    pub prefix: String,
    /// Give up on a call after this long, so that a dead Redis yields a
    /// prompt 503 instead of a hung request.
    pub response_timeout: Duration,
}

/// The Redis engine.
pub struct RedisEngine {
    conn: ConnectionManager,
    layout: Layout,
    prefix: String,
    ingest_script: Script,
}

fn unavailable(e: redis::RedisError) -> EngineError {
    EngineError::Unavailable(e.to_string())
}

impl RedisEngine {
    /// Connects to Redis; fails if it cannot be reached now.
    pub async fn connect(options: &RedisOptions, layout: Layout) -> Result<Self, EngineError> {
        let client = Client::open(options.url.as_str()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.response_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            layout,
            prefix: options.prefix.clone(),
            ingest_script: Script::new(include_str!("ingest.lua")),
        })
    }

    async fn ingest_chunk(&self, chunk: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        let resolutions: Vec<u8> = self.layout.resolutions.iter().map(u8::from).collect();
        let oldest = self.layout.oldest_useful_bucket(now);
        let mut call = self.ingest_script.prepare_invoke();
        call.arg(&self.prefix)
            .arg(self.layout.dedup_secs.max(1))
            .arg(self.layout.longest_window_secs + self.layout.bucket_secs)
            .arg(oldest)
            .arg(resolutions.len());
        // One argument each: a Vec<u8> would go as a single binary string.
        for res in &resolutions {
            call.arg(*res);
        }
        for item in chunk {
            let expires_at = if item.bucket < oldest {
                0
            } else {
                self.layout.bucket_expires_at(item.bucket)
            };
            call.arg(item.dedup_key.as_deref().unwrap_or(""))
                .arg(format!("{:016x}", item.contributor))
                .arg(item.bucket)
                .arg(expires_at);
            for cell in &item.cells {
                call.arg(cell.to_string());
            }
        }
        let mut conn = self.conn.clone();
        let (accepted, duplicates): (u64, u64) = call.invoke_async(&mut conn).await.map_err(unavailable)?;
        Ok(IngestOutcome { accepted, duplicates })
    }
}

#[async_trait]
impl Engine for RedisEngine {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        timed("redis", "ping", async {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    async fn ingest(&self, batch: &[Bucketed], now: i64) -> Result<IngestOutcome, EngineError> {
        timed("redis", "ingest", async {
            let mut total = IngestOutcome::default();
            for chunk in batch.chunks(CHUNK) {
                let outcome = self.ingest_chunk(chunk, now).await?;
                total.accepted += outcome.accepted;
                total.duplicates += outcome.duplicates;
            }
            Ok(total)
        })
        .await
    }

    async fn counts(&self, query: CountQuery) -> Result<Vec<CellCount>, EngineError> {
        timed("redis", "counts", async {
            let res = u8::from(query.res);
            let first = self.layout.first_bucket(query.window_secs, query.now);
            let last = self.layout.bucket_start(query.now);
            let mut conn = self.conn.clone();

            let mut read = redis::pipe();
            let mut bucket = first;
            while bucket <= last {
                read.hgetall(format!("{}count:{res}:{bucket}", self.prefix));
                bucket += self.layout.bucket_secs;
            }
            let per_bucket: Vec<HashMap<String, u64>> = read.query_async(&mut conn).await.map_err(unavailable)?;
            let mut counts: HashMap<String, u64> = HashMap::new();
            for cells in per_bucket {
                for (cell, n) in cells {
                    *counts.entry(cell).or_default() += n;
                }
            }

            let cells: Vec<(String, u64)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
            let mut distinct = redis::pipe();
            for (cell, _) in &cells {
                distinct.zcount(format!("{}last:{cell}", self.prefix), first, "+inf");
            }
            let contributors: Vec<u64> = if cells.is_empty() {
                Vec::new()
            } else {
                distinct.query_async(&mut conn).await.map_err(unavailable)?
            };
            Ok(cells
                .into_iter()
                .zip(contributors)
                .filter_map(|((cell, count), contributors)| {
                    // A field that is not a cell was not written by us; skip it
                    // rather than fail the whole map.
                    let cell = cell.parse::<CellIndex>().ok()?;
                    Some(CellCount {
                        cell,
                        count,
                        contributors,
                    })
                })
                .collect())
        })
        .await
    }
}
