//! The demo: a seeded synthetic event, played live into the server
//! (`serve --demo`), written as NDJSON (`simulate`) or replayed into any
//! server (`replay`).
//!
//! The player feeds the real ingest path (NDJSON framing, validation,
//! bucketing, engine), so the demo exercises exactly what production runs.

mod replay;
mod scenario;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use replay::{ReplayOptions, ReplaySummary, replay};
pub use scenario::{Scenario, ScenarioHeadcount, SimPost};

use crate::ingest::{BodyFormat, Ingestor, WriteId, split_items};

/// The demo's commander: counts the crowd in a zone as a real one would,
/// through the same path as `POST /api/v1/zones/{id}/headcount`.
#[async_trait::async_trait]
pub trait Commander: Send + Sync {
    /// The zone's distinct posters over the estimate window now.
    async fn posters(&self, zone: &str) -> Option<u64>;
    /// Reports `people` counted in `zone`.
    async fn count(&self, zone: &str, people: u64) -> Result<(), String>;
}

/// Plays `scenario` into `ingestor` in real time, one batch a second, over
/// and over, until `shutdown`; `commander` takes the scenario's head-counts.
pub fn play(
    scenario: Scenario,
    ingestor: Arc<Ingestor>,
    commander: Arc<dyn Commander>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!(scenario = %scenario.name, "demo: playing {}", scenario.title);
        let mut cycle = 0u64;
        loop {
            for second in 0..scenario.duration_s {
                if shutdown.is_cancelled() {
                    return;
                }
                let started = tokio::time::Instant::now();
                play_second(&scenario, &ingestor, &*commander, cycle, second, Utc::now()).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(started + Duration::from_secs(1)) => {}
                }
            }
            cycle += 1;
        }
    })
}

/// Plays second `second` of play-through `cycle` of `scenario`: its posts,
/// stamped `at`, into `ingestor`, then the head-counts due then. The live
/// player stamps now; a simulated event stamps its own clock. Returns the
/// posts the engine stored: the player goes on whatever befell a batch.
pub async fn play_second(
    scenario: &Scenario,
    ingestor: &Ingestor,
    commander: &dyn Commander,
    cycle: u64,
    second: u64,
    at: DateTime<Utc>,
) -> u64 {
    let lines: String = scenario
        .second(cycle, second)
        .into_iter()
        .map(|p| p.to_ndjson(at) + "\n")
        .collect();
    let stored = match split_items(lines.as_bytes(), BodyFormat::Ndjson) {
        Ok(items) => match ingestor.ingest(items, &WriteId::unique()).await {
            Ok(report) => report.accepted,
            Err(e) => {
                tracing::warn!(error = %e, "demo: engine refused a batch");
                0
            }
        },
        Err(_) => {
            tracing::error!("demo: generated an unreadable batch");
            0
        }
    };
    for headcount in scenario.headcounts.iter().filter(|h| h.at_s == second) {
        take_headcount(commander, headcount, scenario.seed, cycle).await;
    }
    stored
}

async fn take_headcount(commander: &dyn Commander, headcount: &ScenarioHeadcount, seed: u64, cycle: u64) {
    let Some(posters) = commander.posters(&headcount.zone).await else {
        tracing::warn!(zone = %headcount.zone, "demo: no such zone to count");
        return;
    };
    let people = headcount.people(posters, seed, cycle);
    match commander.count(&headcount.zone, people).await {
        Ok(()) => tracing::info!(zone = %headcount.zone, people, posters, "demo: a commander counted the crowd"),
        Err(e) => tracing::warn!(zone = %headcount.zone, error = %e, "demo: head-count refused"),
    }
}
