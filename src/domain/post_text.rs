//! A post's text as the text log keeps it (DESIGN §10): what operators may
//! read, what trends and clusters are drawn from, and what it takes to
//! count the post again or take it out (a discounted cluster). Never the
//! author: only the keyed hash that counts contributors.

use serde::{Deserialize, Serialize};

use super::{LatLon, Post};

/// One stored text. Short field names: a day of posts is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostText {
    /// The post's fingerprint as written: names its count.
    #[serde(rename = "f")]
    pub fingerprint: u64,
    /// Its contributor (the keyed hash of the author).
    #[serde(rename = "k")]
    pub contributor: u64,
    /// The network or channel it came from.
    #[serde(rename = "s")]
    pub source: String,
    /// Latitude.
    #[serde(rename = "a")]
    pub lat: f64,
    /// Longitude.
    #[serde(rename = "o")]
    pub lon: f64,
    /// When it was posted, Unix seconds.
    #[serde(rename = "t")]
    pub posted: i64,
    /// The time it counts at (its bucket holds it), Unix seconds.
    #[serde(rename = "c")]
    pub counted_at: i64,
    /// The text as received.
    #[serde(rename = "x")]
    pub text: String,
    /// Its language, when the sender said.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

impl PostText {
    /// The stored text of `post`, counted at `counted_at`; `None` for a
    /// post without text (or only blanks).
    pub fn of(post: &Post, counted_at: i64) -> Option<Self> {
        let text = post.text.as_deref().filter(|t| !t.trim().is_empty())?;
        Some(Self {
            fingerprint: post.fingerprint,
            contributor: post.contributor.0,
            source: post.source.as_str().to_owned(),
            lat: post.location.lat(),
            lon: post.location.lon(),
            posted: post.ts.timestamp(),
            counted_at,
            text: text.to_owned(),
            lang: post.lang.as_ref().map(|l| l.as_str().to_owned()),
        })
    }

    /// As the log keeps it.
    pub fn to_body(&self) -> String {
        // Plain numbers and strings: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A body read back from the log; `None` for one this version cannot read.
    pub fn from_body(body: &str) -> Option<Self> {
        let text: Self = serde_json::from_str(body).ok()?;
        LatLon::new(text.lat, text.lon).ok()?;
        Some(text)
    }

    /// Where it was posted.
    pub fn location(&self) -> Option<LatLon> {
        LatLon::new(self.lat, self.lon).ok()
    }
}
