//! The worked examples of the S3 API Reference, verified from the server's
//! side. Credentials: AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,
//! 20130524T000000Z, us-east-1, bucket `examplebucket` (virtual-hosted).
//!
//! - `sig-v4-header-based-auth`, "Examples: Signature Calculations":
//!   GET Object (Range), PUT Object, GET Bucket Lifecycle, Get Bucket (List Objects).
//! - `sigv4-query-string-auth`, "Example: GET Object" (presigned URL).
//!
//! The streaming (`sigv4-streaming`) example is tested with the chunk signer
//! and decoder, in `src/chunk_signer.rs` and `src/chunked.rs`.

use latchkey_sigv4::{
    canonical_request, check_time, parse_authorization_header, parse_presigned_query, query_pairs,
    require_amz_headers_signed, sha256_hex, string_to_sign, verify_signature, CanonicalOptions, PayloadHash,
    RequestParts, SigV4Error, DEFAULT_MAX_SKEW, EMPTY_SHA256, UNSIGNED_PAYLOAD,
};
use time::macros::datetime;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const CREDENTIAL: &str = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";
const DATE: &str = "20130524T000000Z";
const HOST: &str = "examplebucket.s3.amazonaws.com";

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

fn authorization(signed_headers: &str, signature: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={CREDENTIAL},SignedHeaders={signed_headers},Signature={signature}")
}

/// Verifies a header-signed example end to end and returns its canonical
/// request and string to sign for closer checks.
fn verify_header_example(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    request_headers: &[(String, String)],
    payload_hash: &str,
) -> (String, String) {
    let header =
        |name: &str| request_headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let claim =
        parse_authorization_header(header("authorization").unwrap(), header("x-amz-date"), header("date")).unwrap();
    let parts = RequestParts { method, raw_path, raw_query, headers: request_headers };
    let opts = claim.canonical_options();
    assert_eq!(opts, CanonicalOptions::S3);
    verify_signature(&claim, &parts, payload_hash, &opts, SECRET).unwrap();
    require_amz_headers_signed(request_headers, &claim.signed_headers).unwrap();
    check_time(&claim, datetime!(2013-05-24 00:10:00 UTC), DEFAULT_MAX_SKEW).unwrap();
    assert_eq!(
        check_time(&claim, datetime!(2013-05-24 00:15:01 UTC), DEFAULT_MAX_SKEW),
        Err(SigV4Error::RequestTimeTooSkewed)
    );
    let creq = canonical_request(&parts, &claim.signed_headers, payload_hash, &opts).unwrap();
    let sts = string_to_sign(&claim.amz_date_raw, &claim.credential, &creq);
    (creq, sts)
}

#[test]
fn get_object_with_a_range_header() {
    let signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let request = headers(&[
        ("Host", HOST),
        ("x-amz-date", DATE),
        ("Authorization", &authorization("host;range;x-amz-content-sha256;x-amz-date", signature)),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
    ]);
    assert_eq!(PayloadHash::parse(EMPTY_SHA256).map(|p| p.is_streaming()), Ok(false));
    let (creq, sts) = verify_header_example("GET", "/test.txt", "", &request, EMPTY_SHA256);
    assert_eq!(
        creq,
        format!(
            "GET\n/test.txt\n\nhost:{HOST}\nrange:bytes=0-9\nx-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:{DATE}\n\nhost;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
        )
    );
    assert_eq!(
        sts,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
}

#[test]
fn a_changed_range_no_longer_verifies() {
    let signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let request = headers(&[
        ("Host", HOST),
        ("x-amz-date", DATE),
        ("Range", "bytes=0-99"),
        ("x-amz-content-sha256", EMPTY_SHA256),
    ]);
    let claim = parse_authorization_header(
        &authorization("host;range;x-amz-content-sha256;x-amz-date", signature),
        Some(DATE),
        None,
    )
    .unwrap();
    let parts = RequestParts { method: "GET", raw_path: "/test.txt", raw_query: "", headers: &request };
    assert_eq!(
        verify_signature(&claim, &parts, EMPTY_SHA256, &CanonicalOptions::S3, SECRET),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn put_object_whose_key_needs_encoding() {
    let body = b"Welcome to Amazon S3.";
    let body_hash = sha256_hex(body);
    assert_eq!(body_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    let signature = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
    let request = headers(&[
        ("Host", HOST),
        ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("Authorization", &authorization("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", signature)),
        ("x-amz-date", DATE),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", &body_hash),
    ]);
    // The key `test$file.text`, whether the client escaped the `$` or not.
    for raw_path in ["/test%24file.text", "/test$file.text"] {
        let (creq, sts) = verify_header_example("PUT", raw_path, "", &request, &body_hash);
        assert!(creq.starts_with("PUT\n/test%24file.text\n\n"), "{creq}");
        assert!(sts.ends_with("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"));
    }
}

#[test]
fn get_bucket_lifecycle_with_a_valueless_query_parameter() {
    let signature = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
    let request = headers(&[
        ("Host", HOST),
        ("x-amz-date", DATE),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("Authorization", &authorization("host;x-amz-content-sha256;x-amz-date", signature)),
    ]);
    let (creq, _) = verify_header_example("GET", "/", "lifecycle", &request, EMPTY_SHA256);
    assert!(creq.starts_with("GET\n/\nlifecycle=\n"), "{creq}");
}

#[test]
fn list_objects_with_a_sorted_query() {
    let signature = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
    let request = headers(&[
        ("Host", HOST),
        ("x-amz-date", DATE),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("Authorization", &authorization("host;x-amz-content-sha256;x-amz-date", signature)),
    ]);
    let (creq, _) = verify_header_example("GET", "/", "max-keys=2&prefix=J", &request, EMPTY_SHA256);
    assert!(creq.starts_with("GET\n/\nmax-keys=2&prefix=J\n"), "{creq}");
}

const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn presigned_get_object() {
    let request = headers(&[("Host", HOST)]);
    let parts = RequestParts { method: "GET", raw_path: "/test.txt", raw_query: PRESIGNED_QUERY, headers: &request };
    let claim = parse_presigned_query(&query_pairs(PRESIGNED_QUERY)).unwrap().expect("presigned");
    assert_eq!(claim.signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    let opts = claim.canonical_options();
    assert_eq!(opts, CanonicalOptions::S3_PRESIGNED);

    let creq = canonical_request(&parts, &claim.signed_headers, UNSIGNED_PAYLOAD, &opts).unwrap();
    assert_eq!(
        creq,
        format!(
            "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:{HOST}\n\nhost\nUNSIGNED-PAYLOAD"
        )
    );
    assert_eq!(
        string_to_sign(&claim.amz_date_raw, &claim.credential, &creq),
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
    );
    verify_signature(&claim, &parts, UNSIGNED_PAYLOAD, &opts, SECRET).unwrap();

    // Valid for 86400 seconds after 20130524T000000Z, not before it (beyond
    // the skew), not after.
    check_time(&claim, datetime!(2013-05-24 23:59:59 UTC), DEFAULT_MAX_SKEW).unwrap();
    check_time(&claim, datetime!(2013-05-25 00:00:00 UTC), DEFAULT_MAX_SKEW).unwrap();
    assert_eq!(check_time(&claim, datetime!(2013-05-25 00:00:01 UTC), DEFAULT_MAX_SKEW), Err(SigV4Error::Expired));
    assert_eq!(
        check_time(&claim, datetime!(2013-05-23 23:40:00 UTC), DEFAULT_MAX_SKEW),
        Err(SigV4Error::RequestNotYetValid)
    );
}

#[test]
fn a_presigned_url_for_another_key_or_host_does_not_verify() {
    let claim = parse_presigned_query(&query_pairs(PRESIGNED_QUERY)).unwrap().unwrap();
    for (path, host) in [("/test2.txt", HOST), ("/test.txt", "otherbucket.s3.amazonaws.com")] {
        let request = headers(&[("Host", host)]);
        let parts = RequestParts { method: "GET", raw_path: path, raw_query: PRESIGNED_QUERY, headers: &request };
        assert_eq!(
            verify_signature(&claim, &parts, UNSIGNED_PAYLOAD, &CanonicalOptions::S3_PRESIGNED, SECRET),
            Err(SigV4Error::SignatureDoesNotMatch)
        );
    }
}
