//! What a request claims about its signature: parsed from the
//! `Authorization` header (S3 API Reference, `sigv4-auth-using-authorization-header`)
//! or from a presigned URL's query (`sigv4-query-string-auth`), plus the
//! time rules and the final comparison.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::canonical::{canonical_request, is_header_name, CanonicalOptions, RequestParts};
use crate::datetime::{format_amz_date, parse_amz_date, parse_http_date};
use crate::error::SigV4Error;
use crate::scope::CredentialScope;
use crate::signing::{signature_hex, signatures_match, signing_key, string_to_sign};
use crate::ALGORITHM;

/// The longest validity a presigned URL may ask for: seven days, in seconds.
pub const MAX_PRESIGNED_EXPIRES_SECS: u32 = 604_800;

/// How far a request's time may be from the server's clock: 15 minutes.
pub const DEFAULT_MAX_SKEW: Duration = Duration::minutes(15);

/// What the client claims, from the `Authorization` header or the presigned
/// query. Nothing here is verified yet except its shape.
///
/// `Debug` leaves out the signature and the session token.
#[derive(Clone)]
pub struct SignatureClaim {
    pub credential: CredentialScope,
    /// Lowercase header names, in the order given.
    pub signed_headers: Vec<String>,
    /// 64 lowercase hex digits.
    pub signature: String,
    /// The request time: `X-Amz-Date` (header or query) or, for header
    /// authentication without it, the `Date` header.
    pub amz_date: OffsetDateTime,
    /// `amz_date` as `YYYYMMDD'T'HHMMSS'Z'`, exactly as it goes into the string
    /// to sign.
    pub amz_date_raw: String,
    pub kind: ClaimKind,
}

/// How the signature was delivered.
#[derive(Clone, PartialEq, Eq)]
pub enum ClaimKind {
    /// `Authorization` header. A session token, if any, is in the
    /// `X-Amz-Security-Token` header.
    Header,
    /// Presigned URL: valid `expires_secs` after `amz_date`; the session
    /// token, if any, came in `X-Amz-Security-Token`.
    Presigned { expires_secs: u32, security_token: Option<String> },
}

impl fmt::Debug for SignatureClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureClaim")
            .field("credential", &self.credential)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &"<redacted>")
            .field("amz_date", &self.amz_date)
            .field("amz_date_raw", &self.amz_date_raw)
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Debug for ClaimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimKind::Header => f.write_str("Header"),
            ClaimKind::Presigned { expires_secs, security_token } => f
                .debug_struct("Presigned")
                .field("expires_secs", expires_secs)
                .field("security_token", &security_token.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

impl SignatureClaim {
    /// Whether this claim came from a presigned URL.
    pub fn is_presigned(&self) -> bool {
        matches!(self.kind, ClaimKind::Presigned { .. })
    }

    /// The canonicalisation rules for this claim's service and delivery.
    pub fn canonical_options(&self) -> CanonicalOptions {
        CanonicalOptions::for_service(&self.credential.service, self.is_presigned())
    }
}

/// Parses `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
///
/// The three parts may come in any order, with or without spaces after the
/// commas. `amz_date_header` is the `X-Amz-Date` header if present; only
/// without it is `date_header` (an HTTP-date) used. The credential's date
/// must be the request's date.
pub fn parse_authorization_header(
    value: &str,
    amz_date_header: Option<&str>,
    date_header: Option<&str>,
) -> Result<SignatureClaim, SigV4Error> {
    let malformed = |message: &str| SigV4Error::AuthorizationHeaderMalformed(message.to_owned());

    let value = value.trim_matches([' ', '\t']);
    let (algorithm, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm);
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim_matches([' ', '\t']);
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            return Err(malformed("each component must have the form Key=Value."));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed("unknown component; expecting Credential, SignedHeaders and Signature.")),
        };
        if slot.replace(value).is_some() {
            return Err(malformed("a component appears more than once."));
        }
    }
    let credential = credential.ok_or_else(|| malformed("missing Credential."))?;
    let signed_headers = signed_headers.ok_or_else(|| malformed("missing SignedHeaders."))?;
    let signature = signature.ok_or_else(|| malformed("missing Signature."))?;

    let credential = CredentialScope::parse_fields(credential).map_err(SigV4Error::AuthorizationHeaderMalformed)?;
    let signed_headers = parse_signed_headers(signed_headers).map_err(SigV4Error::AuthorizationHeaderMalformed)?;
    if !is_signature_hex(signature) {
        return Err(malformed("the Signature must be 64 lowercase hexadecimal characters."));
    }

    let amz_date = match amz_date_header {
        Some(value) => parse_amz_date(value.trim()),
        None => date_header.and_then(parse_http_date),
    }
    .ok_or(SigV4Error::MissingDate)?;
    let amz_date_raw = format_amz_date(amz_date);
    check_scope_date(&credential, &amz_date_raw).map_err(SigV4Error::AuthorizationHeaderMalformed)?;

    Ok(SignatureClaim {
        credential,
        signed_headers,
        signature: signature.to_owned(),
        amz_date,
        amz_date_raw,
        kind: ClaimKind::Header,
    })
}

/// Reads a presigned URL's `X-Amz-*` parameters from the decoded query pairs.
///
/// `Ok(None)`: the query carries none of `X-Amz-Algorithm`,
/// `X-Amz-Credential`, `X-Amz-SignedHeaders`, `X-Amz-Signature`, so this is
/// not a presigned request. Once any of them is present all of them, with
/// `X-Amz-Date` and `X-Amz-Expires` (1 to 604800), are required, each once.
pub fn parse_presigned_query(pairs: &[(String, String)]) -> Result<Option<SignatureClaim>, SigV4Error> {
    let error = |message: &str| SigV4Error::AuthorizationQueryParametersError(message.to_owned());

    let mut algorithm = None;
    let mut credential = None;
    let mut date = None;
    let mut expires = None;
    let mut signed_headers = None;
    let mut signature = None;
    let mut security_token = None;
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "X-Amz-Algorithm" => &mut algorithm,
            "X-Amz-Credential" => &mut credential,
            "X-Amz-Date" => &mut date,
            "X-Amz-Expires" => &mut expires,
            "X-Amz-SignedHeaders" => &mut signed_headers,
            "X-Amz-Signature" => &mut signature,
            "X-Amz-Security-Token" => &mut security_token,
            _ => continue,
        };
        if slot.replace(value.as_str()).is_some() {
            return Err(error(&format!("{key} appears more than once in the query string.")));
        }
    }
    if algorithm.is_none() && credential.is_none() && signed_headers.is_none() && signature.is_none() {
        return Ok(None);
    }

    let (Some(algorithm), Some(credential), Some(date), Some(expires), Some(signed_headers), Some(signature)) =
        (algorithm, credential, date, expires, signed_headers, signature)
    else {
        return Err(error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(error("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
    }
    let credential = CredentialScope::parse_fields(credential)
        .map_err(|message| error(&format!("Error parsing the X-Amz-Credential parameter; {message}")))?;
    let amz_date = parse_amz_date(date)
        .ok_or_else(|| error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""))?;
    let expires_secs = parse_expires(expires).map_err(&error)?;
    let signed_headers = parse_signed_headers(signed_headers)
        .map_err(|message| error(&format!("Error parsing the X-Amz-SignedHeaders parameter; {message}")))?;
    if !is_signature_hex(signature) {
        return Err(error("X-Amz-Signature must be 64 lowercase hexadecimal characters."));
    }
    let amz_date_raw = date.to_owned();
    check_scope_date(&credential, &amz_date_raw)
        .map_err(|message| error(&format!("Error parsing the X-Amz-Credential parameter; {message}")))?;

    Ok(Some(SignatureClaim {
        credential,
        signed_headers,
        signature: signature.to_owned(),
        amz_date,
        amz_date_raw,
        kind: ClaimKind::Presigned { expires_secs, security_token: security_token.map(str::to_owned) },
    }))
}

/// `X-Amz-Expires`: decimal seconds, 1 to 604800.
fn parse_expires(value: &str) -> Result<u32, &'static str> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if value.starts_with('-') {
            "X-Amz-Expires must be non-negative"
        } else {
            "X-Amz-Expires should be a number"
        });
    }
    let seconds: u64 = value.parse().map_err(|_| "X-Amz-Expires should be a number")?;
    if seconds == 0 {
        return Err("X-Amz-Expires must be greater than 0");
    }
    if seconds > u64::from(MAX_PRESIGNED_EXPIRES_SECS) {
        return Err("X-Amz-Expires must be less than a week (in seconds) that is 604800");
    }
    u32::try_from(seconds).map_err(|_| "X-Amz-Expires should be a number")
}

/// `host;range;x-amz-date`: lowercase header names, none empty or repeated,
/// `host` among them (without it a signature made for one virtual-hosted
/// bucket would be accepted by another).
fn parse_signed_headers(value: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(';') {
        if !is_header_name(name) {
            return Err("SignedHeaders must be a ;-separated list of header names.".to_owned());
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("SignedHeaders must be lowercase.".to_owned());
        }
        if names.iter().any(|seen| seen == name) {
            return Err("SignedHeaders lists a header more than once.".to_owned());
        }
        names.push(name.to_owned());
    }
    if !names.iter().any(|name| name == "host") {
        return Err("SignedHeaders must include host.".to_owned());
    }
    Ok(names)
}

fn is_signature_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The signing key is derived for one day: the credential's date must be the
/// request's.
fn check_scope_date(scope: &CredentialScope, amz_date_raw: &str) -> Result<(), String> {
    let request_day = amz_date_raw.get(..8).unwrap_or_default();
    if scope.date == request_day {
        Ok(())
    } else {
        Err(format!(
            "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{request_day}\".",
            scope.date
        ))
    }
}

/// The time rules, against the caller's clock `now`:
/// - header authentication: the request time must be within `max_skew` of
///   `now`, else [`SigV4Error::RequestTimeTooSkewed`];
/// - presigned: the request time must not be more than `max_skew` in the
///   future ([`SigV4Error::RequestNotYetValid`]), and `now` must not be past
///   `amz_date + expires` ([`SigV4Error::Expired`]).
pub fn check_time(claim: &SignatureClaim, now: OffsetDateTime, max_skew: Duration) -> Result<(), SigV4Error> {
    match &claim.kind {
        ClaimKind::Header => {
            if (now - claim.amz_date).abs() > max_skew {
                return Err(SigV4Error::RequestTimeTooSkewed);
            }
        }
        ClaimKind::Presigned { expires_secs, .. } => {
            if claim.amz_date - now > max_skew {
                return Err(SigV4Error::RequestNotYetValid);
            }
            let expired = match claim.amz_date.checked_add(Duration::seconds(i64::from(*expires_secs))) {
                Some(deadline) => now > deadline,
                // Past the end of representable time: cannot have passed.
                None => false,
            };
            if expired {
                return Err(SigV4Error::Expired);
            }
        }
    }
    Ok(())
}

/// The signature the server expects for `claim` on this request, given the
/// secret of `claim.credential.access_key_id`.
pub fn expected_signature(
    claim: &SignatureClaim,
    parts: &RequestParts,
    payload_hash: &str,
    opts: &CanonicalOptions,
    secret_access_key: &str,
) -> Result<String, SigV4Error> {
    let creq = canonical_request(parts, &claim.signed_headers, payload_hash, opts)?;
    let sts = string_to_sign(&claim.amz_date_raw, &claim.credential, &creq);
    let key = claim_signing_key(claim, secret_access_key);
    Ok(signature_hex(&key, &sts))
}

/// Verifies `claim` against the request (time rules are separate: see
/// [`check_time`]). On success returns the signing key, which an aws-chunked
/// body needs to verify its chunks ([`crate::ChunkSigner::new`]).
pub fn verify_signature(
    claim: &SignatureClaim,
    parts: &RequestParts,
    payload_hash: &str,
    opts: &CanonicalOptions,
    secret_access_key: &str,
) -> Result<[u8; 32], SigV4Error> {
    let creq = canonical_request(parts, &claim.signed_headers, payload_hash, opts)?;
    let sts = string_to_sign(&claim.amz_date_raw, &claim.credential, &creq);
    let key = claim_signing_key(claim, secret_access_key);
    if signatures_match(&signature_hex(&key, &sts), &claim.signature) {
        Ok(key)
    } else {
        Err(SigV4Error::SignatureDoesNotMatch)
    }
}

fn claim_signing_key(claim: &SignatureClaim, secret_access_key: &str) -> [u8; 32] {
    signing_key(secret_access_key, &claim.credential.date, &claim.credential.region, &claim.credential.service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    const CREDENTIAL: &str = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

    fn header(parts: &str) -> String {
        format!("AWS4-HMAC-SHA256 {parts}")
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn presigned_pairs() -> Vec<(&'static str, &'static str)> {
        vec![
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", CREDENTIAL),
            ("X-Amz-Date", "20150830T123600Z"),
            ("X-Amz-Expires", "3600"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", SIG),
        ]
    }

    #[test]
    fn parses_a_header_in_any_order_and_spacing() {
        for value in [
            header(&format!("Credential={CREDENTIAL}, SignedHeaders=host;x-amz-date, Signature={SIG}")),
            header(&format!("Credential={CREDENTIAL},SignedHeaders=host;x-amz-date,Signature={SIG}")),
            header(&format!("Signature={SIG},  SignedHeaders=host;x-amz-date ,Credential={CREDENTIAL}")),
        ] {
            let claim = parse_authorization_header(&value, Some("20150830T123600Z"), None).unwrap();
            assert_eq!(claim.credential.access_key_id, "AKIDEXAMPLE");
            assert_eq!(claim.signed_headers, vec!["host", "x-amz-date"]);
            assert_eq!(claim.signature, SIG);
            assert_eq!(claim.amz_date, datetime!(2015-08-30 12:36:00 UTC));
            assert_eq!(claim.amz_date_raw, "20150830T123600Z");
            assert_eq!(claim.kind, ClaimKind::Header);
        }
    }

    #[test]
    fn falls_back_to_the_date_header_only_without_x_amz_date() {
        let value = header(&format!("Credential={CREDENTIAL}, SignedHeaders=date;host, Signature={SIG}"));
        let claim = parse_authorization_header(&value, None, Some("Sun, 30 Aug 2015 12:36:00 GMT")).unwrap();
        assert_eq!(claim.amz_date_raw, "20150830T123600Z");
        let err =
            parse_authorization_header(&value, Some("garbage"), Some("Sun, 30 Aug 2015 12:36:00 GMT")).unwrap_err();
        assert_eq!(err, SigV4Error::MissingDate);
        assert_eq!(parse_authorization_header(&value, None, None).unwrap_err(), SigV4Error::MissingDate);
    }

    #[test]
    fn rejects_other_algorithms() {
        for value in ["AWS AKID:sig", "Bearer token", "AWS4-HMAC-SHA512 Credential=x", "", "AWS4-ECDSA-P256-SHA256 x"] {
            assert_eq!(
                parse_authorization_header(value, Some("20150830T123600Z"), None).unwrap_err(),
                SigV4Error::UnsupportedAlgorithm,
                "{value:?}"
            );
        }
    }

    #[test]
    fn rejects_malformed_headers_without_echoing_the_signature() {
        let date = Some("20150830T123600Z");
        for parts in [
            format!("Credential={CREDENTIAL}, SignedHeaders=host"),
            format!("Credential={CREDENTIAL}, Signature={SIG}"),
            format!("SignedHeaders=host, Signature={SIG}"),
            format!("Credential={CREDENTIAL}, SignedHeaders=host, Signature={SIG}, Signature={SIG}"),
            format!("Credential={CREDENTIAL}, SignedHeaders=host, Signature={SIG}, Extra=1"),
            format!("Credential={CREDENTIAL}, SignedHeaders=host, Signature"),
            format!("Credential={CREDENTIAL}, SignedHeaders=Host, Signature={SIG}"),
            format!("Credential={CREDENTIAL}, SignedHeaders=x-amz-date, Signature={SIG}"),
            format!("Credential={CREDENTIAL}, SignedHeaders=host;;x-amz-date, Signature={SIG}"),
            format!("Credential={CREDENTIAL}, SignedHeaders=host;host, Signature={SIG}"),
            format!("Credential={CREDENTIAL}, SignedHeaders=host, Signature={}", SIG.to_uppercase()),
            format!("Credential={CREDENTIAL}, SignedHeaders=host, Signature=abc"),
            format!("Credential=AKID/20150831/us-east-1/service/aws4_request, SignedHeaders=host, Signature={SIG}"),
        ] {
            let err = parse_authorization_header(&header(&parts), date, None).unwrap_err();
            assert_eq!(err.aws_code(), "AuthorizationHeaderMalformed", "{parts}");
            assert!(!err.to_string().contains(SIG), "{err}");
            assert!(!err.to_string().to_lowercase().contains(&SIG.to_lowercase()), "{err}");
        }
    }

    #[test]
    fn a_query_without_sigv4_parameters_is_not_presigned() {
        assert!(parse_presigned_query(&[]).unwrap().is_none());
        assert!(parse_presigned_query(&query(&[("prefix", "a"), ("X-Amz-Date", "x")])).unwrap().is_none());
    }

    #[test]
    fn parses_a_presigned_query() {
        let mut pairs = presigned_pairs();
        pairs.push(("X-Amz-Security-Token", "token"));
        let claim = parse_presigned_query(&query(&pairs)).unwrap().unwrap();
        assert_eq!(claim.credential.service, "service");
        assert_eq!(claim.signed_headers, vec!["host"]);
        assert_eq!(claim.amz_date_raw, "20150830T123600Z");
        assert_eq!(claim.kind, ClaimKind::Presigned { expires_secs: 3600, security_token: Some("token".to_owned()) });
        let debug = format!("{claim:?}");
        assert!(!debug.contains(SIG) && !debug.contains("\"token\""), "{debug}");
    }

    #[test]
    fn presigned_parameters_are_all_required_and_checked() {
        let base = presigned_pairs();
        for missing in 0..base.len() {
            let mut pairs = base.clone();
            pairs.remove(missing);
            let err = parse_presigned_query(&query(&pairs)).unwrap_err();
            assert_eq!(err.aws_code(), "AuthorizationQueryParametersError");
        }
        for (key, bad) in [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
            ("X-Amz-Credential", "AKID/20150830/us-east-1/service"),
            ("X-Amz-Credential", "AKID/20150831/us-east-1/service/aws4_request"),
            ("X-Amz-Date", "2015-08-30T12:36:00Z"),
            ("X-Amz-Expires", "0"),
            ("X-Amz-Expires", "-1"),
            ("X-Amz-Expires", "604801"),
            ("X-Amz-Expires", "99999999999999999999"),
            ("X-Amz-Expires", "1e3"),
            ("X-Amz-SignedHeaders", "content-type"),
            ("X-Amz-Signature", "zz"),
        ] {
            let pairs: Vec<_> = base.iter().map(|&(k, v)| if k == key { (k, bad) } else { (k, v) }).collect();
            let err = parse_presigned_query(&query(&pairs)).unwrap_err();
            assert_eq!(err.aws_code(), "AuthorizationQueryParametersError", "{key}={bad}");
        }
        let mut pairs = base.clone();
        pairs.push(("X-Amz-Date", "20150830T123600Z"));
        assert!(parse_presigned_query(&query(&pairs)).is_err());
        let mut pairs = base;
        pairs[3] = ("X-Amz-Expires", "604800");
        assert!(parse_presigned_query(&query(&pairs)).is_ok());
    }

    fn claim_at(kind: ClaimKind) -> SignatureClaim {
        SignatureClaim {
            credential: CredentialScope::parse(CREDENTIAL).unwrap(),
            signed_headers: vec!["host".to_owned()],
            signature: SIG.to_owned(),
            amz_date: datetime!(2015-08-30 12:36:00 UTC),
            amz_date_raw: "20150830T123600Z".to_owned(),
            kind,
        }
    }

    #[test]
    fn header_requests_must_be_within_the_skew() {
        let claim = claim_at(ClaimKind::Header);
        let skew = DEFAULT_MAX_SKEW;
        assert!(check_time(&claim, datetime!(2015-08-30 12:51:00 UTC), skew).is_ok());
        assert!(check_time(&claim, datetime!(2015-08-30 12:21:00 UTC), skew).is_ok());
        assert_eq!(check_time(&claim, datetime!(2015-08-30 12:51:01 UTC), skew), Err(SigV4Error::RequestTimeTooSkewed));
        assert_eq!(check_time(&claim, datetime!(2015-08-30 12:20:59 UTC), skew), Err(SigV4Error::RequestTimeTooSkewed));
    }

    #[test]
    fn presigned_urls_expire_and_may_not_start_in_the_future() {
        let claim = claim_at(ClaimKind::Presigned { expires_secs: 3600, security_token: None });
        let skew = DEFAULT_MAX_SKEW;
        assert!(check_time(&claim, datetime!(2015-08-30 13:36:00 UTC), skew).is_ok());
        assert_eq!(check_time(&claim, datetime!(2015-08-30 13:36:01 UTC), skew), Err(SigV4Error::Expired));
        assert!(check_time(&claim, datetime!(2015-08-30 12:21:00 UTC), skew).is_ok());
        assert_eq!(check_time(&claim, datetime!(2015-08-30 12:20:59 UTC), skew), Err(SigV4Error::RequestNotYetValid));
        assert_eq!(SigV4Error::Expired.to_string(), "Request has expired");
    }
}
