//! Properties of the evaluation logic that hold for every policy set, checked
//! on random ones, and robustness of the parser and evaluator.
//!
//! - An explicit deny can never be overridden: adding Allow statements to any
//!   policy never turns it into an allow.
//! - Adding a Deny statement to any policy never widens access.
//! - Setting a permissions boundary never widens access.
//! - Passing session policies where there were none never widens access (for
//!   every principal but a federated user session, which without a session
//!   policy has no permissions at all — IAM User Guide, "Policy evaluation
//!   logic").
//! - Neither the parser nor the evaluator panics, on any input.

use latchkey_policy::{
    evaluate, Decision, DecisionReason, Policy, PolicyId, PolicyKind, PolicySet, PolicySource, Principal,
    RequestContext,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const ACTIONS: &[&str] =
    &["s3:GetObject", "s3:PutObject", "s3:*", "s3:Get*", "*", "iam:*", "s3:List?ucket", "S3:getobject"];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/${aws:username}/*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::b/k?",
    "arn:aws:s3:::b/${aws:PrincipalTag/team, 'x'}*",
];

fn condition() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!({"Bool": {"aws:SecureTransport": "true"}}))),
        1 => Just(Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))),
        1 => Just(Some(json!({"StringLike": {"s3:prefix": ["home/${aws:username}/*", ""]}}))),
        1 => Just(Some(json!({"StringNotEquals": {"aws:PrincipalTag/team": "red"}}))),
        1 => Just(Some(json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}))),
        1 => Just(Some(json!({"ForAnyValue:StringLike": {"aws:TagKeys": "a*"}}))),
        1 => Just(Some(json!({"NumericLessThanIfExists": {"s3:max-keys": "10"}}))),
        1 => Just(Some(json!({"Null": {"aws:TokenIssueTime": "true"}}))),
        1 => Just(Some(json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}))),
        1 => Just(Some(json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}))),
    ]
}

fn principal_element() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("*")),
        Just(json!({"AWS": "111122223333"})),
        Just(json!({"AWS": "arn:aws:iam::111122223333:root"})),
        Just(json!({"AWS": "arn:aws:iam::111122223333:user/alice"})),
        Just(json!({"AWS": "arn:aws:iam::111122223333:user/bob"})),
        Just(json!({"AWS": "arn:aws:iam::111122223333:role/app"})),
        Just(json!({"AWS": "arn:aws:sts::111122223333:assumed-role/app/s1"})),
        Just(json!({"AWS": "arn:aws:sts::111122223333:federated-user/carol"})),
        Just(json!({"AWS": ["444455556666", "arn:aws:iam::444455556666:user/dave"]})),
    ]
}

/// One statement; `with_principal` for resource policies.
fn statement(with_principal: bool, effect: Option<&'static str>) -> impl Strategy<Value = Value> {
    (
        prop::sample::subsequence(ACTIONS, 1..3),
        prop::sample::subsequence(RESOURCES, 1..3),
        any::<bool>(),
        any::<bool>(),
        condition(),
        principal_element(),
        any::<bool>(),
        prop_oneof![Just("Allow"), Just("Deny")],
    )
        .prop_map(
            move |(
                actions,
                resources,
                not_action,
                not_resource,
                condition,
                principal,
                not_principal,
                random_effect,
            )| {
                let mut s = serde_json::Map::new();
                s.insert("Effect".into(), json!(effect.unwrap_or(random_effect)));
                s.insert((if not_action { "NotAction" } else { "Action" }).into(), json!(actions));
                let resources: Vec<&str> = if with_principal {
                    // Bucket policies name bucket ARNs, not `*`.
                    resources.into_iter().map(|r| if r == "*" { "arn:aws:s3:::b/*" } else { r }).collect()
                } else {
                    resources
                };
                s.insert((if not_resource { "NotResource" } else { "Resource" }).into(), json!(resources));
                if let Some(c) = condition {
                    s.insert("Condition".into(), c);
                }
                if with_principal {
                    let deny = s["Effect"] == "Deny";
                    // NotPrincipal with Allow is legal but rare; keep it to denies.
                    let key = if not_principal && deny { "NotPrincipal" } else { "Principal" };
                    s.insert(key.into(), principal);
                }
                Value::Object(s)
            },
        )
}

fn document(statements: Vec<Value>) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn policy(with_principal: bool) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(statement(with_principal, None), 1..4)
}

#[derive(Debug, Clone)]
struct Scenario {
    identity: Vec<Vec<Value>>,
    resource: Option<Vec<Value>>,
    boundary: Option<Vec<Value>>,
    session: Vec<Vec<Value>>,
    ctx: RequestContext,
}

fn principal() -> impl Strategy<Value = Principal> {
    prop_oneof![
        Just(Principal::user("111122223333", "/", "alice", "AIDAALICE")),
        Just(Principal::user("111122223333", "/", "bob", "AIDABOB")),
        Just(Principal::user("444455556666", "/", "dave", "AIDADAVE")),
        Just(Principal::assumed_role("111122223333", "/", "app", "s1", "AROAAPP")),
        Just(Principal::assumed_role("111122223333", "/", "app", "s2", "AROAAPP")),
        Just(Principal::federated_user("111122223333", "carol", "arn:aws:iam::111122223333:user/bob")),
        Just(Principal::root("111122223333")),
        Just(Principal::anonymous()),
    ]
}

fn context() -> impl Strategy<Value = RequestContext> {
    (
        principal(),
        prop::sample::select(vec!["s3:GetObject", "s3:PutObject", "s3:ListBucket", "iam:CreateUser"]),
        prop::sample::select(vec![
            "arn:aws:s3:::b/k",
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/alice/x",
            "arn:aws:s3:::c/k",
            "*",
        ]),
        prop::option::of(prop::sample::select(vec!["111122223333", "444455556666"])),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["10.1.2.3", "192.0.2.1"])),
        prop::option::of(prop::sample::select(vec!["red", "blue"])),
        prop::option::of(prop::sample::subsequence(vec!["a", "b", "c"], 0..3)),
    )
        .prop_map(|(principal, action, resource, owner, tls, ip, team, tag_keys)| {
            let mut ctx = RequestContext::new(principal, action, resource);
            ctx.resource_account = owner.map(str::to_owned);
            ctx.keys.set("aws:SecureTransport", tls.to_string());
            ctx.keys.set("aws:CurrentTime", "2026-01-01T00:00:00Z");
            if let Some(ip) = ip {
                ctx.keys.set("aws:SourceIp", ip);
            }
            if let Some(team) = team {
                ctx.keys.set("aws:PrincipalTag/team", team);
            }
            if let Some(keys) = tag_keys {
                ctx.keys.insert("aws:TagKeys", keys);
            }
            ctx
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(policy(false), 0..3),
        prop::option::of(policy(true)),
        prop::option::of(policy(false)),
        prop::collection::vec(policy(false), 0..2),
        context(),
    )
        .prop_map(|(identity, resource, boundary, session, ctx)| Scenario {
            identity,
            resource,
            boundary,
            session,
            ctx,
        })
}

struct Parsed {
    identity: Vec<Policy>,
    resource: Option<Policy>,
    boundary: Option<Policy>,
    session: Vec<Policy>,
}

fn parse(s: &Scenario) -> Parsed {
    let p =
        |stmts: &Vec<Value>, kind| Policy::parse(&document(stmts.clone()), kind).expect("generated policies are valid");
    Parsed {
        identity: s.identity.iter().map(|x| p(x, PolicyKind::Identity)).collect(),
        resource: s.resource.as_ref().map(|x| p(x, PolicyKind::Resource)),
        boundary: s.boundary.as_ref().map(|x| p(x, PolicyKind::PermissionsBoundary)),
        session: s.session.iter().map(|x| p(x, PolicyKind::Session)).collect(),
    }
}

fn decide(s: &Scenario) -> Decision {
    let parsed = parse(s);
    let id = |source: PolicySource| PolicyId::new(source);
    let set = PolicySet {
        identity: parsed
            .identity
            .iter()
            .enumerate()
            .map(|(i, p)| (id(PolicySource::IdentityManaged(format!("arn:aws:iam::111122223333:policy/p{i}"))), p))
            .collect(),
        resource: parsed.resource.as_ref().map(|p| (id(PolicySource::Resource("arn:aws:s3:::b".into())), p)),
        permissions_boundary: parsed.boundary.as_ref().map(|p| (id(PolicySource::Boundary("b".into())), p)),
        session: parsed.session.iter().map(|p| (id(PolicySource::Session("inline".into())), p)).collect(),
    };
    evaluate(&s.ctx, &set)
}

/// Where an extra statement goes.
#[derive(Debug, Clone, Copy)]
enum Target {
    Identity,
    Resource,
    Boundary,
    Session,
}

fn add(s: &Scenario, target: Target, stmt: Value, principal_stmt: Value) -> Scenario {
    let mut s = s.clone();
    match target {
        Target::Identity => match s.identity.first_mut() {
            Some(p) => p.push(stmt),
            None => s.identity.push(vec![stmt]),
        },
        Target::Resource => s.resource.get_or_insert_with(Vec::new).push(principal_stmt),
        Target::Boundary => {
            if let Some(b) = s.boundary.as_mut() {
                b.push(stmt)
            }
        }
        Target::Session => {
            if let Some(p) = s.session.first_mut() {
                p.push(stmt)
            }
        }
    }
    s
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![Just(Target::Identity), Just(Target::Resource), Just(Target::Boundary), Just(Target::Session)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_global_rejects: 8192, ..ProptestConfig::default() })]

    #[test]
    fn an_explicit_deny_is_never_overridden(
        s in scenario(),
        extra in prop::collection::vec((target(), statement(false, Some("Allow")), statement(true, Some("Allow"))), 1..4),
    ) {
        let before = decide(&s);
        prop_assume!(matches!(before.reason, DecisionReason::ExplicitDeny { .. }));
        let mut widened = s.clone();
        for (t, stmt, pstmt) in extra {
            widened = add(&widened, t, stmt, pstmt);
        }
        let after = decide(&widened);
        prop_assert!(!after.allowed, "{:?}", after.reason);
        let still_explicit = matches!(after.reason, DecisionReason::ExplicitDeny { .. });
        prop_assert!(still_explicit);
    }

    #[test]
    fn adding_a_deny_never_widens_access(
        s in scenario(),
        t in target(),
        stmt in statement(false, Some("Deny")),
        pstmt in statement(true, Some("Deny")),
    ) {
        let before = decide(&s);
        let after = decide(&add(&s, t, stmt, pstmt));
        prop_assert!(!after.allowed || before.allowed, "{:?} -> {:?}", before.reason, after.reason);
    }

    #[test]
    fn a_boundary_never_widens_access(s in scenario(), boundary in policy(false)) {
        let mut without = s.clone();
        without.boundary = None;
        let mut with = s;
        with.boundary = Some(boundary);
        let (before, after) = (decide(&without), decide(&with));
        prop_assert!(!after.allowed || before.allowed, "{:?} -> {:?}", before.reason, after.reason);
    }

    #[test]
    fn session_policies_never_widen_access(s in scenario(), session in prop::collection::vec(policy(false), 1..3)) {
        prop_assume!(!matches!(s.ctx.principal.kind, latchkey_policy::PrincipalKind::FederatedUser { .. }));
        let mut without = s.clone();
        without.session = Vec::new();
        let mut with = s;
        with.session = session;
        let (before, after) = (decide(&without), decide(&with));
        prop_assert!(!after.allowed || before.allowed, "{:?} -> {:?}", before.reason, after.reason);
    }

    #[test]
    fn allowed_decisions_name_their_statements(s in scenario()) {
        let d = decide(&s);
        match &d.reason {
            DecisionReason::Allowed { by } => {
                let named = !by.is_empty() && by.iter().all(|m| d.matched.contains(m));
                prop_assert!(named);
            }
            DecisionReason::ExplicitDeny { statement, .. } => prop_assert!(d.matched.contains(statement)),
            _ => {}
        }
        // Anonymous denials carry S3's bare "Access Denied", not a message.
        let explained = d.denial_message(&s.ctx).is_some();
        prop_assert_eq!(explained, !d.allowed && !s.ctx.principal.arn.is_empty());
    }

    #[test]
    fn the_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust, PolicyKind::Session] {
            let _ = Policy::parse(&text, kind);
        }
        let _ = Policy::parse_managed(&text);
    }

    #[test]
    fn the_parser_and_evaluator_never_panic_on_json(doc in arbitrary_json(), ctx in context()) {
        let text = doc.to_string();
        for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust, PolicyKind::PermissionsBoundary] {
            if let Ok(p) = Policy::parse(&text, kind) {
                let set = PolicySet {
                    identity: vec![(PolicyId::new(PolicySource::IdentityManaged("p".into())), &p)],
                    resource: Some((PolicyId::new(PolicySource::Resource("r".into())), &p)),
                    permissions_boundary: Some((PolicyId::new(PolicySource::Boundary("b".into())), &p)),
                    session: vec![(PolicyId::new(PolicySource::Session("s".into())), &p)],
                };
                let d = evaluate(&ctx, &set);
                let _ = d.denial_message(&ctx);
            }
        }
    }
}

/// JSON shaped like policies, with random strings where values go.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let word = prop_oneof![
        Just("Version".to_owned()),
        Just("2012-10-17".to_owned()),
        Just("Statement".to_owned()),
        Just("Effect".to_owned()),
        Just("Allow".to_owned()),
        Just("Deny".to_owned()),
        Just("Action".to_owned()),
        Just("NotAction".to_owned()),
        Just("Resource".to_owned()),
        Just("NotResource".to_owned()),
        Just("Principal".to_owned()),
        Just("NotPrincipal".to_owned()),
        Just("Condition".to_owned()),
        Just("AWS".to_owned()),
        Just("*".to_owned()),
        Just("s3:*".to_owned()),
        Just("arn:aws:s3:::b/*".to_owned()),
        Just("StringLike".to_owned()),
        Just("ForAllValues:StringNotEqualsIfExists".to_owned()),
        Just("DateLessThan".to_owned()),
        Just("IpAddress".to_owned()),
        Just("aws:SourceIp".to_owned()),
        Just("${aws:username}".to_owned()),
        "[a-zA-Z0-9:/*?${}', .-]{0,24}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        word.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((word.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}
