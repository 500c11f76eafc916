//! One audit event, in CloudTrail's JSON event shape ("CloudTrail record
//! contents for management, data, and network activity events"), so tools
//! that read CloudTrail read latchkey's log.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The CloudTrail record version the events follow.
pub const EVENT_VERSION: &str = "1.09";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub event_version: String,
    pub user_identity: UserIdentity,
    /// `2026-11-23T11:00:00Z`
    pub event_time: String,
    /// `s3.amazonaws.com`, `iam.amazonaws.com`, `sts.amazonaws.com`
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Secrets removed (see [`redact_parameters`]).
    pub request_parameters: Option<Value>,
    /// Never a secret: credentials appear as their access key id and expiry.
    pub response_elements: Option<Value>,
    /// latchkey's authorization outcome (`authorization`) and, for S3, bytes
    /// transferred, as CloudTrail's S3 data events carry them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// `AwsApiCall`
    pub event_type: String,
    pub management_event: bool,
    pub recipient_account_id: String,
    /// `Management` or `Data`
    pub event_category: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `Root`, `IAMUser`, `AssumedRole`, `FederatedUser`, `WebIdentityUser`,
    /// `SAMLUser`, `AWSAccount`, `Unknown` (failed authentication), or
    /// `Anonymous`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// For web identity and SAML users: the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_issuer: Option<SessionIssuer>,
    pub attributes: SessionAttributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    /// `Role`, `IAMUser` or `Root`
    #[serde(rename = "type")]
    pub kind: String,
    pub principal_id: String,
    pub arn: String,
    pub account_id: String,
    pub user_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    pub creation_date: String,
    /// `"true"` or `"false"`, a string as in CloudTrail.
    pub mfa_authenticated: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// `AWS::S3::Object`, `AWS::S3::Bucket`, `AWS::IAM::Role`, ...
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// Request parameters whose values are secrets or bearer credentials: never
/// written to the log (CloudTrail writes them as `HIDDEN_DUE_TO_SECURITY_REASONS`).
const SECRET_PARAMETERS: &[&str] = &[
    "password",
    "newpassword",
    "oldpassword",
    "ldappassword",
    "webidentitytoken",
    "samlassertion",
    "tokencode",
    "authenticationcode1",
    "authenticationcode2",
    "secretaccesskey",
    "sessiontoken",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-credential",
    "signature",
    "policy-signature",
    "x-amz-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key",
];

pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Whether a request parameter's value must not be logged.
pub fn is_secret_parameter(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMETERS.contains(&lower.as_str())
}

/// Request parameters as CloudTrail names them (`roleSessionName` for the
/// Query API's `RoleSessionName`), with secret values hidden. Repeated
/// members (`Tags.member.1.Key`) keep their dotted names.
pub fn redact_parameters<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut out = serde_json::Map::new();
    for (name, value) in params {
        if name == "Action" || name == "Version" {
            continue;
        }
        let key = lower_first(name);
        let value = if is_secret_parameter(name) { HIDDEN.to_string() } else { value.to_string() };
        out.insert(key, Value::String(value));
    }
    Value::Object(out)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The authorization outcome recorded in `additionalEventData.authorization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// `Allow` or `Deny`
    pub decision: String,
    /// The engine's reason (`ExplicitDeny`, `NoAllow`, `Allowed`, ...).
    pub reason: String,
    pub action: String,
    pub resource: String,
    /// The statements that decided: for an allow, the granting ones; for a
    /// deny, the denying one if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<DecidingStatement>,
    /// AWS's wording of the denial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidingStatement {
    /// The policy, in words (`inline policy P of arn:aws:iam::A:role/R`,
    /// `managed policy ARN`, `resource policy of arn:aws:s3:::bucket`).
    pub policy: String,
    /// `IdentityManaged`, `IdentityInline`, `Resource`, `PermissionsBoundary` or `Session`.
    #[serde(default)]
    pub policy_type: String,
    /// The managed policy's ARN; for an inline policy the user's or role's
    /// ARN; for a resource policy the bucket's or role's ARN.
    #[serde(default)]
    pub policy_arn: String,
    /// An inline policy's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: String,
}

impl AuditEvent {
    /// The session name of the caller, for role and federated sessions.
    pub fn caller_session_name(&self) -> Option<&str> {
        session_name_of(self.user_identity.arn.as_deref()?)
    }

    /// For calls that issue credentials: the session they named.
    pub fn issued_session_name(&self) -> Option<&str> {
        let p = self.request_parameters.as_ref()?;
        p.get("roleSessionName").or_else(|| p.get("name")).and_then(Value::as_str).or_else(|| {
            let arn = self.response_elements.as_ref()?.pointer("/assumedRoleUser/arn")?.as_str()?;
            arn.rsplit('/').next()
        })
    }

    /// For calls that issue credentials: the new access key id.
    pub fn issued_access_key_id(&self) -> Option<&str> {
        let r = self.response_elements.as_ref()?;
        r.pointer("/credentials/accessKeyId").or_else(|| r.pointer("/accessKey/accessKeyId")).and_then(Value::as_str)
    }

    pub fn source_identity(&self) -> Option<&str> {
        self.user_identity
            .session_context
            .as_ref()
            .and_then(|c| c.source_identity.as_deref())
            .or_else(|| self.request_parameters.as_ref()?.get("sourceIdentity")?.as_str())
    }

    pub fn bucket(&self) -> Option<&str> {
        self.request_parameters.as_ref()?.get("bucketName")?.as_str()
    }

    pub fn key(&self) -> Option<&str> {
        self.request_parameters.as_ref()?.get("key")?.as_str()
    }

    /// `allow`, `deny` (refused by policy or authentication) or `error`.
    pub fn decision(&self) -> &'static str {
        decision_of(self.error_code.as_deref())
    }
}

/// The session name in a role or federated session's ARN.
pub(crate) fn session_name_of(arn: &str) -> Option<&str> {
    let rest = arn
        .split_once(":assumed-role/")
        .map(|(_, r)| r)
        .or_else(|| arn.split_once(":federated-user/").map(|(_, r)| r))?;
    Some(rest.rsplit('/').next().unwrap_or(rest))
}

/// `allow`, `deny` (refused by policy or authentication) or `error`.
pub(crate) fn decision_of(error_code: Option<&str>) -> &'static str {
    match error_code {
        None => "allow",
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidToken"
            | "InvalidIdentityToken"
            | "IDPRejectedClaim"
            | "MissingAuthenticationToken",
        ) => "deny",
        Some(_) => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_names_follow_cloudtrail() {
        let v = redact_parameters([
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleSessionName", "alice"),
            ("WebIdentityToken", "eyJhbGciOi..."),
            ("LDAPPassword", "hunter2"),
        ]);
        assert_eq!(v["roleSessionName"], "alice");
        assert_eq!(v["webIdentityToken"], HIDDEN);
        assert_eq!(v["lDAPPassword"], HIDDEN);
        assert!(v.get("action").is_none());
        assert!(!v.to_string().contains("hunter2"));
    }

    #[test]
    fn events_serialize_with_cloudtrail_field_names() {
        let e = AuditEvent {
            event_version: EVENT_VERSION.into(),
            source_ip_address: "127.0.0.1".into(),
            request_id: "R".into(),
            event_id: "E".into(),
            user_identity: UserIdentity {
                kind: "AssumedRole".into(),
                arn: Some("arn:aws:sts::111122223333:assumed-role/reader/alice".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let v = serde_json::to_value(&e).unwrap();
        for field in ["eventVersion", "sourceIPAddress", "requestID", "eventID", "userIdentity", "readOnly"] {
            assert!(v.get(field).is_some(), "{field}");
        }
        assert_eq!(v["userIdentity"]["type"], "AssumedRole");
        assert_eq!(e.caller_session_name(), Some("alice"));
        let back: AuditEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
