//! The scripted loopback server: HTTP SSE and WebSocket on `127.0.0.1` (plain or TLS
//! with a generated certificate), over real sockets and in real time.
//!
//! It is a thin socket shell around the simulator's [`FakeServer`]: the same scripts
//! (replies refused with a status, delayed, stalled, cut mid-stream, WebSocket error
//! and close frames, extra response headers such as `x-codex-turn-state`, the default
//! model) and the same [`Recording`] of every request, handshake and message, so a
//! scenario written for the simulator runs unchanged against any real client.
//!
//! ```no_run
//! use turnwire_testkit::loopback::LoopbackServer;
//! use turnwire_testkit::sim::{FakeServer, Reply};
//!
//! let mut script = FakeServer::new();
//! script.push_http(Reply::error(500, "server_error", "boom", "try later"));
//! let server = LoopbackServer::start(script).expect("bind 127.0.0.1");
//! // point any client at server.base_url() ("http://127.0.0.1:PORT/v1") ...
//! assert_eq!(server.recording().posts(), 0);
//! ```
//!
//! HTTP connections stay open between requests (keep-alive) unless a request asks to
//! close; the script's [`KeepAliveScript`](crate::sim::KeepAliveScript) says when the
//! server ends an idle one. A `Connection: close` header a script puts on a response
//! is sent as given while the server itself keeps the connection open, so a test sees
//! whether the client honoured it.
//!
//! The server runs on its own thread with its own runtime, so tests on any async
//! runtime (or none) can use it. Dropping it stops it and closes every connection.

mod conn;
mod head;
pub mod scenario;
mod tls;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::time::Instant as StdInstant;

use tokio_util::compat::TokioAsyncReadCompatExt;
use turnwire_protocol::session::ConnId;
use turnwire_protocol::time::Instant;

use crate::sim::{FakeServer, Recording};

/// State shared by the accept loop, the connections and the test.
pub(crate) struct Shared {
    server: Mutex<FakeServer>,
    started: StdInstant,
    port: u16,
    next_conn: AtomicU64,
    /// Connections currently open, with a condition variable tests can wait on.
    open: Mutex<usize>,
    changed: Condvar,
    accepted: AtomicU64,
    /// Keep-alive connections the server closed while idle or on a request's arrival.
    idle_closes: AtomicU64,
}

impl Shared {
    /// Runs `f` on the fake server with the server's current time.
    pub(crate) fn with_server<R>(&self, f: impl FnOnce(&mut FakeServer, Instant) -> R) -> R {
        let elapsed = self.started.elapsed();
        let now = Instant::from_nanos(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        f(&mut lock(&self.server), now)
    }

    fn connection_opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        *lock(&self.open) += 1;
        self.changed.notify_all();
    }

    /// Counts a keep-alive connection the server ended (see [`KeepAliveScript`]).
    ///
    /// [`KeepAliveScript`]: crate::sim::KeepAliveScript
    pub(crate) fn idle_closed(&self) {
        self.idle_closes.fetch_add(1, Ordering::Relaxed);
    }

    fn connection_closed(&self) {
        let mut open = lock(&self.open);
        *open = open.saturating_sub(1);
        self.changed.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running loopback server. See the module documentation.
pub struct LoopbackServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    certificate_der: Option<Vec<u8>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LoopbackServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackServer")
            .field("addr", &self.addr)
            .field("tls", &self.certificate_der.is_some())
            .finish()
    }
}

impl LoopbackServer {
    /// Serves `script` over plain HTTP and WebSocket on a free port of 127.0.0.1.
    pub fn start(script: FakeServer) -> std::io::Result<LoopbackServer> {
        Self::start_on(script, 0, false)
    }

    /// Serves `script` over TLS (`https://`, `wss://`) with a freshly generated
    /// certificate for 127.0.0.1; trust [`LoopbackServer::root_certificate_der`].
    pub fn start_tls(script: FakeServer) -> std::io::Result<LoopbackServer> {
        Self::start_on(script, 0, true)
    }

    /// Serves `script` on `port` (0 picks a free one), with TLS or without.
    pub fn start_on(script: FakeServer, port: u16, tls: bool) -> std::io::Result<LoopbackServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tls = if tls { Some(tls::generate()?) } else { None };
        let certificate_der = tls.as_ref().map(|t| t.certificate_der.clone());
        let shared = Arc::new(Shared {
            server: Mutex::new(script),
            started: StdInstant::now(),
            port: addr.port(),
            next_conn: AtomicU64::new(1),
            open: Mutex::new(0),
            changed: Condvar::new(),
            accepted: AtomicU64::new(0),
            idle_closes: AtomicU64::new(0),
        });
        let (shutdown, stop) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let loop_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("turnwire-loopback".into())
            .spawn(move || {
                runtime.block_on(accept_loop(
                    listener,
                    loop_shared,
                    tls.map(|t| t.acceptor),
                    stop,
                ));
                // Dropping the runtime here cancels every connection task, closing sockets.
            })?;
        Ok(LoopbackServer {
            shared,
            addr,
            certificate_der,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure a client with: `http(s)://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        let scheme = if self.certificate_der.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/v1", self.addr)
    }

    /// The generated certificate (DER) of a TLS server, to add as a trusted root.
    pub fn root_certificate_der(&self) -> Option<&[u8]> {
        self.certificate_der.as_deref()
    }

    /// A copy of everything the server received so far.
    pub fn recording(&self) -> Recording {
        self.shared
            .with_server(|server, _| server.recording().clone())
    }

    /// Runs `f` on the script, for example to queue more replies mid-test.
    pub fn with_script<R>(&self, f: impl FnOnce(&mut FakeServer) -> R) -> R {
        self.shared.with_server(|server, _| f(server))
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        *lock(&self.shared.open)
    }

    /// Connections accepted since the start.
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Keep-alive connections the server ended on its own so far, as its script's
    /// [`KeepAliveScript`](crate::sim::KeepAliveScript) asked: closed while idle or
    /// when a request arrived on them.
    pub fn idle_closes(&self) -> u64 {
        self.shared.idle_closes.load(Ordering::Relaxed)
    }

    /// Waits until at most `n` connections are open, or `timeout` passes. Returns
    /// whether the condition was reached. Woken by every open and close, so it is
    /// not a sleep.
    pub fn wait_for_open_connections_at_most(&self, n: usize, timeout: Duration) -> bool {
        let guard = lock(&self.shared.open);
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, timeout, |open| *open > n)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard <= n
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<futures_rustls::TlsAcceptor>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
        let shared = shared.clone();
        let tls = tls.clone();
        shared.connection_opened();
        tokio::spawn(async move {
            let guard = OpenGuard(shared.clone());
            let stream = tcp.compat();
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        conn::serve(stream, shared, conn, "https").await;
                    }
                }
                None => conn::serve(stream, shared, conn, "http").await,
            }
            drop(guard);
        });
    }
}

/// Counts a connection closed when its task ends, however it ends.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}
