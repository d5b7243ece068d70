//! The receiving half of a WebSocket: frames read from the upgraded
//! request's body, reassembled into messages, and every violation of RFC 6455
//! turned into the close code the RFC asks for.
//!
//! actix-ws reads frames too, but it reports invalid UTF-8, reserved bits
//! and an over-long fragmented message all as one opaque I/O error (so they
//! all closed with 1002 and leaked its text), and it buffers a frame whose
//! header announces gigabytes until the last byte arrived. Here the header
//! is checked before its payload is buffered, a fragmented message is
//! limited as a whole, and text is checked for UTF-8 fragment by fragment so
//! that a bad byte fails the connection as soon as it arrives (§8.1).

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::{Stream, StreamExt};

/// Buffer a connection keeps between messages; more is given back.
const IDLE_BUFFER_BYTES: usize = 8 * 1024;

/// A complete message or control frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole text message, valid UTF-8.
    Text(ByteString),
    /// A whole binary message.
    Binary(Bytes),
    /// A ping, to be answered with its payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The client's close, with its code when it gave one.
    Close(Option<CloseReason>),
}

/// Why the connection must be failed, as the close frame says it. The
/// reasons are fixed words: nothing internal reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// 1002 (protocol), 1007 (invalid payload) or 1009 (too big).
    pub code: CloseCode,
    /// A short fixed reason.
    pub reason: &'static str,
}

impl Violation {
    fn protocol(reason: &'static str) -> Self {
        Self {
            code: CloseCode::Protocol,
            reason,
        }
    }

    fn invalid_utf8() -> Self {
        Self {
            code: CloseCode::Invalid,
            reason: "text is not valid UTF-8",
        }
    }

    fn too_big() -> Self {
        Self {
            code: CloseCode::Size,
            reason: "messages are limited to 64 KiB",
        }
    }

    /// The close frame that fails the connection.
    pub fn close_reason(self) -> CloseReason {
        CloseReason {
            code: self.code,
            description: Some(self.reason.to_owned()),
        }
    }
}

/// A fragmented message being reassembled.
struct Partial {
    text: bool,
    data: BytesMut,
    /// How many leading bytes of `data` are known to be valid UTF-8.
    checked: usize,
}

/// Reads one connection's frames. `next` is cancel-safe: whatever was read
/// is kept in the reader, so a `select!` that drops it loses nothing.
pub struct FrameReader<S> {
    body: S,
    buf: BytesMut,
    partial: Option<Partial>,
    max: usize,
    failed: bool,
}

impl<S, E> FrameReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    /// A reader of `body` that refuses frames and messages over `max` bytes.
    pub fn new(body: S, max: usize) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
            partial: None,
            max,
            failed: false,
        }
    }

    /// The next message or control frame; `None` when the client is gone
    /// (or after a violation, which ends the reading).
    pub async fn next(&mut self) -> Option<Result<Incoming, Violation>> {
        if self.failed {
            return None;
        }
        loop {
            match self.decode() {
                Ok(Some(incoming)) => {
                    if self.buf.is_empty() && self.buf.capacity() > IDLE_BUFFER_BYTES {
                        // One large message must not cost the connection its
                        // size for the rest of its life: thousands are idle.
                        self.buf = BytesMut::new();
                    }
                    return Some(Ok(incoming));
                }
                Ok(None) => {}
                Err(violation) => {
                    self.failed = true;
                    return Some(Err(violation));
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                // A broken or finished body: the client is gone, nobody to tell.
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Takes every complete frame out of the buffer until one makes a message.
    fn decode(&mut self) -> Result<Option<Incoming>, Violation> {
        loop {
            let Some((opcode, declared)) = header(&self.buf)? else {
                return Ok(None);
            };
            // Refuse before buffering: a header may announce any length.
            let assembled = match (opcode, &self.partial) {
                (0, Some(p)) => p.data.len() as u64,
                _ => 0,
            };
            if declared.saturating_add(assembled) > self.max as u64 {
                return Err(Violation::too_big());
            }
            let Some((fin, opcode, payload)) = Parser::parse(&mut self.buf, true, self.max).map_err(violation)? else {
                return Ok(None);
            };
            let payload = payload.unwrap_or_default();
            match opcode {
                OpCode::Ping | OpCode::Pong | OpCode::Close if !fin => {
                    return Err(Violation::protocol("control frames may not be fragmented"));
                }
                OpCode::Ping => return Ok(Some(Incoming::Ping(payload.freeze()))),
                OpCode::Pong => return Ok(Some(Incoming::Pong(payload.freeze()))),
                OpCode::Close => return close_reason(&payload).map(|r| Some(Incoming::Close(r))),
                OpCode::Text | OpCode::Binary if self.partial.is_some() => {
                    return Err(Violation::protocol("a new message began inside a fragmented one"));
                }
                OpCode::Text | OpCode::Binary => {
                    let mut partial = Partial {
                        text: opcode == OpCode::Text,
                        data: payload,
                        checked: 0,
                    };
                    if fin {
                        return finish(partial).map(Some);
                    }
                    partial.check_utf8()?;
                    self.partial = Some(partial);
                }
                OpCode::Continue => {
                    let Some(partial) = self.partial.as_mut() else {
                        return Err(Violation::protocol("a continuation frame with nothing to continue"));
                    };
                    partial.data.extend_from_slice(&payload);
                    partial.check_utf8()?;
                    if fin && let Some(partial) = self.partial.take() {
                        return finish(partial).map(Some);
                    }
                }
                OpCode::Bad => return Err(Violation::protocol("unknown opcode")),
            }
        }
    }
}

impl Partial {
    /// Fails fast: a byte that no continuation could make valid is refused
    /// now; an incomplete sequence at the end waits for the next fragment.
    fn check_utf8(&mut self) -> Result<(), Violation> {
        if !self.text {
            return Ok(());
        }
        match std::str::from_utf8(&self.data[self.checked..]) {
            Ok(_) => self.checked = self.data.len(),
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(Violation::invalid_utf8()),
        }
        Ok(())
    }
}

fn finish(partial: Partial) -> Result<Incoming, Violation> {
    let data = partial.data.freeze();
    if partial.text {
        ByteString::try_from(data)
            .map(Incoming::Text)
            .map_err(|_| Violation::invalid_utf8())
    } else {
        Ok(Incoming::Binary(data))
    }
}

/// The opcode and announced payload length of the frame at the start of
/// `buf`, once its header has arrived; reserved bits are refused here.
fn header(buf: &[u8]) -> Result<Option<(u8, u64)>, Violation> {
    let (Some(&first), Some(&second)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(Violation::protocol("reserved bits set without an extension"));
    }
    let length = match second & 0x7F {
        126 => buf.get(2..4).map(|b| u64::from(u16::from_be_bytes([b[0], b[1]]))),
        127 => buf
            .get(2..10)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes),
        n => Some(u64::from(n)),
    };
    Ok(length.map(|l| (first & 0x0F, l)))
}

fn violation(e: ProtocolError) -> Violation {
    match e {
        ProtocolError::Overflow => Violation::too_big(),
        ProtocolError::UnmaskedFrame => Violation::protocol("client frames must be masked"),
        ProtocolError::InvalidLength(_) => Violation::protocol("control frames carry at most 125 bytes"),
        ProtocolError::InvalidOpcode(_) | ProtocolError::BadOpCode => Violation::protocol("unknown opcode"),
        _ => Violation::protocol("malformed frame"),
    }
}

/// The client's close: no payload, or a valid code and a UTF-8 reason.
fn close_reason(payload: &[u8]) -> Result<Option<CloseReason>, Violation> {
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return if payload.is_empty() {
            Ok(None)
        } else {
            Err(Violation::protocol("a close payload has a two-byte code"))
        };
    };
    let code = u16::from_be_bytes(*code);
    // RFC 6455 §7.4: 1004-1006 and 1015 are never sent, others below 3000
    // are unassigned; 3000-4999 belong to registrations and applications.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Err(Violation::protocol("invalid close code"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| Violation::invalid_utf8())?;
    Ok(Some(CloseReason {
        code: code.into(),
        description: (!reason.is_empty()).then(|| reason.to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_codec::Encoder;
    use actix_http::ws::{Codec, Message};

    const MAX: usize = 64 * 1024;

    /// Client frames as a browser would mask them.
    fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        Parser::write_message(&mut out, payload, opcode, fin, true);
        out.freeze()
    }

    async fn read(chunks: Vec<Bytes>) -> Vec<Result<Incoming, Violation>> {
        let body = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        let mut reader = FrameReader::new(body, MAX);
        let mut out = Vec::new();
        while let Some(item) = reader.next().await {
            out.push(item);
        }
        out
    }

    #[tokio::test]
    async fn fragments_are_reassembled_with_control_frames_between_them() {
        let got = read(vec![
            frame(false, OpCode::Text, "caf".as_bytes()),
            frame(true, OpCode::Ping, b"p"),
            frame(false, OpCode::Continue, &"é".as_bytes()[..1]),
            frame(true, OpCode::Continue, &"é!".as_bytes()[1..]),
        ])
        .await;
        assert_eq!(
            got,
            vec![
                Ok(Incoming::Ping(Bytes::from_static(b"p"))),
                Ok(Incoming::Text("café!".into()))
            ]
        );
    }

    #[tokio::test]
    async fn invalid_utf8_fails_with_1007_at_the_fragment_that_carries_it() {
        let got = read(vec![
            frame(false, OpCode::Text, b"ok \xce\xba"),
            frame(false, OpCode::Continue, b"\xed\xa0\x80"),
            frame(true, OpCode::Continue, b"never read"),
        ])
        .await;
        assert_eq!(got, vec![Err(Violation::invalid_utf8())]);
        let single = read(vec![frame(true, OpCode::Text, b"\xff")]).await;
        assert_eq!(single, vec![Err(Violation::invalid_utf8())]);
    }

    #[tokio::test]
    async fn a_message_over_the_limit_fails_with_1009_whether_in_one_frame_or_many() {
        let piece = vec![b'a'; 20 * 1024];
        let mut fragments = vec![frame(false, OpCode::Text, &piece)];
        fragments.extend((0..3).map(|_| frame(false, OpCode::Continue, &piece)));
        assert_eq!(read(fragments).await, vec![Err(Violation::too_big())]);
        let one = vec![b'a'; MAX + 1];
        assert_eq!(
            read(vec![frame(true, OpCode::Binary, &one)]).await,
            vec![Err(Violation::too_big())]
        );
    }

    #[tokio::test]
    async fn a_header_announcing_a_huge_frame_is_refused_before_its_payload_arrives() {
        // 127: a 64-bit length follows; then nothing of the payload.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(read(vec![Bytes::from(header)]).await, vec![Err(Violation::too_big())]);
    }

    #[tokio::test]
    async fn protocol_errors_close_with_1002() {
        for chunks in [
            vec![frame(true, OpCode::Continue, b"x")],
            vec![frame(false, OpCode::Text, b"x"), frame(true, OpCode::Text, b"y")],
            vec![frame(false, OpCode::Ping, b"x")],
            vec![frame(true, OpCode::Close, b"\x03")],
            vec![frame(true, OpCode::Close, &999u16.to_be_bytes())],
            vec![Bytes::from_static(&[0xC1, 0x80, 0, 0, 0, 0])], // RSV1 on a text frame
            vec![Bytes::from_static(&[0x83, 0x80, 0, 0, 0, 0])], // reserved opcode 3
            vec![Bytes::from_static(&[0x81, 0x00])],             // unmasked
        ] {
            let got = read(chunks).await;
            assert!(
                matches!(got.as_slice(), [Err(v)] if v.code == CloseCode::Protocol),
                "{got:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_close_carries_its_code_and_a_reason_must_be_utf8() {
        let mut payload = 4001u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        assert_eq!(
            read(vec![frame(true, OpCode::Close, &payload)]).await,
            vec![Ok(Incoming::Close(Some(CloseReason {
                code: CloseCode::Other(4001),
                description: Some("bye".into())
            })))]
        );
        let mut bad = 1000u16.to_be_bytes().to_vec();
        bad.push(0xff);
        assert_eq!(
            read(vec![frame(true, OpCode::Close, &bad)]).await,
            vec![Err(Violation::invalid_utf8())]
        );
    }

    #[tokio::test]
    async fn frames_split_across_reads_are_joined() {
        let mut all = BytesMut::new();
        Codec::new()
            .client_mode()
            .encode(Message::Text("hello".into()), &mut all)
            .expect("encode");
        let chunks = all.iter().map(|b| Bytes::copy_from_slice(&[*b])).collect();
        assert_eq!(read(chunks).await, vec![Ok(Incoming::Text("hello".into()))]);
    }
}
