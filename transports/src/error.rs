//! The two ways the driver fails: a client that cannot be built ([`BuildError`]) and a
//! response stream that ends without completing ([`StreamError`]).

use turnwire_protocol::session::UsageError;
use turnwire_protocol::{ConfigError, ResponseError};

/// Why a client could not be built. Returned by `Client::new` (and the runtime crates'
/// `client`) and by the [`TlsSettings`](crate::TlsSettings) builders before any I/O
/// happens; fix the options and build again.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration cannot work (a base URL that is not one, a zero limit, …).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The TLS settings are unusable (for example a malformed root certificate, or a
    /// CA file that cannot be read).
    #[error("TLS settings: {0}")]
    Tls(String),
    /// `request_compression` is on but this build of `turnwire-transports` has no
    /// `zstd` feature, so no request could be sent.
    #[error(
        "request_compression needs the `zstd` feature of turnwire-transports (on by default); enable it or turn request_compression off"
    )]
    CompressionUnavailable,
}

/// Why a response stream ended without completing: the one `Err` a
/// [`ResponseStream`](crate::ResponseStream) yields before it ends.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The request ended with this error (PROTOCOL.md section 12).
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// The call was refused (for example a second request while one runs in the turn).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The stream's turn was never started: the session refused to start it (the
    /// refusal is logged), so no request can run in it.
    #[error("the turn was not started, so it cannot run a request")]
    TurnNotStarted,
    /// The client's background task is gone.
    #[error("the client has shut down")]
    Shutdown,
}
