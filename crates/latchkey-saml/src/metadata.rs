//! An identity provider's SAML 2.0 metadata (an `md:EntityDescriptor`): its
//! entity ID, the certificates it signs with, and how long it stays valid.

use crate::dom::{self, children, is, unique_child};
use crate::{NS_DSIG, NS_METADATA};
use base64::Engine;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct MetadataError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// `EntityDescriptor/@entityID`: what the provider's assertions name as their Issuer.
    pub entity_id: String,
    /// DER certificates from the IDPSSODescriptor's KeyDescriptors whose use
    /// is `signing` or unspecified: the only keys a Response may be signed with.
    pub signing_certificates: Vec<Vec<u8>>,
    /// `EntityDescriptor/@validUntil`, Unix seconds.
    pub valid_until: Option<i64>,
}

const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

fn bad(why: impl Into<String>) -> MetadataError {
    MetadataError(why.into())
}

impl IdpMetadata {
    pub fn parse(xml: &str) -> Result<IdpMetadata, MetadataError> {
        let doc = dom::parse(xml).map_err(|e| bad(format!("not well-formed XML: {e}")))?;
        let root = doc.root_element();
        if !is(root, NS_METADATA, "EntityDescriptor") {
            return Err(bad("the root element must be an md:EntityDescriptor"));
        }
        let entity_id = root.attribute("entityID").unwrap_or_default().trim().to_string();
        if entity_id.is_empty() || entity_id.chars().count() > 1024 {
            return Err(bad("the EntityDescriptor needs an entityID of 1 to 1024 characters"));
        }
        let valid_until = match root.attribute("validUntil") {
            None => None,
            Some(v) => Some(dom::parse_instant(v).ok_or_else(|| bad("validUntil is not an xs:dateTime"))?),
        };
        let mut signing_certificates = Vec::new();
        let mut idp_descriptors = 0;
        for idp in children(root, NS_METADATA, "IDPSSODescriptor") {
            let protocols = idp.attribute("protocolSupportEnumeration").unwrap_or_default();
            if !protocols.split_whitespace().any(|p| p == SAML2_PROTOCOL) {
                continue;
            }
            idp_descriptors += 1;
            for key in children(idp, NS_METADATA, "KeyDescriptor") {
                match key.attribute("use") {
                    None | Some("signing") => {}
                    Some("encryption") => continue,
                    Some(other) => return Err(bad(format!("unknown KeyDescriptor use '{other}'"))),
                }
                let info = unique_child(key, NS_DSIG, "KeyInfo")
                    .map_err(bad)?
                    .ok_or_else(|| bad("a KeyDescriptor has no ds:KeyInfo"))?;
                for data in children(info, NS_DSIG, "X509Data") {
                    for cert in children(data, NS_DSIG, "X509Certificate") {
                        signing_certificates.push(certificate_der(&dom::text(cert).map_err(bad)?)?);
                    }
                }
            }
        }
        if idp_descriptors == 0 {
            return Err(bad("no IDPSSODescriptor supports the SAML 2.0 protocol"));
        }
        if signing_certificates.is_empty() {
            return Err(bad("the IDPSSODescriptor names no signing certificate"));
        }
        signing_certificates.dedup();
        Ok(IdpMetadata { entity_id, signing_certificates, valid_until })
    }
}

/// A ds:X509Certificate's base64 text as DER, checked to be a certificate.
fn certificate_der(text: &str) -> Result<Vec<u8>, MetadataError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| bad("an X509Certificate is not base64"))?;
    openssl::x509::X509::from_der(&der).map_err(|_| bad("an X509Certificate is not a DER certificate"))?;
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::test_support::{metadata_xml, TestIdp};

    #[test]
    fn entity_id_signing_certificates_and_valid_until_are_read() {
        let idp = TestIdp::new("https://idp.example.com/saml");
        let xml = metadata_xml(&idp.entity_id, &[(&idp.cert_der, Some("signing"))], Some("2099-01-01T00:00:00Z"));
        let md = IdpMetadata::parse(&xml).unwrap();
        assert_eq!(md.entity_id, "https://idp.example.com/saml");
        assert_eq!(md.signing_certificates, vec![idp.cert_der.clone()]);
        assert_eq!(md.valid_until, Some(4070908800));
    }

    #[test]
    fn keys_without_a_use_sign_and_encryption_keys_do_not() {
        let a = TestIdp::new("https://idp.example.com");
        let b = TestIdp::new("https://idp.example.com");
        let xml = metadata_xml(&a.entity_id, &[(&a.cert_der, None), (&b.cert_der, Some("encryption"))], None);
        let md = IdpMetadata::parse(&xml).unwrap();
        assert_eq!(md.signing_certificates, vec![a.cert_der.clone()]);
        assert_eq!(md.valid_until, None);
    }

    #[test]
    fn metadata_without_a_signing_certificate_is_refused() {
        let a = TestIdp::new("https://idp.example.com");
        let xml = metadata_xml(&a.entity_id, &[(&a.cert_der, Some("encryption"))], None);
        assert!(IdpMetadata::parse(&xml).is_err());
    }

    #[test]
    fn malformed_metadata_is_refused() {
        for xml in [
            "",
            "not xml",
            "<EntityDescriptor entityID='x'/>",
            "<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'/>",
            "<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata' entityID='x'/>",
        ] {
            assert!(IdpMetadata::parse(xml).is_err(), "{xml}");
        }
        let a = TestIdp::new("https://idp.example.com");
        let garbage_cert = metadata_xml(&a.entity_id, &[(b"not a certificate", Some("signing"))], None);
        assert!(IdpMetadata::parse(&garbage_cert).is_err());
        let bad_date = metadata_xml(&a.entity_id, &[(&a.cert_der, None)], Some("someday"));
        assert!(IdpMetadata::parse(&bad_date).is_err());
    }
}
