//! # turnwire-protocol
//!
//! The sans-IO core of turnwire: codecs and deterministic state machines for streaming
//! model responses (the OpenAI Responses API and compatible servers) over HTTP
//! Server-Sent Events and WebSocket. No async, no I/O, no clock, no randomness: time
//! and the jitter seed are inputs, and what to send, open or show is output.
//!
//! ## The drain rule
//!
//! A [`session::Session`] has one input door and one output queue. After **every**
//! [`Session::handle_input`](session::Session::handle_input), call
//! [`Session::poll_output`](session::Session::poll_output) until it returns `None`, then
//! read [`Session::poll_timeout`](session::Session::poll_timeout), then wait for I/O or
//! that deadline, whichever comes first (feeding [`session::Input::Timeout`] on the
//! deadline; a spurious timeout is harmless). An input offered while outputs are still
//! queued past the configured bound is refused with
//! [`session::UsageError::OutputsNotDrained`].
//!
//! Three kinds of failure never mix: caller misuse is a synchronous `Err` from
//! `handle_input` with the state unchanged; peer and protocol errors end their request
//! with [`session::Output::Failed`]; transport results are inputs from which the session
//! decides retry or fallback.
//!
//! ## The codecs
//!
//! Each is a small module usable (and fuzzable) alone: [`sse`] (event-stream framing),
//! [`http1`] (the HTTP/1.1 client codec: requests out, responses in), [`event`]
//! (server events), [`item`] and [`request`] (what goes on the wire), [`headers`]
//! (turn state, rate limits, the server's retry hints) with every header name in
//! [`header_names`], [`error`] (classification) and [`backoff`] (retry delays).
//! [`rng`] is the seeded generator backoff jitter is drawn from. [`pool`] is the
//! keep-alive pool's policy for drivers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
pub mod config;
pub mod connect;
mod decimal;
pub mod error;
pub mod event;
pub mod header_names;
pub mod headers;
pub mod http1;
pub mod item;
pub mod limits;
pub mod pool;
pub mod request;
pub mod rng;
pub mod secret;
mod serde_duration;
pub mod session;
pub mod sse;
pub mod time;

pub use config::{Config, ConfigError, Identity, WsProtocol};
pub use error::ResponseError;
pub use event::{RateLimitSnapshot, ResponseEvent, Usage};
pub use item::ResponseItem;
pub use limits::Limits;
pub use request::RequestFields;
pub use secret::{Credentials, Secret};
pub use time::{Instant, Now, UnixTime};
