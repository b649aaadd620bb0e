//! Serde for `http::HeaderMap` and status codes inside inputs, so traces record and
//! replay exactly. Values that are valid UTF-8 are written as strings, others as byte
//! arrays.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Value {
    Text(String),
    Bytes(Vec<u8>),
}

/// Serialises a header map as a list of `[name, value]` pairs, in map order.
pub(crate) fn serialize<S: Serializer>(headers: &http::HeaderMap, s: S) -> Result<S::Ok, S::Error> {
    let pairs: Vec<(&str, Value)> = headers
        .iter()
        .map(|(name, value)| {
            let value = match value.to_str() {
                Ok(text) => Value::Text(text.to_owned()),
                Err(_) => Value::Bytes(value.as_bytes().to_vec()),
            };
            (name.as_str(), value)
        })
        .collect();
    pairs.serialize(s)
}

/// Reads a header map back; invalid names or values are a deserialisation error.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<http::HeaderMap, D::Error> {
    use serde::de::Error;
    let pairs: Vec<(String, Value)> = Vec::deserialize(d)?;
    let mut map = http::HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(D::Error::custom)?;
        let bytes = match value {
            Value::Text(text) => text.into_bytes(),
            Value::Bytes(bytes) => bytes,
        };
        let value = http::HeaderValue::from_bytes(&bytes).map_err(D::Error::custom)?;
        map.append(name, value);
    }
    Ok(map)
}
