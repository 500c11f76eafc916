//! XML signatures of a SAML Response: shape checked here, cryptography done
//! by libxmlsec1 (through samael) with the metadata's certificates only.

use crate::dom::{self, children, is, unique_child};
use crate::{NS_ASSERTION, NS_DSIG, NS_PROTOCOL};
use roxmltree::{Document, Node};
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};

/// SHA-1 is refused: only SHA-2 signatures and digests.
const ALLOWED: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Canonicalizations a SAML signature may use (SAML core 5.4.3/5.4.4).
const CANONICALIZATIONS: [&str; 5] = [
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
];
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Which element a verified signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    Response,
    Assertion,
}

/// The canonical bytes of the one element whose signature verified, as
/// xmlsec hashed them, and what that element is.
pub struct SignedContent {
    pub xml: String,
    pub signed: Signed,
}

/// Every ds:Signature must be the enveloped signature of a Response or an
/// Assertion, referencing exactly its parent by ID, with SAML's transforms
/// only (no XPath, no XSLT). Returns the IDs of the signed elements.
pub fn check_shape(doc: &Document<'_>) -> Result<Vec<String>, String> {
    let mut signed_ids = Vec::new();
    for sig in dom::descendants(doc.root_element(), NS_DSIG, "Signature") {
        let parent = sig.parent_element().ok_or("a Signature has no parent element")?;
        if !(is(parent, NS_PROTOCOL, "Response") || is(parent, NS_ASSERTION, "Assertion")) {
            return Err("a Signature must sign a Response or an Assertion".into());
        }
        if children(parent, NS_DSIG, "Signature").count() != 1 {
            return Err("an element carries more than one Signature".into());
        }
        let id = parent.attribute("ID").filter(|id| !id.is_empty()).ok_or("a signed element has no ID")?;
        check_signed_info(sig, id)?;
        signed_ids.push(id.to_string());
    }
    if signed_ids.is_empty() {
        return Err("the Response is not signed".into());
    }
    // Another kind of ID attribute could let a reference resolve elsewhere.
    let xml_ns = "http://www.w3.org/XML/1998/namespace";
    if doc.descendants().any(|n| n.attributes().any(|a| a.namespace() == Some(xml_ns) && a.name() == "id")) {
        return Err("xml:id attributes are not allowed".into());
    }
    Ok(signed_ids)
}

fn check_signed_info(sig: Node<'_, '_>, parent_id: &str) -> Result<(), String> {
    let info = unique_child(sig, NS_DSIG, "SignedInfo")?.ok_or("a Signature has no SignedInfo")?;
    let c14n = unique_child(info, NS_DSIG, "CanonicalizationMethod")?
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or("SignedInfo has no CanonicalizationMethod")?;
    if !CANONICALIZATIONS.contains(&c14n) {
        return Err(format!("canonicalization {c14n} is not allowed"));
    }
    let method = unique_child(info, NS_DSIG, "SignatureMethod")?
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or("SignedInfo has no SignatureMethod")?;
    if !ALLOWED.iter().any(|a| a.signature_uri() == method) {
        return Err(format!("signature method {method} is not allowed"));
    }
    let mut references = children(info, NS_DSIG, "Reference");
    let reference = references.next().ok_or("SignedInfo has no Reference")?;
    if references.next().is_some() {
        return Err("SignedInfo has more than one Reference".into());
    }
    if reference.attribute("URI") != Some(&format!("#{parent_id}")) {
        return Err("the Reference does not name the signed element's ID".into());
    }
    if let Some(transforms) = unique_child(reference, NS_DSIG, "Transforms")? {
        for t in transforms.children().filter(|n| n.is_element()) {
            let alg = t.attribute("Algorithm").unwrap_or_default();
            if !is(t, NS_DSIG, "Transform") || !(alg == ENVELOPED || CANONICALIZATIONS.contains(&alg)) {
                return Err(format!("transform {alg} is not allowed"));
            }
        }
    }
    let digest = unique_child(reference, NS_DSIG, "DigestMethod")?
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or("the Reference has no DigestMethod")?;
    if !ALLOWED.iter().any(|a| a.digest_uri() == digest) {
        return Err(format!("digest method {digest} is not allowed"));
    }
    Ok(())
}

// libxmlsec1 prints every verification failure to stderr by default; a
// server must not let anyone on the network write to its log that way.
#[link(name = "xmlsec1")]
extern "C" {
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::os::raw::c_int);
}

fn quiet_xmlsec() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: sets one int flag in libxmlsec1, valid before or after xmlSecInit.
    ONCE.call_once(|| unsafe { xmlSecErrorsDefaultCallbackEnableOutput(0) });
}

/// Verifies every signature in `xml` with one of `certificates` (KeyInfo in
/// the message is ignored: xmlsec is handed the key) and returns the content
/// the Response's signature covers, or the Assertion's when only it is signed.
pub fn verified_content(xml: &str, signed_ids: &[String], certificates: &[Vec<u8>]) -> Result<SignedContent, String> {
    quiet_xmlsec();
    let certs: Vec<CertificateDer> = certificates.iter().cloned().map(CertificateDer::from).collect();
    let predigest =
        Crypto::reduce_xml_to_signed_with_allowed_algorithms(xml, &certs, ReduceMode::PreDigest, Some(&ALLOWED))
            .map_err(|_| "Response signature invalid".to_string())?;
    // What was hashed must be one whole element that a Signature names.
    let doc = dom::parse(&predigest).map_err(|_| "the signed content is not one element".to_string())?;
    let root = doc.root_element();
    let signed = if is(root, NS_PROTOCOL, "Response") {
        Signed::Response
    } else if is(root, NS_ASSERTION, "Assertion") {
        Signed::Assertion
    } else {
        return Err("the signature covers neither a Response nor an Assertion".into());
    };
    let id = root.attribute("ID").unwrap_or_default();
    if !signed_ids.iter().any(|s| s == id) {
        return Err("the signed content is not the element the signature names".into());
    }
    Ok(SignedContent { xml: predigest, signed })
}

#[cfg(test)]
mod tests {
    //! Each layer on its own: these inputs would also be stopped earlier by
    //! the Response checks ("exactly one Assertion").
    use super::*;
    use crate::response::test_support::{Spec, TestIdp};

    fn parts() -> (TestIdp, Spec) {
        let idp = TestIdp::new("https://idp.example.com");
        let s = Spec::new("https://idp.example.com", 1_900_000_000);
        (idp, s)
    }

    #[test]
    fn only_the_signed_assertion_is_handed_back_when_an_evil_one_sits_beside_it() {
        let (idp, s) = parts();
        let signed = idp.sign(&s.assertion(true));
        let mut evil = s.clone();
        evil.assertion_id = "_evil".into();
        evil.name_id = "root@example.com".into();
        let xml = s.response(&format!("{}{signed}", evil.assertion(false)), false);
        let doc = dom::parse(&xml).unwrap();
        let ids = check_shape(&doc).unwrap();
        let content = verified_content(&xml, &ids, std::slice::from_ref(&idp.cert_der)).unwrap();
        assert_eq!(content.signed, Signed::Assertion);
        assert!(content.xml.contains("alice@example.com"));
        assert!(!content.xml.contains("root@example.com"));
    }

    #[test]
    fn a_signature_moved_away_from_what_it_signs_has_the_wrong_shape() {
        let (idp, s) = parts();
        let signed = idp.sign(&s.response(&s.assertion(false), true));
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let mut evil = s.clone();
        evil.response_id = "_evil".into();
        let original = format!("{}{}", &signed[..start], &signed[end..]);
        let xml = evil.response(&format!("{}{original}", &signed[start..end]), false);
        let doc = dom::parse(&xml).unwrap();
        assert!(check_shape(&doc).is_err());
    }

    #[test]
    fn the_metadata_certificate_is_the_only_key() {
        let (idp, s) = parts();
        let other = TestIdp::new("https://idp.example.com");
        let xml = s.response(&other.sign(&s.assertion(true)), false);
        let doc = dom::parse(&xml).unwrap();
        let ids = check_shape(&doc).unwrap();
        assert!(verified_content(&xml, &ids, std::slice::from_ref(&idp.cert_der)).is_err());
        assert!(verified_content(&xml, &ids, std::slice::from_ref(&other.cert_der)).is_ok());
        assert!(verified_content(&xml, &ids, &[]).is_err());
    }
}
