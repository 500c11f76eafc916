//! latchkey's storage layer.
//!
//! Two narrow interfaces, each with an embedded implementation:
//! - [`MetadataStore`]: accounts, keys, buckets, objects, multipart uploads —
//!   transactional, ordered by key for listing (SQLite: [`SqliteMetadata`]).
//! - [`BlobStore`]: immutable object bytes addressed by an internal [`BlobId`],
//!   never by the user's key (files: [`FsBlobStore`]).
//!
//! The write protocol that makes acknowledged writes survive `kill -9`:
//! write and fsync the blob, then commit the metadata row that names it, then
//! acknowledge. A blob whose metadata never committed is an orphan; orphans are
//! reclaimed by [`reclaim_orphans`] at start-up.

mod blob;
mod dir_sync;
mod error;
mod group_commit;
mod model;
mod sqlite;

pub use blob::{BlobId, BlobReader, BlobStore, BlobWriter, FsBlobStore};
pub use error::StorageError;
pub use model::*;
pub use sqlite::{prefix_successor, SqliteMetadata};

/// Deletes every blob that no metadata row references and that was created
/// before `started` (blobs newer than that may belong to writes in flight).
pub async fn reclaim_orphans(
    meta: &dyn MetadataStore,
    blobs: &dyn BlobStore,
    started: std::time::SystemTime,
) -> Result<usize, StorageError> {
    let mut removed = 0;
    for (id, modified) in blobs.list_all().await? {
        if modified >= started {
            continue;
        }
        if !meta.blob_is_referenced(&id)? {
            blobs.delete(&id).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
