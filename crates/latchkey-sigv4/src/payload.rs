//! The `x-amz-content-sha256` header: what the signature says about the body
//! (S3 API Reference, `sigv4-auth-using-authorization-header`).

use crate::error::SigV4Error;
use crate::{STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_PAYLOAD_TRAILER, UNSIGNED_PAYLOAD};

/// The declared treatment of the request body.
///
/// The canonical request always uses the header's literal value; this type
/// only tells the server what to do with the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadHash {
    /// The body's SHA-256: compare it once the body has been read.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: aws-chunked, chunks and
    /// trailer signed.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, nothing signed,
    /// trailing checksum.
    StreamingUnsignedTrailer,
}

impl PayloadHash {
    /// Parses an `x-amz-content-sha256` value. A digest must be 64 hex
    /// digits; any other value is [`SigV4Error::InvalidContentSha256`].
    pub fn parse(value: &str) -> Result<Self, SigV4Error> {
        match value {
            UNSIGNED_PAYLOAD => Ok(PayloadHash::Unsigned),
            STREAMING_PAYLOAD => Ok(PayloadHash::StreamingSigned),
            STREAMING_PAYLOAD_TRAILER => Ok(PayloadHash::StreamingSignedTrailer),
            STREAMING_UNSIGNED_PAYLOAD_TRAILER => Ok(PayloadHash::StreamingUnsignedTrailer),
            digest if digest.len() == 64 => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(digest, &mut bytes).map_err(|_| SigV4Error::InvalidContentSha256)?;
                Ok(PayloadHash::Sha256(bytes))
            }
            _ => Err(SigV4Error::InvalidContentSha256),
        }
    }

    /// Whether the body uses the aws-chunked framing.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            PayloadHash::StreamingSigned | PayloadHash::StreamingSignedTrailer | PayloadHash::StreamingUnsignedTrailer
        )
    }

    /// Whether every chunk carries a `chunk-signature`.
    pub fn has_signed_chunks(&self) -> bool {
        matches!(self, PayloadHash::StreamingSigned | PayloadHash::StreamingSignedTrailer)
    }

    /// Whether trailing headers follow the final chunk.
    pub fn has_trailer(&self) -> bool {
        matches!(self, PayloadHash::StreamingSignedTrailer | PayloadHash::StreamingUnsignedTrailer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EMPTY_SHA256;

    #[test]
    fn parses_every_documented_value() {
        assert_eq!(PayloadHash::parse(EMPTY_SHA256).unwrap(), {
            let mut empty = [0u8; 32];
            hex::decode_to_slice(EMPTY_SHA256, &mut empty).unwrap();
            PayloadHash::Sha256(empty)
        });
        assert_eq!(PayloadHash::parse(UNSIGNED_PAYLOAD).unwrap(), PayloadHash::Unsigned);
        let signed = PayloadHash::parse(STREAMING_PAYLOAD).unwrap();
        assert!(signed.is_streaming() && signed.has_signed_chunks() && !signed.has_trailer());
        let signed_trailer = PayloadHash::parse(STREAMING_PAYLOAD_TRAILER).unwrap();
        assert!(signed_trailer.has_signed_chunks() && signed_trailer.has_trailer());
        let unsigned_trailer = PayloadHash::parse(STREAMING_UNSIGNED_PAYLOAD_TRAILER).unwrap();
        assert!(unsigned_trailer.is_streaming() && !unsigned_trailer.has_signed_chunks());
        assert!(unsigned_trailer.has_trailer());
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "unsigned-payload",
            "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
            &EMPTY_SHA256[1..],
            &format!("{}g", &EMPTY_SHA256[1..]),
        ] {
            assert_eq!(PayloadHash::parse(bad), Err(SigV4Error::InvalidContentSha256), "{bad:?}");
        }
    }
}
