//! Campanile: situational awareness for crises and mass gatherings.
//!
//! Geotagged posts and citizen reports are bucketed into H3 hexagons, counted
//! over sliding time windows, and pushed as live density heatmaps over
//! WebSocket to an operations room, field commanders and the public.
//! Campanile shows where crowds are, never who is in them.
//!
//! # Layout
//! Data flows one way; each module owns one step and its doc says which.
//!
//! ```text
//! api::posts ─► ingest (parse ─► domain: validate ─► bucket: H3 + time) ─► engine ─► hub (tick, delta) ─► ws::session
//!   demo ──────┘                                                              ▲
//! api::heatmap ───────────────────────────────────────────── reads ──────────┘
//! ```
//!
//! - [`domain`]: validated types (`LatLon`, `Post`, `Role`, `Window`,
//!   `ResolutionRange`) and the wire time format; a value that exists is valid.
//! - [`privacy`]: the author's keyed hash; the raw author goes no further.
//! - [`ingest`]: body framing, validation, H3 bucketing, hand-off to the
//!   engine; the one door into the counts for posts and reports alike.
//! - [`engine`]: the storage contract, one store per concern (counts, broadcast
//!   log, reports, alerts gate, audit, idempotency), and its `memory` and
//!   `redis` engines.
//! - [`hub`]: every channel a session subscribes to: heatmap groups, the
//!   tick loop and delta encoding; one relay per feed for broadcasts,
//!   reports and alerts.
//! - [`protocol`]: the wire protocol — WebSocket messages, the cell as
//!   clients see it, one encoding shared by every session — below the hub
//!   that prepares messages and the sessions and routes that send them.
//! - [`ws`]: the WebSocket upgrade, admission and one connection's state machine.
//! - [`api`]: HTTP routes by resource, one error type mapped to the envelope.
//! - [`auth`]: JWT roles. [`config`]: layered settings. [`telemetry`]: logs
//!   and metrics. [`startup`]: builds the server for `main` and for tests;
//!   [`assets`]: the pages and the library files they load, nothing else of `web/`.
//! - [`demo`]: the synthetic event, `simulate` and `replay`.
//! - [`alert`]: surge and threshold detection by the rules of
//!   `alert::rules`, and the CAP and Atom renderings of broadcasts;
//!   [`broadcasts`] and [`reports`] own those two flows, [`geodata`] the
//!   event's zones.

/// The allocator for the binary, its tests and benchmarks: every request
/// and every Redis command allocates short-lived buffers, and the system
/// allocator spent a third of the server's CPU on them under load
/// (`docs/PERFORMANCE.md`, "Profiles").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod alert;
pub mod api;
pub mod assets;
pub mod auth;
pub mod broadcasts;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod geodata;
pub mod hub;
pub mod ingest;
pub mod limits;
pub mod privacy;
pub mod protocol;
pub mod reports;
pub mod schedule;
pub mod startup;
pub mod telemetry;
pub mod ws;
