//! Which heatmap group a request reads: the resolution, window and audience
//! a caller asks for, checked against the settings and the caller's rights.
//! HTTP and the WebSocket share it and map its refusal at their own boundary.

use chrono::{DateTime, Utc};
use h3o::Resolution;

use super::{Audience, HeatmapKey};
use crate::domain::{BBox, FieldError, Principal, ResolutionRange, Windows};
use crate::engine::Layout;

/// What a heatmap request is checked against: the deployment's
/// resolutions and windows, and how fine the public may look.
#[derive(Debug, Clone)]
pub struct HeatmapLimits {
    /// The resolutions counted.
    pub resolutions: ResolutionRange,
    /// The resolution of a request that names none.
    pub default_res: u8,
    /// The finest resolution without a token.
    pub public_max_res: u8,
    /// The windows served.
    pub windows: Windows,
}

/// A heatmap request checked against the settings and the caller's rights.
pub struct HeatmapRequest {
    /// The group it reads.
    pub key: HeatmapKey,
    /// Optional area filter.
    pub bbox: Option<BBox>,
}

/// Why a heatmap request was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeatmapRefusal {
    /// A value outside the configuration (HTTP 400).
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// Finer than the caller may see (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
}

impl HeatmapRequest {
    /// Checks resolution, window and bbox, and the public limits of §6:
    /// invalid for values outside the configuration, forbidden for a public
    /// request finer than the public may see.
    pub fn parse(
        res: Option<u64>,
        window: Option<&str>,
        bbox: Option<BBox>,
        principal: &Principal,
        limits: &HeatmapLimits,
    ) -> Result<Self, HeatmapRefusal> {
        let range = limits.resolutions;
        let res_value = res.unwrap_or(u64::from(limits.default_res));
        let res = u8::try_from(res_value)
            .ok()
            .and_then(|r| Resolution::try_from(r).ok())
            .filter(|r| range.contains(*r))
            .ok_or_else(|| {
                FieldError::new(
                    "invalid_resolution",
                    "res",
                    format!(
                        "res must be an integer from {} to {}",
                        u8::from(range.coarsest()),
                        u8::from(range.finest())
                    ),
                )
            })?;
        if !principal.sees_full_picture() && u8::from(res) > limits.public_max_res {
            return Err(HeatmapRefusal::Forbidden(format!(
                "resolutions finer than {} need a token",
                limits.public_max_res
            )));
        }
        let window = match window {
            Some(name) => limits.windows.get(name)?,
            None => limits.windows.default_window().clone(),
        };
        let audience = if principal.sees_full_picture() {
            Audience::Full
        } else {
            Audience::Public
        };
        Ok(Self {
            key: HeatmapKey { res, window, audience },
            bbox,
        })
    }
}

/// A past moment to replay (DESIGN §11). Built only for a caller who sees
/// the full picture, from an RFC 3339 time neither in the future nor older
/// than count retention, and rounded down to the last second of its last
/// whole step, where a live read covered whole steps: the answer is then
/// what the live read said at that second.
///
/// The public is refused (403) rather than shown levels of the past: every
/// past frame would be another frame to compare (§6), and a replay cannot
/// be served from the hub's current frame, so each would cost an engine
/// read of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayAt(DateTime<Utc>);

impl ReplayAt {
    /// Checks `at` for `principal` at `now`.
    pub fn parse(
        text: &str,
        principal: &Principal,
        layout: &Layout,
        now: DateTime<Utc>,
    ) -> Result<Self, HeatmapRefusal> {
        if !principal.sees_full_picture() {
            return Err(HeatmapRefusal::Forbidden(
                "replaying a past moment (at) needs an operator or commander token".into(),
            ));
        }
        let at = DateTime::parse_from_rfc3339(text)
            .map_err(|_| {
                FieldError::new(
                    "invalid_at",
                    "at",
                    "at must be an RFC 3339 time, e.g. 2026-11-28T19:22:11Z",
                )
            })?
            .with_timezone(&Utc);
        if at > now {
            return Err(FieldError::new("invalid_at", "at", "at is in the future: it must be a past moment").into());
        }
        if !layout.replayable(at.timestamp(), now.timestamp()) {
            return Err(FieldError::new(
                "invalid_at",
                "at",
                format!(
                    "at is older than count retention ({}s): counts of that moment are no longer kept",
                    layout.count_retention_secs
                ),
            )
            .into());
        }
        let moment = layout.replay_moment(at.timestamp());
        Ok(Self(DateTime::from_timestamp(moment, 0).unwrap_or(at)))
    }

    /// The replay of second `t` for a caller already checked (the export):
    /// `None` when `t` is not a past moment within count retention at `now`.
    pub fn of(t: i64, layout: &Layout, now: i64) -> Option<Self> {
        if !layout.replayable(t, now) {
            return None;
        }
        DateTime::from_timestamp(layout.replay_moment(t), 0).map(Self)
    }

    /// The moment answered for.
    pub fn moment(self) -> DateTime<Utc> {
        self.0
    }
}
