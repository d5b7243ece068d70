//! Privacy by design (DESIGN §6): the author's identity ends here.
//!
//! An `author` is turned into a [`Contributor`] by a keyed hash whose key is
//! derived from the deployment's author secret (never the token secret, so
//! that rotating one leaves the other alone) and the UTC day, so the key rotates
//! daily and every node of a deployment derives the same one. Only 64 bits of
//! the hash survive: enough to count distinct contributors, useless to look
//! anyone up without the secret.

use std::sync::RwLock;

use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::{Contributor, PostId, Pseudonymiser, Source};

type HmacSha256 = Hmac<Sha256>;

/// Hashes authors with a key that changes every UTC day.
pub struct AuthorHasher {
    secret: Vec<u8>,
    day_key: RwLock<Option<(NaiveDate, HmacSha256)>>,
}

impl AuthorHasher {
    /// A hasher keyed by `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
            day_key: RwLock::new(None),
        }
    }

    fn keyed_for(&self, now: DateTime<Utc>) -> HmacSha256 {
        let day = now.date_naive();
        if let Ok(guard) = self.day_key.read()
            && let Some((d, mac)) = guard.as_ref()
            && *d == day
        {
            return mac.clone();
        }
        let mut derive = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        derive.update(b"campanile/author-key/v1/");
        derive.update(day.to_string().as_bytes());
        let day_key = derive.finalize().into_bytes();
        let mac = HmacSha256::new_from_slice(&day_key).expect("HMAC takes keys of any length");
        if let Ok(mut guard) = self.day_key.write() {
            *guard = Some((day, mac.clone()));
        }
        mac
    }
}

impl Pseudonymiser for AuthorHasher {
    /// The contributor behind `author` today.
    fn contributor(&self, author: &str, now: DateTime<Utc>) -> Contributor {
        let mut mac = self.keyed_for(now);
        mac.update(b"author\0");
        mac.update(author.as_bytes());
        Contributor(first_u64(&mac.finalize().into_bytes()))
    }

    /// A post without an author counts as a contributor of its own. With an
    /// id the identity is stable, so that a retried post is the same one;
    /// without one it is new every time (DESIGN §3: posts without `id` are
    /// never taken for one another), unless the ingest path replaces it by
    /// one derived from the request's idempotency key.
    fn anonymous_contributor(&self, source: &Source, id: Option<&PostId>) -> Contributor {
        match id {
            Some(id) => {
                let mut mac = self.keyed_for(Utc::now());
                mac.update(b"anonymous\0");
                mac.update(source.as_str().as_bytes());
                mac.update(b"\0");
                mac.update(id.as_str().as_bytes());
                Contributor(first_u64(&mac.finalize().into_bytes()))
            }
            None => Contributor(rand::random()),
        }
    }
}

fn first_u64(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_key_rotates_with_the_day() {
        let h = AuthorHasher::new(b"secret");
        let now = Utc::now();
        assert_eq!(h.contributor("@a", now), h.contributor("@a", now));
        assert_ne!(h.contributor("@a", now), h.contributor("@a", now + Duration::days(1)));
    }

    #[test]
    fn another_secret_gives_other_contributors() {
        let now = Utc::now();
        let a = AuthorHasher::new(b"one").contributor("@a", now);
        let b = AuthorHasher::new(b"two").contributor("@a", now);
        assert_ne!(a, b);
    }
}
