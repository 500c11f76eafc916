//! The audit trail and metrics as the server runs them: settings, the
//! auditor (log + sinks), the metrics registry, and what a finished request
//! hands to both.

use crate::audit::{Exchange, Record};
use crate::metrics::Metrics;
use anyhow::Context;
use clap::builder::BoolishValueParser;
use latchkey_audit::{AuditReader, Auditor, AuditorConfig, Rotation, Sink};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Audit and metrics options: flags (`--audit-stdout`), `LATCHKEY_*`
/// variables and the config file's `[monitoring]` table.
#[derive(clap::Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct MonitoringOptions {
    /// Write the audit trail [default: true].
    #[arg(long = "audit", env = "LATCHKEY_AUDIT", value_parser = BoolishValueParser::new())]
    pub audit: Option<bool>,
    /// Where the audit log lives [default: DATA_DIR/audit].
    #[arg(long = "audit-dir", env = "LATCHKEY_AUDIT_DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Also write each audit event as a JSON line on standard output [default: false].
    #[arg(long = "audit-stdout", env = "LATCHKEY_AUDIT_STDOUT", value_parser = BoolishValueParser::new())]
    pub audit_stdout: Option<bool>,
    /// Also POST audit events (JSON lines, in batches) to this URL.
    #[arg(long = "audit-webhook", env = "LATCHKEY_AUDIT_WEBHOOK")]
    pub audit_webhook: Option<String>,
    /// Start a new log segment beyond this size [default: 128 MiB].
    #[arg(long = "audit-rotate-mb", env = "LATCHKEY_AUDIT_ROTATE_MB")]
    pub audit_rotate_mb: Option<u64>,
    /// Start a new log segment after this long [default: 24 hours].
    #[arg(long = "audit-rotate-hours", env = "LATCHKEY_AUDIT_ROTATE_HOURS")]
    pub audit_rotate_hours: Option<u64>,
    /// Audit events held in memory before new ones are dropped (and counted) [default: 65536].
    #[arg(long = "audit-queue", env = "LATCHKEY_AUDIT_QUEUE")]
    pub audit_queue: Option<usize>,
    /// How often the audit log is fsynced, in milliseconds [default: 1000].
    #[arg(long = "audit-sync-ms", env = "LATCHKEY_AUDIT_SYNC_MS")]
    pub audit_sync_ms: Option<u64>,
    /// Bearer token that /metrics requires (Authorization: Bearer TOKEN).
    #[arg(long = "metrics-token", env = "LATCHKEY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve /metrics without a token [default: false].
    #[arg(long = "metrics-public", env = "LATCHKEY_METRICS_PUBLIC", value_parser = BoolishValueParser::new())]
    pub metrics_public: Option<bool>,
    /// How often server access logs are delivered to their target buckets, in seconds [default: 60].
    #[arg(long = "access-log-interval", env = "LATCHKEY_ACCESS_LOG_INTERVAL")]
    pub access_log_interval: Option<u64>,
}

impl MonitoringOptions {
    /// Flags and variables win over the file, field by field.
    pub fn or(self, file: MonitoringOptions) -> MonitoringOptions {
        MonitoringOptions {
            audit: self.audit.or(file.audit),
            audit_dir: self.audit_dir.or(file.audit_dir),
            audit_stdout: self.audit_stdout.or(file.audit_stdout),
            audit_webhook: self.audit_webhook.or(file.audit_webhook),
            audit_rotate_mb: self.audit_rotate_mb.or(file.audit_rotate_mb),
            audit_rotate_hours: self.audit_rotate_hours.or(file.audit_rotate_hours),
            audit_queue: self.audit_queue.or(file.audit_queue),
            audit_sync_ms: self.audit_sync_ms.or(file.audit_sync_ms),
            metrics_token: self.metrics_token.or(file.metrics_token),
            metrics_public: self.metrics_public.or(file.metrics_public),
            access_log_interval: self.access_log_interval.or(file.access_log_interval),
        }
    }
}

/// The audit log's directory for a data directory.
pub fn default_audit_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

/// The running audit trail and metrics.
pub struct Monitoring {
    auditor: Option<Auditor>,
    pub audit_dir: Option<PathBuf>,
    /// Last-used lookups (GetAccessKeyLastUsed, RoleLastUsed) read the log's index.
    reader: Mutex<Option<AuditReader>>,
    pub metrics: Metrics,
    metrics_token: Option<String>,
    metrics_public: bool,
    pub access_logs: crate::s3::logging::AccessLogs,
}

impl Monitoring {
    /// Starts the audit writer (repairing the log after a crash). Must run
    /// inside the Tokio runtime (the webhook sink is a task).
    pub fn start(opts: MonitoringOptions, data_dir: &Path) -> anyhow::Result<Monitoring> {
        let enabled = opts.audit.unwrap_or(true);
        let dir = opts.audit_dir.clone().unwrap_or_else(|| default_audit_dir(data_dir));
        let (auditor, audit_dir) = if enabled {
            let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
            if opts.audit_stdout.unwrap_or(false) {
                sinks.push(Box::new(latchkey_audit::pipeline::StdoutSink));
            }
            let stats_slot: Arc<Mutex<Option<Arc<latchkey_audit::AuditStats>>>> = Arc::default();
            if let Some(url) = &opts.audit_webhook {
                sinks.push(Box::new(WebhookSink::start(url, stats_slot.clone())?));
            }
            let auditor = Auditor::start(AuditorConfig {
                dir: dir.clone(),
                rotation: Rotation {
                    max_bytes: opts.audit_rotate_mb.unwrap_or(128).max(1) * 1024 * 1024,
                    max_age: (opts.audit_rotate_hours.unwrap_or(24).max(1) * 3600) as i64,
                },
                queue: opts.audit_queue.unwrap_or(65_536),
                sync_interval: Duration::from_millis(opts.audit_sync_ms.unwrap_or(1000).max(1)),
                sinks,
            })
            .with_context(|| format!("opening the audit log in {}", dir.display()))?;
            *stats_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(auditor.stats.clone());
            (Some(auditor), Some(dir))
        } else {
            (None, None)
        };
        let stats = auditor.as_ref().map(|a| a.stats.clone());
        let reader = match &audit_dir {
            Some(d) => Some(AuditReader::open(d)?),
            None => None,
        };
        Ok(Monitoring {
            auditor,
            audit_dir,
            reader: Mutex::new(reader),
            metrics: Metrics::new(stats),
            metrics_token: opts.metrics_token.filter(|t| !t.is_empty()),
            metrics_public: opts.metrics_public.unwrap_or(false),
            access_logs: crate::s3::logging::AccessLogs::new(Duration::from_secs(
                opts.access_log_interval.unwrap_or(60).max(1),
            )),
        })
    }

    /// Nothing recorded (for tools and tests that build a state by hand).
    pub fn disabled() -> Monitoring {
        Monitoring {
            auditor: None,
            audit_dir: None,
            reader: Mutex::new(None),
            metrics: Metrics::new(None),
            metrics_token: None,
            metrics_public: false,
            access_logs: crate::s3::logging::AccessLogs::new(Duration::from_secs(60)),
        }
    }

    /// Hands a finished request to the audit trail, metrics and access logs.
    pub fn finish(&self, record: &Record, x: &Exchange<'_>, seconds: f64) {
        if record.audited {
            self.metrics.observe(record, x.status, seconds, x.bytes_in, x.bytes_out);
        }
        // The event is built only for someone who will read it.
        if self.auditor.is_none() && !self.access_logs.any() {
            return;
        }
        if let Some(event) = crate::audit::event(record, x) {
            self.access_logs.observe(record, &event, x, seconds);
            if let Some(a) = &self.auditor {
                a.submit(event);
            }
        }
    }

    /// Waits until queued events are in the log (shutdown).
    pub fn flush(&self) {
        if let Some(a) = &self.auditor {
            a.flush();
        }
    }

    /// Whether a scrape may read /metrics: a public endpoint, or the
    /// configured bearer token (compared in constant time).
    pub fn metrics_allowed(&self, authorization: Option<&str>) -> bool {
        if self.metrics_public {
            return true;
        }
        let (Some(token), Some(given)) = (&self.metrics_token, authorization.and_then(|a| a.strip_prefix("Bearer ")))
        else {
            return false;
        };
        subtle::ConstantTimeEq::ct_eq(token.as_bytes(), given.trim().as_bytes()).into()
    }

    pub fn metrics_configured(&self) -> bool {
        self.metrics_public || self.metrics_token.is_some()
    }

    /// When an access key was last used: (unix ms, service, region).
    pub fn key_last_used(&self, access_key: &str) -> Option<(i64, String, String)> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        reader.as_ref()?.key_last_used(access_key).ok().flatten()
    }

    /// When a role was last used: (unix ms, region).
    pub fn role_last_used(&self, role_arn: &str) -> Option<(i64, String)> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        reader.as_ref()?.role_last_used(role_arn).ok().flatten()
    }

    pub fn audit_dropped(&self) -> u64 {
        self.auditor.as_ref().map(|a| a.stats.dropped.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

/// POSTs batches of events as JSON lines to a URL from a task of its own;
/// the writer thread only hands batches over, and a full hand-over queue
/// drops the batch and counts it.
struct WebhookSink {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    stats: Arc<Mutex<Option<Arc<latchkey_audit::AuditStats>>>>,
}

impl WebhookSink {
    fn start(url: &str, stats: Arc<Mutex<Option<Arc<latchkey_audit::AuditStats>>>>) -> anyhow::Result<WebhookSink> {
        let uri: http::Uri = url.parse().with_context(|| format!("audit webhook URL {url:?}"))?;
        if !matches!(uri.scheme_str(), Some("http") | Some("https")) {
            anyhow::bail!("audit webhook URL must be http:// or https://");
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
        let task_stats = stats.clone();
        tokio::spawn(async move {
            let client = webhook_client();
            while let Some(body) = rx.recv().await {
                let lines = body.iter().filter(|b| **b == b'\n').count() as u64;
                let req = http::Request::post(uri.clone())
                    .header("content-type", "application/x-ndjson")
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)));
                let ok = match req {
                    Ok(req) => matches!(
                        tokio::time::timeout(Duration::from_secs(10), client.request(req)).await,
                        Ok(Ok(resp)) if resp.status().is_success()
                    ),
                    Err(_) => false,
                };
                if !ok {
                    if let Some(s) = task_stats.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        s.sink_dropped.fetch_add(lines, Ordering::Relaxed);
                    }
                    tracing::warn!(events = lines, "audit webhook delivery failed; events not delivered there");
                }
            }
        });
        Ok(WebhookSink { tx, stats })
    }
}

type WebhookClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

fn webhook_client() -> WebhookClient {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

impl Sink for WebhookSink {
    fn deliver(&mut self, batch: &[Vec<u8>]) {
        let mut body = Vec::with_capacity(batch.iter().map(|l| l.len() + 1).sum());
        for line in batch {
            body.extend_from_slice(line);
            body.push(b'\n');
        }
        if self.tx.try_send(body).is_err() {
            if let Some(s) = self.stats.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                s.sink_dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }
}
