//! The event's zones: named places (perimeter, sectors, exits, first-aid
//! posts, assembly points) that broadcasts target and people reason in.
//! Built only from checked GeoJSON features, so a zone that exists has a
//! name, a known kind and a shape in range; reading them from disk is
//! `geodata`'s step.

use std::collections::HashMap;

use ::geo::{GeodesicArea, LineString, Orient, Polygon, orient::Direction};
use serde_json::{Map, Value, json};

use super::text::bounded;
use super::{Language, LatLon, Ring, Shape};
/// The kinds of zone an event has.
pub const ZONE_KINDS: [&str; 5] = ["perimeter", "sector", "exit", "first_aid", "assembly_point"];

/// A point zone (an exit, a first-aid post) covers this much around it.
const POINT_ZONE_RADIUS_M: f64 = 50.0;

/// Advice is read on a phone in a crowd: a sentence or two, not a page.
const MAX_ADVICE: usize = 280;

/// A zone's shape.
#[derive(Debug, Clone)]
pub enum ZoneShape {
    /// Polygons (exterior rings, `[lon, lat]`, closed, at least four
    /// positions each). Holes are not read: a zone is where people can be.
    Polygons(Vec<Vec<[f64; 2]>>),
    /// A point, `[lon, lat]`.
    Point([f64; 2]),
}

/// What the public is told to do in a zone, one text per language (BCP 47
/// tag), in tag order. Each text is XML-safe: it reaches pages and feeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advice(Vec<(Language, String)>);

impl Advice {
    /// The advice in exactly this language, if the zone gives one.
    pub fn get(&self, language: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(tag, _)| tag.as_str() == language)
            .map(|(_, text)| text.as_str())
    }

    /// Every language and its text, in tag order.
    pub fn iter(&self) -> impl Iterator<Item = (&Language, &str)> {
        self.0.iter().map(|(tag, text)| (tag, text.as_str()))
    }

    /// Whether the zone gives no advice.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Zone {
    name: String,
    kind: &'static str,
    shape: ZoneShape,
    /// What the zone covers, prepared once for containment checks.
    covers: Vec<Shape>,
    /// The geodesic area of the polygons; `None` for a point zone.
    footprint_m2: Option<f64>,
    capacity: Option<u32>,
    usable_area_m2: Option<f64>,
    advice: Advice,
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

    /// The polygons on the WGS84 ellipsoid, in square metres (Karney's
    /// algorithm, `geo`'s `GeodesicArea`); `None` for a point. Each ring is
    /// turned counter-clockwise first: the unsigned area of a clockwise ring
    /// would be the rest of the Earth.
    fn geodesic_area_m2(&self) -> Option<f64> {
        match self {
            ZoneShape::Polygons(rings) => Some(rings.iter().map(|ring| geodesic_ring_area_m2(ring)).sum()),
            ZoneShape::Point(_) => None,
        }
    }
}

/// The geodesic area of one closed `[lon, lat]` ring, in square metres.
fn geodesic_ring_area_m2(ring: &[[f64; 2]]) -> f64 {
    let exterior = LineString::from(ring.iter().map(|[lon, lat]| (*lon, *lat)).collect::<Vec<_>>());
    Polygon::new(exterior, vec![])
        .orient(Direction::Default)
        .geodesic_area_unsigned()
}

/// Every zone of the event.
#[derive(Debug, Clone)]
pub struct Zones {
    geojson: Value,
    by_id: HashMap<String, Zone>,
    /// The ids in the order of the files and their features.
    ids: Vec<String>,
}

/// A closed ring of at least four positions within range, or `None`.
fn ring(value: &Value) -> Option<Vec<[f64; 2]>> {
    let positions: Vec<[f64; 2]> = value
        .as_array()?
        .iter()
        .map(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?]))
        .collect::<Option<_>>()?;
    let in_range = positions
        .iter()
        .all(|[lon, lat]| (-180.0..=180.0).contains(lon) && (-90.0..=90.0).contains(lat));
    (positions.len() >= 4 && in_range && positions.first() == positions.last()).then_some(positions)
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

/// The optional properties that turn a zone into a place with people in it.
struct Optional {
    capacity: Option<u32>,
    usable_area_m2: Option<f64>,
    advice: Advice,
}

/// Reads `capacity`, `usable_area_m2` and `advice`, refusing a value that
/// would make a density or a page wrong rather than absent: a zero
/// capacity, a usable area larger than the ground it stands on (a typed
/// extra zero would hide a crush tenfold), advice in no language.
fn optional(props: &Value, footprint_m2: Option<f64>) -> Result<Optional, String> {
    let capacity = match &props["capacity"] {
        Value::Null => None,
        value => Some(
            value
                .as_u64()
                .filter(|c| *c > 0)
                .and_then(|c| u32::try_from(c).ok())
                .ok_or("capacity must be a positive whole number of people")?,
        ),
    };
    let usable_area_m2 = match &props["usable_area_m2"] {
        Value::Null => None,
        value => {
            let area = value
                .as_f64()
                .filter(|a| a.is_finite() && *a > 0.0)
                .ok_or("usable_area_m2 must be a positive number of square metres")?;
            let Some(footprint) = footprint_m2 else {
                return Err("usable_area_m2 needs a Polygon or MultiPolygon: a point has no area".into());
            };
            if area > footprint {
                return Err(format!(
                    "usable_area_m2 {area} is larger than the zone's geodesic area {footprint:.0} m²"
                ));
            }
            Some(area)
        }
    };
    let advice = match &props["advice"] {
        Value::Null => Advice::default(),
        Value::Object(by_language) => advice(by_language)?,
        _ => return Err("advice must be an object of language tag to text, e.g. {\"en\": \"…\"}".into()),
    };
    Ok(Optional {
        capacity,
        usable_area_m2,
        advice,
    })
}

fn advice(by_language: &Map<String, Value>) -> Result<Advice, String> {
    let mut texts = Vec::with_capacity(by_language.len());
    for (tag, text) in by_language {
        let language = Language::parse(tag)
            .map_err(|_| format!("advice key {tag:?} must be a BCP 47 language tag such as en or pt-BR"))?;
        let field = format!("advice.{tag}");
        let text = text
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("{field} must be a non-empty text"))?;
        texts.push((language, bounded(text, MAX_ADVICE, field).map_err(|e| e.message)?));
    }
    texts.sort_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
    Ok(Advice(texts))
}

impl Default for Zones {
    fn default() -> Self {
        Self {
            geojson: json!({"type": "FeatureCollection", "features": []}),
            by_id: HashMap::new(),
            ids: Vec::new(),
        }
    }
}

impl Zones {
    /// Merges FeatureCollections, each named by where it came from. A
    /// feature without a string `id`, `name`, a known `kind` and a Point or
    /// Polygon geometry, or with a bad optional property (`capacity`,
    /// `usable_area_m2`, `advice`), is refused with its source named: a
    /// broken zones file must stop the start-up, not silently hide an exit.
    pub fn from_collections<'a>(collections: impl IntoIterator<Item = (String, &'a Value)>) -> Result<Self, String> {
        let mut features = Vec::new();
        let mut by_id = HashMap::new();
        let mut ids = Vec::new();
        for (source, doc) in collections {
            let Some(list) = doc["features"].as_array() else {
                return Err(format!("{source}: not a FeatureCollection"));
            };
            for (i, f) in list.iter().enumerate() {
                let props = &f["properties"];
                let kind = props["kind"]
                    .as_str()
                    .and_then(|k| ZONE_KINDS.iter().find(|known| **known == k));
                let parsed = match (props["id"].as_str(), props["name"].as_str(), kind) {
                    (Some(id), Some(name), Some(kind)) => shape(&f["geometry"])
                        .and_then(|shape| Some((id.to_owned(), name.to_owned(), *kind, shape.prepared()?, shape))),
                    _ => None,
                };
                let Some((id, name, kind, covers, shape)) = parsed else {
                    return Err(format!(
                        "{source}: feature {i} needs a Point (within range) or Polygon (closed rings of at least \
                         four positions within range) and string id, name and kind (one of {})",
                        ZONE_KINDS.join(", ")
                    ));
                };
                let footprint_m2 = shape.geodesic_area_m2();
                let Optional {
                    capacity,
                    usable_area_m2,
                    advice,
                } = optional(props, footprint_m2).map_err(|e| format!("{source}: zone {id:?}: {e}"))?;
                let zone = Zone {
                    name,
                    kind,
                    shape,
                    covers,
                    footprint_m2,
                    capacity,
                    usable_area_m2,
                    advice,
                };
                if by_id.insert(id.clone(), zone).is_some() {
                    return Err(format!("{source}: zone id {id:?} is used twice"));
                }
                ids.push(id);
                features.push(f.clone());
            }
        }
        Ok(Self {
            geojson: json!({"type": "FeatureCollection", "features": features}),
            by_id,
            ids,
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

    /// Every zone id, in the order of the files and their features.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// A zone's kind, one of [`ZONE_KINDS`].
    pub fn kind(&self, id: &str) -> Option<&'static str> {
        self.by_id.get(id).map(|z| z.kind)
    }

    /// How many people the zone holds, when the file says.
    pub fn capacity(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).and_then(|z| z.capacity)
    }

    /// The area left to people where obstructions take space, when the
    /// file says.
    pub fn usable_area_m2(&self, id: &str) -> Option<f64> {
        self.by_id.get(id).and_then(|z| z.usable_area_m2)
    }

    /// The geodesic area of the zone's polygons; `None` for a point zone.
    /// What "smallest zone" compares: the ground, not what is left of it.
    pub fn geodesic_area_m2(&self, id: &str) -> Option<f64> {
        self.by_id.get(id).and_then(|z| z.footprint_m2)
    }

    /// The area densities divide by: `usable_area_m2` when given, else the
    /// geodesic area of the polygons; `None` for a point zone.
    pub fn area_m2(&self, id: &str) -> Option<f64> {
        self.by_id.get(id).and_then(|z| z.usable_area_m2.or(z.footprint_m2))
    }

    /// What the public is told to do in the zone, per language (empty when
    /// the file gives none); `None` for an unknown zone.
    pub fn advice(&self, id: &str) -> Option<&Advice> {
        self.by_id.get(id).map(|z| &z.advice)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SQUARE: [[f64; 2]; 5] = [
        [11.3, 44.5],
        [11.3125, 44.5],
        [11.3125, 44.509],
        [11.3, 44.509],
        [11.3, 44.5],
    ];

    fn one(properties: Value, geometry: Value) -> Result<Zones, String> {
        let mut props = json!({"id": "z", "name": "Zone", "kind": "sector"});
        if let (Some(all), Some(extra)) = (props.as_object_mut(), properties.as_object()) {
            all.extend(extra.clone());
        }
        let doc = json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": geometry, "properties": props}]});
        Zones::from_collections([("zones/event.geojson".to_owned(), &doc)])
    }

    fn square(properties: Value) -> Result<Zones, String> {
        one(properties, json!({"type": "Polygon", "coordinates": [SQUARE]}))
    }

    #[test]
    fn a_square_kilometre_has_its_geodesic_area_within_one_percent() {
        // 0.0125° of longitude at 44.5° N: 111,320 · cos 44.5° · 0.0125 ≈ 992.5 m;
        // 0.009° of latitude ≈ 1,000.9 m, so about 993,400 m².
        let zones = square(json!({})).unwrap();
        let area = zones.area_m2("z").unwrap();
        assert!((area / 993_400.0 - 1.0).abs() < 0.01, "{area}");
        assert_eq!(zones.geodesic_area_m2("z"), Some(area));
    }

    #[test]
    fn usable_area_replaces_the_geodesic_area_and_capacity_and_advice_are_read() {
        let zones = square(json!({"capacity": 12900, "usable_area_m2": 6000.5,
                                  "advice": {"it": "Affollato: uscite da Via Rizzoli", "en": "Busy: leave by Via Rizzoli"}}))
        .unwrap();
        assert_eq!(zones.area_m2("z"), Some(6000.5));
        assert_eq!(zones.usable_area_m2("z"), Some(6000.5));
        assert_eq!(zones.capacity("z"), Some(12900));
        let advice = zones.advice("z").unwrap();
        assert_eq!(advice.get("en"), Some("Busy: leave by Via Rizzoli"));
        let tags: Vec<&str> = advice.iter().map(|(tag, _)| tag.as_str()).collect();
        assert_eq!(tags, ["en", "it"]);
        assert_eq!(zones.kind("z"), Some("sector"));
    }

    #[test]
    fn a_point_zone_has_no_area() {
        let zones = one(
            json!({"kind": "exit"}),
            json!({"type": "Point", "coordinates": [11.34, 44.49]}),
        )
        .unwrap();
        assert_eq!(zones.area_m2("z"), None);
        assert!(zones.advice("z").unwrap().is_empty());
        let err = one(
            json!({"kind": "exit", "usable_area_m2": 10}),
            json!({"type": "Point", "coordinates": [11.34, 44.49]}),
        )
        .unwrap_err();
        assert!(err.contains("a point has no area"), "{err}");
    }

    #[test]
    fn bad_optional_properties_are_refused_with_the_file_and_zone_named() {
        for (props, words) in [
            (json!({"capacity": 0}), "capacity"),
            (json!({"capacity": 1.5}), "capacity"),
            (json!({"capacity": "many"}), "capacity"),
            (json!({"usable_area_m2": -3}), "usable_area_m2"),
            (
                json!({"usable_area_m2": 5_000_000}),
                "larger than the zone's geodesic area",
            ),
            (json!({"advice": "go home"}), "advice must be an object"),
            (json!({"advice": {"english!": "go"}}), "language tag"),
            (json!({"advice": {"en": "  "}}), "advice.en"),
            (json!({"advice": {"en": 3}}), "advice.en"),
            (json!({"advice": {"en": "ab\u{1B}[31m"}}), "U+001B"),
            (json!({"advice": {"en": "a".repeat(MAX_ADVICE + 1)}}), "at most"),
        ] {
            let err = square(props.clone()).unwrap_err();
            assert!(err.starts_with("zones/event.geojson: zone \"z\": "), "{props}: {err}");
            assert!(err.contains(words), "{props}: {err}");
        }
    }

    #[test]
    fn an_open_or_out_of_range_ring_is_refused() {
        for ring in [
            json!([[11.3, 44.5], [11.31, 44.5], [11.31, 44.51], [11.3, 44.51]]),
            json!([[11.3, 44.5], [11.31, 44.5], [11.3, 44.5]]),
            json!([[11.3, 44.5], [191.0, 44.5], [11.31, 44.51], [11.3, 44.5]]),
        ] {
            let err = one(json!({}), json!({"type": "Polygon", "coordinates": [ring]})).unwrap_err();
            assert!(err.contains("zones/event.geojson: feature 0"), "{err}");
        }
    }
}
