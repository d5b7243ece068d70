//! RFC 6455 conformance of `GET /ws` with a raw client over TCP: a client
//! that can send what browsers never do (invalid UTF-8, fragments, huge
//! headers) and see the close code and when the server drops TCP. The
//! Autobahn|Testsuite run (scripts/conformance.sh) covers the rest.

use std::time::{Duration, Instant};

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame, OpCode, Parser};
use bytes::BytesMut;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const SECOND: Duration = Duration::from_secs(1);

/// A WebSocket client that writes frames by hand.
pub struct RawWs {
    stream: TcpStream,
    buf: BytesMut,
    codec: Codec,
}

/// An upgrade the server refused: status, headers (lowercase names) and the
/// JSON body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Refused {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl RawWs {
    /// Opens `/ws` on `port` with extra request headers.
    pub async fn connect(port: u16, headers: &[(&str, &str)]) -> Result<RawWs, Refused> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp connect");
        let mut request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write upgrade");
        let mut buf = BytesMut::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = tokio::time::timeout(5 * SECOND, stream.read_buf(&mut buf))
                .await
                .expect("response in time")
                .expect("read");
            assert!(n > 0, "the server closed before answering the upgrade");
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let _ = buf.split_to(head_end);
        if status == 101 {
            return Ok(RawWs {
                stream,
                buf,
                codec: Codec::new().client_mode().max_size(1 << 20),
            });
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            let n = tokio::time::timeout(5 * SECOND, stream.read_buf(&mut buf))
                .await
                .expect("body in time")
                .expect("read");
            if n == 0 {
                break;
            }
        }
        Err(Refused {
            status,
            headers,
            body: serde_json::from_slice(&buf[..length.min(buf.len())]).unwrap_or(Value::Null),
        })
    }

    /// Sends one masked frame, as a client must.
    pub async fn frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) {
        let mut out = BytesMut::new();
        Parser::write_message(&mut out, payload, opcode, fin, true);
        self.stream.write_all(&out).await.expect("write frame");
    }

    /// A close frame with `code`.
    pub async fn close(&mut self, code: u16) {
        self.frame(true, OpCode::Close, &code.to_be_bytes()).await;
    }

    /// The next frame, or `None` once the server has closed TCP.
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).expect("a valid server frame") {
                return Some(frame);
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a frame or the end of the connection in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The close frame's code and reason, skipping other frames.
    pub async fn close_frame(&mut self, within: Duration) -> (u16, String) {
        loop {
            match self.next(within).await {
                Some(Frame::Close(Some(reason))) => {
                    return (u16::from(reason.code), reason.description.unwrap_or_default());
                }
                Some(Frame::Close(None)) => return (1005, String::new()),
                Some(_) => continue,
                None => panic!("TCP closed without a close frame"),
            }
        }
    }

    /// How long until the server closes TCP (reading and dropping frames).
    pub async fn tcp_closed_within(&mut self, within: Duration) -> Duration {
        let started = Instant::now();
        while self.next(within).await.is_some() {}
        started.elapsed()
    }

    /// The next text frame as JSON.
    pub async fn next_json(&mut self, within: Duration) -> Value {
        loop {
            match self.next(within).await {
                Some(Frame::Text(bytes)) => return serde_json::from_slice(&bytes).expect("JSON"),
                Some(Frame::Ping(_) | Frame::Pong(_)) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }
}

#[actix_web::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007_and_a_short_fixed_reason() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    // Autobahn 6.3.1's payload: valid Greek, then an encoded surrogate.
    ws.frame(
        true,
        OpCode::Text,
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
    )
    .await;
    let (code, reason) = ws.close_frame(5 * SECOND).await;
    assert_eq!(code, 1007);
    assert_eq!(reason, "text is not valid UTF-8");
    let closed = ws.tcp_closed_within(5 * SECOND).await;
    assert!(closed < Duration::from_millis(500), "TCP closed after {closed:?}");
}

#[actix_web::test]
async fn invalid_utf8_fails_at_the_fragment_that_carries_it_before_the_message_ends() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    ws.frame(false, OpCode::Text, "{\"type\":\"pi".as_bytes()).await;
    // 0xF5 can never start a UTF-8 sequence: no later fragment can mend it.
    ws.frame(false, OpCode::Continue, b"\xf5ng\"}").await;
    let (code, _) = ws.close_frame(5 * SECOND).await;
    assert_eq!(code, 1007, "failed fast, without the final fragment");
}

#[actix_web::test]
async fn a_valid_message_split_inside_a_character_is_reassembled_and_answered() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    let text = "{\"type\":\"ping\",\"pad\":\"é\"}".as_bytes();
    let cut = text.iter().position(|b| *b == 0xC3).expect("é") + 1;
    ws.frame(false, OpCode::Text, &text[..cut]).await;
    ws.frame(true, OpCode::Ping, b"between").await;
    ws.frame(true, OpCode::Continue, &text[cut..]).await;
    match ws.next(5 * SECOND).await {
        Some(Frame::Pong(p)) => assert_eq!(&p[..], b"between"),
        other => panic!("expected the pong first, got {other:?}"),
    }
    assert_eq!(ws.next_json(5 * SECOND).await["type"], "pong");
}

#[actix_web::test]
async fn a_message_over_64_kib_in_fragments_closes_with_1009_and_64_kib_exactly_passes() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    // Exactly 64 KiB in four fragments: read (and answered: it is not JSON).
    let piece = vec![b'x'; 16 * 1024];
    ws.frame(false, OpCode::Text, &piece).await;
    ws.frame(false, OpCode::Continue, &piece).await;
    ws.frame(false, OpCode::Continue, &piece).await;
    ws.frame(true, OpCode::Continue, &piece).await;
    assert_eq!(ws.next_json(5 * SECOND).await["code"], "invalid_message");
    // One byte more, fragmented: 1009.
    ws.frame(false, OpCode::Binary, &piece).await;
    ws.frame(false, OpCode::Continue, &piece).await;
    ws.frame(false, OpCode::Continue, &piece).await;
    ws.frame(false, OpCode::Continue, &piece).await;
    ws.frame(true, OpCode::Continue, b"!").await;
    assert_eq!(ws.close_frame(5 * SECOND).await.0, 1009);
}

#[actix_web::test]
async fn a_header_announcing_a_huge_frame_is_refused_with_1009_before_any_payload() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    ws.stream.write_all(&header).await.expect("write");
    assert_eq!(ws.close_frame(5 * SECOND).await.0, 1009);
}

#[actix_web::test]
async fn protocol_violations_close_with_1002_without_internal_text() {
    let app = spawn_app(EngineKind::Memory).await;
    for (name, bytes) in [
        ("reserved bit", vec![0xC1u8, 0x80, 0, 0, 0, 0]),
        ("reserved opcode", vec![0x83, 0x80, 0, 0, 0, 0]),
        ("continuation with nothing to continue", vec![0x80, 0x80, 0, 0, 0, 0]),
        ("fragmented ping", vec![0x09, 0x80, 0, 0, 0, 0]),
        ("invalid close code", vec![0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE7]),
    ] {
        let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
        ws.stream.write_all(&bytes).await.expect("write");
        let (code, reason) = ws.close_frame(5 * SECOND).await;
        assert_eq!(code, 1002, "{name}");
        assert!(!reason.to_lowercase().contains("error"), "{name}: {reason}");
    }
}

#[actix_web::test]
async fn after_the_closing_handshake_the_server_closes_tcp_first_and_at_once() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    ws.close(4001).await;
    let (code, _) = ws.close_frame(5 * SECOND).await;
    assert_eq!(code, 4001, "the close code is echoed");
    // We never close our side: the server must, right after its close frame.
    let closed = ws.tcp_closed_within(5 * SECOND).await;
    assert!(
        closed < Duration::from_millis(300),
        "the server kept TCP open for {closed:?} after the closing handshake"
    );
}

#[actix_web::test]
async fn an_empty_close_is_answered_with_an_empty_close_and_an_invalid_reason_is_1007() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    ws.frame(true, OpCode::Close, b"").await;
    assert_eq!(ws.close_frame(5 * SECOND).await.0, 1005, "no code in, no code out");
    let mut ws = RawWs::connect(app.port, &[]).await.expect("upgrade");
    ws.frame(true, OpCode::Close, b"\x03\xe8\xff\xfe").await;
    assert_eq!(ws.close_frame(5 * SECOND).await.0, 1007);
}
