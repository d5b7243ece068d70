//! What the server's periodic work cost during the load: its
//! `campanile_tick_seconds` histogram, read from `/metrics` (with the
//! operator token) before and after the load, and the difference per
//! `work`.
//!
//! The histogram's `_bucket`, `_sum` and `_count` lines are all it needs,
//! so the text format is read here rather than with a parser crate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use campanile::telemetry::metric::TICK_SECONDS as HISTOGRAM;
use campanile::telemetry::work;

use super::report::TickCost;

/// The order works are reported in: the hub's tick, then the text round
/// and its parts; any other after them, by name.
const ORDER: [&str; 6] = [
    work::HEATMAP,
    work::ZONES,
    work::TEXTS,
    work::MASKING,
    work::TRENDS,
    work::COORDINATION,
];

/// One `work`'s histogram as read: cumulative bucket counts by upper bound
/// (`+Inf` included), the sum of seconds and the count of runs.
#[derive(Debug, Clone, Default, PartialEq)]
struct Series {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// One read of the histogram.
#[derive(Debug, Clone)]
pub(super) struct Scrape {
    at: Instant,
    works: BTreeMap<String, Series>,
}

/// Reads the server's `/metrics`; `None` if it cannot be read (no such
/// route, as on the Node.js peers; a token without the operator role).
pub(super) async fn scrape(http: &awc::Client, target: &str, token: &str) -> Option<Scrape> {
    let url = format!("{}/metrics", target.trim_end_matches('/'));
    let mut answer = http
        .get(&url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        return None;
    }
    let body = answer.body().limit(64 << 20).await.ok()?;
    let at = Instant::now();
    Some(Scrape {
        at,
        works: parse(std::str::from_utf8(&body).ok()?),
    })
}

/// What each `work` cost between the reads `before` and `after`, over the
/// time between them, the hub's works first; nothing unless both were read.
pub(super) fn costs(before: Option<&Scrape>, after: Option<&Scrape>) -> Vec<TickCost> {
    let (Some(before), Some(after)) = (before, after) else {
        return Vec::new();
    };
    let span = after.at.duration_since(before.at).as_secs_f64().max(0.001);
    let empty = Series::default();
    let mut works: Vec<(&String, &Series)> = after.works.iter().collect();
    works.sort_by_key(|(work, _)| ORDER.iter().position(|w| w == work).unwrap_or(ORDER.len()));
    works
        .into_iter()
        .map(|(work, now)| {
            // A work first seen after the first read ran only since.
            let then = before.works.get(work).unwrap_or(&empty);
            let runs = (now.count - then.count).max(0.0);
            let seconds = (now.sum - then.sum).max(0.0);
            TickCost {
                work: work.clone(),
                runs: runs.round() as u64,
                mean_ms: if runs > 0.0 { seconds / runs * 1_000.0 } else { 0.0 },
                // Runs too short for the clock are all 0: so is their p99,
                // not a point inside the first bucket.
                p99_ms: match seconds {
                    0.0 if runs > 0.0 => Some(0.0),
                    _ => quantile(0.99, &bucket_deltas(then, now)).map(|s| s * 1_000.0),
                },
                core_share: seconds / span,
            }
        })
        .collect()
}

/// The runs that fell in each bucket between two reads (cumulative, by
/// upper bound).
fn bucket_deltas(then: &Series, now: &Series) -> Vec<(f64, f64)> {
    now.buckets
        .iter()
        .map(|&(le, n)| {
            let before = then.buckets.iter().find(|(l, _)| *l == le).map_or(0.0, |&(_, n)| n);
            (le, (n - before).max(0.0))
        })
        .collect()
}

/// The `q` quantile of cumulative `buckets`, interpolated linearly inside
/// its bucket as Prometheus's `histogram_quantile` does; the highest
/// finite bound when it falls in `+Inf`; `None` without runs.
fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.iter().find(|(le, _)| le.is_infinite()).or(buckets.last())?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = n - below;
            return Some(if inside > 0.0 {
                lower + (le - lower) * (rank - below) / inside
            } else {
                le
            });
        }
        (lower, below) = (le, n);
    }
    Some(lower)
}

/// The histogram's series in a Prometheus text exposition, by `work`.
fn parse(text: &str) -> BTreeMap<String, Series> {
    let mut works: BTreeMap<String, Series> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(HISTOGRAM) else {
            continue;
        };
        let (part, rest) = if let Some(r) = rest.strip_prefix("_bucket") {
            ("bucket", r)
        } else if let Some(r) = rest.strip_prefix("_sum") {
            ("sum", r)
        } else if let Some(r) = rest.strip_prefix("_count") {
            ("count", r)
        } else {
            continue;
        };
        let Some((labels, value)) = split_sample(rest) else {
            continue;
        };
        let Some(work) = label(labels, "work") else {
            continue;
        };
        let series = works.entry(work.to_owned()).or_default();
        match part {
            "sum" => series.sum = value,
            "count" => series.count = value,
            _ => {
                let Some(le) = label(labels, "le").and_then(parse_number) else {
                    continue;
                };
                series.buckets.push((le, value));
            }
        }
    }
    for series in works.values_mut() {
        series.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    works
}

/// `{labels} value [timestamp]` → the labels' text and the value.
fn split_sample(rest: &str) -> Option<(&str, f64)> {
    let rest = rest.strip_prefix('{')?;
    let close = rest.rfind('}')?;
    let value = rest[close + 1..].split_whitespace().next()?;
    Some((&rest[..close], parse_number(value)?))
}

/// The value of label `name` (values here hold no quote or comma).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

fn parse_number(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE campanile_tick_seconds histogram
campanile_tick_seconds_bucket{work="heatmap",le="0.001"} 10
campanile_tick_seconds_bucket{work="heatmap",le="0.01"} 10
campanile_tick_seconds_bucket{work="heatmap",le="+Inf"} 10
campanile_tick_seconds_sum{work="heatmap"} 0.005
campanile_tick_seconds_count{work="heatmap"} 10
campanile_engine_call_seconds_sum{engine="memory",op="counts",outcome="ok"} 3
"#;

    const AFTER: &str = r#"# TYPE campanile_tick_seconds histogram
campanile_tick_seconds_bucket{work="heatmap",le="0.001"} 60
campanile_tick_seconds_bucket{work="heatmap",le="0.01"} 110
campanile_tick_seconds_bucket{work="heatmap",le="+Inf"} 110
campanile_tick_seconds_sum{work="heatmap"} 0.305
campanile_tick_seconds_count{work="heatmap"} 110
campanile_tick_seconds_bucket{le="0.001",work="zones"} 4
campanile_tick_seconds_bucket{le="+Inf",work="zones"} 5
campanile_tick_seconds_sum{le="",work="zones"} 2.5
campanile_tick_seconds_count{work="zones"} 5
"#;

    fn read(text: &str, at: Instant) -> Scrape {
        Scrape { at, works: parse(text) }
    }

    #[test]
    fn costs_are_the_differences_between_two_reads_over_the_time_between_them() {
        let start = Instant::now();
        let before = read(BEFORE, start);
        let after = read(AFTER, start + Duration::from_secs(10));
        let costs = costs(Some(&before), Some(&after));
        assert_eq!(costs.len(), 2, "{costs:?}");
        let heatmap = &costs[0];
        assert_eq!((heatmap.work.as_str(), heatmap.runs), ("heatmap", 100));
        assert!((heatmap.mean_ms - 3.0).abs() < 1e-9, "{heatmap:?}");
        assert!((heatmap.core_share - 0.03).abs() < 1e-9, "{heatmap:?}");
        // Half the runs under 1 ms, the other half in (1 ms, 10 ms]: the
        // 99th is 98 % of the way through the second bucket.
        let p99 = heatmap.p99_ms.expect("runs");
        assert!((p99 - (1.0 + 9.0 * 0.98)).abs() < 1e-9, "{p99}");
        // New since the first read: all of it counts; one run in +Inf.
        let zones = &costs[1];
        assert_eq!((zones.work.as_str(), zones.runs), ("zones", 5));
        assert!((zones.mean_ms - 500.0).abs() < 1e-9, "{zones:?}");
        assert_eq!(zones.p99_ms, Some(1.0));
        assert!((zones.core_share - 0.25).abs() < 1e-9, "{zones:?}");
    }

    #[test]
    fn without_both_reads_there_are_no_costs() {
        let read_once = read(AFTER, Instant::now());
        assert!(costs(None, None).is_empty());
        assert!(costs(Some(&read_once), None).is_empty());
        assert!(costs(None, Some(&read_once)).is_empty());
        assert!(parse("<html>not found</html>").is_empty());
    }

    #[test]
    fn works_come_in_the_hubs_order_and_runs_too_short_to_time_have_a_p99_of_0() {
        let start = Instant::now();
        let page = |n: u64| {
            ["zones", "coordination", "heatmap", "other"]
                .iter()
                .map(|w| {
                    format!(
                        "campanile_tick_seconds_bucket{{work=\"{w}\",le=\"0.0001\"}} {n}\n\
                         campanile_tick_seconds_bucket{{work=\"{w}\",le=\"+Inf\"}} {n}\n\
                         campanile_tick_seconds_sum{{work=\"{w}\"}} 0\n\
                         campanile_tick_seconds_count{{work=\"{w}\"}} {n}\n"
                    )
                })
                .collect::<String>()
        };
        let (before, after) = (read(&page(1), start), read(&page(4), start + Duration::from_secs(1)));
        let costs = costs(Some(&before), Some(&after));
        let order: Vec<&str> = costs.iter().map(|c| c.work.as_str()).collect();
        assert_eq!(order, ["heatmap", "zones", "coordination", "other"]);
        for c in &costs {
            assert_eq!((c.runs, c.mean_ms, c.p99_ms, c.core_share), (3, 0.0, Some(0.0), 0.0));
        }
    }

    #[test]
    fn no_runs_no_quantile() {
        assert_eq!(quantile(0.99, &[(0.001, 0.0), (f64::INFINITY, 0.0)]), None);
        assert_eq!(quantile(0.99, &[]), None);
    }
}
