//! The audit log on disk: append-only JSON-lines segments, rotated by size
//! and age, and an SQLite index of the fields queries ask for, pointing at
//! each event's place in its segment.
//!
//! The segments are the record. The writer only appends to them (cheap, on
//! the path every request's event takes); the index is derived from them
//! afterwards by an [`Indexer`] — the server's low-priority indexing thread,
//! and every reader before it queries — so indexing never slows the writer,
//! and an index that fell behind (or was lost) is caught up from the
//! segments. A torn last line (a crash mid-write) is cut off when the writer
//! opens the log.

use crate::event::AuditEvent;
use crate::index_view::IndexView;
use rusqlite::{params, Connection, OptionalExtension};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log I/O: {0}")]
    Io(#[from] io::Error),
    #[error("audit index: {0}")]
    Index(#[from] rusqlite::Error),
    #[error("audit event: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, AuditError>;

/// When a segment is closed and a new one begun.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    pub max_bytes: u64,
    /// Seconds.
    pub max_age: i64,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation { max_bytes: 128 * 1024 * 1024, max_age: 24 * 3600 }
    }
}

/// Who made a request repeats from event to event (a session makes many
/// requests): callers are stored once and events point at them, so each
/// event adds integer-keyed index entries only.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS callers (
    id INTEGER PRIMARY KEY,
    principal TEXT,
    access_key TEXT,
    session TEXT,
    source_identity TEXT,
    UNIQUE(principal, access_key, session, source_identity)
);
CREATE INDEX IF NOT EXISTS callers_principal ON callers(principal);
CREATE INDEX IF NOT EXISTS callers_access_key ON callers(access_key);
CREATE INDEX IF NOT EXISTS callers_session ON callers(session) WHERE session IS NOT NULL;
CREATE INDEX IF NOT EXISTS callers_source_identity ON callers(source_identity) WHERE source_identity IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    segment INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    event_name TEXT NOT NULL,
    caller INTEGER NOT NULL,
    issued_key TEXT,
    issued_session TEXT,
    bucket TEXT,
    key TEXT,
    decision TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events(time_ms);
CREATE INDEX IF NOT EXISTS events_caller ON events(caller);
CREATE INDEX IF NOT EXISTS events_issued_key ON events(issued_key) WHERE issued_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_issued_session ON events(issued_session) WHERE issued_session IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_object ON events(bucket, key) WHERE bucket IS NOT NULL;
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    indexed_to INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_last_used (
    access_key TEXT PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    service TEXT NOT NULL,
    region TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS role_last_used (
    role_arn TEXT PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    region TEXT NOT NULL
);
";

fn segment_path(dir: &Path, id: i64) -> PathBuf {
    dir.join(format!("events-{id:08}.jsonl"))
}

/// The segments in `dir`, oldest first.
fn segments_on_disk(dir: &Path) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("events-")?.strip_suffix(".jsonl")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

fn index_path(dir: &Path) -> PathBuf {
    dir.join("index.sqlite")
}

fn open_index(dir: &Path) -> Result<Connection> {
    let conn = Connection::open(index_path(dir))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // The index can be rebuilt from the segments: it needs no fsync per commit.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-4096; PRAGMA wal_autocheckpoint=4000;",
    )?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn event_time_ms(t: &str) -> i64 {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

/// The writing side: one per log directory (the server's writer thread).
pub struct AuditWriter {
    dir: PathBuf,
    rotation: Rotation,
    segment: i64,
    segment_created: i64,
    file: File,
    size: u64,
    unsynced: bool,
}

impl AuditWriter {
    /// Opens (or creates) the log in `dir`, cutting off a torn last line.
    pub fn open(dir: &Path, rotation: Rotation, now: i64) -> Result<AuditWriter> {
        fs::create_dir_all(dir)?;
        let segment = segments_on_disk(dir)?.last().copied().unwrap_or(1);
        let path = segment_path(dir, segment);
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let complete = complete_length(&file)?;
        if complete < file.metadata()?.len() {
            // Torn write: the event never completed, so it was never acknowledged.
            file.set_len(complete)?;
            file.sync_data()?;
        }
        let created = first_event_time(&file)?.map(|ms| ms / 1000).unwrap_or(now);
        Ok(AuditWriter {
            dir: dir.to_path_buf(),
            rotation,
            segment,
            segment_created: created,
            file,
            size: complete,
            unsynced: false,
        })
    }

    /// Appends events to the current segment. `now` is unix seconds, for
    /// rotation by age.
    pub fn append(&mut self, events: &[AuditEvent], now: i64) -> Result<()> {
        let lines = events.iter().map(serde_json::to_vec).collect::<std::result::Result<Vec<_>, _>>()?;
        self.append_lines(&lines, now)
    }

    /// Appends events already serialized (one JSON object each, no newline).
    pub fn append_lines(&mut self, lines: &[Vec<u8>], now: i64) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.size >= self.rotation.max_bytes || now - self.segment_created >= self.rotation.max_age {
            self.rotate(now)?;
        }
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.size += buf.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Makes appended events durable against power loss (a crash of the
    /// process alone loses nothing already appended).
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn rotate(&mut self, now: i64) -> Result<()> {
        self.sync()?;
        let next = self.segment + 1;
        self.file = OpenOptions::new().create(true).read(true).append(true).open(segment_path(&self.dir, next))?;
        if let Ok(d) = File::open(&self.dir) {
            d.sync_all()?;
        }
        self.segment = next;
        self.segment_created = now;
        self.size = 0;
        Ok(())
    }

    pub fn segment(&self) -> i64 {
        self.segment
    }
}

/// The length of a segment's complete lines.
fn complete_length(file: &File) -> Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // Walk back from the end to the last newline.
    let mut f = file.try_clone()?;
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(pos) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The first event's time (unix ms), for rotation by age across restarts.
fn first_event_time(file: &File) -> Result<Option<i64>> {
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(0))?;
    let mut line = Vec::new();
    BufReader::new(f).take(1 << 20).read_until(b'\n', &mut line)?;
    Ok(serde_json::from_slice::<AuditEvent>(&line).ok().map(|e| event_time_ms(&e.event_time)))
}

/// Indexed fields of one event.
struct Row {
    time_ms: i64,
    event_name: String,
    principal: Option<String>,
    access_key: Option<String>,
    issued_key: Option<String>,
    session: Option<String>,
    issued_session: Option<String>,
    source_identity: Option<String>,
    bucket: Option<String>,
    key: Option<String>,
    decision: &'static str,
}

fn row_of(e: &IndexView<'_>) -> Row {
    let own = |s: Option<&str>| s.map(str::to_string);
    Row {
        time_ms: event_time_ms(&e.event_time),
        event_name: e.event_name.to_string(),
        principal: own(e.user_identity.arn.as_deref()),
        access_key: own(e.user_identity.access_key_id.as_deref()),
        issued_key: own(e.issued_access_key_id()),
        session: own(e.caller_session_name()),
        issued_session: own(e.issued_session_name()),
        source_identity: own(e.source_identity()),
        bucket: own(e.bucket()),
        key: own(e.key()),
        decision: e.decision(),
    }
}

/// Brings the index up to date with the segments.
pub struct Indexer {
    dir: PathBuf,
    index: Connection,
    /// (principal, access key, session, source identity) → caller id.
    callers: std::collections::HashMap<CallerKey, i64>,
}

type CallerKey = (Option<String>, Option<String>, Option<String>, Option<String>);

/// Callers remembered by an indexer before it starts over.
const CALLER_CACHE: usize = 100_000;

/// Bytes of log indexed per transaction at most (keeps the write lock short).
const INDEX_CHUNK: u64 = 4 * 1024 * 1024;

impl Indexer {
    pub fn open(dir: &Path) -> Result<Indexer> {
        fs::create_dir_all(dir)?;
        Ok(Indexer { dir: dir.to_path_buf(), index: open_index(dir)?, callers: Default::default() })
    }

    /// Indexes every complete line not yet indexed; returns how many.
    /// Safe to run from several processes at once.
    pub fn catch_up(&mut self) -> Result<u64> {
        let mut total = 0;
        for id in segments_on_disk(&self.dir)? {
            loop {
                let (n, more) = self.catch_up_segment(id)?;
                total += n as u64;
                if !more {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Indexes the next chunk of segment `id`: (events indexed, whether more remain).
    fn catch_up_segment(&mut self, id: i64) -> Result<(usize, bool)> {
        let path = segment_path(&self.dir, id);
        let Ok(file) = File::open(&path) else { return Ok((0, false)) };
        let len = file.metadata()?.len();
        let known: Option<i64> =
            self.index.query_row("SELECT indexed_to FROM segments WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        if known.is_some_and(|k| k as u64 >= len) {
            return Ok((0, false));
        }
        let tx = self.index.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Re-read under the write lock: another indexer may have just done it.
        let from: i64 =
            tx.query_row("SELECT indexed_to FROM segments WHERE id = ?1", [id], |r| r.get(0)).optional()?.unwrap_or(0);
        // Read a chunk, then take its complete lines; a line the writer is
        // still writing is left for next time.
        let want = (len - from as u64).min(INDEX_CHUNK) as usize;
        let mut chunk = vec![0u8; want];
        let mut f = &file;
        f.seek(SeekFrom::Start(from as u64))?;
        f.read_exact(&mut chunk)?;
        let mut offset = from as u64;
        let mut events = Vec::new();
        let mut rest: &[u8] = &chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(end + 1);
            rest = tail;
            if let Ok(v) = serde_json::from_slice::<IndexView<'_>>(line) {
                events.push((v, offset, line.len() as u64));
            }
            offset += line.len() as u64;
        }
        if events.is_empty() && offset == from as u64 && want as u64 == INDEX_CHUNK {
            // A single line longer than a chunk: index it from a full read.
            return skip_long_line(&self.dir, tx, id, from);
        }
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            if self.callers.len() > CALLER_CACHE {
                self.callers.clear();
            }
            for (e, off, n) in &events {
                let row = row_of(e);
                let caller = caller_id(&tx, &mut self.callers, &row)?;
                insert_row(&mut insert, &row, caller, id, *off, *n)?;
            }
            let only: Vec<&IndexView<'_>> = events.iter().map(|(e, _, _)| e).collect();
            record_usage(&tx, &only)?;
            tx.execute(
                "INSERT INTO segments(id, indexed_to) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET indexed_to = MAX(indexed_to, excluded.indexed_to)",
                params![id, offset as i64],
            )?;
        }
        tx.commit()?;
        Ok((events.len(), offset < len && offset > from as u64))
    }
}

/// Skips a line too long to index in one chunk (events are far smaller;
/// such a line is not an event the server wrote) so indexing goes on.
fn skip_long_line(dir: &Path, tx: rusqlite::Transaction<'_>, id: i64, from: i64) -> Result<(usize, bool)> {
    let file = File::open(segment_path(dir, id))?;
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(from as u64))?;
    let mut skipped = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.by_ref().take(INDEX_CHUNK).read_until(b'\n', &mut buf)?;
        skipped += n as u64;
        if n == 0 {
            return Ok((0, false)); // still being written
        }
        if buf.last() == Some(&b'\n') {
            break;
        }
    }
    tx.execute(
        "INSERT INTO segments(id, indexed_to) VALUES (?1, ?2)
         ON CONFLICT(id) DO UPDATE SET indexed_to = MAX(indexed_to, excluded.indexed_to)",
        params![id, from + skipped as i64],
    )?;
    tx.commit()?;
    Ok((0, true))
}

const INSERT: &str = "INSERT INTO events(time_ms, segment, offset, length, event_name, caller, issued_key,
    issued_session, bucket, key, decision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The id of the row's caller, added to `callers` the first time it is seen.
fn caller_id(
    tx: &rusqlite::Transaction<'_>,
    cache: &mut std::collections::HashMap<CallerKey, i64>,
    r: &Row,
) -> Result<i64> {
    let key: CallerKey = (r.principal.clone(), r.access_key.clone(), r.session.clone(), r.source_identity.clone());
    if let Some(id) = cache.get(&key) {
        return Ok(*id);
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO callers(principal, access_key, session, source_identity) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![key.0, key.1, key.2, key.3])?;
    // NULLs are distinct in UNIQUE: look up with IS, which matches them.
    let id: i64 = tx
        .prepare_cached(
            "SELECT id FROM callers WHERE principal IS ?1 AND access_key IS ?2 AND session IS ?3
             AND source_identity IS ?4 ORDER BY id LIMIT 1",
        )?
        .query_row(params![key.0, key.1, key.2, key.3], |row| row.get(0))?;
    cache.insert(key, id);
    Ok(id)
}

fn insert_row(
    stmt: &mut rusqlite::CachedStatement<'_>,
    r: &Row,
    caller: i64,
    segment: i64,
    offset: u64,
    length: u64,
) -> Result<()> {
    stmt.execute(params![
        r.time_ms,
        segment,
        offset as i64,
        length as i64,
        r.event_name,
        caller,
        r.issued_key,
        r.issued_session,
        r.bucket,
        r.key,
        r.decision,
    ])?;
    Ok(())
}

/// Access keys and roles last used: GetAccessKeyLastUsed and RoleLastUsed
/// read what the audit trail saw.
fn record_usage(tx: &rusqlite::Transaction<'_>, events: &[&IndexView<'_>]) -> Result<()> {
    let mut key = tx.prepare_cached(
        "INSERT INTO key_last_used(access_key, time_ms, service, region) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(access_key) DO UPDATE SET time_ms = excluded.time_ms, service = excluded.service,
         region = excluded.region WHERE excluded.time_ms >= key_last_used.time_ms",
    )?;
    let mut role = tx.prepare_cached(
        "INSERT INTO role_last_used(role_arn, time_ms, region) VALUES (?1, ?2, ?3)
         ON CONFLICT(role_arn) DO UPDATE SET time_ms = excluded.time_ms, region = excluded.region
         WHERE excluded.time_ms >= role_last_used.time_ms",
    )?;
    // The latest use of each key and role in the batch: one upsert each.
    let mut keys: std::collections::HashMap<&str, (i64, &str, &str)> = std::collections::HashMap::new();
    let mut roles: std::collections::HashMap<&str, (i64, &str)> = std::collections::HashMap::new();
    for e in events {
        let time_ms = event_time_ms(&e.event_time);
        let service = e.event_source.trim_end_matches(".amazonaws.com");
        // Only requests whose signature was verified count as uses of a key.
        let authenticated = !matches!(
            e.error_code.as_deref(),
            Some(
                "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "InvalidClientTokenId"
                    | "InvalidToken"
                    | "ExpiredToken"
            )
        );
        if let (Some(k), true) = (e.user_identity.access_key_id.as_deref(), authenticated) {
            if !k.is_empty() {
                keys.insert(k, (time_ms, service, &e.aws_region));
            }
        }
        // A role is used when assumed and when its sessions make requests.
        let issuer = e.user_identity.session_context.as_ref().and_then(|c| c.session_issuer.as_ref());
        if let (Some(i), true) = (issuer, authenticated && e.error_code.is_none()) {
            if i.kind == "Role" {
                roles.insert(&i.arn, (time_ms, &e.aws_region));
            }
        }
        if e.event_name.starts_with("AssumeRole") && e.error_code.is_none() {
            if let Some(arn) = e.request_parameters.as_ref().and_then(|p| p.role_arn.as_deref()) {
                roles.insert(arn, (time_ms, &e.aws_region));
            }
        }
    }
    for (k, (time_ms, service, region)) in keys {
        key.execute(params![k, time_ms, service, region])?;
    }
    for (arn, (time_ms, region)) in roles {
        role.execute(params![arn, time_ms, region])?;
    }
    Ok(())
}

/// What to look for; every given field must match.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Unix milliseconds, inclusive.
    pub from_ms: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub to_ms: Option<i64>,
    /// An ARN, or its beginning when it ends with `*`.
    pub principal: Option<String>,
    /// Events made with this key, and the call that issued it.
    pub access_key: Option<String>,
    /// Events of role or federated sessions of this name, and the calls that issued them.
    pub session: Option<String>,
    pub source_identity: Option<String>,
    pub event_name: Option<String>,
    pub bucket: Option<String>,
    pub key_prefix: Option<String>,
    /// `allow`, `deny` or `error`.
    pub decision: Option<String>,
    /// Only events indexed after this id (for following the log).
    pub after_id: Option<i64>,
    pub limit: Option<usize>,
}

/// The reading side: `latchkey audit`, and the server's last-used lookups.
/// Readers never block the writer (SQLite WAL).
pub struct AuditReader {
    indexer: Indexer,
}

fn like_prefix(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 1);
    for c in p.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl AuditReader {
    pub fn open(dir: &Path) -> Result<AuditReader> {
        Ok(AuditReader { indexer: Indexer::open(dir)? })
    }

    /// Indexes what the writer appended since (queries see only indexed events).
    pub fn refresh(&mut self) -> Result<u64> {
        self.indexer.catch_up()
    }

    /// Matching events, oldest first, with their index ids.
    pub fn query(&self, q: &Query) -> Result<Vec<(i64, AuditEvent)>> {
        let mut sql = String::from("SELECT id, segment, offset, length FROM events WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        use rusqlite::types::Value as V;
        if let Some(t) = q.from_ms {
            arg(&mut sql, " AND time_ms >= ?", V::Integer(t));
        }
        if let Some(t) = q.to_ms {
            arg(&mut sql, " AND time_ms < ?", V::Integer(t));
        }
        if let Some(p) = &q.principal {
            match p.strip_suffix('*') {
                Some(prefix) => arg(
                    &mut sql,
                    " AND caller IN (SELECT id FROM callers WHERE principal LIKE ? ESCAPE '\\')",
                    V::Text(like_prefix(prefix)),
                ),
                None => {
                    arg(&mut sql, " AND caller IN (SELECT id FROM callers WHERE principal = ?)", V::Text(p.clone()))
                }
            }
        }
        if let Some(k) = &q.access_key {
            arg(&mut sql, " AND (caller IN (SELECT id FROM callers WHERE access_key = ?)", V::Text(k.clone()));
            arg(&mut sql, " OR issued_key = ?)", V::Text(k.clone()));
        }
        if let Some(s) = &q.session {
            arg(&mut sql, " AND (caller IN (SELECT id FROM callers WHERE session = ?)", V::Text(s.clone()));
            arg(&mut sql, " OR issued_session = ?)", V::Text(s.clone()));
        }
        if let Some(s) = &q.source_identity {
            arg(&mut sql, " AND caller IN (SELECT id FROM callers WHERE source_identity = ?)", V::Text(s.clone()));
        }
        if let Some(n) = &q.event_name {
            arg(&mut sql, " AND event_name = ?", V::Text(n.clone()));
        }
        if let Some(b) = &q.bucket {
            arg(&mut sql, " AND bucket = ?", V::Text(b.clone()));
        }
        if let Some(k) = &q.key_prefix {
            arg(&mut sql, " AND key LIKE ? ESCAPE '\\'", V::Text(like_prefix(k)));
        }
        if let Some(d) = &q.decision {
            arg(&mut sql, " AND decision = ?", V::Text(d.to_ascii_lowercase()));
        }
        if let Some(a) = q.after_id {
            arg(&mut sql, " AND id > ?", V::Integer(a));
        }
        sql.push_str(" ORDER BY id");
        if let Some(l) = q.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        let mut stmt = self.indexer.index.prepare(&sql)?;
        let places: Vec<(i64, i64, i64, i64)> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(places.len());
        let mut open: Option<(i64, File)> = None;
        let mut buf = Vec::new();
        for (id, segment, offset, length) in places {
            if open.as_ref().map(|(s, _)| *s) != Some(segment) {
                open = Some((segment, File::open(segment_path(&self.indexer.dir, segment))?));
            }
            let (_, f) = open.as_mut().expect("just opened");
            f.seek(SeekFrom::Start(offset as u64))?;
            buf.resize(length as usize, 0);
            f.read_exact(&mut buf)?;
            out.push((id, serde_json::from_slice(&buf)?));
        }
        Ok(out)
    }

    /// When (unix ms), with which service and in which region a key was last used.
    pub fn key_last_used(&self, access_key: &str) -> Result<Option<(i64, String, String)>> {
        Ok(self
            .indexer
            .index
            .query_row("SELECT time_ms, service, region FROM key_last_used WHERE access_key = ?1", [access_key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    /// When (unix ms) and in which region a role was last used.
    pub fn role_last_used(&self, role_arn: &str) -> Result<Option<(i64, String)>> {
        Ok(self
            .indexer
            .index
            .query_row("SELECT time_ms, region FROM role_last_used WHERE role_arn = ?1", [role_arn], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Events in the index.
    pub fn count(&self) -> Result<i64> {
        Ok(self.indexer.index.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{SessionContext, SessionIssuer, UserIdentity};

    fn event(name: &str, arn: &str, key: &str, at: &str) -> AuditEvent {
        AuditEvent {
            event_version: "1.09".into(),
            event_time: at.into(),
            event_source: "s3.amazonaws.com".into(),
            event_name: name.into(),
            aws_region: "us-east-1".into(),
            user_identity: UserIdentity {
                kind: "AssumedRole".into(),
                arn: Some(arn.into()),
                access_key_id: Some(key.into()),
                session_context: Some(SessionContext {
                    session_issuer: Some(SessionIssuer {
                        kind: "Role".into(),
                        arn: "arn:aws:iam::111122223333:role/reader".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            request_parameters: Some(serde_json::json!({"bucketName": "b", "key": "docs/a.txt"})),
            ..Default::default()
        }
    }

    const ALICE: &str = "arn:aws:sts::111122223333:assumed-role/reader/alice";

    #[test]
    fn events_are_found_by_session_key_and_object() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = AuditWriter::open(dir.path(), Rotation::default(), 0).unwrap();
        w.append(&[event("GetObject", ALICE, "ASIAALICE", "2026-11-23T10:00:00Z")], 0).unwrap();
        let mut denied = event("PutObject", ALICE, "ASIAALICE", "2026-11-23T10:00:01Z");
        denied.error_code = Some("AccessDenied".into());
        w.append(
            &[denied, event("GetObject", "arn:aws:iam::111122223333:user/bob", "AKIABOB", "2026-11-23T10:00:02Z")],
            0,
        )
        .unwrap();
        let mut r = AuditReader::open(dir.path()).unwrap();
        r.refresh().unwrap();
        let by_session = r.query(&Query { session: Some("alice".into()), ..Default::default() }).unwrap();
        assert_eq!(by_session.len(), 2);
        assert_eq!(by_session[1].1.error_code.as_deref(), Some("AccessDenied"));
        let denials = r.query(&Query { decision: Some("deny".into()), ..Default::default() }).unwrap();
        assert_eq!(denials.len(), 1);
        let bob = r.query(&Query { access_key: Some("AKIABOB".into()), ..Default::default() }).unwrap();
        assert_eq!(bob.len(), 1);
        let prefix = r.query(&Query { principal: Some("arn:aws:sts::111122223333:*".into()), ..Default::default() });
        assert_eq!(prefix.unwrap().len(), 2);
        let objects =
            r.query(&Query { bucket: Some("b".into()), key_prefix: Some("docs/".into()), ..Default::default() });
        assert_eq!(objects.unwrap().len(), 3);
        let later = r.query(&Query { from_ms: Some(1_795_428_001_000), ..Default::default() }).unwrap();
        assert_eq!(later.len(), 2);
        assert!(r.key_last_used("ASIAALICE").unwrap().is_some());
        assert!(r.role_last_used("arn:aws:iam::111122223333:role/reader").unwrap().is_some());
    }

    #[test]
    fn a_line_longer_than_a_chunk_is_skipped_and_indexing_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = AuditWriter::open(dir.path(), Rotation::default(), 0).unwrap();
        w.append(&[event("GetObject", ALICE, "K", "2026-11-23T10:00:00Z")], 0).unwrap();
        drop(w);
        let mut f = OpenOptions::new().append(true).open(segment_path(dir.path(), 1)).unwrap();
        f.write_all(&vec![b'x'; (INDEX_CHUNK + 10) as usize]).unwrap();
        f.write_all(b"\n").unwrap();
        drop(f);
        let mut w = AuditWriter::open(dir.path(), Rotation::default(), 0).unwrap();
        w.append(&[event("HeadObject", ALICE, "K", "2026-11-23T10:00:01Z")], 0).unwrap();
        let mut r = AuditReader::open(dir.path()).unwrap();
        assert_eq!(r.refresh().unwrap(), 2);
        let names: Vec<String> = r.query(&Query::default()).unwrap().into_iter().map(|(_, e)| e.event_name).collect();
        assert_eq!(names, ["GetObject", "HeadObject"]);
    }

    #[test]
    fn segments_rotate_by_size_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = AuditWriter::open(dir.path(), Rotation { max_bytes: 2000, max_age: 100 }, 0).unwrap();
        for i in 0..10 {
            w.append(&[event("GetObject", ALICE, "K", "2026-11-23T10:00:00Z")], i).unwrap();
        }
        assert!(w.segment() > 1, "rotated by size");
        let s = w.segment();
        w.append(&[event("GetObject", ALICE, "K", "2026-11-23T10:00:00Z")], 500).unwrap();
        assert_eq!(w.segment(), s + 1, "rotated by age");
        let mut r = AuditReader::open(dir.path()).unwrap();
        assert_eq!(r.refresh().unwrap(), 11);
        assert_eq!(r.query(&Query::default()).unwrap().len(), 11);
        assert_eq!(r.refresh().unwrap(), 0, "nothing is indexed twice");
    }

    #[test]
    fn a_torn_line_is_cut_when_the_writer_opens_and_readers_skip_a_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut w = AuditWriter::open(dir.path(), Rotation::default(), 0).unwrap();
            w.append(&[event("GetObject", ALICE, "K", "2026-11-23T10:00:00Z")], 0).unwrap();
        }
        let path = segment_path(dir.path(), 1);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let mut line = serde_json::to_vec(&event("HeadObject", ALICE, "K", "2026-11-23T10:00:01Z")).unwrap();
        line.push(b'\n');
        f.write_all(&line).unwrap();
        f.write_all(b"{\"eventVersion\":\"1.0").unwrap();
        drop(f);
        // A reader while a line is half written: indexes the complete ones only.
        let mut r = AuditReader::open(dir.path()).unwrap();
        assert_eq!(r.refresh().unwrap(), 2);
        let mut w = AuditWriter::open(dir.path(), Rotation::default(), 0).unwrap();
        w.append(&[event("DeleteObject", ALICE, "K", "2026-11-23T10:00:02Z")], 0).unwrap();
        assert_eq!(r.refresh().unwrap(), 1);
        let names: Vec<String> = r.query(&Query::default()).unwrap().into_iter().map(|(_, e)| e.event_name).collect();
        assert_eq!(names, ["GetObject", "HeadObject", "DeleteObject"]);
    }
}
