//! # turnwire-transports
//!
//! The turnwire driver, written once over a small [`Runtime`] trait: it carries out
//! the sans-IO core's outputs with HTTP/1.1 (a small codec of its own), WebSocket (async-tungstenite) and
//! TLS (rustls with the ring provider), and feeds every result back. The runtime
//! crates (`turnwire-tokio`, `turnwire-smol`) plug a runtime in.
//!
//! ```ignore
//! let client = turnwire_tokio::client(ClientOptions::new(config, ApiKey::new(key)))?;
//! let turn = client.new_turn(TurnOptions::default());
//! let mut events = turn.stream_text(RequestFields::new("gpt-5"), "Say hello.");
//! while let Some(event) = events.next().await { println!("{:?}", event?); }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
mod client;
mod delivery;
mod driver;
mod error;
mod http1;
mod http_conn;
mod keepalive;
mod runtime;
mod tls;
mod ws_conn;

pub use auth::{ApiKey, AuthProvider};
pub use client::{
    Client, ClientOptions, InputRecorder, ResponseStream, TelemetryHook, Turn,
    random_conversation_id, random_seed,
};
pub use error::Error;
pub use runtime::{AsyncTimer, BoxFuture, BoxStream, ByteStream, Runtime};
pub use tls::TlsSettings;
pub use turnwire_protocol as protocol;
