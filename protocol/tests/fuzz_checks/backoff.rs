//! The `backoff` target: retry delays with arbitrary settings, and the parsers of
//! server-requested delays.
//!
//! Input layout: one byte picks the check, the rest feeds it.
//!
//! Checked beyond "no panic":
//! - `BackoffPolicy::capped_nanos` is `min(max_backoff, base·2^a)` (computed here by
//!   saturating doubling), and `exponential` lies in `[⌊0.9·d⌋, 1.1·d)` for that `d`,
//!   saturating at `Duration::MAX`; `delay` honours a requested delay up to
//!   `max_retry_after`, reports a longer one as `TooLong`, and otherwise equals
//!   `exponential` with the same generator; `JitterRng::next_below` stays below its
//!   bound; equal seeds give equal delays;
//! - `retry_after` reads plain digits exactly (`retry-after-ms` first);
//! - `try_again_delay` finds nothing without the phrase, and reads
//!   `try again in <n><unit>` exactly;
//! - `parse_http_date`: any date it accepts, written back as an IMF-fixdate and as an
//!   asctime date, reads as the same second.

use core::time::Duration;

use http::{HeaderMap, HeaderValue};
use turnwire_protocol::UnixTime;
use turnwire_protocol::backoff::{BackoffPolicy, JitterRng, RetryDelay};
use turnwire_protocol::error::try_again_delay;
use turnwire_protocol::headers::{http_date::parse_http_date, retry_after};

use super::make;
use super::reader::Reader;

/// A duration: zero, small, any, or the largest.
fn duration(r: &mut Reader<'_>) -> Duration {
    match r.u8() % 8 {
        0 => Duration::ZERO,
        1 => Duration::from_nanos(r.u64()),
        2 => Duration::MAX,
        3 => Duration::new(r.u64(), r.u32() % 1_000_000_000),
        4 => Duration::from_secs(u64::from(r.u16())),
        _ => Duration::from_millis(u64::from(r.u16())),
    }
}

/// `min(max, base·2^exponent)` by doubling, saturating.
fn expected_cap(base: Duration, max: Duration, exponent: u32) -> u128 {
    let max = max.as_nanos();
    let mut value = base.as_nanos();
    for _ in 0..exponent {
        if value == 0 || value >= max {
            break;
        }
        value = value.saturating_mul(2);
    }
    value.min(max)
}

fn check_policy(r: &mut Reader<'_>) {
    let policy = BackoffPolicy {
        base: duration(r),
        max_backoff: duration(r),
        max_retry_after: duration(r),
    };
    let exponent = if r.bool() {
        u32::from(r.u8() % 70)
    } else {
        r.u32()
    };
    let seed = r.u64();
    let capped = policy.capped_nanos(exponent);
    assert_eq!(
        capped,
        expected_cap(policy.base, policy.max_backoff, exponent),
        "capped_nanos({exponent}) of {policy:?}"
    );

    let mut rng = JitterRng::new(seed);
    let delay = policy.exponential(exponent, &mut rng).as_nanos();
    let ceiling = Duration::MAX.as_nanos();
    let low = (capped * 9 / 10).min(ceiling);
    let high = capped * 1_099_999 / 1_000_000;
    assert!(
        low <= delay && delay <= high.max(low),
        "exponential({exponent}) = {delay} ns outside [{low}, {high}] for {policy:?}"
    );
    let mut same = JitterRng::new(seed);
    assert_eq!(
        policy.exponential(exponent, &mut same).as_nanos(),
        delay,
        "equal seeds gave different delays"
    );

    let requested = r.bool().then(|| duration(r));
    let mut a = JitterRng::new(seed);
    let mut b = JitterRng::new(seed);
    let got = policy.delay(exponent, requested, &mut a);
    let expected = match requested {
        Some(wait) if wait <= policy.max_retry_after => RetryDelay::Wait(wait),
        Some(long) => RetryDelay::TooLong(long),
        None => RetryDelay::Wait(policy.exponential(exponent, &mut b)),
    };
    assert_eq!(
        got, expected,
        "delay({exponent}, {requested:?}) of {policy:?}"
    );

    let bound = r.u64();
    let drawn = rng.next_below(bound);
    assert!(
        drawn < bound || (bound == 0 && drawn == 0),
        "next_below({bound}) = {drawn}"
    );
}

/// Plain ASCII digits (1 to 18 of them) as a number.
fn plain_digits(value: &[u8]) -> Option<u64> {
    let trimmed = value.trim_ascii();
    let digits =
        !trimmed.is_empty() && trimmed.len() <= 18 && trimmed.iter().all(u8::is_ascii_digit);
    digits.then(|| std::str::from_utf8(trimmed).ok()?.parse().ok())?
}

/// A header value: from the vocabulary, digits, or raw bytes.
fn header_value(r: &mut Reader<'_>) -> Option<HeaderValue> {
    match r.u8() % 4 {
        0 => HeaderValue::from_bytes(r.bytes(40)).ok(),
        1 => HeaderValue::from_str(&r.u32().to_string()).ok(),
        _ => HeaderValue::from_str(r.word(make::HEADER_VALUES)).ok(),
    }
}

fn check_retry_after(r: &mut Reader<'_>) {
    let mut headers = HeaderMap::new();
    let millis = r.bool().then(|| header_value(r)).flatten();
    let retry = r.bool().then(|| header_value(r)).flatten();
    if let Some(value) = &millis {
        headers.insert("retry-after-ms", value.clone());
    }
    if let Some(value) = &retry {
        headers.insert("retry-after", value.clone());
    }
    let now = UnixTime::from_millis(r.u64());
    let got = retry_after(&headers, now);
    let ms = millis
        .as_ref()
        .and_then(|v| plain_digits(v.as_bytes()))
        .map(Duration::from_millis);
    if let Some(expected) = ms {
        assert_eq!(got, Some(expected), "retry-after-ms {millis:?}");
    } else if millis.is_none()
        && let Some(secs) = retry.as_ref().and_then(|v| plain_digits(v.as_bytes()))
    {
        assert_eq!(
            got,
            Some(Duration::from_secs(secs)),
            "retry-after {retry:?}"
        );
    }
}

const UNITS: &[(&str, u64)] = &[
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    (" seconds", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("ns", 1),
    ("us", 1_000),
];

fn check_try_again(r: &mut Reader<'_>) {
    let free = String::from_utf8_lossy(r.bytes(200)).into_owned();
    let delay = try_again_delay(&free);
    if !free.to_ascii_lowercase().contains("try again in") {
        assert_eq!(delay, None, "a delay in {free:?}, which lacks the phrase");
    }
    let n = r.u32();
    let &(unit, nanos) = r.pick(UNITS);
    let prefix = String::from_utf8_lossy(r.bytes(40)).into_owned();
    if prefix.to_ascii_lowercase().contains("try again") {
        return;
    }
    let message = format!("{prefix} Please try again in {n}{unit}. Thanks");
    let total = u128::from(n) * u128::from(nanos);
    let expected = Duration::new(
        (total / 1_000_000_000) as u64,
        (total % 1_000_000_000) as u32,
    );
    assert_eq!(try_again_delay(&message), Some(expected), "in {message:?}");
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The calendar date of a day number (days since 1970-01-01), written independently of
/// the parser: walk whole 400-year cycles, then years, then months.
fn civil(days: i64) -> (i64, usize, i64) {
    const CYCLE: i64 = 146_097;
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let mut year = 1970 + 400 * days.div_euclid(CYCLE);
    let mut day = days.rem_euclid(CYCLE);
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if day < len {
            break;
        }
        day -= len;
        year += 1;
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 0;
    while day >= lengths[month] {
        day -= lengths[month];
        month += 1;
    }
    (year, month, day + 1)
}

fn check_http_date(r: &mut Reader<'_>) {
    let now = UnixTime::from_millis(r.u64());
    let value = if r.bool() {
        r.rest().to_vec()
    } else {
        let mut w = String::new();
        w.push_str(r.word(&WEEKDAYS));
        w.push_str(", ");
        w.push_str(&format!("{:02} ", r.u8() % 33));
        w.push_str(r.word(&MONTHS));
        w.push_str(&format!(
            " {:04} {:02}:{:02}:{:02} GMT",
            r.u16() % 10_000,
            r.u8() % 25,
            r.u8() % 61,
            r.u8() % 62
        ));
        w.into_bytes()
    };
    let Some(secs) = parse_http_date(&value, now) else {
        return;
    };
    let days = secs.div_euclid(86_400);
    let time = secs.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    if !(0..=9999).contains(&year) {
        return;
    }
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    let (h, m, s) = (time / 3600, time / 60 % 60, time % 60);
    let month = MONTHS[month];
    let imf = format!("{weekday}, {day:02} {month} {year:04} {h:02}:{m:02}:{s:02} GMT");
    assert_eq!(
        parse_http_date(imf.as_bytes(), now),
        Some(secs),
        "{imf:?} (from {:?})",
        String::from_utf8_lossy(&value)
    );
    let asctime = format!("{weekday} {month} {day:>2} {h:02}:{m:02}:{s:02} {year:04}");
    assert_eq!(
        parse_http_date(asctime.as_bytes(), now),
        Some(secs),
        "{asctime:?}"
    );
}

/// The check. Panics with a description when a property fails.
pub(crate) fn check(data: &[u8]) {
    let mut r = Reader::new(data);
    match r.u8() % 4 {
        0 => check_policy(&mut r),
        1 => check_retry_after(&mut r),
        2 => check_try_again(&mut r),
        _ => check_http_date(&mut r),
    }
}
