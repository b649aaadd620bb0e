//! The one place sockets are opened. [`Connector::open`] turns an [`Endpoint`] into a
//! ready byte stream: TCP through the [`Runtime`] (whose `connect` sets
//! `TCP_NODELAY`), a `CONNECT` tunnel when a proxy is set and the host is not on its
//! no-proxy list, then TLS under the client's one trust policy when the endpoint is
//! secure. HTTP and WebSocket connections both start here, so what holds for one
//! socket holds for all.

mod endpoint;
mod proxy;
mod trust;

use std::io;
use std::sync::OnceLock;

use futures_rustls::TlsConnector;
use rustls::pki_types::ServerName;
use turnwire_protocol::connect::ConnectFailure;
use turnwire_protocol::session::{ConnId, Input};

pub(crate) use endpoint::Endpoint;
pub use proxy::{NoProxy, Proxy, ProxyError};
pub use trust::{RootStore, TlsSettings};

use crate::error::BuildError;
use crate::runtime::{BoxStream, Runtime};

/// Opens connections for one client. Built once from the client's options; shared by
/// its connection tasks behind an `Arc`.
pub(crate) struct Connector {
    settings: TlsSettings,
    /// Built at the first TLS handshake: reading the platform's root store takes
    /// milliseconds, which a client that never opens a TLS connection does not pay.
    tls: OnceLock<TlsConnector>,
    proxy: Option<Proxy>,
}

impl core::fmt::Debug for Connector {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connector")
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// The connector for these settings. Fails when the TLS settings are unusable (a
    /// malformed root certificate). Loads no root store: that waits for the first TLS
    /// handshake.
    pub(crate) fn new(tls: &TlsSettings, proxy: Option<Proxy>) -> Result<Connector, BuildError> {
        tls.check().map_err(|e| BuildError::Tls(e.to_string()))?;
        Ok(Connector {
            settings: tls.clone(),
            tls: OnceLock::new(),
            proxy,
        })
    }

    /// The TLS connector, built on first use.
    fn tls(&self) -> Result<&TlsConnector, ConnectError> {
        if let Some(tls) = self.tls.get() {
            return Ok(tls);
        }
        // Checked when the client was built; only a rustls change could fail here.
        let built = self
            .settings
            .connector()
            .map_err(|e| ConnectError::Transport(format!("TLS configuration: {e}")))?;
        Ok(self.tls.get_or_init(|| built))
    }

    /// Connects to `endpoint`: directly or through the proxy's tunnel, with TLS when
    /// it is secure. The error says which step failed, in terms the session can
    /// classify.
    pub(crate) async fn open(
        &self,
        runtime: &dyn Runtime,
        endpoint: &Endpoint,
    ) -> Result<BoxStream, ConnectError> {
        let stream = match self.proxy.as_ref().filter(|p| !p.bypasses(&endpoint.host)) {
            None => runtime
                .connect(endpoint.host.clone(), endpoint.port)
                .await
                .map_err(|e| ConnectError::io(endpoint, &e))?,
            Some(proxy) => self.through(runtime, proxy, endpoint).await?,
        };
        if !endpoint.secure {
            return Ok(stream);
        }
        self.handshake(stream, endpoint).await
    }

    /// A tunnel to `endpoint` through `proxy` (with TLS to the proxy first when it is
    /// an `https` proxy).
    async fn through(
        &self,
        runtime: &dyn Runtime,
        proxy: &Proxy,
        endpoint: &Endpoint,
    ) -> Result<BoxStream, ConnectError> {
        let at = proxy.endpoint();
        let tcp = runtime
            .connect(at.host.clone(), at.port)
            .await
            .map_err(|e| {
                ConnectError::Failure(ConnectFailure::ProxyFailed {
                    proxy: proxy.address(),
                    message: format!("could not be reached: {e}"),
                })
            })?;
        let mut stream = if at.secure {
            self.handshake(tcp, &at).await?
        } else {
            tcp
        };
        proxy::tunnel(&mut stream, proxy, endpoint)
            .await
            .map_err(ConnectError::Failure)?;
        tracing::debug!(proxy = %proxy.address(), target = %endpoint.authority(), "tunnel open");
        Ok(stream)
    }

    /// TLS over `stream` to `endpoint`'s host.
    async fn handshake(
        &self,
        stream: BoxStream,
        endpoint: &Endpoint,
    ) -> Result<BoxStream, ConnectError> {
        let name = ServerName::try_from(endpoint.host.clone())
            .map_err(|e| ConnectError::Transport(format!("invalid server name: {e}")))?;
        match self.tls()?.connect(name, stream).await {
            Ok(stream) => Ok(Box::new(stream)),
            Err(err) => Err(match certificate_problem(&err) {
                Some(reason) => ConnectError::Failure(ConnectFailure::Certificate {
                    host: endpoint.host.clone(),
                    reason,
                }),
                None => ConnectError::io(endpoint, &err),
            }),
        }
    }
}

/// The reason rustls refused the peer's certificate, when that is why the handshake
/// failed (`UnknownIssuer`, `Expired`, …).
fn certificate_problem(err: &io::Error) -> Option<String> {
    match err.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(problem) => Some(format!("{problem:?}")),
        _ => None,
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// A transport failure (refused, reset, TLS alert), for people.
    Transport(String),
    /// A failure the session classifies itself (proxy refusal, certificate).
    Failure(ConnectFailure),
}

impl ConnectError {
    fn io(endpoint: &Endpoint, error: &io::Error) -> ConnectError {
        ConnectError::Transport(format!("connect {}: {error}", endpoint.authority()))
    }

    /// The input that tells the session connection `conn` failed this way.
    pub(crate) fn into_input(self, conn: ConnId) -> Input {
        match self {
            ConnectError::Transport(message) => Input::TransportError { conn, message },
            ConnectError::Failure(failure) => Input::ConnectFailed { conn, failure },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_connector_waits_for_the_first_handshake() {
        let connector = Connector::new(&TlsSettings::new(RootStore::Platform), None).unwrap();
        assert!(
            connector.tls.get().is_none(),
            "no root store read when built"
        );
        assert!(connector.tls().is_ok());
        assert!(connector.tls.get().is_some(), "built once asked for");
    }

    #[test]
    fn a_malformed_root_is_still_a_build_error() {
        let settings = TlsSettings::new(RootStore::None).with_root(b"not DER".to_vec());
        assert!(matches!(
            Connector::new(&settings, None),
            Err(BuildError::Tls(_))
        ));
    }
}
