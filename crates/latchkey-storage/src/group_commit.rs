//! Group commit for the metadata writer: writes that arrive together share
//! one SQLite transaction, and so one WAL fsync.
//!
//! Each write runs its statements inside a SAVEPOINT of the open batch
//! transaction, so a write that fails (a precondition, a constraint) rolls
//! back alone. After its statements, a writer commits the batch if nobody
//! else is queued for the connection; otherwise it leaves the batch open for
//! the writers behind it and waits. The last writer in line commits for
//! all. Every writer — including one whose own statements failed, since
//! what it saw may have come from others' uncommitted writes — returns only
//! once the commit of its batch has succeeded or failed.

use crate::StorageError;
use rusqlite::Connection;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// At most this many writes share a transaction, which bounds how long the
/// first of them waits while writers keep arriving.
const MAX_BATCH: usize = 64;

/// The outcome of one batch's commit: `None` until settled, then `Ok` or the
/// commit's error.
type Outcome = OnceLock<Result<(), StorageError>>;

struct Batch {
    outcome: Arc<Outcome>,
    writes: usize,
    /// A write's savepoint could not be closed, so what the transaction
    /// holds is unknown: it must be rolled back, not committed.
    doomed: bool,
}

struct State {
    conn: Connection,
    /// The batch whose transaction is open, if any.
    open: Option<Batch>,
}

pub(crate) struct GroupCommitter {
    state: Mutex<State>,
    settled: Condvar,
    /// Writers that asked for the connection and have not yet finished their
    /// statements: while there are any, a finished writer leaves the commit
    /// to them.
    queued: AtomicUsize,
    /// Batches committed (for tests and diagnostics).
    commits: AtomicUsize,
}

/// A copy of an error for each member of a failed batch.
fn copy_error(e: &StorageError) -> StorageError {
    match e {
        StorageError::Metadata(rusqlite::Error::SqliteFailure(code, msg)) => {
            StorageError::Metadata(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        other => StorageError::Io(std::io::Error::other(format!("group commit failed: {other}"))),
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<(), StorageError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

impl GroupCommitter {
    pub(crate) fn new(conn: Connection) -> Self {
        Self {
            state: Mutex::new(State { conn, open: None }),
            settled: Condvar::new(),
            queued: AtomicUsize::new(0),
            commits: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` as one atomic write; returns once it is durable (or failed).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StorageError>) -> Result<T, StorageError> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        let ran = Self::run_in_batch(&mut st, f);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        // An error here: the batch could not be joined; nothing of ours is pending.
        let (outcome, result) = ran?;
        let lost = st.conn.is_autocommit() || st.open.as_ref().is_some_and(|b| b.doomed);
        if lost && st.open.is_some() {
            // SQLite rolled the whole transaction back (I/O error, disk
            // full), or a write left it in an unknown state: every write in
            // the batch fails.
            if !st.conn.is_autocommit() {
                let _ = exec(&st.conn, "ROLLBACK");
            }
            self.settle(&mut st, Err(StorageError::Io(std::io::Error::other("metadata transaction was rolled back"))));
        } else if let Some(batch) = &st.open {
            if self.queued.load(Ordering::SeqCst) == 0 || batch.writes >= MAX_BATCH {
                let committed = exec(&st.conn, "COMMIT");
                if committed.is_err() && !st.conn.is_autocommit() {
                    let _ = exec(&st.conn, "ROLLBACK");
                }
                if committed.is_ok() {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                }
                self.settle(&mut st, committed);
            }
        }
        while outcome.get().is_none() {
            st = self.settled.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        drop(st);
        let batch_result = outcome.get().expect("settled above");
        let own = match result {
            Ok(own) => own,
            Err(panic) => resume_unwind(panic),
        };
        match batch_result {
            Ok(()) => own,
            Err(e) => Err(copy_error(e)),
        }
    }

    /// Joins (or opens) the batch and runs `f` inside a savepoint. The outer
    /// error means the batch could not be joined; the inner result is `f`'s
    /// (or its panic, to be resumed once the batch has settled).
    #[allow(clippy::type_complexity)]
    fn run_in_batch<T>(
        st: &mut State,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<(Arc<Outcome>, std::thread::Result<Result<T, StorageError>>), StorageError> {
        if st.open.is_none() {
            exec(&st.conn, "BEGIN IMMEDIATE")?;
            st.open = Some(Batch { outcome: Arc::new(OnceLock::new()), writes: 0, doomed: false });
        }
        let batch = st.open.as_mut().expect("opened above");
        batch.writes += 1;
        let outcome = batch.outcome.clone();
        let conn = &st.conn;
        if let Err(e) = exec(conn, "SAVEPOINT w") {
            return Ok((outcome, Ok(Err(e))));
        }
        let result = catch_unwind(AssertUnwindSafe(|| f(conn)));
        let undo = !matches!(result, Ok(Ok(_)));
        if !conn.is_autocommit() {
            let closed = if undo {
                exec(conn, "ROLLBACK TO w").and_then(|()| exec(conn, "RELEASE w"))
            } else {
                exec(conn, "RELEASE w")
            };
            if let Err(e) = closed {
                // This write's effects are unknown: the whole batch fails.
                st.open.as_mut().expect("opened above").doomed = true;
                return Ok((outcome, Ok(Err(e))));
            }
        }
        Ok((outcome, result))
    }

    /// Settles the open batch with `result` and wakes its members.
    fn settle(&self, st: &mut State, result: Result<(), StorageError>) {
        if let Some(batch) = st.open.take() {
            let _ = batch.outcome.set(result);
        }
        self.settled.notify_all();
    }

    #[cfg(test)]
    pub(crate) fn commits(&self) -> usize {
        self.commits.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)").unwrap();
        conn
    }

    fn insert(c: &Connection, k: &str) -> Result<(), StorageError> {
        c.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
        Ok(())
    }

    fn committed_keys(path: &std::path::Path) -> Vec<String> {
        let c = open(path);
        let mut stmt = c.prepare("SELECT k FROM t ORDER BY k").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_lone_write_commits_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let gc = GroupCommitter::new(open(&path));
        gc.write(|c| insert(c, "a")).unwrap();
        assert_eq!(gc.commits(), 1);
        assert_eq!(committed_keys(&path), ["a"]);
    }

    #[test]
    fn queued_writes_share_one_commit_and_a_failed_one_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let gc = GroupCommitter::new(open(&path));
        let (inside_tx, inside) = mpsc::channel();
        std::thread::scope(|s| {
            // The first writer holds the connection until two more are queued
            // behind it, so all three land in one batch.
            let first = s.spawn(|| {
                gc.write(|c| {
                    insert(c, "a")?;
                    inside_tx.send(()).unwrap();
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while gc.queued.load(Ordering::SeqCst) < 3 {
                        assert!(Instant::now() < deadline, "the other writers never queued");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Ok(())
                })
            });
            inside.recv().unwrap();
            // A duplicate key: fails inside the batch, after "a" was written.
            let failing = s.spawn(|| gc.write(|c| insert(c, "a")));
            let other = s.spawn(|| gc.write(|c| insert(c, "c")));
            first.join().unwrap().unwrap();
            assert!(matches!(failing.join().unwrap(), Err(StorageError::Metadata(_))));
            other.join().unwrap().unwrap();
        });
        assert_eq!(gc.commits(), 1, "three writes, one commit");
        assert_eq!(committed_keys(&path), ["a", "c"]);
    }

    #[test]
    fn a_panicking_write_rolls_back_alone_and_the_panic_reaches_its_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let gc = GroupCommitter::new(open(&path));
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            gc.write::<()>(|c| {
                insert(c, "p").unwrap();
                panic!("boom")
            })
        }));
        assert!(panicked.is_err());
        gc.write(|c| insert(c, "q")).unwrap();
        assert_eq!(committed_keys(&path), ["q"]);
    }
}
