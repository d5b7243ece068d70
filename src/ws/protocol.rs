//! The WebSocket message types (DESIGN §4) and their parsing.

use serde::{Deserialize, Serialize};

use crate::api::heatmap::CellOut;

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// Authenticate with a token, before any subscription.
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
        /// Keep only messages whose area contains this point.
        near: Option<Near>,
    },
    /// Citizen and field reports.
    Reports,
    /// Surge and threshold alerts.
    Alerts,
}

impl Subscribe {
    /// The channel's name.
    pub fn channel(&self) -> &'static str {
        match self {
            Subscribe::Heatmap { .. } => "heatmap",
            Subscribe::Broadcasts { .. } => "broadcasts",
            Subscribe::Reports => "reports",
            Subscribe::Alerts => "alerts",
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
        /// The message.
        broadcast: serde_json::Value,
    },
    /// A new or re-moderated report.
    #[serde(rename = "report")]
    Report {
        /// Subscription id.
        sub: String,
        /// The report.
        report: serde_json::Value,
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
            ServerMessage::Status { .. } => "status",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Pong => "pong",
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
}
