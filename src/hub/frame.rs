use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use h3o::{CellIndex, LatLng};

use crate::domain::{BBox, LatLon};
use crate::engine::CellCount;

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
}

impl From<CellCount> for CellStat {
    fn from(c: CellCount) -> Self {
        Self {
            cell: c.cell,
            count: c.count,
            contributors: c.contributors,
            density_km2: c.count as f64 / c.cell.area_km2(),
        }
    }
}

impl CellStat {
    /// Whether the cell's centre lies in `bbox`.
    pub fn within(&self, bbox: &BBox) -> bool {
        let centre = LatLng::from(self.cell);
        LatLon::new(centre.lat(), centre.lng()).is_ok_and(|p| bbox.contains(p))
    }

    fn same_numbers(&self, other: &CellStat) -> bool {
        self.count == other.count && self.contributors == other.contributors
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
    pub encoded_delta: Arc<crate::ws::protocol::SharedEncoding>,
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

/// Orders cells by count, then by cell, so that output is stable.
pub fn sort_hottest_first(cells: &mut [CellStat]) {
    cells.sort_by(|a, b| b.count.cmp(&a.count).then(a.cell.cmp(&b.cell)));
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
    fn density_uses_the_exact_cell_area() {
        let s = stat(44.49, 11.34, 10);
        assert!((s.density_km2 - 10.0 / s.cell.area_km2()).abs() < 1e-9);
    }
}
