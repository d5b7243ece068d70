//! Calibration of the posts → people model (DESIGN §9, "People from
//! posts"): `POST /api/v1/zones/{id}/headcount` takes a counted crowd,
//! commanders' field reports with a `crowd_estimate` add theirs, and
//! `GET /api/v1/calibration` shows operators the fits the zones use.
//!
//! Only operators and commanders calibrate: citizens' estimates are never
//! used, or anyone could tell the map how many people stand anywhere.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::crowd::estimate::Model;
use crate::domain::report::Report;
use crate::domain::{FieldError, Role};
use crate::engine::crowd::{Headcount, HeadcountSource};
use crate::hub::HeadcountError;

/// The largest head-count body: one number and room for whitespace.
const MAX_HEADCOUNT_BYTES: usize = 4 * 1024;

impl From<HeadcountError> for ApiError {
    fn from(e: HeadcountError) -> Self {
        match e {
            HeadcountError::UnknownZone(id) => {
                ApiError::NotFound(format!("no zone {id:?} with an area to count people in"))
            }
            HeadcountError::Implausible(f) => ApiError::Invalid(f),
            HeadcountError::Engine(e) => ApiError::Unavailable(e),
        }
    }
}

/// A head-count as sent; nothing checked yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeadcountRequest {
    /// People counted in the zone now: a whole number from 0 up to 10 per
    /// m² of the zone's area.
    #[schema(value_type = u64, required = true, minimum = 0, example = 5200)]
    people: Option<Value>,
}

impl HeadcountRequest {
    const FIELDS: &'static [&'static str] = &["people"];

    /// The people counted: a whole, non-negative number however JSON spells
    /// it (`400` or `400.0`, as JSON Schema reads an integer).
    fn people(&self) -> Result<u64, FieldError> {
        let refuse = |why: &str| FieldError::new("invalid_headcount", "people", format!("people must be {why}"));
        let n = match &self.people {
            None | Some(Value::Null) => return Err(FieldError::missing("people")),
            Some(Value::Number(n)) => n,
            Some(_) => return Err(refuse("a number")),
        };
        if let Some(whole) = n.as_u64() {
            return Ok(whole);
        }
        match n.as_f64() {
            Some(f) if f < 0.0 => Err(refuse("0 or more: nobody is fewer than no one")),
            // Below 2^53 every whole f64 converts exactly.
            Some(f) if f.fract() == 0.0 && f < 9_007_199_254_740_992.0 => Ok(f as u64),
            _ => Err(refuse("a whole number of people")),
        }
    }
}

/// A stored head-count: one calibration pair.
#[derive(Serialize, ToSchema)]
pub struct HeadcountView {
    /// Unique id.
    id: String,
    /// The zone counted.
    #[schema(example = "piazza-nettuno")]
    zone: String,
    /// When it was counted (RFC 3339).
    at: String,
    /// The zone's distinct contributors over the estimate window then.
    u: u64,
    /// People counted.
    people: u64,
    /// How it arrived.
    source: HeadcountSource,
    /// The token subject who counted.
    by: String,
}

impl From<&Headcount> for HeadcountView {
    fn from(h: &Headcount) -> Self {
        HeadcountView {
            id: h.id.clone(),
            zone: h.zone.clone(),
            at: DateTime::from_timestamp(h.at, 0)
                .map(crate::domain::rfc3339)
                .unwrap_or_default(),
            u: h.u,
            people: h.people,
            source: h.source,
            by: h.by.clone(),
        }
    }
}

/// Whose calibration a model is.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The zone's own fit.
    Zone,
    /// The fit over every recent pair of the deployment.
    Deployment,
    /// The uncalibrated prior.
    Prior,
}

/// A model `people = a + b·u`; the fit's figures are null while the prior
/// applies.
#[derive(Serialize, ToSchema)]
pub struct ModelView {
    /// Whose calibration this is.
    model: ModelKind,
    /// Whether head-counts calibrated it.
    calibrated: bool,
    /// Intercept: people when nobody posts.
    a: Option<f64>,
    /// Slope: people per distinct contributor.
    b: Option<f64>,
    /// Standard error of `a`.
    se_a: Option<f64>,
    /// Standard error of `b`.
    se_b: Option<f64>,
    /// Share of the counts' variance the line explains.
    r2: Option<f64>,
    /// Pairs fitted (0 for the prior).
    n: usize,
    /// Leave-one-out mean absolute percentage error, in percent.
    loo_mape: Option<f64>,
}

impl From<&Model> for ModelView {
    fn from(model: &Model) -> Self {
        let kind = match model {
            Model::Zone(_) => ModelKind::Zone,
            Model::Deployment(_) => ModelKind::Deployment,
            Model::Prior(_) => ModelKind::Prior,
        };
        let fit = model.fit();
        // A figure JSON cannot carry is no figure at all.
        let finite = |x: f64| x.is_finite().then_some(x);
        ModelView {
            model: kind,
            calibrated: fit.is_some(),
            a: fit.and_then(|f| finite(f.a)),
            b: fit.and_then(|f| finite(f.b)),
            se_a: fit.and_then(|f| finite(f.se_a)),
            se_b: fit.and_then(|f| finite(f.se_b)),
            r2: fit.and_then(|f| finite(f.r2)),
            n: fit.map_or(0, |f| f.n),
            loo_mape: fit.and_then(|f| f.loo_mape).and_then(finite),
        }
    }
}

/// The model an area zone uses now.
#[derive(Serialize, ToSchema)]
pub struct ZoneModelView {
    /// The zone.
    #[schema(example = "piazza-nettuno")]
    id: String,
    /// Its name.
    name: String,
    /// The model its status uses.
    #[serde(flatten)]
    model: ModelView,
    /// The zone's own recent pairs: at 3 with two distinct `u` it gets its own fit.
    own_pairs: usize,
}

/// The prior used until calibrated.
#[derive(Serialize, ToSchema)]
pub struct PriorView {
    /// `--people-per-contributor`.
    people_per_contributor: f64,
}

/// Which pairs a fit uses: the newest `max_pairs` not older than `max_age_secs`.
#[derive(Serialize, ToSchema)]
pub struct RecencyView {
    /// At most this many pairs, newest first.
    max_pairs: usize,
    /// No pair counted longer ago than this, in seconds.
    max_age_secs: i64,
}

/// `GET /api/v1/calibration`.
#[derive(Serialize, ToSchema)]
pub struct CalibrationView {
    /// When it was read.
    as_of: String,
    /// The prior.
    prior: PriorView,
    /// The recency rule.
    recency: RecencyView,
    /// The deployment's model: its fit over every recent pair, or the prior.
    deployment: ModelView,
    /// Every area zone's model, by id.
    zones: Vec<ZoneModelView>,
    /// The recent pairs, newest first.
    pairs: Vec<HeadcountView>,
}

/// Takes a counted crowd in a zone (operators and commanders): it calibrates
/// the posts → people model from the next tick on, on every node.
#[utoipa::path(post, path = "/api/v1/zones/{id}/headcount", tag = "zones", operation_id = "take_headcount",
    params(("id" = String, Path, description = "The zone's id (an area zone)")),
    request_body(content = HeadcountRequest, content_type = "application/json"),
    responses((status = 201, description = "The stored head-count, paired with the zone's contributors now", body = HeadcountView),
              (status = 400, description = "Bad input or an implausible count; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators and commanders count", body = super::error::ErrorEnvelope), (status = 404, description = "No such zone, or a zone without an area", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 4 KiB", body = super::error::ErrorEnvelope), (status = 415, description = "Not application/json", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was acknowledged", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn take_headcount(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator, Role::Commander])?;
    let zones = state.hub.zones();
    zones.check_headcount(&id, 0, "people")?;
    super::body::require_json(&req, "head-count")?;
    let body = super::read_body(&req, payload, MAX_HEADCOUNT_BYTES).await?;
    let input: HeadcountRequest = super::body::parse_json_object(
        &body,
        "head-count",
        HeadcountRequest::FIELDS,
        "{\"people\": <whole number>}",
    )?;
    let people = input.people()?;
    let by = caller.sub()?;
    let headcount = zones
        .take_headcount(&id, people, HeadcountSource::Headcount, by)
        .await?;
    state
        .broadcasts
        .audit("zone.headcount", by, audit_detail(&headcount, None))
        .await?;
    Ok(HttpResponse::Created().json(HeadcountView::from(&headcount)))
}

fn audit_detail(h: &Headcount, report: Option<&str>) -> Value {
    let mut detail = json!({"id": h.id, "zone": h.zone, "u": h.u, "people": h.people, "source": h.source});
    if let Some(report) = report {
        detail["report"] = report.into();
    }
    detail
}

/// A commander's field report with a `crowd_estimate` in an area zone is a
/// head-count of the smallest zone containing it. The report is taken
/// whatever happens here: an implausible estimate is still a report, only
/// not a calibration, and a failed write loses a pair, not the report (the
/// commander would send it again and file it twice).
pub async fn calibrate_from_field_report(state: &AppState, report: &Report, by: &str) {
    let Some(people) = report.crowd_estimate else {
        return;
    };
    let zones = state.hub.zones();
    let Some(zone) = zones.zone_at(report.location) else {
        return;
    };
    if let Err(e) = zones.check_headcount(zone, people, "crowd_estimate") {
        tracing::info!(report = %report.id, zone, error = %e, "a field report's crowd estimate is not used for calibration");
        return;
    }
    let taken = zones
        .take_headcount(zone, people, HeadcountSource::FieldReport, by)
        .await;
    let headcount = match taken {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(report = %report.id, zone, error = %e, "a field report's crowd estimate could not be stored for calibration");
            return;
        }
    };
    let detail = audit_detail(&headcount, Some(&report.id));
    if let Err(e) = state.broadcasts.audit("zone.headcount", by, detail).await {
        tracing::warn!(report = %report.id, error = %e, "the audit entry of a field report's head-count could not be written");
    }
}

/// The posts → people models now (operators): the deployment's and each
/// area zone's, with their fit and error, the prior, the recency rule and
/// the recent pairs.
#[utoipa::path(get, path = "/api/v1/calibration", tag = "zones", operation_id = "get_calibration",
    responses((status = 200, description = "The models the zones use now and the pairs they were fitted from", body = CalibrationView),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators read the calibration", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn get_calibration(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let now = Utc::now();
    let calibration = state.hub.zones().calibration(now).await?;
    let own_pairs = |id: &str| {
        calibration
            .headcounts
            .iter()
            .filter(|h| h.zone == id)
            .count()
            .min(calibration.recency.max_pairs)
    };
    let zones = calibration
        .zones
        .iter()
        .map(|(id, model)| ZoneModelView {
            id: id.clone(),
            name: state.zones.name(id).unwrap_or(id).to_owned(),
            model: ModelView::from(model),
            own_pairs: own_pairs(id),
        })
        .collect();
    Ok(HttpResponse::Ok().json(CalibrationView {
        as_of: crate::domain::rfc3339(now),
        prior: PriorView {
            people_per_contributor: calibration.prior.people_per_contributor(),
        },
        recency: RecencyView {
            max_pairs: calibration.recency.max_pairs,
            max_age_secs: calibration.recency.max_age_secs,
        },
        deployment: ModelView::from(&calibration.deployment),
        zones,
        pairs: calibration.headcounts.iter().map(HeadcountView::from).collect(),
    }))
}
