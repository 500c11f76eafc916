//! Object bytes, addressed by an internal id — never by the user's key, so no
//! key can traverse paths or hit file-name limits.

use crate::StorageError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt};

/// An internal blob id: 32 lowercase hex digits (a random UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobId(String);

impl BlobId {
    pub fn random() -> Self {
        BlobId(uuid::Uuid::new_v4().simple().to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BlobId {
    type Error = StorageError;
    fn try_from(s: String) -> Result<Self, StorageError> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(BlobId(s))
        } else {
            Err(StorageError::Corrupt(format!("invalid blob id {s:?}")))
        }
    }
}

impl From<BlobId> for String {
    fn from(b: BlobId) -> String {
        b.0
    }
}

/// A readable byte stream of one blob.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// Writes one new blob. Nothing is visible until [`BlobWriter::finish`], and
/// `finish` returns only once the bytes are durable.
#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, data: &[u8]) -> Result<(), StorageError>;
    /// Makes the blob durable and returns its id.
    async fn finish(self: Box<Self>) -> Result<BlobId, StorageError>;
    /// Discards what was written.
    async fn abort(self: Box<Self>);
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn create(&self) -> Result<Box<dyn BlobWriter>, StorageError>;
    /// Opens the blob positioned at `offset`.
    async fn open(&self, id: &BlobId, offset: u64) -> Result<BlobReader, StorageError>;
    async fn delete(&self, id: &BlobId) -> Result<(), StorageError>;
    /// Every blob with its modification time (for orphan reclaim).
    async fn list_all(&self) -> Result<Vec<(BlobId, SystemTime)>, StorageError>;
}

/// Blobs as files under `<root>/blobs/<first two hex digits>/<id>`.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let root = dir.join("blobs");
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn shard_dir(&self, id: &BlobId) -> PathBuf {
        self.root.join(&id.as_str()[..2])
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.shard_dir(id).join(id.as_str())
    }
}

struct FsBlobWriter {
    id: BlobId,
    path: PathBuf,
    dir: PathBuf,
    file: tokio::fs::File,
}

#[async_trait]
impl BlobWriter for FsBlobWriter {
    async fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.file.write_all(data).await?;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<BlobId, StorageError> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        // The directory entry must be durable too, or a crash can lose the
        // file even though its data was synced.
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
        Ok(self.id)
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        let id = BlobId::random();
        let dir = self.shard_dir(&id);
        tokio::fs::create_dir_all(&dir).await?;
        let path = self.path(&id);
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        Ok(Box::new(FsBlobWriter { id, path, dir, file }))
    }

    async fn open(&self, id: &BlobId, offset: u64) -> Result<BlobReader, StorageError> {
        let mut file = match tokio::fs::File::open(self.path(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::NotFound),
            Err(e) => return Err(e.into()),
        };
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset)).await?;
        }
        Ok(Box::new(file))
    }

    async fn delete(&self, id: &BlobId) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list_all(&self) -> Result<Vec<(BlobId, SystemTime)>, StorageError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for shard in std::fs::read_dir(&root)? {
                let shard = shard?;
                if !shard.file_type()?.is_dir() {
                    continue;
                }
                for entry in std::fs::read_dir(shard.path())? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // Anything not named like a blob is not ours to delete.
                    if let Ok(id) = BlobId::try_from(name) {
                        out.push((id, entry.metadata()?.modified()?));
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_finished_blob_reads_back_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"world").await.unwrap();
        let id = w.finish().await.unwrap();
        let mut r = store.open(&id, 6).await.unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "world");
    }

    #[tokio::test]
    async fn an_aborted_blob_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(b"x").await.unwrap();
        w.abort().await;
        assert!(store.list_all().await.unwrap().is_empty());
    }

    #[test]
    fn blob_ids_reject_paths() {
        assert!(BlobId::try_from("../../etc/passwd".to_string()).is_err());
        assert!(BlobId::try_from("A".repeat(32)).is_err());
        assert!(BlobId::try_from(BlobId::random().0).is_ok());
    }
}
