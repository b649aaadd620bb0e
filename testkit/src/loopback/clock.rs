//! The server's clock: what time it is and how to wait for a moment. The loopback
//! server reads real time ([`RealClock`]); a server on the virtual network reads the
//! virtual runtime's clock, so the same connection code plays a script out in either.

use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

use turnwire_protocol::time::Instant;

/// A boxed future that ends at a moment.
pub(crate) type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Time as the server's connections see it, counted from the server's start.
pub(crate) trait Clock: Send + Sync {
    /// The time since the server started.
    fn now(&self) -> Instant;
    /// A future that ends once `at` has come; at once when it has passed.
    fn sleep_until(&self, at: Instant) -> Sleep;
}

/// The clock of a server on real sockets: tokio's monotonic clock.
pub(crate) struct RealClock {
    started: tokio::time::Instant,
}

impl RealClock {
    /// A clock whose zero is now.
    pub(crate) fn starting_now() -> RealClock {
        RealClock {
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for RealClock {
    fn now(&self) -> Instant {
        let elapsed = self.started.elapsed();
        Instant::from_nanos(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Does not wait at all once `at` has passed: tokio's timer rounds a deadline up to
    /// its next 1 ms tick, so sleeping until a moment already past still waited up to a
    /// millisecond, added to every immediate reply and handshake.
    fn sleep_until(&self, at: Instant) -> Sleep {
        let deadline = self.started + Duration::from_nanos(at.as_nanos());
        Box::pin(async move {
            if deadline > tokio::time::Instant::now() {
                tokio::time::sleep_until(deadline).await;
            }
        })
    }
}
