//! Bounds on every buffer the core keeps (PROTOCOL.md section 13).

use serde::{Deserialize, Serialize};

/// Every buffer the core keeps has one of these bounds. Crossing one is a typed error
/// of the response concerned, never an allocation failure or a panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest SSE line, in bytes, before the line ends (default 16 MiB).
    pub sse_line: usize,
    /// Largest SSE event `data` (all lines joined), in bytes (default 16 MiB).
    pub sse_event_data: usize,
    /// Largest WebSocket text message, in bytes (default 16 MiB).
    pub ws_message: usize,
    /// Longest header value the core keeps (turn state included), in bytes (default 4 KiB).
    pub header_value: usize,
    /// Largest error body kept in an error value, in bytes (default 8 KiB).
    pub error_body: usize,
    /// Most outputs queued between two drains (default 65,536).
    pub queued_outputs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sse_line: 16 << 20,
            sse_event_data: 16 << 20,
            ws_message: 16 << 20,
            header_value: 4 << 10,
            error_body: 8 << 10,
            queued_outputs: 65_536,
        }
    }
}
