//! What temporary credentials cost per request: opening (and verifying) a
//! session token, and issuing one. Prints a table; asserts nothing.
//!
//! cargo bench -p latchkey-token --bench tokens

use latchkey_seal::MasterKey;
use latchkey_token::{KeyRing, KeyRingEntry, SessionClaims, SessionSubject};
use std::time::Instant;

fn claims() -> SessionClaims {
    SessionClaims {
        access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
        account_id: "111122223333".into(),
        subject: SessionSubject::AssumedRole {
            role_name: "app".into(),
            role_path: "/".into(),
            role_id: "AROAEXAMPLEEXAMPLE12".into(),
            session_name: "session".into(),
        },
        issued_at: 1_700_000_000,
        expires_at: 1_700_003_600,
        session_policy: Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/users/${aws:PrincipalTag/UserId}/*"}]}"#.into()),
        policy_arns: vec![],
        tags: vec![("UserId".into(), "user-123".into()), ("team".into(), "blue".into())],
        transitive_tag_keys: vec!["team".into()],
        source_identity: Some("alice".into()),
        mfa_authenticated_at: None,
        chained: false,
            federation_keys: vec![],
    }
}

fn median_ns(mut f: impl FnMut(), rounds: usize, per_round: usize) -> f64 {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_round {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / per_round as f64);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn main() {
    let master = MasterKey::from_bytes(&[7; 32]).unwrap();
    let ring =
        KeyRing::new(&master, &[KeyRingEntry { id: 1, salt: "a".into() }, KeyRingEntry { id: 2, salt: "b".into() }]);
    let c = claims();
    let (token, _) = ring.issue(&c, [1; 24]).unwrap();
    let open = median_ns(
        || {
            std::hint::black_box(
                ring.open(std::hint::black_box(&token), "ASIAEXAMPLEEXAMPLE12", 1_700_000_100).unwrap(),
            );
        },
        31,
        2000,
    );
    let issue = median_ns(
        || {
            std::hint::black_box(ring.issue(std::hint::black_box(&c), [2; 24]).unwrap());
        },
        31,
        2000,
    );
    println!("| operation | median per op | token bytes |");
    println!("|---|---|---|");
    println!("| open + verify session token | {:.2} µs | {} |", open / 1000.0, token.len());
    println!("| issue session token | {:.2} µs | {} |", issue / 1000.0, token.len());
}
