//! The kinds of alert, one rule per file: the detector asks each rule in
//! [`RULES`] in turn whether a cell's last minute calls for its kind, and
//! the zone watch asks each rule in [`ZONE_RULES`] whether a zone's status
//! calls for its kind.
//!
//! Adding a kind is a new file here and one line in [`RULES`] or
//! [`ZONE_RULES`].

mod surge;
mod threshold;
mod zone_forecast;
mod zone_level;

pub use zone_forecast::FORECAST_ALERT_MINUTES;

use super::AlertRules;
use crate::crowd::status::ZoneStatus;

/// What the detector knows of one cell when it asks the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Items in the last minute.
    pub count: u64,
    /// Items per km² in the last minute.
    pub density_km2: f64,
    /// The cell's items per minute over the 14 minutes before.
    pub baseline_per_min: f64,
}

/// One kind of alert.
pub trait Rule: Sync {
    /// The `kind` its alerts carry; with the cell, it names the alert for
    /// the engine's quiet period.
    fn kind(&self) -> &'static str;

    /// Whether `reading` calls for an alert of this kind under `settings`.
    fn fires(&self, reading: &Reading, settings: &AlertRules) -> bool;
}

/// Every kind, most urgent first: a cell raises at most one alert per round,
/// of the first kind whose rule fires, so that a cell over the density limit
/// is reported as such even while it is also surging.
pub const RULES: &[&dyn Rule] = &[&threshold::Threshold, &surge::Surge];

/// The first rule in [`RULES`] that fires for `reading`.
pub fn first_firing(reading: &Reading, settings: &AlertRules) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|rule| rule.fires(reading, settings))
}

/// One kind of zone alert.
pub trait ZoneRule: Sync {
    /// The `kind` its alerts carry.
    fn kind(&self) -> &'static str;

    /// The gate key of the alert `now` calls for, given the zone's status
    /// `was` in the frame before (`None` when this node has not seen the
    /// zone yet); `None` when it calls for none. The key names what the
    /// deployment alerts once per quiet period: the zone and kind, and the
    /// level for a level alert.
    fn fires(&self, was: Option<&ZoneStatus>, now: &ZoneStatus) -> Option<String>;
}

/// Every zone kind; unlike cells', a zone may raise both in one round: a
/// new level and a forecast are different news.
pub const ZONE_RULES: &[&dyn ZoneRule] = &[&zone_level::ZoneLevel, &zone_forecast::ZoneForecast];

#[cfg(test)]
mod tests {
    use h3o::Resolution;

    use super::*;
    use crate::crowd::estimate::Estimate;
    use crate::crowd::level::{Level, Trend};

    const SETTINGS: AlertRules = AlertRules {
        res: Resolution::Nine,
        surge_min: 30,
        surge_factor: 3.0,
        density_km2: 1_000.0,
        quiet_secs: 300,
    };

    fn kind(count: u64, density_km2: f64, baseline_per_min: f64) -> Option<&'static str> {
        first_firing(
            &Reading {
                count,
                density_km2,
                baseline_per_min,
            },
            &SETTINGS,
        )
        .map(|r| r.kind())
    }

    #[test]
    fn a_dense_cell_is_a_threshold_alert_even_while_it_surges() {
        assert_eq!(kind(100, 1_000.0, 0.0), Some("threshold"));
    }

    #[test]
    fn a_surge_needs_both_the_minimum_and_the_factor_over_its_baseline() {
        assert_eq!(kind(30, 10.0, 10.0), Some("surge"));
        assert_eq!(kind(29, 10.0, 0.0), None);
        assert_eq!(kind(30, 10.0, 10.1), None);
        // A quiet cell's baseline counts as one a minute, not zero.
        assert_eq!(kind(30, 10.0, 0.0), Some("surge"));
    }

    fn zone(level: Level, minutes_to_serious: Option<u32>) -> ZoneStatus {
        ZoneStatus {
            id: "square".into(),
            name: "The square".into(),
            kind: "sector",
            area_m2: 10_000,
            capacity: None,
            window: "15m".into(),
            as_of: "2026-11-29T21:00:00Z".into(),
            posts: 10,
            contributors: 10,
            people: Estimate {
                estimate: 20_000,
                low: 10_000,
                high: 40_000,
                calibrated: false,
            },
            density_m2: 2.0,
            utilisation: None,
            level,
            level_high: level,
            public_level: None,
            trend: Trend::Rising,
            trend_pct: Some(20.0),
            minutes_to_serious,
        }
    }

    /// The keys `now` fires, given the status before.
    fn keys(was: Option<&ZoneStatus>, now: &ZoneStatus) -> Vec<String> {
        ZONE_RULES.iter().filter_map(|rule| rule.fires(was, now)).collect()
    }

    #[test]
    fn a_zone_alerts_each_level_it_rises_to_from_caution_on_and_never_a_fall_or_a_stay() {
        let normal = zone(Level::Normal, None);
        let caution = zone(Level::Caution, None);
        let alert = zone(Level::Alert, None);
        assert_eq!(keys(Some(&normal), &caution), ["zone_level:square:caution"]);
        assert_eq!(keys(Some(&caution), &alert), ["zone_level:square:alert"]);
        // A jump over a level names the level reached.
        assert_eq!(keys(Some(&normal), &alert), ["zone_level:square:alert"]);
        assert!(keys(Some(&alert), &alert).is_empty());
        assert!(keys(Some(&alert), &caution).is_empty());
        assert!(keys(None, &normal).is_empty());
        // A zone a node sees for the first time was normal as far as it knows.
        assert_eq!(keys(None, &caution), ["zone_level:square:caution"]);
    }

    #[test]
    fn a_forecast_of_serious_within_ten_minutes_alerts_once_per_zone_whatever_the_minutes() {
        let soon = zone(Level::Caution, Some(10));
        let sooner = zone(Level::Caution, Some(3));
        assert_eq!(keys(Some(&soon), &sooner), ["zone_forecast:square"]);
        assert_eq!(keys(Some(&sooner), &soon), ["zone_forecast:square"]);
        assert!(keys(Some(&soon), &zone(Level::Caution, Some(11))).is_empty());
        assert!(keys(Some(&soon), &zone(Level::Caution, None)).is_empty());
        // A new level and a forecast in one frame are two pieces of news.
        let both = zone(Level::Alert, Some(5));
        assert_eq!(
            keys(Some(&soon), &both),
            ["zone_level:square:alert", "zone_forecast:square"]
        );
    }
}
