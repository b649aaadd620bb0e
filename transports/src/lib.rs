//! # turnwire-transports
//!
//! The turnwire driver, written once over a small [`Runtime`] trait: it carries out
//! the sans-IO core's outputs with HTTP/1.1 (the core's `http1` codec), WebSocket
//! (async-tungstenite) and TLS (rustls with the ring provider), and feeds every result
//! back. Every socket is opened in one place, which also tunnels through an HTTP
//! [`Proxy`] and applies one trust policy ([`TlsSettings`]). The runtime crates
//! (`turnwire-tokio`, `turnwire-smol`) plug a runtime in.
//!
//! Everything a caller needs to stream a turn (configuration, turn and request types,
//! conversation items, events, errors, telemetry) is re-exported at the top level, so
//! an application never imports from the core's modules.
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
mod body_batch;
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
pub use error::{BuildError, StreamError};
pub use options::{ClientOptions, InputRecorder, TelemetryHook};
pub use runtime::{AsyncTimer, BoxFuture, BoxStream, ByteStream, Runtime};
pub use turnwire_protocol as protocol;

// What a caller needs to configure a client and stream turns, re-exported so that an
// application (and the runtime crates, which re-export this crate) imports it from one
// place. The `protocol` module above stays for the codecs and the sans-IO session.

// Configuration and credentials.
pub use turnwire_protocol::{
    Config, ConfigError, Credentials, Identity, Limits, Secret, WsProtocol,
};
// Turns and requests: what goes into `Client::new_turn` and `Turn::stream`.
pub use turnwire_protocol::RequestFields;
pub use turnwire_protocol::session::{
    RequestInput, RequestSpec, TurnHistory, TurnOptions, UsageError,
};
// Conversation items: request input and response output.
pub use turnwire_protocol::ResponseItem;
pub use turnwire_protocol::item::{
    ContentPart, CustomToolCallItem, CustomToolCallOutputItem, Extras, FunctionCallItem,
    FunctionCallOutputItem, MessageItem, ReasoningItem, RefusalPart, TextPart, ToolOutput,
};
// What a stream yields.
pub use turnwire_protocol::event::{CreditsSnapshot, RateLimitWindow};
pub use turnwire_protocol::{RateLimitSnapshot, ResponseError, ResponseEvent, Usage};
// What the telemetry hook and the input recorder are handed.
pub use turnwire_protocol::Now;
pub use turnwire_protocol::session::{
    ConnId, FreeRetryReason, Input, MessageKind, PreconnectResult, PrewarmResult, RequestId,
    RetryLayer, Telemetry, Transport, TurnId,
};
