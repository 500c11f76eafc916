//! One row of results, printed as a table and written as JSON.

use serde::Serialize;

#[derive(Serialize, Clone, Debug, Default)]
pub struct Row {
    /// Stable identifier (`get-4k`, `put-64m-unsigned`, ...), the join key
    /// when results of several servers are compared.
    pub id: String,
    pub label: String,
    /// Object size in bytes (0 where none applies).
    pub size: u64,
    pub concurrency: usize,
    /// "ok", or "n/a" when the endpoint cannot do this workload.
    pub status: String,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_s: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// The server process's CPU time per operation, when its pid is known.
    pub server_cpu_us_per_op: Option<f64>,
    /// Peak VmRSS sampled during the run, and VmHWM after it (MiB).
    pub rss_peak_mib: Option<f64>,
    pub rss_before_mib: Option<f64>,
    pub hwm_mib: Option<f64>,
    pub note: Option<String>,
    pub first_error: Option<String>,
}

pub fn human_size(n: u64) -> String {
    match n {
        0 => "-".into(),
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n % 1024 == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub const HEADER: &str =
    "| workload | size | conc | ops | ops/s | MB/s | p50 ms | p99 ms | max ms | errors | server CPU µs/op | note |\n\
                          |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|";

pub fn markdown_line(r: &Row) -> String {
    if r.status != "ok" {
        let why = match &r.first_error {
            Some(e) => format!("{}: {}", r.note.as_deref().unwrap_or(""), e.chars().take(160).collect::<String>()),
            None => r.note.clone().unwrap_or_default(),
        };
        let s = &r.status;
        return format!(
            "| {} | {} | {} | {s} | {s} | {s} | {s} | {s} | {s} | {s} | {s} | {why} |",
            r.label,
            human_size(r.size),
            r.concurrency,
        );
    }
    let mut note = r.note.clone().unwrap_or_default();
    if let Some(peak) = r.rss_peak_mib {
        note = format!(
            "peak RSS {peak:.1} MiB (before {:.1}, HWM {:.1}) {note}",
            r.rss_before_mib.unwrap_or(0.0),
            r.hwm_mib.unwrap_or(0.0)
        );
    }
    if let Some(e) = &r.first_error {
        note = format!("{note} first error: {}", e.chars().take(120).collect::<String>());
    }
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.label,
        human_size(r.size),
        r.concurrency,
        r.ops,
        num(r.ops_per_s),
        if r.mb_per_s > 0.0 { num(r.mb_per_s) } else { "-".into() },
        num(r.p50_ms),
        num(r.p99_ms),
        num(r.max_ms),
        r.errors,
        r.server_cpu_us_per_op.map(num).unwrap_or_else(|| "-".into()),
        note.trim()
    )
}
