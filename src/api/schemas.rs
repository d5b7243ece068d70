//! The shapes the OpenAPI document gives to bodies that handlers build as
//! JSON or parse field by field, with the rules the handlers enforce
//! (enums, patterns, bounds), so that clients and checkers such as
//! Schemathesis hold the server to them. These types describe; they are
//! never built (hence `dead_code`): the domain types parse and the views
//! serialise, and tests/tools/schemathesis.sh checks that the two agree.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// `Retry-After` on 429 and 503: whole seconds to wait.
pub const RETRY_AFTER: &str = "Seconds to wait before retrying";

/// An H3 cell index: 15 lowercase hex digits.
pub const CELL_PATTERN: &str = "^[0-9a-f]{15}$";

/// The storage engine.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// Embedded, one process.
    Memory,
    /// Redis, shared by the deployment's nodes.
    Redis,
}

/// `GET /readyz` when the engine answers.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    #[schema(pattern = "^ready$")]
    status: String,
    /// Which engine answered.
    engine: EngineName,
}

/// A heatmap cell: counts for operators and commanders, a level for the
/// public (DESIGN §6); the type the server answers with.
pub use crate::protocol::CellOut as HeatmapCell;

/// `GET /api/v1/heatmap` as JSON.
#[derive(Serialize, ToSchema)]
pub struct Heatmap {
    /// H3 resolution.
    #[schema(minimum = 0, maximum = 15)]
    res: u8,
    /// The window read.
    #[schema(example = "15m")]
    window: String,
    /// When the counts were read.
    as_of: DateTime<Utc>,
    /// Cells, hottest first.
    cells: Vec<HeatmapCell>,
}

/// `"FeatureCollection"`.
#[derive(Serialize, ToSchema)]
pub enum FeatureCollectionTag {
    /// The only value.
    FeatureCollection,
}

/// `"Feature"`.
#[derive(Serialize, ToSchema)]
pub enum FeatureTag {
    /// The only value.
    Feature,
}

/// `"Polygon"`.
#[derive(Serialize, ToSchema)]
pub enum PolygonTag {
    /// The only value.
    Polygon,
}

/// `"MultiPolygon"`.
#[derive(Serialize, ToSchema)]
pub enum MultiPolygonTag {
    /// The only value.
    MultiPolygon,
}

/// `"Point"`.
#[derive(Serialize, ToSchema)]
pub enum PointTag {
    /// The only value.
    Point,
}

/// A GeoJSON Polygon: rings of `[lon, lat]`, the first the exterior.
#[derive(Serialize, ToSchema)]
pub struct PolygonGeometry {
    /// `Polygon`.
    r#type: PolygonTag,
    /// Closed rings of `[lon, lat]` positions.
    #[schema(value_type = Vec<Vec<Vec<f64>>>)]
    coordinates: Vec<Vec<[f64; 2]>>,
}

/// A GeoJSON MultiPolygon: a cell cut at the antimeridian (RFC 7946 §3.1.9).
#[derive(Serialize, ToSchema)]
pub struct MultiPolygonGeometry {
    /// `MultiPolygon`.
    r#type: MultiPolygonTag,
    /// Polygons, each as in a Polygon.
    #[schema(value_type = Vec<Vec<Vec<Vec<f64>>>>)]
    coordinates: Vec<Vec<Vec<[f64; 2]>>>,
}

/// A cell's outline.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CellGeometry {
    /// A cell within ±180°, or the cell holding a pole.
    Polygon(PolygonGeometry),
    /// A cell astride the antimeridian, cut there.
    MultiPolygon(MultiPolygonGeometry),
}

/// One heatmap cell as a GeoJSON Feature.
#[derive(Serialize, ToSchema)]
pub struct HeatmapFeature {
    /// `Feature`.
    r#type: FeatureTag,
    /// The H3 index.
    #[schema(pattern = "^[0-9a-f]{15}$")]
    id: String,
    /// The hexagon (or pentagon).
    geometry: CellGeometry,
    /// The cell as in the JSON answer.
    properties: HeatmapCell,
}

/// `GET /api/v1/heatmap?format=geojson` (or `Accept: application/geo+json`).
#[derive(Serialize, ToSchema)]
pub struct HeatmapGeoJson {
    /// `FeatureCollection`.
    r#type: FeatureCollectionTag,
    /// H3 resolution.
    #[schema(minimum = 0, maximum = 15)]
    res: u8,
    /// The window read.
    window: String,
    /// When the counts were read.
    as_of: DateTime<Utc>,
    /// One Feature per cell, hottest first.
    features: Vec<HeatmapFeature>,
}

/// A report's category.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportCategory {
    /// Crowding.
    Crowd,
    /// Violence.
    Violence,
    /// Fire.
    Fire,
    /// A medical emergency.
    Medical,
    /// A missing person.
    MissingPerson,
    /// A suspicious item.
    SuspiciousItem,
    /// Broken or dangerous infrastructure.
    Infrastructure,
    /// A rumour going round.
    Rumour,
    /// Anything else.
    Other,
}

/// `POST /api/v1/reports`; unknown fields are refused.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lat": 44.4937, "lon": 11.343, "category": "crowd", "text": "Pushing near the fountain", "crowd_estimate": 400}))]
pub struct ReportRequest {
    /// Latitude, WGS84 degrees.
    #[schema(minimum = -90, maximum = 90, example = 44.4937)]
    lat: f64,
    /// Longitude, WGS84 degrees.
    #[schema(minimum = -180, maximum = 180, example = 11.343)]
    lon: f64,
    /// What the report is about.
    category: ReportCategory,
    /// What the reporter saw.
    #[schema(max_length = 2000)]
    text: Option<String>,
    /// People the reporter estimates (field reports).
    #[schema(minimum = 0, maximum = 10_000_000)]
    crowd_estimate: Option<u64>,
    /// How to reach the reporter; shown to operators only.
    #[schema(max_length = 256)]
    contact: Option<String>,
    /// JESIP's METHANE report: a commander's field report only; anyone
    /// else's is refused with 400 `methane_field_only`.
    methane: Option<crate::domain::report::MethaneInput>,
}

/// Where a report came from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportOrigin {
    /// Anyone, without a commander token.
    Citizen,
    /// A commander.
    Field,
}

/// A report's moderation state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    /// Not yet looked at.
    Unverified,
    /// Confirmed by an operator.
    Verified,
    /// Set aside.
    Dismissed,
    /// A rumour: false.
    False,
}

/// The answer to a new report.
#[derive(Serialize, ToSchema)]
pub struct ReportCreated {
    /// The report's id.
    id: String,
    /// `unverified`.
    status: ReportStatus,
    /// `citizen`, or `field` with a commander token.
    origin: ReportOrigin,
    /// When it arrived.
    received_at: DateTime<Utc>,
}

/// A report as operators and commanders see it.
#[derive(Serialize, ToSchema)]
pub struct ReportView {
    /// Its id.
    id: String,
    /// Latitude.
    lat: f64,
    /// Longitude.
    lon: f64,
    /// Category.
    category: ReportCategory,
    /// Text as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// Estimated people.
    #[serde(skip_serializing_if = "Option::is_none")]
    crowd_estimate: Option<u64>,
    /// Contact detail: operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<String>,
    /// Where it came from.
    origin: ReportOrigin,
    /// Moderation state.
    status: ReportStatus,
    /// When it arrived.
    received_at: DateTime<Utc>,
    /// The rumour register entry it was linked to (moderated `false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    rumour: Option<String>,
    /// The commander's METHANE report; phone numbers and e-mail addresses
    /// in its texts masked for commanders.
    #[serde(skip_serializing_if = "Option::is_none")]
    methane: Option<crate::domain::report::Methane>,
}

/// A GeoJSON Point.
#[derive(Serialize, ToSchema)]
pub struct PointGeometry {
    /// `Point`.
    r#type: PointTag,
    /// `[lon, lat]`.
    #[schema(value_type = Vec<f64>, min_items = 2, max_items = 2)]
    coordinates: [f64; 2],
}

/// One report as a GeoJSON Feature.
#[derive(Serialize, ToSchema)]
pub struct ReportFeature {
    /// `Feature`.
    r#type: FeatureTag,
    /// The report's id.
    id: String,
    /// Where it was reported.
    geometry: PointGeometry,
    /// The report.
    properties: ReportView,
}

/// `GET /api/v1/reports`.
#[derive(Serialize, ToSchema)]
pub struct ReportCollection {
    /// `FeatureCollection`.
    r#type: FeatureCollectionTag,
    /// The reports, newest first.
    features: Vec<ReportFeature>,
}

/// Moderation states an operator may set.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModerationStatus {
    /// Confirmed: counts in public views too.
    Verified,
    /// Set aside: stops counting.
    Dismissed,
    /// A rumour: stops counting.
    False,
}

/// `PATCH /api/v1/reports/{id}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationRequest {
    /// The new state.
    status: ModerationStatus,
    /// With `false` only: link the report to a rumour register entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    rumour: Option<RumourLinkRequest>,
}

/// A rumour register entry by id, or a new entry recorded with the report
/// linked.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RumourLinkRequest {
    /// An entry's id.
    Existing(String),
    /// A new entry.
    New(crate::domain::rumour::RumourInput),
}

/// Who may see a message.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Everyone.
    Public,
    /// Operators and commanders.
    Responders,
}

/// CAP `msgType`.
#[derive(Serialize, ToSchema)]
pub enum MsgType {
    /// A new message.
    Alert,
    /// Supersedes `references`.
    Update,
    /// Withdraws `references`.
    Cancel,
}

/// CAP `category`.
#[derive(Serialize, ToSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum CapCategory {
    /// Geophysical.
    Geo,
    /// Meteorological.
    Met,
    /// Public safety.
    Safety,
    /// Security.
    Security,
    /// Rescue and recovery.
    Rescue,
    /// Fire.
    Fire,
    /// Health.
    Health,
    /// Environment.
    Env,
    /// Transport.
    Transport,
    /// Infrastructure.
    Infra,
    /// Chemical, biological, radiological, nuclear or explosive.
    CBRNE,
    /// Other.
    Other,
}

/// CAP `severity`.
#[derive(Serialize, ToSchema)]
pub enum Severity {
    /// Extraordinary threat to life or property.
    Extreme,
    /// Significant threat.
    Severe,
    /// Possible threat.
    Moderate,
    /// Minimal threat.
    Minor,
    /// Unknown.
    Unknown,
}

/// CAP `urgency`.
#[derive(Serialize, ToSchema)]
pub enum Urgency {
    /// Act now.
    Immediate,
    /// Act within the hour.
    Expected,
    /// Act in the near future.
    Future,
    /// No longer needed.
    Past,
    /// Unknown.
    Unknown,
}

/// CAP `certainty`.
#[derive(Serialize, ToSchema)]
pub enum Certainty {
    /// Has happened or is happening.
    Observed,
    /// More than 50 %.
    Likely,
    /// 50 % or less.
    Possible,
    /// Not expected.
    Unlikely,
    /// Unknown.
    Unknown,
}

/// The same message in another language.
#[derive(Serialize, ToSchema)]
pub struct TranslationDoc {
    /// BCP 47 tag.
    #[schema(example = "it")]
    language: String,
    /// Headline in that language.
    #[schema(max_length = 160)]
    headline: String,
    /// Description in that language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 4000)]
    description: Option<String>,
    /// Instruction in that language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 4000)]
    instruction: Option<String>,
}

/// A circle by centre and radius.
#[derive(Serialize, ToSchema)]
pub struct CircleDoc {
    /// Centre latitude.
    #[schema(minimum = -90, maximum = 90)]
    lat: f64,
    /// Centre longitude.
    #[schema(minimum = -180, maximum = 180)]
    lon: f64,
    /// Radius in metres, more than 0.
    #[schema(exclusive_minimum = 0)]
    radius_m: f64,
}

/// Where a message applies: at least one of `polygons`, `circles`, `zones`.
#[derive(Serialize, ToSchema)]
pub struct AreaDoc {
    /// A name people know.
    #[serde(default)]
    description: String,
    /// Closed rings of `[lon, lat]`, at least 4 positions each.
    #[schema(value_type = Vec<Vec<Vec<f64>>>)]
    #[serde(default)]
    polygons: Vec<Vec<[f64; 2]>>,
    /// Circles.
    #[serde(default)]
    circles: Vec<CircleDoc>,
    /// Ids of zones from `geodata/zones/`.
    #[serde(default)]
    zones: Vec<String>,
}

/// `POST /api/v1/broadcasts`, modelled on CAP 1.2; unknown fields are refused.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "audience": "public", "msg_type": "Alert", "category": "Safety",
    "event": "Crowd crush risk", "severity": "Severe", "urgency": "Immediate", "certainty": "Observed",
    "headline": "Leave Piazza Maggiore by Via Rizzoli",
    "instruction": "Walk, do not run; follow the stewards.", "language": "en",
    "translations": [{"language": "it", "headline": "Lasciate Piazza Maggiore da Via Rizzoli"}],
    "area": {"description": "Piazza Maggiore", "circles": [{"lat": 44.4937, "lon": 11.343, "radius_m": 300}]},
    "expires": "2099-01-01T00:00:00Z"
}))]
pub struct BroadcastRequest {
    /// Who may see it.
    audience: Audience,
    /// Alert (the default), or an Update or Cancel of `references`.
    #[serde(default)]
    msg_type: Option<MsgType>,
    /// The id an Update or Cancel supersedes; an Alert has none.
    references: Option<String>,
    /// CAP category.
    category: CapCategory,
    /// What is happening.
    #[schema(min_length = 1, max_length = 128, example = "Crowd crush risk")]
    event: String,
    /// CAP severity.
    severity: Severity,
    /// CAP urgency.
    urgency: Urgency,
    /// CAP certainty.
    certainty: Certainty,
    /// What people read first.
    #[schema(min_length = 1, max_length = 160)]
    headline: String,
    /// Longer explanation.
    #[schema(max_length = 4000)]
    description: Option<String>,
    /// What people should do.
    #[schema(max_length = 4000)]
    instruction: Option<String>,
    /// BCP 47 tag of the main language (default `en`).
    language: Option<String>,
    /// The same message in other languages, at most 50.
    #[schema(max_items = 50)]
    translations: Option<Vec<TranslationDoc>>,
    /// Where it applies.
    area: AreaDoc,
    /// When it stops applying; in the future unless a Cancel.
    expires: DateTime<Utc>,
}

/// One acknowledgement of a message by a commander.
#[derive(Serialize, ToSchema)]
pub struct AckDoc {
    /// The commander (token `sub`).
    sub: String,
    /// When.
    at: String,
}

/// A stored message as the caller may see it.
#[derive(Serialize, ToSchema)]
pub struct BroadcastView {
    /// Its id.
    id: String,
    /// Strictly increasing across the deployment.
    #[schema(minimum = 1)]
    seq: u64,
    /// When it was sent.
    sent: DateTime<Utc>,
    /// The operator who sent it: operators and commanders only.
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<String>,
    /// Who may see it.
    audience: Audience,
    /// Alert, Update or Cancel.
    msg_type: MsgType,
    /// The superseded message.
    #[serde(skip_serializing_if = "Option::is_none")]
    references: Option<String>,
    /// CAP category.
    category: CapCategory,
    /// The event.
    event: String,
    /// CAP severity.
    severity: Severity,
    /// CAP urgency.
    urgency: Urgency,
    /// CAP certainty.
    certainty: Certainty,
    /// Headline.
    headline: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    instruction: Option<String>,
    /// Main language.
    language: String,
    /// Other languages.
    translations: Vec<TranslationDoc>,
    /// Where it applies.
    area: AreaDoc,
    /// When it stops applying.
    expires: DateTime<Utc>,
    /// Acknowledgements: all of them for operators; a commander's own, on
    /// responders' messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    acks: Option<Vec<AckDoc>>,
}

/// `GET /api/v1/broadcasts`.
#[derive(Serialize, ToSchema)]
pub struct BroadcastList {
    /// Oldest first.
    broadcasts: Vec<BroadcastView>,
}

/// The answer to an acknowledgement.
#[derive(Serialize, ToSchema)]
pub struct Acknowledged {
    /// The message.
    id: String,
    /// Always true.
    acknowledged: bool,
    /// Whether this was this commander's first acknowledgement of it.
    first: bool,
}

/// `GET /api/v1/audit`.
#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    /// Newest first: `at`, `sub`, `action`, `detail`.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<serde_json::Value>,
}

/// Items of one time bucket.
#[derive(Serialize, ToSchema)]
pub struct IngestBucket {
    /// The bucket's start.
    start: Option<DateTime<Utc>>,
    /// Items counted in it.
    #[schema(minimum = 0)]
    count: u64,
    /// Items per second.
    #[schema(minimum = 0)]
    per_s: f64,
}

/// `GET /api/v1/stats/ingest`.
#[derive(Serialize, ToSchema)]
pub struct IngestStats {
    /// Seconds per bucket.
    #[schema(minimum = 1)]
    bucket_secs: u64,
    /// Oldest first.
    buckets: Vec<IngestBucket>,
}

/// A zone's properties.
#[derive(Serialize, ToSchema)]
pub struct ZoneProperties {
    /// Stable id, as broadcasts name it.
    id: String,
    /// A name people know.
    name: String,
    /// perimeter, sector, exit, first_aid, assembly…
    kind: String,
    /// People it holds, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<u64>,
}

/// One zone as a GeoJSON Feature.
#[derive(Serialize, ToSchema)]
pub struct ZoneFeature {
    /// `Feature`.
    r#type: FeatureTag,
    /// Polygon, MultiPolygon or Point.
    #[schema(value_type = Object)]
    geometry: serde_json::Value,
    /// The zone.
    properties: ZoneProperties,
}

/// `GET /api/v1/zones`.
#[derive(Serialize, ToSchema)]
pub struct ZoneCollection {
    /// `FeatureCollection`.
    r#type: FeatureCollectionTag,
    /// Every zone.
    features: Vec<ZoneFeature>,
}

/// How the heatmap answers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HeatmapFormat {
    /// `{"res", "window", "as_of", "cells"}`.
    Json,
    /// A GeoJSON FeatureCollection of the cells' outlines.
    Geojson,
}

/// The kinds of a cell's alert.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CellAlertKind {
    /// A sudden rise.
    Surge,
    /// A density above the limit.
    Threshold,
}

/// An alert about one H3 cell, raised from the counts.
#[derive(Serialize, ToSchema)]
pub struct CellAlert {
    /// Unique id.
    id: String,
    /// Its rule.
    kind: CellAlertKind,
    /// The H3 cell.
    #[schema(pattern = "^[0-9a-f]{15}$")]
    cell: String,
    /// Its resolution.
    #[schema(minimum = 0, maximum = 15)]
    res: u8,
    /// Its centre.
    #[schema(minimum = -90, maximum = 90)]
    lat: f64,
    /// Its centre.
    #[schema(minimum = -180, maximum = 180)]
    lon: f64,
    /// The smallest zone containing the cell; null when none does.
    #[schema(nullable)]
    zone: Option<String>,
    /// The zone's name, or "near <lat, lon>".
    place: String,
    /// Items in the last minute.
    #[schema(minimum = 0)]
    count: u64,
    /// Distinct contributors in the last minute.
    #[schema(minimum = 0)]
    contributors: u64,
    /// Items per km² in the last minute.
    #[schema(minimum = 0)]
    density_km2: f64,
    /// The cell's items per minute over the 14 minutes before.
    #[schema(minimum = 0)]
    baseline_per_min: f64,
    /// When it was raised.
    raised_at: DateTime<Utc>,
}

/// The kinds of a zone's alert.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZoneAlertKind {
    /// The zone reached a level (caution or above) it was below.
    ZoneLevel,
    /// At the current rise, the zone is `serious` within 10 minutes.
    ZoneForecast,
}

/// An alert about a named zone, raised from its status (DESIGN §9).
#[derive(Serialize, ToSchema)]
pub struct ZoneAlert {
    /// Unique id.
    id: String,
    /// Its rule.
    kind: ZoneAlertKind,
    /// The zone's id.
    zone: String,
    /// The zone's name.
    place: String,
    /// The zone's name, as in its status.
    name: String,
    /// The level of the estimate.
    level: crate::crowd::level::Level,
    /// The level of the interval's upper end.
    level_high: crate::crowd::level::Level,
    /// People, with the 90 % prediction interval.
    people: crate::crowd::estimate::Estimate,
    /// People per m².
    #[schema(minimum = 0)]
    density_m2: f64,
    /// Share of the capacity; null without one.
    #[schema(nullable, minimum = 0)]
    utilisation: Option<f64>,
    /// Against 15 minutes before.
    trend: crate::crowd::level::Trend,
    /// The change in percent; null without a history.
    #[schema(nullable)]
    trend_pct: Option<f64>,
    /// Minutes until `serious` at the current rise; null beyond 30.
    #[schema(nullable, minimum = 0, maximum = 30)]
    minutes_to_serious: Option<u32>,
    /// When it was raised.
    raised_at: DateTime<Utc>,
}

/// One raised alert: a cell's or a zone's, told apart by `kind`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RaisedAlert {
    /// Surge or threshold.
    Cell(CellAlert),
    /// Zone level or forecast.
    Zone(ZoneAlert),
}

/// `GET /api/v1/alerts`.
#[derive(Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    alerts: Vec<RaisedAlert>,
}
