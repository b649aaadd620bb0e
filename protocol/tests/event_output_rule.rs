//! Which caller events count as model output for `retry_after_partial_output`
//! (PROTOCOL.md section 9): one row per `ResponseEvent` variant.

use core::time::Duration;
use turnwire_protocol::event::RateLimitSnapshot;
use turnwire_protocol::{ResponseEvent, ResponseItem};

#[test]
fn output_events_are_exactly_items_text_reasoning_and_tool_input() {
    let text = |s: &str| s.to_owned();
    let table = [
        (
            ResponseEvent::Created {
                response_id: text("r"),
            },
            false,
        ),
        (
            ResponseEvent::OutputItemAdded {
                item: ResponseItem::assistant_text("a"),
            },
            true,
        ),
        (
            ResponseEvent::OutputItemDone {
                item: ResponseItem::assistant_text("a"),
            },
            true,
        ),
        (
            ResponseEvent::OutputTextDelta {
                delta: text("d"),
                item_id: text("i"),
                output_index: 0,
                content_index: 0,
            },
            true,
        ),
        (
            ResponseEvent::ReasoningSummaryDelta {
                delta: text("d"),
                summary_index: 0,
            },
            true,
        ),
        (
            ResponseEvent::ReasoningContentDelta {
                delta: text("d"),
                content_index: 0,
            },
            true,
        ),
        (
            ResponseEvent::ReasoningSummaryPartAdded { summary_index: 0 },
            true,
        ),
        (
            ResponseEvent::ToolCallInputDelta {
                item_id: text("i"),
                delta: text("{"),
            },
            true,
        ),
        (
            ResponseEvent::Completed {
                response_id: text("r"),
                usage: None,
            },
            false,
        ),
        (
            ResponseEvent::Incomplete {
                response_id: text("r"),
                reason: None,
                usage: None,
            },
            false,
        ),
        (
            ResponseEvent::RateLimits {
                snapshot: RateLimitSnapshot::default(),
            },
            false,
        ),
        (ResponseEvent::ModelsEtag { etag: text("e") }, false),
        (
            ResponseEvent::ServerReasoningIncluded { included: true },
            false,
        ),
        (
            ResponseEvent::Reconnecting {
                attempt: 1,
                max: 5,
                delay: Duration::from_millis(200),
                reason: text("cut"),
            },
            false,
        ),
        (
            ResponseEvent::FallbackActivated {
                reason: text("426"),
            },
            false,
        ),
        (
            ResponseEvent::Other {
                event_type: text("response.in_progress"),
                raw: serde_json::json!({"type": "response.in_progress"}),
            },
            false,
        ),
    ];
    for (event, output) in table {
        assert_eq!(event.is_output(), output, "{event:?}");
    }
}
