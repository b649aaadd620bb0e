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
//! Like a real server it routes by method and path (`POST` and the WebSocket upgrade
//! on `…/responses`, `GET …/models`, OpenAI-shaped 404/405 errors otherwise), keeps
//! HTTP connections alive between requests, and sends a unique `x-request-id` with
//! every response. [`ServerOptions`] caps concurrent connections, bounds the wait for
//! a request head, sets keep-alive rules for testing connection pools, and can journal
//! all traffic ([`Journal`]).
//!
//! WebSocket faults map onto real sockets: a handshake scripted to fail
//! ([`Handshake::Fail`](crate::sim::Handshake::Fail)) is reset before any answer; a
//! socket the script closed silently ([`FakeServer::close_silently`]) resets the
//! connection when the next message arrives (the message is recorded as lost); the
//! client's pings are recorded and answered until the script stops answering them
//! ([`FakeServer::stop_answering_pings`]), after which the socket sends nothing more.
//!
//! The server runs on its own thread with its own runtime, so tests on any async
//! runtime (or none) can use it. Dropping it stops it and closes every connection.
//! Its connection code reads time from a clock it is given, so the virtual runtime
//! ([`crate::vruntime`]) serves its in-memory connections with it too.

mod clock;
mod conn;
mod head;
pub mod journal;
pub mod scenario;
mod tls;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::compat::TokioAsyncReadCompatExt;
use turnwire_protocol::session::ConnId;
use turnwire_protocol::time::Instant;

use crate::sim::{FakeServer, Recording};
use clock::RealClock;
pub(crate) use clock::{Clock, Sleep};
pub(crate) use conn::ResetOnDrop;
pub use journal::Journal;

/// How the server treats HTTP connections between requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepAlive {
    /// Requests one connection carries at most: the last response says
    /// `connection: close` and the server closes the connection after it. `None`: no
    /// limit (the client or the head timeout ends the connection).
    pub max_requests: Option<NonZeroU32>,
    /// Server-wide HTTP response numbers (1 for the first response the server
    /// sends, on any connection) after which the connection that carried the response
    /// is closed without notice once the response is complete: a pooled connection
    /// that dies while idle, as when a real server's idle timeout races the client's
    /// next request.
    pub close_idle_after: Vec<u64>,
    /// Server-wide HTTP response numbers after which the connection that carried the
    /// response stays open, but the next request that arrives on it is closed
    /// unanswered, unread and unrecorded: the race a client cannot see coming, when a
    /// server's idle timeout fires as the request arrives.
    pub drop_next_request_after: Vec<u64>,
}

/// Limits and switches of the socket shell (the replies come from the script).
#[derive(Debug)]
pub struct ServerOptions {
    /// Connections served at once; a connection accepted beyond it is closed at once
    /// (counted by [`LoopbackServer::refused_connections`]).
    pub max_connections: usize,
    /// Time a connection has to deliver a whole request head, counted from the
    /// connection's start or from the end of the previous response; an idle
    /// keep-alive connection is closed after it too.
    pub head_timeout: Duration,
    /// Keep-alive rules.
    pub keep_alive: KeepAlive,
    /// Where every request, handshake, message and response head is journaled.
    pub journal: Option<Journal>,
}

impl ServerOptions {
    /// The defaults: at most 4096 connections at once, 30 s for a request head,
    /// unlimited keep-alive, no journal.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
    /// The default time for a request head.
    pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            head_timeout: Self::DEFAULT_HEAD_TIMEOUT,
            keep_alive: KeepAlive::default(),
            journal: None,
        }
    }
}

/// State shared by the accept loop, the connections and the test.
pub(crate) struct Shared {
    server: Mutex<FakeServer>,
    /// Where the server's time comes from; its zero is the server's start.
    clock: Arc<dyn Clock>,
    /// The `host:port` request URIs are recorded with.
    authority: String,
    next_conn: AtomicU64,
    /// Connections currently open, with a condition variable tests can wait on.
    open: Mutex<usize>,
    changed: Condvar,
    accepted: AtomicU64,
    refused: AtomicU64,
    /// HTTP responses started, server-wide (numbers the keep-alive rules refer to).
    http_responses: AtomicU64,
    /// Connections the keep-alive rules closed without notice.
    idle_closes: AtomicU64,
    /// The next `x-request-id` number.
    next_request_id: AtomicU64,
    options: ServerOptions,
}

impl Shared {
    /// The state of a server playing `script` under `options`, reading time from
    /// `clock` and recording request URIs under `authority` (`host:port`).
    pub(crate) fn new(
        script: FakeServer,
        clock: Arc<dyn Clock>,
        authority: String,
        options: ServerOptions,
    ) -> Shared {
        Shared {
            server: Mutex::new(script),
            clock,
            authority,
            next_conn: AtomicU64::new(1),
            open: Mutex::new(0),
            changed: Condvar::new(),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            http_responses: AtomicU64::new(0),
            idle_closes: AtomicU64::new(0),
            next_request_id: AtomicU64::new(1),
            options,
        }
    }

    /// Runs `f` on the fake server with the server's current time.
    pub(crate) fn with_server<R>(&self, f: impl FnOnce(&mut FakeServer, Instant) -> R) -> R {
        let now = self.clock.now();
        f(&mut lock(&self.server), now)
    }

    /// Connections open right now.
    pub(crate) fn open_connections(&self) -> usize {
        *lock(&self.open)
    }

    /// Connections accepted and served since the start.
    pub(crate) fn accepted_connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// HTTP responses started, server-wide.
    pub(crate) fn http_responses(&self) -> u64 {
        self.http_responses.load(Ordering::Relaxed)
    }

    /// Connections closed without notice under the keep-alive rules.
    pub(crate) fn idle_closes(&self) -> u64 {
        self.idle_closes.load(Ordering::Relaxed)
    }

    /// Serves one accepted plain-text connection until it ends, counted open
    /// meanwhile: the part of accepting a connection that does not depend on where it
    /// came from.
    pub(crate) async fn serve<S>(self: Arc<Self>, stream: S)
    where
        S: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Unpin + Send + ResetOnDrop,
    {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        self.connection_opened();
        let guard = OpenGuard(self.clone());
        conn::serve(stream, self, conn, "http").await;
        drop(guard);
    }

    fn connection_opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        *lock(&self.open) += 1;
        self.changed.notify_all();
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
        Self::start_with(script, port, tls, ServerOptions::default())
    }

    /// Serves `script` on `port` (0 picks a free one), with TLS or without, under
    /// `options`.
    pub fn start_with(
        script: FakeServer,
        port: u16,
        tls: bool,
        options: ServerOptions,
    ) -> std::io::Result<LoopbackServer> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        let addr = socket.local_addr()?;
        let tls = if tls { Some(tls::generate()?) } else { None };
        let certificate_der = tls.as_ref().map(|t| t.certificate_der.clone());
        let shared = Arc::new(Shared::new(
            script,
            Arc::new(RealClock::starting_now()),
            format!("127.0.0.1:{}", addr.port()),
            options,
        ));
        let (shutdown, stop) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Listening before this returns: a client may connect at once.
        let listener = {
            let _runtime = runtime.enter();
            socket.listen(ACCEPT_BACKLOG)?
        };
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
        self.shared.open_connections()
    }

    /// TCP connections accepted and served since the start (those refused over the
    /// connection cap not included).
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted_connections()
    }

    /// TCP connections closed at once because [`ServerOptions::max_connections`] were
    /// already open.
    pub fn refused_connections(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// HTTP responses the server has started (every route, errors included).
    pub fn http_responses(&self) -> u64 {
        self.shared.http_responses()
    }

    /// Connections the server closed without notice as [`KeepAlive::close_idle_after`]
    /// and [`KeepAlive::drop_next_request_after`] asked (the ones `max_requests`
    /// announces are not counted).
    pub fn idle_closes(&self) -> u64 {
        self.shared.idle_closes()
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

/// Connections the kernel may hold for the accept loop (capped by the system's
/// `somaxconn`). A load test opens thousands at the same instant; with the standard
/// library's 128, the kernel dropped most of them and the clients' connects timed out.
const ACCEPT_BACKLOG: u32 = 16 * 1024;

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<futures_rustls::TlsAcceptor>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _)) = accepted else { continue };
        if *lock(&shared.open) >= shared.options.max_connections {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            drop(tcp);
            continue;
        }
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
