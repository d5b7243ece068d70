//! Information integrity over HTTP (DESIGN §10): operators read post texts
//! (`GET /api/v1/posts`, personal data masked, never an author) and reveal
//! one with a stated reason (audited); operators and commanders read the
//! rising terms (`GET /api/v1/trends`); operators list coordinated clusters
//! and discount or restore one (audited).

use std::collections::{BTreeSet, HashMap};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::ApiError;
use super::{AppState, Caller};
use crate::domain::{BBox, FieldError, LatLon, PostText, Role, rfc3339};
use crate::engine::TextKey;
use crate::hub::{ClusterView, DecisionError, TrendsFrame};
use crate::integrity::pii::{self, PiiKind};

/// Texts `GET /api/v1/posts` returns by default, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;

/// Texts one request reads at most while filtering: a search that matches
/// little stops here and says so (`complete: false`), rather than read a
/// day of posts.
const SCAN_MAX: usize = 50_000;

/// The longest search and the longest reason.
const MAX_QUERY_CHARS: usize = 200;
const MAX_REASON_CHARS: usize = 500;

/// The largest body of a reveal or a decision.
const MAX_DECISION_BYTES: usize = 4 * 1024;

impl From<DecisionError> for ApiError {
    fn from(e: DecisionError) -> Self {
        match e {
            DecisionError::NotFound(id) => ApiError::NotFound(format!(
                "no coordinated cluster {id:?}: it may have been forgotten an hour after its last post"
            )),
            DecisionError::Engine(e) => ApiError::Unavailable(e),
        }
    }
}

/// One post's text as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostView {
    /// Its id in the text log (for a reveal).
    #[schema(example = "1764470000123-0")]
    id: String,
    /// The network or channel it came from.
    source: String,
    /// When it was posted (RFC 3339).
    posted: String,
    /// Where it was posted.
    lat: f64,
    /// Where it was posted.
    lon: f64,
    /// Its H3 cell at the alert resolution.
    cell: String,
    /// The smallest zone holding it, if any.
    zone: Option<String>,
    /// The text, personal data masked (`[phone]`, `[e-mail]`, …).
    text: String,
    /// Its language, when the sender said.
    lang: Option<String>,
    /// The kinds of personal data masked in it.
    personal_data: Vec<PiiKind>,
    /// The coordinated cluster it belongs to, if any.
    cluster: Option<String>,
    /// Whether that cluster is discounted (the post counts nowhere).
    discounted: bool,
}

/// `GET /api/v1/posts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostList {
    /// Matching posts, newest first.
    posts: Vec<PostView>,
    /// Texts read to find them.
    scanned: usize,
    /// False when the read stopped at its limit before `since` or the
    /// oldest text: narrow the search to see further back.
    complete: bool,
}

/// What a text must match.
struct Filter {
    zone: Option<String>,
    bbox: Option<BBox>,
    since: Option<i64>,
    words: Vec<String>,
    limit: usize,
}

impl Filter {
    fn parse(req: &HttpRequest, state: &AppState) -> Result<Self, ApiError> {
        let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map_err(|e| FieldError::general("invalid_query", e.to_string()))?;
        let zone = match query.get("zone") {
            Some(z) if !state.zones.contains(z) => {
                return Err(FieldError::new("unknown_zone", "zone", format!("no zone {z:?} in this event")).into());
            }
            z => z.cloned(),
        };
        let bbox = query.get("bbox").map(|b| BBox::parse(b)).transpose()?;
        let since = query
            .get("since")
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.timestamp())
                    .map_err(|_| FieldError::new("invalid_timestamp", "since", "since must be an RFC 3339 timestamp"))
            })
            .transpose()?;
        let q = query.get("q").map(String::as_str).unwrap_or_default();
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(FieldError::new(
                "invalid_query",
                "q",
                format!("q is at most {MAX_QUERY_CHARS} characters"),
            )
            .into());
        }
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| FieldError::new("invalid_limit", "limit", format!("limit must be 1 to {MAX_LIMIT}")))?,
        };
        Ok(Self {
            zone,
            bbox,
            since,
            words: q.split_whitespace().map(str::to_lowercase).collect(),
            limit,
        })
    }

    fn matches(&self, state: &AppState, text: &PostText, at: LatLon, masked: &str) -> bool {
        self.since.is_none_or(|s| text.posted >= s)
            && self.bbox.as_ref().is_none_or(|b| b.contains(at))
            && self.zone.as_deref().is_none_or(|z| state.zones.covers(z, at))
            && (self.words.is_empty() || {
                let lower = masked.to_lowercase();
                self.words.iter().all(|w| lower.contains(w.as_str()))
            })
    }
}

/// A matching post as operators see it, with the masking the filter read.
fn view(state: &AppState, key: TextKey, text: PostText, at: LatLon, masked: pii::Masked) -> PostView {
    let centre = h3o::LatLng::new(at.lat(), at.lon()).ok();
    let id = key.to_string();
    let cluster = state.integrity.cluster_of(&id);
    PostView {
        discounted: cluster.as_deref().is_some_and(|c| state.integrity.is_discounted(c)),
        cluster,
        cell: centre
            .map(|ll| ll.to_cell(state.settings.integrity.res).to_string())
            .unwrap_or_default(),
        // The post's own zone, read at the cover's resolution: the coarse
        // cell may span two squares.
        zone: centre
            .and_then(|ll| state.cover.smallest_zone(ll.to_cell(state.cover.resolution())))
            .map(str::to_owned),
        id,
        source: text.source,
        posted: DateTime::from_timestamp(text.posted, 0)
            .map(rfc3339)
            .unwrap_or_default(),
        lat: at.lat(),
        lon: at.lon(),
        text: masked.text,
        lang: text.lang,
        personal_data: masked.kinds.into_iter().collect(),
    }
}

/// Recent post texts for verification (operators): newest first, filtered,
/// personal data masked, never an author.
#[utoipa::path(get, path = "/api/v1/posts", tag = "integrity", operation_id = "list_posts",
    params(("zone" = Option<String>, Query, description = "Only posts inside this zone"),
           ("bbox" = Option<String>, Query, description = "minLon,minLat,maxLon,maxLat"),
           ("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Only posts posted at or after this RFC 3339 time"),
           ("q" = Option<String>, Query, description = "Words the (masked) text must all contain, any case; at most 200 characters"),
           ("limit" = Option<usize>, Query, description = "At most this many posts (1–1000, default 100)", minimum = 1, maximum = 1000)),
    responses((status = 200, description = "Matching posts, newest first", body = PostList),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators read post texts", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: nothing was read", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn list_posts(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let filter = Filter::parse(&req, &state)?;
    let mut posts = Vec::new();
    let mut scanned = 0;
    let mut before = None;
    let mut complete = true;
    'read: loop {
        let page = state.engine.texts_before(before, crate::engine::TEXT_READ_MAX).await?;
        let n = page.len();
        for entry in page {
            before = Some(entry.key);
            scanned += 1;
            let Some(text) = PostText::from_body(&entry.body) else {
                continue;
            };
            // Stored in order: past `since` (with the clock skew a post may carry), nothing older matches.
            if filter
                .since
                .is_some_and(|s| entry.key.secs() < s.saturating_sub(crate::domain::MAX_CLOCK_SKEW.num_seconds()))
            {
                break 'read;
            }
            let Some(at) = text.location() else { continue };
            let masked = pii::mask(&text.text);
            if filter.matches(&state, &text, at, &masked.text) {
                posts.push(view(&state, entry.key, text, at, masked));
                if posts.len() >= filter.limit {
                    break 'read;
                }
            }
            if scanned >= SCAN_MAX {
                complete = false;
                break 'read;
            }
        }
        if n < crate::engine::TEXT_READ_MAX {
            break;
        }
    }
    Ok(HttpResponse::Ok().json(PostList {
        posts,
        scanned,
        complete,
    }))
}

/// Why an operator acts: required, in their words.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why, in a few words (1–500 characters): written to the audit log.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 500)]
    reason: Option<Value>,
}

impl ReasonRequest {
    const FIELDS: &'static [&'static str] = &["reason"];

    fn reason(&self) -> Result<String, FieldError> {
        let text = match &self.reason {
            None | Some(Value::Null) => return Err(FieldError::missing("reason")),
            Some(Value::String(s)) => s.trim(),
            Some(_) => return Err(FieldError::new("invalid_reason", "reason", "reason must be text")),
        };
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_REASON_CHARS {
            return Err(FieldError::new(
                "invalid_reason",
                "reason",
                format!("say why in 1 to {MAX_REASON_CHARS} characters: the audit log keeps it"),
            ));
        }
        if text.chars().any(|c| c.is_control()) {
            return Err(FieldError::new(
                "invalid_reason",
                "reason",
                "reason may not hold control characters",
            ));
        }
        Ok(text.to_owned())
    }
}

async fn read_reason(req: &HttpRequest, payload: web::Payload) -> Result<String, ApiError> {
    super::body::require_json(req, "reason")?;
    let body = super::read_body(req, payload, MAX_DECISION_BYTES).await?;
    let input: ReasonRequest =
        super::body::parse_json_object(&body, "reason", ReasonRequest::FIELDS, "{\"reason\": \"…\"}")?;
    Ok(input.reason()?)
}

/// A revealed text.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedPost {
    /// Its id in the text log.
    id: String,
    /// The text as received, personal data and all.
    text: String,
}

/// Shows an operator one post's text unmasked, for a stated reason; the
/// reveal is written to the audit log.
#[utoipa::path(post, path = "/api/v1/posts/{id}/reveal", tag = "integrity", operation_id = "reveal_post",
    params(("id" = String, Path, description = "The post's id in the text log, as `GET /api/v1/posts` gives it")),
    request_body(content = ReasonRequest, content_type = "application/json"),
    responses((status = 200, description = "The text as received", body = RevealedPost),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators reveal", body = super::error::ErrorEnvelope), (status = 404, description = "No such post text (or past its retention)", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 4 KiB", body = super::error::ErrorEnvelope), (status = 415, description = "Not application/json", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn reveal_post(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let missing = || ApiError::NotFound(format!("no post text {:?}", id.as_str()));
    let key: TextKey = id.parse().map_err(|()| missing())?;
    let reason = read_reason(&req, payload).await?;
    let entry = state.engine.text(key).await?.ok_or_else(missing)?;
    let text = PostText::from_body(&entry.body).ok_or_else(missing)?;
    let kinds: BTreeSet<&str> = pii::mask(&text.text).kinds.iter().map(|k| k.as_str()).collect();
    state
        .broadcasts
        .audit(
            "post.reveal",
            caller.sub()?,
            json!({"post": key.to_string(), "reason": reason, "personal_data": kinds}),
        )
        .await?;
    Ok(HttpResponse::Ok().json(RevealedPost {
        id: key.to_string(),
        text: text.text,
    }))
}

/// The rising terms per zone and per cell (operators and commanders): a
/// term shows only once k distinct contributors used it there.
#[utoipa::path(get, path = "/api/v1/trends", tag = "integrity", operation_id = "get_trends",
    params(("zone" = Option<String>, Query, description = "Only this zone (and the cells inside it)")),
    responses((status = 200, description = "Rising terms, fastest first", body = TrendsFrame),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators and commanders read trends", body = super::error::ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_trends(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator, Role::Commander])?;
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| FieldError::general("invalid_query", e.to_string()))?;
    let frame = state.integrity.current();
    let Some(zone) = query.get("zone") else {
        return Ok(HttpResponse::Ok().json(frame.as_ref()));
    };
    if !state.zones.contains(zone) {
        return Err(FieldError::new("unknown_zone", "zone", format!("no zone {zone:?} in this event")).into());
    }
    let mut only = frame.as_ref().clone();
    only.zones.retain(|z| &z.zone == zone);
    only.cells.retain(|c| c.zone.as_ref() == Some(zone));
    Ok(HttpResponse::Ok().json(only))
}

/// `GET /api/v1/clusters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterList {
    /// Coordinated clusters, newest activity first.
    clusters: Vec<ClusterView>,
}

/// Coordinated clusters (operators): near-duplicate texts from at least
/// `--coordination-min` distinct contributors within minutes.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "integrity", operation_id = "list_clusters",
    responses((status = 200, description = "Coordinated clusters, newest activity first", body = ClusterList),
              (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators see clusters", body = super::error::ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_clusters(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    Ok(HttpResponse::Ok().json(ClusterList {
        clusters: state.integrity.clusters().as_ref().clone(),
    }))
}

async fn decide(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
    discount: bool,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::Operator])?;
    let reason = read_reason(&req, payload).await?;
    let view = state.integrity.decide(&id, discount, &reason, caller.sub()?).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Discounts a coordinated cluster (operators): its posts stop counting in
/// every heatmap, zone estimate and alert, and in the trends; audited.
#[utoipa::path(post, path = "/api/v1/clusters/{id}/discount", tag = "integrity", operation_id = "discount_cluster",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body(content = ReasonRequest, content_type = "application/json"),
    responses((status = 200, description = "The cluster, discounted", body = ClusterView),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators decide", body = super::error::ErrorEnvelope), (status = 404, description = "No such cluster", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 4 KiB", body = super::error::ErrorEnvelope), (status = 415, description = "Not application/json", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: retry, nothing counts twice", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn discount_cluster(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    decide(req, caller, id, payload, state, true).await
}

/// Restores a discounted cluster (operators): its posts count again,
/// exactly as before; audited.
#[utoipa::path(post, path = "/api/v1/clusters/{id}/restore", tag = "integrity", operation_id = "restore_cluster",
    params(("id" = String, Path, description = "The cluster's id")),
    request_body(content = ReasonRequest, content_type = "application/json"),
    responses((status = 200, description = "The cluster, counting again", body = ClusterView),
              (status = 400, description = "Bad input; `field` names it", body = super::error::ErrorEnvelope), (status = 401, description = "Missing, forged or expired token", body = super::error::ErrorEnvelope), (status = 403, description = "Only operators decide", body = super::error::ErrorEnvelope), (status = 404, description = "No such cluster", body = super::error::ErrorEnvelope), (status = 408, description = "The body did not arrive in time", body = super::error::ErrorEnvelope), (status = 413, description = "More than 4 KiB", body = super::error::ErrorEnvelope), (status = 415, description = "Not application/json", body = super::error::ErrorEnvelope), (status = 503, description = "Engine unavailable: retry, nothing counts twice", body = super::error::ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = [])))]
pub async fn restore_cluster(
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    decide(req, caller, id, payload, state, false).await
}
