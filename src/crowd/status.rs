//! A zone's status as DESIGN §9 reports it: its posts and contributors
//! summed over the cells that cover it, people estimated from them, density,
//! levels, trend and forecast; and the public's view of it, which carries
//! words only. Assembled from figures the caller read from the counts, so
//! that the route, the `zones` channel and the zone alerts share one rule.

use std::collections::HashMap;

use h3o::CellIndex;
use serde::Serialize;

use super::cover::ZoneCover;
use super::estimate::{Estimate, Model};
use super::level::{Area, DensityLevels, Level, PublicLevel, Trend, TrendReading, assess, minutes_to_serious};
use crate::domain::Zones;

/// One cell's figures over a window: items and distinct contributors.
pub type CellFigures = HashMap<CellIndex, (u64, u64)>;

/// A zone's figures over a window, summed over its covering cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZoneCounts {
    /// Items.
    pub posts: u64,
    /// Distinct contributors, summed cell by cell as §9 says: a zone's
    /// figures are sums over its cells.
    pub contributors: u64,
}

/// `zone`'s figures in `cells`; nothing for a zone without cells.
pub fn zone_counts(cover: &ZoneCover, zone: &str, cells: &CellFigures) -> ZoneCounts {
    cover
        .cells(zone)
        .unwrap_or_default()
        .iter()
        .filter_map(|cell| cells.get(cell))
        .fold(ZoneCounts::default(), |sum, (posts, contributors)| ZoneCounts {
            posts: sum.posts + posts,
            contributors: sum.contributors + contributors,
        })
}

/// What one zone's status is made from.
#[derive(Debug, Clone)]
pub struct Reading<'a> {
    /// The window's name, e.g. `15m`.
    pub window: &'a str,
    /// When the window ends (RFC 3339).
    pub as_of: &'a str,
    /// The zone's figures over the window ending now.
    pub now: ZoneCounts,
    /// Its contributors over the same window ending 15 minutes earlier.
    pub contributors_before: u64,
    /// Its contributors over the window ending at each of the last minutes,
    /// oldest first: the forecast's points.
    pub contributors_per_minute: &'a [u64],
    /// The posts → people model for this zone.
    pub model: &'a Model,
    /// The deployment's density levels.
    pub levels: &'a DensityLevels,
    /// The deployment's k-anonymity threshold.
    pub k: u64,
}

/// A zone's status for operators and commanders (DESIGN §9).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ZoneStatus {
    /// The zone's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// The area people stand on, m².
    pub area_m2: u64,
    /// How many it holds, if the file says.
    pub capacity: Option<u32>,
    /// The window read.
    pub window: String,
    /// When the window ends.
    pub as_of: String,
    /// Items in the window.
    pub posts: u64,
    /// Distinct contributors in the window.
    pub contributors: u64,
    /// People, with the 90 % prediction interval.
    pub people: Estimate,
    /// People per m², to two decimals.
    pub density_m2: f64,
    /// Share of the capacity, to two decimals.
    pub utilisation: Option<f64>,
    /// The level of the estimate.
    pub level: Level,
    /// The level of the interval's upper end.
    pub level_high: Level,
    /// The public's word; `None` below k contributors.
    pub public_level: Option<PublicLevel>,
    /// Against 15 minutes before.
    pub trend: Trend,
    /// The change in percent, to one decimal.
    pub trend_pct: Option<f64>,
    /// Minutes until `serious` at the current rise, within 30.
    pub minutes_to_serious: Option<u32>,
}

/// A zone as the public sees it: words, never figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
// No other field may appear: the public's view must never be mistaken for,
// or grow into, the operators'.
#[serde(deny_unknown_fields)]
pub struct PublicZoneStatus {
    /// The zone's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// How busy, in a word; `None` below k contributors.
    pub public_level: Option<PublicLevel>,
    /// Which way it is going; `None` when there is no word either, so that
    /// a trend cannot tell about a place too thin to describe.
    pub trend: Option<Trend>,
    /// What to do there, per language.
    pub advice: std::collections::BTreeMap<String, String>,
}

fn rounded(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// The status of area zone `id`; `None` for an unknown or point zone.
pub fn status(zones: &Zones, id: &str, reading: &Reading<'_>) -> Option<ZoneStatus> {
    let area_m2 = zones.area_m2(id)?;
    let area = Area::from_m2(area_m2)?;
    let capacity = zones.capacity(id);
    let people = reading.model.estimate(reading.now.contributors);
    let assessment = assess(
        &people,
        area,
        capacity.map(u64::from),
        reading.now.contributors,
        reading.k,
        reading.levels,
    );
    let before = reading.model.estimate(reading.contributors_before).estimate;
    let trend = TrendReading::between(people.estimate, before);
    let per_minute: Vec<u64> = reading
        .contributors_per_minute
        .iter()
        .map(|u| reading.model.estimate(*u).estimate)
        .collect();
    Some(ZoneStatus {
        id: id.to_owned(),
        name: zones.name(id)?.to_owned(),
        kind: zones.kind(id)?,
        area_m2: area_m2.round() as u64,
        capacity,
        window: reading.window.to_owned(),
        as_of: reading.as_of.to_owned(),
        posts: reading.now.posts,
        contributors: reading.now.contributors,
        people,
        density_m2: rounded(assessment.density_m2, 2),
        utilisation: assessment.utilisation.map(|u| rounded(u, 2)),
        level: assessment.level,
        level_high: assessment.level_high,
        public_level: assessment.public_level,
        trend: trend.trend,
        trend_pct: trend.trend_pct.map(|p| rounded(p, 1)),
        minutes_to_serious: minutes_to_serious(&per_minute, area, reading.levels, assessment.level, trend.trend),
    })
}

impl ZoneStatus {
    /// What the public may read of it.
    pub fn public(&self, zones: &Zones) -> PublicZoneStatus {
        PublicZoneStatus {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            public_level: self.public_level,
            trend: self.public_level.map(|_| self.trend),
            advice: zones
                .advice(&self.id)
                .map(|a| {
                    a.iter()
                        .map(|(tag, text)| (tag.as_str().to_owned(), text.to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use h3o::{LatLng, Resolution};
    use serde_json::json;

    use super::*;
    use crate::crowd::estimate::Prior;

    /// A 100 m × 100 m square sector (about 10,000 m²) holding 20,000
    /// people, with advice, near Bologna.
    fn zones() -> Zones {
        let (lon, lat) = (11.3426, 44.4939);
        let (dlon, dlat) = (100.0 / 79_300.0, 100.0 / 111_130.0);
        let doc = json!({"type": "FeatureCollection", "features": [{
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]]]},
            "properties": {"id": "square", "name": "The square", "kind": "sector", "capacity": 20000,
                           "advice": {"en": "Keep moving", "it": "Continuate a camminare"}}
        }]});
        Zones::from_collections([("test".to_owned(), &doc)]).expect("zones")
    }

    fn reading<'a>(
        model: &'a Model,
        levels: &'a DensityLevels,
        now: u64,
        before: u64,
        per_minute: &'a [u64],
    ) -> Reading<'a> {
        Reading {
            window: "15m",
            as_of: "2026-11-29T21:00:00Z",
            now: ZoneCounts {
                posts: now * 2,
                contributors: now,
            },
            contributors_before: before,
            contributors_per_minute: per_minute,
            model,
            levels,
            k: 5,
        }
    }

    #[test]
    fn a_zone_sums_the_figures_of_its_own_cells_only() {
        let zones = zones();
        let cover = ZoneCover::new(&zones, Resolution::Eleven).expect("cover");
        let inside = cover.cells("square").expect("cells").to_vec();
        assert!(!inside.is_empty());
        let outside = LatLng::new(44.50, 11.35).expect("point").to_cell(Resolution::Eleven);
        let mut cells: CellFigures = inside.iter().map(|c| (*c, (3, 2))).collect();
        cells.insert(outside, (100, 100));
        let sums = zone_counts(&cover, "square", &cells);
        assert_eq!(sums.posts, 3 * inside.len() as u64);
        assert_eq!(sums.contributors, 2 * inside.len() as u64);
        assert_eq!(zone_counts(&cover, "nowhere", &cells), ZoneCounts::default());
    }

    #[test]
    fn the_status_carries_the_figures_of_design_and_the_public_only_words() {
        let zones = zones();
        let levels: DensityLevels = "2,4,5,6".parse().expect("levels");
        let model = Model::Prior(Prior::new(25.0).expect("prior"));
        // 1,000 contributors × 25 = 25,000 people on ~10,000 m²: 2.5 /m².
        let per_minute = [700, 760, 820, 880, 940, 1000];
        let s = status(&zones, "square", &reading(&model, &levels, 1_000, 700, &per_minute)).expect("status");
        assert_eq!(s.people.estimate, 25_000);
        assert!(!s.people.calibrated);
        assert!((2.4..2.6).contains(&s.density_m2), "{}", s.density_m2);
        // Over capacity: at least `alert` although 2.5 /m² is only `caution`.
        assert_eq!(s.level, Level::Alert);
        assert_eq!(s.utilisation, Some(1.25));
        assert_eq!(s.trend, Trend::Rising);
        assert_eq!(s.trend_pct, Some(42.9));
        assert_eq!(s.public_level, Some(PublicLevel::Crowded));
        assert!(
            s.minutes_to_serious.is_some_and(|m| m <= 30),
            "{:?}",
            s.minutes_to_serious
        );
        let text = serde_json::to_value(&s).expect("json");
        for field in [
            "id",
            "name",
            "kind",
            "area_m2",
            "capacity",
            "window",
            "as_of",
            "posts",
            "contributors",
            "people",
            "density_m2",
            "utilisation",
            "level",
            "level_high",
            "public_level",
            "trend",
            "trend_pct",
            "minutes_to_serious",
        ] {
            assert!(text.get(field).is_some(), "{field} missing from {text}");
        }
        assert_eq!(
            text["people"],
            json!({"estimate": 25000, "low": 12500, "high": 50000, "calibrated": false})
        );

        let public = serde_json::to_value(s.public(&zones)).expect("json");
        assert_eq!(
            public,
            json!({"id": "square", "name": "The square", "kind": "sector", "public_level": "crowded", "trend": "rising",
                   "advice": {"en": "Keep moving", "it": "Continuate a camminare"}})
        );
    }

    #[test]
    fn below_k_contributors_the_public_gets_no_word_and_no_trend() {
        let zones = zones();
        let levels: DensityLevels = "2,4,5,6".parse().expect("levels");
        let model = Model::Prior(Prior::new(25.0).expect("prior"));
        let s = status(&zones, "square", &reading(&model, &levels, 4, 0, &[])).expect("status");
        assert_eq!(s.public_level, None);
        let public = s.public(&zones);
        assert_eq!((public.public_level, public.trend), (None, None));
        let text = serde_json::to_string(&public).expect("json");
        for figure in ["contributors", "posts", "people", "density", "estimate"] {
            assert!(!text.contains(figure), "{figure} in the public view: {text}");
        }
    }
}
