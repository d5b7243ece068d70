//! The crowd picture: zones in people.

pub mod cover;
