//! Safety broadcasts: validate → engine log (seq) → every node's feed →
//! the hub's broadcasts channel → sessions; CAP and Atom. The engine's log
//! is the one source of truth: a message is active if no later Update or
//! Cancel superseded it and it has not expired.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::Zones;
use crate::domain::broadcast::{
    Area, AudienceKind, BroadcastInput, Category, Certainty, MsgType, Severity, StoredBroadcast, Translation, Urgency,
    superseded,
};
use crate::domain::{FieldError, Language, Principal, Role};
use crate::engine::{BroadcastRecord, Engine, EngineError};

/// Why a broadcast could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message broke a rule.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// The engine is unavailable.
    #[error("{0}")]
    Engine(#[from] EngineError),
}

/// The broadcast side of Campanile.
pub struct Broadcasts {
    engine: Arc<dyn Engine>,
    zones: Arc<Zones>,
}

/// Whether `principal` may see a message for `audience`: responders'
/// messages go to operators and commanders only.
pub fn visible(principal: &Principal, audience: AudienceKind) -> bool {
    audience == AudienceKind::Public || principal.has_any(&[Role::Operator, Role::Commander])
}

/// Whether `principal` sees who sent a message: operators only.
pub fn sees_sender(principal: &Principal) -> bool {
    principal.has_any(&[Role::Operator])
}

/// Reads a record back into a message; a record this version cannot read
/// is skipped (and logged) rather than failing every list.
pub fn decode(record: &BroadcastRecord) -> Option<StoredBroadcast> {
    match serde_json::from_str::<StoredBroadcast>(&record.body) {
        Ok(mut b) => {
            b.seq = record.seq;
            Some(b)
        }
        Err(e) => {
            tracing::error!(id = %record.id, error = %e, "unreadable broadcast in the log");
            None
        }
    }
}

fn new_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex::encode(bytes)
}

impl Broadcasts {
    /// The broadcast side over `engine`, resolving zone ids with `zones`.
    pub fn new(engine: Arc<dyn Engine>, zones: Arc<Zones>) -> Self {
        Self { engine, zones }
    }

    /// Validates and appends a message from operator `sender`, and writes
    /// the audit entry.
    pub async fn send(&self, input: BroadcastInput, sender: &str) -> Result<StoredBroadcast, SendError> {
        let now = Utc::now();
        let earlier = match &input.references {
            Some(id) => self.get(id).await?,
            None => None,
        };
        let broadcast = input.validate(now, &self.zones, earlier.as_ref().map(|e| &e.broadcast))?;
        let mut stored = StoredBroadcast {
            id: new_id(),
            seq: 0,
            sent: now,
            sender: sender.to_owned(),
            broadcast,
        };
        let body = serde_json::to_string(&stored).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        stored.seq = self.engine.append_broadcast(&stored.id, &body, now.timestamp()).await?;
        let action = match stored.broadcast.msg_type {
            MsgType::Alert => "broadcast.send",
            MsgType::Update => "broadcast.update",
            MsgType::Cancel => "broadcast.cancel",
        };
        self.audit(
            action,
            sender,
            json!({"id": stored.id, "seq": stored.seq, "references": stored.broadcast.references}),
        )
        .await?;
        Ok(stored)
    }

    /// Every retained message, in `seq` order.
    pub async fn all(&self) -> Result<Vec<StoredBroadcast>, EngineError> {
        Ok(self
            .engine
            .broadcasts_after(0)
            .await?
            .iter()
            .filter_map(decode)
            .collect())
    }

    /// The messages in force at `now`.
    pub async fn active(&self, now: DateTime<Utc>) -> Result<Vec<StoredBroadcast>, EngineError> {
        let all = self.all().await?;
        let gone = superseded(&all);
        Ok(all.into_iter().filter(|b| b.is_active(now, &gone)).collect())
    }

    /// One retained message.
    pub async fn get(&self, id: &str) -> Result<Option<StoredBroadcast>, EngineError> {
        Ok(self.engine.broadcast(id).await?.as_ref().and_then(decode))
    }

    /// Records a commander's acknowledgement; `Ok(false)` if already given.
    pub async fn acknowledge(&self, id: &str, sub: &str) -> Result<bool, EngineError> {
        let new = self.engine.acknowledge(id, sub, Utc::now().timestamp()).await?;
        if new {
            self.audit("broadcast.ack", sub, json!({"id": id})).await?;
        }
        Ok(new)
    }

    /// Who acknowledged a message, for operators.
    pub async fn acknowledgements(&self, id: &str) -> Result<Vec<Acknowledgement>, EngineError> {
        Ok(self
            .engine
            .acknowledgements(id)
            .await?
            .into_iter()
            .map(|(sub, at)| Acknowledgement {
                at: DateTime::from_timestamp(at, 0).map(crate::domain::rfc3339),
                sub,
            })
            .collect())
    }

    /// Appends an audit entry: what, who (token `sub`) and when.
    pub async fn audit(&self, action: &str, sub: &str, detail: Value) -> Result<(), EngineError> {
        write_audit(self.engine.as_ref(), action, sub, detail).await
    }

    /// A message as `principal` may see it: the sender's identity is for
    /// operators only. Without acknowledgements, which the HTTP API adds for
    /// operators.
    pub fn view(b: &StoredBroadcast, principal: &Principal) -> BroadcastView {
        let m = &b.broadcast;
        BroadcastView {
            acks: None,
            area: m.area.clone(),
            audience: m.audience.wire(),
            category: m.category,
            certainty: m.certainty,
            description: m.description.clone(),
            event: m.event.clone(),
            expires: crate::domain::rfc3339(m.expires),
            headline: m.headline.clone(),
            id: b.id.clone(),
            instruction: m.instruction.clone(),
            language: m.language.clone(),
            msg_type: m.msg_type,
            references: m.references.clone(),
            sender: sees_sender(principal).then(|| b.sender.clone()),
            sent: crate::domain::rfc3339(b.sent),
            seq: b.seq,
            severity: m.severity,
            translations: m.translations.clone(),
            urgency: m.urgency,
        }
    }
}

/// A commander's acknowledgement of a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Acknowledgement {
    /// When, in the wire's time format; `None` if the engine kept a time
    /// out of range.
    pub at: Option<String>,
    /// Who (token `sub`).
    pub sub: String,
}

/// A stored message as a caller sees it. Fields in the order the wire has
/// always had (alphabetical), so that clients comparing bytes see no change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BroadcastView {
    /// Who acknowledged it, over HTTP only: everyone for operators, their
    /// own acknowledgement for a commander (responders' messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acks: Option<Vec<Acknowledgement>>,
    /// Where it applies.
    pub area: Area,
    /// `public` or `responders`.
    pub audience: &'static str,
    /// CAP category.
    pub category: Category,
    /// CAP certainty.
    pub certainty: Certainty,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The event.
    pub event: String,
    /// When it stops applying, in the wire's time format.
    pub expires: String,
    /// Headline.
    pub headline: String,
    /// Its id.
    pub id: String,
    /// Instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Main language.
    pub language: Language,
    /// Alert, Update or Cancel.
    pub msg_type: MsgType,
    /// The superseded message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
    /// The operator who sent it: operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// When it was sent, in the wire's time format.
    pub sent: String,
    /// Strictly increasing across the deployment.
    pub seq: u64,
    /// CAP severity.
    pub severity: Severity,
    /// Other languages.
    pub translations: Vec<Translation>,
    /// CAP urgency.
    pub urgency: Urgency,
}

/// Appends an audit entry to `log`: what, who (token `sub`) and when. Every
/// operator action is written in this one shape.
pub async fn write_audit(
    log: &dyn crate::engine::AuditLog,
    action: &str,
    sub: &str,
    detail: Value,
) -> Result<(), EngineError> {
    let now = Utc::now();
    let entry = json!({"at": crate::domain::rfc3339(now), "sub": sub, "action": action, "detail": detail});
    log.append_audit(&entry.to_string(), now.timestamp()).await
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    /// The view as it was written before it was a type: the stored message
    /// as a JSON map (keys in order), the sender removed for non-operators,
    /// the times in the wire format.
    fn view_as_value(b: &StoredBroadcast, principal: &Principal) -> Value {
        let mut map: Map<String, Value> = match serde_json::to_value(b) {
            Ok(Value::Object(map)) => map,
            other => panic!("not an object: {other:?}"),
        };
        if !sees_sender(principal) {
            map.remove("sender");
        }
        map.insert("sent".into(), Value::String(crate::domain::rfc3339(b.sent)));
        map.insert(
            "expires".into(),
            Value::String(crate::domain::rfc3339(b.broadcast.expires)),
        );
        Value::Object(map)
    }

    fn stored(input: Value) -> StoredBroadcast {
        let input: BroadcastInput = serde_json::from_value(input).expect("input");
        let now = Utc::now();
        StoredBroadcast {
            id: "b1".into(),
            seq: 7,
            sent: now,
            sender: "op-1".into(),
            broadcast: input.validate(now, &Zones::default(), None).expect("valid"),
        }
    }

    #[test]
    fn the_typed_view_writes_the_same_bytes_as_the_json_map_did() {
        let full = stored(json!({
            "audience": "responders", "category": "Safety", "event": "Crowd crush risk",
            "severity": "Severe", "urgency": "Immediate", "certainty": "Observed",
            "headline": "Leave by the east exit", "description": "Too many people", "instruction": "Walk",
            "language": "en",
            "translations": [{"language": "it", "headline": "Uscite a est", "instruction": "Camminate"}],
            "area": {"description": "Piazza", "polygons": [[[11.0, 44.0], [12.0, 44.0], [12.0, 45.0], [11.0, 44.0]]],
                     "circles": [{"lat": 44.5, "lon": 11.25, "radius_m": 120.5}]},
            "expires": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339()
        }));
        let bare = stored(json!({
            "audience": "public", "category": "Other", "event": "e", "severity": "Minor",
            "urgency": "Future", "certainty": "Unlikely", "headline": "h",
            "area": {"circles": [{"lat": 44.0, "lon": 11.0, "radius_m": 5}]},
            "expires": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339()
        }));
        let operator = Principal::User {
            sub: "op".into(),
            role: Role::Operator,
        };
        for b in [&full, &bare] {
            for principal in [&operator, &Principal::Public] {
                let typed = serde_json::to_string(&Broadcasts::view(b, principal)).expect("typed");
                let map = serde_json::to_string(&view_as_value(b, principal)).expect("map");
                assert_eq!(typed, map);
            }
        }
    }
}
