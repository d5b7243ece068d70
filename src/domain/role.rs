//! Who is calling: a token's role, or the public (DESIGN §5), and what each
//! may see.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a token holder may do (DESIGN §5). Public callers have no role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Operations room: everything, including moderation and broadcasts.
    Operator,
    /// Field commander: verified picture, acknowledgements, field reports.
    Commander,
    /// Machine client that feeds posts.
    Ingest,
}

impl Role {
    /// The role's name as it appears in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Commander => "commander",
            Role::Ingest => "ingest",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "commander" => Ok(Role::Commander),
            "ingest" => Ok(Role::Ingest),
            other => Err(format!(
                "unknown role {other:?}: expected operator, commander or ingest"
            )),
        }
    }
}

/// Who is calling: a verified token holder, or the public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No token: the restricted public view (§6).
    Public,
    /// A valid token's subject and role.
    User {
        /// The token's `sub`, recorded in the audit log.
        sub: String,
        /// The token's role.
        role: Role,
    },
}

impl Principal {
    /// The caller's role, if any.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Public => None,
            Principal::User { role, .. } => Some(*role),
        }
    }

    /// Whether the caller holds one of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.role().is_some_and(|r| roles.contains(&r))
    }

    /// Public callers get the privacy-filtered view (§6).
    pub fn is_public(&self) -> bool {
        matches!(self, Principal::Public)
    }

    /// Whether the caller sees the whole picture: counts, thin cells,
    /// unverified reports, alerts, responders' messages. Operators and
    /// commanders do; the public does not, nor the `ingest` role, a machine
    /// credential that posts and reads no more than the public (§5, §6).
    pub fn sees_full_picture(&self) -> bool {
        self.has_any(&[Role::Operator, Role::Commander])
    }
}
