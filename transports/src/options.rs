//! What a client is built from ([`ClientOptions`]) and the hooks it calls
//! ([`TelemetryHook`], [`InputRecorder`]). Kept apart from the client and the driver so
//! both can read the options without importing each other.

use core::fmt;
use std::sync::Arc;

use turnwire_protocol::pool::PoolLimits;
use turnwire_protocol::session::{Input, Telemetry};
use turnwire_protocol::{Config, Now};

use crate::auth::AuthProvider;
use crate::connect::{Proxy, TlsSettings};

/// Called with every telemetry record, on the client's background task: keep it quick.
pub type TelemetryHook = Arc<dyn Fn(&Telemetry) + Send + Sync>;

/// Called with every input fed to the core, in order, so a run can be recorded and
/// replayed offline (`turnwire replay`).
pub type InputRecorder = Arc<dyn Fn(&Now, &Input) + Send + Sync>;

/// Everything a client is built from.
#[derive(Clone)]
pub struct ClientOptions {
    /// Provider configuration.
    pub config: Config,
    /// Credentials and refresh.
    pub auth: Arc<dyn AuthProvider>,
    /// Conversation id; a random UUID when `None`.
    pub conversation_id: Option<String>,
    /// Jitter seed; random when `None`. Log it to replay a run.
    pub seed: Option<u64>,
    /// Trusted certificates, for origins and an `https` proxy alike.
    pub tls: TlsSettings,
    /// The HTTP proxy every connection goes through (except to hosts on its
    /// no-proxy list); direct connections when `None`.
    pub proxy: Option<Proxy>,
    /// Telemetry hook.
    pub telemetry: Option<TelemetryHook>,
    /// Input recorder.
    pub recorder: Option<InputRecorder>,
    /// Events buffered per response stream before the client waits for the reader.
    pub stream_buffer: usize,
    /// The HTTP keep-alive pool's bounds (PROTOCOL.md section 3.3): 4 idle
    /// connections per origin for 90 s by default; [`PoolLimits::DISABLED`] opens a
    /// connection per request.
    pub http_pool: PoolLimits,
}

impl ClientOptions {
    /// Options with defaults for everything but the configuration and auth.
    pub fn new(config: Config, auth: impl AuthProvider) -> Self {
        ClientOptions {
            config,
            auth: Arc::new(auth),
            conversation_id: None,
            seed: None,
            tls: TlsSettings::default(),
            proxy: None,
            telemetry: None,
            recorder: None,
            stream_buffer: 256,
            http_pool: PoolLimits::default(),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("config", &self.config)
            .field("auth", &self.auth)
            .field("conversation_id", &self.conversation_id)
            .field("seed", &self.seed)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .field("http_pool", &self.http_pool)
            .finish_non_exhaustive()
    }
}
