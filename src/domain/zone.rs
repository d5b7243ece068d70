//! The event's zones: named places (perimeter, sectors, exits, first-aid
//! posts, assembly points) that broadcasts target and people reason in.
//! Built only from checked GeoJSON features, so a zone that exists has a
//! name, a known kind and a shape in range; reading them from disk is
//! `geodata`'s step.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{LatLon, Ring, Shape};
/// The kinds of zone an event has.
pub const ZONE_KINDS: [&str; 5] = ["perimeter", "sector", "exit", "first_aid", "assembly_point"];

/// A point zone (an exit, a first-aid post) covers this much around it.
const POINT_ZONE_RADIUS_M: f64 = 50.0;

/// A zone's shape.
#[derive(Debug, Clone)]
pub enum ZoneShape {
    /// Polygons (exterior rings, `[lon, lat]`).
    Polygons(Vec<Vec<[f64; 2]>>),
    /// A point, `[lon, lat]`.
    Point([f64; 2]),
}

#[derive(Debug, Clone)]
struct Zone {
    name: String,
    shape: ZoneShape,
    /// What the zone covers, prepared once for containment checks.
    covers: Vec<Shape>,
}

impl ZoneShape {
    /// The shapes a point must fall in to be in the zone; `None` when a
    /// point zone's position is out of range.
    fn prepared(&self) -> Option<Vec<Shape>> {
        match self {
            ZoneShape::Polygons(rings) => Some(rings.iter().map(|r| Shape::Ring(Ring::new(r.clone()))).collect()),
            ZoneShape::Point([lon, lat]) => Some(vec![Shape::Disc {
                centre: LatLon::new(*lat, *lon).ok()?,
                radius_m: POINT_ZONE_RADIUS_M,
            }]),
        }
    }
}

/// Every zone of the event.
#[derive(Debug, Clone)]
pub struct Zones {
    geojson: Value,
    by_id: HashMap<String, Zone>,
}

fn ring(value: &Value) -> Option<Vec<[f64; 2]>> {
    value
        .as_array()?
        .iter()
        .map(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?]))
        .collect()
}

fn shape(geometry: &Value) -> Option<ZoneShape> {
    let coords = &geometry["coordinates"];
    match geometry["type"].as_str()? {
        "Point" => Some(ZoneShape::Point([coords.get(0)?.as_f64()?, coords.get(1)?.as_f64()?])),
        "Polygon" => Some(ZoneShape::Polygons(vec![ring(coords.get(0)?)?])),
        "MultiPolygon" => Some(ZoneShape::Polygons(
            coords
                .as_array()?
                .iter()
                .map(|p| ring(p.get(0)?))
                .collect::<Option<_>>()?,
        )),
        _ => None,
    }
}

impl Default for Zones {
    fn default() -> Self {
        Self {
            geojson: json!({"type": "FeatureCollection", "features": []}),
            by_id: HashMap::new(),
        }
    }
}

impl Zones {
    /// Merges FeatureCollections, each named by where it came from. A
    /// feature without a string `id`, `name`, a known `kind` and a Point or
    /// Polygon geometry is refused with its source named: a broken zones
    /// file must stop the start-up, not silently hide an exit.
    pub fn from_collections<'a>(collections: impl IntoIterator<Item = (String, &'a Value)>) -> Result<Self, String> {
        let mut features = Vec::new();
        let mut by_id = HashMap::new();
        for (source, doc) in collections {
            let Some(list) = doc["features"].as_array() else {
                return Err(format!("{source}: not a FeatureCollection"));
            };
            for (i, f) in list.iter().enumerate() {
                let props = &f["properties"];
                let parsed = match (props["id"].as_str(), props["name"].as_str(), props["kind"].as_str()) {
                    (Some(id), Some(name), Some(kind)) if ZONE_KINDS.contains(&kind) => shape(&f["geometry"])
                        .and_then(|shape| Some((id.to_owned(), name.to_owned(), shape.prepared()?, shape))),
                    _ => None,
                };
                let Some((id, name, covers, shape)) = parsed else {
                    return Err(format!(
                        "{source}: feature {i} needs a Point (within range) or Polygon and string id, name and kind (one of {})",
                        ZONE_KINDS.join(", ")
                    ));
                };
                if by_id.insert(id.clone(), Zone { name, shape, covers }).is_some() {
                    return Err(format!("{source}: zone id {id:?} is used twice"));
                }
                features.push(f.clone());
            }
        }
        Ok(Self {
            geojson: json!({"type": "FeatureCollection", "features": features}),
            by_id,
        })
    }

    /// The smallest box around every zone, `[minLon, minLat, maxLon,
    /// maxLat]`, or `None` without zones: where the pages open the map.
    pub fn extent(&self) -> Option<[f64; 4]> {
        let points = self.by_id.values().flat_map(|z| match &z.shape {
            ZoneShape::Point(p) => vec![*p],
            ZoneShape::Polygons(rings) => rings.iter().flatten().copied().collect(),
        });
        points.fold(None, |acc: Option<[f64; 4]>, [lon, lat]| {
            Some(match acc {
                None => [lon, lat, lon, lat],
                Some([a, b, c, d]) => [a.min(lon), b.min(lat), c.max(lon), d.max(lat)],
            })
        })
    }

    /// The zones as one GeoJSON FeatureCollection.
    pub fn geojson(&self) -> &Value {
        &self.geojson
    }

    /// Whether a zone has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// A zone's name.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|z| z.name.as_str())
    }

    /// A zone's shape.
    pub fn shape(&self, id: &str) -> Option<&ZoneShape> {
        self.by_id.get(id).map(|z| &z.shape)
    }

    /// Whether the zone covers the point.
    pub fn covers(&self, id: &str, p: LatLon) -> bool {
        self.by_id
            .get(id)
            .is_some_and(|z| z.covers.iter().any(|shape| shape.contains(p)))
    }

    /// How far around a point zone it reaches, for CAP circles.
    pub fn point_radius_m() -> f64 {
        POINT_ZONE_RADIUS_M
    }
}
