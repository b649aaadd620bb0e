//! Virtual time: a clock that stands still while any task can run, and timers that
//! the executor fires by moving the clock to their deadline.

use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use turnwire_protocol::time::Instant;
use turnwire_transports::AsyncTimer;

use super::Core;
use super::executor::lock;
use crate::loopback::{Clock, Sleep};

/// The clock and every timer a task waits on.
#[derive(Default)]
pub(crate) struct Timers {
    state: Mutex<TimerState>,
}

#[derive(Default)]
struct TimerState {
    /// Time since the runtime was made.
    elapsed: Duration,
    /// Timers a task waits on: deadline and the task's waker, by timer number.
    waiting: BTreeMap<u64, (Duration, Waker)>,
    next_timer: u64,
    /// Deadline changes of every timer so far.
    resets: u64,
}

impl Core {
    /// Time since the runtime was made.
    pub(crate) fn elapsed(&self) -> Duration {
        lock(&self.timers.state).elapsed
    }

    /// Deadline changes of every timer so far.
    pub(crate) fn timer_resets(&self) -> u64 {
        lock(&self.timers.state).resets
    }

    /// Moves the clock to the earliest deadline a task waits on (never back) and wakes
    /// every timer due then, in timer order. False when no task waits on a timer.
    pub(crate) fn advance(&self) -> bool {
        let due: Vec<Waker> = {
            let mut state = lock(&self.timers.state);
            let Some(earliest) = state.waiting.values().map(|(at, _)| *at).min() else {
                return false;
            };
            state.elapsed = state.elapsed.max(earliest);
            let now = state.elapsed;
            let fired: Vec<u64> = state
                .waiting
                .iter()
                .filter(|(_, (at, _))| *at <= now)
                .map(|(id, _)| *id)
                .collect();
            fired
                .iter()
                .filter_map(|id| state.waiting.remove(id))
                .map(|(_, waker)| waker)
                .collect()
        };
        for waker in due {
            waker.wake();
        }
        true
    }
}

/// A timer of the virtual clock: ready once the clock reaches its deadline.
pub(crate) struct VirtualTimer {
    core: Arc<Core>,
    id: u64,
    /// Time since the runtime was made.
    deadline: Duration,
}

impl fmt::Debug for VirtualTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualTimer")
            .field("id", &self.id)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl VirtualTimer {
    /// A timer for `deadline`, counted from the runtime's start.
    pub(crate) fn new(core: Arc<Core>, deadline: Duration) -> VirtualTimer {
        let id = {
            let mut state = lock(&core.timers.state);
            state.next_timer += 1;
            state.next_timer
        };
        VirtualTimer { core, id, deadline }
    }

    fn set(&mut self, deadline: Duration) {
        self.deadline = deadline;
        let mut state = lock(&self.core.timers.state);
        state.resets += 1;
        if let Some((at, _)) = state.waiting.get_mut(&self.id) {
            *at = deadline;
        }
    }

    fn poll_at(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.core.timers.state);
        if state.elapsed >= self.deadline {
            state.waiting.remove(&self.id);
            return Poll::Ready(());
        }
        state
            .waiting
            .insert(self.id, (self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

impl AsyncTimer for VirtualTimer {
    fn reset(self: Pin<&mut Self>, deadline: std::time::Instant) {
        let offset = deadline.saturating_duration_since(self.core.origin);
        self.get_mut().set(offset);
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_at(cx)
    }
}

impl Drop for VirtualTimer {
    /// A dropped timer is waited on by no one: it must not move the clock.
    fn drop(&mut self) {
        lock(&self.core.timers.state).waiting.remove(&self.id);
    }
}

/// The virtual clock as a server's clock.
pub(crate) struct ServerClock(pub(crate) Arc<Core>);

impl Clock for ServerClock {
    fn now(&self) -> Instant {
        let elapsed = self.0.elapsed();
        Instant::from_nanos(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, at: Instant) -> Sleep {
        let mut timer = VirtualTimer::new(self.0.clone(), Duration::from_nanos(at.as_nanos()));
        Box::pin(core::future::poll_fn(move |cx| timer.poll_at(cx)))
    }
}
