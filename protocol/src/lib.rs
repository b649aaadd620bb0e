//! # turnwire-protocol
//!
//! The sans-IO core of turnwire: codecs and deterministic state machines for streaming
//! model responses (the OpenAI Responses API and compatible servers) over HTTP
//! Server-Sent Events and WebSocket. No async, no I/O, no clock, no randomness: time
//! and the jitter seed are inputs, and what to send, open or show is output.
//!
//! The codecs are small modules usable on their own: [`sse`] (event-stream framing),
//! [`event`] (server events), [`item`] and [`request`] (what goes on the wire),
//! [`headers`] (turn state, rate limits), [`error`] (classification) and [`backoff`]
//! (retry delays).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
pub mod config;
pub mod error;
pub mod event;
pub mod headers;
pub mod item;
pub mod limits;
pub mod request;
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
