//! How the simulator's fake server ends idle keep-alive connections, so the simulator
//! models a server that keeps HTTP connections open between requests the way real
//! servers do (the loopback server has its own rules, in its `ServerOptions`).
//!
//! A script can close the connection after a chosen `POST`, refuse the next requests
//! that arrive on a reused connection by closing it unanswered (what a server does when
//! its idle timer fires as the request arrives), or let a seeded generator decide the
//! fate of every idle connection.

use core::time::Duration;
use std::collections::BTreeSet;

use crate::rng::{Draws, SplitMix64};

/// What the server does with a connection once a response on it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleFate {
    /// Keep it open for the next request.
    Keep,
    /// Close it at once.
    Close,
    /// Close it if no request arrived within this time.
    CloseAfter(Duration),
    /// Keep it open, but close it unanswered when the next request arrives.
    DropNext,
}

/// The keep-alive part of a [`FakeServer`](super::FakeServer) script. See the module
/// documentation.
#[derive(Clone, Debug, Default)]
pub struct KeepAliveScript {
    close_after: BTreeSet<usize>,
    drop_reused: u32,
    chaos: Option<SplitMix64>,
}

impl KeepAliveScript {
    /// After the response to `POST` number `index` (from 0, in arrival order), close
    /// the connection as soon as the response ended.
    pub fn close_after_post(&mut self, index: usize) {
        self.close_after.insert(index);
    }

    /// Close the next `n` requests that arrive on a reused connection unanswered,
    /// unread and unrecorded.
    pub fn drop_reused_requests(&mut self, n: u32) {
        self.drop_reused = self.drop_reused.saturating_add(n);
    }

    /// From now on, a generator seeded with `seed` picks every idle connection's fate:
    /// kept, closed at once, closed after 0–20 ms, or closed when the next request
    /// arrives, in equal shares.
    pub fn close_idle_randomly(&mut self, seed: u64) {
        self.chaos = Some(SplitMix64::new(seed));
    }

    /// The fate of a connection whose response to `POST` number `index` just ended.
    pub fn after_response(&mut self, index: usize) -> IdleFate {
        if self.close_after.remove(&index) {
            return IdleFate::Close;
        }
        let Some(rng) = self.chaos.as_mut() else {
            return IdleFate::Keep;
        };
        match rng.below(4) {
            0 => IdleFate::Keep,
            1 => IdleFate::Close,
            2 => IdleFate::CloseAfter(rng.millis(0, 20)),
            _ => IdleFate::DropNext,
        }
    }

    /// A request arrived on a reused connection: true when it must be closed
    /// unanswered (one of [`KeepAliveScript::drop_reused_requests`]).
    pub fn drop_reused_arrival(&mut self) -> bool {
        if self.drop_reused == 0 {
            return false;
        }
        self.drop_reused -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_closes_come_first_and_once() {
        let mut script = KeepAliveScript::default();
        script.close_after_post(1);
        script.drop_reused_requests(1);
        assert_eq!(script.after_response(0), IdleFate::Keep);
        assert_eq!(script.after_response(1), IdleFate::Close);
        assert_eq!(script.after_response(1), IdleFate::Keep);
        assert!(script.drop_reused_arrival());
        assert!(!script.drop_reused_arrival());
    }

    #[test]
    fn the_random_fates_repeat_for_a_seed_and_cover_every_kind() {
        let draw = |seed| {
            let mut script = KeepAliveScript::default();
            script.close_idle_randomly(seed);
            (0..64)
                .map(|i| script.after_response(i))
                .collect::<Vec<_>>()
        };
        let fates = draw(5);
        assert_eq!(fates, draw(5));
        assert!(fates.contains(&IdleFate::Keep));
        assert!(fates.contains(&IdleFate::Close));
        assert!(fates.contains(&IdleFate::DropNext));
        assert!(fates.iter().any(|f| matches!(f, IdleFate::CloseAfter(_))));
    }
}
