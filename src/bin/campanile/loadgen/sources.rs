//! Where the subscribers connect from.
//!
//! One source address holds at most as many connections to one server
//! address and port as the kernel's ephemeral port range has ports (about
//! 28,000 with Linux's default 32768–60999): past that, subscribers fail to
//! connect however much the server could hold. All of 127.0.0.0/8 is
//! loopback on Linux, with no setup, so against a loopback target the
//! generator binds its subscribers to 127.0.0.1, 127.0.0.2, … — as many
//! addresses as the clients need, or as many as asked for. Against any other
//! target the OS picks the source address (one), as it does for the
//! generator's own HTTP requests.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

/// Where the kernel says which ports it hands out to outgoing connections.
const PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The kernel's default range, when /proc cannot be read.
const DEFAULT_PORT_RANGE: (u32, u32) = (32_768, 60_999);

/// 127.0.0.1 to 127.255.255.254.
const MAX_LOOPBACK_ADDRESSES: usize = (1 << 24) - 2;

/// How the subscribers' connections get their source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sources {
    /// Bound to 127.0.0.1 … 127.0.0.`count`, the clients in equal runs:
    /// clients 0…k on the first address, the next k on the second, and so
    /// on, so that each address has as many public subscribers as operators.
    Loopback { count: usize },
    /// Not bound: the OS's choice, one address.
    Os,
}

impl Sources {
    /// As many loopback addresses as `clients` need with `ports` ephemeral
    /// ports each, or `requested` (> 0); the OS's choice when the target is
    /// not a loopback address.
    pub(super) fn plan(target: &str, clients: usize, requested: usize, ports: usize) -> Self {
        if !loopback_target(target) {
            return Self::Os;
        }
        let count = if requested > 0 {
            requested
        } else {
            // A quarter of each address's ports left over: the generator's
            // own HTTP requests come from 127.0.0.1 too, and the ports of
            // an earlier run's connections may still be in TIME_WAIT.
            clients.div_ceil((ports - ports / 4).max(1))
        };
        Self::Loopback {
            // More addresses than clients would leave some unused.
            count: count.clamp(1, clients.clamp(1, MAX_LOOPBACK_ADDRESSES)),
        }
    }

    /// The source address of client `client` of `clients`; `None`: the OS's
    /// choice.
    pub(super) fn address_of(&self, client: usize, clients: usize) -> Option<IpAddr> {
        match *self {
            Self::Loopback { count } => {
                let nth = client.saturating_mul(count) / clients.max(1);
                Some(IpAddr::V4(loopback(nth.min(count - 1))))
            }
            Self::Os => None,
        }
    }

    /// What the report says of them.
    pub(super) fn figures(&self, ports: usize) -> SourceAddresses {
        match *self {
            Self::Loopback { count } => SourceAddresses {
                count,
                first: Some(loopback(0)),
                last: Some(loopback(count - 1)),
                ports_per_address: ports,
            },
            Self::Os => SourceAddresses {
                count: 1,
                first: None,
                last: None,
                ports_per_address: ports,
            },
        }
    }
}

/// The source addresses of a run, as its report gives them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceAddresses {
    /// How many the subscribers were spread over.
    pub count: usize,
    /// The first, when the generator bound them (a loopback target); null:
    /// the OS chose one address.
    pub first: Option<Ipv4Addr>,
    /// The last; every address from `first` to `last` was used.
    pub last: Option<Ipv4Addr>,
    /// The kernel's ephemeral ports: the most connections one source
    /// address holds to the server.
    pub ports_per_address: usize,
}

/// 127.0.0.1 for 0, 127.0.0.2 for 1, …
fn loopback(nth: usize) -> Ipv4Addr {
    let offset = u32::try_from(nth.min(MAX_LOOPBACK_ADDRESSES - 1)).unwrap_or(0);
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 1)) + offset)
}

/// Whether the target's host is an IPv4 loopback address or `localhost`.
/// IPv6 has one loopback address, ::1: nothing to spread over.
fn loopback_target(target: &str) -> bool {
    match url::Url::parse(target).ok().as_ref().and_then(url::Url::host) {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        _ => false,
    }
}

/// How many ports the kernel hands out to outgoing connections from one
/// address to one destination.
pub(super) fn ephemeral_ports() -> usize {
    let (low, high) = std::fs::read_to_string(PORT_RANGE)
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(str::parse::<u32>);
            Some((bounds.next()?.ok()?, bounds.next()?.ok()?))
        })
        .filter(|(low, high)| low <= high)
        .unwrap_or(DEFAULT_PORT_RANGE);
    (high - low + 1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_many_loopback_addresses_as_the_ports_need() {
        let local = "http://127.0.0.1:8080";
        assert_eq!(Sources::plan(local, 100, 0, 28_232), Sources::Loopback { count: 1 });
        assert_eq!(Sources::plan(local, 50_000, 0, 28_232), Sources::Loopback { count: 3 });
        assert_eq!(Sources::plan(local, 30, 3, 28_232), Sources::Loopback { count: 3 });
        assert_eq!(Sources::plan(local, 2, 5, 28_232), Sources::Loopback { count: 2 });
        assert_eq!(
            Sources::plan("http://localhost:1", 30_000, 0, 28_232),
            Sources::Loopback { count: 2 }
        );
        assert_eq!(Sources::plan("http://10.0.0.7:8080", 50_000, 3, 28_232), Sources::Os);
        assert_eq!(Sources::plan("http://[::1]:8080", 50_000, 0, 28_232), Sources::Os);
    }

    #[test]
    fn clients_go_in_equal_runs_from_the_first_address_to_the_last() {
        let s = Sources::Loopback { count: 3 };
        let at = |c| s.address_of(c, 30).map(|a| a.to_string());
        assert_eq!(at(0).as_deref(), Some("127.0.0.1"));
        assert_eq!(at(9).as_deref(), Some("127.0.0.1"));
        assert_eq!(at(10).as_deref(), Some("127.0.0.2"));
        assert_eq!(at(29).as_deref(), Some("127.0.0.3"));
        let f = Sources::Loopback { count: 300 }.figures(28_232);
        assert_eq!(f.last, Some(Ipv4Addr::new(127, 0, 1, 44)));
        assert_eq!(Sources::Os.address_of(5, 30), None);
    }
}
