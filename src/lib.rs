//! Campanile: situational awareness for crises and mass gatherings.
//!
//! Geotagged posts and citizen reports are bucketed into H3 hexagons, counted
//! over sliding time windows, and pushed as live density heatmaps over
//! WebSocket to an operations room, field commanders and the public.
//! Campanile shows where crowds are, never who is in them.
//!
//! # Layout
//! Data flows one way; each module owns one step and its doc says which.
//! `docs/ARCHITECTURE.md` draws the flows and says where new things go;
//! `tests/api/architecture.rs` keeps the layers below from importing
//! upwards or in a circle.
//!
//! ```text
//! posts    api::posts ─► ingest (parse ─► domain ─► bucket) ─► engine::CountStore ─► hub (tick) ─► ws::session
//! reports  api::reports ─► reports ─► ingest (count) + engine::ReportStore ─► hub reports relay ─► ws::session
//! messages api::broadcasts ─► broadcasts ─► engine::BroadcastLog {seq, epoch} ─► hub broadcasts relay ─► ws::session
//! rumours  api::rumours ─► rumours ─► engine::RumourStore (compare-and-set) ─► public snapshot ─► /rumours, rumours.atom
//! alerts   alert::detector ─► alert::rules ─► engine::AlertGate ─► hub alerts relay ─► ws::session
//! zone alerts hub zones frames ─► alert::zone_watch ─► alert::rules ─► engine::AlertGate (as above)
//! reads    api::heatmap ─► hub (the same group and frame the sessions get)
//! ```
//!
//! From the bottom layer up:
//! - vocabulary — [`domain`]: validated types (`LatLon`, `Post`, `Report`,
//!   `Broadcast`, `Role`, `Window`, `Zones`, shapes) and the time and
//!   bucket arithmetic; a value that exists is valid. [`privacy`]: the
//!   author's keyed hash, the raw author goes no further. [`auth`]: JWT
//!   roles. [`geodata`]: reads the event's zones. [`basemap`]: which base
//!   map the pages draw, checked at start-up. [`limits`]: per-address
//!   rates. [`telemetry`]: logs and metrics. [`schedule`]: periodic tasks.
//!   [`integrity`]: personal data in text, terms, near-duplicates, trends.
//! - storage — [`engine`]: the storage contract, one store per concern
//!   (counts, broadcast log, reports, rumours, alerts gate, audit, idempotency), and
//!   its `memory` and `redis` engines; `durable` keeps the memory engine
//!   on disk (a log of its write calls, replayed at start).
//! - intake — [`ingest`]: body framing, validation, H3 bucketing, hand-off
//!   to the engine; the one door into the counts for posts and reports.
//! - services — [`broadcasts`] (send, acknowledge, audit), [`reports`]
//!   (create, moderate, the operators' overlay of unverified reports),
//!   [`rumours`] (the rumour register: record, change, publish, broadcast,
//!   link reports moderated `false`; its Atom feed),
//!   [`alert`] (rules, detector, CAP and Atom), [`demo`] (the synthetic event),
//!   [`crowd`] (zones in people: the cells that cover each zone, people,
//!   density, levels and trend per zone from contributors).
//! - wire — [`protocol`]: WebSocket messages, the cell as clients see it,
//!   one encoding shared by every session.
//! - fan-out — [`hub`]: every channel a session subscribes to: heatmap
//!   groups, the tick loop and delta encoding; one relay per feed for
//!   broadcasts, reports and alerts.
//! - sessions — [`ws`]: admission, frames and one connection's state machine.
//! - settings — [`config`]: layered settings, resolved once.
//! - edges — [`api`]: HTTP routes by resource (`/ws` included), one error
//!   type mapped to the envelope, the base map's archive among the routes;
//!   [`assets`]: the pages and the library files they load, nothing else of
//!   `web/`.
//! - assembly — [`startup`]: builds the server for the binary and for tests;
//!   [`cli`]: the server's commands. The binary adds `campanile bench`.

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
pub mod basemap;
pub mod broadcasts;
pub mod cli;
pub mod config;
pub mod crowd;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod geodata;
pub mod hub;
pub mod ingest;
pub mod integrity;
pub mod limits;
pub mod official;
pub mod privacy;
pub mod protocol;
pub mod reports;
pub mod rumours;
pub mod schedule;
pub mod startup;
pub mod telemetry;
pub mod ws;
