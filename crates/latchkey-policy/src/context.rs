//! The request being decided: who asks, for what, on what, and the condition
//! keys the request carries.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::pattern::Resolve;

/// Who is asking, already authenticated by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::111122223333:user/path/alice`, `arn:aws:iam::111122223333:root`,
    /// `arn:aws:sts::111122223333:assumed-role/ROLE/SESSION`,
    /// `arn:aws:sts::111122223333:federated-user/NAME`; empty for anonymous.
    pub arn: String,
    /// The principal's 12-digit account; empty for anonymous and services.
    pub account: String,
    pub kind: PrincipalKind,
    /// `aws:userid`: `AIDA...` for users, `AROA...:session` for role sessions,
    /// `ACCOUNT:name` for federated users, the account id for root, `anonymous`.
    pub user_id: String,
    /// `aws:username`: IAM users only.
    pub username: Option<String>,
    /// The S3 canonical user id of the principal's account, for `CanonicalUser`
    /// principals in bucket policies.
    pub canonical_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root user.
    Root,
    User,
    /// A role session; `role_arn` is the role's ARN (`arn:aws:iam::A:role/path/R`).
    AssumedRole {
        role_arn: String,
    },
    /// A `GetFederationToken` session; `user_arn` is the IAM user (or root)
    /// whose long-term keys federated.
    FederatedUser {
        user_arn: String,
    },
    /// Unauthenticated.
    Anonymous,
    /// An AWS service principal (`s3.amazonaws.com`), matched by `Service`.
    Service {
        name: String,
    },
    /// A web-identity or SAML identity asking to assume a role, matched by
    /// `Federated` (`accounts.google.com`, `arn:aws:iam::A:saml-provider/P`).
    WebIdentity {
        provider: String,
    },
}

impl Principal {
    /// An IAM user; `path` is `/` or `/division/`.
    pub fn user(account: &str, path: &str, name: &str, user_id: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account}:user{path}{name}"),
            account: account.to_owned(),
            kind: PrincipalKind::User,
            user_id: user_id.to_owned(),
            username: Some(name.to_owned()),
            canonical_id: None,
        }
    }

    pub fn root(account: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_owned(),
            kind: PrincipalKind::Root,
            user_id: account.to_owned(),
            username: None,
            canonical_id: None,
        }
    }

    /// A role session; `role_path` is `/` or `/path/`; `role_id` is the role's `AROA...` id.
    pub fn assumed_role(account: &str, role_path: &str, role: &str, session: &str, role_id: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            account: account.to_owned(),
            kind: PrincipalKind::AssumedRole { role_arn: format!("arn:aws:iam::{account}:role{role_path}{role}") },
            user_id: format!("{role_id}:{session}"),
            username: None,
            canonical_id: None,
        }
    }

    /// A federated user session named `name`, federated by `user_arn`.
    pub fn federated_user(account: &str, name: &str, user_arn: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:sts::{account}:federated-user/{name}"),
            account: account.to_owned(),
            kind: PrincipalKind::FederatedUser { user_arn: user_arn.to_owned() },
            user_id: format!("{account}:{name}"),
            username: None,
            canonical_id: None,
        }
    }

    /// An identity from an OIDC or SAML provider asking to assume a role;
    /// `provider` is what trust policies name under `Federated`
    /// (`issuer.example.com`, `arn:aws:iam::A:saml-provider/P`).
    pub fn web_identity(provider: &str) -> Principal {
        Principal {
            arn: String::new(),
            account: String::new(),
            kind: PrincipalKind::WebIdentity { provider: provider.to_owned() },
            user_id: provider.to_owned(),
            username: None,
            canonical_id: None,
        }
    }

    pub fn anonymous() -> Principal {
        Principal {
            arn: String::new(),
            account: String::new(),
            kind: PrincipalKind::Anonymous,
            user_id: "anonymous".to_owned(),
            username: None,
            canonical_id: None,
        }
    }

    /// `aws:PrincipalArn`: for a role session the role's ARN, otherwise the
    /// principal's own (IAM User Guide, "AWS global condition context keys").
    pub fn principal_arn(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::AssumedRole { role_arn } => Some(role_arn),
            PrincipalKind::Anonymous | PrincipalKind::Service { .. } | PrincipalKind::WebIdentity { .. } => None,
            _ => Some(&self.arn),
        }
    }

    /// `aws:PrincipalType`.
    pub fn principal_type(&self) -> &'static str {
        match self.kind {
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::AssumedRole { .. } | PrincipalKind::WebIdentity { .. } => "AssumedRole",
            PrincipalKind::FederatedUser { .. } => "FederatedUser",
            PrincipalKind::Anonymous => "Anonymous",
            PrincipalKind::Service { .. } => "Service",
        }
    }

    pub(crate) fn is_anonymous(&self) -> bool {
        self.kind == PrincipalKind::Anonymous
    }
}

/// Condition keys of a request: names are case-insensitive (IAM User Guide,
/// "IAM JSON policy elements: Condition": "Condition key names are not
/// case-sensitive", including the tag-key part of `aws:PrincipalTag/KEY`,
/// `aws:RequestTag/KEY` and `aws:ResourceTag/KEY`), values are multi-valued
/// strings. Inserting a name that differs only by case adds to the same key
/// ("the key name matches both tags").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextKeys {
    keys: HashMap<String, Vec<String>, BuildHasherDefault<Fnv>>,
}

/// FNV-1a: key names are short and a request has few of them, so a keyed
/// hash buys nothing here and costs a tenth of a decision.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl ContextKeys {
    pub fn new() -> ContextKeys {
        ContextKeys::default()
    }

    /// Adds values to a key.
    pub fn insert<I, S>(&mut self, name: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys.entry(name.to_ascii_lowercase()).or_default().extend(values.into_iter().map(Into::into));
    }

    /// Sets a single-valued key, replacing what it had.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.keys.insert(name.to_ascii_lowercase(), vec![value.into()]);
    }

    pub fn remove(&mut self, name: &str) {
        self.keys.remove(&name.to_ascii_lowercase());
    }

    /// The values of a key, by any case of its name.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        match self.keys.get(name) {
            Some(v) => Some(v),
            None if name.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.keys.get(&name.to_ascii_lowercase()).map(Vec::as_slice)
            }
            None => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.keys.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Looks a lower-cased name up.
    pub(crate) fn get_lower(&self, lower: &str) -> Option<&[String]> {
        self.keys.get(lower).map(Vec::as_slice)
    }
}

impl<N: AsRef<str>, V: Into<String>> FromIterator<(N, V)> for ContextKeys {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        let mut keys = ContextKeys::new();
        for (name, value) in iter {
            keys.insert(name.as_ref(), [value]);
        }
        keys
    }
}

/// Everything the request provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub principal: Principal,
    /// `s3:GetObject`; matched case-insensitively.
    pub action: String,
    /// One resource ARN (`arn:aws:s3:::bucket/key`), or `*` for actions that
    /// name no resource (`s3:ListAllMyBuckets`).
    pub resource: String,
    /// The account that owns the resource; `None` means the principal's own.
    pub resource_account: Option<String>,
    /// `aws:CurrentTime`, `aws:SourceIp`, `s3:prefix`, `aws:PrincipalTag/x`, ...
    /// `aws:username`, `aws:userid`, `aws:PrincipalArn`,
    /// `aws:PrincipalAccount` and `aws:PrincipalType` need not be set: they are
    /// derived from `principal` when absent.
    pub keys: ContextKeys,
}

impl RequestContext {
    pub fn new(principal: Principal, action: impl Into<String>, resource: impl Into<String>) -> RequestContext {
        RequestContext {
            principal,
            action: action.into(),
            resource: resource.into(),
            resource_account: None,
            keys: ContextKeys::new(),
        }
    }

    /// Whether the resource belongs to another account than the principal's.
    pub fn is_cross_account(&self) -> bool {
        match &self.resource_account {
            Some(owner) => !self.principal.account.is_empty() && *owner != self.principal.account,
            None => false,
        }
    }

    /// The values of a lower-cased condition key: the request's, else those
    /// derived from the principal. `None` when absent or empty.
    pub(crate) fn values(&self, lower: &str) -> Option<KeyValues<'_>> {
        if let Some(v) = self.keys.get_lower(lower) {
            return if v.is_empty() { None } else { Some(KeyValues::Many(v)) };
        }
        self.derived(lower).map(KeyValues::One)
    }

    /// Keys every request has, from the principal (IAM User Guide, "IAM policy
    /// elements: Variables and tags", Principal key values).
    fn derived(&self, lower: &str) -> Option<&str> {
        let p = &self.principal;
        match lower {
            "aws:username" => p.username.as_deref(),
            "aws:userid" => Some(&p.user_id),
            "aws:principalarn" => p.principal_arn(),
            "aws:principalaccount" => (!p.account.is_empty()).then_some(p.account.as_str()),
            "aws:principaltype" => Some(p.principal_type()),
            _ => None,
        }
    }
}

/// A key's values as the request has them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyValues<'a> {
    Many(&'a [String]),
    One(&'a str),
}

impl<'a> KeyValues<'a> {
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a str> {
        let (many, one): (&'a [String], Option<&'a str>) = match self {
            KeyValues::Many(v) => (v, None),
            KeyValues::One(s) => (&[], Some(s)),
        };
        many.iter().map(String::as_str).chain(one)
    }

    /// The value of a single-valued key: variables can only use those
    /// ("You can't use a multivalued condition key as a variable").
    pub(crate) fn single(self) -> Option<&'a str> {
        match self {
            KeyValues::One(s) => Some(s),
            KeyValues::Many([s]) => Some(s),
            KeyValues::Many(_) => None,
        }
    }
}

impl Resolve for RequestContext {
    fn resolve(&self, key: &str) -> Option<&str> {
        self.values(key)?.single()
    }
}
