//! The authorization gate every request passes: the policy engine
//! (`latchkey-policy`) decides, with the caller's identity policies,
//! permissions boundary and the resource's policy, as AWS's documented
//! evaluation logic does. Denials carry AWS's explanation.

use crate::auth::{Principal, PrincipalKind};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::iam::entities::{aws_managed_policies, Group, ManagedPolicy, User, AWS_POLICY_PREFIX};
use crate::state::AppState;
use latchkey_policy::{self as policy, ContextKeys, Policy, PolicyId, PolicyKind, PolicySet, PolicySource};
use latchkey_storage::IamKind;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Parsed policies by document text: parsing is the expensive part of a
/// decision, and the same documents recur on every request.
#[derive(Default)]
pub struct PolicyCache {
    parsed: Mutex<HashMap<(String, u8), Arc<Policy>>>,
}

const CACHE_LIMIT: usize = 10_000;

impl PolicyCache {
    pub fn get(&self, document: &str, kind: PolicyKind) -> S3Result<Arc<Policy>> {
        let tag = kind as u8;
        let key = (document.to_string(), tag);
        if let Some(p) = self.parsed.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        // Stored documents were validated on write; failing now means the
        // validator changed, and the policy is unusable rather than permissive.
        let p = Arc::new(
            Policy::parse(document, kind)
                .map_err(|e| S3Error::internal(format!("stored policy no longer parses: {e}")))?,
        );
        let mut map = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, p.clone());
        Ok(p)
    }
}

/// Everything about the caller the engine needs, loaded once per request.
pub struct Caller {
    pub principal: Option<Principal>,
    pub engine_principal: policy::Principal,
    identity: Vec<(PolicyId, Arc<Policy>)>,
    boundary: Option<(PolicyId, Arc<Policy>)>,
    /// Session policies of temporary credentials (empty: none apply).
    session: Vec<(PolicyId, Arc<Policy>)>,
    /// Request-wide condition keys (time, source IP, principal tags, ...).
    pub keys: ContextKeys,
    /// Seals the explanation attached to this caller's denials.
    message_sealer: Option<Arc<latchkey_seal::Sealer>>,
}

/// Facts about the HTTP request that become global condition keys.
pub struct RequestFacts<'a> {
    pub source_ip: Option<std::net::IpAddr>,
    pub user_agent: Option<&'a str>,
    pub referer: Option<&'a str>,
    pub secure_transport: bool,
    pub now: time::OffsetDateTime,
}

/// The global condition keys that come from the HTTP request itself.
fn request_keys(keys: &mut ContextKeys, facts: &RequestFacts<'_>) {
    keys.set("aws:CurrentTime", crate::iam::entities::timestamp(facts.now));
    keys.set("aws:EpochTime", facts.now.unix_timestamp().to_string());
    keys.set("aws:SecureTransport", facts.secure_transport.to_string());
    if let Some(ip) = facts.source_ip {
        keys.set("aws:SourceIp", ip.to_string());
    }
    if let Some(ua) = facts.user_agent {
        keys.set("aws:UserAgent", ua);
    }
    if let Some(r) = facts.referer {
        keys.set("aws:Referer", r);
    }
}

fn managed_document(tx_policies: &HashMap<String, ManagedPolicy>, account: &str, arn: &str) -> Option<String> {
    if let Some(name) = arn.strip_prefix(AWS_POLICY_PREFIX) {
        return aws_managed_policies().into_iter().find(|(n, _, _)| *n == name).map(|(_, _, d)| d.to_string());
    }
    let name = arn.strip_prefix(&format!("arn:aws:iam::{account}:policy/"))?.rsplit('/').next()?;
    tx_policies.get(&name.to_lowercase()).map(|p| p.default_document().to_string())
}

impl Caller {
    pub async fn load(
        state: &Arc<AppState>,
        principal: Option<Principal>,
        facts: &RequestFacts<'_>,
    ) -> S3Result<Caller> {
        let mut keys = ContextKeys::new();
        let now = facts.now;
        request_keys(&mut keys, facts);
        let Some(p) = principal else {
            return Ok(Caller {
                principal: None,
                engine_principal: policy::Principal::anonymous(),
                identity: vec![],
                boundary: None,
                session: vec![],
                keys,
                message_sealer: Some(state.authz_sealer.clone()),
            });
        };
        let account = p.account_id.clone();
        if let Some(s) = &p.session {
            session_keys(&mut keys, s, now);
        }
        let (engine_principal, identity, boundary) = match &p.kind {
            PrincipalKind::AccountRoot => (policy::Principal::root(&account), vec![], None),
            PrincipalKind::User(name) => {
                let id = load_identity(state, &account, Entity::User(name.clone())).await?;
                for (k, v) in &id.tags {
                    keys.set(&format!("aws:PrincipalTag/{k}"), v.clone());
                }
                (
                    policy::Principal::user(&account, &id.path, &id.name, &id.unique_id),
                    id.policies.clone(),
                    id.boundary.clone(),
                )
            }
            PrincipalKind::AssumedRole { role, session } => {
                let id = load_identity(state, &account, Entity::Role(role.clone())).await?;
                // A role's own tags are principal tags; session tags override them.
                for (k, v) in &id.tags {
                    if !p.session.as_ref().is_some_and(|s| s.tags.iter().any(|(sk, _)| sk.eq_ignore_ascii_case(k))) {
                        keys.set(&format!("aws:PrincipalTag/{k}"), v.clone());
                    }
                }
                (
                    policy::Principal::assumed_role(&account, &id.path, &id.name, session, &id.unique_id),
                    id.policies.clone(),
                    id.boundary.clone(),
                )
            }
            PrincipalKind::FederatedUser(name) => {
                let parent = match p.session.as_ref().map(|s| &s.subject) {
                    Some(latchkey_token::SessionSubject::FederatedUser { parent_user: Some(u), .. }) => Some(u.clone()),
                    _ => None,
                };
                match parent {
                    Some(u) => {
                        let id = load_identity(state, &account, Entity::User(u)).await?;
                        let parent_arn = crate::iam::entities::arn(&account, "user", &id.path, &id.name);
                        (
                            policy::Principal::federated_user(&account, name, &parent_arn),
                            id.policies.clone(),
                            id.boundary.clone(),
                        )
                    }
                    None => {
                        let root_arn = format!("arn:aws:iam::{account}:root");
                        (policy::Principal::federated_user(&account, name, &root_arn), vec![], None)
                    }
                }
            }
        };
        let session = match &p.session {
            Some(s) => session_policies(state, &account, s)?,
            None => vec![],
        };
        let noted = engine_principal.clone();
        crate::audit::note(|r| r.engine_principal = Some(noted));
        Ok(Caller {
            principal: Some(p),
            engine_principal,
            identity,
            boundary,
            session,
            keys,
            message_sealer: Some(state.authz_sealer.clone()),
        })
    }

    /// A caller from outside IAM: a web identity or SAML identity asking to
    /// assume a role (`Federated` principals in trust policies). It has no
    /// identity policies; only the role's trust policy can allow it.
    pub fn external(state: &AppState, engine_principal: policy::Principal, facts: &RequestFacts<'_>) -> Caller {
        let mut keys = ContextKeys::new();
        request_keys(&mut keys, facts);
        Caller {
            principal: None,
            engine_principal,
            identity: vec![],
            boundary: None,
            session: vec![],
            keys,
            message_sealer: Some(state.authz_sealer.clone()),
        }
    }

    /// A caller made of given policies, for the policy simulator.
    pub fn for_simulation(
        engine_principal: policy::Principal,
        identity: Vec<(PolicyId, Arc<Policy>)>,
        boundary: Option<Arc<Policy>>,
        keys: ContextKeys,
    ) -> Caller {
        Caller {
            principal: None,
            engine_principal,
            identity,
            boundary: boundary
                .map(|b| (PolicyId::new(PolicySource::Boundary("PermissionsBoundaryPolicyInputList.1".into())), b)),
            session: vec![],
            keys,
            message_sealer: None,
        }
    }

    pub fn has_boundary(&self) -> bool {
        self.boundary.is_some()
    }

    /// A caller for internal tests: the root of `account`.
    pub fn root_for_tests(account: &str) -> Caller {
        Caller {
            principal: Some(Principal {
                account_id: account.into(),
                kind: PrincipalKind::AccountRoot,
                access_key_id: "AKIATEST".into(),
                session: None,
            }),
            engine_principal: policy::Principal::root(account),
            identity: vec![],
            boundary: None,
            session: vec![],
            keys: ContextKeys::new(),
            message_sealer: None,
        }
    }
}

/// The caller SimulatePrincipalPolicy evaluates: the user, group or role
/// named by `source_arn`, with `extra` identity policies added and
/// `boundary` replacing its permissions boundary if given.
pub async fn simulation_caller(
    state: &Arc<AppState>,
    account: &str,
    source_arn: &str,
    extra: Vec<(PolicyId, Arc<Policy>)>,
    boundary: Option<Arc<Policy>>,
) -> S3Result<Caller> {
    let prefix = format!("arn:aws:iam::{account}:");
    let rest = source_arn.strip_prefix(&prefix).ok_or_else(|| {
        S3Error::msg(
            ErrorCode::InvalidInput,
            format!("Invalid ARN {source_arn}: it must be a user, group or role of this account"),
        )
    })?;
    let name = rest.rsplit('/').next().unwrap_or_default().to_string();
    let (principal, mut identity, own_boundary) = if rest.starts_with("user/") {
        let id = load_identity(state, account, Entity::User(name)).await.map_err(|_| no_such_source(source_arn))?;
        (policy::Principal::user(account, &id.path, &id.name, &id.unique_id), id.policies.clone(), id.boundary.clone())
    } else if rest.starts_with("role/") {
        let id = load_identity(state, account, Entity::Role(name)).await.map_err(|_| no_such_source(source_arn))?;
        (
            policy::Principal::assumed_role(account, &id.path, &id.name, "simulation", &id.unique_id),
            id.policies.clone(),
            id.boundary.clone(),
        )
    } else if rest.starts_with("group/") {
        let id = load_identity(state, account, Entity::Group(name)).await.map_err(|_| no_such_source(source_arn))?;
        (policy::Principal::user(account, "/", "group-member", "AIDASIMULATION"), id.policies.clone(), None)
    } else {
        return Err(S3Error::msg(
            ErrorCode::InvalidInput,
            format!("Invalid ARN {source_arn}: it must be a user, group or role"),
        ));
    };
    identity.extend(extra);
    let boundary = match boundary {
        Some(b) => Some((PolicyId::new(PolicySource::Boundary("PermissionsBoundaryPolicyInputList.1".into())), b)),
        None => own_boundary,
    };
    Ok(Caller {
        principal: None,
        engine_principal: principal,
        identity,
        boundary,
        session: vec![],
        keys: ContextKeys::new(),
        message_sealer: None,
    })
}

fn no_such_source(arn: &str) -> S3Error {
    S3Error::msg(ErrorCode::NoSuchEntity, format!("The entity {arn} cannot be found."))
}

enum Entity {
    User(String),
    Role(String),
    Group(String),
}

impl Entity {
    fn cache_key(&self) -> String {
        match self {
            Entity::User(n) => format!("user/{}", n.to_lowercase()),
            Entity::Role(n) => format!("role/{}", n.to_lowercase()),
            Entity::Group(n) => format!("group/{}", n.to_lowercase()),
        }
    }
}

/// (account, entity) → (IAM generation it was loaded at, identity).
type IdentityEntries = HashMap<(String, String), (u64, Arc<Identity>)>;

/// Loaded identities (policies, boundary, tags) of users and roles, reused
/// until any IAM write: a role session's requests then cost no store read.
#[derive(Default)]
pub struct IdentityCache {
    generation: AtomicU64,
    entries: Mutex<IdentityEntries>,
    /// Long-term access keys: id → (generation, owner, secret). Saves a
    /// store read and an unseal per request; secrets are wiped on drop.
    keys: Mutex<HashMap<String, LongTermKey>>,
}

type LongTermKey = (u64, crate::auth::Principal, zeroize::Zeroizing<String>);

impl IdentityCache {
    /// Called after every committed IAM write (access keys included).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// An active long-term key's owner and secret, as verified since the last IAM write.
    pub fn long_term_key(&self, key_id: &str) -> Option<(crate::auth::Principal, zeroize::Zeroizing<String>)> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let (g, principal, secret) = keys.get(key_id)?;
        (*g == self.generation()).then(|| (principal.clone(), secret.clone()))
    }

    /// Keeps an active key read at `generation` (ignored if IAM changed since).
    pub fn remember_long_term_key(
        &self,
        generation: u64,
        principal: &crate::auth::Principal,
        secret: &zeroize::Zeroizing<String>,
    ) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= CACHE_LIMIT {
            keys.clear();
        }
        keys.insert(principal.access_key_id.clone(), (generation, principal.clone(), secret.clone()));
    }
}

/// An IAM user's or role's policies and attributes.
pub struct Identity {
    name: String,
    path: String,
    unique_id: String,
    tags: Vec<(String, String)>,
    policies: Vec<(PolicyId, Arc<Policy>)>,
    boundary: Option<(PolicyId, Arc<Policy>)>,
}

/// The policies that apply to a user (its own and its groups') or a role.
async fn load_identity(state: &Arc<AppState>, account: &str, entity: Entity) -> S3Result<Arc<Identity>> {
    let key = (account.to_string(), entity.cache_key());
    let cache = &state.identity_cache;
    // Read before loading: a change committed during the load makes this entry stale at once.
    let generation = cache.generation.load(Ordering::Acquire);
    if let Some((g, id)) = cache.entries.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if *g == generation {
            return Ok(id.clone());
        }
    }
    let id = Arc::new(read_identity(state, account, entity).await?);
    let mut entries = cache.entries.lock().unwrap_or_else(|e| e.into_inner());
    if entries.len() >= CACHE_LIMIT {
        entries.clear();
    }
    entries.insert(key, (generation, id.clone()));
    Ok(id)
}

/// Reads a user's, group's or role's policies from the store.
async fn read_identity(state: &Arc<AppState>, account: &str, entity: Entity) -> S3Result<Identity> {
    use crate::iam::entities::{arn, Role};
    type Loaded = (
        String,
        String,
        String,
        Vec<(String, String)>,
        Vec<(String, std::collections::BTreeMap<String, String>, Vec<String>)>,
        Option<String>,
        Vec<ManagedPolicy>,
    );
    let acct = account.to_string();
    let loaded: Loaded = crate::iam::transact(state, account, move |tx| {
        let policies: Vec<ManagedPolicy> = crate::iam::load_all(tx, IamKind::Policy)?;
        match &entity {
            Entity::User(name) => {
                let user: User = crate::iam::load(tx, IamKind::User, name)?
                    .ok_or_else(|| S3Error::new(ErrorCode::InvalidAccessKeyId))?;
                let mut sources =
                    vec![(arn(&acct, "user", &user.path, &user.name), user.inline.clone(), user.attached.clone())];
                for g in &user.groups {
                    if let Some(group) = crate::iam::load::<Group>(tx, IamKind::Group, g)? {
                        sources.push((arn(&acct, "group", &group.path, &group.name), group.inline, group.attached));
                    }
                }
                let tags = user.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
                Ok((user.name, user.path, user.id, tags, sources, user.boundary, policies))
            }
            Entity::Group(name) => {
                let group: Group =
                    crate::iam::load(tx, IamKind::Group, name)?.ok_or_else(|| S3Error::new(ErrorCode::NoSuchEntity))?;
                let sources =
                    vec![(arn(&acct, "group", &group.path, &group.name), group.inline.clone(), group.attached.clone())];
                Ok((group.name, group.path, group.id, vec![], sources, None, policies))
            }
            Entity::Role(name) => {
                // A deleted role's sessions lose every permission.
                let role: Role =
                    crate::iam::load(tx, IamKind::Role, name)?.ok_or_else(|| S3Error::new(ErrorCode::InvalidToken))?;
                let sources =
                    vec![(arn(&acct, "role", &role.path, &role.name), role.inline.clone(), role.attached.clone())];
                let tags = role.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
                Ok((role.name, role.path, role.id, tags, sources, role.boundary, policies))
            }
        }
    })
    .await?;
    let (name, path, unique_id, tags, sources, boundary_arn, policies) = loaded;
    let by_name: HashMap<String, ManagedPolicy> = policies.into_iter().map(|p| (p.name.to_lowercase(), p)).collect();
    let mut out = Vec::new();
    for (entity_arn, inline, attached) in &sources {
        for (n, doc) in inline {
            let id = PolicyId::new(PolicySource::IdentityInline { entity: entity_arn.clone(), name: n.clone() });
            out.push((id, state.policy_cache.get(doc, PolicyKind::Identity)?));
        }
        for a in attached {
            if let Some(doc) = managed_document(&by_name, account, a) {
                out.push((
                    PolicyId::new(PolicySource::IdentityManaged(a.clone())),
                    state.policy_cache.get(&doc, PolicyKind::Identity)?,
                ));
            }
        }
    }
    let boundary = match boundary_arn {
        Some(b) => {
            // A boundary whose policy is gone allows nothing.
            let doc = managed_document(&by_name, account, &b).unwrap_or_else(|| DENY_ALL.to_string());
            Some((
                PolicyId::new(PolicySource::Boundary(b)),
                state.policy_cache.get(&doc, PolicyKind::PermissionsBoundary)?,
            ))
        }
        None => None,
    };
    Ok(Identity { name, path, unique_id, tags, policies: out, boundary })
}

const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
/// What a federation session without a policy gets: nothing ("If you do not
/// pass a policy, the resulting federated user session has no permissions").
const ALLOW_NOTHING: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"none:none","Resource":"*"}]}"#;

/// Condition keys every request made with a session carries.
fn session_keys(keys: &mut ContextKeys, s: &latchkey_token::SessionClaims, now: time::OffsetDateTime) {
    if let Ok(t) = time::OffsetDateTime::from_unix_timestamp(s.issued_at) {
        keys.set("aws:TokenIssueTime", crate::iam::entities::timestamp(t));
    }
    keys.set("aws:MultiFactorAuthPresent", s.mfa_authenticated_at.is_some().to_string());
    if let Some(at) = s.mfa_authenticated_at {
        keys.set("aws:MultiFactorAuthAge", (now.unix_timestamp() - at).max(0).to_string());
    }
    if let Some(si) = &s.source_identity {
        keys.set("aws:SourceIdentity", si.clone());
    }
    for (k, v) in &s.tags {
        keys.set(&format!("aws:PrincipalTag/{k}"), v.clone());
    }
    for (k, v) in &s.federation_keys {
        keys.insert(k, v.iter().cloned());
    }
}

/// A session's own policies: the inline `Policy` and `PolicyArns` it was
/// issued with. Sessions of GetSessionToken have none.
fn session_policies(
    state: &Arc<AppState>,
    account: &str,
    s: &latchkey_token::SessionClaims,
) -> S3Result<Vec<(PolicyId, Arc<Policy>)>> {
    let mut out = Vec::new();
    if matches!(s.subject, latchkey_token::SessionSubject::SessionUser { .. }) {
        return Ok(out);
    }
    if let Some(doc) = &s.session_policy {
        out.push((
            PolicyId::new(PolicySource::Session("inline".into())),
            state.policy_cache.get(doc, PolicyKind::Session)?,
        ));
    }
    for a in &s.policy_arns {
        let doc = if let Some(name) = a.strip_prefix(AWS_POLICY_PREFIX) {
            aws_managed_policies().into_iter().find(|(n, _, _)| *n == name).map(|(_, _, d)| d.to_string())
        } else {
            None
        };
        let doc = match doc {
            Some(d) => d,
            None => session_managed_document(state, account, a).unwrap_or_else(|| ALLOW_NOTHING.to_string()),
        };
        out.push((PolicyId::new(PolicySource::Session(a.clone())), state.policy_cache.get(&doc, PolicyKind::Session)?));
    }
    if out.is_empty() && matches!(s.subject, latchkey_token::SessionSubject::FederatedUser { .. }) {
        out.push((
            PolicyId::new(PolicySource::Session("none".into())),
            state.policy_cache.get(ALLOW_NOTHING, PolicyKind::Session)?,
        ));
    }
    Ok(out)
}

/// A customer-managed policy's default document, for session PolicyArns.
fn session_managed_document(state: &AppState, account: &str, policy_arn: &str) -> Option<String> {
    let name = policy_arn.strip_prefix(&format!("arn:aws:iam::{account}:policy/"))?.rsplit('/').next()?;
    let doc = state.meta.iam_get(account, IamKind::Policy, name).ok()??;
    let p: ManagedPolicy = serde_json::from_str(&doc).ok()?;
    Some(p.default_document().to_string())
}

/// What is being asked.
pub struct AccessRequest<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    /// The account that owns the resource, when it exists (None for account-
    /// level actions such as ListAllMyBuckets and CreateBucket).
    pub resource_account: Option<&'a str>,
    /// Condition keys this request supplies beyond the caller's.
    pub keys: Vec<(String, Vec<String>)>,
    /// The resource's own policy (a bucket policy), with its label.
    pub resource_policy: Option<(String, Arc<Policy>)>,
}

impl<'a> AccessRequest<'a> {
    pub fn new(action: &'a str, resource: &'a str, resource_account: Option<&'a str>) -> Self {
        AccessRequest { action, resource, resource_account, keys: vec![], resource_policy: None }
    }
}

/// The engine's decision for `req`, with its explanation.
pub fn decide(caller: &Caller, req: &AccessRequest<'_>) -> (policy::Decision, policy::RequestContext) {
    let mut ctx = policy::RequestContext::new(caller.engine_principal.clone(), req.action, req.resource);
    ctx.resource_account = req.resource_account.map(str::to_string);
    ctx.keys = caller.keys.clone();
    for (k, v) in &req.keys {
        ctx.keys.insert(k, v.iter().cloned());
    }
    let set = PolicySet {
        identity: caller.identity.iter().map(|(id, p)| (id.clone(), p.as_ref())).collect(),
        resource: req
            .resource_policy
            .as_ref()
            .map(|(label, p)| (PolicyId::new(PolicySource::Resource(label.clone())), p.as_ref())),
        permissions_boundary: caller.boundary.as_ref().map(|(id, p)| (id.clone(), p.as_ref())),
        session: caller.session.iter().map(|(id, p)| (id.clone(), p.as_ref())).collect(),
    };
    (policy::evaluate(&ctx, &set), ctx)
}

/// [`decide`], as a result for handlers: AccessDenied with AWS's message.
pub fn authorize(caller: &Caller, req: &AccessRequest<'_>) -> S3Result<()> {
    let (decision, ctx) = decide(caller, req);
    if decision.allowed {
        crate::audit::note_decision(req.action, req.resource, &decision, None);
        return Ok(());
    }
    let why = decision.denial_message(&ctx).unwrap_or_else(|| "Access Denied".to_string());
    crate::audit::note_decision(req.action, req.resource, &decision, Some(&why));
    tracing::info!(action = req.action, resource = req.resource, reason = decision.reason.name(), "access denied");
    let mut err = S3Error::msg(ErrorCode::AccessDenied, why);
    if let (Some(sealer), Some(_)) = (&caller.message_sealer, &caller.principal) {
        err = err.with("EncodedAuthorizationMessage", encode_denial(sealer, &decision, &ctx));
    }
    Err(err)
}

/// The explanation of a denial, sealed so only DecodeAuthorizationMessage
/// (and so only principals allowed sts:DecodeAuthorizationMessage) reads it:
/// the same shape as AWS's decoded messages.
fn encode_denial(sealer: &latchkey_seal::Sealer, d: &policy::Decision, ctx: &policy::RequestContext) -> String {
    use base64::Engine;
    use rand::Rng;
    let statements: Vec<serde_json::Value> = d
        .matched
        .iter()
        .map(|m| serde_json::json!({"statementId": m.sid, "policy": m.policy.to_string(), "effect": format!("{:?}", m.effect)}))
        .collect();
    let conditions: Vec<serde_json::Value> =
        ctx.keys.iter().map(|(k, v)| serde_json::json!({"key": k, "values": {"items": v}})).collect();
    let doc = serde_json::json!({
        "allowed": false,
        "explicitDeny": matches!(d.reason, policy::DecisionReason::ExplicitDeny { .. }),
        "reason": d.reason.name(),
        "matchedStatements": {"items": statements},
        "failures": {"items": []},
        "context": {
            "principal": {"id": ctx.principal.user_id, "arn": ctx.principal.arn},
            "action": ctx.action,
            "resource": ctx.resource,
            "conditions": {"items": conditions},
        },
    });
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill(&mut nonce);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealer.seal(doc.to_string().as_bytes(), nonce))
}

/// Opens an encoded denial (DecodeAuthorizationMessage).
pub fn decode_denial(sealer: &latchkey_seal::Sealer, encoded: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim()).ok()?;
    let plain = sealer.open(&raw).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

/// AWS rejects resource and trust policies naming IAM users or roles that do
/// not exist ("Invalid principal in policy"); so does latchkey, for every
/// account it hosts and for accounts it does not (whose entities cannot exist).
pub async fn check_principals_exist(state: &Arc<AppState>, p: &Policy) -> S3Result<()> {
    let mut wanted: Vec<(String, IamKind, String, String)> = Vec::new();
    for s in p.statements() {
        let set = match s.principal() {
            Some(policy::PrincipalElement::Principal(set)) | Some(policy::PrincipalElement::NotPrincipal(set)) => set,
            None => continue,
        };
        for a in &set.aws {
            let (arn, kind) = match a {
                policy::AwsPrincipal::User(arn) => (arn, IamKind::User),
                policy::AwsPrincipal::Role(arn) => (arn, IamKind::Role),
                _ => continue,
            };
            // arn:aws:iam::ACCOUNT:user/path/NAME
            let mut parts = arn.splitn(6, ':');
            let account = parts.nth(4).unwrap_or_default().to_string();
            let name = arn.rsplit('/').next().unwrap_or_default().to_string();
            if name.contains('*') {
                continue;
            }
            wanted.push((account, kind, name, arn.clone()));
        }
    }
    for (account, kind, name, arn) in wanted {
        let (a, n) = (account.clone(), name.clone());
        let found = state.meta(move |m| m.iam_get(&a, kind, &n)).await?;
        let exists = found.is_some_and(|doc| {
            // The path in the ARN must be the entity's path too.
            let path = serde_json::from_str::<serde_json::Value>(&doc)
                .ok()
                .and_then(|v| v["path"].as_str().map(str::to_string))
                .unwrap_or_else(|| "/".into());
            let kind_name = if kind == IamKind::User { "user" } else { "role" };
            crate::iam::entities::arn(&account, kind_name, &path, &name) == arn
        });
        if !exists {
            return Err(S3Error::msg(
                ErrorCode::MalformedPolicyDocument,
                format!("Invalid principal in policy: \"AWS\":\"{arn}\""),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(owner: Option<&'static str>) -> AccessRequest<'static> {
        AccessRequest::new("s3:GetObject", "arn:aws:s3:::b/k", owner)
    }

    #[test]
    fn the_root_of_the_owning_account_is_allowed() {
        assert!(authorize(&Caller::root_for_tests("111111111111"), &req(Some("111111111111"))).is_ok());
    }

    #[test]
    fn the_root_of_another_account_is_denied_without_a_resource_policy() {
        let e = authorize(&Caller::root_for_tests("222222222222"), &req(Some("111111111111"))).unwrap_err();
        assert_eq!(e.code, ErrorCode::AccessDenied);
    }

    #[test]
    fn anonymous_requests_are_denied_without_a_resource_policy() {
        let anon = Caller {
            principal: None,
            engine_principal: policy::Principal::anonymous(),
            identity: vec![],
            boundary: None,
            session: vec![],
            keys: ContextKeys::new(),
            message_sealer: None,
        };
        assert!(authorize(&anon, &req(Some("111111111111"))).is_err());
    }
}
