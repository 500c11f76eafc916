//! From an HTTP request to the S3 operation it names: a pure function, tested
//! without a server. Each [`Endpoint`] says which IAM action it needs, so an
//! operation cannot be added without deciding how it is authorized.

use crate::error::{ErrorCode, S3Error, S3Result};
use http::Method;

/// The decoded query string, in order.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    /// Whether the query names anything beyond the operation hint some SDKs
    /// add (`x-id`): a bucket-level PUT or DELETE with a sub-resource we do
    /// not know must never be taken for CreateBucket or DeleteBucket.
    pub fn names_a_subresource(&self) -> bool {
        self.0.iter().any(|(k, _)| k != "x-id")
    }
}

/// Where the bucket and key came from in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Splits the request into bucket and key: virtual-hosted style when the Host
/// is `<bucket>.<domain>` for one of our domains, path style otherwise.
/// `path` is the raw (percent-encoded) path.
pub fn resolve_target(host: Option<&str>, path: &str, domains: &[String]) -> S3Result<Target> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| S3Error::msg(ErrorCode::InvalidArgument, "The request path is not valid UTF-8."))?;
    let path = decoded.strip_prefix('/').unwrap_or(&decoded);
    let host = host.map(|h| strip_port(h).to_ascii_lowercase());
    if let Some(h) = host.as_deref() {
        for d in domains {
            if let Some(bucket) = h.strip_suffix(d.as_str()).and_then(|b| b.strip_suffix('.')) {
                if !bucket.is_empty() {
                    let key = (!path.is_empty()).then(|| path.to_string());
                    return Ok(Target { bucket: Some(bucket.to_string()), key });
                }
            }
        }
    }
    if path.is_empty() {
        return Ok(Target { bucket: None, key: None });
    }
    match path.split_once('/') {
        None => Ok(Target { bucket: Some(path.to_string()), key: None }),
        Some((b, "")) => Ok(Target { bucket: Some(b.to_string()), key: None }),
        Some((b, k)) => Ok(Target { bucket: Some(b.to_string()), key: Some(k.to_string()) }),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map(|(h, _)| &h[1..]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// Every S3 operation latchkey serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket { bucket: String },
    HeadBucket { bucket: String },
    DeleteBucket { bucket: String },
    GetBucketLocation { bucket: String },
    GetBucketVersioning { bucket: String },
    ListObjects { bucket: String },
    GetBucketPolicy { bucket: String },
    GetBucketAcl { bucket: String },
    PutBucketAcl { bucket: String },
    GetBucketOwnershipControls { bucket: String },
    PutBucketOwnershipControls { bucket: String },
    GetBucketCors { bucket: String },
    PutBucketCors { bucket: String },
    DeleteBucketCors { bucket: String },
    GetBucketLogging { bucket: String },
    PutBucketLogging { bucket: String },
    GetPublicAccessBlock { bucket: String },
    PutPublicAccessBlock { bucket: String },
    DeletePublicAccessBlock { bucket: String },
    PutBucketPolicy { bucket: String },
    DeleteBucketPolicy { bucket: String },
    GetBucketPolicyStatus { bucket: String },
    ListObjectVersions { bucket: String },
    ListObjectsV2 { bucket: String },
    ListMultipartUploads { bucket: String },
    DeleteObjects { bucket: String },
    PutObject { bucket: String, key: String },
    CopyObject { bucket: String, key: String },
    GetObject { bucket: String, key: String },
    HeadObject { bucket: String, key: String },
    DeleteObject { bucket: String, key: String },
    CreateMultipartUpload { bucket: String, key: String },
    UploadPart { bucket: String, key: String, upload_id: String, part_number: u32 },
    UploadPartCopy { bucket: String, key: String, upload_id: String, part_number: u32 },
    CompleteMultipartUpload { bucket: String, key: String, upload_id: String },
    AbortMultipartUpload { bucket: String, key: String, upload_id: String },
    ListParts { bucket: String, key: String, upload_id: String },
    GetObjectAttributes { bucket: String, key: String },
    GetObjectAcl { bucket: String, key: String },
    PutObjectAcl { bucket: String, key: String },
    GetObjectTagging { bucket: String, key: String },
    PutObjectTagging { bucket: String, key: String },
    DeleteObjectTagging { bucket: String, key: String },
}

/// Bucket sub-resources S3 has and latchkey does not serve yet: requests for
/// them get NotImplemented rather than being mistaken for another operation.
const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "analytics",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "metrics",
    "notification",
    "object-lock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "torrent",
    "website",
    "session",
    "renameObject",
    "metadataTable",
    "abac",
];

impl Endpoint {
    /// The IAM action this operation is authorized as.
    pub fn action(&self) -> &'static str {
        use Endpoint::*;
        match self {
            ListBuckets => "s3:ListAllMyBuckets",
            CreateBucket { .. } => "s3:CreateBucket",
            HeadBucket { .. } | ListObjects { .. } | ListObjectsV2 { .. } => "s3:ListBucket",
            ListObjectVersions { .. } => "s3:ListBucketVersions",
            GetBucketPolicy { .. } => "s3:GetBucketPolicy",
            GetBucketAcl { .. } => "s3:GetBucketAcl",
            PutBucketAcl { .. } => "s3:PutBucketAcl",
            GetBucketOwnershipControls { .. } => "s3:GetBucketOwnershipControls",
            PutBucketOwnershipControls { .. } => "s3:PutBucketOwnershipControls",
            GetObjectAcl { .. } => "s3:GetObjectAcl",
            PutObjectAcl { .. } => "s3:PutObjectAcl",
            GetBucketCors { .. } => "s3:GetBucketCORS",
            GetBucketLogging { .. } => "s3:GetBucketLogging",
            PutBucketLogging { .. } => "s3:PutBucketLogging",
            PutBucketCors { .. } | DeleteBucketCors { .. } => "s3:PutBucketCORS",
            GetPublicAccessBlock { .. } => "s3:GetBucketPublicAccessBlock",
            PutPublicAccessBlock { .. } | DeletePublicAccessBlock { .. } => "s3:PutBucketPublicAccessBlock",
            PutBucketPolicy { .. } => "s3:PutBucketPolicy",
            DeleteBucketPolicy { .. } => "s3:DeleteBucketPolicy",
            GetBucketPolicyStatus { .. } => "s3:GetBucketPolicyStatus",
            DeleteBucket { .. } => "s3:DeleteBucket",
            GetBucketLocation { .. } => "s3:GetBucketLocation",
            GetBucketVersioning { .. } => "s3:GetBucketVersioning",
            ListMultipartUploads { .. } => "s3:ListBucketMultipartUploads",
            DeleteObjects { .. } | DeleteObject { .. } => "s3:DeleteObject",
            PutObject { .. }
            | CopyObject { .. }
            | CreateMultipartUpload { .. }
            | UploadPart { .. }
            | UploadPartCopy { .. }
            | CompleteMultipartUpload { .. } => "s3:PutObject",
            GetObject { .. } | HeadObject { .. } => "s3:GetObject",
            AbortMultipartUpload { .. } => "s3:AbortMultipartUpload",
            ListParts { .. } => "s3:ListMultipartUploadParts",
            GetObjectTagging { .. } => "s3:GetObjectTagging",
            GetObjectAttributes { .. } => "s3:GetObjectAttributes",
            PutObjectTagging { .. } => "s3:PutObjectTagging",
            DeleteObjectTagging { .. } => "s3:DeleteObjectTagging",
        }
    }

    /// The S3 API operation's name (`GetObject`, `ListObjectsV2`), as audit
    /// events and metrics name it: the variant's own name.
    pub fn operation(&self) -> String {
        let debug = format!("{self:?}");
        debug.split([' ', '{']).next().unwrap_or_default().to_string()
    }

    /// The key the operation addresses, if any.
    pub fn key(&self) -> Option<String> {
        let bucket = self.bucket()?;
        let arn = self.resource_arn();
        arn.strip_prefix(&format!("arn:aws:s3:::{bucket}/")).map(str::to_string)
    }

    /// The ARN of the resource the action applies to.
    pub fn resource_arn(&self) -> String {
        use Endpoint::*;
        match self {
            ListBuckets => "*".to_string(),
            CreateBucket { bucket }
            | HeadBucket { bucket }
            | DeleteBucket { bucket }
            | GetBucketLocation { bucket }
            | GetBucketVersioning { bucket }
            | ListObjects { bucket }
            | ListObjectsV2 { bucket }
            | ListObjectVersions { bucket }
            | GetBucketPolicy { bucket }
            | GetBucketAcl { bucket }
            | PutBucketAcl { bucket }
            | GetBucketOwnershipControls { bucket }
            | PutBucketOwnershipControls { bucket }
            | GetBucketCors { bucket }
            | PutBucketCors { bucket }
            | DeleteBucketCors { bucket }
            | GetBucketLogging { bucket }
            | PutBucketLogging { bucket }
            | GetPublicAccessBlock { bucket }
            | PutPublicAccessBlock { bucket }
            | DeletePublicAccessBlock { bucket }
            | PutBucketPolicy { bucket }
            | DeleteBucketPolicy { bucket }
            | GetBucketPolicyStatus { bucket }
            | ListMultipartUploads { bucket }
            | DeleteObjects { bucket } => format!("arn:aws:s3:::{bucket}"),
            PutObject { bucket, key }
            | CopyObject { bucket, key }
            | GetObject { bucket, key }
            | HeadObject { bucket, key }
            | DeleteObject { bucket, key }
            | CreateMultipartUpload { bucket, key }
            | UploadPart { bucket, key, .. }
            | UploadPartCopy { bucket, key, .. }
            | CompleteMultipartUpload { bucket, key, .. }
            | AbortMultipartUpload { bucket, key, .. }
            | ListParts { bucket, key, .. }
            | GetObjectTagging { bucket, key }
            | GetObjectAcl { bucket, key }
            | PutObjectAcl { bucket, key }
            | GetObjectAttributes { bucket, key }
            | PutObjectTagging { bucket, key }
            | DeleteObjectTagging { bucket, key } => format!("arn:aws:s3:::{bucket}/{key}"),
        }
    }

    /// The bucket the operation addresses, if any.
    pub fn bucket(&self) -> Option<&str> {
        use Endpoint::*;
        match self {
            ListBuckets => None,
            CreateBucket { bucket }
            | HeadBucket { bucket }
            | DeleteBucket { bucket }
            | GetBucketLocation { bucket }
            | GetBucketVersioning { bucket }
            | ListObjects { bucket }
            | ListObjectsV2 { bucket }
            | ListObjectVersions { bucket }
            | GetBucketPolicy { bucket }
            | GetBucketAcl { bucket }
            | PutBucketAcl { bucket }
            | GetBucketOwnershipControls { bucket }
            | PutBucketOwnershipControls { bucket }
            | GetBucketCors { bucket }
            | PutBucketCors { bucket }
            | DeleteBucketCors { bucket }
            | GetBucketLogging { bucket }
            | PutBucketLogging { bucket }
            | GetPublicAccessBlock { bucket }
            | PutPublicAccessBlock { bucket }
            | DeletePublicAccessBlock { bucket }
            | PutBucketPolicy { bucket }
            | DeleteBucketPolicy { bucket }
            | GetBucketPolicyStatus { bucket }
            | ListMultipartUploads { bucket }
            | DeleteObjects { bucket }
            | PutObject { bucket, .. }
            | CopyObject { bucket, .. }
            | GetObject { bucket, .. }
            | HeadObject { bucket, .. }
            | DeleteObject { bucket, .. }
            | CreateMultipartUpload { bucket, .. }
            | UploadPart { bucket, .. }
            | UploadPartCopy { bucket, .. }
            | CompleteMultipartUpload { bucket, .. }
            | AbortMultipartUpload { bucket, .. }
            | ListParts { bucket, .. }
            | GetObjectTagging { bucket, .. }
            | GetObjectAcl { bucket, .. }
            | PutObjectAcl { bucket, .. }
            | GetObjectAttributes { bucket, .. }
            | PutObjectTagging { bucket, .. }
            | DeleteObjectTagging { bucket, .. } => Some(bucket),
        }
    }
}

fn not_implemented() -> S3Error {
    S3Error::msg(ErrorCode::NotImplemented, "This operation is not implemented by latchkey.")
}

fn part_number(q: &Query) -> S3Result<u32> {
    let raw = q.get("partNumber").unwrap_or_default();
    match raw.parse::<u32>() {
        Ok(n @ 1..=10000) => Ok(n),
        _ => Err(S3Error::msg(
            ErrorCode::InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive",
        )
        .with("ArgumentName", "partNumber")
        .with("ArgumentValue", raw)),
    }
}

/// Which operation the request names. `has_copy_source` is whether an
/// `x-amz-copy-source` header is present.
pub fn route(method: &Method, target: Target, q: &Query, has_copy_source: bool) -> S3Result<Endpoint> {
    use Endpoint::*;
    let Target { bucket, key } = target;
    let Some(bucket) = bucket else {
        return match *method {
            Method::GET => Ok(ListBuckets),
            _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        };
    };
    let Some(key) = key else {
        if let Some(sub) = UNSUPPORTED_SUBRESOURCES.iter().find(|s| q.has(s)) {
            tracing::debug!(subresource = sub, "unsupported bucket subresource");
            return Err(not_implemented());
        }
        return match *method {
            Method::PUT if q.has("policy") => Ok(PutBucketPolicy { bucket }),
            Method::GET if q.has("acl") => Ok(GetBucketAcl { bucket }),
            Method::PUT if q.has("acl") => Ok(PutBucketAcl { bucket }),
            Method::GET if q.has("ownershipControls") => Ok(GetBucketOwnershipControls { bucket }),
            Method::PUT if q.has("ownershipControls") => Ok(PutBucketOwnershipControls { bucket }),
            Method::GET if q.has("cors") => Ok(GetBucketCors { bucket }),
            Method::PUT if q.has("cors") => Ok(PutBucketCors { bucket }),
            Method::DELETE if q.has("cors") => Ok(DeleteBucketCors { bucket }),
            Method::GET if q.has("logging") => Ok(GetBucketLogging { bucket }),
            Method::PUT if q.has("logging") => Ok(PutBucketLogging { bucket }),
            Method::GET if q.has("publicAccessBlock") => Ok(GetPublicAccessBlock { bucket }),
            Method::PUT if q.has("publicAccessBlock") => Ok(PutPublicAccessBlock { bucket }),
            Method::DELETE if q.has("publicAccessBlock") => Ok(DeletePublicAccessBlock { bucket }),
            Method::GET if q.has("policy") => Ok(GetBucketPolicy { bucket }),
            Method::DELETE if q.has("policy") => Ok(DeleteBucketPolicy { bucket }),
            Method::GET if q.has("policyStatus") => Ok(GetBucketPolicyStatus { bucket }),
            Method::PUT if q.names_a_subresource() => Err(not_implemented()),
            Method::PUT => Ok(CreateBucket { bucket }),
            Method::HEAD => Ok(HeadBucket { bucket }),
            Method::DELETE if q.names_a_subresource() => Err(not_implemented()),
            Method::DELETE => Ok(DeleteBucket { bucket }),
            Method::GET if q.has("location") => Ok(GetBucketLocation { bucket }),
            Method::GET if q.has("versioning") => Ok(GetBucketVersioning { bucket }),
            Method::GET if q.has("uploads") => Ok(ListMultipartUploads { bucket }),
            Method::GET if q.has("versions") => Ok(ListObjectVersions { bucket }),
            Method::GET if q.has("tagging") => Err(not_implemented()),
            Method::GET if q.get("list-type") == Some("2") => Ok(ListObjectsV2 { bucket }),
            Method::GET if q.has("list-type") => Err(S3Error::msg(ErrorCode::InvalidArgument, "Invalid list-type")),
            Method::GET => Ok(ListObjects { bucket }),
            Method::POST if q.has("delete") => Ok(DeleteObjects { bucket }),
            Method::POST => Err(not_implemented()),
            _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        };
    };
    if let Some(sub) = UNSUPPORTED_SUBRESOURCES.iter().find(|s| q.has(s)) {
        tracing::debug!(subresource = sub, "unsupported object subresource");
        return Err(not_implemented());
    }
    // Without versioning every object has the single version "null".
    if let Some(v) = q.get("versionId") {
        if v != "null" {
            return Err(S3Error::msg(ErrorCode::InvalidArgument, "Invalid version id specified")
                .with("ArgumentName", "versionId")
                .with("ArgumentValue", v));
        }
    }
    let upload_id = q.get("uploadId").map(str::to_string);
    match (method.clone(), upload_id) {
        (Method::PUT, Some(upload_id)) if q.has("partNumber") => {
            let part_number = part_number(q)?;
            if has_copy_source {
                Ok(UploadPartCopy { bucket, key, upload_id, part_number })
            } else {
                Ok(UploadPart { bucket, key, upload_id, part_number })
            }
        }
        (Method::POST, Some(upload_id)) => Ok(CompleteMultipartUpload { bucket, key, upload_id }),
        (Method::DELETE, Some(upload_id)) => Ok(AbortMultipartUpload { bucket, key, upload_id }),
        (Method::GET, Some(upload_id)) => Ok(ListParts { bucket, key, upload_id }),
        (_, Some(_)) => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        (Method::POST, None) if q.has("uploads") => Ok(CreateMultipartUpload { bucket, key }),
        (Method::GET, None) if q.has("tagging") => Ok(GetObjectTagging { bucket, key }),
        (Method::GET, None) if q.has("acl") => Ok(GetObjectAcl { bucket, key }),
        (Method::PUT, None) if q.has("acl") => Ok(PutObjectAcl { bucket, key }),
        (Method::GET, None) if q.has("attributes") => Ok(GetObjectAttributes { bucket, key }),
        (Method::PUT, None) if q.has("tagging") => Ok(PutObjectTagging { bucket, key }),
        (Method::DELETE, None) if q.has("tagging") => Ok(DeleteObjectTagging { bucket, key }),
        (Method::PUT, None) if has_copy_source => Ok(CopyObject { bucket, key }),
        (Method::PUT, None) => Ok(PutObject { bucket, key }),
        (Method::GET, None) => Ok(GetObject { bucket, key }),
        (Method::HEAD, None) => Ok(HeadObject { bucket, key }),
        (Method::DELETE, None) => Ok(DeleteObject { bucket, key }),
        (Method::POST, None) => Err(not_implemented()),
        _ => Err(S3Error::new(ErrorCode::MethodNotAllowed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, path: &str) -> Target {
        resolve_target(Some(host), path, &["localhost".to_string()]).unwrap()
    }

    fn r(method: Method, host: &str, path: &str, query: &str) -> S3Result<Endpoint> {
        route(&method, t(host, path), &Query::parse(query), false)
    }

    #[test]
    fn path_style_splits_bucket_and_key() {
        assert_eq!(t("127.0.0.1:9000", "/b/a/b%20c"), Target { bucket: Some("b".into()), key: Some("a/b c".into()) });
        assert_eq!(t("127.0.0.1:9000", "/b/"), Target { bucket: Some("b".into()), key: None });
        assert_eq!(t("127.0.0.1:9000", "/"), Target { bucket: None, key: None });
    }

    #[test]
    fn virtual_host_style_takes_the_bucket_from_the_host() {
        assert_eq!(
            t("photos.localhost:9000", "/x/y"),
            Target { bucket: Some("photos".into()), key: Some("x/y".into()) }
        );
        assert_eq!(t("photos.localhost", "/"), Target { bucket: Some("photos".into()), key: None });
    }

    #[test]
    fn a_key_may_begin_with_a_slash() {
        assert_eq!(t("h", "/b//k").key.as_deref(), Some("/k"));
    }

    #[test]
    fn list_type_2_is_list_objects_v2() {
        assert_eq!(
            r(Method::GET, "h", "/b", "list-type=2&prefix=a").unwrap(),
            Endpoint::ListObjectsV2 { bucket: "b".into() }
        );
        assert_eq!(r(Method::GET, "h", "/b", "").unwrap(), Endpoint::ListObjects { bucket: "b".into() });
    }

    #[test]
    fn multipart_operations_are_told_apart_by_method_and_query() {
        assert!(matches!(r(Method::POST, "h", "/b/k", "uploads").unwrap(), Endpoint::CreateMultipartUpload { .. }));
        assert!(matches!(
            r(Method::PUT, "h", "/b/k", "partNumber=3&uploadId=u").unwrap(),
            Endpoint::UploadPart { part_number: 3, .. }
        ));
        assert!(matches!(
            r(Method::POST, "h", "/b/k", "uploadId=u").unwrap(),
            Endpoint::CompleteMultipartUpload { .. }
        ));
        // Unknown bucket sub-resources are never CreateBucket or DeleteBucket.
        for q in ["ownershipControls", "intelligentTiering", "anything=1"] {
            assert!(r(Method::DELETE, "h", "/b", q).is_err(), "DELETE ?{q}");
        }
        for q in ["replication2", "anything=1"] {
            assert!(r(Method::PUT, "h", "/b", q).is_err(), "PUT ?{q}");
        }
        assert!(matches!(r(Method::DELETE, "h", "/b", "x-id=DeleteBucket").unwrap(), Endpoint::DeleteBucket { .. }));
        assert!(matches!(r(Method::PUT, "h", "/b", "").unwrap(), Endpoint::CreateBucket { .. }));
        assert!(matches!(r(Method::DELETE, "h", "/b/k", "uploadId=u").unwrap(), Endpoint::AbortMultipartUpload { .. }));
        assert!(matches!(r(Method::GET, "h", "/b/k", "uploadId=u").unwrap(), Endpoint::ListParts { .. }));
    }

    #[test]
    fn part_numbers_outside_1_to_10000_are_invalid() {
        assert_eq!(
            r(Method::PUT, "h", "/b/k", "partNumber=0&uploadId=u").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            r(Method::PUT, "h", "/b/k", "partNumber=10001&uploadId=u").unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn unsupported_subresources_are_not_implemented() {
        assert_eq!(r(Method::GET, "h", "/b", "lifecycle").unwrap_err().code, ErrorCode::NotImplemented);
        assert_eq!(r(Method::PUT, "h", "/b/k", "retention").unwrap_err().code, ErrorCode::NotImplemented);
    }

    #[test]
    fn a_copy_source_header_makes_put_a_copy() {
        let e = route(&Method::PUT, t("h", "/b/k"), &Query::default(), true).unwrap();
        assert_eq!(e, Endpoint::CopyObject { bucket: "b".into(), key: "k".into() });
        assert_eq!(e.action(), "s3:PutObject");
        assert_eq!(e.resource_arn(), "arn:aws:s3:::b/k");
    }
}
