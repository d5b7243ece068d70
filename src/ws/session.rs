//! One WebSocket connection's state machine.
//!
//! The session task owns the socket: it alone writes to it, reading from a
//! bounded queue that subscription tasks fill. A heatmap task blocks when
//! the queue is full while its watch keeps coalescing, so a slow tablet gets
//! the latest map when it catches up and holds no more than the queue's
//! worth of memory; other sessions are never slowed by it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix_ws::{CloseCode, CloseReason, Session};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::admission::Ticket;
use super::frames::{FrameReader, Incoming};
use super::socket::TcpHandle;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::heatmap::HeatmapRequest;
use crate::auth::Verified;
use crate::domain::rfc3339;
use crate::domain::{BBox, Principal};
use crate::hub::{Audience, EngineStatus, HeatmapFrame, HeatmapKey};
use crate::protocol::CellOut;
use crate::protocol::{self, ClientMessage, ServerMessage, Subscribe};
use crate::telemetry::metric;

/// The largest message a client may send, in one frame or reassembled
/// from fragments (DESIGN §4); larger closes with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Frames waiting for a slow client before producers must wait.
const OUTBOUND_QUEUE: usize = 64;
/// The queue holds boxes: tokio allocates its slots in blocks of 32, and a
/// block of 104-byte messages cost every connection 3.3 KiB whether or not
/// a client was ever behind.
type Outbound = mpsc::Sender<Box<ServerMessage>>;
/// Subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 16;
/// Messages a client may send per second, and in a burst.
const MESSAGES_PER_SECOND: u32 = 20;
const MESSAGE_BURST: u32 = 40;
/// Refused messages after which a flooding client is closed (1008).
const MAX_REFUSED: u32 = 200;

struct Connection {
    state: Arc<AppState>,
    principal: Principal,
    /// When the session's token expires; `None` for the public.
    expires: Option<tokio::time::Instant>,
    ws: Session,
    outbound: Outbound,
    subscriptions: HashMap<String, Running>,
    next_sub: u64,
    /// Fired by a broadcast subscription whose client stopped reading.
    too_slow: CancellationToken,
    /// The client's message budget.
    budget: governor::DefaultDirectRateLimiter,
    refused: u32,
}

/// How long a broadcast may wait for room in a session's queue before the
/// client is disconnected to resume with `since_seq`.
const BROADCAST_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A live subscription: its task, and whether it shows what only the
/// whole-picture roles may see (then it ends when the token does).
struct Running {
    task: JoinHandle<()>,
    full_picture: bool,
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
    state: Arc<AppState>,
    token: Option<Verified>,
    ends: Ends,
    ws: Session,
    body: actix_web::web::Payload,
) {
    metrics::gauge!(metric::WS_SESSIONS).increment(1.0);
    let mut stream = FrameReader::new(body, MAX_FRAME_BYTES);
    let (outbound, mut queue) = mpsc::channel(OUTBOUND_QUEUE);
    let mut status = state.hub.status();
    let shutdown = state.shutdown.clone();
    let mut ping = tokio::time::interval(state.settings.ws_ping);
    ping.tick().await;
    let timeout = state.settings.ws_timeout;
    let (principal, expires) = match token {
        Some(t) => (t.principal, Some(deadline(t.expires_at))),
        None => (Principal::Public, None),
    };
    let mut conn = Connection {
        state,
        principal,
        expires,
        ws,
        outbound,
        subscriptions: HashMap::new(),
        next_sub: 1,
        too_slow: CancellationToken::new(),
        budget: governor::RateLimiter::direct(
            governor::Quota::per_second(
                std::num::NonZeroU32::new(MESSAGES_PER_SECOND).unwrap_or(std::num::NonZeroU32::MIN),
            )
            .allow_burst(std::num::NonZeroU32::new(MESSAGE_BURST).unwrap_or(std::num::NonZeroU32::MIN)),
        ),
        refused: 0,
    };
    let too_slow = conn.too_slow.clone();
    let mut last_heard = Instant::now();

    let close_reason = loop {
        let flow = tokio::select! {
            // In this order: an engine status change goes out before frames
            // queued after it (a fresh snapshot follows its `up`).
            biased;
            _ = shutdown.cancelled() => Flow::Close(Some(CloseReason {
                code: CloseCode::Away,
                description: Some("server shutting down; reconnect".into()),
            })),
            _ = too_slow.cancelled() => Flow::Close(Some(CloseReason {
                code: CloseCode::Again,
                description: Some("too slow to receive broadcasts; reconnect with since_seq".into()),
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
            Some(msg) = queue.recv() => conn.send(*msg).await,
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

    for (_, running) in conn.subscriptions.drain() {
        running.task.abort();
    }
    let _ = conn.ws.close(close_reason).await;
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
        if self.ws.text(text).await.is_err() {
            return Flow::Close(None);
        }
        metrics::counter!(metric::WS_FRAMES_SENT, "type" => kind).increment(1);
        Flow::Continue
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
                Some(running) => {
                    running.task.abort();
                    self.send(ServerMessage::Unsubscribed { sub }).await
                }
                None => {
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
        let verified = match self.state.keys.verify_token(token) {
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
        let ended: Vec<String> = self
            .subscriptions
            .iter()
            .filter(|(_, r)| r.full_picture)
            .map(|(sub, _)| sub.clone())
            .collect();
        for sub in ended {
            if let Some(running) = self.subscriptions.remove(&sub) {
                running.task.abort();
            }
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
        let (res, window, bbox) = match request {
            Subscribe::Heatmap { res, window, bbox } => (res, window, bbox),
            Subscribe::Broadcasts { since_seq, near } => return self.subscribe_broadcasts(since_seq, near).await,
            Subscribe::Reports => {
                let operator = self.principal.has_any(&[crate::domain::Role::Operator]);
                let feed = self.state.reports.feed();
                return self
                    .subscribe_feed("reports", feed, move |sub, body: String| {
                        let report = crate::reports::Reports::live(&body)?;
                        Some(ServerMessage::Report {
                            sub,
                            report: crate::reports::view(&report, operator),
                        })
                    })
                    .await;
            }
            Subscribe::Alerts => {
                let feed = self.state.engine.alert_feed();
                return self
                    .subscribe_feed("alerts", feed, |sub, body: String| {
                        let alert = serde_json::from_str(&body).ok()?;
                        Some(ServerMessage::Alert { sub, alert })
                    })
                    .await;
            }
        };
        // Roles without the whole picture (the public, `ingest`) get the
        // public heatmap, with its limits: the request decides the audience.
        let parsed = bbox
            .map(|b| BBox::from_slice(&b))
            .transpose()
            .map_err(ApiError::from)
            .and_then(|bbox| {
                HeatmapRequest::parse(res, window.as_deref(), bbox, &self.principal, &self.state.settings)
            });
        let request = match parsed {
            Ok(r) => r,
            Err(e) => {
                let (code, message) = ws_error(&e);
                return self.send(ServerMessage::error(code, message)).await;
            }
        };
        let frames = match self.state.hub.subscribe(request.key.clone()).await {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(error = %e, "heatmap subscription failed");
                return self
                    .send(ServerMessage::error(
                        "engine_unavailable",
                        "the storage engine is unavailable; retry",
                    ))
                    .await;
            }
        };
        let out = self.outbound.clone();
        let full_picture = request.key.audience == Audience::Full;
        self.start(channel, full_picture, move |sub| {
            forward_heatmap(sub, request.key, request.bbox, frames, out)
        })
        .await
    }
}

impl Connection {
    /// Acknowledges a subscription to `channel` under a new id, then runs
    /// `forward(id)` as its task until it ends or is unsubscribed.
    async fn start<F>(&mut self, channel: &'static str, full_picture: bool, forward: impl FnOnce(String) -> F) -> Flow
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let sub = format!("s{}", self.next_sub);
        self.next_sub += 1;
        if let Flow::Close(r) = self
            .send(ServerMessage::Subscribed {
                sub: sub.clone(),
                channel,
            })
            .await
        {
            return Flow::Close(r);
        }
        let task = tokio::spawn(forward(sub.clone()));
        self.subscriptions.insert(sub, Running { task, full_picture });
        Flow::Continue
    }

    /// A live feed for operators and commanders (`reports`, `alerts`):
    /// what arrives from now on, each item turned into a frame by `frame`.
    async fn subscribe_feed<T: Clone + Send + 'static>(
        &mut self,
        channel: &'static str,
        mut feed: tokio::sync::broadcast::Receiver<T>,
        frame: impl Fn(String, T) -> Option<ServerMessage> + Send + 'static,
    ) -> Flow {
        if !self.principal.sees_full_picture() {
            return self
                .send(ServerMessage::error(
                    "forbidden",
                    format!("the {channel} channel is for operators and commanders"),
                ))
                .await;
        }
        let (out, too_slow) = (self.outbound.clone(), self.too_slow.clone());
        self.start(channel, true, move |id| async move {
            loop {
                let item = match feed.recv().await {
                    Ok(item) => item,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, channel, "a feed subscriber fell behind");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(msg) = frame(id.clone(), item) else { continue };
                if !send_or_disconnect(&out, msg, &too_slow).await {
                    return;
                }
            }
        })
        .await
    }

    async fn subscribe_broadcasts(&mut self, since_seq: Option<u64>, near: Option<protocol::Near>) -> Flow {
        let near = match near.map(|n| crate::domain::LatLon::new(n.lat, n.lon)).transpose() {
            Ok(n) => n,
            Err(e) => return self.send(ServerMessage::error(e.code, e.message)).await,
        };
        // Subscribe to the live feed before reading the log: nothing falls between.
        let feed = self.state.engine.broadcast_feed();
        let (principal, state) = (self.principal.clone(), self.state.clone());
        let (out, too_slow) = (self.outbound.clone(), self.too_slow.clone());
        // A commander's or operator's feed carries responders' messages.
        self.start("broadcasts", principal.sees_full_picture(), move |sub| {
            forward_broadcasts(BroadcastSubscription {
                sub,
                principal,
                since_seq,
                near,
                state,
                feed,
                out,
                too_slow,
            })
        })
        .await
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

/// Queues a message that must not be dropped. A client whose queue stays
/// full for [`BROADCAST_SEND_TIMEOUT`] is disconnected (it resumes with
/// `since_seq`); false when the session is gone or being closed.
async fn send_or_disconnect(out: &Outbound, msg: ServerMessage, too_slow: &CancellationToken) -> bool {
    match tokio::time::timeout(BROADCAST_SEND_TIMEOUT, out.send(Box::new(msg))).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            too_slow.cancel();
            false
        }
    }
}

struct BroadcastSubscription {
    sub: String,
    principal: Principal,
    since_seq: Option<u64>,
    near: Option<crate::domain::LatLon>,
    state: Arc<AppState>,
    feed: tokio::sync::broadcast::Receiver<crate::engine::BroadcastRecord>,
    out: Outbound,
    too_slow: CancellationToken,
}

impl BroadcastSubscription {
    /// Sends one message if this subscriber may see it; false when the
    /// session is gone or too slow (then it is being disconnected).
    async fn deliver(&self, prepared: &crate::broadcasts::Prepared) -> bool {
        let Some(b) = &prepared.broadcast else {
            return true;
        };
        if !crate::broadcasts::visible(&self.principal, b.broadcast.audience)
            || !self.state.broadcasts.near(b, self.near)
        {
            return true;
        }
        let msg = prepared
            .frames_for(&self.principal)
            .get(&self.sub, || ServerMessage::Broadcast {
                sub: self.sub.clone(),
                seq: b.seq,
                broadcast: crate::broadcasts::Broadcasts::view(b, &self.principal),
            });
        send_or_disconnect(&self.out, msg, &self.too_slow).await
    }

    async fn replay(&self, after: u64) -> Option<u64> {
        let records = self.state.engine.broadcasts_after(after).await.ok()?;
        let mut last = after;
        for record in &records {
            last = last.max(record.seq);
            if !self.deliver(&self.state.broadcasts.prepare(record)).await {
                return None;
            }
        }
        Some(last)
    }
}

/// Feeds one broadcasts subscription: the retained messages after
/// `since_seq` (or the active ones), then live ones, with no gap and no
/// duplicate across the switch (`seq` decides). A feed that lagged is
/// re-read from the engine's log, so a message is never dropped.
async fn forward_broadcasts(mut s: BroadcastSubscription) {
    let mut last = match s.since_seq {
        Some(after) => match s.replay(after).await {
            Some(last) => last,
            None => return,
        },
        None => {
            let Ok(records) = s.state.engine.broadcasts_after(0).await else {
                return;
            };
            let all: Vec<_> = records.iter().map(|r| s.state.broadcasts.prepare(r)).collect();
            let gone = crate::domain::broadcast::superseded(all.iter().filter_map(|p| p.broadcast.as_ref()));
            let now = chrono::Utc::now();
            for p in &all {
                if p.broadcast.as_ref().is_some_and(|b| b.is_active(now, &gone)) && !s.deliver(p).await {
                    return;
                }
            }
            records.iter().map(|r| r.seq).max().unwrap_or(0)
        }
    };
    loop {
        match s.feed.recv().await {
            Ok(record) if record.seq > last => {
                last = record.seq;
                if !s.deliver(&s.state.broadcasts.prepare(&record)).await {
                    return;
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => match s.replay(last).await {
                Some(l) => last = l,
                None => return,
            },
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn ws_error(e: &ApiError) -> (&'static str, String) {
    match e {
        ApiError::Invalid(f) => (f.code, f.message.clone()),
        ApiError::Forbidden(m) => ("forbidden", m.clone()),
        other => ("invalid_subscription", other.to_string()),
    }
}

fn cells_out(cells: &[crate::hub::CellStat]) -> Vec<CellOut> {
    cells.iter().map(CellOut::from).collect()
}

/// Feeds one heatmap subscription: a snapshot, then a delta for every frame
/// that changes what this subscriber sees. Waiting on a full queue skips
/// frames, never cells: the next delta is computed from what was last sent.
async fn forward_heatmap(
    sub: String,
    key: HeatmapKey,
    bbox: Option<BBox>,
    mut frames: watch::Receiver<Arc<HeatmapFrame>>,
    out: Outbound,
) {
    let snapshot = |frame: &HeatmapFrame| ServerMessage::HeatmapSnapshot {
        sub: sub.clone(),
        res: u8::from(key.res),
        window: key.window.name().to_owned(),
        as_of: rfc3339(frame.as_of),
        cells: cells_out(&frame.snapshot(bbox.as_ref())),
    };
    let mut last = frames.borrow_and_update().clone();
    if out.send(Box::new(snapshot(&last))).await.is_err() {
        return;
    }
    while frames.changed().await.is_ok() {
        let frame = frames.borrow_and_update().clone();
        if frame.epoch != last.epoch {
            // Re-read after an outage: whatever was missed, start afresh.
            last = frame;
            if out.send(Box::new(snapshot(&last))).await.is_err() {
                return;
            }
            continue;
        }
        let delta = |changed: &[crate::hub::CellStat], removed: &[h3o::CellIndex]| ServerMessage::HeatmapDelta {
            sub: sub.clone(),
            as_of: rfc3339(frame.as_of),
            cells: cells_out(changed),
            removed: removed.iter().map(ToString::to_string).collect(),
        };
        let msg = if bbox.is_none() && frame.follows(&last) {
            // The common case: the whole map, one frame behind. Every such
            // subscriber of the group gets the same bytes.
            frame.encoded_delta.get(&sub, || delta(&frame.changed, &frame.removed))
        } else {
            let (changed, removed) = frame.delta_since(&last, bbox.as_ref());
            if changed.is_empty() && removed.is_empty() {
                last = frame;
                continue;
            }
            delta(&changed, &removed)
        };
        last = frame;
        if out.send(Box::new(msg)).await.is_err() {
            return;
        }
    }
}
