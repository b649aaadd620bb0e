//! Checking that every event arrived exactly once: per response (one `Created`, the
//! deltas reassembling the expected text, one finished item, one `Completed`, last),
//! per session (its responses in order) and across the run (every response number
//! served exactly once).

use turnwire_protocol::ResponseEvent;
use turnwire_transports::StreamError;

use crate::script;

/// What one response looked like to its reader.
#[derive(Debug, Default)]
pub(crate) struct ResponseLog {
    /// Text deltas the response must have (the run's `--deltas`; 0 counts as 1).
    expected_deltas: usize,
    /// `Ok` events received.
    pub(crate) events: usize,
    deltas: usize,
    created: Vec<String>,
    completed: Vec<String>,
    text: String,
    item_texts: Vec<Option<String>>,
    unexpected: Vec<String>,
    error: Option<String>,
    after_terminal: usize,
}

impl ResponseLog {
    /// An empty log of a response that must arrive as `deltas` text deltas.
    pub(crate) fn new(deltas: usize) -> ResponseLog {
        ResponseLog {
            expected_deltas: deltas.max(1),
            ..ResponseLog::default()
        }
    }

    /// Notes one item of the response stream.
    pub(crate) fn record(&mut self, item: Result<ResponseEvent, StreamError>) {
        if !self.completed.is_empty() {
            self.after_terminal += 1;
        }
        let event = match item {
            Ok(event) => event,
            Err(error) => {
                self.error = Some(error.to_string());
                return;
            }
        };
        self.events += 1;
        match event {
            ResponseEvent::Created { response_id } => self.created.push(response_id),
            ResponseEvent::OutputTextDelta { delta, .. } => {
                self.deltas += 1;
                self.text.push_str(&delta);
            }
            ResponseEvent::OutputItemDone { item } => self.item_texts.push(item.text()),
            ResponseEvent::Completed { response_id, .. } => self.completed.push(response_id),
            other => self.unexpected.push(format!("{other:?}")),
        }
    }

    /// The response number when the response is exactly what the server sent, else
    /// what is wrong with it.
    pub(crate) fn verdict(&self) -> Result<u64, String> {
        if let Some(error) = &self.error {
            return Err(format!("stream failed: {error}"));
        }
        if let Some(event) = self.unexpected.first() {
            return Err(format!("unexpected event {event}"));
        }
        let [created] = self.created.as_slice() else {
            return Err(format!("{} Created events", self.created.len()));
        };
        let [completed] = self.completed.as_slice() else {
            return Err(format!("{} Completed events", self.completed.len()));
        };
        if created != completed {
            return Err(format!("created {created} but completed {completed}"));
        }
        if self.after_terminal > 0 {
            return Err(format!("{} items after Completed", self.after_terminal));
        }
        let n = script::response_number(created)
            .ok_or_else(|| format!("response id {created:?} is not resp-N"))?;
        let expected = script::expected_text(n, self.expected_deltas);
        if self.deltas != self.expected_deltas.max(1) {
            return Err(format!(
                "{created}: {} text deltas, expected {}",
                self.deltas, self.expected_deltas
            ));
        }
        if self.text != expected {
            return Err(format!(
                "{created}: deltas reassemble to {:?}, expected {expected:?}",
                self.text
            ));
        }
        if self.item_texts != [Some(expected)] {
            return Err(format!(
                "{created}: finished items {:?} do not carry the text",
                self.item_texts
            ));
        }
        Ok(n)
    }
}

/// Keeps the first few problems and counts the rest.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) count: usize,
    pub(crate) first: Vec<String>,
}

impl Problems {
    const KEPT: usize = 10;

    pub(crate) fn push(&mut self, problem: String) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(problem);
        }
    }

    pub(crate) fn merge(&mut self, other: Problems) {
        self.count += other.count;
        for p in other.first {
            if self.first.len() < Self::KEPT {
                self.first.push(p);
            }
        }
    }
}

/// Whether a session's response numbers came in the order it asked (strictly rising:
/// the server numbers requests as they arrive and a session's requests are sequential).
pub(crate) fn in_order(numbers: &[u64]) -> bool {
    numbers.windows(2).all(|w| w[0] < w[1])
}

/// Across the run: response numbers that should exist but nobody received, and
/// numbers received more than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exactness {
    pub(crate) lost: usize,
    pub(crate) duplicated: usize,
}

/// Compares the received numbers with `1..=expected`.
pub(crate) fn exactness(mut received: Vec<u64>, expected: usize) -> Exactness {
    received.sort_unstable();
    let before = received.len();
    received.dedup();
    let duplicated = before - received.len();
    let present = received
        .iter()
        .filter(|&&n| n >= 1 && n <= expected as u64)
        .count();
    Exactness {
        lost: expected - present,
        duplicated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnwire_protocol::ResponseItem;

    fn good(n: u64) -> ResponseLog {
        let mut log = ResponseLog::new(2);
        let id = format!("resp-{n}");
        let text = script::expected_text(n, 2);
        let (a, b) = text.split_at(5);
        log.record(Ok(ResponseEvent::Created {
            response_id: id.clone(),
        }));
        for piece in [a, b] {
            log.record(Ok(ResponseEvent::OutputTextDelta {
                delta: piece.to_owned(),
                item_id: "m".into(),
                output_index: 0,
                content_index: 0,
            }));
        }
        log.record(Ok(ResponseEvent::OutputItemDone {
            item: ResponseItem::assistant_text(text),
        }));
        log.record(Ok(ResponseEvent::Completed {
            response_id: id,
            usage: None,
        }));
        log
    }

    #[test]
    fn a_whole_response_passes_with_its_number() {
        let log = good(7);
        assert_eq!(log.events, 5);
        assert_eq!(log.verdict(), Ok(7));
    }

    #[test]
    fn a_lost_or_repeated_delta_fails() {
        let mut repeated = good(7);
        repeated.text.push('x');
        assert!(repeated.verdict().is_err());
        let mut lost = good(7);
        lost.text.truncate(3);
        assert!(lost.verdict().is_err());
        let mut twice = good(7);
        twice.completed.push("resp-7".into());
        assert!(twice.verdict().is_err());
        let mut merged = good(7);
        merged.deltas = 1;
        assert!(
            merged.verdict().is_err(),
            "the right text in too few deltas"
        );
    }

    #[test]
    fn exactness_counts_gaps_and_repeats() {
        assert_eq!(
            exactness(vec![3, 1, 2], 3),
            Exactness {
                lost: 0,
                duplicated: 0
            }
        );
        assert_eq!(
            exactness(vec![1, 1, 3], 3),
            Exactness {
                lost: 1,
                duplicated: 1
            }
        );
        assert!(in_order(&[1, 5, 9]));
        assert!(!in_order(&[1, 9, 5]));
    }
}
