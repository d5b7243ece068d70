//! The memory engine's [`CrowdStore`]: head-counts and zone minutes, each
//! ordered by time and pruned when written to.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{MemoryEngine, lock};
use crate::engine::crowd::{HEADCOUNT_RETENTION_SECS, Headcount, ZONE_MINUTE_RETENTION_SECS, ZoneMinute};
use crate::engine::{CrowdStore, EngineError};

#[derive(Default)]
pub(super) struct Crowd {
    /// (taken at, id) → head-count.
    headcounts: Mutex<BTreeMap<(i64, String), Headcount>>,
    /// (window, minute) → minute.
    minutes: Mutex<BTreeMap<(i64, i64), ZoneMinute>>,
}

#[async_trait]
impl CrowdStore for MemoryEngine {
    async fn add_headcount(&self, headcount: &Headcount, now: i64) -> Result<(), EngineError> {
        let mut headcounts = lock(&self.crowd.headcounts, "head-counts")?;
        let oldest = now - HEADCOUNT_RETENTION_SECS;
        headcounts.retain(|(at, _), _| *at >= oldest);
        if headcount.at >= oldest {
            headcounts.insert((headcount.at, headcount.id.clone()), headcount.clone());
        }
        Ok(())
    }

    async fn headcounts_since(&self, since: i64) -> Result<Vec<Headcount>, EngineError> {
        let headcounts = lock(&self.crowd.headcounts, "head-counts")?;
        Ok(headcounts
            .range((since, String::new())..)
            .map(|(_, h)| h.clone())
            .collect())
    }

    async fn record_zone_minute(&self, window_secs: i64, minute: &ZoneMinute, now: i64) -> Result<(), EngineError> {
        let mut minutes = lock(&self.crowd.minutes, "zone minutes")?;
        let oldest = now - ZONE_MINUTE_RETENTION_SECS;
        minutes.retain(|(_, at), _| *at >= oldest);
        if minute.minute >= oldest {
            minutes
                .entry((window_secs, minute.minute))
                .or_insert_with(|| minute.clone());
        }
        Ok(())
    }

    async fn zone_minutes(&self, window_secs: i64, since: i64) -> Result<Vec<ZoneMinute>, EngineError> {
        let minutes = lock(&self.crowd.minutes, "zone minutes")?;
        Ok(minutes
            .range((window_secs, since)..(window_secs, i64::MAX))
            .map(|(_, m)| m.clone())
            .collect())
    }
}
