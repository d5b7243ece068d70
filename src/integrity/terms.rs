//! Placeholder until the terms extractor lands.
#![allow(missing_docs)]

pub struct Vocabulary;

impl Vocabulary {
    pub fn new(_languages: &[&str]) -> Self {
        Self
    }
    pub fn terms(&self, masked_text: &str) -> Vec<String> {
        let mut t: Vec<String> = masked_text
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .filter(|w| w.chars().count() >= 3 && !w.starts_with('@') && !w.starts_with('['))
            .collect();
        t.sort();
        t.dedup();
        t
    }
}
