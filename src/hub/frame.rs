//! One heatmap group's state at a tick: its cells, what changed since the
//! tick before (computed once for every subscriber), and the shared
//! encodings of that change and of the whole frame.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use h3o::{CellIndex, LatLng};

use crate::domain::{BBox, LatLon};
use crate::engine::CellCount;
use crate::protocol::{CellOut, FullCell, PublicCell};

/// One cell of a heatmap as clients see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellStat {
    /// The H3 cell.
    pub cell: CellIndex,
    /// Items in the window.
    pub count: u64,
    /// Distinct contributors in the window.
    pub contributors: u64,
    /// `count` over the cell's exact area, per km².
    pub density_km2: f64,
    /// The public's density level, 1–5; set only in public frames, whose
    /// other numbers are never sent (DESIGN §6).
    pub level: Option<u8>,
    /// The smallest zone containing the cell, for operators and commanders
    /// (§9: cells are named by zone); never set in public frames.
    pub zone: Option<&'static str>,
}

impl From<CellCount> for CellStat {
    fn from(c: CellCount) -> Self {
        Self {
            cell: c.cell,
            count: c.count,
            contributors: c.contributors,
            density_km2: c.count as f64 / c.cell.area_km2(),
            level: None,
            zone: None,
        }
    }
}

/// The upper bounds of public levels 1 to 4 in items per km² per minute;
/// above the last is level 5 (`--public-bands`, default 10,30,100,300).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublicBands([f64; 4]);

impl Default for PublicBands {
    fn default() -> Self {
        Self([10.0, 30.0, 100.0, 300.0])
    }
}

impl PublicBands {
    /// Four finite, positive, strictly increasing bounds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let values: Vec<f64> = text
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("public bands {text:?} must be four numbers, e.g. 10,30,100,300"))?;
        let bounds: [f64; 4] = values
            .try_into()
            .map_err(|_| format!("public bands {text:?} must be exactly four numbers"))?;
        if bounds.iter().any(|b| !b.is_finite() || *b <= 0.0) || bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("public bands {text:?} must be positive and increasing"));
        }
        Ok(Self(bounds))
    }

    /// The level of a density in items per km² per minute.
    pub fn level(&self, per_km2_per_min: f64) -> u8 {
        1 + self.0.iter().filter(|bound| per_km2_per_min >= **bound).count() as u8
    }

    /// The bounds, lowest first.
    pub fn bounds(&self) -> [f64; 4] {
        self.0
    }
}

impl CellStat {
    /// Whether the cell's centre lies in `bbox`.
    pub fn within(&self, bbox: &BBox) -> bool {
        let centre = LatLng::from(self.cell);
        LatLon::new(centre.lat(), centre.lng()).is_ok_and(|p| bbox.contains(p))
    }

    /// A public cell: `count` items of the shown cells under it in a window
    /// of `minutes`, as a level.
    pub fn public(cell: CellIndex, count: u64, minutes: f64, bands: &PublicBands) -> Self {
        let density_km2 = count as f64 / cell.area_km2();
        Self {
            cell,
            count,
            contributors: 0,
            density_km2,
            level: Some(bands.level(density_km2 / minutes.max(1.0 / 60.0))),
            zone: None,
        }
    }

    /// Whether a subscriber would see no change: for a public cell only its
    /// level counts, so that a single item below a band's edge sends nothing.
    fn same_numbers(&self, other: &CellStat) -> bool {
        match (self.level, other.level) {
            (Some(a), Some(b)) => a == b,
            _ => self.count == other.count && self.contributors == other.contributors,
        }
    }
}

/// A group's heatmap at one tick, with its change from the tick before.
#[derive(Debug, Clone)]
pub struct HeatmapFrame {
    /// Increases by one with every frame that differs from the last.
    pub version: u64,
    /// Increases when the group is re-read after an engine outage: a
    /// subscriber then gets a fresh snapshot, not a delta.
    pub epoch: u64,
    /// When the engine was read.
    pub as_of: DateTime<Utc>,
    /// Every cell with a count.
    pub cells: Arc<HashMap<CellIndex, CellStat>>,
    /// Cells new or changed since `version - 1`.
    pub changed: Vec<CellStat>,
    /// Cells gone since `version - 1`.
    pub removed: Vec<CellIndex>,
    /// `changed` and `removed` as a `heatmap.delta`, encoded once for
    /// every subscriber of the group that is one frame behind.
    pub encoded_delta: Arc<crate::protocol::SharedEncoding>,
    /// The whole frame as an HTTP heatmap answer (JSON, no bbox), encoded
    /// by the first reader and shared by every later one: a public flood
    /// costs one serialisation per frame.
    pub encoded_http: Arc<std::sync::OnceLock<bytes::Bytes>>,
}

impl HeatmapFrame {
    /// The first frame of a group.
    pub fn first(as_of: DateTime<Utc>, cells: Vec<CellStat>) -> Self {
        let cells: HashMap<CellIndex, CellStat> = cells.into_iter().map(|c| (c.cell, c)).collect();
        Self {
            version: 0,
            epoch: 0,
            as_of,
            changed: cells.values().copied().collect(),
            cells: Arc::new(cells),
            removed: Vec::new(),
            encoded_delta: Arc::default(),
            encoded_http: Arc::default(),
        }
    }

    /// The frame after this one, or `None` when nothing changed.
    pub fn next(&self, as_of: DateTime<Utc>, cells: Vec<CellStat>) -> Option<Self> {
        let cells: HashMap<CellIndex, CellStat> = cells.into_iter().map(|c| (c.cell, c)).collect();
        let (changed, removed) = diff(&self.cells, &cells);
        if changed.is_empty() && removed.is_empty() {
            return None;
        }
        Some(Self {
            version: self.version + 1,
            epoch: self.epoch,
            as_of,
            cells: Arc::new(cells),
            changed,
            removed,
            encoded_delta: Arc::default(),
            encoded_http: Arc::default(),
        })
    }

    /// The frame read after an engine outage: whatever it holds, subscribers
    /// start again from a snapshot of it.
    pub fn resync(&self, as_of: DateTime<Utc>, cells: Vec<CellStat>) -> Self {
        let mut fresh = Self::first(as_of, cells);
        fresh.version = self.version + 1;
        fresh.epoch = self.epoch + 1;
        fresh
    }

    /// Whether this frame comes right after `previous`, so that its own
    /// `changed` and `removed` are what a subscriber at `previous` needs.
    pub fn follows(&self, previous: &HeatmapFrame) -> bool {
        previous.version + 1 == self.version
    }

    /// What a subscriber who last saw `previous` must receive to be at this
    /// frame, restricted to `bbox`: the shared delta when it is one frame
    /// behind, a diff of its own when it skipped frames.
    pub fn delta_since(&self, previous: &HeatmapFrame, bbox: Option<&BBox>) -> (Vec<CellStat>, Vec<CellIndex>) {
        let (changed, removed) = if self.follows(previous) {
            (self.changed.clone(), self.removed.clone())
        } else {
            diff(&previous.cells, &self.cells)
        };
        match bbox {
            None => (changed, removed),
            Some(b) => (
                changed.into_iter().filter(|c| c.within(b)).collect(),
                removed
                    .into_iter()
                    .filter(|cell| previous.cells.get(cell).is_some_and(|c| c.within(b)))
                    .collect(),
            ),
        }
    }

    /// Every cell, restricted to `bbox`, sorted by count (hottest first).
    pub fn snapshot(&self, bbox: Option<&BBox>) -> Vec<CellStat> {
        let mut cells: Vec<CellStat> = self
            .cells
            .values()
            .filter(|c| bbox.is_none_or(|b| c.within(b)))
            .copied()
            .collect();
        sort_hottest_first(&mut cells);
        cells
    }
}

/// Orders cells by count (public cells by level: their order must not
/// betray the counts behind it), then by cell, so that output is stable.
pub fn sort_hottest_first(cells: &mut [CellStat]) {
    cells.sort_by(|a, b| match (a.level, b.level) {
        (Some(la), Some(lb)) => lb.cmp(&la).then(a.cell.cmp(&b.cell)),
        _ => b.count.cmp(&a.count).then(a.cell.cmp(&b.cell)),
    });
}

fn diff(
    before: &HashMap<CellIndex, CellStat>,
    after: &HashMap<CellIndex, CellStat>,
) -> (Vec<CellStat>, Vec<CellIndex>) {
    let changed = after
        .values()
        .filter(|c| before.get(&c.cell).is_none_or(|old| !old.same_numbers(c)))
        .copied()
        .collect();
    let removed = before
        .keys()
        .filter(|cell| !after.contains_key(cell))
        .copied()
        .collect();
    (changed, removed)
}

impl From<&CellStat> for CellOut {
    fn from(c: &CellStat) -> Self {
        match c.level {
            Some(level) => CellOut::Public(PublicCell {
                cell: c.cell.to_string(),
                level,
            }),
            None => CellOut::Full(FullCell {
                cell: c.cell.to_string(),
                count: c.count,
                contributors: c.contributors,
                density_km2: (c.density_km2 * 100.0).round() / 100.0,
                zone: c.zone.map(str::to_owned),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(lat: f64, lon: f64, count: u64) -> CellStat {
        let cell = LatLng::new(lat, lon).unwrap().to_cell(h3o::Resolution::Nine);
        CellStat::from(CellCount {
            cell,
            count,
            contributors: count,
        })
    }

    #[test]
    fn a_frame_carries_only_what_changed() {
        let (a, b, c) = (stat(44.49, 11.34, 1), stat(44.50, 11.34, 2), stat(44.51, 11.34, 3));
        let f0 = HeatmapFrame::first(Utc::now(), vec![a, b]);
        assert!(f0.next(Utc::now(), vec![a, b]).is_none());
        let b2 = CellStat { count: 5, ..b };
        let f1 = f0.next(Utc::now(), vec![b2, c]).unwrap();
        let mut changed: Vec<_> = f1.changed.iter().map(|s| (s.cell, s.count)).collect();
        changed.sort();
        let mut expected = vec![(b.cell, 5), (c.cell, 3)];
        expected.sort();
        assert_eq!(changed, expected);
        assert_eq!(f1.removed, vec![a.cell]);
    }

    #[test]
    fn a_subscriber_that_skipped_frames_gets_the_whole_difference() {
        let (a, b) = (stat(44.49, 11.34, 1), stat(44.50, 11.34, 2));
        let f0 = HeatmapFrame::first(Utc::now(), vec![a]);
        let f1 = f0.next(Utc::now(), vec![a, b]).unwrap();
        let f2 = f1.next(Utc::now(), vec![b]).unwrap();
        let (changed, removed) = f2.delta_since(&f0, None);
        assert_eq!(changed.iter().map(|c| c.cell).collect::<Vec<_>>(), vec![b.cell]);
        assert_eq!(removed, vec![a.cell]);
    }

    #[test]
    fn levels_follow_the_bands_and_bad_bands_are_refused() {
        let bands = PublicBands::default();
        assert_eq!(bands.level(0.0), 1);
        assert_eq!(bands.level(9.99), 1);
        assert_eq!(bands.level(10.0), 2);
        assert_eq!(bands.level(299.0), 4);
        assert_eq!(bands.level(300.0), 5);
        assert!(PublicBands::parse("1,2,3").is_err());
        assert!(PublicBands::parse("1,3,2,4").is_err());
        assert!(PublicBands::parse("1,2,3,NaN").is_err());
        assert_eq!(PublicBands::parse("1, 2,3,4").unwrap().bounds(), [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn density_uses_the_exact_cell_area() {
        let s = stat(44.49, 11.34, 10);
        assert!((s.density_km2 - 10.0 / s.cell.area_km2()).abs() < 1e-9);
    }
}
