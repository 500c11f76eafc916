//! `Policy::parse` on arbitrary text, as every kind of policy. Never panics;
//! a document that parses keeps its invariants (statements exist, each has
//! actions).
#![no_main]

use latchkey_policy::{Policy, PolicyKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    for kind in [
        PolicyKind::Identity,
        PolicyKind::Resource,
        PolicyKind::Trust,
        PolicyKind::PermissionsBoundary,
        PolicyKind::Session,
    ] {
        if let Ok(policy) = Policy::parse(&text, kind) {
            assert!(!policy.statements().is_empty());
            for s in policy.statements() {
                assert!(!s.actions().0.is_empty());
            }
        }
    }
    let _ = Policy::parse_managed(&text);
});
