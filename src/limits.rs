//! Abuse resistance at the door: per-address rate limits for callers without
//! a token (DESIGN §5). Token holders are accountable by their `sub` and are
//! not throttled here.
//!
//! The client address is the socket's peer, or — only when that peer is a
//! configured trusted proxy — the last address in `X-Forwarded-For` that is
//! not itself a trusted proxy, so a client cannot pick its own identity.
//! Entries written with a port (`203.0.113.7:4711`, `[2001:db8::1]:443`) are
//! read as their address. An IPv6 client is charged by its /64: one
//! subscriber line holds 2^64 addresses, so a per-address limit would not
//! hold anyone back.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
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
    /// Reading: heatmap, broadcasts, feeds, zones, WebSocket upgrades; charged
    /// by `api::public_reads`.
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

    /// The address a request is charged to: the client's IPv4 address, or
    /// the /64 network of its IPv6 address.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        if !self.trusted_proxies.contains(&peer) {
            return Some(group(peer));
        }
        // Every X-Forwarded-For header, in order: a proxy may add its own
        // header line instead of appending to the first.
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        // From the nearest hop back: the first that is not a trusted proxy is
        // the client. An entry that is no address at all ends the walk: what
        // stands before it was written by someone we cannot trust.
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            match parse_forwarded(entry) {
                Some(a) if self.trusted_proxies.contains(&a) => client = a,
                Some(a) => return Some(group(a)),
                None => break,
            }
        }
        Some(group(client))
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

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`) is the IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The unit a client is charged as: itself for IPv4, its /64 for IPv6.
fn group(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, with or without a port, IPv6 in
/// brackets or bare.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = entry.parse::<SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    // `[2001:db8::1]` without a port.
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse::<Ipv6Addr>().ok())
        .map(|v6| canonical(IpAddr::V6(v6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_entries_with_ports_and_brackets_are_read() {
        assert_eq!(parse_forwarded(" 203.0.113.7 "), "203.0.113.7".parse().ok());
        assert_eq!(parse_forwarded("203.0.113.7:4711"), "203.0.113.7".parse().ok());
        assert_eq!(parse_forwarded("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_forwarded("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_forwarded("2001:db8::1"), "2001:db8::1".parse().ok());
        assert_eq!(parse_forwarded("::ffff:192.0.2.1"), "192.0.2.1".parse().ok());
        assert_eq!(parse_forwarded("unknown"), None);
        assert_eq!(parse_forwarded("_hidden"), None);
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let a = group("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = group("2001:db8:1:2:ffff:1:2:3".parse().unwrap());
        let c = group("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            group("192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
