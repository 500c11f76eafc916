//! AssumeRoleWithLDAPIdentity, MinIO's STS extension: a username and
//! password checked by an LDAP directory are exchanged for a role session.
//!
//! The directory vouches for the user; the role's trust policy decides, as
//! for every STS call, with the caller as the federated principal `ldap`
//! (`"Principal": {"Federated": "ldap"}`) asking for
//! `sts:AssumeRoleWithLDAPIdentity`. Condition keys: `ldap:user` and
//! `ldap:username` (the username as given), `ldap:userdn`, `ldap:groups`
//! (the groups' DNs) and `ldap:groupnames` (their CNs); the session keeps
//! them, so role policies can say `${ldap:user}`.
//!
//! Errors: a wrong password, an unknown user and an ambiguous username all
//! answer AccessDenied (403) "Invalid LDAP credentials." so that nobody can
//! learn which users exist; a directory that cannot be asked answers
//! IDPCommunicationError (400).

mod directory;
mod filter;
mod settings;

pub use settings::{LdapOptions, LdapSettings, Secret};

use crate::authz::Caller;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::iam::query::QueryXml;
use crate::response::HttpResponse;
use crate::state::AppState;
use crate::sts::{self, Cap, RoleSession, UnsignedStsRequest};
use directory::DirectoryError;
use std::sync::Arc;

/// What trust policies name under `"Principal": {"Federated": ...}`.
pub const LDAP_PROVIDER: &str = "ldap";
const ACTION: &str = "sts:AssumeRoleWithLDAPIdentity";
const MAX_USERNAME_CHARS: usize = 256;
const MAX_PASSWORD_BYTES: usize = 1024;

fn invalid_credentials() -> S3Error {
    S3Error::msg(ErrorCode::AccessDenied, "Invalid LDAP credentials.")
}

pub async fn assume_role_with_ldap_identity(
    state: &Arc<AppState>,
    req: &UnsignedStsRequest<'_>,
) -> S3Result<HttpResponse> {
    let Some(settings) = state.config.ldap.as_deref() else {
        return Err(S3Error::msg(
            ErrorCode::InvalidAction,
            "AssumeRoleWithLDAPIdentity is not enabled: this server has no LDAP directory configured.",
        ));
    };
    let p = req.params;
    let username = p.required("LDAPUsername")?;
    let password = p.required("LDAPPassword")?;
    let n = username.chars().count();
    if n == 0 || n > MAX_USERNAME_CHARS {
        return Err(sts::field_error(
            "...",
            "LDAPUsername",
            &format!("Member must have length between 1 and {MAX_USERNAME_CHARS}"),
        ));
    }
    // Refused before any bind: an empty password is an anonymous bind, which
    // a directory answers with success.
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(sts::field_error(
            "...",
            "LDAPPassword",
            &format!("Member must have length between 1 and {MAX_PASSWORD_BYTES}"),
        ));
    }
    let role_arn = match p.get("RoleArn").or(settings.default_role_arn.as_deref()) {
        Some(a) => a.to_string(),
        None => return Err(sts::validation("RoleArn is required: no default role for LDAP sign-in is configured.")),
    };
    sts::parse_role_arn(&role_arn)?;
    let session_name = match p.get("RoleSessionName") {
        Some(s) => {
            sts::check_name(s, "roleSessionName", 2, 64)?;
            s.to_string()
        }
        None => session_name_for(username),
    };
    let (policy, policy_arns) = sts::session_policy_params(p)?;

    // The directory first: before the caller has proved who it is, nothing
    // (such as whether a role exists) is revealed.
    let identity = match directory::authenticate(settings, username, password).await {
        Ok(id) => id,
        Err(DirectoryError::InvalidCredentials) => {
            tracing::info!(user = %username, "LDAP sign-in refused: invalid credentials");
            return Err(invalid_credentials());
        }
        Err(DirectoryError::Unavailable(why)) => {
            tracing::warn!(user = %username, error = %why, "LDAP directory unavailable");
            return Err(S3Error::msg(ErrorCode::IDPCommunicationError, "The LDAP directory could not be reached."));
        }
    };

    let not_authorized =
        || S3Error::msg(ErrorCode::AccessDenied, format!("Not authorized to perform {ACTION} on resource: {role_arn}"));
    crate::audit::note_federated_user(
        "LDAPUser",
        LDAP_PROVIDER,
        username,
        format!("ldap:{username}"),
        role_arn.split(':').nth(4).unwrap_or_default(),
    );
    let (role_account, role) = sts::load_role(state, &role_arn).await?.ok_or_else(not_authorized)?;

    let federation_keys = federation_keys(username, &identity);
    let tags = identity.tags.clone();
    let caller = Caller::external(state, latchkey_policy::Principal::web_identity(LDAP_PROVIDER), &req.facts);
    sts::check_trust(
        state,
        &caller,
        sts::TrustRequest {
            action: ACTION,
            role: &role,
            role_arn: &role_arn,
            role_account: &role_account,
            session_name: &session_name,
            keys: federation_keys.clone(),
            tags: &tags,
            transitive_tag_keys: &[],
            source_identity: None,
            sets_source_identity: false,
        },
    )?;

    let secs = sts::duration(p, 900, role.max_session_duration as i64, 3600, Cap::Role)?;
    let issued = sts::issue_role_session(
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
            transitive_tag_keys: vec![],
            source_identity: None,
            mfa_authenticated_at: None,
            chained: false,
            now: req.now.unix_timestamp(),
            federation_keys,
        },
    )?;
    tracing::info!(role = %role_arn, session = %session_name, user_dn = %identity.dn, "role assumed with LDAP identity");
    let mut x = QueryXml::new("AssumeRoleWithLDAPIdentity", sts::STS_NS);
    issued.write_xml(&mut x);
    Ok(x.finish(req.request_id))
}

/// The `ldap:*` condition keys the directory vouched for; multi-valued keys
/// with no values are absent, as AWS's are.
fn federation_keys(username: &str, id: &directory::LdapIdentity) -> Vec<(String, Vec<String>)> {
    let mut keys = vec![
        ("ldap:user".to_string(), vec![username.to_string()]),
        ("ldap:username".to_string(), vec![username.to_string()]),
        ("ldap:userdn".to_string(), vec![id.dn.clone()]),
    ];
    if !id.group_dns.is_empty() {
        keys.push(("ldap:groups".to_string(), id.group_dns.clone()));
        keys.push(("ldap:groupnames".to_string(), id.group_names.clone()));
    }
    keys
}

/// RoleSessionName when the call gives none: the username in the
/// characters a session name allows (`[\w+=,.@-]`, 2 to 64).
fn session_name_for(username: &str) -> String {
    let name: String = username
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .take(64)
        .collect();
    if name.len() < 2 {
        format!("ldap-{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_session_names_are_valid_session_names() {
        for (user, want) in [
            ("alice", "alice"),
            ("a", "ldap-a"),
            ("Jane Doe/ops", "Jane-Doe-ops"),
            ("josé", "jos-"),
            ("user@example.com", "user@example.com"),
        ] {
            let got = session_name_for(user);
            assert_eq!(got, want);
            assert!(sts::check_name(&got, "roleSessionName", 2, 64).is_ok(), "{got}");
        }
        let long = session_name_for(&"x".repeat(300));
        assert_eq!(long.len(), 64);
    }

    #[test]
    fn group_keys_are_absent_without_groups() {
        let id = directory::LdapIdentity {
            dn: "uid=alice,ou=people,dc=example,dc=com".into(),
            tags: vec![],
            group_dns: vec![],
            group_names: vec![],
        };
        let keys = federation_keys("alice", &id);
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["ldap:user", "ldap:username", "ldap:userdn"]);
        let with_groups =
            directory::LdapIdentity { group_dns: vec!["cn=s,ou=groups".into()], group_names: vec!["s".into()], ..id };
        assert_eq!(federation_keys("alice", &with_groups).len(), 5);
    }
}
