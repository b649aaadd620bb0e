//! A stand-in for the auth source: answers the session's `RefreshAuth` with new
//! credentials (or a failure) after some latency, per script.

use std::collections::VecDeque;

use core::time::Duration;
use turnwire_protocol::session::Input;
use turnwire_protocol::time::Instant;
use turnwire_protocol::{Credentials, Secret};

/// One scripted answer to a refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthAnswer {
    /// New credentials with this token, after `latency`.
    Refresh {
        /// The new bearer token.
        token: String,
        /// Time the refresh takes.
        latency: Duration,
    },
    /// The refresh fails with this message, after `latency`.
    Fail {
        /// Why.
        message: String,
        /// Time the attempt takes.
        latency: Duration,
    },
}

/// The auth source stand-in. Unscripted refreshes succeed after 50 ms with tokens
/// `token-1`, `token-2`, ….
#[derive(Clone, Debug, Default)]
pub struct AuthSource {
    script: VecDeque<AuthAnswer>,
    refreshes: u64,
    requested_at: Vec<Instant>,
}

/// The token sessions start with in the simulator.
pub const INITIAL_TOKEN: &str = "token-0";

impl AuthSource {
    /// The initial credentials.
    pub fn initial_credentials() -> Credentials {
        Credentials::bearer(Secret::new(INITIAL_TOKEN))
    }

    /// Queues the answer to the next refresh.
    pub fn push(&mut self, answer: AuthAnswer) {
        self.script.push_back(answer);
    }

    /// When the session asked for refreshes.
    pub fn requests(&self) -> &[Instant] {
        &self.requested_at
    }

    /// The session asked for a refresh at `now`: the answer and when it arrives.
    pub fn on_refresh(&mut self, now: Instant) -> (Duration, Input) {
        self.requested_at.push(now);
        self.refreshes += 1;
        let answer = self.script.pop_front().unwrap_or(AuthAnswer::Refresh {
            token: format!("token-{}", self.refreshes),
            latency: Duration::from_millis(50),
        });
        match answer {
            AuthAnswer::Refresh { token, latency } => (
                latency,
                Input::AuthRefreshed {
                    credentials: Credentials::bearer(Secret::new(token)),
                },
            ),
            AuthAnswer::Fail { message, latency } => {
                (latency, Input::AuthRefreshFailed { message })
            }
        }
    }
}
