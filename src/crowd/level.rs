//! Density and levels (DESIGN §9, "Density and levels", "Trend and
//! forecast"): people per m², the five levels crowd-safety practice decides
//! by, the capacity rule, the four words the public reads, the trend against
//! 15 minutes before and the minutes left before `serious`.
//!
//! Pure: the caller brings the estimate, the zone's area and capacity and the
//! earlier estimates.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::crowd::estimate::Estimate;

/// How dangerous a zone's density is, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Below the first threshold.
    Normal,
    /// Planning density for standing crowds; flow starts to fall.
    Caution,
    /// An unstable crowd.
    Alert,
    /// Dangerous.
    Serious,
    /// Potentially fatal.
    Critical,
}

impl Level {
    /// DESIGN §9's capacity rule: at least `caution` from 90 % of the
    /// zone's capacity and at least `alert` from 100 %, whatever the
    /// density says (a capacity is the organiser's own limit, often set for
    /// exits and not for floor space). Without a capacity, unchanged.
    pub fn with_capacity(self, utilisation: Option<f64>) -> Level {
        match utilisation {
            Some(u) if u >= 1.0 => self.max(Level::Alert),
            Some(u) if u >= 0.9 => self.max(Level::Caution),
            _ => self,
        }
    }
}

/// The densities in people per m² at which `caution`, `alert`, `serious`
/// and `critical` begin (`--density-levels`, default `2,4,5,6`): four
/// positive finite figures, strictly increasing, or no levels at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensityLevels {
    from: [f64; 4],
}

/// Why a set of density levels was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LevelsError {
    /// Not four comma-separated numbers.
    #[error(
        "density levels are four numbers separated by commas (people per m² for caution, alert, serious, critical), got {0:?}"
    )]
    Shape(String),
    /// A figure that is not a positive finite number, or not above the one before it.
    #[error("density levels must be positive and strictly increasing, got {0:?}")]
    Order([f64; 4]),
}

impl DensityLevels {
    /// The levels from their four thresholds.
    pub fn new(from: [f64; 4]) -> Result<DensityLevels, LevelsError> {
        let positive = from.iter().all(|x| x.is_finite() && *x > 0.0);
        let increasing = from.windows(2).all(|w| w[0] < w[1]);
        if positive && increasing {
            Ok(DensityLevels { from })
        } else {
            Err(LevelsError::Order(from))
        }
    }

    /// The level of a density in people per m²: a threshold belongs to the
    /// level it starts (2 /m² is already `caution`).
    pub fn level(&self, density_m2: f64) -> Level {
        let [caution, alert, serious, critical] = self.from;
        if density_m2 >= critical {
            Level::Critical
        } else if density_m2 >= serious {
            Level::Serious
        } else if density_m2 >= alert {
            Level::Alert
        } else if density_m2 >= caution {
            Level::Caution
        } else {
            Level::Normal
        }
    }

    /// Each level and the densities it covers, `[from, below)`, lowest
    /// first; the top level has no upper end. What the pages draw a legend
    /// from.
    pub fn scale(&self) -> [(Level, f64, Option<f64>); 5] {
        let [caution, alert, serious, critical] = self.from;
        [
            (Level::Normal, 0.0, Some(caution)),
            (Level::Caution, caution, Some(alert)),
            (Level::Alert, alert, Some(serious)),
            (Level::Serious, serious, Some(critical)),
            (Level::Critical, critical, None),
        ]
    }

    /// The density at which `serious` begins: what the forecast counts the
    /// minutes to.
    pub fn serious_m2(&self) -> f64 {
        self.from[2]
    }
}

impl Default for DensityLevels {
    /// 2, 4, 5 and 6 people per m² (DESIGN §9's table and its sources).
    fn default() -> Self {
        DensityLevels {
            from: [2.0, 4.0, 5.0, 6.0],
        }
    }
}

impl FromStr for DensityLevels {
    type Err = LevelsError;

    /// `2,4,5,6`, spaces allowed around the figures.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shape = || LevelsError::Shape(text.to_owned());
        let figures: Vec<f64> = text
            .split(',')
            .map(|f| f.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| shape())?;
        let from: [f64; 4] = figures.try_into().map_err(|_| shape())?;
        DensityLevels::new(from)
    }
}

/// A zone's area in m² that people can stand on: positive and finite, so
/// that a density always exists.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Area {
    m2: f64,
}

impl Area {
    /// The area, or `None` for an empty, negative or non-finite one.
    pub fn from_m2(m2: f64) -> Option<Area> {
        (m2.is_finite() && m2 > 0.0).then_some(Area { m2 })
    }

    /// Square metres.
    pub fn m2(&self) -> f64 {
        self.m2
    }

    /// People per m² for `people` on this area.
    pub fn density_m2(&self, people: u64) -> f64 {
        people as f64 / self.m2
    }
}

/// The share of a capacity that `people` fill, `None` without a capacity (a
/// capacity of 0 is none: nothing can be a share of it).
pub fn utilisation(people: u64, capacity: Option<u64>) -> Option<f64> {
    capacity.filter(|c| *c > 0).map(|c| people as f64 / c as f64)
}

/// What the public reads for a place, like Seoul's real-time city data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublicLevel {
    /// `normal` and below [`RELAXED_BELOW_M2`].
    Relaxed,
    /// `normal` otherwise.
    Normal,
    /// `caution`.
    Busy,
    /// `alert` or worse.
    Crowded,
}

/// Below this density a `normal` zone reads `relaxed`: people can walk
/// freely at well under one person per 2 m².
pub const RELAXED_BELOW_M2: f64 = 0.5;

/// The public's word for a zone at `level` and `density_m2`, or `None` when
/// fewer than `k` contributors are there: a word about two posters would
/// tell who is where, and would be a guess anyway.
pub fn public_level(level: Level, density_m2: f64, contributors: u64, k: u64) -> Option<PublicLevel> {
    if contributors < k {
        return None;
    }
    Some(match level {
        Level::Normal if density_m2 < RELAXED_BELOW_M2 => PublicLevel::Relaxed,
        Level::Normal => PublicLevel::Normal,
        Level::Caution => PublicLevel::Busy,
        Level::Alert | Level::Serious | Level::Critical => PublicLevel::Crowded,
    })
}

/// A zone's density and levels, as zone status reports them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Assessment {
    /// People per m², from the estimate.
    pub density_m2: f64,
    /// The share of the capacity the estimate fills, if the zone has one.
    pub utilisation: Option<f64>,
    /// The level of the estimate, the capacity rule applied.
    pub level: Level,
    /// The level of the interval's upper end, the capacity rule applied: how
    /// bad it may be, when the estimate is uncertain.
    pub level_high: Level,
    /// The public's word, `None` below k contributors.
    pub public_level: Option<PublicLevel>,
}

/// Density, utilisation, levels and the public word of `people` on a zone
/// of `area` and `capacity`, seen by `contributors` (k the deployment's
/// k-anonymity threshold).
pub fn assess(
    people: &Estimate,
    area: Area,
    capacity: Option<u64>,
    contributors: u64,
    k: u64,
    levels: &DensityLevels,
) -> Assessment {
    let level_of = |n: u64| levels.level(area.density_m2(n)).with_capacity(utilisation(n, capacity));
    let density_m2 = area.density_m2(people.estimate);
    let level = level_of(people.estimate);
    Assessment {
        density_m2,
        utilisation: utilisation(people.estimate, capacity),
        level,
        level_high: level_of(people.high),
        public_level: public_level(level, density_m2, contributors, k),
    }
}

/// Which way a zone's crowd is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    /// More than [`TREND_BAND_PCT`] above 15 minutes before.
    Rising,
    /// Within [`TREND_BAND_PCT`] either way.
    Steady,
    /// More than [`TREND_BAND_PCT`] below 15 minutes before.
    Falling,
}

/// How far from the earlier estimate, in percent, a change counts as a
/// trend: smaller moves are within the estimate's own noise.
pub const TREND_BAND_PCT: f64 = 10.0;

/// The trend and its figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendReading {
    /// Rising, steady or falling.
    pub trend: Trend,
    /// The change in percent against the earlier estimate; `None` when that
    /// was nobody, since no percentage of nothing exists.
    pub trend_pct: Option<f64>,
}

impl TrendReading {
    /// The estimate `now` against the same window ending 15 minutes
    /// `before`. From nobody, any crowd is rising.
    pub fn between(now: u64, before: u64) -> TrendReading {
        if before == 0 {
            let trend = if now > 0 { Trend::Rising } else { Trend::Steady };
            return TrendReading { trend, trend_pct: None };
        }
        let pct = 100.0 * (now as f64 - before as f64) / before as f64;
        let trend = if pct > TREND_BAND_PCT {
            Trend::Rising
        } else if pct < -TREND_BAND_PCT {
            Trend::Falling
        } else {
            Trend::Steady
        };
        TrendReading {
            trend,
            trend_pct: Some(pct),
        }
    }
}

/// How many one-minute estimates the forecast's line is drawn through.
pub const FORECAST_MINUTES: usize = 10;

/// The forecast says nothing beyond this many minutes: a straight line
/// through ten minutes of a crowd is no guide to the next hour.
pub const FORECAST_HORIZON_MINUTES: u32 = 30;

/// Whole minutes until a zone of `area` reaches `serious`, from a least
/// squares line through its last [`FORECAST_MINUTES`] one-minute estimates
/// (`per_minute`, oldest first, one a minute; earlier ones are ignored).
///
/// `None` unless the zone is rising and below `serious`, the line climbs,
/// the last minute still rose, and the line crosses `serious` within
/// [`FORECAST_HORIZON_MINUTES`]; and with fewer than 3 estimates, too few
/// for a line. (A crowd that has stopped growing keeps a climbing line for
/// minutes after: its earlier rise is still among the points. Warning of
/// `serious` then would be a false alarm.) Minutes are counted from the
/// line's value at the latest minute and rounded down, so that a warning
/// errs early rather than late.
pub fn minutes_to_serious(
    per_minute: &[u64],
    area: Area,
    levels: &DensityLevels,
    level: Level,
    trend: Trend,
) -> Option<u32> {
    if trend != Trend::Rising || level >= Level::Serious {
        return None;
    }
    let last = &per_minute[per_minute.len().saturating_sub(FORECAST_MINUTES)..];
    if last.len() < 3 || last[last.len() - 1] <= last[last.len() - 2] {
        return None;
    }
    let n = last.len() as f64;
    let mean_t = (n - 1.0) / 2.0;
    let mean_y = last.iter().map(|p| *p as f64).sum::<f64>() / n;
    let (mut stt, mut sty) = (0.0, 0.0);
    for (t, people) in last.iter().enumerate() {
        let dt = t as f64 - mean_t;
        stt += dt * dt;
        sty += dt * (*people as f64 - mean_y);
    }
    let per_min = sty / stt;
    if per_min <= 0.0 {
        return None;
    }
    let now = mean_y + per_min * (n - 1.0 - mean_t);
    let serious_people = levels.serious_m2() * area.m2();
    let minutes = ((serious_people - now) / per_min).max(0.0).floor();
    // `as` saturates, and the horizon bounds it long before that matters.
    (minutes <= f64::from(FORECAST_HORIZON_MINUTES)).then_some(minutes as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(m2: f64) -> Area {
        Area::from_m2(m2).expect("a real area")
    }

    fn people(estimate: u64, high: u64) -> Estimate {
        Estimate {
            estimate,
            low: estimate / 2,
            high,
            calibrated: true,
        }
    }

    #[test]
    fn each_threshold_starts_its_level() {
        let levels = DensityLevels::default();
        let just_below = |x: f64| x - 1e-9;
        assert_eq!(levels.level(0.0), Level::Normal);
        assert_eq!(levels.level(just_below(2.0)), Level::Normal);
        assert_eq!(levels.level(2.0), Level::Caution);
        assert_eq!(levels.level(just_below(4.0)), Level::Caution);
        assert_eq!(levels.level(4.0), Level::Alert);
        assert_eq!(levels.level(just_below(5.0)), Level::Alert);
        assert_eq!(levels.level(5.0), Level::Serious);
        assert_eq!(levels.level(just_below(6.0)), Level::Serious);
        assert_eq!(levels.level(6.0), Level::Critical);
        assert_eq!(levels.level(10.7), Level::Critical);
    }

    #[test]
    fn levels_are_configurable_and_refused_unless_four_increasing_figures() {
        let levels: DensityLevels = "1.5, 3,4.5,6".parse().expect("valid");
        assert_eq!(levels.level(1.5), Level::Caution);
        assert_eq!(levels.level(4.4), Level::Alert);
        assert_eq!(levels.serious_m2(), 4.5);
        assert_eq!("2,4,5,6".parse(), Ok(DensityLevels::default()));
        for bad in [
            "",
            "2,4,5",
            "2,4,5,6,7",
            "2,four,5,6",
            "2,4,4,6",
            "6,5,4,2",
            "0,4,5,6",
            "2,4,5,inf",
            "2,4,5,NaN",
        ] {
            assert!(bad.parse::<DensityLevels>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn capacity_raises_the_level_at_ninety_and_a_hundred_percent() {
        assert_eq!(Level::Normal.with_capacity(None), Level::Normal);
        assert_eq!(Level::Normal.with_capacity(Some(0.89)), Level::Normal);
        assert_eq!(Level::Normal.with_capacity(Some(0.9)), Level::Caution);
        assert_eq!(Level::Normal.with_capacity(Some(0.99)), Level::Caution);
        assert_eq!(Level::Normal.with_capacity(Some(1.0)), Level::Alert);
        assert_eq!(Level::Caution.with_capacity(Some(1.2)), Level::Alert);
        // A rule that only raises: density already worse stays worse.
        assert_eq!(Level::Serious.with_capacity(Some(1.0)), Level::Serious);
        assert_eq!(Level::Alert.with_capacity(Some(0.95)), Level::Alert);

        assert_eq!(utilisation(900, Some(1000)), Some(0.9));
        assert_eq!(utilisation(900, Some(0)), None);
        assert_eq!(utilisation(900, None), None);
    }

    #[test]
    fn assessment_applies_density_capacity_and_the_intervals_upper_end() {
        let levels = DensityLevels::default();
        // 1,000 m², capacity 2,000: 1,500 people are 1.5 /m² and 75 %.
        let a = assess(&people(1500, 4200), area(1000.0), Some(2000), 50, 5, &levels);
        assert_eq!(a.density_m2, 1.5);
        assert_eq!(a.utilisation, Some(0.75));
        assert_eq!(a.level, Level::Normal);
        assert_eq!(a.level_high, Level::Alert, "4.2 /m² and 210 % of capacity");
        assert_eq!(a.public_level, Some(PublicLevel::Normal));

        // 1,850 people: 1.85 /m² but 92.5 % of capacity.
        let a = assess(&people(1850, 1900), area(1000.0), Some(2000), 50, 5, &levels);
        assert_eq!((a.level, a.level_high), (Level::Caution, Level::Caution));
        assert_eq!(a.public_level, Some(PublicLevel::Busy));

        // 2,000 people fill the capacity: alert below 4 /m².
        let a = assess(&people(2000, 2000), area(1000.0), Some(2000), 50, 5, &levels);
        assert_eq!(a.level, Level::Alert);
        assert_eq!(a.public_level, Some(PublicLevel::Crowded));
    }

    #[test]
    fn the_public_reads_four_words_and_nothing_below_k() {
        assert_eq!(public_level(Level::Normal, 0.0, 5, 5), Some(PublicLevel::Relaxed));
        assert_eq!(public_level(Level::Normal, 0.49, 5, 5), Some(PublicLevel::Relaxed));
        assert_eq!(public_level(Level::Normal, 0.5, 5, 5), Some(PublicLevel::Normal));
        assert_eq!(public_level(Level::Normal, 1.99, 5, 5), Some(PublicLevel::Normal));
        // A capacity-raised level is busy whatever the density.
        assert_eq!(public_level(Level::Caution, 0.3, 5, 5), Some(PublicLevel::Busy));
        for worse in [Level::Alert, Level::Serious, Level::Critical] {
            assert_eq!(public_level(worse, 5.0, 5, 5), Some(PublicLevel::Crowded));
        }
        assert_eq!(public_level(Level::Critical, 8.0, 4, 5), None);
        assert_eq!(public_level(Level::Normal, 0.0, 0, 5), None);

        let words = [
            PublicLevel::Relaxed,
            PublicLevel::Normal,
            PublicLevel::Busy,
            PublicLevel::Crowded,
        ]
        .map(|w| serde_json::to_value(w).expect("serialises"));
        assert_eq!(
            words,
            ["relaxed", "normal", "busy", "crowded"].map(serde_json::Value::from)
        );
        assert_eq!(serde_json::to_value(Level::Serious).expect("serialises"), "serious");
    }

    #[test]
    fn trend_is_rising_or_falling_only_beyond_ten_percent() {
        let reading = |now, before| TrendReading::between(now, before);
        assert_eq!(reading(1000, 1000).trend, Trend::Steady);
        assert_eq!(reading(1100, 1000).trend, Trend::Steady, "exactly +10 %");
        assert_eq!(reading(1101, 1000).trend, Trend::Rising);
        assert_eq!(reading(900, 1000).trend, Trend::Steady, "exactly −10 %");
        assert_eq!(reading(899, 1000).trend, Trend::Falling);
        assert_eq!(reading(1380, 1000).trend_pct, Some(38.0));
        assert_eq!(reading(500, 1000).trend_pct, Some(-50.0));
        assert_eq!(
            reading(40, 0),
            TrendReading {
                trend: Trend::Rising,
                trend_pct: None
            }
        );
        assert_eq!(reading(0, 0).trend, Trend::Steady);
    }

    #[test]
    fn the_forecast_counts_the_minutes_of_a_steady_rise_to_serious() {
        let levels = DensityLevels::default();
        // 1,000 m²: serious from 5,000 people. 100 more a minute, 3,000 now.
        let rise: Vec<u64> = (0..10).map(|m| 2100 + 100 * m).collect();
        let forecast = |series: &[u64], level, trend| minutes_to_serious(series, area(1000.0), &levels, level, trend);
        assert_eq!(forecast(&rise, Level::Caution, Trend::Rising), Some(20));
        // Only the last ten minutes count: a flat start changes nothing.
        let long: Vec<u64> = [500; 20].into_iter().chain(rise.iter().copied()).collect();
        assert_eq!(forecast(&long, Level::Caution, Trend::Rising), Some(20));
        // Rounded down: 5,000 − 3,000 at 70 a minute is 28.6 minutes.
        let slower: Vec<u64> = (0..10).map(|m| 2370 + 70 * m).collect();
        assert_eq!(forecast(&slower, Level::Caution, Trend::Rising), Some(28));
    }

    #[test]
    fn no_forecast_unless_rising_below_serious_and_within_thirty_minutes() {
        let levels = DensityLevels::default();
        let forecast = |series: &[u64], level, trend| minutes_to_serious(series, area(1000.0), &levels, level, trend);
        let rise: Vec<u64> = (0..10).map(|m| 2100 + 100 * m).collect();
        assert_eq!(forecast(&rise, Level::Caution, Trend::Steady), None);
        assert_eq!(forecast(&rise, Level::Caution, Trend::Falling), None);
        assert_eq!(forecast(&rise, Level::Serious, Trend::Rising), None);
        assert_eq!(forecast(&rise, Level::Critical, Trend::Rising), None);
        // 31 minutes away.
        let far: Vec<u64> = (0..10).map(|m| 1000 + 100 * m).collect();
        assert_eq!(forecast(&far, Level::Normal, Trend::Rising), None);
        // 30 minutes away is still said.
        let edge: Vec<u64> = (0..10).map(|m| 1100 + 100 * m).collect();
        assert_eq!(forecast(&edge, Level::Normal, Trend::Rising), Some(30));
        // A falling or flat line never arrives.
        assert_eq!(forecast(&[3000; 10], Level::Caution, Trend::Rising), None);
        let falling: Vec<u64> = (0..10).map(|m| 4000 - 50 * m).collect();
        assert_eq!(forecast(&falling, Level::Alert, Trend::Rising), None);
        // A crowd that stopped growing a minute ago: its line still climbs
        // through the earlier rise, but nothing is coming.
        let stopped: Vec<u64> = (0..10).map(|m| 2100 + 250 * m.min(8)).collect();
        assert_eq!(forecast(&stopped, Level::Alert, Trend::Rising), None);
        // Two minutes make no line.
        assert_eq!(forecast(&[4000, 4900], Level::Alert, Trend::Rising), None);
        assert_eq!(forecast(&[], Level::Alert, Trend::Rising), None);
        // A line already past serious is 0 minutes away, not negative.
        let jump: Vec<u64> = (0..10).map(|m| 4200 + 100 * m).collect();
        assert_eq!(forecast(&jump, Level::Alert, Trend::Rising), Some(0));
    }

    #[test]
    fn an_area_exists_only_when_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Area::from_m2(bad).is_none(), "{bad}");
        }
        assert_eq!(area(6450.0).density_m2(7400), 7400.0 / 6450.0);
    }
}
