//! TLS for `https://` and `wss://`: rustls with the ring provider, the webpki roots,
//! and any extra roots the caller trusts (a test server's certificate, a corporate CA).

use std::io;
use std::sync::{Arc, OnceLock};

use futures_rustls::TlsConnector;
use rustls::RootCertStore;
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::runtime::{BoxStream, Runtime};

/// Which certificates the client trusts.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// Trust the webpki (Mozilla) roots.
    pub webpki_roots: bool,
    /// Extra trusted roots, DER-encoded.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            webpki_roots: true,
            extra_roots: Vec::new(),
        }
    }
}

impl TlsSettings {
    /// Also trust this DER-encoded root certificate.
    pub fn with_root(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(CertificateDer::from(der.into()));
        self
    }

    /// Builds the rustls client configuration.
    pub(crate) fn connector(&self) -> Result<TlsConnector, rustls::Error> {
        let roots = if self.extra_roots.is_empty() && self.webpki_roots {
            shared_webpki_roots()
        } else {
            let mut roots = RootCertStore::empty();
            if self.webpki_roots {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
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

/// Server names whose TLS sessions a client keeps for resumption. A client talks to
/// its one provider (HTTP and WebSocket on the same host); rustls's default of 256
/// preallocates about 14 KiB per client.
const RESUMPTION_SERVERS: usize = 8;

/// The webpki roots as a trust store, built once and shared by every client that
/// trusts exactly them (the default): about 8.6 KiB per client otherwise.
fn shared_webpki_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Arc::new(roots)
        })
        .clone()
}

/// Where a connection goes, read off a URL; also the keep-alive pool's origin key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) secure: bool,
}

impl Endpoint {
    /// The endpoint of an `http`, `https`, `ws` or `wss` URL.
    pub(crate) fn of(uri: &http::Uri) -> io::Result<Endpoint> {
        let secure = match uri.scheme_str() {
            Some("https" | "wss") => true,
            Some("http" | "ws") => false,
            other => return Err(invalid(format!("unsupported URL scheme {other:?}"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| invalid("URL has no host".to_owned()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Endpoint { host, port, secure })
    }

    /// The `Host` header value.
    pub(crate) fn host_header(&self, uri: &http::Uri) -> String {
        uri.authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| self.host.clone())
    }
}

/// Connects to `endpoint`, with TLS when it is secure.
pub(crate) async fn open_stream(
    runtime: &dyn Runtime,
    tls: &TlsConnector,
    endpoint: &Endpoint,
) -> io::Result<BoxStream> {
    let tcp = runtime
        .connect(endpoint.host.clone(), endpoint.port)
        .await?;
    if !endpoint.secure {
        return Ok(tcp);
    }
    let name = ServerName::try_from(endpoint.host.clone()).map_err(|e| invalid(e.to_string()))?;
    let stream = tls.connect(name, tcp).await?;
    Ok(Box::new(stream))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
