//! Placeholder until the near-duplicate clustering lands: exact texts only.
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy)]
pub struct ClusterConfig {
    pub min_contributors: usize,
    pub window_secs: i64,
    pub similarity: f64,
}

pub type PostKey = String;

#[derive(Debug, Clone)]
pub struct Member {
    pub post: PostKey,
    pub contributor: u64,
    pub at: i64,
    pub cell: h3o::CellIndex,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub id: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub sample: String,
    pub members: Vec<Member>,
    pub contributors: usize,
}

impl Cluster {
    pub fn cells(&self) -> Vec<h3o::CellIndex> {
        let s: BTreeSet<_> = self.members.iter().map(|m| m.cell).collect();
        s.into_iter().collect()
    }
    pub fn size(&self) -> usize {
        self.members.len()
    }
}

pub struct Clusters {
    config: ClusterConfig,
    by_text: BTreeMap<String, Cluster>,
}

impl Clusters {
    pub fn new(config: ClusterConfig) -> Self {
        Self {
            config,
            by_text: BTreeMap::new(),
        }
    }
    pub fn add(&mut self, member: Member, text: &str) -> Option<String> {
        let norm: String = text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        if norm.split(' ').count() < 5 {
            return None;
        }
        let c = self.by_text.entry(norm).or_insert_with(|| Cluster {
            id: format!("c{}", member.post.replace('-', "")),
            first_seen: member.at,
            last_seen: member.at,
            sample: text.to_owned(),
            members: Vec::new(),
            contributors: 0,
        });
        if !c.members.iter().any(|m| m.contributor == member.contributor) {
            c.contributors += 1;
        }
        c.last_seen = c.last_seen.max(member.at);
        c.members.push(member);
        Some(c.id.clone())
    }
    pub fn expire(&mut self, now: i64) {
        self.by_text.retain(|_, c| now - c.last_seen < 3600);
    }
    pub fn ready(&self) -> Vec<&Cluster> {
        self.by_text
            .values()
            .filter(|c| c.contributors >= self.config.min_contributors)
            .collect()
    }
    pub fn get(&self, id: &str) -> Option<&Cluster> {
        self.by_text.values().find(|c| c.id == id)
    }
}
