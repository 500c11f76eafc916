//! The records latchkey stores, and the metadata interface over them.

use crate::{BlobId, StorageError};
use serde::{Deserialize, Serialize};
use std::ops::Bound;
use time::OffsetDateTime;

/// A tenant: owns buckets and (later) IAM identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Twelve decimal digits.
    pub id: String,
    pub name: String,
    /// S3's 64-hex-digit canonical user id for the account.
    pub canonical_id: String,
    pub created: OffsetDateTime,
}

/// Whose key it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyOwner {
    Root,
    User(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

/// A long-term access key. The secret is sealed with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account_id: String,
    pub owner: KeyOwner,
    pub secret_sealed: Vec<u8>,
    pub status: KeyStatus,
    pub created: OffsetDateTime,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("owner", &self.owner)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub account_id: String,
    pub region: String,
    pub created: OffsetDateTime,
}

/// Standard headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub website_redirect: Option<String>,
}

/// A checksum as S3 reports it: algorithm name (`CRC32`, `CRC32C`,
/// `CRC64NVME`, `SHA1`, `SHA256`), base64 value, and whether it covers the
/// full object or is a checksum of part checksums (`COMPOSITE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    pub algorithm: String,
    pub value: String,
    pub full_object: bool,
}

/// Everything about an object except its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttributes {
    pub headers: ObjectHeaders,
    /// `x-amz-meta-*` without the prefix, names lowercased, in order.
    pub user_metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub checksum: Option<StoredChecksum>,
    pub storage_class: Option<String>,
}

/// One stored piece of an object's bytes. A single-part object has one
/// segment; a completed multipart upload keeps its parts' blobs as segments,
/// in part order, so completing never copies data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub blob: BlobId,
    pub size: u64,
    /// For a multipart object's part: the part's checksum (base64, in the
    /// object's checksum algorithm), returned by part-number GETs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub bucket: String,
    pub key: String,
    pub segments: Vec<Segment>,
    pub size: u64,
    /// The ETag without quotes.
    pub etag: String,
    pub last_modified: OffsetDateTime,
    pub owner_account: String,
    pub attrs: ObjectAttributes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: OffsetDateTime,
    pub owner_account: String,
    /// Attributes the object will get on completion (checksum: the algorithm
    /// requested at creation, value empty).
    pub attrs: ObjectAttributes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub upload_id: String,
    pub part_number: u32,
    pub blob: BlobId,
    pub size: u64,
    pub etag: String,
    pub checksum: Option<StoredChecksum>,
    pub last_modified: OffsetDateTime,
}

/// A condition on the current state of a key, checked in the same
/// transaction as the write (S3 conditional writes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PutCondition {
    #[default]
    Always,
    /// `If-Match`: the key must exist, with this ETag (unquoted) unless it is `*`.
    IfMatch(String),
    /// `If-None-Match`: with `*` the key must not exist; with an ETag, the
    /// current object (if any) must not have it.
    IfNoneMatch(String),
}

/// A multipart upload that was completed, remembered so that repeating the
/// completion is answered with the same result, as S3 does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedUpload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub etag: String,
}

/// The outcome of a write that may have replaced blobs: the caller deletes
/// them once the metadata change is durable.
#[derive(Debug, Default)]
pub struct Replaced {
    pub blobs: Vec<BlobId>,
}

/// The kinds of IAM entity kept per account. Each is stored as a JSON
/// document under its case-insensitive name; the server owns the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamKind {
    User,
    Group,
    Role,
    Policy,
    MfaDevice,
    /// Account-wide settings (S3 Block Public Access, ...), by name.
    AccountSetting,
    /// IAM OpenID Connect identity providers, by host/path (`issuer.example.com/tenant`).
    OidcProvider,
    /// IAM SAML identity providers, by name.
    SamlProvider,
    /// One-time-use markers (SAML assertion ids), by id; the document holds the expiry.
    ReplayMarker,
}

impl IamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IamKind::User => "user",
            IamKind::Group => "group",
            IamKind::Role => "role",
            IamKind::Policy => "policy",
            IamKind::MfaDevice => "mfa",
            IamKind::AccountSetting => "setting",
            IamKind::OidcProvider => "oidc-provider",
            IamKind::SamlProvider => "saml-provider",
            IamKind::ReplayMarker => "replay",
        }
    }
}

/// A read-write view of one account's IAM entities inside one transaction.
pub trait IamTx {
    fn get(&mut self, kind: IamKind, name: &str) -> Result<Option<String>, StorageError>;
    /// All entities of a kind, ordered by lowercase name.
    fn list(&mut self, kind: IamKind) -> Result<Vec<String>, StorageError>;
    /// Inserts or replaces.
    fn put(&mut self, kind: IamKind, name: &str, document: &str) -> Result<(), StorageError>;
    /// Whether something was deleted.
    fn delete(&mut self, kind: IamKind, name: &str) -> Result<bool, StorageError>;
    fn put_access_key(&mut self, key: &AccessKeyRecord) -> Result<(), StorageError>;
    fn delete_access_key(&mut self, access_key_id: &str) -> Result<bool, StorageError>;
    fn list_access_keys(&mut self, owner: &KeyOwner) -> Result<Vec<AccessKeyRecord>, StorageError>;
}

/// Metadata operations. Every method is one transaction. Implementations are
/// synchronous; async callers run them on a blocking thread.
pub trait MetadataStore: Send + Sync {
    fn create_account(&self, account: &Account) -> Result<(), StorageError>;
    fn get_account(&self, id: &str) -> Result<Option<Account>, StorageError>;
    /// Oldest first; the first is the operator's account.
    fn list_accounts(&self) -> Result<Vec<Account>, StorageError>;

    fn put_access_key(&self, key: &AccessKeyRecord) -> Result<(), StorageError>;
    fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StorageError>;

    /// `AlreadyExists` if the name is taken by anyone.
    fn create_bucket(&self, bucket: &Bucket) -> Result<(), StorageError>;
    fn get_bucket(&self, name: &str) -> Result<Option<Bucket>, StorageError>;
    fn list_buckets(&self, account_id: &str) -> Result<Vec<Bucket>, StorageError>;
    /// `Conflict("not empty")` if it holds objects. Multipart uploads in
    /// progress are aborted with it, as in S3; their parts' blobs are returned.
    fn delete_bucket(&self, name: &str) -> Result<Replaced, StorageError>;

    /// A bucket's configuration document of one kind (`policy`, `cors`, ...);
    /// `None` deletes it. `NotFound` if the bucket is gone.
    fn put_bucket_config(&self, bucket: &str, kind: &str, document: Option<&str>) -> Result<(), StorageError>;
    fn get_bucket_config(&self, bucket: &str, kind: &str) -> Result<Option<String>, StorageError>;

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StorageError>;
    /// Inserts or replaces if `condition` holds; returns the blobs it
    /// replaced. `NotFound` / `Conflict("precondition")` when it does not.
    fn put_object(&self, object: &ObjectRecord, condition: &PutCondition) -> Result<Replaced, StorageError>;
    /// Returns the removed record, if there was one.
    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StorageError>;
    /// Replaces the tag set; `NotFound` if the object does not exist.
    fn set_object_tags(&self, bucket: &str, key: &str, tags: &[(String, String)]) -> Result<(), StorageError>;
    /// Objects whose key starts with `prefix`, in byte order of the key,
    /// beginning at `from`, at most `limit`.
    fn scan_objects(
        &self,
        bucket: &str,
        prefix: &str,
        from: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StorageError>;

    fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StorageError>;
    fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>, StorageError>;
    /// Uploads in (key, initiated, upload id) order after the markers.
    fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>, StorageError>;
    /// Inserts or replaces a part; `NotFound` if the upload is gone.
    fn put_part(&self, part: &PartRecord) -> Result<Replaced, StorageError>;
    fn list_parts(&self, upload_id: &str, after_part: u32, limit: usize) -> Result<Vec<PartRecord>, StorageError>;
    /// Atomically: checks the upload still exists, writes `object`, and drops
    /// the upload with all its parts. Returns the blobs no longer referenced
    /// (parts not named in `used_parts`, the replaced object's blob).
    ///
    /// `object.segments` are the used parts' blobs in order.
    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        used_parts: &[u32],
        condition: &PutCondition,
    ) -> Result<Replaced, StorageError>;
    fn get_completed_upload(&self, upload_id: &str) -> Result<Option<CompletedUpload>, StorageError>;
    /// Drops the upload; returns its parts' blobs.
    fn abort_upload(&self, upload_id: &str) -> Result<Replaced, StorageError>;

    /// Runs `f` against one account's IAM entities in a single transaction;
    /// an error from `f` rolls everything back.
    fn iam_transaction(
        &self,
        account_id: &str,
        f: &mut dyn FnMut(&mut dyn IamTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// A consistent read of one entity outside a write transaction.
    fn iam_get(&self, account_id: &str, kind: IamKind, name: &str) -> Result<Option<String>, StorageError>;

    /// The session-token key ring: (id, salt) of every live key, oldest first.
    fn list_token_keys(&self) -> Result<Vec<(u32, String)>, StorageError>;
    /// Adds a key (it becomes the one new tokens are sealed with); returns its id.
    fn add_token_key(&self, salt: &str) -> Result<u32, StorageError>;
    /// Removes a key; every token sealed under it stops working.
    fn retire_token_key(&self, id: u32) -> Result<bool, StorageError>;

    /// Whether any object or part references the blob (orphan reclaim).
    fn blob_is_referenced(&self, blob: &BlobId) -> Result<bool, StorageError>;
}
