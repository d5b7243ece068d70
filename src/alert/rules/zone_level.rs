//! `zone_level`: a zone's level rose to `caution` or above.

use super::ZoneRule;
use crate::crowd::level::Level;
use crate::crowd::status::ZoneStatus;

/// A zone reached a level it was below.
pub struct ZoneLevel;

impl ZoneRule for ZoneLevel {
    fn kind(&self) -> &'static str {
        "zone_level"
    }

    fn fires(&self, was: Option<&ZoneStatus>, now: &ZoneStatus) -> Option<String> {
        // A zone first seen (a node that just started) was, for all this
        // node knows, normal: the gate's quiet period keeps a level that
        // another node already alerted from being raised again.
        let before = was.map_or(Level::Normal, |w| w.level);
        (now.level >= Level::Caution && now.level > before)
            .then(|| format!("{}:{}:{}", self.kind(), now.id, level_name(now.level)))
    }
}

/// The level as the alert's JSON writes it, so that the gate key reads the same.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Normal => "normal",
        Level::Caution => "caution",
        Level::Alert => "alert",
        Level::Serious => "serious",
        Level::Critical => "critical",
    }
}
