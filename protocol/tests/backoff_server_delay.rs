//! Server-requested delays (PROTOCOL.md sections 9.1 and 9.3): `retry-after-ms`,
//! `Retry-After` in seconds or as an HTTP date, "try again in …" phrases, and
//! `x-should-retry`.

use core::time::Duration;

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use turnwire_protocol::UnixTime;
use turnwire_protocol::backoff::{BackoffPolicy, JitterRng, RetryDelay};
use turnwire_protocol::error::try_again_delay;
use turnwire_protocol::headers::http_date::parse_http_date;
use turnwire_protocol::headers::{retry_after, should_retry};

/// 1994-11-06 08:49:37 GMT, the date in RFC 9110's examples.
const RFC_EXAMPLE_SECS: u64 = 784_111_777;
const TEN_YEARS_SECS: u64 = 10 * 365 * 24 * 3600;

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name: http::HeaderName = name.parse().expect("test header name");
        map.append(
            name,
            HeaderValue::from_bytes(value).expect("test header value"),
        );
    }
    map
}

fn retry_after_secs(value: &str) -> Option<Duration> {
    retry_after(
        &headers(&[("retry-after", value.as_bytes())]),
        UnixTime::EPOCH,
    )
}

fn retry_after_at(value: &str, now: UnixTime) -> Option<Duration> {
    retry_after(&headers(&[("retry-after", value.as_bytes())]), now)
}

// ---- Retry-After: delta-seconds ----

#[test]
fn whole_seconds_are_read() {
    assert_eq!(retry_after_secs("1"), Some(Duration::from_secs(1)));
    assert_eq!(retry_after_secs("0"), Some(Duration::ZERO));
    assert_eq!(retry_after_secs("120"), Some(Duration::from_secs(120)));
    assert_eq!(retry_after_secs(" 7\t"), Some(Duration::from_secs(7)));
}

#[test]
fn fractional_seconds_are_read_exactly() {
    assert_eq!(retry_after_secs("1.5"), Some(Duration::from_millis(1500)));
    assert_eq!(retry_after_secs("0.001"), Some(Duration::from_millis(1)));
    assert_eq!(retry_after_secs("0.1"), Some(Duration::from_millis(100)));
    assert_eq!(
        retry_after_secs("2.123456789"),
        Some(Duration::new(2, 123_456_789))
    );
}

#[test]
fn negative_and_garbage_values_read_as_absent() {
    for bad in [
        "-1", "-0.5", "+1", "", "   ", "abc", "1.5.2", "1.", ".5", "1e3", "NaN", "nan", "inf",
        "Infinity", "1 2", "0x10", "١",
    ] {
        assert_eq!(retry_after_secs(bad), None, "Retry-After: {bad:?}");
    }
    let not_utf8 = headers(&[("retry-after", b"\xff\xfe1")]);
    assert_eq!(retry_after(&not_utf8, UnixTime::EPOCH), None);
    assert_eq!(retry_after(&HeaderMap::new(), UnixTime::EPOCH), None);
}

#[test]
fn ten_years_is_kept_whole_and_then_refused_by_the_cap() {
    let ten_years = retry_after_secs(&TEN_YEARS_SECS.to_string());
    assert_eq!(ten_years, Some(Duration::from_secs(TEN_YEARS_SECS)));
    let outcome = BackoffPolicy::default().delay(0, ten_years, &mut JitterRng::new(0));
    assert_eq!(
        outcome,
        RetryDelay::TooLong(Duration::from_secs(TEN_YEARS_SECS))
    );
}

#[test]
fn numbers_beyond_u64_read_as_absent_and_u64_max_is_kept() {
    // Documented choice: a whole part that fits a u64 is a (huge) valid delay; one that
    // does not is nonsense and reads as absent rather than saturating.
    assert_eq!(
        retry_after_secs("18446744073709551615"),
        Some(Duration::from_secs(u64::MAX))
    );
    assert_eq!(
        retry_after_secs("18446744073709551615.999999999"),
        Some(Duration::MAX)
    );
    assert_eq!(retry_after_secs("18446744073709551616"), None);
    assert_eq!(retry_after_secs("99999999999999999999999999999999"), None);
}

// ---- retry-after-ms ----

#[test]
fn retry_after_ms_is_read_in_milliseconds() {
    let read = |v: &str| {
        retry_after(
            &headers(&[("retry-after-ms", v.as_bytes())]),
            UnixTime::EPOCH,
        )
    };
    assert_eq!(read("1500"), Some(Duration::from_millis(1500)));
    assert_eq!(read("28.5"), Some(Duration::from_micros(28_500)));
    assert_eq!(read("0"), Some(Duration::ZERO));
    assert_eq!(
        read("18446744073709551615"),
        Some(Duration::from_millis(u64::MAX))
    );
    assert_eq!(read("-5"), None);
    assert_eq!(read("soon"), None);
}

#[test]
fn retry_after_ms_wins_over_retry_after() {
    let both = headers(&[("retry-after", b"30"), ("retry-after-ms", b"250")]);
    assert_eq!(
        retry_after(&both, UnixTime::EPOCH),
        Some(Duration::from_millis(250))
    );
}

#[test]
fn an_invalid_retry_after_ms_falls_back_to_retry_after() {
    let both = headers(&[("retry-after-ms", b"-1"), ("retry-after", b"3")]);
    assert_eq!(
        retry_after(&both, UnixTime::EPOCH),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn only_the_first_retry_after_value_counts() {
    let two = headers(&[("retry-after", b"4"), ("retry-after", b"9")]);
    assert_eq!(
        retry_after(&two, UnixTime::EPOCH),
        Some(Duration::from_secs(4))
    );
}

// ---- Retry-After: HTTP dates ----

#[test]
fn an_imf_fixdate_in_the_future_is_the_time_until_it() {
    let now = UnixTime::from_secs(RFC_EXAMPLE_SECS - 37);
    assert_eq!(
        retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now),
        Some(Duration::from_secs(37))
    );
}

#[test]
fn a_date_is_read_against_now_to_the_millisecond() {
    let now = UnixTime::from_millis(RFC_EXAMPLE_SECS * 1000 - 1_250);
    assert_eq!(
        retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now),
        Some(Duration::from_millis(1_250))
    );
}

#[test]
fn a_date_in_the_past_or_now_reads_as_zero() {
    let later = UnixTime::from_secs(RFC_EXAMPLE_SECS + 3600);
    assert_eq!(
        retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", later),
        Some(Duration::ZERO)
    );
    let same = UnixTime::from_secs(RFC_EXAMPLE_SECS);
    assert_eq!(
        retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", same),
        Some(Duration::ZERO)
    );
    assert_eq!(
        retry_after_at("Thu, 01 Jan 1970 00:00:00 GMT", later),
        Some(Duration::ZERO)
    );
    assert_eq!(
        retry_after_at("Mon, 01 Jan 1900 00:00:00 GMT", later),
        Some(Duration::ZERO)
    );
}

#[test]
fn the_obsolete_rfc850_and_asctime_forms_are_read() {
    let now = UnixTime::from_secs(RFC_EXAMPLE_SECS - 10);
    assert_eq!(
        retry_after_at("Sunday, 06-Nov-94 08:49:37 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        retry_after_at("Sun Nov  6 08:49:37 1994", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        retry_after_at("Sun Nov 16 08:49:37 1994", now),
        Some(Duration::from_secs(10 + 10 * 86_400))
    );
}

#[test]
fn rfc850_two_digit_years_stay_within_fifty_years_ahead() {
    let start_of_2026 = UnixTime::from_secs(1_767_225_600);
    // "94" in 2026 is 1994 (2094 would be more than 50 years ahead): in the past.
    assert_eq!(
        retry_after_at("Sunday, 06-Nov-94 08:49:37 GMT", start_of_2026),
        Some(Duration::ZERO)
    );
    // "30" in 2026 is 2030: 4 years ahead (2026, 2027, 2029 have 365 days, 2028 has 366).
    let four_years = Duration::from_secs((3 * 365 + 366) * 86_400);
    assert_eq!(
        retry_after_at("Tuesday, 01-Jan-30 00:00:00 GMT", start_of_2026),
        Some(four_years)
    );
    assert_eq!(
        parse_http_date(b"Wednesday, 01-Jan-76 00:00:00 GMT", start_of_2026),
        Some(3_345_062_400)
    );
    assert_eq!(
        parse_http_date(b"Saturday, 01-Jan-77 00:00:00 GMT", start_of_2026),
        Some(220_924_800)
    );
}

#[test]
fn leap_days_exist_only_in_leap_years() {
    let epoch = UnixTime::EPOCH;
    assert_eq!(
        parse_http_date(b"Thu, 29 Feb 2024 00:00:00 GMT", epoch),
        Some(1_709_164_800)
    );
    assert_eq!(
        parse_http_date(b"Tue, 29 Feb 2000 00:00:00 GMT", epoch),
        Some(951_782_400)
    );
    assert_eq!(
        parse_http_date(b"Wed, 01 Mar 2023 00:00:00 GMT", epoch),
        Some(1_677_628_800)
    );
    assert_eq!(
        parse_http_date(b"Wed, 29 Feb 2023 00:00:00 GMT", epoch),
        None
    );
    assert_eq!(
        parse_http_date(b"Mon, 29 Feb 2100 00:00:00 GMT", epoch),
        None
    );
    assert_eq!(
        parse_http_date(b"Thu, 31 Apr 2025 00:00:00 GMT", epoch),
        None
    );
}

#[test]
fn dates_past_2038_and_up_to_9999_are_read() {
    let epoch = UnixTime::EPOCH;
    assert_eq!(
        parse_http_date(b"Tue, 19 Jan 2038 03:14:08 GMT", epoch),
        Some(2_147_483_648)
    );
    assert_eq!(
        parse_http_date(b"Sun, 07 Feb 2106 06:28:16 GMT", epoch),
        Some(4_294_967_296)
    );
    assert_eq!(
        parse_http_date(b"Fri, 31 Dec 9999 23:59:59 GMT", epoch),
        Some(253_402_300_799)
    );
    // Read against the epoch (a driver without a wall clock), a far date is a huge
    // delay that the cap then refuses.
    let far = retry_after_at("Fri, 31 Dec 9999 23:59:59 GMT", epoch);
    assert_eq!(far, Some(Duration::from_secs(253_402_300_799)));
    let outcome = BackoffPolicy::default().delay(0, far, &mut JitterRng::new(0));
    assert!(matches!(outcome, RetryDelay::TooLong(_)));
}

#[test]
fn names_are_matched_without_case_and_extra_spaces_are_tolerated() {
    let epoch = UnixTime::EPOCH;
    let expected = Some(RFC_EXAMPLE_SECS as i64);
    assert_eq!(
        parse_http_date(b"sun, 06 NOV 1994 08:49:37 gmt", epoch),
        expected
    );
    assert_eq!(
        parse_http_date(b"Sun,  06 Nov 1994  08:49:37 GMT", epoch),
        expected
    );
    assert_eq!(
        parse_http_date(b"Sun, 06 Nov 1994 08:49:37 UTC", epoch),
        expected
    );
    assert_eq!(
        parse_http_date(b"Sun, 6 Nov 1994 08:49:37 GMT", epoch),
        expected
    );
}

#[test]
fn malformed_dates_read_as_absent() {
    for bad in [
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37:00 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 32 Oct 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 19940 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06-Nov-94-1 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sun Nov 06 08:49:37 94",
        "Sun Nov 123 08:49:37 1994",
        "tomorrow",
        "Sun, 06 Nov 1994 08:49:37 GMT extra",
    ] {
        assert_eq!(
            retry_after_at(bad, UnixTime::EPOCH),
            None,
            "Retry-After: {bad:?}"
        );
    }
}

#[test]
fn a_leap_second_reads_as_the_next_second() {
    let epoch = UnixTime::EPOCH;
    let leap = parse_http_date(b"Sat, 31 Dec 2016 23:59:60 GMT", epoch);
    assert_eq!(
        leap,
        parse_http_date(b"Sun, 01 Jan 2017 00:00:00 GMT", epoch)
    );
}

// ---- "try again in …" ----

#[test]
fn try_again_phrases_in_seconds_and_milliseconds() {
    let cases = [
        (
            "Rate limit reached for gpt-5 in organization org-x on tokens per min. Please try again in 1.5s.",
            1_500,
        ),
        ("Please try again in 28ms.", 28),
        ("Please try again in 35 seconds", 35_000),
        ("please try again in 1 second.", 1_000),
        ("Try again in 2s", 2_000),
        ("TRY AGAIN IN 3 SECONDS", 3_000),
        ("try again in 1.008s", 1_008),
        ("try again in 352ms", 352),
        ("try again in 250 milliseconds", 250),
        ("try again in 5sec", 5_000),
    ];
    for (message, millis) in cases {
        assert_eq!(
            try_again_delay(message),
            Some(Duration::from_millis(millis)),
            "{message:?}"
        );
    }
}

#[test]
fn try_again_phrases_with_minutes_hours_and_compound_durations() {
    let cases = [
        ("try again in 1m30s", 90_000),
        ("try again in 6m0s.", 360_000),
        ("try again in 1h2m3.5s", 3_723_500),
        ("try again in 2 minutes", 120_000),
        ("try again in 1 minute 30 seconds", 90_000),
        ("try again in 1m 30s, thanks", 90_000),
        ("try again in 1 hour", 3_600_000),
    ];
    for (message, millis) in cases {
        assert_eq!(
            try_again_delay(message),
            Some(Duration::from_millis(millis)),
            "{message:?}"
        );
    }
    assert_eq!(
        try_again_delay("try again in 20µs"),
        Some(Duration::from_micros(20))
    );
    assert_eq!(
        try_again_delay("try again in 15ns"),
        Some(Duration::from_nanos(15))
    );
}

#[test]
fn try_again_stops_at_words_that_are_not_units() {
    assert_eq!(
        try_again_delay("try again in 20s 2 more times"),
        Some(Duration::from_secs(20))
    );
    assert_eq!(
        try_again_delay("try again in 20s and 5 apples"),
        Some(Duration::from_secs(20))
    );
}

#[test]
fn try_again_without_a_delay_is_none() {
    for message in [
        "",
        "Rate limit reached. Please slow down.",
        "try again later",
        "try again in a moment",
        "try again in 5",
        "try again in 5 apples",
        "try again in -5s",
        "try again in .5s",
        "try again in",
        "in 5s",
        "try again in 99999999999999999999999h",
        "try again in 18446744073709551615h",
    ] {
        assert_eq!(try_again_delay(message), None, "{message:?}");
    }
}

#[test]
fn try_again_reads_the_first_phrase_that_has_a_delay() {
    let message = "You can try again in a moment; or try again in 3s; or try again in 9s.";
    assert_eq!(try_again_delay(message), Some(Duration::from_secs(3)));
}

// ---- x-should-retry ----

#[test]
fn should_retry_reads_true_and_false_only() {
    let read = |v: &[u8]| should_retry(&headers(&[("x-should-retry", v)]));
    assert_eq!(read(b"true"), Some(true));
    assert_eq!(read(b"TRUE"), Some(true));
    assert_eq!(read(b" false "), Some(false));
    assert_eq!(read(b"False"), Some(false));
    assert_eq!(read(b"yes"), None);
    assert_eq!(read(b"1"), None);
    assert_eq!(read(b""), None);
    assert_eq!(read(b"\xfftrue"), None);
    assert_eq!(should_retry(&HeaderMap::new()), None);
}

// ---- properties ----

/// A calendar date and time; the day is valid for the month.
fn any_date() -> impl Strategy<Value = (i64, u32, u32, u32, u32, u32)> {
    (1900i64..=9999, 1u32..=12, 0u32..24, 0u32..60, 0u32..60).prop_flat_map(
        |(year, month, hour, minute, second)| {
            (1..=days_in_month(year, month))
                .prop_map(move |day| (year, month, day, hour, minute, second))
        },
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    [
        31,
        if is_leap(year) { 29 } else { 28 },
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
    ][month as usize - 1]
}

/// Seconds since the epoch by counting days year by year: slow, but obviously right.
fn counted_unix_secs(
    (year, month, day, hour, minute, second): (i64, u32, u32, u32, u32, u32),
) -> i64 {
    let year_days = |y: i64| if is_leap(y) { 366 } else { 365 };
    let mut days: i64 = if year >= 1970 {
        (1970..year).map(year_days).sum()
    } else {
        -(year..1970).map(year_days).sum::<i64>()
    };
    days += (1..month)
        .map(|m| i64::from(days_in_month(year, m)))
        .sum::<i64>();
    days += i64::from(day) - 1;
    days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const LONG_DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_form_of_a_date_reads_as_its_second(date in any_date()) {
        let (year, month, day, hour, minute, second) = date;
        let expected = counted_unix_secs(date);
        let weekday = expected.div_euclid(86_400).rem_euclid(7) as usize;
        let mon = MONTHS[month as usize - 1];
        let time = format!("{hour:02}:{minute:02}:{second:02}");

        let imf = format!("{}, {day:02} {mon} {year:04} {time} GMT", DAYS[weekday]);
        prop_assert_eq!(parse_http_date(imf.as_bytes(), UnixTime::EPOCH), Some(expected), "{}", imf);
        let asctime = format!("{} {mon} {day:>2} {time} {year:04}", DAYS[weekday]);
        prop_assert_eq!(parse_http_date(asctime.as_bytes(), UnixTime::EPOCH), Some(expected), "{}", asctime);
        if year >= 1970 {
            // Read in the same year, a two-digit year means this century.
            let now = UnixTime::from_secs(counted_unix_secs((year, 1, 1, 0, 0, 0)) as u64);
            let rfc850 = format!("{}, {day:02}-{mon}-{:02} {time} GMT", LONG_DAYS[weekday], year % 100);
            prop_assert_eq!(parse_http_date(rfc850.as_bytes(), now), Some(expected), "{}", rfc850);
        }
    }

    #[test]
    fn a_future_date_is_read_as_the_wait_until_it(date in any_date(), before_ms in 0u64..10_000_000) {
        let secs = counted_unix_secs(date);
        prop_assume!(secs >= 0);
        let (year, month, day, hour, minute, second) = date;
        let weekday = secs.div_euclid(86_400).rem_euclid(7) as usize;
        let value = format!(
            "{}, {day:02} {} {year:04} {hour:02}:{minute:02}:{second:02} GMT",
            DAYS[weekday],
            MONTHS[month as usize - 1]
        );
        let date_ms = secs as u64 * 1000;
        let now = UnixTime::from_millis(date_ms.saturating_sub(before_ms));
        let expected = Duration::from_millis(date_ms - now.as_millis());
        prop_assert_eq!(retry_after_at(&value, now), Some(expected));
    }

    #[test]
    fn whole_and_fractional_seconds_round_trip(secs in 0u64..=u64::MAX, nanos in 0u32..1_000_000_000) {
        prop_assert_eq!(retry_after_secs(&secs.to_string()), Some(Duration::from_secs(secs)));
        let fractional = format!("{secs}.{nanos:09}");
        prop_assert_eq!(retry_after_secs(&fractional), Some(Duration::new(secs, nanos)));
    }

    #[test]
    fn retry_after_never_panics(value in proptest::collection::vec(any::<u8>(), 0..40), now in any::<u64>()) {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            let mut map = HeaderMap::new();
            map.insert("retry-after", value.clone());
            map.insert("retry-after-ms", value);
            let _ = retry_after(&map, UnixTime::from_millis(now));
        }
    }

    #[test]
    fn http_date_parsing_never_panics(value in "[A-Za-z0-9 ,:\\-]{0,40}", now in any::<u64>()) {
        let _ = parse_http_date(value.as_bytes(), UnixTime::from_millis(now));
    }

    #[test]
    fn try_again_never_panics(message in any::<String>(), tail in "[0-9a-zµ .,:]{0,24}") {
        let _ = try_again_delay(&message);
        let _ = try_again_delay(&format!("{message} try again in {tail}"));
    }

    #[test]
    fn try_again_reads_any_millisecond_and_second_count(ms in 0u64..10_000_000, tenths in 0u64..100_000) {
        let in_ms = format!("Rate limit reached. Please try again in {ms}ms.");
        prop_assert_eq!(try_again_delay(&in_ms), Some(Duration::from_millis(ms)));
        let in_secs = format!("Please try again in {}.{}s.", tenths / 10, tenths % 10);
        prop_assert_eq!(try_again_delay(&in_secs), Some(Duration::from_millis(tenths * 100)));
    }
}
