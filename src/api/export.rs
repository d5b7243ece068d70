//! `GET /api/v1/export`: the after-action export (DESIGN §11). This module
//! owns the step from a period's stored records to a download: it reads the
//! engine a page at a time and writes each page as it is read, so that the
//! server holds one page, never the period, however long it is. The stream
//! is pulled by the client: a page is read only when the last one was sent.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use geo::orient::{Direction, Orient};
use geo::{LineString, Polygon};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::{AppState, Caller};

use crate::broadcasts::{Broadcasts, decode};
use crate::domain::{FieldError, Principal, Role, Window, ZoneShape, Zones};
use crate::engine::{ALERT_RETENTION_SECS, AUDIT_RETENTION_SECS, EngineError, Page};
use crate::hub::{HeatmapKey, HeatmapRequest, ReplayAt, ReplayCache};
use crate::protocol::CellOut;
use crate::reports::{Reports, view};

/// Records read from the engine at a time: what the server holds at most.
const PAGE: usize = 200;

/// The period exported when none is given.
const DEFAULT_PERIOD_SECS: i64 = 24 * 3600;

/// Sides of the polygon that stands for a circle of a broadcast's area.
const CIRCLE_SIDES: usize = 32;

/// What may be exported, in the order the sections are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Reports,
    Broadcasts,
    Alerts,
    Audit,
    /// The operators' heatmap, one snapshot per minute.
    Heatmap,
    /// The crowd picture per zone, one snapshot per minute.
    Zones,
}

impl What {
    const ALL: [What; 6] = [
        What::Reports,
        What::Broadcasts,
        What::Alerts,
        What::Audit,
        What::Heatmap,
        What::Zones,
    ];

    fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "reports" => Ok(Self::Reports),
            "broadcasts" => Ok(Self::Broadcasts),
            "alerts" => Ok(Self::Alerts),
            "audit" => Ok(Self::Audit),
            "heatmap" => Ok(Self::Heatmap),
            "zones" => Ok(Self::Zones),
            other => Err(FieldError::new(
                "invalid_what",
                "what",
                format!(
                    "what is a list of reports, broadcasts, alerts, audit, heatmap and zones, not {:?}",
                    other.chars().take(32).collect::<String>()
                ),
            )),
        }
    }

    /// The `kind` of each exported record.
    fn kind(self) -> &'static str {
        match self {
            Self::Reports => "report",
            Self::Broadcasts => "broadcast",
            Self::Alerts => "alert",
            Self::Audit => "audit",
            Self::Heatmap => "cell",
            Self::Zones => "zone",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Reports => "reports",
            Self::Broadcasts => "broadcasts",
            Self::Alerts => "alerts",
            Self::Audit => "audit",
            Self::Heatmap => "heatmap",
            Self::Zones => "zones",
        }
    }

    /// Whether its records are per-minute snapshots of count retention.
    fn is_snapshot(self) -> bool {
        matches!(self, Self::Heatmap | Self::Zones)
    }

    /// The CSV columns: every field the kind's records carry; `a.b` is field
    /// `b` of object `a`. Other nested values are written as JSON text.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Reports => &[
                "kind",
                "id",
                "received_at",
                "category",
                "status",
                "origin",
                "lat",
                "lon",
                "crowd_estimate",
                "text",
                "contact",
                "rumour",
            ],
            Self::Broadcasts => &[
                "kind",
                "id",
                "seq",
                "sent",
                "msg_type",
                "references",
                "audience",
                "category",
                "event",
                "severity",
                "urgency",
                "certainty",
                "headline",
                "description",
                "instruction",
                "language",
                "translations",
                "area",
                "expires",
                "sender",
                "acks",
            ],
            Self::Alerts => &[
                "kind",
                "id",
                "alert_kind",
                "raised_at",
                "place",
                "zone",
                "name",
                "cell",
                "res",
                "lat",
                "lon",
                "count",
                "contributors",
                "density_km2",
                "baseline_per_min",
                "level",
                "level_high",
                "people",
                "density_m2",
                "utilisation",
                "trend",
                "trend_pct",
                "minutes_to_serious",
            ],
            Self::Audit => &["kind", "at", "sub", "action", "detail"],
            Self::Heatmap => &[
                "kind",
                "at",
                "res",
                "window",
                "cell",
                "lat",
                "lon",
                "count",
                "contributors",
                "density_km2",
                "zone",
            ],
            Self::Zones => &[
                "kind",
                "at",
                "window",
                "id",
                "name",
                "zone_kind",
                "area_m2",
                "capacity",
                "posts",
                "contributors",
                "people.estimate",
                "people.low",
                "people.high",
                "people.calibrated",
                "density_m2",
                "utilisation",
                "level",
                "level_high",
                "public_level",
                "trend",
                "trend_pct",
                "minutes_to_serious",
            ],
        }
    }
}

/// The wire form of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Csv,
    GeoJson,
}

impl Format {
    fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "ndjson" => Ok(Self::Ndjson),
            "csv" => Ok(Self::Csv),
            "geojson" => Ok(Self::GeoJson),
            other => Err(FieldError::new(
                "invalid_format",
                "format",
                format!(
                    "format is ndjson, csv or geojson, not {:?}",
                    other.chars().take(32).collect::<String>()
                ),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
            Self::GeoJson => "application/geo+json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
            Self::GeoJson => "geojson",
        }
    }
}

/// A checked export request.
#[derive(Debug, Clone)]
struct ExportRequest {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    what: Vec<What>,
    format: Format,
    /// The heatmap's resolution, as `GET /api/v1/heatmap` takes it.
    res: Option<u64>,
    /// The window of heatmap and zone snapshots.
    window: Option<String>,
}

fn timestamp(query: &HashMap<String, String>, field: &'static str) -> Result<Option<DateTime<Utc>>, FieldError> {
    query
        .get(field)
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    FieldError::new(
                        "invalid_timestamp",
                        field,
                        format!("{field} must be an RFC 3339 timestamp"),
                    )
                })
        })
        .transpose()
}

/// The longest period an export may span: the longest any record is kept.
fn longest_retention(state: &AppState) -> i64 {
    let retention = i64::try_from(state.settings.retention.as_secs()).unwrap_or(i64::MAX);
    retention.max(ALERT_RETENTION_SECS).max(AUDIT_RETENTION_SECS)
}

impl ExportRequest {
    fn parse(query_string: &str, now: DateTime<Utc>, longest_secs: i64) -> Result<Self, FieldError> {
        let query = web::Query::<HashMap<String, String>>::from_query(query_string)
            .map_err(|e| FieldError::general("invalid_query", e.to_string()))?
            .into_inner();
        let default_period = chrono::Duration::seconds(DEFAULT_PERIOD_SECS);
        let (from, to) = match (timestamp(&query, "from")?, timestamp(&query, "to")?) {
            (Some(from), Some(to)) => (from, to),
            (Some(from), None) => (from, now),
            (None, Some(to)) => (to - default_period, to),
            (None, None) => (now - default_period, now),
        };
        if to <= from {
            return Err(FieldError::new("invalid_period", "to", "to must be after from"));
        }
        if (to - from).num_seconds() > longest_secs {
            return Err(FieldError::new(
                "period_too_long",
                "from",
                format!(
                    "an export spans at most {} h, the longest retention",
                    longest_secs / 3600
                ),
            ));
        }
        let what = match query.get("what") {
            None => What::ALL.to_vec(),
            Some(list) => {
                let mut what = Vec::new();
                for part in list.split(',') {
                    let w = What::parse(part.trim())?;
                    if !what.contains(&w) {
                        what.push(w);
                    }
                }
                what
            }
        };
        let format = query.get("format").map_or(Ok(Format::Ndjson), |f| Format::parse(f))?;
        if format == Format::Csv && what.len() != 1 {
            return Err(FieldError::new(
                "csv_needs_one_what",
                "what",
                "a CSV export is one table: name exactly one of reports, broadcasts, alerts, audit, heatmap or zones",
            ));
        }
        let res = query
            .get("res")
            .map(|r| r.parse::<u64>())
            .transpose()
            .map_err(|_| FieldError::new("invalid_resolution", "res", "res must be an integer"))?;
        Ok(Self {
            from,
            to,
            what,
            format,
            res,
            window: query.get("window").cloned(),
        })
    }

    /// `campanile-reports-20261129T0700Z-20261130T0700Z.csv`: the period
    /// is in the name, so that downloads of several periods stay apart.
    fn filename(&self) -> String {
        let what = if self.what.len() == What::ALL.len() {
            "all".to_owned()
        } else {
            self.what.iter().map(|w| w.name()).collect::<Vec<_>>().join("-")
        };
        format!(
            "campanile-{what}-{}-{}.{}",
            self.from.format("%Y%m%dT%H%M%SZ"),
            self.to.format("%Y%m%dT%H%M%SZ"),
            self.format.extension()
        )
    }
}

/// Exports the records of a period (operators).
#[utoipa::path(get, path = "/api/v1/export", tag = "export", operation_id = "export",
    params(("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Start of the period (RFC 3339); default: 24 h before `to`"),
           ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "End of the period (RFC 3339), after `from`; default: now. The period spans at most the longest retention"),
           ("what" = Option<String>, Query, description = "Comma-separated: reports, broadcasts, alerts, audit, heatmap, zones; default: all six. heatmap and zones are one snapshot per minute (as `?at=` answers it) within count retention", pattern = r"^[a-z]+(,[a-z]+)*$"),
           ("format" = Option<String>, Query, description = "ndjson (default), csv (exactly one `what`) or geojson", pattern = "^(ndjson|csv|geojson)$"),
           ("res" = Option<u8>, Query, description = "The heatmap snapshots' H3 resolution, as on `GET /api/v1/heatmap` (default 9)", minimum = 0, maximum = 15),
           ("window" = Option<String>, Query, description = "The window of the heatmap and zone snapshots: one of the configured windows (default: the heatmap's default, and the estimate window for zones)")),
    responses((status = 200, description = "The records, streamed (chunked): NDJSON lines with `kind`, one CSV table, or a GeoJSON FeatureCollection", content(
                  (String = "application/x-ndjson"), (String = "text/csv"), (Object = "application/geo+json")),
                  headers(("Content-Disposition" = String, description = "attachment, with a file name naming the period"))),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators export", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read or stored", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn export(caller: Caller, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let request = ExportRequest::parse(req.query_string(), Utc::now(), longest_retention(&state))?;
    let heatmap = HeatmapRequest::parse(
        request.res,
        request.window.as_deref(),
        None,
        &caller.0,
        &state.heatmap_limits,
    )?
    .key;
    let zones_window = match &request.window {
        Some(name) => state.heatmap_limits.windows.get(name)?,
        None => state.hub.zones().picture().estimate_window.clone(),
    };
    // Written before a byte is sent: an export that could not be recorded
    // does not happen.
    crate::broadcasts::write_audit(
        state.engine.as_ref(),
        "export",
        caller.sub()?,
        json!({
            "from": crate::domain::rfc3339(request.from),
            "to": crate::domain::rfc3339(request.to),
            "what": request.what.iter().map(|w| w.name()).collect::<Vec<_>>(),
            "format": request.format.extension(),
        }),
    )
    .await?;
    let disposition = format!("attachment; filename=\"{}\"", request.filename());
    let content_type = request.format.content_type();
    let exporter = Exporter::new(
        state.into_inner(),
        caller.0,
        request,
        Snapshots {
            heatmap,
            zones_window,
            started: Utc::now().timestamp(),
            cache: ReplayCache::default(),
        },
    );
    let body = futures_util::stream::unfold(exporter, |mut exporter| async move {
        exporter.next_chunk().await.map(|chunk| (chunk, exporter))
    });
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// Where the export has got to within its section.
enum Position {
    /// The engine's cursor of the next page; `None` before the first.
    Cursor(Option<String>),
    /// The last broadcast `seq` written.
    Seq(u64),
    /// The next snapshot's moment: the last second of a minute, Unix seconds.
    Moment(i64),
}

/// What the per-minute snapshots of heatmap and zones are read with.
struct Snapshots {
    heatmap: HeatmapKey,
    zones_window: Window,
    /// When the export began: minutes are replayed as retention held them then.
    started: i64,
    cache: ReplayCache,
}

/// The state of one export's stream, advanced a page per chunk.
struct Exporter {
    state: Arc<AppState>,
    principal: Principal,
    request: ExportRequest,
    snapshots: Snapshots,
    /// Index into `request.what` of the section being written.
    section: usize,
    position: Position,
    /// The prologue (GeoJSON's opening, CSV's header) is written.
    opened: bool,
    /// A GeoJSON feature was written: the next needs a comma before it.
    wrote_feature: bool,
    done: bool,
}

/// Why a chunk could not be made; the stream ends there, and the client
/// sees a body cut short rather than one that looks whole.
#[derive(Debug, thiserror::Error)]
enum ChunkError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("writing CSV: {0}")]
    Csv(String),
}

impl Exporter {
    fn new(state: Arc<AppState>, principal: Principal, request: ExportRequest, snapshots: Snapshots) -> Self {
        Self {
            state,
            principal,
            request,
            snapshots,
            section: 0,
            position: Position::Cursor(None),
            opened: false,
            wrote_feature: false,
            done: false,
        }
    }

    async fn next_chunk(&mut self) -> Option<Result<Bytes, ChunkError>> {
        if self.done {
            return None;
        }
        match self.fill().await {
            Ok(Some(bytes)) => Some(Ok(bytes)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "export cut short");
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// The next non-empty chunk, or `None` at the end.
    async fn fill(&mut self) -> Result<Option<Bytes>, ChunkError> {
        let mut out = Vec::new();
        if !self.opened {
            self.opened = true;
            match self.request.format {
                Format::GeoJson => out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#),
                Format::Csv => {
                    if let Some(what) = self.request.what.first() {
                        self.csv_row(&mut out, what.columns().iter().map(|c| (*c).to_owned()))?;
                    }
                }
                Format::Ndjson => {}
            }
        }
        loop {
            let Some(&what) = self.request.what.get(self.section) else {
                // This chunk is the last, whatever it holds.
                self.done = true;
                if self.request.format == Format::GeoJson {
                    out.extend_from_slice(b"]}\n");
                }
                return Ok((!out.is_empty()).then(|| Bytes::from(out)));
            };
            let (records, more) = self.page(what).await?;
            for record in records {
                self.write(&mut out, what, record)?;
            }
            if !more {
                self.section += 1;
                self.position = Position::Cursor(None);
            }
            if !out.is_empty() {
                return Ok(Some(Bytes::from(out)));
            }
        }
    }

    /// The next page of `what` as records (with `kind`), and whether more follow.
    async fn page(&mut self, what: What) -> Result<(Vec<Map<String, Value>>, bool), ChunkError> {
        let (from, to) = (self.request.from.timestamp(), self.request.to.timestamp());
        let engine = &self.state.engine;
        match what {
            What::Broadcasts => {
                let after = match self.position {
                    Position::Seq(seq) => seq,
                    _ => 0,
                };
                let page = engine.broadcasts_page(after, PAGE).await?;
                let more = page.len() == PAGE;
                if let Some(last) = page.last() {
                    self.position = Position::Seq(last.seq);
                }
                let mut records = Vec::new();
                for stored in page.iter().filter_map(decode) {
                    let sent = stored.sent.timestamp();
                    if !(from..=to).contains(&sent) {
                        continue;
                    }
                    let mut v = Broadcasts::view(&stored, &self.principal);
                    v.acks = Some(self.state.broadcasts.acknowledgements(&stored.id).await?);
                    if let Ok(Value::Object(map)) = serde_json::to_value(&v) {
                        records.push(with_kind(what, map));
                    }
                }
                Ok((records, more && !page.is_empty()))
            }
            What::Heatmap | What::Zones => self.snapshot(what).await,
            _ => {
                let cursor = match &self.position {
                    Position::Cursor(c) => c.clone(),
                    _ => None,
                };
                let Page { items, next } = match what {
                    What::Reports => engine.reports_between(from, to, cursor.as_deref(), PAGE).await?,
                    What::Alerts => engine.alerts_between(from, to, cursor.as_deref(), PAGE).await?,
                    _ => engine.audit_between(from, to, cursor.as_deref(), PAGE).await?,
                };
                let more = next.is_some();
                self.position = Position::Cursor(next);
                let records = items.iter().filter_map(|body| record(what, body)).collect();
                Ok((records, more))
            }
        }
    }

    /// The records of `what` at the next snapshot's moment, the end of a
    /// minute within the period, and whether more follow. Minutes count
    /// retention no longer held when the export began are left out: the
    /// first snapshot is of its oldest minute.
    async fn snapshot(&mut self, what: What) -> Result<(Vec<Map<String, Value>>, bool), ChunkError> {
        let layout = self.state.hub.layout();
        let started = self.snapshots.started;
        let last = self.request.to.timestamp().min(started);
        let t = match self.position {
            Position::Moment(t) => t,
            _ => {
                let oldest = started - layout.count_retention_secs;
                minute_end_from(self.request.from.timestamp().max(oldest))
            }
        };
        if t > last {
            return Ok((Vec::new(), false));
        }
        self.position = Position::Moment(t + 60);
        let more = t + 60 <= last;
        let Some(at) = ReplayAt::of(t, layout, started) else {
            return Ok((Vec::new(), more));
        };
        let stamp = Value::String(crate::domain::rfc3339(at.moment()));
        let mut records = Vec::new();
        if what == What::Heatmap {
            let key = &self.snapshots.heatmap;
            let mut cells = self.state.hub.read_at(key, at).await?;
            crate::hub::sort_hottest_first(&mut cells);
            for cell in &cells {
                let Ok(Value::Object(mut map)) = serde_json::to_value(CellOut::from(cell)) else {
                    continue;
                };
                let centre = h3o::LatLng::from(cell.cell);
                map.insert("at".to_owned(), stamp.clone());
                map.insert("res".to_owned(), json!(u8::from(key.res)));
                map.insert("window".to_owned(), json!(key.window.name()));
                map.insert("lat".to_owned(), json!(centre.lat()));
                map.insert("lon".to_owned(), json!(centre.lng()));
                records.push(with_kind(what, map));
            }
        } else {
            let frame = self
                .state
                .hub
                .zones()
                .replay_with(&self.snapshots.zones_window, at, &mut self.snapshots.cache)
                .await?;
            for zone in &frame.zones {
                let Ok(Value::Object(mut map)) = serde_json::to_value(zone) else {
                    continue;
                };
                // `at` says it: the snapshot's moment.
                map.remove("as_of");
                map.insert("at".to_owned(), stamp.clone());
                records.push(with_kind(what, map));
            }
        }
        Ok((records, more))
    }

    fn write(&mut self, out: &mut Vec<u8>, what: What, record: Map<String, Value>) -> Result<(), ChunkError> {
        match self.request.format {
            Format::Ndjson => {
                write_json(out, &Value::Object(record));
                out.push(b'\n');
            }
            Format::Csv => {
                let cells: Vec<String> = what.columns().iter().map(|c| csv_cell(column(&record, c))).collect();
                self.csv_row(out, cells.into_iter())?;
            }
            Format::GeoJson => {
                if self.wrote_feature {
                    out.push(b',');
                }
                self.wrote_feature = true;
                let geometry = geometry(what, &record, &self.state.zones);
                let mut feature = json!({"type": "Feature", "geometry": geometry, "properties": Value::Null});
                // A snapshot's zone id comes back every minute: not the feature's.
                if let Some(id) = record.get("id").filter(|id| id.is_string() && !what.is_snapshot()) {
                    feature["id"] = id.clone();
                }
                feature["properties"] = Value::Object(record);
                write_json(out, &feature);
                out.push(b'\n');
            }
        }
        Ok(())
    }

    fn csv_row(&self, out: &mut Vec<u8>, cells: impl Iterator<Item = String>) -> Result<(), ChunkError> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        writer.write_record(cells).map_err(|e| ChunkError::Csv(e.to_string()))?;
        let bytes = writer.into_inner().map_err(|e| ChunkError::Csv(e.to_string()))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Writing a Value into a Vec cannot fail: its keys are strings.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// The first last second of a minute at or after second `t`.
fn minute_end_from(t: i64) -> i64 {
    crate::domain::bucket_start(t.saturating_add(60), 60) - 1
}

/// The value of CSV column `name` in `record`: a field, or `a.b` for field
/// `b` of object `a`.
fn column<'a>(record: &'a Map<String, Value>, name: &str) -> &'a Value {
    let mut parts = name.split('.');
    let first = parts.next().and_then(|p| record.get(p));
    parts
        .try_fold(first, |value, part| Some(value.and_then(|v| v.get(part))))
        .flatten()
        .unwrap_or(&Value::Null)
}

/// `map` with its export `kind` (report, broadcast, alert, audit, cell,
/// zone). A record's own kind (an alert's surge or zone_level, a zone's
/// area or sector) becomes `alert_kind` or `zone_kind`.
fn with_kind(what: What, mut map: Map<String, Value>) -> Map<String, Value> {
    if let Some(own) = map.remove("kind") {
        map.insert(format!("{}_kind", what.kind()), own);
    }
    map.insert("kind".to_owned(), Value::String(what.kind().to_owned()));
    map
}

/// A stored body of reports, alerts or audit as operators see it.
fn record(what: What, body: &str) -> Option<Map<String, Value>> {
    let map = match what {
        What::Reports => {
            let (report, _) = Reports::live_versioned(body)?;
            match serde_json::to_value(view(&report, true)).ok()? {
                Value::Object(map) => map,
                _ => return None,
            }
        }
        _ => match serde_json::from_str(body).ok()? {
            Value::Object(map) => map,
            _ => return None,
        },
    };
    Some(with_kind(what, map))
}

/// A value as a CSV cell: strings as they are, but one a spreadsheet would
/// take for a formula is prefixed with `'` (OWASP's CSV injection advice),
/// so that a hostile report's `=HYPERLINK(…)` is shown, not run. Numbers
/// are written as numbers: a negative longitude is not a formula.
fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.clone()
            }
        }
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        nested => csv_cell(&Value::String(nested.to_string())),
    }
}

/// A record's place as a GeoJSON geometry: a report's point, a broadcast's
/// area, an alert's cell or zone; `null` for what has none.
fn geometry(what: What, record: &Map<String, Value>, zones: &Zones) -> Value {
    match what {
        What::Reports => point(record),
        What::Broadcasts => {
            let mut rings = Vec::new();
            if let Some(area) = record.get("area") {
                for ring in area.get("polygons").and_then(Value::as_array).into_iter().flatten() {
                    let positions: Vec<[f64; 2]> = serde_json::from_value(ring.clone()).unwrap_or_default();
                    rings.push(positions);
                }
                for c in area.get("circles").and_then(Value::as_array).into_iter().flatten() {
                    let centre = c.get("centre").unwrap_or(c);
                    let lat = centre.get("lat").and_then(Value::as_f64);
                    let lon = centre.get("lon").and_then(Value::as_f64);
                    let radius = c.get("radius_m").and_then(Value::as_f64);
                    if let (Some(lat), Some(lon), Some(r)) = (lat, lon, radius) {
                        rings.push(circle(lon, lat, r));
                    }
                }
                for zone in area.get("zones").and_then(Value::as_array).into_iter().flatten() {
                    rings.extend(zone.as_str().map(|z| zone_rings(zones, z)).unwrap_or_default());
                }
            }
            polygons(rings)
        }
        What::Alerts => {
            if let Some(cell) = record
                .get("cell")
                .and_then(Value::as_str)
                .and_then(|c| c.parse::<h3o::CellIndex>().ok())
            {
                return super::geojson::cell_geometry(cell);
            }
            if let Some(zone) = record.get("zone").and_then(Value::as_str) {
                let rings = zone_rings(zones, zone);
                if !rings.is_empty() {
                    return polygons(rings);
                }
            }
            point(record)
        }
        What::Heatmap => record
            .get("cell")
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<h3o::CellIndex>().ok())
            .map_or(Value::Null, super::geojson::cell_geometry),
        What::Zones => match record.get("id").and_then(Value::as_str) {
            Some(zone) => polygons(zone_rings(zones, zone)),
            None => Value::Null,
        },
        What::Audit => Value::Null,
    }
}

fn point(record: &Map<String, Value>) -> Value {
    match (
        record.get("lon").and_then(Value::as_f64),
        record.get("lat").and_then(Value::as_f64),
    ) {
        (Some(lon), Some(lat)) => json!({"type": "Point", "coordinates": [lon, lat]}),
        _ => Value::Null,
    }
}

fn zone_rings(zones: &Zones, id: &str) -> Vec<Vec<[f64; 2]>> {
    match zones.shape(id) {
        Some(ZoneShape::Polygons(rings)) => rings.clone(),
        Some(ZoneShape::Point([lon, lat])) => vec![circle(*lon, *lat, Zones::point_radius_m())],
        None => Vec::new(),
    }
}

/// A circle as a polygon of [`CIRCLE_SIDES`] sides, near enough at the
/// sizes of a broadcast's area.
fn circle(lon: f64, lat: f64, radius_m: f64) -> Vec<[f64; 2]> {
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let dlat = radius_m / METRES_PER_DEGREE;
    let dlon = radius_m / (METRES_PER_DEGREE * lat.to_radians().cos().max(1e-6));
    (0..CIRCLE_SIDES)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / CIRCLE_SIDES as f64;
            [lon + dlon * a.cos(), lat + dlat * a.sin()]
        })
        .collect()
}

/// Rings as a Polygon (one) or MultiPolygon (several), each closed and its
/// exterior counter-clockwise (RFC 7946 §3.1.6); `null` for none.
fn polygons(rings: Vec<Vec<[f64; 2]>>) -> Value {
    let oriented: Vec<Vec<Vec<[f64; 2]>>> = rings
        .into_iter()
        .filter(|r| r.len() >= 3)
        .map(|r| {
            // geo closes the ring and orients it.
            let polygon = Polygon::new(LineString::from(r), vec![]).orient(Direction::Default);
            vec![polygon.exterior().coords().map(|c| [c.x, c.y]).collect()]
        })
        .collect();
    match oriented.as_slice() {
        [] => Value::Null,
        [one] => json!({"type": "Polygon", "coordinates": one}),
        many => json!({"type": "MultiPolygon", "coordinates": many}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        assert_eq!(csv_cell(&json!("=HYPERLINK(\"x\")")), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell(&json!("@SUM(A1)")), "'@SUM(A1)");
        assert_eq!(csv_cell(&json!("+1")), "'+1");
        assert_eq!(csv_cell(&json!("-1")), "'-1");
        assert_eq!(csv_cell(&json!(-0.5)), "-0.5");
        assert_eq!(csv_cell(&json!("plain")), "plain");
        assert_eq!(csv_cell(&Value::Null), "");
    }

    #[test]
    fn a_dotted_column_reads_inside_an_object() {
        let record = json!({"people": {"estimate": 40, "low": 30}, "name": "Piazza"});
        let Value::Object(record) = record else { return };
        assert_eq!(column(&record, "people.estimate"), &json!(40));
        assert_eq!(column(&record, "people.high"), &Value::Null);
        assert_eq!(column(&record, "name"), &json!("Piazza"));
        assert_eq!(column(&record, "name.first"), &Value::Null);
        assert_eq!(column(&record, "absent.x"), &Value::Null);
    }

    #[test]
    fn snapshots_are_taken_at_the_end_of_each_minute() {
        // 1_800_000_000 is a whole minute.
        assert_eq!(minute_end_from(1_800_000_000), 1_800_000_059);
        assert_eq!(minute_end_from(1_800_000_030), 1_800_000_059);
        assert_eq!(minute_end_from(1_800_000_059), 1_800_000_059);
        assert_eq!(minute_end_from(1_800_000_060), 1_800_000_119);
    }

    #[test]
    fn the_default_period_is_the_last_day_and_all_six() {
        let r = ExportRequest::parse("", now(), AUDIT_RETENTION_SECS).expect("parse");
        assert_eq!((r.to - r.from).num_seconds(), DEFAULT_PERIOD_SECS);
        assert_eq!(r.what, What::ALL);
        assert_eq!(r.format, Format::Ndjson);
        assert_eq!(r.filename(), "campanile-all-20260531T120000Z-20260601T120000Z.ndjson");
    }

    #[test]
    fn rings_are_closed_and_counter_clockwise() {
        let clockwise = vec![[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]];
        let g = polygons(vec![clockwise]);
        let ring: Vec<[f64; 2]> = serde_json::from_value(g["coordinates"][0].clone()).unwrap_or_default();
        assert_eq!(ring.first(), ring.last());
        let twice_area: f64 = ring.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum();
        assert!(twice_area > 0.0, "counter-clockwise: {ring:?}");
    }
}
