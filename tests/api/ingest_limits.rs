//! Limits on the way in (DESIGN §3): a batch over 10,000 items is refused
//! while it is being split, and a body that stalls is cut off with 408.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

#[actix_web::test]
async fn a_batch_of_10001_tiny_items_is_413_and_splitting_stops_at_the_item_too_many() {
    let app = spawn_app(EngineKind::Memory).await;
    let items = vec!["{}"; 10_001].join(",");
    // The tail is not JSON: a splitter that read the whole batch would
    // answer 400 for it; one that stops at the 10,001st item never sees it.
    for (body, content_type) in [
        (format!("[{items}]"), "application/json"),
        (format!("[{items}, this is never parsed"), "application/json"),
        ("{}\n".repeat(10_001), "application/x-ndjson"),
        (
            format!("{}never parsed\n", "{}\n".repeat(10_001)),
            "application/x-ndjson",
        ),
    ] {
        let (status, answer) = app.post_raw(body, content_type, Some(&app.ingest)).await;
        assert_eq!(status, 413, "{content_type}: {answer}");
        assert_eq!(answer["error"]["code"], "payload_too_large", "{answer}");
    }
    // 10,000 items are a batch (each refused for lacking fields, none stored).
    let items = vec!["{}"; 10_000].join(",");
    let (status, answer) = app
        .post_raw(format!("[{items}]"), "application/json", Some(&app.ingest))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["rejected"].as_array().map(Vec::len), Some(10_000));
}

async fn stalled_app() -> TestApp {
    let mut args = test_args();
    args.body_timeout = Some("1s".into());
    spawn_on(args).await
}

/// Reads what the server sends until it closes the connection, or fails
/// the test after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        read.is_ok(),
        "the connection was not closed within {within:?}; got {text:?}"
    );
    text
}

fn head(path: &str, token: Option<&str>, content_length: usize) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {content_length}\r\n\r\n"
    )
}

#[actix_web::test]
async fn a_body_that_stalls_is_answered_408_in_the_envelope_and_its_connection_closed() {
    let app = stalled_app().await;
    // The posts route (a token holder) and the public reports route (anyone).
    for (path, token) in [("/api/v1/posts", Some(app.ingest.clone())), ("/api/v1/reports", None)] {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
        let started = Instant::now();
        stream
            .write_all(format!("{}[{{\"sou", head(path, token.as_deref(), 1_000)).as_bytes())
            .await
            .expect("write");
        let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        let took = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains(r#""code":"request_timeout""#), "{path}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{path}: {answer}"
        );
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{path}: cut off after {took:?}"
        );
    }
}

#[actix_web::test]
async fn a_body_dripping_a_byte_at_a_time_is_cut_off_at_the_deadline_not_kept_alive() {
    let app = stalled_app().await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
    let started = Instant::now();
    stream
        .write_all(head("/api/v1/reports", None, 1_000).as_bytes())
        .await
        .expect("write");
    // A byte every 200 ms: never idle long, never done. Writes fail once
    // the server has closed the connection.
    let mut buf = [0u8; 4096];
    let mut answer = Vec::new();
    loop {
        assert!(started.elapsed() < Duration::from_secs(5), "still open after 5 s");
        let _ = stream.write_all(b" ").await;
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[actix_web::test]
async fn headers_that_stall_are_cut_off_by_the_http_server_after_five_seconds() {
    let app = spawn_app(EngineKind::Memory).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"POST /api/v1/reports HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let took = started.elapsed();
    // actix-web's client_request_timeout (5 s by default): its own 408.
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "{took:?}"
    );
}
