//! Exact decimal numbers as durations, without floating point: `"1.5"` seconds is
//! 1,500,000,000 ns, never 1.4999… . Used by the `Retry-After`, `retry-after-ms` and
//! "try again in" parsers.

use core::time::Duration;

/// Nanoseconds in a millisecond, the unit of `retry-after-ms`.
pub(crate) const NANOS_PER_MILLI: u64 = 1_000_000;
/// Nanoseconds in a second, the unit of `Retry-After`.
pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Fraction digits beyond this many are read but ignored: 10⁻¹⁸ of the largest unit
/// (an hour) is far below a nanosecond, and the accumulator stays within `u128`.
const MAX_FRACTION_DIGITS: u32 = 18;

/// A decimal number `digits [ "." digits ]` split into its parts. Leading zeros are
/// allowed; a sign, an exponent or a leading/trailing dot is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decimal {
    /// The integer part.
    whole: u64,
    /// The first [`MAX_FRACTION_DIGITS`] fraction digits as an integer...
    fraction: u128,
    /// ...over this power of ten (1 when there is no fraction).
    fraction_scale: u128,
}

impl Decimal {
    /// Reads a decimal at the start of `bytes`; returns it and the number of bytes it
    /// used. `None` when `bytes` does not start with a digit, when a dot is not
    /// followed by a digit, or when the integer part does not fit a `u64`.
    pub(crate) fn parse_prefix(bytes: &[u8]) -> Option<(Decimal, usize)> {
        let whole_len = count_digits(bytes);
        if whole_len == 0 {
            return None;
        }
        let whole = digits_to_u64(bytes.get(..whole_len)?)?;
        let mut decimal = Decimal {
            whole,
            fraction: 0,
            fraction_scale: 1,
        };
        let mut used = whole_len;
        if bytes.get(used) == Some(&b'.') {
            let rest = bytes.get(used + 1..)?;
            let fraction_len = count_digits(rest);
            if fraction_len == 0 {
                return None;
            }
            for &digit in rest
                .iter()
                .take(fraction_len.min(MAX_FRACTION_DIGITS as usize))
            {
                decimal.fraction = decimal.fraction * 10 + u128::from(digit - b'0');
                decimal.fraction_scale *= 10;
            }
            used += 1 + fraction_len;
        }
        Some((decimal, used))
    }

    /// Reads `bytes` as one whole decimal (nothing before or after it).
    pub(crate) fn parse_exact(bytes: &[u8]) -> Option<Decimal> {
        match Decimal::parse_prefix(bytes)? {
            (decimal, used) if used == bytes.len() => Some(decimal),
            _ => None,
        }
    }

    /// This many units of `unit_nanos` nanoseconds each, rounded down to a whole
    /// nanosecond. `None` when the result does not fit a [`Duration`].
    pub(crate) fn times_unit(self, unit_nanos: u64) -> Option<Duration> {
        let unit = u128::from(unit_nanos);
        let whole = u128::from(self.whole).checked_mul(unit)?;
        let part = self.fraction.checked_mul(unit)? / self.fraction_scale;
        duration_from_nanos(whole.checked_add(part)?)
    }
}

/// A [`Duration`] of `nanos` nanoseconds, or `None` when that is above
/// [`Duration::MAX`].
pub(crate) fn duration_from_nanos(nanos: u128) -> Option<Duration> {
    let secs = u64::try_from(nanos / u128::from(NANOS_PER_SEC)).ok()?;
    // The remainder is below 10⁹, so it always fits a u32.
    let subsec = u32::try_from(nanos % u128::from(NANOS_PER_SEC)).ok()?;
    Some(Duration::new(secs, subsec))
}

/// A [`Duration`] of `nanos` nanoseconds, saturating at [`Duration::MAX`].
pub(crate) fn saturating_duration_from_nanos(nanos: u128) -> Duration {
    duration_from_nanos(nanos).unwrap_or(Duration::MAX)
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// The value of a run of ASCII digits, or `None` when it is empty, has another byte,
/// or overflows a `u64`.
pub(crate) fn digits_to_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_and_fractional_numbers_exactly() {
        let sec = 1_000_000_000;
        let d = |s: &str| Decimal::parse_exact(s.as_bytes()).and_then(|d| d.times_unit(sec));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d("007"), Some(Duration::from_secs(7)));
        assert_eq!(d("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(d("0.1"), Some(Duration::from_millis(100)));
        assert_eq!(d("2.000000000999"), Some(Duration::from_secs(2)));
        assert_eq!(d("18446744073709551615"), Some(Duration::new(u64::MAX, 0)));
        assert_eq!(d("18446744073709551615.999999999"), Some(Duration::MAX));
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "+1",
            "1e3",
            "NaN",
            "inf",
            "1.2.3",
            " 1",
            "1 ",
            "18446744073709551616",
        ] {
            assert_eq!(Decimal::parse_exact(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn prefix_reports_how_much_it_read() {
        let (decimal, used) = Decimal::parse_prefix(b"28ms please").expect("number");
        assert_eq!(used, 2);
        assert_eq!(
            decimal.times_unit(1_000_000),
            Some(Duration::from_millis(28))
        );
    }

    #[test]
    fn large_units_overflow_to_none() {
        let (decimal, _) = Decimal::parse_prefix(b"18446744073709551615").expect("number");
        assert_eq!(decimal.times_unit(3_600_000_000_000), None);
    }
}
