//! The canonical request (AWS General Reference, "Create a canonical request
//! for Signature Version 4"; S3 API Reference, `sig-v4-header-based-auth`).
//!
//! ```text
//! HTTPMethod \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//! ```

use percent_encoding::percent_decode;

use crate::error::SigV4Error;

/// The parts of a request, as received, that the canonical request is built
/// from.
///
/// For HTTP/2 the server passes the `:authority` pseudo-header as a `host`
/// header: SigV4 signs `host` whatever the protocol.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method exactly as received (`GET`, `PUT`, ...).
    pub method: &'a str,
    /// The path exactly as sent on the wire (percent-encoded), without query.
    pub raw_path: &'a str,
    /// The query string exactly as sent, without the `?`; may be empty.
    pub raw_query: &'a str,
    /// Every header as received: names in any case, repeated names allowed,
    /// in the order received.
    pub headers: &'a [(String, String)],
}

/// How the canonical URI and query are derived; they differ between S3 and
/// the other services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalOptions {
    /// Remove `.`/`..` segments and empty segments from the path. S3 does
    /// not ("you do not normalize URI paths for requests to Amazon S3").
    pub normalize_path: bool,
    /// Encode the path a second time. Every service but S3 does: the signer
    /// URI-encodes the path it sent, which is itself already encoded.
    pub double_encode_path: bool,
    /// The request is a presigned URL: leave `X-Amz-Signature` out of the
    /// canonical query string (it cannot sign itself).
    pub presigned: bool,
}

impl CanonicalOptions {
    /// S3, authenticated by the `Authorization` header.
    pub const S3: CanonicalOptions =
        CanonicalOptions { normalize_path: false, double_encode_path: false, presigned: false };
    /// S3, authenticated by a presigned URL.
    pub const S3_PRESIGNED: CanonicalOptions =
        CanonicalOptions { normalize_path: false, double_encode_path: false, presigned: true };
    /// Every other service (IAM, STS, ...), `Authorization` header.
    pub const OTHER_SERVICES: CanonicalOptions =
        CanonicalOptions { normalize_path: true, double_encode_path: true, presigned: false };
    /// Every other service, presigned URL.
    pub const OTHER_SERVICES_PRESIGNED: CanonicalOptions =
        CanonicalOptions { normalize_path: true, double_encode_path: true, presigned: true };

    /// The options a credential scope's service calls for.
    pub fn for_service(service: &str, presigned: bool) -> CanonicalOptions {
        let s3 = service == "s3";
        CanonicalOptions { normalize_path: !s3, double_encode_path: !s3, presigned }
    }
}

/// Builds the canonical request for `parts`, covering `signed_headers`.
///
/// `signed_headers` is the `SignedHeaders` list the client claims; names are
/// matched case-insensitively, and the canonical form lists them sorted and
/// de-duplicated (clients always send them sorted). A signed header the
/// request does not carry canonicalises with an empty value, so the signature
/// simply fails to match. `payload_hash` is the last line verbatim: the
/// `x-amz-content-sha256` value, `UNSIGNED-PAYLOAD`, a `STREAMING-*` value,
/// or the hex SHA-256 of the body.
pub fn canonical_request(
    parts: &RequestParts,
    signed_headers: &[String],
    payload_hash: &str,
    opts: &CanonicalOptions,
) -> Result<String, SigV4Error> {
    let names = canonical_header_names(signed_headers, opts)?;

    let mut out = String::with_capacity(256 + parts.raw_path.len() + parts.raw_query.len());
    out.push_str(parts.method);
    out.push('\n');
    canonical_uri(parts.raw_path, opts, &mut out);
    out.push('\n');
    canonical_query(parts.raw_query, opts.presigned, &mut out);
    out.push('\n');
    for name in &names {
        out.push_str(name);
        out.push(':');
        canonical_header_value(parts.headers, name, &mut out);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// Lowercased, validated, sorted, de-duplicated signed header names.
fn canonical_header_names(signed_headers: &[String], opts: &CanonicalOptions) -> Result<Vec<String>, SigV4Error> {
    let malformed = |message: &str| {
        if opts.presigned {
            SigV4Error::AuthorizationQueryParametersError(message.to_owned())
        } else {
            SigV4Error::AuthorizationHeaderMalformed(message.to_owned())
        }
    };
    if signed_headers.is_empty() {
        return Err(malformed("SignedHeaders must not be empty."));
    }
    let mut names = Vec::with_capacity(signed_headers.len());
    for name in signed_headers {
        if !is_header_name(name) {
            return Err(malformed("SignedHeaders contains an invalid header name."));
        }
        names.push(name.to_ascii_lowercase());
    }
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// An RFC 9110 field-name (`token`).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// All values of header `name` (already lowercase), each trimmed with inner
/// runs of whitespace collapsed to one space, joined with `,` in the order
/// received.
fn canonical_header_value(headers: &[(String, String)], name: &str, out: &mut String) {
    let mut first = true;
    for (header, value) in headers {
        if !header.eq_ignore_ascii_case(name) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_trimmed_collapsed(value, out);
    }
}

/// AWS's `Trimall`: drop leading and trailing whitespace and turn each inner
/// run of whitespace into a single space.
fn push_trimmed_collapsed(value: &str, out: &mut String) {
    let mut words = value.split([' ', '\t']).filter(|word| !word.is_empty());
    if let Some(word) = words.next() {
        out.push_str(word);
        for word in words {
            out.push(' ');
            out.push_str(word);
        }
    }
}

/// The canonical URI.
///
/// - S3 (`double_encode_path == false`): decode the wire path, then URI-encode
///   every byte except unreserved characters and `/`; so `%7E` and `~` both
///   become `~`, and `$` and `%24` both become `%24`.
/// - Other services: URI-encode the wire path as sent (the signer encoded
///   the already-encoded path), so `%24` becomes `%2524`.
///
/// With `normalize_path`, dot segments and empty segments are removed first.
fn canonical_uri(raw_path: &str, opts: &CanonicalOptions, out: &mut String) {
    if raw_path.is_empty() {
        out.push('/');
        return;
    }
    let path: Vec<u8> = if opts.double_encode_path {
        raw_path.as_bytes().to_vec()
    } else {
        percent_decode(raw_path.as_bytes()).collect()
    };
    let path = if opts.normalize_path { normalize_path(&path) } else { path };
    uri_encode(&path, false, out);
}

/// Removes `.` and `..` segments (RFC 3986 §5.2.4) and empty segments
/// (`//`), keeping a trailing `/`. The result always starts with `/`.
fn normalize_path(path: &[u8]) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" => trailing_slash = true,
            b"." => trailing_slash = true,
            b".." => {
                kept.pop();
                trailing_slash = true;
            }
            _ => {
                kept.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for segment in &kept {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if kept.is_empty() || trailing_slash {
        out.push(b'/');
    }
    out
}

/// The canonical query string: every `name=value` pair decoded, re-encoded
/// with [`uri_encode`] (`/` included), sorted by name then value; a name with
/// no `=` gets an empty value.
fn canonical_query(raw_query: &str, presigned: bool, out: &mut String) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for piece in raw_query.split('&') {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let name: Vec<u8> = percent_decode(name.as_bytes()).collect();
        if presigned && name == b"X-Amz-Signature" {
            continue;
        }
        let value: Vec<u8> = percent_decode(value.as_bytes()).collect();
        let mut encoded_name = String::with_capacity(name.len());
        uri_encode(&name, true, &mut encoded_name);
        let mut encoded_value = String::with_capacity(value.len());
        uri_encode(&value, true, &mut encoded_value);
        pairs.push((encoded_name, encoded_value));
    }
    pairs.sort_unstable();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

/// The query string's `name=value` pairs, percent-decoded (`+` is not a
/// space in SigV4), in order; the input for [`crate::parse_presigned_query`].
/// Decoded bytes that are not UTF-8 are replaced (U+FFFD); the canonical
/// query itself is built from the raw bytes, not from these strings.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (
                percent_decode(name.as_bytes()).decode_utf8_lossy().into_owned(),
                percent_decode(value.as_bytes()).decode_utf8_lossy().into_owned(),
            )
        })
        .collect()
}

/// AWS's `UriEncode`: every byte except the unreserved characters
/// `A-Z a-z 0-9 - . _ ~` becomes `%XX` (uppercase hex); `/` is kept when
/// `encode_slash` is false.
pub fn uri_encode(bytes: &[u8], encode_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else if b == b'/' && !encode_slash {
            out.push('/');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Names (lowercase) of the `x-amz-*` headers in `headers` that are not in
/// `signed_headers`.
///
/// S3 requires every `x-amz-*` header a request carries to be signed
/// ("There were headers present in the request which were not signed"); the
/// caller decides when to apply that rule, e.g. with [`require_amz_headers_signed`].
pub fn unsigned_amz_headers(headers: &[(String, String)], signed_headers: &[String]) -> Vec<String> {
    let mut unsigned: Vec<String> = headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| name.starts_with("x-amz-"))
        .filter(|name| !signed_headers.iter().any(|s| s.eq_ignore_ascii_case(name)))
        .collect();
    unsigned.sort_unstable();
    unsigned.dedup();
    unsigned
}

/// [`unsigned_amz_headers`] as a check: `Err(HeadersNotSigned)` naming them.
pub fn require_amz_headers_signed(headers: &[(String, String)], signed_headers: &[String]) -> Result<(), SigV4Error> {
    let unsigned = unsigned_amz_headers(headers, signed_headers);
    if unsigned.is_empty() {
        Ok(())
    } else {
        Err(SigV4Error::HeadersNotSigned(unsigned.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(bytes: &[u8], encode_slash: bool) -> String {
        let mut out = String::new();
        uri_encode(bytes, encode_slash, &mut out);
        out
    }

    fn uri(raw: &str, opts: CanonicalOptions) -> String {
        let mut out = String::new();
        canonical_uri(raw, &opts, &mut out);
        out
    }

    fn query(raw: &str, presigned: bool) -> String {
        let mut out = String::new();
        canonical_query(raw, presigned, &mut out);
        out
    }

    #[test]
    fn uri_encode_keeps_only_unreserved_characters() {
        assert_eq!(encoded(b"AZaz09-._~", true), "AZaz09-._~");
        assert_eq!(encoded(b"a b+c*d/e", false), "a%20b%2Bc%2Ad/e");
        assert_eq!(encoded(b"a/b", true), "a%2Fb");
        assert_eq!(encoded("ሴ".as_bytes(), true), "%E1%88%B4");
    }

    #[test]
    fn s3_paths_are_decoded_then_encoded_once_without_normalising() {
        assert_eq!(uri("/test%24file.text", CanonicalOptions::S3), "/test%24file.text");
        assert_eq!(uri("/test$file.text", CanonicalOptions::S3), "/test%24file.text");
        assert_eq!(uri("/a%7Eb", CanonicalOptions::S3), "/a~b");
        assert_eq!(uri("/my-object//example//photo.user", CanonicalOptions::S3), "/my-object//example//photo.user");
        assert_eq!(uri("/a/./b/../c", CanonicalOptions::S3), "/a/./b/../c");
        assert_eq!(uri("", CanonicalOptions::S3), "/");
        assert_eq!(uri("/%zz", CanonicalOptions::S3), "/%25zz");
    }

    #[test]
    fn other_services_normalise_and_encode_the_wire_path_again() {
        let opts = CanonicalOptions::OTHER_SERVICES;
        assert_eq!(uri("/example/$delete", opts), "/example/%24delete");
        assert_eq!(uri("/a%20b", opts), "/a%2520b");
        assert_eq!(uri("//example//", opts), "/example/");
        assert_eq!(uri("/example1/example2/../..", opts), "/");
        assert_eq!(uri("/./example", opts), "/example");
        assert_eq!(uri("/a/b/.", opts), "/a/b/");
        assert_eq!(uri("/../..", opts), "/");
    }

    #[test]
    fn query_pairs_are_re_encoded_and_sorted() {
        assert_eq!(query("", false), "");
        assert_eq!(query("b=2&a=1&a=0", false), "a=0&a=1&b=2");
        assert_eq!(query("lifecycle", false), "lifecycle=");
        assert_eq!(query("prefix=J&max-keys=2", false), "max-keys=2&prefix=J");
        assert_eq!(query("k=a%2Fb&k2=a/b", false), "k=a%2Fb&k2=a%2Fb");
        assert_eq!(query("k=a+b", false), "k=a%2Bb");
        assert_eq!(query("a=1&&b=2&", false), "a=1&b=2");
        assert_eq!(query("X-Amz-Signature=abc&X-Amz-Date=1", true), "X-Amz-Date=1");
        assert_eq!(query("X-Amz-Signature=abc&X-Amz-Date=1", false), "X-Amz-Date=1&X-Amz-Signature=abc");
    }

    #[test]
    fn query_pairs_are_decoded_in_order() {
        assert_eq!(
            query_pairs("b=%2F+x&a&&c=%E1%88%B4"),
            vec![("b".to_owned(), "/+x".to_owned()), ("a".to_owned(), String::new()), ("c".to_owned(), "ሴ".to_owned()),]
        );
    }

    #[test]
    fn header_values_are_trimmed_collapsed_and_joined() {
        let headers = vec![
            ("My-Header".to_owned(), "  a   b\t c  ".to_owned()),
            ("my-header".to_owned(), "d".to_owned()),
            ("Host".to_owned(), "example.com".to_owned()),
        ];
        let parts = RequestParts { method: "GET", raw_path: "/", raw_query: "", headers: &headers };
        let signed = vec!["my-header".to_owned(), "host".to_owned()];
        let creq = canonical_request(&parts, &signed, "UNSIGNED-PAYLOAD", &CanonicalOptions::S3).unwrap();
        assert_eq!(creq, "GET\n/\n\nhost:example.com\nmy-header:a b c,d\n\nhost;my-header\nUNSIGNED-PAYLOAD");
    }

    #[test]
    fn rejects_empty_or_invalid_signed_header_names() {
        let parts = RequestParts { method: "GET", raw_path: "/", raw_query: "", headers: &[] };
        let err = canonical_request(&parts, &[], "x", &CanonicalOptions::S3).unwrap_err();
        assert_eq!(err.aws_code(), "AuthorizationHeaderMalformed");
        let err = canonical_request(&parts, &["a b".to_owned()], "x", &CanonicalOptions::S3_PRESIGNED).unwrap_err();
        assert_eq!(err.aws_code(), "AuthorizationQueryParametersError");
    }

    #[test]
    fn finds_x_amz_headers_that_were_not_signed() {
        let headers = vec![
            ("Host".to_owned(), "h".to_owned()),
            ("X-Amz-Date".to_owned(), "d".to_owned()),
            ("X-Amz-Meta-Colour".to_owned(), "blue".to_owned()),
        ];
        let signed = vec!["host".to_owned(), "x-amz-date".to_owned()];
        assert_eq!(unsigned_amz_headers(&headers, &signed), vec!["x-amz-meta-colour"]);
        let err = require_amz_headers_signed(&headers, &signed).unwrap_err();
        assert_eq!(err.aws_code(), "AccessDenied");
        assert!(err.to_string().contains("x-amz-meta-colour"));
    }
}
