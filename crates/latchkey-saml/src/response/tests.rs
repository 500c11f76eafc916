use super::test_support::{b64, Spec, TestIdp, AWS_SAML};
use super::*;
use std::sync::OnceLock;

const NOW: i64 = 1_900_000_000;
const ENTITY: &str = "https://idp.example.com/saml";

fn idp() -> &'static TestIdp {
    static IDP: OnceLock<TestIdp> = OnceLock::new();
    IDP.get_or_init(|| TestIdp::new(ENTITY))
}

fn other_idp() -> &'static TestIdp {
    static IDP: OnceLock<TestIdp> = OnceLock::new();
    IDP.get_or_init(|| TestIdp::new(ENTITY))
}

fn audiences() -> Vec<String> {
    vec![AWS_SAML.to_string(), "urn:amazon:webservices".to_string()]
}

fn check(xml: &str) -> Result<VerifiedAssertion, Rejection> {
    check_at(xml, NOW)
}

fn check_at(xml: &str, now: i64) -> Result<VerifiedAssertion, Rejection> {
    let aud = audiences();
    verify_response(&b64(xml.as_bytes()), &idp().metadata(), &Expectations { audiences: &aud, now, skew: 60 })
}

fn spec() -> Spec {
    Spec::new(ENTITY, NOW)
}

fn rejected(xml: &str) -> Rejection {
    check(xml).expect_err("the Response must be refused")
}

#[test]
fn a_response_whose_assertion_is_signed_is_accepted() {
    let mut s = spec();
    s.attributes.push(("https://aws.amazon.com/SAML/Attributes/Role".into(), vec!["r,p".into(), "r2,p".into()]));
    let v = check(&s.assertion_signed(idp())).unwrap();
    assert_eq!(v.issuer, ENTITY);
    assert_eq!(v.name_id, "alice@example.com");
    assert_eq!(v.name_id_format.as_deref(), Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"));
    assert_eq!(v.recipient, AWS_SAML);
    assert_eq!(v.audiences, vec![AWS_SAML.to_string()]);
    assert_eq!(v.attribute("https://aws.amazon.com/SAML/Attributes/Role").unwrap(), ["r,p", "r2,p"]);
    assert_eq!(v.attribute("https://aws.amazon.com/SAML/Attributes/RoleSessionName").unwrap(), ["alice"]);
    assert_eq!(v.expires_at, NOW + 300);
    assert_eq!(v.id, s.assertion_id);
}

#[test]
fn a_response_signed_as_a_whole_is_accepted() {
    assert_eq!(check(&spec().response_signed(idp())).unwrap().name_id, "alice@example.com");
}

#[test]
fn a_response_signed_twice_is_accepted() {
    assert_eq!(check(&spec().both_signed(idp())).unwrap().name_id, "alice@example.com");
}

#[test]
fn an_unsigned_response_is_refused() {
    let s = spec();
    let r = rejected(&s.response(&s.assertion(false), false));
    assert_eq!(r.kind, RejectionKind::Invalid);
}

#[test]
fn a_signature_by_another_key_is_refused_even_with_its_certificate_in_key_info() {
    let s = spec();
    let signed = other_idp().sign(&s.assertion(true));
    // Put the attacker's certificate where a naive verifier would take it from.
    let key_info = format!(
        "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        b64(&other_idp().cert_der)
    );
    let with_cert = signed.replacen("</ds:Signature>", &key_info, 1);
    assert!(rejected(&s.response(&signed, false)).message.contains("signature"));
    assert!(rejected(&s.response(&with_cert, false)).message.contains("signature"));
}

#[test]
fn the_metadata_may_name_several_signing_certificates() {
    let s = spec();
    let xml = super::test_support::metadata_xml(
        ENTITY,
        &[(&idp().cert_der, Some("signing")), (&other_idp().cert_der, None)],
        None,
    );
    let md = IdpMetadata::parse(&xml).unwrap();
    let aud = audiences();
    let e = Expectations { audiences: &aud, now: NOW, skew: 60 };
    let by_other = s.response(&other_idp().sign(&s.assertion(true)), false);
    assert!(verify_response(&b64(by_other.as_bytes()), &md, &e).is_ok());
}

#[test]
fn a_changed_attribute_breaks_the_signature() {
    for signed in [spec().assertion_signed(idp()), spec().response_signed(idp())] {
        let tampered = signed.replace(">alice</saml:AttributeValue>", ">admin</saml:AttributeValue>");
        assert_ne!(tampered, signed);
        assert!(rejected(&tampered).message.contains("signature"));
    }
}

#[test]
fn a_changed_subject_breaks_the_signature() {
    let signed = spec().assertion_signed(idp());
    let tampered = signed.replace("alice@example.com", "root@example.com");
    assert!(rejected(&tampered).message.contains("signature"));
}

#[test]
fn a_comment_cannot_truncate_a_signed_name() {
    // The comment is outside the canonical form, so the signature holds; the
    // name read is still the whole signed name.
    let mut s = spec();
    s.name_id = "alice@example.com.evil.test".into();
    let signed = s.assertion_signed(idp());
    let commented = signed.replace("alice@example.com.evil.test", "alice@example.com<!---->.evil.test");
    assert_ne!(commented, signed);
    match check(&commented) {
        Ok(v) => assert_eq!(v.name_id, "alice@example.com.evil.test"),
        Err(e) => assert_eq!(e.kind, RejectionKind::Invalid),
    }
}

/// An evil unsigned Assertion next to the signed one (XSW3/XSW4 family).
#[test]
fn an_unsigned_assertion_beside_the_signed_one_is_refused() {
    let s = spec();
    let signed_assertion = idp().sign(&s.assertion(true));
    let mut evil = s.clone();
    evil.assertion_id = "_evil".into();
    evil.name_id = "root@example.com".into();
    let evil_assertion = evil.assertion(false);
    let before = s.response(&format!("{evil_assertion}{signed_assertion}"), false);
    let after = s.response(&format!("{signed_assertion}{evil_assertion}"), false);
    assert!(rejected(&before).message.contains("exactly one Assertion"));
    assert!(rejected(&after).message.contains("exactly one Assertion"));
}

/// The signed Assertion wrapped inside an evil one (XSW4), or the evil one
/// inside the signed one's Signature (XSW8-like).
#[test]
fn a_signed_assertion_wrapped_in_an_evil_one_is_refused() {
    let s = spec();
    let signed_assertion = idp().sign(&s.assertion(true));
    let mut evil = s.clone();
    evil.assertion_id = "_evil".into();
    evil.name_id = "root@example.com".into();
    let evil_xml = evil.assertion(false);
    let wrapped = evil_xml.replacen("</saml:Assertion>", &format!("{signed_assertion}</saml:Assertion>"), 1);
    assert!(check(&s.response(&wrapped, false)).is_err());
    let object =
        signed_assertion.replacen("</ds:Signature>", &format!("<ds:Object>{evil_xml}</ds:Object></ds:Signature>"), 1);
    assert!(check(&s.response(&object, false)).is_err());
}

/// The Response's signature moved into an evil Response that carries the
/// original inside (XSW1/XSW2).
#[test]
fn a_signed_response_wrapped_in_an_evil_response_is_refused() {
    let s = spec();
    let signed = s.response_signed(idp());
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &signed[sig_start..sig_end];
    let original_without_sig = format!("{}{}", &signed[..sig_start], &signed[sig_end..]);
    let mut evil = s.clone();
    evil.response_id = "_evilresponse".into();
    evil.assertion_id = "_evilassertion".into();
    evil.name_id = "root@example.com".into();
    let evil_response = evil.response(&evil.assertion(false), false);
    // XSW1: the original as a ds:Object of the moved signature.
    let moved = signature.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{original_without_sig}</ds:Object></ds:Signature>"),
        1,
    );
    let xsw1 = evil_response.replacen("</saml:Issuer>", &format!("</saml:Issuer>{moved}"), 1);
    assert!(check(&xsw1).is_err());
    // XSW2: the original as a sibling of the signature (detached).
    let xsw2 = evil_response.replacen("</saml:Issuer>", &format!("</saml:Issuer>{original_without_sig}{signature}"), 1);
    assert!(check(&xsw2).is_err());
}

/// An evil Assertion holding the signed one's signature, the signed one
/// hidden inside it or in Extensions (XSW5-XSW7).
#[test]
fn a_signature_moved_onto_an_evil_assertion_is_refused() {
    let s = spec();
    let signed_assertion = idp().sign(&s.assertion(true));
    let sig_start = signed_assertion.find("<ds:Signature").unwrap();
    let sig_end = signed_assertion.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &signed_assertion[sig_start..sig_end];
    let mut evil = s.clone();
    evil.name_id = "root@example.com".into(); // same ID as the signed one
    let evil_with_sig = evil.assertion(false).replacen("</saml:Issuer>", &format!("</saml:Issuer>{signature}"), 1);
    let xsw5 = s.response(&format!("{evil_with_sig}{signed_assertion}"), false);
    assert!(check(&xsw5).is_err());
    let xsw7 = s.response(&evil_with_sig, false).replacen(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{signed_assertion}</samlp:Extensions><samlp:Status>"),
        1,
    );
    assert!(check(&xsw7).is_err());
    // Only the copied signature, nothing for it to cover.
    assert!(check(&s.response(&evil_with_sig, false)).is_err());
}

#[test]
fn duplicate_ids_are_refused() {
    let s = spec();
    let signed = s.assertion_signed(idp());
    let dup = signed.replacen(
        "<samlp:Status>",
        &format!("<samlp:Extensions><x ID=\"{}\"/></samlp:Extensions><samlp:Status>", s.assertion_id),
        1,
    );
    assert!(check(&dup).is_err());
}

#[test]
fn expired_assertions_are_refused_as_expired() {
    let signed = spec().assertion_signed(idp());
    assert!(check_at(&signed, NOW + 300 + 59).is_ok(), "within the skew");
    assert_eq!(check_at(&signed, NOW + 300 + 60).unwrap_err().kind, RejectionKind::Expired);
    let mut s = spec();
    s.confirmation_not_on_or_after = NOW - 120;
    assert_eq!(rejected(&s.assertion_signed(idp())).kind, RejectionKind::Expired);
}

#[test]
fn assertions_not_yet_valid_are_refused() {
    let mut s = spec();
    s.not_before = NOW + 120;
    assert!(rejected(&s.assertion_signed(idp())).message.contains("not yet valid"));
}

#[test]
fn an_audience_that_is_not_ours_is_refused() {
    let mut s = spec();
    s.audiences = vec!["https://elsewhere.example.com".into()];
    assert!(rejected(&s.assertion_signed(idp())).message.contains("Audience"));
    s.audiences = vec!["https://elsewhere.example.com".into(), "urn:amazon:webservices".into()];
    assert!(check(&s.assertion_signed(idp())).is_ok());
}

#[test]
fn a_recipient_that_is_not_ours_is_refused() {
    let mut s = spec();
    s.recipient = "https://elsewhere.example.com/acs".into();
    assert!(rejected(&s.assertion_signed(idp())).message.contains("Recipient"));
}

#[test]
fn the_issuer_must_be_the_providers_entity_id() {
    let mut s = spec();
    s.issuer = "https://other-idp.example.com".into();
    assert!(rejected(&s.assertion_signed(idp())).message.contains("Issuer"));
}

#[test]
fn a_failed_status_is_the_providers_refusal() {
    let mut s = spec();
    s.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into();
    assert_eq!(rejected(&s.response_signed(idp())).kind, RejectionKind::IdpRejected);
    assert_eq!(rejected(&s.assertion_signed(idp())).kind, RejectionKind::IdpRejected);
}

#[test]
fn structured_attribute_values_are_left_out() {
    let mut s = spec();
    s.attributes.push((
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.10".into(),
        vec!["<saml:NameID>opaque</saml:NameID>".into(), "plain".into()],
    ));
    let v = check(&s.assertion_signed(idp())).unwrap();
    assert_eq!(v.attribute("urn:oid:1.3.6.1.4.1.5923.1.1.1.10").unwrap(), ["plain"]);
}

#[test]
fn session_not_on_or_after_is_reported() {
    let mut s = spec();
    s.session_not_on_or_after = Some(NOW + 1000);
    assert_eq!(check(&s.assertion_signed(idp())).unwrap().session_not_on_or_after, Some(NOW + 1000));
}

#[test]
fn sha1_signatures_are_refused() {
    let s = spec();
    let sha1 = s
        .assertion(true)
        .replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
        .replace("http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2000/09/xmldsig#sha1");
    let signed = idp().sign(&sha1);
    assert!(rejected(&s.response(&signed, false)).message.contains("not allowed"));
}

#[test]
fn xslt_and_xpath_transforms_are_refused() {
    let s = spec();
    let signed = s.assertion_signed(idp());
    let xpath = signed.replacen(
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></ds:Transform>",
        1,
    );
    assert_ne!(xpath, signed);
    assert!(rejected(&xpath).message.contains("transform"));
}

#[test]
fn two_subject_confirmations_are_refused() {
    let s = spec();
    let xml = s.assertion(true).replacen(
        "</saml:Subject>",
        "<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData NotOnOrAfter=\"2099-01-01T00:00:00Z\" Recipient=\"https://signin.aws.amazon.com/saml\"/></saml:SubjectConfirmation></saml:Subject>",
        1,
    );
    let signed = idp().sign(&xml);
    assert!(rejected(&s.response(&signed, false)).message.contains("SubjectConfirmation"));
}

#[test]
fn encrypted_assertions_are_refused() {
    let s = spec();
    let xml = s.response("<saml:EncryptedAssertion><x/></saml:EncryptedAssertion>", true);
    assert!(rejected(&idp().sign(&xml)).message.contains("Encrypted"));
}

#[test]
fn garbage_is_refused_without_a_panic() {
    let aud = audiences();
    let e = Expectations { audiences: &aud, now: NOW, skew: 60 };
    for input in
        ["", "%%%", "PHg+", &b64(b"<x/>"), &b64(b"\xff\xfe"), &b64(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")]
    {
        assert!(verify_response(input, &idp().metadata(), &e).is_err(), "{input}");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let aud = audiences();
            let e = Expectations { audiences: &aud, now: NOW, skew: 60 };
            let md = idp().metadata();
            let _ = verify_response(&b64(&bytes), &md, &e);
            let _ = verify_response(&String::from_utf8_lossy(&bytes), &md, &e);
        }

        #[test]
        fn a_changed_byte_of_a_signed_response_never_panics_nor_changes_the_claims(
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let signed = signed_sample();
            let mut bytes = signed.as_bytes().to_vec();
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            let aud = audiences();
            let e = Expectations { audiences: &aud, now: NOW, skew: 60 };
            if let Ok(v) = verify_response(&b64(&bytes), &idp().metadata(), &e) {
                // Only changes outside the signed content (or none) may pass.
                prop_assert_eq!(v.name_id.as_str(), "alice@example.com");
                prop_assert_eq!(v.attribute("https://aws.amazon.com/SAML/Attributes/RoleSessionName").unwrap(), ["alice".to_string()]);
            }
        }
    }

    fn signed_sample() -> &'static str {
        static SAMPLE: OnceLock<String> = OnceLock::new();
        SAMPLE.get_or_init(|| spec().assertion_signed(idp()))
    }
}
