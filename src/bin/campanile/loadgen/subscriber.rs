//! One subscriber: a WebSocket client that speaks Campanile, plain WebSocket
//! or Socket.IO and notes when each probe cell and broadcast reaches it.

use super::*;

/// Who one subscriber is and what it speaks.
pub(super) struct Subscription {
    pub(super) target: String,
    pub(super) protocol: Protocol,
    pub(super) token: Option<String>,
    /// The heatmap resolution, if it subscribes to one.
    pub(super) res: Option<u8>,
}

/// The parts of a server message the generator reads, borrowed from the
/// frame: thousands of clients each parse every delta, and a parse into
/// `serde_json::Value` would make the generator the bottleneck.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    cells: Vec<CellId<'a>>,
    #[serde(default, borrow)]
    broadcast: Option<BroadcastHeadline<'a>>,
}

#[derive(Deserialize)]
struct CellId<'a> {
    #[serde(borrow)]
    cell: &'a str,
}

#[derive(Deserialize)]
struct BroadcastHeadline<'a> {
    #[serde(borrow)]
    headline: std::borrow::Cow<'a, str>,
}

/// One subscriber: heatmap at `res` and the live broadcasts, until `stop`.
pub(super) async fn subscriber(http: awc::Client, sub: Subscription, shared: Arc<Shared>, stop: CancellationToken) {
    let base = sub.target.trim_end_matches('/').replacen("http", "ws", 1);
    let url = match sub.protocol {
        Protocol::Campanile | Protocol::Ws => format!("{base}/ws"),
        Protocol::Socketio => format!("{base}/socket.io/?EIO=4&transport=websocket"),
    };
    let mut request = http.ws(url).max_frame_size(1 << 20);
    if let Some(t) = &sub.token {
        request = request.bearer_auth(t);
    }
    let Ok((_, mut ws)) = request.connect().await else {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    let hello: Vec<String> = match sub.protocol {
        Protocol::Campanile | Protocol::Ws => sub
            .res
            .map(|res| json!({"type": "subscribe", "channel": "heatmap", "res": res, "window": "1m"}))
            .into_iter()
            .chain([json!({"type": "subscribe", "channel": "broadcasts"})])
            .map(|m| m.to_string())
            .collect(),
        // Engine.IO's open packet comes first; "40" joins the default namespace.
        Protocol::Socketio => vec!["40".to_owned()],
    };
    for text in hello {
        if ws.send(awc::ws::Message::Text(text.into())).await.is_err() {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let mut seen_probes: HashSet<String> = HashSet::new();
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => {
                let _ = ws.close().await;
                return;
            }
            frame = ws.next() => frame,
        };
        let text = match frame {
            Some(Ok(awc::ws::Frame::Text(t))) => t,
            Some(Ok(awc::ws::Frame::Ping(p))) => {
                let _ = ws.send(awc::ws::Message::Pong(p)).await;
                continue;
            }
            Some(Ok(awc::ws::Frame::Close(_)) | Err(_)) | None => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(Ok(_)) => continue,
        };
        let arrived = Instant::now();
        let message = match sub.protocol {
            Protocol::Campanile | Protocol::Ws => &text[..],
            Protocol::Socketio => match socketio_event(&text) {
                SocketIo::Event(body) => body,
                SocketIo::Ping => {
                    let _ = ws.send(awc::ws::Message::Text("3".into())).await;
                    continue;
                }
                SocketIo::Other => continue,
            },
        };
        let Ok(msg) = serde_json::from_slice::<Incoming>(message) else {
            continue;
        };
        match msg.kind {
            "heatmap.delta" => {
                let probes = shared.probes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                for cell in &msg.cells {
                    if let Some(sent) = probes.get(cell.cell)
                        && seen_probes.insert(cell.cell.to_owned())
                    {
                        lock(&shared.delta_latency).push(arrived.saturating_duration_since(*sent));
                    }
                }
            }
            "broadcast" => {
                let Some(b) = msg.broadcast else { continue };
                let sent = shared
                    .broadcasts
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(b.headline.as_ref())
                    .copied();
                if let Some(sent) = sent {
                    lock(&shared.broadcast_arrivals)
                        .entry(b.headline.into_owned())
                        .or_default()
                        .push(arrived.saturating_duration_since(sent));
                }
            }
            _ => {}
        }
    }
}

/// One Engine.IO 4 text packet, as the Socket.IO peer sends them.
enum SocketIo<'a> {
    /// `42["event",{...}]`: the event's payload.
    Event(&'a [u8]),
    /// `2`: the server's heartbeat, to be answered with `3`.
    Ping,
    /// Open, connect and anything else.
    Other,
}

fn socketio_event(packet: &[u8]) -> SocketIo<'_> {
    if packet == b"2" {
        return SocketIo::Ping;
    }
    let Some(array) = packet.strip_prefix(b"42") else {
        return SocketIo::Other;
    };
    // ["name",payload]: the payload starts after the first comma outside the name.
    let Some(comma) = array.iter().position(|b| *b == b',') else {
        return SocketIo::Other;
    };
    match array.strip_suffix(b"]") {
        Some(inner) if comma < inner.len() => SocketIo::Event(&inner[comma + 1..]),
        _ => SocketIo::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socketio_packets_are_told_apart() {
        assert!(matches!(socketio_event(b"2"), SocketIo::Ping));
        assert!(matches!(socketio_event(b"0{\"sid\":\"a\"}"), SocketIo::Other));
        assert!(matches!(socketio_event(b"40{\"sid\":\"b\"}"), SocketIo::Other));
        match socketio_event(br#"42["broadcast",{"type":"broadcast","broadcast":{"headline":"a,b"}}]"#) {
            SocketIo::Event(body) => {
                let msg: Incoming = serde_json::from_slice(body).unwrap();
                assert_eq!(msg.kind, "broadcast");
                assert_eq!(msg.broadcast.unwrap().headline, "a,b");
            }
            _ => panic!("an event"),
        }
        assert!(matches!(socketio_event(b"42[\"x\"]"), SocketIo::Other));
    }
}
