//! The executor: every task on one thread, in a fixed order, and the clock moved only
//! when no task can run.
//!
//! Tasks are kept by number and run first in, first out as they are woken. When no
//! task is ready, the clock jumps to the earliest deadline a task waits on and wakes
//! every timer due then; when no task is ready and no timer is set, nothing can ever
//! happen again and [`Core::block_on`] panics with that diagnosis instead of hanging.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Wake;

use turnwire_transports::BoxFuture;

use super::Core;

/// The task number of the future [`Core::block_on`] runs.
const MAIN: u64 = 0;

/// Polls at one virtual instant before the executor calls it a livelock (tasks that
/// keep waking each other without time ever passing).
const MAX_POLLS_PER_INSTANT: u64 = 10_000_000;

/// The spawned tasks and which of them are ready.
#[derive(Default)]
pub(crate) struct Tasks {
    /// Every unfinished task; `None` while it is being polled.
    futures: Mutex<BTreeMap<u64, Option<BoxFuture<()>>>>,
    ready: Mutex<Ready>,
    next: Mutex<u64>,
}

#[derive(Default)]
struct Ready {
    queue: VecDeque<u64>,
    queued: BTreeSet<u64>,
}

/// Wakes a task by putting its number on the ready queue.
struct TaskWaker {
    task: u64,
    core: Weak<Core>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(core) = self.core.upgrade() {
            core.tasks.schedule(self.task);
        }
    }
}

impl Tasks {
    /// Puts `task` on the ready queue unless it is there already.
    fn schedule(&self, task: u64) {
        let mut ready = lock(&self.ready);
        if ready.queued.insert(task) {
            ready.queue.push_back(task);
        }
    }

    fn next_ready(&self) -> Option<u64> {
        let mut ready = lock(&self.ready);
        let task = ready.queue.pop_front()?;
        ready.queued.remove(&task);
        Some(task)
    }

    /// Unfinished spawned tasks.
    pub(crate) fn alive(&self) -> usize {
        lock(&self.futures).len()
    }

    /// Takes every unfinished task out, for the caller to drop outside the lock.
    pub(crate) fn take_all(&self) -> Vec<BoxFuture<()>> {
        let futures = std::mem::take(&mut *lock(&self.futures));
        futures.into_values().flatten().collect()
    }
}

impl Core {
    /// Adds `future` as a task, ready to run.
    pub(crate) fn spawn(&self, future: BoxFuture<()>) {
        let task = {
            let mut next = lock(&self.tasks.next);
            *next += 1;
            *next
        };
        lock(&self.tasks.futures).insert(task, Some(future));
        self.tasks.schedule(task);
    }

    fn waker(self: &Arc<Self>, task: u64) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            task,
            core: Arc::downgrade(self),
        }))
    }

    /// Polls spawned task `task` once; forgets it when it finished.
    fn run_task(self: &Arc<Self>, task: u64) {
        let Some(mut future) = lock(&self.tasks.futures)
            .get_mut(&task)
            .and_then(Option::take)
        else {
            return; // finished, or taken out by a drop
        };
        let waker = self.waker(task);
        let done = future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        let mut futures = lock(&self.tasks.futures);
        if done {
            futures.remove(&task);
        } else if let Some(slot) = futures.get_mut(&task) {
            *slot = Some(future);
        }
    }

    /// Runs `future` and every spawned task until `future` ends, moving the clock
    /// whenever nothing can run. Panics when nothing can run and no timer is set (a
    /// deadlock), or when tasks keep waking each other without end at one instant.
    pub(crate) fn block_on<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        let mut future = pin!(future);
        let waker = self.waker(MAIN);
        self.tasks.schedule(MAIN);
        let mut polls: u64 = 0;
        loop {
            match self.tasks.next_ready() {
                Some(MAIN) => {
                    if let Poll::Ready(output) =
                        future.as_mut().poll(&mut Context::from_waker(&waker))
                    {
                        return output;
                    }
                }
                Some(task) => self.run_task(task),
                None => {
                    if !self.advance() {
                        panic!(
                            "virtual runtime deadlock at {:?}: every task waits, and not on a timer ({} tasks alive)",
                            self.elapsed(),
                            self.tasks.alive()
                        );
                    }
                    polls = 0;
                    continue;
                }
            }
            polls += 1;
            assert!(
                polls < MAX_POLLS_PER_INSTANT,
                "virtual runtime livelock at {:?}: {polls} polls without time passing",
                self.elapsed()
            );
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
