//! A generated certificate for 127.0.0.1 and localhost, and the rustls server
//! configuration that serves it.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A freshly generated self-signed certificate and the acceptor that serves it.
pub(crate) struct TestTls {
    pub(crate) acceptor: futures_rustls::TlsAcceptor,
    pub(crate) certificate_der: Vec<u8>,
}

/// Generates a certificate valid for `127.0.0.1` and `localhost`.
pub(crate) fn generate() -> std::io::Result<TestTls> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
    let certificate_der = certified.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(certificate_der.clone())], key)
        .map_err(std::io::Error::other)?;
    Ok(TestTls {
        acceptor: futures_rustls::TlsAcceptor::from(Arc::new(config)),
        certificate_der,
    })
}
