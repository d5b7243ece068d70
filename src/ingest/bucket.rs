//! Bucketing: a post becomes its H3 cell at every configured resolution and
//! its time bucket, the shape the engine counts.

use h3o::{CellIndex, LatLng};

use crate::domain::{Post, ResolutionRange};
use crate::engine::Bucketed;

/// Maps posts to H3 cells and time buckets.
#[derive(Debug, Clone, Copy)]
pub struct Bucketer {
    resolutions: ResolutionRange,
    bucket_secs: i64,
}

impl Bucketer {
    /// A bucketer for `resolutions` and time buckets of `bucket_secs` (≥ 1).
    pub fn new(resolutions: ResolutionRange, bucket_secs: i64) -> Self {
        Self {
            resolutions,
            bucket_secs: bucket_secs.max(1),
        }
    }

    /// The resolutions counted.
    pub fn resolutions(&self) -> ResolutionRange {
        self.resolutions
    }

    /// The length of a time bucket in seconds.
    pub fn bucket_secs(&self) -> i64 {
        self.bucket_secs
    }

    /// The start of the bucket holding Unix time `t`.
    pub fn bucket_start(&self, t: i64) -> i64 {
        t.div_euclid(self.bucket_secs) * self.bucket_secs
    }

    /// The cells of a point at every configured resolution, coarsest first.
    ///
    /// The finest cell is computed once and the coarser ones are its
    /// parents, so a post is always counted in one consistent hierarchy.
    pub fn cells(&self, lat: f64, lon: f64) -> Vec<CellIndex> {
        // LatLon guarantees finite, in-range degrees, which LatLng accepts.
        let Ok(ll) = LatLng::new(lat, lon) else {
            return Vec::new();
        };
        let finest = ll.to_cell(self.resolutions.finest());
        self.resolutions.iter().filter_map(|r| finest.parent(r)).collect()
    }

    /// Buckets one post. A post stamped in the near future (clock skew) is
    /// counted now, so that it shows at once.
    pub fn bucket(&self, post: &Post, now: i64) -> Bucketed {
        let t = post.ts.timestamp().min(now);
        Bucketed {
            dedup_key: post
                .id
                .as_ref()
                .map(|id| format!("{}:{}", post.source.as_str(), id.as_str())),
            fingerprint: post.fingerprint,
            contributor: post.contributor.0,
            bucket: self.bucket_start(t),
            cells: self.cells(post.location.lat(), post.location.lon()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_nest_from_coarse_to_fine() {
        let b = Bucketer::new(ResolutionRange::new(7, 11).unwrap(), 10);
        let cells = b.cells(44.4937, 11.3430);
        assert_eq!(cells.len(), 5);
        for pair in cells.windows(2) {
            assert_eq!(pair[1].parent(pair[0].resolution()), Some(pair[0]));
        }
    }

    #[test]
    fn buckets_align_to_their_length_even_before_1970() {
        let b = Bucketer::new(ResolutionRange::new(7, 11).unwrap(), 10);
        assert_eq!(b.bucket_start(1_234), 1_230);
        assert_eq!(b.bucket_start(-1), -10);
    }
}
