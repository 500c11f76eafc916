//! Object headers in and out: stored attributes from request headers, response
//! headers from stored attributes, conditional requests, ranges, tags.

use crate::checksum::ChecksumAlgorithm;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{set_header, HttpResponse};
use latchkey_storage::{ObjectAttributes, ObjectHeaders, ObjectRecord};
use time::OffsetDateTime;

/// S3's limit on user metadata: 2 KB of names and values.
const MAX_USER_METADATA: usize = 2048;

fn h<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Standard headers and `x-amz-meta-*` from a PUT, POST or COPY (REPLACE).
pub fn object_attrs_from_request(headers: &http::HeaderMap) -> S3Result<ObjectAttributes> {
    let std_headers = ObjectHeaders {
        content_type: h(headers, "content-type").map(str::to_string),
        content_encoding: h(headers, "content-encoding")
            .map(|v| {
                // aws-chunked is transport framing, not the object's encoding.
                if v.split(',').any(|e| e.trim().eq_ignore_ascii_case("aws-chunked")) {
                    v.split(',')
                        .map(str::trim)
                        .filter(|e| !e.eq_ignore_ascii_case("aws-chunked") && !e.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    v.to_string()
                }
            })
            .filter(|v| !v.is_empty()),
        content_disposition: h(headers, "content-disposition").map(str::to_string),
        content_language: h(headers, "content-language").map(str::to_string),
        cache_control: h(headers, "cache-control").map(str::to_string),
        expires: h(headers, "expires").map(str::to_string),
        website_redirect: h(headers, "x-amz-website-redirect-location").map(str::to_string),
    };
    let mut user_metadata = Vec::new();
    let mut meta_size = 0;
    for (name, value) in headers {
        if let Some(meta_name) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            meta_size += meta_name.len() + value.len();
            user_metadata.push((meta_name.to_string(), value));
        }
    }
    if meta_size > MAX_USER_METADATA {
        return Err(S3Error::new(ErrorCode::MetadataTooLarge)
            .with("Size", meta_size.to_string())
            .with("MaxSizeAllowed", MAX_USER_METADATA.to_string()));
    }
    let tags = match h(headers, "x-amz-tagging") {
        Some(v) => parse_tagging_header(v)?,
        None => Vec::new(),
    };
    let storage_class = match h(headers, "x-amz-storage-class") {
        None | Some("STANDARD") => None,
        Some(
            c @ ("REDUCED_REDUNDANCY"
            | "STANDARD_IA"
            | "ONEZONE_IA"
            | "INTELLIGENT_TIERING"
            | "GLACIER"
            | "DEEP_ARCHIVE"
            | "GLACIER_IR"
            | "OUTPOSTS"
            | "EXPRESS_ONEZONE"),
        ) => Some(c.to_string()),
        Some(_) => return Err(S3Error::msg(ErrorCode::InvalidArgument, "Invalid storage class.")),
    };
    Ok(ObjectAttributes { headers: std_headers, user_metadata, tags, checksum: None, storage_class })
}

/// `x-amz-tagging: k1=v1&k2=v2` (URL-encoded).
pub fn parse_tagging_header(v: &str) -> S3Result<Vec<(String, String)>> {
    let tags: Vec<(String, String)> =
        form_urlencoded::parse(v.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    validate_tags(&tags)?;
    let mut tags = tags;
    // S3 returns tag sets ordered by key.
    tags.sort();
    Ok(tags)
}

/// S3's object tag rules: at most 10, unique keys of 1–128 characters,
/// values of at most 256.
pub fn validate_tags(tags: &[(String, String)]) -> S3Result<()> {
    if tags.len() > 10 {
        return Err(S3Error::msg(ErrorCode::InvalidTag, "Object tags cannot be greater than 10"));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(S3Error::msg(ErrorCode::InvalidTag, "The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(S3Error::msg(ErrorCode::InvalidTag, "The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(k2, _)| k2 == k) {
            return Err(S3Error::msg(ErrorCode::InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(())
}

pub fn quoted_etag(etag: &str) -> String {
    format!("\"{etag}\"")
}

pub fn http_date(t: OffsetDateTime) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// Headers describing a stored object, for GET and HEAD.
pub fn write_object_headers(r: &mut HttpResponse, o: &ObjectRecord, checksum_mode: bool) {
    let a = &o.attrs;
    set_header(r, "etag", &quoted_etag(&o.etag));
    set_header(r, "last-modified", &http_date(o.last_modified));
    set_header(r, "accept-ranges", "bytes");
    set_header(r, "content-type", a.headers.content_type.as_deref().unwrap_or("binary/octet-stream"));
    for (name, value) in [
        ("content-encoding", &a.headers.content_encoding),
        ("content-disposition", &a.headers.content_disposition),
        ("content-language", &a.headers.content_language),
        ("cache-control", &a.headers.cache_control),
        ("expires", &a.headers.expires),
        ("x-amz-website-redirect-location", &a.headers.website_redirect),
    ] {
        if let Some(v) = value {
            set_header(r, name, v);
        }
    }
    for (k, v) in &a.user_metadata {
        set_header(r, &format!("x-amz-meta-{k}"), v);
    }
    if !a.tags.is_empty() {
        set_header(r, "x-amz-tagging-count", &a.tags.len().to_string());
    }
    if let Some(sc) = &a.storage_class {
        set_header(r, "x-amz-storage-class", sc);
    }
    // The checksum's type is always reported; its value only on request.
    if let Some(c) = &a.checksum {
        if let Some(alg) = ChecksumAlgorithm::from_name(&c.algorithm) {
            set_header(r, "x-amz-checksum-type", if c.full_object { "FULL_OBJECT" } else { "COMPOSITE" });
            if checksum_mode {
                set_header(r, alg.header(), &c.value);
            }
        }
    }
}

/// The outcome of evaluating conditional request headers.
#[derive(Debug, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|e| e == "*" || e.trim_matches('"') == etag)
}

fn parse_http_date(v: &str) -> Option<OffsetDateTime> {
    httpdate::parse_http_date(v.trim()).ok().map(OffsetDateTime::from)
}

/// RFC 7232 as S3 applies it: If-Match beats If-Unmodified-Since, and
/// If-None-Match beats If-Modified-Since. `prefix` is "" for GET/HEAD and
/// "x-amz-copy-source-" for copy sources.
pub fn evaluate_preconditions(
    headers: &http::HeaderMap,
    prefix: &str,
    etag: &str,
    last_modified: OffsetDateTime,
) -> Precondition {
    let get = |name: &str| h(headers, &format!("{prefix}{name}"));
    let lm = last_modified.replace_nanosecond(0).unwrap_or(last_modified);
    if let Some(m) = get("if-match") {
        if !etag_matches(m, etag) {
            return Precondition::Failed;
        }
    } else if let Some(d) = get("if-unmodified-since").and_then(parse_http_date) {
        if lm > d {
            return Precondition::Failed;
        }
    }
    if let Some(m) = get("if-none-match") {
        if etag_matches(m, etag) {
            return Precondition::NotModified;
        }
    } else if let Some(d) = get("if-modified-since").and_then(parse_http_date) {
        if lm <= d {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// A byte range resolved against the object size: (start, length).
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    Full,
    Partial { start: u64, len: u64 },
}

/// `Range: bytes=a-b | a- | -n`. A header S3 would ignore (not `bytes=`,
/// several ranges, garbled) means the full object; one that cannot be
/// satisfied is InvalidRange.
pub fn parse_range(v: &str, size: u64) -> S3Result<RangeRequest> {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(RangeRequest::Full);
    };
    if spec.contains(',') {
        return Ok(RangeRequest::Full);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(RangeRequest::Full);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = || {
        S3Error::new(ErrorCode::InvalidRange)
            .with("RangeRequested", v.to_string())
            .with("ActualObjectSize", size.to_string())
    };
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(RangeRequest::Full);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        let n = n.min(size);
        return Ok(RangeRequest::Partial { start: size - n, len: n });
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(RangeRequest::Full);
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        let Ok(end) = b.parse::<u64>() else {
            return Ok(RangeRequest::Full);
        };
        if end < start {
            return Ok(RangeRequest::Full);
        }
        end.min(size.saturating_sub(1))
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(RangeRequest::Partial { start, len: end - start + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ranges_follow_rfc_7233() {
        assert_eq!(parse_range("bytes=0-4", 10).unwrap(), RangeRequest::Partial { start: 0, len: 5 });
        assert_eq!(parse_range("bytes=5-", 10).unwrap(), RangeRequest::Partial { start: 5, len: 5 });
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), RangeRequest::Partial { start: 7, len: 3 });
        assert_eq!(parse_range("bytes=-30", 10).unwrap(), RangeRequest::Partial { start: 0, len: 10 });
        assert_eq!(parse_range("bytes=8-100", 10).unwrap(), RangeRequest::Partial { start: 8, len: 2 });
        assert_eq!(parse_range("bytes=10-20", 10).unwrap_err().code, ErrorCode::InvalidRange);
        assert_eq!(parse_range("bytes=0-0", 0).unwrap_err().code, ErrorCode::InvalidRange);
        assert_eq!(parse_range("items=0-1", 10).unwrap(), RangeRequest::Full);
        assert_eq!(parse_range("bytes=5-2", 10).unwrap(), RangeRequest::Full);
        assert_eq!(parse_range("bytes=0-1,3-4", 10).unwrap(), RangeRequest::Full);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const LM: OffsetDateTime = datetime!(2024-01-02 03:04:05.678 UTC);

    #[test]
    fn if_match_beats_if_unmodified_since() {
        let h = headers(&[("if-match", "\"abc\""), ("if-unmodified-since", "Mon, 01 Jan 2024 00:00:00 GMT")]);
        assert_eq!(evaluate_preconditions(&h, "", "abc", LM), Precondition::Proceed);
        let h = headers(&[("if-match", "\"xyz\"")]);
        assert_eq!(evaluate_preconditions(&h, "", "abc", LM), Precondition::Failed);
    }

    #[test]
    fn if_none_match_gives_not_modified() {
        let h = headers(&[("if-none-match", "\"abc\"")]);
        assert_eq!(evaluate_preconditions(&h, "", "abc", LM), Precondition::NotModified);
        let h = headers(&[("if-none-match", "*")]);
        assert_eq!(evaluate_preconditions(&h, "", "abc", LM), Precondition::NotModified);
    }

    #[test]
    fn modified_since_compares_whole_seconds() {
        let h = headers(&[("if-modified-since", "Tue, 02 Jan 2024 03:04:05 GMT")]);
        assert_eq!(evaluate_preconditions(&h, "", "abc", LM), Precondition::NotModified);
        let h = headers(&[("if-modified-since", "Tue, 02 Jan 2024 03:04:04 GMT")]);
        assert_eq!(evaluate_preconditions(&h, "", "abc", LM), Precondition::Proceed);
    }

    #[test]
    fn tags_are_limited() {
        assert!(parse_tagging_header("a=1&b=2").is_ok());
        assert_eq!(parse_tagging_header("a=1&a=2").unwrap_err().code, ErrorCode::InvalidTag);
        let many: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_tagging_header(&many.join("&")).unwrap_err().code, ErrorCode::InvalidTag);
    }
}
