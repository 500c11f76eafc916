//! Temporary credentials: the session-token key ring (shared by every node
//! through the metadata store) and minting of ASIA access keys.

use latchkey_seal::MasterKey;
use latchkey_storage::MetadataStore;
use latchkey_token::{KeyRing, KeyRingEntry, SessionClaims, TokenError};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How often a node re-reads the key ring, so a rotation or retirement made
/// elsewhere takes effect.
const REFRESH: Duration = Duration::from_secs(10);

pub struct TokenKeys {
    master: MasterKey,
    meta: Arc<dyn MetadataStore>,
    ring: RwLock<Arc<KeyRing>>,
    loaded: Mutex<Instant>,
    opened: Mutex<HashMap<String, OpenedToken>>,
}

/// A token already opened and verified: a session's requests reuse it rather
/// than decrypting and parsing it again (the bulk of a session's overhead).
struct OpenedToken {
    token: String,
    ring_key: u32,
    claims: Arc<SessionClaims>,
    secret: Zeroizing<String>,
}

/// Opened tokens kept; beyond this the cache starts over (sessions re-open
/// their token once, which is cheap next to the bookkeeping of an LRU).
const OPENED_LIMIT: usize = 50_000;

/// A verified session: its claims and its secret access key.
pub type OpenedSession = (Arc<SessionClaims>, Zeroizing<String>);

fn new_salt() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill(&mut b);
    hex::encode(b)
}

/// Adds a key to the ring (the CLI's `keys rotate`, and first start).
pub fn rotate(meta: &dyn MetadataStore) -> Result<u32, latchkey_storage::StorageError> {
    meta.add_token_key(&new_salt())
}

impl TokenKeys {
    pub fn load(master: MasterKey, meta: Arc<dyn MetadataStore>) -> anyhow::Result<TokenKeys> {
        if meta.list_token_keys()?.is_empty() {
            rotate(meta.as_ref())?;
        }
        let ring = Self::read_ring(&master, meta.as_ref())?;
        Ok(TokenKeys {
            master,
            meta,
            ring: RwLock::new(Arc::new(ring)),
            loaded: Mutex::new(Instant::now()),
            opened: Mutex::new(HashMap::new()),
        })
    }

    fn read_ring(master: &MasterKey, meta: &dyn MetadataStore) -> Result<KeyRing, latchkey_storage::StorageError> {
        let entries: Vec<KeyRingEntry> =
            meta.list_token_keys()?.into_iter().map(|(id, salt)| KeyRingEntry { id, salt }).collect();
        Ok(KeyRing::new(master, &entries))
    }

    /// The current ring, re-read from the store when it is older than REFRESH.
    pub fn ring(&self) -> Arc<KeyRing> {
        let stale = self.loaded.lock().map(|t| t.elapsed() > REFRESH).unwrap_or(true);
        if stale {
            match Self::read_ring(&self.master, self.meta.as_ref()) {
                Ok(r) => {
                    *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(r);
                    if let Ok(mut t) = self.loaded.lock() {
                        *t = Instant::now();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not refresh the session key ring"),
            }
        }
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Opens and verifies a session token presented with `access_key_id` at
    /// `now` (unix seconds). A token seen before is answered from memory,
    /// still checked for expiry, for its binding to the key id, and for its
    /// ring key not having been retired.
    pub fn open(&self, token: &str, access_key_id: &str, now: i64) -> Result<OpenedSession, TokenError> {
        let ring = self.ring();
        {
            let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = opened.get(access_key_id) {
                let same: bool = subtle::ConstantTimeEq::ct_eq(hit.token.as_bytes(), token.as_bytes()).into();
                if same && ring.has_key(hit.ring_key) {
                    if now >= hit.claims.expires_at {
                        return Err(TokenError::Expired);
                    }
                    return Ok((hit.claims.clone(), hit.secret.clone()));
                }
            }
        }
        let (claims, secret) = ring.open(token, access_key_id, now)?;
        let claims = Arc::new(claims);
        let secret = Zeroizing::new(secret);
        if let Some(ring_key) = latchkey_token::token_key_id(token) {
            let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            if opened.len() >= OPENED_LIMIT {
                opened.retain(|_, o| o.claims.expires_at > now);
                if opened.len() >= OPENED_LIMIT {
                    opened.clear();
                }
            }
            opened.insert(
                access_key_id.to_string(),
                OpenedToken { token: token.to_string(), ring_key, claims: claims.clone(), secret: secret.clone() },
            );
        }
        Ok((claims, secret))
    }

    /// Seals `claims`; returns (session token, secret access key).
    pub fn issue(&self, claims: &SessionClaims) -> Option<(String, String)> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill(&mut nonce);
        self.ring().issue(claims, nonce)
    }
}

/// AWS's "Revoke active sessions" policy: deny everything to sessions whose
/// token was issued before `now`.
pub fn revoke_older_sessions_policy(now: time::OffsetDateTime) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": crate::iam::entities::timestamp(now)}}
        }]
    })
    .to_string()
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A temporary access key id: `ASIA` and 16 base32 characters carrying 80
/// bits — the account number (40 bits) and 40 random bits — so that, as
/// with AWS's key ids, GetAccessKeyInfo can tell the account from the id.
pub fn new_temporary_access_key_id(account: &str) -> String {
    let acct: u64 = account.parse().unwrap_or(0) & ((1 << 40) - 1);
    let random: u64 = rand::rngs::OsRng.gen::<u64>() & ((1 << 40) - 1);
    let bits: u128 = ((acct as u128) << 40) | random as u128;
    let tail: String = (0..16).rev().map(|i| BASE32[((bits >> (i * 5)) & 31) as usize] as char).collect();
    format!("ASIA{tail}")
}

/// The account a temporary access key id was issued in.
pub fn account_of_temporary_key(key_id: &str) -> Option<String> {
    let tail = key_id.strip_prefix("ASIA")?;
    if tail.len() != 16 {
        return None;
    }
    let mut bits: u128 = 0;
    for c in tail.bytes() {
        let v = BASE32.iter().position(|b| *b == c)? as u128;
        bits = (bits << 5) | v;
    }
    Some(format!("{:012}", (bits >> 40) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_key_ids_carry_their_account() {
        let id = new_temporary_access_key_id("123456789012");
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("ASIA"));
        assert_eq!(account_of_temporary_key(&id).as_deref(), Some("123456789012"));
        assert_ne!(new_temporary_access_key_id("123456789012"), id);
        assert_eq!(account_of_temporary_key("ASIA!!"), None);
    }
}
