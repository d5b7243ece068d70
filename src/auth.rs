//! Tokens and roles (DESIGN §5): who is calling.
//!
//! Tokens are HS256 JWTs with `sub`, `role` and `exp`. Verification accepts
//! HS256 only, so `alg: none` and algorithm-confusion tokens are refused.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::domain::{Principal, Role};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    exp: i64,
    iat: i64,
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
}

/// Signs and verifies tokens with the deployment's secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    /// Keys from the shared secret (`CAMPANILE_JWT_SECRET`); an empty
    /// secret is refused.
    pub fn new(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    /// A token for `sub` with `role`, valid for `ttl`.
    pub fn issue(&self, role: Role, sub: &str, ttl: Duration) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: sub.to_owned(),
            role: role.as_str().to_owned(),
            exp: now.saturating_add(ttl),
            iat: now,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies a bare token.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| AuthError::InvalidToken)?;
        let role = data.claims.role.parse::<Role>().map_err(AuthError::UnknownRole)?;
        Ok(Principal::User {
            sub: data.claims.sub,
            role,
        })
    }

    /// Verifies an `Authorization` header value; no header is the public.
    pub fn from_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let Some(value) = header else {
            return Ok(Principal::Public);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::BadScheme)?;
        self.verify(token.trim())
    }
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
            iat: 0,
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
            iat: 0,
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
}
