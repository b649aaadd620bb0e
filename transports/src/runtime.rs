//! The small trait a runtime implements so the driver can run on it: a clock, a
//! resettable timer, spawning, and TCP connect to a `futures-io` byte stream. Nothing
//! else in the driver is runtime-specific.

use core::fmt::Debug;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use turnwire_protocol::UnixTime;

/// A connected, bidirectional byte stream.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// A boxed byte stream, as returned by [`Runtime::connect`].
pub type BoxStream = Box<dyn ByteStream>;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A timer that fires at a deadline and can be moved to another deadline.
pub trait AsyncTimer: Send + Debug {
    /// Moves the deadline; the next `poll` waits for the new one.
    fn reset(self: Pin<&mut Self>, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// What the driver needs from an async runtime.
pub trait Runtime: Send + Sync + Debug + 'static {
    /// The runtime's monotonic clock. The driver reads time only from here.
    fn now(&self) -> Instant;

    /// Wall-clock time, read only to interpret `Retry-After` HTTP dates.
    fn unix_time(&self) -> UnixTime {
        #[allow(clippy::disallowed_methods)] // the driver's one wall-clock read
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixTime::from_millis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }

    /// A timer that fires at `deadline`.
    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>>;

    /// Runs `future` to completion in the background.
    fn spawn(&self, future: BoxFuture<()>);

    /// Opens a TCP connection to `host:port`.
    fn connect(&self, host: String, port: u16) -> BoxFuture<io::Result<BoxStream>>;

    /// Lets the executor run the other ready tasks before the calling task goes on.
    /// The driver calls it right after handing a stream its first event, so the reader
    /// takes it before the rest of a read is decoded.
    ///
    /// The default wakes the task and returns `Pending` once: enough on executors that
    /// queue a task that woke itself behind the others. Override it when the runtime's
    /// own yield does better (tokio's also lets a `block_on` future run first).
    fn yield_now(&self) -> BoxFuture<()> {
        Box::pin(YieldOnce(false))
    }
}

/// Returns `Pending` once, after waking its task.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
