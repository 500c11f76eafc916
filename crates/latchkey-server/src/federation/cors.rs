//! CORS for the STS calls a browser makes itself: a single-page app that
//! signed its user in with an OpenID Connect provider calls
//! AssumeRoleWithWebIdentity directly, cross-origin, as AWS STS allows.
//! These calls carry no credentials (no cookies, no signature), so any
//! origin may make them and read the answer: `Access-Control-Allow-Origin: *`,
//! which browsers never combine with credentials. Signed Query calls are
//! not covered: their preflight does not allow the Authorization header.

use crate::response::{self, set_header, HttpResponse};
use http::{HeaderMap, StatusCode};

/// Whether this is a CORS preflight (an OPTIONS request a browser sends
/// before a cross-origin POST).
pub fn is_preflight(headers: &HeaderMap) -> bool {
    headers.contains_key("origin") && headers.contains_key("access-control-request-method")
}

/// The answer to a preflight for `POST /`.
pub fn preflight(headers: &HeaderMap) -> HttpResponse {
    let method = headers.get("access-control-request-method").and_then(|v| v.to_str().ok()).unwrap_or("");
    if method != "POST" {
        return response::status(StatusCode::FORBIDDEN);
    }
    let mut r = response::status(StatusCode::OK);
    decorate(&mut r);
    set_header(&mut r, "access-control-allow-methods", "POST");
    // The headers SDKs add (content-type, x-amz-user-agent, amz-sdk-*) are
    // allowed; Authorization is not, so signed calls stay same-origin.
    let requested = headers.get("access-control-request-headers").and_then(|v| v.to_str().ok()).unwrap_or("");
    let allowed: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .filter(|h| !h.eq_ignore_ascii_case("authorization"))
        .take(32)
        .collect();
    if !allowed.is_empty() {
        set_header(&mut r, "access-control-allow-headers", &allowed.join(", "));
    }
    set_header(&mut r, "access-control-max-age", "600");
    r
}

/// Lets any origin read the response to an unsigned STS call.
pub fn decorate(r: &mut HttpResponse) {
    set_header(r, "access-control-allow-origin", "*");
    set_header(r, "access-control-expose-headers", "x-amz-request-id");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn a_post_preflight_is_allowed_without_the_authorization_header() {
        let h = headers(&[
            ("origin", "http://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type, x-amz-user-agent, authorization, bad header"),
        ]);
        assert!(is_preflight(&h));
        let r = preflight(&h);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        assert_eq!(r.headers()["access-control-allow-headers"], "content-type, x-amz-user-agent");
    }

    #[test]
    fn other_methods_are_not_allowed() {
        let h = headers(&[("origin", "http://app.example"), ("access-control-request-method", "DELETE")]);
        assert_eq!(preflight(&h).status(), StatusCode::FORBIDDEN);
        assert!(!is_preflight(&headers(&[("origin", "http://app.example")])));
    }
}
