//! The free resend after a stale keep-alive connection (PROTOCOL.md section 3.3): a
//! request written on a pooled connection that fails before any byte of the response
//! arrived was most likely refused by a server that closed the connection while it sat
//! idle, so it is sent again at once on a new connection, once per request, without
//! backoff, budget or `Reconnecting`.

use super::request::Phase;
use super::retry::FailureLayer;
use super::{RequestId, Session};
use crate::error;
use crate::time::Instant;

/// What a stale pooled connection costs its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StaleAction {
    /// Send the request again at once on a new connection; no budget is spent.
    Resend,
    /// An ordinary failure of the attempt, charged to this retry layer.
    Fail(FailureLayer),
}

/// Decides what a stale pooled connection means for its request. `awaiting_head`: the
/// attempt had not received its response head (the driver's report then agrees with
/// what the session saw); `resent`: the request already used its free resend.
pub(crate) fn on_stale(awaiting_head: bool, resent: bool) -> StaleAction {
    match (awaiting_head, resent) {
        (true, false) => StaleAction::Resend,
        (true, true) => StaleAction::Fail(FailureLayer::Request),
        // A head already arrived: the response had started, so this is a failure of
        // the stream like any other.
        (false, _) => StaleAction::Fail(FailureLayer::Stream),
    }
}

impl Session {
    /// Applies [`on_stale`] to request `id` whose pooled connection failed with
    /// `message`. The connection is already forgotten.
    pub(super) fn stale_connection(
        &mut self,
        now: Instant,
        id: RequestId,
        awaiting_head: bool,
        message: String,
    ) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        match on_stale(awaiting_head, req.stale_resent) {
            StaleAction::Resend => {
                req.stale_resent = true;
                req.phase = Phase::Backoff { until: now };
                let outcome = format!("stale pooled connection, sent again: {message}");
                self.attempt_ended(now, id, &outcome);
                self.start_attempt(now, id);
            }
            StaleAction::Fail(layer) => {
                let classified = error::classify_transport(message);
                self.fail_attempt(now, id, classified, layer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_stale_failure_before_the_head_is_resent_for_free() {
        let table = [
            // awaiting head, already resent, action
            (true, false, StaleAction::Resend),
            (true, true, StaleAction::Fail(FailureLayer::Request)),
            (false, false, StaleAction::Fail(FailureLayer::Stream)),
            (false, true, StaleAction::Fail(FailureLayer::Stream)),
        ];
        for (awaiting_head, resent, action) in table {
            assert_eq!(
                on_stale(awaiting_head, resent),
                action,
                "awaiting_head {awaiting_head}, resent {resent}"
            );
        }
    }
}
