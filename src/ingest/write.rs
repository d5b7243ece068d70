//! Which request a write belongs to (DESIGN §3, Posts).
//!
//! The engine recognises a chunk it has already counted by the chunk's name,
//! a hash of its items' fingerprints. A post's own fingerprint says only what
//! it holds, so two people texting "help" from the same corner would share
//! it. Salting every fingerprint with the request's [`WriteId`] makes a
//! chunk's name say *which request* wrote it: a fresh request gets names
//! nobody has used, and only the retry of an `Idempotency-Key` request (same
//! caller, same key) gets the names of its first attempt back.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::Contributor;

/// The identity of one request's writes, and the time it stamps on posts
/// that carry none.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteId {
    salt: [u8; 32],
    at: DateTime<Utc>,
}

impl std::fmt::Debug for WriteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Derived from a caller's key: not for logs.
        f.write_str("WriteId(..)")
    }
}

impl WriteId {
    /// A request without a key: its writes can be recognised by nobody else,
    /// so that posts without `id` are never taken for one another.
    pub fn unique() -> Self {
        Self {
            salt: rand::random(),
            at: Utc::now(),
        }
    }

    /// A request under an idempotency key: every attempt of the same caller
    /// with the same key writes under the same names. `scope` names the
    /// caller, so that one caller's key never meets another's; `at` is when
    /// the key's first attempt ran, so that a retry puts posts without `ts`
    /// in the same time buckets (and so under the same chunk markers).
    pub fn keyed(scope: &str, key: &str, at: DateTime<Utc>) -> Self {
        let mut h = Sha256::new();
        h.update(b"campanile/write/v1\0");
        h.update((scope.len() as u64).to_le_bytes());
        h.update(scope.as_bytes());
        h.update(key.as_bytes());
        Self {
            salt: h.finalize().into(),
            at,
        }
    }

    /// The time this write stamps on posts without `ts`, and checks the
    /// others against.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// A post's fingerprint as written by this request.
    pub fn fingerprint(&self, post: u64) -> u64 {
        self.derive(b"fingerprint", post)
    }

    /// The contributor of the `index`th item of the batch when its sender
    /// gave neither author nor id: one of its own, and the same one on a
    /// retry under the same key, so that a retried batch adds no contributor.
    pub fn own_contributor(&self, index: usize) -> Contributor {
        Contributor(self.derive(b"contributor", index as u64))
    }

    fn derive(&self, what: &[u8], n: u64) -> u64 {
        write_identity(&[&self.salt, what, &n.to_le_bytes()])
    }
}

/// A 64-bit name for a write, the same on every node for the same `parts`:
/// the first 8 bytes of their SHA-256. Engines recognise a write sent again
/// by it (a chunk, a moderation's count change).
pub fn write_identity(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_writes_never_share_a_fingerprint_and_keyed_ones_always_do() {
        assert_ne!(WriteId::unique().fingerprint(7), WriteId::unique().fingerprint(7));
        let at = Utc::now();
        let a = WriteId::keyed("sub\0ingest-1", "k", at);
        let again = WriteId::keyed("sub\0ingest-1", "k", at);
        assert_eq!(a.fingerprint(7), again.fingerprint(7));
        assert_eq!(a.own_contributor(3), again.own_contributor(3));
        assert_ne!(a.own_contributor(3), a.own_contributor(4));
    }

    #[test]
    fn the_same_key_of_another_caller_is_another_write() {
        let at = Utc::now();
        let mine = WriteId::keyed("sub\0alice", "k", at);
        assert_ne!(mine.fingerprint(1), WriteId::keyed("sub\0bob", "k", at).fingerprint(1));
        // The scope's length is hashed: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            WriteId::keyed("ab", "c", at).fingerprint(1),
            WriteId::keyed("a", "bc", at).fingerprint(1)
        );
    }
}
