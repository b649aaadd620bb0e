//! The delay a `rate_limit_exceeded` message asks for ("try again in 1.5s"), read by
//! the classification of `response.failed` events and error frames (PROTOCOL.md
//! section 9.3).

use core::time::Duration;

use crate::decimal::{Decimal, NANOS_PER_MILLI, NANOS_PER_SEC};

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
