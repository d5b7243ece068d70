//! Polls each `--cap-feed`: owns fetching (conditional requests, caps on
//! size, time and count) and hands what it fetched to [`super::xml`],
//! [`super::index`] and [`super::cap_in`], then to the store.
//!
//! Nothing a feed does can hold the server: the poller runs on its own task
//! with a deadline on every request, parses off the async threads, reads at
//! most [`MAX_DOCUMENT_BYTES`] of a document and [`MAX_DOCUMENTS_PER_POLL`]
//! documents of an index, and a feed that fails is retried at the next poll
//! while the others carry on. An answer `304 Not Modified` is not parsed
//! again; neither is a document whose validators still match.
//!
//! What came over https stays on https: a redirect or an index link from
//! https to plain http is refused, since whoever sits on the path could
//! rewrite the answer and the alert with it. Certificates are checked by
//! [`super::tls`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::index::{Answer, Listed};
use super::{OfficialAlerts, Taken, cap_in, index, xml};
use crate::telemetry::metric;

/// The largest index (Atom or RSS) read.
pub const MAX_INDEX_BYTES: usize = 4 << 20;
/// The largest CAP document read; real ones are a few KiB.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Documents of one index fetched per poll; the rest wait for later polls
/// (an index is newest first, so the newest are read).
pub const MAX_DOCUMENTS_PER_POLL: usize = 100;
/// Documents fetched at once from one feed.
const CONCURRENT_FETCHES: usize = 4;
/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 3;

/// How the feeds are polled.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// The feeds, in the order given.
    pub feeds: Vec<Url>,
    /// Time between polls of a feed.
    pub interval: Duration,
    /// Deadline of one request, body included.
    pub timeout: Duration,
    /// Certificates of `--cap-feed-ca`, trusted besides the system's roots.
    pub ca: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// `ETag` and `Last-Modified` of the last answer taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

struct Feed {
    url: Url,
    source: String,
    index: Option<Validators>,
    documents: HashMap<Url, Validators>,
}

/// Why something fetched was not taken: a short code for the metric and a
/// reason for the log and the operators.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// `fetch`, `tls`, `redirect`, `downgrade`, `too_large`, `timeout`, `status`, `xml`, `doctype`,
    /// `not_a_feed`, `schema`, `over_cap`.
    pub code: &'static str,
    /// What was wrong, for people.
    pub reason: String,
}

fn refusal(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

enum Fetched {
    NotModified,
    /// The body, its validators, and the address it came from at last
    /// (after redirects), which relative links are resolved against.
    Fresh(Bytes, Validators, Url),
}

/// Starts polling on the current actix system (awc's client lives on one
/// thread), with `tls` for https (see [`super::tls::client_config`]).
/// Returns at once; the task ends at shutdown.
pub fn spawn(
    settings: FeedSettings,
    tls: Arc<rustls::ClientConfig>,
    store: Arc<OfficialAlerts>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    actix_rt::spawn(async move {
        let mut feeds: Vec<Feed> = settings
            .feeds
            .iter()
            .map(|url| Feed {
                url: url.clone(),
                source: url.to_string(),
                index: None,
                documents: HashMap::new(),
            })
            .collect();
        let mut interval = tokio::time::interval(settings.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => {
                    // A client per round: connections a hostile server left
                    // hanging (cut off by the deadline) go with it, and cannot
                    // fill the pool for the rounds after.
                    let client = client(settings.timeout, &tls);
                    let polls = feeds.iter_mut().map(|feed| poll(&client, feed, &store, settings.timeout));
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = futures_util::future::join_all(polls) => {}
                    }
                    store.prune(chrono::Utc::now());
                }
            }
        }
    })
}

fn client(timeout: Duration, tls: &Arc<rustls::ClientConfig>) -> awc::Client {
    awc::Client::builder()
        .timeout(timeout)
        // awc follows a redirect to any scheme; `fetch` follows them itself
        // so that https is never left for http.
        .disable_redirects()
        .add_default_header((
            "Accept",
            "application/atom+xml, application/rss+xml, application/cap+xml, application/xml;q=0.9, text/xml;q=0.9",
        ))
        .add_default_header(("User-Agent", concat!("campanile/", env!("CARGO_PKG_VERSION"))))
        .connector(awc::Connector::new().timeout(timeout).rustls_0_23(tls.clone()))
        .finish()
}

/// A request that got no answer, a failed TLS handshake told apart from
/// the rest so that operators read what is wrong with the certificate.
fn send_refusal(error: &awc::error::SendRequestError, url: &Url) -> Refusal {
    use awc::error::{ConnectError, SendRequestError};
    if let SendRequestError::Connect(ConnectError::Io(io)) = error
        && let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return refusal("tls", super::tls::explain(tls, url.host_str().unwrap_or("the server")));
    }
    refusal("fetch", format!("the request failed: {error}"))
}

/// Where a redirect leads, if it may be followed from `at`.
fn redirect_target(response: &awc::ClientResponse<impl Sized>, at: &Url) -> Result<Url, Refusal> {
    let status = response.status().as_u16();
    let next = response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .and_then(|location| at.join(location).ok())
        .ok_or_else(|| {
            refusal(
                "redirect",
                format!("the server answered {status} without a usable Location"),
            )
        })?;
    match (at.scheme(), next.scheme()) {
        ("https", "http") => Err(refusal(
            "downgrade",
            format!(
                "redirected from https to plain http ({next}): not followed, as the answer could be altered on the way"
            ),
        )),
        (_, "http" | "https") => Ok(next),
        _ => Err(refusal(
            "redirect",
            format!("redirected to {next}, which is not http(s)"),
        )),
    }
}

async fn fetch(
    client: &awc::Client,
    url: &Url,
    known: Option<&Validators>,
    limit: usize,
    timeout: Duration,
) -> Result<Fetched, Refusal> {
    let work = async {
        let mut at = url.clone();
        let mut redirects = 0;
        let mut response = loop {
            let mut request = client.get(at.as_str());
            if let Some(known) = known {
                if let Some(etag) = &known.etag {
                    request = request.insert_header(("If-None-Match", etag.as_str()));
                }
                if let Some(modified) = &known.last_modified {
                    request = request.insert_header(("If-Modified-Since", modified.as_str()));
                }
            }
            let response = request.send().await.map_err(|e| send_refusal(&e, &at))?;
            if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                break response;
            }
            if redirects == MAX_REDIRECTS {
                return Err(refusal("redirect", format!("more than {MAX_REDIRECTS} redirects")));
            }
            redirects += 1;
            at = redirect_target(&response, &at)?;
        };
        match response.status().as_u16() {
            304 if known.is_some() => return Ok(Fetched::NotModified),
            200 => {}
            status => return Err(refusal("status", format!("the server answered {status}"))),
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 256)
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header("ETag"),
            last_modified: header("Last-Modified"),
        };
        let body = response.body().limit(limit).await.map_err(|e| match e {
            awc::error::PayloadError::Overflow => {
                refusal("too_large", format!("the answer is larger than {limit} bytes"))
            }
            other => refusal("fetch", format!("the answer could not be read: {other}")),
        })?;
        Ok(Fetched::Fresh(body, validators, at))
    };
    tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| {
        Err(refusal(
            "timeout",
            format!("no complete answer within {} s", timeout.as_secs_f64()),
        ))
    })
}

fn refused(feed: &str, document: &str, store: &OfficialAlerts, r: &Refusal) {
    tracing::warn!(feed, document, code = r.code, reason = %r.reason, "official CAP input refused");
    metrics::counter!(metric::OFFICIAL_REFUSED, "feed" => feed.to_owned(), "code" => r.code).increment(1);
    store.note_refusal(feed, document, r);
}

fn parsed(feed: &str, kind: &'static str) {
    metrics::counter!(metric::OFFICIAL_PARSES, "feed" => feed.to_owned(), "kind" => kind).increment(1);
}

fn fetched(feed: &str, outcome: &'static str) {
    metrics::counter!(metric::OFFICIAL_FETCHES, "feed" => feed.to_owned(), "outcome" => outcome).increment(1);
}

/// Parses XML off the async threads.
async fn parse_xml(bytes: Bytes) -> Result<xml::Element, Refusal> {
    tokio::task::spawn_blocking(move || xml::parse(&bytes))
        .await
        .map_err(|e| refusal("xml", format!("the parser stopped: {e}")))?
        .map_err(xml_refusal)
}

fn xml_refusal(e: xml::XmlError) -> Refusal {
    match e {
        xml::XmlError::DocType => refusal("doctype", e.to_string()),
        other => refusal("xml", other.to_string()),
    }
}

/// Checks one CAP document and keeps it if valid.
fn take_document(feed: &str, document: &str, root: &xml::Element, store: &OfficialAlerts) {
    match cap_in::validate(root) {
        Ok(alert) => {
            let taken = store.take(feed, alert, chrono::Utc::now());
            tracing::debug!(feed, document, ?taken, "official CAP document read");
            if taken != Taken::Duplicate {
                metrics::counter!(metric::OFFICIAL_TAKEN, "feed" => feed.to_owned()).increment(1);
            }
        }
        Err(e) => refused(
            feed,
            document,
            store,
            &refusal("schema", format!("not valid CAP 1.2: {e}")),
        ),
    }
}

async fn poll(client: &awc::Client, feed: &mut Feed, store: &OfficialAlerts, timeout: Duration) {
    let source = feed.source.clone();
    let (bytes, base) = match fetch(client, &feed.url, feed.index.as_ref(), MAX_INDEX_BYTES, timeout).await {
        Ok(Fetched::NotModified) => {
            fetched(&source, "not_modified");
            return;
        }
        Ok(Fetched::Fresh(bytes, validators, at)) => {
            fetched(&source, "fresh");
            feed.index = Some(validators);
            (bytes, at)
        }
        Err(r) => {
            fetched(&source, "failed");
            refused(&source, &source, store, &r);
            return;
        }
    };
    parsed(&source, "index");
    let over_https = base.scheme() == "https";
    // An index of thousands of entries is read off the async threads too.
    let answer = tokio::task::spawn_blocking(move || {
        xml::parse(&bytes)
            .map_err(xml_refusal)
            .and_then(|root| index::read(root, &base).map_err(|e| refusal("not_a_feed", e.0)))
    })
    .await
    .unwrap_or_else(|e| Err(refusal("xml", format!("the parser stopped: {e}"))));
    let listed = match answer {
        Err(r) => {
            // Read it again next time, whatever its validators say.
            feed.index = None;
            refused(&source, &source, store, &r);
            return;
        }
        Ok((Answer::Document(root), _)) => {
            parsed(&source, "document");
            take_document(&source, &source, &root, store);
            return;
        }
        Ok((Answer::Index(listed), skipped)) => {
            if skipped > 0 {
                refused(
                    &source,
                    &source,
                    store,
                    &refusal("not_a_feed", format!("{skipped} entries link to no http(s) document")),
                );
            }
            listed
        }
    };
    let mut links = Vec::new();
    let mut listed_links = std::collections::HashSet::new();
    for entry in listed {
        match entry {
            Listed::Inline(root) => {
                parsed(&source, "document");
                take_document(&source, &source, &root, store);
            }
            // The index came over https so that no one on the path could
            // change it; its documents must not be open to that either.
            Listed::Link(url) if over_https && url.scheme() == "http" => refused(
                &source,
                url.as_str(),
                store,
                &refusal(
                    "downgrade",
                    "an https index links this document over plain http: not fetched, as it could be altered on the way",
                ),
            ),
            Listed::Link(url) => {
                if listed_links.insert(url.clone()) {
                    links.push(url);
                }
            }
        }
    }
    // Documents never read come first, so that an index longer than the cap
    // is read through over the polls; those read before are checked again
    // (conditionally) with the room left.
    let (mut unread, read): (Vec<Url>, Vec<Url>) = links.into_iter().partition(|u| !feed.documents.contains_key(u));
    if unread.len() + read.len() > MAX_DOCUMENTS_PER_POLL {
        let over = unread.len() + read.len() - MAX_DOCUMENTS_PER_POLL;
        refused(
            &source,
            &source,
            store,
            &refusal(
                "over_cap",
                format!("the index lists more than {MAX_DOCUMENTS_PER_POLL} documents: {over} wait for later polls"),
            ),
        );
        // The index's validators would hide the rest for good: read it again next time.
        feed.index = None;
    }
    unread.extend(read);
    unread.truncate(MAX_DOCUMENTS_PER_POLL);
    let links = unread;
    let known = &feed.documents;
    let results: Vec<(Url, Result<Fetched, Refusal>)> = futures_util::stream::iter(links)
        .map(|url| async move {
            let answer = fetch(client, &url, known.get(&url), MAX_DOCUMENT_BYTES, timeout).await;
            (url, answer)
        })
        .buffer_unordered(CONCURRENT_FETCHES)
        .collect()
        .await;
    // Only documents the index still lists are remembered: the map cannot grow without bound.
    feed.documents.retain(|u, _| listed_links.contains(u));
    for (url, answer) in results {
        let document = url.to_string();
        match answer {
            Ok(Fetched::NotModified) => fetched(&source, "not_modified"),
            Ok(Fetched::Fresh(bytes, validators, _)) => {
                fetched(&source, "fresh");
                parsed(&source, "document");
                match parse_xml(bytes).await {
                    Ok(root) => take_document(&source, &document, &root, store),
                    Err(r) => refused(&source, &document, store, &r),
                }
                feed.documents.insert(url, validators);
            }
            Err(r) => {
                fetched(&source, "failed");
                refused(&source, &document, store, &r);
                // Read, if not taken: it goes after the unread ones next time.
                feed.documents.entry(url).or_default();
            }
        }
    }
}
