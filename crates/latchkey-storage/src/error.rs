#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("metadata store error: {0}")]
    Metadata(#[from] rusqlite::Error),
    #[error("blob store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored metadata is corrupt: {0}")]
    Corrupt(String),
    /// A uniqueness rule was violated (e.g. the bucket name is taken).
    #[error("already exists")]
    AlreadyExists,
    #[error("not found")]
    NotFound,
    /// A conditional update found a state other than the one it expected.
    #[error("conflict: {0}")]
    Conflict(&'static str),
}
