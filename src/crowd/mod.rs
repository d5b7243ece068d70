//! The crowd picture (DESIGN §9): turns a zone's distinct contributors into
//! people, and people into density, levels, words for the public, a trend
//! and a forecast. Pure arithmetic over figures the caller reads from the
//! engine and the zones: nothing here does I/O or knows where the figures
//! are stored, so the same rules hold on every engine and in every test.
//!
//! - [`cover`]: the cells that cover each zone once, and the zone that
//!   names each cell.
//! - [`estimate`]: people from contributors, calibrated live by head-counts,
//!   with a 90 % prediction interval.
//! - [`level`]: density levels, the capacity rule, the public's words, the
//!   trend and the minutes to `serious`.
//! - [`status`]: a zone's status from its cells' figures, and the public's
//!   view of it in words.

pub mod cover;
pub mod estimate;
pub mod level;
pub mod status;
