//! Open311 GeoReport v2 at `/open311/v2/` (DESIGN §11): civic reporting
//! apps file reports and follow them in the standard's JSON and XML. This
//! module owns the translation only: a request is a report taken by the
//! same intake as `POST /api/v1/reports` (validation, per-address limits,
//! moderation), and what the public reads back is what the public may see
//! of reports anywhere (§6).
//!
//! Privacy of the reads: without a token, `GET requests` and
//! `GET requests/{id}` show only reports that count in public views
//! (verified ones, and field reports that are not set aside), with the text
//! masked as on every public surface and the position moved to the centre
//! of its cell at the finest public resolution. Every other id answers 404,
//! word for word as an id that never existed, so that no stranger can tell
//! an unverified report exists — not even its own author, who knows it from
//! the answer to the POST. The public list is read from the engine at most
//! once a second for all callers together.

mod error;
pub mod schemas;
pub mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Resource, web};
use chrono::{DateTime, Utc};

pub use error::GeoError;
use wire::{Document, Format, Node, Record};

use super::error::ApiError;
use super::{AppState, Caller};
use crate::domain::report::{CATEGORIES, Report, ReportCategory, ReportInput, ReportOrigin, ReportStatus};
use crate::domain::{FieldError, Role};
use crate::engine::EngineError;
use crate::reports::ReportFilter;

/// The largest form a client may POST: room for a description of 2,000
/// characters however it is percent-encoded.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// At most this many requests in one answer, newest first, as the
/// specification suggests.
const MAX_LISTED: usize = 1_000;

/// How old the public list may be: one engine read per second serves every
/// public caller.
const PUBLIC_LIST_TTL: Duration = Duration::from_secs(1);

/// The GeoReport v2 specification the discovery document points to.
const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

/// When this endpoint's behaviour last changed, as discovery tells clients.
const CHANGESET: &str = "2026-11-30T00:00:00Z";

/// A service per report category: its readable name, what it is for, its
/// keywords and group.
fn service_of(category: ReportCategory) -> (&'static str, &'static str, &'static str, &'static str) {
    use ReportCategory as C;
    match category {
        C::Crowd => (
            "Crowding",
            "Too many people in one place, crushing or pushing",
            "crowd,crush,overcrowding,queue",
            "Crowd",
        ),
        C::Violence => (
            "Violence",
            "Fighting, assault or threats",
            "violence,fight,assault,threat",
            "Safety",
        ),
        C::Fire => ("Fire", "Fire or smoke", "fire,smoke,flames", "Safety"),
        C::Medical => (
            "Medical help",
            "Someone is hurt or unwell",
            "medical,injury,ambulance,unwell",
            "Health",
        ),
        C::MissingPerson => (
            "Missing person",
            "Someone is lost or missing, such as a child",
            "missing,lost,child",
            "Health",
        ),
        C::SuspiciousItem => (
            "Suspicious item",
            "An object left unattended",
            "suspicious,unattended,bag,package",
            "Safety",
        ),
        C::Infrastructure => (
            "Infrastructure",
            "Barriers, stages, lights, exits or roads failing or blocked",
            "barrier,exit,blocked,lighting,road",
            "Infrastructure",
        ),
        C::Rumour => (
            "Rumour",
            "A claim going round that should be checked",
            "rumour,rumor,claim,misinformation",
            "Information",
        ),
        C::Other => ("Other", "Anything else the operators should know", "other", "Other"),
    }
}

/// Every service as the `services` resource lists it.
fn service_record(category: ReportCategory) -> Record {
    let (name, description, keywords, group) = service_of(category);
    vec![
        ("service_code", Node::Text(category.as_str().to_owned())),
        ("service_name", Node::Text(name.to_owned())),
        ("description", Node::Text(description.to_owned())),
        ("metadata", Node::Bool(false)),
        ("type", Node::Text("realtime".to_owned())),
        ("keywords", Node::Text(keywords.to_owned())),
        ("group", Node::Text(group.to_owned())),
    ]
}

/// The public requests, read from the engine at most once per
/// [`PUBLIC_LIST_TTL`] for every public caller of this node together.
#[derive(Default)]
pub struct PublicRequests {
    cached: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Report>>)>>,
}

impl PublicRequests {
    async fn current(&self, state: &AppState) -> Result<Arc<Vec<Report>>, EngineError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, list)) = cached.as_ref()
            && at.elapsed() < PUBLIC_LIST_TTL
        {
            return Ok(list.clone());
        }
        let list: Vec<Report> = state
            .reports
            .list(&ReportFilter::default())
            .await?
            .into_iter()
            .filter(public_may_see)
            .collect();
        let list = Arc::new(list);
        *cached = Some((Instant::now(), list.clone()));
        Ok(list)
    }
}

/// Whether a report counts in public views (DESIGN §6): verified, or a
/// field report not set aside.
fn public_may_see(r: &Report) -> bool {
    match r.status {
        ReportStatus::Verified => true,
        ReportStatus::Unverified => r.origin == ReportOrigin::Field,
        ReportStatus::Dismissed | ReportStatus::False => false,
    }
}

/// Who reads, and so how much of a report they see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// Everything, the text unmasked.
    Operator,
    /// Every report at its position, the text masked.
    Commander,
    /// What counts in public views, masked and at the cell's centre.
    Public,
}

/// The `{name}.{format}` of a path: the format, or 404 in XML.
fn split_format(file: &str) -> Result<(&str, Format), GeoError> {
    let not_found = || GeoError::not_found(Format::Xml, "resources end in .json or .xml");
    let (name, ext) = file.rsplit_once('.').ok_or_else(not_found)?;
    let format = Format::from_extension(ext).ok_or_else(not_found)?;
    Ok((name, format))
}

fn format_of(req: &HttpRequest) -> Result<Format, GeoError> {
    let ext = req.match_info().get("format").unwrap_or("");
    Format::from_extension(ext).ok_or_else(|| GeoError::not_found(Format::Xml, "resources end in .json or .xml"))
}

/// The caller, with a forged or expired token refused in GeoReport's form.
async fn caller(req: &HttpRequest, format: Format) -> Result<Caller, GeoError> {
    Caller::from_request(req, &mut Payload::None)
        .await
        .map_err(|e| GeoError::new(format, e))
}

fn state(req: &HttpRequest, format: Format) -> Result<&web::Data<AppState>, GeoError> {
    req.app_data::<web::Data<AppState>>().ok_or_else(|| {
        GeoError::new(
            format,
            ApiError::Unavailable(EngineError::Unavailable("no application state".into())),
        )
    })
}

/// The query's parameters, each named once.
fn query_params(req: &HttpRequest, format: Format) -> Result<Vec<(String, String)>, GeoError> {
    pairs(req.query_string().as_bytes(), format)
}

/// Form or query pairs (`application/x-www-form-urlencoded`); a name given
/// twice is refused rather than one of its values silently chosen, and so
/// is a name or value whose bytes are not UTF-8 (the specification's only
/// encoding), rather than changed into other text.
fn pairs(bytes: &[u8], format: Format) -> Result<Vec<(String, String)>, GeoError> {
    let invalid = |message: String| GeoError::new(format, FieldError::general("invalid_georeport_request", message));
    let decode = |part: &[u8]| -> Result<String, GeoError> {
        let spaced: Vec<u8> = part.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| invalid("the form holds bytes that are not UTF-8; send UTF-8, percent-encoded".to_owned()))
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for part in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.iter().position(|&b| b == b'=') {
            Some(at) => (&part[..at], &part[at + 1..]),
            None => (part, &[][..]),
        };
        let (name, value) = (decode(name)?, decode(value)?);
        if out.iter().any(|(n, _)| *n == name) {
            return Err(invalid(format!("{} is given more than once", printable(&name))));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// A parameter name as an error message may repeat it: short, and without
/// what XML cannot carry.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// `GET discovery.{format}`: where this endpoint is and what it speaks.
#[utoipa::path(get, path = "/open311/v2/discovery.{format}", tag = "open311", operation_id = "open311_discovery",
    params(("format" = schemas::Open311Format, Path, description = "json or xml")),
    responses((status = 200, description = "The service discovery document", content((schemas::Discovery = "application/json"), (String = "text/xml"))),
              (status = 404, description = "Not .json or .xml", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 429, description = "Too many requests from this address", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml")))))]
pub async fn discovery(req: HttpRequest) -> Result<HttpResponse, GeoError> {
    let format = format_of(&req)?;
    let state = state(&req, format)?;
    let base = state.settings.publisher.base_url.trim_end_matches('/');
    let endpoint = vec![
        ("specification", Node::Text(SPECIFICATION.to_owned())),
        ("url", Node::Text(format!("{base}/open311/v2"))),
        ("changeset", Node::Text(CHANGESET.to_owned())),
        ("type", Node::Text("production".to_owned())),
        (
            "formats",
            Node::List(
                "format",
                vec![
                    Node::Text("text/xml".to_owned()),
                    Node::Text("application/json".to_owned()),
                ],
            ),
        ),
    ];
    let doc = Document::One(
        "discovery",
        vec![
            ("changeset", Node::Text(CHANGESET.to_owned())),
            (
                "contact",
                Node::Text(format!("The operations room of {}", state.settings.event_name)),
            ),
            (
                "key_service",
                Node::Text(
                    "No api_key is needed: anyone may report. Field teams send their Campanile bearer token."
                        .to_owned(),
                ),
            ),
            ("endpoints", Node::List("endpoint", vec![Node::Record(endpoint)])),
        ],
    );
    Ok(doc.respond(StatusCode::OK, format))
}

/// `GET services.{format}`: one service per report category.
#[utoipa::path(get, path = "/open311/v2/services.{format}", tag = "open311", operation_id = "open311_services",
    params(("format" = schemas::Open311Format, Path, description = "json or xml"),
           ("jurisdiction_id" = Option<String>, Query, description = "Accepted and ignored: one deployment is one jurisdiction")),
    responses((status = 200, description = "Every service", content((Vec<schemas::Service> = "application/json"), (String = "text/xml"))),
              (status = 404, description = "Not .json or .xml", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 429, description = "Too many requests from this address", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml")))))]
pub async fn services(req: HttpRequest) -> Result<HttpResponse, GeoError> {
    let format = format_of(&req)?;
    let records = CATEGORIES
        .iter()
        .filter_map(|c| ReportCategory::from_wire(c))
        .map(service_record)
        .collect();
    Ok(Document::Many("services", "service", records).respond(StatusCode::OK, format))
}

/// `GET services/{code}.{format}`: a service's definition; no service asks
/// for more than the request's own fields, so `attributes` is empty.
#[utoipa::path(get, path = "/open311/v2/services/{file}", tag = "open311", operation_id = "open311_service_definition",
    params(("file" = String, Path, description = "`{service_code}.json` or `{service_code}.xml`", pattern = r"^[a-z_]+\.(json|xml)$")),
    responses((status = 200, description = "The service definition", content((schemas::ServiceDefinition = "application/json"), (String = "text/xml"))),
              (status = 404, description = "No such service, or not .json or .xml", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 429, description = "Too many requests from this address", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml")))))]
pub async fn service_definition(req: HttpRequest) -> Result<HttpResponse, GeoError> {
    let (code, format) = split_format(req.match_info().get("file").unwrap_or(""))?;
    let category = ReportCategory::from_wire(code).ok_or_else(|| {
        GeoError::not_found(
            format,
            format!("no such service; the services are {}", CATEGORIES.join(", ")),
        )
    })?;
    let doc = Document::One(
        "service_definition",
        vec![
            ("service_code", Node::Text(category.as_str().to_owned())),
            ("attributes", Node::List("attribute", Vec::new())),
        ],
    );
    Ok(doc.respond(StatusCode::OK, format))
}

/// A report as a GeoReport request, as `reader` may see it.
fn request_record(r: &Report, reader: Reader, public_res: h3o::Resolution) -> Record {
    let (status, notes) = match r.status {
        ReportStatus::Unverified => ("open", "Received; not yet verified by an operator"),
        ReportStatus::Verified => ("open", "Verified by an operator"),
        ReportStatus::Dismissed => ("closed", "Dismissed by an operator"),
        ReportStatus::False => ("closed", "Found false by an operator: a rumour"),
    };
    let (lat, lon) = match reader {
        Reader::Public => cell_centre(r, public_res),
        Reader::Operator | Reader::Commander => (r.location.lat(), r.location.lon()),
    };
    let (name, ..) = service_of(r.category);
    let mut record = vec![
        ("service_request_id", Node::Text(r.id.clone())),
        ("status", Node::Text(status.to_owned())),
        ("status_notes", Node::Text(notes.to_owned())),
        ("service_name", Node::Text(name.to_owned())),
        ("service_code", Node::Text(r.category.as_str().to_owned())),
    ];
    if let Some(text) = &r.text {
        let text = match reader {
            Reader::Operator => text.clone(),
            Reader::Commander | Reader::Public => crate::integrity::pii::mask(text).text,
        };
        record.push(("description", Node::Text(text)));
    }
    record.push(("requested_datetime", Node::Text(crate::domain::rfc3339(r.received_at))));
    record.push(("lat", Node::Number(lat)));
    record.push(("long", Node::Number(lon)));
    record
}

/// The centre of the report's cell at the finest public resolution: no
/// finer than the public heatmap shows anything.
fn cell_centre(r: &Report, res: h3o::Resolution) -> (f64, f64) {
    match h3o::LatLng::new(r.location.lat(), r.location.lon()) {
        Ok(point) => {
            let centre = h3o::LatLng::from(point.to_cell(res));
            (round6(centre.lat()), round6(centre.lng()))
        }
        // A stored location is valid; were it not, no position is the safe answer.
        Err(_) => (0.0, 0.0),
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn public_resolution(state: &AppState) -> h3o::Resolution {
    let res = state
        .settings
        .public_max_res
        .min(u8::from(state.settings.resolutions.finest()));
    h3o::Resolution::try_from(res).unwrap_or(h3o::Resolution::Nine)
}

/// Filters of `GET requests`.
struct RequestQuery {
    ids: Option<Vec<String>>,
    codes: Option<Vec<ReportCategory>>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    open: bool,
    closed: bool,
}

fn parse_date(
    params: &[(String, String)],
    name: &'static str,
    format: Format,
) -> Result<Option<DateTime<Utc>>, GeoError> {
    param(params, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    GeoError::invalid(
                        format,
                        name,
                        format!("{name} must be a W3C date and time with its zone, such as 2026-11-28T19:22:11Z"),
                    )
                })
        })
        .transpose()
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

impl RequestQuery {
    fn parse(params: &[(String, String)], format: Format) -> Result<Self, GeoError> {
        let ids = param(params, "service_request_id").map(|v| list(v).map(str::to_owned).take(MAX_LISTED).collect());
        let codes = param(params, "service_code")
            .map(|v| {
                list(v)
                    .map(|c| {
                        ReportCategory::from_wire(c).ok_or_else(|| {
                            GeoError::invalid(
                                format,
                                "service_code",
                                format!(
                                    "service_code names no service; the services are {}",
                                    CATEGORIES.join(", ")
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let start = parse_date(params, "start_date", format)?;
        let end = parse_date(params, "end_date", format)?;
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(GeoError::invalid(format, "start_date", "start_date is after end_date"));
        }
        let (mut open, mut closed) = (true, true);
        if let Some(status) = param(params, "status") {
            (open, closed) = (false, false);
            for s in list(status) {
                match s {
                    "open" => open = true,
                    "closed" => closed = true,
                    _ => {
                        return Err(GeoError::invalid(
                            format,
                            "status",
                            "status must be open, closed or both separated by a comma",
                        ));
                    }
                }
            }
        }
        Ok(Self {
            ids,
            codes,
            start,
            end,
            open,
            closed,
        })
    }

    /// Whether `r` answers it; with ids given, the other filters are
    /// ignored, as the specification says.
    fn matches(&self, r: &Report) -> bool {
        if let Some(ids) = &self.ids {
            return ids.contains(&r.id);
        }
        let open = matches!(r.status, ReportStatus::Unverified | ReportStatus::Verified);
        self.codes.as_ref().is_none_or(|c| c.contains(&r.category))
            && self.start.is_none_or(|s| r.received_at >= s)
            && self.end.is_none_or(|e| r.received_at <= e)
            && if open { self.open } else { self.closed }
    }
}

fn reader_of(caller: &Caller) -> Reader {
    if caller.0.has_any(&[Role::Operator]) {
        Reader::Operator
    } else if caller.0.has_any(&[Role::Commander]) {
        Reader::Commander
    } else {
        Reader::Public
    }
}

/// The reports `caller` may read, and as whom.
async fn readable(caller: &Caller, state: &AppState, format: Format) -> Result<(Arc<Vec<Report>>, Reader), GeoError> {
    let reader = reader_of(caller);
    let reports = match reader {
        Reader::Public => state.open311.current(state).await,
        Reader::Operator | Reader::Commander => state.reports.list(&ReportFilter::default()).await.map(Arc::new),
    }
    .map_err(|e| GeoError::new(format, e))?;
    Ok((reports, reader))
}

/// `GET requests.{format}`: requests, newest first.
#[utoipa::path(get, path = "/open311/v2/requests.{format}", tag = "open311", operation_id = "open311_list_requests",
    params(("format" = schemas::Open311Format, Path, description = "json or xml"),
           ("service_request_id" = Option<String>, Query, description = "Comma-separated ids; the other filters are then ignored"),
           ("service_code" = Option<String>, Query, description = "Comma-separated service codes"),
           ("start_date" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Requested at or after"),
           ("end_date" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Requested at or before"),
           ("status" = Option<String>, Query, description = "open, closed, or both comma-separated", pattern = r"^(open|closed)(,(open|closed))?$"),
           ("jurisdiction_id" = Option<String>, Query, description = "Accepted and ignored")),
    responses((status = 200, description = "Requests; without a token only those verified (or field reports), masked and at their cell's centre", content((Vec<schemas::ServiceRequest> = "application/json"), (String = "text/xml"))),
              (status = 400, description = "A bad filter", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 401, description = "Forged or expired token", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 404, description = "Not .json or .xml", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 429, description = "Too many requests from this address", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 503, description = "Engine unavailable", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml")))),
    security((), ("bearer" = [])))]
pub async fn list_requests(req: HttpRequest) -> Result<HttpResponse, GeoError> {
    let format = format_of(&req)?;
    let state = state(&req, format)?;
    let caller = caller(&req, format).await?;
    let params = query_params(&req, format)?;
    let query = RequestQuery::parse(&params, format)?;
    let (reports, reader) = readable(&caller, state, format).await?;
    let res = public_resolution(state);
    let records = reports
        .iter()
        .rev()
        .filter(|r| query.matches(r))
        .take(MAX_LISTED)
        .map(|r| request_record(r, reader, res))
        .collect();
    Ok(Document::Many("service_requests", "request", records).respond(StatusCode::OK, format))
}

/// `GET requests/{id}.{format}`: one request, as a list of one.
#[utoipa::path(get, path = "/open311/v2/requests/{file}", tag = "open311", operation_id = "open311_one_request",
    params(("file" = String, Path, description = "`{service_request_id}.json` or `.xml`")),
    responses((status = 200, description = "The request, as a list of one", content((Vec<schemas::ServiceRequest> = "application/json"), (String = "text/xml"))),
              (status = 401, description = "Forged or expired token", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 404, description = "No request the caller may see has this id", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 429, description = "Too many requests from this address", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 503, description = "Engine unavailable", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml")))),
    security((), ("bearer" = [])))]
pub async fn one_request(req: HttpRequest) -> Result<HttpResponse, GeoError> {
    let (id, format) = split_format(req.match_info().get("file").unwrap_or(""))?;
    let state = state(&req, format)?;
    let caller = caller(&req, format).await?;
    let reader = reader_of(&caller);
    let report = match reader {
        Reader::Public => state
            .open311
            .current(state)
            .await
            .map(|public| public.iter().find(|r| r.id == id).cloned()),
        Reader::Operator | Reader::Commander => state.reports.get(id).await,
    }
    .map_err(|e| GeoError::new(format, e))?;
    // One answer for "never existed" and "not yours to see".
    let report = report.ok_or_else(|| GeoError::not_found(format, "no such service request"))?;
    let record = request_record(&report, reader, public_resolution(state));
    Ok(Document::Many("service_requests", "request", vec![record]).respond(StatusCode::OK, format))
}

/// A form field of at most `max` characters with nothing XML cannot carry.
fn checked<'a>(
    params: &'a [(String, String)],
    name: &'static str,
    max: usize,
    format: Format,
) -> Result<Option<&'a str>, GeoError> {
    let Some(value) = param(params, name).map(str::trim) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(GeoError::invalid(
            format,
            name,
            format!("{name} must be at most {max} characters"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || !crate::domain::text::is_xml_char(*c))
    {
        return Err(GeoError::invalid(
            format,
            name,
            format!("{name} contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(Some(value))
}

/// A coordinate of the form: a finite decimal number in range.
fn coordinate(params: &[(String, String)], name: &'static str, bound: f64, format: Format) -> Result<f64, GeoError> {
    let value = param(params, name).ok_or_else(|| {
        GeoError::invalid(
            format,
            name,
            "lat and long are required: Campanile places reports by position and does not look up address_string",
        )
    })?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (-bound..=bound).contains(v))
        .ok_or_else(|| {
            GeoError::invalid(
                format,
                name,
                format!("{name} must be a decimal number of degrees within [-{bound}, {bound}]"),
            )
        })
}

/// The report a GeoReport form asks for; every rule named by the form's
/// own field names.
fn report_input(params: &[(String, String)], format: Format) -> Result<ReportInput, GeoError> {
    let code = param(params, "service_code")
        .ok_or_else(|| GeoError::invalid(format, "service_code", "service_code is required"))?;
    if ReportCategory::from_wire(code).is_none() {
        return Err(GeoError::invalid(
            format,
            "service_code",
            format!(
                "service_code names no service; the services are {}",
                CATEGORIES.join(", ")
            ),
        ));
    }
    let lat = coordinate(params, "lat", 90.0, format)?;
    let lon = coordinate(params, "long", 180.0, format)?;
    // Control characters are refused here for every field: tab and line
    // breaks are fine in a description only.
    let description = param(params, "description").map(str::trim);
    if let Some(c) = description.and_then(|d| d.chars().find(|c| !crate::domain::text::is_xml_char(*c))) {
        return Err(GeoError::invalid(
            format,
            "description",
            format!("description contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    let address = checked(params, "address_string", 256, format)?;
    let media = checked(params, "media_url", 2_048, format)?;
    if let Some(m) = media
        && !url::Url::parse(m).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        return Err(GeoError::invalid(
            format,
            "media_url",
            "media_url must be an http or https URL",
        ));
    }
    let first = checked(params, "first_name", 64, format)?;
    let last = checked(params, "last_name", 64, format)?;
    let email = checked(params, "email", 254, format)?;
    if let Some(e) = email
        && (e.contains(char::is_whitespace) || !e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty()))
    {
        return Err(GeoError::invalid(format, "email", "email must be an e-mail address"));
    }
    let phone = checked(params, "phone", 32, format)?;
    if let Some(p) = phone
        && !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return Err(GeoError::invalid(
            format,
            "phone",
            "phone must be digits, spaces and + - ( ) . only",
        ));
    }
    // Checked, and not kept: Campanile has no accounts and no devices to
    // follow. The api_key and jurisdiction_id of other servers mean nothing
    // here either.
    checked(params, "device_id", 128, format)?;
    checked(params, "account_id", 128, format)?;
    let name = [first, last].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let contact: Vec<String> = [
        (!name.is_empty()).then_some(name),
        email.map(str::to_owned),
        phone.map(str::to_owned),
    ]
    .into_iter()
    .flatten()
    .collect();
    // What operators need to read beside the description, in the text they
    // read: the public sees it masked, as any report's text.
    let mut text: Vec<String> = description
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Some(a) = address {
        text.push(format!("Address: {a}"));
    }
    if let Some(m) = media {
        text.push(format!("Media: {m}"));
    }
    Ok(ReportInput {
        lat: Some(lat),
        lon: Some(lon),
        category: Some(code.to_owned()),
        text: (!text.is_empty()).then(|| text.join("\n")),
        crowd_estimate: None,
        contact: (!contact.is_empty()).then(|| contact.join("; ")),
        methane: None,
    })
}

/// The intake's words about a report field, in the form's names.
fn in_form_terms(e: ApiError, format: Format) -> GeoError {
    let ApiError::Invalid(f) = e else {
        return GeoError::new(format, e);
    };
    let (field, what): (&'static str, &str) = match f.field.as_deref() {
        Some("text") => ("description", "description (with address_string and media_url)"),
        Some("contact") => ("email", "first_name, last_name, email and phone together"),
        Some("lon") => ("long", "long"),
        Some("lat") => ("lat", "lat"),
        Some("category") => ("service_code", "service_code"),
        _ => return GeoError::new(format, ApiError::Invalid(f)),
    };
    let from = f.field.as_deref().unwrap_or("");
    let rest = f.message.strip_prefix(from).unwrap_or(&f.message);
    GeoError::invalid(format, field, format!("{what}{rest}"))
}

fn require_form(req: &HttpRequest, format: Format) -> Result<(), GeoError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Ok(());
    }
    Err(GeoError::new(
        format,
        ApiError::UnsupportedMediaType(format!(
            "a service request must be sent as application/x-www-form-urlencoded, not {:?}",
            if content_type.is_empty() {
                "no content type"
            } else {
                content_type
            }
        )),
    ))
}

/// Refuses a POST a browser makes from another site's page. GeoReport
/// posts forms, which any page can make its visitors' browsers send without
/// asking (the JSON route refuses forms for that reason); civic apps and
/// their servers send no `Origin`, and a page elsewhere could not read the
/// answer anyway, as no CORS is granted. So a visitor's browser cannot be
/// made to file reports from the visitor's address.
fn refuse_other_sites(req: &HttpRequest, state: &AppState, format: Format) -> Result<(), GeoError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let ours = url::Url::parse(&state.settings.publisher.base_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    let theirs = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .map(|u| u.origin().ascii_serialization());
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if ours == theirs => Ok(()),
        _ => Err(GeoError::new(
            format,
            ApiError::Forbidden("requests are not taken from pages of other sites".to_owned()),
        )),
    }
}

/// `POST requests.{format}`: files a report through the one intake.
#[utoipa::path(post, path = "/open311/v2/requests.{format}", tag = "open311", operation_id = "open311_create_request",
    params(("format" = schemas::Open311Format, Path, description = "json or xml")),
    request_body(content = schemas::RequestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, description = "Taken as a report; a citizen's is shown publicly once verified", content((Vec<schemas::RequestCreated> = "application/json"), (String = "text/xml"))),
              (status = 400, description = "Bad input", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 401, description = "Forged or expired token", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 403, description = "Sent by a browser from another site's page (`Origin`)", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 404, description = "Not .json or .xml", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 408, description = "The body did not arrive in time", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 413, description = "More than 64 KiB", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 415, description = "Not application/x-www-form-urlencoded", content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 429, description = "Too many reports from this address", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml"))),
              (status = 503, description = "Engine unavailable: nothing was acknowledged", headers(("Retry-After" = u64, description = "Seconds to wait before retrying")), content((Vec<schemas::GeoReportError> = "application/json"), (String = "text/xml")))),
    security((), ("bearer" = [])))]
pub async fn create_request(req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, GeoError> {
    let format = format_of(&req)?;
    let state = state(&req, format)?;
    let caller = caller(&req, format).await?;
    caller
        .throttle(&req, state, crate::limits::Spend::Report)
        .map_err(|e| GeoError::new(format, e))?;
    refuse_other_sites(&req, state, format)?;
    require_form(&req, format)?;
    let body = super::read_body(&req, payload, MAX_FORM_BYTES)
        .await
        .map_err(|e| GeoError::new(format, e))?;
    let params = pairs(&body, format)?;
    let input = report_input(&params, format)?;
    let report = super::reports::intake(&caller, state, &input)
        .await
        .map_err(|e| in_form_terms(e, format))?;
    let notice = match report.origin {
        ReportOrigin::Field => "Taken as a field report: it counts at once.",
        ReportOrigin::Citizen => {
            "Received. Operators review every report; it is listed publicly once one of them has verified it."
        }
    };
    let record = vec![
        ("service_request_id", Node::Text(report.id.clone())),
        ("service_notice", Node::Text(notice.to_owned())),
    ];
    Ok(Document::Many("service_requests", "request", vec![record]).respond(StatusCode::CREATED, format))
}

/// A GeoReport route answering `routes`, and other methods with 405 in
/// GeoReport's form and an `Allow` header; GET routes answer HEAD too.
fn resource<const N: usize>(path: &str, routes: [(Method, actix_web::Route); N]) -> Resource {
    let (resource, allow) = super::routed(path, routes);
    resource.default_service(web::to(move |req: HttpRequest| {
        let allow = allow.clone();
        async move {
            Err::<HttpResponse, _>(GeoError::new(
                Format::of_path(req.path()),
                ApiError::MethodNotAllowed(allow),
            ))
        }
    }))
}

/// Anything else under `/open311/`: 404 in GeoReport's form.
async fn unknown(req: HttpRequest) -> Result<HttpResponse, GeoError> {
    Err(GeoError::not_found(
        Format::of_path(req.path()),
        "no such GeoReport resource; start at /open311/v2/discovery.xml",
    ))
}

/// Mounts `/open311/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use Method as M;
    cfg.service(
        web::scope("/open311/v2")
            .service(resource("/discovery.{format}", [(M::GET, web::to(discovery))]))
            .service(resource("/services.{format}", [(M::GET, web::to(services))]))
            .service(resource("/services/{file}", [(M::GET, web::to(service_definition))]))
            .service(resource(
                "/requests.{format}",
                [(M::GET, web::to(list_requests)), (M::POST, web::to(create_request))],
            ))
            .service(resource("/requests/{file}", [(M::GET, web::to(one_request))]))
            .default_service(web::to(unknown)),
    )
    .service(web::scope("/open311").default_service(web::to(unknown)));
}
