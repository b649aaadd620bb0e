//! The free resend after a stale keep-alive connection (PROTOCOL.md section 3.3): a
//! request written on a pooled connection that fails before any byte of the response
//! arrived was most likely refused by a server that closed the connection while it sat
//! idle, so it is sent again at once on a new connection, once per request, without
//! backoff, budget or `Reconnecting`. The rule itself is [`super::retry::decide`]'s;
//! this only tells it what happened.

use super::retry::{Cause, Layer, Reused};
use super::{RequestId, Session};
use crate::error;
use crate::time::Instant;

impl Session {
    /// Request `id`'s pooled connection failed with `message` (the driver's report of
    /// a connection it reused). `awaiting_head`: no byte of the response head had
    /// arrived, so the attempt failed on a reused connection that got nothing of its
    /// response; otherwise the response had started and this is an ordinary failure of
    /// the stream. The connection is already forgotten.
    pub(super) fn stale_connection(
        &mut self,
        now: Instant,
        id: RequestId,
        awaiting_head: bool,
        message: String,
    ) {
        let classified = error::classify_transport(message);
        let (layer, reused) = if awaiting_head {
            (Layer::Establish, Some(Reused::PooledHttp))
        } else {
            (Layer::Stream, None)
        };
        self.fail_reused_attempt(now, id, classified, Cause::Lost, layer, reused);
    }
}
