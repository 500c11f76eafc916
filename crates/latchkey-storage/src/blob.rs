//! Object bytes, addressed by an internal id — never by the user's key, so no
//! key can traverse paths or hit file-name limits.

use crate::dir_sync::DirSync;
use crate::StorageError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncSeekExt};

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
    /// One per shard directory, so concurrent writers share its fsyncs.
    dir_syncs: Arc<[DirSync; 256]>,
}

impl FsBlobStore {
    /// Opens the store, creating every shard directory up front (and making
    /// them durable) so writes need not.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let root = dir.join("blobs");
        std::fs::create_dir_all(&root)?;
        for shard in 0..=255u8 {
            match std::fs::create_dir(root.join(format!("{shard:02x}"))) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e.into()),
                _ => {}
            }
        }
        std::fs::File::open(&root)?.sync_all()?;
        Ok(Self { root, dir_syncs: Arc::new(std::array::from_fn(|_| DirSync::default())) })
    }

    fn shard(id: &BlobId) -> usize {
        usize::from_str_radix(&id.as_str()[..2], 16).expect("blob ids are hex")
    }

    fn shard_dir(&self, id: &BlobId) -> PathBuf {
        self.root.join(&id.as_str()[..2])
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.shard_dir(id).join(id.as_str())
    }
}

/// Bytes gather in memory and go to the file in `WRITE_CHUNK` pieces, each
/// written on a blocking thread while the next piece fills (so hashing on the
/// runtime overlaps the disk). The file is created by the first of those
/// writes, so a small object costs one trip to the blocking pool in all:
/// create, write, fsync the file, fsync its directory.
const WRITE_CHUNK: usize = 128 * 1024;

type InFlight = tokio::task::JoinHandle<std::io::Result<(std::fs::File, Vec<u8>)>>;

struct FsBlobWriter {
    id: BlobId,
    path: PathBuf,
    dir: PathBuf,
    dir_syncs: Arc<[DirSync; 256]>,
    /// Bytes not yet handed to a blocking write.
    buf: Vec<u8>,
    /// The buffer of the last finished write, kept for reuse.
    spare: Option<Vec<u8>>,
    /// The write now running; it hands back the file and its buffer.
    in_flight: Option<InFlight>,
}

fn join_error(e: tokio::task::JoinError) -> StorageError {
    StorageError::Io(std::io::Error::other(e))
}

/// Opens the blob's file, which must not exist yet.
fn create_file(dir: &Path, path: &Path) -> std::io::Result<std::fs::File> {
    let create = || std::fs::OpenOptions::new().write(true).create_new(true).open(path);
    match create() {
        // The shard directory was removed since the store opened: recreate
        // it, durably, before the file.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            if let Some(root) = dir.parent() {
                std::fs::File::open(root)?.sync_all()?;
            }
            create()
        }
        other => other,
    }
}

impl FsBlobWriter {
    /// Waits for the write in flight; the file, if one was created.
    async fn settle(&mut self) -> Result<Option<std::fs::File>, StorageError> {
        match self.in_flight.take() {
            None => Ok(None),
            Some(h) => {
                let (file, mut buf) = h.await.map_err(join_error)??;
                buf.clear();
                self.spare = Some(buf);
                Ok(Some(file))
            }
        }
    }

    /// Hands the full buffer to a blocking write, after the previous one.
    async fn write_out(&mut self) -> Result<(), StorageError> {
        let file = self.settle().await?;
        let next = self.spare.take().unwrap_or_else(|| Vec::with_capacity(WRITE_CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        let (dir, path) = (self.dir.clone(), self.path.clone());
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let mut file = match file {
                Some(f) => f,
                None => create_file(&dir, &path)?,
            };
            file.write_all(&full)?;
            Ok((file, full))
        }));
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for FsBlobWriter {
    async fn write(&mut self, mut data: &[u8]) -> Result<(), StorageError> {
        while !data.is_empty() {
            let n = (WRITE_CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == WRITE_CHUNK {
                self.write_out().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<BlobId, StorageError> {
        let file = self.settle().await?;
        let rest = std::mem::take(&mut self.buf);
        let (dir, path) = (self.dir.clone(), self.path.clone());
        let (dir_syncs, shard) = (self.dir_syncs.clone(), FsBlobStore::shard(&self.id));
        tokio::task::spawn_blocking(move || {
            let mut file = match file {
                Some(f) => f,
                None => create_file(&dir, &path)?,
            };
            file.write_all(&rest)?;
            file.sync_all()?;
            // The directory entry must be durable too, or a crash can lose
            // the file even though its data was synced; a directory fsync
            // that another writer started after our file was created counts.
            dir_syncs[shard].sync(&dir)
        })
        .await
        .map_err(join_error)??;
        Ok(self.id)
    }

    async fn abort(mut self: Box<Self>) {
        let _ = self.settle().await;
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self) -> Result<Box<dyn BlobWriter>, StorageError> {
        let id = BlobId::random();
        let (dir, path) = (self.shard_dir(&id), self.path(&id));
        let dir_syncs = self.dir_syncs.clone();
        Ok(Box::new(FsBlobWriter { id, path, dir, dir_syncs, buf: Vec::new(), spare: None, in_flight: None }))
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
    async fn a_blob_of_many_write_chunks_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..(3 * WRITE_CHUNK + 777)).map(|i| (i * 31 % 251) as u8).collect();
        let mut w = store.create().await.unwrap();
        for piece in data.chunks(50_000) {
            w.write(piece).await.unwrap();
        }
        let id = w.finish().await.unwrap();
        let mut back = Vec::new();
        store.open(&id, 0).await.unwrap().read_to_end(&mut back).await.unwrap();
        assert!(back == data);
    }

    #[tokio::test]
    async fn an_aborted_blob_leaves_nothing_after_writes_went_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(&vec![1u8; 2 * WRITE_CHUNK + 1]).await.unwrap();
        w.abort().await;
        assert!(store.list_all().await.unwrap().is_empty());
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

    #[tokio::test]
    async fn concurrent_blobs_all_read_back_even_after_a_shard_directory_was_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FsBlobStore::open(dir.path()).unwrap());
        assert_eq!(std::fs::read_dir(dir.path().join("blobs")).unwrap().count(), 256);
        std::fs::remove_dir(dir.path().join("blobs").join("00")).unwrap();
        let tasks: Vec<_> = (0..64u32)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut w = store.create().await.unwrap();
                    w.write(&i.to_le_bytes()).await.unwrap();
                    (i, w.finish().await.unwrap())
                })
            })
            .collect();
        for t in tasks {
            let (i, id) = t.await.unwrap();
            let mut back = Vec::new();
            store.open(&id, 0).await.unwrap().read_to_end(&mut back).await.unwrap();
            assert_eq!(back, i.to_le_bytes());
        }
        // A blob whose shard directory is gone recreates it.
        let id = BlobId("00".to_string() + &"0".repeat(30));
        let path = store.path(&id);
        create_file(&store.shard_dir(&id), &path).unwrap();
        assert!(path.exists());
    }

    #[test]
    fn blob_ids_reject_paths() {
        assert!(BlobId::try_from("../../etc/passwd".to_string()).is_err());
        assert!(BlobId::try_from("A".repeat(32)).is_err());
        assert!(BlobId::try_from(BlobId::random().0).is_ok());
    }
}
