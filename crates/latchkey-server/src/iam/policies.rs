//! Managed policies and their versions, inline policies, attachments and
//! permissions boundaries.

use super::entities::{
    arn, aws_managed_policies, encode_document, new_id, timestamp, validate_name, validate_path, Group, ManagedPolicy,
    PolicyVersion, Role, User, AWS_POLICY_PREFIX,
};
use super::query::QueryXml;
use super::{already_exists, load, load_all, no_such, paginate, save, transact, write_page_end, IamRequest};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use latchkey_storage::{IamKind, IamTx};
use std::sync::Arc;

/// How many managed policies one identity may have attached.
const MAX_ATTACHED: usize = 10;
/// How many versions a managed policy may keep.
const MAX_VERSIONS: usize = 5;

/// What a policy document is for; decides its validation rules and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyUse {
    Managed,
    Inline(IamKind),
    Trust,
}

/// AWS counts policy size without whitespace.
fn policy_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

fn malformed(reason: impl Into<String>) -> S3Error {
    S3Error::msg(ErrorCode::MalformedPolicyDocument, reason.into())
}

/// Validates a policy document as AWS does on write.
pub fn check_policy(doc: &str, usage: PolicyUse) -> S3Result<()> {
    let limit = match usage {
        PolicyUse::Managed => 6144,
        PolicyUse::Trust => 2048,
        PolicyUse::Inline(IamKind::User) => 2048,
        PolicyUse::Inline(IamKind::Group) => 5120,
        PolicyUse::Inline(_) => 10240,
    };
    if policy_size(doc) > limit {
        return Err(S3Error::msg(ErrorCode::LimitExceeded, format!("Cannot exceed quota for PolicySize: {limit}")));
    }
    let kind = match usage {
        PolicyUse::Trust => latchkey_policy::PolicyKind::Trust,
        _ => latchkey_policy::PolicyKind::Identity,
    };
    latchkey_policy::Policy::parse(doc, kind).map_err(|e| malformed(e.to_string()))?;
    Ok(())
}

/// A managed policy ARN that exists (customer-managed in `account`, or
/// AWS-managed), for attachments and boundaries.
pub async fn require_policy_exists(state: &Arc<AppState>, account: &str, policy_arn: &str) -> S3Result<()> {
    let arn_s = policy_arn.to_string();
    let acct = account.to_string();
    transact(state, account, move |tx| find_policy(tx, &acct, &arn_s).map(|_| ())).await
}

/// A policy as the API shows it, customer- or AWS-managed.
#[derive(Clone)]
struct PolicyView {
    arn: String,
    policy: ManagedPolicy,
    aws_managed: bool,
}

fn aws_policy(name: &str) -> Option<PolicyView> {
    aws_managed_policies().into_iter().find(|(n, _, _)| *n == name).map(|(n, id, doc)| PolicyView {
        arn: format!("{AWS_POLICY_PREFIX}{n}"),
        aws_managed: true,
        policy: ManagedPolicy {
            name: n.to_string(),
            path: "/".into(),
            id: id.to_string(),
            created: "2015-02-06T18:40:58Z".into(),
            updated: "2015-02-06T18:40:58Z".into(),
            description: None,
            default_version: "v1".into(),
            next_version: 2,
            versions: vec![PolicyVersion {
                id: "v1".into(),
                document: doc.to_string(),
                created: "2015-02-06T18:40:58Z".into(),
            }],
            tags: vec![],
        },
    })
}

fn not_attachable(policy_arn: &str) -> S3Error {
    S3Error::msg(ErrorCode::NoSuchEntity, format!("Policy {policy_arn} does not exist or is not attachable."))
}

/// Resolves a policy ARN in `account`'s view.
fn find_policy(tx: &mut dyn IamTx, account: &str, policy_arn: &str) -> S3Result<PolicyView> {
    let parts: Vec<&str> = policy_arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || !parts[5].starts_with("policy/") {
        return Err(S3Error::msg(ErrorCode::InvalidInput, format!("ARN {policy_arn} is not valid.")));
    }
    if let Some(name) = policy_arn.strip_prefix(AWS_POLICY_PREFIX) {
        return aws_policy(name.rsplit('/').next().unwrap_or(name)).ok_or_else(|| not_attachable(policy_arn));
    }
    let prefix = format!("arn:aws:iam::{account}:policy/");
    let rest = policy_arn.strip_prefix(&prefix).ok_or_else(|| not_attachable(policy_arn))?;
    let name = rest.rsplit('/').next().unwrap_or(rest);
    let policy: ManagedPolicy = load(tx, IamKind::Policy, name)?.ok_or_else(|| not_attachable(policy_arn))?;
    let full = arn(account, "policy", &policy.path, &policy.name);
    if full != policy_arn {
        return Err(not_attachable(policy_arn));
    }
    Ok(PolicyView { arn: full, policy, aws_managed: false })
}

/// How many users, groups and roles have the policy attached, and as how
/// many boundaries it is used.
fn usage_counts(tx: &mut dyn IamTx, policy_arn: &str) -> S3Result<(usize, usize)> {
    let users: Vec<User> = load_all(tx, IamKind::User)?;
    let groups: Vec<Group> = load_all(tx, IamKind::Group)?;
    let roles: Vec<Role> = load_all(tx, IamKind::Role)?;
    let attached = users.iter().filter(|u| u.attached.iter().any(|a| a == policy_arn)).count()
        + groups.iter().filter(|g| g.attached.iter().any(|a| a == policy_arn)).count()
        + roles.iter().filter(|r| r.attached.iter().any(|a| a == policy_arn)).count();
    let boundaries = users.iter().filter(|u| u.boundary.as_deref() == Some(policy_arn)).count()
        + roles.iter().filter(|r| r.boundary.as_deref() == Some(policy_arn)).count();
    Ok((attached, boundaries))
}

fn write_policy(x: &mut QueryXml, tag: &'static str, v: &PolicyView, counts: (usize, usize)) {
    let p = &v.policy;
    x.w()
        .open(tag)
        .elem("PolicyName", &p.name)
        .elem("PolicyId", &p.id)
        .elem("Arn", &v.arn)
        .elem("Path", &p.path)
        .elem("DefaultVersionId", &p.default_version)
        .elem("AttachmentCount", counts.0.to_string())
        .elem("PermissionsBoundaryUsageCount", counts.1.to_string())
        .elem("IsAttachable", "true");
    x.w()
        .elem_opt("Description", p.description.as_deref())
        .elem("CreateDate", &p.created)
        .elem("UpdateDate", &p.updated);
    super::users::write_tags(x, &p.tags);
    x.w().close();
}

fn write_version(x: &mut QueryXml, tag: &'static str, p: &ManagedPolicy, v: &PolicyVersion, with_document: bool) {
    x.w().open(tag);
    if with_document {
        x.w().elem("Document", encode_document(&v.document));
    }
    x.w()
        .elem("VersionId", &v.id)
        .elem("IsDefaultVersion", (v.id == p.default_version).to_string())
        .elem("CreateDate", &v.created)
        .close();
}

/// Which entity an Attach/Detach/Put/Get/... action is about.
fn entity_of(action: &str) -> (IamKind, &'static str, &'static str) {
    if action.contains("User") {
        (IamKind::User, "UserName", "user")
    } else if action.contains("Group") {
        (IamKind::Group, "GroupName", "group")
    } else {
        (IamKind::Role, "RoleName", "role")
    }
}

/// Reads or edits the inline-policy map, attached list and boundary of a
/// user, group or role generically.
struct Entity {
    kind: IamKind,
    json: serde_json::Value,
}

impl Entity {
    fn load(tx: &mut dyn IamTx, kind: IamKind, name: &str, label: &str) -> S3Result<Entity> {
        let doc = tx.get(kind, name)?.ok_or_else(|| no_such(label, name))?;
        Ok(Entity { kind, json: serde_json::from_str(&doc).map_err(S3Error::internal)? })
    }
    fn name(&self) -> String {
        self.json["name"].as_str().unwrap_or_default().to_string()
    }
    fn attached(&self) -> Vec<String> {
        serde_json::from_value(self.json["attached"].clone()).unwrap_or_default()
    }
    fn set_attached(&mut self, v: Vec<String>) {
        self.json["attached"] = serde_json::json!(v);
    }
    fn inline(&self) -> std::collections::BTreeMap<String, String> {
        serde_json::from_value(self.json["inline"].clone()).unwrap_or_default()
    }
    fn set_inline(&mut self, v: std::collections::BTreeMap<String, String>) {
        self.json["inline"] = serde_json::json!(v);
    }
    fn set_boundary(&mut self, v: Option<String>) {
        self.json["boundary"] = serde_json::json!(v);
    }
    fn save(&self, tx: &mut dyn IamTx) -> S3Result<()> {
        let doc = serde_json::to_string(&self.json).map_err(S3Error::internal)?;
        tx.put(self.kind, &self.name(), &doc)?;
        Ok(())
    }
}

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let account = req.account().to_string();
    let p = req.params;
    let now = timestamp(req.now);
    match action {
        "CreatePolicy" => {
            let name = p.required("PolicyName")?.to_string();
            validate_name("policyName", &name, 128)?;
            let path = p.get("Path").unwrap_or("/").to_string();
            validate_path(&path)?;
            let doc = p.required("PolicyDocument")?.to_string();
            check_policy(&doc, PolicyUse::Managed)?;
            let description = p.get("Description").map(str::to_string);
            let tags = p.tags("Tags")?;
            super::entities::validate_tags(&tags)?;
            let policy = ManagedPolicy {
                name: name.clone(),
                path,
                id: new_id("ANPA"),
                created: now.clone(),
                updated: now.clone(),
                description,
                default_version: "v1".into(),
                next_version: 2,
                versions: vec![PolicyVersion { id: "v1".into(), document: doc, created: now }],
                tags: tags.into_iter().map(|(key, value)| super::entities::Tag { key, value }).collect(),
            };
            let pol = policy.clone();
            transact(state, &account, move |tx| {
                if tx.get(IamKind::Policy, &pol.name)?.is_some() {
                    return Err(already_exists("A policy called", &pol.name));
                }
                save(tx, IamKind::Policy, &pol.name, &pol)
            })
            .await?;
            let view =
                PolicyView { arn: arn(&account, "policy", &policy.path, &policy.name), policy, aws_managed: false };
            let mut x = req.xml(action);
            write_policy(&mut x, "Policy", &view, (0, 0));
            Ok(x.finish(req.request_id))
        }
        "GetPolicy" => {
            let policy_arn = p.required("PolicyArn")?.to_string();
            let acct = account.clone();
            let (view, counts) = transact(state, &account, move |tx| {
                let v = find_policy(tx, &acct, &policy_arn)?;
                let c = usage_counts(tx, &v.arn)?;
                Ok((v, c))
            })
            .await?;
            let mut x = req.xml(action);
            write_policy(&mut x, "Policy", &view, counts);
            Ok(x.finish(req.request_id))
        }
        "ListPolicies" => {
            let scope = p.get("Scope").unwrap_or("All").to_string();
            if !matches!(scope.as_str(), "All" | "AWS" | "Local") {
                return Err(S3Error::msg(ErrorCode::ValidationError, "1 validation error detected: Value at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"));
            }
            let only_attached = p.get("OnlyAttached") == Some("true");
            let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
            let acct = account.clone();
            let views = transact(state, &account, move |tx| {
                let mut out = Vec::new();
                if scope != "Local" {
                    for (n, _, _) in aws_managed_policies() {
                        out.push(aws_policy(n).expect("listed AWS policy exists"));
                    }
                }
                if scope != "AWS" {
                    for pol in load_all::<ManagedPolicy>(tx, IamKind::Policy)? {
                        out.push(PolicyView {
                            arn: arn(&acct, "policy", &pol.path, &pol.name),
                            policy: pol,
                            aws_managed: false,
                        });
                    }
                }
                let mut with_counts = Vec::new();
                for v in out {
                    let c = usage_counts(tx, &v.arn)?;
                    if (!only_attached || c.0 > 0) && v.policy.path.starts_with(&prefix) {
                        with_counts.push((v, c));
                    }
                }
                Ok(with_counts)
            })
            .await?;
            let (page, truncated, marker) = paginate(views, p)?;
            let mut x = req.xml(action);
            x.w().open("Policies");
            for (v, c) in &page {
                write_policy(&mut x, "member", v, *c);
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "DeletePolicy" => {
            let policy_arn = p.required("PolicyArn")?.to_string();
            let acct = account.clone();
            transact(state, &account, move |tx| {
                let v = find_policy(tx, &acct, &policy_arn)?;
                if v.aws_managed {
                    return Err(S3Error::msg(
                        ErrorCode::UnmodifiableEntity,
                        format!("Cannot delete policy {policy_arn}: it is AWS-managed."),
                    ));
                }
                let (attached, boundaries) = usage_counts(tx, &v.arn)?;
                if attached > 0 || boundaries > 0 || v.policy.versions.len() > 1 {
                    return Err(S3Error::msg(
                        ErrorCode::DeleteConflict,
                        "Cannot delete a policy attached to entities, or with non-default versions.",
                    ));
                }
                tx.delete(IamKind::Policy, &v.policy.name)?;
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "CreatePolicyVersion" => {
            let policy_arn = p.required("PolicyArn")?.to_string();
            let doc = p.required("PolicyDocument")?.to_string();
            check_policy(&doc, PolicyUse::Managed)?;
            let set_default = p.get("SetAsDefault") == Some("true");
            let acct = account.clone();
            let (policy, version) = transact(state, &account, move |tx| {
                let v = find_policy(tx, &acct, &policy_arn)?;
                if v.aws_managed {
                    return Err(S3Error::msg(ErrorCode::UnmodifiableEntity, "AWS-managed policies cannot be changed."));
                }
                let mut pol = v.policy;
                if pol.versions.len() >= MAX_VERSIONS {
                    return Err(S3Error::msg(
                        ErrorCode::LimitExceeded,
                        format!("A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version."),
                    ));
                }
                let version = PolicyVersion { id: format!("v{}", pol.next_version), document: doc.clone(), created: now.clone() };
                pol.next_version += 1;
                pol.versions.push(version.clone());
                if set_default {
                    pol.default_version = version.id.clone();
                }
                pol.updated = now.clone();
                save(tx, IamKind::Policy, &pol.name.clone(), &pol)?;
                Ok((pol, version))
            })
            .await?;
            let mut x = req.xml(action);
            write_version(&mut x, "PolicyVersion", &policy, &version, false);
            Ok(x.finish(req.request_id))
        }
        "GetPolicyVersion" | "ListPolicyVersions" | "SetDefaultPolicyVersion" | "DeletePolicyVersion" => {
            let policy_arn = p.required("PolicyArn")?.to_string();
            let version_id =
                if action == "ListPolicyVersions" { None } else { Some(p.required("VersionId")?.to_string()) };
            if let Some(v) = &version_id {
                // AWS's pattern for version ids: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?
                let digits = v.strip_prefix('v').map(|r| r.split('.').next().unwrap_or(""));
                let ok = digits
                    .is_some_and(|d| !d.is_empty() && !d.starts_with('0') && d.bytes().all(|b| b.is_ascii_digit()));
                if !ok {
                    return Err(S3Error::msg(
                        ErrorCode::ValidationError,
                        format!("1 validation error detected: Value '{v}' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"),
                    ));
                }
            }
            let acct = account.clone();
            let act = action.to_string();
            let policy = transact(state, &account, move |tx| {
                let v = find_policy(tx, &acct, &policy_arn)?;
                let mut pol = v.policy;
                let Some(vid) = &version_id else { return Ok(pol) };
                if !pol.versions.iter().any(|v| &v.id == vid) {
                    return Err(S3Error::msg(
                        ErrorCode::NoSuchEntity,
                        format!("Policy {policy_arn} version {vid} does not exist or is not attachable."),
                    ));
                }
                match act.as_str() {
                    "SetDefaultPolicyVersion" | "DeletePolicyVersion" if v.aws_managed => {
                        return Err(S3Error::msg(
                            ErrorCode::UnmodifiableEntity,
                            "AWS-managed policies cannot be changed.",
                        ));
                    }
                    "SetDefaultPolicyVersion" => {
                        pol.default_version = vid.clone();
                        save(tx, IamKind::Policy, &pol.name.clone(), &pol)?;
                    }
                    "DeletePolicyVersion" => {
                        if &pol.default_version == vid {
                            return Err(S3Error::msg(
                                ErrorCode::DeleteConflict,
                                "Cannot delete the default version of a policy.",
                            ));
                        }
                        pol.versions.retain(|v| &v.id != vid);
                        save(tx, IamKind::Policy, &pol.name.clone(), &pol)?;
                    }
                    _ => {}
                }
                Ok(pol)
            })
            .await?;
            match action {
                "GetPolicyVersion" => {
                    let vid = p.required("VersionId")?;
                    let v = policy.versions.iter().find(|v| v.id == vid).expect("checked above");
                    let mut x = req.xml(action);
                    write_version(&mut x, "PolicyVersion", &policy, v, true);
                    Ok(x.finish(req.request_id))
                }
                "ListPolicyVersions" => {
                    let mut versions = policy.versions.clone();
                    versions.reverse();
                    let (page, truncated, marker) = paginate(versions, p)?;
                    let mut x = req.xml(action);
                    x.w().open("Versions");
                    for v in &page {
                        write_version(&mut x, "member", &policy, v, false);
                    }
                    x.w().close();
                    write_page_end(&mut x, truncated, marker);
                    Ok(x.finish(req.request_id))
                }
                _ => req.done(action),
            }
        }
        "AttachUserPolicy" | "AttachGroupPolicy" | "AttachRolePolicy" | "DetachUserPolicy" | "DetachGroupPolicy"
        | "DetachRolePolicy" => {
            let (kind, param, label) = entity_of(action);
            let name = p.required(param)?.to_string();
            let policy_arn = p.required("PolicyArn")?.to_string();
            let attach = action.starts_with("Attach");
            let acct = account.clone();
            transact(state, &account, move |tx| {
                let mut e = Entity::load(tx, kind, &name, label)?;
                let mut attached = e.attached();
                if attach {
                    find_policy(tx, &acct, &policy_arn)?;
                    if !attached.contains(&policy_arn) {
                        if attached.len() >= MAX_ATTACHED {
                            return Err(S3Error::msg(
                                ErrorCode::LimitExceeded,
                                format!("Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED}"),
                            ));
                        }
                        attached.push(policy_arn.clone());
                    }
                } else {
                    if !attached.contains(&policy_arn) {
                        return Err(S3Error::msg(
                            ErrorCode::NoSuchEntity,
                            format!("Policy {policy_arn} was not found."),
                        ));
                    }
                    attached.retain(|a| a != &policy_arn);
                }
                e.set_attached(attached);
                e.save(tx)
            })
            .await?;
            req.done(action)
        }
        "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" | "ListAttachedRolePolicies" => {
            let (kind, param, label) = entity_of(action);
            let name = p.required(param)?.to_string();
            let attached =
                transact(state, &account, move |tx| Ok(Entity::load(tx, kind, &name, label)?.attached())).await?;
            let (page, truncated, marker) = paginate(attached, p)?;
            let mut x = req.xml(action);
            x.w().open("AttachedPolicies");
            for a in &page {
                let pname = a.rsplit('/').next().unwrap_or(a);
                x.w().open("member").elem("PolicyName", pname).elem("PolicyArn", a).close();
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "ListEntitiesForPolicy" => {
            let policy_arn = p.required("PolicyArn")?.to_string();
            let acct = account.clone();
            let (users, groups, roles) = transact(state, &account, move |tx| {
                find_policy(tx, &acct, &policy_arn)?;
                let users: Vec<User> = load_all(tx, IamKind::User)?;
                let groups: Vec<Group> = load_all(tx, IamKind::Group)?;
                let roles: Vec<Role> = load_all(tx, IamKind::Role)?;
                Ok((
                    users.into_iter().filter(|u| u.attached.contains(&policy_arn)).collect::<Vec<_>>(),
                    groups.into_iter().filter(|g| g.attached.contains(&policy_arn)).collect::<Vec<_>>(),
                    roles.into_iter().filter(|r| r.attached.contains(&policy_arn)).collect::<Vec<_>>(),
                ))
            })
            .await?;
            let mut x = req.xml(action);
            let filter = p.get("EntityFilter").unwrap_or("");
            let want = |kind: &str| filter.is_empty() || filter == kind;
            let groups: Vec<Group> = if want("Group") { groups } else { vec![] };
            let users: Vec<User> = if want("User") { users } else { vec![] };
            let roles: Vec<Role> = if want("Role") { roles } else { vec![] };
            x.w().open("PolicyGroups");
            for g in &groups {
                x.w().open("member").elem("GroupName", &g.name).elem("GroupId", &g.id).close();
            }
            x.w().close().open("PolicyUsers");
            for u in &users {
                x.w().open("member").elem("UserName", &u.name).elem("UserId", &u.id).close();
            }
            x.w().close().open("PolicyRoles");
            for r in &roles {
                x.w().open("member").elem("RoleName", &r.name).elem("RoleId", &r.id).close();
            }
            x.w().close();
            x.w().elem("IsTruncated", "false");
            Ok(x.finish(req.request_id))
        }
        "PutUserPolicy" | "PutGroupPolicy" | "PutRolePolicy" => {
            let (kind, param, label) = entity_of(action);
            let name = p.required(param)?.to_string();
            let policy_name = p.required("PolicyName")?.to_string();
            validate_name("policyName", &policy_name, 128)?;
            let doc = p.required("PolicyDocument")?.to_string();
            check_policy(&doc, PolicyUse::Inline(kind))?;
            transact(state, &account, move |tx| {
                let mut e = Entity::load(tx, kind, &name, label)?;
                let mut inline = e.inline();
                inline.insert(policy_name.clone(), doc.clone());
                // The size quota covers all of an identity's inline policies together.
                let total: usize = inline.values().map(|d| policy_size(d)).sum();
                let limit = match kind {
                    IamKind::User => 2048,
                    IamKind::Group => 5120,
                    _ => 10240,
                };
                if total > limit {
                    return Err(S3Error::msg(
                        ErrorCode::LimitExceeded,
                        format!("Maximum policy size of {limit} bytes exceeded for {label} {name}"),
                    ));
                }
                e.set_inline(inline);
                e.save(tx)
            })
            .await?;
            req.done(action)
        }
        "GetUserPolicy" | "GetGroupPolicy" | "GetRolePolicy" => {
            let (kind, param, label) = entity_of(action);
            let name = p.required(param)?.to_string();
            let policy_name = p.required("PolicyName")?.to_string();
            let pn = policy_name.clone();
            let (entity_name, doc) = transact(state, &account, move |tx| {
                let e = Entity::load(tx, kind, &name, label)?;
                let doc = e.inline().get(&pn).cloned().ok_or_else(|| {
                    S3Error::msg(ErrorCode::NoSuchEntity, format!("The {label} policy with name {pn} cannot be found."))
                })?;
                Ok((e.name(), doc))
            })
            .await?;
            let mut x = req.xml(action);
            x.w()
                .elem(param_elem(param), &entity_name)
                .elem("PolicyName", &policy_name)
                .elem("PolicyDocument", encode_document(&doc));
            Ok(x.finish(req.request_id))
        }
        "DeleteUserPolicy" | "DeleteGroupPolicy" | "DeleteRolePolicy" => {
            let (kind, param, label) = entity_of(action);
            let name = p.required(param)?.to_string();
            let policy_name = p.required("PolicyName")?.to_string();
            transact(state, &account, move |tx| {
                let mut e = Entity::load(tx, kind, &name, label)?;
                let mut inline = e.inline();
                if inline.remove(&policy_name).is_none() {
                    return Err(S3Error::msg(
                        ErrorCode::NoSuchEntity,
                        format!("The {label} policy with name {policy_name} cannot be found."),
                    ));
                }
                e.set_inline(inline);
                e.save(tx)
            })
            .await?;
            req.done(action)
        }
        "ListUserPolicies" | "ListGroupPolicies" | "ListRolePolicies" => {
            let (kind, param, label) = entity_of(action);
            let name = p.required(param)?.to_string();
            let names: Vec<String> = transact(state, &account, move |tx| {
                Ok(Entity::load(tx, kind, &name, label)?.inline().into_keys().collect())
            })
            .await?;
            let (page, truncated, marker) = paginate(names, p)?;
            let mut x = req.xml(action);
            x.w().open("PolicyNames");
            for n in &page {
                x.w().elem("member", n);
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "PutUserPermissionsBoundary"
        | "PutRolePermissionsBoundary"
        | "DeleteUserPermissionsBoundary"
        | "DeleteRolePermissionsBoundary" => {
            let (kind, param, label) = entity_of(action);
            let name = p.required(param)?.to_string();
            let boundary =
                if action.starts_with("Put") { Some(p.required("PermissionsBoundary")?.to_string()) } else { None };
            let acct = account.clone();
            transact(state, &account, move |tx| {
                let mut e = Entity::load(tx, kind, &name, label)?;
                if let Some(b) = &boundary {
                    find_policy(tx, &acct, b)?;
                }
                e.set_boundary(boundary.clone());
                e.save(tx)
            })
            .await?;
            req.done(action)
        }
        "GetAccountAuthorizationDetails" => account_authorization_details(state, req, &account).await,
        _ => Err(S3Error::new(ErrorCode::InvalidAction)),
    }
}

fn param_elem(param: &str) -> &'static str {
    match param {
        "UserName" => "UserName",
        "GroupName" => "GroupName",
        _ => "RoleName",
    }
}

async fn account_authorization_details(
    state: &Arc<AppState>,
    req: &IamRequest<'_>,
    account: &str,
) -> S3Result<HttpResponse> {
    let acct = account.to_string();
    let (users, groups, roles, policies) = transact(state, account, move |tx| {
        Ok((
            load_all::<User>(tx, IamKind::User)?,
            load_all::<Group>(tx, IamKind::Group)?,
            load_all::<Role>(tx, IamKind::Role)?,
            load_all::<ManagedPolicy>(tx, IamKind::Policy)?,
        ))
    })
    .await?;
    // Filter: any of User, Role, Group, LocalManagedPolicy, AWSManagedPolicy.
    let filter: Vec<&str> = req.params.members("Filter");
    let want = |k: &str| filter.is_empty() || filter.contains(&k);
    let users = if want("User") { users } else { vec![] };
    let groups = if want("Group") { groups } else { vec![] };
    let roles = if want("Role") { roles } else { vec![] };
    let mut views: Vec<PolicyView> = Vec::new();
    if want("AWSManagedPolicy") {
        views.extend(aws_managed_policies().into_iter().filter_map(|(n, _, _)| aws_policy(n)));
    }
    if want("LocalManagedPolicy") {
        views.extend(policies.into_iter().map(|pol| PolicyView {
            arn: arn(&acct, "policy", &pol.path, &pol.name),
            policy: pol,
            aws_managed: false,
        }));
    }
    let acct2 = account.to_string();
    let arns: Vec<String> = views.iter().map(|v| v.arn.clone()).collect();
    let counts: Vec<(usize, usize)> =
        transact(state, &acct2, move |tx| arns.iter().map(|a| usage_counts(tx, a)).collect()).await?;
    let mut x = req.xml("GetAccountAuthorizationDetails");
    let inline_list = |x: &mut QueryXml, tag: &'static str, inline: &std::collections::BTreeMap<String, String>| {
        x.w().open(tag);
        for (n, d) in inline {
            x.w().open("member").elem("PolicyName", n).elem("PolicyDocument", encode_document(d)).close();
        }
        x.w().close();
    };
    let attached_list = |x: &mut QueryXml, attached: &[String]| {
        x.w().open("AttachedManagedPolicies");
        for a in attached {
            x.w().open("member").elem("PolicyName", a.rsplit('/').next().unwrap_or(a)).elem("PolicyArn", a).close();
        }
        x.w().close();
    };
    x.w().open("UserDetailList");
    for u in &users {
        x.w()
            .open("member")
            .elem("Path", &u.path)
            .elem("UserName", &u.name)
            .elem("UserId", &u.id)
            .elem("Arn", arn(&acct, "user", &u.path, &u.name))
            .elem("CreateDate", &u.created);
        inline_list(&mut x, "UserPolicyList", &u.inline);
        x.w().open("GroupList");
        for g in &u.groups {
            x.w().elem("member", g);
        }
        x.w().close();
        attached_list(&mut x, &u.attached);
        super::users::write_tags(&mut x, &u.tags);
        x.w().close();
    }
    x.w().close().open("GroupDetailList");
    for g in &groups {
        x.w()
            .open("member")
            .elem("Path", &g.path)
            .elem("GroupName", &g.name)
            .elem("GroupId", &g.id)
            .elem("Arn", arn(&acct, "group", &g.path, &g.name))
            .elem("CreateDate", &g.created);
        inline_list(&mut x, "GroupPolicyList", &g.inline);
        attached_list(&mut x, &g.attached);
        x.w().close();
    }
    x.w().close().open("RoleDetailList");
    for r in &roles {
        x.w()
            .open("member")
            .elem("Path", &r.path)
            .elem("RoleName", &r.name)
            .elem("RoleId", &r.id)
            .elem("Arn", arn(&acct, "role", &r.path, &r.name))
            .elem("CreateDate", &r.created)
            .elem("AssumeRolePolicyDocument", encode_document(&r.trust_policy));
        inline_list(&mut x, "RolePolicyList", &r.inline);
        attached_list(&mut x, &r.attached);
        super::users::write_tags(&mut x, &r.tags);
        x.w().close();
    }
    x.w().close().open("Policies");
    for (v, (attached, boundaries)) in views.iter().zip(&counts) {
        let pol = &v.policy;
        x.w()
            .open("member")
            .elem("PolicyName", &pol.name)
            .elem("PolicyId", &pol.id)
            .elem("Arn", &v.arn)
            .elem("Path", &pol.path)
            .elem("DefaultVersionId", &pol.default_version)
            .elem("AttachmentCount", attached.to_string())
            .elem("PermissionsBoundaryUsageCount", boundaries.to_string())
            .elem("IsAttachable", "true")
            .elem("CreateDate", &pol.created)
            .elem("UpdateDate", &pol.updated)
            .open("PolicyVersionList");
        for ver in pol.versions.iter().rev() {
            write_version(&mut x, "member", pol, ver, true);
        }
        x.w().close().close();
    }
    x.w().close().elem("IsTruncated", "false");
    Ok(x.finish(req.request_id))
}
