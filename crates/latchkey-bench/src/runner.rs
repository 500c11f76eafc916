//! Runs one operation at a fixed concurrency until a count or a deadline is
//! reached, recording each request's latency.

use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a run stops: whichever of the two comes first.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub duration: Duration,
    pub count: Option<u64>,
}

/// One request's longest allowed time; a stuck server fails the request
/// instead of hanging the benchmark.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

pub struct Outcome {
    pub ops: u64,
    pub errors: u64,
    /// Payload bytes moved (sent for writes, received for reads).
    pub bytes: u64,
    pub elapsed: Duration,
    /// Latency in microseconds, successful requests only.
    pub latency: Histogram<u64>,
    pub first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 20 minutes at 3 significant digits.
    Histogram::new_with_bounds(1, 1_200_000_000, 3).expect("valid histogram bounds")
}

/// Calls `op(seq)` from `concurrency` tasks; `op` returns the payload bytes
/// it moved, or an error description.
pub async fn drive<F, Fut>(concurrency: usize, bounds: Bounds, op: F) -> Outcome
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, String>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + bounds.duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome {
                ops: 0,
                errors: 0,
                bytes: 0,
                elapsed: Duration::ZERO,
                latency: histogram(),
                first_error: None,
            };
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if bounds.count.is_some_and(|c| seq >= c) {
                    break;
                }
                let t0 = Instant::now();
                let r = tokio::time::timeout(REQUEST_TIMEOUT, op(seq)).await;
                let us = t0.elapsed().as_micros() as u64;
                out.ops += 1;
                match r {
                    Ok(Ok(n)) => {
                        out.bytes += n;
                        let _ = out.latency.record(us.max(1));
                    }
                    Ok(Err(e)) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e);
                    }
                    Err(_) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| "request timed out".into());
                    }
                }
            }
            out
        }));
    }
    let mut total =
        Outcome { ops: 0, errors: 0, bytes: 0, elapsed: Duration::ZERO, latency: histogram(), first_error: None };
    for t in tasks {
        let o = t.await.expect("benchmark worker panicked");
        total.ops += o.ops;
        total.errors += o.errors;
        total.bytes += o.bytes;
        total.latency.add(&o.latency).expect("same histogram bounds");
        if total.first_error.is_none() {
            total.first_error = o.first_error;
        }
    }
    total.elapsed = start.elapsed();
    total
}
