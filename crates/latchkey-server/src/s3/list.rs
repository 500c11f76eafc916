//! ListObjects (v1) and ListObjectsV2: an ordered range scan over the
//! metadata index, folding keys into common prefixes by delimiter.

use super::S3Request;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, HttpResponse};
use crate::state::AppState;
use crate::xml::{self, XmlWriter, S3_NS};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use http::StatusCode;
use latchkey_storage::{prefix_successor, Bucket, ObjectRecord};
use std::ops::Bound;
use std::sync::Arc;

const MAX_KEYS: usize = 1000;
const SCAN_BATCH: usize = 1000;

/// One page of a listing.
#[derive(Debug, Default)]
pub struct ListPage {
    pub contents: Vec<ObjectRecord>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned.
    pub last: Option<String>,
}

/// The common prefix `key` rolls up into, if any.
fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let d = delimiter?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// Lists up to `max_keys` entries after `marker`.
pub async fn list_page(
    state: &AppState,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    marker: Option<&str>,
    max_keys: usize,
) -> S3Result<ListPage> {
    let mut page = ListPage::default();
    if max_keys == 0 {
        return Ok(page);
    }
    let mut from: Vec<u8> = marker.map(|m| m.as_bytes().to_vec()).unwrap_or_default();
    let mut from_inclusive = marker.is_none();
    // A marker that is itself a common prefix means everything under it was
    // already returned (as that prefix).
    if let Some(m) = marker {
        if common_prefix(m, prefix, delimiter) == Some(m) {
            match prefix_successor(m.as_bytes()) {
                Some(next) => {
                    from = next;
                    from_inclusive = true;
                }
                None => return Ok(page),
            }
        }
    }
    let mut count = 0;
    'scan: loop {
        let (b, p, f) = (bucket.to_string(), prefix.to_string(), from.clone());
        let batch = state
            .meta(move |m| {
                let bound = if from_inclusive { Bound::Included(&f[..]) } else { Bound::Excluded(&f[..]) };
                m.scan_objects(&b, &p, bound, SCAN_BATCH)
            })
            .await?;
        let exhausted = batch.len() < SCAN_BATCH;
        for o in batch {
            if count == max_keys {
                page.truncated = true;
                break 'scan;
            }
            count += 1;
            if let Some(cp) = common_prefix(&o.key, prefix, delimiter) {
                let cp = cp.to_string();
                page.last = Some(cp.clone());
                page.common_prefixes.push(cp.clone());
                // Skip everything else under this prefix with a fresh scan.
                match prefix_successor(cp.as_bytes()) {
                    Some(next) => {
                        from = next;
                        from_inclusive = true;
                        continue 'scan;
                    }
                    None => break 'scan,
                }
            }
            from = o.key.as_bytes().to_vec();
            from_inclusive = false;
            page.last = Some(o.key.clone());
            page.contents.push(o);
        }
        if exhausted {
            break;
        }
    }
    Ok(page)
}

/// S3's `encoding-type=url`: percent-encode all but unreserved characters
/// and '/'.
fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

fn parse_max_keys(v: Option<&str>) -> S3Result<usize> {
    match v {
        None => Ok(MAX_KEYS),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).map(|n| (n as usize).min(MAX_KEYS)).ok_or_else(|| {
            S3Error::msg(ErrorCode::InvalidArgument, "Provided max-keys not an integer or within integer range")
                .with("ArgumentName", "max-keys")
                .with("ArgumentValue", v)
        }),
    }
}

pub async fn list_objects(state: &Arc<AppState>, req: &S3Request, bucket: &Bucket, v2: bool) -> S3Result<HttpResponse> {
    let q = &req.query;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let max_keys = parse_max_keys(q.get("max-keys"))?;
    let url = match q.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::msg(ErrorCode::InvalidArgument, "Invalid Encoding Method specified in Request"))
        }
    };
    let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
    let continuation =
        match (v2, q.get("continuation-token")) {
            (true, Some(t)) => Some(B64.decode(t).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                S3Error::msg(ErrorCode::InvalidArgument, "The continuation token provided is incorrect")
            })?),
            _ => None,
        };
    let marker = if v2 { continuation.as_deref().or(q.get("start-after")) } else { q.get("marker") };
    let page = list_page(state, &bucket.name, prefix, delimiter, marker, max_keys).await?;

    let owner = if !v2 || q.get("fetch-owner") == Some("true") {
        let a = bucket.account_id.clone();
        state.meta(move |m| m.get_account(&a)).await?
    } else {
        None
    };

    let mut w = XmlWriter::new("ListBucketResult", Some(S3_NS));
    // ListObjects (v1) never encodes Prefix; V2 does (botocore decodes
    // exactly the fields S3 encodes).
    w.elem("Name", &bucket.name).elem("Prefix", if v2 { enc(prefix) } else { prefix.to_string() });
    if v2 {
        if let Some(sa) = q.get("start-after") {
            w.elem("StartAfter", enc(sa));
        }
        w.elem_opt("ContinuationToken", q.get("continuation-token"));
        if page.truncated {
            w.elem_opt("NextContinuationToken", page.last.as_ref().map(|l| B64.encode(l)));
        }
        w.elem("KeyCount", (page.contents.len() + page.common_prefixes.len()).to_string());
    } else {
        w.elem("Marker", enc(q.get("marker").unwrap_or("")));
        if page.truncated && delimiter.is_some() {
            w.elem_opt("NextMarker", page.last.as_deref().map(enc));
        }
    }
    w.elem("MaxKeys", max_keys.to_string());
    w.elem_opt("Delimiter", delimiter.map(enc));
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", page.truncated.to_string());
    for o in &page.contents {
        w.open("Contents")
            .elem("Key", enc(&o.key))
            .elem("LastModified", xml::iso8601(o.last_modified))
            .elem("ETag", format!("\"{}\"", o.etag));
        if let Some(c) = &o.attrs.checksum {
            w.elem("ChecksumAlgorithm", &c.algorithm)
                .elem("ChecksumType", if c.full_object { "FULL_OBJECT" } else { "COMPOSITE" });
        }
        w.elem("Size", o.size.to_string()).elem("StorageClass", o.attrs.storage_class.as_deref().unwrap_or("STANDARD"));
        if let Some(a) = &owner {
            w.open("Owner").elem("ID", &a.canonical_id).elem("DisplayName", &a.name).close();
        }
        w.close();
    }
    for cp in &page.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", enc(cp)).close();
    }
    Ok(response::xml(StatusCode::OK, w.finish()))
}

/// ListObjectVersions for buckets without versioning: every object is its
/// own only version, `null`, and the latest.
pub async fn list_object_versions(state: &Arc<AppState>, req: &S3Request, bucket: &Bucket) -> S3Result<HttpResponse> {
    let q = &req.query;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let max_keys = parse_max_keys(q.get("max-keys"))?;
    let url = match q.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::msg(ErrorCode::InvalidArgument, "Invalid Encoding Method specified in Request"))
        }
    };
    let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
    let key_marker = q.get("key-marker").filter(|k| !k.is_empty());
    let page = list_page(state, &bucket.name, prefix, delimiter, key_marker, max_keys).await?;
    let a = bucket.account_id.clone();
    let owner = state.meta(move |m| m.get_account(&a)).await?;
    let mut w = XmlWriter::new("ListVersionsResult", Some(S3_NS));
    w.elem("Name", &bucket.name)
        .elem("Prefix", enc(prefix))
        .elem("KeyMarker", enc(key_marker.unwrap_or("")))
        .elem("VersionIdMarker", q.get("version-id-marker").unwrap_or(""));
    if page.truncated {
        w.elem_opt("NextKeyMarker", page.last.as_deref().map(enc)).elem("NextVersionIdMarker", "null");
    }
    w.elem("MaxKeys", max_keys.to_string());
    w.elem_opt("Delimiter", delimiter.map(enc));
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", page.truncated.to_string());
    for o in &page.contents {
        w.open("Version")
            .elem("Key", enc(&o.key))
            .elem("VersionId", "null")
            .elem("IsLatest", "true")
            .elem("LastModified", xml::iso8601(o.last_modified))
            .elem("ETag", format!("\"{}\"", o.etag))
            .elem("Size", o.size.to_string())
            .elem("StorageClass", o.attrs.storage_class.as_deref().unwrap_or("STANDARD"));
        if let Some(a) = &owner {
            w.open("Owner").elem("ID", &a.canonical_id).elem("DisplayName", &a.name).close();
        }
        w.close();
    }
    for cp in &page.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", enc(cp)).close();
    }
    Ok(response::xml(StatusCode::OK, w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_roll_up_at_the_first_delimiter_after_the_prefix() {
        assert_eq!(common_prefix("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a/b", "", None), None);
        assert_eq!(common_prefix("photos2024-x", "photos", Some("-")), Some("photos2024-"));
    }

    #[test]
    fn url_encoding_keeps_slashes_and_escapes_plus_and_space() {
        assert_eq!(url_encode("a b+c/d%"), "a%20b%2Bc/d%25");
    }
}
