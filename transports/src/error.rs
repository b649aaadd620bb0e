//! The error a response stream or client constructor yields.

use turnwire_protocol::session::UsageError;
use turnwire_protocol::{ConfigError, ResponseError};

/// Why a stream ended without completing, or a client could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request ended with this error (PROTOCOL.md section 12).
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// The call was refused (for example a second request while one runs in the turn).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The TLS settings are unusable (for example a malformed root certificate).
    #[error("TLS settings: {0}")]
    Tls(String),
    /// The stream's turn was never started: the session refused to start it (the
    /// refusal is logged), so no request can run in it.
    #[error("the turn was not started, so it cannot run a request")]
    TurnNotStarted,
    /// The client's background task is gone.
    #[error("the client has shut down")]
    Shutdown,
}
