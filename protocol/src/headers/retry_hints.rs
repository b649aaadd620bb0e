//! The server's retry hints in response headers (PROTOCOL.md section 9.1):
//! `retry-after-ms`, `Retry-After` (seconds or an HTTP date) and `x-should-retry`.
//! Read by error classification; what the delay then means is the backoff policy's
//! and the retry decision's business.

use core::time::Duration;

use super::http_date;
use crate::decimal::{Decimal, NANOS_PER_MILLI, NANOS_PER_SEC};
use crate::header_names::{RETRY_AFTER, RETRY_AFTER_MS, SHOULD_RETRY};
use crate::time::UnixTime;

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
///   overflowing; capping it is
///   [`BackoffPolicy::requested`](crate::backoff::BackoffPolicy::requested)'s job.
/// - Only the first value of each header is read.
pub fn retry_after(headers: &http::HeaderMap, now: UnixTime) -> Option<Duration> {
    let millis = headers
        .get(RETRY_AFTER_MS)
        .and_then(|v| parse_delay_number(v.as_bytes(), NANOS_PER_MILLI));
    millis.or_else(|| {
        headers
            .get(RETRY_AFTER)
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
