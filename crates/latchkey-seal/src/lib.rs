//! Sealing: authenticated encryption keyed from the server's master key.
//!
//! Every sealed value is bound to a *purpose* (a short label such as
//! `"secret-access-key"`), so a value sealed for one use cannot be replayed as
//! another. A fresh random nonce is drawn per seal; XChaCha20-Poly1305's 192-bit
//! nonce makes random nonces safe for any number of messages.
//!
//! Pure: no I/O. The caller supplies the master key bytes and the randomness.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The sealed value was truncated, tampered with, or sealed under another
    /// key or purpose. Deliberately says nothing more.
    #[error("sealed value is invalid")]
    Invalid,
    #[error("master key must be {MASTER_KEY_LEN} bytes")]
    BadMasterKey,
}

/// The server's master key. Never printed.
pub struct MasterKey(Zeroizing<[u8; MASTER_KEY_LEN]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let arr: [u8; MASTER_KEY_LEN] = bytes.try_into().map_err(|_| SealError::BadMasterKey)?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// A 32-byte key for one purpose (HKDF-SHA256), for uses other than
    /// sealing, such as deriving session secrets with HMAC.
    pub fn derive_key(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(b"latchkey-derive-v1"), &self.0[..]);
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(purpose.as_bytes(), &mut okm[..]).expect("32 bytes is a valid HKDF-SHA256 output length");
        okm
    }

    /// A sealer for one purpose; its key is derived with HKDF-SHA256 so the
    /// master key itself never encrypts anything.
    pub fn sealer(&self, purpose: &str) -> Sealer {
        let hk = Hkdf::<Sha256>::new(Some(b"latchkey-seal-v1"), &self.0[..]);
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(purpose.as_bytes(), &mut okm[..]).expect("32 bytes is a valid HKDF-SHA256 output length");
        Sealer { cipher: XChaCha20Poly1305::new((&*okm).into()), purpose: purpose.as_bytes().to_vec() }
    }
}

/// Seals and opens values for one purpose.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    purpose: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("purpose", &String::from_utf8_lossy(&self.purpose)).finish_non_exhaustive()
    }
}

impl Sealer {
    /// `version || nonce || ciphertext+tag`. `nonce` must be fresh random bytes.
    pub fn seal(&self, plaintext: &[u8], nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let aad = self.aad();
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(SealError::Invalid);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let aad = self.aad();
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| SealError::Invalid)
    }

    fn aad(&self) -> Vec<u8> {
        let mut aad = vec![VERSION];
        aad.extend_from_slice(&self.purpose);
        aad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_to_the_plaintext() {
        let s = key(7).sealer("secret-access-key");
        let sealed = s.seal(b"wJalrXUtnFEMI", [3; 24]);
        assert_eq!(&s.open(&sealed).unwrap()[..], b"wJalrXUtnFEMI");
    }

    #[test]
    fn the_plaintext_is_not_visible_in_the_sealed_value() {
        let s = key(7).sealer("p");
        let sealed = s.seal(b"SECRETSECRETSECRET", [0; 24]);
        assert!(!sealed.windows(6).any(|w| w == b"SECRET"));
    }

    #[test]
    fn another_purpose_or_key_cannot_open_it() {
        let sealed = key(7).sealer("a").seal(b"x", [1; 24]);
        assert_eq!(key(7).sealer("b").open(&sealed), Err(SealError::Invalid));
        assert_eq!(key(8).sealer("a").open(&sealed), Err(SealError::Invalid));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_from_sealing_keys() {
        let k = key(3);
        assert_ne!(*k.derive_key("a"), *k.derive_key("b"));
        assert_eq!(*k.derive_key("a"), *key(3).derive_key("a"));
    }

    #[test]
    fn a_short_master_key_is_rejected() {
        assert_eq!(MasterKey::from_bytes(&[0; 31]).unwrap_err(), SealError::BadMasterKey);
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert_eq!(format!("{:?}", key(9)), "MasterKey(..)");
    }

    proptest! {
        #[test]
        fn any_tampering_is_detected(msg in proptest::collection::vec(any::<u8>(), 0..64),
                                     idx in any::<usize>(), bit in 0u8..8) {
            let s = key(1).sealer("t");
            let mut sealed = s.seal(&msg, [5; 24]);
            let i = idx % sealed.len();
            sealed[i] ^= 1 << bit;
            prop_assert_eq!(s.open(&sealed), Err(SealError::Invalid));
        }

        #[test]
        fn truncation_is_detected(msg in proptest::collection::vec(any::<u8>(), 0..64), cut in any::<usize>()) {
            let s = key(1).sealer("t");
            let sealed = s.seal(&msg, [5; 24]);
            let n = cut % sealed.len();
            prop_assert_eq!(s.open(&sealed[..n]), Err(SealError::Invalid));
        }

        #[test]
        fn open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = key(1).sealer("t").open(&bytes);
        }
    }
}
