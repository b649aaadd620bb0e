//! Seeded fault schedules: what the network does to deliveries (latency, chunk
//! splitting) and what the server does wrong (refusals, stalls, resets, early closes,
//! error frames). Every choice comes from a [`SplitMix64`] seeded per run, so a seed
//! reproduces a run exactly.

use bytes::Bytes;
use core::time::Duration;

use super::server::{End, Handshake, LineEnding, Reply, Step};
use crate::rng::{Draws, SplitMix64};
use crate::wire::ev;

/// How often things go wrong. Percentages are per attempt (per `POST`, handshake or
/// WebSocket message) or per body chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Largest latency added to one delivery, in milliseconds.
    pub max_latency_ms: u64,
    /// Chance that a `POST` gets a faulty reply.
    pub http_fault_percent: u32,
    /// Chance that a handshake fails.
    pub handshake_fault_percent: u32,
    /// Chance that a WebSocket message gets a faulty reply.
    pub ws_fault_percent: u32,
    /// Chance that an SSE body chunk is split into random small chunks.
    pub split_percent: u32,
    /// Chance that an SSE body chunk is split into 1-byte chunks.
    pub byte_split_percent: u32,
    /// Chance that an SSE body chunk is split right after every CR and inside every
    /// multi-byte UTF-8 character.
    pub tricky_split_percent: u32,
    /// Chance that a good reply carries a new turn-state token.
    pub turn_state_percent: u32,
    /// Chance that a new token is invalid (over the 4 KiB bound): it must never be sent.
    pub bad_token_percent: u32,
    /// Chance that an accepted WebSocket is later closed by the server on its own
    /// (often while it sits idle in the session's slot between turns).
    pub idle_close_percent: u32,
    /// Chance that an accepted WebSocket answers no pings (a silently dead peer).
    pub deaf_percent: u32,
    /// Chance that the server has lost the chain a `previous_response_id` names.
    pub lost_chain_percent: u32,
    /// Chance that a prewarm (`generate: false`) fails.
    pub prewarm_fault_percent: u32,
    /// Whether non-retryable errors (400, 404 on `POST`, usage limit, context window)
    /// are among the faults.
    pub fatal_errors: bool,
    /// Whether handshakes may be refused with 426 (activating the fallback).
    pub allow_426: bool,
    /// The session's idle timeout, so slow-but-alive streams pace themselves under it.
    pub idle_timeout: Duration,
    /// The line ending of SSE bodies.
    pub line_ending: LineEnding,
}

impl FaultConfig {
    /// No faults at all, only zero latency: the baseline for scripted tests.
    pub fn none(seed: u64) -> Self {
        FaultConfig {
            seed,
            max_latency_ms: 0,
            http_fault_percent: 0,
            handshake_fault_percent: 0,
            ws_fault_percent: 0,
            split_percent: 0,
            byte_split_percent: 0,
            tricky_split_percent: 0,
            turn_state_percent: 0,
            bad_token_percent: 0,
            idle_close_percent: 0,
            deaf_percent: 0,
            lost_chain_percent: 0,
            prewarm_fault_percent: 0,
            fatal_errors: false,
            allow_426: false,
            idle_timeout: Duration::from_secs(300),
            line_ending: LineEnding::Lf,
        }
    }

    /// A varied configuration drawn from `seed`: some runs calm, some hostile.
    pub fn random(seed: u64, idle_timeout: Duration) -> Self {
        let mut rng = SplitMix64::fork(seed, 0xFA17);
        let hostile = rng.chance(30);
        let fault = |rng: &mut SplitMix64| {
            if hostile {
                rng.range(20, 60) as u32
            } else {
                rng.range(0, 20) as u32
            }
        };
        FaultConfig {
            seed,
            max_latency_ms: *rng.pick(&[0, 5, 50, 400]),
            http_fault_percent: fault(&mut rng),
            handshake_fault_percent: fault(&mut rng),
            ws_fault_percent: fault(&mut rng),
            split_percent: rng.range(0, 60) as u32,
            byte_split_percent: if rng.chance(10) { 3 } else { 0 },
            tricky_split_percent: rng.range(0, 30) as u32,
            turn_state_percent: rng.range(0, 50) as u32,
            bad_token_percent: if rng.chance(20) { 30 } else { 0 },
            idle_close_percent: if rng.chance(30) {
                rng.range(5, 40) as u32
            } else {
                0
            },
            fatal_errors: rng.chance(40),
            allow_426: rng.chance(15),
            idle_timeout,
            deaf_percent: if rng.chance(20) {
                rng.range(10, 60) as u32
            } else {
                0
            },
            lost_chain_percent: if rng.chance(30) {
                rng.range(10, 50) as u32
            } else {
                0
            },
            prewarm_fault_percent: if rng.chance(30) {
                rng.range(20, 80) as u32
            } else {
                0
            },
            line_ending: *rng.pick(&[LineEnding::Lf, LineEnding::CrLf, LineEnding::Cr]),
        }
    }

    /// The two halves of the schedule: the network's and the server's.
    pub fn split(&self) -> (NetFaults, ServerFaults) {
        (
            NetFaults {
                rng: SplitMix64::fork(self.seed, 1),
                config: self.clone(),
            },
            ServerFaults {
                rng: SplitMix64::fork(self.seed, 2),
                config: self.clone(),
                tokens: 0,
            },
        )
    }
}

/// What the network does to each delivery.
#[derive(Clone, Debug)]
pub struct NetFaults {
    rng: SplitMix64,
    config: FaultConfig,
}

impl NetFaults {
    /// Latency of one delivery.
    pub fn latency(&mut self) -> Duration {
        if self.config.max_latency_ms == 0 {
            return Duration::ZERO;
        }
        // Mostly small, sometimes the maximum.
        if self.rng.chance(10) {
            self.rng.millis(0, self.config.max_latency_ms)
        } else {
            self.rng.millis(0, self.config.max_latency_ms / 10)
        }
    }

    /// Splits one SSE body chunk as the network might deliver it.
    pub fn split(&mut self, data: Bytes) -> Vec<Bytes> {
        let c = &self.config;
        let (byte, tricky, random) = (
            c.byte_split_percent,
            c.tricky_split_percent,
            c.split_percent,
        );
        let roll = self.rng.below(100) as u32;
        if data.len() <= 1 {
            vec![data]
        } else if roll < byte {
            (0..data.len()).map(|i| data.slice(i..i + 1)).collect()
        } else if roll < byte + tricky {
            tricky_split(data)
        } else if roll < byte + tricky + random {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < data.len() {
                let len = self.rng.range(1, 24) as usize;
                let end = (at + len).min(data.len());
                chunks.push(data.slice(at..end));
                at = end;
            }
            chunks
        } else {
            vec![data]
        }
    }
}

/// Splits after every `\r` and in the middle of every multi-byte UTF-8 character.
fn tricky_split(data: Bytes) -> Vec<Bytes> {
    let mut cuts = Vec::new();
    for (i, &b) in data.iter().enumerate() {
        let next_is_continuation = data.get(i + 1).is_some_and(|n| n & 0xC0 == 0x80);
        if b == b'\r' || next_is_continuation {
            cuts.push(i + 1);
        }
    }
    let mut chunks = Vec::new();
    let mut from = 0;
    for cut in cuts {
        if cut > from && cut < data.len() {
            chunks.push(data.slice(from..cut));
            from = cut;
        }
    }
    chunks.push(data.slice(from..));
    chunks
}

/// What the server does wrong, per attempt.
#[derive(Clone, Debug)]
pub struct ServerFaults {
    rng: SplitMix64,
    config: FaultConfig,
    tokens: u64,
}

impl ServerFaults {
    /// The line ending the server uses for SSE.
    pub fn line_ending(&self) -> LineEnding {
        self.config.line_ending
    }

    fn token(&mut self) -> String {
        self.tokens += 1;
        let token = format!("ts-{:x}-{}", self.config.seed & 0xFFFF, self.tokens);
        if self.rng.chance(self.config.bad_token_percent) {
            // Over the 4 KiB bound: the session must reject it and never send it.
            return format!("{token}-{}", "x".repeat(5000));
        }
        token
    }

    fn slow_steps(&mut self) -> Vec<Step> {
        let gap = self.config.idle_timeout.mul_f64(0.4);
        let mut steps = Vec::new();
        for _ in 0..self.rng.range(1, 3) {
            steps.push(Step::Keepalive);
            steps.push(Step::Wait(gap));
        }
        steps.push(Step::Keepalive);
        steps
    }

    /// The reply to one unscripted `POST`.
    pub fn http_reply(&mut self) -> Reply {
        if !self.rng.chance(self.config.http_fault_percent) {
            return self.good_http();
        }
        let fatal = self.config.fatal_errors;
        let menu = if fatal { 21 } else { 17 };
        match self.rng.below(menu) {
            19 | 20 => self.odd_completion(),
            0 => {
                let secs = self.rng.range(0, 2);
                Reply::error(429, "rate_limit_error", "rate_limit_exceeded", "slow down")
                    .retry_after_secs(secs)
            }
            1 => {
                let ms = self.rng.range(10, 900);
                Reply::error(429, "rate_limit_error", "rate_limit_exceeded", "slow down")
                    .header("retry-after-ms", &ms.to_string())
                    .requests_delay(Duration::from_millis(ms))
            }
            2 => Reply::error(500, "server_error", "internal", "boom"),
            3 => Reply::status(503, "unavailable").header("x-request-id", "req-503"),
            4 => Reply::error(401, "invalid_request_error", "invalid_api_key", "expired"),
            5 => Reply::hang(),
            6 => Reply::reset_before_head("connection refused"),
            7 => {
                let k = self.rng.range(0, 3) as usize;
                Reply::with_steps(vec![Step::ModelPrefix(k)])
                    .end(End::Reset("connection reset by peer".into()))
            }
            8 => {
                let k = self.rng.range(0, 3) as usize;
                Reply::with_steps(vec![Step::ModelPrefix(k)])
            }
            9 => {
                let k = self.rng.range(0, 3) as usize;
                Reply::with_steps(vec![Step::ModelPrefix(k)]).keep_open()
            }
            10 => {
                let mut steps = self.slow_steps();
                steps.push(Step::Model);
                Reply::with_steps(steps)
            }
            11 => Reply::events([
                ev::created("resp-failed"),
                ev::failed("resp-failed", "server_error", "The model failed"),
            ]),
            12 => Reply::events([
                ev::created("resp-rl"),
                ev::failed(
                    "resp-rl",
                    "rate_limit_exceeded",
                    "Rate limit reached. Please try again in 1.5s.",
                ),
            ])
            .requests_delay(Duration::from_millis(1500)),
            13 => Reply::events([ev::sse_error("server_error", "something broke")]),
            14 => Reply::events([
                ev::created("resp-inc"),
                ev::incomplete("resp-inc", "max_output_tokens"),
            ]),
            15 | 16 if !fatal => self.odd_completion(),
            15 => Reply::error(400, "invalid_request_error", "invalid_value", "bad input"),
            16 => Reply::status(404, "not found"),
            17 => Reply::events([
                ev::created("resp-cw"),
                ev::failed("resp-cw", "context_length_exceeded", "too long"),
            ]),
            _ => Reply::error(429, "usage_limit_reached", "usage_limit_reached", "limit")
                .header("x-codex-primary-used-percent", "100"),
        }
    }

    /// A WebSocket `error` frame with status 401 (an expired token), usually as the
    /// first frame, sometimes mid-response.
    fn ws_unauthorized(&mut self, k: usize) -> Reply {
        let before = if self.rng.chance(70) { 0 } else { k };
        Reply::with_steps(vec![
            Step::ModelPrefix(before),
            Step::Event(ev::ws_error(
                401,
                "invalid_request_error",
                "token_expired",
                "Your authentication token has expired.",
                &[],
            )),
        ])
    }

    /// A completion the client must treat carefully: `response.completed` without a
    /// usable id (a stream error, retried), or the legacy `response.done`.
    fn odd_completion(&mut self) -> Reply {
        if self.rng.chance(50) {
            Reply::events([ev::created("resp-noid"), ev::completed("")])
        } else {
            let mut done = ev::completed("resp-legacy");
            done["type"] = "response.done".into();
            Reply::events([ev::created("resp-legacy"), done])
        }
    }

    fn good_http(&mut self) -> Reply {
        let mut steps = Vec::new();
        if self.rng.chance(10) {
            steps.push(Step::Keepalive);
        }
        if self.rng.chance(5) {
            steps.push(Step::Event(ev::unknown("response.in_progress")));
        }
        if self.rng.chance(3) {
            steps.push(Step::Raw("data: {not json\n\n".into()));
        }
        steps.push(Step::Model);
        let mut reply = Reply::with_steps(steps);
        if self.rng.chance(self.config.turn_state_percent) {
            let token = self.token();
            reply = reply.header("x-codex-turn-state", &token);
        }
        if self.rng.chance(10) {
            reply = reply
                .header("x-codex-primary-used-percent", "12.5")
                .header("x-codex-primary-window-minutes", "300")
                .header("x-models-etag", "etag-1");
        }
        if self.rng.chance(10) {
            reply = reply.end(End::Open);
        }
        reply
    }

    /// The answer to one unscripted handshake.
    pub fn handshake(&mut self) -> Handshake {
        if self.rng.chance(self.config.handshake_fault_percent) {
            let menu = if self.config.allow_426 { 7 } else { 6 };
            return match self.rng.below(menu) {
                0 => Handshake::refuse(500),
                1 => Handshake::Refuse {
                    status: 503,
                    headers: vec![("retry-after".into(), "1".into())],
                    body: String::new(),
                },
                2 => Handshake::refuse(404),
                3 => Handshake::refuse(401),
                4 => Handshake::Fail("connection refused".into()),
                5 => Handshake::Hang,
                _ => Handshake::refuse(426),
            };
        }
        let mut headers = Vec::new();
        if self.rng.chance(self.config.turn_state_percent) {
            headers.push(("x-codex-turn-state".to_owned(), self.token()));
        }
        if self.rng.chance(10) {
            headers.push(("x-models-etag".to_owned(), "etag-ws".to_owned()));
            headers.push(("x-reasoning-included".to_owned(), "true".to_owned()));
        }
        let delay = self.rng.millis(0, 30);
        if self.rng.chance(self.config.idle_close_percent) {
            let close_after = self.rng.millis(0, 5_000);
            return Handshake::AcceptThenClose {
                headers,
                delay,
                close_after,
            };
        }
        Handshake::Accept { headers, delay }
    }

    /// Whether a newly accepted socket answers no pings.
    pub fn deaf_socket(&mut self) -> bool {
        self.rng.chance(self.config.deaf_percent)
    }

    /// Whether the server lost the chain of a chained message.
    pub fn lose_chain(&mut self) -> bool {
        self.rng.chance(self.config.lost_chain_percent)
    }

    /// A failing reply to a prewarm, or `None` for the normal empty completion.
    pub fn prewarm_fault(&mut self) -> Option<Reply> {
        if !self.rng.chance(self.config.prewarm_fault_percent) {
            return None;
        }
        Some(match self.rng.below(5) {
            0 => Reply::events([ev::ws_error(500, "server_error", "internal", "boom", &[])]),
            1 => Reply::events([
                ev::created("resp-pwf"),
                ev::failed("resp-pwf", "server_error", "The model failed"),
            ]),
            2 => Reply::with_steps(Vec::new()).end(End::Close {
                code: Some(1011),
                reason: "server error".into(),
            }),
            3 => Reply::with_steps(Vec::new()).end(End::Reset("reset".into())),
            _ => Reply::with_steps(Vec::new()).keep_open(),
        })
    }

    /// The reply to one unscripted WebSocket message.
    pub fn ws_reply(&mut self) -> Reply {
        if !self.rng.chance(self.config.ws_fault_percent) {
            let mut steps = Vec::new();
            if self.rng.chance(self.config.turn_state_percent / 2) {
                let token = self.token();
                steps.push(Step::Event(ev::metadata_turn_state(&token)));
            }
            if self.rng.chance(10) {
                steps.push(Step::Keepalive);
            }
            steps.push(Step::Model);
            return Reply::with_steps(steps);
        }
        let menu = if self.config.fatal_errors { 15 } else { 13 };
        let k = self.rng.range(0, 3) as usize;
        match self.rng.below(menu) {
            12 if !self.config.fatal_errors => self.ws_unauthorized(k),
            14 => self.ws_unauthorized(k),
            10 | 11 if !self.config.fatal_errors => self.odd_completion(),
            12 | 13 => self.odd_completion(),
            0 => Reply::with_steps(vec![
                // Usually the first frame of a request; sometimes mid-response.
                Step::ModelPrefix(if self.rng.chance(70) { 0 } else { k }),
                Step::Event(ev::ws_error_code(
                    "websocket_connection_limit_reached",
                    "Responses websocket connection limit reached (60 minutes).",
                )),
            ])
            .end(End::Close {
                code: Some(1000),
                reason: "limit".into(),
            }),
            1 => Reply::events([ev::ws_error(500, "server_error", "internal", "boom", &[])]),
            2 => Reply::events([ev::ws_error(
                429,
                "rate_limit_error",
                "rate_limit_exceeded",
                "slow down",
                &[("retry-after", "1")],
            )])
            .requests_delay(Duration::from_secs(1)),
            3 => Reply::with_steps(vec![Step::ModelPrefix(k)]).end(End::Close {
                code: Some(1011),
                reason: "server error".into(),
            }),
            4 => Reply::with_steps(vec![Step::ModelPrefix(k)]).end(End::Reset("reset".into())),
            5 => Reply::with_steps(vec![Step::ModelPrefix(k)]),
            6 => Reply::with_steps(vec![Step::ModelPrefix(k), Step::Binary(16)]),
            7 => Reply::events([
                ev::created("resp-wsf"),
                ev::failed("resp-wsf", "server_error", "The model failed"),
            ]),
            8 => {
                let mut steps = self.slow_steps();
                steps.push(Step::Model);
                Reply::with_steps(steps)
            }
            9 => Reply::events([
                ev::created("resp-winc"),
                ev::incomplete("resp-winc", "max_output_tokens"),
            ]),
            10 => Reply::events([ev::ws_error(
                429,
                "usage_limit_reached",
                "usage_limit_reached",
                "The usage limit has been reached",
                &[
                    ("x-codex-primary-used-percent", "100"),
                    ("x-codex-primary-window-minutes", "300"),
                ],
            )]),
            _ => Reply::events([
                ev::created("resp-wcw"),
                ev::failed("resp-wcw", "context_length_exceeded", "too long"),
            ]),
        }
    }
}
