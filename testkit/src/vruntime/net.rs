//! The virtual network: servers by `host:port`, and connections that are bounded
//! in-memory pipes (tokio's `duplex`, used only as a byte buffer with wakers: no tokio
//! runtime runs). Every connection is logged ([`VirtualConnection`]): when it opened,
//! how many bytes the server wrote into it, and when the client side let go of it.

use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use super::Core;
use super::executor::lock;
use crate::loopback::{ResetOnDrop, Shared};

/// Bytes each direction of a connection buffers before the writer waits: a reader
/// that stops reading stops its peer after this much (plus what the two ends hold in
/// their own buffers).
pub const PIPE_CAPACITY: usize = 16 * 1024;

/// One connection the client opened, as the network saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualConnection {
    /// Where it went: `host:port`.
    pub authority: String,
    /// When the client opened it (time since the runtime was made).
    pub opened_at: Duration,
    /// Bytes the server has written into it so far (what the client read, plus what
    /// waits in the pipe).
    pub bytes_to_client: u64,
    /// When the client side was dropped (the connection closed from the client), if
    /// it was.
    pub client_closed_at: Option<Duration>,
}

/// The servers and the connection log.
#[derive(Default)]
pub(crate) struct Net {
    servers: Mutex<BTreeMap<String, Arc<Shared>>>,
    log: Mutex<Vec<VirtualConnection>>,
}

impl Net {
    /// Makes `server` answer connections to `authority` (`host:port`).
    pub(crate) fn listen(&self, authority: String, server: Arc<Shared>) {
        lock(&self.servers).insert(authority, server);
    }

    /// Every connection so far, in the order they were opened.
    pub(crate) fn connections(&self) -> Vec<VirtualConnection> {
        lock(&self.log).clone()
    }
}

impl Core {
    /// Opens a connection to `authority`: a pipe whose server end is served by the
    /// server listening there, on a task of its own. `ConnectionRefused` when no
    /// server listens there.
    pub(crate) fn connect(self: &Arc<Self>, authority: String) -> io::Result<Pipe> {
        let Some(server) = lock(&self.net.servers).get(&authority).cloned() else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("no virtual server listens on {authority}"),
            ));
        };
        let index = {
            let mut log = lock(&self.net.log);
            log.push(VirtualConnection {
                authority,
                opened_at: self.elapsed(),
                bytes_to_client: 0,
                client_closed_at: None,
            });
            log.len() - 1
        };
        let (client, server_end) = tokio::io::duplex(PIPE_CAPACITY);
        let reset = Arc::new(AtomicBool::new(false));
        let server_end = Pipe {
            io: server_end.compat(),
            core: self.clone(),
            index,
            client: false,
            reset: reset.clone(),
        };
        self.spawn(Box::pin(server.serve(server_end)));
        Ok(Pipe {
            io: client.compat(),
            core: self.clone(),
            index,
            client: true,
            reset,
        })
    }
}

/// One end of a connection.
pub(crate) struct Pipe {
    io: Compat<tokio::io::DuplexStream>,
    core: Arc<Core>,
    /// The connection's place in the log.
    index: usize,
    /// The client's end (else the server's).
    client: bool,
    /// The server ends the connection with a reset: once its end is gone, the
    /// client's reads fail with `ConnectionReset` instead of reading the end.
    reset: Arc<AtomicBool>,
}

impl ResetOnDrop for Pipe {
    fn reset_on_drop(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            // The end of the stream, or a reset when the server asked for one.
            Poll::Ready(Ok(0)) if self.client && self.reset.load(Ordering::Relaxed) => {
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written
            && !self.client
            && let Some(entry) = lock(&self.core.net.log).get_mut(self.index)
        {
            entry.bytes_to_client += n as u64;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

impl Drop for Pipe {
    /// Dropping an end closes the connection both ways (the peer reads the end of the
    /// stream and its writes fail); the client's drop is logged with its time.
    fn drop(&mut self) {
        if self.client {
            let now = self.core.elapsed();
            if let Some(entry) = lock(&self.core.net.log).get_mut(self.index) {
                entry.client_closed_at.get_or_insert(now);
            }
        }
    }
}
