//! Citizen and field reports: validate → count in the heatmap through the
//! one intake ([`crate::ingest`]) like a post → store → tell subscribed
//! operators and commanders. Moderation as `dismissed` or `false` takes the
//! report out of the counts again.
//!
//! The live `reports` feed comes from the engine, so that every node of a
//! deployment tells its subscribers of a report taken on any node.

mod pending;

use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast;

use crate::broadcasts::Broadcasts;
use crate::domain::report::{Report, ReportCategory, ReportInput, ReportOrigin, ReportStatus};
use crate::domain::{BBox, FieldError, LatLon};
use crate::engine::{Engine, EngineError};
use crate::ingest::{Ingestor, Located, write_identity};
pub use pending::PendingReports;

/// A report as the engine keeps it: with what is needed to take it out of
/// the counts again, and to finish a moderation whose writer failed half-way.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredReport {
    #[serde(flatten)]
    report: Report,
    contributor: u64,
    bucket: i64,
    /// Whether it is in the engine's counts, which every view, alert and
    /// estimate reads. An unverified citizen report is not: operators and
    /// commanders see it through [`PendingReports`] only (DESIGN §6).
    counted: bool,
    /// Raised by one at every moderation; names the count change that came
    /// with it, so that applying that change again is a no-op.
    #[serde(default)]
    version: u64,
    /// The count change that took the report to `version`: +1, −1 or 0.
    #[serde(default)]
    last_delta: i8,
}

impl StoredReport {
    /// Whether a report of this origin and status belongs in the trusted
    /// counts: a field report at once, a citizen report once verified.
    fn belongs_in_counts(report: &Report) -> bool {
        match report.status {
            ReportStatus::Verified => true,
            ReportStatus::Unverified => report.origin == ReportOrigin::Field,
            ReportStatus::Dismissed | ReportStatus::False => false,
        }
    }

    /// Whether operators see it through the pending overlay instead.
    fn pending(&self) -> bool {
        self.report.origin == ReportOrigin::Citizen && self.report.status == ReportStatus::Unverified
    }
}

/// The report as an item of the counts, named by its id and version so
/// that the count change of one moderation applies once however often it
/// is attempted, on any node.
impl Located for StoredReport {
    fn location(&self) -> LatLon {
        self.report.location
    }

    fn counted_at(&self) -> i64 {
        self.bucket
    }

    fn contributor(&self) -> u64 {
        self.contributor
    }

    fn fingerprint(&self) -> u64 {
        write_identity(&[
            b"campanile/report-count/v1\0",
            self.report.id.as_bytes(),
            &self.version.to_le_bytes(),
        ])
    }
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
    pub status: Option<ReportStatus>,
    /// Only reports received at or after this Unix time.
    pub since: i64,
    /// Only reports inside this box.
    pub bbox: Option<BBox>,
}

/// How often a moderation re-reads a report that others changed meanwhile;
/// far more than concurrent operators, and bounded so nothing spins forever.
const MODERATION_ATTEMPTS: usize = 256;

/// The reports side of Campanile.
pub struct Reports {
    engine: Arc<dyn Engine>,
    intake: Arc<Ingestor>,
    pending: Arc<PendingReports>,
}

fn decode(body: &str) -> Option<StoredReport> {
    serde_json::from_str(body).ok()
}

impl Reports {
    /// Reports kept in `engine` and counted through `intake`, like posts;
    /// unverified citizen reports go to `pending` (this node's at once,
    /// other nodes' through the feed).
    pub fn new(engine: Arc<dyn Engine>, intake: Arc<Ingestor>, pending: Arc<PendingReports>) -> Self {
        Self {
            engine,
            intake,
            pending,
        }
    }

    /// Tells this node's overlay at once, so that the operator who reads
    /// right after a report or a moderation sees it.
    fn note_pending(&self, body: &str) {
        if let Some(change) = self.pending_change(body) {
            self.pending.apply(change);
        }
    }

    /// New and re-moderated reports as stored, live from every node; read
    /// each with [`Reports::live_versioned`].
    pub fn feed(&self) -> broadcast::Receiver<String> {
        self.engine.report_feed()
    }

    /// A report from [`Reports::feed`] with its moderation version, which
    /// orders the bodies of one report: a feed that re-reads the engine
    /// tells by it what it already delivered.
    pub fn live_versioned(body: &str) -> Option<(Report, u64)> {
        decode(body).map(|s| (s.report, s.version))
    }

    /// Applies the count change that took `s` to its version. Idempotent:
    /// the engines remember the item's fingerprint.
    async fn apply_last_change(&self, s: &StoredReport, now: i64) -> Result<(), EngineError> {
        match s.last_delta {
            1 => self.intake.count(std::slice::from_ref(s), now).await.map(drop),
            -1 => self.intake.uncount(s, now).await,
            _ => Ok(()),
        }
    }

    fn encode(s: &StoredReport) -> Result<String, EngineError> {
        serde_json::to_string(s).map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    /// Takes a report; `field` when a commander sent it.
    pub async fn create(&self, input: &ReportInput, field: bool) -> Result<Report, ReportError> {
        let now = Utc::now();
        let report = input.validate(hex::encode(rand::random::<[u8; 12]>()), field, now)?;
        let counted = StoredReport::belongs_in_counts(&report);
        // A report is a contributor of its own: it counts once, and can be taken out.
        let stored = StoredReport {
            contributor: rand::random(),
            bucket: self.intake.bucketer().bucket_start(now.timestamp()),
            counted,
            version: 0,
            last_delta: i8::from(counted),
            report,
        };
        self.apply_last_change(&stored, now.timestamp()).await?;
        let body = Self::encode(&stored)?;
        self.engine
            .put_report(&stored.report.id, &body, now.timestamp())
            .await?;
        self.note_pending(&body);
        Ok(stored.report)
    }

    /// Sets a report's status (operators); writes the audit entry.
    ///
    /// One compare-and-set per attempt: of any number of concurrent
    /// moderations each is applied after the other, and the counts change
    /// exactly once per change of status. A moderation whose writer failed
    /// after the swap is finished by the next one.
    ///
    /// `rumour` links the report to that rumour register entry (the caller
    /// checked it exists); without it any earlier link stays.
    pub async fn moderate(
        &self,
        id: &str,
        status: &str,
        rumour: Option<&str>,
        sub: &str,
        broadcasts: &Broadcasts,
    ) -> Result<Report, ReportError> {
        let status = ReportStatus::parse_moderation(status)?;
        let now = Utc::now().timestamp();
        for _ in 0..MODERATION_ATTEMPTS {
            let body = self
                .engine
                .report(id)
                .await?
                .ok_or_else(|| ReportError::NotFound(id.to_owned()))?;
            let stored = decode(&body).ok_or_else(|| ReportError::NotFound(id.to_owned()))?;
            self.apply_last_change(&stored, now).await?;
            let linked = rumour.map_or(stored.report.rumour.clone(), |r| Some(r.to_owned()));
            if stored.report.status == status && stored.report.rumour == linked {
                return Ok(stored.report);
            }
            let mut next = stored.clone();
            next.report.status = status;
            next.report.rumour = linked;
            next.counted = StoredReport::belongs_in_counts(&next.report);
            next.version = stored.version + 1;
            next.last_delta = i8::from(next.counted) - i8::from(stored.counted);
            let next_body = Self::encode(&next)?;
            if !self
                .engine
                .swap_report(id, &body, &next_body, stored.report.received_at.timestamp())
                .await?
            {
                continue; // another moderation came first: read it and go again
            }
            self.note_pending(&next_body);
            self.apply_last_change(&next, now).await?;
            broadcasts
                .audit(
                    "report.moderate",
                    sub,
                    json!({"id": id, "from": stored.report.status, "to": status, "rumour": next.report.rumour}),
                )
                .await?;
            return Ok(next.report);
        }
        Err(ReportError::Engine(EngineError::Unavailable(format!(
            "report {id:?} changed {MODERATION_ATTEMPTS} times while being moderated; retry"
        ))))
    }

    /// One retained report.
    pub async fn get(&self, id: &str) -> Result<Option<Report>, EngineError> {
        Ok(self
            .engine
            .report(id)
            .await?
            .as_deref()
            .and_then(decode)
            .map(|s| s.report))
    }

    /// Reads a stored or fed report body as a change of the pending overlay.
    pub fn pending_change(&self, body: &str) -> Option<PendingChange> {
        let s = decode(body)?;
        let item = s.pending().then(|| PendingItem {
            cells: self
                .intake
                .bucketer()
                .cells(s.report.location.lat(), s.report.location.lon()),
            bucket: s.bucket,
        });
        Some(PendingChange {
            id: s.report.id,
            version: s.version,
            item,
        })
    }

    /// Every retained report body received at or after `since`.
    pub async fn stored_since(&self, since: i64) -> Result<Vec<String>, EngineError> {
        self.engine.reports(since).await
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
            .filter(|r| filter.status.is_none_or(|s| r.status == s))
            .filter(|r| filter.bbox.is_none_or(|b| b.contains(r.location)))
            .collect())
    }
}

/// A report as a caller sees it, in the order the wire has always had
/// (alphabetical), so that clients comparing bytes see no change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportView {
    /// What it is about.
    pub category: ReportCategory,
    /// How to reach the reporter: operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// People the reporter estimates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crowd_estimate: Option<u64>,
    /// Its id.
    pub id: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// A commander's METHANE report; its texts masked for non-operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methane: Option<crate::domain::report::Methane>,
    /// Who sent it.
    pub origin: ReportOrigin,
    /// When it arrived, in the wire's time format.
    pub received_at: String,
    /// The rumour register's entry it was linked to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rumour: Option<String>,
    /// Its moderation state.
    pub status: ReportStatus,
    /// What the reporter saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A report as `operator` or another role may see it: the contact detail
/// is for operators only, and personal data in the text (§6, §10) is masked
/// for everyone else. Operators read what the reporter chose to send the
/// authorities, as they read `contact`.
pub fn view(r: &Report, operator: bool) -> ReportView {
    ReportView {
        category: r.category,
        contact: if operator { r.contact.clone() } else { None },
        crowd_estimate: r.crowd_estimate,
        id: r.id.clone(),
        lat: r.location.lat(),
        lon: r.location.lon(),
        methane: if operator {
            r.methane.clone()
        } else {
            r.methane.as_ref().map(crate::domain::report::Methane::masked)
        },
        origin: r.origin,
        received_at: crate::domain::rfc3339(r.received_at),
        rumour: r.rumour.clone(),
        status: r.status,
        text: if operator {
            r.text.clone()
        } else {
            r.text.as_deref().map(|t| crate::integrity::pii::mask(t).text)
        },
    }
}

/// What one stored report body means for the operators' pending overlay:
/// its id and version, and its cells and bucket while it is pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChange {
    /// The report's id.
    pub id: String,
    /// Its moderation version: a change never undoes a later one.
    pub version: u64,
    /// `Some` while it is an unverified citizen report.
    pub item: Option<PendingItem>,
}

/// An unverified citizen report as the overlay counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    /// Its cell at every configured resolution, coarsest first.
    pub cells: Vec<h3o::CellIndex>,
    /// Start of its time bucket.
    pub bucket: i64,
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    /// The view as it was written before it was a type: the report as a
    /// JSON map (keys in order), the contact removed for non-operators, the
    /// time in the wire format.
    fn view_as_value(r: &Report, operator: bool) -> serde_json::Value {
        let mut v = serde_json::to_value(r).expect("value");
        if let serde_json::Value::Object(map) = &mut v {
            if !operator {
                map.remove("contact");
            }
            map.insert(
                "received_at".into(),
                serde_json::Value::String(crate::domain::rfc3339(r.received_at)),
            );
        }
        v
    }

    #[test]
    fn the_typed_view_writes_the_same_bytes_as_the_json_map_did() {
        let full = ReportInput {
            lat: Some(44.5),
            lon: Some(11.0),
            category: Some("missing_person".into()),
            text: Some("a child".into()),
            crowd_estimate: Some(400),
            contact: Some("+39 000".into()),
            methane: None,
        };
        let bare = ReportInput {
            lat: Some(-1.25),
            lon: Some(170.0),
            category: Some("other".into()),
            ..ReportInput::default()
        };
        for (input, field) in [(full, true), (bare, false)] {
            let mut report = input.validate("r1".into(), field, Utc::now()).expect("valid");
            for status in [ReportStatus::Unverified, ReportStatus::False] {
                report.status = status;
                for operator in [true, false] {
                    let typed = serde_json::to_string(&view(&report, operator)).expect("typed");
                    let map = serde_json::to_string(&view_as_value(&report, operator)).expect("map");
                    assert_eq!(typed, map);
                }
            }
        }
    }

    #[test]
    fn a_stored_report_reads_back_as_it_was_written() {
        let report = ReportInput {
            lat: Some(44.5),
            lon: Some(11.0),
            category: Some("fire".into()),
            ..ReportInput::default()
        }
        .validate("r1".into(), false, Utc::now())
        .expect("valid");
        let stored = StoredReport {
            report,
            contributor: 9,
            bucket: 60,
            counted: false,
            version: 2,
            last_delta: -1,
        };
        let body = serde_json::to_string(&stored).expect("encode");
        assert!(body.contains(r#""lat":44.5,"lon":11.0"#), "{body}");
        let back = decode(&body).expect("decode");
        assert_eq!(back.report, stored.report);
        assert_eq!(back.version, 2);
    }
}
