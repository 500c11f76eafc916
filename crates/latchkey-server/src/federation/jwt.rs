//! OpenID Connect ID tokens, checked without I/O: the header and issuer read
//! before any key is known, the signature verified by `jsonwebtoken` with a
//! key from the issuer's JWKS, and the claims checked against the IAM OIDC
//! provider and a clock passed in.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// STS's bound on `WebIdentityToken` (API reference: length 4 to 20000).
pub const MAX_TOKEN_LEN: usize = 20_000;
/// How far the issuer's clock may run ahead of ours (`iat`, `nbf`).
pub const CLOCK_SKEW_SECS: i64 = 300;
/// How long after `exp` a token is still accepted, for clocks that differ.
pub const EXPIRY_LEEWAY_SECS: i64 = 60;
/// The claim AWS reads session tags from (IAM User Guide, "Passing session
/// tags using AssumeRoleWithWebIdentity").
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
pub const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

const NOT_A_JWT: &str =
    "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)";

/// Why a token was refused; mapped onto STS's error codes by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// InvalidIdentityToken.
    Invalid(String),
    /// ExpiredTokenException.
    Expired(String),
    /// A session tag in the token breaks AssumeRole's limits
    /// (InvalidParameterValue, as for tags passed as parameters).
    BadTag(String),
}

fn invalid(msg: impl Into<String>) -> TokenError {
    TokenError::Invalid(msg.into())
}

/// A token as read before its signature is checked: only the header (to
/// pick the key) and the issuer (to find the provider) are used from it.
#[derive(Debug, Clone)]
pub struct UnverifiedToken {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub issuer: String,
}

fn decode_segment(segment: &str) -> Result<Map<String, Value>, TokenError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| invalid(NOT_A_JWT))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid(NOT_A_JWT)),
    }
}

/// Reads the header and issuer. Only RS256 and ES256 are accepted: `none`,
/// HMAC (which would turn a public key into a shared secret) and the rest
/// are refused before any key is looked at.
pub fn read_unverified(token: &str) -> Result<UnverifiedToken, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid(NOT_A_JWT));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(NOT_A_JWT));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(invalid(NOT_A_JWT));
    }
    let header = decode_segment(header)?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some(other) => {
            return Err(invalid(format!(
                "The token's signing algorithm {} is not supported: use RS256 or ES256.",
                printable(other)
            )))
        }
        None => return Err(invalid(NOT_A_JWT)),
    };
    // Extensions this verifier does not understand must not be ignored (RFC 7515, 4.1.11).
    if header.contains_key("crit") {
        return Err(invalid("The token's header has critical extensions that are not supported."));
    }
    if signature.is_empty() {
        return Err(invalid(NOT_A_JWT));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(invalid(NOT_A_JWT)),
    };
    let claims = decode_segment(payload)?;
    let issuer = match claims.get("iss") {
        Some(Value::String(iss)) if !iss.is_empty() => iss.clone(),
        _ => return Err(invalid("The token has no iss claim.")),
    };
    Ok(UnverifiedToken { alg, kid, issuer })
}

/// At most 64 printable characters of untrusted text, for messages.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The usable signing keys of a JWKS document. Keys this verifier cannot use
/// (encryption keys, other key types or curves, malformed entries) are
/// skipped rather than failing the whole set.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "the JWKS is not JSON".to_string())?;
    let keys = doc.get("keys").and_then(Value::as_array).ok_or_else(|| "the JWKS has no keys array".to_string())?;
    Ok(keys
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|k| !matches!(k.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature))
        .filter(|k| match &k.algorithm {
            AlgorithmParameters::RSA(_) => true,
            AlgorithmParameters::EllipticCurve(ec) => ec.curve == EllipticCurve::P256,
            _ => false,
        })
        .collect())
}

/// Whether `key` may verify a token signed with `alg`.
pub fn key_fits(key: &Jwk, alg: Algorithm) -> bool {
    let family = match (&key.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => ec.curve == EllipticCurve::P256,
        _ => false,
    };
    // A key that names its algorithm is used for that algorithm only.
    let named_fits = match key.common.key_algorithm {
        None => true,
        Some(named) => {
            matches!((named, alg), (KeyAlgorithm::RS256, Algorithm::RS256) | (KeyAlgorithm::ES256, Algorithm::ES256))
        }
    };
    family && named_fits
}

/// The keys that may have signed the token: the one its `kid` names, or
/// every key of the right type when it names none.
pub fn candidate_keys<'a>(keys: &'a [Jwk], token: &UnverifiedToken) -> Vec<&'a Jwk> {
    keys.iter()
        .filter(|k| key_fits(k, token.alg))
        .filter(|k| match &token.kid {
            Some(kid) => k.common.key_id.as_deref() == Some(kid.as_str()),
            None => true,
        })
        .collect()
}

/// Verifies the signature with one of `keys`; returns the claims. No claim
/// is checked here (see `check_claims`).
pub fn verify_signature(token: &str, alg: Algorithm, keys: &[&Jwk]) -> Result<Map<String, Value>, TokenError> {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    for key in keys {
        let Ok(decoding) = DecodingKey::from_jwk(key) else { continue };
        if let Ok(data) = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation) {
            return Ok(data.claims);
        }
    }
    Err(invalid("The token's signature is not valid for any of the identity provider's keys."))
}

/// What an IAM OIDC provider vouches for.
pub struct ProviderTrust<'a> {
    /// `https://HOST/PATH`, compared with `iss` exactly.
    pub url: &'a str,
    pub client_ids: &'a [String],
}

/// The identity a verified token proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentity {
    pub subject: String,
    /// The client id that matched (the response's `Audience`).
    pub audience: String,
    /// Every `aud` value of the token.
    pub aud: Vec<String>,
    pub azp: Option<String>,
    pub amr: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)) {
            Some(v) => Ok(Some(v)),
            None => Err(invalid(format!("The token's {name} claim is not a number."))),
        },
        Some(_) => Err(invalid(format!("The token's {name} claim is not a number."))),
    }
}

/// A claim that is a string or an array of strings.
fn strings(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, TokenError> {
    match claims.get(name) {
        None => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(format!("The token's {name} claim is not a string or a list of strings."))),
        Some(_) => Err(invalid(format!("The token's {name} claim is not a string or a list of strings."))),
    }
}

/// Checks the claims of a token whose signature is verified: issuer,
/// lifetime (`now` in Unix seconds), audience, subject, and the AWS claims
/// for session tags and source identity.
pub fn check_claims(
    claims: &Map<String, Value>,
    provider: &ProviderTrust<'_>,
    now: i64,
) -> Result<WebIdentity, TokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(provider.url) {
        return Err(invalid("The token's issuer does not match the identity provider's URL."));
    }
    let exp = number(claims, "exp")?.ok_or_else(|| invalid("The token has no exp claim."))?;
    if now >= exp.saturating_add(EXPIRY_LEEWAY_SECS) {
        return Err(TokenError::Expired(format!(
            "Token expired: current date/time {now} must be before the expiration date/time {exp}"
        )));
    }
    if let Some(nbf) = number(claims, "nbf")? {
        if nbf > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(invalid("The token is not valid yet (nbf)."));
        }
    }
    if let Some(iat) = number(claims, "iat")? {
        if iat > now.saturating_add(CLOCK_SKEW_SECS) {
            return Err(invalid("The token was issued in the future (iat)."));
        }
    }
    let aud = strings(claims, "aud")?;
    let azp = match claims.get("azp") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("The token's azp claim is not a string.")),
    };
    let audience = aud
        .iter()
        .chain(azp.iter())
        .find(|a| provider.client_ids.iter().any(|c| c == *a))
        .cloned()
        .ok_or_else(|| invalid("Incorrect token audience"))?;
    let subject = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(invalid("The token has no sub claim.")),
    };
    let amr = strings(claims, "amr")?;
    let (tags, transitive_tag_keys) = session_tags(claims.get(TAGS_CLAIM))?;
    let source_identity = match claims.get(SOURCE_IDENTITY_CLAIM) {
        None => None,
        Some(Value::String(s)) => {
            let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
            let len = s.chars().count();
            if !ok_chars || !(2..=64).contains(&len) || s.to_ascii_lowercase().starts_with("aws:") {
                return Err(invalid("The token's source identity is not a valid SourceIdentity."));
            }
            Some(s.clone())
        }
        Some(_) => return Err(invalid("The token's source identity claim is not a string.")),
    };
    Ok(WebIdentity { subject, audience, aud, azp, amr, tags, transitive_tag_keys, source_identity })
}

/// `{"principal_tags": {"key": ["value"]}, "transitive_tag_keys": ["key"]}`,
/// under AssumeRole's limits: 50 tags, keys ≤128 and values ≤256
/// characters, keys unique ignoring case, transitive keys among the tags.
/// Session tags and the keys among them that are transitive.
type SessionTags = (Vec<(String, String)>, Vec<String>);

fn session_tags(claim: Option<&Value>) -> Result<SessionTags, TokenError> {
    let Some(claim) = claim else { return Ok((vec![], vec![])) };
    let malformed = || invalid(format!("The token's {TAGS_CLAIM} claim is malformed."));
    let claim = claim.as_object().ok_or_else(malformed)?;
    let mut tags: Vec<(String, String)> = Vec::new();
    if let Some(principal) = claim.get("principal_tags") {
        for (k, v) in principal.as_object().ok_or_else(malformed)? {
            let value = match v {
                Value::Array(vs) if vs.len() == 1 => vs[0].as_str().ok_or_else(malformed)?,
                Value::String(s) => s.as_str(),
                _ => return Err(malformed()),
            };
            if k.is_empty() || k.chars().count() > 128 {
                return Err(TokenError::BadTag(format!(
                    "The session tag key {} is not 1 to 128 characters.",
                    printable(k)
                )));
            }
            if value.chars().count() > 256 {
                return Err(TokenError::BadTag(format!(
                    "The value of session tag {} exceeds 256 characters.",
                    printable(k)
                )));
            }
            if tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
                return Err(TokenError::BadTag(
                    "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
                ));
            }
            tags.push((k.clone(), value.to_string()));
        }
    }
    if tags.len() > 50 {
        return Err(TokenError::BadTag("A session can have at most 50 tags.".into()));
    }
    let mut transitive = Vec::new();
    if let Some(keys) = claim.get("transitive_tag_keys") {
        for k in keys.as_array().ok_or_else(malformed)? {
            let k = k.as_str().ok_or_else(malformed)?;
            if !tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
                return Err(TokenError::BadTag(
                    "The specified transitive tag key must be included in the requested tags.".into(),
                ));
            }
            transitive.push(k.to_string());
        }
    }
    Ok((tags, transitive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut base =
            json!({"iss": "https://idp.example.com", "sub": "alice", "aud": "app", "exp": 2000, "iat": 1000});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base.as_object().unwrap().clone()
    }

    fn provider(ids: &[String]) -> ProviderTrust<'_> {
        ProviderTrust { url: "https://idp.example.com", client_ids: ids }
    }

    #[test]
    fn rs256_and_es256_tokens_name_their_issuer_and_key() {
        let t =
            read_unverified(&token(json!({"alg": "RS256", "kid": "k1"}), json!({"iss": "https://a.example"}))).unwrap();
        assert_eq!((t.alg, t.kid.as_deref(), t.issuer.as_str()), (Algorithm::RS256, Some("k1"), "https://a.example"));
        let t = read_unverified(&token(json!({"alg": "ES256"}), json!({"iss": "https://a.example"}))).unwrap();
        assert_eq!((t.alg, t.kid), (Algorithm::ES256, None));
    }

    #[test]
    fn alg_none_hmac_and_others_are_refused_before_any_key_is_used() {
        for alg in ["none", "HS256", "RS384", "PS256", "EdDSA", "ES384"] {
            let t = token(json!({"alg": alg}), json!({"iss": "https://a.example"}));
            assert!(matches!(read_unverified(&t), Err(TokenError::Invalid(_))), "{alg}");
        }
        let unsigned = format!("{}.{}.", b64(&json!({"alg": "RS256"})), b64(&json!({"iss": "https://a"})));
        assert!(read_unverified(&unsigned).is_err());
    }

    #[test]
    fn malformed_tokens_are_not_jwts() {
        for t in ["", "a.b", "a.b.c.d", "!!!.e30.c2ln", "e30.e30.c2ln", &"a".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(matches!(read_unverified(t), Err(TokenError::Invalid(_))), "{t:.20}");
        }
        let no_iss = token(json!({"alg": "RS256"}), json!({"sub": "x"}));
        assert!(read_unverified(&no_iss).is_err());
        let crit = token(json!({"alg": "RS256", "crit": ["exp"]}), json!({"iss": "https://a"}));
        assert!(read_unverified(&crit).is_err());
    }

    #[test]
    fn a_valid_token_proves_its_subject_and_audience() {
        let ids = vec!["other".to_string(), "app".to_string()];
        let id = check_claims(&claims(json!({"amr": ["pwd", "mfa"]})), &provider(&ids), 1500).unwrap();
        assert_eq!((id.subject.as_str(), id.audience.as_str()), ("alice", "app"));
        assert_eq!(id.amr, vec!["pwd", "mfa"]);
    }

    #[test]
    fn expired_tokens_are_expired_after_the_leeway() {
        let ids = vec!["app".to_string()];
        assert!(check_claims(&claims(json!({})), &provider(&ids), 2000 + EXPIRY_LEEWAY_SECS - 1).is_ok());
        match check_claims(&claims(json!({})), &provider(&ids), 2000 + EXPIRY_LEEWAY_SECS) {
            Err(TokenError::Expired(m)) => assert!(m.starts_with("Token expired: current date/time")),
            other => panic!("{other:?}"),
        }
        let no_exp = {
            let mut c = claims(json!({}));
            c.remove("exp");
            c
        };
        assert!(matches!(check_claims(&no_exp, &provider(&ids), 1500), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn tokens_from_the_future_are_refused_beyond_the_skew() {
        let ids = vec!["app".to_string()];
        let now = 1000;
        assert!(check_claims(&claims(json!({"nbf": now + CLOCK_SKEW_SECS})), &provider(&ids), now).is_ok());
        assert!(check_claims(&claims(json!({"nbf": now + CLOCK_SKEW_SECS + 1})), &provider(&ids), now).is_err());
        assert!(check_claims(&claims(json!({"iat": now + CLOCK_SKEW_SECS + 1})), &provider(&ids), now).is_err());
        assert!(check_claims(&claims(json!({"exp": "2000"})), &provider(&ids), now).is_err());
    }

    #[test]
    fn the_audience_or_azp_must_be_a_registered_client_id() {
        let ids = vec!["app".to_string()];
        let wrong = check_claims(&claims(json!({"aud": "nope"})), &provider(&ids), 1500).unwrap_err();
        assert_eq!(wrong, TokenError::Invalid("Incorrect token audience".into()));
        let listed = check_claims(&claims(json!({"aud": ["x", "app"]})), &provider(&ids), 1500).unwrap();
        assert_eq!((listed.audience.as_str(), listed.aud.len()), ("app", 2));
        let azp = check_claims(&claims(json!({"aud": "x", "azp": "app"})), &provider(&ids), 1500).unwrap();
        assert_eq!(azp.audience, "app");
        assert!(check_claims(&claims(json!({})), &provider(&[]), 1500).is_err());
        assert!(check_claims(&claims(json!({"aud": 5})), &provider(&ids), 1500).is_err());
    }

    #[test]
    fn the_issuer_must_match_exactly() {
        let ids = vec!["app".to_string()];
        for iss in ["https://idp.example.com/", "http://idp.example.com", "https://IDP.example.com"] {
            assert!(check_claims(&claims(json!({"iss": iss})), &provider(&ids), 1500).is_err(), "{iss}");
        }
    }

    #[test]
    fn session_tags_come_from_the_aws_tags_claim() {
        let ids = vec!["app".to_string()];
        let c = claims(json!({TAGS_CLAIM: {"principal_tags": {"team": ["blue"], "cost": ["42"]},
                                           "transitive_tag_keys": ["team"]},
                              SOURCE_IDENTITY_CLAIM: "alice@example.com"}));
        let id = check_claims(&c, &provider(&ids), 1500).unwrap();
        assert_eq!(id.tags, vec![("cost".to_string(), "42".to_string()), ("team".to_string(), "blue".to_string())]);
        assert_eq!(id.transitive_tag_keys, vec!["team"]);
        assert_eq!(id.source_identity.as_deref(), Some("alice@example.com"));
    }

    #[test]
    fn session_tags_follow_assume_roles_limits() {
        let ids = vec!["app".to_string()];
        let check = |tags: Value| check_claims(&claims(json!({TAGS_CLAIM: tags})), &provider(&ids), 1500);
        assert!(matches!(check(json!({"principal_tags": {"k": ["a", "b"]}})), Err(TokenError::Invalid(_))));
        assert!(matches!(check(json!({"principal_tags": {"k".repeat(129): ["v"]}})), Err(TokenError::BadTag(_))));
        assert!(matches!(check(json!({"principal_tags": {"k": ["v".repeat(257)]}})), Err(TokenError::BadTag(_))));
        assert!(matches!(check(json!({"principal_tags": {"Team": ["a"], "team": ["b"]}})), Err(TokenError::BadTag(_))));
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(["v"]))).collect();
        assert!(matches!(check(json!({"principal_tags": many})), Err(TokenError::BadTag(_))));
        assert!(matches!(
            check(json!({"principal_tags": {"a": ["1"]}, "transitive_tag_keys": ["b"]})),
            Err(TokenError::BadTag(_))
        ));
        assert!(matches!(check(json!("not an object")), Err(TokenError::Invalid(_))));
        let bad_si = claims(json!({SOURCE_IDENTITY_CLAIM: "aws:me"}));
        assert!(check_claims(&bad_si, &provider(&ids), 1500).is_err());
    }

    #[test]
    fn jwks_keep_only_usable_signing_keys() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AAAA", "y": "AAAA"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kty": "weird"}
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.common.key_id.clone().unwrap()).collect();
        assert_eq!(kids, vec!["r", "e"]);
        let rs = UnverifiedToken { alg: Algorithm::RS256, kid: None, issuer: String::new() };
        assert_eq!(candidate_keys(&keys, &rs).len(), 1);
        let es = UnverifiedToken { alg: Algorithm::ES256, kid: Some("r".into()), issuer: String::new() };
        assert!(candidate_keys(&keys, &es).is_empty(), "an RSA key never verifies ES256");
        assert!(parse_jwks(b"[]").is_err() && parse_jwks(b"nope").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_token_strings_never_panic(s in ".{0,400}") {
            let _ = read_unverified(&s);
            let _ = verify_signature(&s, Algorithm::RS256, &[]);
        }

        #[test]
        fn arbitrary_segments_never_panic(h in "[A-Za-z0-9_=-]{0,80}", p in "[A-Za-z0-9_=-]{0,200}", sig in "[A-Za-z0-9_-]{0,40}") {
            let _ = read_unverified(&format!("{h}.{p}.{sig}"));
        }

        #[test]
        fn arbitrary_claims_never_panic(aud in proptest::option::of(".{0,8}"), exp in proptest::num::i64::ANY, tag in ".{0,4}") {
            let ids = vec!["app".to_string()];
            let c = json!({"iss": "https://idp.example.com", "sub": "s", "aud": aud, "exp": exp, "nbf": exp,
                           TAGS_CLAIM: {"principal_tags": {tag.clone(): [tag.clone()]}, "transitive_tag_keys": [tag]}});
            let _ = check_claims(c.as_object().unwrap(), &provider(&ids), 0);
        }
    }
}
