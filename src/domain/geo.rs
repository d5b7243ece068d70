//! Positions and bounding boxes, checked once: the rest of the code never
//! sees a non-finite or out-of-range coordinate.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// A WGS84 position whose coordinates are finite and in range.
///
/// Stored and sent as `{"lat": …, "lon": …}`; reading one back checks it
/// again, so that a stored record cannot bring a bad position in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LatLonFields", into = "LatLonFields")]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

/// A position's fields as written.
#[derive(Serialize, Deserialize)]
struct LatLonFields {
    lat: f64,
    lon: f64,
}

impl TryFrom<LatLonFields> for LatLon {
    type Error = String;

    fn try_from(f: LatLonFields) -> Result<Self, String> {
        Self::new(f.lat, f.lon).map_err(|e| e.message)
    }
}

impl From<LatLon> for LatLonFields {
    fn from(p: LatLon) -> Self {
        Self { lat: p.lat, lon: p.lon }
    }
}

impl LatLon {
    /// Checks `lat` ∈ [-90, 90] and `lon` ∈ [-180, 180], both finite.
    pub fn new(lat: f64, lon: f64) -> Result<Self, FieldError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(FieldError::new(
                "invalid_coordinates",
                "lat",
                "lat must be a finite number within [-90, 90]",
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(FieldError::new(
                "invalid_coordinates",
                "lon",
                "lon must be a finite number within [-180, 180]",
            ));
        }
        Ok(Self { lat, lon })
    }

    /// Latitude in decimal degrees.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in decimal degrees.
    pub fn lon(self) -> f64 {
        self.lon
    }
}

/// A lon/lat rectangle, `minLon,minLat,maxLon,maxLat` as in GeoJSON.
///
/// A box whose `min_lon` is greater than its `max_lon` crosses the
/// antimeridian, as RFC 7946 §5.2 allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    min: LatLon,
    max: LatLon,
}

impl BBox {
    /// Checks every corner and that the box is not upside down.
    pub fn new(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Result<Self, FieldError> {
        let bad = |e: FieldError| FieldError::new("invalid_bbox", "bbox", e.message);
        let min = LatLon::new(min_lat, min_lon).map_err(bad)?;
        let max = LatLon::new(max_lat, max_lon).map_err(bad)?;
        if min_lat > max_lat {
            return Err(FieldError::new(
                "invalid_bbox",
                "bbox",
                "bbox minLat must not exceed maxLat",
            ));
        }
        Ok(Self { min, max })
    }

    /// Parses `minLon,minLat,maxLon,maxLat`.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let parts: Vec<f64> = text
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                FieldError::new(
                    "invalid_bbox",
                    "bbox",
                    "bbox must be four numbers: minLon,minLat,maxLon,maxLat",
                )
            })?;
        Self::from_slice(&parts)
    }

    /// Builds a box from `[minLon, minLat, maxLon, maxLat]`.
    pub fn from_slice(parts: &[f64]) -> Result<Self, FieldError> {
        match parts {
            [a, b, c, d] => Self::new(*a, *b, *c, *d),
            _ => Err(FieldError::new(
                "invalid_bbox",
                "bbox",
                "bbox must be four numbers: minLon,minLat,maxLon,maxLat",
            )),
        }
    }

    /// Whether the point lies in the box (edges included).
    pub fn contains(&self, p: LatLon) -> bool {
        let lat_ok = (self.min.lat()..=self.max.lat()).contains(&p.lat());
        let lon_ok = if self.min.lon() <= self.max.lon() {
            (self.min.lon()..=self.max.lon()).contains(&p.lon())
        } else {
            p.lon() >= self.min.lon() || p.lon() <= self.max.lon()
        };
        lat_ok && lon_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_out_of_range_or_not_finite_are_refused() {
        assert!(LatLon::new(90.0, 180.0).is_ok());
        assert_eq!(LatLon::new(90.1, 0.0).unwrap_err().field.as_deref(), Some("lat"));
        assert_eq!(LatLon::new(0.0, -180.5).unwrap_err().field.as_deref(), Some("lon"));
        assert!(LatLon::new(f64::NAN, 0.0).is_err());
        assert!(LatLon::new(0.0, f64::INFINITY).is_err());
    }

    #[test]
    fn bbox_across_the_antimeridian_contains_both_sides() {
        let b = BBox::parse("170,-10,-170,10").unwrap();
        assert!(b.contains(LatLon::new(0.0, 175.0).unwrap()));
        assert!(b.contains(LatLon::new(0.0, -175.0).unwrap()));
        assert!(!b.contains(LatLon::new(0.0, 0.0).unwrap()));
    }

    #[test]
    fn bbox_text_must_hold_four_numbers_in_order() {
        assert!(BBox::parse("1,2,3").is_err());
        assert!(BBox::parse("a,b,c,d").is_err());
        assert!(BBox::parse("0,10,1,5").is_err());
        assert!(BBox::parse("11.3,44.4,11.4,44.6").is_ok());
    }
}
