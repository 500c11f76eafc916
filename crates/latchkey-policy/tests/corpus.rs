//! The table-driven corpus: every file under `tests/corpus/` holds groups of
//! policies with requests and the decision AWS documents for each, and
//! documents with the refusal AWS answers on write. One runner walks them all
//! and names every case that fails.
//!
//! File format (JSON):
//! ```text
//! { "topic": "...",
//!   "groups": [ { "name", "doc"?, "identity"?: [policy], "resource"?: policy,
//!                 "resource_kind"?: "Resource" | "Trust", "boundary"?: policy,
//!                 "session"?: [policy], "request"?: {defaults},
//!                 "checks": [ { "name", "doc"?, "principal"?, "action"?, "resource"?,
//!                               "resource_account"?, "keys"?: {name: value | [values]},
//!                               "expect": "allow" | "allow:RootUser" | "deny:NoIdentityAllow"
//!                                         | "deny:ExplicitDeny:Resource" | ...,
//!                               "message"?: "AccessDenied text" } ] } ],
//!   "parse": [ { "name", "doc"?, "kind": "Identity"|..., "managed"?: bool,
//!                "policy": document (JSON, or a string of raw text),
//!                "error": "MalformedPolicyDocument reason" | null } ] }
//! ```
//! Principals: `user:ACCOUNT:NAME`, `root:ACCOUNT`, `role:ACCOUNT:ROLE:SESSION`,
//! `federated:ACCOUNT:NAME:FEDERATING_USER` (`root` for the account root),
//! `anonymous`, `service:NAME`, `webidentity:PROVIDER`. Defaults: principal
//! `user:111122223333:alice`, action `s3:GetObject`, resource
//! `arn:aws:s3:::bucket/key`.

use std::fs;
use std::path::Path;

use latchkey_policy::{
    evaluate, DecisionReason, Policy, PolicyId, PolicyKind, PolicySet, PolicySource, Principal, PrincipalKind,
    RequestContext,
};
use serde_json::{Map, Value};

fn policy_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap(),
    }
}

fn kind_named(name: &str) -> PolicyKind {
    match name {
        "Identity" => PolicyKind::Identity,
        "Resource" => PolicyKind::Resource,
        "Trust" => PolicyKind::Trust,
        "PermissionsBoundary" => PolicyKind::PermissionsBoundary,
        "Session" => PolicyKind::Session,
        other => panic!("unknown policy kind {other}"),
    }
}

pub fn principal(spec: &str) -> Principal {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        ["user", account, name] => Principal::user(account, "/", name, &format!("AIDA{}", name.to_uppercase())),
        ["user", account, name, id] => Principal::user(account, "/", name, id),
        ["root", account] => Principal::root(account),
        ["role", account, role, session] => {
            Principal::assumed_role(account, "/", role, session, &format!("AROA{}", role.to_uppercase()))
        }
        ["federated", account, name, "root"] => {
            Principal::federated_user(account, name, &format!("arn:aws:iam::{account}:root"))
        }
        ["federated", account, name, user] => {
            Principal::federated_user(account, name, &format!("arn:aws:iam::{account}:user/{user}"))
        }
        ["anonymous"] => Principal::anonymous(),
        ["service", name @ ..] => Principal {
            arn: String::new(),
            account: String::new(),
            kind: PrincipalKind::Service { name: name.join(":") },
            user_id: name.join(":"),
            username: None,
            canonical_id: None,
        },
        ["webidentity", provider @ ..] => Principal {
            arn: String::new(),
            account: String::new(),
            kind: PrincipalKind::WebIdentity { provider: provider.join(":") },
            user_id: provider.join(":"),
            username: None,
            canonical_id: None,
        },
        _ => panic!("bad principal spec {spec}"),
    }
}

struct Tally {
    cases: usize,
    failures: Vec<String>,
}

fn get<'a>(check: &'a Map<String, Value>, defaults: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    check.get(key).or_else(|| defaults.get(key))
}

fn run_group(file: &str, group: &Value, tally: &mut Tally) {
    let gname = group["name"].as_str().expect("group name");
    let parse = |v: &Value, kind: PolicyKind, what: &str| -> Result<Policy, String> {
        Policy::parse(&policy_text(v), kind).map_err(|e| format!("{what} does not parse: {e}"))
    };
    let mut policies = Vec::new();
    let mut problems = Vec::new();
    let mut identity = Vec::new();
    if let Some(list) = group.get("identity").and_then(Value::as_array) {
        for (i, p) in list.iter().enumerate() {
            match parse(p, PolicyKind::Identity, "identity policy") {
                Ok(p) => identity.push((i, p)),
                Err(e) => problems.push(e),
            }
        }
    }
    let resource_kind =
        group.get("resource_kind").and_then(Value::as_str).map(kind_named).unwrap_or(PolicyKind::Resource);
    let resource = group.get("resource").map(|p| parse(p, resource_kind, "resource policy"));
    let boundary = group.get("boundary").map(|p| parse(p, PolicyKind::PermissionsBoundary, "boundary"));
    let mut session = Vec::new();
    if let Some(list) = group.get("session").and_then(Value::as_array) {
        for p in list {
            match parse(p, PolicyKind::Session, "session policy") {
                Ok(p) => session.push(p),
                Err(e) => problems.push(e),
            }
        }
    }
    for r in [&resource, &boundary].into_iter().flatten() {
        if let Err(e) = r {
            problems.push(e.clone());
        }
    }
    policies.extend(identity.iter().map(|(i, p)| {
        (PolicyId::new(PolicySource::IdentityManaged(format!("arn:aws:iam::111122223333:policy/identity{i}"))), p)
    }));
    let set = PolicySet {
        identity: policies,
        resource: resource
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(|p| (PolicyId::new(PolicySource::Resource("resource".into())), p)),
        permissions_boundary: boundary
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(|p| (PolicyId::new(PolicySource::Boundary("arn:aws:iam::111122223333:policy/boundary".into())), p)),
        session: session.iter().map(|p| (PolicyId::new(PolicySource::Session("inline".into())), p)).collect(),
    };
    let empty = Map::new();
    let defaults = group.get("request").and_then(Value::as_object).unwrap_or(&empty);
    for check in group["checks"].as_array().expect("checks") {
        tally.cases += 1;
        let check = check.as_object().expect("check object");
        let cname = check.get("name").and_then(Value::as_str).unwrap_or("?");
        let label = format!("{file} / {gname} / {cname}");
        if !problems.is_empty() {
            tally.failures.push(format!("{label}: {}", problems.join("; ")));
            continue;
        }
        let pspec = get(check, defaults, "principal").and_then(Value::as_str).unwrap_or("user:111122223333:alice");
        let action = get(check, defaults, "action").and_then(Value::as_str).unwrap_or("s3:GetObject");
        let res = get(check, defaults, "resource").and_then(Value::as_str).unwrap_or("arn:aws:s3:::bucket/key");
        let mut ctx = RequestContext::new(principal(pspec), action, res);
        ctx.resource_account = get(check, defaults, "resource_account").and_then(Value::as_str).map(str::to_owned);
        for source in [defaults.get("keys"), check.get("keys")].into_iter().flatten() {
            for (name, value) in source.as_object().expect("keys object") {
                ctx.keys.remove(name);
                match value {
                    Value::Array(items) => {
                        ctx.keys.insert(name, items.iter().map(|v| v.as_str().expect("string value").to_owned()))
                    }
                    Value::String(s) => ctx.keys.set(name, s.clone()),
                    other => panic!("{label}: key {name} has {other}"),
                }
            }
        }
        let decision = evaluate(&ctx, &set);
        let expect = check.get("expect").and_then(Value::as_str).expect("expect");
        let got = match &decision.reason {
            DecisionReason::ExplicitDeny { policy_type, .. } => format!("deny:ExplicitDeny:{policy_type:?}"),
            DecisionReason::Allowed { .. } => "allow".to_owned(),
            DecisionReason::RootUser => "allow:RootUser".to_owned(),
            other => format!("deny:{}", other.name()),
        };
        let ok = if expect == "allow" { decision.allowed && got == "allow" || expect == got } else { expect == got };
        if !ok || decision.allowed != expect.starts_with("allow") {
            tally.failures.push(format!("{label}: expected {expect}, got {got}"));
            continue;
        }
        if let Some(want) = check.get("message").and_then(Value::as_str) {
            let message = decision.denial_message(&ctx);
            if message.as_deref() != Some(want) {
                tally.failures.push(format!("{label}: message {message:?}, expected {want:?}"));
            }
        }
    }
}

fn run_parse(file: &str, case: &Value, tally: &mut Tally) {
    tally.cases += 1;
    let name = case["name"].as_str().expect("parse case name");
    let label = format!("{file} / parse / {name}");
    let kind = kind_named(case.get("kind").and_then(Value::as_str).unwrap_or("Identity"));
    let text = policy_text(&case["policy"]);
    let result = if case.get("managed").and_then(Value::as_bool).unwrap_or(false) {
        Policy::parse_managed(&text)
    } else {
        Policy::parse(&text, kind)
    };
    let want = case.get("error").and_then(Value::as_str);
    let got = result.as_ref().err().map(|e| e.reason.as_str());
    if want != got {
        tally.failures.push(format!("{label}: expected {want:?}, got {got:?}"));
    }
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut tally = Tally { cases: 0, failures: Vec::new() };
    let mut per_file = Vec::new();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let before = tally.cases;
        for group in doc.get("groups").and_then(Value::as_array).into_iter().flatten() {
            run_group(&file, group, &mut tally);
        }
        for case in doc.get("parse").and_then(Value::as_array).into_iter().flatten() {
            run_parse(&file, case, &mut tally);
        }
        per_file.push(format!("{file}: {}", tally.cases - before));
    }
    println!("corpus: {} cases\n  {}", tally.cases, per_file.join("\n  "));
    if !tally.failures.is_empty() {
        panic!("{} of {} corpus cases failed:\n  {}", tally.failures.len(), tally.cases, tally.failures.join("\n  "));
    }
    assert!(tally.cases >= 400, "the corpus has only {} cases", tally.cases);
}
