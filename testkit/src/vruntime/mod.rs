//! A [`Runtime`] in virtual time, for testing the driver's rules deterministically.
//!
//! [`VirtualRuntime`] runs every task on the calling thread, one at a time, in the
//! order they were woken. Its clock stands still while any task can run; when every
//! task waits, it jumps to the earliest deadline a timer is set to. A test therefore
//! takes no wall time for the time it simulates, and the same test gives the same
//! run, poll for poll. Nothing in it is tied to an async runtime; the driver sees it
//! through the same [`Runtime`] trait as tokio and smol.
//!
//! Its network is in memory: [`VirtualRuntime::serve`] puts a scripted server (the
//! loopback server's connection code around a [`FakeServer`], with the same scripts
//! and the same [`Recording`], reading the virtual clock) at an address, and
//! `Runtime::connect` to that address returns one end of a bounded pipe
//! ([`PIPE_CAPACITY`] bytes each way) whose other end the server serves. A client that
//! stops reading fills the pipe and stops the server's writes, as TCP would. Every
//! connection is logged ([`VirtualRuntime::connections`]).
//!
//! ```
//! use std::time::Duration;
//! use turnwire_testkit::sim::{FakeServer, Reply};
//! use turnwire_testkit::vruntime::VirtualRuntime;
//!
//! let rt = VirtualRuntime::new();
//! let mut script = FakeServer::new();
//! script.push_http(Reply::model().delay_head(Duration::from_secs(90)));
//! let server = rt.serve(script);
//! // build a client on rt.handle() with base URL server.base_url(), stream in
//! // rt.block_on(...): the 90 s pass at once, and the server records when.
//! assert_eq!(server.recording().posts(), 0);
//! ```

mod clock;
mod executor;
mod net;

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::time::Duration;
use std::io;
use std::sync::Arc;

use turnwire_protocol::UnixTime;
use turnwire_transports::{AsyncTimer, BoxFuture, BoxStream, Runtime};

use crate::loopback::{ServerOptions, Shared};
use crate::sim::{FakeServer, Recording, UNIX_BASE_MS};
use clock::{ServerClock, Timers, VirtualTimer};
use executor::Tasks;
use net::Net;
pub use net::{PIPE_CAPACITY, VirtualConnection};

/// The address [`VirtualRuntime::serve`] puts its server at.
pub const SERVER_AUTHORITY: &str = "api.test:8080";

/// What the runtime, its tasks, timers and pipes share.
pub(crate) struct Core {
    /// The instant virtual time zero maps to on the driver's `std::time::Instant`
    /// clock. Read from the system once, when the runtime is made; every later time
    /// is this plus the virtual time elapsed.
    origin: std::time::Instant,
    timers: Timers,
    tasks: Tasks,
    net: Net,
}

/// A runtime in virtual time. See the module documentation. Dropping it drops every
/// task still alive (and with them their connections).
pub struct VirtualRuntime {
    core: Arc<Core>,
}

impl fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualRuntime")
            .field("elapsed", &self.core.elapsed())
            .field("tasks", &self.core.tasks.alive())
            .finish()
    }
}

impl Default for VirtualRuntime {
    fn default() -> Self {
        VirtualRuntime::new()
    }
}

impl VirtualRuntime {
    /// A runtime at virtual time zero, with no task and no server.
    pub fn new() -> VirtualRuntime {
        #[allow(clippy::disallowed_methods)] // the one real-clock read: time zero's instant
        let origin = std::time::Instant::now();
        VirtualRuntime {
            core: Arc::new(Core {
                origin,
                timers: Timers::default(),
                tasks: Tasks::default(),
                net: Net::default(),
            }),
        }
    }

    /// The driver's view of this runtime, to build a client on.
    pub fn handle(&self) -> Arc<dyn Runtime> {
        Arc::new(VirtualHandle {
            core: self.core.clone(),
        })
    }

    /// Runs `future` on the calling thread, with every spawned task, until it ends.
    /// Virtual time passes only while every task waits on a timer. Panics when every
    /// task waits and none on a timer: nothing could ever happen again.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.core.block_on(future)
    }

    /// Virtual time since the runtime was made.
    pub fn elapsed(&self) -> Duration {
        self.core.elapsed()
    }

    /// Spawned tasks that have not finished.
    pub fn alive_tasks(&self) -> usize {
        self.core.tasks.alive()
    }

    /// How many times any timer's deadline was moved (`AsyncTimer::reset`) so far.
    pub fn timer_resets(&self) -> u64 {
        self.core.timer_resets()
    }

    /// Every connection opened so far, in order.
    pub fn connections(&self) -> Vec<VirtualConnection> {
        self.core.net.connections()
    }

    /// Serves `script` at [`SERVER_AUTHORITY`] (plain HTTP and WebSocket) with the
    /// default server options.
    pub fn serve(&self, script: FakeServer) -> VirtualServer {
        self.serve_with(script, ServerOptions::default())
    }

    /// Serves `script` at [`SERVER_AUTHORITY`] under `options` (keep-alive rules, head
    /// timeout; `max_connections` is not enforced). A server already there is
    /// replaced for new connections.
    pub fn serve_with(&self, script: FakeServer, options: ServerOptions) -> VirtualServer {
        let shared = Arc::new(Shared::new(
            script,
            Arc::new(ServerClock(self.core.clone())),
            SERVER_AUTHORITY.to_owned(),
            options,
        ));
        self.core
            .net
            .listen(SERVER_AUTHORITY.to_owned(), shared.clone());
        VirtualServer { shared }
    }
}

impl Drop for VirtualRuntime {
    /// Tasks hold the runtime's handle, so they are dropped here, outside every lock,
    /// to end the cycle.
    fn drop(&mut self) {
        drop(self.core.tasks.take_all());
    }
}

/// A scripted server on a virtual runtime's network. Its recording's times are
/// virtual times since the runtime was made.
pub struct VirtualServer {
    shared: Arc<Shared>,
}

impl fmt::Debug for VirtualServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualServer")
            .field("open_connections", &self.open_connections())
            .finish_non_exhaustive()
    }
}

impl VirtualServer {
    /// The base URL to configure a client with: `http://api.test:8080/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{SERVER_AUTHORITY}/v1")
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

    /// Connections the server is serving right now.
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections()
    }

    /// Connections the server accepted since the start.
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted_connections()
    }

    /// HTTP responses the server has started.
    pub fn http_responses(&self) -> u64 {
        self.shared.http_responses()
    }

    /// Connections the server closed without notice under its keep-alive rules.
    pub fn idle_closes(&self) -> u64 {
        self.shared.idle_closes()
    }
}

/// The driver's view of a [`VirtualRuntime`].
struct VirtualHandle {
    core: Arc<Core>,
}

impl fmt::Debug for VirtualHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualHandle")
            .field("elapsed", &self.core.elapsed())
            .finish()
    }
}

impl Runtime for VirtualHandle {
    fn now(&self) -> std::time::Instant {
        self.core.origin + self.core.elapsed()
    }

    /// The simulator's wall clock: [`UNIX_BASE_MS`] plus the virtual time elapsed.
    fn unix_time(&self) -> UnixTime {
        let millis = u64::try_from(self.core.elapsed().as_millis()).unwrap_or(u64::MAX);
        UnixTime::from_millis(UNIX_BASE_MS.saturating_add(millis))
    }

    fn new_timer(&self, deadline: std::time::Instant) -> Pin<Box<dyn AsyncTimer>> {
        let offset = deadline.saturating_duration_since(self.core.origin);
        Box::pin(VirtualTimer::new(self.core.clone(), offset))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        self.core.spawn(future);
    }

    /// A pipe to the server listening at `host:port`, at once; `ConnectionRefused`
    /// when none does.
    fn connect(&self, host: String, port: u16) -> BoxFuture<io::Result<BoxStream>> {
        let opened = self
            .core
            .connect(format!("{host}:{port}"))
            .map(|pipe| Box::new(pipe) as BoxStream);
        Box::pin(async move { opened })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::future::poll_fn;
    use core::task::Poll;
    use std::sync::Mutex;

    fn sleep(runtime: &dyn Runtime, duration: Duration) -> impl Future<Output = ()> + use<> {
        let mut timer = runtime.new_timer(runtime.now() + duration);
        poll_fn(move |cx| timer.as_mut().poll(cx))
    }

    #[test]
    fn time_jumps_to_the_earliest_deadline_only_when_every_task_waits() {
        let rt = VirtualRuntime::new();
        let handle = rt.handle();
        let log = Arc::new(Mutex::new(Vec::new()));
        for (name, secs) in [("late", 7), ("early", 3)] {
            let (log, runtime) = (log.clone(), handle.clone());
            handle.spawn(Box::pin(async move {
                sleep(runtime.as_ref(), Duration::from_secs(secs)).await;
                let at = runtime.now();
                log.lock().unwrap().push((name, at));
            }));
        }
        let start = handle.now();
        rt.block_on(sleep(handle.as_ref(), Duration::from_secs(10)));
        let log = log.lock().unwrap();
        let seen: Vec<(&str, Duration)> = log.iter().map(|(n, at)| (*n, *at - start)).collect();
        assert_eq!(
            seen,
            [
                ("early", Duration::from_secs(3)),
                ("late", Duration::from_secs(7))
            ]
        );
        assert_eq!(rt.elapsed(), Duration::from_secs(10));
        assert_eq!(rt.alive_tasks(), 0);
    }

    #[test]
    fn a_reset_timer_fires_at_its_new_deadline_and_a_dropped_one_never() {
        let rt = VirtualRuntime::new();
        let handle = rt.handle();
        let start = handle.now();
        let mut timer = handle.new_timer(start + Duration::from_secs(5));
        timer.as_mut().reset(start + Duration::from_secs(8));
        let dropped = handle.new_timer(start + Duration::from_secs(1));
        rt.block_on(async {
            // Registered, then dropped: it must not move the clock to 1 s.
            let mut dropped = dropped;
            let _ = poll_fn(|cx| Poll::Ready(dropped.as_mut().poll(cx))).await;
            drop(dropped);
            poll_fn(|cx| timer.as_mut().poll(cx)).await;
        });
        assert_eq!(rt.elapsed(), Duration::from_secs(8));
        assert_eq!(rt.timer_resets(), 1);
    }

    #[test]
    #[should_panic(expected = "deadlock")]
    fn waiting_on_nothing_that_can_happen_is_a_deadlock_not_a_hang() {
        let rt = VirtualRuntime::new();
        rt.block_on(core::future::pending::<()>());
    }

    #[test]
    fn connecting_where_no_server_listens_is_refused() {
        let rt = VirtualRuntime::new();
        let handle = rt.handle();
        let err = rt
            .block_on(handle.connect("nowhere.test".into(), 80))
            .err()
            .expect("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(rt.connections().is_empty());
    }

    #[test]
    fn the_wall_clock_is_the_simulators_plus_virtual_time() {
        let rt = VirtualRuntime::new();
        let handle = rt.handle();
        rt.block_on(sleep(handle.as_ref(), Duration::from_millis(1500)));
        assert_eq!(handle.unix_time().as_millis(), UNIX_BASE_MS + 1500);
    }
}
