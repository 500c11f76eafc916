//! Authentication: who sent this request, proven by SigV4. Produces an
//! [`Authenticated`] request — the only thing the gate and handlers accept.

use crate::body::{BodyPlan, ChecksumClaim, PayloadMode};
use crate::checksum::ChecksumAlgorithm;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::state::AppState;
use base64::Engine;
use latchkey_sigv4 as sigv4;
use latchkey_storage::{KeyOwner, KeyStatus};
use latchkey_token::{SessionClaims, SessionSubject};
use std::sync::Arc;
use time::OffsetDateTime;

/// Who is making the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub kind: PrincipalKind,
    pub access_key_id: String,
    /// For temporary credentials: the session's sealed claims, opened.
    pub session: Option<Arc<SessionClaims>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    AccountRoot,
    User(String),
    AssumedRole { role: String, session: String },
    FederatedUser(String),
}

impl Principal {
    pub fn arn(&self) -> String {
        match &self.kind {
            PrincipalKind::AccountRoot => format!("arn:aws:iam::{}:root", self.account_id),
            PrincipalKind::User(name) => format!("arn:aws:iam::{}:user/{}", self.account_id, name),
            PrincipalKind::AssumedRole { role, session } => {
                format!("arn:aws:sts::{}:assumed-role/{role}/{session}", self.account_id)
            }
            PrincipalKind::FederatedUser(name) => format!("arn:aws:sts::{}:federated-user/{name}", self.account_id),
        }
    }
}

/// A request whose signature has been verified (or that carries none).
pub struct Authenticated {
    /// `None` for anonymous requests.
    pub principal: Option<Principal>,
    /// The service the signature's scope names (`s3`, `iam`, `sts`); `None`
    /// for anonymous requests.
    pub service: Option<String>,
    pub body: BodyPlan,
    pub auth_type: AuthType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Anonymous,
    Header,
    Presigned,
}

const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// The parts of the HTTP request authentication reads.
pub struct RequestHead<'a> {
    /// Hex SHA-256 of an already-read body (Query-protocol requests, whose
    /// signers sign the body without an x-amz-content-sha256 header).
    pub body_sha256: Option<String>,
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a http::HeaderMap,
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn sig_error(e: sigv4::SigV4Error) -> S3Error {
    let code = match e.aws_code() {
        "AuthorizationHeaderMalformed" => ErrorCode::AuthorizationHeaderMalformed,
        "AuthorizationQueryParametersError" => ErrorCode::AuthorizationQueryParametersError,
        "SignatureDoesNotMatch" => ErrorCode::SignatureDoesNotMatch,
        "RequestTimeTooSkewed" => ErrorCode::RequestTimeTooSkewed,
        "AccessDenied" => ErrorCode::AccessDenied,
        "MissingSecurityHeader" => ErrorCode::MissingSecurityHeader,
        "InvalidRequest" => ErrorCode::InvalidRequest,
        _ => ErrorCode::InvalidRequest,
    };
    S3Error::msg(code, e.to_string())
}

/// The access key id and service a request's credential scope names, read
/// without verifying anything (for the audit record of refused requests).
pub fn claimed_credential(headers: &http::HeaderMap, raw_query: &str) -> Option<(String, String)> {
    let scope = match header(headers, "authorization") {
        Some(a) => a.split("Credential=").nth(1)?.split([',', ' ']).next()?.to_string(),
        None => form_urlencoded::parse(raw_query.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Credential"))
            .map(|(_, v)| v.into_owned())?,
    };
    let mut parts = scope.split('/');
    let key = parts.next()?.to_string();
    let service = parts.nth(2)?.to_string();
    Some((key, service))
}

/// The service a request's credential scope names (`iam`, `sts`, `s3`).
pub fn claimed_service(headers: &http::HeaderMap, raw_query: &str) -> Option<String> {
    claimed_credential(headers, raw_query).map(|(_, s)| s)
}

/// What kind of authentication failure an error is, for metrics and audit.
fn failure_kind(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidAccessKeyId => "unknown_key",
        ErrorCode::SignatureDoesNotMatch => "bad_signature",
        ErrorCode::ExpiredToken => "expired_token",
        ErrorCode::InvalidToken => "invalid_token",
        ErrorCode::RequestTimeTooSkewed => "clock_skew",
        ErrorCode::AccessDenied => "expired_or_refused",
        ErrorCode::AuthorizationHeaderMalformed
        | ErrorCode::AuthorizationQueryParametersError
        | ErrorCode::MissingSecurityHeader => "malformed",
        _ => "other",
    }
}

/// Verifies the request's SigV4 signature, if it has one, and works out how
/// its body must be verified. The outcome is noted in the request's audit record.
pub async fn authenticate(state: &AppState, req: &RequestHead<'_>, now: OffsetDateTime) -> S3Result<Authenticated> {
    let result = verify(state, req, now).await;
    match &result {
        Ok(a) => {
            let principal = a.principal.clone();
            crate::audit::note(|r| r.principal = principal);
        }
        Err(e) => {
            let claimed = claimed_credential(req.headers, req.raw_query).map(|(k, _)| k);
            let kind = failure_kind(e.code);
            crate::audit::note(|r| {
                r.claimed_key = claimed;
                r.auth_failure = Some(kind);
            });
        }
    }
    result
}

async fn verify(state: &AppState, req: &RequestHead<'_>, now: OffsetDateTime) -> S3Result<Authenticated> {
    let headers = req.headers;
    let query_pairs: Vec<(String, String)> =
        form_urlencoded::parse(req.raw_query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();

    let claim = if let Some(authz) = header(headers, "authorization") {
        if authz.starts_with("AWS ") {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
            ));
        }
        if !authz.starts_with(sigv4::ALGORITHM) {
            return Err(S3Error::msg(ErrorCode::InvalidArgument, "Unsupported Authorization Type")
                .with("ArgumentName", "Authorization"));
        }
        Some(
            sigv4::parse_authorization_header(authz, header(headers, "x-amz-date"), header(headers, "date"))
                .map_err(sig_error)?,
        )
    } else {
        sigv4::parse_presigned_query(&query_pairs).map_err(sig_error)?
    };

    if claim.is_none() && query_pairs.iter().any(|(k, _)| k == "AWSAccessKeyId" || k == "Signature") {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256 (for boto3 pre-signed URLs: Config(signature_version='s3v4')).",
        ));
    }
    let Some(claim) = claim else {
        let plan = body_plan(headers, None, None, AuthType::Anonymous)?;
        return Ok(Authenticated { principal: None, service: None, body: plan, auth_type: AuthType::Anonymous });
    };
    let auth_type = match claim.kind {
        sigv4::ClaimKind::Header => AuthType::Header,
        sigv4::ClaimKind::Presigned { .. } => AuthType::Presigned,
    };
    let malformed = |msg: String| match auth_type {
        AuthType::Presigned => S3Error::msg(ErrorCode::AuthorizationQueryParametersError, msg),
        _ => S3Error::msg(ErrorCode::AuthorizationHeaderMalformed, msg),
    };
    let scope = &claim.credential;
    let service = scope.service.as_str();
    // IAM is a global service, signed for us-east-1 whatever our region is.
    let region_ok = scope.region == state.config.region
        || ((service == "iam" || service == "sts") && (scope.region == "us-east-1" || scope.region.is_empty()));
    if !region_ok {
        return Err(malformed(format!(
            "The authorization header is malformed; the region '{}' is wrong; expecting '{}'",
            scope.region, state.config.region
        ))
        .with("Region", state.config.region.clone()));
    }
    let expected_service = if req.body_sha256.is_some() { ["iam", "sts"].contains(&service) } else { service == "s3" };
    if !expected_service {
        return Err(malformed(format!(
            "The authorization header is malformed; incorrect service \"{}\". This endpoint belongs to \"{}\".",
            scope.service,
            if req.body_sha256.is_some() { "iam" } else { "s3" }
        )));
    }
    if scope.date != claim.amz_date_raw.get(..8).unwrap_or_default() {
        return Err(malformed(format!(
            "The authorization header is malformed; Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
            scope.date,
            claim.amz_date_raw.get(..8).unwrap_or_default()
        )));
    }

    let key_id = scope.access_key_id.clone();
    let token = match &claim.kind {
        sigv4::ClaimKind::Presigned { security_token: Some(t), .. } => Some(t.clone()),
        _ => header(headers, "x-amz-security-token").map(str::to_string),
    };
    let (principal, secret) = resolve_key(state, &key_id, token.as_deref(), now).await?;
    let secret: &str = &secret;

    let content_sha256 = header(headers, "x-amz-content-sha256");
    let payload_hash = match (auth_type, content_sha256) {
        (_, Some(v)) => v.to_string(),
        (_, None) if req.body_sha256.is_some() => req.body_sha256.clone().unwrap_or_default(),
        (AuthType::Presigned, None) => sigv4::UNSIGNED_PAYLOAD.to_string(),
        (_, None) => {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256",
            ))
        }
    };

    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let parts = sigv4::RequestParts {
        method: req.method,
        raw_path: req.raw_path,
        raw_query: req.raw_query,
        headers: &header_list,
    };
    let opts = sigv4::CanonicalOptions::for_service(service, auth_type == AuthType::Presigned);
    for required in ["host"] {
        if !claim.signed_headers.iter().any(|h| h == required) {
            return Err(malformed(format!("The {required} header must be signed.")));
        }
    }
    let canonical = sigv4::canonical_request(&parts, &claim.signed_headers, &payload_hash, &opts).map_err(sig_error)?;
    let string_to_sign = sigv4::string_to_sign(&claim.amz_date_raw, scope, &canonical);
    let key = sigv4::signing_key(secret, &scope.date, &scope.region, &scope.service);
    let expected = sigv4::signature_hex(&key, &string_to_sign);
    if !sigv4::signatures_match(&expected, &claim.signature) {
        // Like S3, say what we signed so a client author can compare; neither
        // string contains a secret.
        return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch)
            .with("AWSAccessKeyId", key_id)
            .with("StringToSign", string_to_sign)
            .with("CanonicalRequest", canonical));
    }
    sigv4::check_time(&claim, now, MAX_SKEW).map_err(|e| {
        let err = sig_error(e);
        if err.code == ErrorCode::RequestTimeTooSkewed {
            err.with("RequestTime", claim.amz_date_raw.clone())
                .with("ServerTime", crate::xml::iso8601(now))
                .with("MaxAllowedSkewMilliseconds", "900000")
        } else {
            err
        }
    })?;

    if let Some(s) = &principal.session {
        // The token must be signed over: a header token must be a signed
        // header; a pre-signed one is part of the signed query.
        if auth_type == AuthType::Header && !claim.signed_headers.iter().any(|h| h == "x-amz-security-token") {
            let _ = s;
            return Err(S3Error::msg(
                ErrorCode::AccessDenied,
                "There were headers present in the request which were not signed: x-amz-security-token",
            ));
        }
    }
    let chunk_seed = Some((key, claim.amz_date_raw.clone(), claim.credential.clone(), claim.signature.clone()));
    let plan = body_plan(headers, Some(&payload_hash), chunk_seed, auth_type)?;
    Ok(Authenticated { principal: Some(principal), service: Some(scope.service.clone()), body: plan, auth_type })
}

/// Finds who owns `key_id` and the secret its signatures are made with:
/// a long-term key from the store, or a temporary key from its sealed token.
pub async fn resolve_key(
    state: &AppState,
    key_id: &str,
    token: Option<&str>,
    now: OffsetDateTime,
) -> S3Result<(Principal, zeroize::Zeroizing<String>)> {
    let unknown = || S3Error::new(ErrorCode::InvalidAccessKeyId).with("AWSAccessKeyId", key_id.to_string());
    if key_id.starts_with("ASIA") {
        let token = token.ok_or_else(unknown)?;
        let (claims, secret) = state.tokens.open(token, key_id, now.unix_timestamp()).map_err(|e| match e {
            latchkey_token::TokenError::Expired => S3Error::new(ErrorCode::ExpiredToken),
            latchkey_token::TokenError::Invalid | latchkey_token::TokenError::WrongKey => {
                S3Error::new(ErrorCode::InvalidToken)
            }
        })?;
        let kind = match &claims.subject {
            SessionSubject::AssumedRole { role_name, session_name, .. } => {
                PrincipalKind::AssumedRole { role: role_name.clone(), session: session_name.clone() }
            }
            SessionSubject::FederatedUser { name, .. } => PrincipalKind::FederatedUser(name.clone()),
            SessionSubject::SessionUser { user: Some(u) } => PrincipalKind::User(u.clone()),
            SessionSubject::SessionUser { user: None } => PrincipalKind::AccountRoot,
        };
        let principal = Principal {
            account_id: claims.account_id.clone(),
            kind,
            access_key_id: key_id.to_string(),
            session: Some(claims),
        };
        return Ok((principal, secret));
    }
    if let Some(hit) = state.identity_cache.long_term_key(key_id) {
        if token.is_some() {
            return Err(S3Error::new(ErrorCode::InvalidToken));
        }
        return Ok(hit);
    }
    // Read before loading: a key change committed during the load makes the entry stale at once.
    let generation = state.identity_cache.generation();
    let id = key_id.to_string();
    let record = state.meta(move |m| m.get_access_key(&id)).await?;
    let Some(record) = record.filter(|r| r.status == KeyStatus::Active) else {
        return Err(unknown());
    };
    if token.is_some() {
        // Session tokens belong to temporary (ASIA) keys; a long-term key
        // presented with one is a mistake or an attack.
        return Err(S3Error::new(ErrorCode::InvalidToken));
    }
    let secret = state.secret_sealer.open(&record.secret_sealed).map_err(S3Error::internal)?;
    let secret = String::from_utf8(secret.to_vec()).map_err(S3Error::internal)?;
    let kind = match record.owner {
        KeyOwner::Root => PrincipalKind::AccountRoot,
        KeyOwner::User(name) => PrincipalKind::User(name),
    };
    let principal = Principal { account_id: record.account_id, kind, access_key_id: key_id.to_string(), session: None };
    let secret = zeroize::Zeroizing::new(secret);
    state.identity_cache.remember_long_term_key(generation, &principal, &secret);
    Ok((principal, secret))
}

type ChunkSeed = ([u8; 32], String, sigv4::CredentialScope, String);

/// Decides how the body will be verified, from the headers.
fn body_plan(
    headers: &http::HeaderMap,
    payload_hash: Option<&str>,
    seed: Option<ChunkSeed>,
    auth_type: AuthType,
) -> S3Result<BodyPlan> {
    let content_length = match header(headers, "content-length") {
        Some(v) => {
            Some(v.parse::<u64>().map_err(|_| S3Error::msg(ErrorCode::InvalidArgument, "Invalid Content-Length"))?)
        }
        None => None,
    };
    let decoded_length = match header(headers, "x-amz-decoded-content-length") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| S3Error::msg(ErrorCode::InvalidArgument, "Invalid x-amz-decoded-content-length"))?,
        ),
        None => None,
    };
    let content_md5 = match header(headers, "content-md5") {
        Some(v) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .map_err(|_| S3Error::new(ErrorCode::InvalidDigest))?;
            Some(<[u8; 16]>::try_from(raw.as_slice()).map_err(|_| S3Error::new(ErrorCode::InvalidDigest))?)
        }
        None => None,
    };
    let mut checksum = None;
    for alg in ChecksumAlgorithm::ALL {
        if let Some(v) = header(headers, alg.header()) {
            if checksum.is_some() {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            checksum = Some(ChecksumClaim::Header { algorithm: alg, value: v.to_string() });
        }
    }
    let trailer = header(headers, "x-amz-trailer").map(str::trim);
    let mode = match payload_hash {
        None | Some(sigv4::UNSIGNED_PAYLOAD) => PayloadMode::Unsigned,
        Some(
            h @ (sigv4::STREAMING_PAYLOAD
            | sigv4::STREAMING_PAYLOAD_TRAILER
            | sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER),
        ) => {
            if auth_type == AuthType::Presigned && h != sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER {
                return Err(S3Error::msg(ErrorCode::InvalidRequest, "Streaming signed payloads cannot be pre-signed."));
            }
            if decoded_length.is_none() {
                return Err(S3Error::new(ErrorCode::MissingContentLength));
            }
            let with_trailer = h != sigv4::STREAMING_PAYLOAD;
            if with_trailer {
                let name = trailer.ok_or_else(|| {
                    S3Error::msg(ErrorCode::InvalidRequest, "x-amz-trailer is required for trailing checksums.")
                })?;
                let algorithm = ChecksumAlgorithm::from_header(name).ok_or_else(|| {
                    S3Error::msg(ErrorCode::InvalidRequest, format!("The trailer {name} is not supported."))
                })?;
                if checksum.is_some() {
                    return Err(S3Error::msg(ErrorCode::InvalidRequest, "Expecting a single x-amz-checksum- header."));
                }
                checksum = Some(ChecksumClaim::Trailer { algorithm });
            }
            let chunk_mode = if h == sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER {
                sigv4::ChunkedMode::Unsigned
            } else {
                let (key, date, scope, seed_sig) = seed.ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
                sigv4::ChunkedMode::Signed(sigv4::ChunkSigner::new(key, &date, &scope, &seed_sig))
            };
            PayloadMode::Chunked(Box::new(sigv4::ChunkedDecoder::new(chunk_mode, with_trailer)))
        }
        Some(hex_hash) => {
            let raw =
                hex::decode(hex_hash).ok().and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()).ok_or_else(|| {
                    S3Error::msg(
                        ErrorCode::InvalidArgument,
                        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a hex SHA-256.",
                    )
                })?;
            PayloadMode::Sha256(raw)
        }
    };
    let length = match mode {
        PayloadMode::Chunked(_) => decoded_length,
        _ => content_length,
    };
    Ok(BodyPlan { mode, length, content_md5, checksum })
}
