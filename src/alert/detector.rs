//! Alert detection: reads the engine's counts → asks every rule of
//! [`super::rules`] → raises alerts in the engine, which hands them to every
//! node's `alerts` subscribers.
//!
//! Every node runs the detector on the same counts, so every node reaches the
//! same conclusion; the engine lets one alert per cell and kind through per
//! quiet period, whichever node raises it first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use h3o::{LatLng, Resolution};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::rules::{Reading, first_firing};
use crate::crowd::cover::ZoneCover;
use crate::domain::Zones;
use crate::engine::{CountQuery, Engine, EngineError};

/// When a cell is worth an alert.
#[derive(Debug, Clone, Copy)]
pub struct AlertRules {
    /// The resolution watched (default 9, a city block).
    pub res: Resolution,
    /// A surge needs at least this many items in the last minute.
    pub surge_min: u64,
    /// ... and this many times the cell's per-minute rate of the 15 minutes before.
    pub surge_factor: f64,
    /// Items per km² in the last minute that raise a threshold alert.
    pub density_km2: f64,
    /// The same cell and kind alert again only after this long.
    pub quiet_secs: i64,
}

/// Names the place of an alert (DESIGN §4): the smallest zone that holds
/// its cell, or its position when no zone does.
#[derive(Clone)]
pub struct Places {
    /// The deployment's zones, for their names.
    pub zones: Arc<Zones>,
    /// The cells covering them.
    pub cover: Arc<ZoneCover>,
}

impl Places {
    /// The id of the smallest zone holding `cell`, and the place in words:
    /// that zone's name, or "near <lat, lon>".
    pub fn of_cell(&self, cell: h3o::CellIndex, centre: LatLng) -> (Option<String>, String) {
        let zone = self.cover.smallest_zone(cell);
        match zone.and_then(|id| Some((id, self.zones.name(id)?))) {
            Some((id, name)) => (Some(id.to_owned()), name.to_owned()),
            // Four decimals is about 10 m: enough to find it, no finer than
            // the cell it stands for.
            None => (None, format!("near {:.4}, {:.4}", centre.lat(), centre.lng())),
        }
    }
}

/// One alert, as subscribers receive it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    /// Unique id.
    pub id: String,
    /// The kind of its rule: `surge` (a sudden rise) or `threshold` (a
    /// density above the limit).
    pub kind: &'static str,
    /// The H3 cell.
    pub cell: String,
    /// Its resolution.
    pub res: u8,
    /// Its centre.
    pub lat: f64,
    /// Its centre.
    pub lon: f64,
    /// The smallest zone containing the cell; `None` (null) when none does.
    pub zone: Option<String>,
    /// Where it is in words: the zone's name, or "near <lat, lon>".
    pub place: String,
    /// Items in the last minute.
    pub count: u64,
    /// Distinct contributors in the last minute.
    pub contributors: u64,
    /// Items per km² in the last minute.
    pub density_km2: f64,
    /// The cell's items per minute over the 14 minutes before.
    pub baseline_per_min: f64,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
}

const MINUTE: i64 = 60;
const BASELINE: i64 = 15 * MINUTE;

/// The alerts the counts at `now` call for, hottest first.
pub async fn detect(
    engine: &dyn Engine,
    rules: &AlertRules,
    places: &Places,
    now: i64,
) -> Result<Vec<Alert>, EngineError> {
    let read = |window_secs| {
        engine.counts(CountQuery {
            res: rules.res,
            window_secs,
            now,
        })
    };
    let recent = read(MINUTE).await?;
    if recent.is_empty() {
        return Ok(Vec::new());
    }
    let before: HashMap<_, u64> = read(BASELINE).await?.into_iter().map(|c| (c.cell, c.count)).collect();
    let raised_at = super::raised_at(Utc::now());
    let mut alerts = Vec::new();
    for c in recent {
        let earlier = before.get(&c.cell).copied().unwrap_or(0).saturating_sub(c.count);
        let baseline_per_min = earlier as f64 / ((BASELINE - MINUTE) / MINUTE) as f64;
        let density_km2 = c.count as f64 / c.cell.area_km2();
        let reading = Reading {
            count: c.count,
            density_km2,
            baseline_per_min,
        };
        let Some(rule) = first_firing(&reading, rules) else {
            continue;
        };
        let centre = LatLng::from(c.cell);
        let (zone, place) = places.of_cell(c.cell, centre);
        alerts.push(Alert {
            id: hex::encode(rand::random::<[u8; 8]>()),
            kind: rule.kind(),
            cell: c.cell.to_string(),
            res: u8::from(rules.res),
            lat: centre.lat(),
            lon: centre.lng(),
            zone,
            place,
            count: c.count,
            contributors: c.contributors,
            density_km2,
            baseline_per_min,
            raised_at: raised_at.clone(),
        });
    }
    alerts.sort_by_key(|a| std::cmp::Reverse(a.count));
    Ok(alerts)
}

/// Runs [`detect`] every `period` and raises what it finds until `shutdown`.
pub fn spawn_detector(
    engine: Arc<dyn Engine>,
    rules: AlertRules,
    places: Places,
    period: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    crate::schedule::spawn_every(period, shutdown, move || {
        let (engine, places) = (engine.clone(), places.clone());
        async move { raise(engine.as_ref(), &rules, &places).await }
    })
}

/// One round: detects and raises what the counts call for.
async fn raise(engine: &dyn Engine, rules: &AlertRules, places: &Places) {
    // An engine outage is the hub's to report; try again next round.
    let now = Utc::now().timestamp();
    let Ok(alerts) = detect(engine, rules, places, now).await else {
        return;
    };
    for alert in alerts {
        let key = format!("{}:{}", alert.kind, alert.cell);
        let Ok(body) = serde_json::to_string(&alert) else {
            continue;
        };
        if let Ok(true) = engine.raise_alert(&key, &body, rules.quiet_secs, now).await {
            metrics::counter!(crate::telemetry::metric::ALERTS_RAISED, "kind" => alert.kind).increment(1);
            tracing::info!(kind = alert.kind, cell = %alert.cell, count = alert.count, "alert raised");
        }
    }
}
