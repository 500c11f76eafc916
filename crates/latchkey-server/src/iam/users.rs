//! Users, their access keys and tags, and groups.

use super::entities::{arn, new_id, timestamp, validate_name, validate_path, validate_tags, Group, Tag, User};
use super::query::QueryXml;
use super::{already_exists, load, load_all, no_such, paginate, save, transact, write_page_end, IamRequest};
use crate::auth::PrincipalKind;
use crate::bootstrap::{new_access_key_id, new_secret_access_key};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use latchkey_storage::{AccessKeyRecord, IamKind, KeyOwner, KeyStatus};
use rand::Rng;
use std::sync::Arc;

/// At most two access keys per user, as in AWS.
const MAX_KEYS_PER_USER: usize = 2;

pub fn write_user(x: &mut QueryXml, tag: &'static str, account: &str, u: &User) {
    let w = x.w();
    w.open(tag)
        .elem("Path", &u.path)
        .elem("UserName", &u.name)
        .elem("UserId", &u.id)
        .elem("Arn", arn(account, "user", &u.path, &u.name))
        .elem("CreateDate", &u.created);
    if let Some(b) = &u.boundary {
        w.open("PermissionsBoundary")
            .elem("PermissionsBoundaryType", "Policy")
            .elem("PermissionsBoundaryArn", b)
            .close();
    }
    write_tags(x, &u.tags);
    x.w().close();
}

pub fn write_tags(x: &mut QueryXml, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    x.w().open("Tags");
    for t in tags {
        x.w().open("member").elem("Key", &t.key).elem("Value", &t.value).close();
    }
    x.w().close();
}

pub fn write_group(x: &mut QueryXml, tag: &'static str, account: &str, g: &Group) {
    x.w()
        .open(tag)
        .elem("Path", &g.path)
        .elem("GroupName", &g.name)
        .elem("GroupId", &g.id)
        .elem("Arn", arn(account, "group", &g.path, &g.name))
        .elem("CreateDate", &g.created)
        .close();
}

/// The user a request names, or the calling user when `UserName` is absent.
fn target_user(req: &IamRequest) -> S3Result<Option<String>> {
    match (req.params.get("UserName"), &req.caller.kind) {
        (Some(n), _) => Ok(Some(n.to_string())),
        (None, PrincipalKind::User(n)) => Ok(Some(n.clone())),
        (None, PrincipalKind::AccountRoot) => Ok(None),
        (None, _) => Err(S3Error::msg(
            ErrorCode::ValidationError,
            "Must specify userName when calling with non-User credentials",
        )),
    }
}

fn path_param(req: &IamRequest) -> S3Result<String> {
    let path = req.params.get("Path").unwrap_or("/").to_string();
    validate_path(&path)?;
    Ok(path)
}

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let account = req.account().to_string();
    let p = req.params;
    let now = timestamp(req.now);
    match action {
        "CreateUser" => {
            let name = p.required("UserName")?.to_string();
            validate_name("userName", &name, 64)?;
            let path = path_param(req)?;
            let tags = p.tags("Tags")?;
            validate_tags(&tags)?;
            let boundary = p.get("PermissionsBoundary").map(str::to_string);
            let user = User {
                name: name.clone(),
                path,
                id: new_id("AIDA"),
                created: now,
                tags: tags.into_iter().map(|(key, value)| Tag { key, value }).collect(),
                inline: Default::default(),
                attached: vec![],
                groups: vec![],
                boundary,
            };
            if let Some(b) = &user.boundary {
                let (acct, b) = (account.clone(), b.clone());
                super::policies::require_policy_exists(state, &acct, &b).await?;
            }
            let u = user.clone();
            transact(state, &account, move |tx| {
                if tx.get(IamKind::User, &u.name)?.is_some() {
                    return Err(already_exists("User", &u.name));
                }
                save(tx, IamKind::User, &u.name, &u)
            })
            .await?;
            let mut x = req.xml(action);
            write_user(&mut x, "User", &account, &user);
            Ok(x.finish(req.request_id))
        }
        "GetUser" => {
            let Some(name) = target_user(req)? else {
                // The root user, as AWS reports it.
                let mut x = req.xml(action);
                x.w()
                    .open("User")
                    .elem("UserId", &account)
                    .elem("Arn", format!("arn:aws:iam::{account}:root"))
                    .elem("CreateDate", &now)
                    .close();
                return Ok(x.finish(req.request_id));
            };
            let n = name.clone();
            let user: User =
                transact(state, &account, move |tx| load(tx, IamKind::User, &n)?.ok_or_else(|| no_such("user", &n)))
                    .await?;
            let mut x = req.xml(action);
            write_user(&mut x, "User", &account, &user);
            Ok(x.finish(req.request_id))
        }
        "ListUsers" => {
            let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
            let users: Vec<User> = transact(state, &account, move |tx| load_all(tx, IamKind::User)).await?;
            let users: Vec<User> = users.into_iter().filter(|u| u.path.starts_with(&prefix)).collect();
            let (page, truncated, marker) = paginate(users, p)?;
            let mut x = req.xml(action);
            x.w().open("Users");
            for u in &page {
                write_user(&mut x, "member", &account, u);
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "UpdateUser" => {
            let name = p.required("UserName")?.to_string();
            let new_name = p.get("NewUserName").map(str::to_string);
            let new_path = p.get("NewPath").map(str::to_string);
            if let Some(n) = &new_name {
                validate_name("newUserName", n, 64)?;
            }
            if let Some(np) = &new_path {
                validate_path(np)?;
            }
            transact(state, &account, move |tx| {
                let mut user: User = load(tx, IamKind::User, &name)?.ok_or_else(|| no_such("user", &name))?;
                if let Some(np) = &new_path {
                    user.path = np.clone();
                }
                if let Some(nn) = &new_name {
                    if !nn.eq_ignore_ascii_case(&name) && tx.get(IamKind::User, nn)?.is_some() {
                        return Err(already_exists("User", nn));
                    }
                    // The user's access keys follow it to its new name.
                    for mut k in tx.list_access_keys(&KeyOwner::User(user.name.clone()))? {
                        k.owner = KeyOwner::User(nn.clone());
                        tx.put_access_key(&k)?;
                    }
                    tx.delete(IamKind::User, &name)?;
                    user.name = nn.clone();
                }
                save(tx, IamKind::User, &user.name.clone(), &user)
            })
            .await?;
            req.done(action)
        }
        "DeleteUser" => {
            let name = p.required("UserName")?.to_string();
            transact(state, &account, move |tx| {
                let user: User = load(tx, IamKind::User, &name)?.ok_or_else(|| no_such("user", &name))?;
                let keys = tx.list_access_keys(&KeyOwner::User(user.name.clone()))?;
                let has_mfa = super::mfa::has_device(tx, &user.name)?;
                if !keys.is_empty()
                    || !user.inline.is_empty()
                    || !user.attached.is_empty()
                    || !user.groups.is_empty()
                    || has_mfa
                {
                    return Err(S3Error::msg(
                        ErrorCode::DeleteConflict,
                        "Cannot delete entity, must delete access keys, policies and group memberships first.",
                    ));
                }
                tx.delete(IamKind::User, &name)?;
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "CreateAccessKey" => {
            let target = target_user(req)?;
            let key_id = new_access_key_id();
            let secret = new_secret_access_key();
            let mut nonce = [0u8; 24];
            rand::rngs::OsRng.fill(&mut nonce);
            let sealed = state.secret_sealer.seal(secret.as_bytes(), nonce);
            let owner = match &target {
                Some(n) => KeyOwner::User(n.clone()),
                None => KeyOwner::Root,
            };
            let record = AccessKeyRecord {
                access_key_id: key_id.clone(),
                account_id: account.clone(),
                owner: owner.clone(),
                secret_sealed: sealed,
                status: KeyStatus::Active,
                created: req.now,
            };
            let user_name = transact(state, &account, move |tx| {
                let name = match &record.owner {
                    KeyOwner::User(n) => {
                        let user: User = load(tx, IamKind::User, n)?.ok_or_else(|| no_such("user", n))?;
                        Some(user.name)
                    }
                    KeyOwner::Root => None,
                };
                let owner = match &name {
                    Some(n) => KeyOwner::User(n.clone()),
                    None => KeyOwner::Root,
                };
                if tx.list_access_keys(&owner)?.len() >= MAX_KEYS_PER_USER {
                    return Err(S3Error::msg(
                        ErrorCode::LimitExceeded,
                        format!("Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"),
                    ));
                }
                let mut rec = record.clone();
                rec.owner = owner;
                tx.put_access_key(&rec)?;
                Ok(name)
            })
            .await?;
            let mut x = req.xml(action);
            x.w().open("AccessKey");
            if let Some(n) = &user_name {
                x.w().elem("UserName", n);
            }
            x.w()
                .elem("AccessKeyId", &key_id)
                .elem("Status", "Active")
                .elem("SecretAccessKey", &secret)
                .elem("CreateDate", &now)
                .close();
            Ok(x.finish(req.request_id))
        }
        "ListAccessKeys" => {
            let target = target_user(req)?;
            let (keys, name) = transact(state, &account, move |tx| {
                let (owner, name) = match &target {
                    Some(n) => {
                        let user: User = load(tx, IamKind::User, n)?.ok_or_else(|| no_such("user", n))?;
                        (KeyOwner::User(user.name.clone()), Some(user.name))
                    }
                    None => (KeyOwner::Root, None),
                };
                Ok((tx.list_access_keys(&owner)?, name))
            })
            .await?;
            let (page, truncated, marker) = paginate(keys, p)?;
            let mut x = req.xml(action);
            x.w().open("AccessKeyMetadata");
            for k in &page {
                x.w().open("member");
                if let Some(n) = &name {
                    x.w().elem("UserName", n);
                }
                x.w()
                    .elem("AccessKeyId", &k.access_key_id)
                    .elem("Status", if k.status == KeyStatus::Active { "Active" } else { "Inactive" })
                    .elem("CreateDate", timestamp(k.created))
                    .close();
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "UpdateAccessKey" | "DeleteAccessKey" => {
            let key_id = p.required("AccessKeyId")?.to_string();
            let status = match (action, p.get("Status")) {
                ("UpdateAccessKey", Some("Active")) => Some(KeyStatus::Active),
                ("UpdateAccessKey", Some("Inactive")) => Some(KeyStatus::Inactive),
                ("UpdateAccessKey", other) => {
                    return Err(S3Error::msg(
                        ErrorCode::ValidationError,
                        format!("1 validation error detected: Value '{}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", other.unwrap_or("null")),
                    ))
                }
                _ => None,
            };
            let target = target_user(req)?;
            transact(state, &account, move |tx| {
                let owner = match &target {
                    Some(n) => {
                        let user: User = load(tx, IamKind::User, n)?.ok_or_else(|| no_such("user", n))?;
                        KeyOwner::User(user.name)
                    }
                    None => KeyOwner::Root,
                };
                let keys = tx.list_access_keys(&owner)?;
                let Some(mut k) = keys.into_iter().find(|k| k.access_key_id == key_id) else {
                    return Err(S3Error::msg(
                        ErrorCode::NoSuchEntity,
                        format!("The Access Key with id {key_id} cannot be found"),
                    ));
                };
                match status {
                    Some(s) => {
                        k.status = s;
                        tx.put_access_key(&k)?;
                    }
                    None => {
                        tx.delete_access_key(&key_id)?;
                    }
                }
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "GetAccessKeyLastUsed" => {
            let key_id = p.required("AccessKeyId")?.to_string();
            let id = key_id.clone();
            let record = state.meta(move |m| m.get_access_key(&id)).await?;
            let Some(record) = record.filter(|r| r.account_id == account) else {
                return Err(S3Error::msg(
                    ErrorCode::NoSuchEntity,
                    format!("The Access Key with id {key_id} cannot be found"),
                ));
            };
            let mut x = req.xml(action);
            if let KeyOwner::User(n) = &record.owner {
                x.w().elem("UserName", n);
            }
            // From the audit trail; a key never used gets AWS's N/A.
            x.w().open("AccessKeyLastUsed");
            let (monitoring, id) = (state.monitoring.clone(), key_id.clone());
            // An SQLite read: off the async runtime.
            let last_used = tokio::task::spawn_blocking(move || monitoring.key_last_used(&id)).await.ok().flatten();
            match last_used {
                Some((ms, service, region)) => {
                    let at = time::OffsetDateTime::from_unix_timestamp(ms / 1000).map(crate::iam::entities::timestamp);
                    x.w()
                        .elem("LastUsedDate", at.unwrap_or_default())
                        .elem("ServiceName", service)
                        .elem("Region", region);
                }
                None => {
                    x.w().elem("ServiceName", "N/A").elem("Region", "N/A");
                }
            }
            x.w().close();
            Ok(x.finish(req.request_id))
        }
        "TagUser" | "UntagUser" => {
            let name = p.required("UserName")?.to_string();
            let change = super::TagChange::from_params(p, action == "TagUser")?;
            transact(state, &account, move |tx| {
                let mut user: User = load(tx, IamKind::User, &name)?.ok_or_else(|| no_such("user", &name))?;
                change.apply(&mut user.tags)?;
                save(tx, IamKind::User, &name, &user)
            })
            .await?;
            req.done(action)
        }
        "ListUserTags" => {
            let name = p.required("UserName")?.to_string();
            let user: User = transact(state, &account, move |tx| {
                load(tx, IamKind::User, &name)?.ok_or_else(|| no_such("user", &name))
            })
            .await?;
            super::list_tags(req, action, user.tags)
        }
        "CreateGroup" => {
            let name = p.required("GroupName")?.to_string();
            validate_name("groupName", &name, 128)?;
            let group = Group {
                name: name.clone(),
                path: path_param(req)?,
                id: new_id("AGPA"),
                created: now,
                inline: Default::default(),
                attached: vec![],
            };
            let g = group.clone();
            transact(state, &account, move |tx| {
                if tx.get(IamKind::Group, &g.name)?.is_some() {
                    return Err(already_exists("Group", &g.name));
                }
                save(tx, IamKind::Group, &g.name, &g)
            })
            .await?;
            let mut x = req.xml(action);
            write_group(&mut x, "Group", &account, &group);
            Ok(x.finish(req.request_id))
        }
        "GetGroup" => {
            let name = p.required("GroupName")?.to_string();
            let (group, members) = transact(state, &account, move |tx| {
                let group: Group = load(tx, IamKind::Group, &name)?.ok_or_else(|| no_such("group", &name))?;
                let users: Vec<User> = load_all(tx, IamKind::User)?;
                let members: Vec<User> = users
                    .into_iter()
                    .filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)))
                    .collect();
                Ok((group, members))
            })
            .await?;
            let (page, truncated, marker) = paginate(members, p)?;
            let mut x = req.xml(action);
            write_group(&mut x, "Group", &account, &group);
            x.w().open("Users");
            for u in &page {
                write_user(&mut x, "member", &account, u);
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "ListGroups" => {
            let prefix = p.get("PathPrefix").unwrap_or("/").to_string();
            let groups: Vec<Group> = transact(state, &account, move |tx| load_all(tx, IamKind::Group)).await?;
            let groups: Vec<Group> = groups.into_iter().filter(|g| g.path.starts_with(&prefix)).collect();
            let (page, truncated, marker) = paginate(groups, p)?;
            let mut x = req.xml(action);
            x.w().open("Groups");
            for g in &page {
                write_group(&mut x, "member", &account, g);
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        "UpdateGroup" => {
            let name = p.required("GroupName")?.to_string();
            let new_name = p.get("NewGroupName").map(str::to_string);
            let new_path = p.get("NewPath").map(str::to_string);
            if let Some(n) = &new_name {
                validate_name("newGroupName", n, 128)?;
            }
            if let Some(np) = &new_path {
                validate_path(np)?;
            }
            transact(state, &account, move |tx| {
                let mut group: Group = load(tx, IamKind::Group, &name)?.ok_or_else(|| no_such("group", &name))?;
                if let Some(np) = &new_path {
                    group.path = np.clone();
                }
                if let Some(nn) = &new_name {
                    if !nn.eq_ignore_ascii_case(&name) && tx.get(IamKind::Group, nn)?.is_some() {
                        return Err(already_exists("Group", nn));
                    }
                    // Members follow the group to its new name.
                    for mut u in load_all::<User>(tx, IamKind::User)? {
                        if u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)) {
                            u.groups.retain(|g| !g.eq_ignore_ascii_case(&group.name));
                            u.groups.push(nn.clone());
                            save(tx, IamKind::User, &u.name.clone(), &u)?;
                        }
                    }
                    tx.delete(IamKind::Group, &name)?;
                    group.name = nn.clone();
                }
                save(tx, IamKind::Group, &group.name.clone(), &group)
            })
            .await?;
            req.done(action)
        }
        "DeleteGroup" => {
            let name = p.required("GroupName")?.to_string();
            transact(state, &account, move |tx| {
                let group: Group = load(tx, IamKind::Group, &name)?.ok_or_else(|| no_such("group", &name))?;
                let users: Vec<User> = load_all(tx, IamKind::User)?;
                let has_members = users.iter().any(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name)));
                if has_members || !group.inline.is_empty() || !group.attached.is_empty() {
                    return Err(S3Error::msg(
                        ErrorCode::DeleteConflict,
                        "Cannot delete entity, must remove users and policies from group first.",
                    ));
                }
                tx.delete(IamKind::Group, &name)?;
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let group_name = p.required("GroupName")?.to_string();
            let user_name = p.required("UserName")?.to_string();
            let add = action == "AddUserToGroup";
            transact(state, &account, move |tx| {
                let group: Group =
                    load(tx, IamKind::Group, &group_name)?.ok_or_else(|| no_such("group", &group_name))?;
                let mut user: User = load(tx, IamKind::User, &user_name)?.ok_or_else(|| no_such("user", &user_name))?;
                let member = user.groups.iter().any(|g| g.eq_ignore_ascii_case(&group.name));
                match (add, member) {
                    (true, false) => user.groups.push(group.name.clone()),
                    (false, true) => user.groups.retain(|g| !g.eq_ignore_ascii_case(&group.name)),
                    (true, true) => return Ok(()),
                    (false, false) => {
                        return Err(S3Error::msg(
                            ErrorCode::NoSuchEntity,
                            format!("The user with name {} cannot be found in group {}.", user.name, group.name),
                        ))
                    }
                }
                save(tx, IamKind::User, &user.name.clone(), &user)
            })
            .await?;
            req.done(action)
        }
        "ListGroupsForUser" => {
            let name = p.required("UserName")?.to_string();
            let groups = transact(state, &account, move |tx| {
                let user: User = load(tx, IamKind::User, &name)?.ok_or_else(|| no_such("user", &name))?;
                let mut out: Vec<Group> = Vec::new();
                for g in &user.groups {
                    if let Some(group) = load::<Group>(tx, IamKind::Group, g)? {
                        out.push(group);
                    }
                }
                Ok(out)
            })
            .await?;
            let (page, truncated, marker) = paginate(groups, p)?;
            let mut x = req.xml(action);
            x.w().open("Groups");
            for g in &page {
                write_group(&mut x, "member", &account, g);
            }
            x.w().close();
            write_page_end(&mut x, truncated, marker);
            Ok(x.finish(req.request_id))
        }
        _ => Err(S3Error::new(ErrorCode::InvalidAction)),
    }
}
