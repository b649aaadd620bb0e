//! Lenient field readers: a JSON value of any kind is accepted, and the caller asks for
//! the kind it wants. Used for fields that only inform (error codes, usage counts, rate
//! limits), where a server sending the wrong kind must not cost us the whole event.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Any JSON value, keeping only what a scalar reader needs. Arrays and objects are
/// skipped without building anything and read as [`Scalar::Other`]. Strings borrow from
/// the input unless they contain escapes.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Scalar<'de> {
    /// A string.
    Str(Cow<'de, str>),
    /// A non-negative integer.
    Unsigned(u64),
    /// A negative integer.
    Signed(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`, an array, an object, or the field was absent.
    #[default]
    Other,
}

impl<'de> Scalar<'de> {
    /// The value when it is a JSON string.
    pub(crate) fn into_str(self) -> Option<Cow<'de, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as text: a string as is, a number in its decimal form.
    pub(crate) fn into_text(self) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(s.into_owned()),
            Scalar::Unsigned(n) => Some(n.to_string()),
            Scalar::Signed(n) => Some(n.to_string()),
            Scalar::Float(n) => Some(n.to_string()),
            Scalar::Bool(_) | Scalar::Other => None,
        }
    }

    /// The value as a non-negative whole number: an integer, a finite non-negative
    /// float (truncated, saturating), or a string holding a decimal integer.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Unsigned(n) => Some(*n),
            Scalar::Signed(_) => None,
            // `as` saturates at u64::MAX and truncates the fraction.
            Scalar::Float(f) if f.is_finite() && *f >= 0.0 => Some(*f as u64),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a finite number (a string holding one counts).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        let value = match self {
            Scalar::Unsigned(n) => *n as f64,
            Scalar::Signed(n) => *n as f64,
            Scalar::Float(f) => *f,
            Scalar::Str(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        value.is_finite().then_some(value)
    }

    /// The value as a boolean: `true`/`false`, `1`/`0`, or those as strings
    /// (case-insensitive).
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            Scalar::Unsigned(0) => Some(false),
            Scalar::Unsigned(1) => Some(true),
            Scalar::Str(s) => parse_bool(s),
            _ => None,
        }
    }
}

/// Reads `true`/`false`/`1`/`0` (ASCII case-insensitive, surrounding spaces ignored).
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") || text == "1" {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") || text == "0" {
        Some(false)
    } else {
        None
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Scalar::Signed(v), Scalar::Unsigned))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Unsigned(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Scalar<'_> {
        serde_json::from_str(json).expect("valid JSON")
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        assert!(matches!(
            read(r#""abc""#),
            Scalar::Str(Cow::Borrowed("abc"))
        ));
        assert_eq!(read(r#""a\nb""#).into_str().as_deref(), Some("a\nb"));
    }

    #[test]
    fn containers_and_null_read_as_other() {
        assert_eq!(read(r#"{"a":[1,{"b":2}]}"#), Scalar::Other);
        assert_eq!(read("[1,2]"), Scalar::Other);
        assert_eq!(read("null"), Scalar::Other);
    }

    #[test]
    fn numbers_read_as_whole_numbers_when_they_can() {
        assert_eq!(read("42").as_u64(), Some(42));
        assert_eq!(read("-1").as_u64(), None);
        assert_eq!(read("1.9").as_u64(), Some(1));
        assert_eq!(read(r#"" 17 ""#).as_u64(), Some(17));
        assert_eq!(read(r#""x""#).as_u64(), None);
    }

    #[test]
    fn floats_must_be_finite() {
        assert_eq!(read("12.5").as_f64(), Some(12.5));
        assert_eq!(read(r#""NaN""#).as_f64(), None);
        assert_eq!(read(r#""inf""#).as_f64(), None);
        assert_eq!(read(r#""3.25""#).as_f64(), Some(3.25));
    }

    #[test]
    fn booleans_accept_words_and_digits() {
        assert_eq!(read("true").as_bool(), Some(true));
        assert_eq!(read(r#""False""#).as_bool(), Some(false));
        assert_eq!(read("1").as_bool(), Some(true));
        assert_eq!(read(r#""0""#).as_bool(), Some(false));
        assert_eq!(read(r#""yes""#).as_bool(), None);
        assert_eq!(read("2").as_bool(), None);
    }

    #[test]
    fn text_renders_numbers() {
        assert_eq!(read("429").into_text().as_deref(), Some("429"));
        assert_eq!(read("-3").into_text().as_deref(), Some("-3"));
        assert_eq!(read("true").into_text(), None);
    }
}
