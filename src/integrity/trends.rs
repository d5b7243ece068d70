//! Placeholder until the trends book lands.
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    Zone(String),
    Cell(h3o::CellIndex),
}

#[derive(Debug, Clone)]
pub struct Trend {
    pub term: String,
    pub contributors: u64,
    pub posts: u64,
    pub before: u64,
    pub growth: f64,
}

pub struct TrendBook {
    window_secs: i64,
    k: u64,
    seen: BTreeMap<(Place, String), Vec<(i64, u64)>>,
}

impl TrendBook {
    pub fn new(window_secs: i64, k: u64) -> Self {
        Self {
            window_secs,
            k,
            seen: BTreeMap::new(),
        }
    }
    pub fn add(&mut self, at: i64, places: &[Place], contributor: u64, terms: &[String]) {
        for p in places {
            for t in terms {
                self.seen
                    .entry((p.clone(), t.clone()))
                    .or_default()
                    .push((at, contributor));
            }
        }
    }
    pub fn expire(&mut self, now: i64) {
        let w = self.window_secs;
        self.seen.retain(|_, v| {
            v.retain(|(at, _)| *at > now - 2 * w);
            !v.is_empty()
        });
    }
    pub fn top(&self, now: i64, place: &Place, limit: usize) -> Vec<Trend> {
        let mut out = Vec::new();
        for ((p, term), v) in &self.seen {
            if p != place {
                continue;
            }
            let now_c: BTreeSet<u64> = v
                .iter()
                .filter(|(a, _)| *a > now - self.window_secs)
                .map(|x| x.1)
                .collect();
            let before: BTreeSet<u64> = v
                .iter()
                .filter(|(a, _)| *a <= now - self.window_secs)
                .map(|x| x.1)
                .collect();
            if (now_c.len() as u64) < self.k {
                continue;
            }
            out.push(Trend {
                term: term.clone(),
                contributors: now_c.len() as u64,
                posts: v.iter().filter(|(a, _)| *a > now - self.window_secs).count() as u64,
                before: before.len() as u64,
                growth: (now_c.len() as f64 + 1.0) / (before.len() as f64 + 1.0),
            });
        }
        out.sort_by(|a, b| {
            b.growth
                .total_cmp(&a.growth)
                .then(b.contributors.cmp(&a.contributors))
                .then(a.term.cmp(&b.term))
        });
        out.truncate(limit);
        out
    }
    pub fn places(&self, now: i64) -> Vec<Place> {
        let ps: BTreeSet<Place> = self.seen.keys().map(|(p, _)| p.clone()).collect();
        ps.into_iter().filter(|p| !self.top(now, p, 1).is_empty()).collect()
    }
}
