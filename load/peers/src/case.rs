//! The workloads: which response, how many sequential requests, which framing and
//! transport.

use std::sync::Arc;

use crate::workload::Response;

/// How the response travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// HTTP/1.1 POST, SSE body with `transfer-encoding: chunked`.
    SseChunked,
    /// HTTP/1.1 POST, SSE body with `content-length`.
    SseLength,
    /// A WebSocket, one `response.create` message per request.
    Ws,
}

impl Transport {
    /// Whether this is one of the SSE transports.
    pub(crate) fn is_sse(self) -> bool {
        self != Transport::Ws
    }

    fn suffix(self) -> &'static str {
        match self {
            Transport::SseChunked => "chunked",
            Transport::SseLength => "length",
            Transport::Ws => "ws",
        }
    }
}

/// One workload.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// `long` (one long response) or `seq` (many short ones, one after another).
    pub(crate) shape: &'static str,
    pub(crate) transport: Transport,
    /// Requests made one after another.
    pub(crate) requests: usize,
    pub(crate) response: Arc<Response>,
}

impl Case {
    /// The case's name, e.g. `seq-chunked`.
    pub(crate) fn name(&self) -> String {
        format!("{}-{}", self.shape, self.transport.suffix())
    }

    /// The API base URL on the server at `port` (requests go to `{base}/responses`).
    pub(crate) fn base_url(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}/{}/v1", self.name())
    }

    /// The path requests go to.
    pub(crate) fn path(&self) -> String {
        format!("/{}/v1/responses", self.name())
    }

    /// Events in one response.
    pub(crate) fn events_per_request(&self) -> usize {
        self.response.events.len()
    }

    /// Events the server sends over the whole case.
    pub(crate) fn total_events(&self) -> usize {
        self.requests * self.events_per_request()
    }
}

/// The request body the peers send (turnwire renders its own).
pub(crate) const REQUEST_BODY: &str = r#"{"model":"gpt-4o","input":"go","stream":true}"#;

/// The WebSocket message the raw readers send.
pub(crate) const WS_CREATE: &str =
    r#"{"type":"response.create","model":"gpt-4o","input":"go","stream":true}"#;
