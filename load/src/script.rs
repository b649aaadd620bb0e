//! What the server answers, and what each answer must look like to the client.
//!
//! Response `n` (numbered from 1 in the order the server receives requests, across all
//! sessions) has the id `resp-n` and streams the text [`expected_text`]`(n, deltas)`.
//! With one delta that is the server's default model (`model_text` with `{n}`); with
//! more, every reply is scripted ahead of the run with the text split into exactly that
//! many deltas.

use turnwire_testkit::sim::{FakeServer, Reply, Step};
use turnwire_testkit::wire::{self, ev};

use crate::args::Args;

/// The model's text, `{n}` standing for the response number.
const MODEL_TEXT: &str =
    "Response {n}: the quick brown fox jumps over the lazy dog, one piece at a time.";

/// The text response `n` streams when cut into `deltas` deltas: the model's sentence
/// for `n`, repeated until it has at least one character per delta (once for one
/// delta, which is exactly the default model's text).
pub(crate) fn expected_text(n: u64, deltas: usize) -> String {
    let sentence = MODEL_TEXT.replace("{n}", &n.to_string());
    let chars = sentence.chars().count().max(1);
    sentence.repeat(deltas.div_ceil(chars).max(1))
}

/// The response number of a response id (`resp-n`).
pub(crate) fn response_number(response_id: &str) -> Option<u64> {
    response_id.strip_prefix("resp-")?.parse().ok()
}

/// Events each response carries: created, the deltas, the finished item, completed.
pub(crate) fn events_per_response(deltas: usize) -> usize {
    deltas.max(1) + 3
}

/// The server's script for a run with `args`.
pub(crate) fn server(args: &Args) -> FakeServer {
    let mut server = FakeServer::new();
    server.model_text = Some(MODEL_TEXT.to_owned());
    if args.deltas > 1 {
        for n in 1..=args.total_requests() as u64 {
            let reply = Reply::with_steps(steps(n, args.deltas));
            if args.websocket() {
                server.push_ws(reply);
            } else {
                server.push_http(reply);
            }
        }
    }
    server
}

/// Response `n` as `deltas` text deltas between the usual events.
fn steps(n: u64, deltas: usize) -> Vec<Step> {
    let id = format!("resp-{n}");
    let item_id = format!("msg-{n}");
    let text = expected_text(n, deltas);
    let mut steps = vec![Step::Event(ev::created(&id))];
    for piece in split(&text, deltas) {
        steps.push(Step::Event(ev::text_delta(&item_id, piece)));
    }
    steps.push(Step::Event(ev::item_done(wire::assistant(&item_id, &text))));
    steps.push(Step::Event(ev::completed(&id)));
    steps
}

/// `text` cut into `parts` non-empty pieces of about equal length (fewer when the
/// text has fewer characters, which [`expected_text`] rules out), on character
/// boundaries.
fn split(text: &str, parts: usize) -> Vec<&str> {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let parts = parts.clamp(1, chars.len().max(1));
    (0..parts)
        .map(|p| {
            let start = chars.get(p * chars.len() / parts).copied().unwrap_or(0);
            let end = chars
                .get((p + 1) * chars.len() / parts)
                .copied()
                .unwrap_or(text.len());
            &text[start..end]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_pieces_reassemble_the_text() {
        let text = expected_text(42, 1);
        for parts in [1, 2, 8, 500] {
            let pieces = split(&text, parts);
            assert_eq!(pieces.concat(), text);
            assert!(pieces.iter().all(|p| !p.is_empty()));
            assert_eq!(pieces.len(), parts.min(text.chars().count()));
        }
    }

    #[test]
    fn response_numbers_round_trip() {
        assert_eq!(response_number("resp-17"), Some(17));
        assert_eq!(response_number("msg-17"), None);
        assert!(expected_text(17, 1).contains("17"));
    }

    /// `--deltas 2000` once got responses of one delta per character of the ~80
    /// character sentence: the run then counted 83 events per response where it
    /// expected 2,003 and failed, though nothing was lost.
    #[test]
    fn a_scripted_response_has_every_delta_asked_for() {
        for deltas in [2, 8, 80, 2000] {
            let steps = steps(9, deltas);
            assert_eq!(steps.len(), events_per_response(deltas), "{deltas} deltas");
            let text: String = steps
                .iter()
                .filter_map(|step| match step {
                    Step::Event(event) if event["type"] == "response.output_text.delta" => {
                        event["delta"].as_str().map(str::to_owned)
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(text, expected_text(9, deltas));
        }
        assert_eq!(expected_text(9, 1), MODEL_TEXT.replace("{n}", "9"));
    }
}
