//! Federation: identities from outside IAM (OpenID Connect, SAML 2.0, LDAP)
//! exchanged for role sessions. Each provider's proof is checked here; the
//! role's trust policy then decides, through the one gate, as for AssumeRole.

pub mod cors;
mod idp_tls;
mod jwks;
mod jwt;
pub mod ldap;
pub mod oidc;
pub mod saml;
mod saml_claims;

/// Every parser of untrusted federation and monitoring input, for the fuzz
/// target: JWT headers and claims, JWKS documents, SAML metadata, bucket
/// logging configurations and audit log lines never panic.
pub fn fuzz_parsers(data: &[u8]) {
    let _ = jwt::parse_jwks(data);
    let _ = crate::s3::logging::parse(data);
    let _ = serde_json::from_slice::<latchkey_audit::AuditEvent>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jwt::read_unverified(text);
        let _ = latchkey_saml::IdpMetadata::parse(text);
    }
}
