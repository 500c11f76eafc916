//! `parse_authorization_header` and `CredentialScope::parse` on arbitrary
//! text: the input's lines are the header value, `X-Amz-Date` and `Date`.
#![no_main]

use latchkey_sigv4::{parse_authorization_header, CredentialScope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.splitn(3, '\n');
    let value = lines.next().unwrap_or_default();
    let amz_date = lines.next();
    let date = lines.next();
    let _ = CredentialScope::parse(value);
    let _ = parse_authorization_header(value, amz_date, date);
    let _ = parse_authorization_header(value, None, amz_date);
    let prefixed = format!("AWS4-HMAC-SHA256 {value}");
    if let Ok(claim) = parse_authorization_header(&prefixed, amz_date, date) {
        // A parsed claim keeps its invariants.
        assert_eq!(claim.signature.len(), 64);
        assert!(claim.signed_headers.iter().any(|h| h == "host"));
        assert!(claim.amz_date_raw.starts_with(&claim.credential.date));
    }
});
