//! Provider configuration (PROTOCOL.md section 1), validated once at construction.

use core::time::Duration;
use serde::{Deserialize, Serialize};

use crate::header_names as names;
use crate::limits::Limits;

/// Which WebSocket request protocol the provider speaks.
///
/// [`WsProtocol::V2`] is what current servers speak. [`WsProtocol::V1`] is a legacy
/// option: the reference client dropped `response.append` in March 2026, and turnwire
/// keeps it only for compatible servers that still need it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WsProtocol {
    /// Legacy: `response.append` carries just the new items
    /// (`OpenAI-Beta: responses_websockets=2026-02-04`).
    V1,
    /// `response.create` with `previous_response_id` (`OpenAI-Beta: responses_websockets=2026-02-06`).
    #[default]
    V2,
}

/// Static identity headers sent on every request and handshake (PROTOCOL.md 3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `originator` header.
    pub originator: String,
    /// `User-Agent` header.
    pub user_agent: String,
    /// `version` header.
    pub version: String,
    /// `OpenAI-Organization`, when set.
    pub organization: Option<String>,
    /// `OpenAI-Project`, when set.
    pub project: Option<String>,
    /// `x-openai-subagent`: the session source label, when the session is a sub-agent.
    pub subagent: Option<String>,
    /// Extra static headers, sent as given on every request and handshake.
    pub extra_headers: Vec<(String, String)>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            originator: "turnwire".to_owned(),
            user_agent: concat!("turnwire/", env!("CARGO_PKG_VERSION")).to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            organization: None,
            project: None,
            subagent: None,
            extra_headers: Vec::new(),
        }
    }
}

/// Per-provider configuration with the defaults of PROTOCOL.md section 1.
///
/// Build one with [`Config::default`] or [`Config::new`], adjust the public fields, and
/// hand it to the session, which calls [`Config::validate`]: values above their caps
/// are clamped and nonsense values are a [`ConfigError`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Base URL, such as `https://api.openai.com/v1`; a trailing `/` is trimmed.
    pub base_url: String,
    /// Provider query parameters appended to every URL.
    pub query_params: Vec<(String, String)>,
    /// Whether the WebSocket transport may be used for this provider.
    pub websockets: bool,
    /// WebSocket request protocol: `V2` (the default) or the legacy `V1`.
    pub ws_protocol: WsProtocol,
    /// Whether to pre-open a WebSocket at session start; `None` follows `websockets`.
    pub preconnect: Option<bool>,
    /// Whether to send the session's known prompt prefix with `generate: false` on the
    /// session's socket ahead of the first request (PROTOCOL.md 8.2); `None` follows
    /// `websockets`. Read it through [`Config::prewarm_enabled`].
    #[serde(default)]
    pub prewarm: Option<bool>,
    /// How often a WebSocket idle in the session's slot is pinged; it is dropped when
    /// no pong arrives within one interval (PROTOCOL.md 8.1). Must be positive.
    #[serde(default = "default_keepalive_interval")]
    pub ws_keepalive_interval: Duration,
    /// Consecutive WebSocket connects that get no HTTP answer at all (refused, reset,
    /// TLS failure, timeout, proxy refusal) before the session falls back to HTTP
    /// without spending the rest of the stream budget (PROTOCOL.md 10). 0 turns the
    /// rule off (only the stream budget then leads to the fallback); clamped to
    /// [`MAX_RETRIES_CAP`].
    #[serde(default = "default_unreachable_fallback_after")]
    pub ws_unreachable_fallback_after: u32,
    /// Also send the underscore headers `session_id` and `thread_id` next to the
    /// hyphenated `session-id` and `thread-id`, for older compatible servers (some
    /// proxies drop underscore headers, so they are off by default; PROTOCOL.md 3.1).
    #[serde(default)]
    pub legacy_session_headers: bool,
    /// Retries of one `POST` until its status arrives (cap 100).
    pub request_max_retries: u32,
    /// Retries of one request's stream (cap 100).
    pub stream_max_retries: u32,
    /// Longest wait for more of a response.
    pub stream_idle_timeout: Duration,
    /// Longest wait for a WebSocket handshake or an HTTP response head.
    pub connect_timeout: Duration,
    /// Backoff base delay.
    pub retry_base_delay: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// A server-requested delay above this is not waited for.
    pub max_retry_after: Duration,
    /// False: never retry a request once any output event reached the caller.
    pub retry_after_partial_output: bool,
    /// When set, WebSocket may be tried again on a turn that starts this long after
    /// the fallback; when `None`, the fallback is sticky for the session.
    pub fallback_cooldown: Option<Duration>,
    /// A preconnected socket unadopted for longer than this is discarded.
    pub preconnect_max_idle: Duration,
    /// Identity headers.
    pub identity: Identity,
    /// Beta feature keys, comma-joined into `x-codex-beta-features`.
    pub beta_features: Vec<String>,
    /// Ask for timing frames in the WebSocket handshake.
    pub include_timing_metrics: bool,
    /// zstd-compress HTTP request bodies.
    pub request_compression: bool,
    /// Buffer bounds.
    pub limits: Limits,
}

/// The highest accepted retry count; larger values are clamped to it.
pub const MAX_RETRIES_CAP: u32 = 100;

/// The default `ws_keepalive_interval`: 30 seconds.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// The default `ws_unreachable_fallback_after`: two unanswered connects.
pub const DEFAULT_UNREACHABLE_FALLBACK_AFTER: u32 = 2;

fn default_keepalive_interval() -> Duration {
    DEFAULT_KEEPALIVE_INTERVAL
}

fn default_unreachable_fallback_after() -> u32 {
    DEFAULT_UNREACHABLE_FALLBACK_AFTER
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: "https://api.openai.com/v1".to_owned(),
            query_params: Vec::new(),
            websockets: false,
            ws_protocol: WsProtocol::V2,
            preconnect: None,
            prewarm: None,
            ws_keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            ws_unreachable_fallback_after: DEFAULT_UNREACHABLE_FALLBACK_AFTER,
            legacy_session_headers: false,
            request_max_retries: 4,
            stream_max_retries: 5,
            stream_idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(15),
            retry_base_delay: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            retry_after_partial_output: true,
            fallback_cooldown: None,
            preconnect_max_idle: Duration::from_secs(55 * 60),
            identity: Identity::default(),
            beta_features: Vec::new(),
            include_timing_metrics: false,
            request_compression: false,
            limits: Limits::default(),
        }
    }
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base URL is not an absolute `http` or `https` URL.
    #[error("base_url {0:?} is not an absolute http:// or https:// URL")]
    BaseUrl(String),
    /// A duration that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// Retries are on but the base delay is zero, which would retry in a tight loop.
    #[error("retry_base_delay is zero while retries are enabled")]
    ZeroBaseDelay,
    /// A limit is zero.
    #[error("limit {0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// A header name or value in the identity or extra headers is not valid on the wire.
    #[error("header {0:?} has an invalid name or value")]
    InvalidHeader(String),
}

impl Config {
    /// The defaults with another base URL.
    pub fn new(base_url: impl Into<String>) -> Self {
        Config {
            base_url: base_url.into(),
            ..Config::default()
        }
    }

    /// Whether a preconnect is wanted: the explicit setting, else `websockets`.
    pub fn preconnect_enabled(&self) -> bool {
        self.websockets && self.preconnect.unwrap_or(self.websockets)
    }

    /// Whether a prewarm is wanted: the explicit setting, else `websockets`; never
    /// without `websockets`.
    pub fn prewarm_enabled(&self) -> bool {
        self.websockets && self.prewarm.unwrap_or(self.websockets)
    }

    /// Checks and normalises the configuration: trims a trailing `/` from the base URL,
    /// clamps retry counts and `ws_unreachable_fallback_after` to [`MAX_RETRIES_CAP`],
    /// and rejects values that cannot work (zero durations, invalid header values).
    /// Called by the session constructor; callers may call it early to report errors.
    pub fn validate(mut self) -> Result<Config, ConfigError> {
        while self.base_url.ends_with('/') {
            self.base_url.pop();
        }
        let lower = self.base_url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with('/') => {}
            _ => return Err(ConfigError::BaseUrl(self.base_url)),
        }
        if self.base_url.parse::<http::Uri>().is_err() {
            return Err(ConfigError::BaseUrl(self.base_url));
        }
        self.request_max_retries = self.request_max_retries.min(MAX_RETRIES_CAP);
        self.stream_max_retries = self.stream_max_retries.min(MAX_RETRIES_CAP);
        self.ws_unreachable_fallback_after =
            self.ws_unreachable_fallback_after.min(MAX_RETRIES_CAP);
        for (name, value) in [
            ("stream_idle_timeout", self.stream_idle_timeout),
            ("connect_timeout", self.connect_timeout),
            ("preconnect_max_idle", self.preconnect_max_idle),
            ("ws_keepalive_interval", self.ws_keepalive_interval),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.fallback_cooldown.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroDuration("fallback_cooldown"));
        }
        let retries_on = self.request_max_retries > 0 || self.stream_max_retries > 0;
        if retries_on && self.retry_base_delay.is_zero() {
            return Err(ConfigError::ZeroBaseDelay);
        }
        if self.max_backoff < self.retry_base_delay {
            self.max_backoff = self.retry_base_delay;
        }
        let limits = &self.limits;
        for (name, value) in [
            ("sse_line", limits.sse_line),
            ("sse_event_data", limits.sse_event_data),
            ("ws_message", limits.ws_message),
            ("header_value", limits.header_value),
            ("error_body", limits.error_body),
            ("queued_outputs", limits.queued_outputs),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        let id = &self.identity;
        let fixed = [
            (names::ORIGINATOR, Some(id.originator.as_str())),
            (
                http::header::USER_AGENT.as_str(),
                Some(id.user_agent.as_str()),
            ),
            (names::VERSION, Some(id.version.as_str())),
            (names::OPENAI_ORGANIZATION, id.organization.as_deref()),
            (names::OPENAI_PROJECT, id.project.as_deref()),
            (names::OPENAI_SUBAGENT, id.subagent.as_deref()),
        ];
        let extra = id
            .extra_headers
            .iter()
            .map(|(n, v)| (n.as_str(), Some(v.as_str())));
        for (name, value) in fixed.into_iter().chain(extra) {
            let Some(value) = value else { continue };
            let name_ok = http::HeaderName::from_bytes(name.as_bytes()).is_ok();
            if !name_ok || http::HeaderValue::from_str(value).is_err() {
                return Err(ConfigError::InvalidHeader(name.to_owned()));
            }
        }
        for key in &self.beta_features {
            if http::HeaderValue::from_str(key).is_err() || key.contains(',') {
                return Err(ConfigError::InvalidHeader(names::BETA_FEATURES.to_owned()));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_protocol_table() {
        let c = Config::default();
        assert_eq!(c.base_url, "https://api.openai.com/v1");
        assert_eq!(c.request_max_retries, 4);
        assert_eq!(c.stream_max_retries, 5);
        assert_eq!(c.stream_idle_timeout, Duration::from_secs(300));
        assert_eq!(c.retry_base_delay, Duration::from_millis(200));
        assert_eq!(c.max_backoff, Duration::from_secs(30));
        assert_eq!(c.max_retry_after, Duration::from_secs(120));
        assert_eq!(c.preconnect_max_idle, Duration::from_secs(3300));
        assert!(!c.websockets && !c.preconnect_enabled());
        assert_eq!(c.ws_protocol, WsProtocol::V2);
        assert_eq!(c.prewarm, None);
        assert!(!c.prewarm_enabled());
        assert_eq!(c.ws_keepalive_interval, Duration::from_secs(30));
        assert_eq!(c.ws_unreachable_fallback_after, 2);
        assert!(!c.legacy_session_headers);
    }

    #[test]
    fn revision_2_settings_are_validated() {
        let c = Config {
            ws_keepalive_interval: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroDuration("ws_keepalive_interval"))
        );
        let off = Config {
            ws_unreachable_fallback_after: 0,
            ..Config::default()
        };
        assert_eq!(off.validate().unwrap().ws_unreachable_fallback_after, 0);
        let c = Config {
            ws_unreachable_fallback_after: 1000,
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap().ws_unreachable_fallback_after, 100);
    }

    #[test]
    fn settings_missing_from_an_older_serialised_config_take_their_defaults() {
        let mut json = serde_json::to_value(Config::default()).unwrap();
        let object = json.as_object_mut().unwrap();
        for name in [
            "prewarm",
            "ws_keepalive_interval",
            "ws_unreachable_fallback_after",
            "legacy_session_headers",
        ] {
            assert!(object.remove(name).is_some(), "{name} is serialised");
        }
        let back: Config = serde_json::from_value(json).unwrap();
        assert_eq!(back, Config::default());
    }

    #[test]
    fn prewarm_follows_websockets_unless_set() {
        let mut c = Config {
            websockets: true,
            ..Config::default()
        };
        assert!(c.prewarm_enabled());
        c.prewarm = Some(false);
        assert!(!c.prewarm_enabled());
        c.websockets = false;
        c.prewarm = Some(true);
        assert!(!c.prewarm_enabled());
    }

    #[test]
    fn validation_trims_clamps_and_rejects() {
        let mut c = Config::new("http://127.0.0.1:8080/v1//");
        c.request_max_retries = 1000;
        c.stream_max_retries = 101;
        let v = c.validate().unwrap();
        assert_eq!(v.base_url, "http://127.0.0.1:8080/v1");
        assert_eq!((v.request_max_retries, v.stream_max_retries), (100, 100));

        assert!(matches!(
            Config::new("ftp://x").validate(),
            Err(ConfigError::BaseUrl(_))
        ));
        assert!(matches!(
            Config::new("https://").validate(),
            Err(ConfigError::BaseUrl(_))
        ));
        let c = Config {
            stream_idle_timeout: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroDuration("stream_idle_timeout"))
        );
        let c = Config {
            retry_base_delay: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::ZeroBaseDelay));
        let c = Config {
            retry_base_delay: Duration::ZERO,
            request_max_retries: 0,
            stream_max_retries: 0,
            ..Config::default()
        };
        assert!(
            c.validate().is_ok(),
            "a zero base delay is fine when nothing retries"
        );
        let mut c = Config::default();
        c.identity
            .extra_headers
            .push(("x-bad".into(), "a\r\nb".into()));
        assert!(matches!(c.validate(), Err(ConfigError::InvalidHeader(_))));
    }

    #[test]
    fn preconnect_follows_websockets_unless_set() {
        let mut c = Config {
            websockets: true,
            ..Config::default()
        };
        assert!(c.preconnect_enabled());
        c.preconnect = Some(false);
        assert!(!c.preconnect_enabled());
        c.websockets = false;
        c.preconnect = Some(true);
        assert!(!c.preconnect_enabled());
    }
}
