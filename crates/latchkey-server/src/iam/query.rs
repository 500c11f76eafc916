//! The AWS Query protocol as IAM and STS speak it: form-encoded parameters
//! in, `<ActionResponse><ActionResult>` XML out, `<ErrorResponse>` on error.

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, HttpResponse};
use crate::xml::XmlWriter;
use http::StatusCode;

/// Decoded form parameters, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(body: &[u8]) -> Params {
        Params(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn required(&self, name: &str) -> S3Result<&str> {
        self.get(name).ok_or_else(|| {
            S3Error::msg(
                ErrorCode::ValidationError,
                format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name)),
            )
        })
    }

    /// `Name.member.1`, `Name.member.2`, ... in order.
    pub fn members(&self, name: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for i in 1.. {
            match self.get(&format!("{name}.member.{i}")) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    }

    /// `Tags.member.N.Key` / `.Value` pairs.
    pub fn tags(&self, name: &str) -> S3Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for i in 1.. {
            let key = self.get(&format!("{name}.member.{i}.Key"));
            let value = self.get(&format!("{name}.member.{i}.Value"));
            match (key, value) {
                (Some(k), v) => out.push((k.to_string(), v.unwrap_or("").to_string())),
                (None, None) => break,
                (None, Some(_)) => return Err(S3Error::msg(ErrorCode::ValidationError, "A tag is missing its Key.")),
            }
        }
        Ok(out)
    }

    /// `MaxItems` (1..=1000, default 100) and `Marker`.
    pub fn page(&self) -> S3Result<(usize, Option<&str>)> {
        let max = match self.get("MaxItems") {
            None => 100,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| S3Error::msg(ErrorCode::ValidationError, "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"))?,
        };
        Ok((max, self.get("Marker")))
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Response XML for a Query action, built as a string so element names can
/// be the action's.
pub struct QueryXml {
    action: String,
    namespace: &'static str,
    body: XmlWriter,
    with_result: bool,
}

impl QueryXml {
    pub fn new(action: &str, namespace: &'static str) -> Self {
        QueryXml { action: action.to_string(), namespace, body: XmlWriter::fragment(), with_result: true }
    }

    /// For actions whose response has no Result element (e.g. DeleteUser).
    pub fn without_result(action: &str, namespace: &'static str) -> Self {
        QueryXml { action: action.to_string(), namespace, body: XmlWriter::fragment(), with_result: false }
    }

    pub fn w(&mut self) -> &mut XmlWriter {
        &mut self.body
    }

    pub fn finish(self, request_id: &str) -> HttpResponse {
        let a = &self.action;
        let mut doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{a}Response xmlns=\"{}\">", self.namespace);
        if self.with_result {
            doc.push_str(&format!("<{a}Result>{}</{a}Result>", self.body.finish_fragment()));
        }
        doc.push_str(&format!(
            "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{a}Response>"
        ));
        response::xml(StatusCode::OK, doc)
    }
}

/// `<ErrorResponse>` as botocore's query parser reads it.
pub fn error_response(err: &S3Error, namespace: &str, request_id: &str) -> HttpResponse {
    let code = query_code(err.code);
    let kind = if err.code.status().is_server_error() { "Receiver" } else { "Sender" };
    // Query-protocol denials carry the encoded explanation in the message,
    // as AWS's do ("Encoded authorization failure message: ...").
    let with_encoded;
    let base_message: &str = match err.details.iter().find(|(k, _)| *k == "EncodedAuthorizationMessage") {
        Some((_, enc)) => {
            with_encoded = format!("{} Encoded authorization failure message: {enc}", err.message);
            &with_encoded
        }
        None => &err.message,
    };
    let message: &str = match err.code {
        ErrorCode::InvalidAccessKeyId | ErrorCode::InvalidToken => {
            "The security token included in the request is invalid."
        }
        ErrorCode::ExpiredToken => "The security token included in the request is expired",
        _ => base_message,
    };
    let status = match err.code {
        ErrorCode::InvalidToken | ErrorCode::ExpiredToken => http::StatusCode::FORBIDDEN,
        c => c.status(),
    };
    let mut w = XmlWriter::fragment();
    w.open("Error").elem("Type", kind).elem("Code", code).elem("Message", message).close();
    w.elem("RequestId", request_id);
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{namespace}\">{}</ErrorResponse>",
        w.finish_fragment()
    );
    response::xml(status, doc)
}

/// Query-protocol services name some authentication failures differently
/// from S3.
fn query_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidAccessKeyId | ErrorCode::InvalidToken => "InvalidClientTokenId",
        ErrorCode::AuthorizationHeaderMalformed | ErrorCode::AuthorizationQueryParametersError => "IncompleteSignature",
        ErrorCode::RequestTimeTooSkewed => "SignatureDoesNotMatch",
        ErrorCode::XAmzContentSHA256Mismatch | ErrorCode::BadDigest => "InvalidRequest",
        ErrorCode::InternalError => "ServiceFailure",
        other => other.as_str(),
    }
}
