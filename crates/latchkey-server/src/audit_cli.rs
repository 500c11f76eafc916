//! `latchkey audit`: questions to the audit log — everything a session did,
//! who touched a key, what was denied — as a table or JSON lines, optionally
//! following the log as it grows.

use clap::Args;
use latchkey_audit::{AuditEvent, AuditReader, Query};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The server's data directory (the log is DATA_DIR/audit).
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "latchkey-data")]
    pub data_dir: PathBuf,
    /// The audit log directory, if not DATA_DIR/audit.
    #[arg(long, env = "LATCHKEY_AUDIT_DIR")]
    pub audit_dir: Option<PathBuf>,
    /// Events at or after this time: RFC 3339 (2026-11-23T10:00:00Z) or an age (90s, 15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// The caller's ARN, or its beginning followed by `*`.
    #[arg(long)]
    pub principal: Option<String>,
    /// Events made with this access key id, and the call that issued it.
    #[arg(long)]
    pub access_key: Option<String>,
    /// Events of role sessions with this name, and the calls that created them.
    #[arg(long)]
    pub session: Option<String>,
    #[arg(long)]
    pub source_identity: Option<String>,
    /// The API operation (GetObject, AssumeRole, ...).
    #[arg(long = "event")]
    pub event_name: Option<String>,
    #[arg(long)]
    pub bucket: Option<String>,
    /// Object keys beginning with this (with --bucket).
    #[arg(long)]
    pub key_prefix: Option<String>,
    /// allow, deny or error.
    #[arg(long)]
    pub decision: Option<String>,
    /// table or json (one CloudTrail event per line).
    #[arg(long, default_value = "table")]
    pub output: String,
    /// Keep printing new events as they are written.
    #[arg(long)]
    pub follow: bool,
    /// At most this many events.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Benchmark aid: append N synthetic events to the log and exit.
    #[arg(long, hide = true)]
    pub generate: Option<u64>,
}

/// `90s`, `15m`, `2h`, `7d` before `now`, or an RFC 3339 time; unix ms.
fn parse_time(v: &str, now: time::OffsetDateTime) -> anyhow::Result<i64> {
    let ms = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    if let Ok(t) = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        return Ok(ms(t));
    }
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: i64 = num.parse().map_err(|_| anyhow::anyhow!("not a time or an age: {v:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => anyhow::bail!("not a time or an age: {v:?} (use RFC 3339 or 90s, 15m, 2h, 7d)"),
    };
    Ok(ms(now - time::Duration::seconds(secs)))
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    let dir = args.audit_dir.clone().unwrap_or_else(|| crate::monitoring::default_audit_dir(&args.data_dir));
    if let Some(n) = args.generate {
        return generate(&dir, n);
    }
    if !dir.is_dir() {
        anyhow::bail!("no audit log in {}", dir.display());
    }
    if args.output != "table" && args.output != "json" {
        anyhow::bail!("--output must be table or json");
    }
    let now = time::OffsetDateTime::now_utc();
    let mut q = Query {
        from_ms: args.since.as_deref().map(|v| parse_time(v, now)).transpose()?,
        to_ms: args.until.as_deref().map(|v| parse_time(v, now)).transpose()?,
        principal: args.principal.clone(),
        access_key: args.access_key.clone(),
        session: args.session.clone(),
        source_identity: args.source_identity.clone(),
        event_name: args.event_name.clone(),
        bucket: args.bucket.clone(),
        key_prefix: args.key_prefix.clone(),
        decision: args.decision.clone(),
        after_id: None,
        limit: args.limit,
    };
    let mut reader = AuditReader::open(&dir)?;
    let stdout = std::io::stdout();
    let table = args.output == "table";
    let mut header_done = false;
    loop {
        // The server indexes in the background; catch up with what it appended since.
        reader.refresh()?;
        let events = reader.query(&q)?;
        let mut out = stdout.lock();
        if table && !header_done && (!events.is_empty() || !args.follow) {
            writeln!(
                out,
                "{:<20}  {:<26}  {:<5}  {:<58}  {:<20}  {:<34}  WHY",
                "TIME", "EVENT", "DEC", "PRINCIPAL", "ACCESS KEY", "RESOURCE"
            )?;
            header_done = true;
        }
        for (id, e) in &events {
            if table {
                writeln!(out, "{}", table_row(e))?;
            } else {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
            q.after_id = Some(*id);
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        drop(out);
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn table_row(e: &AuditEvent) -> String {
    let auth = e.additional_event_data.as_ref().and_then(|d| d.get("authorization"));
    let resource = match (e.bucket(), e.key()) {
        (Some(b), Some(k)) => format!("{b}/{k}"),
        (Some(b), None) => b.to_string(),
        _ => auth.and_then(|a| a.get("resource")).and_then(|r| r.as_str()).unwrap_or("-").to_string(),
    };
    let why = match (e.decision(), auth) {
        ("allow", Some(a)) => {
            let statements: Vec<String> = a
                .get("statements")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
                .map(|s| {
                    let policy = s.get("policy").and_then(|p| p.as_str()).unwrap_or("?");
                    match s.get("sid").and_then(|p| p.as_str()) {
                        Some(sid) => format!("{policy}#{sid}"),
                        None => policy.to_string(),
                    }
                })
                .collect();
            if statements.is_empty() {
                a.get("reason").and_then(|r| r.as_str()).unwrap_or("").to_string()
            } else {
                statements.join(", ")
            }
        }
        _ => match (&e.error_code, auth.and_then(|a| a.get("reason")).and_then(|r| r.as_str())) {
            (Some(code), Some(reason)) => format!("{code}: {reason}"),
            (Some(code), None) => code.clone(),
            _ => String::new(),
        },
    };
    let time = e.event_time.get(..19).unwrap_or(&e.event_time);
    format!(
        "{:<20}  {:<26}  {:<5}  {:<58}  {:<20}  {:<34}  {}",
        time,
        e.event_name,
        e.decision(),
        e.user_identity.arn.as_deref().unwrap_or(&e.user_identity.kind),
        e.user_identity.access_key_id.as_deref().unwrap_or("-"),
        resource,
        why
    )
}

/// Synthetic events in the shapes the server writes: a thousand role
/// sessions reading and writing objects, for timing queries over a large log.
fn generate(dir: &std::path::Path, n: u64) -> anyhow::Result<()> {
    use latchkey_audit::{AuditWriter, Rotation, SessionAttributes, SessionContext, SessionIssuer, UserIdentity};
    let mut w = AuditWriter::open(dir, Rotation::default(), time::OffsetDateTime::now_utc().unix_timestamp())?;
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let session = format!("user{:04}", i % 1000);
        let at = start + time::Duration::milliseconds(i as i64 * 50);
        let denied = i % 10 == 0;
        batch.push(AuditEvent {
            event_version: latchkey_audit::event::EVENT_VERSION.into(),
            event_time: crate::iam::entities::timestamp(at),
            event_source: "s3.amazonaws.com".into(),
            event_name: if i % 3 == 0 { "PutObject" } else { "GetObject" }.into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: "bench".into(),
            user_identity: UserIdentity {
                kind: "AssumedRole".into(),
                principal_id: Some(format!("AROABENCH:{session}")),
                arn: Some(format!("arn:aws:sts::111122223333:assumed-role/bench/{session}")),
                account_id: Some("111122223333".into()),
                access_key_id: Some(format!("ASIABENCH{:011}", i % 1000)),
                session_context: Some(SessionContext {
                    session_issuer: Some(SessionIssuer {
                        kind: "Role".into(),
                        arn: "arn:aws:iam::111122223333:role/bench".into(),
                        ..Default::default()
                    }),
                    attributes: SessionAttributes { creation_date: String::new(), mfa_authenticated: "false".into() },
                    source_identity: None,
                }),
                ..Default::default()
            },
            error_code: denied.then(|| "AccessDenied".to_string()),
            request_parameters: Some(serde_json::json!({
                "bucketName": format!("bucket{}", i % 7),
                "key": format!("users/{session}/object-{i}"),
            })),
            request_id: format!("{i:016X}"),
            event_id: format!("bench-{i}"),
            read_only: i % 3 != 0,
            event_type: "AwsApiCall".into(),
            recipient_account_id: "111122223333".into(),
            event_category: "Data".into(),
            ..Default::default()
        });
        if batch.len() == 1000 {
            w.append(&batch, time::OffsetDateTime::now_utc().unix_timestamp())?;
            batch.clear();
        }
    }
    w.append(&batch, time::OffsetDateTime::now_utc().unix_timestamp())?;
    w.sync()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_ages() {
        let now = time::macros::datetime!(2026-11-23 12:00 UTC);
        assert_eq!(parse_time("2h", now).unwrap(), parse_time("2026-11-23T10:00:00Z", now).unwrap());
        assert_eq!(parse_time("90s", now).unwrap(), (now.unix_timestamp() - 90) * 1000);
        assert!(parse_time("soon", now).is_err());
        assert!(parse_time("5y", now).is_err());
    }
}
