//! The one place that reads the clock. The core never does: every input carries a
//! [`Now`] made here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use turnwire_protocol::{Instant, Now, UnixTime};

/// A monotonic clock whose zero is when the example started.
pub(crate) struct Clock {
    start: std::time::Instant,
}

impl Clock {
    /// Starts the clock.
    #[allow(clippy::disallowed_methods)] // the driver, not the core, reads the clock
    pub(crate) fn start() -> Clock {
        Clock {
            start: std::time::Instant::now(),
        }
    }

    /// Now, as the core's monotonic instant and wall-clock time.
    #[allow(clippy::disallowed_methods)] // the driver, not the core, reads the clock
    pub(crate) fn now(&self) -> Now {
        let elapsed = self.start.elapsed().as_nanos();
        let instant = Instant::from_nanos(u64::try_from(elapsed).unwrap_or(u64::MAX));
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(UnixTime::EPOCH, |d| {
                UnixTime::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            });
        Now::new(instant, unix)
    }

    /// How long from now until `deadline` (zero when it passed).
    pub(crate) fn until(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now().instant)
    }

    /// Waits until `deadline`. Only called when no connection is open, so there is
    /// nothing to read meanwhile (a backoff before a retry).
    #[allow(clippy::disallowed_methods)] // a blocking driver with nothing to read waits
    pub(crate) fn sleep_until(&self, deadline: Instant) {
        std::thread::sleep(self.until(deadline));
    }

    /// A jitter seed for the session, from the wall clock's nanoseconds.
    #[allow(clippy::disallowed_methods)] // the driver supplies the entropy
    pub(crate) fn seed(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::from(d.subsec_nanos()) ^ d.as_secs())
    }
}
