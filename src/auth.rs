//! Tokens and roles (DESIGN §5): who is calling.
//!
//! Tokens are HS256 JWTs with `sub`, `role` and `exp`. Verification accepts
//! HS256 only, so `alg: none` and algorithm-confusion tokens are refused.
//! It follows RFC 7519: `iat` and `nbf` are optional and `nbf` is honoured;
//! `sub` must not be empty; a deployment may pin `iss` and caps the lifetime
//! a token may claim, so that a leaked long-lived token is not accepted.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::domain::{Principal, Role};

/// The claims Campanile reads and writes (RFC 7519 §4.1); `iat`, `nbf` and
/// `iss` are optional as the RFC has them.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
}

/// Why a token was refused; always answered with 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Not a well-formed, correctly signed, unexpired token.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Signed and valid, but with a role Campanile does not know.
    #[error("{0}")]
    UnknownRole(String),
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be 'Bearer <token>'")]
    BadScheme,
    /// Signed, but breaking one of the deployment's rules (DESIGN §5).
    #[error("{0}")]
    Refused(&'static str),
}

/// Default of `--token-max-ttl` (DESIGN §5).
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Seconds of clock difference forgiven on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// A verified token: who, and until when (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The caller.
    pub principal: Principal,
    /// The token's `exp`.
    pub expires_at: i64,
}

/// Signs and verifies tokens with the deployment's secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    max_ttl_secs: i64,
}

impl TokenKeys {
    /// Keys from the shared secret (`CAMPANILE_JWT_SECRET`), no pinned
    /// issuer and the default lifetime cap; an empty secret is refused.
    pub fn new(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            issuer: None,
            max_ttl_secs: secs(DEFAULT_MAX_TTL),
        })
    }

    /// Pins `iss` (`--jwt-issuer`): tokens must carry it, and issued ones do.
    pub fn with_issuer(mut self, issuer: Option<String>) -> Self {
        match &issuer {
            Some(iss) => {
                self.validation.set_issuer(&[iss]);
                self.validation.set_required_spec_claims(&["exp", "sub", "iss"]);
            }
            None => {
                self.validation.iss = None;
                self.validation.set_required_spec_claims(&["exp", "sub"]);
            }
        }
        self.issuer = issuer;
        self
    }

    /// Caps the lifetime a token may claim (`--token-max-ttl`).
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl_secs = secs(max_ttl);
        self
    }

    /// A token for `sub` with `role`, valid for `ttl`.
    pub fn issue(&self, role: Role, sub: &str, ttl: Duration) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            role: role.as_str().to_owned(),
            exp: now.saturating_add(secs(ttl)),
            iat: Some(now),
            nbf: None,
            iss: self.issuer.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies a bare token.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_token(token).map(|v| v.principal)
    }

    /// Verifies a bare token and tells when it expires.
    pub fn verify_token(&self, token: &str) -> Result<Verified, AuthError> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::InvalidToken)?
            .claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Refused("the token's sub is empty"));
        }
        // Counted from the earlier of `iat` and now, so that a token cannot
        // stretch its reach by claiming to be issued in the future.
        let now = chrono::Utc::now().timestamp();
        let from = claims.iat.map_or(now, |iat| iat.min(now));
        if claims.exp.saturating_sub(from) > self.max_ttl_secs.saturating_add(secs_i64(LEEWAY_SECS)) {
            return Err(AuthError::Refused(
                "the token lives longer than this deployment accepts (--token-max-ttl)",
            ));
        }
        let role = claims.role.parse::<Role>().map_err(AuthError::UnknownRole)?;
        Ok(Verified {
            principal: Principal::User { sub: claims.sub, role },
            expires_at: claims.exp,
        })
    }

    /// Verifies an `Authorization` header value; no header is the public.
    pub fn from_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        self.token_from_header(header)
            .map(|v| v.map_or(Principal::Public, |v| v.principal))
    }

    /// As [`TokenKeys::from_header`], with the token's expiry.
    pub fn token_from_header(&self, header: Option<&str>) -> Result<Option<Verified>, AuthError> {
        let Some(value) = header else {
            return Ok(None);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::BadScheme)?;
        self.verify_token(token.trim()).map(Some)
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
}

fn secs_i64(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_a_forged_one_does_not() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let token = keys.issue(Role::Operator, "alice", Duration::from_secs(60)).unwrap();
        assert_eq!(
            keys.verify(&token),
            Ok(Principal::User {
                sub: "alice".into(),
                role: Role::Operator
            })
        );
        let other = TokenKeys::new(b"another secret entirely, 32 byte").unwrap();
        assert_eq!(other.verify(&token), Err(AuthError::InvalidToken));
    }

    #[test]
    fn alg_none_and_expired_tokens_are_refused() {
        let keys = TokenKeys::new(b"secret").unwrap();
        // {"alg":"none","typ":"JWT"} . {"sub":"x","role":"operator","exp":9999999999}
        let none =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6Im9wZXJhdG9yIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert_eq!(keys.verify(none), Err(AuthError::InvalidToken));
        let claims = Claims {
            sub: "x".into(),
            role: "operator".into(),
            exp: chrono::Utc::now().timestamp() - 3600,
            iat: None,
            nbf: None,
            iss: None,
        };
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret").unwrap(),
        )
        .unwrap();
        assert_eq!(keys.verify(&expired), Err(AuthError::InvalidToken));
    }

    #[test]
    fn an_unknown_role_is_refused_and_no_header_is_public() {
        let keys = TokenKeys::new(b"secret").unwrap();
        let claims = Claims {
            sub: "x".into(),
            role: "admin".into(),
            exp: chrono::Utc::now().timestamp() + 3600,
            iat: None,
            nbf: None,
            iss: None,
        };
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret").unwrap(),
        )
        .unwrap();
        assert!(matches!(keys.verify(&token), Err(AuthError::UnknownRole(_))));
        assert_eq!(keys.from_header(None), Ok(Principal::Public));
        assert_eq!(keys.from_header(Some("Basic abc")), Err(AuthError::BadScheme));
    }

    fn signed(claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(b"secret").unwrap(),
        )
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn iat_is_optional_and_nbf_in_the_future_is_refused() {
        let keys = TokenKeys::new(b"secret").unwrap();
        let plain = signed(&serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 60}));
        assert!(keys.verify(&plain).is_ok());
        let early =
            signed(&serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 600, "nbf": now() + 300}));
        assert_eq!(keys.verify(&early), Err(AuthError::InvalidToken));
        let started =
            signed(&serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 600, "nbf": now() - 1}));
        assert!(keys.verify(&started).is_ok());
    }

    #[test]
    fn an_empty_or_missing_sub_is_refused() {
        let keys = TokenKeys::new(b"secret").unwrap();
        for sub in ["", "   "] {
            let token = signed(&serde_json::json!({"sub": sub, "role": "operator", "exp": now() + 60}));
            assert!(matches!(keys.verify(&token), Err(AuthError::Refused(_))), "{sub:?}");
        }
        let none = signed(&serde_json::json!({"role": "operator", "exp": now() + 60}));
        assert_eq!(keys.verify(&none), Err(AuthError::InvalidToken));
        let no_exp = signed(&serde_json::json!({"sub": "a", "role": "operator"}));
        assert_eq!(keys.verify(&no_exp), Err(AuthError::InvalidToken));
    }

    #[test]
    fn a_pinned_issuer_is_required_and_written() {
        let keys = TokenKeys::new(b"secret").unwrap().with_issuer(Some("bologna".into()));
        let issued = keys.issue(Role::Commander, "c", Duration::from_secs(60)).unwrap();
        assert!(keys.verify(&issued).is_ok());
        for claims in [
            serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 60, "iss": "elsewhere"}),
            serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 60}),
        ] {
            assert_eq!(keys.verify(&signed(&claims)), Err(AuthError::InvalidToken), "{claims}");
        }
        // Without a pinned issuer any `iss` passes.
        let open = TokenKeys::new(b"secret").unwrap();
        assert!(open.verify(&issued).is_ok());
    }

    #[test]
    fn a_lifetime_over_the_cap_is_refused_however_it_is_dressed() {
        let keys = TokenKeys::new(b"secret")
            .unwrap()
            .with_max_ttl(Duration::from_secs(3600));
        let ok = keys.issue(Role::Operator, "a", Duration::from_secs(3600)).unwrap();
        assert!(keys.verify(&ok).is_ok());
        let long = keys.issue(Role::Operator, "a", Duration::from_secs(7200)).unwrap();
        assert!(matches!(keys.verify(&long), Err(AuthError::Refused(_))));
        // No iat: counted from now.
        let far = signed(&serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 7200}));
        assert!(matches!(keys.verify(&far), Err(AuthError::Refused(_))));
        // An iat in the future does not buy a longer reach from now.
        let future_iat =
            signed(&serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 7200, "iat": now() + 3700}));
        assert!(matches!(keys.verify(&future_iat), Err(AuthError::Refused(_))));
        // An old token near its end is fine: its whole life was within the cap.
        let old = signed(&serde_json::json!({"sub": "a", "role": "operator", "exp": now() + 60, "iat": now() - 3000}));
        assert!(keys.verify(&old).is_ok());
    }
}
