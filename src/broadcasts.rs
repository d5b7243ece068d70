//! Safety broadcasts: validate → engine log (seq) → every node's feed →
//! the hub's broadcasts channel → sessions; CAP and Atom. The engine's log
//! is the one source of truth: a message is active if no later Update or
//! Cancel superseded it and it has not expired.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::broadcast::{AudienceKind, BroadcastInput, StoredBroadcast, superseded};
use crate::domain::{FieldError, LatLon, Principal, Role};
use crate::engine::{BroadcastRecord, Engine, EngineError};
use crate::geodata::Zones;

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
        let input = match &earlier {
            Some(e) => input.inheriting(&e.broadcast),
            None => input,
        };
        let broadcast = input.validate(now, &self.zones, earlier.is_some())?;
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
            crate::domain::broadcast::MsgType::Alert => "broadcast.send",
            crate::domain::broadcast::MsgType::Update => "broadcast.update",
            crate::domain::broadcast::MsgType::Cancel => "broadcast.cancel",
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

    /// Who acknowledged a message, as JSON for operators.
    pub async fn acknowledgements(&self, id: &str) -> Result<Vec<Value>, EngineError> {
        Ok(self
            .engine
            .acknowledgements(id)
            .await?
            .into_iter()
            .map(|(sub, at)| {
                let at = DateTime::from_timestamp(at, 0).map(crate::domain::rfc3339);
                json!({"sub": sub, "at": at})
            })
            .collect())
    }

    /// Appends an audit entry: what, who (token `sub`) and when.
    pub async fn audit(&self, action: &str, sub: &str, detail: Value) -> Result<(), EngineError> {
        let entry = json!({"at": crate::domain::rfc3339(Utc::now()), "sub": sub, "action": action, "detail": detail});
        self.engine.append_audit(&entry.to_string()).await
    }

    /// Whether a message concerns someone at `point`.
    pub fn near(&self, b: &StoredBroadcast, point: Option<LatLon>) -> bool {
        point.is_none_or(|p| b.broadcast.area.contains(p, &self.zones))
    }

    /// A message as `principal` may see it: the sender's identity is for
    /// operators only.
    pub fn view(b: &StoredBroadcast, principal: &Principal) -> Value {
        let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            if !sees_sender(principal) {
                map.remove("sender");
            }
            map.insert("sent".into(), Value::String(crate::domain::rfc3339(b.sent)));
            map.insert(
                "expires".into(),
                Value::String(crate::domain::rfc3339(b.broadcast.expires)),
            );
        }
        v
    }
}
