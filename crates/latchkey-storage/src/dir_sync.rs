//! Directory fsyncs shared by concurrent writers.
//!
//! A new file is durable only once its directory entry is, which takes an
//! fsync of the directory. Any fsync of the directory that *starts* after the
//! file was created covers it, so writers creating files in the same
//! directory at the same time need not each issue one: a writer waits for a
//! sync that began after its file appeared, or starts one itself if none is
//! running. Syncs of one directory run one at a time and are numbered in the
//! order they start.

use std::io;
use std::path::Path;
use std::sync::{Condvar, Mutex};

#[derive(Default)]
struct State {
    /// The number of the last sync started (0: none yet).
    started: u64,
    /// The number of the last sync finished.
    finished: u64,
    running: bool,
    /// The number of the last sync that failed (0: none).
    last_failed: u64,
}

/// The sync state of one directory.
#[derive(Default)]
pub(crate) struct DirSync {
    state: Mutex<State>,
    finished: Condvar,
}

impl DirSync {
    /// Returns once every entry created in `dir` before this call is durable.
    pub(crate) fn sync(&self, dir: &Path) -> io::Result<()> {
        self.sync_with(|| std::fs::File::open(dir)?.sync_all())
    }

    /// [`DirSync::sync`] with the fsync itself supplied (tests count them).
    fn sync_with(&self, fsync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Sync number `needed` starts after this point, so it covers us.
        let needed = st.started + 1;
        loop {
            if st.finished >= needed {
                return if st.last_failed >= needed {
                    Err(io::Error::other("fsync of the blob directory failed"))
                } else {
                    Ok(())
                };
            }
            if !st.running {
                st.running = true;
                st.started += 1;
                let number = st.started;
                drop(st);
                let result = fsync();
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.running = false;
                st.finished = number;
                if result.is_err() {
                    st.last_failed = number;
                }
                self.finished.notify_all();
                return result;
            }
            st = self.finished.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[test]
    fn concurrent_callers_share_syncs_that_started_after_they_called() {
        let dir_sync = DirSync::default();
        // A logical clock: every call and every sync start takes a tick.
        let clock = AtomicU64::new(0);
        let syncs = Mutex::new(Vec::<(u64, u64)>::new()); // (start tick, end tick)
        let calls = 16 * 20;
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let called = clock.fetch_add(1, Ordering::SeqCst);
                        dir_sync
                            .sync_with(|| {
                                let start = clock.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(1));
                                let end = clock.fetch_add(1, Ordering::SeqCst);
                                syncs.lock().unwrap().push((start, end));
                                Ok(())
                            })
                            .unwrap();
                        let returned = clock.fetch_add(1, Ordering::SeqCst);
                        // Some sync began after the call and ended before the return.
                        let syncs = syncs.lock().unwrap();
                        assert!(
                            syncs.iter().any(|&(start, end)| start > called && end < returned),
                            "returned without a covering sync"
                        );
                    }
                });
            }
        });
        let n = syncs.lock().unwrap().len();
        assert!(n < calls, "{n} syncs for {calls} calls: none were shared");
    }

    #[test]
    fn a_failed_sync_fails_its_callers_and_the_next_call_syncs_again() {
        let dir_sync = DirSync::default();
        assert!(dir_sync.sync_with(|| Err(io::Error::other("disk gone"))).is_err());
        let mut ran = false;
        dir_sync
            .sync_with(|| {
                ran = true;
                Ok(())
            })
            .unwrap();
        assert!(ran);
    }

    #[test]
    fn a_real_directory_syncs() {
        let dir = tempfile::tempdir().unwrap();
        DirSync::default().sync(dir.path()).unwrap();
    }
}
