//! One WebSocket connection's state machine.
//!
//! The session task owns the socket: it alone writes to it. Each
//! subscription is a stream of messages from the hub, kept by subscription
//! id and polled by the session itself, so a message is made only when the
//! socket can take it. A heatmap waits while its watch keeps coalescing, so
//! a slow tablet gets the latest map when it catches up; a broadcast,
//! report or alert that cannot be written for `MUST_ARRIVE_WITHIN` (5 s) closes
//! the connection (1013, resume with `since_seq`), and one the stream fell
//! behind on is re-read by the hub's channel, never dropped. Other sessions
//! are never slowed by a slow one. The session sees the rest of the server
//! only through its [`Context`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use actix_ws::{CloseCode, CloseReason, Session};
use futures_util::Stream;
use tokio_util::sync::CancellationToken;

use super::admission::Ticket;
use super::frames::{FrameReader, Incoming};
use super::socket::TcpHandle;
use crate::auth::{TokenKeys, Verified};
use crate::domain::{BBox, LatLon, Principal, Role};
use crate::hub::{Audience, EngineStatus, HeatmapLimits, HeatmapRefusal, HeatmapRequest, Hub, Messages, Resume};
use crate::protocol::{self, ClientMessage, ServerMessage, Subscribe};
use crate::telemetry::metric;

/// The largest message a client may send, in one frame or reassembled
/// from fragments (DESIGN §4); larger closes with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 16;
/// Messages a client may send per second, and in a burst.
const MESSAGES_PER_SECOND: u32 = 20;
const MESSAGE_BURST: u32 = 40;
/// Refused messages after which a flooding client is closed (1008).
const MAX_REFUSED: u32 = 200;
/// How long a broadcast, report or alert may wait for the socket before
/// the client is disconnected to resume with `since_seq`.
const MUST_ARRIVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// What every session runs with, built once by the start-up layer.
pub struct Context {
    /// Every channel a session may subscribe to.
    pub hub: Arc<Hub>,
    /// Trends and coordinated clusters.
    pub integrity: Arc<crate::hub::IntegrityChannel>,
    /// Token verification.
    pub keys: Arc<TokenKeys>,
    /// What heatmap subscriptions are checked against.
    pub heatmap_limits: Arc<HeatmapLimits>,
    /// How often the server pings.
    pub ping: std::time::Duration,
    /// How long a silent client is kept.
    pub timeout: std::time::Duration,
    /// Fired once at shutdown; sessions close with 1001.
    pub shutdown: CancellationToken,
}

struct Connection {
    context: Arc<Context>,
    principal: Principal,
    /// When the session's token expires; `None` for the public.
    expires: Option<tokio::time::Instant>,
    ws: Session,
    subscriptions: Subscriptions,
    next_sub: u64,
    /// The client's message budget.
    budget: governor::DefaultDirectRateLimiter,
    refused: u32,
}

/// A live subscription.
struct Subscription {
    id: String,
    /// `None` once its stream ended: the id stays until unsubscribed.
    messages: Option<Messages>,
    /// Whether it shows what only the whole-picture roles may see (then it
    /// ends when the token does).
    full_picture: bool,
    /// Whether its messages must not be skipped (all but heatmaps).
    must_arrive: bool,
}

/// The subscriptions of one connection, polled in turn so that a busy one
/// cannot starve the others.
#[derive(Default)]
struct Subscriptions {
    entries: Vec<Subscription>,
    turn: usize,
}

impl Subscriptions {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn insert(&mut self, subscription: Subscription) {
        self.entries.push(subscription);
    }

    fn remove(&mut self, id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|s| s.id != id);
        self.entries.len() != before
    }

    /// Removes the subscriptions only the whole-picture roles may hold,
    /// returning their ids.
    fn remove_full_picture(&mut self) -> Vec<String> {
        let (ended, kept) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|s| s.full_picture);
        self.entries = kept;
        ended.into_iter().map(|s: Subscription| s.id).collect()
    }

    /// The next message of any subscription, and whether it must arrive.
    fn poll_next(&mut self, cx: &mut TaskContext<'_>) -> Poll<(ServerMessage, bool)> {
        let len = self.entries.len();
        for i in 0..len {
            let at = (self.turn + i) % len;
            let entry = &mut self.entries[at];
            let Some(messages) = entry.messages.as_mut() else {
                continue;
            };
            match Pin::new(messages).poll_next(cx) {
                Poll::Ready(Some(msg)) => {
                    self.turn = (at + 1) % len;
                    return Poll::Ready((msg, entry.must_arrive));
                }
                Poll::Ready(None) => entry.messages = None,
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}

/// What the loop should do after handling an input.
enum Flow {
    Continue,
    Close(Option<CloseReason>),
}

/// What a session releases when it ends.
pub struct Ends {
    /// Its place under the connection caps.
    pub ticket: Ticket,
    /// Its socket, closed first once the close frame is out.
    pub tcp: Option<Arc<TcpHandle>>,
}

/// Runs one connection until either side ends it.
pub async fn run(
    context: Arc<Context>,
    token: Option<Verified>,
    ends: Ends,
    ws: Session,
    body: actix_web::web::Payload,
) {
    metrics::gauge!(metric::WS_SESSIONS).increment(1.0);
    let mut stream = FrameReader::new(body, MAX_FRAME_BYTES);
    let mut status = context.hub.status();
    let shutdown = context.shutdown.clone();
    let mut ping = tokio::time::interval(context.ping);
    ping.tick().await;
    let timeout = context.timeout;
    let (principal, expires) = match token {
        Some(t) => (t.principal, Some(deadline(t.expires_at))),
        None => (Principal::Public, None),
    };
    let mut conn = Connection {
        context,
        principal,
        expires,
        ws,
        subscriptions: Subscriptions::default(),
        next_sub: 1,
        budget: governor::RateLimiter::direct(
            governor::Quota::per_second(
                std::num::NonZeroU32::new(MESSAGES_PER_SECOND).unwrap_or(std::num::NonZeroU32::MIN),
            )
            .allow_burst(std::num::NonZeroU32::new(MESSAGE_BURST).unwrap_or(std::num::NonZeroU32::MIN)),
        ),
        refused: 0,
    };
    let mut last_heard = Instant::now();

    let close_reason = loop {
        let flow = tokio::select! {
            // In this order: an engine status change goes out before frames
            // made after it (a fresh snapshot follows its `up`).
            biased;
            _ = shutdown.cancelled() => Flow::Close(Some(CloseReason {
                code: CloseCode::Away,
                description: Some("server shutting down; reconnect".into()),
            })),
            () = until(conn.expires) => conn.expire().await,
            Ok(()) = status.changed() => {
                let engine = match *status.borrow_and_update() {
                    EngineStatus::Up => "up",
                    EngineStatus::Down => "down",
                };
                conn.send(ServerMessage::Status { engine }).await
            }
            incoming = stream.next() => match incoming {
                None => break None,
                Some(Ok(msg)) => {
                    last_heard = Instant::now();
                    conn.on_frame(msg).await
                }
                Some(Err(violation)) => Flow::Close(Some(violation.close_reason())),
            },
            (msg, must_arrive) = std::future::poll_fn(|cx| conn.subscriptions.poll_next(cx)) => {
                if must_arrive {
                    conn.send_within(msg).await
                } else {
                    conn.send(msg).await
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > timeout {
                    Flow::Close(Some(CloseReason {
                        code: CloseCode::Normal,
                        description: Some("no message or pong within the timeout".into()),
                    }))
                } else if conn.ws.ping(b"").await.is_err() {
                    break None;
                } else {
                    Flow::Continue
                }
            }
        };
        if let Flow::Close(reason) = flow {
            break reason;
        }
    };

    // Let go of the hub's channels before the close, which waits for a slow
    // client (it must still get its 1013), no longer than any frame may.
    drop(std::mem::take(&mut conn.subscriptions));
    let _ = tokio::time::timeout(conn.context.timeout, conn.ws.close(close_reason)).await;
    if let Some(tcp) = &ends.tcp {
        tcp.stop_reading();
    }
    drop(ends);
    metrics::gauge!(metric::WS_SESSIONS).decrement(1.0);
}

impl Connection {
    async fn send(&mut self, msg: ServerMessage) -> Flow {
        let kind = msg.kind();
        let text = match msg {
            ServerMessage::Encoded { text, .. } => text,
            msg => match serde_json::to_string(&msg) {
                Ok(text) => text.into(),
                Err(_) => return Flow::Continue,
            },
        };
        // A client that stops reading must not hold its session, its place
        // under the caps and the shutdown for ever: a frame it does not take
        // within the silence timeout ends it.
        match tokio::time::timeout(self.context.timeout, self.ws.text(text)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Flow::Close(None),
            Err(_) => {
                return Flow::Close(Some(CloseReason {
                    code: CloseCode::Again,
                    description: Some("too slow to take what was sent; reconnect".into()),
                }));
            }
        }
        metrics::counter!(metric::WS_FRAMES_SENT, "type" => kind).increment(1);
        Flow::Continue
    }

    /// Sends a message that must not be skipped. A client that takes
    /// nothing for [`MUST_ARRIVE_WITHIN`] is disconnected, to resume with
    /// `since_seq`.
    async fn send_within(&mut self, msg: ServerMessage) -> Flow {
        match tokio::time::timeout(MUST_ARRIVE_WITHIN, self.send(msg)).await {
            Ok(flow) => flow,
            Err(_) => Flow::Close(Some(CloseReason {
                code: CloseCode::Again,
                description: Some("too slow to receive broadcasts; reconnect with since_seq".into()),
            })),
        }
    }

    async fn on_frame(&mut self, msg: Incoming) -> Flow {
        match msg {
            Incoming::Text(_) if self.budget.check().is_err() => {
                self.refused += 1;
                if self.refused > MAX_REFUSED {
                    return Flow::Close(Some(CloseReason {
                        code: CloseCode::Policy,
                        description: Some("too many messages".into()),
                    }));
                }
                self.send(ServerMessage::error(
                    "rate_limited",
                    format!("at most {MESSAGES_PER_SECOND} messages a second; this one was ignored"),
                ))
                .await
            }
            Incoming::Text(text) => match protocol::parse(&text) {
                Ok(msg) => self.on_message(msg).await,
                Err(message) => self.send(ServerMessage::error("invalid_message", message)).await,
            },
            Incoming::Binary(_) => {
                self.send(ServerMessage::error(
                    "invalid_message",
                    "send JSON text frames, not binary",
                ))
                .await
            }
            Incoming::Ping(bytes) => {
                if self.ws.pong(&bytes).await.is_err() {
                    return Flow::Close(None);
                }
                Flow::Continue
            }
            Incoming::Pong(_) => Flow::Continue,
            // RFC 6455 §5.5.1: answer with the code received; the session then
            // ends and the server closes TCP first (§7.1.1).
            Incoming::Close(reason) => Flow::Close(reason.map(|r| CloseReason {
                code: r.code,
                description: None,
            })),
        }
    }

    async fn on_message(&mut self, msg: ClientMessage) -> Flow {
        match msg {
            ClientMessage::Ping => self.send(ServerMessage::Pong).await,
            ClientMessage::Auth { token } => self.authenticate(&token).await,
            ClientMessage::Unsubscribe { sub } => match self.subscriptions.remove(&sub) {
                true => self.send(ServerMessage::Unsubscribed { sub }).await,
                false => {
                    self.send(ServerMessage::error(
                        "unknown_subscription",
                        format!("no subscription {sub:?}"),
                    ))
                    .await
                }
            },
            ClientMessage::Subscribe(request) => self.subscribe(request).await,
        }
    }

    /// Takes a token: the first, or a fresh one that replaces the current
    /// token before it expires (a refresh). A token of another role ends
    /// the subscriptions that were granted to the old role's view.
    async fn authenticate(&mut self, token: &str) -> Flow {
        let verified = match self.context.keys.verify_token(token) {
            Ok(v) => v,
            Err(e) => return self.send(ServerMessage::error("unauthorized", e.to_string())).await,
        };
        if verified.principal.role() != self.principal.role()
            && let Flow::Close(r) = self.end_full_picture().await
        {
            return Flow::Close(r);
        }
        let role = verified.principal.role().map_or("public", |r| r.as_str());
        self.principal = verified.principal;
        self.expires = Some(deadline(verified.expires_at));
        self.send(ServerMessage::Authenticated { role }).await
    }

    /// The token ran out: the client is told, its whole-picture
    /// subscriptions end, and the connection carries on as the public's.
    async fn expire(&mut self) -> Flow {
        self.principal = Principal::Public;
        self.expires = None;
        if let Flow::Close(r) = self
            .send(ServerMessage::error(
                "token_expired",
                "the token expired: reports, alerts and the full picture have stopped; \
                 send {\"type\":\"auth\",\"token\":…} with a fresh token and subscribe again",
            ))
            .await
        {
            return Flow::Close(r);
        }
        self.end_full_picture().await
    }

    /// Ends every subscription that only the whole-picture roles may hold,
    /// telling the client which.
    async fn end_full_picture(&mut self) -> Flow {
        for sub in self.subscriptions.remove_full_picture() {
            if let Flow::Close(r) = self.send(ServerMessage::Unsubscribed { sub }).await {
                return Flow::Close(r);
            }
        }
        Flow::Continue
    }

    async fn subscribe(&mut self, request: Subscribe) -> Flow {
        if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return self
                .send(ServerMessage::error(
                    "too_many_subscriptions",
                    format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                ))
                .await;
        }
        let channel = request.channel();
        let hub = self.context.hub.clone();
        match request {
            Subscribe::Heatmap { res, window, bbox } => self.subscribe_heatmap(res, window.as_deref(), bbox).await,
            Subscribe::Broadcasts { since_seq, epoch, near } => {
                let near = match near.map(|n| LatLon::new(n.lat, n.lon)).transpose() {
                    Ok(n) => n,
                    Err(e) => return self.send(ServerMessage::error(e.code, e.message)).await,
                };
                let resume = since_seq.map(|since_seq| Resume { since_seq, epoch });
                let viewer = self.principal.clone();
                // A commander's or operator's feed carries responders' messages.
                let full_picture = viewer.sees_full_picture();
                self.start(channel, full_picture, |sub| {
                    hub.broadcasts().subscribe(sub, viewer, resume, near)
                })
                .await
            }
            // The live feeds are for operators and commanders.
            Subscribe::Reports | Subscribe::Alerts | Subscribe::Trends if !self.principal.sees_full_picture() => {
                self.send(ServerMessage::error(
                    "forbidden",
                    format!("the {channel} channel is for operators and commanders"),
                ))
                .await
            }
            Subscribe::Reports => {
                let operator = self.principal.has_any(&[Role::Operator]);
                self.start(channel, true, |sub| hub.reports().subscribe(sub, operator))
                    .await
            }
            Subscribe::Alerts => self.start(channel, true, |sub| hub.alerts().subscribe(sub)).await,
            Subscribe::Trends => {
                let integrity = self.context.integrity.clone();
                self.start(channel, true, |sub| integrity.subscribe(sub)).await
            }
            Subscribe::Zones { window } => self.subscribe_zones(window.as_deref()).await,
        }
    }

    async fn subscribe_heatmap(&mut self, res: Option<u64>, window: Option<&str>, bbox: Option<Vec<f64>>) -> Flow {
        // Roles without the whole picture (the public, `ingest`) get the
        // public heatmap, with its limits: the request decides the audience.
        let parsed = bbox
            .map(|b| BBox::from_slice(&b))
            .transpose()
            .map_err(HeatmapRefusal::from)
            .and_then(|bbox| HeatmapRequest::parse(res, window, bbox, &self.principal, &self.context.heatmap_limits));
        let request = match parsed {
            Ok(r) => r,
            Err(refusal) => {
                let (code, message) = match refusal {
                    HeatmapRefusal::Invalid(f) => (f.code, f.message),
                    HeatmapRefusal::Forbidden(m) => ("forbidden", m),
                };
                return self.send(ServerMessage::error(code, message)).await;
            }
        };
        let full_picture = request.key.audience == Audience::Full;
        let sub = self.next_id();
        let messages = match self.context.hub.heatmap(sub.clone(), request).await {
            Ok(messages) => messages,
            Err(e) => return self.refuse_for_the_engine("heatmap", &e).await,
        };
        self.acknowledge(sub, "heatmap", full_picture, false, messages).await
    }

    async fn subscribe_zones(&mut self, window: Option<&str>) -> Flow {
        let window = match window {
            Some(name) => match self.context.heatmap_limits.windows.get(name) {
                Ok(w) => w,
                Err(e) => return self.send(ServerMessage::error(e.code, e.message)).await,
            },
            None => self.context.hub.zones().picture().estimate_window.clone(),
        };
        // The view follows the role: figures for the whole picture, words for
        // everyone else.
        let full = self.principal.sees_full_picture();
        let sub = self.next_id();
        let messages = match self.context.hub.zones().subscribe(sub.clone(), &window, full).await {
            Ok(messages) => messages,
            Err(e) => return self.refuse_for_the_engine("zones", &e).await,
        };
        self.acknowledge(sub, "zones", full, false, messages).await
    }

    /// Tells the client a subscription to `channel` could not start because
    /// the engine did not answer its first read.
    async fn refuse_for_the_engine(&mut self, channel: &'static str, e: &crate::engine::EngineError) -> Flow {
        tracing::warn!(error = %e, channel, "subscription failed");
        self.send(ServerMessage::error(
            "engine_unavailable",
            "the storage engine is unavailable; retry",
        ))
        .await
    }

    fn next_id(&mut self) -> String {
        let sub = format!("s{}", self.next_sub);
        self.next_sub += 1;
        sub
    }

    /// Subscribes to `channel`, whose messages must all arrive, under a new
    /// id; its messages are made by `messages(id)`.
    async fn start(
        &mut self,
        channel: &'static str,
        full_picture: bool,
        messages: impl FnOnce(String) -> Messages,
    ) -> Flow {
        let sub = self.next_id();
        let messages = messages(sub.clone());
        self.acknowledge(sub, channel, full_picture, true, messages).await
    }

    /// Tells the client of subscription `sub`, then starts sending its messages.
    async fn acknowledge(
        &mut self,
        sub: String,
        channel: &'static str,
        full_picture: bool,
        must_arrive: bool,
        messages: Messages,
    ) -> Flow {
        if let Flow::Close(r) = self
            .send(ServerMessage::Subscribed {
                sub: sub.clone(),
                channel,
            })
            .await
        {
            return Flow::Close(r);
        }
        self.subscriptions.insert(Subscription {
            id: sub,
            messages: Some(messages),
            full_picture,
            must_arrive,
        });
        Flow::Continue
    }
}

/// The instant a token with `exp` (seconds since the epoch) runs out.
fn deadline(exp: i64) -> tokio::time::Instant {
    let left = exp.saturating_sub(chrono::Utc::now().timestamp());
    tokio::time::Instant::now() + std::time::Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

/// Resolves at `deadline`, never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
