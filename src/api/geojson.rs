//! An H3 cell as a GeoJSON geometry that every GeoJSON reader draws right
//! (RFC 7946): rings within [-180, 180], no edge crossing the antimeridian,
//! exterior rings counter-clockwise.
//!
//! A cell's boundary is a ring of vertices joined by great-circle arcs.
//! Written as it comes, a cell astride the antimeridian becomes one polygon
//! more than 180° wide that readers draw around the globe the other way
//! (§3.1.9), and the cell that holds a pole becomes a ring around no pole at
//! all. So a cell astride the antimeridian is cut there into two polygons,
//! and a pole's cell becomes a cap that runs along ±180° up to the pole.
//! Both cut each arc where its great circle meets ±180°, so the parts keep
//! the cell's area: h3o's own cut (`geo::MultiPolygon::from`) joins the
//! vertices by straight lines in degrees, which at coarse resolutions moves
//! the cut off the arc (2.7 % of a resolution-2 cell's area), and it does not
//! handle the poles.

use geo::orient::{Direction, Orient};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use h3o::{CellIndex, LatLng};
use serde_json::{Value, json};

/// The GeoJSON geometry of `cell`: a `Polygon`, or a `MultiPolygon` of the
/// two halves of a cell cut at the antimeridian.
pub fn cell_geometry(cell: CellIndex) -> Value {
    let shape = cell_shape(cell);
    match shape.0.as_slice() {
        [one] => json!({"type": "Polygon", "coordinates": polygon_coordinates(one)}),
        many => json!({
            "type": "MultiPolygon",
            "coordinates": many.iter().map(polygon_coordinates).collect::<Vec<_>>(),
        }),
    }
}

/// The cell as `geo` polygons in degrees (x longitude, y latitude), cut at
/// the antimeridian, exterior rings counter-clockwise.
pub fn cell_shape(cell: CellIndex) -> MultiPolygon {
    let shape = match held_pole(cell) {
        Some(pole) => MultiPolygon::new(vec![polar_cap(cell, pole)]),
        None => cut_at_antimeridian(cell),
    };
    shape.orient(Direction::Default)
}

/// The latitude of the pole inside `cell`, if one is.
fn held_pole(cell: CellIndex) -> Option<f64> {
    [90.0, -90.0].into_iter().find(|&lat| {
        LatLng::new(lat, 0.0)
            .map(|pole| pole.to_cell(cell.resolution()) == cell)
            .unwrap_or(false)
    })
}

/// A ring that winds once around the pole at latitude `pole`, as the area
/// between the ring and the pole: the boundary ordered by longitude, closed
/// along the ±180° meridians and the pole's own "edge".
fn polar_cap(cell: CellIndex, pole: f64) -> Polygon {
    let mut vertices: Vec<Coord> = cell
        .boundary()
        .iter()
        .map(|v| Coord { x: v.lng(), y: v.lat() })
        .collect();
    // Seen from the pole the boundary is star-shaped, so ordering by
    // longitude walks the ring once around it.
    vertices.sort_by(|a, b| a.x.total_cmp(&b.x));
    vertices.dedup_by(|a, b| a.x == b.x && a.y == b.y);
    let (Some(&west), Some(&east)) = (vertices.first(), vertices.last()) else {
        return Polygon::new(LineString::new(Vec::new()), Vec::new());
    };
    // The edge from the easternmost vertex to the westernmost crosses the
    // antimeridian; it meets ±180° where its great circle does, so that the
    // two parts still follow the cell's edge.
    let crossing = antimeridian_crossing(east, west);
    let mut ring = Vec::with_capacity(vertices.len() + 5);
    ring.push(Coord { x: -180.0, y: crossing });
    ring.extend(vertices);
    ring.push(Coord { x: 180.0, y: crossing });
    // The pole is one point, but a reader that joins vertices by straight
    // lines in longitude must not see an edge wider than 180°.
    ring.push(Coord { x: 180.0, y: pole });
    ring.push(Coord { x: 0.0, y: pole });
    ring.push(Coord { x: -180.0, y: pole });
    ring.dedup_by(|a, b| a.x == b.x && a.y == b.y);
    // `LineString` into `Polygon` closes the ring.
    Polygon::new(LineString::new(ring), Vec::new())
}

/// The cell's ring, cut into a western and an eastern polygon when it
/// crosses the antimeridian.
fn cut_at_antimeridian(cell: CellIndex) -> MultiPolygon {
    let ring: Vec<Coord> = cell
        .boundary()
        .iter()
        .map(|v| Coord { x: v.lng(), y: v.lat() })
        .collect();
    let crosses = ring
        .iter()
        .zip(ring.iter().cycle().skip(1))
        .any(|(a, b)| (a.x - b.x).abs() > 180.0);
    if !crosses {
        return MultiPolygon::new(vec![Polygon::new(LineString::new(ring), Vec::new())]);
    }
    // Longitudes in [0, 360): the cell is then in one piece around 180°.
    let shifted: Vec<Coord> = ring
        .iter()
        .map(|c| Coord {
            x: c.x.rem_euclid(360.0),
            y: c.y,
        })
        .collect();
    let west = clip(&shifted, |x| x <= 180.0);
    let east: Vec<Coord> = clip(&shifted, |x| x >= 180.0)
        .into_iter()
        .map(|c| Coord { x: c.x - 360.0, y: c.y })
        .collect();
    MultiPolygon::new(
        [west, east]
            .into_iter()
            .filter(|part| part.len() >= 3)
            .map(|part| Polygon::new(LineString::new(part), Vec::new()))
            .collect(),
    )
}

/// The part of `ring` (longitudes in [0, 360)) on the side of 180° that
/// `keep` accepts (Sutherland–Hodgman against one line), with the vertex
/// where an arc crosses 180° put on the arc's great circle.
fn clip(ring: &[Coord], keep: impl Fn(f64) -> bool) -> Vec<Coord> {
    let mut out = Vec::with_capacity(ring.len() + 2);
    for (i, &current) in ring.iter().enumerate() {
        let previous = ring[(i + ring.len() - 1) % ring.len()];
        let (now_in, before_in) = (keep(current.x), keep(previous.x));
        if now_in != before_in {
            out.push(Coord {
                x: 180.0,
                y: antimeridian_crossing(previous, current),
            });
        }
        if now_in {
            out.push(current);
        }
    }
    out.dedup_by(|a, b| a.x == b.x && a.y == b.y);
    out
}

/// The latitude at which the great circle through `a` and `b` (degrees)
/// meets the 180° meridian: the point `(-cos φ, 0, sin φ)` lies in the
/// circle's plane, so `tan φ = n_x / n_z` for its normal `n = a × b`.
fn antimeridian_crossing(a: Coord, b: Coord) -> f64 {
    let unit = |c: Coord| {
        let (lat, lon) = (c.y.to_radians(), c.x.to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    };
    let (p, q) = (unit(a), unit(b));
    let n = [
        p[1] * q[2] - p[2] * q[1],
        p[2] * q[0] - p[0] * q[2],
        p[0] * q[1] - p[1] * q[0],
    ];
    if n[2].abs() < f64::EPSILON {
        // A meridian arc (or the same point twice): it meets 180° nowhere
        // in particular; either end's latitude keeps the ring closed.
        return a.y;
    }
    (n[0] / n[2]).atan().to_degrees()
}

fn polygon_coordinates(polygon: &Polygon) -> Vec<Vec<[f64; 2]>> {
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .map(|ring| ring.coords().map(|c| [c.x, c.y]).collect())
        .collect()
}
