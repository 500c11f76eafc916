//! Bucket operations.

use super::S3Request;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, HttpResponse};
use crate::state::AppState;
use crate::xml::{self, XmlWriter, S3_NS};
use http::StatusCode;
use latchkey_storage::{Bucket, StorageError};
use std::sync::Arc;

/// S3's general-purpose bucket naming rules.
pub fn validate_bucket_name(name: &str) -> S3Result<()> {
    let bad = || S3Error::new(ErrorCode::InvalidBucketName).with("BucketName", name);
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Err(bad());
    }
    if !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-') {
        return Err(bad());
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(bad());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(bad());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(bad());
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.starts_with("amzn-s3-demo-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
        || name.ends_with(".mrap")
        || name.ends_with("--x-s3")
    {
        return Err(bad());
    }
    Ok(())
}

/// A plausible AWS region name such as `eu-west-1` or `us-gov-west-1`.
fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

pub async fn list_buckets(state: &Arc<AppState>, req: &S3Request) -> S3Result<HttpResponse> {
    let p = req.principal.as_ref().ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
    let account_id = p.account_id.clone();
    let (account, buckets) =
        state.meta(move |m| Ok((m.get_account(&account_id)?, m.list_buckets(&account_id)?))).await?;
    let account = account.ok_or_else(|| S3Error::internal("principal's account is missing"))?;
    // ListBuckets pagination: max-buckets (1..=10000), continuation-token
    // (the last name of the previous page), prefix.
    let max = match req.query.get("max-buckets") {
        None => None,
        Some(v) => Some(v.parse::<usize>().ok().filter(|n| (1..=10000).contains(n)).ok_or_else(|| {
            S3Error::msg(ErrorCode::InvalidArgument, "max-buckets must be an integer between 1 and 10000")
        })?),
    };
    let prefix = req.query.get("prefix").unwrap_or("");
    let after = req.query.get("continuation-token").unwrap_or("");
    let mut buckets: Vec<Bucket> =
        buckets.into_iter().filter(|b| b.name.starts_with(prefix) && b.name.as_str() > after).collect();
    let next = match max {
        Some(n) if buckets.len() > n => {
            buckets.truncate(n);
            buckets.last().map(|b| b.name.clone())
        }
        _ => None,
    };
    let mut w = XmlWriter::new("ListAllMyBucketsResult", Some(S3_NS));
    w.open("Owner").elem("ID", &account.canonical_id).elem("DisplayName", &account.name).close();
    w.open("Buckets");
    for b in &buckets {
        w.open("Bucket")
            .elem("Name", &b.name)
            .elem("CreationDate", xml::iso8601(b.created))
            .elem("BucketRegion", &b.region)
            .close();
    }
    w.close();
    w.elem_opt("ContinuationToken", next);
    if !prefix.is_empty() {
        w.elem("Prefix", prefix);
    }
    Ok(response::xml(StatusCode::OK, w.finish()))
}

/// `<CreateBucketConfiguration><LocationConstraint>` if present.
fn parse_location_constraint(body: &[u8]) -> S3Result<Option<String>> {
    let doc = xml::parse_doc(xml::body_text(body)?, "CreateBucketConfiguration")?;
    xml::child_text(doc.root_element(), "LocationConstraint")
}

pub async fn create_bucket(state: &Arc<AppState>, req: &mut S3Request, name: &str) -> S3Result<HttpResponse> {
    let p = req.principal.clone().ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
    validate_bucket_name(name)?;
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    let mut region = state.config.region.clone();
    if !body.iter().all(u8::is_ascii_whitespace) {
        if let Some(lc) = parse_location_constraint(&body)?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
            // S3 rejects an explicit us-east-1: that region is the default and
            // is requested by leaving the constraint out.
            if lc == "us-east-1" || !valid_region(&lc) {
                return Err(S3Error::msg(
                    ErrorCode::InvalidLocationConstraint,
                    "The specified location-constraint is not valid",
                )
                .with("LocationConstraint", lc));
            }
            region = lc;
        }
    }
    if let Some(acl) = req.header("x-amz-acl") {
        if !matches!(
            acl,
            "private"
                | "public-read"
                | "public-read-write"
                | "authenticated-read"
                | "log-delivery-write"
                | "bucket-owner-read"
                | "bucket-owner-full-control"
                | "aws-exec-read"
        ) {
            return Err(S3Error::msg(ErrorCode::InvalidArgument, "Invalid canned ACL."));
        }
    }
    let bucket = Bucket { name: name.to_string(), account_id: p.account_id.clone(), region, created: req.now };
    let b2 = bucket.clone();
    match super::write_bucket_meta(state, move |m| m.create_bucket(&b2)).await {
        Ok(()) => {}
        Err(StorageError::AlreadyExists) => {
            let n = name.to_string();
            let existing = state.meta(move |m| m.get_bucket(&n)).await?;
            return Err(match existing {
                Some(b) if b.account_id == p.account_id && state.config.region == "us-east-1" => {
                    // S3 in us-east-1 answers a repeated CreateBucket by its owner
                    // with 200 for legacy compatibility; other regions say 409.
                    let mut r = response::status(StatusCode::OK);
                    response::set_header(&mut r, "location", &format!("/{name}"));
                    return Ok(r);
                }
                Some(b) if b.account_id == p.account_id => {
                    S3Error::new(ErrorCode::BucketAlreadyOwnedByYou).with("BucketName", name)
                }
                _ => S3Error::new(ErrorCode::BucketAlreadyExists).with("BucketName", name),
            });
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(bucket = name, account = %p.account_id, "bucket created");
    let mut r = response::status(StatusCode::OK);
    response::set_header(&mut r, "location", &format!("/{name}"));
    Ok(r)
}

pub fn head_bucket(b: &Bucket) -> S3Result<HttpResponse> {
    let mut r = response::status(StatusCode::OK);
    response::set_header(&mut r, "x-amz-bucket-region", &b.region);
    Ok(r)
}

pub async fn delete_bucket(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let n = b.name.clone();
    match super::write_bucket_meta(state, move |m| m.delete_bucket(&n)).await {
        Ok(freed) => {
            super::release_blobs(state, freed.blobs).await;
            Ok(response::status(StatusCode::NO_CONTENT))
        }
        Err(StorageError::Conflict(_)) => {
            Err(S3Error::new(ErrorCode::BucketNotEmpty).with("BucketName", b.name.clone()))
        }
        Err(StorageError::NotFound) => Err(S3Error::new(ErrorCode::NoSuchBucket).with("BucketName", b.name.clone())),
        Err(e) => Err(e.into()),
    }
}

pub fn get_location(b: &Bucket) -> S3Result<HttpResponse> {
    // us-east-1 is reported as an empty constraint, as S3 does.
    let region = if b.region == "us-east-1" { "" } else { b.region.as_str() };
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{S3_NS}\">{}</LocationConstraint>",
        quick_xml::escape::escape(region)
    );
    Ok(response::xml(StatusCode::OK, doc))
}

/// Versioning is not supported yet: every bucket is unversioned, which S3
/// reports as an empty configuration.
pub fn get_versioning() -> S3Result<HttpResponse> {
    Ok(response::xml(StatusCode::OK, XmlWriter::new("VersioningConfiguration", Some(S3_NS)).finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.example", "a1b2c3", &"a".repeat(63)] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.5.4",
            "xn--abc",
            "abc-s3alias",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions_look_like_aws_regions() {
        assert!(valid_region("eu-west-1"));
        assert!(valid_region("us-gov-west-1"));
        assert!(!valid_region("moon"));
        assert!(!valid_region("EU-west-1"));
    }
}

/// S3's limit on a bucket policy's size.
const MAX_BUCKET_POLICY: usize = 20 * 1024;

pub async fn put_policy(state: &Arc<AppState>, req: &mut S3Request, b: &Bucket) -> S3Result<HttpResponse> {
    let body = req.body.read_all(MAX_BUCKET_POLICY + 1).await.map_err(|e| {
        if e.code == ErrorCode::MalformedXML {
            S3Error::msg(ErrorCode::MalformedPolicy, "Policies must be smaller than 20 KB")
        } else {
            e
        }
    })?;
    let doc = std::str::from_utf8(&body)
        .map_err(|_| S3Error::msg(ErrorCode::MalformedPolicy, "Policies must be valid JSON"))?;
    if doc.len() > MAX_BUCKET_POLICY {
        return Err(S3Error::msg(ErrorCode::MalformedPolicy, "Policies must be smaller than 20 KB"));
    }
    let policy = latchkey_policy::Policy::parse(doc, latchkey_policy::PolicyKind::Resource)
        .map_err(|e| S3Error::msg(ErrorCode::MalformedPolicy, e.to_string()))?;
    // Every resource a bucket policy names must be this bucket or its objects.
    let own = format!("arn:aws:s3:::{}", b.name);
    for s in policy.statements() {
        if let Some(bad) = s.actions().0.iter().find(|a| !super::actions::names_an_action(a)) {
            tracing::debug!(action = %bad, "bucket policy names an unknown action");
            return Err(S3Error::msg(ErrorCode::MalformedPolicy, "Policy has invalid action"));
        }
        for r in s.resources().map(|(r, _)| r).unwrap_or_default() {
            // A pattern is acceptable when it can name this bucket or its
            // objects: its literal part (up to the first wildcard) must be
            // a prefix of the bucket's ARN or lie inside it.
            let literal = r.split(['*', '?']).next().unwrap_or("");
            let ok = r == "*"
                || *r == own
                || r.starts_with(&format!("{own}/"))
                || (r.contains(['*', '?']) && (own.starts_with(literal) || literal.starts_with(&format!("{own}/"))));
            if !ok {
                return Err(S3Error::msg(ErrorCode::MalformedPolicy, "Policy has invalid resource"));
            }
        }
    }
    crate::authz::check_principals_exist(state, &policy)
        .await
        .map_err(|e| S3Error::msg(ErrorCode::MalformedPolicy, e.message.to_string()))?;
    if is_public(&policy) && public_access_block(state, b).await?.block_public_policy {
        return Err(S3Error::msg(
            ErrorCode::AccessDenied,
            "User is not authorized to perform: s3:PutBucketPolicy because public policies are blocked by the BlockPublicPolicy block public access setting.",
        ));
    }
    let (n, d) = (b.name.clone(), doc.to_string());
    super::write_bucket_meta(state, move |m| m.put_bucket_config(&n, "policy", Some(&d))).await?;
    Ok(response::status(StatusCode::NO_CONTENT))
}

pub async fn get_policy(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let n = b.name.clone();
    match state.meta(move |m| m.get_bucket_config(&n, "policy")).await? {
        Some(doc) => {
            let mut r = response::status(StatusCode::OK);
            *r.body_mut() = response::full(doc);
            response::set_header(&mut r, "content-type", "application/json");
            Ok(r)
        }
        None => Err(S3Error::new(ErrorCode::NoSuchBucketPolicy).with("BucketName", b.name.clone())),
    }
}

pub async fn delete_policy(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let n = b.name.clone();
    super::write_bucket_meta(state, move |m| m.put_bucket_config(&n, "policy", None)).await?;
    Ok(response::status(StatusCode::NO_CONTENT))
}

/// A policy is public when some statement allows anyone (`*`) without a
/// condition that narrows who (S3's "The meaning of public").
pub async fn get_policy_status(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let n = b.name.clone();
    let doc = state
        .meta(move |m| m.get_bucket_config(&n, "policy"))
        .await?
        .ok_or_else(|| S3Error::new(ErrorCode::NoSuchBucketPolicy).with("BucketName", b.name.clone()))?;
    let policy = state.policy_cache.get(&doc, latchkey_policy::PolicyKind::Resource)?;
    let public = is_public(&policy);
    let mut w = XmlWriter::new("PolicyStatus", Some(S3_NS));
    w.elem("IsPublic", public.to_string());
    Ok(response::xml(StatusCode::OK, w.finish()))
}

/// A policy is public when some statement allows anyone (`*`) without a
/// condition that narrows who (S3's "The meaning of public").
pub fn is_public(policy: &latchkey_policy::Policy) -> bool {
    policy.statements().iter().any(|s| {
        s.effect() == latchkey_policy::Effect::Allow
            && s.conditions().is_empty()
            && matches!(s.principal(), Some(latchkey_policy::PrincipalElement::Principal(set))
                if set.aws.contains(&latchkey_policy::AwsPrincipal::Any))
    })
}

/// A bucket's Block Public Access settings (all off when none are set).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// S3 Control's namespace, for the account-level configuration.
pub const S3_CONTROL_NS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";

impl PublicAccessBlock {
    pub fn to_xml(self) -> String {
        self.to_xml_in(S3_NS)
    }

    pub fn to_xml_in(self, ns: &str) -> String {
        let mut w = XmlWriter::new("PublicAccessBlockConfiguration", Some(ns));
        w.elem("BlockPublicAcls", self.block_public_acls.to_string())
            .elem("IgnorePublicAcls", self.ignore_public_acls.to_string())
            .elem("BlockPublicPolicy", self.block_public_policy.to_string())
            .elem("RestrictPublicBuckets", self.restrict_public_buckets.to_string());
        w.finish()
    }

    pub fn parse(body: &[u8]) -> S3Result<PublicAccessBlock> {
        let doc = xml::parse_doc(xml::body_text(body)?, "PublicAccessBlockConfiguration")?;
        let root = doc.root_element();
        let flag = |name: &'static str| -> S3Result<bool> {
            match xml::child_text(root, name)?.as_deref().map(str::trim) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(_) => Err(S3Error::new(ErrorCode::MalformedXML)),
            }
        };
        Ok(PublicAccessBlock {
            block_public_acls: flag("BlockPublicAcls")?,
            ignore_public_acls: flag("IgnorePublicAcls")?,
            block_public_policy: flag("BlockPublicPolicy")?,
            restrict_public_buckets: flag("RestrictPublicBuckets")?,
        })
    }
}

/// The settings in force for a bucket: its own and its account's, each
/// setting on if either turns it on.
pub async fn public_access_block(state: &AppState, bucket: &Bucket) -> S3Result<PublicAccessBlock> {
    let b = bucket.name.clone();
    let own = match state.meta(move |m| m.get_bucket_config(&b, "publicAccessBlock")).await? {
        Some(doc) => PublicAccessBlock::parse(doc.as_bytes())?,
        None => PublicAccessBlock::default(),
    };
    let account = account_public_access_block(state, &bucket.account_id).await?.unwrap_or_default();
    Ok(PublicAccessBlock {
        block_public_acls: own.block_public_acls || account.block_public_acls,
        ignore_public_acls: own.ignore_public_acls || account.ignore_public_acls,
        block_public_policy: own.block_public_policy || account.block_public_policy,
        restrict_public_buckets: own.restrict_public_buckets || account.restrict_public_buckets,
    })
}

/// The account-level configuration (S3 Control), if set.
pub async fn account_public_access_block(state: &AppState, account: &str) -> S3Result<Option<PublicAccessBlock>> {
    let a = account.to_string();
    match state.meta(move |m| m.iam_get(&a, latchkey_storage::IamKind::AccountSetting, "publicAccessBlock")).await? {
        Some(doc) => Ok(Some(PublicAccessBlock::parse(doc.as_bytes())?)),
        None => Ok(None),
    }
}

pub async fn put_public_access_block(state: &Arc<AppState>, req: &mut S3Request, b: &Bucket) -> S3Result<HttpResponse> {
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    let cfg = PublicAccessBlock::parse(&body)?;
    let (n, d) = (b.name.clone(), cfg.to_xml());
    super::write_bucket_meta(state, move |m| m.put_bucket_config(&n, "publicAccessBlock", Some(&d))).await?;
    Ok(response::status(StatusCode::OK))
}

pub async fn get_public_access_block(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let n = b.name.clone();
    match state.meta(move |m| m.get_bucket_config(&n, "publicAccessBlock")).await? {
        Some(doc) => Ok(response::xml(StatusCode::OK, doc)),
        None => Err(S3Error::new(ErrorCode::NoSuchPublicAccessBlockConfiguration).with("BucketName", b.name.clone())),
    }
}

pub async fn delete_public_access_block(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let n = b.name.clone();
    super::write_bucket_meta(state, move |m| m.put_bucket_config(&n, "publicAccessBlock", None)).await?;
    Ok(response::status(StatusCode::NO_CONTENT))
}
