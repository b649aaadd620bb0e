//! Turn scope (PROTOCOL.md section 2): the turn's history, its WebSocket, its
//! turn-state cell, and the incremental baseline of section 6.
//!
//! A baseline names the history it indexes by a *lineage*: a number that stays the
//! same while the history only grows (appends, a replacement that keeps the prefix,
//! a turn that continues the previous turn's history) and changes when it is
//! rewritten. A baseline handed from one turn to the next through the session's slot
//! therefore applies to a turn of the same lineage without comparing a single item.

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
    /// The history these `len` items are a prefix of.
    pub(crate) lineage: u64,
    /// The baseline is a prewarm's: a request whose input equals it exactly may still
    /// chain (with no new items), PROTOCOL.md 8.2.
    pub(crate) from_prewarm: bool,
}

/// Decides whether a response chain adopted with a socket applies to a turn's history
/// (PROTOCOL.md 6, rule 1 across turns). Same lineage: yes at once, when the history
/// still reaches the chain's length. Another lineage: only when the items the chain
/// indexes are still known (`known`) and the turn's history starts with them, which is
/// checked item by item. Returns the usable baseline, rebased onto the turn's lineage,
/// and how many items were compared.
pub(crate) fn resolve_chain(
    chain: Baseline,
    turn_lineage: u64,
    history: &[ResponseItem],
    known: Option<&[ResponseItem]>,
) -> (Option<Baseline>, usize) {
    let len = chain.len;
    if history.len() < len {
        return (None, 0);
    }
    if chain.lineage == turn_lineage {
        return (Some(chain), 0);
    }
    match known {
        Some(items) if items.len() >= len => {
            let same = history[..len] == items[..len];
            let rebased = Baseline {
                lineage: turn_lineage,
                ..chain
            };
            (same.then_some(rebased), len)
        }
        _ => (None, 0),
    }
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
    let longer = input_len > base.len || (base.from_prewarm && input_len == base.len);
    let usable = base.conn == conn
        && base.completed
        && base.len > 0
        && longer
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
        /// Adopted from the session's slot and no message sent on it since: the next
        /// request's attempt is on a reused socket (the stale-socket rule of 8.1).
        from_slot: bool,
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
    /// The lineage of `history` (see the module documentation).
    pub(crate) lineage: u64,
    /// Whether the turn started any request (only then does its history become the
    /// conversation a later turn may continue).
    pub(crate) requested: bool,
    /// Items compared one by one since the last attempt started, for telemetry.
    pub(crate) compared: usize,
}

impl Turn {
    /// A turn whose history starts as `history`, of `lineage`.
    pub(crate) fn new(metadata: Option<String>, history: Vec<ResponseItem>, lineage: u64) -> Self {
        Turn {
            metadata,
            turn_state: None,
            socket: None,
            history,
            baseline: None,
            active: None,
            lineage,
            requested: false,
            compared: 0,
        }
    }

    /// Sets the history for a new request and returns the input length. For
    /// [`RequestInput::Append`] the history only grows, so the baseline stays a prefix;
    /// for [`RequestInput::Replace`] the baseline (or, without one, the whole history)
    /// is kept only if it is still a prefix of the new input (compared item by item);
    /// otherwise the baseline is dropped and the history takes the new lineage
    /// `rewritten`.
    pub(crate) fn set_input(&mut self, input: RequestInput, rewritten: u64) -> usize {
        self.requested = true;
        match input {
            RequestInput::Append(items) => self.history.extend(items),
            RequestInput::Replace(items) => {
                // The part that must stay: what the turn's socket holds, or, before the
                // turn has a baseline, the whole history (a chain it may adopt later
                // indexes a prefix of it).
                let kept = self.baseline.as_ref().map_or(self.history.len(), |b| b.len);
                let keeps_prefix = kept <= items.len()
                    && kept <= self.history.len()
                    && items[..kept] == self.history[..kept];
                self.compared += kept.min(items.len());
                if !keeps_prefix {
                    self.baseline = None;
                    self.lineage = rewritten;
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
            lineage: 7,
            from_prewarm: false,
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
    fn a_prewarm_baseline_may_be_chained_with_no_new_items() {
        let f = RequestFields::new("m");
        let prewarm = Baseline {
            from_prewarm: true,
            ..base(2, Some("resp-pw"))
        };
        let rows = [
            ("prewarm, input equals the prefix", &prewarm, 2, true),
            ("prewarm, input extends the prefix", &prewarm, 3, true),
            ("prewarm, input shorter", &prewarm, 1, false),
        ];
        for (name, b, len, chains) in rows {
            let got = plan(Some(b), WsProtocol::V2, ConnId(1), len, &f);
            assert_eq!(got != Plan::Full, chains, "{name}: {got:?}");
        }
        let ordinary = base(2, Some("resp-1"));
        assert_eq!(
            plan(Some(&ordinary), WsProtocol::V2, ConnId(1), 2, &f),
            Plan::Full,
            "an ordinary baseline needs a strictly longer input"
        );
    }

    #[test]
    fn a_handed_over_chain_applies_by_lineage_or_by_comparing_the_known_items() {
        let a = item("a");
        let b = item("b");
        let history = vec![a.clone(), b.clone(), item("c")];
        let known = vec![a.clone(), b.clone()];
        let other = vec![a.clone(), item("x")];
        let chain = base(2, Some("resp-1"));
        // (name, turn lineage, history, known items, usable, items compared)
        type Row<'a> = (
            &'a str,
            u64,
            &'a [ResponseItem],
            Option<&'a [ResponseItem]>,
            bool,
            usize,
        );
        let rows: [Row<'_>; 6] = [
            ("same lineage: no comparison", 7, &history, None, true, 0),
            (
                "same lineage, history too short",
                7,
                &history[..1],
                None,
                false,
                0,
            ),
            (
                "other lineage, known prefix matches",
                9,
                &history,
                Some(&known),
                true,
                2,
            ),
            (
                "other lineage, known prefix differs",
                9,
                &history,
                Some(&other),
                false,
                2,
            ),
            ("other lineage, items unknown", 9, &history, None, false, 0),
            (
                "other lineage, known items too short",
                9,
                &history,
                Some(&known[..1]),
                false,
                0,
            ),
        ];
        for (name, lineage, hist, known, usable, compared) in rows {
            let (got, n) = resolve_chain(chain.clone(), lineage, hist, known);
            assert_eq!(got.is_some(), usable, "{name}");
            assert_eq!(n, compared, "{name}: items compared");
            if let Some(got) = got {
                assert_eq!(got.lineage, lineage, "{name}: rebased onto the turn");
                assert_eq!(got.len, 2, "{name}");
            }
        }
    }

    #[test]
    fn replace_that_breaks_the_prefix_starts_a_new_lineage() {
        let mut turn = Turn::new(None, vec![item("a")], 7);
        turn.baseline = Some(base(1, Some("r")));
        turn.set_input(RequestInput::Replace(vec![item("a"), item("b")]), 8);
        assert_eq!(turn.lineage, 7, "the prefix is kept");
        turn.set_input(RequestInput::Replace(vec![item("z")]), 9);
        assert_eq!(turn.lineage, 9, "rewritten");
        turn.set_input(RequestInput::Append(vec![item("y")]), 10);
        assert_eq!(turn.lineage, 9, "appending never changes the lineage");
    }

    #[test]
    fn replace_keeps_the_baseline_only_when_it_is_still_a_prefix() {
        let mut turn = Turn::new(None, Vec::new(), 7);
        turn.set_input(RequestInput::Replace(vec![item("a")]), 8);
        turn.baseline = Some(base(1, Some("r")));
        turn.set_input(RequestInput::Replace(vec![item("a"), item("b")]), 8);
        assert!(turn.baseline.is_some());
        turn.set_input(
            RequestInput::Replace(vec![item("c"), item("b"), item("d")]),
            8,
        );
        assert!(turn.baseline.is_none());
    }

    #[test]
    fn completion_extends_history_and_moves_the_v2_baseline_past_the_outputs() {
        let mut turn = Turn::new(None, Vec::new(), 7);
        let n = turn.set_input(RequestInput::Append(vec![item("a")]), 8);
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

        let mut v1 = Turn::new(None, Vec::new(), 7);
        let n = v1.set_input(RequestInput::Append(vec![item("a")]), 8);
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
