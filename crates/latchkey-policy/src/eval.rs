//! AWS's policy evaluation logic (IAM User Guide, "Policy evaluation logic",
//! "Determining whether a request is allowed or denied within an account";
//! "Cross-account policy evaluation logic"; "Policies and permissions in
//! IAM", Session policies; "Permissions boundaries for IAM entities").
//!
//! 1. An explicit deny in any policy that applies wins.
//! 2. Same account: a resource-based policy that names the requester itself
//!    (user, role session, federated user session) or everyone allows with no
//!    other policy needed; one that names the role behind a session, or the
//!    user behind a federated session, allows if the permissions boundary and
//!    session policies (where present) allow; one that names only the account
//!    delegates to the account's identity policies. Otherwise an identity
//!    policy must allow, then the boundary (if set), then the session
//!    policies (if any — a federated user session always has them).
//! 3. Cross account: the requester's side (identity, boundary, session) and
//!    the resource policy must both allow.
//! 4. The account root is allowed in its own account unless a resource policy
//!    denies; anonymous requests only get what a resource policy grants to `*`.
//! 5. A role trust policy must allow `sts:AssumeRole*` even within the account.

use std::fmt;

use crate::context::{PrincipalKind, RequestContext};
use crate::policy::{Effect, Policy, PolicyKind, PrincipalElement, Statement};
use crate::principal::Grant;

/// Where a policy comes from, for explanations and audit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicySource {
    /// A managed policy attached to the user, one of its groups, or the role.
    IdentityManaged(String),
    /// An inline policy: the entity's ARN and the policy's name.
    IdentityInline { entity: String, name: String },
    /// A resource-based policy (bucket policy, role trust policy) of the resource named.
    Resource(String),
    /// The managed policy set as permissions boundary.
    Boundary(String),
    /// A session policy: `inline` for the `Policy` parameter, else the managed policy's ARN.
    Session(String),
}

/// A label for one policy in a [`PolicySet`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyId {
    pub kind: PolicySource,
}

impl PolicyId {
    pub fn new(kind: PolicySource) -> PolicyId {
        PolicyId { kind }
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PolicySource::IdentityManaged(arn) => write!(f, "managed policy {arn}"),
            PolicySource::IdentityInline { entity, name } => write!(f, "inline policy {name} of {entity}"),
            PolicySource::Resource(r) => write!(f, "resource policy of {r}"),
            PolicySource::Boundary(arn) => write!(f, "permissions boundary {arn}"),
            PolicySource::Session(s) => write!(f, "session policy {s}"),
        }
    }
}

/// The policies that apply to one request.
#[derive(Debug, Clone, Default)]
pub struct PolicySet<'a> {
    /// The user's inline and managed policies and its groups', or the role's.
    pub identity: Vec<(PolicyId, &'a Policy)>,
    /// The bucket policy, or the role trust policy for `sts:AssumeRole*`
    /// (told apart by the policy's [`PolicyKind`]).
    pub resource: Option<(PolicyId, &'a Policy)>,
    pub permissions_boundary: Option<(PolicyId, &'a Policy)>,
    /// Session policies (inline and managed); empty means none were passed.
    pub session: Vec<(PolicyId, &'a Policy)>,
}

/// The type of policy a statement belongs to, as AWS's messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    Identity,
    Resource,
    /// A role trust policy (a resource-based policy of IAM).
    Trust,
    PermissionsBoundary,
    Session,
}

/// A statement that applied to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedStatement {
    pub policy: PolicyId,
    pub policy_type: PolicyType,
    /// The statement's position in its policy.
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
}

/// Why a request was allowed or denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionReason {
    /// These statements allowed it.
    Allowed { by: Vec<MatchedStatement> },
    /// The account root, in its own account, with nothing denying.
    RootUser,
    /// A Deny statement applied.
    ExplicitDeny { policy_type: PolicyType, statement: MatchedStatement },
    /// No identity-based policy allows (and no resource policy grants on its own).
    NoIdentityAllow,
    /// Cross-account, or a role trust policy: no resource-based policy allows.
    NoResourceAllow,
    /// The permissions boundary does not allow.
    BoundaryImplicitDeny,
    /// No session policy allows (or a federated user session has none).
    SessionImplicitDeny,
    /// Anonymous, and no resource policy grants to everyone.
    AnonymousNoResourceAllow,
}

impl DecisionReason {
    /// A short name for the reason (`NoIdentityAllow`, `ExplicitDeny`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            DecisionReason::Allowed { .. } => "Allowed",
            DecisionReason::RootUser => "RootUser",
            DecisionReason::ExplicitDeny { .. } => "ExplicitDeny",
            DecisionReason::NoIdentityAllow => "NoIdentityAllow",
            DecisionReason::NoResourceAllow => "NoResourceAllow",
            DecisionReason::BoundaryImplicitDeny => "BoundaryImplicitDeny",
            DecisionReason::SessionImplicitDeny => "SessionImplicitDeny",
            DecisionReason::AnonymousNoResourceAllow => "AnonymousNoResourceAllow",
        }
    }
}

/// The decision and its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: DecisionReason,
    /// Every statement that applied, Allow and Deny, in evaluation order.
    pub matched: Vec<MatchedStatement>,
}

/// What one group of policies said.
#[derive(Default)]
struct Verdict {
    allows: Vec<MatchedStatement>,
    deny: Option<MatchedStatement>,
}

impl Verdict {
    fn allows(&self) -> bool {
        !self.allows.is_empty()
    }
}

/// Decides a request.
pub fn evaluate(ctx: &RequestContext, policies: &PolicySet) -> Decision {
    let principal = &ctx.principal;
    let anonymous = principal.is_anonymous();
    let root = principal.kind == PrincipalKind::Root;
    let cross_account = ctx.is_cross_account();
    let has_boundary = policies.permissions_boundary.is_some();
    let mut matched = Vec::new();

    let external = matches!(principal.kind, PrincipalKind::Service { .. } | PrincipalKind::WebIdentity { .. });
    // Root, anonymous and external requests are not subject to identity-based
    // policies, boundaries or session policies: none can be attached to them.
    let subject = !root && !anonymous && !external;
    let mut identity = Verdict::default();
    let mut boundary = Verdict::default();
    let mut session = Verdict::default();
    if subject {
        for (id, policy) in &policies.identity {
            scan(ctx, id, policy, PolicyType::Identity, has_boundary, &mut identity, &mut matched, &mut |_| {});
        }
        if let Some((id, policy)) = &policies.permissions_boundary {
            scan(
                ctx,
                id,
                policy,
                PolicyType::PermissionsBoundary,
                has_boundary,
                &mut boundary,
                &mut matched,
                &mut |_| {},
            );
        }
        for (id, policy) in &policies.session {
            scan(ctx, id, policy, PolicyType::Session, has_boundary, &mut session, &mut matched, &mut |_| {});
        }
    }
    let mut resource = Verdict::default();
    let mut grant: Option<Grant> = None;
    let mut resource_type = PolicyType::Resource;
    if let Some((id, policy)) = &policies.resource {
        if policy.kind() == PolicyKind::Trust {
            resource_type = PolicyType::Trust;
        }
        scan(ctx, id, policy, resource_type, has_boundary, &mut resource, &mut matched, &mut |g| {
            grant = grant.max(Some(g));
        });
    }

    let deny = |statement: MatchedStatement, policy_type| DecisionReason::ExplicitDeny { policy_type, statement };
    let reason = if let Some(s) = identity.deny.take() {
        deny(s, PolicyType::Identity)
    } else if let Some(s) = resource.deny.take() {
        deny(s, resource_type)
    } else if let Some(s) = boundary.deny.take() {
        deny(s, PolicyType::PermissionsBoundary)
    } else if let Some(s) = session.deny.take() {
        deny(s, PolicyType::Session)
    } else if anonymous {
        if grant.is_some() {
            DecisionReason::Allowed { by: resource.allows }
        } else {
            DecisionReason::AnonymousNoResourceAllow
        }
    } else if external {
        // Service principals and web identities have no identity policies of
        // their own here: only the resource policy can grant them anything.
        if grant.is_some() {
            DecisionReason::Allowed { by: resource.allows }
        } else {
            DecisionReason::NoResourceAllow
        }
    } else if root {
        if cross_account || resource_type == PolicyType::Trust {
            if grant.is_some() {
                DecisionReason::Allowed { by: resource.allows }
            } else {
                DecisionReason::NoResourceAllow
            }
        } else {
            DecisionReason::RootUser
        }
    } else {
        // A federated user session has no permissions without a session policy
        // ("If there is no session policy, the code checks whether the principal
        // is a role session ... Otherwise, the request is implicitly denied").
        let session_applies =
            !policies.session.is_empty() || matches!(principal.kind, PrincipalKind::FederatedUser { .. });
        let limits = |session: &Verdict, boundary: &Verdict| -> Option<DecisionReason> {
            if has_boundary && !boundary.allows() {
                Some(DecisionReason::BoundaryImplicitDeny)
            } else if session_applies && !session.allows() {
                Some(DecisionReason::SessionImplicitDeny)
            } else {
                None
            }
        };
        let identity_side = || -> Option<DecisionReason> {
            if !identity.allows() {
                Some(DecisionReason::NoIdentityAllow)
            } else {
                limits(&session, &boundary)
            }
        };
        if cross_account {
            match identity_side() {
                Some(denied) => denied,
                None if grant.is_none() => DecisionReason::NoResourceAllow,
                None => DecisionReason::Allowed { by: [identity.allows, resource.allows].concat() },
            }
        } else {
            match grant {
                Some(Grant::Direct) => DecisionReason::Allowed { by: resource.allows },
                Some(Grant::Entity) => match limits(&session, &boundary) {
                    Some(denied) => denied,
                    None => DecisionReason::Allowed { by: resource.allows },
                },
                None if resource_type == PolicyType::Trust => DecisionReason::NoResourceAllow,
                _ => match identity_side() {
                    Some(denied) => denied,
                    None => DecisionReason::Allowed { by: [identity.allows, resource.allows].concat() },
                },
            }
        }
    };
    let allowed = matches!(reason, DecisionReason::Allowed { .. } | DecisionReason::RootUser);
    Decision { allowed, reason, matched }
}

/// Evaluates every statement of one policy, recording those that apply.
#[allow(clippy::too_many_arguments)]
fn scan(
    ctx: &RequestContext,
    id: &PolicyId,
    policy: &Policy,
    policy_type: PolicyType,
    has_boundary: bool,
    verdict: &mut Verdict,
    matched: &mut Vec<MatchedStatement>,
    on_grant: &mut dyn FnMut(Grant),
) {
    for (index, statement) in policy.statements().iter().enumerate() {
        let Some(grant) = applies(ctx, statement, has_boundary) else { continue };
        let m = MatchedStatement {
            policy: id.clone(),
            policy_type,
            index,
            sid: statement.sid().map(str::to_owned),
            effect: statement.effect(),
        };
        matched.push(m.clone());
        match statement.effect() {
            Effect::Deny => {
                if verdict.deny.is_none() {
                    verdict.deny = Some(m);
                }
            }
            Effect::Allow => {
                on_grant(grant);
                verdict.allows.push(m);
            }
        }
    }
}

/// Whether a statement applies to the request, and how directly it names the
/// requester (statements without a Principal element name it directly).
fn applies(ctx: &RequestContext, statement: &Statement, has_boundary: bool) -> Option<Grant> {
    // Cheapest tests first: most statements fail on the action or resource.
    if !statement.action_matches(&ctx.action, ctx) || !statement.resource_matches(&ctx.resource, ctx) {
        return None;
    }
    let grant = match statement.principal() {
        None => Grant::Direct,
        Some(PrincipalElement::Principal(set)) => set.grant_for(&ctx.principal)?,
        Some(PrincipalElement::NotPrincipal(set)) => {
            // "The NotPrincipal element with a Deny effect will always deny
            // any IAM principal that has a permissions boundary policy
            // attached, regardless of the values specified in the
            // NotPrincipal element" (IAM User Guide, "Permissions boundaries
            // for IAM entities").
            let boundary_rule = has_boundary && statement.effect() == Effect::Deny;
            if set.exempts(&ctx.principal) && !boundary_rule {
                return None;
            }
            Grant::Direct
        }
    };
    statement.conditions().iter().all(|c| c.holds(ctx)).then_some(grant)
}

impl Decision {
    /// AWS's AccessDenied message: "User: ARN is not authorized to perform:
    /// ACTION on resource: RESOURCE because no identity-based policy allows
    /// the ACTION action", "... with an explicit deny in a resource-based
    /// policy", and so on (IAM User Guide, "Troubleshooting access denied
    /// error messages"; Amazon S3 User Guide, "Troubleshoot access denied (403
    /// Forbidden) errors", which quotes the resource). `None` when allowed,
    /// and for anonymous requests, which S3 answers with a bare "Access Denied".
    pub fn denial_message(&self, ctx: &RequestContext) -> Option<String> {
        if self.allowed || ctx.principal.is_anonymous() {
            return None;
        }
        let action = &ctx.action;
        let context = match &self.reason {
            DecisionReason::ExplicitDeny { policy_type, .. } => format!(
                "with an explicit deny in {}",
                match policy_type {
                    PolicyType::Identity => "an identity-based policy",
                    PolicyType::Resource => "a resource-based policy",
                    PolicyType::Trust => "the role trust policy",
                    PolicyType::PermissionsBoundary => "a permissions boundary",
                    PolicyType::Session => "a session policy",
                }
            ),
            DecisionReason::NoIdentityAllow => format!("because no identity-based policy allows the {action} action"),
            DecisionReason::NoResourceAllow => {
                let trust = self.matched.iter().any(|m| m.policy_type == PolicyType::Trust)
                    || action.to_ascii_lowercase().starts_with("sts:assumerole");
                let kind = if trust { "role trust policy" } else { "resource-based policy" };
                format!("because no {kind} allows the {action} action")
            }
            DecisionReason::BoundaryImplicitDeny => {
                format!("because no permissions boundary allows the {action} action")
            }
            DecisionReason::SessionImplicitDeny => format!("because no session policy allows the {action} action"),
            DecisionReason::AnonymousNoResourceAllow => return None,
            DecisionReason::Allowed { .. } | DecisionReason::RootUser => return None,
        };
        let resource = if ctx.resource == "*" {
            String::new()
        } else if action.to_ascii_lowercase().starts_with("s3:") {
            format!(" on resource: \"{}\"", ctx.resource)
        } else {
            format!(" on resource: {}", ctx.resource)
        };
        Some(format!("User: {} is not authorized to perform: {action}{resource} {context}", ctx.principal.arn))
    }
}
