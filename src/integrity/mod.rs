//! Information integrity (DESIGN §10), the pure parts: personal data found
//! and masked in text ([`pii`]), the terms a text counts for in trends
//! ([`terms`]), near-duplicate texts grouped into clusters ([`neardup`]) and
//! terms ranked by growth per place ([`trends`]). Nothing here reads a clock
//! or an engine: the hub feeds them the texts in the order the engine keeps
//! them, so that every node derives the same trends and clusters.

pub mod neardup;
pub mod pii;
pub mod terms;
pub mod trends;
