//! What the server's periodic work costs: `campanile_tick_seconds` on
//! `/metrics`, and the per-work figures `campanile bench` draws from it.
//! The servers run in processes of their own, so that the metrics they
//! show are theirs alone (the test binary's servers share one recorder).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// The work every tick or text round does, on a server with zones (the
/// repository's geodata) and text analysis (on by default).
const WORKS: [&str; 6] = ["heatmap", "zones", "texts", "masking", "trends", "coordination"];

/// The works of the text follower's round, which runs at idle priority.
const FOLLOWER_WORKS: [&str; 4] = ["texts", "masking", "trends", "coordination"];

/// A server process ticking every 100 ms, stopped when dropped.
async fn server() -> (StopOnDrop, TestApp) {
    let (process, app) = serve_process_with(&["--tick", "100ms"], Stdio::null()).await;
    (StopOnDrop(process), app)
}

async fn metrics_page(app: &TestApp) -> String {
    let mut resp = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(&app.operator)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.body().limit(64 << 20).await.expect("body");
    String::from_utf8(body.to_vec()).expect("utf8")
}

/// Posts that carry text, for the text log follower to mask, count and
/// cluster: near-duplicates from several authors in Piazza Maggiore.
fn text_batch(n: usize) -> Value {
    let posts: Vec<Value> = (0..20)
        .map(|i| {
            let mut p = post_at(44.49375, 11.34295, &format!("tick-author-{i}"), None);
            p["text"] = format!("crowd pushing at the north gate of the square, wave {n}").into();
            p
        })
        .collect();
    Value::Array(posts)
}

#[actix_web::test]
async fn every_periodic_work_shows_its_run_times_on_the_metrics_page() {
    let (_server, app) = server().await;
    let (status, _) = app.post_json(&text_batch(0)).await;
    assert_eq!(status, 202);
    // A few ticks and rounds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = metrics_page(&app).await;
        let all = WORKS
            .iter()
            .all(|w| page.contains(&format!("campanile_tick_seconds_count{{work=\"{w}\"}}")));
        if all || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(page.contains("# TYPE campanile_tick_seconds histogram"), "{page}");
    for work in WORKS {
        let count = format!("campanile_tick_seconds_count{{work=\"{work}\"}} ");
        let runs: f64 = page
            .lines()
            .find_map(|l| l.strip_prefix(&count))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no runs of {work}: {page}"));
        assert!(runs >= 1.0, "{work}: {runs}");
        // Buckets from a tenth of a millisecond to two seconds.
        for le in ["0.0001", "2", "+Inf"] {
            let bucket = format!("campanile_tick_seconds_bucket{{work=\"{work}\",le=\"{le}\"}}");
            assert!(page.contains(&bucket), "{bucket} missing: {page}");
        }
    }
}

/// `campanile bench --json` against `app` for `secs` seconds, with `token`.
async fn bench(app: &TestApp, token: &str, secs: u64) -> Value {
    let duration = format!("{secs}s");
    bench_report(
        &app.address,
        token,
        &[
            "--ingest-rate",
            "1000",
            "--batch",
            "100",
            "--clients",
            "10",
            "--res",
            "8,9",
            "--broadcasts",
            "0",
            "--duration",
            &duration,
        ],
    )
    .await
}

#[actix_web::test]
async fn bench_reports_what_each_periodic_work_cost_during_the_load() {
    let (_server, app) = server().await;
    // Texts posted along the load, for the text rounds to work on.
    let texts = {
        let app = TestApp::remote(app.port);
        actix_web::rt::spawn(async move {
            for n in 0..12 {
                let _ = app.post_json(&text_batch(n)).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let report = bench(&app, &app.operator, 3).await;
    let _ = texts.await;
    let costs = report["tick_costs"].as_array().expect("tick_costs");
    for work in WORKS {
        let cost = costs
            .iter()
            .find(|c| c["work"] == work)
            .unwrap_or_else(|| panic!("no {work} in {report}"));
        let runs = cost["runs"].as_u64().expect("runs");
        // 3 s of load at a 100 ms tick: some 30 runs; not more than one
        // every 100 ms (what ran before the load is not counted). The text
        // rounds run at idle priority, by design behind the tick, so on
        // two loaded cores they may get only a few of their 30 chances:
        // at least one is enough to show that they are reported.
        let follower = FOLLOWER_WORKS.contains(&work);
        let fewest = if follower { 1 } else { 5 };
        assert!((fewest..=45).contains(&runs), "{work}: {cost}");
        // A tick's work must fit well within the two seconds its histogram
        // holds; the text rounds yield to everything else, so on two loaded
        // cores one round's wall time may stretch further than that.
        let longest_mean = if follower { 10_000.0 } else { 2_000.0 };
        let mean = cost["mean_ms"].as_f64().expect("mean_ms");
        assert!(mean > 0.0 && mean < longest_mean, "{work}: {cost}");
        let p99 = cost["p99_ms"].as_f64().expect("p99_ms");
        assert!(p99 > 0.0 && p99 <= 2_000.0, "{work}: {cost}");
        let share = cost["core_share"].as_f64().expect("core_share");
        assert!(share > 0.0 && share < 1.0, "{work}: {cost}");
        // The share is the runs' seconds over the load's.
        let implied = runs as f64 * mean / 1_000.0 / share;
        assert!((2.0..6.0).contains(&implied), "{work}: {implied} s of load? {cost}");
    }
    // The whole round holds its parts.
    let share = |w: &str| {
        costs.iter().find(|c| c["work"] == w).expect("work")["core_share"]
            .as_f64()
            .expect("share")
    };
    assert!(share("texts") >= share("masking") + share("trends") + share("coordination"));
}

#[actix_web::test]
async fn bench_without_the_metrics_page_reports_no_tick_costs_and_still_runs() {
    let (_server, app) = server().await;
    // The ingest role posts but may not read /metrics.
    let report = bench(&app, &app.ingest, 1).await;
    assert_eq!(report["tick_costs"], json!([]), "{report}");
    assert!(
        report["ingest"]["accepted_per_s"].as_f64().is_some_and(|v| v > 0.0),
        "{report}"
    );
}
