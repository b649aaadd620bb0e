//! Turn scope (PROTOCOL.md section 2): the turn's history, its WebSocket, its
//! turn-state cell, and the incremental baseline of section 6.

use super::ids::{ConnId, RequestId};
use super::input::RequestInput;
use super::output::MessageKind;
use crate::config::WsProtocol;
use crate::event::ResponseEvent;
use crate::headers::TurnStateToken;
use crate::item::ResponseItem;
use crate::request::RequestFields;

/// What the server holds on one connection after a request: the first `len` items of
/// the turn's history, sent with `fields`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Baseline {
    /// The connection that carried the previous request.
    pub(crate) conn: ConnId,
    /// How many history items the server holds (v1: the previous input; v2: the
    /// previous input and its response's output items).
    pub(crate) len: usize,
    /// The previous request's non-input fields.
    pub(crate) fields: RequestFields,
    /// The previous response's id, once it completed.
    pub(crate) response_id: Option<String>,
    /// Whether the previous response completed.
    pub(crate) completed: bool,
}

/// The decision for one WebSocket request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan<'a> {
    /// Send everything with a full `response.create`.
    Full,
    /// v1: `response.append` with the history from `from`.
    Append {
        /// First new item.
        from: usize,
    },
    /// v2: `response.create` chained on `previous` with the history from `from`.
    Chained {
        /// First new item.
        from: usize,
        /// The previous response id.
        previous: &'a str,
    },
}

impl Plan<'_> {
    /// The message kind this plan sends.
    pub(crate) fn kind(&self) -> MessageKind {
        match self {
            Plan::Full => MessageKind::Create,
            Plan::Append { .. } => MessageKind::Append,
            Plan::Chained { .. } => MessageKind::Chained,
        }
    }
}

/// Decides between a full create and an incremental message (PROTOCOL.md section 6).
/// `input_len` is the length of the request's input, which is the turn's history
/// `[..input_len]`; the prefix condition is established when the input is set (see
/// [`Turn::set_input`]), so this costs O(1) plus the comparison of non-input fields.
pub(crate) fn plan<'a>(
    baseline: Option<&'a Baseline>,
    protocol: WsProtocol,
    conn: ConnId,
    input_len: usize,
    fields: &RequestFields,
) -> Plan<'a> {
    let Some(base) = baseline else {
        return Plan::Full;
    };
    let usable = base.conn == conn
        && base.completed
        && base.len > 0
        && input_len > base.len
        && base.fields.chains_with(fields);
    if !usable {
        return Plan::Full;
    }
    match protocol {
        WsProtocol::V1 => Plan::Append { from: base.len },
        _ => match base.response_id.as_deref() {
            Some(previous) if !previous.is_empty() => Plan::Chained {
                from: base.len,
                previous,
            },
            _ => Plan::Full,
        },
    }
}

/// State of the turn's own WebSocket.
#[derive(Debug)]
pub(crate) enum TurnSocket {
    /// Handshake in flight.
    Handshaking {
        /// The connection.
        conn: ConnId,
    },
    /// Open and idle or carrying the turn's request.
    Open {
        /// The connection.
        conn: ConnId,
        /// Header-derived events to emit at the start of every response on it.
        header_events: Vec<ResponseEvent>,
    },
}

impl TurnSocket {
    /// The connection.
    pub(crate) fn conn(&self) -> ConnId {
        match self {
            TurnSocket::Handshaking { conn } | TurnSocket::Open { conn, .. } => *conn,
        }
    }
}

/// One turn.
#[derive(Debug)]
pub(crate) struct Turn {
    pub(crate) metadata: Option<String>,
    /// Write-once token cell: first value wins.
    pub(crate) turn_state: Option<TurnStateToken>,
    pub(crate) socket: Option<TurnSocket>,
    /// Every earlier request's input and completed responses' output items.
    pub(crate) history: Vec<ResponseItem>,
    pub(crate) baseline: Option<Baseline>,
    pub(crate) active: Option<RequestId>,
}

impl Turn {
    pub(crate) fn new(metadata: Option<String>) -> Self {
        Turn {
            metadata,
            turn_state: None,
            socket: None,
            history: Vec::new(),
            baseline: None,
            active: None,
        }
    }

    /// Sets the history for a new request and returns the input length. For
    /// [`RequestInput::Append`] the history only grows, so the baseline stays a prefix;
    /// for [`RequestInput::Replace`] the baseline is kept only if it is still a prefix
    /// of the new input.
    pub(crate) fn set_input(&mut self, input: RequestInput) -> usize {
        match input {
            RequestInput::Append(items) => self.history.extend(items),
            RequestInput::Replace(items) => {
                let keeps_prefix = self.baseline.as_ref().is_some_and(|b| {
                    b.len <= items.len()
                        && b.len <= self.history.len()
                        && items[..b.len] == self.history[..b.len]
                });
                if !keeps_prefix {
                    self.baseline = None;
                }
                self.history = items;
            }
        }
        self.history.len()
    }

    /// Records the first valid turn-state token; later ones are ignored. Returns true
    /// when this call captured it.
    pub(crate) fn capture_turn_state(&mut self, token: TurnStateToken) -> bool {
        if self.turn_state.is_some() {
            return false;
        }
        self.turn_state = Some(token);
        true
    }

    /// The connection of the turn's socket, if any.
    pub(crate) fn socket_conn(&self) -> Option<ConnId> {
        self.socket.as_ref().map(TurnSocket::conn)
    }

    /// Forgets the socket and the baseline that belonged to it; returns the connection
    /// to close.
    pub(crate) fn drop_socket(&mut self) -> Option<ConnId> {
        self.baseline = None;
        self.socket.take().map(|s| s.conn())
    }

    /// A response of the request with input `input_len` completed with `outputs`:
    /// append them to the history and move the baseline forward.
    pub(crate) fn complete_response(
        &mut self,
        protocol: WsProtocol,
        input_len: usize,
        response_id: &str,
        outputs: Vec<ResponseItem>,
    ) {
        // The history may only be extended when it still ends where the request's
        // input ended; it always does, since requests in a turn are sequential.
        self.history.truncate(input_len);
        self.history.extend(outputs);
        if let Some(base) = self.baseline.as_mut() {
            base.completed = true;
            base.response_id = Some(response_id.to_owned());
            if protocol != WsProtocol::V1 {
                base.len = self.history.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(text: &str) -> ResponseItem {
        serde_json::from_value(serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}))
            .unwrap()
    }

    fn base(len: usize, id: Option<&str>) -> Baseline {
        Baseline {
            conn: ConnId(1),
            len,
            fields: RequestFields::new("m"),
            response_id: id.map(str::to_owned),
            completed: true,
        }
    }

    #[test]
    fn v1_appends_and_v2_chains_only_when_every_condition_holds() {
        let f = RequestFields::new("m");
        let b = base(2, Some("resp-1"));
        assert_eq!(
            plan(Some(&b), WsProtocol::V1, ConnId(1), 3, &f),
            Plan::Append { from: 2 }
        );
        assert_eq!(
            plan(Some(&b), WsProtocol::V2, ConnId(1), 3, &f),
            Plan::Chained {
                from: 2,
                previous: "resp-1"
            }
        );
        // another connection
        assert_eq!(plan(Some(&b), WsProtocol::V2, ConnId(2), 3, &f), Plan::Full);
        // not strictly longer
        assert_eq!(plan(Some(&b), WsProtocol::V2, ConnId(1), 2, &f), Plan::Full);
        // a non-input field changed
        let mut g = f.clone();
        g.instructions = Some("other".into());
        assert_eq!(plan(Some(&b), WsProtocol::V2, ConnId(1), 3, &g), Plan::Full);
        // previous response not completed
        let mut c = b.clone();
        c.completed = false;
        assert_eq!(plan(Some(&c), WsProtocol::V1, ConnId(1), 3, &f), Plan::Full);
        // v2 needs a non-empty response id
        let empty = base(2, Some(""));
        assert_eq!(
            plan(Some(&empty), WsProtocol::V2, ConnId(1), 3, &f),
            Plan::Full
        );
        assert_eq!(
            plan(Some(&empty), WsProtocol::V1, ConnId(1), 3, &f),
            Plan::Append { from: 2 }
        );
        // empty baseline
        assert_eq!(
            plan(Some(&base(0, Some("r"))), WsProtocol::V1, ConnId(1), 3, &f),
            Plan::Full
        );
        assert_eq!(plan(None, WsProtocol::V1, ConnId(1), 3, &f), Plan::Full);
    }

    #[test]
    fn replace_keeps_the_baseline_only_when_it_is_still_a_prefix() {
        let mut turn = Turn::new(None);
        turn.set_input(RequestInput::Replace(vec![item("a")]));
        turn.baseline = Some(base(1, Some("r")));
        turn.set_input(RequestInput::Replace(vec![item("a"), item("b")]));
        assert!(turn.baseline.is_some());
        turn.set_input(RequestInput::Replace(vec![item("c"), item("b"), item("d")]));
        assert!(turn.baseline.is_none());
    }

    #[test]
    fn completion_extends_history_and_moves_the_v2_baseline_past_the_outputs() {
        let mut turn = Turn::new(None);
        let n = turn.set_input(RequestInput::Append(vec![item("a")]));
        turn.baseline = Some(Baseline {
            completed: false,
            response_id: None,
            ..base(n, None)
        });
        turn.complete_response(WsProtocol::V2, n, "resp-1", vec![item("m1")]);
        assert_eq!(turn.history.len(), 2);
        let b = turn.baseline.as_ref().unwrap();
        assert_eq!(
            (b.len, b.completed, b.response_id.as_deref()),
            (2, true, Some("resp-1"))
        );

        let mut v1 = Turn::new(None);
        let n = v1.set_input(RequestInput::Append(vec![item("a")]));
        v1.baseline = Some(Baseline {
            completed: false,
            ..base(n, None)
        });
        v1.complete_response(WsProtocol::V1, n, "resp-1", vec![item("m1")]);
        assert_eq!(
            v1.baseline.as_ref().unwrap().len,
            1,
            "v1 baseline is the previous input only"
        );
    }
}
