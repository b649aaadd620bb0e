//! The trust policy for every TLS connection (`https`, `wss`, an `https` proxy), per
//! PROTOCOL.md 3.3: rustls with the ring provider, the platform's root store with the
//! bundled webpki roots as the fallback when the platform has none, plus any extra CA
//! certificates the caller trusts (a corporate CA, a test server's CA).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use futures_rustls::TlsConnector;
use rustls::RootCertStore;
use rustls::client::Resumption;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::BuildError;

/// Where the trusted roots come from, besides [`TlsSettings::extra_roots`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootStore {
    /// The platform's root store, read once per process by `rustls-native-certs`
    /// (which follows OpenSSL's `SSL_CERT_FILE` and `SSL_CERT_DIR` conventions on
    /// Unix); the bundled webpki roots when the platform has none. The default.
    #[default]
    Platform,
    /// Only the bundled webpki (Mozilla) roots, whatever the platform has.
    Bundled,
    /// No roots but the extra ones: a client that trusts one private CA only.
    None,
}

/// Which certificates the client trusts, for origins and for an `https` proxy alike.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// The base root store.
    pub roots: RootStore,
    /// Extra trusted roots, DER-encoded (a corporate CA, a test server's CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl TlsSettings {
    /// Settings that trust only `roots` (no extra certificates yet).
    pub fn new(roots: RootStore) -> Self {
        TlsSettings {
            roots,
            extra_roots: Vec::new(),
        }
    }

    /// Also trusts this DER-encoded root certificate.
    pub fn with_root(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(CertificateDer::from(der.into()));
        self
    }

    /// Also trusts every certificate in `pem` (PEM text with one or more
    /// `CERTIFICATE` blocks; other blocks are skipped). Fails with [`BuildError::Tls`] when
    /// the text holds no certificate or a malformed one.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, BuildError> {
        self.extra_roots.extend(parse_pem(pem, "PEM text")?);
        Ok(self)
    }

    /// Also trusts every certificate in the PEM file at `path` (a CA bundle, say).
    /// Fails with [`BuildError::Tls`] naming the file when it cannot be read or holds no
    /// certificate.
    pub fn with_ca_file(mut self, path: impl AsRef<Path>) -> Result<Self, BuildError> {
        let path = path.as_ref();
        let what = format!("CA file {}", path.display());
        let pem = std::fs::read(path).map_err(|e| BuildError::Tls(format!("{what}: {e}")))?;
        self.extra_roots.extend(parse_pem(&pem, &what)?);
        Ok(self)
    }

    /// Checks what [`TlsSettings::connector`] would refuse (an extra root rustls cannot
    /// use) without loading any root store. Call when the client is built, so that a
    /// bad certificate is a build error even though the connector is built lazily.
    pub(crate) fn check(&self) -> Result<(), rustls::Error> {
        let mut roots = RootCertStore::empty();
        for cert in &self.extra_roots {
            roots.add(cert.clone())?;
        }
        Ok(())
    }

    /// Builds the rustls client configuration. With [`RootStore::Platform`] the first
    /// call in the process reads the platform's store (milliseconds).
    pub(crate) fn connector(&self) -> Result<TlsConnector, rustls::Error> {
        let base = match self.roots {
            RootStore::Platform => platform_roots(),
            RootStore::Bundled => webpki_roots(),
            RootStore::None => Arc::new(RootCertStore::empty()),
        };
        let roots = if self.extra_roots.is_empty() {
            base
        } else {
            let mut roots = RootCertStore::clone(&base);
            for cert in &self.extra_roots {
                roots.add(cert.clone())?;
            }
            Arc::new(roots)
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = Resumption::in_memory_sessions(RESUMPTION_SERVERS);
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// Every `CERTIFICATE` block of `pem`; at least one.
fn parse_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError::Tls(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(BuildError::Tls(format!("{what}: no PEM certificate found")));
    }
    Ok(certs)
}

/// Server names whose TLS sessions a client keeps for resumption. A client talks to
/// its one provider (HTTP and WebSocket on the same host); rustls's default of 256
/// preallocates about 14 KiB per client.
const RESUMPTION_SERVERS: usize = 8;

/// The platform's roots, read once per process and shared by every client; the
/// bundled roots when the platform store is empty or unreadable.
fn platform_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::debug!(%error, "reading the platform's root store");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "platform root certificates");
            if roots.is_empty() {
                tracing::debug!("no platform roots: using the bundled webpki roots");
                return webpki_roots();
            }
            Arc::new(roots)
        })
        .clone()
}

/// The bundled webpki roots as a trust store, built once and shared by every client
/// that trusts them: about 8.6 KiB per client otherwise.
fn webpki_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Arc::new(roots)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_a_certificate_is_a_clear_error() {
        let err = TlsSettings::default()
            .with_ca_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let err = TlsSettings::default()
            .with_ca_pem(b"not pem at all")
            .unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = TlsSettings::default()
            .with_ca_file("/nonexistent/turnwire-ca.pem")
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/turnwire-ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_extra_root_fails_the_check_and_the_connector_alike() {
        let settings = TlsSettings::new(RootStore::None).with_root(b"not DER".to_vec());
        assert!(settings.check().is_err());
        assert!(settings.connector().is_err());
        assert!(TlsSettings::new(RootStore::None).check().is_ok());
    }

    #[test]
    fn every_root_store_builds_a_connector() {
        for roots in [RootStore::Platform, RootStore::Bundled, RootStore::None] {
            assert!(TlsSettings::new(roots).connector().is_ok(), "{roots:?}");
        }
        assert!(!platform_roots().is_empty(), "platform or bundled roots");
    }
}
