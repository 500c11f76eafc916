//! The embedded metadata store: SQLite in WAL mode with `synchronous=FULL`, so
//! a committed transaction survives a crash or power loss.

use crate::group_commit::GroupCommitter;
use crate::model::*;
use crate::{BlobId, StorageError};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use time::OffsetDateTime;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    canonical_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    owner TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    active INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    region TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS buckets_by_account ON buckets(account_id, name);
-- Keys are BLOBs so ordering is the byte order of their UTF-8, as in S3.
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    segments TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    owner_account TEXT NOT NULL,
    attrs TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    initiated_ms INTEGER NOT NULL,
    owner_account TEXT NOT NULL,
    attrs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, initiated_ms, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum TEXT,
    last_modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    etag TEXT NOT NULL,
    completed_ms INTEGER NOT NULL
);
-- Session-token key ring.
CREATE TABLE IF NOT EXISTS token_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    salt TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
-- Per-bucket configuration documents (policy, cors, ...).
CREATE TABLE IF NOT EXISTS bucket_configs (
    bucket TEXT NOT NULL,
    kind TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (bucket, kind)
) WITHOUT ROWID;
-- IAM entities: one JSON document per (account, kind, lowercase name).
CREATE TABLE IF NOT EXISTS iam_entities (
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name_lc TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (account_id, kind, name_lc)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS access_keys_by_owner ON access_keys(account_id, owner);
-- Every blob that some object or part names; orphan reclaim consults it.
CREATE TABLE IF NOT EXISTS blob_refs (blob TEXT PRIMARY KEY) WITHOUT ROWID;
"#;

const READERS: usize = 4;
const STATEMENT_CACHE: usize = 128;

pub struct SqliteMetadata {
    /// The one writing connection; concurrent writes share its commits.
    writer: GroupCommitter,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn open_conn(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Room for every distinct statement, so none is evicted and parsed again.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Runs a statement from the connection's statement cache, so its SQL is
/// parsed once per connection rather than on every call.
fn exec(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// The first row of a cached statement (`QueryReturnedNoRows` if none).
fn row<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&Row) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(p, f)
}

fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> Result<OffsetDateTime, StorageError> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("metadata records always serialize")
}

fn unjson<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StorageError> {
    serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn key_string(bytes: Vec<u8>) -> Result<String, StorageError> {
    String::from_utf8(bytes).map_err(|_| StorageError::Corrupt("object key is not UTF-8".into()))
}

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` when there is none (empty prefix or all 0xFF).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// The `objects` columns in the order `object_from_row` reads them (a macro so
/// statements built from it stay literals, parsed once per connection).
macro_rules! object_cols {
    () => {
        "bucket, key, segments, size, etag, last_modified_ms, owner_account, attrs"
    };
}

fn object_from_row(row: &Row) -> rusqlite::Result<ObjectRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?))
}

type ObjectRow = (String, Vec<u8>, String, i64, String, i64, String, String);

fn object_from_parts(r: ObjectRow) -> Result<ObjectRecord, StorageError> {
    Ok(ObjectRecord {
        bucket: r.0,
        key: key_string(r.1)?,
        segments: unjson(&r.2)?,
        size: r.3 as u64,
        etag: r.4,
        last_modified: from_ms(r.5)?,
        owner_account: r.6,
        attrs: unjson(&r.7)?,
    })
}

type UploadRow = (String, String, Vec<u8>, i64, String, String);

fn upload_from_row(row: &Row) -> rusqlite::Result<UploadRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn upload_from_parts(r: UploadRow) -> Result<MultipartUpload, StorageError> {
    Ok(MultipartUpload {
        upload_id: r.0,
        bucket: r.1,
        key: key_string(r.2)?,
        initiated: from_ms(r.3)?,
        owner_account: r.4,
        attrs: unjson(&r.5)?,
    })
}

fn get_object_tx(tx: &Connection, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StorageError> {
    let row = row(
        tx,
        concat!("SELECT ", object_cols!(), " FROM objects WHERE bucket = ?1 AND key = ?2"),
        params![bucket, key.as_bytes()],
        object_from_row,
    )
    .optional()?;
    row.map(object_from_parts).transpose()
}

fn add_refs(tx: &Connection, blobs: impl Iterator<Item = BlobId>) -> Result<(), StorageError> {
    let mut stmt = tx.prepare_cached("INSERT OR IGNORE INTO blob_refs(blob) VALUES (?1)")?;
    for b in blobs {
        stmt.execute(params![b.as_str()])?;
    }
    Ok(())
}

fn drop_refs(tx: &Connection, blobs: &[BlobId]) -> Result<(), StorageError> {
    let mut stmt = tx.prepare_cached("DELETE FROM blob_refs WHERE blob = ?1")?;
    for b in blobs {
        stmt.execute(params![b.as_str()])?;
    }
    Ok(())
}

/// Removes an object row and returns it, dropping its blob references.
fn remove_object_tx(tx: &Connection, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StorageError> {
    let old = get_object_tx(tx, bucket, key)?;
    if let Some(old) = &old {
        exec(tx, "DELETE FROM objects WHERE bucket = ?1 AND key = ?2", params![bucket, key.as_bytes()])?;
        let blobs: Vec<BlobId> = old.segments.iter().map(|s| s.blob.clone()).collect();
        drop_refs(tx, &blobs)?;
    }
    Ok(old)
}

fn check_condition(tx: &Connection, bucket: &str, key: &str, condition: &PutCondition) -> Result<(), StorageError> {
    match condition {
        PutCondition::Always => Ok(()),
        PutCondition::IfMatch(etag) => match get_object_tx(tx, bucket, key)? {
            None => Err(StorageError::NotFound),
            Some(o) if etag == "*" || &o.etag == etag => Ok(()),
            Some(_) => Err(StorageError::Conflict("precondition")),
        },
        PutCondition::IfNoneMatch(etag) => match get_object_tx(tx, bucket, key)? {
            Some(o) if etag == "*" || &o.etag == etag => Err(StorageError::Conflict("precondition")),
            _ => Ok(()),
        },
    }
}

fn insert_object_tx(tx: &Connection, o: &ObjectRecord) -> Result<(), StorageError> {
    exec(
        tx,
        concat!("INSERT INTO objects (", object_cols!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            o.bucket,
            o.key.as_bytes(),
            json(&o.segments),
            o.size as i64,
            o.etag,
            to_ms(o.last_modified),
            o.owner_account,
            json(&o.attrs)
        ],
    )?;
    add_refs(tx, o.segments.iter().map(|s| s.blob.clone()))
}

impl SqliteMetadata {
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("metadata.sqlite3");
        let writer = open_conn(&path)?;
        writer.execute_batch(SCHEMA)?;
        let readers = (0..READERS).map(|_| open_conn(&path).map(Mutex::new)).collect::<Result<_, _>>()?;
        Ok(Self { writer: GroupCommitter::new(writer), readers, next_reader: AtomicUsize::new(0) })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StorageError>) -> Result<T, StorageError> {
        // Take the first idle reader; wait for one only when all are busy.
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for n in 0..self.readers.len() {
            match self.readers[(start + n) % self.readers.len()].try_lock() {
                Ok(conn) => return f(&conn),
                Err(std::sync::TryLockError::Poisoned(e)) => return f(&e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let conn = self.readers[start % self.readers.len()].lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }

    /// One atomic, durable write; concurrent writes share a commit.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StorageError>) -> Result<T, StorageError> {
        self.writer.write(f)
    }
}

fn account_from_row(row: &Row) -> rusqlite::Result<(String, String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn account_from_parts(r: (String, String, String, i64)) -> Result<Account, StorageError> {
    Ok(Account { id: r.0, name: r.1, canonical_id: r.2, created: from_ms(r.3)? })
}

fn bucket_from_row(row: &Row) -> rusqlite::Result<(String, String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn bucket_from_parts(r: (String, String, String, i64)) -> Result<Bucket, StorageError> {
    Ok(Bucket { name: r.0, account_id: r.1, region: r.2, created: from_ms(r.3)? })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl MetadataStore for SqliteMetadata {
    fn create_account(&self, a: &Account) -> Result<(), StorageError> {
        self.write(|tx| {
            exec(
                tx,
                "INSERT INTO accounts (id, name, canonical_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![a.id, a.name, a.canonical_id, to_ms(a.created)],
            )
            .map_err(|e| if is_unique_violation(&e) { StorageError::AlreadyExists } else { e.into() })?;
            Ok(())
        })
    }

    fn get_account(&self, id: &str) -> Result<Option<Account>, StorageError> {
        self.read(|c| {
            row(
                c,
                "SELECT id, name, canonical_id, created_ms FROM accounts WHERE id = ?1",
                params![id],
                account_from_row,
            )
            .optional()?
            .map(account_from_parts)
            .transpose()
        })
    }

    fn list_accounts(&self) -> Result<Vec<Account>, StorageError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, canonical_id, created_ms FROM accounts ORDER BY rowid")?;
            let rows = stmt.query_map([], account_from_row)?;
            rows.map(|r| account_from_parts(r?)).collect()
        })
    }

    fn put_access_key(&self, k: &AccessKeyRecord) -> Result<(), StorageError> {
        self.write(|tx| {
            exec(tx, "INSERT OR REPLACE INTO access_keys (access_key_id, account_id, owner, secret_sealed, active, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k.access_key_id,
                    k.account_id,
                    json(&k.owner),
                    k.secret_sealed,
                    k.status == KeyStatus::Active,
                    to_ms(k.created)
                ],
            )?;
            Ok(())
        })
    }

    fn get_access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StorageError> {
        self.read(|c| {
            let row = row(
                c,
                "SELECT access_key_id, account_id, owner, secret_sealed, active, created_ms
                     FROM access_keys WHERE access_key_id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, bool>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()?;
            row.map(|r| {
                Ok(AccessKeyRecord {
                    access_key_id: r.0,
                    account_id: r.1,
                    owner: unjson(&r.2)?,
                    secret_sealed: r.3,
                    status: if r.4 { KeyStatus::Active } else { KeyStatus::Inactive },
                    created: from_ms(r.5)?,
                })
            })
            .transpose()
        })
    }

    fn create_bucket(&self, b: &Bucket) -> Result<(), StorageError> {
        self.write(|tx| {
            exec(
                tx,
                "INSERT INTO buckets (name, account_id, region, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![b.name, b.account_id, b.region, to_ms(b.created)],
            )
            .map_err(|e| if is_unique_violation(&e) { StorageError::AlreadyExists } else { e.into() })?;
            Ok(())
        })
    }

    fn get_bucket(&self, name: &str) -> Result<Option<Bucket>, StorageError> {
        self.read(|c| {
            row(
                c,
                "SELECT name, account_id, region, created_ms FROM buckets WHERE name = ?1",
                params![name],
                bucket_from_row,
            )
            .optional()?
            .map(bucket_from_parts)
            .transpose()
        })
    }

    fn list_buckets(&self, account_id: &str) -> Result<Vec<Bucket>, StorageError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, account_id, region, created_ms FROM buckets WHERE account_id = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![account_id], bucket_from_row)?;
            rows.map(|r| bucket_from_parts(r?)).collect()
        })
    }

    fn delete_bucket(&self, name: &str) -> Result<Replaced, StorageError> {
        self.write(|tx| {
            let busy: bool =
                row(tx, "SELECT EXISTS(SELECT 1 FROM objects WHERE bucket = ?1)", params![name], |r| r.get(0))?;
            if busy {
                return Err(StorageError::Conflict("not empty"));
            }
            let blobs: Vec<BlobId> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT p.blob FROM parts p JOIN uploads u ON p.upload_id = u.upload_id WHERE u.bucket = ?1",
                )?;
                let rows = stmt.query_map(params![name], |r| r.get::<_, String>(0))?;
                rows.map(|r| BlobId::try_from(r?)).collect::<Result<_, _>>()?
            };
            drop_refs(tx, &blobs)?;
            exec(
                tx,
                "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?1)",
                params![name],
            )?;
            exec(tx, "DELETE FROM uploads WHERE bucket = ?1", params![name])?;
            if exec(tx, "DELETE FROM buckets WHERE name = ?1", params![name])? == 0 {
                return Err(StorageError::NotFound);
            }
            exec(tx, "DELETE FROM bucket_configs WHERE bucket = ?1", params![name])?;
            Ok(Replaced { blobs })
        })
    }

    fn put_bucket_config(&self, bucket: &str, kind: &str, document: Option<&str>) -> Result<(), StorageError> {
        self.write(|tx| {
            let exists: bool =
                row(tx, "SELECT EXISTS(SELECT 1 FROM buckets WHERE name = ?1)", params![bucket], |r| r.get(0))?;
            if !exists {
                return Err(StorageError::NotFound);
            }
            match document {
                Some(d) => exec(
                    tx,
                    "INSERT OR REPLACE INTO bucket_configs (bucket, kind, document) VALUES (?1, ?2, ?3)",
                    params![bucket, kind, d],
                )?,
                None => exec(tx, "DELETE FROM bucket_configs WHERE bucket = ?1 AND kind = ?2", params![bucket, kind])?,
            };
            Ok(())
        })
    }

    fn get_bucket_config(&self, bucket: &str, kind: &str) -> Result<Option<String>, StorageError> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT document FROM bucket_configs WHERE bucket = ?1 AND kind = ?2",
                params![bucket, kind],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StorageError> {
        self.read(|c| get_object_tx(c, bucket, key))
    }

    fn put_object(&self, o: &ObjectRecord, condition: &PutCondition) -> Result<Replaced, StorageError> {
        self.write(|tx| {
            check_condition(tx, &o.bucket, &o.key, condition)?;
            let old = remove_object_tx(tx, &o.bucket, &o.key)?;
            insert_object_tx(tx, o)?;
            Ok(Replaced { blobs: old.map(|o| o.segments.into_iter().map(|s| s.blob).collect()).unwrap_or_default() })
        })
    }

    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StorageError> {
        self.write(|tx| remove_object_tx(tx, bucket, key))
    }

    fn set_object_tags(&self, bucket: &str, key: &str, tags: &[(String, String)]) -> Result<(), StorageError> {
        self.write(|tx| {
            let mut o = get_object_tx(tx, bucket, key)?.ok_or(StorageError::NotFound)?;
            o.attrs.tags = tags.to_vec();
            exec(
                tx,
                "UPDATE objects SET attrs = ?3 WHERE bucket = ?1 AND key = ?2",
                params![bucket, key.as_bytes(), json(&o.attrs)],
            )?;
            Ok(())
        })
    }

    fn scan_objects(
        &self,
        bucket: &str,
        prefix: &str,
        from: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StorageError> {
        self.read(|c| {
            let mut sql =
                concat!("SELECT ", object_cols!(), " FROM objects WHERE bucket = ?1 AND key >= ?2").to_string();
            let end = prefix_successor(prefix.as_bytes());
            let mut args: Vec<Box<dyn rusqlite::ToSql>> =
                vec![Box::new(bucket.to_string()), Box::new(prefix.as_bytes().to_vec())];
            if let Some(end) = end {
                args.push(Box::new(end));
                sql.push_str(&format!(" AND key < ?{}", args.len()));
            }
            match from {
                Bound::Included(k) => {
                    args.push(Box::new(k.to_vec()));
                    sql.push_str(&format!(" AND key >= ?{}", args.len()));
                }
                Bound::Excluded(k) => {
                    args.push(Box::new(k.to_vec()));
                    sql.push_str(&format!(" AND key > ?{}", args.len()));
                }
                Bound::Unbounded => {}
            }
            args.push(Box::new(limit as i64));
            sql.push_str(&format!(" ORDER BY key LIMIT ?{}", args.len()));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter().map(|b| b.as_ref())), object_from_row)?;
            rows.map(|r| object_from_parts(r?)).collect()
        })
    }

    fn create_upload(&self, u: &MultipartUpload) -> Result<(), StorageError> {
        self.write(|tx| {
            exec(
                tx,
                "INSERT INTO uploads (upload_id, bucket, key, initiated_ms, owner_account, attrs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![u.upload_id, u.bucket, u.key.as_bytes(), to_ms(u.initiated), u.owner_account, json(&u.attrs)],
            )?;
            Ok(())
        })
    }

    fn get_upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>, StorageError> {
        self.read(|c| {
            row(
                c,
                "SELECT upload_id, bucket, key, initiated_ms, owner_account, attrs FROM uploads WHERE upload_id = ?1",
                params![upload_id],
                upload_from_row,
            )
            .optional()?
            .map(upload_from_parts)
            .transpose()
        })
    }

    fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>, StorageError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT upload_id, bucket, key, initiated_ms, owner_account, attrs FROM uploads
                 WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2
                 ORDER BY key, initiated_ms, upload_id",
            )?;
            let rows = stmt.query_map(params![bucket, prefix.as_bytes()], upload_from_row)?;
            let mut out = Vec::new();
            // Markers as S3 defines them: with an upload-id marker, uploads for the
            // marker key that sort after it are included; without, the marker key
            // itself is skipped entirely.
            let mut past_id_marker = upload_id_marker.is_none();
            for r in rows {
                let u = upload_from_parts(r?)?;
                if let Some(km) = key_marker {
                    if u.key.as_bytes() < km.as_bytes() {
                        continue;
                    }
                    if u.key == km {
                        match upload_id_marker {
                            None => continue,
                            Some(idm) if !past_id_marker => {
                                if u.upload_id == idm {
                                    past_id_marker = true;
                                }
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                }
                out.push(u);
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
    }

    fn put_part(&self, p: &PartRecord) -> Result<Replaced, StorageError> {
        self.write(|tx| {
            let exists: bool =
                row(tx, "SELECT EXISTS(SELECT 1 FROM uploads WHERE upload_id = ?1)", params![p.upload_id], |r| {
                    r.get(0)
                })?;
            if !exists {
                return Err(StorageError::NotFound);
            }
            let old: Option<String> = row(
                tx,
                "SELECT blob FROM parts WHERE upload_id = ?1 AND part_number = ?2",
                params![p.upload_id, p.part_number],
                |r| r.get(0),
            )
            .optional()?;
            let old: Vec<BlobId> = old.map(BlobId::try_from).transpose()?.into_iter().collect();
            drop_refs(tx, &old)?;
            exec(
                tx,
                "INSERT OR REPLACE INTO parts (upload_id, part_number, blob, size, etag, checksum, last_modified_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    p.upload_id,
                    p.part_number,
                    p.blob.as_str(),
                    p.size as i64,
                    p.etag,
                    p.checksum.as_ref().map(json),
                    to_ms(p.last_modified)
                ],
            )?;
            add_refs(tx, std::iter::once(p.blob.clone()))?;
            Ok(Replaced { blobs: old })
        })
    }

    fn list_parts(&self, upload_id: &str, after_part: u32, limit: usize) -> Result<Vec<PartRecord>, StorageError> {
        self.read(|c| list_parts_tx(c, upload_id, after_part, limit))
    }

    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        used_parts: &[u32],
        condition: &PutCondition,
    ) -> Result<Replaced, StorageError> {
        self.write(|tx| {
            check_condition(tx, &object.bucket, &object.key, condition)?;
            let exists: bool = row(tx, "SELECT EXISTS(SELECT 1 FROM uploads WHERE upload_id = ?1)",
                params![upload_id],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StorageError::NotFound);
            }
            let parts = list_parts_tx(tx, upload_id, 0, usize::MAX)?;
            let mut unused: Vec<BlobId> = parts
                .iter()
                .filter(|p| !used_parts.contains(&p.part_number))
                .map(|p| p.blob.clone())
                .collect();
            let all: Vec<BlobId> = parts.iter().map(|p| p.blob.clone()).collect();
            drop_refs(tx, &all)?;
            exec(tx, "DELETE FROM parts WHERE upload_id = ?1", params![upload_id])?;
            exec(tx, "DELETE FROM uploads WHERE upload_id = ?1",
                params![upload_id],
            )?;
            if let Some(old) = remove_object_tx(tx, &object.bucket, &object.key)? {
                unused.extend(old.segments.into_iter().map(|s| s.blob));
            }
            insert_object_tx(tx, object)?;
            exec(tx, "INSERT OR REPLACE INTO completed_uploads (upload_id, bucket, key, etag, completed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![upload_id, object.bucket, object.key.as_bytes(), object.etag, to_ms(object.last_modified)],
            )?;
            Ok(Replaced { blobs: unused })
        })
    }

    fn abort_upload(&self, upload_id: &str) -> Result<Replaced, StorageError> {
        self.write(|tx| {
            let parts = list_parts_tx(tx, upload_id, 0, usize::MAX)?;
            let blobs: Vec<BlobId> = parts.into_iter().map(|p| p.blob).collect();
            drop_refs(tx, &blobs)?;
            exec(tx, "DELETE FROM parts WHERE upload_id = ?1", params![upload_id])?;
            if exec(tx, "DELETE FROM uploads WHERE upload_id = ?1", params![upload_id])? == 0 {
                return Err(StorageError::NotFound);
            }
            Ok(Replaced { blobs })
        })
    }

    fn get_completed_upload(&self, upload_id: &str) -> Result<Option<CompletedUpload>, StorageError> {
        self.read(|c| {
            let row = row(
                c,
                "SELECT upload_id, bucket, key, etag FROM completed_uploads WHERE upload_id = ?1",
                params![upload_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?;
            row.map(|r| Ok(CompletedUpload { upload_id: r.0, bucket: r.1, key: key_string(r.2)?, etag: r.3 }))
                .transpose()
        })
    }

    fn list_token_keys(&self) -> Result<Vec<(u32, String)>, StorageError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, salt FROM token_keys ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn add_token_key(&self, salt: &str) -> Result<u32, StorageError> {
        self.write(|tx| {
            exec(
                tx,
                "INSERT INTO token_keys (salt, created_ms) VALUES (?1, ?2)",
                params![salt, to_ms(OffsetDateTime::now_utc())],
            )?;
            Ok(tx.last_insert_rowid() as u32)
        })
    }

    fn retire_token_key(&self, id: u32) -> Result<bool, StorageError> {
        self.write(|tx| Ok(exec(tx, "DELETE FROM token_keys WHERE id = ?1", params![id])? > 0))
    }

    fn iam_transaction(
        &self,
        account_id: &str,
        f: &mut dyn FnMut(&mut dyn IamTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            let mut view = SqliteIamTx { tx, account_id };
            f(&mut view)
        })
    }

    fn iam_get(&self, account_id: &str, kind: IamKind, name: &str) -> Result<Option<String>, StorageError> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT document FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND name_lc = ?3",
                params![account_id, kind.as_str(), name.to_lowercase()],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn blob_is_referenced(&self, blob: &BlobId) -> Result<bool, StorageError> {
        self.read(|c| {
            Ok(row(c, "SELECT EXISTS(SELECT 1 FROM blob_refs WHERE blob = ?1)", params![blob.as_str()], |r| r.get(0))?)
        })
    }
}

struct SqliteIamTx<'a> {
    tx: &'a Connection,
    account_id: &'a str,
}

type AccessKeyRow = (String, String, String, Vec<u8>, bool, i64);

fn access_key_from_row(r: &Row) -> rusqlite::Result<AccessKeyRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn access_key_from_parts(r: AccessKeyRow) -> Result<AccessKeyRecord, StorageError> {
    Ok(AccessKeyRecord {
        access_key_id: r.0,
        account_id: r.1,
        owner: unjson(&r.2)?,
        secret_sealed: r.3,
        status: if r.4 { KeyStatus::Active } else { KeyStatus::Inactive },
        created: from_ms(r.5)?,
    })
}

impl IamTx for SqliteIamTx<'_> {
    fn get(&mut self, kind: IamKind, name: &str) -> Result<Option<String>, StorageError> {
        Ok(row(
            self.tx,
            "SELECT document FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND name_lc = ?3",
            params![self.account_id, kind.as_str(), name.to_lowercase()],
            |r| r.get(0),
        )
        .optional()?)
    }

    fn list(&mut self, kind: IamKind) -> Result<Vec<String>, StorageError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT document FROM iam_entities WHERE account_id = ?1 AND kind = ?2 ORDER BY name_lc")?;
        let rows = stmt.query_map(params![self.account_id, kind.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put(&mut self, kind: IamKind, name: &str, document: &str) -> Result<(), StorageError> {
        exec(
            self.tx,
            "INSERT OR REPLACE INTO iam_entities (account_id, kind, name_lc, document) VALUES (?1, ?2, ?3, ?4)",
            params![self.account_id, kind.as_str(), name.to_lowercase(), document],
        )?;
        Ok(())
    }

    fn delete(&mut self, kind: IamKind, name: &str) -> Result<bool, StorageError> {
        Ok(exec(
            self.tx,
            "DELETE FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND name_lc = ?3",
            params![self.account_id, kind.as_str(), name.to_lowercase()],
        )? > 0)
    }

    fn put_access_key(&mut self, k: &AccessKeyRecord) -> Result<(), StorageError> {
        exec(
            self.tx,
            "INSERT OR REPLACE INTO access_keys (access_key_id, account_id, owner, secret_sealed, active, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                k.access_key_id,
                k.account_id,
                json(&k.owner),
                k.secret_sealed,
                k.status == KeyStatus::Active,
                to_ms(k.created)
            ],
        )?;
        Ok(())
    }

    fn delete_access_key(&mut self, access_key_id: &str) -> Result<bool, StorageError> {
        Ok(exec(
            self.tx,
            "DELETE FROM access_keys WHERE access_key_id = ?1 AND account_id = ?2",
            params![access_key_id, self.account_id],
        )? > 0)
    }

    fn list_access_keys(&mut self, owner: &KeyOwner) -> Result<Vec<AccessKeyRecord>, StorageError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT access_key_id, account_id, owner, secret_sealed, active, created_ms FROM access_keys
             WHERE account_id = ?1 AND owner = ?2 ORDER BY created_ms, access_key_id",
        )?;
        let rows = stmt.query_map(params![self.account_id, json(owner)], access_key_from_row)?;
        rows.map(|r| access_key_from_parts(r?)).collect()
    }
}

fn list_parts_tx(
    c: &Connection,
    upload_id: &str,
    after_part: u32,
    limit: usize,
) -> Result<Vec<PartRecord>, StorageError> {
    let mut stmt = c.prepare_cached(
        "SELECT upload_id, part_number, blob, size, etag, checksum, last_modified_ms FROM parts
         WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![upload_id, after_part, limit.min(i64::MAX as usize) as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    rows.map(|r| {
        let r = r?;
        Ok(PartRecord {
            upload_id: r.0,
            part_number: r.1,
            blob: BlobId::try_from(r.2)?,
            size: r.3 as u64,
            etag: r.4,
            checksum: r.5.as_deref().map(unjson).transpose()?,
            last_modified: from_ms(r.6)?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteMetadata) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteMetadata::open(dir.path()).unwrap();
        s.create_account(&Account {
            id: "123456789012".into(),
            name: "a".into(),
            canonical_id: "c".into(),
            created: OffsetDateTime::now_utc(),
        })
        .unwrap();
        s.create_bucket(&Bucket {
            name: "b".into(),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            created: OffsetDateTime::now_utc(),
        })
        .unwrap();
        (dir, s)
    }

    fn object(key: &str) -> ObjectRecord {
        ObjectRecord {
            bucket: "b".into(),
            key: key.into(),
            segments: vec![Segment { blob: BlobId::random(), size: 1, checksum: None }],
            size: 1,
            etag: "e".into(),
            last_modified: OffsetDateTime::now_utc(),
            owner_account: "123456789012".into(),
            attrs: ObjectAttributes {
                headers: Default::default(),
                user_metadata: vec![],
                tags: vec![],
                checksum: None,
                storage_class: None,
            },
        }
    }

    #[test]
    fn prefix_successor_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_successor(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn scans_are_in_byte_order_within_the_prefix() {
        let (_d, s) = store();
        for k in ["b", "a/2", "a/1", "é", "a0", "Z"] {
            s.put_object(&object(k), &PutCondition::Always).unwrap();
        }
        let all: Vec<String> =
            s.scan_objects("b", "", Bound::Unbounded, 100).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(all, ["Z", "a/1", "a/2", "a0", "b", "é"]);
        let under: Vec<String> =
            s.scan_objects("b", "a/", Bound::Excluded(&b"a/1"[..]), 100).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(under, ["a/2"]);
    }

    #[test]
    fn replacing_an_object_returns_the_old_blob_and_unreferences_it() {
        let (_d, s) = store();
        let first = object("k");
        s.put_object(&first, &PutCondition::Always).unwrap();
        let replaced = s.put_object(&object("k"), &PutCondition::Always).unwrap();
        assert_eq!(replaced.blobs, vec![first.segments[0].blob.clone()]);
        assert!(!s.blob_is_referenced(&first.segments[0].blob).unwrap());
    }

    #[test]
    fn conditional_writes_check_the_current_object() {
        let (_d, s) = store();
        let o = object("k");
        assert!(matches!(s.put_object(&o, &PutCondition::IfMatch("e".into())), Err(StorageError::NotFound)));
        s.put_object(&o, &PutCondition::IfNoneMatch("*".into())).unwrap();
        assert!(matches!(s.put_object(&o, &PutCondition::IfNoneMatch("*".into())), Err(StorageError::Conflict(_))));
        assert!(matches!(s.put_object(&o, &PutCondition::IfMatch("other".into())), Err(StorageError::Conflict(_))));
        s.put_object(&o, &PutCondition::IfMatch("e".into())).unwrap();
    }

    #[test]
    fn a_bucket_with_objects_cannot_be_deleted() {
        let (_d, s) = store();
        s.put_object(&object("k"), &PutCondition::Always).unwrap();
        assert!(matches!(s.delete_bucket("b"), Err(StorageError::Conflict(_))));
        s.delete_object("b", "k").unwrap();
        s.delete_bucket("b").unwrap();
    }

    #[test]
    fn completing_an_upload_keeps_used_parts_and_frees_the_rest() {
        let (_d, s) = store();
        let up = MultipartUpload {
            upload_id: "u1".into(),
            bucket: "b".into(),
            key: "k".into(),
            initiated: OffsetDateTime::now_utc(),
            owner_account: "123456789012".into(),
            attrs: object("k").attrs,
        };
        s.create_upload(&up).unwrap();
        let mut blobs = vec![];
        for n in 1..=3 {
            let b = BlobId::random();
            blobs.push(b.clone());
            s.put_part(&PartRecord {
                upload_id: "u1".into(),
                part_number: n,
                blob: b,
                size: 1,
                etag: "e".into(),
                checksum: None,
                last_modified: OffsetDateTime::now_utc(),
            })
            .unwrap();
        }
        let mut o = object("k");
        o.segments = vec![
            Segment { blob: blobs[0].clone(), size: 1, checksum: None },
            Segment { blob: blobs[2].clone(), size: 1, checksum: None },
        ];
        let freed = s.complete_upload("u1", &o, &[1, 3], &PutCondition::Always).unwrap();
        assert_eq!(freed.blobs, vec![blobs[1].clone()]);
        assert!(s.blob_is_referenced(&blobs[0]).unwrap());
        assert!(!s.blob_is_referenced(&blobs[1]).unwrap());
        assert!(s.get_upload("u1").unwrap().is_none());
        assert!(matches!(s.complete_upload("u1", &o, &[1], &PutCondition::Always), Err(StorageError::NotFound)));
        assert_eq!(s.get_completed_upload("u1").unwrap().unwrap().etag, "e");
    }

    #[test]
    fn concurrent_writes_are_all_durable_and_a_failed_precondition_fails_alone() {
        let (dir, s) = store();
        s.put_object(&object("taken"), &PutCondition::Always).unwrap();
        let s = &s;
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8)
                .map(|t| {
                    scope.spawn(move || {
                        for i in 0..25 {
                            s.put_object(&object(&format!("k{t}-{i}")), &PutCondition::Always).unwrap();
                            // Every third round also a write whose precondition fails.
                            if i % 3 == 0 {
                                let refused = s.put_object(&object("taken"), &PutCondition::IfNoneMatch("*".into()));
                                assert!(matches!(refused, Err(StorageError::Conflict("precondition"))));
                            }
                            if i % 5 == 4 {
                                assert!(s.delete_object("b", &format!("k{t}-{}", i - 1)).unwrap().is_some());
                            }
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
        });
        assert!(s.writer.commits() < 1 + 8 * 25, "some writes should have shared a commit");
        // A fresh store on the same files sees exactly what was acknowledged.
        let reopened = SqliteMetadata::open(dir.path()).unwrap();
        let keys: Vec<String> =
            reopened.scan_objects("b", "k", Bound::Unbounded, 1000).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys.len(), 8 * 20);
        for t in 0..8 {
            for i in 0..25 {
                let deleted = i % 5 == 3;
                assert_eq!(keys.contains(&format!("k{t}-{i}")), !deleted, "k{t}-{i}");
            }
        }
        assert!(reopened.get_object("b", "taken").unwrap().is_some());
    }
}
