//! Abuse resistance at the door: per-address rate limits for callers without
//! a token (DESIGN §5). Token holders are accountable by their `sub` and are
//! not throttled here.
//!
//! The client address is the socket's peer, or — only when that peer is a
//! configured trusted proxy — the last address in `X-Forwarded-For` that is
//! not itself a trusted proxy, so a client cannot pick its own identity.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// What a public request spends.
#[derive(Debug, Clone, Copy)]
pub enum Spend {
    /// Sending a report.
    Report,
    /// Reading: heatmap, broadcasts, feeds, WebSocket upgrades.
    Read,
}

/// The public rate limits of one node.
pub struct PublicLimits {
    reports: DefaultKeyedRateLimiter<IpAddr>,
    reads: DefaultKeyedRateLimiter<IpAddr>,
    trusted_proxies: Vec<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(n).allow_burst(n)
}

impl PublicLimits {
    /// Limits of `reports_per_min` reports and `reads_per_min` reads per
    /// address (each also the burst allowed).
    pub fn new(reports_per_min: u32, reads_per_min: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            reports: RateLimiter::keyed(per_minute(reports_per_min)),
            reads: RateLimiter::keyed(per_minute(reads_per_min)),
            trusted_proxies,
        }
    }

    /// The address a request is charged to.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        forwarded
            .rsplit(',')
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .find(|a| !self.trusted_proxies.contains(a))
            .or(Some(peer))
    }

    /// Charges one request; `Err(wait)` when the address must wait.
    pub fn check(&self, req: &HttpRequest, spend: Spend) -> Result<(), Duration> {
        let Some(ip) = self.client_ip(req) else {
            return Ok(());
        };
        let limiter = match spend {
            Spend::Report => &self.reports,
            Spend::Read => &self.reads,
        };
        limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets addresses that are within their limits again, so that the
    /// tables do not grow with every address ever seen.
    pub fn forget_idle(&self) {
        self.reports.retain_recent();
        self.reads.retain_recent();
    }
}
