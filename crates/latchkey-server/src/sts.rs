//! The STS Query API: temporary credentials that expire on their own.

use crate::auth::{Principal, PrincipalKind};
use crate::authz::{authorize, AccessRequest, Caller};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::iam::entities::{arn, Role};
use crate::iam::query::{Params, QueryXml};
use crate::response::HttpResponse;
use crate::sessions::new_temporary_access_key_id;
use crate::state::AppState;
use latchkey_storage::IamKind;
use latchkey_token::{packed_policy_percent, SessionClaims, SessionSubject};
use std::sync::Arc;
use time::OffsetDateTime;

pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Role chaining caps a session at one hour (IAM User Guide, "Role chaining").
const CHAINED_MAX: i64 = 3600;

pub struct StsRequest<'a> {
    pub caller: &'a Principal,
    pub gate: &'a Caller,
    pub params: &'a Params,
    pub now: OffsetDateTime,
    pub request_id: &'a str,
}

pub(crate) fn validation(msg: impl Into<String>) -> S3Error {
    S3Error::msg(ErrorCode::ValidationError, msg.into())
}

pub(crate) fn field_error(value: &str, field: &str, constraint: &str) -> S3Error {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    ))
}

/// `[\w+=,.@-]` names of bounded length (RoleSessionName, federated Name).
pub(crate) fn check_name(value: &str, field: &str, min: usize, max: usize) -> S3Result<()> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(field_error(value, field, &format!("Member must have length between {min} and {max}")));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(field_error(value, field, "Member must satisfy regular expression pattern: [\\w+=,.@-]*"));
    }
    Ok(())
}

/// Why a session's length is capped, which decides what exceeding it means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    /// The role's MaxSessionDuration: exceeding it is an error.
    Role,
    /// Role chaining's one hour: exceeding it is an error.
    Chained,
    /// The API's own maximum (129600 for GetSessionToken/GetFederationToken).
    Api,
    /// Root sessions: longer requests "default to one hour".
    Root,
}

pub(crate) fn duration(params: &Params, min: i64, max: i64, default: i64, cap: Cap) -> S3Result<i64> {
    let api_max = 129_600;
    match params.get("DurationSeconds") {
        None => Ok(default.min(max)),
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| field_error(v, "durationSeconds", "Member must be a number"))?;
            if n < min {
                return Err(field_error(
                    v,
                    "durationSeconds",
                    &format!("Member must have value greater than or equal to {min}"),
                ));
            }
            match cap {
                Cap::Root if n <= api_max => return Ok(n.min(max)),
                Cap::Role if n > max => {
                    return Err(validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."))
                }
                Cap::Chained if n > max => {
                    return Err(validation(
                        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                    ))
                }
                _ => {}
            }
            if n > api_max.max(max) || (cap == Cap::Api && n > max) {
                return Err(field_error(
                    v,
                    "durationSeconds",
                    &format!("Member must have value less than or equal to {}", api_max.max(max)),
                ));
            }
            Ok(n.min(max))
        }
    }
}

/// `Policy` (inline session policy, ≤2048 characters) and `PolicyArns` (≤10).
pub(crate) fn session_policy_params(params: &Params) -> S3Result<(Option<String>, Vec<String>)> {
    let policy = params.get("Policy").map(str::to_string);
    if let Some(p) = &policy {
        if p.chars().count() > 2048 {
            return Err(field_error("...", "policy", "Member must have length less than or equal to 2048"));
        }
        latchkey_policy::Policy::parse(p, latchkey_policy::PolicyKind::Session)
            .map_err(|e| S3Error::msg(ErrorCode::MalformedPolicyDocument, e.to_string()))?;
    }
    let mut arns = Vec::new();
    for i in 1.. {
        match params.get(&format!("PolicyArns.member.{i}.arn")) {
            Some(a) => arns.push(a.to_string()),
            None => break,
        }
    }
    if arns.len() > 10 {
        return Err(field_error("...", "policyArns", "Member must have length less than or equal to 10"));
    }
    Ok((policy, arns))
}

/// Session tags: ≤50, keys ≤128, values ≤256, keys unique ignoring case.
pub(crate) fn session_tags(params: &Params) -> S3Result<Vec<(String, String)>> {
    let tags = params.tags("Tags")?;
    if tags.len() > 50 {
        return Err(field_error("...", "tags", "Member must have length less than or equal to 50"));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(field_error(k, "tags.member.key", "Member must have length less than or equal to 128"));
        }
        if v.chars().count() > 256 {
            return Err(field_error(v, "tags.member.value", "Member must have length less than or equal to 256"));
        }
        if tags[..i].iter().any(|(k2, _)| k2.eq_ignore_ascii_case(k)) {
            return Err(S3Error::msg(
                ErrorCode::InvalidParameterValue,
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    Ok(tags)
}

/// SerialNumber + TokenCode: verified against the caller's MFA device.
/// Returns the time of authentication when given.
async fn mfa_authentication(state: &Arc<AppState>, req: &StsRequest<'_>) -> S3Result<Option<i64>> {
    let (serial, code) = (req.params.get("SerialNumber"), req.params.get("TokenCode"));
    match (serial, code) {
        (None, None) => Ok(None),
        (Some(serial), Some(code)) => {
            if serial.len() < 9 || serial.len() > 256 {
                return Err(field_error(serial, "serialNumber", "Member must have length between 9 and 256"));
            }
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(field_error(code, "tokenCode", "Member must satisfy regular expression pattern: [\\d]*"));
            }
            let user = match &req.caller.kind {
                PrincipalKind::User(u) => u.clone(),
                _ => {
                    return Err(S3Error::msg(
                        ErrorCode::AccessDenied,
                        "MultiFactorAuthentication failed with invalid MFA one time pass code.",
                    ))
                }
            };
            let now = req.now.unix_timestamp();
            crate::iam::mfa::verify_code(state, &req.caller.account_id, &user, serial, code, now).await?;
            Ok(Some(now))
        }
        _ => Err(validation("SerialNumber and TokenCode must be given together.")),
    }
}

pub(crate) fn credentials_xml(x: &mut QueryXml, key_id: &str, secret: &str, token: &str, expires: i64) {
    let exp = OffsetDateTime::from_unix_timestamp(expires).map(crate::iam::entities::timestamp).unwrap_or_default();
    // The audit trail gets the key id and expiry, never the secret or the token.
    crate::audit::note_response("credentials", serde_json::json!({"accessKeyId": key_id, "expiration": exp}));
    crate::audit::note(|r| {
        let action = r.operation.clone().unwrap_or_default();
        // Sessions that are not a role's (GetSessionToken, GetFederationToken) count under "-".
        let role = r.issued.take().map(|(_, role, _)| role).unwrap_or_else(|| "-".into());
        r.issued = Some((action, role, expires));
    });
    x.w()
        .open("Credentials")
        .elem("AccessKeyId", key_id)
        .elem("SecretAccessKey", secret)
        .elem("SessionToken", token)
        .elem("Expiration", exp)
        .close();
}

fn issue(state: &AppState, claims: &SessionClaims) -> S3Result<(String, String)> {
    state.tokens.issue(claims).ok_or_else(|| S3Error::internal("the session key ring is empty"))
}

pub async fn handle(state: &Arc<AppState>, req: StsRequest<'_>) -> S3Result<HttpResponse> {
    let action = req.params.get("Action").ok_or_else(|| S3Error::new(ErrorCode::MissingAction))?.to_string();
    // What temporary credentials may call (STS API Reference, "Permissions"
    // of GetFederationToken and GetSessionToken).
    if let Some(s) = &req.caller.session {
        let allowed = match &s.subject {
            SessionSubject::FederatedUser { .. } => action == "GetCallerIdentity",
            SessionSubject::SessionUser { .. } => matches!(action.as_str(), "GetCallerIdentity" | "AssumeRole"),
            SessionSubject::AssumedRole { .. } => true,
        };
        if !allowed {
            return Err(S3Error::msg(
                ErrorCode::AccessDenied,
                format!("Cannot call {action} with session credentials of this kind"),
            ));
        }
    }
    match action.as_str() {
        "GetCallerIdentity" => get_caller_identity(state, &req).await,
        "AssumeRole" => assume_role(state, &req).await,
        "GetSessionToken" => get_session_token(state, &req).await,
        "GetFederationToken" => get_federation_token(state, &req),
        "GetAccessKeyInfo" => get_access_key_info(state, &req).await,
        "DecodeAuthorizationMessage" => {
            authorize(
                req.gate,
                &AccessRequest::new("sts:DecodeAuthorizationMessage", "*", Some(&req.caller.account_id)),
            )?;
            let encoded = req.params.required("EncodedMessage")?;
            let decoded = crate::authz::decode_denial(&state.authz_sealer, encoded).ok_or_else(|| {
                S3Error::msg(
                    ErrorCode::InvalidAuthorizationMessageException,
                    "The encoded authorization message is invalid.",
                )
            })?;
            let mut x = QueryXml::new("DecodeAuthorizationMessage", STS_NS);
            x.w().elem("DecodedMessage", decoded);
            Ok(x.finish(req.request_id))
        }
        _ => Err(S3Error::msg(
            ErrorCode::InvalidAction,
            format!("Could not find operation {action} for version 2011-06-15"),
        )),
    }
}

/// Needs no permission, as in AWS.
async fn get_caller_identity(state: &Arc<AppState>, req: &StsRequest<'_>) -> S3Result<HttpResponse> {
    let p = req.caller;
    let user_id = match (&p.kind, &p.session) {
        (PrincipalKind::AccountRoot, _) => p.account_id.clone(),
        (PrincipalKind::User(name), _) => {
            let (acct, n) = (p.account_id.clone(), name.clone());
            let doc = state.meta(move |m| m.iam_get(&acct, IamKind::User, &n)).await?;
            doc.and_then(|d| serde_json::from_str::<crate::iam::entities::User>(&d).ok())
                .map(|u| u.id)
                .unwrap_or_default()
        }
        (PrincipalKind::AssumedRole { session, .. }, Some(s)) => match &s.subject {
            SessionSubject::AssumedRole { role_id, .. } => format!("{role_id}:{session}"),
            _ => String::new(),
        },
        (PrincipalKind::FederatedUser(name), _) => format!("{}:{name}", p.account_id),
        _ => String::new(),
    };
    let mut x = QueryXml::new("GetCallerIdentity", STS_NS);
    // The engine principal carries the full ARN, path included.
    let arn = if req.gate.engine_principal.arn.is_empty() { p.arn() } else { req.gate.engine_principal.arn.clone() };
    x.w().elem("UserId", user_id).elem("Account", &p.account_id).elem("Arn", arn);
    Ok(x.finish(req.request_id))
}

/// `arn:aws:iam::ACCOUNT:role/path/NAME` → (account, name).
pub(crate) fn parse_role_arn(role_arn: &str) -> S3Result<(String, String)> {
    let bad = || {
        field_error(
            role_arn,
            "roleArn",
            "Member must satisfy regular expression pattern: arn:aws:iam::[0-9]{12}:role/[\\w+=,.@/-]+",
        )
    };
    let rest = role_arn.strip_prefix("arn:aws:iam::").ok_or_else(bad)?;
    let (account, resource) = rest.split_once(':').ok_or_else(bad)?;
    let path_name = resource.strip_prefix("role/").ok_or_else(bad)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let name = path_name.rsplit('/').next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
    Ok((account.to_string(), name.to_string()))
}

async fn assume_role(state: &Arc<AppState>, req: &StsRequest<'_>) -> S3Result<HttpResponse> {
    let p = req.params;
    let role_arn = p.required("RoleArn")?.to_string();
    let session_name = p.required("RoleSessionName")?.to_string();
    check_name(&session_name, "roleSessionName", 2, 64)?;
    let external_id = p.get("ExternalId").map(str::to_string);
    if let Some(e) = &external_id {
        if e.chars().count() < 2 || e.chars().count() > 1224 {
            return Err(field_error(e, "externalId", "Member must have length between 2 and 1224"));
        }
    }
    let source_identity = p.get("SourceIdentity").map(str::to_string);
    if let Some(si) = &source_identity {
        check_name(si, "sourceIdentity", 2, 64)?;
        if si.to_ascii_lowercase().starts_with("aws:") {
            return Err(validation("SourceIdentity must not begin with 'aws:'"));
        }
    }
    let (policy, policy_arns) = session_policy_params(p)?;
    let mut tags = session_tags(p)?;
    let transitive: Vec<String> = p.members("TransitiveTagKeys").into_iter().map(str::to_string).collect();
    for t in &transitive {
        if !tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(t)) {
            return Err(S3Error::msg(
                ErrorCode::InvalidParameterValue,
                "The specified transitive tag key must be included in the requested tags.",
            ));
        }
    }
    if req.caller.kind == PrincipalKind::AccountRoot {
        return Err(S3Error::msg(ErrorCode::AccessDenied, "Roles may not be assumed by root accounts."));
    }
    let mfa_at = mfa_authentication(state, req).await?;
    let not_authorized = || {
        S3Error::msg(
            ErrorCode::AccessDenied,
            format!("User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", req.caller.arn()),
        )
    };
    // A role that does not exist is indistinguishable from one that does not trust the caller.
    let (role_account, role) = load_role(state, &role_arn).await?.ok_or_else(not_authorized)?;

    // Chained sessions carry their transitive tags and source identity on.
    let parent = req.caller.session.as_deref();
    let chained = parent.is_some();
    if let Some(ps) = parent {
        for k in &ps.transitive_tag_keys {
            if let Some((_, v)) = ps.tags.iter().find(|(tk, _)| tk.eq_ignore_ascii_case(k)) {
                if tags.iter().any(|(tk, _)| tk.eq_ignore_ascii_case(k)) {
                    return Err(S3Error::msg(ErrorCode::InvalidParameterValue, "One or more of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session."));
                }
                tags.push((k.clone(), v.clone()));
            }
        }
    }
    let source_identity = match (parent.and_then(|s| s.source_identity.clone()), source_identity) {
        (Some(old), Some(new)) if old != new => {
            return Err(S3Error::msg(
                ErrorCode::AccessDenied,
                "The source identity of a role session cannot be changed.",
            ))
        }
        (Some(old), _) => Some(old),
        (None, new) => new,
    };
    let mut transitive_keys = transitive.clone();
    if let Some(ps) = parent {
        transitive_keys.extend(ps.transitive_tag_keys.iter().cloned());
    }

    // The trust policy is the role's resource policy for sts:AssumeRole.
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    if mfa_at.is_some() {
        keys.push(("aws:MultiFactorAuthPresent".into(), vec!["true".into()]));
        keys.push(("aws:MultiFactorAuthAge".into(), vec!["0".into()]));
    }
    if let Some(e) = &external_id {
        keys.push(("sts:ExternalId".into(), vec![e.clone()]));
    }
    check_trust(
        state,
        req.gate,
        TrustRequest {
            action: "sts:AssumeRole",
            role: &role,
            role_arn: &role_arn,
            role_account: &role_account,
            session_name: &session_name,
            keys,
            tags: &tags,
            transitive_tag_keys: &transitive,
            source_identity: source_identity.as_deref(),
            sets_source_identity: source_identity.is_some()
                && parent.and_then(|s| s.source_identity.as_ref()).is_none(),
        },
    )?;

    let max = if chained { CHAINED_MAX } else { role.max_session_duration as i64 };
    let secs = duration(p, 900, max, 3600, if chained { Cap::Chained } else { Cap::Role })?;
    let issued = issue_role_session(
        state,
        RoleSession {
            role: &role,
            role_account: &role_account,
            session_name: &session_name,
            secs,
            not_after: None,
            policy,
            policy_arns,
            tags,
            transitive_tag_keys: transitive_keys,
            source_identity: source_identity.clone(),
            mfa_authenticated_at: mfa_at.or_else(|| parent.and_then(|s| s.mfa_authenticated_at)),
            chained,
            now: req.now.unix_timestamp(),
            federation_keys: parent.map(|s| s.federation_keys.clone()).unwrap_or_default(),
        },
    )?;
    tracing::info!(role = %role_arn, session = %session_name, caller = %req.caller.arn(), "role assumed");
    let mut x = QueryXml::new("AssumeRole", STS_NS);
    issued.write_xml(&mut x);
    x.w().elem_opt("SourceIdentity", source_identity.as_deref());
    Ok(x.finish(req.request_id))
}

async fn get_session_token(state: &Arc<AppState>, req: &StsRequest<'_>) -> S3Result<HttpResponse> {
    let c = req.caller;
    if c.session.is_some() {
        return Err(S3Error::msg(ErrorCode::AccessDenied, "Cannot call GetSessionToken with session credentials"));
    }
    let user = match &c.kind {
        PrincipalKind::User(n) => Some(n.clone()),
        _ => None,
    };
    // GetSessionToken needs no permission and policies cannot deny it (IAM
    // User Guide, "Permissions for GetSessionToken").
    let mfa_at = mfa_authentication(state, req).await?;
    let (max, cap) = if user.is_none() { (3600, Cap::Root) } else { (129_600, Cap::Api) };
    let secs = duration(req.params, 900, max, 43_200, cap)?;
    let now = req.now.unix_timestamp();
    let key_id = new_temporary_access_key_id(&c.account_id);
    let claims = SessionClaims {
        access_key_id: key_id.clone(),
        account_id: c.account_id.clone(),
        subject: SessionSubject::SessionUser { user },
        issued_at: now,
        expires_at: now + secs,
        session_policy: None,
        policy_arns: vec![],
        tags: vec![],
        transitive_tag_keys: vec![],
        source_identity: None,
        mfa_authenticated_at: mfa_at,
        chained: false,
        federation_keys: vec![],
    };
    let (token, secret) = issue(state, &claims)?;
    let mut x = QueryXml::new("GetSessionToken", STS_NS);
    credentials_xml(&mut x, &key_id, &secret, &token, claims.expires_at);
    Ok(x.finish(req.request_id))
}

fn get_federation_token(state: &Arc<AppState>, req: &StsRequest<'_>) -> S3Result<HttpResponse> {
    let c = req.caller;
    if c.session.is_some() {
        return Err(S3Error::msg(ErrorCode::AccessDenied, "Cannot call GetFederationToken with session credentials"));
    }
    let name = req.params.required("Name")?.to_string();
    check_name(&name, "name", 2, 32)?;
    let (policy, policy_arns) = session_policy_params(req.params)?;
    let tags = session_tags(req.params)?;
    let parent_user = match &c.kind {
        PrincipalKind::User(n) => Some(n.clone()),
        _ => None,
    };
    let resource = format!("arn:aws:sts::{}:federated-user/{name}", c.account_id);
    authorize(req.gate, &AccessRequest::new("sts:GetFederationToken", &resource, Some(&c.account_id)))?;
    if !tags.is_empty() {
        authorize(req.gate, &AccessRequest::new("sts:TagSession", &resource, Some(&c.account_id)))?;
    }
    let (max, cap) = if parent_user.is_none() { (3600, Cap::Root) } else { (129_600, Cap::Api) };
    let secs = duration(req.params, 900, max, 43_200, cap)?;
    let packed = packed_policy_percent(policy.as_deref(), policy_arns.len(), &tags);
    if packed > 100 {
        return Err(S3Error::msg(
            ErrorCode::PackedPolicyTooLarge,
            format!("Packed size of consumed policies exceeds the limit ({packed}% of allowed)."),
        ));
    }
    let now = req.now.unix_timestamp();
    let key_id = new_temporary_access_key_id(&c.account_id);
    let claims = SessionClaims {
        access_key_id: key_id.clone(),
        account_id: c.account_id.clone(),
        subject: SessionSubject::FederatedUser { name: name.clone(), parent_user },
        issued_at: now,
        expires_at: now + secs,
        session_policy: policy,
        policy_arns,
        tags,
        transitive_tag_keys: vec![],
        source_identity: None,
        mfa_authenticated_at: None,
        chained: false,
        federation_keys: vec![],
    };
    let (token, secret) = issue(state, &claims)?;
    let mut x = QueryXml::new("GetFederationToken", STS_NS);
    credentials_xml(&mut x, &key_id, &secret, &token, claims.expires_at);
    x.w()
        .open("FederatedUser")
        .elem("FederatedUserId", format!("{}:{name}", c.account_id))
        .elem("Arn", resource)
        .close()
        .elem("PackedPolicySize", packed.to_string());
    Ok(x.finish(req.request_id))
}

async fn get_access_key_info(state: &Arc<AppState>, req: &StsRequest<'_>) -> S3Result<HttpResponse> {
    let key_id = req.params.required("AccessKeyId")?.to_string();
    let account = if req.caller.access_key_id == key_id {
        Some(req.caller.account_id.clone())
    } else if key_id.starts_with("ASIA") {
        crate::sessions::account_of_temporary_key(&key_id)
    } else {
        let id = key_id.clone();
        state.meta(move |m| m.get_access_key(&id)).await?.map(|r| r.account_id)
    };
    let account = account.ok_or_else(|| {
        S3Error::msg(ErrorCode::InvalidParameterValue, format!("The access key {key_id} is not one latchkey issued."))
    })?;
    let mut x = QueryXml::new("GetAccessKeyInfo", STS_NS);
    x.w().elem("Account", account);
    Ok(x.finish(req.request_id))
}

/// A role session being asked of the role's trust policy.
pub(crate) struct TrustRequest<'a> {
    /// `sts:AssumeRole`, `sts:AssumeRoleWithWebIdentity`, ...
    pub action: &'a str,
    pub role: &'a Role,
    pub role_arn: &'a str,
    pub role_account: &'a str,
    pub session_name: &'a str,
    /// Condition keys particular to the caller (ExternalId, MFA, the identity provider's).
    pub keys: Vec<(String, Vec<String>)>,
    pub tags: &'a [(String, String)],
    /// The transitive tag keys this request names.
    pub transitive_tag_keys: &'a [String],
    pub source_identity: Option<&'a str>,
    /// Whether this request sets the source identity (rather than carrying a parent session's on).
    pub sets_source_identity: bool,
}

/// Asks the role's trust policy, through the gate, for the action and then,
/// as AWS does, for `sts:TagSession` when session tags are passed and
/// `sts:SetSourceIdentity` when a source identity is set.
pub(crate) fn check_trust(state: &AppState, caller: &Caller, t: TrustRequest<'_>) -> S3Result<()> {
    let trust = state.policy_cache.get(&t.role.trust_policy, latchkey_policy::PolicyKind::Trust)?;
    let mut keys = t.keys;
    keys.push(("sts:RoleSessionName".into(), vec![t.session_name.to_string()]));
    if let Some(si) = t.source_identity {
        keys.push(("sts:SourceIdentity".into(), vec![si.to_string()]));
    }
    for (k, v) in t.tags {
        keys.push((format!("aws:RequestTag/{k}"), vec![v.clone()]));
    }
    if !t.tags.is_empty() {
        keys.push(("aws:TagKeys".into(), t.tags.iter().map(|(k, _)| k.clone()).collect()));
    }
    if !t.transitive_tag_keys.is_empty() {
        keys.push(("sts:TransitiveTagKeys".into(), t.transitive_tag_keys.to_vec()));
    }
    let check = |action: &str| -> S3Result<()> {
        let mut access = AccessRequest::new(action, t.role_arn, Some(t.role_account));
        access.keys = keys.clone();
        access.resource_policy = Some((t.role_arn.to_string(), trust.clone()));
        authorize(caller, &access)
    };
    check(t.action)?;
    if !t.tags.is_empty() {
        check("sts:TagSession")?;
    }
    if t.sets_source_identity {
        check("sts:SetSourceIdentity")?;
    }
    Ok(())
}

/// A role session about to be issued, however the caller proved who it is
/// (AssumeRole, web identity, SAML, LDAP).
pub(crate) struct RoleSession<'a> {
    pub role: &'a Role,
    pub role_account: &'a str,
    pub session_name: &'a str,
    /// The requested length, already checked against the role's maximum.
    pub secs: i64,
    /// Federated sessions end no later than this (SAML's SessionNotOnOrAfter).
    pub not_after: Option<i64>,
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    pub mfa_authenticated_at: Option<i64>,
    pub chained: bool,
    pub now: i64,
    /// Condition keys the identity provider vouched for (`HOST:sub`, `saml:sub`, `ldap:user`, ...),
    /// carried into the session so the role's policies can use them.
    pub federation_keys: Vec<(String, Vec<String>)>,
}

/// Credentials for a role session, as the response reports them.
pub(crate) struct IssuedRoleSession {
    pub access_key_id: String,
    pub secret: String,
    pub token: String,
    pub expires_at: i64,
    pub packed_percent: u32,
    /// `AROA...:session`
    pub assumed_role_id: String,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`
    pub arn: String,
    /// The role's ARN (path included).
    pub role_arn: String,
}

impl IssuedRoleSession {
    /// `Credentials`, `AssumedRoleUser` and `PackedPolicySize`, in AWS's order.
    pub fn write_xml(&self, x: &mut QueryXml) {
        let role_arn = self.role_arn.clone();
        crate::audit::note(|r| r.issued = Some((String::new(), role_arn, self.expires_at)));
        credentials_xml(x, &self.access_key_id, &self.secret, &self.token, self.expires_at);
        crate::audit::note_response(
            "assumedRoleUser",
            serde_json::json!({"assumedRoleId": self.assumed_role_id, "arn": self.arn}),
        );
        crate::audit::note_response("packedPolicySize", self.packed_percent.into());
        x.w()
            .open("AssumedRoleUser")
            .elem("AssumedRoleId", &self.assumed_role_id)
            .elem("Arn", &self.arn)
            .close()
            .elem("PackedPolicySize", self.packed_percent.to_string());
    }
}

/// Seals the session's claims into a token; the caller has already decided
/// that the session may be issued.
pub(crate) fn issue_role_session(state: &AppState, r: RoleSession<'_>) -> S3Result<IssuedRoleSession> {
    let packed = packed_policy_percent(r.policy.as_deref(), r.policy_arns.len(), &r.tags);
    if packed > 100 {
        return Err(S3Error::msg(
            ErrorCode::PackedPolicyTooLarge,
            format!("Packed size of consumed policies exceeds the limit ({packed}% of allowed)."),
        ));
    }
    let mut expires_at = r.now + r.secs;
    if let Some(end) = r.not_after {
        expires_at = expires_at.min(end);
    }
    let key_id = new_temporary_access_key_id(r.role_account);
    let claims = SessionClaims {
        access_key_id: key_id.clone(),
        account_id: r.role_account.to_string(),
        subject: SessionSubject::AssumedRole {
            role_name: r.role.name.clone(),
            role_path: r.role.path.clone(),
            role_id: r.role.id.clone(),
            session_name: r.session_name.to_string(),
        },
        issued_at: r.now,
        expires_at,
        session_policy: r.policy,
        policy_arns: r.policy_arns,
        tags: r.tags,
        transitive_tag_keys: r.transitive_tag_keys,
        source_identity: r.source_identity,
        mfa_authenticated_at: r.mfa_authenticated_at,
        chained: r.chained,
        federation_keys: r.federation_keys,
    };
    let (token, secret) = issue(state, &claims)?;
    Ok(IssuedRoleSession {
        access_key_id: key_id,
        secret,
        token,
        expires_at,
        packed_percent: packed as u32,
        assumed_role_id: format!("{}:{}", r.role.id, r.session_name),
        arn: format!("arn:aws:sts::{}:assumed-role/{}/{}", r.role_account, r.role.name, r.session_name),
        role_arn: arn(r.role_account, "role", &r.role.path, &r.role.name),
    })
}

/// The role an ARN names, if it exists (path included in the match).
/// Returns the role's account with it.
pub(crate) async fn load_role(state: &Arc<AppState>, role_arn: &str) -> S3Result<Option<(String, Role)>> {
    let (account, name) = parse_role_arn(role_arn)?;
    let (acct, n) = (account.clone(), name);
    let doc = state.meta(move |m| m.iam_get(&acct, IamKind::Role, &n)).await?;
    let Some(role) = doc.and_then(|d| serde_json::from_str::<Role>(&d).ok()) else { return Ok(None) };
    if arn(&account, "role", &role.path, &role.name) != role_arn
        && format!("arn:aws:iam::{account}:role/{}", role.name) != role_arn
    {
        return Ok(None);
    }
    Ok(Some((account, role)))
}

/// STS calls that carry no signature: the identity provider's proof is the
/// credential (AssumeRoleWithWebIdentity, AssumeRoleWithSAML, and MinIO's
/// AssumeRoleWithLDAPIdentity).
pub struct UnsignedStsRequest<'a> {
    pub params: &'a Params,
    pub facts: crate::authz::RequestFacts<'a>,
    pub now: OffsetDateTime,
    pub request_id: &'a str,
}

pub const UNSIGNED_ACTIONS: [&str; 3] =
    ["AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "AssumeRoleWithLDAPIdentity"];

pub async fn handle_unsigned(state: &Arc<AppState>, req: UnsignedStsRequest<'_>) -> S3Result<HttpResponse> {
    let action = req.params.get("Action").unwrap_or_default();
    match action {
        "AssumeRoleWithWebIdentity" => crate::federation::oidc::assume_role_with_web_identity(state, &req).await,
        "AssumeRoleWithSAML" => crate::federation::saml::assume_role_with_saml(state, &req).await,
        "AssumeRoleWithLDAPIdentity" => crate::federation::ldap::assume_role_with_ldap_identity(state, &req).await,
        _ => Err(S3Error::msg(ErrorCode::MissingAuthenticationToken, "Request is missing Authentication Token")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn role_session_names_are_2_to_64_of_the_iam_characters() {
        assert!(check_name("ab", "roleSessionName", 2, 64).is_ok());
        assert!(check_name("user@example.com,=+.-_", "roleSessionName", 2, 64).is_ok());
        for bad in ["a", &"a".repeat(65), "has space", "slash/no", "colon:no"] {
            assert_eq!(
                check_name(bad, "roleSessionName", 2, 64).unwrap_err().code,
                ErrorCode::ValidationError,
                "{bad}"
            );
        }
    }

    #[test]
    fn federated_names_are_2_to_32() {
        assert!(check_name(&"a".repeat(32), "name", 2, 32).is_ok());
        assert!(check_name(&"a".repeat(33), "name", 2, 32).is_err());
    }

    #[test]
    fn durations_respect_the_minimum_the_role_and_chaining() {
        assert_eq!(duration(&params(&[]), 900, 7200, 3600, Cap::Role).unwrap(), 3600);
        assert_eq!(duration(&params(&[("DurationSeconds", "900")]), 900, 7200, 3600, Cap::Role).unwrap(), 900);
        assert!(duration(&params(&[("DurationSeconds", "899")]), 900, 7200, 3600, Cap::Role).is_err());
        let over = duration(&params(&[("DurationSeconds", "7201")]), 900, 7200, 3600, Cap::Role).unwrap_err();
        assert!(over.message.contains("MaxSessionDuration"));
        let chained =
            duration(&params(&[("DurationSeconds", "3601")]), 900, CHAINED_MAX, 3600, Cap::Chained).unwrap_err();
        assert!(chained.message.contains("role chaining"));
        assert!(duration(&params(&[("DurationSeconds", "abc")]), 900, 7200, 3600, Cap::Role).is_err());
    }

    #[test]
    fn root_sessions_longer_than_an_hour_default_to_an_hour() {
        assert_eq!(duration(&params(&[("DurationSeconds", "7200")]), 900, 3600, 43_200, Cap::Root).unwrap(), 3600);
        assert_eq!(duration(&params(&[]), 900, 3600, 43_200, Cap::Root).unwrap(), 3600);
        assert!(duration(&params(&[("DurationSeconds", "129601")]), 900, 3600, 43_200, Cap::Root).is_err());
    }

    #[test]
    fn user_sessions_go_up_to_36_hours() {
        assert_eq!(
            duration(&params(&[("DurationSeconds", "129600")]), 900, 129_600, 43_200, Cap::Api).unwrap(),
            129_600
        );
        assert!(duration(&params(&[("DurationSeconds", "129601")]), 900, 129_600, 43_200, Cap::Api).is_err());
        assert_eq!(duration(&params(&[]), 900, 129_600, 43_200, Cap::Api).unwrap(), 43_200);
    }

    #[test]
    fn session_policies_are_at_most_2048_characters_and_10_arns() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        assert!(session_policy_params(&params(&[("Policy", ok)])).is_ok());
        let long = format!("{}{}", &ok[..ok.len() - 2], " ".repeat(2049));
        assert!(session_policy_params(&params(&[("Policy", &long)])).is_err());
        assert_eq!(
            session_policy_params(&params(&[("Policy", "{not json")])).unwrap_err().code,
            ErrorCode::MalformedPolicyDocument
        );
        let arns: Vec<(String, String)> =
            (1..=11).map(|i| (format!("PolicyArns.member.{i}.arn"), format!("arn:aws:iam::aws:policy/P{i}"))).collect();
        let refs: Vec<(&str, &str)> = arns.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(session_policy_params(&params(&refs)).is_err());
        assert_eq!(session_policy_params(&params(&refs[..10])).unwrap().1.len(), 10);
    }

    #[test]
    fn session_tags_follow_the_limits() {
        let tag = |i: usize, k: &str, v: &str| {
            vec![(format!("Tags.member.{i}.Key"), k.to_string()), (format!("Tags.member.{i}.Value"), v.to_string())]
        };
        let mk = |pairs: Vec<(String, String)>| Params(pairs);
        assert!(session_tags(&mk(tag(1, "team", "blue"))).is_ok());
        assert!(session_tags(&mk(tag(1, &"k".repeat(129), "v"))).is_err());
        assert!(session_tags(&mk(tag(1, "k", &"v".repeat(257)))).is_err());
        let mut dup = tag(1, "Team", "a");
        dup.extend(tag(2, "team", "b"));
        assert_eq!(session_tags(&mk(dup)).unwrap_err().code, ErrorCode::InvalidParameterValue);
        let many: Vec<(String, String)> = (1..=51).flat_map(|i| tag(i, &format!("k{i}"), "v")).collect();
        assert!(session_tags(&mk(many)).is_err());
    }

    #[test]
    fn role_arns_name_an_account_and_a_role() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/path/app").unwrap(),
            ("123456789012".into(), "app".into())
        );
        for bad in [
            "arn:aws:iam::123:role/app",
            "arn:aws:iam::123456789012:user/app",
            "nonsense",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(parse_role_arn(bad).is_err(), "{bad}");
        }
    }
}
