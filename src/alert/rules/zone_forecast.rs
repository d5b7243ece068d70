//! `zone_forecast`: at the current rise, a zone reaches `serious` within
//! [`FORECAST_ALERT_MINUTES`].

use super::ZoneRule;
use crate::crowd::status::ZoneStatus;

/// DESIGN §9: a forecast alert when `minutes_to_serious` ≤ 10.
pub const FORECAST_ALERT_MINUTES: u32 = 10;

/// A zone heading for `serious` soon.
pub struct ZoneForecast;

impl ZoneRule for ZoneForecast {
    fn kind(&self) -> &'static str {
        "zone_forecast"
    }

    fn fires(&self, _was: Option<&ZoneStatus>, now: &ZoneStatus) -> Option<String> {
        // The status gives a forecast only while the zone is below
        // `serious` and rising, so the figure alone decides.
        now.minutes_to_serious
            .is_some_and(|m| m <= FORECAST_ALERT_MINUTES)
            .then(|| format!("{}:{}", self.kind(), now.id))
    }
}
