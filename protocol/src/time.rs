//! Time as the core sees it: values handed in by the driver, never read from the OS.
//!
//! The core never calls a clock. Every mutating call takes a [`Now`], which carries a
//! monotonic [`Instant`] (for deadlines) and a wall-clock [`UnixTime`] (only for reading
//! `Retry-After` HTTP dates). Both are plain integers so inputs serialise and replay
//! exactly.

use core::ops::{Add, Sub};
use core::time::Duration;
use serde::{Deserialize, Serialize};

/// A point on the driver's monotonic clock, in nanoseconds from an origin the driver
/// chooses (its start, say). Only differences between instants mean anything.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the end of the clock instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Instant {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// Wall-clock time as milliseconds since the Unix epoch. Used only to turn a
/// `Retry-After: <HTTP date>` into a delay.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The epoch itself; a driver that has no wall clock may pass this (HTTP dates in
    /// `Retry-After` then read as far in the future and are capped by `max_retry_after`).
    pub const EPOCH: UnixTime = UnixTime(0);

    /// A wall-clock time `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        UnixTime(millis)
    }

    /// A wall-clock time `secs` seconds after the Unix epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
}

/// The current time as handed to every mutating call of the core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Now {
    /// Monotonic time; all deadlines are measured on this clock.
    pub instant: Instant,
    /// Wall-clock time; read only for `Retry-After` HTTP dates.
    pub unix: UnixTime,
}

impl Now {
    /// A `Now` from both clocks.
    pub const fn new(instant: Instant, unix: UnixTime) -> Self {
        Now { instant, unix }
    }
}
