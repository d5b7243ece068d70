//! Trends (DESIGN §10): the terms rising per place (a zone or a hotspot cell
//! at the alert resolution), shown only once at least k distinct
//! contributors used them there in the window, ranked by growth against the
//! window before.
//!
//! Pure: the hub feeds each post's terms ([`crate::integrity::terms`]), its
//! places, time and contributor in the engine's order, and asks at its
//! tick's `now`. Everything that comes out is sorted on a total order, so the
//! hash maps inside never show their order and two nodes fed alike answer
//! alike.
//!
//! # Memory
//!
//! Counts are kept per (place, term, minute): the posts, and the contributor
//! hashes, at most [`CONTRIBUTORS_KEPT`] of them (or k if larger) per
//! minute, the smallest ones. Up to that cap the distinct count of a window
//! is exact, so k − 1 contributors never show a term and k always do. Beyond
//! it the term is shown anyway (the cap is at least k), and the figure, which
//! then only ranks, is the K-minimum-values estimate from the smallest
//! hashes of the window (within about 6 % at 256). A place holds at most
//! [`TERMS_PER_PLACE`] terms: past it, the eighth with the fewest
//! contributors is dropped, so junk words cannot crowd out a rising term.

use std::collections::{HashMap, VecDeque};

use foldhash::fast::FixedState;
use h3o::CellIndex;

use crate::integrity::neardup::mix64;

/// Contributor hashes kept per (place, term, minute) when k is smaller.
pub const CONTRIBUTORS_KEPT: usize = 256;

/// Terms a place holds before its least used are dropped.
pub const TERMS_PER_PLACE: usize = 50_000;

/// Counts are aggregated per minute: a window is a whole number of minutes.
const SLOT_SECS: i64 = 60;

/// Mixed into contributor hashes so that the kept minimum is uniform even
/// when contributors are small numbers.
const SEED: u64 = 0x7472_656e_6473_2121; // "trends!!"

/// Where a term is counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    /// A named zone, by its id.
    Zone(String),
    /// A cell at the alert resolution.
    Cell(CellIndex),
}

/// A term of a place at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Trend {
    /// The term or `#hashtag`.
    pub term: String,
    /// Distinct contributors in the window.
    pub contributors: u64,
    /// Posts in the window.
    pub posts: u64,
    /// Distinct contributors in the window before.
    pub before: u64,
    /// `(contributors + 1) / (before + 1)`.
    pub growth: f64,
}

/// The terms of every place over the last two windows.
#[derive(Debug, Clone)]
pub struct TrendBook {
    /// Minutes per window.
    slots: i64,
    k: u64,
    keep: usize,
    places: HashMap<Place, HashMap<String, Series, FixedState>, FixedState>,
}

/// One term at one place, minute by minute.
///
/// The newest minute is held inline: posts arrive in time order, so nearly
/// every post lands there, and at 20,000 posts/s a book holds tens of
/// thousands of series, most out of the processor's caches. Inline, a post
/// that a full minute does not keep costs the one miss of finding the
/// series, not four.
#[derive(Debug, Clone)]
struct Series {
    /// Before `newest`, oldest first.
    older: VecDeque<Minute>,
    /// The latest minute with a post: a series begins with its first.
    newest: Minute,
}

#[derive(Debug, Clone)]
struct Minute {
    /// Unix minutes: `at / 60`.
    minute: i64,
    posts: u64,
    /// The smallest mixed contributor hashes, ascending, distinct.
    hashes: Vec<u64>,
    /// The last of `hashes`, held beside them.
    largest: u64,
    /// Whether some hash did not fit.
    saturated: bool,
}

impl Minute {
    fn new(minute: i64) -> Self {
        Minute {
            minute,
            posts: 0,
            hashes: Vec::new(),
            largest: 0,
            saturated: false,
        }
    }

    fn record(&mut self, hash: u64, keep: usize) {
        self.posts += 1;
        // Once a busy minute is full, nearly every hash is above the kept
        // ones: one look at the largest, held inline, and nothing else.
        if self.hashes.len() >= keep && hash > self.largest {
            self.saturated = true;
            return;
        }
        if let Err(pos) = self.hashes.binary_search(&hash) {
            if pos >= keep {
                self.saturated = true;
            } else {
                self.hashes.insert(pos, hash);
                if self.hashes.len() > keep {
                    self.hashes.pop();
                    self.saturated = true;
                }
            }
        }
        self.largest = self.hashes.last().copied().unwrap_or(0);
    }
}

/// What a window of a series holds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tally {
    contributors: u64,
    posts: u64,
}

impl TrendBook {
    /// An empty book for windows of `window_secs` (rounded up to whole
    /// minutes, at least one) showing terms from `k` distinct contributors
    /// (at least 1).
    pub fn new(window_secs: i64, k: u64) -> Self {
        let slots = (window_secs.max(1) + SLOT_SECS - 1) / SLOT_SECS;
        let k = k.max(1);
        let keep = usize::try_from(k).unwrap_or(usize::MAX).max(CONTRIBUTORS_KEPT);
        TrendBook {
            slots,
            k,
            keep,
            places: HashMap::with_hasher(FixedState::default()),
        }
    }

    /// One post's terms at its places (its smallest zone(s) and its cell at
    /// the alert resolution), at Unix time `at`, by `contributor`. A term or
    /// place given twice counts once.
    pub fn add(&mut self, at: i64, places: &[Place], contributor: u64, terms: &[String]) {
        let minute = at.div_euclid(SLOT_SECS);
        let hash = mix64(contributor ^ SEED);
        for (i, place) in places.iter().enumerate() {
            if places[..i].contains(place) {
                continue;
            }
            if !self.places.contains_key(place) {
                self.places
                    .insert(place.clone(), HashMap::with_hasher(FixedState::default()));
            }
            let Some(series) = self.places.get_mut(place) else {
                continue;
            };
            for (j, term) in terms.iter().enumerate() {
                if terms[..j].contains(term) {
                    continue;
                }
                match series.get_mut(term.as_str()) {
                    Some(one) => one.record(minute, hash, self.keep),
                    None => {
                        let mut one = Series {
                            older: VecDeque::new(),
                            newest: Minute::new(minute),
                        };
                        one.record(minute, hash, self.keep);
                        series.insert(term.clone(), one);
                    }
                }
            }
            if series.len() > TERMS_PER_PLACE {
                trim(series);
            }
        }
    }

    /// Forgets what is older than two windows before `now`.
    pub fn expire(&mut self, now: i64) {
        let (_, before) = self.windows(now);
        self.places.retain(|_, terms| {
            terms.retain(|_, series| {
                while series.older.front().is_some_and(|m| m.minute < before.0) {
                    series.older.pop_front();
                }
                series.newest.minute >= before.0
            });
            !terms.is_empty()
        });
    }

    /// The rising terms of a place at `now`: only terms with at least k
    /// distinct contributors in the window, ranked by growth, then
    /// contributors, then term; at most `limit`.
    ///
    /// The window is the last `window / 60` minutes, the current one
    /// included; the window before, as many minutes just before those.
    pub fn top(&self, now: i64, place: &Place, limit: usize) -> Vec<Trend> {
        let Some(terms) = self.places.get(place) else {
            return Vec::new();
        };
        let (window, before) = self.windows(now);
        let mut scratch = Vec::new();
        let mut trends: Vec<Trend> = terms
            .iter()
            .filter_map(|(term, series)| {
                let now = self.shown(series, window, &mut scratch)?;
                let before = series.tally(before, self.keep, &mut scratch).contributors;
                Some(Trend {
                    term: term.clone(),
                    contributors: now.contributors,
                    posts: now.posts,
                    before,
                    growth: (now.contributors as f64 + 1.0) / (before as f64 + 1.0),
                })
            })
            .collect();
        trends.sort_by(|a, b| {
            b.growth
                .total_cmp(&a.growth)
                .then(b.contributors.cmp(&a.contributors))
                .then_with(|| a.term.cmp(&b.term))
        });
        trends.truncate(limit);
        trends
    }

    /// Places with at least one term shown at `now`, sorted.
    pub fn places(&self, now: i64) -> Vec<Place> {
        let (window, _) = self.windows(now);
        let mut scratch = Vec::new();
        let mut places: Vec<Place> = self
            .places
            .iter()
            .filter(|(_, terms)| {
                terms
                    .values()
                    .any(|series| self.shown(series, window, &mut scratch).is_some())
            })
            .map(|(place, _)| place.clone())
            .collect();
        places.sort_unstable();
        places
    }

    /// The minutes of the window ending at `now` and of the one before, each
    /// as an inclusive range.
    fn windows(&self, now: i64) -> ((i64, i64), (i64, i64)) {
        let current = now.div_euclid(SLOT_SECS);
        let start = current - self.slots + 1;
        ((start, current), (start - self.slots, start - 1))
    }

    /// The window's tally when the term is shown in it.
    fn shown(&self, series: &Series, window: (i64, i64), scratch: &mut Vec<u64>) -> Option<Tally> {
        // The hashes kept bound the distinct count from above: most series
        // are dismissed without a merge.
        let kept: usize = series.in_range(window).map(|m| m.hashes.len()).sum();
        if (kept as u64) < self.k {
            return None;
        }
        Some(series.tally(window, self.keep, scratch)).filter(|tally| tally.contributors >= self.k)
    }
}

impl Series {
    fn record(&mut self, minute: i64, hash: u64, keep: usize) {
        if minute == self.newest.minute {
            return self.newest.record(hash, keep);
        }
        if minute > self.newest.minute {
            let done = std::mem::replace(&mut self.newest, Minute::new(minute));
            self.older.push_back(done);
            return self.newest.record(hash, keep);
        }
        // A late post: into its minute among the older ones.
        let at = match self.older.binary_search_by_key(&minute, |m| m.minute) {
            Ok(at) => at,
            Err(at) => {
                self.older.insert(at, Minute::new(minute));
                at
            }
        };
        if let Some(slot) = self.older.get_mut(at) {
            slot.record(hash, keep);
        }
    }

    /// Every minute held, oldest first.
    fn minutes(&self) -> impl Iterator<Item = &Minute> {
        self.older.iter().chain(std::iter::once(&self.newest))
    }

    fn in_range(&self, (from, to): (i64, i64)) -> impl Iterator<Item = &Minute> {
        self.minutes()
            .skip_while(move |m| m.minute < from)
            .take_while(move |m| m.minute <= to)
    }

    /// Distinct contributors and posts over the minutes `from..=to`.
    fn tally(&self, range: (i64, i64), keep: usize, scratch: &mut Vec<u64>) -> Tally {
        scratch.clear();
        let (mut posts, mut saturated) = (0, false);
        for minute in self.in_range(range) {
            posts += minute.posts;
            saturated |= minute.saturated;
            scratch.extend_from_slice(&minute.hashes);
        }
        scratch.sort_unstable();
        scratch.dedup();
        let mut contributors = scratch.len() as u64;
        if saturated {
            // Each minute kept its smallest hashes, so the union's smallest
            // `keep` are the window's: the K-minimum-values estimate.
            if let Some(&kth) = scratch.get(keep - 1) {
                let estimate = (keep - 1) as f64 * (u64::MAX as f64 / kth.max(1) as f64);
                contributors = contributors.max(estimate as u64);
            }
        }
        Tally { contributors, posts }
    }

    /// Contributor hashes held, all minutes: what a trim weighs.
    fn weight(&self) -> usize {
        self.minutes().map(|m| m.hashes.len()).sum()
    }
}

/// Drops the eighth of a place's terms with the fewest contributor hashes
/// held, then the least recent, then the last in order.
fn trim(terms: &mut HashMap<String, Series, FixedState>) {
    let mut ranked: Vec<(usize, i64, &String)> = terms
        .iter()
        .map(|(term, series)| (series.weight(), series.newest.minute, term))
        .collect();
    ranked.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then_with(|| b.2.cmp(a.2)));
    let drop: Vec<String> = ranked
        .iter()
        .take(terms.len() / 8)
        .map(|(_, _, term)| (*term).clone())
        .collect();
    for term in drop {
        terms.remove(&term);
    }
}

#[cfg(test)]
mod tests {
    use h3o::{LatLng, Resolution};

    use super::*;

    const K: u64 = 5;
    const WINDOW: i64 = 600;
    /// A round minute, so that the window is exactly [NOW - 540, NOW + 59].
    const NOW: i64 = 30_000_000 * 60;

    fn zone(name: &str) -> Place {
        Place::Zone(name.to_owned())
    }

    fn terms(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    fn shown(book: &TrendBook, place: &Place) -> Vec<String> {
        book.top(NOW, place, 50).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn a_term_from_k_minus_1_contributors_never_shows_and_from_k_it_does() {
        let mut book = TrendBook::new(WINDOW, K);
        let place = zone("piazza");
        for contributor in 0..K - 1 {
            // The same contributor many times is still one.
            for repeat in 0..10 {
                book.add(
                    NOW - repeat,
                    std::slice::from_ref(&place),
                    contributor,
                    &terms(&["#sgombero"]),
                );
            }
        }
        assert!(book.top(NOW, &place, 10).is_empty());
        assert!(book.places(NOW).is_empty());
        book.add(NOW, std::slice::from_ref(&place), K - 1, &terms(&["#sgombero"]));
        let top = book.top(NOW, &place, 10);
        assert_eq!(top.len(), 1);
        assert_eq!(
            (top[0].term.as_str(), top[0].contributors, top[0].posts, top[0].before),
            ("#sgombero", K, 41, 0)
        );
        assert_eq!(top[0].growth, (K + 1) as f64);
        assert_eq!(book.places(NOW), [place]);
    }

    #[test]
    fn a_hashtag_burst_in_one_zone_ranks_first_there_and_not_in_another() {
        let mut book = TrendBook::new(WINDOW, K);
        let (a, b) = (zone("a"), zone("b"));
        // Both zones talk steadily about the concert, in both windows.
        for contributor in 0..20 {
            for place in [&a, &b] {
                book.add(
                    NOW - WINDOW - 60,
                    std::slice::from_ref(place),
                    contributor,
                    &terms(&["concerto", "palco"]),
                );
                book.add(
                    NOW - 60,
                    std::slice::from_ref(place),
                    contributor,
                    &terms(&["concerto", "palco"]),
                );
            }
        }
        for contributor in 100..130 {
            book.add(
                NOW - 30,
                std::slice::from_ref(&a),
                contributor,
                &terms(&["#evacuazione", "concerto"]),
            );
        }
        // Under k in b: never shown there.
        for contributor in 200..200 + K - 1 {
            book.add(
                NOW - 30,
                std::slice::from_ref(&b),
                contributor,
                &terms(&["#evacuazione"]),
            );
        }
        assert_eq!(shown(&book, &a)[0], "#evacuazione");
        assert_eq!(shown(&book, &b), ["concerto", "palco"]);
    }

    #[test]
    fn growth_against_the_window_before_ranks_new_terms_above_big_steady_ones() {
        let mut book = TrendBook::new(WINDOW, K);
        let place = Place::Cell(LatLng::new(44.4938, 11.3426).expect("valid").to_cell(Resolution::Nine));
        let here = std::slice::from_ref(&place);
        for c in 0..20 {
            book.add(NOW - WINDOW, here, c, &terms(&["steady"]));
            book.add(NOW - 120, here, c, &terms(&["steady"]));
        }
        for c in 0..6 {
            book.add(NOW, here, 100 + c, &terms(&["new"]));
        }
        for c in 0..15 {
            if c < 5 {
                book.add(NOW - WINDOW - 300, here, 200 + c, &terms(&["growing"]));
            }
            book.add(NOW - 300, here, 200 + c, &terms(&["growing"]));
        }
        let top = book.top(NOW, &place, 10);
        let order: Vec<(&str, u64, u64)> = top
            .iter()
            .map(|t| (t.term.as_str(), t.contributors, t.before))
            .collect();
        assert_eq!(order, [("new", 6, 0), ("growing", 15, 5), ("steady", 20, 20)]);
        assert_eq!(top[1].growth, 16.0 / 6.0);
        assert_eq!(book.top(NOW, &place, 2).len(), 2);
    }

    #[test]
    fn ties_rank_by_contributors_then_term() {
        let mut book = TrendBook::new(WINDOW, 1);
        let place = zone("z");
        let here = std::slice::from_ref(&place);
        // Growth 2 for all: 1/0, 3/1 contributors.
        book.add(NOW, here, 1, &terms(&["beta", "alpha"]));
        for c in 0..3 {
            book.add(NOW, here, 10 + c, &terms(&["gamma"]));
        }
        book.add(NOW - WINDOW, here, 10, &terms(&["gamma"]));
        assert_eq!(shown(&book, &place), ["gamma", "alpha", "beta"]);
    }

    #[test]
    fn the_window_is_whole_minutes_and_the_before_window_is_the_one_before() {
        let mut book = TrendBook::new(WINDOW, 1);
        let place = zone("z");
        let here = std::slice::from_ref(&place);
        book.add(NOW - 540, here, 1, &terms(&["inside"]));
        book.add(NOW - 541, here, 2, &terms(&["before"]));
        book.add(NOW + 60, here, 3, &terms(&["future"]));
        let top = book.top(NOW, &place, 10);
        assert_eq!(top.iter().map(|t| t.term.as_str()).collect::<Vec<_>>(), ["inside"]);
        book.add(NOW + 30, here, 4, &terms(&["before"]));
        let before = book
            .top(NOW, &place, 10)
            .into_iter()
            .find(|t| t.term == "before")
            .expect("shown");
        assert_eq!((before.contributors, before.before), (1, 1));
    }

    #[test]
    fn expire_forgets_what_is_older_than_two_windows() {
        let mut book = TrendBook::new(WINDOW, 1);
        let place = zone("z");
        book.add(NOW - 2 * WINDOW + 60, std::slice::from_ref(&place), 1, &terms(&["old"]));
        book.add(
            NOW - 2 * WINDOW + 59,
            std::slice::from_ref(&place),
            2,
            &terms(&["older"]),
        );
        book.add(NOW, std::slice::from_ref(&place), 1, &terms(&["old"]));
        book.expire(NOW);
        let top = book.top(NOW, &place, 10);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].before, 1);
        assert_eq!(book.places.get(&place).map(HashMap::len), Some(1));
        book.expire(NOW + 2 * WINDOW);
        assert!(book.places.is_empty());
        assert!(book.places(NOW + 2 * WINDOW).is_empty());
    }

    #[test]
    fn places_are_those_with_a_term_shown_and_sorted() {
        let mut book = TrendBook::new(WINDOW, 2);
        let cell = Place::Cell(LatLng::new(44.4938, 11.3426).expect("valid").to_cell(Resolution::Nine));
        let all = [zone("b"), zone("a"), cell.clone()];
        for c in 0..2 {
            book.add(NOW, &all, c, &terms(&["folla"]));
        }
        book.add(NOW, &[zone("c")], 9, &terms(&["folla"]));
        assert_eq!(book.places(NOW), [zone("a"), zone("b"), cell]);
    }

    #[test]
    fn a_place_or_term_given_twice_counts_once() {
        let mut book = TrendBook::new(WINDOW, 1);
        let place = zone("z");
        book.add(NOW, &[place.clone(), place.clone()], 1, &terms(&["folla", "folla"]));
        let top = book.top(NOW, &place, 10);
        assert_eq!((top[0].contributors, top[0].posts), (1, 1));
    }

    #[test]
    fn beyond_the_cap_a_term_still_shows_with_an_estimated_count() {
        let mut book = TrendBook::new(WINDOW, K);
        let place = zone("z");
        for c in 0..5_000u64 {
            book.add(
                NOW - (c % 3) as i64 * 60,
                std::slice::from_ref(&place),
                c,
                &terms(&["#corteo"]),
            );
        }
        let series = &book.places[&place]["#corteo"];
        assert!(
            series
                .minutes()
                .all(|m| m.hashes.len() == CONTRIBUTORS_KEPT && m.saturated)
        );
        let top = book.top(NOW, &place, 1);
        assert_eq!(top[0].posts, 5_000);
        let estimate = top[0].contributors as f64;
        assert!((4_000.0..6_000.0).contains(&estimate), "{estimate}");
    }

    #[test]
    fn a_place_full_of_junk_keeps_its_rising_terms() {
        let mut book = TrendBook::new(WINDOW, K);
        let place = zone("z");
        let here = std::slice::from_ref(&place);
        for c in 0..K {
            book.add(NOW, here, c, &terms(&["#realtrend"]));
        }
        for junk in 0..TERMS_PER_PLACE + 10 {
            book.add(NOW, here, 1_000, &[format!("junk{junk}")]);
        }
        assert!(book.places[&place].len() <= TERMS_PER_PLACE);
        assert_eq!(shown(&book, &place), ["#realtrend"]);
    }

    proptest::proptest! {
        #[test]
        fn counts_are_exact_and_two_books_agree(
            posts in proptest::collection::vec((0i64..1_500, 0usize..3, 0u64..12, 0usize..4), 0..200),
            k in 1u64..6,
        ) {
            let places = [zone("a"), zone("b"), zone("c")];
            let words = ["uno", "due", "tre", "#quattro"];
            let now = NOW + 1_199;
            let mut a = TrendBook::new(WINDOW, k);
            let mut b = TrendBook::new(WINDOW, k);
            for &(offset, place, contributor, word) in &posts {
                let args = (now - offset, std::slice::from_ref(&places[place]), contributor, terms(&[words[word]]));
                a.add(args.0, args.1, args.2, &args.3);
                b.add(args.0, args.1, args.2, &args.3);
            }
            a.expire(now);
            proptest::prop_assert_eq!(a.places(now), b.places(now));
            let (window, before) = a.windows(now);
            for (p, place) in places.iter().enumerate() {
                let top = a.top(now, place, 10);
                proptest::prop_assert_eq!(&top, &b.top(now, place, 10));
                for (w, word) in words.iter().enumerate() {
                    let in_minutes = |(from, to): (i64, i64)| {
                        let mut who: Vec<u64> = posts.iter()
                            .filter(|&&(o, pl, _, wd)| pl == p && wd == w && ((now - o).div_euclid(60)) >= from && ((now - o).div_euclid(60)) <= to)
                            .map(|&(_, _, c, _)| c).collect();
                        who.sort_unstable();
                        who.dedup();
                        who.len() as u64
                    };
                    let (expected, expected_before) = (in_minutes(window), in_minutes(before));
                    let found = top.iter().find(|t| t.term == *word);
                    if expected >= k {
                        let trend = found.expect("shown");
                        proptest::prop_assert_eq!((trend.contributors, trend.before), (expected, expected_before));
                    } else {
                        proptest::prop_assert!(found.is_none());
                    }
                }
            }
        }
    }
}
