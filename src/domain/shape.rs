//! Where a point is: the one geometry that zones and broadcast areas share,
//! prepared once when it is read so that a containment check, asked for
//! every subscriber and every message, rebuilds nothing.

use std::ops::Deref;

use ::geo::{BoundingRect, Contains, Distance, Haversine, Intersects, Point, Polygon, Rect};
use serde::{Deserialize, Serialize};

use super::LatLon;

/// A closed ring of `[lon, lat]` positions with its polygon and bounding box
/// built once. Written as the positions alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Vec<[f64; 2]>", into = "Vec<[f64; 2]>")]
pub struct Ring {
    positions: Vec<[f64; 2]>,
    polygon: Polygon,
    /// `None` for a ring without positions, which contains nothing.
    bounds: Option<Rect>,
}

impl Ring {
    /// Prepares a ring; its positions are `[lon, lat]` as in GeoJSON.
    pub fn new(positions: Vec<[f64; 2]>) -> Self {
        let polygon = Polygon::new(positions.iter().map(|[x, y]| (*x, *y)).collect(), vec![]);
        let bounds = polygon.bounding_rect();
        Self {
            positions,
            polygon,
            bounds,
        }
    }

    /// Whether the point lies inside the ring. The box is checked first:
    /// most points are far from most rings.
    pub fn contains(&self, p: LatLon) -> bool {
        let point = Point::new(p.lon(), p.lat());
        self.bounds.is_some_and(|b| b.intersects(&point)) && self.polygon.contains(&point)
    }
}

impl Deref for Ring {
    type Target = [[f64; 2]];

    fn deref(&self) -> &Self::Target {
        &self.positions
    }
}

impl PartialEq for Ring {
    fn eq(&self, other: &Self) -> bool {
        self.positions == other.positions
    }
}

impl From<Vec<[f64; 2]>> for Ring {
    fn from(positions: Vec<[f64; 2]>) -> Self {
        Self::new(positions)
    }
}

impl From<Ring> for Vec<[f64; 2]> {
    fn from(ring: Ring) -> Self {
        ring.positions
    }
}

/// A shape a point can be in: a ring, or a disc on the sphere.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Inside a ring.
    Ring(Ring),
    /// Within `radius_m` metres (great-circle distance) of `centre`.
    Disc {
        /// The centre.
        centre: LatLon,
        /// The radius in metres.
        radius_m: f64,
    },
}

impl Shape {
    /// Whether the shape covers `p`.
    pub fn contains(&self, p: LatLon) -> bool {
        match self {
            Shape::Ring(ring) => ring.contains(p),
            Shape::Disc { centre, radius_m } => {
                Haversine.distance(Point::new(centre.lon(), centre.lat()), Point::new(p.lon(), p.lat())) <= *radius_m
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Ring {
        Ring::new(vec![
            [11.0, 44.0],
            [12.0, 44.0],
            [12.0, 45.0],
            [11.0, 45.0],
            [11.0, 44.0],
        ])
    }

    fn at(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    #[test]
    fn a_ring_contains_its_inside_only() {
        let ring = Shape::Ring(square());
        assert!(ring.contains(at(44.5, 11.5)));
        assert!(!ring.contains(at(44.5, 12.5)));
        assert!(!Shape::Ring(Ring::new(vec![])).contains(at(44.5, 11.5)));
    }

    #[test]
    fn a_disc_measures_on_the_sphere() {
        let disc = Shape::Disc {
            centre: at(44.4937, 11.3430),
            radius_m: 50.0,
        };
        assert!(disc.contains(at(44.4940, 11.3430)));
        assert!(!disc.contains(at(44.4947, 11.3430)));
    }

    #[test]
    fn a_ring_is_written_as_its_positions() {
        let json = serde_json::to_string(&square()).unwrap();
        assert_eq!(json, "[[11.0,44.0],[12.0,44.0],[12.0,45.0],[11.0,45.0],[11.0,44.0]]");
        assert_eq!(serde_json::from_str::<Ring>(&json).unwrap(), square());
    }
}
