//! The driver's side of HTTP keep-alive (PROTOCOL.md section 3.3): what a finished
//! connection task hands back, the liveness check before a pooled socket is reused,
//! and the bounds on reading a body to its end after the session stopped listening.
//! Which socket to take, which to evict and when one expires is the core's policy
//! ([`turnwire_protocol::pool`]); the sockets stay here, in the driver.

use core::task::{Context, Poll, Waker};
use std::pin::Pin;
use std::time::Duration;

use futures_io::AsyncRead;
use turnwire_protocol::session::ConnId;

use crate::connect::Endpoint;
use crate::runtime::BoxStream;

/// How long a task keeps reading a body after its terminal event (the terminating
/// chunk usually follows at once) before it gives up and closes the connection.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(1);

/// How many body bytes a task reads after the terminal event before it gives up and
/// closes the connection instead of reading on for a chance to reuse it.
pub(crate) const DRAIN_BYTES: usize = 64 * 1024;

/// How long a WebSocket closed by the session waits for the peer's close frame.
pub(crate) const WS_CLOSE_TIME: Duration = Duration::from_secs(1);

/// What a connection task reports as its very last act: that it ended, and the socket
/// when it may be reused.
pub(crate) struct Ended {
    /// The connection.
    pub(crate) conn: ConnId,
    /// The socket and its origin, when the response was read to its end and neither
    /// side asked to close.
    pub(crate) reusable: Option<(Endpoint, BoxStream)>,
}

/// True when a socket taken from the pool still looks usable: nothing is waiting to be
/// read (no EOF, no error, no stray bytes the server sent while it sat idle). It polls
/// the socket once without waiting. A socket that passes can still turn out closed when
/// the request is written; that case is the session's free resend.
pub(crate) fn looks_alive(stream: &mut BoxStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    matches!(
        Pin::new(stream).poll_read(&mut cx, &mut byte),
        Poll::Pending
    )
}
