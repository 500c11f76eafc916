//! Between request handling and the log: a bounded queue drained by one
//! writer thread, which appends to the log, syncs it on a timer, and hands
//! each batch to the other sinks (stdout, a webhook).
//!
//! `submit` never blocks. When the queue is full the event is dropped and
//! counted; the count is exposed as a metric and warned about in the log,
//! and the writer records an `AuditEventsDropped` event when it catches up.

use crate::event::{AuditEvent, EVENT_VERSION};
use crate::store::{AuditWriter, Indexer, Rotation};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Somewhere besides the log that events go. Called on the writer thread
/// with each batch of events, each one JSON object (no newline); must not
/// block for long (a slow destination should queue on its own and count what
/// it drops).
pub trait Sink: Send {
    fn deliver(&mut self, batch: &[Vec<u8>]);
}

/// Writes each event as one JSON line on standard output (for container log
/// collectors).
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn deliver(&mut self, batch: &[Vec<u8>]) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for line in batch {
            let _ = out.write_all(line);
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }
}

pub struct AuditorConfig {
    pub dir: PathBuf,
    pub rotation: Rotation,
    /// Events held in memory at most; beyond this they are dropped.
    pub queue: usize,
    /// How often appended events are fsynced.
    pub sync_interval: Duration,
    pub sinks: Vec<Box<dyn Sink>>,
}

/// Counters, shared with the metrics endpoint.
#[derive(Default)]
pub struct AuditStats {
    pub submitted: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub write_errors: AtomicU64,
    /// Events a secondary sink (the webhook) could not take.
    pub sink_dropped: AtomicU64,
}

/// The handle request handling holds.
pub struct Auditor {
    tx: Option<SyncSender<Message>>,
    pub stats: Arc<AuditStats>,
    writer: Option<JoinHandle<()>>,
    indexer: Option<JoinHandle<()>>,
    stop_indexing: Arc<AtomicBool>,
}

/// How often the indexing thread looks for new events.
const INDEX_INTERVAL: Duration = Duration::from_millis(200);

enum Message {
    /// One event, serialized by the thread that submitted it (the writer
    /// then frees one buffer, not the event's many strings).
    Event(Vec<u8>),
    /// Reply once everything before it is appended and synced.
    Flush(SyncSender<()>),
}

/// Events appended per batch at most.
const BATCH: usize = 2048;

/// How long the writer lets the queue fill before writing (at most this
/// much is added to an event's way to the log).
const GATHER: Duration = Duration::from_millis(10);

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Auditor {
    /// Opens the log (repairing it after a crash) and starts the writer thread.
    pub fn start(config: AuditorConfig) -> crate::store::Result<Auditor> {
        let writer = AuditWriter::open(&config.dir, config.rotation, unix_now())?;
        let (tx, rx) = sync_channel(config.queue.max(1));
        let stats = Arc::new(AuditStats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(writer, rx, thread_stats, config.sync_interval, config.sinks))?;
        let mut indexer = Indexer::open(&config.dir)?;
        let stop_indexing = Arc::new(AtomicBool::new(false));
        let stop = stop_indexing.clone();
        let index_stats = stats.clone();
        let indexer = std::thread::Builder::new().name("audit-indexer".into()).spawn(move || {
            // Indexing is deferred work: under load it yields to request
            // handling, and readers catch the index up themselves.
            lower_thread_priority();
            while !stop.load(Ordering::Relaxed) {
                if indexer.catch_up().is_err() {
                    index_stats.write_errors.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(INDEX_INTERVAL);
            }
        })?;
        Ok(Auditor { tx: Some(tx), stats, writer: Some(handle), indexer: Some(indexer), stop_indexing })
    }

    /// Queues an event; never blocks.
    pub fn submit(&self, event: AuditEvent) {
        let Some(tx) = &self.tx else { return };
        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
        let Ok(line) = serde_json::to_vec(&event) else {
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        drop(event);
        match tx.try_send(Message::Event(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n % 10_000 == 0 {
                    eprintln!("latchkey: audit queue full: {n} audit events dropped so far");
                }
            }
        }
    }

    /// Waits until every event submitted before this call is in the log and
    /// synced (for shutdown and tests).
    pub fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done_tx, done_rx) = sync_channel(1);
        if tx.send(Message::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(30));
        }
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
        self.stop_indexing.store(true, Ordering::Relaxed);
        if let Some(h) = self.indexer.take() {
            let _ = h.join();
        }
    }
}

/// The calling thread to the lowest scheduling class: SCHED_IDLE runs only
/// when no other thread wants the CPU; nice 19 if that is refused.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls about the calling thread; `param` outlives the call.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
}

fn write_loop(
    mut writer: AuditWriter,
    rx: Receiver<Message>,
    stats: Arc<AuditStats>,
    sync_interval: Duration,
    mut sinks: Vec<Box<dyn Sink>>,
) {
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<SyncSender<()>> = Vec::new();
    let mut last_sync = Instant::now();
    let mut reported_drops = 0u64;
    loop {
        let first = match rx.recv_timeout(sync_interval) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let take = |m: Message, batch: &mut Vec<Vec<u8>>, waiting: &mut Vec<SyncSender<()>>| match m {
            Message::Event(e) => batch.push(e),
            Message::Flush(done) => waiting.push(done),
        };
        if let Some(m) = first {
            take(m, &mut batch, &mut waiting);
            // Gather for a moment before writing: one write per batch, and
            // submitters rarely have to wake this thread (a wake-up is a
            // system call on the request's thread). A flush is not kept waiting.
            if waiting.is_empty() {
                std::thread::sleep(GATHER);
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => take(m, &mut batch, &mut waiting),
                    Err(_) => break,
                }
            }
        }
        let dropped = stats.dropped.load(Ordering::Relaxed);
        if dropped > reported_drops && !batch.is_empty() {
            if let Ok(line) = serde_json::to_vec(&dropped_event(dropped - reported_drops)) {
                batch.push(line);
            }
            reported_drops = dropped;
        }
        if !batch.is_empty() {
            match writer.append_lines(&batch, unix_now()) {
                Ok(()) => {
                    stats.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("latchkey: audit log write failed: {e}");
                }
            }
            for s in sinks.iter_mut() {
                s.deliver(&batch);
            }
            batch.clear();
        }
        if !waiting.is_empty() || last_sync.elapsed() >= sync_interval {
            if let Err(e) = writer.sync() {
                eprintln!("latchkey: audit log sync failed: {e}");
            }
            last_sync = Instant::now();
            for w in waiting.drain(..) {
                let _ = w.send(());
            }
        }
    }
    let _ = writer.sync();
}

/// The record of events lost to a full queue: the loss is itself audited.
fn dropped_event(count: u64) -> AuditEvent {
    let now = time::OffsetDateTime::now_utc();
    AuditEvent {
        event_version: EVENT_VERSION.into(),
        event_time: now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        event_source: "latchkey".into(),
        event_name: "AuditEventsDropped".into(),
        event_type: "AwsServiceEvent".into(),
        event_category: "Management".into(),
        management_event: true,
        read_only: true,
        user_identity: crate::event::UserIdentity { kind: "AWSService".into(), ..Default::default() },
        additional_event_data: Some(serde_json::json!({"droppedEvents": count})),
        event_id: format!("dropped-{}-{count}", now.unix_timestamp_nanos()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditReader, Query};

    #[test]
    fn submitted_events_reach_the_log_and_sinks() {
        struct Count(Arc<AtomicU64>);
        impl Sink for Count {
            fn deliver(&mut self, batch: &[Vec<u8>]) {
                self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let a = Auditor::start(AuditorConfig {
            dir: dir.path().into(),
            rotation: Rotation::default(),
            queue: 1000,
            sync_interval: Duration::from_millis(50),
            sinks: vec![Box::new(Count(seen.clone()))],
        })
        .unwrap();
        for i in 0..100 {
            a.submit(AuditEvent {
                event_name: format!("E{i}"),
                event_time: "2026-11-23T10:00:00Z".into(),
                ..Default::default()
            });
        }
        a.flush();
        assert_eq!(seen.load(Ordering::Relaxed), 100);
        let mut r = AuditReader::open(dir.path()).unwrap();
        r.refresh().unwrap();
        assert_eq!(r.query(&Query::default()).unwrap().len(), 100);
        assert_eq!(a.stats.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        struct Slow;
        impl Sink for Slow {
            fn deliver(&mut self, _: &[Vec<u8>]) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let a = Auditor::start(AuditorConfig {
            dir: dir.path().into(),
            rotation: Rotation::default(),
            queue: 4,
            sync_interval: Duration::from_millis(50),
            sinks: vec![Box::new(Slow)],
        })
        .unwrap();
        let started = Instant::now();
        for _ in 0..100 {
            a.submit(AuditEvent { event_time: "2026-11-23T10:00:00Z".into(), ..Default::default() });
        }
        assert!(started.elapsed() < Duration::from_millis(150), "submit must not wait on a slow sink");
        assert!(a.stats.dropped.load(Ordering::Relaxed) > 0);
        a.flush();
        // One more event lets the writer record the loss.
        a.submit(AuditEvent { event_time: "2026-11-23T10:00:00Z".into(), ..Default::default() });
        a.flush();
        let mut r = AuditReader::open(dir.path()).unwrap();
        r.refresh().unwrap();
        let lost = r.query(&Query { event_name: Some("AuditEventsDropped".into()), ..Default::default() }).unwrap();
        assert!(!lost.is_empty());
    }
}
