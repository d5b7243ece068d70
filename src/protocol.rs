//! The wire protocol (DESIGN §4): the messages of the WebSocket, the cell
//! as every client sees it over HTTP and WebSocket alike, and the encoding
//! shared by every session a message goes to. Below the hub, which prepares
//! messages, and the sessions and routes, which send them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One cell as a client sees it, over HTTP and WebSocket alike: counts for
/// operators and commanders, a level for everyone else (DESIGN §6).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CellOut {
    /// Operators and commanders.
    Full(FullCell),
    /// The public and the `ingest` role.
    Public(PublicCell),
}

/// A cell with its numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FullCell {
    /// H3 index, lowercase hex.
    #[schema(example = "891ea6d6533ffff", pattern = "^[0-9a-f]{15}$")]
    pub cell: String,
    /// Items in the window.
    pub count: u64,
    /// Distinct contributors in the window.
    pub contributors: u64,
    /// `count` per km² of the cell's exact area, to 0.01.
    pub density_km2: f64,
    /// The smallest zone containing the cell (§9), `null` outside every zone.
    #[schema(example = "piazza-nettuno")]
    pub zone: Option<String>,
}

/// A public cell: where, and how busy as a level, nothing countable.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicCell {
    /// H3 index, lowercase hex.
    #[schema(example = "891ea6d6533ffff", pattern = "^[0-9a-f]{15}$")]
    pub cell: String,
    /// Density level 1–5: items per km² per minute below the first, second,
    /// third and fourth of `--public-bands` (default 10, 30, 100, 300), or above.
    #[schema(minimum = 1, maximum = 5)]
    pub level: u8,
}

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// Authenticate with a token; later, a fresh token replaces it (a refresh).
    Auth {
        /// The JWT.
        token: String,
    },
    /// Start receiving a channel.
    Subscribe(Subscribe),
    /// Stop one subscription.
    Unsubscribe {
        /// Its id, from `subscribed`.
        sub: String,
    },
    /// Liveness check; answered with `pong`.
    Ping,
}

/// What to subscribe to.
#[derive(Debug, Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
pub enum Subscribe {
    /// Live heatmap of one resolution and window.
    Heatmap {
        /// H3 resolution (default 9).
        res: Option<u64>,
        /// Window name (default 15m).
        window: Option<String>,
        /// `[minLon, minLat, maxLon, maxLat]`.
        bbox: Option<Vec<f64>>,
    },
    /// Safety broadcasts.
    Broadcasts {
        /// Replay every retained message after this `seq`, then live ones.
        since_seq: Option<u64>,
        /// The epoch of `since_seq`, as the last message had it: from
        /// another epoch, the active messages are sent afresh.
        epoch: Option<String>,
        /// Keep only messages whose area contains this point.
        near: Option<Near>,
    },
    /// Citizen and field reports.
    Reports,
    /// Surge and threshold alerts.
    Alerts,
    /// The crowd picture per named zone (§9), in the reader's view.
    Zones {
        /// Window name (default: the estimate window).
        window: Option<String>,
    },
    /// Rising terms per zone and cell (§10), for operators and commanders.
    Trends,
}

impl Subscribe {
    /// The channel's name.
    pub fn channel(&self) -> &'static str {
        match self {
            Subscribe::Heatmap { .. } => "heatmap",
            Subscribe::Broadcasts { .. } => "broadcasts",
            Subscribe::Reports => "reports",
            Subscribe::Alerts => "alerts",
            Subscribe::Zones { .. } => "zones",
            Subscribe::Trends => "trends",
        }
    }
}

/// A point for the `near` filter.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Near {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// Parses one text frame; the error is the message for the client.
pub fn parse(text: &str) -> Result<ClientMessage, String> {
    serde_json::from_str(text).map_err(|e| format!("unreadable message: {e}"))
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
// A typed broadcast view is the largest variant; messages travel boxed
// (`Box<ServerMessage>`) and are encoded once, so their size costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum ServerMessage {
    /// A subscription was accepted.
    #[serde(rename = "subscribed")]
    Subscribed {
        /// Its id.
        sub: String,
        /// Its channel.
        channel: &'static str,
    },
    /// A subscription was stopped.
    #[serde(rename = "unsubscribed")]
    Unsubscribed {
        /// Its id.
        sub: String,
    },
    /// The token of an `auth` message was accepted.
    #[serde(rename = "authenticated")]
    Authenticated {
        /// The role it carries.
        role: &'static str,
    },
    /// The whole heatmap, first thing after `subscribed`.
    #[serde(rename = "heatmap.snapshot")]
    HeatmapSnapshot {
        /// Subscription id.
        sub: String,
        /// Resolution.
        res: u8,
        /// Window.
        window: String,
        /// When the counts were read.
        as_of: String,
        /// Every cell.
        cells: Vec<CellOut>,
    },
    /// Cells that changed since the last frame of this subscription.
    #[serde(rename = "heatmap.delta")]
    HeatmapDelta {
        /// Subscription id.
        sub: String,
        /// When the counts were read.
        as_of: String,
        /// New or changed cells.
        cells: Vec<CellOut>,
        /// Cells that no longer have a count.
        removed: Vec<String>,
    },
    /// A safety message (Alert, Update or Cancel).
    #[serde(rename = "broadcast")]
    Broadcast {
        /// Subscription id.
        sub: String,
        /// Its deployment-wide sequence number: resume with `since_seq`.
        seq: u64,
        /// The log's epoch: resume with it beside `since_seq`.
        epoch: String,
        /// The message.
        broadcast: crate::broadcasts::BroadcastView,
    },
    /// A new or re-moderated report.
    #[serde(rename = "report")]
    Report {
        /// Subscription id.
        sub: String,
        /// The report.
        report: crate::reports::ReportView,
    },
    /// A surge or threshold alert, its fields beside `type` and `sub`.
    #[serde(rename = "alert")]
    Alert {
        /// Subscription id.
        sub: String,
        /// The alert's fields.
        #[serde(flatten)]
        alert: serde_json::Map<String, serde_json::Value>,
    },
    /// Every area zone's status, first thing after `subscribed`.
    #[serde(rename = "zones.snapshot")]
    ZonesSnapshot {
        /// Subscription id.
        sub: String,
        /// The window of `posts` and `contributors`.
        window: String,
        /// When the counts were read.
        as_of: String,
        /// The zones, riskiest first, in the subscriber's view.
        zones: serde_json::Value,
    },
    /// The zones whose status changed since the last frame sent.
    #[serde(rename = "zones.update")]
    ZonesUpdate {
        /// Subscription id.
        sub: String,
        /// The window.
        window: String,
        /// When the counts were read.
        as_of: String,
        /// The changed zones, in the subscriber's view.
        zones: serde_json::Value,
    },
    /// The rising terms per zone and cell, first thing after `subscribed`.
    #[serde(rename = "trends.snapshot")]
    TrendsSnapshot {
        /// Subscription id.
        sub: String,
        /// When they were drawn.
        as_of: String,
        /// The window terms are counted over.
        window: String,
        /// Zones with a term shown.
        zones: serde_json::Value,
        /// Cells with a term shown.
        cells: serde_json::Value,
    },
    /// The rising terms again, whole, whenever they changed.
    #[serde(rename = "trends.update")]
    TrendsUpdate {
        /// Subscription id.
        sub: String,
        /// When they were drawn.
        as_of: String,
        /// The window terms are counted over.
        window: String,
        /// Zones with a term shown.
        zones: serde_json::Value,
        /// Cells with a term shown.
        cells: serde_json::Value,
    },
    /// Engine health changed.
    #[serde(rename = "status")]
    Status {
        /// `up` or `down`.
        engine: &'static str,
    },
    /// A bad or forbidden request; the connection stays open.
    #[serde(rename = "error")]
    Error {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
        /// The subscription concerned, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        sub: Option<String>,
    },
    /// Answer to `ping`.
    #[serde(rename = "pong")]
    Pong,
    /// A message already encoded, shared by every session it goes to.
    #[serde(skip)]
    Encoded {
        /// Its `type`, for metrics.
        kind: &'static str,
        /// The JSON text.
        text: bytestring::ByteString,
    },
}

/// One message encoded once for all the sessions it goes to.
///
/// A message differs between sessions only by its subscription id, and ids
/// repeat across connections (every connection's first subscription is
/// `s1`), so a few encodings serve thousands of sessions: each gets a
/// reference to the same bytes instead of serialising its own copy. This
/// is what keeps a tick's fan-out to 10,000 subscribers off the CPU
/// (`docs/PERFORMANCE.md`).
///
/// The ids kept are capped ([`SHARED_ENCODINGS_KEPT`]): a client that
/// subscribes and unsubscribes in a loop gets ever new ids, and each must
/// not leave a copy behind in every retained message. Past the cap a
/// message is encoded for its session alone.
#[derive(Default)]
pub struct SharedEncoding {
    // A map, not a list: a client that subscribes again and again gets ever new
    // ids, and a lookup must not grow with them.
    by_sub: std::sync::Mutex<std::collections::HashMap<Box<str>, (&'static str, bytestring::ByteString)>>,
}

/// How many subscription ids one message keeps an encoding for: ids repeat
/// across connections from `s1` up, so the first few serve nearly every
/// session.
pub const SHARED_ENCODINGS_KEPT: usize = 32;

impl SharedEncoding {
    /// The message for subscription `sub`, built by `build` the first time.
    pub fn get(&self, sub: &str, build: impl FnOnce() -> ServerMessage) -> ServerMessage {
        let mut by_sub = self.by_sub.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((kind, text)) = by_sub.get(sub) {
            return ServerMessage::Encoded {
                kind,
                text: text.clone(),
            };
        }
        let msg = build();
        let kind = msg.kind();
        match serde_json::to_string(&msg) {
            Ok(text) => {
                let text = bytestring::ByteString::from(text);
                if by_sub.len() < SHARED_ENCODINGS_KEPT {
                    by_sub.insert(sub.into(), (kind, text.clone()));
                }
                ServerMessage::Encoded { kind, text }
            }
            Err(_) => msg,
        }
    }
}

impl std::fmt::Debug for SharedEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedEncoding")
    }
}

impl ServerMessage {
    /// The `type` label, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Subscribed { .. } => "subscribed",
            ServerMessage::Unsubscribed { .. } => "unsubscribed",
            ServerMessage::Authenticated { .. } => "authenticated",
            ServerMessage::HeatmapSnapshot { .. } => "heatmap.snapshot",
            ServerMessage::HeatmapDelta { .. } => "heatmap.delta",
            ServerMessage::Broadcast { .. } => "broadcast",
            ServerMessage::Report { .. } => "report",
            ServerMessage::Alert { .. } => "alert",
            ServerMessage::ZonesSnapshot { .. } => "zones.snapshot",
            ServerMessage::ZonesUpdate { .. } => "zones.update",
            ServerMessage::TrendsSnapshot { .. } => "trends.snapshot",
            ServerMessage::TrendsUpdate { .. } => "trends.update",
            ServerMessage::Status { .. } => "status",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Pong => "pong",
            ServerMessage::Encoded { kind, .. } => kind,
        }
    }

    /// An error frame.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code,
            message: message.into(),
            sub: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_and_unknown_ones_do_not() {
        assert!(matches!(parse(r#"{"type":"ping"}"#), Ok(ClientMessage::Ping)));
        assert!(matches!(
            parse(r#"{"type":"subscribe","channel":"heatmap","res":9,"window":"15m","bbox":[1,2,3,4]}"#),
            Ok(ClientMessage::Subscribe(Subscribe::Heatmap { res: Some(9), .. }))
        ));
        for bad in [
            r#"{"type":"dance"}"#,
            r#"{"type":"subscribe","channel":"gossip"}"#,
            "[]",
            "nope",
            r#"{"type":"auth"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_messages_carry_the_contract_type_names() {
        let json = serde_json::to_value(ServerMessage::HeatmapDelta {
            sub: "s1".into(),
            as_of: "t".into(),
            cells: vec![],
            removed: vec!["891ea6d6533ffff".into()],
        })
        .unwrap();
        assert_eq!(json["type"], "heatmap.delta");
        assert_eq!(json["sub"], "s1");
        assert_eq!(serde_json::to_value(ServerMessage::Pong).unwrap()["type"], "pong");
    }

    #[test]
    fn a_shared_encoding_is_made_once_per_subscription_id_and_reads_like_the_message() {
        let shared = SharedEncoding::default();
        let status = |sub: &str| ServerMessage::Error {
            code: "x",
            message: "m".into(),
            sub: Some(sub.into()),
        };
        let mut built = 0;
        let mut text = |sub: &str| match shared.get(sub, || {
            built += 1;
            status(sub)
        }) {
            ServerMessage::Encoded { kind, text } => (kind, text),
            other => panic!("not encoded: {other:?}"),
        };
        let (kind, first) = text("s1");
        let (_, again) = text("s1");
        let (_, other) = text("s2");
        assert_eq!(kind, "error");
        assert_eq!(first, again);
        assert_eq!(built, 2, "s1 once, s2 once");
        assert_eq!(&*first, serde_json::to_string(&status("s1")).unwrap());
        assert_eq!(&*other, serde_json::to_string(&status("s2")).unwrap());
    }
}

#[cfg(test)]
mod shared_encoding_tests {
    use super::*;

    fn status(sub: &str) -> ServerMessage {
        ServerMessage::Subscribed {
            sub: sub.to_owned(),
            channel: "broadcasts",
        }
    }

    #[test]
    fn a_client_that_keeps_taking_new_ids_leaves_no_copy_behind_past_the_cap() {
        let shared = SharedEncoding::default();
        for n in 0..10 * SHARED_ENCODINGS_KEPT {
            let sub = format!("s{n}");
            let ServerMessage::Encoded { text, .. } = shared.get(&sub, || status(&sub)) else {
                panic!("encoded");
            };
            assert!(text.contains(&format!("\"sub\":\"{sub}\"")), "its own id: {text}");
        }
        let kept = shared.by_sub.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert_eq!(kept, SHARED_ENCODINGS_KEPT);
        // The ids kept still answer from the one encoding.
        let ServerMessage::Encoded { text, .. } = shared.get("s1", || panic!("built again")) else {
            panic!("encoded");
        };
        assert!(text.contains("\"sub\":\"s1\""));
    }
}
