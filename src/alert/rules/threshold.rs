//! `threshold`: a density above the deployment's limit, however the cell
//! got there.

use super::{Reading, Rule};
use crate::alert::AlertRules;

/// A density above the limit.
pub struct Threshold;

impl Rule for Threshold {
    fn kind(&self) -> &'static str {
        "threshold"
    }

    fn fires(&self, reading: &Reading, settings: &AlertRules) -> bool {
        reading.density_km2 >= settings.density_km2
    }
}
