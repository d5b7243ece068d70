//! Validated domain types: the only way into the rest of the code.
//!
//! Every type here is built through a constructor that checks its input, so a
//! value that exists is valid ("parse, don't validate"). Handlers, the engine
//! and the hub never see raw strings or unchecked numbers.

pub mod broadcast;
mod error;
mod geo;
mod post;
mod post_text;
pub mod report;
mod resolution;
mod role;
pub mod rumour;
mod shape;
pub mod text;
mod time;
mod window;
mod zone;

pub use error::FieldError;
pub use geo::{BBox, LatLon};
pub use post::{Contributor, Language, MAX_CLOCK_SKEW, Post, PostId, PostRules, Pseudonymiser, RawPost, Source};
pub use post_text::PostText;
pub use resolution::ResolutionRange;
pub use role::{Principal, Role};
pub use shape::{Ring, Shape};
pub use time::{bucket_start, rfc3339};
pub use window::{Window, Windows};
pub use zone::{Advice, ZONE_KINDS, ZoneShape, Zones};
