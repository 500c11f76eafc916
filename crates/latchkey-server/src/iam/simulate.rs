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
    let inputs: Vec<String> = p.members("PolicyInputList").into_iter().map(str::to_string).collect();
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
    let extra_for_missing = extra.clone();
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
    // Condition keys the input policies use that the request did not supply.
    let mut missing: Vec<String> = Vec::new();
    let provided: Vec<String> = context.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    let mut scan = |pol: &Policy| {
        for st in pol.statements() {
            for c in st.conditions() {
                let k = c.key().to_string();
                if !provided.contains(&k.to_ascii_lowercase()) && !missing.iter().any(|m| m.eq_ignore_ascii_case(&k)) {
                    missing.push(k);
                }
            }
        }
    };
    for (_, pol) in &extra_for_missing {
        scan(pol);
    }
    if let Some((_, rp)) = &resource_policy {
        scan(rp);
    }
    // Statement positions refer to the input documents.
    let span_of = |id: &PolicyId, index: usize| -> ((usize, usize), (usize, usize)) {
        let doc = match &id.kind {
            PolicySource::IdentityInline { entity, name } if entity == "PolicyInputList" => name
                .strip_prefix("PolicyInputList.")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| inputs.get(n - 1)),
            _ => None,
        };
        doc.and_then(|d| statement_span(d, index)).unwrap_or(((1, 1), (1, 1)))
    };
    let (page, truncated, marker) = paginate(results, p)?;
    let mut x = QueryXml::new(action, super::entities::IAM_NS);
    x.w().open("EvaluationResults");
    for (a, r, d) in &page {
        let r: &str = r;
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
                .elem("Line", span_of(&m.policy, m.index).0 .0.to_string())
                .elem("Column", span_of(&m.policy, m.index).0 .1.to_string())
                .close()
                .open("EndPosition")
                .elem("Line", span_of(&m.policy, m.index).1 .0.to_string())
                .elem("Column", span_of(&m.policy, m.index).1 .1.to_string())
                .close()
                .close();
        }
        x.w().close().open("MissingContextValues");
        if r == "*" {
            for k in &missing {
                x.w().elem("member", k);
            }
        }
        x.w().close();
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

/// Where statement `index` of a policy document sits: (line, column) of its
/// opening and closing braces, 1-based, as the simulator reports them.
pub fn statement_span(doc: &str, index: usize) -> Option<((usize, usize), (usize, usize))> {
    let chars: Vec<char> = doc.chars().collect();
    let pos = |i: usize| {
        let before = &chars[..i];
        let line = before.iter().filter(|c| **c == '\n').count() + 1;
        let col = i - before.iter().rposition(|c| *c == '\n').map(|p| p + 1).unwrap_or(0) + 1;
        (line, col)
    };
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let mut key_start = None;
    let mut last_key = String::new();
    let mut in_statement = false;
    let mut statement_depth = 0;
    let mut seen = 0usize;
    let mut start = None;
    for (i, &c) in chars.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
                if let Some(k) = key_start.take() {
                    last_key = chars[k..i].iter().collect();
                }
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                if depth == 1 {
                    key_start = Some(i + 1);
                }
            }
            '{' | '[' => {
                depth += 1;
                if depth == 2 && last_key == "Statement" && !in_statement {
                    in_statement = true;
                    statement_depth = if c == '[' { 3 } else { 2 };
                    if c == '{' {
                        start = Some(i);
                    }
                } else if in_statement && depth == statement_depth && c == '{' && seen == index {
                    start = Some(i);
                }
            }
            '}' | ']' => {
                if in_statement && depth == statement_depth && c == '}' {
                    if let Some(st) = start {
                        if seen == index {
                            return Some((pos(st), pos(i)));
                        }
                    }
                    seen += 1;
                }
                if in_statement && depth == 2 {
                    in_statement = false;
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    None
}

fn caller_has_boundary(c: &Caller) -> Option<bool> {
    c.has_boundary().then_some(true)
}

#[cfg(test)]
mod tests {
    use super::statement_span;

    #[test]
    fn statements_are_located_by_line_and_column() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow"},{"Sid":"B"}]}"#;
        let ((l1, c1), (l2, c2)) = statement_span(doc, 1).unwrap();
        assert_eq!((l1, l2), (1, 1));
        assert_eq!(&doc[c1 - 1..c2], r#"{"Sid":"B"}"#);
        let multi = "{\n \"Statement\": {\n  \"Effect\": \"Allow\"\n }\n}";
        assert_eq!(statement_span(multi, 0), Some(((2, 15), (4, 2))));
        assert_eq!(statement_span(doc, 5), None);
    }
}
