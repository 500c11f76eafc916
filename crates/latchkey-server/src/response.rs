//! Building HTTP responses: XML documents, errors, streamed bodies.

use crate::error::S3Error;
use crate::xml::XmlWriter;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;
pub type HttpResponse = Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

pub fn xml(status: StatusCode, doc: String) -> HttpResponse {
    let mut r = Response::new(full(doc));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

pub fn status(status: StatusCode) -> HttpResponse {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// S3's error document. `resource` is the request path; HEAD responses
/// carry no body.
pub fn error(err: &S3Error, resource: &str, request_id: &str, head: bool) -> HttpResponse {
    let status = err.code.status();
    if head || status == StatusCode::NOT_MODIFIED {
        let mut r = Response::new(empty());
        *r.status_mut() = status;
        return r;
    }
    let mut w = XmlWriter::new("Error", None);
    w.elem("Code", err.code.as_str()).elem("Message", &err.message);
    for (name, value) in &err.details {
        w.elem(name, value);
    }
    w.elem("Resource", resource).elem("RequestId", request_id).elem("HostId", request_id);
    xml(status, w.finish())
}

/// Sets a header from a string we produced or stored; values that are not
/// valid header text are dropped rather than failing the response.
pub fn set_header(r: &mut HttpResponse, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
        r.headers_mut().insert(n, v);
    }
}
