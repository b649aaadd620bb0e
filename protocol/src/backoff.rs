//! Retry delays (PROTOCOL.md sections 9.1 and 9.3): exponential backoff with seeded
//! jitter in integer arithmetic, and the server-requested delay parsers.
//!
//! OWNER: codec helper "retry". The signatures below are the contract the session uses.

use core::time::Duration;
use serde::{Deserialize, Serialize};

use crate::time::UnixTime;

/// A small deterministic generator for jitter, seeded by the driver. The core never
/// draws randomness from anywhere else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A generator from a seed; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        JitterRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        todo!("retry helper")
    }
}

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
pub enum RetryDelay {
    /// Wait this long, then retry.
    Wait(Duration),
    /// The server asked for a delay above `max_retry_after`: stop retrying and surface
    /// the error with the requested delay.
    TooLong(Duration),
}

impl BackoffPolicy {
    /// `min(max_backoff, base · 2^exponent) · J`, `J` uniform in [0.9, 1.1) from `rng`.
    pub fn exponential(&self, exponent: u32, rng: &mut JitterRng) -> Duration {
        let _ = (exponent, rng);
        todo!("retry helper")
    }

    /// The delay before a retry: the server-requested delay when there is one (or
    /// [`RetryDelay::TooLong`] when it is above `max_retry_after`), else
    /// [`BackoffPolicy::exponential`] with `exponent`.
    pub fn delay(
        &self,
        exponent: u32,
        requested: Option<Duration>,
        rng: &mut JitterRng,
    ) -> RetryDelay {
        let _ = (exponent, requested, rng);
        todo!("retry helper")
    }
}

/// The server-requested delay from `retry-after-ms`, else `Retry-After` (seconds,
/// fractional allowed, or an HTTP date read against `now`). A date in the past reads
/// as zero. Unparseable values read as absent.
pub fn retry_after(headers: &http::HeaderMap, now: UnixTime) -> Option<Duration> {
    let _ = (headers, now);
    todo!("retry helper")
}

/// The delay in a `rate_limit_exceeded` message: "try again in 1.5s", "in 28ms",
/// "35 seconds".
pub fn try_again_delay(message: &str) -> Option<Duration> {
    let _ = message;
    todo!("retry helper")
}

/// `x-should-retry: true|false`, when present and valid.
pub fn should_retry(headers: &http::HeaderMap) -> Option<bool> {
    let _ = headers;
    todo!("retry helper")
}
