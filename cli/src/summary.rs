//! The per-request summary table built from telemetry.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use turnwire_transports::{RequestId, Telemetry};

/// One request's row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Row {
    pub(crate) request: u64,
    /// Transport of the last attempt.
    pub(crate) transport: String,
    pub(crate) attempts: u32,
    /// How the last attempt was sent: post, create, append or chained.
    pub(crate) message: String,
    /// Time to the first event of the last attempt, in milliseconds.
    pub(crate) first_event_ms: Option<u64>,
    /// Events decoded, all attempts.
    pub(crate) events: u64,
    /// Bytes received, all attempts.
    pub(crate) bytes: u64,
}

/// Builds one row per request, in request order.
pub(crate) fn rows(records: &[Telemetry]) -> Vec<Row> {
    let mut rows: BTreeMap<RequestId, Row> = BTreeMap::new();
    for record in records {
        match record {
            Telemetry::AttemptStarted {
                request,
                attempt,
                transport,
                message,
                ..
            } => {
                let row = rows.entry(*request).or_default();
                row.request = request.0;
                row.attempts = row.attempts.max(*attempt);
                row.transport = transport.as_str().to_owned();
                row.message = message.as_str().to_owned();
            }
            Telemetry::AttemptEnded {
                request,
                first_event,
                bytes,
                events,
                ..
            } => {
                let row = rows.entry(*request).or_default();
                row.request = request.0;
                row.first_event_ms = first_event.map(millis);
                row.events += events;
                row.bytes += bytes;
            }
            _ => {}
        }
    }
    rows.into_values().collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The rows as table cells for people.
pub(crate) fn cells(rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            vec![
                r.request.to_string(),
                r.transport.clone(),
                r.attempts.to_string(),
                r.message.clone(),
                r.first_event_ms
                    .map_or("-".to_owned(), |ms| format!("{ms} ms")),
                r.events.to_string(),
                r.bytes.to_string(),
            ]
        })
        .collect()
}

/// The table header.
pub(crate) const HEADER: [&str; 7] = [
    "request",
    "transport",
    "attempts",
    "message",
    "first event",
    "events",
    "bytes",
];

#[cfg(test)]
mod tests {
    use super::*;
    use turnwire_transports::{MessageKind, Transport};

    #[test]
    fn rows_follow_the_last_attempt_and_sum_traffic() {
        let r = RequestId(3);
        let records = vec![
            Telemetry::AttemptStarted {
                request: r,
                attempt: 1,
                transport: Transport::WebSocket,
                message: MessageKind::Create,
                bytes: 10,
                compared_items: 0,
            },
            Telemetry::AttemptEnded {
                request: r,
                attempt: 1,
                transport: Transport::WebSocket,
                duration: Duration::from_millis(5),
                first_event: None,
                bytes: 7,
                events: 1,
                outcome: "stream error".into(),
            },
            Telemetry::AttemptStarted {
                request: r,
                attempt: 2,
                transport: Transport::Http,
                message: MessageKind::Post,
                bytes: 10,
                compared_items: 0,
            },
            Telemetry::AttemptEnded {
                request: r,
                attempt: 2,
                transport: Transport::Http,
                duration: Duration::from_millis(9),
                first_event: Some(Duration::from_millis(4)),
                bytes: 100,
                events: 5,
                outcome: "completed".into(),
            },
        ];
        let rows = rows(&records);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(
            (row.transport.as_str(), row.attempts, row.message.as_str()),
            ("http", 2, "post")
        );
        assert_eq!(
            (row.first_event_ms, row.events, row.bytes),
            (Some(4), 6, 107)
        );
    }
}
