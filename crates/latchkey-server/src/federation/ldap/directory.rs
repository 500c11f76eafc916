//! The conversation with the directory: find the user's DN, bind as the
//! user with the given password, read the mapped attributes, find the
//! user's groups. One connection per sign-in, bounded by the timeout.

use super::filter::{dn_value, filter_value, substitute};
use super::settings::{LdapSettings, UserLookup};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, ResultEntry, Scope, SearchEntry};

/// Who the directory says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapIdentity {
    pub dn: String,
    /// Session tags from the mapped attributes: (tag, value).
    pub tags: Vec<(String, String)>,
    pub group_dns: Vec<String>,
    /// Each group's `cn` (or its DN's first value when it has none).
    pub group_names: Vec<String>,
}

#[derive(Debug)]
pub enum DirectoryError {
    /// Wrong password, no such user, or a username that is ambiguous: the
    /// caller learns only that the credentials are invalid.
    InvalidCredentials,
    /// The directory could not be asked (network, TLS, timeout, a refused
    /// service account, a bad base DN). The text is for the log only.
    Unavailable(String),
}

impl From<LdapError> for DirectoryError {
    fn from(e: LdapError) -> Self {
        DirectoryError::Unavailable(e.to_string())
    }
}

/// LDAP result codes (RFC 4511 appendix A).
const RC_SUCCESS: u32 = 0;
const RC_INVALID_CREDENTIALS: u32 = 49;
const RC_BUSY: u32 = 51;
const RC_UNAVAILABLE: u32 = 52;
const RC_NO_SUCH_OBJECT: u32 = 32;
const RC_INSUFFICIENT_ACCESS: u32 = 50;

/// Authenticates `username` with `password`.
pub async fn authenticate(
    settings: &LdapSettings,
    username: &str,
    password: &str,
) -> Result<LdapIdentity, DirectoryError> {
    if password.is_empty() {
        // Never sent: to the directory this is an anonymous bind, not a failed one.
        return Err(DirectoryError::InvalidCredentials);
    }
    match tokio::time::timeout(settings.timeout, conversation(settings, username, password)).await {
        Ok(result) => result,
        Err(_) => Err(DirectoryError::Unavailable(format!("no answer within {:?}", settings.timeout))),
    }
}

async fn connect(settings: &LdapSettings) -> Result<Ldap, DirectoryError> {
    let mut conn = LdapConnSettings::new().set_conn_timeout(settings.timeout).set_starttls(settings.starttls);
    if let Some(tls) = &settings.tls {
        conn = conn.set_config(tls.clone());
    }
    let (driver, ldap) = LdapConnAsync::with_settings(conn, &settings.url).await?;
    ldap3::drive!(driver);
    Ok(ldap)
}

async fn conversation(settings: &LdapSettings, username: &str, password: &str) -> Result<LdapIdentity, DirectoryError> {
    let mut ldap = connect(settings).await?;
    let result = steps(&mut ldap, settings, username, password).await;
    let _ = ldap.unbind().await;
    result
}

fn attribute_names(settings: &LdapSettings) -> Vec<String> {
    let names: Vec<String> = settings.tag_attributes.iter().map(|t| t.attribute.clone()).collect();
    // "1.1": no attributes at all (RFC 4511 section 4.5.1.8).
    if names.is_empty() {
        vec!["1.1".to_string()]
    } else {
        names
    }
}

async fn bind_service_account(ldap: &mut Ldap, settings: &LdapSettings) -> Result<(), DirectoryError> {
    if let Some((dn, password)) = &settings.lookup {
        let r = ldap.simple_bind(dn, password.expose()).await?;
        if r.rc != RC_SUCCESS {
            return Err(DirectoryError::Unavailable(format!("the lookup bind DN was refused (rc={})", r.rc)));
        }
    }
    Ok(())
}

async fn steps(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    username: &str,
    password: &str,
) -> Result<LdapIdentity, DirectoryError> {
    let attrs = attribute_names(settings);
    // 1. The DN (and, with a search, the attributes, read by the service account).
    let (dn, mut entry) = match &settings.user {
        UserLookup::Search { base, filter } => {
            bind_service_account(ldap, settings).await?;
            let filter = substitute(filter, &filter_value(username), "");
            let found = search(ldap, base, Scope::Subtree, &filter, &attrs).await?;
            match found.len() {
                1 => {
                    let entry = found.into_iter().next().expect("one entry");
                    (entry.dn.clone(), Some(entry))
                }
                0 => return Err(DirectoryError::InvalidCredentials),
                n => {
                    tracing::warn!(matches = n, "LDAP user search matched more than one entry; sign-in refused");
                    return Err(DirectoryError::InvalidCredentials);
                }
            }
        }
        UserLookup::Template(t) => (substitute(t, &dn_value(username), ""), None),
    };
    // 2. The password, checked by the directory itself.
    let bound = ldap.simple_bind(&dn, password).await?;
    match bound.rc {
        RC_SUCCESS => {}
        RC_BUSY | RC_UNAVAILABLE => {
            return Err(DirectoryError::Unavailable(format!("bind answered rc={}", bound.rc)));
        }
        rc => {
            if rc != RC_INVALID_CREDENTIALS {
                tracing::info!(rc, "LDAP refused the user's bind");
            }
            return Err(DirectoryError::InvalidCredentials);
        }
    }
    // With a template, the entry is read as the user it belongs to.
    let mut dn = dn;
    if entry.is_none() {
        match search(ldap, &dn, Scope::Base, "(objectClass=*)", &attrs).await {
            Ok(found) => {
                if let Some(e) = found.into_iter().next() {
                    dn = e.dn.clone();
                    entry = Some(e);
                }
            }
            // The user may not be allowed to read its own entry: no attributes then.
            Err(SearchFailure::Code(RC_NO_SUCH_OBJECT | RC_INSUFFICIENT_ACCESS)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let tags = entry.as_ref().map(|e| mapped_tags(settings, e)).unwrap_or_default();
    // 3. The groups, searched by the service account when there is one.
    let (mut group_dns, mut group_names) = (Vec::new(), Vec::new());
    if let Some(groups) = &settings.groups {
        bind_service_account(ldap, settings).await?;
        let filter = substitute(&groups.filter, &filter_value(username), &filter_value(&dn));
        for g in search(ldap, &groups.base, Scope::Subtree, &filter, &["cn".to_string()]).await? {
            let name = g.attrs.get("cn").and_then(|v| v.first().cloned()).unwrap_or_else(|| first_rdn_value(&g.dn));
            group_dns.push(g.dn);
            group_names.push(name);
        }
    }
    Ok(LdapIdentity { dn, tags, group_dns, group_names })
}

enum SearchFailure {
    /// The search ended with this result code.
    Code(u32),
    Ldap(LdapError),
}

impl From<SearchFailure> for DirectoryError {
    fn from(f: SearchFailure) -> Self {
        match f {
            SearchFailure::Code(rc) => DirectoryError::Unavailable(format!("search answered rc={rc}")),
            SearchFailure::Ldap(e) => e.into(),
        }
    }
}

/// A search that must complete: a partial answer (size limit, referral)
/// is a failure, so a truncated group list can never widen access.
async fn search(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[String],
) -> Result<Vec<SearchEntry>, SearchFailure> {
    let result = ldap.search(base, scope, filter, attrs.to_vec()).await.map_err(SearchFailure::Ldap)?;
    if result.1.rc != RC_SUCCESS {
        return Err(SearchFailure::Code(result.1.rc));
    }
    result.0.into_iter().map(construct).collect()
}

fn construct(e: ResultEntry) -> Result<SearchEntry, SearchFailure> {
    // SearchEntry::construct panics on a malformed entry; a broken directory
    // must fail this sign-in, not the worker.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e)))
        .map_err(|_| SearchFailure::Code(RC_UNAVAILABLE))
}

/// The configured attributes present on the entry, first value each;
/// names match ignoring case, as LDAP's do.
fn mapped_tags(settings: &LdapSettings, entry: &SearchEntry) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    for t in &settings.tag_attributes {
        let value =
            entry.attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(&t.attribute)).and_then(|(_, v)| v.first());
        let Some(value) = value else { continue };
        // AWS's limit for a tag value; longer values are left out rather than cut.
        if value.chars().count() > 256 {
            tracing::warn!(attribute = %t.attribute, "LDAP attribute longer than a session tag value allows; not tagged");
            continue;
        }
        tags.push((t.tag.clone(), value.clone()));
    }
    tags
}

/// `cn=storage,ou=groups,...` → `storage` (escapes left as they are).
fn first_rdn_value(dn: &str) -> String {
    let rdn = dn.split(',').next().unwrap_or(dn);
    rdn.split_once('=').map(|(_, v)| v).unwrap_or(rdn).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_fall_back_to_the_first_rdn() {
        assert_eq!(first_rdn_value("cn=storage,ou=groups,dc=example,dc=com"), "storage");
        assert_eq!(first_rdn_value("ou=ops"), "ops");
        assert_eq!(first_rdn_value("weird"), "weird");
    }
}
