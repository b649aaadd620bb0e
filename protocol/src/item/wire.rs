//! Shared JSON plumbing of the item and part types: taking typed fields out of a
//! parsed object, and writing an object back as `type`, typed fields, then extras.
//!
//! It knows nothing of the types built on it (items and parts depend on this module,
//! never the other way round), so its helpers deal only in JSON values and in any
//! `Serialize` field value.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// The keys of an item or part that have no typed field, exactly as received
/// (values included, `null` kept as `null`).
pub type Extras = serde_json::Map<String, Value>;

/// A typed field: its key, and its value when present. Absent fields are not written.
pub(crate) type Entry<V> = (&'static str, Option<V>);

/// Writes `{"type": ty, <present fields>, <extras>}`.
///
/// An extras key that is `type` or that names a present typed field is skipped, so
/// the output never repeats a key even when a caller filled `extras` carelessly.
/// Extras are small (a few keys), so the check costs little.
pub(crate) fn serialize_object<S: Serializer, V: Serialize>(
    s: S,
    ty: &str,
    fields: &[Entry<V>],
    extras: &Extras,
) -> Result<S::Ok, S::Error> {
    let shadowed =
        |key: &str| key == "type" || fields.iter().any(|(name, v)| v.is_some() && *name == key);
    let present = fields.iter().filter(|(_, v)| v.is_some()).count();
    let extra = if extras.is_empty() {
        0
    } else {
        extras.keys().filter(|k| !shadowed(k)).count()
    };
    let mut map = s.serialize_map(Some(1 + present + extra))?;
    map.serialize_entry("type", ty)?;
    for (name, value) in fields {
        if let Some(value) = value {
            map.serialize_entry(name, value)?;
        }
    }
    if extra > 0 {
        for (key, value) in extras {
            if !shadowed(key) {
                map.serialize_entry(key, value)?;
            }
        }
    }
    map.end()
}

/// Removes and returns `key` when it holds a string; otherwise leaves it in place.
pub(crate) fn take_string(map: &mut Extras, key: &str) -> Option<String> {
    match map.get(key) {
        Some(Value::String(_)) => match map.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Removes and returns `key` when it holds an array; otherwise leaves it in place.
pub(crate) fn take_array(map: &mut Extras, key: &str) -> Option<Vec<Value>> {
    match map.get(key) {
        Some(Value::Array(_)) => match map.remove(key) {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `key` holds a string.
pub(crate) fn has_string(map: &Extras, key: &str) -> bool {
    matches!(map.get(key), Some(Value::String(_)))
}

/// Whether `key` holds an array.
pub(crate) fn has_array(map: &Extras, key: &str) -> bool {
    matches!(map.get(key), Some(Value::Array(_)))
}
