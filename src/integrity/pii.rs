//! Placeholder until the personal-data detector lands: finds nothing.
#![allow(missing_docs)]

use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Phone,
    Email,
    Plate,
    Address,
    Handle,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Phone => "phone",
            PiiKind::Email => "email",
            PiiKind::Plate => "plate",
            PiiKind::Address => "address",
            PiiKind::Handle => "handle",
        }
    }
    pub fn mask(self) -> &'static str {
        match self {
            PiiKind::Phone => "[phone]",
            PiiKind::Email => "[e-mail]",
            PiiKind::Plate => "[plate]",
            PiiKind::Address => "[address]",
            PiiKind::Handle => "[@handle]",
        }
    }
}

pub struct Finding {
    pub kind: PiiKind,
    pub range: std::ops::Range<usize>,
}

pub fn find(_text: &str) -> Vec<Finding> {
    Vec::new()
}

pub struct Masked {
    pub text: String,
    pub kinds: BTreeSet<PiiKind>,
}

pub fn mask(text: &str) -> Masked {
    Masked {
        text: text.to_owned(),
        kinds: BTreeSet::new(),
    }
}

pub fn contains_contact(_text: &str) -> bool {
    false
}
