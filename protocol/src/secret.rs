//! Credentials that never reach `Debug` output, logs or error messages.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A secret string (an API key or access token). `Debug`, `Display` and `Serialize`
/// all write `[redacted]`, so recorded traces and logs never hold it; the only way to
/// read it is [`Secret::expose`], which the request encoder calls when it builds the
/// `Authorization` header.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What a secret looks like everywhere but on the wire.
pub const REDACTED: &str = "[redacted]";

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// What the client authenticates with: a bearer token and, for some accounts, an
/// account id sent as `ChatGPT-Account-ID`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// The bearer token (API key or access token).
    pub token: Secret,
    /// The account id, when the auth has one.
    pub account_id: Option<String>,
}

impl Credentials {
    /// Bearer-token credentials without an account id.
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Credentials {
            token: token.into(),
            account_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let creds = Credentials {
            token: Secret::new("sk-live-abc123"),
            account_id: Some("acct".into()),
        };
        let shown = format!("{creds:?} {}", creds.token);
        assert!(!shown.contains("sk-live-abc123"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(creds.token.expose(), "sk-live-abc123");
    }

    #[test]
    fn serialising_never_writes_the_secret() {
        let creds = Credentials {
            token: Secret::new("sk-live-abc123"),
            account_id: None,
        };
        let json = serde_json::to_string(&creds).unwrap();
        assert!(!json.contains("sk-live"), "{json}");
        assert!(json.contains(REDACTED));
    }
}
