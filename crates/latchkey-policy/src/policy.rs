//! Policy documents: parsing and the validation AWS applies on write.
//!
//! The reasons are AWS's own message texts. IAM (identity, boundary, session
//! and trust policies) answers `MalformedPolicyDocument` with messages such as
//! "Syntax errors in policy.", "The policy failed legacy parsing", "Policy
//! statement must contain actions.", "Has prohibited field Principal",
//! "Invalid principal in policy: ..." (IAM User Guide, "Troubleshooting IAM
//! policies"; "Grammar of the IAM JSON policy language"). S3 (bucket policies,
//! `PolicyKind::Resource`) answers `MalformedPolicy` with its own: "Missing
//! required field Principal", "Invalid principal in policy", "Policy has
//! invalid action", "Invalid effect: X", "Unknown field X", ...

use crate::arn::ArnPattern;
use crate::condition::{self, Condition, ConditionFault};
use crate::error::PolicyError;
use crate::json::{Json, JsonFault};
use crate::pattern::{Pattern, Resolve};
use crate::principal::PrincipalSet;

/// What a document is for; it decides which elements are required or
/// forbidden and which messages a refusal carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Inline or managed policy of a user, group or role.
    Identity,
    /// A bucket policy.
    Resource,
    /// A role trust policy (`AssumeRolePolicyDocument`).
    Trust,
    /// A managed policy used as a permissions boundary.
    PermissionsBoundary,
    /// A session policy passed to `AssumeRole*` or `GetFederationToken`.
    Session,
}

impl PolicyKind {
    fn is_iam(self) -> bool {
        self != PolicyKind::Resource
    }

    fn is_identity_like(self) -> bool {
        matches!(self, PolicyKind::Identity | PolicyKind::PermissionsBoundary | PolicyKind::Session)
    }
}

/// The policy language version (IAM User Guide, "IAM JSON policy elements: Version").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    /// `2008-10-17`, also what a document without `Version` is: no policy variables.
    V2008_10_17,
    /// `2012-10-17`: policy variables.
    V2012_10_17,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    kind: PolicyKind,
    version: Option<PolicyVersion>,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub enum PrincipalElement {
    Principal(PrincipalSet),
    NotPrincipal(PrincipalSet),
}

/// One statement, compiled for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    principal: Option<PrincipalElement>,
    not_action: bool,
    actions: Vec<String>,
    action_patterns: Vec<Pattern>,
    /// `None` for trust policies, which have no Resource element.
    not_resource: bool,
    resources: Option<Vec<String>>,
    resource_patterns: Vec<ArnPattern>,
    conditions: Vec<Condition>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }

    pub fn principal(&self) -> Option<&PrincipalElement> {
        self.principal.as_ref()
    }

    /// The actions as written, and whether they are `NotAction`.
    pub fn actions(&self) -> (&[String], bool) {
        (&self.actions, self.not_action)
    }

    /// The resources as written, and whether they are `NotResource`.
    pub fn resources(&self) -> Option<(&[String], bool)> {
        self.resources.as_deref().map(|r| (r, self.not_resource))
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Action names are case-insensitive (IAM User Guide, "IAM JSON policy
    /// elements: Action").
    pub(crate) fn action_matches(&self, action: &str, ctx: &dyn Resolve) -> bool {
        self.action_patterns.iter().any(|p| p.matches(action, true, ctx)) != self.not_action
    }

    /// Resource ARNs are case-sensitive and matched component by component.
    pub(crate) fn resource_matches(&self, resource: &str, ctx: &dyn Resolve) -> bool {
        if self.resources.is_none() {
            return true;
        }
        let any = if resource == "*" {
            self.resource_patterns.iter().any(ArnPattern::covers_any_resource)
        } else {
            self.resource_patterns.iter().any(|p| p.matches(resource, ctx))
        };
        any != self.not_resource
    }
}

struct Messages {
    kind: PolicyKind,
    managed: bool,
}

impl Messages {
    fn syntax(&self) -> PolicyError {
        PolicyError::new(if self.kind.is_iam() { "Syntax errors in policy." } else { "Invalid policy syntax." })
    }

    /// IAM's generic syntax error, or S3's specific one.
    fn or_s3(&self, s3: impl Into<String>) -> PolicyError {
        if self.kind.is_iam() {
            self.syntax()
        } else {
            PolicyError::new(s3)
        }
    }

    fn legacy(&self) -> PolicyError {
        if self.kind.is_iam() {
            PolicyError::new("The policy failed legacy parsing")
        } else {
            self.syntax()
        }
    }
}

const STATEMENT_FIELDS: [&str; 9] =
    ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

/// The actions a trust policy may name (IAM: "AssumeRole policy may only
/// specify STS AssumeRole actions."), plus MinIO's LDAP federation.
const TRUST_ACTIONS: [&str; 7] = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoleWithLDAPIdentity",
    "sts:TagSession",
    "sts:SetSourceIdentity",
    "sts:SetContext",
];

impl Policy {
    /// Parses and validates a document as AWS does on write; the error
    /// carries AWS's `MalformedPolicyDocument` (IAM) or `MalformedPolicy`
    /// (S3) message.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Policy::parse_inner(json, kind, false)
    }

    /// Parses a customer managed policy (`CreatePolicy`,
    /// `CreatePolicyVersion`): as an identity policy, but IAM also requires
    /// `"Version": "2012-10-17"` ("Policy document must be version 2012-10-17
    /// or greater.") and words a Principal differently ("Policy document
    /// should not specify a principal.").
    pub fn parse_managed(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse_inner(json, PolicyKind::Identity, true)
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The `Version` element as written; `None` behaves as 2008-10-17.
    pub fn version(&self) -> Option<PolicyVersion> {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    fn parse_inner(text: &str, kind: PolicyKind, managed: bool) -> Result<Policy, PolicyError> {
        let m = Messages { kind, managed };
        let s3_json = || {
            if text.trim_start().starts_with('{') {
                "This policy contains invalid Json"
            } else {
                "Policies must be valid JSON and the first byte must be '{'"
            }
        };
        let doc = match Json::parse(text) {
            Ok(doc) => doc,
            Err(JsonFault::Syntax | JsonFault::DuplicateKey) => return Err(m.or_s3(s3_json())),
        };
        let Some(top) = doc.as_object() else { return Err(m.or_s3(s3_json())) };

        // Structure: the document's fields and their types.
        for (name, _) in top {
            if !matches!(name.as_str(), "Version" | "Id" | "Statement") {
                return Err(m.or_s3(format!("Unknown field {name}")));
            }
        }
        let version = match doc.get("Version") {
            None => None,
            Some(Json::String(v)) if v == "2012-10-17" => Some(PolicyVersion::V2012_10_17),
            Some(Json::String(v)) if v == "2008-10-17" => Some(PolicyVersion::V2008_10_17),
            Some(_) => return Err(m.or_s3("The policy must contain a valid version string")),
        };
        let id = match doc.get("Id") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => return Err(m.syntax()),
        };
        let raw_statements: Vec<&Json> = match doc.get("Statement") {
            None => return Err(m.or_s3("Missing required field Statement")),
            Some(Json::Array(items)) if items.is_empty() => {
                return Err(m.or_s3("Could not parse the policy: Statement is empty!"))
            }
            Some(Json::Array(items)) => items.iter().collect(),
            Some(one @ Json::Object(_)) => vec![one],
            Some(_) => return Err(m.syntax()),
        };
        let variables = version == Some(PolicyVersion::V2012_10_17);
        let mut raws = Vec::with_capacity(raw_statements.len());
        for raw in &raw_statements {
            raws.push(RawStatement::read(raw, &m, variables)?);
        }

        // Elements each kind of policy requires or forbids.
        for raw in &raws {
            raw.check_elements(&m)?;
        }
        if managed && version != Some(PolicyVersion::V2012_10_17) {
            return Err(PolicyError::new("Policy document must be version 2012-10-17 or greater."));
        }

        // What IAM's "legacy parsing" refuses: effects in the wrong case,
        // dates that are not dates, resources that are not quite ARNs.
        for raw in &raws {
            if raw.effect_text != "Allow" && raw.effect_text != "Deny" {
                return Err(if kind.is_iam() {
                    m.legacy()
                } else {
                    PolicyError::new(format!("Invalid effect: {}", raw.effect_text))
                });
            }
            if raw.bad_date {
                return Err(m.legacy());
            }
        }
        // Resource formats are checked statement by statement; once one is
        // wrong IAM skips its legacy check of resources and reports the format
        // error later (for a statement, the one of its lexically first bad
        // resource).
        let mut resource_error: Option<PolicyError> = None;
        if kind.is_iam() {
            for raw in &raws {
                let mut resources: Vec<&String> = raw.resources.iter().flatten().collect();
                resources.sort_unstable_by(|a, b| b.cmp(a));
                for r in resources {
                    if let Err(e) = iam_resource(r) {
                        resource_error = Some(e);
                    }
                }
                if resource_error.is_none() && raw.resources.iter().flatten().any(|r| fails_legacy_resource(r)) {
                    return Err(m.legacy());
                }
            }
        }

        if kind.is_iam() {
            let mut seen: Vec<&str> = Vec::new();
            for raw in &raws {
                let Some(sid) = raw.sid.as_deref().filter(|s| !s.is_empty()) else { continue };
                if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(PolicyError::new(
                        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                    ));
                }
                if seen.contains(&sid) {
                    return Err(PolicyError::new("Statement IDs (SID) in a single policy must be unique."));
                }
                seen.push(sid);
            }
            for raw in &raws {
                if none_or_empty(&raw.actions) {
                    return Err(PolicyError::new("Policy statement must contain actions."));
                }
            }
            if kind.is_identity_like() {
                for raw in &raws {
                    if none_or_empty(&raw.resources) {
                        return Err(PolicyError::new("Policy statement must contain resources."));
                    }
                }
            }
        }

        if let Some(e) = resource_error {
            return Err(e);
        }
        for raw in &raws {
            raw.check_values(&m)?;
        }

        let statements = raws.into_iter().map(|raw| raw.compile(variables)).collect();
        Ok(Policy { kind, version, id, statements })
    }
}

fn none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().map_or(true, Vec::is_empty)
}

/// A statement read from JSON with its types checked, before the checks that
/// depend on the kind of policy.
struct RawStatement {
    sid: Option<String>,
    effect_text: String,
    principal: Option<(bool, Json)>,
    not_action: bool,
    actions: Option<Vec<String>>,
    not_resource: bool,
    resources: Option<Vec<String>>,
    fields: Vec<String>,
    conditions: Vec<Condition>,
    bad_date: bool,
}

impl RawStatement {
    fn read(json: &Json, m: &Messages, variables: bool) -> Result<RawStatement, PolicyError> {
        let Some(members) = json.as_object() else { return Err(m.syntax()) };
        for (name, _) in members {
            if !STATEMENT_FIELDS.contains(&name.as_str()) {
                return Err(m.or_s3(format!("Unknown field {name}")));
            }
        }
        for field in ["Principal", "Action", "Resource"] {
            if json.get(field).is_some() && json.get(&format!("Not{field}")).is_some() {
                return Err(m.or_s3(format!("Statement/policy already has instance of {field}")));
            }
        }
        let sid = match json.get("Sid") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => return Err(m.syntax()),
        };
        let effect_text = match json.get("Effect") {
            None => return Err(m.or_s3("Missing required field Effect")),
            Some(Json::String(e)) => e.clone(),
            Some(_) => return Err(m.syntax()),
        };
        if m.kind.is_iam() && !effect_text.eq_ignore_ascii_case("allow") && !effect_text.eq_ignore_ascii_case("deny") {
            return Err(m.syntax());
        }
        let list = |field: &str| -> Result<Option<Vec<String>>, PolicyError> {
            match json.get(field) {
                None => Ok(None),
                Some(Json::String(s)) => Ok(Some(vec![s.clone()])),
                Some(Json::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| m.syntax()))
                    .collect::<Result<_, _>>()
                    .map(Some),
                Some(_) => Err(m.syntax()),
            }
        };
        let (not_action, actions) = match (list("Action")?, list("NotAction")?) {
            (Some(a), _) => (false, Some(a)),
            (None, Some(a)) => (true, Some(a)),
            (None, None) => (false, None),
        };
        let (not_resource, resources) = match (list("Resource")?, list("NotResource")?) {
            (Some(r), _) => (false, Some(r)),
            (None, Some(r)) => (true, Some(r)),
            (None, None) => (false, None),
        };
        let principal = match (json.get("Principal"), json.get("NotPrincipal")) {
            (Some(p), _) => Some((false, p.clone())),
            (None, Some(p)) => Some((true, p.clone())),
            (None, None) => None,
        };
        let (conditions, bad_date) = match json.get("Condition") {
            None => (Vec::new(), false),
            Some(block) => match condition::parse_block(block, variables) {
                Ok(c) => (c, false),
                Err(ConditionFault::BadDate) => (Vec::new(), true),
                Err(ConditionFault::UnknownOperator(op)) => {
                    return Err(m.or_s3(format!("Invalid Condition type : {op}")));
                }
                Err(ConditionFault::Syntax) => return Err(m.syntax()),
            },
        };
        Ok(RawStatement {
            sid,
            effect_text,
            principal,
            not_action,
            actions,
            not_resource,
            resources,
            fields: members.iter().map(|(k, _)| k.clone()).collect(),
            conditions,
            bad_date,
        })
    }

    fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == field)
    }

    /// Required and forbidden elements per kind of policy.
    fn check_elements(&self, m: &Messages) -> Result<(), PolicyError> {
        match m.kind {
            PolicyKind::Identity | PolicyKind::PermissionsBoundary | PolicyKind::Session => {
                for field in ["Principal", "NotPrincipal"] {
                    if self.has(field) {
                        return Err(PolicyError::new(if m.managed {
                            "Policy document should not specify a principal.".to_owned()
                        } else {
                            format!("Has prohibited field {field}")
                        }));
                    }
                }
            }
            PolicyKind::Trust => {
                for field in ["NotPrincipal", "Resource", "NotResource"] {
                    if self.has(field) {
                        return Err(PolicyError::new(format!("Has prohibited field {field}")));
                    }
                }
                if !self.has("Principal") {
                    return Err(PolicyError::new("Missing required field Principal"));
                }
            }
            PolicyKind::Resource => {
                if self.principal.is_none() {
                    return Err(PolicyError::new("Missing required field Principal"));
                }
                if self.actions.is_none() {
                    return Err(PolicyError::new("Missing required field Action"));
                }
                if self.resources.is_none() {
                    return Err(PolicyError::new("Missing required field Resource"));
                }
            }
        }
        Ok(())
    }

    /// The values of Resource, Action and Principal.
    fn check_values(&self, m: &Messages) -> Result<(), PolicyError> {
        let actions = self.actions.as_deref().unwrap_or_default();
        let resources = self.resources.as_deref().unwrap_or_default();
        match m.kind {
            PolicyKind::Resource => {
                if actions.is_empty() || actions.iter().any(|a| !valid_s3_action(a)) {
                    return Err(PolicyError::new("Policy has invalid action"));
                }
                if resources.is_empty() || resources.iter().any(|r| !valid_s3_resource(r)) {
                    return Err(PolicyError::new("Policy has invalid resource"));
                }
            }
            _ => {
                for a in actions {
                    iam_action(a)?;
                }
            }
        }
        if m.kind == PolicyKind::Trust && !self.not_action {
            let allowed = actions.iter().all(|a| {
                let p = Pattern::literal(a, true);
                TRUST_ACTIONS.iter().any(|t| p.matches(t, true, &NoVariables))
                    && a.to_ascii_lowercase().starts_with("sts:")
                    || a == "*"
            });
            if !allowed {
                return Err(PolicyError::new("AssumeRole policy may only specify STS AssumeRole actions."));
            }
        }
        if let Some((_, p)) = &self.principal {
            if let Err(entry) = PrincipalSet::parse(p) {
                return Err(PolicyError::new(if m.kind.is_iam() {
                    format!("Invalid principal in policy: {entry}")
                } else {
                    "Invalid principal in policy".to_owned()
                }));
            }
        }
        Ok(())
    }

    fn compile(self, variables: bool) -> Statement {
        let principal = self.principal.map(|(negated, json)| {
            let set = PrincipalSet::parse(&json).expect("checked");
            if negated {
                PrincipalElement::NotPrincipal(set)
            } else {
                PrincipalElement::Principal(set)
            }
        });
        let actions = self.actions.unwrap_or_default();
        let action_patterns = actions.iter().map(|a| Pattern::literal(a, true)).collect();
        let resource_patterns = self.resources.iter().flatten().map(|r| ArnPattern::compile(r, variables)).collect();
        Statement {
            sid: self.sid,
            effect: if self.effect_text == "Allow" { Effect::Allow } else { Effect::Deny },
            principal,
            not_action: self.not_action,
            actions,
            action_patterns,
            not_resource: self.not_resource,
            resources: self.resources,
            resource_patterns,
            conditions: self.conditions,
        }
    }
}

struct NoVariables;

impl Resolve for NoVariables {
    fn resolve(&self, _: &str) -> Option<&str> {
        None
    }
}

/// IAM's legacy parser refuses a resource that has `::` but fewer than five
/// colons, or an empty service (`arn::...`).
fn fails_legacy_resource(r: &str) -> bool {
    if r == "*" {
        return false;
    }
    let colons = r.matches(':').count();
    (colons < 5 && r.contains("::")) || r.split(':').nth(2) == Some("")
}

const PARTITIONS: [&str; 5] = ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"];

const IAM_RESOURCE_TYPES: [&str; 13] = [
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
];

/// IAM's checks of a `Resource` value, with its messages.
fn iam_resource(r: &str) -> Result<(), PolicyError> {
    if r == "*" {
        return Ok(());
    }
    let Some((_, rest)) = r.split_once(':') else {
        return Err(PolicyError::new(format!("Resource {r} must be in ARN format or \"*\".")));
    };
    let (partition, after_partition) = match rest.split_once(':') {
        Some((p, a)) => (p, Some(a)),
        None => (rest, None),
    };
    if !PARTITIONS.contains(&partition) {
        // IAM renders the resource back as six components, `*` for missing ones.
        let parts: Vec<&str> = after_partition.unwrap_or("").split(':').collect();
        let first = if parts[0].is_empty() && parts.len() == 1 { "*" } else { parts[0] };
        let nth = |i: usize| parts.get(i).copied().unwrap_or("*");
        let tail = if parts.len() > 3 { parts[3..].join(":") } else { "*".to_owned() };
        return Err(PolicyError::new(format!(
            "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{first}:{}:{}:{tail}\".",
            nth(1),
            nth(2)
        )));
    }
    let Some(after_partition) = after_partition else {
        return Err(PolicyError::new("Resource vendor must be fully qualified and cannot contain regexes."));
    };
    let (service, after_service) = after_partition.split_once(':').unwrap_or((after_partition, ""));
    if !after_service.is_empty() && !after_service.starts_with(':') {
        match service {
            "iam" => return Err(PolicyError::new(format!("IAM resource {r} cannot contain region information."))),
            "s3" => return Err(PolicyError::new(format!("Resource {r} can not contain region information."))),
            _ => {}
        }
    }
    if service == "iam" {
        let resource = after_service.splitn(3, ':').nth(2).unwrap_or("");
        if !IAM_RESOURCE_TYPES.iter().any(|t| resource.starts_with(t)) {
            return Err(PolicyError::new(format!(
                "IAM resource path must either be \"*\" or start with {}.",
                IAM_RESOURCE_TYPES.join(", ")
            )));
        }
    }
    Ok(())
}

/// IAM's checks of an `Action` value, with its messages.
fn iam_action(a: &str) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let mut parts = a.split(':');
    let vendor = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (None, _) => {
            Err(PolicyError::new("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."))
        }
        (Some(_), Some(_)) => Err(PolicyError::new("Actions/Condition can contain only one colon.")),
        (Some(_), None) if !vendor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') => {
            Err(PolicyError::new(format!("Vendor {vendor} is not valid")))
        }
        _ => Ok(()),
    }
}

/// A bucket policy's action: `*` or `service:Name` (S3 checks names against
/// its catalogue; the server can refuse unknown `s3:` names on top).
fn valid_s3_action(a: &str) -> bool {
    if a == "*" {
        return true;
    }
    match a.split_once(':') {
        Some((service, name)) => {
            !service.is_empty()
                && !name.is_empty()
                && !name.contains(':')
                && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

/// A bucket policy's resource: an ARN of six components (S3 refuses `*`).
fn valid_s3_resource(r: &str) -> bool {
    r.starts_with("arn:") && r.matches(':').count() >= 5
}
