//! Who may open a WebSocket (DESIGN §4, §6): a cap per public address and
//! a cap per node, answered before the upgrade.
//!
//! A connection costs the node memory and a file descriptor for as long as
//! it lives, so one address must not be able to hold thousands of them
//! (the read rate limit counts upgrades, not what stays open), and the node
//! refuses more than it can serve rather than degrading every session.
//! Token holders are accountable by their `sub` and may sit behind one
//! address (an operations room's NAT), so only the node cap applies to them;
//! that is decided at the upgrade, so a client that authenticates with a
//! first `auth` message counts against its address like the public.
//!
//! The counts live in this process; a [`Ticket`] returns its place when
//! dropped, which is when the session ends, however it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Seconds a refused client is told to wait (`Retry-After`): a slot frees
/// when some session ends, which no one can predict, so a short hint
/// spreads the retries without making a real client wait long.
pub const RETRY_AFTER_SECS: u64 = 10;

/// Default node cap. 20,000 sessions hold about 550 MiB (28.3 KiB each at
/// rest, docs/PERFORMANCE.md) and were measured to get a broadcast to the
/// last of 10,000 within 183 ms on two cores, so twice that is where a node
/// still serves rather than merely holds; a larger event adds nodes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 20_000;

/// Descriptors kept back for listeners, Redis, files and HTTP requests.
const RESERVED_DESCRIPTORS: u64 = 1_024;

/// The node cap on this process: the one asked for (default
/// [`DEFAULT_MAX_CONNECTIONS`]), or fewer when the open-file limit cannot
/// hold them (each WebSocket holds two descriptors, see `socket`). A cap
/// past the limit would let WebSockets take the last descriptors, and the
/// node would then fail to accept anything, ingest and health checks
/// included: refusing one more WebSocket with 503 beats that.
pub fn max_connections(asked: Option<usize>) -> usize {
    let soft = rlimit::Resource::NOFILE.get().map_or(u64::MAX, |(soft, _)| soft);
    let fits = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS) / 2).unwrap_or(usize::MAX);
    asked.unwrap_or(DEFAULT_MAX_CONNECTIONS).min(fits).max(1)
}

/// This process's open-file limit: as it was at start, as it is now, and
/// the hard limit it may not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit the process started with.
    pub was: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit, which only root may raise.
    pub hard: u64,
}

/// Raises this process's open-file limit as far as it may, once, at
/// start-up: both limits to the kernel's ceiling (`fs.nr_open`) when the
/// process may raise its hard limit (root), else the soft limit to the hard
/// one. Each WebSocket holds descriptors, and a limit left at a
/// distribution's default caps the node (see [`max_connections`])
/// long before memory or CPU do. `None` where the limit cannot be read.
pub fn raise_open_file_limit() -> Option<OpenFileLimit> {
    let (was, hard) = rlimit::Resource::NOFILE.get().ok()?;
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let raised_hard = ceiling
        .filter(|&c| c > hard)
        .is_some_and(|c| rlimit::Resource::NOFILE.set(c, c).is_ok());
    if !raised_hard && was < hard {
        // Refused (an unlimited hard limit above the kernel's nr_open): the reading below says so.
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
    let (now, hard) = rlimit::Resource::NOFILE.get().ok()?;
    Some(OpenFileLimit { was, now, hard })
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address holds its cap of connections (429).
    AddressFull(usize),
    /// The node holds its cap of connections (503).
    NodeFull,
}

#[derive(Default)]
struct Counts {
    node: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// The caps and the live counts of one node.
pub struct Admission {
    max_per_address: usize,
    max_connections: usize,
    counts: Mutex<Counts>,
}

/// One admitted connection; dropping it frees its place.
pub struct Ticket {
    admission: Arc<Admission>,
    address: Option<IpAddr>,
}

impl Admission {
    /// Caps of `max_per_address` connections per public address and
    /// `max_connections` on the node.
    pub fn new(max_per_address: usize, max_connections: usize) -> Self {
        Self {
            max_per_address,
            max_connections,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Admits a connection from `address`; `None` (a token holder, or an
    /// address that cannot be told) is held to the node cap only.
    pub fn admit(self: &Arc<Self>, address: Option<IpAddr>) -> Result<Ticket, Refusal> {
        // The counts stay consistent under a panic elsewhere: every change
        // below is complete before the lock is released.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.node >= self.max_connections {
            return Err(Refusal::NodeFull);
        }
        if let Some(ip) = address {
            let held = counts.per_address.entry(ip).or_insert(0);
            if *held >= self.max_per_address {
                return Err(Refusal::AddressFull(self.max_per_address));
            }
            *held += 1;
        }
        counts.node += 1;
        Ok(Ticket {
            admission: self.clone(),
            address,
        })
    }

    /// The node cap.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Connections open on this node.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).node
    }

    fn release(&self, address: Option<IpAddr>) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.node = counts.node.saturating_sub(1);
        if let Some(ip) = address
            && let Some(held) = counts.per_address.get_mut(&ip)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                // Forget the address: the table holds live addresses only.
                counts.per_address.remove(&ip);
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([203, 0, 113, last]))
    }

    #[test]
    fn an_address_is_capped_and_a_dropped_ticket_frees_its_place() {
        let admission = Arc::new(Admission::new(2, 100));
        let first = admission.admit(ip(1)).unwrap();
        let _second = admission.admit(ip(1)).unwrap();
        assert_eq!(admission.admit(ip(1)).err(), Some(Refusal::AddressFull(2)));
        assert!(admission.admit(ip(2)).is_ok());
        drop(first);
        assert!(admission.admit(ip(1)).is_ok());
    }

    #[test]
    fn the_node_cap_holds_for_token_holders_too_and_the_table_forgets_idle_addresses() {
        let admission = Arc::new(Admission::new(1, 2));
        let a = admission.admit(None).unwrap();
        let b = admission.admit(None).unwrap();
        assert_eq!(admission.admit(None).err(), Some(Refusal::NodeFull));
        assert_eq!(admission.admit(ip(9)).err(), Some(Refusal::NodeFull));
        drop((a, b));
        assert_eq!(admission.open(), 0);
        drop(admission.admit(ip(3)).unwrap());
        assert!(
            admission
                .counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .per_address
                .is_empty()
        );
    }
}
