//! Black-box tests: the real server on port 0, a real `redis-server` on a
//! free port, real HTTP and WebSocket clients. One binary, built once.

mod abuse;
mod broadcasts;
mod cli;
mod conformance;
mod engine;
mod h3_reference;
mod health;
mod heatmap;
mod helpers;
mod posts;
mod privacy;
mod properties;
mod reports;
mod roles;
mod scaleout;
mod websocket;
mod zones;
