//! Opening a connection: TCP, then TLS for `https` (rustls' blocking `StreamOwned`),
//! and reading with a deadline through the socket's read timeout.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A connection, plain or TLS.
pub(crate) enum Stream {
    /// `http`.
    Plain(TcpStream),
    /// `https`.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// Bounds the next reads (and a TLS handshake's) by `timeout`; `None` blocks.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        // A zero timeout means "block" to the OS; the caller never asks for less
        // than a millisecond.
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        match self {
            Stream::Plain(tcp) => tcp.set_read_timeout(timeout),
            Stream::Tls(tls) => tls.sock.set_read_timeout(timeout),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// The TLS settings for `https`: the bundled web roots, plus the certificates of the
/// file `ca_cert` (PEM, or one DER certificate) when given.
pub(crate) fn tls_config(ca_cert: Option<&str>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_cert {
        for cert in read_certificates(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("a certificate in {path}: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificates of a PEM file, or of a file holding one DER certificate.
fn read_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {path}: {e}"))
}

/// Connects to the origin of `uri` within `timeout` (each resolved address in turn),
/// with TLS when its scheme is `https`.
pub(crate) fn connect(
    uri: &http::Uri,
    timeout: Duration,
    tls: &Arc<ClientConfig>,
) -> Result<Stream, String> {
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?;
    let mut last = format!("{host} resolved to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                if !https {
                    return Ok(Stream::Plain(tcp));
                }
                let name = ServerName::try_from(bare.to_owned())
                    .map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
                let tls = ClientConnection::new(Arc::clone(tls), name)
                    .map_err(|e| format!("TLS to {host}: {e}"))?;
                return Ok(Stream::Tls(Box::new(StreamOwned::new(tls, tcp))));
            }
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    Err(last)
}
