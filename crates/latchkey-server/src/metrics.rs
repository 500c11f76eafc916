//! `/metrics` in Prometheus's text format: requests, denials, credentials
//! issued, authentication failures, latency, bytes, and the audit pipeline's
//! health. Fed from the same per-request record as the audit trail.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    denials: Family<Labels, Counter>,
    credentials_issued: Family<Labels, Counter>,
    auth_failures: Family<Labels, Counter>,
    bytes_in: Family<Labels, Counter>,
    bytes_out: Family<Labels, Counter>,
    active_sessions: Gauge,
    audit_dropped: Counter,
    audit_written: Counter,
    audit_write_errors: Counter,
    /// Expiry (unix seconds) → sessions issued that end then.
    session_expiries: Mutex<BTreeMap<i64, u64>>,
    /// Audit counters already copied into the counters above.
    audit_seen: Mutex<(u64, u64, u64)>,
    audit_stats: Option<Arc<latchkey_audit::AuditStats>>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    pub fn new(audit_stats: Option<Arc<latchkey_audit::AuditStats>>) -> Metrics {
        let mut registry = Registry::with_prefix("latchkey");
        let requests = Family::<Labels, Counter>::default();
        registry.register("requests", "Requests by API, operation and HTTP status", requests.clone());
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "request_duration",
            "Time to the response head, by API and operation",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let denials = Family::<Labels, Counter>::default();
        registry.register("denials", "Requests refused by the policy engine, by API and reason", denials.clone());
        let credentials_issued = Family::<Labels, Counter>::default();
        registry.register(
            "sts_credentials_issued",
            "Temporary credentials issued, by STS action and role",
            credentials_issued.clone(),
        );
        let auth_failures = Family::<Labels, Counter>::default();
        registry.register("authentication_failures", "Failed authentications by kind", auth_failures.clone());
        let bytes_in = Family::<Labels, Counter>::default();
        registry.register_with_unit(
            "received",
            "Request body bytes received, by API",
            prometheus_client::registry::Unit::Bytes,
            bytes_in.clone(),
        );
        let bytes_out = Family::<Labels, Counter>::default();
        registry.register_with_unit(
            "sent",
            "Response body bytes sent, by API",
            prometheus_client::registry::Unit::Bytes,
            bytes_out.clone(),
        );
        let active_sessions = Gauge::default();
        registry.register(
            "active_sessions",
            "Temporary credentials issued by this server and not yet expired (an estimate: revoked or unused ones count)",
            active_sessions.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register("audit_events_dropped", "Audit events lost to a full queue", audit_dropped.clone());
        let audit_written = Counter::default();
        registry.register("audit_events_written", "Audit events appended to the log", audit_written.clone());
        let audit_write_errors = Counter::default();
        registry.register("audit_write_errors", "Failed appends to the audit log", audit_write_errors.clone());
        Metrics {
            registry,
            requests,
            latency,
            denials,
            credentials_issued,
            auth_failures,
            bytes_in,
            bytes_out,
            active_sessions,
            audit_dropped,
            audit_written,
            audit_write_errors,
            session_expiries: Mutex::new(BTreeMap::new()),
            audit_seen: Mutex::new((0, 0, 0)),
            audit_stats,
        }
    }

    /// Counts one finished request.
    pub fn observe(&self, r: &crate::audit::Record, status: u16, seconds: f64, bytes_in: u64, bytes_out: u64) {
        let api = r.api.label();
        let operation = r.operation.clone().unwrap_or_else(|| "Unknown".into());
        self.requests
            .get_or_create(&vec![("api", api.into()), ("operation", operation.clone()), ("status", status.to_string())])
            .inc();
        self.latency.get_or_create(&vec![("api", api.into()), ("operation", operation)]).observe(seconds);
        if let Some(a) = r.authorization.as_ref().filter(|a| a.decision == "Deny") {
            self.denials.get_or_create(&vec![("api", api.into()), ("reason", a.reason.clone())]).inc();
        }
        if let Some(kind) = r.auth_failure {
            self.auth_failures.get_or_create(&vec![("kind", kind.into())]).inc();
        }
        if let Some((action, role, expires)) = &r.issued {
            if status < 300 {
                self.credentials_issued.get_or_create(&vec![("action", action.clone()), ("role", role.clone())]).inc();
                *self.session_expiries.lock().unwrap_or_else(|e| e.into_inner()).entry(*expires).or_default() += 1;
            }
        }
        if bytes_in > 0 {
            self.bytes_in.get_or_create(&vec![("api", api.into())]).inc_by(bytes_in);
        }
        if bytes_out > 0 {
            self.bytes_out.get_or_create(&vec![("api", api.into())]).inc_by(bytes_out);
        }
    }

    /// The text exposition.
    pub fn render(&self, now: i64) -> String {
        {
            let mut expiries = self.session_expiries.lock().unwrap_or_else(|e| e.into_inner());
            let live = expiries.split_off(&(now + 1));
            *expiries = live;
            self.active_sessions.set(expiries.values().sum::<u64>() as i64);
        }
        if let Some(s) = &self.audit_stats {
            let mut seen = self.audit_seen.lock().unwrap_or_else(|e| e.into_inner());
            let (d, w, e) = (
                s.dropped.load(Ordering::Relaxed),
                s.written.load(Ordering::Relaxed),
                s.write_errors.load(Ordering::Relaxed),
            );
            self.audit_dropped.inc_by(d.saturating_sub(seen.0));
            self.audit_written.inc_by(w.saturating_sub(seen.1));
            self.audit_write_errors.inc_by(e.saturating_sub(seen.2));
            *seen = (d.max(seen.0), w.max(seen.1), e.max(seen.2));
        }
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_sessions_are_exposed() {
        let m = Metrics::new(None);
        let r = crate::audit::Record {
            api: crate::audit::Api::Sts,
            operation: Some("AssumeRole".into()),
            issued: Some(("AssumeRole".into(), "arn:aws:iam::111122223333:role/r".into(), 2000)),
            ..Default::default()
        };
        m.observe(&r, 200, 0.002, 100, 900);
        let text = m.render(1000);
        assert!(text.contains(r#"latchkey_requests_total{api="sts",operation="AssumeRole",status="200"} 1"#), "{text}");
        assert!(text.contains("latchkey_active_sessions 1"), "{text}");
        assert!(text.contains("latchkey_sts_credentials_issued_total{action=\"AssumeRole\""), "{text}");
        assert!(m.render(3000).contains("latchkey_active_sessions 0"));
    }
}
