//! A generated certificate authority and a leaf certificate for 127.0.0.1 and
//! localhost signed by it, and the rustls server configuration that serves the leaf.
//! Clients trust the CA (as a private or corporate CA is trusted), never the leaf.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A freshly generated CA, the leaf it signed, and the acceptor that serves the leaf.
pub(crate) struct TestTls {
    pub(crate) acceptor: futures_rustls::TlsAcceptor,
    /// The CA's certificate, DER-encoded: the root a client must trust.
    pub(crate) certificate_der: Vec<u8>,
}

/// Generates a CA and a leaf valid for `127.0.0.1` and `localhost`.
pub(crate) fn generate() -> std::io::Result<TestTls> {
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(std::io::Error::other)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "turnwire loopback test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(std::io::Error::other)?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(std::io::Error::other)?;

    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let mut leaf_params = CertificateParams::new(names).map_err(std::io::Error::other)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "turnwire loopback server");
    let leaf_key = KeyPair::generate().map_err(std::io::Error::other)?;
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .map_err(std::io::Error::other)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .map_err(std::io::Error::other)?;
    Ok(TestTls {
        acceptor: futures_rustls::TlsAcceptor::from(Arc::new(config)),
        certificate_der: CertificateDer::as_ref(ca.der()).to_vec(),
    })
}
