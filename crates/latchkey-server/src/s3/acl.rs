//! ACLs as S3 serves them for buckets whose Object Ownership is
//! BucketOwnerEnforced — the default for new buckets and the only mode
//! latchkey has: ACLs are disabled, access is by policy alone. Reading an ACL
//! shows the owner's FULL_CONTROL; writing one succeeds only when it grants
//! nothing beyond that, else AccessControlListNotSupported ("Controlling
//! ownership of objects and disabling ACLs for your bucket").

use super::S3Request;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, HttpResponse};
use crate::state::AppState;
use crate::xml::{self, XmlWriter, S3_NS};
use http::StatusCode;
use latchkey_storage::Bucket;
use std::sync::Arc;

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

async fn owner(state: &AppState, b: &Bucket) -> S3Result<(String, String)> {
    let a = b.account_id.clone();
    let account =
        state.meta(move |m| m.get_account(&a)).await?.ok_or_else(|| S3Error::internal("bucket owner is missing"))?;
    Ok((account.canonical_id, account.name))
}

/// GetBucketAcl / GetObjectAcl: the owner has FULL_CONTROL, nobody else anything.
pub async fn get(state: &Arc<AppState>, b: &Bucket, key: Option<&str>) -> S3Result<HttpResponse> {
    if let Some(k) = key {
        super::object::load_object(state, &b.name, k).await?;
    }
    let (id, name) = owner(state, b).await?;
    let mut w = XmlWriter::new("AccessControlPolicy", Some(S3_NS));
    w.open("Owner").elem("ID", &id).elem("DisplayName", &name).close();
    w.open("AccessControlList");
    let grant = format!(
        "<Grant><Grantee xmlns:xsi=\"{XSI}\" xsi:type=\"CanonicalUser\"><ID>{}</ID><DisplayName>{}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>",
        quick_xml::escape::escape(id.as_str()),
        quick_xml::escape::escape(name.as_str())
    );
    let doc = w
        .finish()
        .replace("<AccessControlList></AccessControlList>", &format!("<AccessControlList>{grant}</AccessControlList>"));
    Ok(response::xml(StatusCode::OK, doc))
}

fn not_supported() -> S3Error {
    S3Error::msg(ErrorCode::AccessControlListNotSupported, "The bucket does not allow ACLs")
}

/// PutBucketAcl / PutObjectAcl: accepted only when it changes nothing.
pub async fn put(state: &Arc<AppState>, req: &mut S3Request, b: &Bucket, key: Option<&str>) -> S3Result<HttpResponse> {
    if let Some(k) = key {
        super::object::load_object(state, &b.name, k).await?;
    }
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    let grant_headers = [
        "x-amz-grant-read",
        "x-amz-grant-write",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-grant-full-control",
    ];
    if grant_headers.iter().any(|h| req.header(h).is_some()) {
        return Err(not_supported());
    }
    match req.header("x-amz-acl") {
        None | Some("private") | Some("bucket-owner-full-control") => {}
        Some(_) => return Err(not_supported()),
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        let doc = xml::parse_doc(xml::body_text(&body)?, "AccessControlPolicy")?;
        let (id, _) = owner(state, b).await?;
        let root = doc.root_element();
        let list = xml::children(root, "AccessControlList").next();
        let grants: Vec<_> = list.map(|l| xml::children(l, "Grant").collect()).unwrap_or_default();
        let only_owner_full_control = grants.iter().all(|g| {
            let grantee_id =
                xml::children(*g, "Grantee").next().and_then(|ge| xml::child_text(ge, "ID").ok().flatten());
            let permission = xml::child_text(*g, "Permission").ok().flatten();
            grantee_id.as_deref() == Some(id.as_str()) && permission.as_deref() == Some("FULL_CONTROL")
        });
        if !only_owner_full_control {
            return Err(not_supported());
        }
    }
    Ok(response::status(StatusCode::OK))
}

pub fn get_ownership_controls() -> S3Result<HttpResponse> {
    let mut w = XmlWriter::new("OwnershipControls", Some(S3_NS));
    w.open("Rule").elem("ObjectOwnership", "BucketOwnerEnforced").close();
    Ok(response::xml(StatusCode::OK, w.finish()))
}

/// Only BucketOwnerEnforced exists here; asking for it again is fine.
pub async fn put_ownership_controls(req: &mut S3Request) -> S3Result<HttpResponse> {
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    let doc = xml::parse_doc(xml::body_text(&body)?, "OwnershipControls")?;
    let rule = xml::children(doc.root_element(), "Rule").next().ok_or_else(|| S3Error::new(ErrorCode::MalformedXML))?;
    match xml::child_text(rule, "ObjectOwnership")?.as_deref() {
        Some("BucketOwnerEnforced") => Ok(response::status(StatusCode::OK)),
        Some("BucketOwnerPreferred" | "ObjectWriter") => Err(S3Error::msg(
            ErrorCode::NotImplemented,
            "latchkey buckets are always BucketOwnerEnforced: ACLs are disabled and policies decide access.",
        )),
        _ => Err(S3Error::new(ErrorCode::MalformedXML)),
    }
}
