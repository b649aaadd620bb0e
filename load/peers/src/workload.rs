//! The responses the server streams, rendered once before any clock starts: every
//! event as OpenAI sends it (`type` first, the fields its Responses API sends, a
//! `sequence_number` on each), then framed as an SSE body (chunked, one chunk per
//! event, or with `content-length`) and as WebSocket text frames.

use std::fmt::Write as _;

/// The text of the deltas, cycled: short token-sized pieces, as a model streams them.
const TOKENS: [&str; 8] = [
    "The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy dog.",
];

/// Events of a response besides its text deltas: created, output item added, content
/// part added, text done, content part done, output item done, completed.
pub(crate) const FRAME_EVENTS: usize = 7;

/// One response's events as JSON texts, in order.
#[derive(Clone, Debug)]
pub(crate) struct Response {
    /// The events' JSON.
    pub(crate) events: Vec<String>,
    /// Text deltas among them.
    pub(crate) deltas: usize,
}

impl Response {
    /// A response with `deltas` text deltas.
    pub(crate) fn new(deltas: usize) -> Response {
        let id = "resp_bench";
        let item = "msg_bench";
        let text: String = (0..deltas).map(|n| TOKENS[n % TOKENS.len()]).collect();
        let mut seq = 0..;
        let mut next = || seq.next().unwrap_or(0);
        let mut events = Vec::with_capacity(deltas + FRAME_EVENTS);
        events.push(format!(
            r#"{{"type":"response.created","response":{},"sequence_number":{}}}"#,
            response_object(id, "in_progress", None),
            next()
        ));
        events.push(format!(
            r#"{{"type":"response.output_item.added","output_index":0,"item":{{"id":"{item}","type":"message","status":"in_progress","content":[],"role":"assistant"}},"sequence_number":{}}}"#,
            next()
        ));
        events.push(format!(
            r#"{{"type":"response.content_part.added","item_id":"{item}","output_index":0,"content_index":0,"part":{{"type":"output_text","annotations":[],"logprobs":[],"text":""}},"sequence_number":{}}}"#,
            next()
        ));
        for n in 0..deltas {
            let delta = TOKENS[n % TOKENS.len()];
            events.push(format!(
                r#"{{"type":"response.output_text.delta","item_id":"{item}","output_index":0,"content_index":0,"delta":"{delta}","logprobs":[],"sequence_number":{}}}"#,
                next()
            ));
        }
        events.push(format!(
            r#"{{"type":"response.output_text.done","item_id":"{item}","output_index":0,"content_index":0,"text":"{text}","logprobs":[],"sequence_number":{}}}"#,
            next()
        ));
        let part =
            format!(r#"{{"type":"output_text","annotations":[],"logprobs":[],"text":"{text}"}}"#);
        events.push(format!(
            r#"{{"type":"response.content_part.done","item_id":"{item}","output_index":0,"content_index":0,"part":{part},"sequence_number":{}}}"#,
            next()
        ));
        let message = format!(
            r#"{{"id":"{item}","type":"message","status":"completed","content":[{part}],"role":"assistant"}}"#
        );
        events.push(format!(
            r#"{{"type":"response.output_item.done","output_index":0,"item":{message},"sequence_number":{}}}"#,
            next()
        ));
        events.push(format!(
            r#"{{"type":"response.completed","response":{},"sequence_number":{}}}"#,
            response_object(id, "completed", Some(&message)),
            next()
        ));
        Response { events, deltas }
    }

    /// The SSE body: an `event:` and a `data:` line per event, blank line after.
    pub(crate) fn sse_blocks(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|json| format!("event: {}\ndata: {json}\n\n", kind(json)))
            .collect()
    }

    /// A whole HTTP response: head and body, chunked (one chunk per event) or with
    /// `content-length`.
    pub(crate) fn http_response(&self, chunked: bool) -> Vec<u8> {
        let blocks = self.sse_blocks();
        let mut out = String::from(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n",
        );
        if chunked {
            out.push_str("transfer-encoding: chunked\r\n\r\n");
            for block in &blocks {
                let _ = write!(out, "{:x}\r\n{block}\r\n", block.len());
            }
            out.push_str("0\r\n\r\n");
        } else {
            let length: usize = blocks.iter().map(String::len).sum();
            let _ = write!(out, "content-length: {length}\r\n\r\n");
            out.extend(blocks.iter().map(String::as_str));
        }
        out.into_bytes()
    }

    /// Every event as an unmasked WebSocket text frame, back to back.
    pub(crate) fn ws_frames(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for json in &self.events {
            encode_text_frame(json.as_bytes(), &mut out);
        }
        out
    }
}

/// The `response` object of `response.created` (no output yet) and
/// `response.completed` (the message, usage).
fn response_object(id: &str, status: &str, output: Option<&str>) -> String {
    let usage = if output.is_some() {
        r#"{"input_tokens":12,"input_tokens_details":{"cached_tokens":0},"output_tokens":1000,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":1012}"#
    } else {
        "null"
    };
    format!(
        r#"{{"id":"{id}","object":"response","created_at":1741487325,"status":"{status}","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-4o-2024-08-06","output":[{}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{{"effort":null,"summary":null}},"store":true,"temperature":1.0,"text":{{"format":{{"type":"text"}}}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{usage},"user":null,"metadata":{{}}}}"#,
        output.unwrap_or("")
    )
}

/// The `type` of an event rendered by [`Response::new`] (its first member).
fn kind(json: &str) -> &str {
    let rest = json.strip_prefix(r#"{"type":""#).unwrap_or("");
    rest.split('"').next().unwrap_or("")
}

/// Appends an unmasked, final text frame (RFC 6455 section 5.2), as a server sends it.
fn encode_text_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x81);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_json_with_its_type_first() {
        let response = Response::new(10);
        assert_eq!(response.events.len(), 10 + FRAME_EVENTS);
        for json in &response.events {
            let value: serde_json::Value = serde_json::from_str(json).expect(json);
            assert_eq!(value["type"].as_str(), Some(kind(json)), "{json}");
        }
    }

    #[test]
    fn chunked_and_length_bodies_carry_the_same_sse_bytes() {
        let response = Response::new(3);
        let body: String = response.sse_blocks().concat();
        let length = String::from_utf8(response.http_response(false)).expect("utf-8");
        assert!(length.ends_with(&body));
        assert!(length.contains(&format!("content-length: {}\r\n", body.len())));
        let chunked = String::from_utf8(response.http_response(true)).expect("utf-8");
        assert!(chunked.ends_with("\r\n0\r\n\r\n"));
        let unchunked: String = chunked
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or("")
            .split("\r\n")
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|pair| pair.get(1).copied().unwrap_or(""))
            .collect();
        assert_eq!(unchunked, body);
    }
}
