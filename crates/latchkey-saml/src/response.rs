//! A base64 `samlp:Response` checked as AWS's sign-in endpoint checks it:
//! signed by the provider (the Response, or its one Assertion), issued by the
//! provider, for one of our audiences and recipients, within its validity
//! window, with a Success status. The claims come only from the signed bytes.

use crate::dom::{self, children, is, unique_child};
use crate::metadata::IdpMetadata;
use crate::signature::{self, Signed};
use crate::{NS_ASSERTION, NS_PROTOCOL};
use base64::Engine;
use roxmltree::Node;

/// What the caller accepts.
pub struct Expectations<'a> {
    /// Accepted `Audience` values, and accepted `Recipient`s of the subject confirmation.
    pub audiences: &'a [String],
    /// Unix seconds.
    pub now: i64,
    /// Clock skew tolerated on every time bound, in seconds.
    pub skew: i64,
}

/// The claims of a Response whose signature verified and whose conditions hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The Assertion's ID: what one-time use is remembered by.
    pub id: String,
    pub issuer: String,
    /// `Subject/NameID`.
    pub name_id: String,
    /// `Subject/NameID/@Format`, if given.
    pub name_id_format: Option<String>,
    /// `SubjectConfirmationData/@Recipient`.
    pub recipient: String,
    /// Every `AudienceRestriction/Audience`.
    pub audiences: Vec<String>,
    /// `Attribute/@Name` → its values, in document order.
    pub attributes: Vec<(String, Vec<String>)>,
    /// The earliest `AuthnStatement/@SessionNotOnOrAfter`, Unix seconds.
    pub session_not_on_or_after: Option<i64>,
    /// When the assertion stops being acceptable (its earliest NotOnOrAfter), Unix seconds.
    pub expires_at: i64,
}

impl VerifiedAssertion {
    /// The values of the attribute with this exact name (names are case-sensitive in SAML).
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// Why a Response was refused; the kind decides the AWS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// Malformed, unsigned, badly signed, or not meant for us: InvalidIdentityToken.
    Invalid,
    /// Past its NotOnOrAfter: ExpiredTokenException.
    Expired,
    /// The provider reported a failed authentication: IDPRejectedClaim.
    IdpRejected,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    /// Says what was wrong without echoing the assertion.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> Rejection {
    Rejection { kind: RejectionKind::Invalid, message: message.into() }
}

fn expired() -> Rejection {
    Rejection { kind: RejectionKind::Expired, message: "The SAML assertion has expired.".into() }
}

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

pub fn verify_response(
    saml_response_b64: &str,
    metadata: &IdpMetadata,
    expect: &Expectations<'_>,
) -> Result<VerifiedAssertion, Rejection> {
    let compact: Vec<u8> = saml_response_b64.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| invalid("Invalid base64 SAMLResponse."))?;
    let xml = String::from_utf8(raw).map_err(|_| invalid("The SAMLResponse is not UTF-8."))?;
    let doc = dom::parse(&xml).map_err(|_| invalid("The SAMLResponse is not well-formed XML."))?;
    let response = doc.root_element();
    if !is(response, NS_PROTOCOL, "Response") || response.attribute("Version") != Some("2.0") {
        return Err(invalid("The SAMLResponse is not a SAML 2.0 samlp:Response."));
    }
    if dom::descendants(response, NS_ASSERTION, "EncryptedAssertion").next().is_some() {
        return Err(invalid("Encrypted assertions are not supported."));
    }
    // Exactly one assertion anywhere, and as a direct child of the Response.
    let assertion_ids: Vec<&str> =
        dom::descendants(response, NS_ASSERTION, "Assertion").map(|a| a.attribute("ID").unwrap_or_default()).collect();
    if assertion_ids.len() != 1 || children(response, NS_ASSERTION, "Assertion").count() != 1 {
        return Err(invalid("The SAMLResponse must contain exactly one Assertion."));
    }
    let signed_ids = signature::check_shape(&doc).map_err(|e| invalid(format!("Response signature invalid: {e}.")))?;
    let content = signature::verified_content(&xml, &signed_ids, &metadata.signing_certificates)
        .map_err(|e| invalid(format!("{e}.")))?;
    let signed_doc = dom::parse(&content.xml).map_err(|_| invalid("Response signature invalid."))?;
    let signed_root = signed_doc.root_element();

    // The status is checked where it is signed if the Response is; an
    // unsigned status can only turn a success into a refusal.
    let status_holder = if content.signed == Signed::Response { signed_root } else { response };
    check_status(status_holder)?;
    let response_issuer = if content.signed == Signed::Response { signed_root } else { response };
    if let Some(issuer) = unique_child(response_issuer, NS_ASSERTION, "Issuer").map_err(invalid)? {
        if dom::trimmed_text(issuer).map_err(invalid)? != metadata.entity_id {
            return Err(invalid("Issuer not present in specified provider."));
        }
    }
    let assertion = match content.signed {
        Signed::Assertion => signed_root,
        Signed::Response => {
            let mut found = children(signed_root, NS_ASSERTION, "Assertion");
            match (found.next(), found.next()) {
                (Some(a), None) => a,
                _ => return Err(invalid("The SAMLResponse must contain exactly one Assertion.")),
            }
        }
    };
    if assertion.attribute("ID") != Some(assertion_ids[0]) {
        return Err(invalid("The signed Assertion is not the one in the Response."));
    }
    read_assertion(assertion, metadata, expect)
}

fn check_status(response: Node<'_, '_>) -> Result<(), Rejection> {
    let code = unique_child(response, NS_PROTOCOL, "Status")
        .map_err(invalid)?
        .map(|s| unique_child(s, NS_PROTOCOL, "StatusCode"))
        .transpose()
        .map_err(invalid)?
        .flatten()
        .and_then(|c| c.attribute("Value"));
    match code {
        Some(SUCCESS) => Ok(()),
        Some(_) => Err(Rejection {
            kind: RejectionKind::IdpRejected,
            message: "The identity provider reported that authentication failed.".into(),
        }),
        None => Err(invalid("The SAMLResponse has no Status.")),
    }
}

/// A time window check: `not_before` ≤ now < `not_on_or_after`, with skew.
fn check_window(
    not_before: Option<&str>,
    not_on_or_after: Option<&str>,
    expect: &Expectations<'_>,
) -> Result<Option<i64>, Rejection> {
    if let Some(nb) = not_before {
        let nb = dom::parse_instant(nb).ok_or_else(|| invalid("NotBefore is not an xs:dateTime."))?;
        if expect.now + expect.skew < nb {
            return Err(invalid("The SAML assertion is not yet valid."));
        }
    }
    match not_on_or_after {
        None => Ok(None),
        Some(end) => {
            let end = dom::parse_instant(end).ok_or_else(|| invalid("NotOnOrAfter is not an xs:dateTime."))?;
            if expect.now - expect.skew >= end {
                return Err(expired());
            }
            Ok(Some(end))
        }
    }
}

fn read_assertion(
    a: Node<'_, '_>,
    md: &IdpMetadata,
    expect: &Expectations<'_>,
) -> Result<VerifiedAssertion, Rejection> {
    if a.attribute("Version") != Some("2.0") {
        return Err(invalid("The Assertion is not SAML 2.0."));
    }
    let id = a.attribute("ID").unwrap_or_default().to_string();
    let issuer_node = unique_child(a, NS_ASSERTION, "Issuer")
        .map_err(invalid)?
        .ok_or_else(|| invalid("The Assertion has no Issuer."))?;
    let issuer = dom::trimmed_text(issuer_node).map_err(invalid)?;
    if issuer != md.entity_id {
        return Err(invalid("Issuer not present in specified provider."));
    }

    // Conditions: the validity window and the audiences (AWS requires one of its own).
    let conditions = unique_child(a, NS_ASSERTION, "Conditions")
        .map_err(invalid)?
        .ok_or_else(|| invalid("The Assertion has no Conditions."))?;
    let mut expires_at = check_window(conditions.attribute("NotBefore"), conditions.attribute("NotOnOrAfter"), expect)?;
    let mut audiences = Vec::new();
    let mut restrictions = 0;
    for restriction in children(conditions, NS_ASSERTION, "AudienceRestriction") {
        restrictions += 1;
        let mut ours = false;
        for aud in children(restriction, NS_ASSERTION, "Audience") {
            let aud = dom::trimmed_text(aud).map_err(invalid)?;
            ours |= expect.audiences.contains(&aud);
            audiences.push(aud);
        }
        // Each AudienceRestriction must be met on its own (SAML core 2.5.1.4).
        if !ours {
            return Err(invalid("The SAML assertion's Audience is not this service."));
        }
    }
    if restrictions == 0 {
        return Err(invalid("The SAML assertion has no AudienceRestriction."));
    }

    // Subject: one NameID, exactly one bearer confirmation for one of our recipients.
    let subject = unique_child(a, NS_ASSERTION, "Subject")
        .map_err(invalid)?
        .ok_or_else(|| invalid("The Assertion has no Subject."))?;
    if dom::descendants(subject, NS_ASSERTION, "EncryptedID").next().is_some() {
        return Err(invalid("Encrypted NameIDs are not supported."));
    }
    let name_id_node = unique_child(subject, NS_ASSERTION, "NameID")
        .map_err(invalid)?
        .ok_or_else(|| invalid("The Subject has no NameID."))?;
    let name_id = dom::trimmed_text(name_id_node).map_err(invalid)?;
    if name_id.is_empty() {
        return Err(invalid("The Subject's NameID is empty."));
    }
    let name_id_format = name_id_node.attribute("Format").map(str::to_string);
    let mut confirmations = children(subject, NS_ASSERTION, "SubjectConfirmation");
    let confirmation = match (confirmations.next(), confirmations.next()) {
        (Some(c), None) => c,
        _ => return Err(invalid("The Subject must have exactly one SubjectConfirmation.")),
    };
    if confirmation.attribute("Method") != Some(BEARER) {
        return Err(invalid("The SubjectConfirmation method must be bearer."));
    }
    let data = unique_child(confirmation, NS_ASSERTION, "SubjectConfirmationData")
        .map_err(invalid)?
        .ok_or_else(|| invalid("The SubjectConfirmation has no SubjectConfirmationData."))?;
    let recipient = data.attribute("Recipient").unwrap_or_default().trim().to_string();
    if !expect.audiences.contains(&recipient) {
        return Err(invalid("The SubjectConfirmationData Recipient is not this service."));
    }
    if data.attribute("NotOnOrAfter").is_none() {
        return Err(invalid("The SubjectConfirmationData has no NotOnOrAfter."));
    }
    let confirmation_end = check_window(data.attribute("NotBefore"), data.attribute("NotOnOrAfter"), expect)?;
    expires_at = match (expires_at, confirmation_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    // Authentication: at least one statement; the session ends by the earliest SessionNotOnOrAfter.
    let mut session_not_on_or_after: Option<i64> = None;
    let mut authn = 0;
    for statement in children(a, NS_ASSERTION, "AuthnStatement") {
        authn += 1;
        if let Some(v) = statement.attribute("SessionNotOnOrAfter") {
            let t = dom::parse_instant(v).ok_or_else(|| invalid("SessionNotOnOrAfter is not an xs:dateTime."))?;
            if expect.now - expect.skew >= t {
                return Err(expired());
            }
            session_not_on_or_after = Some(session_not_on_or_after.map_or(t, |s| s.min(t)));
        }
    }
    if authn == 0 {
        return Err(invalid("The Assertion has no AuthnStatement."));
    }

    let expires_at = expires_at.ok_or_else(|| invalid("The SubjectConfirmationData has no NotOnOrAfter."))?;
    let mut attributes: Vec<(String, Vec<String>)> = Vec::new();
    for statement in children(a, NS_ASSERTION, "AttributeStatement") {
        if children(statement, NS_ASSERTION, "EncryptedAttribute").next().is_some() {
            return Err(invalid("Encrypted attributes are not supported."));
        }
        for attr in children(statement, NS_ASSERTION, "Attribute") {
            let name = attr.attribute("Name").unwrap_or_default().to_string();
            let mut values = Vec::new();
            for v in children(attr, NS_ASSERTION, "AttributeValue") {
                // Structured values (a NameID inside eduPersonTargetedID, say)
                // are no string a policy could compare: left out, not misread.
                if v.children().any(|c| c.is_element()) {
                    continue;
                }
                values.push(dom::trimmed_text(v).map_err(invalid)?);
            }
            match attributes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, existing)) => existing.extend(values),
                None => attributes.push((name, values)),
            }
        }
    }
    Ok(VerifiedAssertion {
        id,
        issuer,
        name_id,
        name_id_format,
        recipient,
        audiences,
        attributes,
        session_not_on_or_after,
        expires_at,
    })
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests;
