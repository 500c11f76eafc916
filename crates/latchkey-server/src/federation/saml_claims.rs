//! What a verified SAML assertion says to AWS: the role/provider pairs it
//! grants, the session it asks for (name, duration, tags, source identity),
//! and the `saml:*` condition keys trust policies check (IAM User Guide,
//! "Configure SAML assertions for the authentication response" and
//! "Available keys for SAML-based AWS STS federation").

use crate::error::{ErrorCode, S3Error, S3Result};
use base64::Engine;
use latchkey_saml::VerifiedAssertion;
use sha1::{Digest, Sha1};

const ATTR: &str = "https://aws.amazon.com/SAML/Attributes/";
const ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
const ROLE_SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
const SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
const PRINCIPAL_TAG: &str = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:";
const TRANSITIVE_TAG_KEYS: &str = "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys";
const SOURCE_IDENTITY: &str = "https://aws.amazon.com/SAML/Attributes/SourceIdentity";

/// Attribute names (as OIDs) → the saml: condition keys AWS maps them to.
const ATTRIBUTE_KEYS: [(&str, &[&str]); 23] = [
    ("urn:oid:2.5.4.3", &["saml:cn", "saml:commonName"]),
    ("urn:oid:2.5.4.42", &["saml:givenName"]),
    ("urn:oid:2.5.4.4", &["saml:surname"]),
    ("urn:oid:2.5.4.41", &["saml:name"]),
    ("urn:oid:2.5.4.45", &["saml:x500UniqueIdentifier"]),
    ("urn:oid:0.9.2342.19200300.100.1.1", &["saml:uid"]),
    ("urn:oid:0.9.2342.19200300.100.1.3", &["saml:mail"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", &["saml:edupersonaffiliation"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.2", &["saml:edupersonnickname"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.3", &["saml:edupersonorgdn"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.4", &["saml:edupersonorgunitdn"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.5", &["saml:edupersonprimaryaffiliation"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", &["saml:edupersonprincipalname"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.7", &["saml:edupersonentitlement"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.8", &["saml:edupersonprimaryorgunitdn"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.9", &["saml:edupersonscopedaffiliation"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.10", &["saml:edupersontargetedid"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.11", &["saml:edupersonassurance"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.2", &["saml:eduorghomepageuri"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.3", &["saml:eduorgidentityauthnpolicyuri"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.4", &["saml:eduorglegalname"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.5", &["saml:eduorgsuperioruri"]),
    ("urn:oid:1.3.6.1.4.1.5923.1.2.1.6", &["saml:eduorgwhitepagesuri"]),
];

fn refused(message: impl Into<String>) -> S3Error {
    S3Error::msg(ErrorCode::InvalidIdentityToken, message.into())
}

/// Whether the Role attribute grants this role through this provider: a
/// value `roleArn,providerArn`, in either order (AWS accepts both).
pub fn grants_role(a: &VerifiedAssertion, role_arn: &str, provider_arn: &str) -> bool {
    a.attribute(ROLE).unwrap_or_default().iter().any(|pair| {
        let mut parts = pair.split(',').map(str::trim);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(x), Some(y), None) => (x == role_arn && y == provider_arn) || (x == provider_arn && y == role_arn),
            _ => false,
        }
    })
}

/// The session an assertion asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestedSession {
    pub name: String,
    /// `SessionDuration`, seconds: caps the session.
    pub duration: Option<i64>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
}

fn single<'a>(a: &'a VerifiedAssertion, name: &str, label: &str) -> S3Result<Option<&'a str>> {
    match a.attribute(name) {
        None => Ok(None),
        Some([one]) => Ok(Some(one.as_str())),
        Some(_) => Err(refused(format!("{label} in AuthnResponse must have exactly one value"))),
    }
}

fn iam_name(value: &str) -> bool {
    let n = value.chars().count();
    (2..=64).contains(&n) && value.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

pub fn requested_session(a: &VerifiedAssertion) -> S3Result<RequestedSession> {
    let name = single(a, ROLE_SESSION_NAME, "RoleSessionName")?
        .ok_or_else(|| refused("RoleSessionName is required in AuthnResponse"))?
        .to_string();
    if !iam_name(&name) {
        return Err(refused("RoleSessionName in AuthnResponse must satisfy [\\w+=,.@-]{2,64}"));
    }
    let duration = match single(a, SESSION_DURATION, "SessionDuration")? {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (900..=43_200).contains(&n) => Some(n),
            _ => return Err(refused("SessionDuration in AuthnResponse must be between 900 and 43200 seconds")),
        },
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    for (attr, values) in &a.attributes {
        let Some(key) = attr.strip_prefix(PRINCIPAL_TAG) else { continue };
        let value = match values.as_slice() {
            [one] => one.clone(),
            _ => return Err(refused(format!("PrincipalTag:{key} in AuthnResponse must have exactly one value"))),
        };
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(refused("Session tag keys are 1 to 128 characters and values at most 256"));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(refused("Session tag keys must not begin with 'aws:'"));
        }
        if tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(refused("Duplicate tag keys found. Please note that Tag keys are case insensitive."));
        }
        tags.push((key.to_string(), value));
    }
    if tags.len() > 50 {
        return Err(refused("An AuthnResponse may carry at most 50 session tags"));
    }
    let transitive_tag_keys: Vec<String> = a.attribute(TRANSITIVE_TAG_KEYS).unwrap_or_default().to_vec();
    for k in &transitive_tag_keys {
        if !tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
            return Err(refused("The specified transitive tag key must be included in the requested tags."));
        }
    }
    let source_identity = single(a, SOURCE_IDENTITY, "SourceIdentity")?.map(str::to_string);
    if let Some(si) = &source_identity {
        if !iam_name(si) || si.to_ascii_lowercase().starts_with("aws:") {
            return Err(refused("SourceIdentity in AuthnResponse must satisfy [\\w+=,.@-]{2,64}"));
        }
    }
    Ok(RequestedSession { name, duration, tags, transitive_tag_keys, source_identity })
}

/// `SubjectType`: the NameID Format without SAML 2.0's prefix; other formats as they are.
pub fn subject_type(format: Option<&str>) -> String {
    let format = format.unwrap_or("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified");
    format.strip_prefix("urn:oasis:names:tc:SAML:2.0:nameid-format:").unwrap_or(format).to_string()
}

/// `NameQualifier`: BASE64(SHA1(issuer + account + "/" + provider name)).
pub fn name_qualifier(issuer: &str, account: &str, provider_name: &str) -> String {
    let digest = Sha1::digest(format!("{issuer}{account}/{provider_name}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The `saml:*` condition keys of an assertion.
pub fn condition_keys(a: &VerifiedAssertion, account: &str, provider_name: &str) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, Vec<String>)> = vec![
        ("saml:aud".into(), vec![a.recipient.clone()]),
        ("saml:iss".into(), vec![a.issuer.clone()]),
        ("saml:sub".into(), vec![a.name_id.clone()]),
        ("saml:sub_type".into(), vec![subject_type(a.name_id_format.as_deref())]),
        ("saml:namequalifier".into(), vec![name_qualifier(&a.issuer, account, provider_name)]),
        ("saml:doc".into(), vec![format!("{account}/{provider_name}")]),
    ];
    for (attr, values) in &a.attributes {
        if attr.starts_with(ATTR) || values.is_empty() {
            continue;
        }
        for (oid, names) in ATTRIBUTE_KEYS {
            if oid == attr {
                for name in names {
                    keys.push((name.to_string(), values.clone()));
                }
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assertion(attributes: &[(&str, &[&str])]) -> VerifiedAssertion {
        VerifiedAssertion {
            id: "_a".into(),
            issuer: "https://idp.example.com".into(),
            name_id: "alice".into(),
            name_id_format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
            recipient: "https://signin.aws.amazon.com/saml".into(),
            audiences: vec!["https://signin.aws.amazon.com/saml".into()],
            attributes: attributes
                .iter()
                .map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            session_not_on_or_after: None,
            expires_at: 0,
        }
    }

    const R: &str = "arn:aws:iam::123456789012:role/app";
    const P: &str = "arn:aws:iam::123456789012:saml-provider/corp";

    #[test]
    fn the_role_attribute_pairs_a_role_with_a_provider_in_either_order() {
        assert!(grants_role(&assertion(&[(ROLE, &[&format!("{R},{P}")])]), R, P));
        assert!(grants_role(&assertion(&[(ROLE, &[&format!("{P}, {R}")])]), R, P));
        assert!(grants_role(&assertion(&[(ROLE, &["x,y", &format!("{R},{P}")])]), R, P));
        assert!(!grants_role(&assertion(&[(ROLE, &[&format!("{R}2,{P}")])]), R, P));
        assert!(!grants_role(&assertion(&[(ROLE, &[&format!("{R},{P},{R}")])]), R, P));
        assert!(!grants_role(&assertion(&[(ROLE, &[R])]), R, P));
        assert!(!grants_role(&assertion(&[]), R, P));
    }

    #[test]
    fn role_session_name_is_required_and_2_to_64_iam_characters() {
        assert_eq!(requested_session(&assertion(&[(ROLE_SESSION_NAME, &["alice"])])).unwrap().name, "alice");
        for bad in [&[][..], &["a"][..], &["has space"][..], &["a", "b"][..]] {
            let e = requested_session(&assertion(&[(ROLE_SESSION_NAME, bad)])).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidIdentityToken);
        }
        assert!(requested_session(&assertion(&[])).unwrap_err().message.contains("RoleSessionName is required"));
    }

    #[test]
    fn principal_tags_transitive_keys_and_source_identity_are_read() {
        let tag = format!("{PRINCIPAL_TAG}Project");
        let s = requested_session(&assertion(&[
            (ROLE_SESSION_NAME, &["alice"]),
            (&tag, &["blue"]),
            (TRANSITIVE_TAG_KEYS, &["Project"]),
            (SOURCE_IDENTITY, &["alice@example.com"]),
            (SESSION_DURATION, &["1800"]),
        ]))
        .unwrap();
        assert_eq!(s.tags, vec![("Project".to_string(), "blue".to_string())]);
        assert_eq!(s.transitive_tag_keys, vec!["Project".to_string()]);
        assert_eq!(s.source_identity.as_deref(), Some("alice@example.com"));
        assert_eq!(s.duration, Some(1800));
    }

    #[test]
    fn bad_session_requests_are_refused() {
        let tag = format!("{PRINCIPAL_TAG}Project");
        let aws_tag = format!("{PRINCIPAL_TAG}aws:x");
        let cases: Vec<Vec<(&str, &[&str])>> = vec![
            vec![(&tag, &["a", "b"])],
            vec![(&aws_tag, &["a"])],
            vec![(TRANSITIVE_TAG_KEYS, &["Missing"])],
            vec![(SESSION_DURATION, &["60"])],
            vec![(SESSION_DURATION, &["soon"])],
            vec![(SOURCE_IDENTITY, &["aws:me"])],
        ];
        for mut case in cases {
            case.push((ROLE_SESSION_NAME, &["alice"]));
            assert!(requested_session(&assertion(&case)).is_err(), "{case:?}");
        }
    }

    #[test]
    fn subject_types_drop_the_saml2_prefix_only() {
        assert_eq!(subject_type(Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient")), "transient");
        assert_eq!(
            subject_type(Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")),
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
        );
    }

    #[test]
    fn the_name_qualifier_is_the_documented_hash() {
        // BASE64(SHA1("https://example.com/saml" + "123456789012" + "/MySAMLIdP"))
        let expected = base64::engine::general_purpose::STANDARD
            .encode(Sha1::digest(b"https://example.com/saml123456789012/MySAMLIdP"));
        assert_eq!(name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP"), expected);
    }

    #[test]
    fn condition_keys_come_from_the_subject_and_known_attributes() {
        let a = assertion(&[
            ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", &["alice@example.edu"]),
            ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", &["member", "staff"]),
            ("urn:oid:9.9.9", &["ignored"]),
        ]);
        let keys = condition_keys(&a, "123456789012", "corp");
        let get = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("saml:aud").unwrap(), ["https://signin.aws.amazon.com/saml"]);
        assert_eq!(get("saml:sub").unwrap(), ["alice"]);
        assert_eq!(get("saml:sub_type").unwrap(), ["persistent"]);
        assert_eq!(get("saml:doc").unwrap(), ["123456789012/corp"]);
        assert_eq!(get("saml:edupersonprincipalname").unwrap(), ["alice@example.edu"]);
        assert_eq!(get("saml:edupersonaffiliation").unwrap(), ["member", "staff"]);
        assert!(keys.iter().all(|(_, v)| !v.contains(&"ignored".to_string())));
    }
}
