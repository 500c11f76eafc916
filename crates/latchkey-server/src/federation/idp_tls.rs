//! How latchkey trusts an OpenID Connect provider's HTTPS server, as AWS
//! does: a certificate chain that verifies against the public web roots, or
//! one whose top certificate (the root or top intermediate CA, or the leaf
//! when it is self-signed) has a SHA-1 thumbprint in the IAM provider's
//! ThumbprintList (IAM User Guide, "Obtain the thumbprint for an OpenID
//! Connect identity provider"). Either way the chain is fully verified —
//! signatures, validity dates and the host name — only the trust anchor
//! differs: a thumbprinted certificate anchors the chain, it is never a
//! reason to skip verification.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha1::{Digest, Sha1};
use std::sync::{Arc, LazyLock};

/// One crypto provider for every IdP connection, named explicitly so no
/// process-wide default is needed.
pub fn crypto() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

fn web_roots() -> Arc<WebPkiServerVerifier> {
    static VERIFIER: LazyLock<Arc<WebPkiServerVerifier>> = LazyLock::new(|| {
        let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), crypto())
            .build()
            .expect("the webpki root store is not empty")
    });
    VERIFIER.clone()
}

/// SHA-1 of a DER certificate, as IAM thumbprints are written (lowercase hex).
pub fn thumbprint(cert: &[u8]) -> String {
    hex::encode(Sha1::digest(cert))
}

/// The verifier for one IAM OIDC provider's thumbprints.
#[derive(Debug)]
pub struct IdpCertVerifier {
    web: Arc<WebPkiServerVerifier>,
    /// Lowercase hex.
    thumbprints: Vec<String>,
}

impl IdpCertVerifier {
    pub fn new(thumbprints: &[String]) -> IdpCertVerifier {
        IdpCertVerifier { web: web_roots(), thumbprints: thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect() }
    }

    /// Verifies the chain with a thumbprinted certificate from it as the only
    /// trust anchor.
    fn verify_with_thumbprints(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> bool {
        for cert in std::iter::once(end_entity).chain(intermediates) {
            if !self.thumbprints.contains(&thumbprint(cert)) {
                continue;
            }
            let mut anchor = RootCertStore::empty();
            if anchor.add(cert.clone().into_owned()).is_err() {
                continue;
            }
            let Ok(verifier) = WebPkiServerVerifier::builder_with_provider(Arc::new(anchor), crypto()).build() else {
                continue;
            };
            if verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).is_ok() {
                return true;
            }
        }
        false
    }
}

impl ServerCertVerifier for IdpCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.web.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Ok(v) => Ok(v),
            Err(e) if self.verify_with_thumbprints(end_entity, intermediates, server_name, ocsp, now) => {
                tracing::debug!(error = %e, "IdP certificate trusted through a provider thumbprint");
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.web.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.web.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.web.supported_verify_schemes()
    }
}

/// A TLS client configuration for one provider.
pub fn client_config(thumbprints: &[String]) -> Result<rustls::ClientConfig, rustls::Error> {
    Ok(rustls::ClientConfig::builder_with_provider(crypto())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(IdpCertVerifier::new(thumbprints)))
        .with_no_client_auth())
}
