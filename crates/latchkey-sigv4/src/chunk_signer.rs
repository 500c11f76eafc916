//! The signature chain of an aws-chunked body (S3 API Reference,
//! `sigv4-streaming` and `sigv4-streaming-trailers`).
//!
//! ```text
//! chunk signature   = HMAC(kSigning, "AWS4-HMAC-SHA256-PAYLOAD" \n amz-date \n scope \n previous \n hex(sha256("")) \n hex(sha256(chunk data)))
//! trailer signature = HMAC(kSigning, "AWS4-HMAC-SHA256-TRAILER" \n amz-date \n scope \n previous \n hex(sha256(canonical trailers)))
//! ```
//!
//! The first `previous` (the seed) is the request's header signature; each
//! signature becomes the next one's `previous`, so chunks cannot be
//! reordered, dropped or replayed.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::scope::CredentialScope;
use crate::signing::{signature_hex, signatures_match};
use crate::EMPTY_SHA256;

/// First line of a chunk's string to sign.
pub const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
/// First line of the trailer's string to sign.
pub const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";
/// Name of the trailing header carrying the trailer signature.
pub const TRAILER_SIGNATURE_HEADER: &str = "x-amz-trailer-signature";

/// Computes and checks the chained chunk and trailer signatures of one
/// request. Holds the signing key, so `Debug` shows neither it nor the chain.
#[derive(Clone)]
pub struct ChunkSigner {
    signing_key: [u8; 32],
    amz_date_raw: String,
    scope: String,
    previous_signature: String,
}

impl fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigner")
            .field("amz_date_raw", &self.amz_date_raw)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ChunkSigner {
    /// A chain starting from `seed_signature`, the request's (verified)
    /// header signature.
    pub fn new(signing_key: [u8; 32], amz_date_raw: &str, scope: &CredentialScope, seed_signature: &str) -> Self {
        ChunkSigner {
            signing_key,
            amz_date_raw: amz_date_raw.to_owned(),
            scope: scope.scope_string(),
            previous_signature: seed_signature.to_owned(),
        }
    }

    /// The string to sign for the next chunk, whose data hashes to
    /// `chunk_sha256`.
    pub fn chunk_string_to_sign(&self, chunk_sha256: &[u8; 32]) -> String {
        format!(
            "{CHUNK_ALGORITHM}\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date_raw,
            self.scope,
            self.previous_signature,
            hex::encode(chunk_sha256)
        )
    }

    /// The string to sign for the trailer, whose canonical text
    /// ([`canonical_trailers`]) hashes to `trailer_sha256`.
    pub fn trailer_string_to_sign(&self, trailer_sha256: &[u8; 32]) -> String {
        format!(
            "{TRAILER_ALGORITHM}\n{}\n{}\n{}\n{}",
            self.amz_date_raw,
            self.scope,
            self.previous_signature,
            hex::encode(trailer_sha256)
        )
    }

    /// The next chunk's signature; advances the chain.
    pub fn sign_chunk(&mut self, chunk_sha256: &[u8; 32]) -> String {
        let signature = signature_hex(&self.signing_key, &self.chunk_string_to_sign(chunk_sha256));
        self.previous_signature.clone_from(&signature);
        signature
    }

    /// The trailer's signature; advances the chain.
    pub fn sign_trailer(&mut self, trailer_sha256: &[u8; 32]) -> String {
        let signature = signature_hex(&self.signing_key, &self.trailer_string_to_sign(trailer_sha256));
        self.previous_signature.clone_from(&signature);
        signature
    }

    /// Computes the next chunk's signature, advances the chain with it, and
    /// tells (in constant time) whether `provided` is that signature.
    pub fn verify_chunk(&mut self, chunk_sha256: &[u8; 32], provided: &str) -> bool {
        let expected = self.sign_chunk(chunk_sha256);
        signatures_match(&expected, provided)
    }

    /// Like [`ChunkSigner::verify_chunk`], for the trailer.
    pub fn verify_trailer(&mut self, trailer_sha256: &[u8; 32], provided: &str) -> bool {
        let expected = self.sign_trailer(trailer_sha256);
        signatures_match(&expected, provided)
    }

    /// Frames one data chunk as a signing client sends it:
    /// `<hex size>;chunk-signature=<sig>\r\n<data>\r\n`. Advances the chain.
    ///
    /// For clients, tests and load generators; the server only verifies.
    pub fn frame_chunk(&mut self, data: &[u8]) -> Vec<u8> {
        let signature = self.sign_chunk(&Sha256::digest(data).into());
        let mut out = format!("{:x};chunk-signature={signature}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Frames the end of the body: the signed zero-length chunk, then (with
    /// `trailers`) the trailing headers and `x-amz-trailer-signature`, then
    /// the closing empty line.
    pub fn frame_end(&mut self, trailers: Option<&[(String, String)]>) -> Vec<u8> {
        let signature = self.sign_chunk(&Sha256::digest(b"").into());
        let mut out = format!("0;chunk-signature={signature}\r\n").into_bytes();
        if let Some(trailers) = trailers {
            push_trailer_lines(trailers, &mut out);
            let hash: [u8; 32] = Sha256::digest(canonical_trailers(trailers).as_bytes()).into();
            let trailer_signature = self.sign_trailer(&hash);
            out.extend_from_slice(format!("{TRAILER_SIGNATURE_HEADER}:{trailer_signature}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// The text the trailer signature covers: each trailing header as
/// `name:value\n`, names lowercased, values trimmed, sorted by name (the
/// same rules as canonical headers; AWS SDKs send one `x-amz-checksum-*`).
pub fn canonical_trailers(trailers: &[(String, String)]) -> String {
    let mut lines: Vec<(String, &str)> =
        trailers.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.trim_matches([' ', '\t']))).collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (name, value) in lines {
        out.push_str(&name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// Frames one data chunk of an unsigned aws-chunked body
/// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`): `<hex size>\r\n<data>\r\n`.
pub fn frame_unsigned_chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Frames the end of an unsigned aws-chunked body: `0\r\n`, the trailing
/// headers if any, and the closing empty line.
pub fn frame_unsigned_end(trailers: Option<&[(String, String)]>) -> Vec<u8> {
    let mut out = b"0\r\n".to_vec();
    if let Some(trailers) = trailers {
        push_trailer_lines(trailers, &mut out);
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn push_trailer_lines(trailers: &[(String, String)], out: &mut Vec<u8>) {
    for (name, value) in trailers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    //! The worked example of S3 API Reference `sigv4-streaming` ("Example: PUT
    //! Object"): AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, us-east-1, s3, a
    //! 66560-byte object of `a` sent as chunks of 65536, 1024 and 0 bytes.
    use super::*;
    use crate::canonical::{canonical_request, CanonicalOptions, RequestParts};
    use crate::signing::{signing_key, string_to_sign};
    use crate::STREAMING_PAYLOAD;

    pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    pub(crate) const DATE: &str = "20130524T000000Z";
    pub(crate) const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    pub(crate) const CHUNK_1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    pub(crate) const CHUNK_2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
    pub(crate) const CHUNK_FINAL: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

    pub(crate) fn scope() -> CredentialScope {
        CredentialScope::parse("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request").unwrap()
    }

    pub(crate) fn example_signer() -> ChunkSigner {
        ChunkSigner::new(signing_key(SECRET, "20130524", "us-east-1", "s3"), DATE, &scope(), SEED)
    }

    fn sha256(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    fn the_seed_signature_is_the_header_signature_of_the_documented_put() {
        let headers: Vec<(String, String)> = [
            ("Host", "s3.amazonaws.com"),
            ("x-amz-date", DATE),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", STREAMING_PAYLOAD),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        let parts = RequestParts {
            method: "PUT",
            raw_path: "/examplebucket/chunkObject.txt",
            raw_query: "",
            headers: &headers,
        };
        let signed: Vec<String> = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
            .split(';')
            .map(str::to_owned)
            .collect();
        let creq = canonical_request(&parts, &signed, STREAMING_PAYLOAD, &CanonicalOptions::S3).unwrap();
        let sts = string_to_sign(DATE, &scope(), &creq);
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(signature_hex(&key, &sts), SEED);
    }

    #[test]
    fn the_first_chunk_string_to_sign_matches_the_documentation() {
        let signer = example_signer();
        assert_eq!(
            signer.chunk_string_to_sign(&sha256(&[b'a'; 65536])),
            format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n{SEED}\n{EMPTY_SHA256}\nbf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a"
            )
        );
    }

    #[test]
    fn the_chunk_signatures_chain_as_documented() {
        let mut signer = example_signer();
        assert_eq!(signer.sign_chunk(&sha256(&[b'a'; 65536])), CHUNK_1);
        assert_eq!(signer.sign_chunk(&sha256(&[b'a'; 1024])), CHUNK_2);
        assert_eq!(signer.sign_chunk(&sha256(b"")), CHUNK_FINAL);
    }

    #[test]
    fn verification_accepts_the_documented_chain_and_nothing_else() {
        let mut signer = example_signer();
        assert!(signer.verify_chunk(&sha256(&[b'a'; 65536]), CHUNK_1));
        assert!(signer.verify_chunk(&sha256(&[b'a'; 1024]), CHUNK_2));
        assert!(signer.verify_chunk(&sha256(b""), CHUNK_FINAL));

        // Out of order: the second chunk's signature does not sign the first.
        let mut signer = example_signer();
        assert!(!signer.verify_chunk(&sha256(&[b'a'; 65536]), CHUNK_2));
        // Altered data.
        let mut signer = example_signer();
        assert!(!signer.verify_chunk(&sha256(&[b'b'; 65536]), CHUNK_1));
    }

    #[test]
    fn the_trailer_signature_covers_the_canonical_trailers() {
        // aws-c-auth's trailing-header example on the same request: trailers
        // first:1st, second:2nd, third:3rd after the documented final chunk.
        let trailers: Vec<(String, String)> = [("first", "1st"), ("second", "2nd"), ("third", "3rd")]
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(canonical_trailers(&trailers), "first:1st\nsecond:2nd\nthird:3rd\n");
        let mut signer = example_signer();
        signer.sign_chunk(&sha256(&[b'a'; 65536]));
        signer.sign_chunk(&sha256(&[b'a'; 1024]));
        signer.sign_chunk(&sha256(b""));
        assert_eq!(
            signer.sign_trailer(&sha256(canonical_trailers(&trailers).as_bytes())),
            "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c"
        );
    }

    #[test]
    fn framing_produces_the_documented_body() {
        let mut signer = example_signer();
        let mut body = signer.frame_chunk(&[b'a'; 65536]);
        body.extend(signer.frame_chunk(&[b'a'; 1024]));
        body.extend(signer.frame_end(None));
        assert_eq!(body.len(), 66824, "the documented Content-Length");
        assert!(body.starts_with(format!("10000;chunk-signature={CHUNK_1}\r\n").as_bytes()));
        assert!(body.ends_with(format!("0;chunk-signature={CHUNK_FINAL}\r\n\r\n").as_bytes()));
    }

    #[test]
    fn debug_hides_the_key_and_the_chain() {
        let debug = format!("{:?}", example_signer());
        assert!(!debug.contains(SEED));
        assert!(!debug.contains("signing_key"));
    }
}
