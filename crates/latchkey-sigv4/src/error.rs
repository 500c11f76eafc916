//! Errors of request authentication, one variant per distinct AWS error.
//!
//! Messages follow the wording S3 uses, so a person reading a client's error
//! output recognises them. No message ever contains a secret key, a signing
//! key, a signature or a session token.

/// Why a SigV4-signed request (header or presigned URL) was rejected.
///
/// [`SigV4Error::aws_code`] and [`SigV4Error::http_status`] give the AWS error
/// code and HTTP status to answer with; `Display` gives the message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// The `Authorization` header does not have the SigV4 shape, or its parts
    /// are inconsistent (credential date vs. `X-Amz-Date`, missing `host`, ...).
    #[error("The authorization header is malformed; {0}")]
    AuthorizationHeaderMalformed(String),

    /// A presigned URL's `X-Amz-*` query parameters are missing or malformed.
    #[error("{0}")]
    AuthorizationQueryParametersError(String),

    /// The `Authorization` header names a scheme other than `AWS4-HMAC-SHA256`
    /// (SigV2's `AWS`, `Bearer`, SigV4A, ...).
    #[error("Unsupported Authorization Type")]
    UnsupportedAlgorithm,

    /// A request carries more than one of: `Authorization` header, presigned
    /// `X-Amz-Algorithm` query, SigV2 `Signature` query.
    #[error("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")]
    MultipleAuthMechanisms,

    /// Neither a usable `X-Amz-Date` nor `Date` header.
    #[error("AWS authentication requires a valid Date or x-amz-date header")]
    MissingDate,

    /// The signature the server computed differs from the one provided.
    #[error("The request signature we calculated does not match the signature you provided. Check your key and signing method.")]
    SignatureDoesNotMatch,

    /// Header-signed request whose time is more than the allowed skew away
    /// from the server's clock.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed,

    /// Presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired")]
    Expired,

    /// Presigned URL whose `X-Amz-Date` lies further in the future than the
    /// allowed skew.
    #[error("Request is not valid yet")]
    RequestNotYetValid,

    /// `x-amz-*` headers were sent but not listed in `SignedHeaders`; the
    /// string names them (header names are not secret).
    #[error("There were headers present in the request which were not signed: {0}")]
    HeadersNotSigned(String),

    /// The `x-amz-content-sha256` header is neither a SHA-256 hex digest nor
    /// one of the documented sentinel values.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")]
    InvalidContentSha256,

    /// The body's SHA-256 differs from the `x-amz-content-sha256` the client
    /// signed.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
}

impl SigV4Error {
    /// The AWS error code (`<Code>` in an S3 error document, `Error.Code` in a
    /// Query API error) this error is reported as.
    pub fn aws_code(&self) -> &'static str {
        match self {
            SigV4Error::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            SigV4Error::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            SigV4Error::UnsupportedAlgorithm => "InvalidArgument",
            SigV4Error::MultipleAuthMechanisms => "InvalidArgument",
            SigV4Error::MissingDate => "AccessDenied",
            SigV4Error::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SigV4Error::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            SigV4Error::Expired => "AccessDenied",
            SigV4Error::RequestNotYetValid => "AccessDenied",
            SigV4Error::HeadersNotSigned(_) => "AccessDenied",
            SigV4Error::InvalidContentSha256 => "InvalidArgument",
            SigV4Error::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status S3 answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            SigV4Error::AuthorizationHeaderMalformed(_)
            | SigV4Error::AuthorizationQueryParametersError(_)
            | SigV4Error::UnsupportedAlgorithm
            | SigV4Error::MultipleAuthMechanisms
            | SigV4Error::InvalidContentSha256
            | SigV4Error::ContentSha256Mismatch => 400,
            SigV4Error::MissingDate
            | SigV4Error::SignatureDoesNotMatch
            | SigV4Error::RequestTimeTooSkewed
            | SigV4Error::Expired
            | SigV4Error::RequestNotYetValid
            | SigV4Error::HeadersNotSigned(_) => 403,
        }
    }
}
