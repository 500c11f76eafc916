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
    /// Request-wide condition keys (time, source IP, principal tags, ...).
    pub keys: ContextKeys,
}

/// Facts about the HTTP request that become global condition keys.
pub struct RequestFacts<'a> {
    pub source_ip: Option<std::net::IpAddr>,
    pub user_agent: Option<&'a str>,
    pub referer: Option<&'a str>,
    pub secure_transport: bool,
    pub now: time::OffsetDateTime,
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
        keys.set("aws:CurrentTime", crate::iam::entities::timestamp(now));
        keys.set("aws:EpochTime", now.unix_timestamp().to_string());
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
        let Some(p) = principal else {
            return Ok(Caller {
                principal: None,
                engine_principal: policy::Principal::anonymous(),
                identity: vec![],
                boundary: None,
                keys,
            });
        };
        match &p.kind {
            PrincipalKind::AccountRoot => Ok(Caller {
                engine_principal: policy::Principal::root(&p.account_id),
                principal: Some(p),
                identity: vec![],
                boundary: None,
                keys,
            }),
            PrincipalKind::User(name) => {
                let (account, name) = (p.account_id.clone(), name.clone());
                let (user, groups, policies) = crate::iam::transact(state, &account.clone(), move |tx| {
                    let user: User = crate::iam::load(tx, IamKind::User, &name)?
                        .ok_or_else(|| S3Error::new(ErrorCode::InvalidAccessKeyId))?;
                    let mut groups = Vec::new();
                    for g in &user.groups {
                        if let Some(group) = crate::iam::load::<Group>(tx, IamKind::Group, g)? {
                            groups.push(group);
                        }
                    }
                    let policies: Vec<ManagedPolicy> = crate::iam::load_all(tx, IamKind::Policy)?;
                    Ok((user, groups, policies))
                })
                .await?;
                let by_name: HashMap<String, ManagedPolicy> =
                    policies.into_iter().map(|p| (p.name.to_lowercase(), p)).collect();
                let user_arn = crate::iam::entities::arn(&account, "user", &user.path, &user.name);
                let mut identity = Vec::new();
                let mut add_entity = |entity_arn: &str,
                                      inline: &std::collections::BTreeMap<String, String>,
                                      attached: &[String]|
                 -> S3Result<()> {
                    for (n, doc) in inline {
                        let id = PolicyId::new(PolicySource::IdentityInline {
                            entity: entity_arn.to_string(),
                            name: n.clone(),
                        });
                        identity.push((id, state.policy_cache.get(doc, PolicyKind::Identity)?));
                    }
                    for a in attached {
                        if let Some(doc) = managed_document(&by_name, &account, a) {
                            identity.push((
                                PolicyId::new(PolicySource::IdentityManaged(a.clone())),
                                state.policy_cache.get(&doc, PolicyKind::Identity)?,
                            ));
                        }
                    }
                    Ok(())
                };
                add_entity(&user_arn, &user.inline, &user.attached)?;
                for g in &groups {
                    let garn = crate::iam::entities::arn(&account, "group", &g.path, &g.name);
                    add_entity(&garn, &g.inline, &g.attached)?;
                }
                let boundary = match &user.boundary {
                    Some(b) => match managed_document(&by_name, &account, b) {
                        Some(doc) => Some((PolicyId::new(PolicySource::Boundary(b.clone())), state.policy_cache.get(&doc, PolicyKind::PermissionsBoundary)?)),
                        // A boundary whose policy is gone allows nothing.
                        None => Some((PolicyId::new(PolicySource::Boundary(b.clone())), state.policy_cache.get(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#, PolicyKind::PermissionsBoundary)?)),
                    },
                    None => None,
                };
                for t in &user.tags {
                    keys.set(&format!("aws:PrincipalTag/{}", t.key), t.value.clone());
                }
                Ok(Caller {
                    engine_principal: policy::Principal::user(&account, &user.path, &user.name, &user.id),
                    principal: Some(p),
                    identity,
                    boundary,
                    keys,
                })
            }
        }
    }

    /// A caller for internal tests: the root of `account`.
    pub fn root_for_tests(account: &str) -> Caller {
        Caller {
            principal: Some(Principal {
                account_id: account.into(),
                kind: PrincipalKind::AccountRoot,
                access_key_id: "AKIATEST".into(),
            }),
            engine_principal: policy::Principal::root(account),
            identity: vec![],
            boundary: None,
            keys: ContextKeys::new(),
        }
    }
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
        session: vec![],
        ..Default::default()
    };
    (policy::evaluate(&ctx, &set), ctx)
}

/// [`decide`], as a result for handlers: AccessDenied with AWS's message.
pub fn authorize(caller: &Caller, req: &AccessRequest<'_>) -> S3Result<()> {
    let (decision, ctx) = decide(caller, req);
    if decision.allowed {
        return Ok(());
    }
    let why = decision.denial_message(&ctx).unwrap_or_else(|| "Access Denied".to_string());
    tracing::info!(action = req.action, resource = req.resource, reason = decision.reason.name(), "access denied");
    Err(S3Error::msg(ErrorCode::AccessDenied, why))
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
            keys: ContextKeys::new(),
        };
        assert!(authorize(&anon, &req(Some("111111111111"))).is_err());
    }
}
