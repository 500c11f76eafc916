//! SAML 2.0 for latchkey's AssumeRoleWithSAML: an identity provider's
//! metadata (who it is, which certificates sign for it) and the Responses it
//! signs, checked as values — no I/O, no clock (the caller passes `now`).
//!
//! XML signatures are verified by libxmlsec1 (through samael), with the
//! certificates from the provider's metadata only. Everything read from a
//! Response afterwards is read from the bytes the signature covered (xmlsec's
//! pre-digest buffer), never from the document as sent, so elements an
//! attacker wraps around or beside the signed one are never seen.

mod dom;
pub mod metadata;
pub mod response;
mod signature;

pub use metadata::{IdpMetadata, MetadataError};
pub use response::{verify_response, Expectations, Rejection, RejectionKind, VerifiedAssertion};

/// SAML 2.0 namespaces.
pub(crate) const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(crate) const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub(crate) const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
