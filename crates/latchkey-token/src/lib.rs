//! Session tokens: everything a node needs to authenticate a request made
//! with temporary credentials, sealed so that no database read is needed and
//! nothing in the token is readable or forgeable without the master key.
//!
//! - A token is `LKT1` + base64url(key id ‖ sealed claims). The key id names
//!   the key-ring entry that sealed it, so keys can rotate: tokens under older
//!   keys stay valid until their keys are retired.
//! - The session's secret access key is not in the token at all: it is an
//!   HMAC of the access key id under a key derived from the same key-ring
//!   entry, so the server recomputes it and the token cannot reveal it.
//! - The claims name the access key id, binding token and key together.
//!
//! Pure: the caller supplies `now`, randomness and the key ring.

pub mod totp;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use latchkey_seal::{MasterKey, Sealer};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const PREFIX: &str = "LKT1";
/// Bounds the work done on attacker-supplied tokens.
pub const MAX_TOKEN_LEN: usize = 8192;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of ours, tampered with, truncated, or sealed under a key
    /// that is not (or no longer) in the key ring. Deliberately vague.
    #[error("the security token included in the request is invalid")]
    Invalid,
    #[error("the security token included in the request is expired")]
    Expired,
    /// The token belongs to another access key id.
    #[error("the security token does not belong to the access key")]
    WrongKey,
}

/// Who the session is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SessionSubject {
    /// AssumeRole (and, later, AssumeRoleWithWebIdentity/SAML).
    AssumedRole { role_name: String, role_path: String, role_id: String, session_name: String },
    /// GetFederationToken, called by `parent_user` (None for root).
    FederatedUser { name: String, parent_user: Option<String> },
    /// GetSessionToken: the calling user (None for root) with temporary keys.
    SessionUser { user: Option<String> },
}

/// Everything a temporary credential carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub access_key_id: String,
    pub account_id: String,
    pub subject: SessionSubject,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Unix seconds of the MFA authentication, if the session was obtained with MFA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_authenticated_at: Option<i64>,
    /// Obtained with temporary credentials (role chaining).
    #[serde(default)]
    pub chained: bool,
    /// Condition keys the identity provider vouched for, usable in the role's
    /// policies (`issuer.example.com:sub`, `saml:sub`, `ldap:user`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federation_keys: Vec<(String, Vec<String>)>,
}

/// One key-ring entry: an id and the salt its keys are derived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRingEntry {
    pub id: u32,
    pub salt: String,
}

struct RingKey {
    id: u32,
    sealer: Sealer,
    secret_key: zeroize::Zeroizing<[u8; 32]>,
}

/// The keys tokens are sealed and opened with; the last entry seals new
/// tokens.
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("ids", &self.keys.iter().map(|k| k.id).collect::<Vec<_>>()).finish()
    }
}

impl KeyRing {
    pub fn new(master: &MasterKey, entries: &[KeyRingEntry]) -> KeyRing {
        let keys = entries
            .iter()
            .map(|e| RingKey {
                id: e.id,
                sealer: master.sealer(&format!("session-token/{}/{}", e.id, e.salt)),
                secret_key: master.derive_key(&format!("session-secret/{}/{}", e.id, e.salt)),
            })
            .collect();
        KeyRing { keys }
    }

    pub fn ids(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.id).collect()
    }

    /// Whether the ring still holds key `id` (a retired key's tokens are void).
    pub fn has_key(&self, id: u32) -> bool {
        self.by_id(id).is_some()
    }

    fn current(&self) -> Option<&RingKey> {
        self.keys.last()
    }

    fn by_id(&self, id: u32) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Seals `claims` with the current key; returns the token and the
    /// session's secret access key. `nonce` must be fresh random bytes.
    pub fn issue(&self, claims: &SessionClaims, nonce: [u8; 24]) -> Option<(String, String)> {
        let key = self.current()?;
        let json = serde_json::to_vec(claims).expect("claims always serialize");
        let mut raw = key.id.to_be_bytes().to_vec();
        raw.extend(key.sealer.seal(&json, nonce));
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
        Some((token, derive_secret(&key.secret_key, &claims.access_key_id)))
    }

    /// Opens a token presented with `access_key_id` at time `now` (unix
    /// seconds); returns the claims and the session's secret access key.
    pub fn open(&self, token: &str, access_key_id: &str, now: i64) -> Result<(SessionClaims, String), TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let body = token.strip_prefix(PREFIX).ok_or(TokenError::Invalid)?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Invalid)?;
        if raw.len() < 4 {
            return Err(TokenError::Invalid);
        }
        let id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let key = self.by_id(id).ok_or(TokenError::Invalid)?;
        let json = key.sealer.open(&raw[4..]).map_err(|_| TokenError::Invalid)?;
        let claims: SessionClaims = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        let bound: bool =
            subtle::ConstantTimeEq::ct_eq(claims.access_key_id.as_bytes(), access_key_id.as_bytes()).into();
        if !bound {
            return Err(TokenError::WrongKey);
        }
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        let secret = derive_secret(&key.secret_key, &claims.access_key_id);
        Ok((claims, secret))
    }
}

/// The id of the ring key a token claims to be sealed with, read without
/// opening it (for caches that must forget tokens of retired keys).
pub fn token_key_id(token: &str) -> Option<u32> {
    let body = token.strip_prefix(PREFIX)?;
    // Six base64 characters carry the four id bytes.
    let head = URL_SAFE_NO_PAD.decode(body.get(..8)?).ok()?;
    Some(u32::from_be_bytes([head[0], head[1], head[2], head[3]]))
}

/// The 40-character secret access key of a session.
fn derive_secret(key: &[u8; 32], access_key_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"latchkey session secret\0");
    mac.update(access_key_id.as_bytes());
    let mut s = STANDARD.encode(mac.finalize().into_bytes());
    s.truncate(40);
    s
}

/// Size of a session policy as STS reports it (`PackedPolicySize`, a
/// percentage of the allowed packed size): latchkey packs policies and tags
/// into the token, so the percentage is of the 2048-character policy limit
/// plus the tags' share.
pub fn packed_policy_percent(policy: Option<&str>, policy_arns: usize, tags: &[(String, String)]) -> u32 {
    let policy_chars = policy.map(|p| p.chars().filter(|c| !c.is_whitespace()).count()).unwrap_or(0);
    let tag_chars: usize = tags.iter().map(|(k, v)| k.len() + v.len()).sum();
    let used = policy_chars + policy_arns * 100 + tag_chars;
    ((used * 100).div_ceil(2048)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(ids: &[u32]) -> KeyRing {
        let m = MasterKey::from_bytes(&[9; 32]).unwrap();
        KeyRing::new(&m, &ids.iter().map(|i| KeyRingEntry { id: *i, salt: format!("s{i}") }).collect::<Vec<_>>())
    }

    fn claims() -> SessionClaims {
        SessionClaims {
            access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
            account_id: "111122223333".into(),
            subject: SessionSubject::AssumedRole {
                role_name: "r".into(),
                role_path: "/".into(),
                role_id: "AROAEXAMPLE".into(),
                session_name: "s".into(),
            },
            issued_at: 1000,
            expires_at: 2000,
            session_policy: None,
            policy_arns: vec![],
            tags: vec![("team".into(), "blue".into())],
            transitive_tag_keys: vec![],
            source_identity: None,
            mfa_authenticated_at: None,
            chained: false,
            federation_keys: vec![],
        }
    }

    #[test]
    fn an_issued_token_opens_to_its_claims_and_secret() {
        let r = ring(&[1]);
        let (token, secret) = r.issue(&claims(), [7; 24]).unwrap();
        let (c, s) = r.open(&token, "ASIAEXAMPLEEXAMPLE12", 1500).unwrap();
        assert_eq!(c, claims());
        assert_eq!(s, secret);
        assert_eq!(secret.len(), 40);
    }

    #[test]
    fn the_key_id_is_readable_without_opening() {
        let r = ring(&[3, 70_000]);
        let (token, _) = r.issue(&claims(), [7; 24]).unwrap();
        assert_eq!(token_key_id(&token), Some(70_000));
        assert!(r.has_key(3) && r.has_key(70_000) && !r.has_key(4));
        assert_eq!(token_key_id("LKT1"), None);
        assert_eq!(token_key_id("nope"), None);
    }

    #[test]
    fn the_token_reveals_neither_claims_nor_secret() {
        let r = ring(&[1]);
        let (token, secret) = r.issue(&claims(), [7; 24]).unwrap();
        assert!(!token.contains("blue") && !token.contains("111122223333") && !token.contains(&secret));
    }

    #[test]
    fn expired_and_foreign_tokens_are_rejected() {
        let r = ring(&[1]);
        let (token, _) = r.issue(&claims(), [7; 24]).unwrap();
        assert_eq!(r.open(&token, "ASIAEXAMPLEEXAMPLE12", 2000).unwrap_err(), TokenError::Expired);
        assert_eq!(r.open(&token, "ASIAOTHER", 1500).unwrap_err(), TokenError::WrongKey);
        assert_eq!(ring(&[2]).open(&token, "ASIAEXAMPLEEXAMPLE12", 1500).unwrap_err(), TokenError::Invalid);
        assert_eq!(r.open("garbage", "ASIAEXAMPLEEXAMPLE12", 1500).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn rotation_keeps_old_tokens_until_their_key_is_retired() {
        let old = ring(&[1]);
        let (token, _) = old.issue(&claims(), [7; 24]).unwrap();
        let rotated = ring(&[1, 2]);
        assert!(rotated.open(&token, "ASIAEXAMPLEEXAMPLE12", 1500).is_ok());
        let (new_token, _) = rotated.issue(&claims(), [8; 24]).unwrap();
        let retired = ring(&[2]);
        assert_eq!(retired.open(&token, "ASIAEXAMPLEEXAMPLE12", 1500).unwrap_err(), TokenError::Invalid);
        assert!(retired.open(&new_token, "ASIAEXAMPLEEXAMPLE12", 1500).is_ok());
    }

    #[test]
    fn packed_size_grows_with_the_policy() {
        assert_eq!(packed_policy_percent(None, 0, &[]), 0);
        assert!(packed_policy_percent(Some(&"x".repeat(2048)), 0, &[]) == 100);
        assert!(packed_policy_percent(Some(&"x".repeat(2049)), 0, &[]) > 100);
    }

    proptest! {
        #[test]
        fn any_change_to_a_token_is_rejected(idx in any::<usize>(), c in "[A-Za-z0-9_-]") {
            let r = ring(&[1]);
            let (token, _) = r.issue(&claims(), [7; 24]).unwrap();
            let i = PREFIX.len() + idx % (token.len() - PREFIX.len());
            let mut t: Vec<char> = token.chars().collect();
            prop_assume!(t[i].to_string() != c);
            t[i] = c.chars().next().unwrap();
            let tampered: String = t.into_iter().collect();
            prop_assert!(r.open(&tampered, "ASIAEXAMPLEEXAMPLE12", 1500).is_err());
        }

        #[test]
        fn truncated_tokens_are_rejected(cut in 0usize..200) {
            let r = ring(&[1]);
            let (token, _) = r.issue(&claims(), [7; 24]).unwrap();
            let n = cut.min(token.len() - 1);
            prop_assert!(r.open(&token[..n], "ASIAEXAMPLEEXAMPLE12", 1500).is_err());
        }

        #[test]
        fn open_never_panics(s in "\\PC{0,300}") {
            let _ = ring(&[1]).open(&s, "ASIAEXAMPLEEXAMPLE12", 1500);
        }
    }
}
