//! Retry delays (PROTOCOL.md sections 9.1 and 9.3): exponential backoff with seeded
//! jitter in integer arithmetic, and the cap on server-requested delays. The server's
//! hints themselves are read elsewhere: `Retry-After`, `retry-after-ms` and
//! `x-should-retry` by [`crate::headers`], "try again in" phrases by [`crate::error`].
//!
//! Nothing here reads a clock or the OS: the jitter seed is an input, so the same
//! inputs always give the same delays.

use core::time::Duration;
use serde::{Deserialize, Serialize};

use crate::decimal::saturating_duration_from_nanos;
use crate::rng::SplitMix64;

/// The generator jitter is drawn from: the core's one [`SplitMix64`], seeded by the
/// driver. The core never draws randomness from anywhere else.
pub type JitterRng = SplitMix64;

/// The backoff settings of one provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffPolicy {
    /// `retry_base_delay`.
    pub base: Duration,
    /// `max_backoff`.
    pub max_backoff: Duration,
    /// `max_retry_after`.
    pub max_retry_after: Duration,
}

/// What to do about one retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDelay {
    /// Wait this long, then retry.
    Wait(Duration),
    /// The server asked for a delay above `max_retry_after`: stop retrying and surface
    /// the error with the requested delay.
    TooLong(Duration),
}

/// The jitter factor `J` is `JITTER_LOW + k` parts per million for `k` uniform in
/// `[0, JITTER_SPAN)`: `J` is uniform in [0.9, 1.1) on a one-in-a-million grid.
const JITTER_LOW: u64 = 900_000;
const JITTER_SPAN: u64 = 200_000;
const JITTER_SCALE: u128 = 1_000_000;

impl Default for BackoffPolicy {
    /// The defaults of PROTOCOL.md section 1: base 200 ms, backoff cap 30 s, server
    /// delays up to 120 s honoured.
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl BackoffPolicy {
    /// The backoff settings of a provider configuration.
    pub fn from_config(config: &crate::Config) -> Self {
        BackoffPolicy {
            base: config.retry_base_delay,
            max_backoff: config.max_backoff,
            max_retry_after: config.max_retry_after,
        }
    }

    /// `min(max_backoff, base · 2^exponent) · J`, `J` uniform in [0.9, 1.1) from `rng`.
    ///
    /// Call with the attempt number (9.1) or `retries - 1` (9.3). Integer nanosecond
    /// arithmetic: any exponent and any durations are fine, the power saturates and
    /// the result saturates at [`Duration::MAX`]. For `d = min(max_backoff, base·2^a)`
    /// the result is in `[⌊0.9·d⌋, 1.1·d)` (zero when `d` is zero). Takes exactly one
    /// jitter value from `rng` per call, whatever `d` is, so the sequence of draws does
    /// not depend on the settings.
    pub fn exponential(&self, exponent: u32, rng: &mut JitterRng) -> Duration {
        let capped = self.capped_nanos(exponent);
        let jitter = u128::from(JITTER_LOW + rng.next_below(JITTER_SPAN));
        // capped ≤ Duration::MAX in ns (< 2⁹⁵) and jitter < 2²¹: no overflow.
        saturating_duration_from_nanos(capped * jitter / JITTER_SCALE)
    }

    /// `min(max_backoff, base · 2^exponent)` in nanoseconds, before jitter.
    pub fn capped_nanos(&self, exponent: u32) -> u128 {
        let base = self.base.as_nanos();
        let max = self.max_backoff.as_nanos();
        // base · 2^exponent overflows u128 exactly when the shift would push a set bit
        // out; that value is far above any Duration, so the cap wins.
        let doubled = if base == 0 {
            0
        } else if exponent < base.leading_zeros() {
            base << exponent
        } else {
            u128::MAX
        };
        doubled.min(max)
    }

    /// The delay before a retry: the server-requested delay when there is one (or
    /// [`RetryDelay::TooLong`] when it is above `max_retry_after`), else
    /// [`BackoffPolicy::exponential`] with `exponent`.
    ///
    /// A requested delay is used as is, without jitter, and takes nothing from `rng`.
    pub fn delay(
        &self,
        exponent: u32,
        requested: Option<Duration>,
        rng: &mut JitterRng,
    ) -> RetryDelay {
        match requested {
            Some(wait) => self.requested(wait),
            None => RetryDelay::Wait(self.exponential(exponent, rng)),
        }
    }

    /// What a server-requested delay allows: [`RetryDelay::Wait`] for it when it is at
    /// most `max_retry_after`, else [`RetryDelay::TooLong`] (stop retrying and surface
    /// the error with the requested delay). Call whenever the server asked for a delay;
    /// takes no jitter.
    pub fn requested(&self, wait: Duration) -> RetryDelay {
        if wait <= self.max_retry_after {
            RetryDelay::Wait(wait)
        } else {
            RetryDelay::TooLong(wait)
        }
    }
}
