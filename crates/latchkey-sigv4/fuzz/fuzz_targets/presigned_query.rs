//! `query_pairs`, `parse_presigned_query` and `canonical_request` on an
//! arbitrary query string (the input's first line) and path (its second).
#![no_main]

use latchkey_sigv4::{
    canonical_request, parse_presigned_query, query_pairs, CanonicalOptions, RequestParts,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let (query, path) = text.split_once('\n').unwrap_or((&text, "/"));
    let pairs = query_pairs(query);
    let claim = parse_presigned_query(&pairs);
    let headers = vec![("Host".to_owned(), "example.com".to_owned())];
    let parts = RequestParts {
        method: "GET",
        raw_path: path,
        raw_query: query,
        headers: &headers,
    };
    let signed = match &claim {
        Ok(Some(claim)) => claim.signed_headers.clone(),
        _ => vec!["host".to_owned()],
    };
    for opts in [
        CanonicalOptions::S3,
        CanonicalOptions::S3_PRESIGNED,
        CanonicalOptions::OTHER_SERVICES,
        CanonicalOptions::OTHER_SERVICES_PRESIGNED,
    ] {
        let _ = canonical_request(&parts, &signed, "UNSIGNED-PAYLOAD", &opts);
    }
});
