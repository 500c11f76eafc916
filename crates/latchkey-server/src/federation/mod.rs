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
