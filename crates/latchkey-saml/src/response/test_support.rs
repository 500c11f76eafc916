//! Test identity providers: a fresh RSA key and self-signed certificate,
//! metadata naming it, and Responses signed with it by xmlsec at test time.

use crate::metadata::IdpMetadata;
use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use samael::crypto::{Crypto, CryptoProvider};

pub struct TestIdp {
    pub entity_id: String,
    pub key_der: Vec<u8>,
    pub cert_der: Vec<u8>,
}

impl TestIdp {
    pub fn new(entity_id: &str) -> TestIdp {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test idp").unwrap();
        let name = name.build();
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(365).unwrap()).unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        TestIdp {
            entity_id: entity_id.to_string(),
            key_der: key.private_key_to_der().unwrap(),
            cert_der: cert.build().to_der().unwrap(),
        }
    }

    pub fn metadata(&self) -> IdpMetadata {
        IdpMetadata::parse(&metadata_xml(&self.entity_id, &[(&self.cert_der, Some("signing"))], None)).unwrap()
    }

    /// Signs the first ds:Signature template in `xml` (document order).
    pub fn sign(&self, xml: &str) -> String {
        let signed = Crypto::sign_xml(xml, &self.key_der).unwrap();
        strip_declaration(&signed)
    }
}

pub fn strip_declaration(xml: &str) -> String {
    match xml.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, body)| body.trim().to_string()).unwrap_or_default(),
        None => xml.trim().to_string(),
    }
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn metadata_xml(entity_id: &str, certs: &[(&[u8], Option<&str>)], valid_until: Option<&str>) -> String {
    let mut keys = String::new();
    for (der, usage) in certs {
        let usage = usage.map(|u| format!(" use=\"{u}\"")).unwrap_or_default();
        keys.push_str(&format!(
            "<md:KeyDescriptor{usage}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            b64(der)
        ));
    }
    let valid = valid_until.map(|v| format!(" validUntil=\"{v}\"")).unwrap_or_default();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}"{valid}><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

pub fn instant(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

pub const AWS_SAML: &str = "https://signin.aws.amazon.com/saml";

/// What a test Response says; every field can be bent by a test.
#[derive(Clone)]
pub struct Spec {
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub status: String,
    pub audiences: Vec<String>,
    pub recipient: String,
    pub name_id: String,
    pub name_id_format: String,
    pub not_before: i64,
    pub not_on_or_after: i64,
    pub confirmation_not_on_or_after: i64,
    pub session_not_on_or_after: Option<i64>,
    pub attributes: Vec<(String, Vec<String>)>,
}

impl Spec {
    pub fn new(issuer: &str, now: i64) -> Spec {
        Spec {
            response_id: format!("_r{now}"),
            assertion_id: format!("_a{now}"),
            issuer: issuer.to_string(),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            audiences: vec![AWS_SAML.into()],
            recipient: AWS_SAML.into(),
            name_id: "alice@example.com".into(),
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into(),
            not_before: now - 60,
            not_on_or_after: now + 300,
            confirmation_not_on_or_after: now + 300,
            session_not_on_or_after: None,
            attributes: vec![("https://aws.amazon.com/SAML/Attributes/RoleSessionName".into(), vec!["alice".into()])],
        }
    }

    pub fn assertion(&self, with_template: bool) -> String {
        let sig = if with_template { signature_template(&self.assertion_id) } else { String::new() };
        let audiences: String = self.audiences.iter().map(|a| format!("<saml:Audience>{a}</saml:Audience>")).collect();
        let session = self
            .session_not_on_or_after
            .map(|s| format!(" SessionNotOnOrAfter=\"{}\"", instant(s)))
            .unwrap_or_default();
        let mut attrs = String::new();
        for (name, values) in &self.attributes {
            attrs.push_str(&format!("<saml:Attribute Name=\"{name}\">"));
            for v in values {
                attrs.push_str(&format!("<saml:AttributeValue>{v}</saml:AttributeValue>"));
            }
            attrs.push_str("</saml:Attribute>");
        }
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{nb}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="{fmt}">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{scd}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction>{audiences}</saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{nb}"{session}><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>"#,
            id = self.assertion_id,
            nb = instant(self.not_before),
            issuer = self.issuer,
            fmt = self.name_id_format,
            name_id = self.name_id,
            scd = instant(self.confirmation_not_on_or_after),
            recipient = self.recipient,
            noa = instant(self.not_on_or_after),
        )
    }

    pub fn response(&self, assertion: &str, with_template: bool) -> String {
        let sig = if with_template { signature_template(&self.response_id) } else { String::new() };
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{t}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#,
            id = self.response_id,
            t = instant(self.not_before),
            dest = self.recipient,
            issuer = self.issuer,
            status = self.status,
        )
    }

    /// A Response whose Assertion is signed.
    pub fn assertion_signed(&self, idp: &TestIdp) -> String {
        let assertion = idp.sign(&self.assertion(true));
        self.response(&assertion, false)
    }

    /// A Response signed as a whole (its Assertion unsigned).
    pub fn response_signed(&self, idp: &TestIdp) -> String {
        idp.sign(&self.response(&self.assertion(false), true))
    }

    /// Both signed.
    pub fn both_signed(&self, idp: &TestIdp) -> String {
        let assertion = idp.sign(&self.assertion(true));
        idp.sign(&self.response(&assertion, true))
    }
}

pub fn signature_template(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
    )
}
