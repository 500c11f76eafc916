//! SigV4 request signing (header-signed and pre-signed), written from the
//! AWS documentation and independent of the server's verifier.

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// Paths keep their slashes.
const PATH: &AsciiSet = &QUERY.remove(b'/');

pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

pub fn encode_query(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

pub fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, PATH).to_string()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// `20240101T000000Z` and `20240101`.
fn stamps(now: OffsetDateTime) -> (String, String) {
    let date = format!("{:04}{:02}{:02}", now.year(), now.month() as u8, now.day());
    let full = format!("{date}T{:02}{:02}{:02}Z", now.hour(), now.minute(), now.second());
    (full, date)
}

/// One request to sign: `path` is the raw (unencoded) path, `query` raw pairs.
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    /// Extra headers to sign (lowercase names).
    pub headers: Vec<(String, String)>,
    pub payload_hash: &'a str,
}

pub struct Signer {
    pub region: String,
}

fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> = pairs.iter().map(|(k, v)| (encode_query(k), encode_query(v))).collect();
    enc.sort();
    enc.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

impl Signer {
    fn signature(&self, creds: &Credentials, service: &str, date: &str, amz_date: &str, canonical: &str) -> String {
        let scope = format!("{date}/{}/{service}/aws4_request", self.region);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
        let k = hmac(format!("AWS4{}", creds.secret_key).as_bytes(), date.as_bytes());
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, service.as_bytes());
        let k = hmac(&k, b"aws4_request");
        hex::encode(hmac(&k, to_sign.as_bytes()))
    }

    /// Signs with an `Authorization` header; returns the headers to send
    /// (host included) and the encoded query string.
    pub fn sign_headers(&self, creds: &Credentials, service: &str, req: Unsigned) -> (Vec<(String, String)>, String) {
        let (amz_date, date) = stamps(OffsetDateTime::now_utc());
        let mut headers = req.headers;
        headers.push(("host".into(), req.host.into()));
        headers.push(("x-amz-date".into(), amz_date.clone()));
        headers.push(("x-amz-content-sha256".into(), req.payload_hash.into()));
        if let Some(t) = &creds.session_token {
            headers.push(("x-amz-security-token".into(), t.clone()));
        }
        headers.sort();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let canon_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
        let query = canonical_query(&req.query);
        let canonical = format!(
            "{}\n{}\n{query}\n{canon_headers}\n{signed}\n{}",
            req.method,
            encode_path(req.path),
            req.payload_hash
        );
        let sig = self.signature(creds, service, &date, &amz_date, &canonical);
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{date}/{}/{service}/aws4_request, SignedHeaders={signed}, Signature={sig}",
            creds.access_key, self.region
        );
        headers.push(("authorization".into(), auth));
        (headers, query)
    }

    /// A pre-signed URL's query string (signature included), valid for
    /// `expires` seconds, signing only `host`.
    pub fn presign(&self, creds: &Credentials, service: &str, req: Unsigned, expires: u32) -> String {
        let (amz_date, date) = stamps(OffsetDateTime::now_utc());
        let mut query = req.query;
        let credential = format!("{}/{date}/{}/{service}/aws4_request", creds.access_key, self.region);
        query.push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
        query.push(("X-Amz-Credential".into(), credential));
        query.push(("X-Amz-Date".into(), amz_date.clone()));
        query.push(("X-Amz-Expires".into(), expires.to_string()));
        query.push(("X-Amz-SignedHeaders".into(), "host".into()));
        if let Some(t) = &creds.session_token {
            query.push(("X-Amz-Security-Token".into(), t.clone()));
        }
        let cq = canonical_query(&query);
        let canonical =
            format!("{}\n{}\n{cq}\nhost:{}\n\nhost\n{UNSIGNED_PAYLOAD}", req.method, encode_path(req.path), req.host);
        let sig = self.signature(creds, service, &date, &amz_date, &canonical);
        format!("{cq}&X-Amz-Signature={sig}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The GET Object example of the S3 SigV4 documentation ("Signature
    // Calculations for the Authorization Header", example credentials).
    #[test]
    fn documented_get_object_example() {
        let s = Signer { region: "us-east-1".into() };
        let creds = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let empty = sha256_hex(b"");
        let canonical = format!(
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:{empty}\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n{empty}"
        );
        assert_eq!(
            s.signature(&creds, "s3", "20130524", "20130524T000000Z", &canonical),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn query_encoding_is_rfc3986() {
        assert_eq!(encode_query("a b/c~d=e"), "a%20b%2Fc~d%3De");
        assert_eq!(encode_path("/b/k 1/x"), "/b/k%201/x");
    }
}
