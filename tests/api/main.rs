//! Black-box tests: the real server on port 0, a real `redis-server` on a
//! free port, real HTTP and WebSocket clients. One binary, built once.

mod abuse;
mod alerts;
mod architecture;
mod attacks;
mod broadcasts;
mod cli;
mod conformance;
mod contact_scan;
mod crowd;
mod engine;
mod event;
mod h3_reference;
mod health;
mod heatmap;
mod helpers;
mod idempotency;
mod ingest_limits;
mod integrity;
mod official_alerts;
mod pii_masking;
mod posts;
mod privacy;
mod properties;
mod reports;
mod roles;
mod rumours;
mod scaleout;
mod serving;
mod tokens;
mod websocket;
mod ws_admission;
mod ws_conformance;
mod xml_text;
mod zones;
mod zones_channel;
