//! Every header name the protocol sends or reads (PROTOCOL.md sections 3, 5, 7, 9
//! and 12), lower-case as HTTP/2 and the `http` crate spell them. The one place they
//! are written: request encoding, header capture, error classification, the driver
//! and the testkit import them from here. Depends on nothing.

// --- sent with every request (3.1, 3.2) ------------------------------------------

/// `session-id`: the conversation id.
pub const SESSION_ID: &str = "session-id";
/// `thread-id`: the conversation id.
pub const THREAD_ID: &str = "thread-id";
/// `x-client-request-id`: the conversation id.
pub const CLIENT_REQUEST_ID: &str = "x-client-request-id";
/// `session_id`, sent only with `legacy_session_headers`.
pub const LEGACY_SESSION_ID: &str = "session_id";
/// `thread_id`, sent only with `legacy_session_headers`.
pub const LEGACY_THREAD_ID: &str = "thread_id";
/// `ChatGPT-Account-ID`: the account id of the credentials.
pub const ACCOUNT_ID: &str = "chatgpt-account-id";
/// `originator`: the identity's originator.
pub const ORIGINATOR: &str = "originator";
/// `version`: the identity's version.
pub const VERSION: &str = "version";
/// `OpenAI-Organization`, when the identity names one.
pub const OPENAI_ORGANIZATION: &str = "openai-organization";
/// `OpenAI-Project`, when the identity names one.
pub const OPENAI_PROJECT: &str = "openai-project";
/// `x-openai-subagent`, when the identity names one.
pub const OPENAI_SUBAGENT: &str = "x-openai-subagent";
/// `x-codex-beta-features`: comma-joined beta feature keys.
pub const BETA_FEATURES: &str = "x-codex-beta-features";
/// `x-codex-turn-metadata`: caller-supplied turn metadata (HTTP only).
pub const TURN_METADATA: &str = "x-codex-turn-metadata";
/// `OpenAI-Beta` of the WebSocket handshake.
pub const OPENAI_BETA: &str = "openai-beta";
/// `x-responsesapi-include-timing-metrics` of the WebSocket handshake.
pub const TIMING_METRICS: &str = "x-responsesapi-include-timing-metrics";

// --- sent and read: sticky routing (7) -------------------------------------------

/// `x-codex-turn-state`: the turn-state token, read from responses and sent back on
/// HTTP requests of the same turn.
pub const TURN_STATE: &str = "x-codex-turn-state";

// --- read from responses (5, 9, 12) ------------------------------------------------

/// `x-models-etag`.
pub const MODELS_ETAG: &str = "x-models-etag";
/// `x-reasoning-included`.
pub const REASONING_INCLUDED: &str = "x-reasoning-included";
/// `x-request-id`.
pub const REQUEST_ID: &str = "x-request-id";
/// `x-oai-request-id`, read when `x-request-id` is absent.
pub const OAI_REQUEST_ID: &str = "x-oai-request-id";
/// `retry-after-ms`: a delay in milliseconds, read before `Retry-After` (9.1).
pub const RETRY_AFTER_MS: &str = "retry-after-ms";
/// `retry-after`: delay seconds or an HTTP date (9.1).
pub const RETRY_AFTER: &str = "retry-after";
/// `x-should-retry`: the server's own say on whether to retry (9.1).
pub const SHOULD_RETRY: &str = "x-should-retry";
/// `x-codex-primary-used-percent` of the primary rate-limit window.
pub const PRIMARY_USED_PERCENT: &str = "x-codex-primary-used-percent";
/// `x-codex-primary-window-minutes` of the primary rate-limit window.
pub const PRIMARY_WINDOW_MINUTES: &str = "x-codex-primary-window-minutes";
/// `x-codex-primary-reset-at` of the primary rate-limit window.
pub const PRIMARY_RESET_AT: &str = "x-codex-primary-reset-at";
/// `x-codex-secondary-used-percent` of the secondary rate-limit window.
pub const SECONDARY_USED_PERCENT: &str = "x-codex-secondary-used-percent";
/// `x-codex-secondary-window-minutes` of the secondary rate-limit window.
pub const SECONDARY_WINDOW_MINUTES: &str = "x-codex-secondary-window-minutes";
/// `x-codex-secondary-reset-at` of the secondary rate-limit window.
pub const SECONDARY_RESET_AT: &str = "x-codex-secondary-reset-at";
/// `x-codex-credits-has-credits`.
pub const CREDITS_HAS_CREDITS: &str = "x-codex-credits-has-credits";
/// `x-codex-credits-unlimited`.
pub const CREDITS_UNLIMITED: &str = "x-codex-credits-unlimited";
/// `x-codex-credits-balance`.
pub const CREDITS_BALANCE: &str = "x-codex-credits-balance";
