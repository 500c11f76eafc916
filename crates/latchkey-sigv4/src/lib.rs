//! AWS Signature Version 4 verification for latchkey.
//!
//! Pure building blocks (no I/O, no async, no clock: the caller passes
//! `now`) for authenticating S3, IAM and STS requests the way AWS does:
//!
//! 1. Read the claim: [`parse_authorization_header`] or
//!    [`parse_presigned_query`] → [`SignatureClaim`].
//! 2. Check its time: [`check_time`].
//! 3. Look up the secret of `claim.credential.access_key_id`, then
//!    [`verify_signature`] (built from [`canonical_request`],
//!    [`string_to_sign`], [`signing_key`], [`signature_hex`] and the
//!    constant-time [`signatures_match`]).
//! 4. For an aws-chunked body (`x-amz-content-sha256: STREAMING-*`, see
//!    [`PayloadHash`]), decode it with a [`ChunkedDecoder`], seeded with a
//!    [`ChunkSigner`] built from the signing key and the header signature.
//!
//! The payload hash passed to [`canonical_request`] / [`verify_signature`] is
//! the last line of the canonical request, verbatim: for S3 header
//! authentication the `x-amz-content-sha256` header value (required by S3);
//! for a presigned S3 URL `UNSIGNED-PAYLOAD` (or the `X-Amz-Content-Sha256`
//! query parameter if the URL carries one); for IAM and STS the hex SHA-256
//! of the body.
//!
//! Every error maps to one AWS error code ([`SigV4Error::aws_code`],
//! [`ChunkedError::aws_code`]). Secrets, signing keys, signatures and session
//! tokens never appear in `Debug` output or error messages.

mod canonical;
mod chunk_signer;
mod chunked;
mod claim;
mod datetime;
mod error;
mod payload;
mod scope;
mod signing;

pub use canonical::{
    canonical_request, query_pairs, require_amz_headers_signed, unsigned_amz_headers, uri_encode, CanonicalOptions,
    RequestParts,
};
pub use chunk_signer::{
    canonical_trailers, frame_unsigned_chunk, frame_unsigned_end, ChunkSigner, CHUNK_ALGORITHM, TRAILER_ALGORITHM,
    TRAILER_SIGNATURE_HEADER,
};
pub use chunked::{ChunkEvent, ChunkedDecoder, ChunkedError, ChunkedMode, MAX_CHUNK_HEADER_LINE, MAX_TRAILER_BYTES};
pub use claim::{
    check_time, expected_signature, parse_authorization_header, parse_presigned_query, verify_signature, ClaimKind,
    SignatureClaim, DEFAULT_MAX_SKEW, MAX_PRESIGNED_EXPIRES_SECS,
};
pub use datetime::{format_amz_date, parse_amz_date, parse_http_date};
pub use error::SigV4Error;
pub use payload::PayloadHash;
pub use scope::{CredentialScope, SCOPE_TERMINATOR};
pub use signing::{sha256_hex, signature_hex, signatures_match, signing_key, string_to_sign};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` value: the body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` value: aws-chunked body with signed chunks.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` value: aws-chunked body with signed chunks and a
/// signed trailer.
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// `x-amz-content-sha256` value: aws-chunked body, unsigned, with a trailer.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
