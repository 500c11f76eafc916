//! CopyObject and UploadPartCopy.

use super::headers::{self, Precondition};
use super::object::{load_object, requested_checksum_algorithm};
use super::{load_bucket, release_blobs, validate_key, S3Request};
use crate::authz::{authorize, AccessRequest};
use crate::checksum::ChecksumAlgorithm;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, set_header, HttpResponse};
use crate::state::AppState;
use crate::xml::{self, XmlWriter, S3_NS};
use http::StatusCode;
use latchkey_storage::{BlobId, Bucket, ObjectRecord, PartRecord, Segment, StorageError, StoredChecksum};
use md5::{Digest, Md5};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// Largest object CopyObject copies in one request (S3: 5 GB).
const MAX_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// The source named by `x-amz-copy-source`, after authorization.
struct CopySource {
    object: ObjectRecord,
}

fn parse_copy_source(v: &str) -> S3Result<(String, String)> {
    let bad = || {
        S3Error::msg(ErrorCode::InvalidArgument, "Invalid copy source object key")
            .with("ArgumentName", "x-amz-copy-source")
    };
    let (path, version) = match v.split_once("?versionId=") {
        Some((p, ver)) => (p, Some(ver)),
        None => (v, None),
    };
    if version.is_some_and(|v| v != "null") {
        return Err(S3Error::msg(
            ErrorCode::InvalidArgument,
            "Versioning is not enabled; only the null version exists.",
        ));
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().map_err(|_| bad())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded.split_once('/').ok_or_else(bad)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok((bucket.to_string(), key.to_string()))
}

async fn load_source(state: &AppState, req: &S3Request) -> S3Result<CopySource> {
    let raw = req.header("x-amz-copy-source").ok_or_else(|| S3Error::new(ErrorCode::InvalidRequest))?;
    let (bucket, key) = parse_copy_source(raw)?;
    let src_bucket = load_bucket(state, &bucket).await?;
    let resource = format!("arn:aws:s3:::{bucket}/{key}");
    let mut access = AccessRequest::new("s3:GetObject", &resource, Some(&src_bucket.account_id));
    access.resource_policy = super::effective_bucket_policy(state, &src_bucket, &req.caller).await?;
    authorize(&req.caller, &access)?;
    let object = load_object(state, &bucket, &key).await?;
    match headers::evaluate_preconditions(&req.headers, "x-amz-copy-source-", &object.etag, object.last_modified) {
        Precondition::Proceed => Ok(CopySource { object }),
        // For copies both outcomes are a failed precondition.
        Precondition::Failed | Precondition::NotModified => Err(S3Error::new(ErrorCode::PreconditionFailed)),
    }
}

/// Copies `len` bytes from `start` of an object into a new durable blob,
/// hashing as it goes. Returns the blob, its MD5 and the checksum if asked.
pub async fn copy_range(
    state: &AppState,
    segments: &[Segment],
    start: u64,
    len: u64,
    checksum: Option<ChecksumAlgorithm>,
) -> S3Result<(BlobId, [u8; 16], Option<String>)> {
    let mut writer = state.blobs.create().await?;
    let result = async {
        let mut md5 = Md5::new();
        let mut hasher = checksum.map(|a| a.hasher());
        let mut pos = 0u64;
        let end = start + len;
        let mut buf = vec![0u8; 256 * 1024];
        for s in segments {
            let (seg_start, seg_end) = (pos, pos + s.size);
            pos = seg_end;
            if seg_end <= start || seg_start >= end {
                continue;
            }
            let from = start.max(seg_start) - seg_start;
            let mut remaining = end.min(seg_end) - seg_start - from;
            let mut reader = state.blobs.open(&s.blob, from).await?;
            while remaining > 0 {
                let want = remaining.min(buf.len() as u64) as usize;
                let n = reader.read(&mut buf[..want]).await.map_err(StorageError::from)?;
                if n == 0 {
                    return Err(S3Error::internal("stored blob is shorter than its metadata says"));
                }
                md5.update(&buf[..n]);
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..n]);
                }
                writer.write(&buf[..n]).await?;
                remaining -= n as u64;
            }
        }
        Ok::<_, S3Error>((md5.finalize().into(), hasher.map(|h| h.finish_base64())))
    }
    .await;
    match result {
        Ok((md5, sum)) => Ok((writer.finish().await?, md5, sum)),
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

fn directive(req: &S3Request, name: &str) -> S3Result<bool> {
    match req.header(name) {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(v) => Err(S3Error::msg(ErrorCode::InvalidArgument, format!("Unknown {name} value: {v}"))
            .with("ArgumentName", name.to_string())),
    }
}

pub async fn copy_object(
    state: &Arc<AppState>,
    req: &mut S3Request,
    bucket: &Bucket,
    key: &str,
) -> S3Result<HttpResponse> {
    validate_key(key)?;
    let _ = req.body.read_all(0).await;
    let replace_meta = directive(req, "x-amz-metadata-directive")?;
    let replace_tags = directive(req, "x-amz-tagging-directive")?;
    let src = load_source(state, req).await?.object;
    if src.size > MAX_COPY {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120",
        ));
    }
    let requested_alg = requested_checksum_algorithm(req)?;
    let same_object = src.bucket == bucket.name && src.key == key;
    if same_object
        && !replace_meta
        && requested_alg.is_none()
        && req.header("x-amz-storage-class").is_none()
        && req.header("x-amz-website-redirect-location").is_none()
    {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let request_attrs = headers::object_attrs_from_request(&req.headers)?;
    let mut attrs = if replace_meta { request_attrs.clone() } else { src.attrs.clone() };
    attrs.tags = if replace_tags { request_attrs.tags.clone() } else { src.attrs.tags.clone() };
    if request_attrs.storage_class.is_some() {
        attrs.storage_class = request_attrs.storage_class.clone();
    }
    let alg =
        requested_alg.or_else(|| src.attrs.checksum.as_ref().and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm)));
    let (blob, md5, sum) = copy_range(state, &src.segments, 0, src.size, alg).await?;
    attrs.checksum =
        alg.zip(sum).map(|(a, v)| StoredChecksum { algorithm: a.name().to_string(), value: v, full_object: true });
    let record = ObjectRecord {
        bucket: bucket.name.clone(),
        key: key.to_string(),
        segments: vec![Segment { blob: blob.clone(), size: src.size, checksum: None }],
        size: src.size,
        etag: hex::encode(md5),
        last_modified: req.now,
        owner_account: bucket.account_id.clone(),
        attrs,
    };
    let r2 = record.clone();
    let replaced = match state.meta(move |m| m.put_object(&r2, &latchkey_storage::PutCondition::Always)).await {
        Ok(r) => r,
        Err(e) => {
            release_blobs(state, vec![blob]).await;
            return Err(e.into());
        }
    };
    release_blobs(state, replaced.blobs).await;
    let mut w = XmlWriter::new("CopyObjectResult", Some(S3_NS));
    w.elem("LastModified", xml::iso8601(record.last_modified)).elem("ETag", headers::quoted_etag(&record.etag));
    if let Some(c) = &record.attrs.checksum {
        if let Some(a) = ChecksumAlgorithm::from_name(&c.algorithm) {
            w.elem(a.xml_element(), &c.value);
        }
    }
    Ok(response::xml(StatusCode::OK, w.finish()))
}

/// `x-amz-copy-source-range: bytes=first-last`, both required.
fn parse_copy_range(v: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        S3Error::msg(ErrorCode::InvalidRange, format!("Range specified is not valid for source object of size: {size}"))
            .with("RangeRequested", v.to_string())
    };
    // A malformed range is InvalidArgument; a well-formed one outside the
    // source is InvalidRange.
    let malformed = || {
        S3Error::msg(ErrorCode::InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
            .with("ArgumentName", "x-amz-copy-source-range")
            .with("ArgumentValue", v.to_string())
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or_else(malformed)?;
    let (a, b) = spec.split_once('-').ok_or_else(malformed)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| malformed())?, b.parse().map_err(|_| malformed())?);
    if a > b {
        return Err(malformed());
    }
    if b >= size {
        return Err(bad());
    }
    Ok((a, b - a + 1))
}

pub async fn upload_part_copy(
    state: &Arc<AppState>,
    req: &mut S3Request,
    bucket: &Bucket,
    key: &str,
    upload_id: &str,
    part_number: u32,
) -> S3Result<HttpResponse> {
    let _ = req.body.read_all(0).await;
    let upload = super::multipart::load_upload(state, bucket, key, upload_id).await?;
    let src = load_source(state, req).await?.object;
    let (start, len) = match req.header("x-amz-copy-source-range") {
        Some(v) => parse_copy_range(v, src.size)?,
        None => (0, src.size),
    };
    if len > MAX_COPY {
        return Err(S3Error::new(ErrorCode::EntityTooLarge));
    }
    let alg = upload.attrs.checksum.as_ref().and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm));
    let (blob, md5, sum) = copy_range(state, &src.segments, start, len, alg).await?;
    let part = PartRecord {
        upload_id: upload_id.to_string(),
        part_number,
        blob: blob.clone(),
        size: len,
        etag: hex::encode(md5),
        checksum: alg.zip(sum).map(|(a, v)| StoredChecksum {
            algorithm: a.name().to_string(),
            value: v,
            full_object: true,
        }),
        last_modified: req.now,
    };
    let p2 = part.clone();
    let replaced = match state.meta(move |m| m.put_part(&p2)).await {
        Ok(r) => r,
        Err(e) => {
            release_blobs(state, vec![blob]).await;
            return Err(match e {
                StorageError::NotFound => S3Error::new(ErrorCode::NoSuchUpload).with("UploadId", upload_id),
                e => e.into(),
            });
        }
    };
    release_blobs(state, replaced.blobs).await;
    let mut w = XmlWriter::new("CopyPartResult", Some(S3_NS));
    w.elem("LastModified", xml::iso8601(part.last_modified)).elem("ETag", headers::quoted_etag(&part.etag));
    if let Some(c) = &part.checksum {
        if let Some(a) = ChecksumAlgorithm::from_name(&c.algorithm) {
            w.elem(a.xml_element(), &c.value);
        }
    }
    let mut r = response::xml(StatusCode::OK, w.finish());
    set_header(&mut r, "x-amz-copy-source-version-id", "null");
    Ok(r)
}

/// Hashes an object's bytes with one checksum algorithm without copying
/// them (full-object checksums of completed multipart uploads).
pub async fn hash_segments(state: &AppState, segments: &[Segment], alg: ChecksumAlgorithm) -> S3Result<String> {
    let mut hasher = alg.hasher();
    let mut buf = vec![0u8; 256 * 1024];
    for s in segments {
        let mut reader = state.blobs.open(&s.blob, 0).await?;
        loop {
            let n = reader.read(&mut buf).await.map_err(StorageError::from)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    Ok(hasher.finish_base64())
}

#[doc(hidden)]
pub fn fuzz_parsers(text: &str) -> bool {
    parse_copy_source(text).is_ok() | parse_copy_range(text, 1000).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_bucket_slash_key_url_encoded() {
        assert_eq!(parse_copy_source("/b/a%20b/c").unwrap(), ("b".into(), "a b/c".into()));
        assert_eq!(parse_copy_source("b/k").unwrap(), ("b".into(), "k".into()));
        assert!(parse_copy_source("b").is_err());
        assert!(parse_copy_source("b/k?versionId=abc").is_err());
        assert!(parse_copy_source("b/k?versionId=null").is_ok());
    }

    #[test]
    fn copy_ranges_must_lie_within_the_source() {
        assert_eq!(parse_copy_range("bytes=0-9", 10).unwrap(), (0, 10));
        assert!(parse_copy_range("bytes=0-10", 10).is_err());
        assert!(parse_copy_range("bytes=5-", 10).is_err());
    }
}
