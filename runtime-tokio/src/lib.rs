//! # turnwire-tokio
//!
//! The turnwire client on tokio: a [`Runtime`] implementation (TCP connect, timers,
//! spawning on the current tokio runtime) and [`client`] to build a
//! [`Client`] with it plugged in.
//!
//! ```no_run
//! # async fn demo() -> Result<(), turnwire_tokio::BuildError> {
//! use turnwire_tokio::{ApiKey, ClientOptions, Config, RequestFields, TurnOptions};
//! let client = turnwire_tokio::client(ClientOptions::new(Config::default(), ApiKey::new("sk-...")))?;
//! let turn = client.new_turn(TurnOptions::default());
//! let _events = turn.stream_text(RequestFields::new("gpt-5"), "Say hello.");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io;
use std::sync::Arc;
use std::time::Instant;

pub use turnwire_transports::*;

/// The tokio runtime for the turnwire driver. Spawns on the runtime whose handle it
/// holds.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: tokio::runtime::Handle,
}

impl TokioRuntime {
    /// The runtime of the calling context. Panics outside a tokio runtime, like
    /// `tokio::spawn`; use [`TokioRuntime::with_handle`] to choose one explicitly.
    pub fn current() -> Self {
        TokioRuntime {
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// The runtime behind `handle`.
    pub fn with_handle(handle: tokio::runtime::Handle) -> Self {
        TokioRuntime { handle }
    }
}

/// A client on the current tokio runtime.
pub fn client(options: ClientOptions) -> Result<Client, BuildError> {
    Client::new(Arc::new(TokioRuntime::current()), options)
}

impl Runtime for TokioRuntime {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn new_timer(&self, deadline: Instant) -> Pin<Box<dyn AsyncTimer>> {
        let _guard = self.handle.enter();
        Box::pin(TokioTimer(Box::pin(tokio::time::sleep_until(
            deadline.into(),
        ))))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        drop(self.handle.spawn(future));
    }

    fn connect(&self, host: String, port: u16) -> BoxFuture<io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = tcp_connect(&host, port).await?;
            Ok(Box::new(Compat(stream)) as BoxStream)
        })
    }

    /// tokio's own yield: the task waits until the scheduler has run the others and
    /// polled its driver, a `block_on` future included (a task that only wakes itself
    /// runs again before `block_on`'s future on a current-thread runtime).
    fn yield_now(&self) -> BoxFuture<()> {
        Box::pin(tokio::task::yield_now())
    }
}

/// A TCP connection to `host:port` with `TCP_NODELAY` set: the driver writes whole
/// requests and frames, so Nagle's algorithm would only delay them.
async fn tcp_connect(host: &str, port: u16) -> io::Result<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[derive(Debug)]
struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl AsyncTimer for TokioTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// A tokio TCP stream seen through the `futures-io` traits the driver uses.
struct Compat(tokio::net::TcpStream);

impl futures_io::AsyncRead for Compat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read = tokio::io::ReadBuf::new(buf);
        ready!(tokio::io::AsyncRead::poll_read(
            Pin::new(&mut self.get_mut().0),
            cx,
            &mut read
        ))?;
        Poll::Ready(Ok(read.filled().len()))
    }
}

impl futures_io::AsyncWrite for Compat {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_have_nodelay_set() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let stream = runtime
            .block_on(tcp_connect("127.0.0.1", port))
            .expect("connects");
        assert!(stream.nodelay().expect("reads TCP_NODELAY"));
    }
}
