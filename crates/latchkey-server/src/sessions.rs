//! Temporary credentials: the session-token key ring (shared by every node
//! through the metadata store) and minting of ASIA access keys.

use latchkey_seal::MasterKey;
use latchkey_storage::MetadataStore;
use latchkey_token::{KeyRing, KeyRingEntry, SessionClaims, TokenError};
use rand::Rng;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often a node re-reads the key ring, so a rotation or retirement made
/// elsewhere takes effect.
const REFRESH: Duration = Duration::from_secs(10);

pub struct TokenKeys {
    master: MasterKey,
    meta: Arc<dyn MetadataStore>,
    ring: RwLock<Arc<KeyRing>>,
    loaded: Mutex<Instant>,
}

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
        Ok(TokenKeys { master, meta, ring: RwLock::new(Arc::new(ring)), loaded: Mutex::new(Instant::now()) })
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

    pub fn open(&self, token: &str, access_key_id: &str, now: i64) -> Result<(SessionClaims, String), TokenError> {
        self.ring().open(token, access_key_id, now)
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

/// A temporary access key id: `ASIA` and 16 base32 characters.
pub fn new_temporary_access_key_id() -> String {
    const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rngs::OsRng;
    let tail: String = (0..16).map(|_| BASE32[rng.gen_range(0..BASE32.len())] as char).collect();
    format!("ASIA{tail}")
}
