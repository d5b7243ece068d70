//! `campanile replay`: sends an NDJSON file of posts to a running server
//! through its public API, paced by the posts' own timestamps, as a
//! connector would. It touches nothing of the server but its HTTP API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::{Map, Value};

/// What `campanile replay` does.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// NDJSON file of posts.
    pub file: PathBuf,
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    /// Bearer token (ingest or operator).
    pub token: String,
    /// Time compression: 10 plays ten times faster; 0 sends as fast as possible.
    pub speed: f64,
    /// Items per request at most.
    pub batch: usize,
    /// Keep the file's timestamps instead of moving them to now.
    pub keep_timestamps: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// What a replay did.
#[derive(Debug, Default, Clone)]
pub struct ReplaySummary {
    /// Items read from the file.
    pub items: u64,
    /// Items the server stored.
    pub accepted: u64,
    /// Items the server had seen.
    pub duplicates: u64,
    /// Items refused, by code.
    pub rejected: BTreeMap<String, u64>,
    /// Requests that failed outright (network, 4xx/5xx), with the items in them.
    pub failed_requests: u64,
    /// Items in failed requests.
    pub failed_items: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "items read:      {}", self.items)?;
        writeln!(
            f,
            "accepted:        {} ({:.0}/s)",
            self.accepted,
            self.accepted as f64 / secs
        )?;
        writeln!(f, "duplicates:      {}", self.duplicates)?;
        let rejected: u64 = self.rejected.values().sum();
        writeln!(f, "rejected:        {rejected}")?;
        for (code, n) in &self.rejected {
            writeln!(f, "  {code}: {n}")?;
        }
        writeln!(
            f,
            "failed requests: {} ({} items)",
            self.failed_requests, self.failed_items
        )?;
        write!(f, "elapsed:         {:.1}s", secs)
    }
}

#[derive(Deserialize)]
struct IngestAnswer {
    accepted: u64,
    duplicates: u64,
    rejected: Vec<Rejected>,
}

#[derive(Deserialize)]
struct Rejected {
    code: String,
}

struct Line {
    at: Option<DateTime<Utc>>,
    object: Option<Map<String, Value>>,
    raw: String,
}

/// Plays an NDJSON file into a server, paced by the posts' timestamps.
pub async fn replay(options: &ReplayOptions) -> Result<ReplaySummary, String> {
    let text = std::fs::read_to_string(&options.file).map_err(|e| format!("{}: {e}", options.file.display()))?;
    let lines: Vec<Line> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|raw| {
            let object = serde_json::from_str::<Map<String, Value>>(raw).ok();
            let at = object
                .as_ref()
                .and_then(|o| o.get("ts"))
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            Line {
                at,
                object,
                raw: raw.to_owned(),
            }
        })
        .collect();
    let first = lines.iter().filter_map(|l| l.at).min();
    let bar = if options.progress {
        ProgressBar::new(lines.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} posts ({per_sec}) {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let url = format!("{}/api/v1/posts", options.target.trim_end_matches('/'));
    let started = Instant::now();
    let started_at = Utc::now();
    let mut summary = ReplaySummary {
        items: lines.len() as u64,
        ..Default::default()
    };

    let mut i = 0;
    while i < lines.len() {
        // Wait until the next line is due, then send everything due by then.
        let due = |line: &Line| -> Duration {
            match (line.at, first) {
                (Some(at), Some(first)) if options.speed > 0.0 => {
                    let offset = (at - first).to_std().unwrap_or_default();
                    offset.div_f64(options.speed)
                }
                _ => Duration::ZERO,
            }
        };
        let wait = due(&lines[i]).saturating_sub(started.elapsed());
        tokio::time::sleep(wait).await;
        let now = started.elapsed();
        let mut body = String::new();
        let mut n = 0;
        while i < lines.len() && n < options.batch && due(&lines[i]) <= now {
            body.push_str(&restamp(&lines[i], options, first, started_at));
            body.push('\n');
            i += 1;
            n += 1;
        }
        let answer = client
            .post(&url)
            .insert_header(("Authorization", format!("Bearer {}", options.token)))
            .insert_header(("Content-Type", "application/x-ndjson"))
            .send_body(body)
            .await;
        match answer {
            Ok(mut resp) if resp.status().as_u16() == 202 => match resp.json::<IngestAnswer>().limit(16 << 20).await {
                Ok(a) => {
                    summary.accepted += a.accepted;
                    summary.duplicates += a.duplicates;
                    for r in a.rejected {
                        *summary.rejected.entry(r.code).or_default() += 1;
                    }
                }
                Err(_) => {
                    summary.failed_requests += 1;
                    summary.failed_items += n as u64;
                }
            },
            Ok(resp) => {
                bar.set_message(format!("last error: HTTP {}", resp.status()));
                summary.failed_requests += 1;
                summary.failed_items += n as u64;
            }
            Err(e) => {
                bar.set_message(format!("last error: {e}"));
                summary.failed_requests += 1;
                summary.failed_items += n as u64;
            }
        }
        bar.inc(n as u64);
    }
    bar.finish();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Moves a line's timestamp so that the file's first post lands at the
/// replay's start, compressed by the speed; other lines go as they are.
fn restamp(line: &Line, options: &ReplayOptions, first: Option<DateTime<Utc>>, started_at: DateTime<Utc>) -> String {
    let (Some(object), Some(at), Some(first)) = (&line.object, line.at, first) else {
        return line.raw.clone();
    };
    if options.keep_timestamps {
        return line.raw.clone();
    }
    let offset = (at - first).to_std().unwrap_or_default();
    let scaled = if options.speed > 0.0 {
        offset.div_f64(options.speed)
    } else {
        Duration::ZERO
    };
    let ts = started_at + chrono::Duration::from_std(scaled).unwrap_or_default();
    let mut object = object.clone();
    object.insert(
        "ts".into(),
        Value::String(ts.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    Value::Object(object).to_string()
}
