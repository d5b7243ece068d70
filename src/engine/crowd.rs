//! The crowd store: what the crowd picture (DESIGN §9) needs to remember
//! beyond the counts. Head-counts calibrate the posts → people model; each
//! zone's distinct contributors, recorded once a minute per window, give the
//! trend against 15 minutes before and the forecast's line.
//!
//! The counts store cannot answer for a window that ended in the past: it
//! keeps each contributor's *last* bucket, so a poster seen now would also
//! count in the window that ended a quarter of an hour ago. The minutes are
//! therefore recorded as they are read, by whichever node reads a minute
//! first, so that every node (and a node that restarts) draws the same
//! trend.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::EngineError;

/// How long head-counts are kept: the fit forgets older ones (§9: the last
/// 50 within 6 h).
pub const HEADCOUNT_RETENTION_SECS: i64 = 6 * 3600;

/// How long zone minutes are kept: the trend looks 15 minutes back and the
/// forecast 10; an hour leaves room for a page that replays a little.
pub const ZONE_MINUTE_RETENTION_SECS: i64 = 3600;

/// Where a head-count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeadcountSource {
    /// `POST /api/v1/zones/{id}/headcount`.
    Headcount,
    /// A commander's field report with a `crowd_estimate`.
    FieldReport,
}

/// A counted or estimated crowd in a zone, beside the zone's distinct
/// contributors at that moment: one calibration pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headcount {
    /// Unique: two head-counts of the same crowd are two records.
    pub id: String,
    /// The zone counted.
    pub zone: String,
    /// When, Unix seconds.
    pub at: i64,
    /// The zone's distinct contributors over the estimate window then.
    pub u: u64,
    /// People counted.
    pub people: u64,
    /// How it arrived.
    pub source: HeadcountSource,
    /// The token subject who counted.
    pub by: String,
}

/// Each zone's distinct contributors over one window ending at one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneMinute {
    /// The minute the window ends at, Unix seconds (a multiple of 60).
    pub minute: i64,
    /// Zone id → distinct contributors.
    pub contributors: BTreeMap<String, u64>,
}

/// Where head-counts and zone minutes are kept.
#[async_trait]
pub trait CrowdStore: Send + Sync + 'static {
    /// Keeps `headcount` for [`HEADCOUNT_RETENTION_SECS`] from `now`.
    async fn add_headcount(&self, headcount: &Headcount, now: i64) -> Result<(), EngineError>;

    /// Retained head-counts taken at or after `since`, oldest first.
    async fn headcounts_since(&self, since: i64) -> Result<Vec<Headcount>, EngineError>;

    /// Records `minute` for the window of `window_secs` unless a record for
    /// that window and minute exists (another node read it first: the first
    /// record stands, so that every node draws the same line). Kept for
    /// [`ZONE_MINUTE_RETENTION_SECS`] from `now`.
    async fn record_zone_minute(&self, window_secs: i64, minute: &ZoneMinute, now: i64) -> Result<(), EngineError>;

    /// Retained minutes of the window of `window_secs` at or after `since`,
    /// oldest first.
    async fn zone_minutes(&self, window_secs: i64, since: i64) -> Result<Vec<ZoneMinute>, EngineError>;
}
