//! String to sign, signing key derivation and signature computation
//! (AWS General Reference, "Create a string to sign", "Calculate the signature").

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::scope::{CredentialScope, SCOPE_TERMINATOR};
use crate::ALGORITHM;

/// `AWS4-HMAC-SHA256 \n <amz date> \n <scope> \n hex(sha256(canonical request))`.
pub fn string_to_sign(amz_date_raw: &str, scope: &CredentialScope, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date_raw}\n{}\n{}", scope.scope_string(), sha256_hex(canonical_request.as_bytes()))
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// The result is as sensitive as the secret for one day, region and service:
/// never log it.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut seed = Vec::with_capacity(4 + secret_access_key.len());
    seed.extend_from_slice(b"AWS4");
    seed.extend_from_slice(secret_access_key.as_bytes());
    let date_key = hmac_sha256(&seed, date.as_bytes());
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let service_key = hmac_sha256(&region_key, service.as_bytes());
    hmac_sha256(&service_key, SCOPE_TERMINATOR.as_bytes())
}

/// `hex(HMAC(signing key, string to sign))`, lowercase.
pub fn signature_hex(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// Compares two hex signatures without leaking, through timing, how much of
/// them agree. Different lengths simply do not match (the length of a
/// signature is no secret).
pub fn signatures_match(expected: &str, provided: &str) -> bool {
    expected.len() == provided.len() && bool::from(expected.as_bytes().ct_eq(provided.as_bytes()))
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC is defined for keys of every length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_documented_signing_key() {
        // AWS General Reference, "Examples of how to derive a signing key for
        // Signature Version 4": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
        // 20120215, us-east-1, iam.
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn signatures_compare_by_content_and_length() {
        assert!(signatures_match("abcd", "abcd"));
        assert!(!signatures_match("abcd", "abce"));
        assert!(!signatures_match("abcd", "abc"));
        assert!(!signatures_match("", "a"));
        assert!(signatures_match("", ""));
    }
}
