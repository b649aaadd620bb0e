//! The same async test code on tokio, on smol or in virtual time: a [`Harness`] owns
//! one runtime (tokio and smol with background threads, so the client's tasks keep
//! running while the test thread waits on the loopback server; the virtual runtime on
//! the test thread, its tasks running inside [`Harness::block_on`]), hands out the
//! driver's [`Runtime`] for it, and runs a future to completion on it.

use core::future::Future;
use core::pin::pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::future::{Either, poll_fn, select};
use turnwire_smol::SmolRuntime;
use turnwire_testkit::vruntime::VirtualRuntime;
use turnwire_tokio::TokioRuntime;
use turnwire_transports::Runtime;

/// Which async runtime a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rt {
    /// tokio, multi-threaded with one worker.
    Tokio,
    /// smol, with a private executor on one background thread.
    Smol,
    /// The testkit's virtual runtime: virtual time, in-memory connections to a
    /// scripted server, every task on the test thread.
    Virtual,
}

impl Rt {
    /// Both runtimes, in a fixed order.
    pub const BOTH: [Rt; 2] = [Rt::Tokio, Rt::Smol];
}

/// One runtime, alive until dropped.
pub struct Harness {
    inner: Inner,
}

enum Inner {
    Tokio(tokio::runtime::Runtime),
    Smol {
        executor: Arc<smol::Executor<'static>>,
        stop: Option<smol::channel::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    },
    Virtual(VirtualRuntime),
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").field("rt", &self.rt()).finish()
    }
}

impl Harness {
    /// Starts a runtime of kind `rt`. Panics when the OS refuses a thread.
    pub fn new(rt: Rt) -> Harness {
        let inner = match rt {
            Rt::Tokio => Inner::Tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("conformance-tokio")
                    .enable_all()
                    .build()
                    .expect("a tokio runtime"),
            ),
            Rt::Smol => {
                let executor = Arc::new(smol::Executor::new());
                let (stop, stopped) = smol::channel::bounded::<()>(1);
                let runner = executor.clone();
                let thread = std::thread::Builder::new()
                    .name("conformance-smol".into())
                    .spawn(move || {
                        // Runs spawned tasks until the harness drops its stop sender.
                        smol::block_on(runner.run(async move {
                            let _ = stopped.recv().await;
                        }));
                    })
                    .expect("a smol executor thread");
                Inner::Smol {
                    executor,
                    stop: Some(stop),
                    thread: Some(thread),
                }
            }
            Rt::Virtual => Inner::Virtual(VirtualRuntime::new()),
        };
        Harness { inner }
    }

    /// Which runtime this is.
    pub fn rt(&self) -> Rt {
        match self.inner {
            Inner::Tokio(_) => Rt::Tokio,
            Inner::Smol { .. } => Rt::Smol,
            Inner::Virtual(_) => Rt::Virtual,
        }
    }

    /// The virtual runtime, when this is one (to serve a script on its network).
    pub fn virtual_runtime(&self) -> Option<&VirtualRuntime> {
        match &self.inner {
            Inner::Virtual(rt) => Some(rt),
            _ => None,
        }
    }

    /// The driver's view of this runtime: spawns on it, reads its clock.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        match &self.inner {
            Inner::Tokio(rt) => Arc::new(TokioRuntime::with_handle(rt.handle().clone())),
            Inner::Smol { executor, .. } => Arc::new(SmolRuntime::with_executor(executor.clone())),
            Inner::Virtual(rt) => rt.handle(),
        }
    }

    /// Runs `future` to completion on the calling thread, inside the runtime's context.
    /// Spawned tasks run on the background thread meanwhile and afterwards.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.inner {
            Inner::Tokio(rt) => rt.block_on(future),
            Inner::Smol { .. } => smol::block_on(future),
            Inner::Virtual(rt) => rt.block_on(future),
        }
    }

    /// Spawned tasks that have not finished, on tokio (`num_alive_tasks`) and in
    /// virtual time. `None` on smol, whose executor only says whether it is empty
    /// ([`Harness::idle`]).
    pub fn alive_tasks(&self) -> Option<usize> {
        match &self.inner {
            Inner::Tokio(rt) => Some(rt.handle().metrics().num_alive_tasks()),
            Inner::Smol { .. } => None,
            Inner::Virtual(rt) => Some(rt.alive_tasks()),
        }
    }

    /// True when every task spawned on this runtime has finished.
    pub fn idle(&self) -> bool {
        match &self.inner {
            Inner::Tokio(rt) => rt.handle().metrics().num_alive_tasks() == 0,
            Inner::Smol { executor, .. } => executor.is_empty(),
            Inner::Virtual(rt) => rt.alive_tasks() == 0,
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Inner::Smol { stop, thread, .. } = &mut self.inner {
            drop(stop.take());
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Waits `duration` on the runtime's own timer.
pub async fn sleep(runtime: &dyn Runtime, duration: Duration) {
    let mut timer = runtime.new_timer(runtime.now() + duration);
    poll_fn(|cx| timer.as_mut().poll(cx)).await;
}

/// `future`'s output, or `None` when `limit` passes first. Limits in these tests are
/// generous upper bounds that only a hang reaches.
pub async fn within<F: Future>(
    runtime: &dyn Runtime,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    let future = pin!(future);
    let timer = pin!(sleep(runtime, limit));
    match select(future, timer).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Polls `condition` until it holds or `limit` passes, yielding to the runtime's timer
/// between checks (for state no one can wait on, like a runtime's task count).
/// Returns whether it held.
pub async fn eventually(
    runtime: &dyn Runtime,
    limit: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    let deadline = runtime.now() + limit;
    loop {
        if condition() {
            return true;
        }
        if runtime.now() >= deadline {
            return false;
        }
        sleep(runtime, Duration::from_millis(2)).await;
    }
}
