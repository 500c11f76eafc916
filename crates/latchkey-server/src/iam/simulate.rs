//! SimulatePrincipalPolicy and SimulateCustomPolicy: the same engine that
//! decides real requests, asked "what if", with the statements that matched.

use super::query::QueryXml;
use super::{paginate, write_page_end, IamRequest};
use crate::authz::{decide, simulation_caller, AccessRequest, Caller};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use latchkey_policy::{self as policy, ContextKeys, Policy, PolicyId, PolicyKind, PolicySource, PolicyType};
use std::sync::Arc;

fn parse_input(doc: &str, kind: PolicyKind) -> S3Result<Arc<Policy>> {
    Policy::parse(doc, kind).map(Arc::new).map_err(|e| S3Error::msg(ErrorCode::MalformedPolicyDocument, e.to_string()))
}

/// `ContextEntries.member.N.ContextKeyName` / `.ContextKeyValues.member.M`.
fn context_entries(req: &IamRequest) -> Vec<(String, Vec<String>)> {
    let p = req.params;
    let mut out = Vec::new();
    for i in 1.. {
        let Some(name) = p.get(&format!("ContextEntries.member.{i}.ContextKeyName")) else { break };
        let values =
            p.members(&format!("ContextEntries.member.{i}.ContextKeyValues")).into_iter().map(str::to_string).collect();
        out.push((name.to_string(), values));
    }
    out
}

fn decision_name(d: &policy::Decision) -> &'static str {
    if d.allowed {
        "allowed"
    } else if matches!(d.reason, policy::DecisionReason::ExplicitDeny { .. }) {
        "explicitDeny"
    } else {
        "implicitDeny"
    }
}

fn source_type(t: PolicyType, id: &PolicyId) -> &'static str {
    match (t, &id.kind) {
        (PolicyType::Resource | PolicyType::Trust, _) => "resource",
        (PolicyType::PermissionsBoundary, _) => "none",
        (_, PolicySource::IdentityManaged(a)) if a.starts_with("arn:aws:iam::aws:") => "aws-managed",
        (_, PolicySource::IdentityManaged(_)) => "managed",
        (_, PolicySource::IdentityInline { entity, .. }) if entity.contains(":group/") => "group",
        (_, PolicySource::IdentityInline { entity, .. }) if entity.contains(":role/") => "role",
        (_, PolicySource::IdentityInline { .. }) => "user",
        _ => "user",
    }
}

fn source_id(id: &PolicyId) -> String {
    match &id.kind {
        PolicySource::IdentityManaged(a) | PolicySource::Boundary(a) => a.clone(),
        PolicySource::IdentityInline { entity, name } if entity == "PolicyInputList" => name.clone(),
        PolicySource::IdentityInline { entity, name } => {
            format!("{}_{name}", entity.rsplit('/').next().unwrap_or(entity))
        }
        PolicySource::Resource(r) => format!("resource policy of {r}"),
        PolicySource::Session(s) => s.clone(),
    }
}

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let p = req.params;
    let actions: Vec<String> = p.members("ActionNames").into_iter().map(str::to_string).collect();
    if actions.is_empty() {
        return Err(S3Error::msg(ErrorCode::ValidationError, "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null"));
    }
    let mut resources: Vec<String> = p.members("ResourceArns").into_iter().map(str::to_string).collect();
    if resources.is_empty() {
        resources.push("*".to_string());
    }
    let extra: Vec<(PolicyId, Arc<Policy>)> = p
        .members("PolicyInputList")
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            Ok((
                PolicyId::new(PolicySource::IdentityInline {
                    entity: "PolicyInputList".into(),
                    name: format!("PolicyInputList.{}", i + 1),
                }),
                parse_input(d, PolicyKind::Identity)?,
            ))
        })
        .collect::<S3Result<_>>()?;
    let boundaries: Vec<Arc<Policy>> = p
        .members("PermissionsBoundaryPolicyInputList")
        .into_iter()
        .map(|d| parse_input(d, PolicyKind::PermissionsBoundary))
        .collect::<S3Result<_>>()?;
    let resource_policy = match p.get("ResourcePolicy") {
        Some(d) => Some(("ResourcePolicy".to_string(), parse_input(d, PolicyKind::Resource)?)),
        None => None,
    };
    let caller: Caller = if action == "SimulatePrincipalPolicy" {
        let source = p.required("PolicySourceArn")?.to_string();
        simulation_caller(state, req.account(), &source, extra, boundaries.into_iter().next()).await?
    } else {
        if extra.is_empty() {
            return Err(S3Error::msg(ErrorCode::ValidationError, "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null"));
        }
        let caller_arn = p.get("CallerArn").unwrap_or("").to_string();
        let principal = if caller_arn.contains(":user/") {
            let name = caller_arn.rsplit('/').next().unwrap_or_default();
            policy::Principal::user(req.account(), "/", name, "AIDASIMULATION")
        } else {
            policy::Principal::user(req.account(), "/", "simulated-user", "AIDASIMULATION")
        };
        Caller::for_simulation(principal, extra, boundaries.into_iter().next(), ContextKeys::new())
    };
    let owner = p
        .get("ResourceOwner")
        .and_then(|o| o.strip_prefix("arn:aws:iam::"))
        .and_then(|o| o.split(':').next())
        .map(str::to_string);
    let context = context_entries(req);
    let mut results = Vec::new();
    for a in &actions {
        for r in &resources {
            let mut access = AccessRequest::new(a, r, Some(owner.as_deref().unwrap_or(req.account())));
            access.keys = context.clone();
            access.resource_policy = resource_policy.clone();
            let (d, _) = decide(&caller, &access);
            results.push((a.clone(), r.clone(), d));
        }
    }
    let (page, truncated, marker) = paginate(results, p)?;
    let mut x = QueryXml::new(action, super::entities::IAM_NS);
    x.w().open("EvaluationResults");
    for (a, r, d) in &page {
        x.w()
            .open("member")
            .elem("EvalActionName", a)
            .elem("EvalResourceName", r)
            .elem("EvalDecision", decision_name(d));
        x.w().open("MatchedStatements");
        let matched: Vec<&policy::MatchedStatement> = match &d.reason {
            policy::DecisionReason::ExplicitDeny { statement, .. } => vec![statement],
            _ => d.matched.iter().collect(),
        };
        for m in matched {
            x.w()
                .open("member")
                .elem("SourcePolicyId", source_id(&m.policy))
                .elem("SourcePolicyType", source_type(m.policy_type, &m.policy))
                .open("StartPosition")
                .elem("Line", "1")
                .elem("Column", (m.index + 1).to_string())
                .close()
                .open("EndPosition")
                .elem("Line", "1")
                .elem("Column", (m.index + 1).to_string())
                .close()
                .close();
        }
        x.w().close().open("MissingContextValues").close();
        if let Some(b) = caller_has_boundary(&caller) {
            x.w()
                .open("PermissionsBoundaryDecisionDetail")
                .elem(
                    "AllowedByPermissionsBoundary",
                    (b && !matches!(d.reason, policy::DecisionReason::BoundaryImplicitDeny)).to_string(),
                )
                .close();
        }
        x.w().close();
    }
    x.w().close();
    write_page_end(&mut x, truncated, marker);
    Ok(x.finish(req.request_id))
}

fn caller_has_boundary(c: &Caller) -> Option<bool> {
    c.has_boundary().then_some(true)
}
