//! `surge`: a sudden rise, many more items in the last minute than the
//! cell's usual rate.

use super::{Reading, Rule};
use crate::alert::AlertRules;

/// A sudden rise.
pub struct Surge;

impl Rule for Surge {
    fn kind(&self) -> &'static str {
        "surge"
    }

    fn fires(&self, reading: &Reading, settings: &AlertRules) -> bool {
        // A cell that was quiet counts as one item a minute, so that a
        // handful of items in an empty square is not a surge.
        reading.count >= settings.surge_min
            && reading.count as f64 >= settings.surge_factor * reading.baseline_per_min.max(1.0)
    }
}
