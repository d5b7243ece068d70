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

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use replay::{ReplayOptions, ReplaySummary, replay};
pub use scenario::{Scenario, SimPost};

use crate::ingest::{BodyFormat, Ingestor, WriteId, split_items};

/// Plays `scenario` into `ingestor` in real time, one batch a second, over
/// and over, until `shutdown`.
pub fn play(scenario: Scenario, ingestor: Arc<Ingestor>, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!(scenario = %scenario.name, "demo: playing {}", scenario.title);
        let mut cycle = 0u64;
        loop {
            for second in 0..scenario.duration_s {
                if shutdown.is_cancelled() {
                    return;
                }
                let started = tokio::time::Instant::now();
                let lines: String = scenario
                    .second(cycle, second)
                    .into_iter()
                    .map(|p| p.to_ndjson(Utc::now()) + "\n")
                    .collect();
                match split_items(lines.as_bytes(), BodyFormat::Ndjson) {
                    Ok(items) => {
                        if let Err(e) = ingestor.ingest(items, &WriteId::unique()).await {
                            tracing::warn!(error = %e, "demo: engine refused a batch");
                        }
                    }
                    Err(_) => tracing::error!("demo: generated an unreadable batch"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(started + Duration::from_secs(1)) => {}
                }
            }
            cycle += 1;
        }
    })
}
