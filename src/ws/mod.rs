//! The WebSocket machinery under `GET /ws` (whose route is `api::ws`):
//! who may connect is decided by [`admission`]; the client's frames are
//! read by [`frames`]; the protocol's types live in [`crate::protocol`];
//! one connection's state machine in [`session`].

pub mod admission;
pub mod frames;
pub mod session;
pub mod socket;
