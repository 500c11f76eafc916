//! Parse, then evaluate against a request taken from the input.
//!
//! Input layout: the policy document, then a NUL byte, then lines: principal
//! kind selector (first byte), action, resource, and `name=value` condition
//! keys. Never panics; a decision is allowed exactly when it carries no
//! denial reason, and only non-anonymous denials carry a message.
#![no_main]

use latchkey_policy::{evaluate, Policy, PolicyId, PolicyKind, PolicySet, PolicySource, Principal, RequestContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let (doc, request) = text.split_once('\0').unwrap_or((&text, ""));
    let mut lines = request.lines();
    let selector = lines.next().and_then(|l| l.bytes().next()).unwrap_or(0);
    let principal = match selector % 6 {
        0 => Principal::user("111122223333", "/", "alice", "AIDAALICE"),
        1 => Principal::assumed_role("111122223333", "/", "app", "s1", "AROAAPP"),
        2 => Principal::federated_user("111122223333", "carol", "arn:aws:iam::111122223333:user/bob"),
        3 => Principal::root("111122223333"),
        4 => Principal::anonymous(),
        _ => Principal::user("444455556666", "/", "dave", "AIDADAVE"),
    };
    let action = lines.next().unwrap_or("s3:GetObject");
    let resource = lines.next().unwrap_or("arn:aws:s3:::b/k");
    let mut ctx = RequestContext::new(principal, action, resource);
    if selector & 0x40 != 0 {
        ctx.resource_account = Some("444455556666".into());
    }
    for line in lines {
        if let Some((name, value)) = line.split_once('=') {
            ctx.keys.insert(name, [value]);
        }
    }
    let kinds = [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Trust];
    let policies: Vec<Policy> = kinds.iter().filter_map(|k| Policy::parse(doc, *k).ok()).collect();
    let Some(first) = policies.first() else { return };
    let id = |s: &str| PolicyId::new(PolicySource::Resource(s.to_owned()));
    let set = PolicySet {
        identity: policies.iter().filter(|p| p.kind() == PolicyKind::Identity).map(|p| (id("i"), p)).collect(),
        resource: policies.iter().find(|p| p.kind() != PolicyKind::Identity).map(|p| (id("r"), p)),
        permissions_boundary: (selector & 0x20 != 0).then(|| (id("b"), first)),
        session: if selector & 0x10 != 0 { vec![(id("s"), first)] } else { Vec::new() },
    };
    let decision = evaluate(&ctx, &set);
    let message = decision.denial_message(&ctx);
    assert!(!(decision.allowed && message.is_some()));
});
