//! The H3 resolutions a deployment counts: checked once at start-up, then
//! shared by the configuration, the bucketer and the engines.

use h3o::Resolution;

/// The configured H3 resolutions, coarsest to finest (default 7–11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolutionRange {
    coarsest: Resolution,
    finest: Resolution,
}

impl ResolutionRange {
    /// Checks `coarsest <= finest`, both valid H3 resolutions.
    pub fn new(coarsest: u8, finest: u8) -> Result<Self, String> {
        let parse = |r: u8| Resolution::try_from(r).map_err(|_| format!("{r} is not an H3 resolution (0-15)"));
        let (c, f) = (parse(coarsest)?, parse(finest)?);
        if c > f {
            return Err(format!("resolution range {coarsest}-{finest} is reversed"));
        }
        Ok(Self { coarsest: c, finest: f })
    }

    /// Every resolution of the range, coarsest first.
    pub fn iter(self) -> impl Iterator<Item = Resolution> {
        Resolution::range(self.coarsest, self.finest)
    }

    /// Whether `res` is in the range.
    pub fn contains(self, res: Resolution) -> bool {
        (self.coarsest..=self.finest).contains(&res)
    }

    /// The coarsest resolution.
    pub fn coarsest(self) -> Resolution {
        self.coarsest
    }

    /// The finest resolution.
    pub fn finest(self) -> Resolution {
        self.finest
    }

    /// How many resolutions are counted.
    pub fn len(self) -> usize {
        usize::from(u8::from(self.finest) - u8::from(self.coarsest)) + 1
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }
}
