//! Citizen and field reports: validate → count in the heatmap like a post →
//! store → tell subscribed operators and commanders. Moderation as
//! `dismissed` or `false` takes the report out of the counts again.
//!
//! The live `reports` feed comes from the engine, so that every node of a
//! deployment tells its subscribers of a report taken on any node.

use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast;

use crate::broadcasts::Broadcasts;
use crate::domain::report::{MODERATION, Report, ReportInput, counts};
use crate::domain::{BBox, FieldError, LatLon};
use crate::engine::{Engine, EngineError};
use crate::ingest::{Bucketed, Bucketer};

/// A report as the engine keeps it: with what is needed to take it out of
/// the counts again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredReport {
    #[serde(flatten)]
    report: Report,
    contributor: u64,
    bucket: i64,
    counted: bool,
}

/// Why a report could not be taken or moderated.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Bad input.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// No such report.
    #[error("no report {0:?}")]
    NotFound(String),
    /// Engine down.
    #[error("{0}")]
    Engine(#[from] EngineError),
}

/// Filters of `GET /api/v1/reports`.
#[derive(Debug, Default, Clone)]
pub struct ReportFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only reports received at or after this Unix time.
    pub since: i64,
    /// Only reports inside this box.
    pub bbox: Option<BBox>,
}

/// The reports side of Campanile.
pub struct Reports {
    engine: Arc<dyn Engine>,
    bucketer: Bucketer,
}

fn decode(body: &str) -> Option<StoredReport> {
    serde_json::from_str(body).ok()
}

impl Reports {
    /// Reports over `engine`, bucketed like posts.
    pub fn new(engine: Arc<dyn Engine>, bucketer: Bucketer) -> Self {
        Self { engine, bucketer }
    }

    /// New and re-moderated reports as stored, live from every node; read
    /// each with [`Reports::live`].
    pub fn feed(&self) -> broadcast::Receiver<String> {
        self.engine.report_feed()
    }

    /// A report from [`Reports::feed`].
    pub fn live(body: &str) -> Option<Report> {
        decode(body).map(|s| s.report)
    }

    fn item(&self, s: &StoredReport) -> Bucketed {
        Bucketed {
            dedup_key: None,
            // Counting a report again after moderation is a new write, not a
            // retry of the first one.
            fingerprint: rand::random(),
            contributor: s.contributor,
            bucket: s.bucket,
            cells: self.bucketer.cells(s.report.lat, s.report.lon),
        }
    }

    async fn save(&self, s: &StoredReport) -> Result<(), EngineError> {
        let body = serde_json::to_string(s).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        self.engine
            .put_report(&s.report.id, &body, s.report.received_at.timestamp())
            .await
    }

    /// Takes a report; `field` when a commander sent it.
    pub async fn create(&self, input: &ReportInput, field: bool) -> Result<Report, ReportError> {
        let now = Utc::now();
        let report = input.validate(hex::encode(rand::random::<[u8; 12]>()), field, now)?;
        // A report is a contributor of its own: it counts once, and can be taken out.
        let stored = StoredReport {
            contributor: rand::random(),
            bucket: self.bucketer.bucket_start(now.timestamp()),
            counted: true,
            report,
        };
        self.engine.ingest(&[self.item(&stored)], now.timestamp()).await?;
        self.save(&stored).await?;
        Ok(stored.report)
    }

    /// Sets a report's status (operators); writes the audit entry.
    pub async fn moderate(
        &self,
        id: &str,
        status: &str,
        sub: &str,
        broadcasts: &Broadcasts,
    ) -> Result<Report, ReportError> {
        if !MODERATION.contains(&status) {
            return Err(FieldError::new(
                "invalid_status",
                "status",
                format!("status must be one of {}", MODERATION.join(", ")),
            )
            .into());
        }
        let body = self
            .engine
            .report(id)
            .await?
            .ok_or_else(|| ReportError::NotFound(id.to_owned()))?;
        let mut stored = decode(&body).ok_or_else(|| ReportError::NotFound(id.to_owned()))?;
        let should_count = counts(status);
        if stored.counted && !should_count {
            self.engine.uncount(&self.item(&stored)).await?;
        } else if !stored.counted && should_count {
            self.engine
                .ingest(&[self.item(&stored)], Utc::now().timestamp())
                .await?;
        }
        stored.counted = should_count;
        let previous = std::mem::replace(&mut stored.report.status, status.to_owned());
        self.save(&stored).await?;
        broadcasts
            .audit(
                "report.moderate",
                sub,
                json!({"id": id, "from": previous, "to": status}),
            )
            .await?;
        Ok(stored.report)
    }

    /// Retained reports matching `filter`, oldest first.
    pub async fn list(&self, filter: &ReportFilter) -> Result<Vec<Report>, EngineError> {
        Ok(self
            .engine
            .reports(filter.since)
            .await?
            .iter()
            .filter_map(|b| decode(b))
            .map(|s| s.report)
            .filter(|r| filter.status.as_deref().is_none_or(|s| r.status == s))
            .filter(|r| {
                filter
                    .bbox
                    .is_none_or(|b| LatLon::new(r.lat, r.lon).is_ok_and(|p| b.contains(p)))
            })
            .collect())
    }
}

/// A report as `operator` or another role may see it: the contact detail
/// is for operators only.
pub fn view(r: &Report, operator: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut v {
        if !operator {
            map.remove("contact");
        }
        map.insert(
            "received_at".into(),
            serde_json::Value::String(crate::api::heatmap::rfc3339(r.received_at)),
        );
    }
    v
}
