//! Scenario 22 over real sockets: every recorded stream in
//! `fixtures/openai/transcripts/` is served by the loopback server as one scripted SSE
//! reply (in several chunks), and the client's events must equal what decoding the
//! file directly with `turnwire_protocol::sse` and `event::decode_server_event` gives.
//! Skipped, with a notice, when the shared fixtures are absent.

#[path = "../../protocol/tests/support/mod.rs"]
mod support;

use std::path::Path;

use turnwire_protocol::ResponseError;
use turnwire_protocol::ResponseEvent;
use turnwire_protocol::error::classify_failed;
use turnwire_protocol::event::{ServerEvent, decode_server_event};
use turnwire_protocol::sse::{SseDecoder, SseFrame};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{FakeServer, Reply, Step};
use turnwire_testkit::wire::user;
use turnwire_tests::scenario::{PATIENCE, append, base_config, client_options, one_request};
use turnwire_tests::{Harness, Rt};
use turnwire_transports::StreamError;

/// Bytes per scripted body chunk.
const CHUNK: usize = 1000;

/// How a decoded stream ends for the caller.
#[derive(Debug, PartialEq)]
enum Ending {
    /// A terminal event (`Completed` / `Incomplete`), the last of the events.
    Terminal,
    /// `response.failed`: this error.
    Failed(ResponseError),
    /// An `error` event and then the end of the body: some error.
    ErrorEvent,
    /// The body ended without a terminal event or error.
    ClosedEarly,
}

/// The caller's events and ending, from decoding `sse` directly.
fn decode_directly(sse: &[u8]) -> (Vec<ResponseEvent>, Ending) {
    let mut decoder = SseDecoder::default();
    decoder.feed(sse);
    decoder.finish();
    let mut datas = Vec::new();
    while let Some(frame) = decoder.next_frame() {
        if let SseFrame::Event(event) = frame.expect("the transcript frames cleanly") {
            datas.push(event.data.to_owned());
        }
    }
    let mut events = Vec::new();
    let mut saw_error = false;
    for data in datas {
        match decode_server_event(&data) {
            Ok(ServerEvent::Caller(event)) => events.push(event),
            Ok(ServerEvent::Completed { response_id, usage }) => {
                events.push(ResponseEvent::Completed { response_id, usage });
                return (events, Ending::Terminal);
            }
            Ok(ServerEvent::Incomplete {
                response_id,
                reason,
                usage,
            }) => {
                events.push(ResponseEvent::Incomplete {
                    response_id,
                    reason,
                    usage,
                });
                return (events, Ending::Terminal);
            }
            Ok(ServerEvent::Failed { error, .. }) => {
                return (
                    events,
                    Ending::Failed(classify_failed(error.as_ref()).error),
                );
            }
            Ok(ServerEvent::Error(_)) => saw_error = true,
            // Metadata, timing and undecodable events never reach the caller.
            _ => {}
        }
    }
    let ending = if saw_error {
        Ending::ErrorEvent
    } else {
        Ending::ClosedEarly
    };
    (events, ending)
}

/// `text` cut into chunks of about [`CHUNK`] bytes at character boundaries.
fn chunks(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = CHUNK.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (chunk, tail) = rest.split_at(end);
        steps.push(Step::Raw(chunk.to_owned()));
        rest = tail;
    }
    steps
}

fn replay(rt: Rt, path: &Path) {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let sse = support::transcript_as_sse(path);
    let text = String::from_utf8(sse.clone()).expect("transcripts are UTF-8");
    let (expected, ending) = decode_directly(&sse);
    if name == "spec-paths-responses-streaming-example.sse" {
        // No blank line after its last event: under WHATWG rules the final
        // response.completed block is never dispatched.
        assert_eq!(ending, Ending::ClosedEarly, "{name}");
    }

    let mut script = FakeServer::new();
    script.push_http(Reply::with_steps(chunks(&text)));
    let server = LoopbackServer::start(script).expect("a loopback server");
    let mut config = base_config(&server.base_url());
    config.stream_max_retries = 0;
    let harness = Harness::new(rt);
    let outcome = one_request(
        &harness,
        client_options(config),
        append(vec![user("replay")]),
    );
    assert!(server.wait_for_open_connections_at_most(0, PATIENCE));
    assert_eq!(server.recording().posts(), 1, "{name}: not retried");

    let events: Vec<ResponseEvent> = outcome.events().cloned().collect();
    assert_eq!(events, expected, "{rt:?} {name}: events differ");
    match ending {
        Ending::Terminal => assert!(
            events.last().is_some_and(ResponseEvent::is_terminal) && outcome.error().is_none(),
            "{rt:?} {name}: {:?}",
            outcome.items
        ),
        Ending::Failed(error) => assert_eq!(
            outcome.error(),
            Some(&StreamError::Response(error)),
            "{rt:?} {name}"
        ),
        Ending::ErrorEvent => assert!(outcome.error().is_some(), "{rt:?} {name}"),
        Ending::ClosedEarly => {
            let Some(StreamError::Response(ResponseError::Stream { message })) = outcome.error()
            else {
                panic!("{rt:?} {name}: {:?}", outcome.error())
            };
            assert!(
                message.contains("stream closed before response.completed"),
                "{rt:?} {name}: {message}"
            );
        }
    }
}

fn replay_all(rt: Rt, test: &str) {
    let Some(dir) = support::openai_fixtures(test) else {
        return;
    };
    let files = support::transcripts(&dir);
    assert!(!files.is_empty(), "no transcripts in {}", dir.display());
    for path in &files {
        replay(rt, path);
    }
}

#[test]
fn tokio_real_transcripts_give_the_directly_decoded_events() {
    replay_all(
        Rt::Tokio,
        "tokio_real_transcripts_give_the_directly_decoded_events",
    );
}

#[test]
fn smol_real_transcripts_give_the_directly_decoded_events() {
    replay_all(
        Rt::Smol,
        "smol_real_transcripts_give_the_directly_decoded_events",
    );
}
