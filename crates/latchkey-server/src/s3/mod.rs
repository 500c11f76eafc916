//! S3 operations: one file per family, dispatched from [`handle`].

mod acl;
pub mod actions;
mod bucket;
pub mod control;
mod copy;
pub mod cors;
pub mod headers;
mod list;
pub mod logging;
mod multipart;
mod object;
pub mod post_object;
pub mod post_policy;

use crate::auth::{AuthType, Principal, PrincipalKind};
use crate::authz::{authorize, AccessRequest};
use crate::body::RequestBody;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::router::{Endpoint, Query};
use crate::state::AppState;
use latchkey_storage::{Bucket, Segment, StorageError};
use std::sync::Arc;
use time::OffsetDateTime;

/// An authenticated S3 request, ready for its handler.
pub struct S3Request {
    pub endpoint: Endpoint,
    pub headers: http::HeaderMap,
    pub query: Query,
    pub body: RequestBody,
    pub principal: Option<Principal>,
    pub caller: Arc<crate::authz::Caller>,
    pub auth_type: AuthType,
    pub now: OffsetDateTime,
}

impl S3Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn handle(state: &Arc<AppState>, mut req: S3Request) -> S3Result<HttpResponse> {
    // As S3 does, a missing bucket is reported as such even to callers who
    // could not have accessed it.
    let bucket = match &req.endpoint {
        Endpoint::ListBuckets | Endpoint::CreateBucket { .. } => None,
        e => {
            let name = e.bucket().expect("every other endpoint names a bucket").to_string();
            Some(load_bucket(state, &name).await?)
        }
    };
    if let Some(b) = &bucket {
        // The audit event names the bucket's owner, as CloudTrail does.
        crate::audit::note(|r| {
            for res in r.resources.iter_mut().filter(|res| res.kind == "AWS::S3::Bucket") {
                res.account_id = Some(b.account_id.clone());
            }
        });
    }
    // Bucket-policy operations belong to the bucket owner's account: other
    // accounts get 405, and the owner's root is never locked out by its own
    // policy (PutBucketPolicy / GetBucketPolicy / DeleteBucketPolicy).
    let policy_op = matches!(
        req.endpoint,
        Endpoint::GetBucketPolicy { .. } | Endpoint::PutBucketPolicy { .. } | Endpoint::DeleteBucketPolicy { .. }
    );
    let owner_root = match (&req.principal, &bucket) {
        (Some(p), Some(b)) => {
            p.kind == PrincipalKind::AccountRoot && p.session.is_none() && p.account_id == b.account_id
        }
        _ => false,
    };
    if policy_op {
        if let (Some(p), Some(b)) = (&req.principal, &bucket) {
            if p.account_id != b.account_id {
                return Err(S3Error::msg(
                    ErrorCode::MethodNotAllowed,
                    "The specified method is not allowed against this resource.",
                )
                .with("Method", req.endpoint.action().trim_start_matches("s3:").to_string())
                .with("ResourceType", "BUCKETPOLICY"));
            }
        }
    }
    // DeleteObjects is authorized key by key, as s3:DeleteObject on each.
    let skip_gate = matches!(req.endpoint, Endpoint::DeleteObjects { .. }) || (policy_op && owner_root);
    if !skip_gate {
        let keys = condition_keys(state, &req, bucket.as_ref()).await?;
        let resource = req.endpoint.resource_arn();
        let mut access =
            AccessRequest::new(req.endpoint.action(), &resource, bucket.as_ref().map(|b| b.account_id.as_str()));
        access.keys = keys;
        if let Some(b) = &bucket {
            access.resource_policy = effective_bucket_policy(state, b, &req.caller).await?;
        }
        authorize(&req.caller, &access)?;
    }
    let endpoint = req.endpoint.clone();
    use Endpoint::*;
    match (endpoint, bucket) {
        (ListBuckets, _) => bucket::list_buckets(state, &req).await,
        (CreateBucket { bucket }, _) => bucket::create_bucket(state, &mut req, &bucket).await,
        (HeadBucket { .. }, Some(b)) => bucket::head_bucket(&b),
        (DeleteBucket { .. }, Some(b)) => bucket::delete_bucket(state, &b).await,
        (GetBucketLocation { .. }, Some(b)) => bucket::get_location(&b),
        (GetBucketVersioning { .. }, Some(_)) => bucket::get_versioning(),
        (ListObjects { .. }, Some(b)) => list::list_objects(state, &req, &b, false).await,
        (ListObjectsV2 { .. }, Some(b)) => list::list_objects(state, &req, &b, true).await,
        (GetBucketPolicy { .. }, Some(b)) => bucket::get_policy(state, &b).await,
        (GetBucketAcl { .. }, Some(b)) => acl::get(state, &b, None).await,
        (PutBucketAcl { .. }, Some(b)) => acl::put(state, &mut req, &b, None).await,
        (GetObjectAcl { key, .. }, Some(b)) => acl::get(state, &b, Some(&key)).await,
        (PutObjectAcl { key, .. }, Some(b)) => acl::put(state, &mut req, &b, Some(&key)).await,
        (GetBucketOwnershipControls { .. }, Some(_)) => acl::get_ownership_controls(),
        (PutBucketOwnershipControls { .. }, Some(_)) => acl::put_ownership_controls(&mut req).await,
        (GetBucketCors { .. }, Some(b)) => cors::get(state, &b).await,
        (GetBucketLogging { .. }, Some(b)) => logging::get(state, &b).await,
        (PutBucketLogging { .. }, Some(b)) => logging::put(state, &mut req, &b).await,
        (PutBucketCors { .. }, Some(b)) => cors::put(state, &mut req, &b).await,
        (DeleteBucketCors { .. }, Some(b)) => cors::delete(state, &b).await,
        (GetPublicAccessBlock { .. }, Some(b)) => bucket::get_public_access_block(state, &b).await,
        (PutPublicAccessBlock { .. }, Some(b)) => bucket::put_public_access_block(state, &mut req, &b).await,
        (DeletePublicAccessBlock { .. }, Some(b)) => bucket::delete_public_access_block(state, &b).await,
        (PutBucketPolicy { .. }, Some(b)) => bucket::put_policy(state, &mut req, &b).await,
        (DeleteBucketPolicy { .. }, Some(b)) => bucket::delete_policy(state, &b).await,
        (GetBucketPolicyStatus { .. }, Some(b)) => bucket::get_policy_status(state, &b).await,
        (ListObjectVersions { .. }, Some(b)) => list::list_object_versions(state, &req, &b).await,
        (ListMultipartUploads { .. }, Some(b)) => multipart::list_uploads(state, &req, &b).await,
        (DeleteObjects { .. }, Some(b)) => object::delete_objects(state, &mut req, &b).await,
        (PutObject { key, .. }, Some(b)) => object::put_object(state, &mut req, &b, &key).await,
        (CopyObject { key, .. }, Some(b)) => copy::copy_object(state, &mut req, &b, &key).await,
        (GetObject { key, .. }, Some(b)) => object::get_object(state, &req, &b, &key, false).await,
        (HeadObject { key, .. }, Some(b)) => object::get_object(state, &req, &b, &key, true).await,
        (DeleteObject { key, .. }, Some(b)) => object::delete_object(state, &b, &key).await,
        (GetObjectTagging { key, .. }, Some(b)) => object::get_tagging(state, &b, &key).await,
        (GetObjectAttributes { key, .. }, Some(b)) => object::get_attributes(state, &req, &b, &key).await,
        (PutObjectTagging { key, .. }, Some(b)) => object::put_tagging(state, &mut req, &b, &key).await,
        (DeleteObjectTagging { key, .. }, Some(b)) => object::delete_tagging(state, &b, &key).await,
        (CreateMultipartUpload { key, .. }, Some(b)) => multipart::create(state, &req, &b, &key).await,
        (UploadPart { key, upload_id, part_number, .. }, Some(b)) => {
            multipart::upload_part(state, &mut req, &b, &key, &upload_id, part_number).await
        }
        (UploadPartCopy { key, upload_id, part_number, .. }, Some(b)) => {
            copy::upload_part_copy(state, &mut req, &b, &key, &upload_id, part_number).await
        }
        (CompleteMultipartUpload { key, upload_id, .. }, Some(b)) => {
            multipart::complete(state, &mut req, &b, &key, &upload_id).await
        }
        (AbortMultipartUpload { key, upload_id, .. }, Some(b)) => multipart::abort(state, &b, &key, &upload_id).await,
        (ListParts { key, upload_id, .. }, Some(b)) => multipart::list_parts(state, &req, &b, &key, &upload_id).await,
        (_, None) => Err(S3Error::internal("bucket endpoint without a bucket")),
    }
}

/// The S3 condition keys an operation supplies ("Actions, resources, and
/// condition keys for Amazon S3").
async fn condition_keys(
    state: &Arc<AppState>,
    req: &S3Request,
    bucket: Option<&Bucket>,
) -> S3Result<Vec<(String, Vec<String>)>> {
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    let mut set = |k: &str, v: String| keys.push((k.to_string(), vec![v]));
    set("s3:signatureversion", "AWS4-HMAC-SHA256".to_string());
    set(
        "s3:authType",
        match req.auth_type {
            AuthType::Presigned => "REST-QUERY-STRING",
            _ => "REST-HEADER",
        }
        .to_string(),
    );
    // s3:signatureAge: milliseconds since the request was signed.
    let signed_at = req.query.get("X-Amz-Date").or_else(|| req.header("x-amz-date"));
    if let Some(t) = signed_at.and_then(latchkey_sigv4::parse_amz_date) {
        let age = (req.now - t).whole_milliseconds().max(0);
        set("s3:signatureAge", age.to_string());
    }
    if let Some(v) = req.header("x-amz-content-sha256") {
        set("s3:x-amz-content-sha256", v.to_string());
    }
    for h in [
        "x-amz-acl",
        "x-amz-copy-source",
        "x-amz-metadata-directive",
        "x-amz-storage-class",
        "x-amz-server-side-encryption",
    ] {
        if let Some(v) = req.header(h) {
            set(&format!("s3:{h}"), v.to_string());
        }
    }
    match &req.endpoint {
        Endpoint::ListObjects { .. } | Endpoint::ListObjectsV2 { .. } | Endpoint::ListObjectVersions { .. } => {
            set("s3:prefix", req.query.get("prefix").unwrap_or("").to_string());
            if let Some(d) = req.query.get("delimiter") {
                set("s3:delimiter", d.to_string());
            }
            set("s3:max-keys", req.query.get("max-keys").unwrap_or("1000").to_string());
        }
        Endpoint::PutObject { .. } | Endpoint::CopyObject { .. } | Endpoint::CreateMultipartUpload { .. } => {
            if let Some(t) = req.header("x-amz-tagging") {
                let tags = headers::parse_tagging_header(t)?;
                for (k, v) in &tags {
                    keys.push((format!("s3:RequestObjectTag/{k}"), vec![v.clone()]));
                }
                keys.push(("s3:RequestObjectTagKeys".to_string(), tags.into_iter().map(|(k, _)| k).collect()));
            }
        }
        _ => {}
    }
    // Operations on an existing object can be conditioned on its tags.
    if let (Some(b), Some(key)) = (bucket, existing_object_key(&req.endpoint)) {
        if let Ok(o) = object::load_object(state, &b.name, key).await {
            for (k, v) in &o.attrs.tags {
                keys.push((format!("s3:ExistingObjectTag/{k}"), vec![v.clone()]));
            }
        }
    }
    Ok(keys)
}

fn existing_object_key(e: &Endpoint) -> Option<&str> {
    match e {
        Endpoint::GetObject { key, .. }
        | Endpoint::HeadObject { key, .. }
        | Endpoint::GetObjectTagging { key, .. }
        | Endpoint::PutObjectTagging { key, .. }
        | Endpoint::DeleteObjectTagging { key, .. }
        | Endpoint::GetObjectAttributes { key, .. } => Some(key),
        _ => None,
    }
}

/// The bucket's policy, parsed, labelled with the bucket's ARN.
/// Buckets and their policies as last read, reused by the requests that
/// follow until any bucket-level write ([`write_bucket_meta`]): most
/// requests then cost one store read (the object's) instead of three.
#[derive(Default)]
pub struct BucketCache {
    generation: std::sync::atomic::AtomicU64,
    buckets: std::sync::Mutex<std::collections::HashMap<String, (u64, Bucket)>>,
    policies: std::sync::Mutex<std::collections::HashMap<String, (u64, Option<String>)>>,
}

/// Entries per map before the cache starts over.
const BUCKET_CACHE_LIMIT: usize = 10_000;

impl BucketCache {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn get<T: Clone>(&self, map: &std::sync::Mutex<std::collections::HashMap<String, (u64, T)>>, k: &str) -> Option<T> {
        let m = map.lock().unwrap_or_else(|e| e.into_inner());
        m.get(k).filter(|(g, _)| *g == self.generation()).map(|(_, v)| v.clone())
    }

    fn put<T>(map: &std::sync::Mutex<std::collections::HashMap<String, (u64, T)>>, k: &str, generation: u64, v: T) {
        let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= BUCKET_CACHE_LIMIT {
            m.clear();
        }
        m.insert(k.to_string(), (generation, v));
    }
}

/// Every write of a bucket or its configuration (creation, deletion, policy,
/// CORS, Block Public Access, logging) goes through here, so no cached read
/// outlives it.
pub async fn write_bucket_meta<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn latchkey_storage::MetadataStore) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    let result = state.meta(f).await;
    // Bumped whatever the outcome: a failed write may still have changed something.
    state.bucket_cache.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    result
}

pub async fn bucket_policy(state: &AppState, bucket: &str) -> S3Result<Option<(String, Arc<latchkey_policy::Policy>)>> {
    let cache = &state.bucket_cache;
    let doc = match cache.get(&cache.policies, bucket) {
        Some(doc) => doc,
        None => {
            let generation = cache.generation();
            let b = bucket.to_string();
            let doc = state.meta(move |m| m.get_bucket_config(&b, "policy")).await?;
            BucketCache::put(&cache.policies, bucket, generation, doc.clone());
            doc
        }
    };
    match doc {
        None => Ok(None),
        Some(doc) => {
            let p = state.policy_cache.get(&doc, latchkey_policy::PolicyKind::Resource)?;
            Ok(Some((format!("arn:aws:s3:::{bucket}"), p)))
        }
    }
}

/// The bucket policy as it applies to `caller`: with Block Public Access's
/// RestrictPublicBuckets on, a public policy grants nothing to anonymous or
/// other-account callers ("Blocking public access to your Amazon S3 storage").
pub async fn effective_bucket_policy(
    state: &AppState,
    bucket: &Bucket,
    caller: &crate::authz::Caller,
) -> S3Result<Option<(String, Arc<latchkey_policy::Policy>)>> {
    let policy = bucket_policy(state, &bucket.name).await?;
    let Some((label, p)) = policy else { return Ok(None) };
    let outsider = caller.principal.as_ref().is_none_or(|pr| pr.account_id != bucket.account_id);
    if outsider && bucket::is_public(&p) && bucket::public_access_block(state, bucket).await?.restrict_public_buckets {
        return Ok(None);
    }
    Ok(Some((label, p)))
}

pub async fn load_bucket(state: &AppState, name: &str) -> S3Result<Bucket> {
    let cache = &state.bucket_cache;
    if let Some(b) = cache.get(&cache.buckets, name) {
        return Ok(b);
    }
    let generation = cache.generation();
    let n = name.to_string();
    let bucket = state
        .meta(move |m| m.get_bucket(&n))
        .await?
        .ok_or_else(|| S3Error::new(ErrorCode::NoSuchBucket).with("BucketName", name))?;
    BucketCache::put(&cache.buckets, name, generation, bucket.clone());
    Ok(bucket)
}

/// S3's limit on key length, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 1024;

pub fn validate_key(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(S3Error::new(ErrorCode::KeyTooLongError)
            .with("Size", key.len().to_string())
            .with("MaxSizeAllowed", MAX_KEY_LEN.to_string()));
    }
    Ok(())
}

/// Streams `body` into a new blob. On any failure the blob is discarded and
/// nothing refers to it.
pub async fn store_body(
    state: &AppState,
    body: &mut RequestBody,
) -> S3Result<(latchkey_storage::BlobId, crate::body::BodyDigest)> {
    let mut writer = state.blobs.create().await?;
    loop {
        match body.next_chunk().await {
            Ok(Some(chunk)) => {
                if let Err(e) = writer.write(&chunk).await {
                    writer.abort().await;
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        }
    }
    let digest = body.digest().cloned().ok_or_else(|| S3Error::internal("body finished without a digest"))?;
    let id = writer.finish().await?;
    Ok((id, digest))
}

/// Deletes blobs that metadata no longer names. Failures only leave orphans,
/// which start-up reclaims, so they are logged, not returned.
pub async fn release_blobs(state: &AppState, blobs: Vec<latchkey_storage::BlobId>) {
    for b in blobs {
        if let Err(e) = state.blobs.delete(&b).await {
            tracing::warn!(blob = b.as_str(), error = %e, "could not delete unreferenced blob");
        }
    }
}

/// A blob's reader positioned at `offset` bytes into the object.
pub async fn open_segments(
    state: &AppState,
    segments: &[Segment],
    start: u64,
    len: u64,
) -> S3Result<crate::response::Body> {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;

    // Work out which segments the range touches, and where in each.
    let mut plan = Vec::new();
    let mut pos = 0u64;
    let end = start + len;
    for s in segments {
        let seg_start = pos;
        let seg_end = pos + s.size;
        pos = seg_end;
        if seg_end <= start || seg_start >= end {
            continue;
        }
        let from = start.max(seg_start) - seg_start;
        let to = end.min(seg_end) - seg_start;
        plan.push((s.blob.clone(), from, to - from));
    }
    // Open the first segment now so a missing blob is an error status, not a
    // truncated body.
    let mut readers = Vec::with_capacity(plan.len());
    if let Some((blob, from, n)) = plan.first() {
        let r = state.blobs.open(blob, *from).await.map_err(|e| match e {
            StorageError::NotFound => S3Error::new(ErrorCode::NoSuchKey),
            e => e.into(),
        })?;
        readers.push(r.take(*n));
    }
    let blobs = state.blobs.clone();
    let rest: Vec<_> = plan.into_iter().skip(1).collect();
    let first = futures_util::stream::iter(readers).map(Ok::<_, std::io::Error>);
    let later = futures_util::stream::iter(rest).then(move |(blob, from, n)| {
        let blobs = blobs.clone();
        async move {
            let r = blobs.open(&blob, from).await.map_err(std::io::Error::other)?;
            Ok(r.take(n))
        }
    });
    let stream = first
        .chain(later)
        .map(|r| match r {
            Ok(reader) => tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024).left_stream(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
        })
        .flatten()
        .map(|r| r.map(http_body::Frame::data));
    Ok(BodyExt::boxed_unsync(http_body_util::StreamBody::new(stream)))
}

/// Runs every S3 request-body and header parser on arbitrary input; the fuzz
/// target's entry point (none of them may panic).
#[doc(hidden)]
pub fn fuzz_request_parsers(data: &[u8]) {
    let _ = object::fuzz_parsers(data);
    let _ = multipart::fuzz_parsers(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = headers::parse_range(text, 1000);
        let _ = headers::parse_tagging_header(text);
        let _ = copy::fuzz_parsers(text);
        let _ = crate::router::resolve_target(Some(text), text, &["localhost".to_string()]);
    }
}
