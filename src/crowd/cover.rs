//! Which H3 cells make up each zone, worked out once at start-up: every
//! `Polygon`/`MultiPolygon` zone is covered by the cells of one resolution
//! (the finest counted) whose centres lie inside it, so that a zone's
//! figures are sums over its cells and overlapping zones (a perimeter and
//! its sectors) each get theirs. Each covered cell is also named by the
//! smallest zone that contains it.
//!
//! Centre containment assigns a cell wholly to a zone or not at all, so the
//! cover's area differs from the zone's by what its edge cells gain and
//! lose; `geodata/README.md` gives the demo zones' figures.

use std::collections::HashMap;

use ::geo::{LineString, Polygon};
use h3o::geom::{ContainmentMode, TilerBuilder};
use h3o::{CellIndex, Resolution};

use crate::domain::{ZoneShape, Zones};

/// The cells of one zone.
#[derive(Debug, Clone)]
struct Covered {
    /// Sorted, each cell once.
    cells: Vec<CellIndex>,
    /// The sum of the cells' own areas.
    cells_area_m2: f64,
}

/// The zones' cells at one resolution, and each cell's smallest zone.
#[derive(Debug, Clone)]
pub struct ZoneCover {
    resolution: Resolution,
    by_zone: HashMap<String, Covered>,
    /// Zone ids live as long as the process: a deployment loads its zones
    /// once, and a heatmap cell can then carry its zone's name as a plain
    /// reference, copied with the cell each tick at no cost.
    smallest: HashMap<CellIndex, &'static str>,
}

impl ZoneCover {
    /// Covers every area zone by the cells of `resolution` whose centres
    /// lie inside it. Point zones are not covered: they have no area to
    /// count people over. A zone can be refused only if its rings fail
    /// h3o's own checks, which the zones' parser already makes; the error
    /// names the zone all the same.
    pub fn new(zones: &Zones, resolution: Resolution) -> Result<Self, String> {
        let mut by_zone = HashMap::new();
        let mut smallest: HashMap<CellIndex, (f64, String)> = HashMap::new();
        for id in zones.ids() {
            let Some(ZoneShape::Polygons(rings)) = zones.shape(id) else {
                continue;
            };
            let mut tiler = TilerBuilder::new(resolution)
                .containment_mode(ContainmentMode::ContainsCentroid)
                .build();
            for ring in rings {
                let exterior = LineString::from(ring.iter().map(|[lon, lat]| (*lon, *lat)).collect::<Vec<_>>());
                tiler
                    .add(Polygon::new(exterior, vec![]))
                    .map_err(|e| format!("zone {id:?} cannot be covered by H3 cells: {e}"))?;
            }
            let mut cells: Vec<CellIndex> = tiler.into_coverage().collect();
            cells.sort_unstable();
            cells.dedup();
            // Ties go to the smaller id, so that every node names a cell alike.
            let footprint = zones.geodesic_area_m2(id).unwrap_or(f64::INFINITY);
            for cell in &cells {
                let candidate = (footprint, id);
                match smallest.get(cell) {
                    Some((area, owner)) if (*area, owner.as_str()) <= candidate => {}
                    _ => {
                        smallest.insert(*cell, (footprint, id.to_owned()));
                    }
                }
            }
            let cells_area_m2 = cells.iter().fold(0.0, |sum, c| sum + c.area_m2());
            by_zone.insert(id.to_owned(), Covered { cells, cells_area_m2 });
        }
        Ok(Self {
            resolution,
            by_zone,
            smallest: {
                // One leaked copy per zone id, however many cells it names.
                let mut ids: HashMap<String, &'static str> = HashMap::new();
                smallest
                    .into_iter()
                    .map(|(cell, (_, id))| {
                        let id = *ids
                            .entry(id)
                            .or_insert_with_key(|id| Box::leak(id.clone().into_boxed_str()));
                        (cell, id)
                    })
                    .collect()
            },
        })
    }

    /// The resolution of the cover's cells.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// The covered zones' ids, in no particular order.
    pub fn zones(&self) -> impl Iterator<Item = &str> {
        self.by_zone.keys().map(String::as_str)
    }

    /// True when no zone is covered (the deployment has only point zones,
    /// or none).
    pub fn is_empty(&self) -> bool {
        self.by_zone.is_empty()
    }

    /// A zone's cells, sorted; `None` for a point zone or an unknown id.
    /// Empty for a zone so small that no cell centre falls inside it.
    pub fn cells(&self, zone: &str) -> Option<&[CellIndex]> {
        self.by_zone.get(zone).map(|c| c.cells.as_slice())
    }

    /// The total area of a zone's cells, in square metres: what the
    /// zone's figures are really summed over.
    pub fn cells_area_m2(&self, zone: &str) -> Option<f64> {
        self.by_zone.get(zone).map(|c| c.cells_area_m2)
    }

    /// The smallest zone (by geodesic area) that contains the cell, to name
    /// it. A coarser cell takes the zone of its centre child at the cover's
    /// resolution: the child whose centre is its own, the same rule of
    /// centres the cover is made by, and one look-up rather than a vote of
    /// up to 7ⁿ children. A finer cell takes its ancestor's zone.
    pub fn smallest_zone(&self, cell: CellIndex) -> Option<&'static str> {
        let at_cover = if cell.resolution() <= self.resolution {
            cell.center_child(self.resolution)
        } else {
            cell.parent(self.resolution)
        }?;
        self.smallest.get(&at_cover).copied()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn polygon(id: &str, kind: &str, ring: &[[f64; 2]]) -> serde_json::Value {
        json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
               "properties": {"id": id, "name": id, "kind": kind}})
    }

    /// An axis-aligned box `[lon0, lat0]`–`[lon1, lat1]`, counter-clockwise.
    fn rect(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Vec<[f64; 2]> {
        vec![[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    }

    fn zones(features: Vec<serde_json::Value>) -> Zones {
        let doc = json!({"type": "FeatureCollection", "features": features});
        Zones::from_collections([("test.geojson".to_owned(), &doc)]).unwrap()
    }

    /// A perimeter around Piazza Maggiore's latitude, a sector inside it
    /// and an exit point.
    fn event() -> Zones {
        let exit = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [11.3430, 44.4940]},
                          "properties": {"id": "exit", "name": "Exit", "kind": "exit"}});
        zones(vec![
            polygon("perimeter", "perimeter", &rect(11.335, 44.490, 11.350, 44.500)),
            polygon("sector", "sector", &rect(11.340, 44.492, 11.345, 44.496)),
            exit,
        ])
    }

    #[test]
    fn a_zone_of_a_square_kilometre_is_covered_within_its_edge_error() {
        // 0.0125° of longitude at 44.5° N is about 993 m, 0.009° of latitude about 1,000 m.
        let zones = zones(vec![polygon("square", "sector", &rect(11.3, 44.5, 11.3125, 44.509))]);
        let area = zones.area_m2("square").unwrap();
        let cover = ZoneCover::new(&zones, Resolution::Eleven).unwrap();
        let cells_area = cover.cells_area_m2("square").unwrap();
        assert!(
            ((cells_area - area) / area).abs() < 0.01,
            "cover {cells_area:.0} m² against the square's {area:.0} m²"
        );
        // A res-11 cell is about 2,150 m²: some 460 of them make a square kilometre.
        assert!((440..=480).contains(&cover.cells("square").unwrap().len()));
    }

    #[test]
    fn overlapping_zones_each_get_their_cells_and_a_cell_is_named_by_the_smallest() {
        let zones = event();
        let cover = ZoneCover::new(&zones, Resolution::Eleven).unwrap();
        let perimeter = cover.cells("perimeter").unwrap();
        let sector = cover.cells("sector").unwrap();
        assert!(!sector.is_empty());
        assert!(
            sector.iter().all(|c| perimeter.binary_search(c).is_ok()),
            "the sector is inside the perimeter"
        );
        assert!(sector.iter().all(|c| cover.smallest_zone(*c) == Some("sector")));
        let outside_sector = perimeter.iter().find(|c| sector.binary_search(c).is_err()).unwrap();
        assert_eq!(cover.smallest_zone(*outside_sector), Some("perimeter"));
        assert!(cover.cells("exit").is_none(), "a point zone has no cells");
        let far = cell_at(45.0, 12.0, Resolution::Eleven);
        assert_eq!(cover.smallest_zone(far), None);
    }

    #[test]
    fn a_coarser_cell_is_named_by_its_centre_child_and_a_finer_one_by_its_ancestor() {
        let zones = event();
        let cover = ZoneCover::new(&zones, Resolution::Eleven).unwrap();
        let in_sector = cell_at(44.494, 11.3425, Resolution::Nine);
        let centre_child = in_sector.center_child(Resolution::Eleven).unwrap();
        assert_eq!(cover.smallest_zone(in_sector), cover.smallest_zone(centre_child));
        assert_eq!(cover.smallest_zone(in_sector), Some("sector"));
        let finer = cell_at(44.494, 11.3425, Resolution::Thirteen);
        assert_eq!(cover.smallest_zone(finer), Some("sector"));
    }

    #[test]
    fn a_clockwise_ring_has_the_same_area_as_its_counter_clockwise_twin() {
        let mut clockwise = rect(11.340, 44.492, 11.345, 44.496);
        clockwise.reverse();
        let zones = zones(vec![
            polygon("ccw", "sector", &rect(11.340, 44.492, 11.345, 44.496)),
            polygon("cw", "sector", &clockwise),
        ]);
        let (ccw, cw) = (zones.area_m2("ccw").unwrap(), zones.area_m2("cw").unwrap());
        assert!((ccw - cw).abs() < 1e-6 && ccw < 200_000.0, "{ccw} {cw}");
        let cover = ZoneCover::new(&zones, Resolution::Eleven).unwrap();
        assert_eq!(cover.cells("ccw"), cover.cells("cw"));
        // Identical footprints: the smaller id names their cells on every node.
        let cell = cover.cells("cw").unwrap()[0];
        assert_eq!(cover.smallest_zone(cell), Some("ccw"));
    }

    fn cell_at(lat: f64, lon: f64, res: Resolution) -> CellIndex {
        h3o::LatLng::new(lat, lon).unwrap().to_cell(res)
    }
}
