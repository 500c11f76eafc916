//! CORS: bucket rules (Put/Get/DeleteBucketCors), preflight OPTIONS answered
//! from them without authentication, and CORS headers on actual responses,
//! errors included — so browsers can use pre-signed URLs and POST forms.

use super::S3Request;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, set_header, HttpResponse};
use crate::state::AppState;
use crate::xml::{self, XmlWriter, S3_NS};
use http::StatusCode;
use latchkey_storage::Bucket;
use std::sync::Arc;

/// One `<CORSRule>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// `*` matches any run of characters (S3 allows one in origins and headers).
fn wildcard(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, post)) => text.len() >= pre.len() + post.len() && text.starts_with(pre) && text.ends_with(post),
    }
}

impl CorsRule {
    fn origin_matches(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| wildcard(o, origin))
    }

    /// Whether a request from `origin` with `method` and `headers` is allowed.
    pub fn allows(&self, origin: &str, method: &str, headers: &[String]) -> bool {
        self.origin_matches(origin)
            && self.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                self.allowed_headers.iter().any(|a| wildcard(&a.to_ascii_lowercase(), &h.to_ascii_lowercase()))
            })
    }
}

pub fn parse(body: &[u8]) -> S3Result<Vec<CorsRule>> {
    let doc = xml::parse_doc(xml::body_text(body)?, "CORSConfiguration")?;
    let texts = |n: roxmltree::Node, name: &'static str| -> Vec<String> {
        xml::children(n, name).map(|c| c.text().unwrap_or("").trim().to_string()).collect()
    };
    let mut rules = Vec::new();
    for r in xml::children(doc.root_element(), "CORSRule") {
        let rule = CorsRule {
            id: xml::child_text(r, "ID")?,
            allowed_origins: texts(r, "AllowedOrigin"),
            allowed_methods: texts(r, "AllowedMethod"),
            allowed_headers: texts(r, "AllowedHeader"),
            expose_headers: texts(r, "ExposeHeader"),
            max_age_seconds: match xml::child_text(r, "MaxAgeSeconds")? {
                Some(v) => Some(v.trim().parse().map_err(|_| S3Error::new(ErrorCode::MalformedXML))?),
                None => None,
            },
        };
        if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
            return Err(S3Error::new(ErrorCode::MalformedXML));
        }
        if let Some(m) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}"),
            ));
        }
        for o in &rule.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    format!("AllowedOrigin \"{o}\" can not have more than one wildcard."),
                ));
            }
        }
        rules.push(rule);
    }
    if rules.is_empty() || rules.len() > 100 {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    Ok(rules)
}

fn to_xml(rules: &[CorsRule]) -> String {
    let mut w = XmlWriter::new("CORSConfiguration", Some(S3_NS));
    for r in rules {
        w.open("CORSRule");
        w.elem_opt("ID", r.id.as_deref());
        for (name, list) in [
            ("AllowedHeader", &r.allowed_headers),
            ("AllowedMethod", &r.allowed_methods),
            ("AllowedOrigin", &r.allowed_origins),
            ("ExposeHeader", &r.expose_headers),
        ] {
            for v in list {
                w.elem(name, v);
            }
        }
        w.elem_opt("MaxAgeSeconds", r.max_age_seconds.map(|m| m.to_string()));
        w.close();
    }
    w.finish()
}

pub async fn rules(state: &AppState, bucket: &str) -> S3Result<Option<Vec<CorsRule>>> {
    let b = bucket.to_string();
    match state.meta(move |m| m.get_bucket_config(&b, "cors")).await? {
        Some(doc) => Ok(Some(parse(doc.as_bytes())?)),
        None => Ok(None),
    }
}

pub async fn put(state: &Arc<AppState>, req: &mut S3Request, b: &Bucket) -> S3Result<HttpResponse> {
    let body = req.body.read_all(xml::MAX_XML_BODY).await?;
    let parsed = parse(&body)?;
    let (n, d) = (b.name.clone(), to_xml(&parsed));
    super::write_bucket_meta(state, move |m| m.put_bucket_config(&n, "cors", Some(&d))).await?;
    Ok(response::status(StatusCode::OK))
}

pub async fn get(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    match rules(state, &b.name).await? {
        Some(r) => Ok(response::xml(StatusCode::OK, to_xml(&r))),
        None => Err(S3Error::new(ErrorCode::NoSuchCORSConfiguration).with("BucketName", b.name.clone())),
    }
}

pub async fn delete(state: &Arc<AppState>, b: &Bucket) -> S3Result<HttpResponse> {
    let n = b.name.clone();
    super::write_bucket_meta(state, move |m| m.put_bucket_config(&n, "cors", None)).await?;
    Ok(response::status(StatusCode::NO_CONTENT))
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn cors_denied(msg: &'static str) -> S3Error {
    S3Error::msg(ErrorCode::AccessForbidden, msg).with("Method", "OPTIONS").with("ResourceType", "BUCKET")
}

/// A preflight request (`OPTIONS` with Origin and Access-Control-Request-Method).
pub async fn preflight(state: &Arc<AppState>, bucket: &str, headers: &http::HeaderMap) -> S3Result<HttpResponse> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(method)) = (h("origin"), h("access-control-request-method")) else {
        return Err(S3Error::msg(ErrorCode::BadRequest, "Insufficient information. Origin request header needed."));
    };
    let requested: Vec<String> = h("access-control-request-headers").map(split_list).unwrap_or_default();
    super::load_bucket(state, bucket).await?;
    let Some(rules) = rules(state, bucket).await? else {
        return Err(cors_denied("CORSResponse: CORS is not enabled for this bucket."));
    };
    let Some(rule) = rules.iter().find(|r| r.allows(origin, method, &requested)) else {
        return Err(cors_denied("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."));
    };
    let mut r = response::status(StatusCode::OK);
    write_headers(&mut r, rule, origin);
    if !requested.is_empty() {
        set_header(&mut r, "access-control-allow-headers", &requested.join(", "));
    }
    Ok(r)
}

fn write_headers(r: &mut HttpResponse, rule: &CorsRule, origin: &str) {
    let allow_origin = if rule.allowed_origins.iter().any(|o| o == "*") { "*" } else { origin };
    set_header(r, "access-control-allow-origin", allow_origin);
    set_header(r, "access-control-allow-methods", &rule.allowed_methods.join(", "));
    if !rule.expose_headers.is_empty() {
        set_header(r, "access-control-expose-headers", &rule.expose_headers.join(", "));
    }
    if let Some(m) = rule.max_age_seconds {
        set_header(r, "access-control-max-age", &m.to_string());
    }
    if allow_origin != "*" {
        set_header(r, "access-control-allow-credentials", "true");
    }
    set_header(r, "vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method");
}

/// Adds CORS headers to an actual (non-preflight) response — success or
/// error — when the request carries an Origin that a rule allows.
pub async fn decorate(
    state: &AppState,
    bucket: &str,
    method: &str,
    headers: &http::HeaderMap,
    resp: &mut HttpResponse,
) {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else { return };
    let Ok(Some(rules)) = rules(state, bucket).await else { return };
    if let Some(rule) = rules.iter().find(|r| r.allows(origin, method, &[])) {
        write_headers(resp, rule, origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &[u8] = br#"<CORSConfiguration><CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"#;

    #[test]
    fn rules_match_origin_method_and_headers() {
        let rules = parse(DOC).unwrap();
        assert!(rules[0].allows("https://app.example.com", "PUT", &["content-type".into()]));
        assert!(!rules[0].allows("https://example.org", "PUT", &[]));
        assert!(!rules[0].allows("https://app.example.com", "DELETE", &[]));
        assert!(rules[1].allows("http://anything", "GET", &[]));
        assert!(!rules[1].allows("http://anything", "GET", &["x-custom".into()]));
    }

    #[test]
    fn configurations_round_trip_and_bad_ones_are_refused() {
        let rules = parse(DOC).unwrap();
        assert_eq!(parse(to_xml(&rules).as_bytes()).unwrap(), rules);
        let bad_method = br#"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>"#;
        assert_eq!(parse(bad_method).unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(parse(b"<CORSConfiguration/>").unwrap_err().code, ErrorCode::MalformedXML);
    }
}
