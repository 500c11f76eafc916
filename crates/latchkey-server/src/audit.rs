//! What each request leaves behind: one audit event (CloudTrail's shape, see
//! `latchkey-audit`) and its metrics.
//!
//! While a request is handled, the layers it passes through note what they
//! learn in the request's [`Record`] — authentication the caller, routing the
//! operation, the gate each decision, STS the credentials it issued — through
//! a task-local, so no handler signature carries it. When the response is
//! ready, [`finish`] turns the record into the event and the metrics.

use crate::auth::{Principal, PrincipalKind};
use latchkey_audit::{
    AuditEvent, Authorization, DecidingStatement, Resource, SessionAttributes, SessionContext, SessionIssuer,
    UserIdentity,
};
use latchkey_policy as policy;
use serde_json::Value;
use std::cell::RefCell;
use std::future::Future;

tokio::task_local! {
    static RECORD: RefCell<Record>;
}

/// Which API a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    #[default]
    S3,
    Iam,
    Sts,
}

impl Api {
    pub fn event_source(self) -> &'static str {
        match self {
            Api::S3 => "s3.amazonaws.com",
            Api::Iam => "iam.amazonaws.com",
            Api::Sts => "sts.amazonaws.com",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Api::S3 => "s3",
            Api::Iam => "iam",
            Api::Sts => "sts",
        }
    }
}

/// What is known about the request so far.
#[derive(Default)]
pub struct Record {
    /// False for requests that are not API calls (health, metrics, preflight).
    pub audited: bool,
    pub api: Api,
    pub operation: Option<String>,
    /// The access key id the request claimed, verified or not.
    pub claimed_key: Option<String>,
    /// Why authentication failed, if it did (`bad_signature`, `expired_token`, ...).
    pub auth_failure: Option<&'static str>,
    pub principal: Option<Principal>,
    /// The caller as the policy engine saw it (full ARN, unique id).
    pub engine_principal: Option<policy::Principal>,
    /// Set by federation calls: the identity provider's user.
    pub federated_identity: Option<UserIdentity>,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<serde_json::Map<String, Value>>,
    /// The deciding authorization: a denial replaces an earlier allow.
    pub authorization: Option<Authorization>,
    pub resources: Vec<Resource>,
    pub read_only: bool,
    pub data_event: bool,
    /// Credentials issued: (action, role ARN or principal, expiry).
    pub issued: Option<(String, String, i64)>,
    /// The account a request without an IAM caller was made to (federation).
    pub recipient_account: Option<String>,
}

/// Notes the identity-provider user a federation call proved, as CloudTrail
/// records it (`WebIdentityUser`, `SAMLUser`; `LDAPUser` for LDAP).
pub fn note_federated_user(kind: &str, provider: &str, user_name: &str, principal_id: String, account: &str) {
    let identity = UserIdentity {
        kind: kind.into(),
        principal_id: Some(principal_id),
        user_name: Some(user_name.into()),
        identity_provider: Some(provider.into()),
        ..Default::default()
    };
    let account = account.to_string();
    note(|r| {
        r.federated_identity = Some(identity);
        r.recipient_account = Some(account);
    });
}

/// Runs a request's handling with a fresh record, returning both.
pub async fn scope<F: Future>(f: F) -> (F::Output, Record) {
    RECORD
        .scope(RefCell::new(Record::default()), async move {
            let out = f.await;
            let record = RECORD.with(|r| std::mem::take(&mut *r.borrow_mut()));
            (out, record)
        })
        .await
}

/// Notes something about the current request (a no-op outside a request,
/// e.g. in unit tests).
pub fn note(f: impl FnOnce(&mut Record)) {
    let _ = RECORD.try_with(|r| f(&mut r.borrow_mut()));
}

/// Adds an element to the response elements.
pub fn note_response(name: &str, value: Value) {
    note(|r| {
        r.response_elements.get_or_insert_with(Default::default).insert(name.to_string(), value);
    });
}

/// Records one decision of the gate.
pub fn note_decision(action: &str, resource: &str, d: &policy::Decision, message: Option<&str>) {
    note(|r| {
        if matches!(&r.authorization, Some(a) if a.decision == "Deny") {
            return;
        }
        if d.allowed && r.authorization.is_some() {
            return;
        }
        let wanted = if d.allowed { policy::Effect::Allow } else { policy::Effect::Deny };
        let statements = d
            .matched
            .iter()
            .filter(|m| m.effect == wanted)
            .map(|m| {
                use policy::PolicySource as S;
                let (policy_type, policy_arn, policy_name) = match &m.policy.kind {
                    S::IdentityManaged(arn) => ("IdentityManaged", arn.clone(), None),
                    S::IdentityInline { entity, name } => ("IdentityInline", entity.clone(), Some(name.clone())),
                    S::Resource(r) => ("Resource", r.clone(), None),
                    S::Boundary(arn) => ("PermissionsBoundary", arn.clone(), None),
                    S::Session(s) => ("Session", s.clone(), None),
                };
                DecidingStatement {
                    policy: m.policy.to_string(),
                    policy_type: policy_type.into(),
                    policy_arn,
                    policy_name,
                    sid: m.sid.clone(),
                    effect: format!("{:?}", m.effect),
                }
            })
            .collect();
        r.authorization = Some(Authorization {
            decision: if d.allowed { "Allow" } else { "Deny" }.into(),
            reason: d.reason.name().into(),
            action: action.into(),
            resource: resource.into(),
            statements,
            message: message.map(str::to_string),
        });
    });
}

fn timestamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix).map(crate::iam::entities::timestamp).unwrap_or_default()
}

/// The caller as CloudTrail describes it.
fn user_identity(r: &Record) -> UserIdentity {
    if let Some(f) = &r.federated_identity {
        return f.clone();
    }
    let Some(p) = &r.principal else {
        return match &r.claimed_key {
            // Authentication failed: who it claimed to be is all there is.
            Some(k) => UserIdentity { kind: "Unknown".into(), access_key_id: Some(k.clone()), ..Default::default() },
            None => UserIdentity {
                kind: "AWSAccount".into(),
                principal_id: Some(String::new()),
                account_id: Some("anonymous".into()),
                ..Default::default()
            },
        };
    };
    let engine = r.engine_principal.as_ref();
    let arn = engine.map(|e| e.arn.clone()).filter(|a| !a.is_empty()).unwrap_or_else(|| p.arn());
    let principal_id = engine.map(|e| e.user_id.clone()).unwrap_or_else(|| p.account_id.clone());
    let mut id = UserIdentity {
        kind: match &p.kind {
            PrincipalKind::AccountRoot => "Root",
            PrincipalKind::User(_) => "IAMUser",
            PrincipalKind::AssumedRole { .. } => "AssumedRole",
            PrincipalKind::FederatedUser(_) => "FederatedUser",
        }
        .into(),
        principal_id: Some(principal_id),
        arn: Some(arn),
        account_id: Some(p.account_id.clone()),
        access_key_id: Some(p.access_key_id.clone()),
        user_name: match &p.kind {
            PrincipalKind::User(n) => Some(n.clone()),
            _ => None,
        },
        ..Default::default()
    };
    if let Some(s) = &p.session {
        let issuer = match (&s.subject, engine.map(|e| &e.kind)) {
            (
                latchkey_token::SessionSubject::AssumedRole { role_name, role_id, .. },
                Some(policy::PrincipalKind::AssumedRole { role_arn }),
            ) => Some(SessionIssuer {
                kind: "Role".into(),
                principal_id: role_id.clone(),
                arn: role_arn.clone(),
                account_id: p.account_id.clone(),
                user_name: role_name.clone(),
            }),
            (_, Some(policy::PrincipalKind::FederatedUser { user_arn })) => Some(SessionIssuer {
                kind: if user_arn.ends_with(":root") { "Root" } else { "IAMUser" }.into(),
                principal_id: p.account_id.clone(),
                arn: user_arn.clone(),
                account_id: p.account_id.clone(),
                user_name: user_arn.rsplit('/').next().unwrap_or_default().to_string(),
            }),
            _ => None,
        };
        id.session_context = Some(SessionContext {
            session_issuer: issuer,
            attributes: SessionAttributes {
                creation_date: timestamp(s.issued_at),
                mfa_authenticated: s.mfa_authenticated_at.is_some().to_string(),
            },
            source_identity: s.source_identity.clone(),
        });
    }
    id
}

/// The parts of the HTTP exchange an event reports.
pub struct Exchange<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The request's path, without the query (which may hold a pre-signature).
    pub path: &'a str,
    pub started: time::OffsetDateTime,
    pub region: &'a str,
    pub source_ip: Option<std::net::IpAddr>,
    pub user_agent: &'a str,
    pub status: u16,
    pub error: Option<(&'a str, &'a str)>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The event for a finished request (None when the request is not audited).
pub fn event(r: &Record, x: &Exchange<'_>) -> Option<AuditEvent> {
    if !r.audited {
        return None;
    }
    let identity = user_identity(r);
    let mut additional = serde_json::Map::new();
    if let Some(a) = &r.authorization {
        additional.insert("authorization".into(), serde_json::to_value(a).unwrap_or(Value::Null));
    }
    if let Some(kind) = r.auth_failure {
        additional.insert("authenticationFailure".into(), Value::String(kind.into()));
    }
    if r.api == Api::S3 {
        additional.insert("bytesTransferredIn".into(), x.bytes_in.into());
        additional.insert("bytesTransferredOut".into(), x.bytes_out.into());
        additional.insert("SignatureVersion".into(), "SigV4".into());
    }
    let recipient = r
        .principal
        .as_ref()
        .map(|p| p.account_id.clone())
        .or_else(|| identity.account_id.clone())
        .or_else(|| r.recipient_account.clone())
        .unwrap_or_default();
    Some(AuditEvent {
        event_version: latchkey_audit::event::EVENT_VERSION.into(),
        user_identity: identity,
        event_time: crate::iam::entities::timestamp(x.started),
        event_source: r.api.event_source().into(),
        event_name: r.operation.clone().unwrap_or_else(|| "Unknown".into()),
        aws_region: x.region.into(),
        source_ip_address: x.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: x.user_agent.into(),
        error_code: x.error.map(|(c, _)| c.to_string()),
        error_message: x.error.map(|(_, m)| m.to_string()),
        request_parameters: r.request_parameters.clone(),
        response_elements: r.response_elements.clone().map(Value::Object),
        additional_event_data: Some(Value::Object(additional)),
        request_id: x.request_id.into(),
        event_id: uuid::Uuid::new_v4().to_string(),
        read_only: r.read_only,
        resources: r.resources.clone(),
        event_type: "AwsApiCall".into(),
        management_event: !r.data_event,
        recipient_account_id: recipient,
        event_category: if r.data_event { "Data" } else { "Management" }.into(),
    })
}

/// S3 request parameters as CloudTrail's data events show them: the bucket,
/// the key, the host and the query, signature parameters left out.
pub fn s3_parameters(bucket: Option<&str>, key: Option<&str>, host: Option<&str>, raw_query: &str) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(b) = bucket {
        m.insert("bucketName".into(), b.into());
    }
    if let Some(k) = key {
        m.insert("key".into(), k.into());
    }
    if let Some(h) = host {
        m.insert("Host".into(), h.into());
    }
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        if k.to_ascii_lowercase().starts_with("x-amz-") && k != "x-amz-copy-source" {
            // X-Amz-Signature, -Credential, -Security-Token, -Date, ...: the pre-signature.
            continue;
        }
        let v = if latchkey_audit::event::is_secret_parameter(&k) { latchkey_audit::event::HIDDEN.into() } else { v };
        m.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    Value::Object(m)
}

/// The S3 resources a request touches, as CloudTrail lists them.
pub fn s3_resources(bucket: Option<&str>, key: Option<&str>, owner: Option<&str>) -> Vec<Resource> {
    let mut out = Vec::new();
    if let (Some(b), Some(k)) = (bucket, key) {
        out.push(Resource { kind: "AWS::S3::Object".into(), arn: format!("arn:aws:s3:::{b}/{k}"), account_id: None });
    }
    if let Some(b) = bucket {
        out.push(Resource {
            kind: "AWS::S3::Bucket".into(),
            arn: format!("arn:aws:s3:::{b}"),
            account_id: owner.map(str::to_string),
        });
    }
    out
}
