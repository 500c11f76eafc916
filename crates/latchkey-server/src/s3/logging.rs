//! Server access logging (PutBucketLogging / GetBucketLogging): requests to a
//! bucket written, in S3's access log format, as objects in a target bucket
//! ("Amazon S3 server access log format").
//!
//! Records are gathered in memory from the same per-request record as the
//! audit trail and delivered every interval as one object per source bucket,
//! named `TargetPrefixYYYY-mm-DD-HH-MM-SS-UniqueString` as S3 names them.
//! As with S3, delivery is best effort: the audit log is the complete record.

use super::{release_blobs, S3Request};
use crate::audit::{Exchange, Record};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, HttpResponse};
use crate::state::AppState;
use crate::xml::{XmlWriter, S3_NS};
use http::StatusCode;
use latchkey_audit::AuditEvent;
use latchkey_storage::{Bucket, ObjectAttributes, ObjectRecord, PutCondition, Segment};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Where a bucket's access log goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoggingTarget {
    pub target_bucket: String,
    pub target_prefix: String,
}

const CONFIG_KIND: &str = "logging";
/// Records held per source bucket before the oldest are dropped (delivery
/// runs every interval; this bounds memory if the target is failing).
const MAX_PENDING: usize = 100_000;

/// Buckets with logging on, and their records awaiting delivery.
pub struct AccessLogs {
    interval: Duration,
    targets: RwLock<HashMap<String, LoggingTarget>>,
    pending: Mutex<HashMap<String, Vec<String>>>,
}

impl AccessLogs {
    pub fn new(interval: Duration) -> AccessLogs {
        AccessLogs { interval, targets: RwLock::default(), pending: Mutex::default() }
    }

    /// Whether any bucket logs access.
    pub fn any(&self) -> bool {
        !self.targets.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    fn set(&self, bucket: &str, target: Option<LoggingTarget>) {
        let mut t = self.targets.write().unwrap_or_else(|e| e.into_inner());
        match target {
            Some(target) => t.insert(bucket.to_string(), target),
            None => t.remove(bucket),
        };
    }

    /// Records one finished S3 request if its bucket logs access.
    pub fn observe(&self, record: &Record, event: &AuditEvent, x: &Exchange<'_>, seconds: f64) {
        if record.api != crate::audit::Api::S3 {
            return;
        }
        let Some(bucket) = event.bucket() else { return };
        if !self.targets.read().unwrap_or_else(|e| e.into_inner()).contains_key(bucket) {
            return;
        }
        let line = format_record(record, event, x, seconds);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let lines = pending.entry(bucket.to_string()).or_default();
        if lines.len() < MAX_PENDING {
            lines.push(line);
        }
    }

    fn take(&self) -> Vec<(String, LoggingTarget, Vec<String>)> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        pending
            .into_iter()
            .filter_map(|(bucket, lines)| {
                let t = targets.get(&bucket)?.clone();
                Some((bucket, t, lines))
            })
            .collect()
    }
}

/// Keys are URL-encoded in the log, unreserved characters and `/` kept.
const KEY_ENCODING: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// `-` for what is absent, quotes where S3 quotes.
fn dash(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".to_string(),
    }
}

/// One line of S3's server access log format.
fn format_record(record: &Record, e: &AuditEvent, x: &Exchange<'_>, seconds: f64) -> String {
    let owner = e.resources.iter().find_map(|r| r.account_id.clone());
    let requester = e.user_identity.arn.clone();
    let time = x
        .started
        .format(time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"));
    let operation = format!(
        "REST.{}.{}",
        http_verb(record.operation.as_deref().unwrap_or("")),
        match (e.key(), record.operation.as_deref()) {
            (Some(_), _) => "OBJECT".to_string(),
            (None, Some(op)) => op.trim_start_matches("Get").trim_start_matches("Put").to_ascii_uppercase(),
            _ => "UNKNOWN".to_string(),
        }
    );
    let key = e.key().map(|k| percent_encoding::utf8_percent_encode(k, KEY_ENCODING).to_string());
    let millis = (seconds * 1000.0).round() as u64;
    let uri = format!("{} {} HTTP/1.1", x.method, x.path.replace('"', "%22"));
    format!(
        "{owner} {bucket} [{time}] {ip} {requester} {id} {operation} {key} \"{uri}\" {status} {error} {sent} {size} {total} {turnaround} \"{referer}\" \"{agent}\" - {id} SigV4 - AuthHeader {host} - - -",
        owner = dash(owner.as_deref()),
        bucket = dash(e.bucket()),
        time = time.unwrap_or_default(),
        ip = dash(Some(&e.source_ip_address)),
        requester = dash(requester.as_deref()),
        id = x.request_id,
        key = dash(key.as_deref()),
        status = x.status,
        error = dash(x.error.map(|(c, _)| c)),
        sent = if x.bytes_out > 0 { x.bytes_out.to_string() } else { "-".into() },
        // The object's size: what was sent for a read, what was received for a write.
        size = match (e.key(), x.bytes_in.max(x.bytes_out)) {
            (Some(_), n) if n > 0 => n.to_string(),
            _ => "-".into(),
        },
        total = millis,
        turnaround = millis,
        referer = "-",
        agent = e.user_agent.replace('"', "'"),
        host = e.request_parameters.as_ref().and_then(|p| p.get("Host")).and_then(|h| h.as_str()).unwrap_or("-"),
    )
}

fn http_verb(operation: &str) -> &'static str {
    match operation {
        o if o.starts_with("Get") || o.starts_with("List") => "GET",
        o if o.starts_with("Head") => "HEAD",
        o if o.starts_with("Delete") || o.starts_with("Abort") => "DELETE",
        o if o.starts_with("Put") || o.starts_with("Copy") || o == "UploadPart" || o == "UploadPartCopy" => "PUT",
        _ => "POST",
    }
}

/// Loads the logging configurations of every bucket (at start-up).
pub async fn load(state: &Arc<AppState>) -> S3Result<()> {
    let configs = state
        .meta(|m| {
            let mut out = Vec::new();
            for a in m.list_accounts()? {
                for b in m.list_buckets(&a.id)? {
                    if let Some(doc) = m.get_bucket_config(&b.name, CONFIG_KIND)? {
                        out.push((b.name, doc));
                    }
                }
            }
            Ok(out)
        })
        .await?;
    for (bucket, doc) in configs {
        if let Ok(t) = serde_json::from_str::<LoggingTarget>(&doc) {
            state.monitoring.access_logs.set(&bucket, Some(t));
        }
    }
    Ok(())
}

/// Delivers pending records every interval until the process ends.
pub fn spawn_delivery(state: Arc<AppState>) {
    let interval = state.monitoring.access_logs.interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            deliver(&state).await;
        }
    });
}

/// Writes each source bucket's pending records as one object in its target.
pub async fn deliver(state: &Arc<AppState>) {
    for (source, target, lines) in state.monitoring.access_logs.take() {
        if let Err(e) = write_log_object(state, &target, lines).await {
            tracing::warn!(bucket = %source, target = %target.target_bucket, error = %e.message, "access log delivery failed");
        }
    }
}

async fn write_log_object(state: &Arc<AppState>, target: &LoggingTarget, lines: Vec<String>) -> S3Result<()> {
    use rand::Rng;
    let tb = target.target_bucket.clone();
    let bucket = state.meta(move |m| m.get_bucket(&tb)).await?.ok_or_else(|| S3Error::new(ErrorCode::NoSuchBucket))?;
    let mut body = lines.join("\n");
    body.push('\n');
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]"))
        .unwrap_or_default();
    let unique: String = (0..16).map(|_| format!("{:X}", rand::thread_rng().gen_range(0..16u8))).collect();
    let key = format!("{}{stamp}-{unique}", target.target_prefix);
    let mut writer = state.blobs.create().await?;
    writer.write(body.as_bytes()).await?;
    let blob = writer.finish().await?;
    let md5 = {
        use md5::Digest;
        hex::encode(md5::Md5::digest(body.as_bytes()))
    };
    let mut attrs = ObjectAttributes::default();
    attrs.headers.content_type = Some("text/plain".into());
    let record = ObjectRecord {
        bucket: bucket.name.clone(),
        key,
        segments: vec![Segment { blob: blob.clone(), size: body.len() as u64, checksum: None }],
        size: body.len() as u64,
        etag: md5,
        last_modified: now,
        owner_account: bucket.account_id.clone(),
        attrs,
    };
    match state.meta(move |m| m.put_object(&record, &PutCondition::Always)).await {
        Ok(replaced) => {
            release_blobs(state, replaced.blobs).await;
            Ok(())
        }
        Err(e) => {
            release_blobs(state, vec![blob]).await;
            Err(e.into())
        }
    }
}

/// PutBucketLogging: `<BucketLoggingStatus>` with `LoggingEnabled` turns
/// logging on, an empty one turns it off. The target must be a bucket of the
/// same account (S3 also requires the same region; latchkey has one).
pub async fn put(state: &Arc<AppState>, req: &mut S3Request, b: &Bucket) -> S3Result<HttpResponse> {
    let body = req.body.read_all(64 * 1024).await?;
    let target = parse(&body)?;
    if let Some(t) = &target {
        let tb = t.target_bucket.clone();
        let tgt = state.meta(move |m| m.get_bucket(&tb)).await?;
        match tgt {
            Some(tgt) if tgt.account_id == b.account_id => {}
            Some(_) => {
                return Err(S3Error::msg(
                    ErrorCode::InvalidTargetBucketForLogging,
                    "The owner for the bucket to be logged and the target bucket must be the same.",
                )
                .with("TargetBucket", t.target_bucket.clone()))
            }
            None => {
                return Err(S3Error::msg(
                    ErrorCode::InvalidTargetBucketForLogging,
                    "The target bucket for logging does not exist",
                )
                .with("TargetBucket", t.target_bucket.clone()))
            }
        }
    }
    let name = b.name.clone();
    let doc = target.as_ref().map(|t| serde_json::to_string(t).unwrap_or_default());
    super::write_bucket_meta(state, move |m| m.put_bucket_config(&name, CONFIG_KIND, doc.as_deref())).await?;
    state.monitoring.access_logs.set(&b.name, target);
    Ok(response::status(StatusCode::OK))
}

pub async fn get(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let name = b.name.clone();
    let doc = state.meta(move |m| m.get_bucket_config(&name, CONFIG_KIND)).await?;
    let target = doc.and_then(|d| serde_json::from_str::<LoggingTarget>(&d).ok());
    let mut x = XmlWriter::new("BucketLoggingStatus", Some(S3_NS));
    if let Some(t) = target {
        x.open("LoggingEnabled").elem("TargetBucket", &t.target_bucket).elem("TargetPrefix", &t.target_prefix).close();
    }
    Ok(response::xml(StatusCode::OK, x.finish()))
}

/// The configuration a PutBucketLogging body states (None: logging off).
pub fn parse(body: &[u8]) -> S3Result<Option<LoggingTarget>> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::new(ErrorCode::MalformedXML))?;
    let doc = roxmltree::Document::parse(text).map_err(|_| S3Error::new(ErrorCode::MalformedXML))?;
    let root = doc.root_element();
    if root.tag_name().name() != "BucketLoggingStatus" {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    let Some(enabled) =
        root.children().find(|n| n.has_tag_name(("", "LoggingEnabled")) || n.tag_name().name() == "LoggingEnabled")
    else {
        return Ok(None);
    };
    let child = |name: &str| {
        enabled.children().find(|n| n.tag_name().name() == name).map(|n| n.text().unwrap_or_default().to_string())
    };
    let target_bucket =
        child("TargetBucket").filter(|b| !b.is_empty()).ok_or_else(|| S3Error::new(ErrorCode::MalformedXML))?;
    let target_prefix = child("TargetPrefix").unwrap_or_default();
    if target_prefix.len() > 1024 {
        return Err(S3Error::msg(ErrorCode::InvalidArgument, "TargetPrefix is too long"));
    }
    Ok(Some(LoggingTarget { target_bucket, target_prefix }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_parse_and_bad_ones_are_refused() {
        let on = br#"<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>src/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>"#;
        assert_eq!(
            parse(on).unwrap(),
            Some(LoggingTarget { target_bucket: "logs".into(), target_prefix: "src/".into() })
        );
        let off = br#"<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert_eq!(parse(off).unwrap(), None);
        assert!(parse(b"<nope").is_err());
        assert!(parse(b"<Other/>").is_err());
        assert!(parse(b"<BucketLoggingStatus><LoggingEnabled><TargetPrefix>x</TargetPrefix></LoggingEnabled></BucketLoggingStatus>").is_err());
    }
}
