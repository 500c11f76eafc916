//! The `Principal` and `NotPrincipal` elements of resource-based policies
//! (IAM User Guide, "AWS JSON policy elements: Principal" and "NotPrincipal").

use crate::context::{Principal, PrincipalKind};
use crate::json::Json;

/// How directly a resource-policy statement names the requester; this decides
/// which implicit denies can still cut its grant (IAM User Guide, "Policy
/// evaluation logic", Resource-based policies; "Permissions boundaries for IAM
/// entities", Resource-based policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// The account (`123456789012`, `arn:aws:iam::123456789012:root`,
    /// `CanonicalUser`): "This delegates authority to the account" — the
    /// account's identity policies must still allow.
    Account,
    /// The IAM role behind a role session, or the IAM user behind a federated
    /// user session: "limited by an implicit deny in a permissions boundary or
    /// session policy".
    Entity,
    /// The requester itself (user, role session, federated user session,
    /// service, web identity) or everyone (`*`): "an implicit deny in an
    /// identity-based policy, a permissions boundary, or a session policy does
    /// not impact the final decision".
    Direct,
}

/// One `AWS` principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsPrincipal {
    /// `*`: everyone, anonymous included.
    Any,
    /// An account id, written as the id or as its `:root` ARN.
    Account(String),
    User(String),
    Role(String),
    AssumedRole(String),
    FederatedUser(String),
    /// A unique id (`AIDA...`, `AROA...`), as IAM stores principals it resolved.
    UniqueId(String),
}

/// A parsed `Principal` or `NotPrincipal` value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalSet {
    pub aws: Vec<AwsPrincipal>,
    pub federated: Vec<String>,
    pub service: Vec<String>,
    pub canonical_user: Vec<String>,
}

impl PrincipalSet {
    /// Parses the element; the error is AWS's rendering of the first bad entry,
    /// `"AWS":"value"`.
    pub(crate) fn parse(value: &Json) -> Result<PrincipalSet, String> {
        let mut set = PrincipalSet::default();
        match value {
            Json::String(s) if s == "*" => {
                set.aws.push(AwsPrincipal::Any);
                Ok(set)
            }
            Json::String(s) => Err(format!("\"{s}\"")),
            Json::Object(members) if !members.is_empty() => {
                for (kind, entries) in members {
                    let list: Vec<&str> = match entries {
                        Json::String(s) => vec![s.as_str()],
                        Json::Array(items) if !items.is_empty() => {
                            let mut list = Vec::new();
                            for item in items {
                                list.push(item.as_str().ok_or_else(|| format!("\"{kind}\":{}", render(item)))?);
                            }
                            list
                        }
                        other => return Err(format!("\"{kind}\":{}", render(other))),
                    };
                    for entry in list {
                        let bad = || format!("\"{kind}\":\"{entry}\"");
                        match kind.as_str() {
                            "AWS" => set.aws.push(aws_principal(entry).ok_or_else(bad)?),
                            "Federated" if !entry.is_empty() && !has_wildcard(entry) => {
                                set.federated.push(entry.to_owned())
                            }
                            "Service" if !entry.is_empty() && (entry == "*" || !has_wildcard(entry)) => {
                                set.service.push(entry.to_owned())
                            }
                            "CanonicalUser" if entry.len() == 64 && entry.bytes().all(|b| b.is_ascii_hexdigit()) => {
                                set.canonical_user.push(entry.to_ascii_lowercase())
                            }
                            _ => return Err(bad()),
                        }
                    }
                }
                Ok(set)
            }
            other => Err(render(other)),
        }
    }

    /// Whether the element is everyone (`"*"` or `{"AWS": "*"}`).
    pub fn is_everyone(&self) -> bool {
        self.aws.contains(&AwsPrincipal::Any)
    }

    /// How `Principal` names the requester, if it does.
    pub(crate) fn grant_for(&self, p: &Principal) -> Option<Grant> {
        let mut best: Option<Grant> = None;
        let mut offer = |g: Grant| {
            if best.map_or(true, |b| g > b) {
                best = Some(g);
            }
        };
        let anonymous = p.is_anonymous();
        for entry in &self.aws {
            match entry {
                AwsPrincipal::Any => offer(Grant::Direct),
                _ if anonymous => {}
                AwsPrincipal::Account(a) if *a == p.account => offer(Grant::Account),
                AwsPrincipal::User(arn) | AwsPrincipal::AssumedRole(arn) | AwsPrincipal::FederatedUser(arn)
                    if *arn == p.arn =>
                {
                    offer(Grant::Direct)
                }
                AwsPrincipal::User(arn) => {
                    if let PrincipalKind::FederatedUser { user_arn } = &p.kind {
                        if user_arn == arn {
                            offer(Grant::Entity)
                        }
                    }
                }
                AwsPrincipal::Role(arn) => {
                    if let PrincipalKind::AssumedRole { role_arn } = &p.kind {
                        if role_arn == arn {
                            offer(Grant::Entity)
                        }
                    }
                }
                AwsPrincipal::UniqueId(id) => {
                    if p.user_id == *id {
                        offer(Grant::Direct)
                    } else if matches!(p.kind, PrincipalKind::AssumedRole { .. })
                        && p.user_id.strip_prefix(id.as_str()).is_some_and(|rest| rest.starts_with(':'))
                    {
                        offer(Grant::Entity)
                    }
                }
                _ => {}
            }
        }
        match &p.kind {
            PrincipalKind::Service { name } if self.service.iter().any(|s| s == name || s == "*") => {
                offer(Grant::Direct)
            }
            PrincipalKind::WebIdentity { provider } if self.federated.iter().any(|f| f == provider) => {
                offer(Grant::Direct)
            }
            _ => {}
        }
        if let Some(c) = &p.canonical_id {
            if !anonymous && self.canonical_user.iter().any(|u| u.eq_ignore_ascii_case(c)) {
                offer(Grant::Account)
            }
        }
        best
    }

    /// Whether `NotPrincipal` exempts the requester. AWS checks each identity
    /// in the requester's chain — the account, then the role or user, then the
    /// session — and denies unless every one of them is listed (IAM User Guide,
    /// "NotPrincipal": "you must also specify the account ARN of the not-denied
    /// principal. Otherwise, the policy might deny access to the entire
    /// account containing the principal").
    pub(crate) fn exempts(&self, p: &Principal) -> bool {
        if self.is_everyone() {
            return true;
        }
        let account = || self.aws.iter().any(|e| matches!(e, AwsPrincipal::Account(a) if *a == p.account));
        let arn = |want: &str| {
            self.aws.iter().any(|e| match e {
                AwsPrincipal::User(a)
                | AwsPrincipal::Role(a)
                | AwsPrincipal::AssumedRole(a)
                | AwsPrincipal::FederatedUser(a) => a == want,
                _ => false,
            })
        };
        match &p.kind {
            PrincipalKind::Anonymous => false,
            PrincipalKind::Root => account(),
            PrincipalKind::User | PrincipalKind::FederatedUser { .. } => account() && arn(&p.arn),
            PrincipalKind::AssumedRole { role_arn } => account() && arn(role_arn) && arn(&p.arn),
            PrincipalKind::Service { name } => self.service.iter().any(|s| s == name),
            PrincipalKind::WebIdentity { provider } => self.federated.iter().any(|f| f == provider),
        }
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

fn render(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.clone(),
        Json::String(s) => format!("\"{s}\""),
        Json::Array(_) => "[...]".into(),
        Json::Object(_) => "{...}".into(),
    }
}

/// An `AWS` principal as IAM accepts it: `*`, an account id, or the ARN of an
/// account root, user, role, role session or federated user session. "You
/// cannot use a wildcard to match part of a principal name or ARN."
fn aws_principal(s: &str) -> Option<AwsPrincipal> {
    if s == "*" {
        return Some(AwsPrincipal::Any);
    }
    if is_account(s) {
        return Some(AwsPrincipal::Account(s.to_owned()));
    }
    if has_wildcard(s) {
        return None;
    }
    if let Some(rest) = s.strip_prefix("arn:") {
        let mut parts = rest.splitn(5, ':');
        let (partition, service, region, account, resource) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if partition.is_empty() || !region.is_empty() || !is_account(account) {
            return None;
        }
        let named = |prefix: &str| resource.strip_prefix(prefix).is_some_and(|n| !n.is_empty());
        return match service {
            "iam" if resource == "root" => Some(AwsPrincipal::Account(account.to_owned())),
            "iam" if named("user/") => Some(AwsPrincipal::User(s.to_owned())),
            "iam" if named("role/") => Some(AwsPrincipal::Role(s.to_owned())),
            "sts" if named("federated-user/") => Some(AwsPrincipal::FederatedUser(s.to_owned())),
            "sts" => {
                let session = resource.strip_prefix("assumed-role/")?;
                let (role, name) = session.split_once('/')?;
                (!role.is_empty() && !name.is_empty() && !name.contains('/'))
                    .then(|| AwsPrincipal::AssumedRole(s.to_owned()))
            }
            _ => None,
        };
    }
    // Unique ids: AIDA (user), AROA (role), followed by upper-case letters and digits.
    let unique = ["AIDA", "AROA"].iter().any(|p| s.starts_with(p))
        && s.len() >= 16
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    unique.then(|| AwsPrincipal::UniqueId(s.to_owned()))
}

pub(crate) fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}
