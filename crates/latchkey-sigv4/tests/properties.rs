//! Property tests: the aws-chunked decoder against bodies framed here by
//! hand, and the parsers against arbitrary input (they must never panic).

use bytes::BytesMut;
use latchkey_sigv4::{
    canonical_request, parse_authorization_header, parse_presigned_query, query_pairs, signing_key, CanonicalOptions,
    ChunkEvent, ChunkSigner, ChunkedDecoder, ChunkedError, ChunkedMode, CredentialScope, RequestParts,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use sha2::{Digest, Sha256};

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

fn signer() -> ChunkSigner {
    let scope = CredentialScope::parse("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request").unwrap();
    let key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3");
    ChunkSigner::new(key, "20130524T000000Z", &scope, SEED)
}

/// A body to frame: its chunks, its trailer (if announced), and the case of
/// the hex sizes.
#[derive(Debug, Clone)]
struct Body {
    chunks: Vec<Vec<u8>>,
    trailers: Option<Vec<(String, String)>>,
    uppercase_sizes: bool,
}

fn body() -> impl Strategy<Value = Body> {
    (
        vec(vec(any::<u8>(), 1..2500), 0..6),
        option::of(vec(("x-amz-checksum-[a-z0-9]{1,10}", "[A-Za-z0-9+/=]{0,24}"), 0..4)),
        any::<bool>(),
    )
        .prop_map(|(chunks, trailers, uppercase_sizes)| Body { chunks, trailers, uppercase_sizes })
}

impl Body {
    fn data(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    /// The wire form, framed here independently of the crate's own framing
    /// helpers; signatures come from `signer` (itself checked against the
    /// AWS example) when given.
    fn frame(&self, mut signer: Option<ChunkSigner>) -> Vec<u8> {
        let mut out = Vec::new();
        let empty: &[u8] = &[];
        for data in self.chunks.iter().map(Vec::as_slice).chain([empty]) {
            let size = if self.uppercase_sizes { format!("{:X}", data.len()) } else { format!("{:x}", data.len()) };
            out.extend_from_slice(size.as_bytes());
            if let Some(signer) = &mut signer {
                let signature = signer.sign_chunk(&Sha256::digest(data).into());
                out.extend_from_slice(format!(";chunk-signature={signature}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            if !data.is_empty() {
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
        }
        if let Some(trailers) = &self.trailers {
            for (name, value) in trailers {
                out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            }
            if let Some(signer) = &mut signer {
                let mut sorted = trailers.clone();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                let canonical: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
                let signature = signer.sign_trailer(&Sha256::digest(canonical.as_bytes()).into());
                out.extend_from_slice(format!("x-amz-trailer-signature:{signature}\r\n").as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// What decoding produced.
#[derive(Debug, PartialEq)]
struct Decoded {
    data: Vec<u8>,
    trailers: Option<Vec<(String, String)>>,
}

/// Feeds `wire` cut at `cuts`, then finishes.
fn decode(mut decoder: ChunkedDecoder, wire: &[u8], cuts: &[Index]) -> Result<Decoded, ChunkedError> {
    let mut positions: Vec<usize> = cuts.iter().map(|cut| cut.index(wire.len() + 1)).collect();
    positions.push(0);
    positions.push(wire.len());
    positions.sort_unstable();
    let mut data = Vec::new();
    let mut trailers = None;
    let mut ended = false;
    for window in positions.windows(2) {
        let mut input = BytesMut::from(&wire[window[0]..window[1]]);
        while let Some(event) = decoder.decode(&mut input)? {
            match event {
                ChunkEvent::Data(bytes) => {
                    assert!(!ended, "data after End");
                    data.extend_from_slice(&bytes);
                }
                ChunkEvent::Trailers(t) => {
                    assert!(trailers.is_none() && !ended, "one trailer, before End");
                    trailers = Some(t);
                }
                ChunkEvent::End => ended = true,
            }
        }
        assert!(input.is_empty(), "Ok(None) only once the input is used up");
    }
    decoder.finish()?;
    assert!(ended, "finish() is Ok only after End");
    Ok(Decoded { data, trailers })
}

fn mode(signed: bool) -> ChunkedMode {
    if signed {
        ChunkedMode::Signed(signer())
    } else {
        ChunkedMode::Unsigned
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn valid_bodies_decode_to_their_data_however_they_are_split(
        body in body(),
        signed in any::<bool>(),
        cuts in vec(any::<Index>(), 0..12),
    ) {
        let wire = body.frame(signed.then(signer));
        let decoded = decode(ChunkedDecoder::new(mode(signed), body.trailers.is_some()), &wire, &cuts);
        prop_assert_eq!(decoded, Ok(Decoded { data: body.data(), trailers: body.trailers.clone() }));
    }

    #[test]
    fn a_tampered_signed_body_never_yields_other_data(
        body in body(),
        at in any::<Index>(),
        mask in 1u8..,
        cuts in vec(any::<Index>(), 0..4),
    ) {
        let mut wire = body.frame(Some(signer()));
        let at = at.index(wire.len());
        wire[at] ^= mask;
        let decoded = decode(ChunkedDecoder::new(mode(true), body.trailers.is_some()), &wire, &cuts);
        if let Ok(decoded) = decoded {
            // Only changes that mean the same thing survive: the case of a hex
            // size digit or of a trailer name.
            prop_assert_eq!(decoded.data, body.data());
            let lowercase = |t: Option<Vec<(String, String)>>| {
                t.map(|t| t.into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect::<Vec<_>>())
            };
            prop_assert_eq!(lowercase(decoded.trailers), lowercase(body.trailers.clone()));
        }
    }

    #[test]
    fn a_truncated_body_is_an_error(body in body(), signed in any::<bool>(), cut in any::<Index>()) {
        let wire = body.frame(signed.then(signer));
        let cut = cut.index(wire.len());
        let decoded = decode(ChunkedDecoder::new(mode(signed), body.trailers.is_some()), &wire[..cut], &[]);
        prop_assert_eq!(decoded, Err(ChunkedError::Truncated));
    }

    #[test]
    fn garbage_never_panics(
        garbage in vec(any::<u8>(), 0..3000),
        signed in any::<bool>(),
        expect_trailer in any::<bool>(),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let _ = decode(ChunkedDecoder::new(mode(signed), expect_trailer), &garbage, &cuts);
    }

    #[test]
    fn garbage_after_a_valid_prefix_never_panics(
        body in body(),
        signed in any::<bool>(),
        keep in any::<Index>(),
        garbage in vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b';'), Just(b':'), Just(b'0'), any::<u8>()], 0..300),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let mut wire = body.frame(signed.then(signer));
        wire.truncate(keep.index(wire.len() + 1));
        wire.extend_from_slice(&garbage);
        let _ = decode(ChunkedDecoder::new(mode(signed), body.trailers.is_some()), &wire, &cuts);
    }

    #[test]
    fn credential_parsing_never_panics(credential in ".*", structured in "[A-Za-z0-9/_-]{0,12}(/[0-9]{0,9}){0,2}(/[a-z0-9_-]{0,12}){0,3}") {
        let _ = CredentialScope::parse(&credential);
        let _ = CredentialScope::parse(&structured);
    }

    #[test]
    fn authorization_header_parsing_never_panics(
        value in ".*",
        rest in "[A-Za-z=,; /0-9a-f_-]{0,200}",
        amz_date in option::of(".{0,20}"),
        date in option::of(".{0,40}"),
    ) {
        let _ = parse_authorization_header(&value, amz_date.as_deref(), date.as_deref());
        let structured = format!("AWS4-HMAC-SHA256 {rest}");
        let _ = parse_authorization_header(&structured, amz_date.as_deref(), date.as_deref());
        let _ = parse_authorization_header(&structured, Some("20150830T123600Z"), None);
    }

    #[test]
    fn presigned_query_parsing_never_panics(
        raw in ".*",
        pairs in vec((prop_oneof![
            Just("X-Amz-Algorithm".to_owned()),
            Just("X-Amz-Credential".to_owned()),
            Just("X-Amz-Date".to_owned()),
            Just("X-Amz-Expires".to_owned()),
            Just("X-Amz-SignedHeaders".to_owned()),
            Just("X-Amz-Signature".to_owned()),
            Just("X-Amz-Security-Token".to_owned()),
            ".{0,10}",
        ], ".{0,80}"), 0..10),
    ) {
        let _ = parse_presigned_query(&query_pairs(&raw));
        let _ = parse_presigned_query(&pairs);
    }

    #[test]
    fn canonical_request_never_panics(
        method in ".{0,8}",
        path in ".{0,64}",
        query in ".{0,128}",
        headers in vec((".{0,12}", ".{0,40}"), 0..6),
        signed in vec(".{0,12}", 0..6),
        payload in ".{0,64}",
        normalize_path in any::<bool>(),
        double_encode_path in any::<bool>(),
        presigned in any::<bool>(),
    ) {
        let parts = RequestParts { method: &method, raw_path: &path, raw_query: &query, headers: &headers };
        let opts = CanonicalOptions { normalize_path, double_encode_path, presigned };
        let _ = canonical_request(&parts, &signed, &payload, &opts);
    }

    /// S3 decodes the path and query before re-encoding them, so any valid
    /// percent-encoding of the same bytes (escaping more or fewer characters,
    /// either hex case) canonicalises identically.
    #[test]
    fn the_canonical_form_does_not_depend_on_how_the_client_escaped(
        segments in vec(vec(any::<u8>().prop_filter("no slash", |b| *b != b'/'), 0..12), 1..4),
        params in vec((vec(any::<u8>(), 1..8), vec(any::<u8>(), 0..8)), 0..4),
        escape_all in any::<bool>(),
        lowercase_hex in any::<bool>(),
    ) {
        let escape = |bytes: &[u8], keep_slash: bool| -> String {
            bytes.iter().map(|&b| {
                let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
                if (unreserved && !escape_all) || (keep_slash && b == b'/') {
                    char::from(b).to_string()
                } else if lowercase_hex {
                    format!("%{b:02x}")
                } else {
                    format!("%{b:02X}")
                }
            }).collect()
        };
        let path_bytes: Vec<u8> = segments.iter().flat_map(|s| [b'/'].into_iter().chain(s.iter().copied())).collect();
        let query = |all: bool| -> String {
            params.iter().map(|(k, v)| {
                let e = |bytes: &[u8]| if all { escape(bytes, false) } else {
                    bytes.iter().map(|&b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
                };
                format!("{}={}", e(k), e(v))
            }).collect::<Vec<_>>().join("&")
        };
        let headers = vec![("host".to_owned(), "example.com".to_owned())];
        let signed = vec!["host".to_owned()];
        let canonical = |path: &str, query: &str| {
            let parts = RequestParts { method: "GET", raw_path: path, raw_query: query, headers: &headers };
            canonical_request(&parts, &signed, "UNSIGNED-PAYLOAD", &CanonicalOptions::S3).unwrap()
        };
        let minimal_path: String = path_bytes.iter().map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") }
        }).collect();
        prop_assert_eq!(canonical(&escape(&path_bytes, true), &query(true)), canonical(&minimal_path, &query(false)));
    }
}
