//! What every request handler shares.

use latchkey_seal::Sealer;
use latchkey_storage::{BlobStore, MetadataStore};
use std::sync::Arc;

/// Settings that affect request handling.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub region: String,
    /// Host names under which `<bucket>.<domain>` addresses a bucket.
    pub domains: Vec<String>,
    /// Largest single PUT or part (S3: 5 GiB).
    pub max_object_size: u64,
    /// The directory behind AssumeRoleWithLDAPIdentity (None: LDAP sign-in is off).
    pub ldap: Option<Arc<crate::federation::ldap::LdapSettings>>,
}

pub struct AppState {
    pub config: ServiceConfig,
    pub meta: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Seals and opens secret access keys at rest.
    pub secret_sealer: Sealer,
    pub policy_cache: crate::authz::PolicyCache,
    pub identity_cache: crate::authz::IdentityCache,
    pub bucket_cache: crate::s3::BucketCache,
    /// Seals virtual MFA device seeds at rest.
    pub mfa_sealer: Sealer,
    /// Seals the explanation attached to denials (DecodeAuthorizationMessage).
    pub authz_sealer: std::sync::Arc<Sealer>,
    pub tokens: crate::sessions::TokenKeys,
    /// The audit trail, metrics and server access logs.
    pub monitoring: Arc<crate::monitoring::Monitoring>,
}

/// Purpose label for sealing secret access keys.
pub const SECRET_KEY_PURPOSE: &str = "secret-access-key";

impl AppState {
    /// Runs a metadata operation on a blocking thread.
    pub async fn meta<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MetadataStore) -> Result<T, latchkey_storage::StorageError> + Send + 'static,
    ) -> Result<T, latchkey_storage::StorageError> {
        let meta = self.meta.clone();
        tokio::task::spawn_blocking(move || f(meta.as_ref()))
            .await
            .map_err(|e| latchkey_storage::StorageError::Io(std::io::Error::other(e)))?
    }
}
