//! The `headers` object some events carry (a WebSocket `error` frame, a
//! `response.metadata` event) as a header map. Part of event decoding; header capture
//! ([`crate::headers`]) then reads the map like any response's headers.

/// Converts a JSON `headers` object (of a WebSocket `error` frame or a
/// `response.metadata` event) to a header map, skipping entries that are not valid
/// header names or string/number values.
///
/// Values: a string is used as is when it is a valid ASCII header value (visible
/// ASCII, spaces and tabs; CR, LF, NUL, other controls and non-ASCII are refused), a
/// number or boolean in its JSON form, an array adds one value per usable element
/// (strings, numbers, booleans).
/// `null`, objects and nested arrays are skipped. Names are lower-cased. Anything but an
/// object gives an empty map.
pub fn headers_from_json(value: &serde_json::Value) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let Some(object) = value.as_object() else {
        return headers;
    };
    for (name, value) in object {
        let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        match value {
            serde_json::Value::Array(values) => {
                for value in values.iter().filter_map(header_value) {
                    headers.append(name.clone(), value);
                }
            }
            value => {
                if let Some(value) = header_value(value) {
                    headers.append(name, value);
                }
            }
        }
    }
    headers
}

/// One JSON scalar as a header value.
fn header_value(value: &serde_json::Value) -> Option<http::HeaderValue> {
    let text = match value {
        serde_json::Value::String(s) if s.is_ascii() => return http::HeaderValue::from_str(s).ok(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    http::HeaderValue::from_str(&text).ok()
}
