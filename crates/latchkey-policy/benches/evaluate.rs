//! Cost of one decision against a realistic policy set: ten policies of ten
//! statements (eight identity policies, a permissions boundary and a bucket
//! policy), with conditions and policy variables.
//!
//! Run: `cargo bench -p latchkey-policy --bench evaluate`. Prints, per
//! request, the median over 101 samples of the mean time per decision.

use std::hint::black_box;
use std::time::Instant;

use latchkey_policy::{evaluate, Policy, PolicyId, PolicyKind, PolicySet, PolicySource, Principal, RequestContext};
use serde_json::{json, Value};

/// Ten statements mixing the shapes real policies have.
fn statements(n: usize, with_principal: bool) -> Vec<Value> {
    let bucket = format!("team{n}-data");
    let mut out = vec![
        json!({"Sid": format!("List{n}"), "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": format!("arn:aws:s3:::{bucket}"),
               "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}}),
        json!({"Sid": format!("Home{n}"), "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
               "Resource": [format!("arn:aws:s3:::{bucket}/home/${{aws:username}}"), format!("arn:aws:s3:::{bucket}/home/${{aws:username}}/*")]}),
        json!({"Sid": format!("Team{n}"), "Effect": "Allow", "Action": "s3:Get*", "Resource": format!("arn:aws:s3:::{bucket}/shared/*"),
               "Condition": {"StringEquals": {"aws:PrincipalTag/team": format!("team{n}")}}}),
        json!({"Sid": format!("Office{n}"), "Effect": "Allow", "Action": ["s3:PutObject*"], "Resource": format!("arn:aws:s3:::{bucket}/uploads/*"),
               "Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}, "Bool": {"aws:SecureTransport": "true"}}}),
        json!({"Sid": format!("Window{n}"), "Effect": "Allow", "Action": "s3:GetObjectVersion", "Resource": format!("arn:aws:s3:::{bucket}/*"),
               "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}, "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}),
        json!({"Sid": format!("Tags{n}"), "Effect": "Allow", "Action": "s3:PutObjectTagging", "Resource": format!("arn:aws:s3:::{bucket}/*"),
               "Condition": {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["project", "owner"]}}}),
        json!({"Sid": format!("Keys{n}"), "Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}"),
               "Condition": {"NumericLessThanEquals": {"s3:max-keys": "1000"}}}),
        json!({"Sid": format!("Iam{n}"), "Effect": "Allow", "Action": ["iam:*AccessKey*", "iam:GetUser"], "Resource": "arn:aws:iam::*:user/${aws:username}"}),
        json!({"Sid": format!("DenyTls{n}"), "Effect": "Deny", "Action": "s3:*", "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
               "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        json!({"Sid": format!("DenyOld{n}"), "Effect": "Deny", "NotAction": ["iam:ChangePassword", "sts:GetSessionToken"], "Resource": "*",
               "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}}),
    ];
    if with_principal {
        for (i, s) in out.iter_mut().enumerate() {
            let principal = match i % 3 {
                0 => json!({"AWS": "arn:aws:iam::111122223333:root"}),
                1 => json!({"AWS": ["arn:aws:iam::111122223333:role/app", "arn:aws:iam::444455556666:user/partner"]}),
                _ => json!("*"),
            };
            s.as_object_mut().unwrap().insert("Principal".into(), principal);
            // Bucket policies may not use `*` as a resource.
            if s["Resource"] == "*" || s["Resource"].as_str().is_some_and(|r| r.starts_with("arn:aws:iam")) {
                s.as_object_mut().unwrap().insert("Resource".into(), json!("arn:aws:s3:::team0-data/*"));
                s.as_object_mut().unwrap().insert("Action".into(), json!("s3:GetObjectAcl"));
                s.as_object_mut().unwrap().remove("NotAction");
            }
        }
    }
    out
}

fn document(statements: Vec<Value>) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn main() {
    let identity: Vec<Policy> =
        (0..8).map(|n| Policy::parse(&document(statements(n, false)), PolicyKind::Identity).unwrap()).collect();
    let boundary = Policy::parse(
        &document({
            let mut s = statements(8, false);
            s[0] = json!({"Effect": "Allow", "Action": ["s3:*", "iam:*AccessKey*", "iam:GetUser"], "Resource": "*"});
            s
        }),
        PolicyKind::PermissionsBoundary,
    )
    .unwrap();
    let bucket = Policy::parse(&document(statements(0, true)), PolicyKind::Resource).unwrap();
    let set = PolicySet {
        identity: identity
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (PolicyId::new(PolicySource::IdentityManaged(format!("arn:aws:iam::111122223333:policy/p{i}"))), p)
            })
            .collect(),
        resource: Some((PolicyId::new(PolicySource::Resource("arn:aws:s3:::team0-data".into())), &bucket)),
        permissions_boundary: Some((
            PolicyId::new(PolicySource::Boundary("arn:aws:iam::111122223333:policy/boundary".into())),
            &boundary,
        )),
        session: Vec::new(),
    };
    let total: usize = [identity.len(), 2].iter().sum();
    let statements_total: usize = identity.iter().chain([&boundary, &bucket]).map(|p| p.statements().len()).sum();

    let base = |action: &str, resource: &str| {
        let mut ctx = RequestContext::new(Principal::user("111122223333", "/", "alice", "AIDAALICE"), action, resource);
        ctx.keys.set("aws:SecureTransport", "true");
        ctx.keys.set("aws:SourceIp", "203.0.113.7");
        ctx.keys.set("aws:CurrentTime", "2026-05-01T12:00:00Z");
        ctx.keys.set("aws:PrincipalTag/team", "team3");
        ctx
    };
    let mut requests: Vec<(&str, RequestContext)> = Vec::new();
    requests
        .push(("GetObject own home (allowed)", base("s3:GetObject", "arn:aws:s3:::team5-data/home/alice/notes.txt")));
    let mut list = base("s3:ListBucket", "arn:aws:s3:::team2-data");
    list.keys.set("s3:prefix", "home/alice/");
    list.keys.set("s3:max-keys", "100");
    requests.push(("ListBucket with prefix (allowed)", list));
    requests.push((
        "GetObject other home (implicit deny)",
        base("s3:GetObject", "arn:aws:s3:::team5-data/home/bob/notes.txt"),
    ));
    let mut plain = base("s3:PutObject", "arn:aws:s3:::team1-data/uploads/x");
    plain.keys.set("aws:SecureTransport", "false");
    requests.push(("PutObject over HTTP (explicit deny)", plain));
    let mut role = base("s3:GetObjectAcl", "arn:aws:s3:::team0-data/a");
    role.principal = Principal::assumed_role("111122223333", "/", "app", "s1", "AROAAPP");
    role.keys.set("aws:TokenIssueTime", "2026-05-01T11:00:00Z");
    requests.push(("role session via bucket policy (allowed)", role));

    println!("policies: {total}, statements: {statements_total}");
    println!("{:<42} {:>10} {:>10} {:>10}  decision", "request", "median", "min", "max");
    for (name, ctx) in &requests {
        const BATCH: usize = 2_000;
        for _ in 0..BATCH {
            black_box(evaluate(black_box(ctx), black_box(&set)));
        }
        let mut samples: Vec<f64> = (0..101)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..BATCH {
                    black_box(evaluate(black_box(ctx), black_box(&set)));
                }
                start.elapsed().as_nanos() as f64 / BATCH as f64
            })
            .collect();
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let decision = evaluate(ctx, &set);
        println!(
            "{:<42} {:>8.0}ns {:>8.0}ns {:>8.0}ns  {}",
            name,
            samples[50],
            samples[0],
            samples[100],
            decision.reason.name()
        );
    }
}
