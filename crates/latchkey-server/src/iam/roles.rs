//! Roles: created with a trust policy (the role's resource policy), assumed
//! through STS.

use super::entities::{
    arn, encode_document, new_id, timestamp, validate_name, validate_path, validate_tags, Role, Tag,
};
use super::policies::{check_policy, require_policy_exists, PolicyUse};
use super::query::QueryXml;
use super::users::write_tags;
use super::{already_exists, load, load_all, no_such, paginate, save, transact, write_page_end, IamRequest};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use latchkey_storage::IamKind;
use std::sync::Arc;

/// AWS's bounds on a role's MaxSessionDuration, in seconds.
const SESSION_MIN: u32 = 3600;
const SESSION_MAX: u32 = 43200;

/// `last_used`: when (unix ms) and where the role was last used, as the
/// audit trail saw it.
pub fn write_role(x: &mut QueryXml, tag: &'static str, account: &str, r: &Role, last_used: Option<(i64, String)>) {
    x.w()
        .open(tag)
        .elem("Path", &r.path)
        .elem("RoleName", &r.name)
        .elem("RoleId", &r.id)
        .elem("Arn", arn(account, "role", &r.path, &r.name))
        .elem("CreateDate", &r.created)
        .elem("AssumeRolePolicyDocument", encode_document(&r.trust_policy));
    x.w()
        .elem_opt("Description", r.description.as_deref())
        .elem("MaxSessionDuration", r.max_session_duration.to_string());
    if let Some(b) = &r.boundary {
        x.w()
            .open("PermissionsBoundary")
            .elem("PermissionsBoundaryType", "Policy")
            .elem("PermissionsBoundaryArn", b)
            .close();
    }
    write_tags(x, &r.tags);
    x.w().open("RoleLastUsed");
    if let Some((ms, region)) = last_used {
        let at = time::OffsetDateTime::from_unix_timestamp(ms / 1000).map(crate::iam::entities::timestamp);
        x.w().elem("LastUsedDate", at.unwrap_or_default()).elem("Region", region);
    }
    x.w().close();
    x.w().close();
}

fn parse_duration(v: Option<&str>) -> S3Result<Option<u32>> {
    match v {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (SESSION_MIN..=SESSION_MAX).contains(&n) => Ok(Some(n)),
            _ => Err(S3Error::msg(
                ErrorCode::ValidationError,
                format!("1 validation error detected: Value '{v}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to {SESSION_MAX}"),
            )),
        },
    }
}

fn validate_description(d: &Option<String>) -> S3Result<()> {
    if d.as_ref().is_some_and(|d| d.chars().count() > 1000) {
        return Err(S3Error::msg(ErrorCode::ValidationError, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000"));
    }
    Ok(())
}

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let account = req.account().to_string();
    let p = req.params;
    match action {
        "CreateRole" => {
            let name = p.required("RoleName")?.to_string();
            validate_name("roleName", &name, 64)?;
            let path = p.get("Path").unwrap_or("/").to_string();
            validate_path(&path)?;
            let trust = p.required("AssumeRolePolicyDocument")?.to_string();
            check_policy(&trust, PolicyUse::Trust)?;
            check_trust_principals(state, &trust).await?;
            let description = p.get("Description").map(str::to_string);
            validate_description(&description)?;
            let tags = p.tags("Tags")?;
            validate_tags(&tags)?;
            let boundary = p.get("PermissionsBoundary").map(str::to_string);
            if let Some(b) = &boundary {
                require_policy_exists(state, &account, b).await?;
            }
            let role = Role {
                name: name.clone(),
                path,
                id: new_id("AROA"),
                created: timestamp(req.now),
                trust_policy: trust,
                description,
                max_session_duration: parse_duration(p.get("MaxSessionDuration"))?.unwrap_or(SESSION_MIN),
                tags: tags.into_iter().map(|(key, value)| Tag { key, value }).collect(),
                inline: Default::default(),
                attached: vec![],
                boundary,
            };
            let r = role.clone();
            transact(state, &account, move |tx| {
                if tx.get(IamKind::Role, &r.name)?.is_some() {
                    return Err(already_exists("Role", &r.name));
                }
                save(tx, IamKind::Role, &r.name, &r)
            })
            .await?;
            let mut x = req.xml(action);
            write_role(&mut x, "Role", &account, &role, None);
            Ok(x.finish(req.request_id))
        }
        "GetRole" => {
            let name = p.required("RoleName")?.to_string();
            let role: Role = transact(state, &account, move |tx| {
                load(tx, IamKind::Role, &name)?.ok_or_else(|| no_such("role", &name))
            })
            .await?;
            let (monitoring, role_arn) = (state.monitoring.clone(), arn(&account, "role", &role.path, &role.name));
            // An SQLite read: off the async runtime.
            let last_used =
                tokio::task::spawn_blocking(move || monitoring.role_last_used(&role_arn)).await.ok().flatten();
            let mut x = req.xml(action);
            write_role(&mut x, "Role", &account, &role, last_used);
            Ok(x.finish(req.request_id))
        }
        "ListRoles" => {
            let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
            let roles: Vec<Role> = transact(state, &account, move |tx| load_all(tx, IamKind::Role)).await?;
            let roles: Vec<Role> = roles.into_iter().filter(|r| r.path.starts_with(&prefix)).collect();
            let (page, truncated, marker) = paginate(roles, p)?;
            let mut x = req.xml(action);
            x.w().open("Roles");
            for r in &page {
                write_role(&mut x, "member", &account, r, None);
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "UpdateRole" | "UpdateRoleDescription" => {
            let name = p.required("RoleName")?.to_string();
            let description = p.get("Description").map(str::to_string);
            validate_description(&description)?;
            let duration = parse_duration(p.get("MaxSessionDuration"))?;
            let role = transact(state, &account, move |tx| {
                let mut role: Role = load(tx, IamKind::Role, &name)?.ok_or_else(|| no_such("role", &name))?;
                if description.is_some() {
                    role.description = description.clone();
                }
                if let Some(d) = duration {
                    role.max_session_duration = d;
                }
                save(tx, IamKind::Role, &name, &role)?;
                Ok(role)
            })
            .await?;
            if action == "UpdateRoleDescription" {
                let mut x = req.xml(action);
                write_role(&mut x, "Role", &account, &role, None);
                return Ok(x.finish(req.request_id));
            }
            let x = req.xml(action);
            Ok(x.finish(req.request_id))
        }
        "UpdateAssumeRolePolicy" => {
            let name = p.required("RoleName")?.to_string();
            let doc = p.required("PolicyDocument")?.to_string();
            check_policy(&doc, PolicyUse::Trust)?;
            check_trust_principals(state, &doc).await?;
            transact(state, &account, move |tx| {
                let mut role: Role = load(tx, IamKind::Role, &name)?.ok_or_else(|| no_such("role", &name))?;
                role.trust_policy = doc.clone();
                save(tx, IamKind::Role, &name, &role)
            })
            .await?;
            req.done(action)
        }
        "DeleteRole" => {
            let name = p.required("RoleName")?.to_string();
            transact(state, &account, move |tx| {
                let role: Role = load(tx, IamKind::Role, &name)?.ok_or_else(|| no_such("role", &name))?;
                if !role.inline.is_empty() || !role.attached.is_empty() {
                    return Err(S3Error::msg(
                        ErrorCode::DeleteConflict,
                        "Cannot delete entity, must detach all policies first.",
                    ));
                }
                tx.delete(IamKind::Role, &name)?;
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "TagRole" | "UntagRole" => {
            let name = p.required("RoleName")?.to_string();
            let change = super::TagChange::from_params(p, action == "TagRole")?;
            transact(state, &account, move |tx| {
                let mut role: Role = load(tx, IamKind::Role, &name)?.ok_or_else(|| no_such("role", &name))?;
                change.apply(&mut role.tags)?;
                save(tx, IamKind::Role, &name, &role)
            })
            .await?;
            req.done(action)
        }
        "ListRoleTags" => {
            let name = p.required("RoleName")?.to_string();
            let role: Role = transact(state, &account, move |tx| {
                load(tx, IamKind::Role, &name)?.ok_or_else(|| no_such("role", &name))
            })
            .await?;
            super::list_tags(req, action, role.tags)
        }
        _ => Err(S3Error::new(ErrorCode::InvalidAction)),
    }
}

/// Trust policies may only name principals that exist.
async fn check_trust_principals(state: &Arc<AppState>, doc: &str) -> S3Result<()> {
    let p = latchkey_policy::Policy::parse(doc, latchkey_policy::PolicyKind::Trust)
        .map_err(|e| S3Error::msg(ErrorCode::MalformedPolicyDocument, e.to_string()))?;
    crate::authz::check_principals_exist(state, &p).await
}
