//! PutObject, GetObject, HeadObject, DeleteObject(s), object tagging.

use super::headers::{self, Precondition, RangeRequest};
use super::{release_blobs, store_body, validate_key, S3Request};
use crate::checksum::ChecksumAlgorithm;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, set_header, HttpResponse};
use crate::state::AppState;
use crate::xml::{self, XmlWriter, S3_NS};
use http::StatusCode;
use latchkey_storage::{Bucket, ObjectRecord, PutCondition, Segment, StorageError, StoredChecksum};
use std::sync::Arc;

/// The algorithm named by `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`.
pub fn requested_checksum_algorithm(req: &S3Request) -> S3Result<Option<ChecksumAlgorithm>> {
    match req.header("x-amz-checksum-algorithm").or_else(|| req.header("x-amz-sdk-checksum-algorithm")) {
        None => Ok(None),
        Some(v) => ChecksumAlgorithm::from_name(v).map(Some).ok_or_else(|| {
            S3Error::msg(ErrorCode::InvalidRequest, format!("Checksum algorithm {v} is not supported."))
        }),
    }
}

/// `If-Match` / `If-None-Match: *` on a write (S3 conditional writes).
pub fn put_condition(req: &S3Request) -> S3Result<PutCondition> {
    match (req.header("if-match"), req.header("if-none-match")) {
        (Some(_), Some(_)) => {
            Err(S3Error::msg(ErrorCode::NotImplemented, "If-Match and If-None-Match together are not supported."))
        }
        (Some(m), None) => Ok(PutCondition::IfMatch(m.trim().trim_matches('"').to_string())),
        (None, Some(m)) => Ok(PutCondition::IfNoneMatch(m.trim().trim_matches('"').to_string())),
        (None, None) => Ok(PutCondition::Always),
    }
}

/// The S3 error for a write whose condition did not hold.
pub fn condition_error(e: StorageError, key: &str) -> S3Error {
    match e {
        StorageError::NotFound => S3Error::new(ErrorCode::NoSuchKey).with("Key", key),
        StorageError::Conflict("precondition") => {
            S3Error::new(ErrorCode::PreconditionFailed).with("Condition", "If-Match")
        }
        e => e.into(),
    }
}

pub async fn put_object(
    state: &Arc<AppState>,
    req: &mut S3Request,
    bucket: &Bucket,
    key: &str,
) -> S3Result<HttpResponse> {
    validate_key(key)?;
    let mut attrs = headers::object_attrs_from_request(&req.headers)?;
    if req.body.declared_length().is_none() && req.header("transfer-encoding").is_none() {
        return Err(S3Error::new(ErrorCode::MissingContentLength));
    }
    if let Some(len) = req.body.declared_length() {
        if len > state.config.max_object_size {
            return Err(S3Error::new(ErrorCode::EntityTooLarge)
                .with("ProposedSize", len.to_string())
                .with("MaxSizeAllowed", state.config.max_object_size.to_string()));
        }
    }
    let requested_alg = requested_checksum_algorithm(req)?;
    let condition = put_condition(req)?;
    let (blob, digest) = store_body(state, &mut req.body).await?;
    attrs.checksum = match digest.checksum.clone() {
        Some((alg, value)) => {
            if requested_alg.is_some_and(|r| r != alg) {
                super::release_blobs(state, vec![blob]).await;
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    "The checksum algorithm does not match the checksum sent.",
                ));
            }
            Some(StoredChecksum { algorithm: alg.name().to_string(), value, full_object: true })
        }
        None => None,
    };
    let record = ObjectRecord {
        bucket: bucket.name.clone(),
        key: key.to_string(),
        segments: vec![Segment { blob: blob.clone(), size: digest.size, checksum: None }],
        size: digest.size,
        etag: hex::encode(digest.md5),
        last_modified: req.now,
        owner_account: bucket.account_id.clone(),
        attrs,
    };
    let r2 = record.clone();
    let replaced = match state.meta(move |m| m.put_object(&r2, &condition)).await {
        Ok(r) => r,
        Err(e) => {
            release_blobs(state, vec![blob]).await;
            return Err(condition_error(e, key));
        }
    };
    release_blobs(state, replaced.blobs).await;
    let mut r = response::status(StatusCode::OK);
    set_header(&mut r, "etag", &headers::quoted_etag(&record.etag));
    if let Some(c) = &record.attrs.checksum {
        if let Some(alg) = ChecksumAlgorithm::from_name(&c.algorithm) {
            set_header(&mut r, alg.header(), &c.value);
            set_header(&mut r, "x-amz-checksum-type", "FULL_OBJECT");
        }
    }
    Ok(r)
}

pub async fn load_object(state: &AppState, bucket: &str, key: &str) -> S3Result<ObjectRecord> {
    let (b, k) = (bucket.to_string(), key.to_string());
    state.meta(move |m| m.get_object(&b, &k)).await?.ok_or_else(|| S3Error::new(ErrorCode::NoSuchKey).with("Key", key))
}

/// A missing key, as S3 reports it: NoSuchKey (404) only to callers allowed
/// to list the bucket; everyone else gets 403, so keys cannot be probed
/// (GetObject, "Permissions").
async fn missing_key(state: &AppState, req: &S3Request, bucket: &Bucket, key: &str) -> S3Error {
    let resource = format!("arn:aws:s3:::{}", bucket.name);
    let mut access = crate::authz::AccessRequest::new("s3:ListBucket", &resource, Some(&bucket.account_id));
    access.keys = vec![("s3:prefix".to_string(), vec![key.to_string()])];
    match super::effective_bucket_policy(state, bucket, &req.caller).await {
        Ok(p) => access.resource_policy = p,
        Err(e) => return e,
    }
    match crate::authz::authorize(&req.caller, &access) {
        Ok(()) => S3Error::new(ErrorCode::NoSuchKey).with("Key", key),
        Err(_) => S3Error::new(ErrorCode::AccessDenied),
    }
}

const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

pub async fn get_object(
    state: &Arc<AppState>,
    req: &S3Request,
    bucket: &Bucket,
    key: &str,
    head: bool,
) -> S3Result<HttpResponse> {
    let o = match load_object(state, &bucket.name, key).await {
        Ok(o) => o,
        Err(e) if e.code == ErrorCode::NoSuchKey => return Err(missing_key(state, req, bucket, key).await),
        Err(e) => return Err(e),
    };
    match headers::evaluate_preconditions(&req.headers, "", &o.etag, o.last_modified) {
        Precondition::Proceed => {}
        Precondition::Failed => return Err(S3Error::new(ErrorCode::PreconditionFailed).with("Condition", "If-Match")),
        Precondition::NotModified => {
            let mut r = response::status(StatusCode::NOT_MODIFIED);
            set_header(&mut r, "etag", &headers::quoted_etag(&o.etag));
            set_header(&mut r, "last-modified", &headers::http_date(o.last_modified));
            return Ok(r);
        }
    }
    let multipart = o.etag.contains('-');
    // partNumber selects one part of a multipart object (the whole object is
    // part 1 of a single-part one).
    let part_range = match req.query.get("partNumber") {
        None => None,
        Some(pn) => {
            let n: usize = pn.parse().ok().filter(|n| (1..=10000).contains(n)).ok_or_else(|| {
                S3Error::msg(
                    ErrorCode::InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })?;
            if req.header("range").is_some() {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter",
                ));
            }
            let count = if multipart { o.segments.len() } else { 1 };
            if n > count {
                return Err(S3Error::msg(ErrorCode::InvalidPart, "The requested partnumber is not satisfiable")
                    .with("PartNumberRequested", n.to_string())
                    .with("ActualPartCount", count.to_string()));
            }
            if multipart {
                let start: u64 = o.segments[..n - 1].iter().map(|s| s.size).sum();
                Some((start, o.segments[n - 1].size, count))
            } else {
                Some((0, o.size, 1))
            }
        }
    };
    let range = match (&part_range, req.header("range")) {
        (Some((start, len, _)), _) => {
            if *len == o.size {
                RangeRequest::Full
            } else {
                RangeRequest::Partial { start: *start, len: *len }
            }
        }
        (None, Some(v)) => headers::parse_range(v, o.size)?,
        (None, None) => RangeRequest::Full,
    };
    let (start, len, status) = match range {
        RangeRequest::Full => (0, o.size, StatusCode::OK),
        RangeRequest::Partial { start, len } => (start, len, StatusCode::PARTIAL_CONTENT),
    };
    let body =
        if head || len == 0 { response::empty() } else { super::open_segments(state, &o.segments, start, len).await? };
    let mut r = http::Response::new(body);
    *r.status_mut() = status;
    let checksum_mode = req.header("x-amz-checksum-mode").is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"));
    // A checksum describes the whole object; S3 omits it for ranges.
    headers::write_object_headers(&mut r, &o, checksum_mode && status == StatusCode::OK);
    set_header(&mut r, "content-length", &len.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        set_header(&mut r, "content-range", &format!("bytes {}-{}/{}", start, start + len - 1, o.size));
    }
    if let (Some((_, _, count)), Some(n)) =
        (part_range, req.query.get("partNumber").and_then(|n| n.parse::<usize>().ok()))
    {
        if multipart {
            set_header(&mut r, "x-amz-mp-parts-count", &count.to_string());
            // A part's own checksum, as S3 returns it for part GETs.
            let part_sum = o.segments.get(n - 1).and_then(|s| s.checksum.as_deref());
            let alg = o.attrs.checksum.as_ref().and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm));
            if let (Some(v), Some(a)) = (part_sum, alg) {
                set_header(&mut r, a.header(), v);
            }
        }
    }
    for (param, header) in RESPONSE_OVERRIDES {
        if let Some(v) = req.query.get(param) {
            set_header(&mut r, header, v);
        }
    }
    Ok(r)
}

pub async fn delete_object(state: &Arc<AppState>, bucket: &Bucket, key: &str) -> S3Result<HttpResponse> {
    let (b, k) = (bucket.name.clone(), key.to_string());
    // Deleting a key that does not exist succeeds, as in S3.
    if let Some(old) = state.meta(move |m| m.delete_object(&b, &k)).await? {
        release_blobs(state, old.segments.into_iter().map(|s| s.blob).collect()).await;
    }
    Ok(response::status(StatusCode::NO_CONTENT))
}

#[derive(Debug)]
struct DeleteRequest {
    quiet: bool,
    objects: Vec<DeleteEntry>,
}

#[derive(Debug)]
struct DeleteEntry {
    key: String,
    version_id: Option<String>,
}

/// `<Delete><Quiet>..</Quiet><Object><Key>..</Key><VersionId>..</VersionId></Object>..</Delete>`
fn parse_delete_request(body: &[u8]) -> S3Result<DeleteRequest> {
    let doc = xml::parse_doc(xml::body_text(body)?, "Delete")?;
    let root = doc.root_element();
    let quiet = match xml::child_text(root, "Quiet")?.as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(S3Error::new(ErrorCode::MalformedXML)),
    };
    let objects = xml::children(root, "Object")
        .map(|o| Ok(DeleteEntry { key: xml::required_text(o, "Key")?, version_id: xml::child_text(o, "VersionId")? }))
        .collect::<S3Result<Vec<_>>>()?;
    Ok(DeleteRequest { quiet, objects })
}

pub async fn delete_objects(state: &Arc<AppState>, req: &mut S3Request, bucket: &Bucket) -> S3Result<HttpResponse> {
    let has_integrity = req.header("content-md5").is_some()
        || ChecksumAlgorithm::ALL.iter().any(|a| req.header(a.header()).is_some())
        || req.header("x-amz-trailer").is_some();
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    if !has_integrity {
        return Err(S3Error::msg(ErrorCode::InvalidRequest, "Missing required header for this request: Content-MD5"));
    }
    let parsed = parse_delete_request(&body)?;
    if parsed.objects.is_empty() || parsed.objects.len() > 1000 {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    let quiet = parsed.quiet;
    let policy = super::effective_bucket_policy(state, bucket, &req.caller).await?;
    let mut w = XmlWriter::new("DeleteResult", Some(S3_NS));
    for entry in parsed.objects {
        if let Some(v) = entry.version_id.as_deref().filter(|v| *v != "null") {
            w.open("Error")
                .elem("Key", &entry.key)
                .elem("VersionId", v)
                .elem("Code", "NoSuchVersion")
                .elem("Message", "The specified version does not exist.")
                .close();
            continue;
        }
        if entry.key.len() > super::MAX_KEY_LEN {
            w.open("Error")
                .elem("Key", &entry.key)
                .elem("Code", "KeyTooLongError")
                .elem("Message", "Your key is too long")
                .close();
            continue;
        }
        let resource = format!("arn:aws:s3:::{}/{}", bucket.name, entry.key);
        let mut access = crate::authz::AccessRequest::new("s3:DeleteObject", &resource, Some(&bucket.account_id));
        access.resource_policy = policy.clone();
        if let Err(denied) = crate::authz::authorize(&req.caller, &access) {
            w.open("Error")
                .elem("Key", &entry.key)
                .elem("Code", "AccessDenied")
                .elem("Message", &denied.message)
                .close();
            continue;
        }
        let (b, k) = (bucket.name.clone(), entry.key.clone());
        match state.meta(move |m| m.delete_object(&b, &k)).await {
            Ok(old) => {
                if let Some(old) = old {
                    release_blobs(state, old.segments.into_iter().map(|s| s.blob).collect()).await;
                }
                if !quiet {
                    w.open("Deleted").elem("Key", &entry.key).close();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "delete failed");
                w.open("Error")
                    .elem("Key", &entry.key)
                    .elem("Code", "InternalError")
                    .elem("Message", ErrorCode::InternalError.default_message())
                    .close();
            }
        }
    }
    Ok(response::xml(StatusCode::OK, w.finish()))
}

/// GetObjectAttributes: the attributes named in `x-amz-object-attributes`.
pub async fn get_attributes(
    state: &Arc<AppState>,
    req: &S3Request,
    bucket: &Bucket,
    key: &str,
) -> S3Result<HttpResponse> {
    let wanted: Vec<String> = req
        .header("x-amz-object-attributes")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    const KNOWN: [&str; 5] = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"];
    if wanted.is_empty() {
        return Err(S3Error::msg(ErrorCode::InvalidArgument, "Missing required header: x-amz-object-attributes"));
    }
    if let Some(bad) = wanted.iter().find(|w| !KNOWN.contains(&w.as_str())) {
        return Err(S3Error::msg(ErrorCode::InvalidArgument, format!("Invalid attribute name specified: {bad}")));
    }
    let o = load_object(state, &bucket.name, key).await?;
    let has = |name: &str| wanted.iter().any(|w| w == name);
    let mut w = XmlWriter::new("GetObjectAttributesResponse", Some(S3_NS));
    if has("ETag") {
        w.elem("ETag", &o.etag);
    }
    if has("Checksum") {
        if let Some(c) = &o.attrs.checksum {
            if let Some(a) = ChecksumAlgorithm::from_name(&c.algorithm) {
                w.open("Checksum")
                    .elem(a.xml_element(), &c.value)
                    .elem("ChecksumType", if c.full_object { "FULL_OBJECT" } else { "COMPOSITE" })
                    .close();
            }
        }
    }
    if has("ObjectParts") && o.etag.contains('-') {
        let max: usize = req.header("x-amz-max-parts").and_then(|v| v.parse().ok()).unwrap_or(1000).min(1000);
        let marker: usize = req.header("x-amz-part-number-marker").and_then(|v| v.parse().ok()).unwrap_or(0);
        let alg = o.attrs.checksum.as_ref().and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm));
        let parts: Vec<(usize, &latchkey_storage::Segment)> =
            o.segments.iter().enumerate().map(|(i, s)| (i + 1, s)).filter(|(n, _)| *n > marker).collect();
        let truncated = parts.len() > max;
        w.open("ObjectParts")
            .elem("PartsCount", o.segments.len().to_string())
            .elem("PartNumberMarker", marker.to_string());
        if let Some((n, _)) = parts.iter().take(max).next_back() {
            w.elem("NextPartNumberMarker", n.to_string());
        }
        w.elem("MaxParts", max.to_string()).elem("IsTruncated", truncated.to_string());
        for (n, s) in parts.iter().take(max) {
            w.open("Part").elem("PartNumber", n.to_string()).elem("Size", s.size.to_string());
            if let (Some(a), Some(v)) = (alg, s.checksum.as_deref()) {
                w.elem(a.xml_element(), v);
            }
            w.close();
        }
        w.close();
    }
    if has("StorageClass") {
        w.elem("StorageClass", o.attrs.storage_class.as_deref().unwrap_or("STANDARD"));
    }
    if has("ObjectSize") {
        w.elem("ObjectSize", o.size.to_string());
    }
    let mut r = response::xml(StatusCode::OK, w.finish());
    set_header(&mut r, "last-modified", &headers::http_date(o.last_modified));
    Ok(r)
}

pub async fn get_tagging(state: &Arc<AppState>, bucket: &Bucket, key: &str) -> S3Result<HttpResponse> {
    let o = load_object(state, &bucket.name, key).await?;
    let mut w = XmlWriter::new("Tagging", Some(S3_NS));
    w.open("TagSet");
    for (k, v) in &o.attrs.tags {
        w.open("Tag").elem("Key", k).elem("Value", v).close();
    }
    w.close();
    Ok(response::xml(StatusCode::OK, w.finish()))
}

/// `<Tagging><TagSet><Tag><Key>..</Key><Value>..</Value></Tag>..</TagSet></Tagging>`
pub fn parse_tagging(body: &[u8]) -> S3Result<Vec<(String, String)>> {
    let doc = xml::parse_doc(xml::body_text(body)?, "Tagging")?;
    let mut sets = xml::children(doc.root_element(), "TagSet");
    let set = sets.next().ok_or_else(|| S3Error::new(ErrorCode::MalformedXML))?;
    if sets.next().is_some() {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    xml::children(set, "Tag")
        .map(|t| Ok((xml::required_text(t, "Key")?, xml::child_text(t, "Value")?.unwrap_or_default())))
        .collect()
}

pub async fn put_tagging(
    state: &Arc<AppState>,
    req: &mut S3Request,
    bucket: &Bucket,
    key: &str,
) -> S3Result<HttpResponse> {
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    let mut tags = parse_tagging(&body)?;
    headers::validate_tags(&tags)?;
    tags.sort();
    set_tags(state, bucket, key, tags).await?;
    Ok(response::status(StatusCode::OK))
}

pub async fn delete_tagging(state: &Arc<AppState>, bucket: &Bucket, key: &str) -> S3Result<HttpResponse> {
    set_tags(state, bucket, key, Vec::new()).await?;
    Ok(response::status(StatusCode::NO_CONTENT))
}

async fn set_tags(state: &Arc<AppState>, bucket: &Bucket, key: &str, tags: Vec<(String, String)>) -> S3Result<()> {
    let (b, k) = (bucket.name.clone(), key.to_string());
    match state.meta(move |m| m.set_object_tags(&b, &k, &tags)).await {
        Ok(()) => Ok(()),
        Err(StorageError::NotFound) => Err(S3Error::new(ErrorCode::NoSuchKey).with("Key", key)),
        Err(e) => Err(e.into()),
    }
}

#[doc(hidden)]
pub fn fuzz_parsers(data: &[u8]) -> bool {
    parse_delete_request(data).is_ok() | parse_tagging(data).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delete_requests_keep_keys_exactly() {
        let body = br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
            <Object><Key> </Key></Object><Object><Key>a&amp;b</Key><VersionId>null</VersionId></Object></Delete>"#;
        let d = parse_delete_request(body).unwrap();
        assert!(d.quiet);
        assert_eq!(d.objects[0].key, " ");
        assert_eq!(d.objects[1].key, "a&b");
        assert_eq!(d.objects[1].version_id.as_deref(), Some("null"));
    }

    #[test]
    fn malformed_delete_requests_are_malformed_xml() {
        for body in [
            &b"<Delete><Object></Object></Delete>"[..],
            b"<Delete>",
            b"<Other/>",
            b"\xff\xfe",
            b"<Delete><Quiet>maybe</Quiet></Delete>",
        ] {
            assert_eq!(parse_delete_request(body).unwrap_err().code, ErrorCode::MalformedXML);
        }
    }

    #[test]
    fn tagging_documents_give_key_value_pairs() {
        let body =
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>e</Key></Tag></TagSet></Tagging>";
        assert_eq!(parse_tagging(body).unwrap(), vec![("k".into(), "v".into()), ("e".into(), String::new())]);
        assert!(parse_tagging(b"<Tagging></Tagging>").is_err());
    }

    #[test]
    fn entity_bombs_are_rejected_not_expanded() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]><Delete><Object><Key>&f;&f;&f;&f;&f;&f;&f;&f;</Key></Object></Delete>"#;
        // Either rejected or bounded; it must not take the process down.
        let _ = parse_delete_request(bomb);
    }

    proptest! {
        #[test]
        fn request_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_delete_request(&body);
            let _ = parse_tagging(&body);
        }

        #[test]
        fn any_key_round_trips_through_a_delete_request(key in "\\PC{1,64}") {
            let escaped = quick_xml::escape::escape(key.as_str());
            let body = format!("<Delete><Object><Key>{escaped}</Key></Object></Delete>");
            prop_assert_eq!(&parse_delete_request(body.as_bytes()).unwrap().objects[0].key, &key);
        }
    }
}
