//! POST Object: browser form uploads authorised by a signed POST policy
//! (S3 "Browser-based uploads using POST"). The form streams: fields before
//! the file are read into memory (bounded), the file goes straight to a blob,
//! and nothing is stored unless every check passes.

use super::post_policy::PostPolicy;
use super::{headers, load_bucket, release_blobs};
use crate::authz::{authorize, AccessRequest, Caller, RequestFacts};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, set_header, HttpResponse};
use crate::state::AppState;
use crate::xml::{XmlWriter, S3_NS};
use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;
use latchkey_sigv4 as sigv4;
use latchkey_storage::{ObjectRecord, PutCondition, Segment};
use md5::{Digest, Md5};
use std::sync::Arc;
use time::OffsetDateTime;

/// Form fields before the file may total at most this much.
const MAX_FIELDS_BYTES: usize = 64 * 1024;

fn malformed(msg: &str) -> S3Error {
    S3Error::msg(
        ErrorCode::MalformedPOSTRequest,
        format!("The body of your POST request is not well-formed multipart/form-data. {msg}"),
    )
}

fn denied(msg: impl Into<String>) -> S3Error {
    S3Error::msg(ErrorCode::AccessDenied, msg.into())
}

pub struct PostRequest<'a> {
    pub bucket: String,
    pub content_type: &'a str,
    pub host: Option<&'a str>,
    pub now: OffsetDateTime,
    pub facts: RequestFacts<'a>,
}

pub async fn post_object<B>(state: &Arc<AppState>, req: PostRequest<'_>, body: B) -> S3Result<HttpResponse>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt;
    let boundary = multer::parse_boundary(req.content_type).map_err(|_| malformed("The boundary is missing."))?;
    let stream = body.into_data_stream().map(|r| r.map_err(|e| std::io::Error::other(e.into())));
    let mut form = multer::Multipart::new(stream, boundary);
    let bucket = load_bucket(state, &req.bucket).await?;

    // Fields up to the file.
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut total = 0usize;
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(|e| malformed(&e.to_string()))? {
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        if name == "file" {
            file = Some((field.file_name().unwrap_or("").to_string(), field));
            break;
        }
        let value = field.text().await.map_err(|e| malformed(&e.to_string()))?;
        total += name.len() + value.len();
        if total > MAX_FIELDS_BYTES {
            return Err(S3Error::msg(
                ErrorCode::MaxPostPreDataLengthExceeded,
                "Your POST request fields preceeding the upload file was too large.",
            ));
        }
        fields.push((name, value));
    }
    let Some((filename, mut file)) = file else {
        return Err(S3Error::msg(ErrorCode::InvalidArgument, "POST requires exactly one file upload per request.")
            .with("ArgumentName", "file"));
    };
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let key_template = get("key").ok_or_else(|| {
        S3Error::msg(
            ErrorCode::InvalidArgument,
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        )
        .with("ArgumentName", "key")
    })?;
    let key = key_template.replace("${filename}", &filename);
    super::validate_key(&key)?;

    // Who is uploading: the signer of the policy, or nobody.
    let mut checked_fields = fields.clone();
    if let Some(k) = checked_fields.iter_mut().find(|(n, _)| n == "key") {
        k.1 = key.clone();
    }
    checked_fields.push(("bucket".into(), bucket.name.clone()));
    let (principal, policy) = match get("policy") {
        None => (None, None),
        Some(policy_b64) => {
            let algorithm = get("x-amz-algorithm").unwrap_or_default();
            if algorithm != sigv4::ALGORITHM {
                return Err(S3Error::msg(
                    ErrorCode::InvalidArgument,
                    "Only AWS4-HMAC-SHA256 POST policies are supported.",
                )
                .with("ArgumentName", "x-amz-algorithm"));
            }
            let credential = get("x-amz-credential")
                .ok_or_else(|| denied("Bucket POST must contain a field named 'x-amz-credential'."))?;
            let signature = get("x-amz-signature")
                .ok_or_else(|| denied("Bucket POST must contain a field named 'x-amz-signature'."))?;
            let scope = sigv4::CredentialScope::parse(&credential)
                .map_err(|e| S3Error::msg(ErrorCode::AuthorizationQueryParametersError, e.to_string()))?;
            if scope.region != state.config.region || scope.service != "s3" {
                return Err(S3Error::msg(
                    ErrorCode::AuthorizationQueryParametersError,
                    format!(
                        "Error parsing the X-Amz-Credential parameter; the region '{}' is wrong; expecting '{}'",
                        scope.region, state.config.region
                    ),
                ));
            }
            let token = get("x-amz-security-token");
            let claimed = scope.access_key_id.clone();
            crate::audit::note(|r| r.claimed_key = Some(claimed));
            let (principal, secret) =
                crate::auth::resolve_key(state, &scope.access_key_id, token.as_deref(), req.now).await?;
            let signing_key = sigv4::signing_key(&secret, &scope.date, &scope.region, &scope.service);
            let expected = sigv4::signature_hex(&signing_key, &policy_b64);
            if !sigv4::signatures_match(&expected, &signature) {
                crate::audit::note(|r| r.auth_failure = Some("bad_signature"));
                return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch).with("AWSAccessKeyId", scope.access_key_id));
            }
            let policy = PostPolicy::parse(&policy_b64)
                .map_err(|e| S3Error::msg(ErrorCode::InvalidPolicyDocument, e.to_string()))?;
            policy.check(&checked_fields, req.now).map_err(|e| denied(e.to_string()))?;
            (Some(principal), Some(policy))
        }
    };
    let noted = principal.clone();
    crate::audit::note(|r| r.principal = noted);
    let caller = Caller::load(state, principal, &req.facts).await?;
    let resource = format!("arn:aws:s3:::{}/{key}", bucket.name);
    let mut access = AccessRequest::new("s3:PutObject", &resource, Some(&bucket.account_id));
    access.keys = vec![("s3:authType".into(), vec!["POST".into()])];
    access.resource_policy = super::effective_bucket_policy(state, &bucket, &caller).await?;
    authorize(&caller, &access)?;

    // The object's attributes come from the form fields, as headers would.
    let mut header_map = http::HeaderMap::new();
    for (name, value) in &fields {
        let std_header = matches!(
            name.as_str(),
            "content-type"
                | "cache-control"
                | "content-disposition"
                | "content-encoding"
                | "content-language"
                | "expires"
        ) || name.starts_with("x-amz-meta-")
            || name == "x-amz-storage-class"
            || name == "x-amz-website-redirect-location";
        if std_header {
            if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
            {
                header_map.insert(n, v);
            }
        }
    }
    let mut attrs = headers::object_attrs_from_request(&header_map)?;
    if let Some(t) = get("tagging") {
        let mut tags = super::object::parse_tagging(t.as_bytes())?;
        headers::validate_tags(&tags)?;
        tags.sort();
        attrs.tags = tags;
    }

    // Stream the file, bounded by content-length-range and the object limit.
    let (min, max) = policy.as_ref().and_then(|p| p.length_range()).unwrap_or((0, state.config.max_object_size));
    let max = max.min(state.config.max_object_size);
    let mut writer = state.blobs.create().await?;
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let streamed: S3Result<()> = async {
        while let Some(chunk) = file.chunk().await.map_err(|e| malformed(&e.to_string()))? {
            size += chunk.len() as u64;
            if size > max {
                return Err(S3Error::new(ErrorCode::EntityTooLarge)
                    .with("ProposedSize", size.to_string())
                    .with("MaxSizeAllowed", max.to_string()));
            }
            md5.update(&chunk);
            writer.write(&chunk).await?;
        }
        if size < min {
            return Err(S3Error::new(ErrorCode::EntityTooSmall)
                .with("ProposedSize", size.to_string())
                .with("MinSizeAllowed", min.to_string()));
        }
        Ok(())
    }
    .await;
    if let Err(e) = streamed {
        writer.abort().await;
        return Err(e);
    }
    let blob = writer.finish().await?;
    let etag = hex::encode(md5.finalize());
    let record = ObjectRecord {
        bucket: bucket.name.clone(),
        key: key.clone(),
        segments: vec![Segment { blob: blob.clone(), size, checksum: None }],
        size,
        etag: etag.clone(),
        last_modified: req.now,
        owner_account: bucket.account_id.clone(),
        attrs,
    };
    let r2 = record.clone();
    let replaced = match state.meta(move |m| m.put_object(&r2, &PutCondition::Always)).await {
        Ok(r) => r,
        Err(e) => {
            release_blobs(state, vec![blob]).await;
            return Err(e.into());
        }
    };
    release_blobs(state, replaced.blobs).await;

    let location = format!("http://{}/{}/{}", req.host.unwrap_or("localhost"), bucket.name, key);
    if let Some(redirect) = get("success_action_redirect").or_else(|| get("redirect")).filter(|r| !r.is_empty()) {
        let sep = if redirect.contains('?') { '&' } else { '?' };
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let target = format!(
            "{redirect}{sep}bucket={}&key={}&etag={}",
            enc(&bucket.name),
            enc(&key),
            enc(&format!("\"{etag}\""))
        );
        let mut r = response::status(StatusCode::SEE_OTHER);
        set_header(&mut r, "location", &target);
        set_header(&mut r, "etag", &headers::quoted_etag(&etag));
        return Ok(r);
    }
    let status = match get("success_action_status").as_deref() {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    let mut r = if status == StatusCode::CREATED {
        let mut w = XmlWriter::new("PostResponse", Some(S3_NS));
        w.elem("Location", &location)
            .elem("Bucket", &bucket.name)
            .elem("Key", &key)
            .elem("ETag", headers::quoted_etag(&etag));
        response::xml(status, w.finish())
    } else {
        response::status(status)
    };
    set_header(&mut r, "etag", &headers::quoted_etag(&etag));
    set_header(&mut r, "location", &location);
    Ok(r)
}
