//! # turnwire-testkit
//!
//! Tools for testing the turnwire session without a network:
//!
//! - [`sim::Simulator`]: drives a [`Session`](turnwire_protocol::session::Session)
//!   against a sans-IO [`sim::FakeServer`] in virtual time, with a seeded fault schedule
//!   ([`sim::FaultConfig`]), an auth source stand-in, an invariant checker, a printable
//!   trace and a replayable input record;
//! - [`loopback`]: the same scripts served over real sockets, in real time;
//! - [`vruntime`]: a driver `Runtime` in virtual time, whose connections are in-memory
//!   pipes to the same scripted server;
//! - [`record`]: the record format of a session's inputs, shared by the simulator and
//!   `turnwire run --record` / `turnwire replay`;
//! - [`wire`]: JSON builders for items and server events;
//! - [`rng`]: the small seeded generator every random choice comes from.
//!
//! The simulator and the virtual runtime are deterministic: the same configuration,
//! seed and script give the same run, byte for byte.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod loopback;
pub mod record;
pub mod rng;
pub mod sim;
pub mod vruntime;
pub mod wire;
