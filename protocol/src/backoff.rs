//! Retry delays (PROTOCOL.md sections 9.1 and 9.3): exponential backoff with seeded
//! jitter in integer arithmetic, and the server-requested delay parsers.
//!
//! Nothing here reads a clock or the OS: the wall-clock time for `Retry-After` dates
//! and the jitter seed are inputs, so the same inputs always give the same delays.

use core::time::Duration;
use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;
use crate::time::UnixTime;

mod decimal;
pub mod http_date;

use decimal::{Decimal, saturating_duration_from_nanos};

/// `retry-after-ms`: a delay in milliseconds (read before `Retry-After`).
pub const RETRY_AFTER_MS: &str = "retry-after-ms";
/// `x-should-retry`: the server's own say on whether to retry.
pub const SHOULD_RETRY: &str = "x-should-retry";

const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

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
            Some(wait) if wait <= self.max_retry_after => RetryDelay::Wait(wait),
            Some(too_long) => RetryDelay::TooLong(too_long),
            None => RetryDelay::Wait(self.exponential(exponent, rng)),
        }
    }
}

/// The server-requested delay from `retry-after-ms`, else `Retry-After` (seconds,
/// fractional allowed, or an HTTP date read against `now`). A date in the past reads
/// as zero. Unparseable values read as absent.
///
/// Precisely:
/// - `retry-after-ms` is a non-negative decimal number of milliseconds (`1500`,
///   `1500.5`); when it is present and valid it wins.
/// - Otherwise `Retry-After` is either non-negative decimal seconds (`1`, `1.5`) or
///   an HTTP date in one of the three forms of [`http_date::parse_http_date`].
/// - Surrounding spaces and tabs are ignored. Signs, exponents, `NaN`, `inf`, and
///   numbers whose whole part does not fit a `u64` (in that header's unit) are
///   invalid, hence `None`. A large valid value (ten years) is returned as is, never
///   overflowing; capping it is [`BackoffPolicy::delay`]'s job.
/// - Only the first value of each header is read.
pub fn retry_after(headers: &http::HeaderMap, now: UnixTime) -> Option<Duration> {
    let millis = headers
        .get(RETRY_AFTER_MS)
        .and_then(|v| parse_delay_number(v.as_bytes(), NANOS_PER_MILLI));
    millis.or_else(|| {
        headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| parse_retry_after_value(v.as_bytes(), now))
    })
}

/// One `Retry-After` value: delta-seconds (fractional allowed) or an HTTP date.
pub fn parse_retry_after_value(value: &[u8], now: UnixTime) -> Option<Duration> {
    let value = value.trim_ascii();
    if value.first().is_some_and(u8::is_ascii_digit) {
        return parse_delay_number(value, NANOS_PER_SEC);
    }
    let date_secs = http_date::parse_http_date(value, now)?;
    Some(time_until(date_secs, now))
}

/// How long from `now` until `date_secs` (seconds since the epoch); zero when past.
fn time_until(date_secs: i64, now: UnixTime) -> Duration {
    let date_millis = i128::from(date_secs) * 1000;
    let wait_millis = date_millis - i128::from(now.as_millis());
    match u64::try_from(wait_millis) {
        Ok(millis) => Duration::from_millis(millis),
        Err(_) => Duration::ZERO, // negative: the date has passed
    }
}

fn parse_delay_number(value: &[u8], unit_nanos: u64) -> Option<Duration> {
    Decimal::parse_exact(value.trim_ascii())?.times_unit(unit_nanos)
}

/// The phrase before a delay in a `rate_limit_exceeded` message.
const TRY_AGAIN_IN: &[u8] = b"try again in";

/// The delay in a `rate_limit_exceeded` message: "try again in 1.5s", "in 28ms",
/// "35 seconds".
///
/// Finds `try again in` (any case) followed by a duration, and returns the first one
/// that reads. A duration is one or more `<number><unit>` parts, the number decimal
/// (`1.5`), the unit right after it or after one space, and parts either adjacent
/// (Go style: `1m30s`, `1h2m3.5s`) or separated by one space (`1 minute 30 seconds`).
/// Units, any case: `ms`, `millisecond(s)`; `us`/`µs`, `microsecond(s)`; `ns`,
/// `nanosecond(s)`; `s`, `sec(s)`, `second(s)`; `m`, `min(s)`, `minute(s)`; `h`,
/// `hr(s)`, `hour(s)`. `None` when the phrase is absent, no unit follows the number,
/// or the total does not fit a [`Duration`]. Never panics on any text.
pub fn try_again_delay(message: &str) -> Option<Duration> {
    let bytes = message.as_bytes();
    let mut from = 0;
    while let Some(found) = find_ignoring_case(bytes.get(from..)?, TRY_AGAIN_IN) {
        let after = from + found + TRY_AGAIN_IN.len();
        let rest = bytes.get(after..)?;
        if let Some(delay) = parse_spoken_duration(skip_spaces(rest)) {
            return Some(delay);
        }
        from = after;
    }
    None
}

/// Reads `1.5s`, `28 ms`, `1m30s` or `1 minute 30 seconds` at the start of `text`.
fn parse_spoken_duration(text: &[u8]) -> Option<Duration> {
    let (mut total, mut used) = parse_duration_part(text)?;
    loop {
        let rest = text.get(used..).unwrap_or_default();
        // The next part follows at once or after a single space.
        let (skip, next) = match rest.first() {
            Some(b' ') => (1, parse_duration_part(rest.get(1..).unwrap_or_default())),
            _ => (0, parse_duration_part(rest)),
        };
        let Some((part, len)) = next else {
            return Some(total);
        };
        total = total.checked_add(part)?;
        used += skip + len;
    }
}

/// One `<number>[ ]<unit>` part: its duration and the bytes it used.
fn parse_duration_part(text: &[u8]) -> Option<(Duration, usize)> {
    let (number, number_len) = Decimal::parse_prefix(text)?;
    let rest = text.get(number_len..)?;
    let space = usize::from(rest.first() == Some(&b' '));
    let unit_text = rest.get(space..)?;
    let micro_sign = if unit_text.starts_with("µ".as_bytes()) {
        "µ".len()
    } else {
        0
    };
    let letters = unit_text
        .get(micro_sign..)?
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    let unit_len = micro_sign + letters;
    let unit_word = unit_text.get(..unit_len)?;
    let unit_nanos = unit_nanos(unit_word)?;
    Some((
        number.times_unit(unit_nanos)?,
        number_len + space + unit_len,
    ))
}

/// Nanoseconds in one `word` (a duration unit), or `None` when it is not one.
fn unit_nanos(word: &[u8]) -> Option<u64> {
    const UNITS: &[(&[&str], u64)] = &[
        (&["ns", "nanosecond", "nanoseconds"], 1),
        (&["us", "µs", "microsecond", "microseconds"], 1_000),
        (&["ms", "millisecond", "milliseconds"], NANOS_PER_MILLI),
        (&["s", "sec", "secs", "second", "seconds"], NANOS_PER_SEC),
        (
            &["m", "min", "mins", "minute", "minutes"],
            60 * NANOS_PER_SEC,
        ),
        (&["h", "hr", "hrs", "hour", "hours"], 3600 * NANOS_PER_SEC),
    ];
    UNITS
        .iter()
        .find(|(names, _)| {
            names
                .iter()
                .any(|name| name.as_bytes().eq_ignore_ascii_case(word))
        })
        .map(|&(_, nanos)| nanos)
}

fn skip_spaces(text: &[u8]) -> &[u8] {
    let spaces = text.iter().take_while(|b| b.is_ascii_whitespace()).count();
    text.get(spaces..).unwrap_or_default()
}

/// Offset of the first occurrence of `needle` in `haystack`, ASCII case ignored.
fn find_ignoring_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

/// `x-should-retry: true|false`, when present and valid.
///
/// The value is compared without regard to case or surrounding spaces; anything other
/// than `true` or `false` reads as absent.
pub fn should_retry(headers: &http::HeaderMap) -> Option<bool> {
    let value = headers.get(SHOULD_RETRY)?.as_bytes().trim_ascii();
    if value.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}
