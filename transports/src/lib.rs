//! # turnwire-transports
//!
//! The turnwire driver, written once over a small [`Runtime`] trait: it carries out
//! the sans-IO core's outputs with HTTP/1.1 (the core's `http1` codec), WebSocket
//! (async-tungstenite) and TLS (rustls with the ring provider), and feeds every result
//! back. Every socket is opened in one place, which also tunnels through an HTTP
//! [`Proxy`] and applies one trust policy ([`TlsSettings`]). The runtime crates
//! (`turnwire-tokio`, `turnwire-smol`) plug a runtime in.
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
mod connect;
mod delivery;
mod driver;
mod error;
mod http_conn;
mod keepalive;
mod options;
mod runtime;
mod ws_conn;

pub use auth::{ApiKey, AuthProvider};
pub use client::{Client, ResponseStream, Turn, random_conversation_id, random_seed};
pub use connect::{NoProxy, Proxy, ProxyError, RootStore, TlsSettings};
pub use error::Error;
pub use options::{ClientOptions, InputRecorder, TelemetryHook};
pub use runtime::{AsyncTimer, BoxFuture, BoxStream, ByteStream, Runtime};
pub use turnwire_protocol as protocol;
