//! The sliding windows a deployment reads counts over (`1m`, `15m`, …),
//! parsed from the configuration and from requests.

use std::fmt;

use super::FieldError;

/// A sliding time window over which counts are read, e.g. `15m`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    name: String,
    secs: i64,
}

impl Window {
    /// Parses `30s`, `1m`, `15m`, `2h`: a positive integer and a unit.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::new(
                "invalid_window",
                "window",
                format!("window {text:?} must be a number followed by s, m or h"),
            )
        };
        let split = text.len().checked_sub(1).ok_or_else(bad)?;
        let (digits, unit) = text.split_at(split);
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            _ => return Err(bad()),
        };
        if n <= 0 || n > 7 * 24 {
            return Err(bad());
        }
        Ok(Self {
            name: text.to_owned(),
            secs: n * mult,
        })
    }

    /// The name clients use (`15m`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The length in seconds.
    pub fn secs(&self) -> i64 {
        self.secs
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The deployment's configured windows; requests may only name one of these.
#[derive(Debug, Clone)]
pub struct Windows {
    all: Vec<Window>,
    default: Window,
}

impl Windows {
    /// Builds the set from a non-empty list; `default` must be one of them.
    pub fn new(all: Vec<Window>, default: &str) -> Result<Self, String> {
        let default = all
            .iter()
            .find(|w| w.name() == default)
            .cloned()
            .or_else(|| all.first().cloned())
            .ok_or("at least one window must be configured")?;
        Ok(Self { all, default })
    }

    /// Looks a requested window up by name.
    pub fn get(&self, name: &str) -> Result<Window, FieldError> {
        self.all.iter().find(|w| w.name() == name).cloned().ok_or_else(|| {
            let names: Vec<&str> = self.all.iter().map(Window::name).collect();
            FieldError::new(
                "invalid_window",
                "window",
                format!("window must be one of {}", names.join(", ")),
            )
        })
    }

    /// The window used when a request names none.
    pub fn default_window(&self) -> &Window {
        &self.default
    }

    /// The longest window: how long counts must be kept.
    pub fn longest_secs(&self) -> i64 {
        self.all.iter().map(Window::secs).max().unwrap_or(0)
    }

    /// Every configured window.
    pub fn all(&self) -> &[Window] {
        &self.all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_units_and_refuse_nonsense() {
        assert_eq!(Window::parse("15m").unwrap().secs(), 900);
        assert_eq!(Window::parse("1h").unwrap().secs(), 3600);
        for bad in ["", "m", "0m", "-5m", "5d", "5", "1.5m"] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }
}
