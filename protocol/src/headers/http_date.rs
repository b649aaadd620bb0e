//! HTTP dates (RFC 9110 section 5.6.7) as seconds since the Unix epoch, with our own
//! calendar arithmetic (no date crate, no clock).
//!
//! Accepted forms, as a `Retry-After` value may carry them:
//! - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT` (the one servers should send);
//! - obsolete RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT` (a two-digit year more than 50
//!   years ahead of `now` means the century before, as RFC 9110 asks);
//! - obsolete asctime: `Sun Nov  6 08:49:37 1994`.
//!
//! Names are matched without regard to case and runs of spaces or tabs count as one
//! separator. The weekday must be a weekday name but is not checked against the date.
//! Second 60 (a leap second) is accepted and reads as the next second.

use crate::time::UnixTime;

const SECS_PER_DAY: i64 = 86_400;
const SHORT_WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LONG_WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A calendar date and time of day in GMT, fields already range-checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Reads an HTTP date in any of the three forms and returns it as seconds since the
/// Unix epoch (negative before 1970). `now` is only used to place an RFC 850 two-digit
/// year in a century. `None` when the value is not a valid date in one of the forms.
///
/// Call this on a `Retry-After` value that does not start with a digit.
pub fn parse_http_date(value: &[u8], now: UnixTime) -> Option<i64> {
    let text = core::str::from_utf8(value).ok()?;
    let tokens = tokenize(text)?;
    let date = match tokens {
        Tokens::Six([weekday, day, month, year, time, zone]) => {
            imf_fixdate(weekday, day, month, year, time, zone)?
        }
        Tokens::Four([weekday, date, time, zone]) => rfc850(weekday, date, time, zone, now)?,
        Tokens::Five([weekday, month, day, time, year]) => {
            asctime(weekday, month, day, time, year)?
        }
    };
    Some(date.unix_seconds())
}

/// Whitespace-separated fields of a date; the three forms have 6, 4 and 5.
enum Tokens<'a> {
    Six([&'a str; 6]),
    Four([&'a str; 4]),
    Five([&'a str; 5]),
}

fn tokenize(text: &str) -> Option<Tokens<'_>> {
    let mut fields = [""; 6];
    let mut count = 0;
    for field in text.split([' ', '\t']).filter(|f| !f.is_empty()) {
        *fields.get_mut(count)? = field;
        count += 1;
    }
    let [a, b, c, d, e, f] = fields;
    match count {
        6 => Some(Tokens::Six([a, b, c, d, e, f])),
        4 => Some(Tokens::Four([a, b, c, d])),
        5 => Some(Tokens::Five([a, b, c, d, e])),
        _ => None,
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(
    weekday: &str,
    day: &str,
    month: &str,
    year: &str,
    time: &str,
    zone: &str,
) -> Option<DateTime> {
    is_name_in(weekday.strip_suffix(',')?, &SHORT_WEEKDAYS).then_some(())?;
    is_gmt(zone).then_some(())?;
    let year = fixed_digits(year, 4)?;
    DateTime::new(
        i64::from(year),
        month_number(month)?,
        day_of_month(day)?,
        time,
    )
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850(weekday: &str, date: &str, time: &str, zone: &str, now: UnixTime) -> Option<DateTime> {
    is_name_in(weekday.strip_suffix(',')?, &LONG_WEEKDAYS).then_some(())?;
    is_gmt(zone).then_some(())?;
    let mut parts = date.split('-');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let year = century_for_two_digit_year(fixed_digits(year, 2)?, now);
    DateTime::new(year, month_number(month)?, day_of_month(day)?, time)
}

/// `Sun Nov  6 08:49:37 1994`
fn asctime(weekday: &str, month: &str, day: &str, time: &str, year: &str) -> Option<DateTime> {
    is_name_in(weekday, &SHORT_WEEKDAYS).then_some(())?;
    let year = fixed_digits(year, 4)?;
    DateTime::new(
        i64::from(year),
        month_number(month)?,
        day_of_month(day)?,
        time,
    )
}

impl DateTime {
    /// Checks every field's range (the day against the month and leap years).
    fn new(year: i64, month: u32, day: u32, time: &str) -> Option<DateTime> {
        let mut parts = time.split(':');
        let (hour, minute, second) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let date = DateTime {
            year,
            month,
            day,
            hour: fixed_digits(hour, 2)?,
            minute: fixed_digits(minute, 2)?,
            second: fixed_digits(second, 2)?,
        };
        let valid = (1..=days_in_month(year, month)).contains(&day)
            && date.hour <= 23
            && date.minute <= 59
            && date.second <= 60;
        valid.then_some(date)
    }

    fn unix_seconds(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECS_PER_DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (negative before it).
///
/// Counts in 400-year eras that start on 1 March, so the leap day is the last day of
/// its year and the month lengths from March on follow a fixed pattern.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    const DAYS_PER_ERA: i64 = 146_097; // 400 years
    const EPOCH_FROM_ERA_START: i64 = 719_468; // 0000-03-01 to 1970-01-01
    let march_based_year = if month <= 2 { year - 1 } else { year };
    let era = march_based_year.div_euclid(400);
    let year_of_era = march_based_year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    // Months from March run 31,30,31,30,31 | 31,30,31,30,31 | 31,29: 153 days per five.
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_FROM_ERA_START
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The calendar year `now` falls in.
fn year_of(now: UnixTime) -> i64 {
    let days = i64::try_from(now.as_millis() / 1000).unwrap_or(i64::MAX) / SECS_PER_DAY;
    // An estimate within a year, then corrected against the real year starts.
    let mut year = 1970 + days * 400 / 146_097;
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    while days_from_civil(year, 1, 1) > days {
        year -= 1;
    }
    year
}

/// RFC 9110: a two-digit year that would be more than 50 years in the future means
/// the most recent past year with the same last two digits.
fn century_for_two_digit_year(two_digits: u32, now: UnixTime) -> i64 {
    let current = year_of(now);
    let candidate = current - current.rem_euclid(100) + i64::from(two_digits);
    if candidate > current + 50 {
        candidate - 100
    } else {
        candidate
    }
}

fn is_name_in(word: &str, names: &[&str]) -> bool {
    names.iter().any(|name| name.eq_ignore_ascii_case(word))
}

fn is_gmt(zone: &str) -> bool {
    zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC")
}

/// January is 1.
fn month_number(name: &str) -> Option<u32> {
    let index = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    u32::try_from(index).ok().map(|i| i + 1)
}

/// One or two digits (asctime pads a single-digit day with a space, not a zero).
fn day_of_month(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Exactly `len` ASCII digits.
fn fixed_digits(text: &str, len: usize) -> Option<u32> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2038, 1, 19), 24_855);
        assert_eq!(days_from_civil(1600, 1, 1), -135_140);
    }

    #[test]
    fn the_year_of_an_instant_is_found_at_the_edges() {
        assert_eq!(year_of(UnixTime::EPOCH), 1970);
        let new_year_2000 = UnixTime::from_secs(946_684_800);
        assert_eq!(year_of(new_year_2000), 2000);
        assert_eq!(year_of(UnixTime::from_secs(946_684_799)), 1999);
        assert_eq!(year_of(UnixTime::from_millis(u64::MAX)), 584_556_019);
    }

    #[test]
    fn two_digit_years_are_placed_within_fifty_years_ahead() {
        let in_2026 = UnixTime::from_secs(1_767_225_600); // 2026-01-01
        assert_eq!(century_for_two_digit_year(94, in_2026), 1994);
        assert_eq!(century_for_two_digit_year(26, in_2026), 2026);
        assert_eq!(century_for_two_digit_year(76, in_2026), 2076);
        assert_eq!(century_for_two_digit_year(77, in_2026), 1977);
    }
}
