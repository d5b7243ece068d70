//! The rumour register (DESIGN §10, FEMA's "Rumor Control"): validate →
//! engine ([`crate::engine::RumourStore`], compare-and-set) → audit; the
//! public's reads from a short per-node snapshot; a published entry turned
//! into a public broadcast; a report moderated `false` linked to an entry
//! in one step.
//!
//! The engine is the one source of truth. Every change is a read, a new
//! body and a compare-and-set, retried when another change came first, so
//! that concurrent changes of one entry (on any node) happen one after the
//! other and none is lost.

mod atom;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use atom::render as render_atom;

use crate::broadcasts::{Broadcasts, SendError};
use crate::domain::broadcast::{AreaInput, BroadcastInput, StoredBroadcast, TranslationInput};
use crate::domain::report::Report;
use crate::domain::rumour::{Rumour, RumourInput, RumourStatus, RumourTranslation};
use crate::domain::{FieldError, Language, Zones};
use crate::engine::{Engine, EngineError};
use crate::reports::{ReportError, Reports};

/// How long the public's snapshot of published entries is served before
/// the store is read again: public reads cost no engine read each (DESIGN
/// §6), and another node's change shows within this.
pub const PUBLIC_SNAPSHOT_SECS: u64 = 2;

/// How often a change re-reads an entry that others changed meanwhile; far
/// more than concurrent operators, and bounded so that nothing spins.
const CHANGE_ATTEMPTS: usize = 256;

/// How long a broadcast made from an entry applies unless told otherwise.
const DEFAULT_BROADCAST_HOURS: i64 = 6;

/// An entry as the engine keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRumour {
    /// Its id.
    pub id: String,
    /// When it was recorded.
    pub created: DateTime<Utc>,
    /// When it last changed.
    pub updated: DateTime<Utc>,
    /// 1 when recorded, raised by one at every change.
    pub version: u64,
    /// The operator who recorded it (token `sub`).
    pub author: String,
    /// The operator who changed it last.
    pub updated_by: String,
    /// The entry.
    #[serde(flatten)]
    pub rumour: Rumour,
}

/// Why a register operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RumourError {
    /// Bad input.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// No such entry (id given).
    #[error("no rumour {0:?}")]
    NotFound(String),
    /// The entry is not published, so it cannot be broadcast (id given).
    #[error("rumour {0:?} is not published; publish it before broadcasting it")]
    NotPublished(String),
    /// The report side refused.
    #[error("{0}")]
    Report(#[from] ReportError),
    /// Engine down.
    #[error("{0}")]
    Engine(#[from] EngineError),
}

impl From<SendError> for RumourError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid(f) => RumourError::Invalid(f),
            SendError::Engine(e) => RumourError::Engine(e),
        }
    }
}

/// How a report moderated `false` names its entry.
#[derive(Debug, Clone)]
pub enum RumourLink {
    /// An entry already in the register, by id.
    Existing(String),
    /// A new entry, recorded with the report linked.
    New(Box<RumourInput>),
}

/// What an operator may choose when broadcasting an entry; the rest is made
/// from the entry.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastOptions {
    /// CAP severity; default `Minor`.
    pub severity: Option<String>,
    /// CAP urgency; default `Expected`.
    pub urgency: Option<String>,
    /// RFC 3339; default six hours from now.
    pub expires: Option<String>,
    /// Where it applies; default the entry's zones.
    pub area: Option<AreaInput>,
}

impl BroadcastOptions {
    /// The body's field names, as the envelope's `field` gives them.
    pub const FIELDS: &'static [&'static str] = &["severity", "urgency", "expires", "area"];
}

/// The public's snapshot: published entries, newest update first, or the
/// failure of the last read, so that while the engine is down a burst of
/// public reads costs one attempt per period rather than one each.
struct Snapshot {
    read_at: Instant,
    entries: Result<Arc<Vec<StoredRumour>>, String>,
}

/// The rumour register.
pub struct Rumours {
    engine: Arc<dyn Engine>,
    zones: Arc<Zones>,
    broadcasts: Arc<Broadcasts>,
    default_language: Language,
    /// One refresh at a time: a burst of public reads after the snapshot
    /// went stale costs one engine read, not one each.
    public: tokio::sync::Mutex<Option<Snapshot>>,
}

fn new_id() -> String {
    hex::encode(rand::random::<[u8; 12]>())
}

fn decode(body: &str) -> Option<StoredRumour> {
    match serde_json::from_str(body) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "unreadable rumour entry in the store");
            None
        }
    }
}

fn encode(r: &StoredRumour) -> Result<String, EngineError> {
    serde_json::to_string(r).map_err(|e| EngineError::Unavailable(e.to_string()))
}

/// Newest update first; ties by id so that every node lists alike.
fn newest_first(entries: &mut [StoredRumour]) {
    entries.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
}

impl Rumours {
    /// The register over `engine`; zone ids are checked against `zones`,
    /// an entry without a language takes `default_language` (the event's
    /// first); broadcasts are sent and audit entries written through
    /// `broadcasts`.
    pub fn new(
        engine: Arc<dyn Engine>,
        zones: Arc<Zones>,
        broadcasts: Arc<Broadcasts>,
        default_language: Language,
    ) -> Self {
        Self {
            engine,
            zones,
            broadcasts,
            default_language,
            public: tokio::sync::Mutex::new(None),
        }
    }

    /// Checks an input into an entry, without storing anything.
    pub fn check(&self, input: &RumourInput) -> Result<Rumour, FieldError> {
        input.validate(&self.default_language, &self.zones)
    }

    /// Refuses links to reports and broadcasts that `before` did not have
    /// and that are not stored: an operator's typo must not look like
    /// evidence. Links kept from before are not read again (a report
    /// expires long before the entry does).
    async fn check_new_links(&self, next: &Rumour, before: Option<&Rumour>) -> Result<(), RumourError> {
        for (i, id) in next.reports.iter().enumerate() {
            if before.is_some_and(|b| b.reports.contains(id)) {
                continue;
            }
            if self.engine.report(id).await?.is_none() {
                return Err(FieldError::new(
                    "unknown_report",
                    format!("reports[{i}]"),
                    format!("no retained report has id {id:?}"),
                )
                .into());
            }
        }
        for (i, id) in next.broadcasts.iter().enumerate() {
            if before.is_some_and(|b| b.broadcasts.contains(id)) {
                continue;
            }
            if self.engine.broadcast(id).await?.is_none() {
                return Err(FieldError::new(
                    "unknown_broadcast",
                    format!("broadcasts[{i}]"),
                    format!("no retained broadcast has id {id:?}"),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Records a new entry for operator `sub`; writes the audit entry.
    pub async fn create(&self, input: &RumourInput, sub: &str) -> Result<StoredRumour, RumourError> {
        let rumour = self.check(input)?;
        self.check_new_links(&rumour, None).await?;
        self.store_new(rumour, sub).await
    }

    async fn store_new(&self, rumour: Rumour, sub: &str) -> Result<StoredRumour, RumourError> {
        let now = Utc::now();
        let stored = StoredRumour {
            id: new_id(),
            created: now,
            updated: now,
            version: 1,
            author: sub.to_owned(),
            updated_by: sub.to_owned(),
            rumour,
        };
        self.engine
            .put_rumour(&stored.id, &encode(&stored)?, now.timestamp())
            .await?;
        self.forget_snapshot().await;
        let r = &stored.rumour;
        self.broadcasts
            .audit(
                "rumour.create",
                sub,
                json!({"id": stored.id, "version": 1, "status": r.status, "published": r.published,
                       "claim": r.claim, "zones": r.zones, "reports": r.reports}),
            )
            .await?;
        Ok(stored)
    }

    /// Changes the fields `patch` names (operators); the entry's version
    /// rises by one and `updated` is now. A patch that changes nothing
    /// answers the entry as it is, with no new version.
    pub async fn update(&self, id: &str, patch: RumourInput, sub: &str) -> Result<StoredRumour, RumourError> {
        self.change(id, sub, "rumour.update", |current| {
            let next = patch
                .clone()
                .over(current)
                .validate(&self.default_language, &self.zones)?;
            Ok(next)
        })
        .await
    }

    /// The compare-and-set loop every change goes through: `make` builds
    /// the next entry from the current one (again after each lost race);
    /// new links are checked, the audit entry names each changed field
    /// with its value before and after.
    async fn change(
        &self,
        id: &str,
        sub: &str,
        action: &str,
        make: impl Fn(&Rumour) -> Result<Rumour, RumourError>,
    ) -> Result<StoredRumour, RumourError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let body = self
                .engine
                .rumour(id)
                .await?
                .ok_or_else(|| RumourError::NotFound(id.to_owned()))?;
            let current = decode(&body).ok_or_else(|| RumourError::NotFound(id.to_owned()))?;
            let next = make(&current.rumour)?;
            let changed = current.rumour.changed_fields(&next);
            if changed.is_empty() {
                return Ok(current);
            }
            self.check_new_links(&next, Some(&current.rumour)).await?;
            let now = Utc::now();
            let stored = StoredRumour {
                updated: now.max(current.updated),
                version: current.version + 1,
                updated_by: sub.to_owned(),
                rumour: next,
                ..current.clone()
            };
            if !self
                .engine
                .swap_rumour(id, &body, &encode(&stored)?, now.timestamp())
                .await?
            {
                continue; // another change came first: read it and go again
            }
            self.forget_snapshot().await;
            self.broadcasts
                .audit(
                    action,
                    sub,
                    json!({"id": id, "version": stored.version,
                           "changed": differences(&current.rumour, &stored.rumour, &changed)}),
                )
                .await?;
            return Ok(stored);
        }
        Err(RumourError::Engine(EngineError::Unavailable(format!(
            "rumour {id:?} changed {CHANGE_ATTEMPTS} times while being changed; retry"
        ))))
    }

    /// One entry, unpublished ones included (operators).
    pub async fn get(&self, id: &str) -> Result<Option<StoredRumour>, EngineError> {
        Ok(self.engine.rumour(id).await?.as_deref().and_then(decode))
    }

    /// Every retained entry, newest update first (operators).
    pub async fn all(&self) -> Result<Vec<StoredRumour>, EngineError> {
        let mut all: Vec<StoredRumour> = self.engine.rumours().await?.iter().filter_map(|b| decode(b)).collect();
        newest_first(&mut all);
        Ok(all)
    }

    /// The published entries, newest update first, from this node's
    /// snapshot: read from the store at most once per
    /// [`PUBLIC_SNAPSHOT_SECS`], and at once after a change made here.
    ///
    /// A failed read is remembered for as long: the public gets 503 at once
    /// meanwhile, and the engine one attempt per period from this node.
    pub async fn published(&self) -> Result<Arc<Vec<StoredRumour>>, EngineError> {
        let mut snapshot = self.public.lock().await;
        if let Some(s) = snapshot.as_ref()
            && s.read_at.elapsed() < Duration::from_secs(PUBLIC_SNAPSHOT_SECS)
        {
            return s.entries.clone().map_err(EngineError::Unavailable);
        }
        let entries = self
            .all()
            .await
            .map(|all| Arc::new(all.into_iter().filter(|r| r.rumour.published).collect::<Vec<_>>()));
        *snapshot = Some(Snapshot {
            read_at: Instant::now(),
            entries: entries.as_ref().map(Arc::clone).map_err(ToString::to_string),
        });
        entries
    }

    async fn forget_snapshot(&self) {
        *self.public.lock().await = None;
    }

    /// Makes a published entry a public broadcast in one step (operators):
    /// headline and description from the claim and the fact in the entry's
    /// language and each translation's; the broadcast's id is linked back
    /// into the entry, and both are audited.
    pub async fn broadcast(
        &self,
        id: &str,
        options: &BroadcastOptions,
        sub: &str,
    ) -> Result<(StoredBroadcast, StoredRumour), RumourError> {
        let entry = self
            .get(id)
            .await?
            .ok_or_else(|| RumourError::NotFound(id.to_owned()))?;
        if !entry.rumour.published {
            return Err(RumourError::NotPublished(id.to_owned()));
        }
        let input = broadcast_input(&entry.rumour, options, Utc::now())?;
        let sent = self.broadcasts.send(input, sub).await?;
        let linked = self
            .change(id, sub, "rumour.broadcast", |current| {
                let mut next = current.clone();
                if !next.broadcasts.contains(&sent.id) {
                    next.broadcasts.push(sent.id.clone());
                }
                Ok(next)
            })
            .await?;
        Ok((sent, linked))
    }

    /// Moderates report `report_id` as `false` and links it to an entry, in
    /// one step (operators): an existing entry named by id gets the report
    /// in its `reports`; a new one is recorded with it. The report gets a
    /// `rumour` field with the entry's id.
    pub async fn link_report(
        &self,
        reports: &Reports,
        report_id: &str,
        link: RumourLink,
        sub: &str,
    ) -> Result<(Report, StoredRumour), RumourError> {
        if reports.get(report_id).await?.is_none() {
            return Err(ReportError::NotFound(report_id.to_owned()).into());
        }
        match link {
            RumourLink::New(input) => {
                let mut rumour = self.check(&input).map_err(under_rumour)?;
                if !rumour.reports.iter().any(|r| r == report_id) {
                    rumour.reports.push(report_id.to_owned());
                }
                self.check_new_links(&rumour, None).await.map_err(|e| match e {
                    RumourError::Invalid(f) => RumourError::Invalid(under_rumour(f)),
                    other => other,
                })?;
                let entry = self.store_new(rumour, sub).await?;
                let report = reports
                    .moderate(report_id, "false", Some(&entry.id), sub, &self.broadcasts)
                    .await?;
                Ok((report, entry))
            }
            RumourLink::Existing(rumour_id) => {
                if self.get(&rumour_id).await?.is_none() {
                    return Err(FieldError::new(
                        "unknown_rumour",
                        "rumour",
                        format!("no rumour register entry has id {rumour_id:?}"),
                    )
                    .into());
                }
                let report = reports
                    .moderate(report_id, "false", Some(&rumour_id), sub, &self.broadcasts)
                    .await?;
                let entry = self
                    .change(&rumour_id, sub, "rumour.link_report", |current| {
                        let mut next = current.clone();
                        if !next.reports.iter().any(|r| r == report_id) {
                            next.reports.push(report_id.to_owned());
                        }
                        Ok(next)
                    })
                    .await?;
                Ok((report, entry))
            }
        }
    }
}

/// A field error of the nested entry in a report's moderation, named under
/// `rumour` (`rumour.claim`) so that the operator finds it.
fn under_rumour(e: FieldError) -> FieldError {
    let field = e.field.map_or_else(|| "rumour".to_owned(), |f| format!("rumour.{f}"));
    FieldError::new(e.code, field, e.message)
}

/// Each changed field's value before and after, as the audit log keeps it.
fn differences(before: &Rumour, after: &Rumour, changed: &[&'static str]) -> Value {
    let (Ok(Value::Object(b)), Ok(Value::Object(a))) = (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return json!(changed);
    };
    let mut out = Map::new();
    for field in changed {
        out.insert((*field).to_owned(), json!({"from": b.get(*field), "to": a.get(*field)}));
    }
    Value::Object(out)
}

/// The words a broadcast made from an entry is written with, in English
/// unless the language is Italian (the two the event's pages speak).
struct Words {
    event: &'static str,
    rumour: &'static str,
    fact: &'static str,
    stamp: &'static str,
}

/// The words for `language` and `status`.
pub fn words(language: &Language, status: RumourStatus) -> (&'static str, &'static str, &'static str) {
    let w = words_for(language, status);
    (w.rumour, w.fact, w.stamp)
}

fn words_for(language: &Language, status: RumourStatus) -> Words {
    let italian = language.as_str() == "it" || language.as_str().starts_with("it-");
    if italian {
        Words {
            event: "Controllo delle voci",
            rumour: "Voce",
            fact: "Fatto",
            stamp: match status {
                RumourStatus::Unverified => "NON VERIFICATO",
                RumourStatus::False => "FALSO",
                RumourStatus::Misleading => "FUORVIANTE",
                RumourStatus::True => "VERO",
            },
        }
    } else {
        Words {
            event: "Rumour control",
            rumour: "Rumour",
            fact: "Fact",
            stamp: match status {
                RumourStatus::Unverified => "UNVERIFIED",
                RumourStatus::False => "FALSE",
                RumourStatus::Misleading => "MISLEADING",
                RumourStatus::True => "TRUE",
            },
        }
    }
}

/// A broadcast headline holds at most this many characters.
const HEADLINE_CHARS: usize = 160;

/// "FALSE: the claim", cut to a headline's length.
fn headline(stamp: &str, claim: &str) -> String {
    let full = format!("{stamp}: {claim}");
    if full.chars().count() <= HEADLINE_CHARS {
        return full;
    }
    let mut cut: String = full.chars().take(HEADLINE_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// "Rumour: …" then "Fact: …" (the fact left out while there is none).
fn description(words: &Words, claim: &str, fact: &str) -> String {
    if fact.is_empty() {
        format!("{}: {claim}", words.rumour)
    } else {
        format!("{}: {claim}\n{}: {fact}", words.rumour, words.fact)
    }
}

/// The broadcast an entry becomes, before the broadcast side checks it.
fn broadcast_input(r: &Rumour, options: &BroadcastOptions, now: DateTime<Utc>) -> Result<BroadcastInput, FieldError> {
    let area = match &options.area {
        Some(area) => area.clone(),
        None if r.zones.is_empty() => {
            return Err(FieldError::new(
                "empty_area",
                "area",
                "the entry names no zones: send an area",
            ));
        }
        None => AreaInput {
            zones: Some(r.zones.clone()),
            ..AreaInput::default()
        },
    };
    let main = words_for(&r.language, r.status);
    let translations = r
        .translations
        .iter()
        .map(|t: &RumourTranslation| {
            let w = words_for(&t.language, r.status);
            TranslationInput {
                language: Some(t.language.as_str().to_owned()),
                headline: Some(headline(w.stamp, &t.claim)),
                description: Some(description(&w, &t.claim, &t.fact)),
                instruction: None,
            }
        })
        .collect();
    Ok(BroadcastInput {
        audience: Some("public".into()),
        msg_type: Some("Alert".into()),
        references: None,
        category: Some("Safety".into()),
        event: Some(main.event.into()),
        severity: Some(options.severity.clone().unwrap_or_else(|| "Minor".into())),
        urgency: Some(options.urgency.clone().unwrap_or_else(|| "Expected".into())),
        certainty: Some(
            match r.status {
                RumourStatus::Unverified => "Possible",
                _ => "Observed",
            }
            .into(),
        ),
        headline: Some(headline(main.stamp, &r.claim)),
        description: Some(description(&main, &r.claim, &r.fact)),
        instruction: None,
        language: Some(r.language.as_str().to_owned()),
        translations: Some(translations),
        area: Some(area),
        expires: Some(
            options
                .expires
                .clone()
                .unwrap_or_else(|| (now + chrono::Duration::hours(DEFAULT_BROADCAST_HOURS)).to_rfc3339()),
        ),
    })
}

/// An entry as operators see it: what the public sees, and the links,
/// the draft state and the authors.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RumourView {
    /// What the public sees of it.
    #[serde(flatten)]
    pub public: PublicRumourView,
    /// Ids of reports that carried the claim.
    pub reports: Vec<String>,
    /// Ids of broadcasts that answered it.
    pub broadcasts: Vec<String>,
    /// Trend terms that carried it.
    pub trends: Vec<String>,
    /// Whether the public sees it.
    pub published: bool,
    /// The operator who recorded it.
    pub author: String,
    /// The operator who changed it last.
    pub updated_by: String,
}

/// A published entry as the public (and every role but operators) sees it:
/// no links to reports, broadcasts or trends, no author.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicRumourView {
    /// Its id.
    pub id: String,
    /// The claim going round.
    pub claim: String,
    /// What the register says of it.
    pub status: RumourStatus,
    /// What is true; empty only while unverified.
    pub fact: String,
    /// BCP 47 tag of `claim` and `fact`.
    #[schema(value_type = String, example = "en")]
    pub language: Language,
    /// Other languages.
    pub translations: Vec<RumourTranslation>,
    /// Zone ids concerned.
    pub zones: Vec<String>,
    /// When it was recorded.
    pub created: String,
    /// When it last changed.
    pub updated: String,
    /// 1 when recorded, raised by one at every change.
    pub version: u64,
}

impl StoredRumour {
    /// The operators' view.
    pub fn view(&self) -> RumourView {
        let r = &self.rumour;
        RumourView {
            public: self.public_view(),
            reports: r.reports.clone(),
            broadcasts: r.broadcasts.clone(),
            trends: r.trends.clone(),
            published: r.published,
            author: self.author.clone(),
            updated_by: self.updated_by.clone(),
        }
    }

    /// The public's view.
    pub fn public_view(&self) -> PublicRumourView {
        let r = &self.rumour;
        PublicRumourView {
            id: self.id.clone(),
            claim: r.claim.clone(),
            status: r.status,
            fact: r.fact.clone(),
            language: r.language.clone(),
            translations: r.translations.clone(),
            zones: r.zones.clone(),
            created: crate::domain::rfc3339(self.created),
            updated: crate::domain::rfc3339(self.updated),
            version: self.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str, zones: &[&str]) -> Rumour {
        Rumour {
            claim: "The bridge is closed".into(),
            status: serde_json::from_value(json!(status)).expect("status"),
            fact: "It is open".into(),
            language: Language::parse("en").expect("en"),
            translations: vec![RumourTranslation {
                language: Language::parse("it").expect("it"),
                claim: "Il ponte è chiuso".into(),
                fact: "È aperto".into(),
            }],
            zones: zones.iter().map(|z| (*z).to_owned()).collect(),
            reports: vec![],
            broadcasts: vec![],
            trends: vec![],
            published: true,
        }
    }

    #[test]
    fn a_broadcast_from_an_entry_says_rumour_and_fact_in_each_language() {
        let input =
            broadcast_input(&entry("false", &["piazza"]), &BroadcastOptions::default(), Utc::now()).expect("input");
        assert_eq!(input.headline.as_deref(), Some("FALSE: The bridge is closed"));
        assert_eq!(
            input.description.as_deref(),
            Some("Rumour: The bridge is closed\nFact: It is open")
        );
        let it = &input.translations.as_ref().expect("translations")[0];
        assert_eq!(it.headline.as_deref(), Some("FALSO: Il ponte è chiuso"));
        assert_eq!(
            it.description.as_deref(),
            Some("Voce: Il ponte è chiuso\nFatto: È aperto")
        );
        assert_eq!(input.area.expect("area").zones, Some(vec!["piazza".to_owned()]));
    }

    #[test]
    fn an_entry_without_zones_needs_an_area_to_be_broadcast() {
        let e = broadcast_input(&entry("true", &[]), &BroadcastOptions::default(), Utc::now()).expect_err("no area");
        assert_eq!((e.code, e.field.as_deref()), ("empty_area", Some("area")));
    }

    #[test]
    fn a_long_claim_is_cut_to_a_headline() {
        let h = headline("MISLEADING", &"x".repeat(400));
        assert_eq!(h.chars().count(), HEADLINE_CHARS);
        assert!(h.ends_with('…'));
    }

    #[test]
    fn the_audit_names_each_changed_field_with_its_values() {
        let before = entry("unverified", &[]);
        let mut after = before.clone();
        after.status = RumourStatus::False;
        after.published = false;
        let d = differences(&before, &after, &before.changed_fields(&after));
        assert_eq!(
            d,
            json!({"status": {"from": "unverified", "to": "false"}, "published": {"from": true, "to": false}})
        );
    }
}
