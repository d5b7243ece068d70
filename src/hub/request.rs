//! Which heatmap group a request reads: the resolution, window and audience
//! a caller asks for, checked against the settings and the caller's rights.
//! HTTP and the WebSocket share it and map its refusal at their own boundary.

use h3o::Resolution;

use super::{Audience, HeatmapKey};
use crate::domain::{BBox, FieldError, Principal, ResolutionRange, Windows};

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
