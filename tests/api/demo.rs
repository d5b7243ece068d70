//! The demo does what it promises a newcomer (issue 14): its commanders'
//! head-counts calibrate the estimates, the Neptune fountain goes from
//! `normal` through `caution` to `serious`, and a forecast alert arrives
//! before it does.
//!
//! The real scenario is played through the real ingest path, the zones
//! channel and the zone alert watch, second by second against a simulated
//! clock that starts a play-through in the past, so that a quarter of an
//! hour of event takes seconds and every run plays the same event.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use campanile::alert::ZoneWatch;
use campanile::config::Settings;
use campanile::crowd::level::Level;
use campanile::demo::{Commander, Scenario, play_second};
use campanile::engine::crowd::HeadcountSource;
use campanile::hub::ZoneChannel;
use campanile::ingest::{Bucketer, Ingestor};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::helpers::*;

/// The fountain's zone.
const NETTUNO: &str = "piazza-nettuno";

/// The zones channel ticks every this many simulated seconds (the server's
/// ticker is faster; a few seconds lose nothing a minute-long trend needs).
const TICK_SECS: u64 = 5;

/// The forecast must come at least this long before `serious`: time enough
/// for a newcomer watching the demo to see it, and for a commander to act.
const FORECAST_LEAD_SECS: u64 = 120;

/// The demo's commander, counting on the simulated clock through the same
/// path as `POST /api/v1/zones/{id}/headcount`.
struct SimulatedCommander {
    zones: Arc<ZoneChannel>,
    now: AtomicI64,
}

#[async_trait::async_trait]
impl Commander for SimulatedCommander {
    async fn posters(&self, zone: &str) -> Option<u64> {
        let frame = self.zones.current(&self.zones.picture().estimate_window).await.ok()?;
        frame.zone(zone).map(|z| z.contributors)
    }

    async fn count(&self, zone: &str, people: u64) -> Result<(), String> {
        let at = DateTime::from_timestamp(self.now.load(Ordering::SeqCst), 0).ok_or("no such moment")?;
        self.zones
            .take_headcount_at(zone, people, HeadcountSource::Headcount, "demo-commander", at)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// `mm:ss` into the scenario.
fn clock(second: u64) -> String {
    format!("{:02}:{:02}", second / 60, second % 60)
}

/// What the fountain's zone was at one tick.
#[derive(Debug)]
struct FountainTick {
    second: u64,
    level: Level,
    contributors: u64,
    people: u64,
    density_m2: f64,
    minutes_to_serious: Option<u32>,
}

#[tokio::test]
async fn the_demo_calibrates_its_estimates_and_warns_of_the_fountain_before_it_turns_serious() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args = test_args();
    let settings = Settings::resolve(&args).expect("settings");
    let engine = engine_for(&args).await;
    let zones = Arc::new(campanile::geodata::load_zones(&root.join("geodata/zones")).expect("zones"));
    let channel = Arc::new(ZoneChannel::new(
        engine.clone(),
        settings.crowd_picture(zones).expect("picture"),
    ));
    let ingestor = Ingestor::new(
        engine.clone(),
        Bucketer::new(settings.resolutions, settings.bucket_secs),
        settings.author_hasher(),
        chrono::Duration::from_std(settings.retention).expect("retention"),
    );
    let scenario = Scenario::load(&root.join("geodata"), "bologna-march").expect("scenario");
    let commander = SimulatedCommander {
        zones: channel.clone(),
        now: AtomicI64::new(0),
    };
    let mut watch = ZoneWatch::default();
    let quiet_secs = settings.alerts.quiet_secs;

    // The play-through starts on a minute, the scenario's length and three
    // minutes before the last whole minute: inside every window and the
    // counts' retention, and its minutes are the scenario's minutes.
    let now = Utc::now().timestamp();
    let duration = i64::try_from(scenario.duration_s).expect("duration");
    let t0 = now - now.rem_euclid(60) - duration - 180;
    let at = |second: u64| DateTime::from_timestamp(t0 + second as i64, 0).expect("moment");

    let counted_by: Vec<u64> = scenario.headcounts.iter().map(|h| h.at_s).collect();
    let third_count = *counted_by.get(2).expect("the demo counts at least three times");
    let started = std::time::Instant::now();
    let (mut stored, mut seen_alerts) = (0u64, 0usize);
    let mut fountain: Vec<FountainTick> = Vec::new();
    let mut alerts: Vec<(u64, Value)> = Vec::new();
    let mut uncalibrated_after_the_counts: Vec<(u64, String)> = Vec::new();
    let mut calibrated_before_the_counts: Vec<(u64, String)> = Vec::new();
    for second in 0..scenario.duration_s {
        let moment: DateTime<Utc> = at(second);
        commander.now.store(moment.timestamp(), Ordering::SeqCst);
        if second % TICK_SECS == 0 {
            channel.tick(moment).await.expect("tick");
            let frame = channel.estimate_frames().borrow().clone();
            watch.round(engine.as_ref(), &frame.zones, quiet_secs, moment).await;
            for zone in &frame.zones {
                if second <= third_count && zone.people.calibrated {
                    calibrated_before_the_counts.push((second, zone.id.clone()));
                }
                if second > third_count && !zone.people.calibrated {
                    uncalibrated_after_the_counts.push((second, zone.id.clone()));
                }
            }
            let z = frame.zone(NETTUNO).expect("the fountain's zone has a status");
            fountain.push(FountainTick {
                second,
                level: z.level,
                contributors: z.contributors,
                people: z.people.estimate,
                density_m2: z.density_m2,
                minutes_to_serious: z.minutes_to_serious,
            });
            let raised = engine.alerts_since(t0).await.expect("alerts");
            for body in &raised[seen_alerts..] {
                alerts.push((second, serde_json::from_str(body).expect("alert JSON")));
            }
            seen_alerts = raised.len();
        }
        stored += play_second(&scenario, &ingestor, &commander, 0, second, moment).await;
    }
    let wall = started.elapsed();

    // Every post of the play-through was taken.
    let generated = scenario.all().len() as u64;
    assert_eq!(stored, generated, "posts stored of those generated");

    // Every head-count was taken, against the posters then, as the
    // scenario's commanders count: within their error of the truth.
    let calibration = channel.calibration(at(scenario.duration_s)).await.expect("calibration");
    let mut headcounts = calibration.headcounts.clone();
    headcounts.sort_by_key(|h| h.at);
    let taken: Vec<(u64, &str)> = headcounts
        .iter()
        .map(|h| ((h.at - t0) as u64, h.zone.as_str()))
        .collect();
    let planned: Vec<(u64, &str)> = scenario.headcounts.iter().map(|h| (h.at_s, h.zone.as_str())).collect();
    assert_eq!(taken, planned, "head-counts taken, by second and zone");
    for (h, plan) in headcounts.iter().zip(&scenario.headcounts) {
        let truth = h.u as f64 * plan.people_per_poster;
        assert!(h.u > 0, "{} was counted with no poster there", h.zone);
        assert!(
            (h.people as f64 - truth).abs() <= truth * plan.error + 1.0,
            "{} counted {} for {} posters",
            h.zone,
            h.people,
            h.u
        );
        eprintln!(
            "head-count {} {:<20} {:>4} posters → {:>6} people",
            clock(plan.at_s),
            h.zone,
            h.u,
            h.people
        );
    }

    // No estimate says calibrated before three counts, every one does after.
    assert_eq!(calibrated_before_the_counts, [], "calibrated before three head-counts");
    assert_eq!(
        uncalibrated_after_the_counts,
        [],
        "uncalibrated after three head-counts"
    );
    eprintln!(
        "calibration: deployment {:?} from {} head-counts",
        calibration.deployment,
        calibration.headcounts.len()
    );
    let nettuno_model = calibration
        .zones
        .iter()
        .find(|(id, _)| id == NETTUNO)
        .map(|(_, m)| m)
        .expect("the fountain's model");
    eprintln!("calibration: {NETTUNO} {nettuno_model:?}");

    for t in fountain.iter().filter(|t| t.second % 60 == 0) {
        eprintln!(
            "{NETTUNO} {}: {:>4} posters, {:>6} people, {:>5.2} /m², {:?}, serious in {:?} min",
            clock(t.second),
            t.contributors,
            t.people,
            t.density_m2,
            t.level,
            t.minutes_to_serious
        );
    }

    // The fountain starts normal, and climbs through caution to serious
    // without ever stepping back on the way.
    let first_at = |level: Level| fountain.iter().find(|t| t.level == level).map(|t| t.second);
    let serious = first_at(Level::Serious).expect("the fountain never turned serious");
    assert_eq!(fountain[0].level, Level::Normal, "the fountain starts normal");
    let climb: Vec<Level> = fountain
        .iter()
        .take_while(|t| t.second <= serious)
        .map(|t| t.level)
        .collect();
    for pair in climb.windows(2) {
        assert!(pair[1] >= pair[0], "the fountain stepped back: {climb:?}");
    }
    let mut path: Vec<Level> = climb.clone();
    path.dedup();
    assert!(
        path.starts_with(&[Level::Normal, Level::Caution]) && path.last() == Some(&Level::Serious),
        "the fountain's levels: {path:?}"
    );
    let caution = first_at(Level::Caution).expect("caution");

    // The alerts: one forecast of serious for the fountain, strictly before
    // it turned serious with a lead a newcomer can see; each level it
    // reached alerted once, in order.
    let of_the_fountain = |kind: &str| -> Vec<(u64, &Value)> {
        alerts
            .iter()
            .filter(|(_, a)| a["zone"] == NETTUNO && a["kind"] == kind)
            .map(|(s, a)| (*s, a))
            .collect()
    };
    let forecasts = of_the_fountain("zone_forecast");
    let (forecast, forecast_alert) = *forecasts.first().expect("no forecast of serious for the fountain");
    let levels: Vec<(u64, &str)> = of_the_fountain("zone_level")
        .iter()
        .map(|(s, a)| (*s, a["level"].as_str().unwrap_or("?")))
        .collect();
    eprintln!(
        "{NETTUNO}: caution at {}, forecast at {} (serious in {} min), serious at {}; level alerts {:?}",
        clock(caution),
        clock(forecast),
        forecast_alert["minutes_to_serious"],
        clock(serious),
        levels
            .iter()
            .map(|(s, l)| format!("{l} {}", clock(*s)))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "played {} posts over {} simulated seconds in {:.1} s",
        stored,
        scenario.duration_s,
        wall.as_secs_f64()
    );
    assert_eq!(forecasts.len(), 1, "one forecast within the quiet period");
    assert!(
        forecast + FORECAST_LEAD_SECS <= serious,
        "the forecast at {} is not {FORECAST_LEAD_SECS} s before serious at {}",
        clock(forecast),
        clock(serious)
    );
    assert!(caution < forecast, "a forecast before caution: {}", clock(forecast));
    let words: Vec<&str> = levels.iter().filter(|(s, _)| *s <= serious).map(|(_, l)| *l).collect();
    let reached: Vec<String> = path[1..]
        .iter()
        .map(|l| {
            serde_json::to_value(l)
                .expect("level")
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    assert_eq!(words, reached, "one level alert per level reached, in order");
    assert_eq!(
        levels.iter().find(|(_, l)| *l == "serious").map(|(s, _)| *s),
        Some(serious),
        "serious alerted when reached"
    );
    let distinct: HashSet<&str> = alerts.iter().map(|(_, a)| a["id"].as_str().unwrap_or("")).collect();
    assert_eq!(distinct.len(), alerts.len(), "no alert twice");
}
