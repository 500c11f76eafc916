//! Multipart uploads. Completing never copies data: the object's segments
//! are the parts' blobs.

use super::object::requested_checksum_algorithm;
use super::{headers, release_blobs, store_body, validate_key, S3Request};
use crate::checksum::{self, ChecksumAlgorithm};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, set_header, HttpResponse};
use crate::state::AppState;
use crate::xml::{self, XmlWriter, S3_NS};
use http::StatusCode;
use latchkey_storage::{
    Bucket, MultipartUpload, ObjectRecord, PartRecord, PutCondition, Segment, StorageError, StoredChecksum,
};
use md5::{Digest, Md5};
use std::sync::Arc;

/// Every part but the last must be at least this large (S3: 5 MiB).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

pub async fn load_upload(state: &AppState, bucket: &Bucket, key: &str, upload_id: &str) -> S3Result<MultipartUpload> {
    let id = upload_id.to_string();
    let upload = state.meta(move |m| m.get_upload(&id)).await?;
    match upload {
        Some(u) if u.bucket == bucket.name && u.key == key => Ok(u),
        _ => Err(S3Error::new(ErrorCode::NoSuchUpload).with("UploadId", upload_id)),
    }
}

fn owner_xml(w: &mut XmlWriter, tag: &'static str, account: &Option<latchkey_storage::Account>) {
    if let Some(a) = account {
        w.open(tag).elem("ID", &a.canonical_id).elem("DisplayName", &a.name).close();
    }
}

pub async fn create(state: &Arc<AppState>, req: &S3Request, bucket: &Bucket, key: &str) -> S3Result<HttpResponse> {
    validate_key(key)?;
    let mut attrs = headers::object_attrs_from_request(&req.headers)?;
    let alg = requested_checksum_algorithm(req)?;
    let full_object = match req.header("x-amz-checksum-type") {
        None => alg == Some(ChecksumAlgorithm::Crc64Nvme),
        Some(t) if t.eq_ignore_ascii_case("FULL_OBJECT") => true,
        Some(t) if t.eq_ignore_ascii_case("COMPOSITE") => false,
        Some(_) => return Err(S3Error::msg(ErrorCode::InvalidRequest, "Invalid x-amz-checksum-type.")),
    };
    if let Some(a) = alg {
        // S3 supports full-object checksums only for CRCs, composite ones not
        // for CRC64NVME.
        let ok = if full_object {
            !matches!(a, ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256)
        } else {
            a != ChecksumAlgorithm::Crc64Nvme
        };
        if !ok {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                format!(
                    "The {} checksum type is not supported for {}.",
                    if full_object { "FULL_OBJECT" } else { "COMPOSITE" },
                    a.name()
                ),
            ));
        }
        attrs.checksum = Some(StoredChecksum { algorithm: a.name().to_string(), value: String::new(), full_object });
    }
    let upload = MultipartUpload {
        upload_id: uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string(),
        bucket: bucket.name.clone(),
        key: key.to_string(),
        initiated: req.now,
        owner_account: bucket.account_id.clone(),
        attrs,
    };
    let u2 = upload.clone();
    state.meta(move |m| m.create_upload(&u2)).await?;
    let mut w = XmlWriter::new("InitiateMultipartUploadResult", Some(S3_NS));
    w.elem("Bucket", &bucket.name).elem("Key", key).elem("UploadId", &upload.upload_id);
    let mut r = response::xml(StatusCode::OK, w.finish());
    if let Some(a) = alg {
        set_header(&mut r, "x-amz-checksum-algorithm", a.name());
        set_header(&mut r, "x-amz-checksum-type", if full_object { "FULL_OBJECT" } else { "COMPOSITE" });
    }
    Ok(r)
}

pub async fn upload_part(
    state: &Arc<AppState>,
    req: &mut S3Request,
    bucket: &Bucket,
    key: &str,
    upload_id: &str,
    part_number: u32,
) -> S3Result<HttpResponse> {
    let upload = load_upload(state, bucket, key, upload_id).await?;
    if let Some(len) = req.body.declared_length() {
        if len > state.config.max_object_size {
            return Err(S3Error::new(ErrorCode::EntityTooLarge));
        }
    }
    let (blob, digest) = store_body(state, &mut req.body).await?;
    let expected_alg = upload.attrs.checksum.as_ref().and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm));
    if let (Some(want), Some((got, _))) = (expected_alg, &digest.checksum) {
        if want != *got {
            release_blobs(state, vec![blob]).await;
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                    want.name().to_lowercase(),
                    got.name().to_lowercase()
                ),
            ));
        }
    }
    let part = PartRecord {
        upload_id: upload_id.to_string(),
        part_number,
        blob: blob.clone(),
        size: digest.size,
        etag: hex::encode(digest.md5),
        checksum: digest.checksum.clone().map(|(a, v)| StoredChecksum {
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
    let mut r = response::status(StatusCode::OK);
    set_header(&mut r, "etag", &headers::quoted_etag(&part.etag));
    if let Some((a, v)) = &digest.checksum {
        set_header(&mut r, a.header(), v);
    }
    Ok(r)
}

struct CompleteRequest {
    parts: Vec<CompletedPart>,
}

struct CompletedPart {
    part_number: u32,
    etag: String,
    /// `ChecksumCRC32` etc., by algorithm.
    checksums: Vec<(ChecksumAlgorithm, String)>,
}

impl CompletedPart {
    fn checksum(&self, alg: ChecksumAlgorithm) -> Option<&str> {
        self.checksums.iter().find(|(a, _)| *a == alg).map(|(_, v)| v.as_str())
    }
}

/// `<CompleteMultipartUpload><Part><PartNumber/><ETag/><ChecksumCRC32/>..</Part>..`
fn parse_complete_request(body: &[u8]) -> S3Result<CompleteRequest> {
    let doc = xml::parse_doc(xml::body_text(body)?, "CompleteMultipartUpload")?;
    let parts = xml::children(doc.root_element(), "Part")
        .map(|p| {
            let part_number = xml::required_text(p, "PartNumber")?
                .trim()
                .parse::<u32>()
                .map_err(|_| S3Error::new(ErrorCode::MalformedXML))?;
            let etag = xml::required_text(p, "ETag")?;
            let mut checksums = Vec::new();
            for alg in ChecksumAlgorithm::ALL {
                if let Some(v) = xml::child_text(p, alg.xml_element())? {
                    checksums.push((alg, v));
                }
            }
            Ok(CompletedPart { part_number, etag, checksums })
        })
        .collect::<S3Result<Vec<_>>>()?;
    Ok(CompleteRequest { parts })
}

/// S3's multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`.
pub fn multipart_etag(part_etags: &[&str]) -> Option<String> {
    let mut h = Md5::new();
    for e in part_etags {
        h.update(hex::decode(e).ok()?);
    }
    Some(format!("{}-{}", hex::encode(h.finalize()), part_etags.len()))
}

pub async fn complete(
    state: &Arc<AppState>,
    req: &mut S3Request,
    bucket: &Bucket,
    key: &str,
    upload_id: &str,
) -> S3Result<HttpResponse> {
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    let condition = super::object::put_condition(req)?;
    let upload = match load_upload(state, bucket, key, upload_id).await {
        Ok(u) => u,
        Err(e) => return repeat_completion(state, req, bucket, key, upload_id).await.unwrap_or(Err(e)),
    };
    let parsed = parse_complete_request(&body)?;
    if parsed.parts.is_empty() {
        return Err(S3Error::msg(
            ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    for w in parsed.parts.windows(2) {
        if w[1].part_number < w[0].part_number {
            return Err(S3Error::new(ErrorCode::InvalidPartOrder));
        }
    }
    // A part listed twice in a row (re-uploaded while the list was built)
    // counts once, as its last entry.
    let mut parsed = parsed;
    parsed.parts.dedup_by(|later, earlier| {
        if later.part_number == earlier.part_number {
            std::mem::swap(later, earlier);
            true
        } else {
            false
        }
    });
    let id = upload_id.to_string();
    let stored = state.meta(move |m| m.list_parts(&id, 0, usize::MAX)).await?;
    let alg = upload.attrs.checksum.as_ref().and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm));
    let full_object = upload.attrs.checksum.as_ref().is_some_and(|c| c.full_object);
    let mut used = Vec::with_capacity(parsed.parts.len());
    for (i, p) in parsed.parts.iter().enumerate() {
        let invalid = || {
            S3Error::new(ErrorCode::InvalidPart)
                .with("UploadId", upload_id)
                .with("PartNumber", p.part_number.to_string())
        };
        let s = stored.iter().find(|s| s.part_number == p.part_number).ok_or_else(invalid)?;
        if p.etag.trim().trim_matches('"') != s.etag {
            return Err(invalid().with("ETag", p.etag.clone()));
        }
        if let Some(a) = alg {
            if let (Some(claimed), Some(have)) = (p.checksum(a), s.checksum.as_ref()) {
                if claimed != have.value {
                    return Err(invalid());
                }
            }
        }
        if i + 1 < parsed.parts.len() && s.size < MIN_PART_SIZE {
            return Err(S3Error::new(ErrorCode::EntityTooSmall)
                .with("ProposedSize", s.size.to_string())
                .with("MinSizeAllowed", MIN_PART_SIZE.to_string())
                .with("PartNumber", p.part_number.to_string())
                .with("ETag", s.etag.clone()));
        }
        used.push(s.clone());
    }
    let etags: Vec<&str> = used.iter().map(|p| p.etag.as_str()).collect();
    let etag = multipart_etag(&etags).ok_or_else(|| S3Error::internal("stored part ETag is not hex"))?;
    let segments: Vec<Segment> = used
        .iter()
        .map(|p| Segment {
            blob: p.blob.clone(),
            size: p.size,
            checksum: p
                .checksum
                .as_ref()
                .filter(|c| Some(c.algorithm.as_str()) == alg.map(|a| a.name()))
                .map(|c| c.value.clone()),
        })
        .collect();
    let size: u64 = used.iter().map(|p| p.size).sum();
    let mut attrs = upload.attrs.clone();
    attrs.checksum = match alg {
        None => None,
        Some(a) if full_object => {
            // A full-object CRC covers the bytes, not the parts: compute it.
            let sum = super::copy::hash_segments(state, &segments, a).await?;
            Some(StoredChecksum { algorithm: a.name().to_string(), value: sum, full_object: true })
        }
        Some(a) => {
            let values: Option<Vec<&str>> =
                used.iter().map(|p| p.checksum.as_ref().map(|c| c.value.as_str())).collect();
            values.and_then(|v| checksum::composite(a, &v)).map(|value| StoredChecksum {
                algorithm: a.name().to_string(),
                value,
                full_object: false,
            })
        }
    };
    if let (Some(c), Some(a)) = (&attrs.checksum, alg) {
        if let Some(claimed) = req.header(a.header()) {
            if claimed != c.value && c.value.split('-').next() != Some(claimed) {
                return Err(S3Error::msg(
                    ErrorCode::BadDigest,
                    format!("The {} you specified did not match the calculated checksum.", a.name()),
                ));
            }
        }
    }
    let record = ObjectRecord {
        bucket: bucket.name.clone(),
        key: key.to_string(),
        segments,
        size,
        etag,
        last_modified: req.now,
        owner_account: bucket.account_id.clone(),
        attrs,
    };
    let (r2, id) = (record.clone(), upload_id.to_string());
    let used_numbers: Vec<u32> = used.iter().map(|p| p.part_number).collect();
    let cond = condition.clone();
    let freed = match state.meta(move |m| m.complete_upload(&id, &r2, &used_numbers, &cond)).await {
        Ok(f) => f,
        Err(StorageError::NotFound) if condition == PutCondition::Always => {
            return Err(S3Error::new(ErrorCode::NoSuchUpload).with("UploadId", upload_id))
        }
        Err(e) => return Err(super::object::condition_error(e, key)),
    };
    release_blobs(state, freed.blobs).await;
    Ok(completion_response(req, bucket, key, &record))
}

/// S3 answers a repeated CompleteMultipartUpload for an upload it already
/// completed with the same result, as long as the object it made is still
/// there. `None` when this upload id was never completed.
async fn repeat_completion(
    state: &Arc<AppState>,
    req: &S3Request,
    bucket: &Bucket,
    key: &str,
    upload_id: &str,
) -> Option<S3Result<HttpResponse>> {
    let id = upload_id.to_string();
    let done = state.meta(move |m| m.get_completed_upload(&id)).await.ok()??;
    if done.bucket != bucket.name || done.key != key {
        return None;
    }
    let current = super::object::load_object(state, &bucket.name, key).await.ok()?;
    if current.etag != done.etag {
        return None;
    }
    Some(Ok(completion_response(req, bucket, key, &current)))
}

fn completion_response(req: &S3Request, bucket: &Bucket, key: &str, record: &ObjectRecord) -> HttpResponse {
    let mut w = XmlWriter::new("CompleteMultipartUploadResult", Some(S3_NS));
    let host = req.header("host").unwrap_or("localhost");
    w.elem("Location", format!("http://{host}/{}/{}", bucket.name, key))
        .elem("Bucket", &bucket.name)
        .elem("Key", key)
        .elem("ETag", headers::quoted_etag(&record.etag));
    if let Some(c) = &record.attrs.checksum {
        if let Some(a) = ChecksumAlgorithm::from_name(&c.algorithm) {
            w.elem(a.xml_element(), &c.value);
            w.elem("ChecksumType", if c.full_object { "FULL_OBJECT" } else { "COMPOSITE" });
        }
    }
    response::xml(StatusCode::OK, w.finish())
}

pub async fn abort(state: &Arc<AppState>, bucket: &Bucket, key: &str, upload_id: &str) -> S3Result<HttpResponse> {
    load_upload(state, bucket, key, upload_id).await?;
    let id = upload_id.to_string();
    match state.meta(move |m| m.abort_upload(&id)).await {
        Ok(freed) => release_blobs(state, freed.blobs).await,
        Err(StorageError::NotFound) => return Err(S3Error::new(ErrorCode::NoSuchUpload).with("UploadId", upload_id)),
        Err(e) => return Err(e.into()),
    }
    Ok(response::status(StatusCode::NO_CONTENT))
}

fn parse_limit(v: Option<&str>, name: &'static str) -> S3Result<usize> {
    match v {
        None => Ok(1000),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).map(|n| (n as usize).min(1000)).ok_or_else(|| {
            S3Error::msg(ErrorCode::InvalidArgument, format!("Provided {name} not an integer or within integer range"))
                .with("ArgumentName", name)
        }),
    }
}

pub async fn list_parts(
    state: &Arc<AppState>,
    req: &S3Request,
    bucket: &Bucket,
    key: &str,
    upload_id: &str,
) -> S3Result<HttpResponse> {
    let upload = load_upload(state, bucket, key, upload_id).await?;
    let max = parse_limit(req.query.get("max-parts"), "max-parts")?;
    let marker: u32 = match req.query.get("part-number-marker") {
        None => 0,
        Some(v) => v.parse().map_err(|_| S3Error::msg(ErrorCode::InvalidArgument, "Invalid part-number-marker"))?,
    };
    let (id, owner_id) = (upload_id.to_string(), upload.owner_account.clone());
    let (mut parts, owner) =
        state.meta(move |m| Ok((m.list_parts(&id, marker, max + 1)?, m.get_account(&owner_id)?))).await?;
    let truncated = parts.len() > max;
    parts.truncate(max);
    let mut w = XmlWriter::new("ListPartsResult", Some(S3_NS));
    w.elem("Bucket", &bucket.name).elem("Key", key).elem("UploadId", upload_id);
    owner_xml(&mut w, "Initiator", &owner);
    owner_xml(&mut w, "Owner", &owner);
    w.elem("StorageClass", upload.attrs.storage_class.as_deref().unwrap_or("STANDARD"))
        .elem("PartNumberMarker", marker.to_string());
    if let Some(last) = parts.last() {
        w.elem("NextPartNumberMarker", last.part_number.to_string());
    }
    w.elem("MaxParts", max.to_string()).elem("IsTruncated", truncated.to_string());
    if let Some(c) = &upload.attrs.checksum {
        w.elem("ChecksumAlgorithm", &c.algorithm)
            .elem("ChecksumType", if c.full_object { "FULL_OBJECT" } else { "COMPOSITE" });
    }
    for p in &parts {
        w.open("Part")
            .elem("PartNumber", p.part_number.to_string())
            .elem("LastModified", xml::iso8601(p.last_modified))
            .elem("ETag", headers::quoted_etag(&p.etag))
            .elem("Size", p.size.to_string());
        if let Some(c) = &p.checksum {
            if let Some(a) = ChecksumAlgorithm::from_name(&c.algorithm) {
                w.elem(a.xml_element(), &c.value);
            }
        }
        w.close();
    }
    Ok(response::xml(StatusCode::OK, w.finish()))
}

pub async fn list_uploads(state: &Arc<AppState>, req: &S3Request, bucket: &Bucket) -> S3Result<HttpResponse> {
    let q = &req.query;
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty()).map(str::to_string);
    let max = parse_limit(q.get("max-uploads"), "max-uploads")?;
    let key_marker = q.get("key-marker").filter(|s| !s.is_empty()).map(str::to_string);
    let id_marker = q.get("upload-id-marker").filter(|s| !s.is_empty()).map(str::to_string);
    let (b, p, km, im) = (bucket.name.clone(), prefix.clone(), key_marker.clone(), id_marker.clone());
    let owner_id = bucket.account_id.clone();
    // Fetch generously; common prefixes fold many uploads into one entry.
    let (uploads, owner) = state
        .meta(move |m| Ok((m.list_uploads(&b, &p, km.as_deref(), im.as_deref(), 100_000)?, m.get_account(&owner_id)?)))
        .await?;
    let mut entries: Vec<&MultipartUpload> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = false;
    for u in &uploads {
        let cp = delimiter
            .as_deref()
            .and_then(|d| u.key[prefix.len()..].find(d).map(|i| u.key[..prefix.len() + i + d.len()].to_string()));
        if let Some(cp) = &cp {
            if prefixes.last() == Some(cp) {
                continue;
            }
        }
        if entries.len() + prefixes.len() == max {
            truncated = true;
            break;
        }
        match cp {
            Some(cp) => prefixes.push(cp),
            None => entries.push(u),
        }
    }
    let mut w = XmlWriter::new("ListMultipartUploadsResult", Some(S3_NS));
    w.elem("Bucket", &bucket.name)
        .elem("KeyMarker", key_marker.as_deref().unwrap_or(""))
        .elem("UploadIdMarker", id_marker.as_deref().unwrap_or(""));
    if truncated {
        if let Some(last) = entries.last() {
            w.elem("NextKeyMarker", &last.key).elem("NextUploadIdMarker", &last.upload_id);
        }
    }
    w.elem("Prefix", &prefix);
    w.elem_opt("Delimiter", delimiter.as_deref());
    w.elem("MaxUploads", max.to_string()).elem("IsTruncated", truncated.to_string());
    for u in entries {
        w.open("Upload").elem("Key", &u.key).elem("UploadId", &u.upload_id);
        owner_xml(&mut w, "Initiator", &owner);
        owner_xml(&mut w, "Owner", &owner);
        w.elem("StorageClass", u.attrs.storage_class.as_deref().unwrap_or("STANDARD"))
            .elem("Initiated", xml::iso8601(u.initiated));
        if let Some(c) = &u.attrs.checksum {
            w.elem("ChecksumAlgorithm", &c.algorithm);
        }
        w.close();
    }
    for cp in prefixes {
        w.open("CommonPrefixes").elem("Prefix", cp).close();
    }
    Ok(response::xml(StatusCode::OK, w.finish()))
}

#[doc(hidden)]
pub fn fuzz_parsers(data: &[u8]) -> bool {
    parse_complete_request(data).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_is_md5_of_part_md5s_with_count() {
        // Two parts whose MD5s are those of "a" and "b".
        let a = hex::encode(Md5::digest(b"a"));
        let b = hex::encode(Md5::digest(b"b"));
        let mut h = Md5::new();
        h.update(Md5::digest(b"a"));
        h.update(Md5::digest(b"b"));
        assert_eq!(multipart_etag(&[&a, &b]).unwrap(), format!("{}-2", hex::encode(h.finalize())));
    }
}
