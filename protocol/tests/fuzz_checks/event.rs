//! The `event` target: arbitrary bytes, read as UTF-8 (invalid sequences replaced),
//! through [`decode_server_event`].
//!
//! Checked: no panic; decoding is deterministic; an accepted event is a JSON object
//! (the text is JSON syntax, numbers of any size allowed); `Completed` carries a
//! non-empty response id; an `Other` event keeps the whole object; items in
//! output-item events survive a JSON round trip.

use serde_json::Value;
use serde_json::value::RawValue;
use turnwire_protocol::event::{ResponseEvent, ServerEvent, decode_server_event};
use turnwire_protocol::item::ResponseItem;

/// The check. Panics with a description when a property fails.
pub(crate) fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let decoded = decode_server_event(&text);
    assert_eq!(
        decode_server_event(&text),
        decoded,
        "decoding the same text twice differs"
    );
    let Ok(event) = decoded else { return };
    // Syntax only: JSON puts no bound on numbers, and members the decoder skips may
    // hold one that a `serde_json::Value` would refuse as out of range.
    let raw: Box<RawValue> = match serde_json::from_str(&text) {
        Ok(raw) => raw,
        Err(err) => panic!("accepted {event:?} from text that is not JSON: {err}"),
    };
    assert!(
        raw.get().starts_with('{'),
        "accepted an event that is not an object"
    );
    match event {
        ServerEvent::Completed { response_id, .. } => {
            assert!(
                !response_id.is_empty(),
                "Completed with an empty response id"
            );
        }
        ServerEvent::Caller(ResponseEvent::Other { raw, .. }) => {
            let parsed: Value = serde_json::from_str(&text).expect("Other was parsed whole");
            assert_eq!(raw, parsed, "Other does not keep the whole event");
        }
        ServerEvent::Caller(
            ResponseEvent::OutputItemAdded { item } | ResponseEvent::OutputItemDone { item },
        ) => {
            let json = serde_json::to_value(&item).expect("items serialise");
            let back: ResponseItem = serde_json::from_value(json).expect("items parse");
            assert_eq!(back, item, "an item from an event does not round-trip");
        }
        _ => {}
    }
}
