//! First start and every start: the data directory, the master key, the
//! stores, orphan reclaim, and the operator's account with its root key.

use crate::state::{AppState, ServiceConfig, SECRET_KEY_PURPOSE};
use anyhow::{bail, Context};
use latchkey_seal::MasterKey;
use latchkey_storage::{
    reclaim_orphans, AccessKeyRecord, Account, BlobStore, FsBlobStore, KeyOwner, KeyStatus, MetadataStore,
    SqliteMetadata,
};
use rand::Rng;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

/// Root credentials given by the operator (environment), if any.
pub struct RootKeyInput {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for RootKeyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKeyInput").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect()
}

/// A long-term access key id: `AKIA` and 16 base32 characters, as AWS's.
pub fn new_access_key_id() -> String {
    format!("AKIA{}", random_from(BASE32, 16))
}

pub fn new_secret_access_key() -> String {
    random_from(SECRET_CHARS, 40)
}

/// A new account record with a fresh id and canonical user id.
pub fn new_account(name: &str, now: OffsetDateTime) -> Account {
    let mut canonical = [0u8; 32];
    rand::rngs::OsRng.fill(&mut canonical);
    Account { id: new_account_id(), name: name.to_string(), canonical_id: hex::encode(canonical), created: now }
}

fn new_account_id() -> String {
    let mut rng = rand::rngs::OsRng;
    // No leading zero, so the id never looks shorter than 12 digits.
    format!("{}{:011}", rng.gen_range(1..10), rng.gen_range(0..100_000_000_000u64))
}

fn validate_root_input(k: &RootKeyInput) -> anyhow::Result<()> {
    let id_ok =
        (16..=128).contains(&k.access_key_id.len()) && k.access_key_id.bytes().all(|c| c.is_ascii_alphanumeric());
    if !id_ok {
        bail!("LATCHKEY_ROOT_ACCESS_KEY_ID must be 16 to 128 letters and digits");
    }
    if k.secret_access_key.len() < 8 || k.secret_access_key.len() > 128 {
        bail!("LATCHKEY_ROOT_SECRET_ACCESS_KEY must be 8 to 128 characters");
    }
    Ok(())
}

/// The master key: `LATCHKEY_MASTER_KEY` (64 hex digits or base64 of 32
/// bytes) when set — so it can live in a secret store rather than next to
/// the data — else `<data-dir>/master.key`, created on first start.
fn load_or_create_master_key(dir: &Path) -> anyhow::Result<MasterKey> {
    if let Ok(v) = std::env::var("LATCHKEY_MASTER_KEY") {
        let v = v.trim();
        let bytes = hex::decode(v)
            .ok()
            .filter(|b| b.len() == 32)
            .or_else(|| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(v).ok().filter(|b| b.len() == 32)
            })
            .ok_or_else(|| anyhow::anyhow!("LATCHKEY_MASTER_KEY must be 32 bytes as 64 hex digits or base64"))?;
        return Ok(MasterKey::from_bytes(&bytes)?);
    }
    let path = dir.join("master.key");
    match std::fs::read(&path) {
        Ok(bytes) => MasterKey::from_bytes(&bytes).context("master.key is corrupt (expected 32 bytes)"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill(&mut key);
            write_private_file(&path, &key)?;
            Ok(MasterKey::from_bytes(&key)?)
        }
        Err(e) => Err(e).context("reading master.key"),
    }
}

/// Writes a file only its owner can read, durably, replacing any old one.
fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Opens everything under `data_dir` and makes sure the operator's account
/// exists with a usable root key.
pub async fn open(
    data_dir: &Path,
    config: ServiceConfig,
    root_key: Option<RootKeyInput>,
    monitoring: crate::monitoring::MonitoringOptions,
) -> anyhow::Result<Arc<AppState>> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
    let started = std::time::SystemTime::now();
    let master = load_or_create_master_key(data_dir)?;
    let master_for_tokens = load_or_create_master_key(data_dir)?;
    let meta: Arc<dyn MetadataStore> = Arc::new(SqliteMetadata::open(data_dir).context("opening metadata")?);
    let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(data_dir).context("opening blob store")?);
    let reclaimed = reclaim_orphans(meta.as_ref(), blobs.as_ref(), started).await?;
    let meta_for_tokens = meta.clone();
    if reclaimed > 0 {
        tracing::info!(count = reclaimed, "reclaimed orphaned blobs from an interrupted run");
    }
    let state = Arc::new(AppState {
        config,
        meta,
        blobs,
        secret_sealer: master.sealer(SECRET_KEY_PURPOSE),
        policy_cache: Default::default(),
        identity_cache: Default::default(),
        bucket_cache: Default::default(),
        mfa_sealer: master.sealer("mfa-seed"),
        authz_sealer: Arc::new(master.sealer("authorization-message")),
        tokens: crate::sessions::TokenKeys::load(master_for_tokens, meta_for_tokens)?,
        monitoring: Arc::new(crate::monitoring::Monitoring::start(monitoring, data_dir)?),
    });
    ensure_operator_account(&state, data_dir, root_key)?;
    Ok(state)
}

fn ensure_operator_account(state: &AppState, data_dir: &Path, root_key: Option<RootKeyInput>) -> anyhow::Result<()> {
    if let Some(k) = &root_key {
        validate_root_input(k)?;
    }
    let now = OffsetDateTime::now_utc();
    let accounts = state.meta.list_accounts()?;
    let account = match accounts.into_iter().next() {
        Some(a) => a,
        None => {
            let a = new_account("latchkey", now);
            state.meta.create_account(&a)?;
            tracing::info!(account = %a.id, "created the operator account");
            a
        }
    };
    let (access_key_id, secret, generated) = match root_key {
        Some(k) => (k.access_key_id, k.secret_access_key, false),
        None => {
            let creds_path = data_dir.join("root-credentials");
            if creds_path.exists() {
                // Generated on an earlier start; nothing to do.
                return Ok(());
            }
            (new_access_key_id(), new_secret_access_key(), true)
        }
    };
    match state.meta.get_access_key(&access_key_id)? {
        Some(existing) if existing.account_id != account.id || existing.owner != KeyOwner::Root => {
            bail!("the root access key id is already used by another identity");
        }
        _ => {}
    }
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill(&mut nonce);
    state.meta.put_access_key(&AccessKeyRecord {
        access_key_id: access_key_id.clone(),
        account_id: account.id.clone(),
        owner: KeyOwner::Root,
        secret_sealed: state.secret_sealer.seal(secret.as_bytes(), nonce),
        status: KeyStatus::Active,
        created: now,
    })?;
    if generated {
        let file = format!("[latchkey]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n");
        let path = data_dir.join("root-credentials");
        write_private_file(&path, file.as_bytes())?;
        // Printed once, on stdout, never through the log.
        println!(
            "latchkey: created account {} with root credentials\n  AWS_ACCESS_KEY_ID={}\n  AWS_SECRET_ACCESS_KEY={}\n  (also in {} as profile 'latchkey')",
            account.id,
            access_key_id,
            secret,
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_look_like_aws_ones() {
        let id = new_access_key_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert!(id[4..].bytes().all(|c| BASE32.contains(&c)));
        assert_eq!(new_secret_access_key().len(), 40);
        let acct = new_account_id();
        assert_eq!(acct.len(), 12);
        assert!(acct.bytes().all(|c| c.is_ascii_digit()));
    }
}
