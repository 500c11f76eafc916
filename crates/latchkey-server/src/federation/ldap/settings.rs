//! The LDAP directory behind AssumeRoleWithLDAPIdentity: options as flags,
//! `LATCHKEY_LDAP_*` variables and the config file's `[ldap]` table give
//! them, checked once at startup into [`LdapSettings`].

use anyhow::{bail, Context};
use clap::builder::BoolishValueParser;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A password from the configuration: never printed, wiped on drop.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The LDAP options before they are checked. Every field is a flag
/// (`--ldap-url`), an environment variable (`LATCHKEY_LDAP_URL`) and a key
/// of the config file's `[ldap]` table (`url`).
#[derive(clap::Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LdapOptions {
    /// LDAP server for AssumeRoleWithLDAPIdentity: ldaps://HOST[:PORT] or ldap://HOST[:PORT].
    #[arg(long = "ldap-url", env = "LATCHKEY_LDAP_URL")]
    pub url: Option<String>,
    /// Upgrade ldap:// connections with StartTLS [default: false].
    #[arg(long = "ldap-starttls", env = "LATCHKEY_LDAP_STARTTLS", value_parser = BoolishValueParser::new())]
    pub starttls: Option<bool>,
    /// Allow ldap:// without StartTLS, which sends passwords in the clear [default: false].
    #[arg(
        long = "ldap-insecure-plaintext",
        env = "LATCHKEY_LDAP_INSECURE_PLAINTEXT",
        value_parser = BoolishValueParser::new()
    )]
    pub insecure_plaintext: Option<bool>,
    /// PEM file of the CA certificates that sign the directory's certificate [default: the system's].
    #[arg(long = "ldap-ca-file", env = "LATCHKEY_LDAP_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Service account that looks users and groups up [default: anonymous].
    #[arg(long = "ldap-lookup-bind-dn", env = "LATCHKEY_LDAP_LOOKUP_BIND_DN")]
    pub lookup_bind_dn: Option<String>,
    /// The service account's password.
    #[arg(long = "ldap-lookup-bind-password", env = "LATCHKEY_LDAP_LOOKUP_BIND_PASSWORD", hide_env_values = true)]
    pub lookup_bind_password: Option<Secret>,
    /// Where users are searched (subtree), e.g. ou=people,dc=example,dc=com.
    #[arg(long = "ldap-user-search-base", env = "LATCHKEY_LDAP_USER_SEARCH_BASE")]
    pub user_search_base: Option<String>,
    /// Filter that finds one user; %s is the escaped username, e.g. (uid=%s).
    #[arg(long = "ldap-user-search-filter", env = "LATCHKEY_LDAP_USER_SEARCH_FILTER")]
    pub user_search_filter: Option<String>,
    /// Instead of a search: the user's DN, %s being the escaped username, e.g. uid=%s,ou=people,dc=example,dc=com.
    #[arg(long = "ldap-user-dn-template", env = "LATCHKEY_LDAP_USER_DN_TEMPLATE")]
    pub user_dn_template: Option<String>,
    /// Where groups are searched (subtree).
    #[arg(long = "ldap-group-search-base", env = "LATCHKEY_LDAP_GROUP_SEARCH_BASE")]
    pub group_search_base: Option<String>,
    /// Filter for the user's groups; %d is the user's DN, %s the username, e.g. (member=%d).
    #[arg(long = "ldap-group-search-filter", env = "LATCHKEY_LDAP_GROUP_SEARCH_FILTER")]
    pub group_search_filter: Option<String>,
    /// User attributes that become session tags: ATTRIBUTE=TAG,... e.g. mail=email,departmentNumber=dept.
    #[arg(long = "ldap-tag-attributes", env = "LATCHKEY_LDAP_TAG_ATTRIBUTES")]
    pub tag_attributes: Option<String>,
    /// Role assumed when a call names no RoleArn.
    #[arg(long = "ldap-default-role-arn", env = "LATCHKEY_LDAP_DEFAULT_ROLE_ARN")]
    pub default_role_arn: Option<String>,
    /// Time allowed for the whole exchange with the directory, in seconds [default: 10].
    #[arg(long = "ldap-timeout-seconds", env = "LATCHKEY_LDAP_TIMEOUT_SECONDS")]
    pub timeout_seconds: Option<u64>,
}

/// How a username becomes the DN that binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    /// Subtree search under `base` with `filter` (`%s`: the username).
    Search { base: String, filter: String },
    /// The DN is the template with `%s` replaced by the username.
    Template(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSearch {
    pub base: String,
    /// `%d`: the user's DN, `%s`: the username.
    pub filter: String,
}

/// An attribute of the user's entry that becomes a session tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagAttribute {
    pub attribute: String,
    pub tag: String,
}

/// The checked LDAP configuration.
pub struct LdapSettings {
    pub url: String,
    pub starttls: bool,
    /// Present for ldaps:// and StartTLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The service account: DN and password.
    pub lookup: Option<(String, Secret)>,
    pub user: UserLookup,
    pub groups: Option<GroupSearch>,
    pub tag_attributes: Vec<TagAttribute>,
    pub default_role_arn: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("tls", &self.tls.is_some())
            .field("lookup_bind_dn", &self.lookup.as_ref().map(|(dn, _)| dn))
            .field("user", &self.user)
            .field("groups", &self.groups)
            .field("tag_attributes", &self.tag_attributes)
            .field("default_role_arn", &self.default_role_arn)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

impl LdapOptions {
    /// Fills what `self` (flags, environment) leaves unset from `file`.
    pub fn or(self, file: LdapOptions) -> LdapOptions {
        LdapOptions {
            url: self.url.or(file.url),
            starttls: self.starttls.or(file.starttls),
            insecure_plaintext: self.insecure_plaintext.or(file.insecure_plaintext),
            ca_file: self.ca_file.or(file.ca_file),
            lookup_bind_dn: self.lookup_bind_dn.or(file.lookup_bind_dn),
            lookup_bind_password: self.lookup_bind_password.or(file.lookup_bind_password),
            user_search_base: self.user_search_base.or(file.user_search_base),
            user_search_filter: self.user_search_filter.or(file.user_search_filter),
            user_dn_template: self.user_dn_template.or(file.user_dn_template),
            group_search_base: self.group_search_base.or(file.group_search_base),
            group_search_filter: self.group_search_filter.or(file.group_search_filter),
            tag_attributes: self.tag_attributes.or(file.tag_attributes),
            default_role_arn: self.default_role_arn.or(file.default_role_arn),
            timeout_seconds: self.timeout_seconds.or(file.timeout_seconds),
        }
    }

    /// None when no LDAP URL is set (LDAP sign-in is off); an error for any
    /// inconsistent setting, so a mistake stops the server at startup.
    pub fn resolve(self) -> anyhow::Result<Option<LdapSettings>> {
        let Some(url) = self.url.filter(|u| !u.trim().is_empty()) else {
            if self.user_search_base.is_some() || self.user_dn_template.is_some() || self.lookup_bind_dn.is_some() {
                bail!("LDAP settings are given but no LDAP URL (LATCHKEY_LDAP_URL / [ldap] url)");
            }
            return Ok(None);
        };
        let url = url.trim().to_string();
        let secure_scheme = check_url(&url)?;
        let starttls = self.starttls.unwrap_or(false);
        if secure_scheme && starttls {
            bail!("LDAP: StartTLS is for ldap:// URLs; ldaps:// is already TLS");
        }
        let tls_wanted = secure_scheme || starttls;
        if !tls_wanted && !self.insecure_plaintext.unwrap_or(false) {
            bail!(
                "LDAP: {url} without StartTLS would send passwords in the clear; use ldaps://, StartTLS \
                 (LATCHKEY_LDAP_STARTTLS=true), or allow it explicitly (LATCHKEY_LDAP_INSECURE_PLAINTEXT=true)"
            );
        }
        if !tls_wanted && self.ca_file.is_some() {
            bail!("LDAP: a CA file is only used with ldaps:// or StartTLS");
        }
        let tls = if tls_wanted { Some(tls_config(self.ca_file.as_deref())?) } else { None };
        let lookup = match (self.lookup_bind_dn, self.lookup_bind_password) {
            (None, None) => None,
            (Some(dn), Some(pw)) => {
                // An empty simple bind is an anonymous bind: it would "succeed" with no rights.
                if dn.trim().is_empty() || pw.expose().is_empty() {
                    bail!("LDAP: the lookup bind DN and password must not be empty");
                }
                Some((dn, pw))
            }
            _ => bail!("LDAP: the lookup bind DN and password go together"),
        };
        let user = match (self.user_dn_template, self.user_search_base, self.user_search_filter) {
            (Some(t), None, None) => {
                if !t.contains("%s") {
                    bail!("LDAP: the user DN template must contain %s (the username)");
                }
                UserLookup::Template(t)
            }
            (None, Some(base), Some(filter)) => {
                if !filter.contains("%s") {
                    bail!("LDAP: the user search filter must contain %s (the username)");
                }
                check_filter(&filter, "user search filter")?;
                UserLookup::Search { base, filter }
            }
            (Some(_), _, _) => bail!("LDAP: set either a user DN template or a user search, not both"),
            _ => bail!("LDAP: set a user DN template, or a user search base and filter"),
        };
        let groups = match (self.group_search_base, self.group_search_filter) {
            (None, None) => None,
            (Some(base), Some(filter)) => {
                if !filter.contains("%d") && !filter.contains("%s") {
                    bail!("LDAP: the group search filter must contain %d (the user's DN) or %s (the username)");
                }
                check_filter(&filter, "group search filter")?;
                Some(GroupSearch { base, filter })
            }
            _ => bail!("LDAP: the group search base and filter go together"),
        };
        let tag_attributes = match &self.tag_attributes {
            Some(s) => parse_tag_attributes(s)?,
            None => vec![],
        };
        if let Some(arn) = &self.default_role_arn {
            crate::sts::parse_role_arn(arn).map_err(|e| anyhow::anyhow!("LDAP default role ARN: {}", e.message))?;
        }
        let secs = self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        if !(1..=300).contains(&secs) {
            bail!("LDAP: the timeout must be 1 to 300 seconds");
        }
        Ok(Some(LdapSettings {
            url,
            starttls,
            tls,
            lookup,
            user,
            groups,
            tag_attributes,
            default_role_arn: self.default_role_arn,
            timeout: Duration::from_secs(secs),
        }))
    }
}

/// Whether the URL is ldaps://; an error unless it is a plain server URL.
fn check_url(text: &str) -> anyhow::Result<bool> {
    let url = url::Url::parse(text).with_context(|| format!("LDAP URL {text:?}"))?;
    let secure = match url.scheme() {
        "ldaps" => true,
        "ldap" => false,
        other => bail!("LDAP URL scheme must be ldap or ldaps, not {other:?}"),
    };
    if matches!(url.host_str(), None | Some("")) {
        bail!("LDAP URL {text:?} names no host");
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        bail!("LDAP URL {text:?}: only ldap[s]://HOST[:PORT] is supported");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("LDAP URL must not carry credentials; use the lookup bind DN and password");
    }
    Ok(secure)
}

/// Fails at startup rather than on the first sign-in.
fn check_filter(filter: &str, what: &str) -> anyhow::Result<()> {
    let sample = super::filter::substitute(filter, "user", "uid\\3duser\\2cdc\\3dexample");
    ldap3::parse_filter(&sample).map_err(|_| anyhow::anyhow!("LDAP: the {what} {filter:?} is not a valid filter"))?;
    Ok(())
}

fn tls_config(ca_file: Option<&std::path::Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading LDAP CA file {}", path.display()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.with_context(|| format!("LDAP CA file {}", path.display()))?;
                roots.add(cert).with_context(|| format!("LDAP CA file {}", path.display()))?;
            }
            if roots.is_empty() {
                bail!("LDAP CA file {} holds no certificate", path.display());
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                bail!("no system CA certificates for LDAP over TLS; set the LDAP CA file");
            }
        }
    }
    // The provider is named, not taken from the process default, which is
    // ambiguous when more than one is compiled in.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `mail=email, departmentNumber=dept`: attribute names (or OIDs) and the
/// session tag each becomes.
pub fn parse_tag_attributes(text: &str) -> anyhow::Result<Vec<TagAttribute>> {
    let mut out: Vec<TagAttribute> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((attribute, tag)) = item.split_once('=') else {
            bail!("LDAP tag attributes: {item:?} is not ATTRIBUTE=TAG");
        };
        let (attribute, tag) = (attribute.trim(), tag.trim());
        if !valid_attribute_name(attribute) {
            bail!("LDAP tag attributes: {attribute:?} is not an attribute name");
        }
        if !valid_tag_key(tag) {
            bail!("LDAP tag attributes: {tag:?} is not a session tag key (1 to 128 of letters, digits, spaces, _.:/+-@; not aws:)");
        }
        if out.iter().any(|t| t.tag.eq_ignore_ascii_case(tag)) {
            bail!("LDAP tag attributes: the tag {tag:?} is given twice (tag keys ignore case)");
        }
        out.push(TagAttribute { attribute: attribute.to_string(), tag: tag.to_string() });
    }
    if out.len() > 50 {
        bail!("LDAP tag attributes: a session has at most 50 tags");
    }
    Ok(out)
}

/// RFC 4512 `descr` (a name) or `numericoid`, options excluded.
fn valid_attribute_name(s: &str) -> bool {
    let descr = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    descr || oid
}

/// AWS's tag key characters, less `=` and `,` which separate the list.
fn valid_tag_key(s: &str) -> bool {
    let len = s.chars().count();
    (1..=128).contains(&len)
        && !s.to_ascii_lowercase().starts_with("aws:")
        && s.chars().all(|c| c.is_alphanumeric() || c == ' ' || "_.:/+-@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LdapOptions {
        LdapOptions {
            url: Some("ldap://127.0.0.1:3890".into()),
            insecure_plaintext: Some(true),
            user_search_base: Some("ou=people,dc=example,dc=com".into()),
            user_search_filter: Some("(uid=%s)".into()),
            ..Default::default()
        }
    }

    #[test]
    fn no_url_means_ldap_is_off() {
        assert!(LdapOptions::default().resolve().unwrap().is_none());
        let stray = LdapOptions { user_dn_template: Some("uid=%s".into()), ..Default::default() };
        assert!(stray.resolve().is_err());
    }

    #[test]
    fn a_minimal_search_configuration_resolves() {
        let s = base().resolve().unwrap().unwrap();
        assert_eq!(
            s.user,
            UserLookup::Search { base: "ou=people,dc=example,dc=com".into(), filter: "(uid=%s)".into() }
        );
        assert!(s.tls.is_none() && s.lookup.is_none() && s.groups.is_none());
        assert_eq!(s.timeout, Duration::from_secs(10));
    }

    #[test]
    fn cleartext_needs_an_explicit_yes() {
        let o = LdapOptions { insecure_plaintext: None, ..base() };
        assert!(o.resolve().unwrap_err().to_string().contains("clear"));
    }

    #[test]
    fn inconsistent_settings_stop_the_server() {
        let cases: Vec<LdapOptions> = vec![
            LdapOptions { url: Some("http://x".into()), ..base() },
            LdapOptions { url: Some("ldap://".into()), ..base() },
            LdapOptions { url: Some("ldap://h/dc=x?uid".into()), ..base() },
            LdapOptions { url: Some("ldaps://h".into()), starttls: Some(true), ..base() },
            LdapOptions { user_search_filter: Some("(uid=alice)".into()), ..base() },
            LdapOptions { user_search_filter: Some("uid=%s)(".into()), ..base() },
            LdapOptions { user_dn_template: Some("uid=%s,dc=x".into()), ..base() },
            LdapOptions { user_search_base: None, ..base() },
            LdapOptions { lookup_bind_dn: Some("cn=svc".into()), ..base() },
            LdapOptions {
                lookup_bind_dn: Some("cn=svc".into()),
                lookup_bind_password: Some(Secret(String::new())),
                ..base()
            },
            LdapOptions { group_search_base: Some("ou=groups".into()), ..base() },
            LdapOptions {
                group_search_base: Some("ou=g".into()),
                group_search_filter: Some("(member=x)".into()),
                ..base()
            },
            LdapOptions { default_role_arn: Some("arn:aws:iam::1:role/x".into()), ..base() },
            LdapOptions { timeout_seconds: Some(0), ..base() },
            LdapOptions { ca_file: Some("/nonexistent".into()), ..base() },
        ];
        for (i, o) in cases.into_iter().enumerate() {
            assert!(o.resolve().is_err(), "case {i} should be refused");
        }
    }

    #[test]
    fn templates_and_group_searches_resolve() {
        let o = LdapOptions {
            user_search_base: None,
            user_search_filter: None,
            user_dn_template: Some("uid=%s,ou=people,dc=example,dc=com".into()),
            group_search_base: Some("ou=groups,dc=example,dc=com".into()),
            group_search_filter: Some("(&(objectClass=groupOfNames)(member=%d))".into()),
            default_role_arn: Some("arn:aws:iam::123456789012:role/ldap-users".into()),
            ..base()
        };
        let s = o.resolve().unwrap().unwrap();
        assert_eq!(s.user, UserLookup::Template("uid=%s,ou=people,dc=example,dc=com".into()));
        assert_eq!(s.groups.unwrap().filter, "(&(objectClass=groupOfNames)(member=%d))");
    }

    #[test]
    fn tag_attribute_lists_parse() {
        let t = parse_tag_attributes(" mail=email, departmentNumber = dept ,2.5.4.3=cn,").unwrap();
        let pairs: Vec<(&str, &str)> = t.iter().map(|t| (t.attribute.as_str(), t.tag.as_str())).collect();
        assert_eq!(pairs, [("mail", "email"), ("departmentNumber", "dept"), ("2.5.4.3", "cn")]);
        assert!(parse_tag_attributes("").unwrap().is_empty());
        for bad in ["mail", "mail=", "=email", "ma il=email", "mail=aws:email", "mail=a,cn=A", "1.=x", "mail=e=x"] {
            assert!(parse_tag_attributes(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..51).map(|i| format!("a{i}=t{i}")).collect();
        assert!(parse_tag_attributes(&many.join(",")).is_err());
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let o = LdapOptions {
            lookup_bind_dn: Some("cn=svc,dc=example,dc=com".into()),
            lookup_bind_password: Some(Secret("hunter2-very-secret".into())),
            ..base()
        };
        assert!(!format!("{o:?}").contains("hunter2"));
        let s = o.resolve().unwrap().unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && shown.contains("cn=svc"));
    }

    #[test]
    fn flags_beat_the_file() {
        let flags = LdapOptions { url: Some("ldaps://a".into()), ..Default::default() };
        let file = LdapOptions { url: Some("ldaps://b".into()), timeout_seconds: Some(5), ..Default::default() };
        let m = flags.or(file);
        assert_eq!((m.url.as_deref(), m.timeout_seconds), (Some("ldaps://a"), Some(5)));
    }
}
