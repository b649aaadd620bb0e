//! The `client_metadata` body field (PROTOCOL.md 3.1, rev 2): an object of string
//! values assembled from the caller's per-request metadata, the turn metadata and, on
//! WebSocket, the turn-state token.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::headers::TurnStateToken;
use crate::session::Transport;

/// The longest value, in characters, that `client_metadata` carries; the server drops
/// longer ones, so they are not sent.
pub const MAX_VALUE_CHARS: usize = 2048;

/// The key of the turn metadata (the value also sent as the `x-codex-turn-metadata`
/// header on HTTP): the header's name.
pub const TURN_METADATA_KEY: &str = crate::header_names::TURN_METADATA;

/// The key of the turn-state token in a WebSocket message's `client_metadata`: the
/// header's name.
pub const TURN_STATE_KEY: &str = crate::header_names::TURN_STATE;

/// What one request's `client_metadata` is made of.
#[derive(Clone, Copy, Debug)]
pub struct MetadataSources<'a> {
    /// The caller's per-request metadata ([`RequestFields::client_metadata`](super::RequestFields::client_metadata)).
    pub caller: &'a BTreeMap<String, String>,
    /// The turn's metadata, when the caller gave one.
    pub turn_metadata: Option<&'a str>,
    /// The turn's captured token, when it has one.
    pub turn_state: Option<&'a TurnStateToken>,
}

/// A `client_metadata` object ready to serialise: keys in sorted order, every value at
/// most [`MAX_VALUE_CHARS`] characters. Build one with [`client_metadata`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientMetadata<'a> {
    entries: BTreeMap<&'a str, &'a str>,
}

impl<'a> ClientMetadata<'a> {
    /// An empty object: the body then has no `client_metadata` field.
    pub fn empty() -> Self {
        ClientMetadata::default()
    }

    /// True when there is nothing to send (the field is then omitted).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `key`, if sent.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.entries.get(key).copied()
    }

    /// The entries in the order they are written (sorted by key).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.entries.iter().map(|(k, v)| (*k, *v))
    }
}

impl Serialize for ClientMetadata<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter())
    }
}

/// An entry left out of `client_metadata` because its value is longer than
/// [`MAX_VALUE_CHARS`]; the session reports each as telemetry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OversizedValue {
    /// The entry's key.
    pub key: String,
    /// The value's length in characters.
    pub chars: usize,
}

/// Assembles the `client_metadata` of one request sent over `transport`, and lists the
/// entries left out for being too long. Call once per attempt, with the turn's current
/// token, so an attempt after a capture carries it.
///
/// Promises:
/// - the caller's entries are carried as given, except under the two reserved keys
///   [`TURN_METADATA_KEY`] and [`TURN_STATE_KEY`], which only the session fills: a
///   caller value there is ignored (so a caller can neither forge nor hide a token);
/// - the turn metadata, when given, goes under [`TURN_METADATA_KEY`] on both
///   transports (on HTTP it is also the `x-codex-turn-metadata` header, when it is a
///   valid header value);
/// - the token goes under [`TURN_STATE_KEY`] on WebSocket only; on HTTP it travels as
///   the `x-codex-turn-state` header instead and never in the body;
/// - a value longer than [`MAX_VALUE_CHARS`] characters (not bytes) is left out and
///   listed in the second result, in key order.
pub fn client_metadata<'a>(
    sources: MetadataSources<'a>,
    transport: Transport,
) -> (ClientMetadata<'a>, Vec<OversizedValue>) {
    let reserved = |key: &str| key == TURN_METADATA_KEY || key == TURN_STATE_KEY;
    let caller = sources
        .caller
        .iter()
        .filter(|(key, _)| !reserved(key))
        .map(|(key, value)| (key.as_str(), value.as_str()));
    let turn_metadata = sources.turn_metadata.map(|m| (TURN_METADATA_KEY, m));
    let turn_state = match transport {
        Transport::WebSocket => sources.turn_state.map(|t| (TURN_STATE_KEY, t.as_str())),
        Transport::Http => None,
    };
    let mut metadata = ClientMetadata::default();
    let mut oversized = Vec::new();
    for (key, value) in caller.chain(turn_metadata).chain(turn_state) {
        match char_count_over(value, MAX_VALUE_CHARS) {
            Some(chars) => oversized.push(OversizedValue {
                key: key.to_owned(),
                chars,
            }),
            None => {
                metadata.entries.insert(key, value);
            }
        }
    }
    oversized.sort_by(|a, b| a.key.cmp(&b.key));
    (metadata, oversized)
}

/// The number of characters of `value` when it has more than `max`, else `None`.
/// Costs O(1) for values whose byte length is already within `max`.
fn char_count_over(value: &str, max: usize) -> Option<usize> {
    if value.len() <= max {
        return None;
    }
    let chars = value.chars().count();
    (chars > max).then_some(chars)
}
