//! The IAM Query API: users, groups, roles, managed and inline policies,
//! access keys, tags — per account — plus latchkey's account administration.

mod accounts;
pub mod entities;
pub mod mfa;
pub mod oidc_providers;
mod policies;
pub mod query;
mod roles;
pub mod saml_providers;
mod simulate;
mod users;

use crate::auth::{Principal, PrincipalKind};
use crate::authz::{authorize, AccessRequest};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use entities::IAM_NS;
use latchkey_storage::{IamKind, IamTx, StorageError};
use query::{Params, QueryXml};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// One IAM request, authenticated.
pub struct IamRequest<'a> {
    pub caller: &'a Principal,
    /// The caller as the policy engine sees it.
    pub gate: &'a crate::authz::Caller,
    pub params: &'a Params,
    pub now: OffsetDateTime,
    pub request_id: &'a str,
}

impl IamRequest<'_> {
    pub fn account(&self) -> &str {
        &self.caller.account_id
    }
    pub fn xml(&self, action: &str) -> QueryXml {
        QueryXml::new(action, IAM_NS)
    }
    pub fn done(&self, action: &str) -> S3Result<HttpResponse> {
        Ok(QueryXml::without_result(action, IAM_NS).finish(self.request_id))
    }
}

/// The IAM action and resource a request is authorized as.
fn action_resource(action: &str, req: &IamRequest) -> (String, String) {
    let acct = req.account();
    let p = req.params;
    let name = |k: &str| p.get(k).unwrap_or("*").to_string();
    let resource = match action {
        // Listing actions name the path being listed.
        "ListUsers" => format!("arn:aws:iam::{acct}:user{}", p.get("PathPrefix").unwrap_or("/")),
        "ListGroups" => format!("arn:aws:iam::{acct}:group{}", p.get("PathPrefix").unwrap_or("/")),
        "ListRoles" => format!("arn:aws:iam::{acct}:role{}", p.get("PathPrefix").unwrap_or("/")),
        a if a.contains("OpenIDConnectProvider") => oidc_providers::resource(a, p, acct),
        a if a.contains("SAMLProvider") => saml_providers::resource(a, p, acct),
        a if a.contains("User") || a.contains("AccessKey") || a == "GetUser" => {
            let user = p.get("UserName").map(str::to_string).unwrap_or_else(|| match &req.caller.kind {
                PrincipalKind::User(n) => n.clone(),
                _ => "*".to_string(),
            });
            format!("arn:aws:iam::{acct}:user/{user}")
        }
        a if a.contains("Group") => format!("arn:aws:iam::{acct}:group/{}", name("GroupName")),
        a if a.contains("Role") => format!("arn:aws:iam::{acct}:role/{}", name("RoleName")),
        a if a.contains("Polic") => p
            .get("PolicyArn")
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:aws:iam::{acct}:policy/{}", name("PolicyName"))),
        _ => "*".to_string(),
    };
    (format!("iam:{action}"), resource)
}

pub async fn handle(state: &Arc<AppState>, req: IamRequest<'_>) -> S3Result<HttpResponse> {
    let action = req.params.get("Action").ok_or_else(|| S3Error::new(ErrorCode::MissingAction))?.to_string();
    if action == "CreateAccount" || action == "ListAccounts" {
        return accounts::handle(state, &req, &action).await;
    }
    // Federation sessions never call IAM; GetSessionToken sessions only with
    // MFA (STS API Reference, GetFederationToken and GetSessionToken).
    if let Some(s) = &req.caller.session {
        let allowed = match &s.subject {
            latchkey_token::SessionSubject::FederatedUser { .. } => false,
            latchkey_token::SessionSubject::SessionUser { .. } => s.mfa_authenticated_at.is_some(),
            latchkey_token::SessionSubject::AssumedRole { .. } => true,
        };
        if !allowed {
            return Err(S3Error::msg(
                ErrorCode::AccessDenied,
                format!(
                    "{} is not authorized to perform: iam:{action} with these temporary credentials",
                    req.caller.arn()
                ),
            ));
        }
    }
    let (iam_action, mut resource) = action_resource(&action, &req);
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    // The user or role acted on: its full ARN (path included) is the
    // resource, and its tags are aws:ResourceTag/* (IAM supports both).
    let target = match (req.params.get("UserName"), req.params.get("RoleName")) {
        (Some(u), _) if action.contains("User") || action.contains("AccessKey") || action.contains("MFA") => {
            Some((IamKind::User, "user", u.to_string()))
        }
        (_, Some(r)) if action.contains("Role") => Some((IamKind::Role, "role", r.to_string())),
        _ => None,
    };
    if let Some((kind, label, name)) = target {
        let (acct, n) = (req.account().to_string(), name.clone());
        if let Some(doc) = state.meta(move |m| m.iam_get(&acct, kind, &n)).await? {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&doc) {
                let path = v["path"].as_str().unwrap_or("/");
                let real = v["name"].as_str().unwrap_or(&name);
                resource = entities::arn(req.account(), label, path, real);
                for t in v["tags"].as_array().into_iter().flatten() {
                    if let (Some(k), Some(val)) = (t["key"].as_str(), t["value"].as_str()) {
                        keys.push((format!("aws:ResourceTag/{k}"), vec![val.to_string()]));
                    }
                }
            }
        }
    }
    // IAM's own condition keys.
    if let Some(arn) = req.params.get("PolicyArn") {
        keys.push(("iam:PolicyARN".to_string(), vec![arn.to_string()]));
    }
    if let Some(b) = req.params.get("PermissionsBoundary") {
        keys.push(("iam:PermissionsBoundary".to_string(), vec![b.to_string()]));
    }
    // Tags the request sets or removes: aws:RequestTag/* and aws:TagKeys.
    let request_tags = req.params.tags("Tags").unwrap_or_default();
    for (k, v) in &request_tags {
        keys.push((format!("aws:RequestTag/{k}"), vec![v.clone()]));
    }
    let mut tag_keys: Vec<String> = request_tags.into_iter().map(|(k, _)| k).collect();
    tag_keys.extend(req.params.members("TagKeys").into_iter().map(str::to_string));
    if !tag_keys.is_empty() {
        keys.push(("aws:TagKeys".to_string(), tag_keys));
    }
    let mut access = AccessRequest::new(&iam_action, &resource, Some(req.account()));
    access.keys = keys;
    authorize(req.gate, &access)?;
    match action.as_str() {
        "CreateUser"
        | "GetUser"
        | "ListUsers"
        | "UpdateUser"
        | "DeleteUser"
        | "CreateAccessKey"
        | "ListAccessKeys"
        | "UpdateAccessKey"
        | "DeleteAccessKey"
        | "GetAccessKeyLastUsed"
        | "CreateGroup"
        | "GetGroup"
        | "ListGroups"
        | "DeleteGroup"
        | "AddUserToGroup"
        | "RemoveUserFromGroup"
        | "ListGroupsForUser"
        | "TagUser"
        | "UntagUser"
        | "ListUserTags"
        | "UpdateGroup" => users::handle(state, &req, &action).await,
        "SimulatePrincipalPolicy" | "SimulateCustomPolicy" => simulate::handle(state, &req, &action).await,
        "GetAccountSummary" => account_summary(state, &req).await,
        "CreateVirtualMFADevice"
        | "EnableMFADevice"
        | "DeactivateMFADevice"
        | "DeleteVirtualMFADevice"
        | "ListMFADevices"
        | "ListVirtualMFADevices" => mfa::handle(state, &req, &action).await,
        "CreateSAMLProvider"
        | "GetSAMLProvider"
        | "ListSAMLProviders"
        | "UpdateSAMLProvider"
        | "DeleteSAMLProvider"
        | "TagSAMLProvider"
        | "UntagSAMLProvider"
        | "ListSAMLProviderTags" => saml_providers::handle(state, &req, &action).await,
        "CreateOpenIDConnectProvider"
        | "GetOpenIDConnectProvider"
        | "ListOpenIDConnectProviders"
        | "DeleteOpenIDConnectProvider"
        | "AddClientIDToOpenIDConnectProvider"
        | "RemoveClientIDFromOpenIDConnectProvider"
        | "UpdateOpenIDConnectProviderThumbprint"
        | "TagOpenIDConnectProvider"
        | "UntagOpenIDConnectProvider"
        | "ListOpenIDConnectProviderTags" => oidc_providers::handle(state, &req, &action).await,
        "CreateRole"
        | "GetRole"
        | "ListRoles"
        | "UpdateRole"
        | "UpdateAssumeRolePolicy"
        | "DeleteRole"
        | "TagRole"
        | "UntagRole"
        | "ListRoleTags"
        | "UpdateRoleDescription" => roles::handle(state, &req, &action).await,
        "CreatePolicy"
        | "GetPolicy"
        | "ListPolicies"
        | "DeletePolicy"
        | "CreatePolicyVersion"
        | "GetPolicyVersion"
        | "ListPolicyVersions"
        | "SetDefaultPolicyVersion"
        | "DeletePolicyVersion"
        | "AttachUserPolicy"
        | "DetachUserPolicy"
        | "AttachGroupPolicy"
        | "DetachGroupPolicy"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "ListAttachedUserPolicies"
        | "ListAttachedGroupPolicies"
        | "ListAttachedRolePolicies"
        | "ListEntitiesForPolicy"
        | "PutUserPolicy"
        | "GetUserPolicy"
        | "DeleteUserPolicy"
        | "ListUserPolicies"
        | "PutGroupPolicy"
        | "GetGroupPolicy"
        | "DeleteGroupPolicy"
        | "ListGroupPolicies"
        | "PutRolePolicy"
        | "GetRolePolicy"
        | "DeleteRolePolicy"
        | "ListRolePolicies"
        | "PutUserPermissionsBoundary"
        | "DeleteUserPermissionsBoundary"
        | "PutRolePermissionsBoundary"
        | "DeleteRolePermissionsBoundary"
        | "GetAccountAuthorizationDetails" => policies::handle(state, &req, &action).await,
        _ => Err(S3Error::msg(
            ErrorCode::InvalidAction,
            format!("Could not find operation {action} for version 2010-05-08"),
        )),
    }
}

/// Runs `f` in one IAM transaction of `account`, returning its value; an
/// error from `f` rolls the transaction back.
pub async fn transact<T, F>(state: &Arc<AppState>, account: &str, f: F) -> S3Result<T>
where
    T: Send + 'static,
    F: FnMut(&mut dyn IamTx) -> S3Result<T> + Send + 'static,
{
    let account = account.to_string();
    let meta = state.meta.clone();
    let wrote = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let wrote_in_tx = wrote.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut f = f;
        let mut out: Option<S3Result<T>> = None;
        let r =
            meta.iam_transaction(&account, &mut |tx| match f(&mut WriteTracking { inner: tx, wrote: &wrote_in_tx }) {
                Ok(v) => {
                    out = Some(Ok(v));
                    Ok(())
                }
                Err(e) => {
                    out = Some(Err(e));
                    Err(StorageError::Conflict("rolled back"))
                }
            });
        match (r, out) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(S3Error::internal("IAM transaction produced no result")),
        }
    })
    .await
    .map_err(S3Error::internal)?;
    // Cached identities must not outlive a committed change (nor an uncertain one).
    if wrote.load(std::sync::atomic::Ordering::Acquire) {
        state.identity_cache.invalidate();
    }
    result
}

/// Notes whether a transaction wrote anything.
struct WriteTracking<'a> {
    inner: &'a mut dyn IamTx,
    wrote: &'a std::sync::atomic::AtomicBool,
}

impl WriteTracking<'_> {
    fn mark(&self) {
        self.wrote.store(true, std::sync::atomic::Ordering::Release);
    }
}

impl IamTx for WriteTracking<'_> {
    fn get(&mut self, kind: IamKind, name: &str) -> Result<Option<String>, StorageError> {
        self.inner.get(kind, name)
    }
    fn list(&mut self, kind: IamKind) -> Result<Vec<String>, StorageError> {
        self.inner.list(kind)
    }
    fn put(&mut self, kind: IamKind, name: &str, document: &str) -> Result<(), StorageError> {
        self.mark();
        self.inner.put(kind, name, document)
    }
    fn delete(&mut self, kind: IamKind, name: &str) -> Result<bool, StorageError> {
        self.mark();
        self.inner.delete(kind, name)
    }
    fn put_access_key(&mut self, key: &latchkey_storage::AccessKeyRecord) -> Result<(), StorageError> {
        self.mark();
        self.inner.put_access_key(key)
    }
    fn delete_access_key(&mut self, access_key_id: &str) -> Result<bool, StorageError> {
        self.mark();
        self.inner.delete_access_key(access_key_id)
    }
    fn list_access_keys(
        &mut self,
        owner: &latchkey_storage::KeyOwner,
    ) -> Result<Vec<latchkey_storage::AccessKeyRecord>, StorageError> {
        self.inner.list_access_keys(owner)
    }
}

pub fn load<T: DeserializeOwned>(tx: &mut dyn IamTx, kind: IamKind, name: &str) -> S3Result<Option<T>> {
    match tx.get(kind, name)? {
        None => Ok(None),
        Some(doc) => serde_json::from_str(&doc).map(Some).map_err(S3Error::internal),
    }
}

pub fn load_all<T: DeserializeOwned>(tx: &mut dyn IamTx, kind: IamKind) -> S3Result<Vec<T>> {
    tx.list(kind)?.iter().map(|d| serde_json::from_str(d).map_err(S3Error::internal)).collect()
}

pub fn save<T: Serialize>(tx: &mut dyn IamTx, kind: IamKind, name: &str, value: &T) -> S3Result<()> {
    let doc = serde_json::to_string(value).map_err(S3Error::internal)?;
    tx.put(kind, name, &doc)?;
    Ok(())
}

pub fn no_such(kind: &str, name: &str) -> S3Error {
    S3Error::msg(ErrorCode::NoSuchEntity, format!("The {kind} with name {name} cannot be found."))
}

pub fn already_exists(kind: &str, name: &str) -> S3Error {
    S3Error::msg(ErrorCode::EntityAlreadyExists, format!("{kind} with name {name} already exists."))
}

/// Applies Marker/MaxItems to an ordered list; returns the page, whether it
/// is truncated, and the marker for the next page.
pub fn paginate<T>(items: Vec<T>, params: &Params) -> S3Result<(Vec<T>, bool, Option<String>)> {
    let (max, marker) = params.page()?;
    let start: usize = match marker {
        None => 0,
        Some(m) => m.parse().map_err(|_| S3Error::msg(ErrorCode::ValidationError, "Invalid Marker."))?,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let end = start + page.len();
    let truncated = end < total;
    Ok((page, truncated, truncated.then(|| end.to_string())))
}

pub fn write_page_end(x: &mut QueryXml, truncated: bool, marker: Option<String>) {
    x.w().elem("IsTruncated", truncated.to_string());
    if let Some(m) = marker {
        x.w().elem("Marker", m);
    }
}

/// GetAccountSummary: counts of this account's IAM entities and AWS's quotas.
async fn account_summary(state: &Arc<AppState>, req: &IamRequest<'_>) -> S3Result<HttpResponse> {
    let counts = transact(state, req.account(), |tx| {
        Ok((
            tx.list(IamKind::User)?.len(),
            tx.list(IamKind::Group)?.len(),
            tx.list(IamKind::Role)?.len(),
            tx.list(IamKind::Policy)?.len(),
        ))
    })
    .await?;
    let (users, groups, roles, policies) = counts;
    let entries: [(&str, usize); 14] = [
        ("Users", users),
        ("UsersQuota", 5000),
        ("Groups", groups),
        ("GroupsQuota", 300),
        ("Roles", roles),
        ("RolesQuota", 1000),
        ("Policies", policies),
        ("PoliciesQuota", 1500),
        ("PolicySizeQuota", 6144),
        ("PolicyVersionsInUseQuota", 10000),
        ("AttachedPoliciesPerUserQuota", 10),
        ("AttachedPoliciesPerGroupQuota", 10),
        ("AttachedPoliciesPerRoleQuota", 10),
        ("AccessKeysPerUserQuota", 2),
    ];
    let mut x = req.xml("GetAccountSummary");
    x.w().open("SummaryMap");
    for (k, v) in entries {
        x.w().open("entry").elem("key", k).elem("value", v.to_string()).close();
    }
    x.w().close();
    Ok(x.finish(req.request_id))
}

/// Tag/Untag{User,Role}: tags to set (`Tags`) and keys to remove (`TagKeys`).
pub struct TagChange {
    set: Vec<(String, String)>,
    remove: Vec<String>,
}

impl TagChange {
    pub fn from_params(p: &Params, tagging: bool) -> S3Result<TagChange> {
        let set = if tagging { p.tags("Tags")? } else { vec![] };
        entities::validate_tags(&set)?;
        let remove = if tagging { vec![] } else { p.members("TagKeys").into_iter().map(str::to_string).collect() };
        Ok(TagChange { set, remove })
    }

    /// Tag keys compare without case, as IAM's do.
    pub fn apply(&self, tags: &mut Vec<entities::Tag>) -> S3Result<()> {
        entities::merge_tags(tags, self.set.clone())?;
        tags.retain(|t| !self.remove.iter().any(|r| r.eq_ignore_ascii_case(&t.key)));
        Ok(())
    }
}

/// List{User,Role}Tags.
pub fn list_tags(req: &IamRequest<'_>, action: &str, tags: Vec<entities::Tag>) -> S3Result<HttpResponse> {
    let (page, truncated, marker) = paginate(tags, req.params)?;
    let mut x = req.xml(action);
    x.w().open("Tags");
    for t in &page {
        x.w().open("member").elem("Key", &t.key).elem("Value", &t.value).close();
    }
    x.w().close();
    write_page_end(&mut x, truncated, marker);
    Ok(x.finish(req.request_id))
}
