//! Where credentials come from, and how they are refreshed after a 401.

use core::fmt;

use turnwire_protocol::Credentials;

use crate::runtime::BoxFuture;

/// A source of credentials. The driver asks for them when it builds the session and
/// calls [`AuthProvider::refresh`] when a request is answered 401 (at most once per
/// request).
pub trait AuthProvider: Send + Sync + fmt::Debug + 'static {
    /// The current credentials.
    fn credentials(&self) -> Credentials;

    /// Whether [`AuthProvider::refresh`] can produce new credentials. API keys cannot.
    fn can_refresh(&self) -> bool {
        false
    }

    /// Produces fresh credentials, or why not.
    fn refresh(&self) -> BoxFuture<Result<Credentials, String>> {
        Box::pin(async { Err("these credentials cannot be refreshed".to_owned()) })
    }
}

/// A fixed API key (bearer token) that cannot refresh.
#[derive(Clone, Debug)]
pub struct ApiKey(Credentials);

impl ApiKey {
    /// Credentials from an API key.
    pub fn new(key: impl Into<turnwire_protocol::Secret>) -> Self {
        ApiKey(Credentials::bearer(key))
    }
}

impl AuthProvider for ApiKey {
    fn credentials(&self) -> Credentials {
        self.0.clone()
    }
}
