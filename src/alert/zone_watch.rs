//! Zone alerts (DESIGN §9): follows the zones channel's frames of the
//! estimate window → asks every rule of [`super::rules::ZONE_RULES`] about
//! each zone → raises alerts in the engine, which hands them to every
//! node's `alerts` subscribers.
//!
//! Every node watches its own frames, drawn from the same counts and the
//! same zone minutes, so every node reaches the same conclusion; the
//! engine's gate lets one alert per key (zone, kind and, for levels, the
//! level) through per quiet period, whichever node raises it first.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::rules::ZONE_RULES;
use crate::crowd::estimate::Estimate;
use crate::crowd::level::{Level, Trend};
use crate::crowd::status::ZoneStatus;
use crate::engine::Engine;

/// A zone alert, as subscribers receive it: the same `id`, `kind` and
/// `raised_at` as a cell's, the place it names, and the zone's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ZoneAlert {
    /// Unique id.
    pub id: String,
    /// `zone_level` (a new level) or `zone_forecast` (`serious` soon).
    pub kind: &'static str,
    /// The zone's id.
    pub zone: String,
    /// Where it is in words: the zone's name.
    pub place: String,
    /// The zone's name, as in its status.
    pub name: String,
    /// The level of the estimate.
    pub level: Level,
    /// The level of the interval's upper end.
    pub level_high: Level,
    /// People, with the 90 % prediction interval.
    pub people: Estimate,
    /// People per m².
    pub density_m2: f64,
    /// Share of the capacity, when the zone has one.
    pub utilisation: Option<f64>,
    /// Against 15 minutes before.
    pub trend: Trend,
    /// The change in percent.
    pub trend_pct: Option<f64>,
    /// Minutes until `serious` at the current rise, within 30.
    pub minutes_to_serious: Option<u32>,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
}

impl ZoneAlert {
    /// An alert of `kind` about the zone in `status`, raised at `now`.
    pub fn new(kind: &'static str, status: &ZoneStatus, now: DateTime<Utc>) -> Self {
        Self {
            id: hex::encode(rand::random::<[u8; 8]>()),
            kind,
            zone: status.id.clone(),
            place: status.name.clone(),
            name: status.name.clone(),
            level: status.level,
            level_high: status.level_high,
            people: status.people,
            density_m2: status.density_m2,
            utilisation: status.utilisation,
            trend: status.trend,
            trend_pct: status.trend_pct,
            minutes_to_serious: status.minutes_to_serious,
            raised_at: super::raised_at(now),
        }
    }
}

/// One node's zone watch: what it remembers between frames. The spawned
/// watch drives it with each frame as it comes; a caller that plays
/// frames of its own (a simulated event) drives it by hand.
#[derive(Default)]
pub struct ZoneWatch {
    /// Each zone's status in the last frame that was fully handled.
    was: HashMap<String, ZoneStatus>,
    /// When the gate last answered for a key: asking again within the
    /// quiet period would only be refused, and cost an engine write per
    /// tick while a forecast holds.
    asked: HashMap<String, i64>,
}

impl ZoneWatch {
    /// One frame read at `at`: raises what its zones call for.
    pub async fn round(&mut self, engine: &dyn Engine, zones: &[ZoneStatus], quiet_secs: i64, at: DateTime<Utc>) {
        let now = at.timestamp();
        self.asked.retain(|_, at| now - *at < quiet_secs);
        for zone in zones {
            let mut handled = true;
            for rule in ZONE_RULES {
                let Some(key) = rule.fires(self.was.get(&zone.id), zone) else {
                    continue;
                };
                if self.asked.contains_key(&key) {
                    continue;
                }
                let alert = ZoneAlert::new(rule.kind(), zone, at);
                let Ok(body) = serde_json::to_string(&alert) else {
                    continue;
                };
                match engine.raise_alert(&key, &body, quiet_secs, now).await {
                    Ok(raised) => {
                        self.asked.insert(key, now);
                        if raised {
                            metrics::counter!(crate::telemetry::metric::ALERTS_RAISED, "kind" => alert.kind)
                                .increment(1);
                            tracing::info!(kind = alert.kind, zone = %alert.zone, level = ?alert.level, "zone alert raised");
                        }
                    }
                    // An engine outage is the hub's to report; the zone
                    // keeps its old status here, so the next frame asks again.
                    Err(_) => handled = false,
                }
            }
            if handled {
                self.was.insert(zone.id.clone(), zone.clone());
            }
        }
    }
}

/// Raises zone alerts from every frame `frames` brings until `shutdown`.
/// Generic over the frame so that the alerts need nothing of the hub that
/// publishes it.
pub fn spawn_zone_watch<F>(
    engine: Arc<dyn Engine>,
    mut frames: watch::Receiver<Arc<F>>,
    quiet_secs: i64,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()>
where
    F: AsRef<[ZoneStatus]> + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut watch = ZoneWatch::default();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = frames.changed() => if changed.is_err() { return },
            }
            let frame = frames.borrow_and_update().clone();
            watch
                .round(engine.as_ref(), frame.as_ref().as_ref(), quiet_secs, Utc::now())
                .await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ServeArgs, Settings};
    use crate::engine::AlertGate;
    use crate::engine::memory::MemoryEngine;

    fn square(level: Level, minutes_to_serious: Option<u32>) -> ZoneStatus {
        ZoneStatus {
            id: "square".into(),
            name: "The square".into(),
            kind: "sector",
            area_m2: 10_000,
            capacity: Some(20_000),
            window: "15m".into(),
            as_of: "2026-11-29T21:00:00Z".into(),
            posts: 900,
            contributors: 900,
            people: Estimate {
                estimate: 45_000,
                low: 30_000,
                high: 60_000,
                calibrated: true,
            },
            density_m2: 4.5,
            utilisation: Some(2.25),
            level,
            level_high: Level::Serious,
            public_level: None,
            trend: Trend::Rising,
            trend_pct: Some(30.0),
            minutes_to_serious,
        }
    }

    fn engine() -> MemoryEngine {
        MemoryEngine::new(Settings::resolve(&ServeArgs::default()).expect("defaults").layout())
    }

    #[tokio::test]
    async fn two_watches_on_one_engine_raise_each_level_and_forecast_once_with_the_zones_figures() {
        let engine = engine();
        let (mut node_a, mut node_b) = (ZoneWatch::default(), ZoneWatch::default());
        let frames = [
            square(Level::Caution, None),
            square(Level::Alert, Some(8)),
            square(Level::Alert, Some(6)),
            square(Level::Caution, Some(9)),
            square(Level::Alert, Some(4)),
        ];
        for frame in &frames {
            node_a
                .round(&engine, std::slice::from_ref(frame), 300, Utc::now())
                .await;
            node_b
                .round(&engine, std::slice::from_ref(frame), 300, Utc::now())
                .await;
        }
        let raised: Vec<serde_json::Value> = engine
            .alerts_since(0)
            .await
            .expect("read")
            .iter()
            .map(|b| serde_json::from_str(b).expect("JSON"))
            .collect();
        let kinds: Vec<(&str, &str)> = raised
            .iter()
            .map(|a| (a["kind"].as_str().unwrap_or("?"), a["level"].as_str().unwrap_or("?")))
            .collect();
        assert_eq!(
            kinds,
            [
                ("zone_level", "caution"),
                ("zone_level", "alert"),
                ("zone_forecast", "alert")
            ]
        );
        let forecast = &raised[2];
        assert_eq!(
            (&forecast["zone"], &forecast["place"], &forecast["minutes_to_serious"]),
            (
                &serde_json::json!("square"),
                &serde_json::json!("The square"),
                &serde_json::json!(8)
            )
        );
        assert_eq!(forecast["people"]["high"], 60_000);
        assert_eq!(forecast["utilisation"], 2.25);
    }
}
