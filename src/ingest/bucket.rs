//! Bucketing: a located item (a post, a report) becomes its H3 cell at every
//! configured resolution and its time bucket, the shape the engine counts.

use h3o::{CellIndex, LatLng};

use crate::domain::{LatLon, Post, ResolutionRange};
use crate::engine::Bucketed;

/// What the counts need of a validated item, whatever brought it: posts and
/// reports now, Open311 requests and METHANE messages next. Implementing it
/// is how a new kind of item enters the one intake path.
pub trait Located {
    /// Where it is.
    fn location(&self) -> LatLon;
    /// The Unix time it counts at; its bucket is the one holding it.
    fn counted_at(&self) -> i64;
    /// Who contributed it, as the distinct-contributor counts see it.
    fn contributor(&self) -> u64;
    /// Names the write, so that an engine counts it once however often it
    /// is sent.
    fn fingerprint(&self) -> u64;
    /// The key that de-duplicates it across writes, when it has one.
    fn dedup_key(&self) -> Option<String> {
        None
    }
}

impl Located for Post {
    fn location(&self) -> LatLon {
        self.location
    }

    fn counted_at(&self) -> i64 {
        self.ts.timestamp()
    }

    fn contributor(&self) -> u64 {
        self.contributor.0
    }

    fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn dedup_key(&self) -> Option<String> {
        self.id
            .as_ref()
            .map(|id| format!("{}:{}", self.source.as_str(), id.as_str()))
    }
}

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
        crate::domain::bucket_start(t, self.bucket_secs)
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

    /// Buckets one item at [`Bucketer::counts_at`].
    pub fn bucket(&self, item: &impl Located, now: i64) -> Bucketed {
        self.bucket_at(item, Self::counts_at(item, now))
    }

    /// When an item written at `now` counts: at its own time, but an item
    /// stamped in the near future (clock skew) counts now, so that it shows
    /// at once.
    pub fn counts_at(item: &impl Located, now: i64) -> i64 {
        item.counted_at().min(now)
    }

    /// Buckets one item at exactly its own time, whatever this node's clock
    /// says: for items whose time was fixed when they were first counted.
    pub fn bucket_as_stamped(&self, item: &impl Located) -> Bucketed {
        self.bucket_at(item, item.counted_at())
    }

    fn bucket_at(&self, item: &impl Located, t: i64) -> Bucketed {
        Bucketed {
            dedup_key: item.dedup_key(),
            fingerprint: item.fingerprint(),
            contributor: item.contributor(),
            bucket: self.bucket_start(t),
            cells: self.cells(item.location().lat(), item.location().lon()),
            text: None,
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

    struct Stamped(i64);

    impl Located for Stamped {
        fn location(&self) -> LatLon {
            LatLon::new(44.4937, 11.3430).unwrap()
        }
        fn counted_at(&self) -> i64 {
            self.0
        }
        fn contributor(&self) -> u64 {
            1
        }
        fn fingerprint(&self) -> u64 {
            2
        }
    }

    #[test]
    fn a_future_item_counts_now_unless_its_time_was_fixed_when_first_counted() {
        let b = Bucketer::new(ResolutionRange::new(7, 11).unwrap(), 10);
        assert_eq!(b.bucket(&Stamped(1_250), 1_234).bucket, 1_230);
        assert_eq!(b.bucket_as_stamped(&Stamped(1_250)).bucket, 1_250);
        assert_eq!(b.bucket(&Stamped(1_250), 1_234).cells.len(), 5);
    }

    #[test]
    fn buckets_align_to_their_length_even_before_1970() {
        let b = Bucketer::new(ResolutionRange::new(7, 11).unwrap(), 10);
        assert_eq!(b.bucket_start(1_234), 1_230);
        assert_eq!(b.bucket_start(-1), -10);
    }
}
