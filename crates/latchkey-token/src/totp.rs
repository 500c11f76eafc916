//! Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30-second steps,
//! six digits) as virtual MFA devices use them.

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;

/// The code for time step `counter` (RFC 4226's HOTP).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = ((h[offset] as u32 & 0x7f) << 24)
        | ((h[offset + 1] as u32) << 16)
        | ((h[offset + 2] as u32) << 8)
        | h[offset + 3] as u32;
    format!("{:0width$}", bin % 10u32.pow(digits), width = digits as usize)
}

/// The time step of unix time `t`.
pub fn step(t: i64) -> u64 {
    (t.max(0) / STEP_SECONDS) as u64
}

/// Which step (within one step of `now`, to allow clock drift) `code`
/// belongs to, if any. Comparison is constant-time.
pub fn verify(secret: &[u8], code: &str, now: i64) -> Option<u64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let s = step(now);
    let mut found = None;
    for candidate in [s.saturating_sub(1), s, s + 1] {
        let expected = hotp(secret, candidate, 6);
        let eq: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into();
        if eq && found.is_none() {
            found = Some(candidate);
        }
    }
    found
}

/// RFC 4648 base32 without padding, as authenticator apps take seeds.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 Appendix B, SHA1 rows (8 digits).
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_test_vectors() {
        for (t, code) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(hotp(SEED, step(t), 8), code, "t={t}");
        }
    }

    #[test]
    fn a_code_verifies_within_one_step_of_drift() {
        let code = hotp(SEED, step(1_000_000), 6);
        assert_eq!(verify(SEED, &code, 1_000_000), Some(step(1_000_000)));
        assert!(verify(SEED, &code, 1_000_000 + 30).is_some());
        assert!(verify(SEED, &code, 1_000_000 + 90).is_none());
        assert!(verify(SEED, "12345", 1_000_000).is_none());
        assert!(verify(SEED, "abcdef", 1_000_000).is_none());
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }
}
