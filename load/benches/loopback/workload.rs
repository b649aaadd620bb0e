//! The streamed response every throughput benchmark carries, rendered once in each
//! shape a server sends it: scripted steps for the loopback server, the SSE body and
//! the WebSocket text frames for the pre-rendering server and the raw clients.

use serde_json::{Value, json};
use turnwire_testkit::sim::Step;
use turnwire_testkit::wire::ev;

/// One response: `response.created`, `response.output_item.added`, `deltas` text
/// deltas, `response.completed`.
pub(crate) struct Workload {
    /// Text deltas in the response.
    pub(crate) deltas: usize,
    /// The events as JSON, in order.
    events: Vec<Value>,
    /// The SSE body, byte for byte what the loopback server renders for the same events.
    pub(crate) sse_body: Vec<u8>,
    /// The events as WebSocket text messages.
    pub(crate) ws_messages: Vec<String>,
}

/// The text of every delta: a few words, like one streamed token group.
const DELTA_TEXT: &str = "the quick fox ";

impl Workload {
    /// A response with `deltas` text deltas.
    pub(crate) fn new(deltas: usize) -> Workload {
        let item_id = "msg_bench";
        let mut events = vec![
            ev::created("resp_bench"),
            ev::item_added(
                json!({"type": "message", "role": "assistant", "id": item_id, "content": []}),
            ),
        ];
        events.extend((0..deltas).map(|_| ev::text_delta(item_id, DELTA_TEXT)));
        events.push(ev::completed("resp_bench"));
        let sse_body = events.iter().flat_map(sse_block).collect();
        let ws_messages = events.iter().map(Value::to_string).collect();
        Workload {
            deltas,
            events,
            sse_body,
            ws_messages,
        }
    }

    /// Events in the response, the terminal one included.
    pub(crate) fn events(&self) -> usize {
        self.events.len()
    }

    /// The response as loopback-server steps: one `Step::Event` per event, no waits.
    pub(crate) fn steps(&self) -> Vec<Step> {
        self.events.iter().cloned().map(Step::Event).collect()
    }

    /// Mean size of one event's SSE block (`event:` and `data:` lines, blank line).
    pub(crate) fn sse_bytes_per_event(&self) -> usize {
        self.sse_body.len() / self.events()
    }

    /// Mean size of one WebSocket message's payload.
    pub(crate) fn ws_bytes_per_event(&self) -> usize {
        self.ws_messages.iter().map(String::len).sum::<usize>() / self.events()
    }
}

/// One event as the loopback server renders it over SSE (`\n` line endings).
fn sse_block(event: &Value) -> Vec<u8> {
    format!("event: {}\ndata: {event}\n\n", ev::kind(event)).into_bytes()
}
