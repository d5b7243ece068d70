//! The synthetic event of `serve --demo` and `simulate`: a scenario from
//! `geodata/scenarios/` turned into posts along its routes and phases. It
//! only makes posts; the ingest path takes them like any other.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::json;

const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

/// Texts by language.
type TextPool = std::collections::BTreeMap<String, Vec<String>>;

/// A synthetic event, loaded from `geodata/scenarios/NAME.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    /// File name without extension.
    pub name: String,
    /// One line for people.
    pub title: String,
    /// Seed of every random choice: the same seed plays the same event.
    pub seed: u64,
    /// Length of one play-through in seconds.
    pub duration_s: u64,
    /// Sources posts claim to come from.
    pub sources: Vec<String>,
    /// Size of the synthetic author pool.
    pub contributors: u32,
    /// The march route, `[lon, lat]` points in order.
    pub route: Vec<[f64; 2]>,
    /// What happens when.
    pub phases: Vec<Phase>,
    /// Scattered posts across the area, all the time.
    pub background: Background,
    /// Sample texts by language.
    pub texts: TextPool,
    /// Commanders' head-counts during the event, which calibrate the
    /// people estimates as real ones would.
    #[serde(default)]
    pub headcounts: Vec<ScenarioHeadcount>,
}

/// A commander counting the crowd in a zone at a moment of the event.
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioHeadcount {
    /// When, seconds into the scenario.
    pub at_s: u64,
    /// The zone counted.
    pub zone: String,
    /// How many people each poster there stands for in truth: the count is
    /// the zone's posters then times this, give or take the counter's error.
    pub people_per_poster: f64,
    /// The counter's error, as a share (0.1: within ±10 %).
    #[serde(default)]
    pub error: f64,
}

/// One part of the event.
#[derive(Debug, Clone, Deserialize)]
pub struct Phase {
    /// What it is.
    pub name: String,
    /// Start, seconds into the scenario.
    pub from_s: u64,
    /// End (exclusive).
    pub to_s: u64,
    /// Mean posts per second.
    pub rate_per_s: f64,
    /// The rate at the end of the phase, when it changes steadily over it
    /// (a crowd building up); the same as `rate_per_s` when absent.
    #[serde(default)]
    pub rate_end_per_s: Option<f64>,
    /// Every post of the phase is by someone who has not posted before:
    /// people arriving, each posting once, so that the posters in a window
    /// grow with the crowd instead of cycling through the same few.
    #[serde(default)]
    pub new_authors: bool,
    /// A fixed centre, `[lon, lat]`.
    #[serde(default)]
    pub at: Option<[f64; 2]>,
    /// Instead of a centre: the crowd walks the route from `from_s` to `to_s`.
    #[serde(default)]
    pub along_route: bool,
    /// Length of the marching crowd behind its head.
    #[serde(default)]
    pub head_length_m: f64,
    /// Standard deviation of positions around the centre or route.
    pub spread_m: f64,
    /// What this phase's people write, by language, instead of the
    /// scenario's texts: a brigade posting one call in many words.
    #[serde(default)]
    pub texts: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// Posts scattered uniformly over a box.
#[derive(Debug, Clone, Deserialize)]
pub struct Background {
    /// Mean posts per second.
    pub rate_per_s: f64,
    /// `[minLon, minLat, maxLon, maxLat]`.
    pub bbox: [f64; 4],
}

/// One generated post.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPost {
    /// Offset into the scenario, milliseconds.
    pub offset_ms: u64,
    /// Source.
    pub source: String,
    /// Unique id within the source.
    pub id: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Synthetic author.
    pub author: String,
    /// Text.
    pub text: String,
    /// Its language.
    pub lang: String,
}

impl SimPost {
    /// The post as one NDJSON line stamped `ts`.
    pub fn to_ndjson(&self, ts: DateTime<Utc>) -> String {
        json!({
            "source": self.source, "id": self.id,
            "lat": self.lat, "lon": self.lon,
            "ts": ts.to_rfc3339_opts(SecondsFormat::Millis, true),
            "author": self.author, "text": self.text, "lang": self.lang,
        })
        .to_string()
    }
}

impl Scenario {
    /// Loads `NAME` from `geodata_dir/scenarios/NAME.json`, or a path to a file.
    pub fn load(geodata_dir: &Path, name_or_path: &str) -> Result<Self, String> {
        let direct = Path::new(name_or_path);
        let path = if direct.extension().is_some_and(|e| e == "json") && direct.exists() {
            direct.to_path_buf()
        } else {
            geodata_dir.join("scenarios").join(format!("{name_or_path}.json"))
        };
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let scenario: Scenario = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        scenario.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), String> {
        if self.route.len() < 2 {
            return Err("route needs at least two points".into());
        }
        if self.sources.is_empty() || self.contributors == 0 || self.texts.values().all(Vec::is_empty) {
            return Err("sources, contributors and texts must not be empty".into());
        }
        for p in &self.phases {
            if p.texts.as_ref().is_some_and(|t| t.values().all(Vec::is_empty)) {
                return Err(format!("phase {:?}: its texts must not be empty", p.name));
            }
            if p.at.is_none() && !p.along_route {
                return Err(format!("phase {:?} needs `at` or `along_route`", p.name));
            }
            if p.rate_end_per_s.is_some_and(|r| !(r.is_finite() && r >= 0.0)) {
                return Err(format!("phase {:?}: rate_end_per_s must be a rate, 0 or more", p.name));
            }
        }
        for h in &self.headcounts {
            if h.at_s >= self.duration_s
                || !(h.people_per_poster.is_finite() && h.people_per_poster > 0.0)
                || !(0.0..1.0).contains(&h.error)
            {
                return Err(format!(
                    "head-count of {:?} at {} s: at_s within the scenario, people_per_poster above 0 and error in [0, 1)",
                    h.zone, h.at_s
                ));
            }
        }
        Ok(())
    }

    /// The posts of one second of one play-through, in time order. The same
    /// (cycle, second) always gives the same posts.
    pub fn second(&self, cycle: u64, second: u64) -> Vec<SimPost> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ (cycle << 32) ^ second.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut posts = Vec::new();
        let mut emit = |rng: &mut StdRng, lon: f64, lat: f64, n: usize, newcomer: Option<&str>, pool: &TextPool| {
            let source = &self.sources[rng.random_range(0..self.sources.len())];
            let langs: Vec<&String> = pool.keys().filter(|k| !pool[*k].is_empty()).collect();
            let lang = langs[rng.random_range(0..langs.len())];
            let texts = &pool[lang];
            posts.push(SimPost {
                offset_ms: second * 1000 + rng.random_range(0..1000),
                source: source.clone(),
                id: format!("{}-{cycle}-{second}-{n}", self.name),
                lat: (lat * 1e7).round() / 1e7,
                lon: (lon * 1e7).round() / 1e7,
                author: match newcomer {
                    Some(phase) => format!("demo-{phase}-{cycle}-{second}-{n}"),
                    None => format!("demo-{}", rng.random_range(0..self.contributors)),
                },
                text: texts[rng.random_range(0..texts.len())].clone(),
                lang: lang.clone(),
            });
        };
        let mut n = 0;
        let [min_lon, min_lat, max_lon, max_lat] = self.background.bbox;
        for _ in 0..poisson_ish(&mut rng, self.background.rate_per_s) {
            let (lon, lat) = (rng.random_range(min_lon..max_lon), rng.random_range(min_lat..max_lat));
            emit(&mut rng, lon, lat, n, None, &self.texts);
            n += 1;
        }
        for (index, phase) in self
            .phases
            .iter()
            .enumerate()
            .filter(|(_, p)| (p.from_s..p.to_s).contains(&second))
        {
            let newcomer = phase.new_authors.then(|| format!("p{index}"));
            for _ in 0..poisson_ish(&mut rng, phase.rate_at(second)) {
                let [lon, lat] = match phase.at {
                    Some(at) if !phase.along_route => at,
                    _ => {
                        let progress = (second - phase.from_s) as f64 / (phase.to_s - phase.from_s).max(1) as f64;
                        let head = self.route_length_m() * progress;
                        let behind = rng.random_range(0.0..=phase.head_length_m.max(0.0));
                        self.point_along_route((head - behind).max(0.0))
                    }
                };
                let (dx, dy) = (gaussian(&mut rng) * phase.spread_m, gaussian(&mut rng) * phase.spread_m);
                let lat2 = lat + dy / METRES_PER_DEGREE_LAT;
                let lon2 = lon + dx / (METRES_PER_DEGREE_LAT * lat.to_radians().cos());
                emit(
                    &mut rng,
                    lon2,
                    lat2,
                    n,
                    newcomer.as_deref(),
                    phase.texts.as_ref().unwrap_or(&self.texts),
                );
                n += 1;
            }
        }
        posts.sort_by_key(|p| p.offset_ms);
        posts
    }

    /// Every post of one play-through.
    pub fn all(&self) -> Vec<SimPost> {
        (0..self.duration_s).flat_map(|s| self.second(0, s)).collect()
    }

    fn route_length_m(&self) -> f64 {
        self.route.windows(2).map(|w| metres(w[0], w[1])).sum()
    }

    fn point_along_route(&self, mut distance: f64) -> [f64; 2] {
        for w in self.route.windows(2) {
            let leg = metres(w[0], w[1]);
            if distance <= leg && leg > 0.0 {
                let f = distance / leg;
                return [w[0][0] + (w[1][0] - w[0][0]) * f, w[0][1] + (w[1][1] - w[0][1]) * f];
            }
            distance -= leg;
        }
        self.route.last().copied().unwrap_or([0.0, 0.0])
    }
}

impl Phase {
    /// The mean rate at `second` of the scenario: steady, or moving in a
    /// straight line from `rate_per_s` to `rate_end_per_s` over the phase.
    fn rate_at(&self, second: u64) -> f64 {
        let Some(end) = self.rate_end_per_s else {
            return self.rate_per_s;
        };
        let span = self.to_s.saturating_sub(self.from_s).max(1) as f64;
        let progress = (second.saturating_sub(self.from_s) as f64 / span).min(1.0);
        self.rate_per_s + (end - self.rate_per_s) * progress
    }
}

impl ScenarioHeadcount {
    /// The number counted when the zone had `posters`: the truth times a
    /// counter's error drawn from the scenario's seed, so that the same
    /// event counts alike every time.
    pub fn people(&self, posters: u64, seed: u64, cycle: u64) -> u64 {
        let mut rng = StdRng::seed_from_u64(seed ^ self.at_s.rotate_left(17) ^ cycle);
        let error = if self.error > 0.0 {
            rng.random_range(-self.error..=self.error)
        } else {
            0.0
        };
        (posters as f64 * self.people_per_poster * (1.0 + error))
            .max(0.0)
            .round() as u64
    }
}

/// Equirectangular distance: exact enough over a city.
fn metres(a: [f64; 2], b: [f64; 2]) -> f64 {
    let lat = ((a[1] + b[1]) / 2.0).to_radians();
    let dx = (b[0] - a[0]) * METRES_PER_DEGREE_LAT * lat.cos();
    let dy = (b[1] - a[1]) * METRES_PER_DEGREE_LAT;
    dx.hypot(dy)
}

/// A count with mean `rate`: the integer part, plus one with the
/// probability of the fraction. Variance is lower than Poisson's, which a
/// demo does not mind.
fn poisson_ish(rng: &mut StdRng, rate: f64) -> usize {
    let whole = rate.max(0.0).floor();
    whole as usize + usize::from(rng.random_bool((rate - whole).clamp(0.0, 1.0)))
}

/// Standard normal by Box–Muller.
fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bologna() -> Scenario {
        Scenario::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/geodata")),
            "bologna-march",
        )
        .unwrap()
    }

    #[test]
    fn the_same_seed_plays_the_same_event() {
        let s = bologna();
        assert_eq!(s.second(0, 700), s.second(0, 700));
        assert_ne!(s.second(0, 700), s.second(1, 700));
    }

    /// Posts of one minute near the Neptune fountain, and their distinct
    /// authors.
    fn at_the_fountain(s: &Scenario, minute: u64) -> (usize, usize) {
        let posts: Vec<SimPost> = (minute * 60..minute * 60 + 60)
            .flat_map(|t| s.second(0, t))
            .filter(|p| metres([p.lon, p.lat], [11.3428, 44.4949]) < 25.0)
            .collect();
        let authors: std::collections::HashSet<&str> = posts.iter().map(|p| p.author.as_str()).collect();
        (posts.len(), authors.len())
    }

    #[test]
    fn the_crowd_at_the_fountain_builds_up_minute_after_minute_with_new_people() {
        // From minute 9, when the march has passed the fountain on its way to the piazza.
        let s = bologna();
        let minutes: Vec<(usize, usize)> = (9..14).map(|m| at_the_fountain(&s, m)).collect();
        for pair in minutes.windows(2) {
            assert!(pair[1].1 > pair[0].1, "the posters do not grow: {minutes:?}");
        }
        let (posts, authors) = minutes[minutes.len() - 1];
        // Newcomers post once: nearly every post is someone new.
        assert!(authors * 10 >= posts * 8, "{posts} posts by {authors}");
    }

    #[test]
    fn a_ramp_moves_the_rate_in_a_straight_line_over_its_phase() {
        let phase = Phase {
            name: "ramp".into(),
            from_s: 100,
            to_s: 200,
            rate_per_s: 1.0,
            rate_end_per_s: Some(3.0),
            new_authors: true,
            at: Some([0.0, 0.0]),
            along_route: false,
            head_length_m: 0.0,
            spread_m: 1.0,
            texts: None,
        };
        assert_eq!(phase.rate_at(100), 1.0);
        assert_eq!(phase.rate_at(150), 2.0);
        assert_eq!(phase.rate_at(250), 3.0);
        assert_eq!(
            Phase {
                rate_end_per_s: None,
                ..phase
            }
            .rate_at(150),
            1.0
        );
    }

    #[test]
    fn a_scenario_head_count_is_the_truth_within_the_counters_error_and_the_same_each_time() {
        let s = bologna();
        assert!(
            s.headcounts.len() >= 3,
            "the demo calibrates with at least three counts"
        );
        for h in &s.headcounts {
            let people = h.people(400, s.seed, 0);
            let truth = 400.0 * h.people_per_poster;
            assert!(
                (people as f64 - truth).abs() <= truth * h.error + 1.0,
                "{people} vs {truth}"
            );
            assert_eq!(people, h.people(400, s.seed, 0));
        }
    }

    #[test]
    fn a_head_count_outside_the_scenario_or_without_a_ratio_is_refused() {
        let mut s = bologna();
        s.headcounts[0].at_s = s.duration_s;
        assert!(s.check().is_err());
        let mut s = bologna();
        s.headcounts[0].people_per_poster = 0.0;
        assert!(s.check().is_err());
    }

    #[test]
    fn the_march_ends_in_piazza_maggiore() {
        let s = bologna();
        let end = s.point_along_route(s.route_length_m());
        assert!(metres(end, [11.3430, 44.4937]) < 30.0);
    }
}
