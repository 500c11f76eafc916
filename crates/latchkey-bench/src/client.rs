//! Signed S3/IAM/STS requests over one pooled HTTP/1.1 client.

use crate::sign::{self, Credentials, Signer, Unsigned};
use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// How request payloads are protected (`x-amz-content-sha256`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum PayloadSigning {
    /// The body's real SHA-256 (what the aws CLI sends over plain http).
    Sha256,
    UnsignedPayload,
}

/// How requests are authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum AuthStyle {
    Header,
    Presigned,
}

/// A request body and its SHA-256, computed once and shared by every request
/// that sends it (cloning `Bytes` copies no payload).
#[derive(Clone)]
pub struct Payload {
    pub bytes: Bytes,
    pub sha256: String,
}

impl Payload {
    pub fn new(bytes: Bytes) -> Self {
        let sha256 = sign::sha256_hex(&bytes);
        Payload { bytes, sha256 }
    }
    pub fn empty() -> Self {
        Payload::new(Bytes::new())
    }
}

pub struct Response {
    pub status: u16,
    /// Body bytes received.
    pub len: u64,
    /// The body itself, when asked to keep it.
    pub body: Option<Bytes>,
}

#[derive(Clone)]
pub struct S3Client {
    http: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port`
    base: String,
    host: String,
    signer: std::sync::Arc<Signer>,
    pub payload_signing: PayloadSigning,
    pub auth: AuthStyle,
}

pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub payload: Option<&'a Payload>,
    pub service: &'a str,
    /// Keep the response body (small responses only).
    pub keep_body: bool,
}

impl<'a> Call<'a> {
    pub fn s3(method: &'a str, path: &'a str) -> Self {
        Call { method, path, query: vec![], headers: vec![], payload: None, service: "s3", keep_body: false }
    }
}

impl S3Client {
    pub fn new(endpoint: &str, region: &str, pool: usize) -> anyhow::Result<Self> {
        let uri: http::Uri = endpoint.parse().context("endpoint must be a URL such as http://127.0.0.1:9000")?;
        if uri.scheme_str() != Some("http") {
            return Err(anyhow!("only http:// endpoints on loopback are supported"));
        }
        let host = uri.authority().ok_or_else(|| anyhow!("endpoint has no host"))?.to_string();
        let h = uri.host().unwrap_or_default();
        let loopback = h == "localhost"
            || h.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(anyhow!("the benchmark only targets loopback addresses, not {h}"));
        }
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(pool.max(1)).build(conn);
        Ok(S3Client {
            http,
            base: format!("http://{host}"),
            host,
            signer: std::sync::Arc::new(Signer { region: region.to_string() }),
            payload_signing: PayloadSigning::Sha256,
            auth: AuthStyle::Header,
        })
    }

    pub async fn send(&self, creds: &Credentials, call: Call<'_>) -> anyhow::Result<Response> {
        let body = call.payload.map(|p| p.bytes.clone()).unwrap_or_default();
        let len = body.len();
        let presigned = self.auth == AuthStyle::Presigned && call.service == "s3";
        let unsigned = Unsigned {
            method: call.method,
            host: &self.host,
            path: call.path,
            query: call.query,
            headers: call.headers,
            payload_hash: match (call.payload, self.payload_signing) {
                (Some(p), PayloadSigning::Sha256) => &p.sha256,
                (None, PayloadSigning::Sha256) => EMPTY_SHA256,
                (_, PayloadSigning::UnsignedPayload) => sign::UNSIGNED_PAYLOAD,
            },
        };
        let (headers, query) = if presigned {
            let extra = unsigned.headers.clone();
            (extra, self.signer.presign(creds, call.service, unsigned, 900))
        } else {
            self.signer.sign_headers(creds, call.service, unsigned)
        };
        let mut uri = format!("{}{}", self.base, sign::encode_path(call.path));
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query);
        }
        let mut b = http::Request::builder().method(call.method).uri(uri);
        for (k, v) in &headers {
            if k != "host" {
                b = b.header(k.as_str(), v.as_str());
            }
        }
        if call.method == "PUT" || call.method == "POST" {
            b = b.header("content-length", len);
        }
        let req = b.body(Full::new(body))?;
        let resp = self.http.request(req).await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut total = 0u64;
        let mut kept = call.keep_body.then(Vec::new);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                total += data.len() as u64;
                if let Some(k) = kept.as_mut() {
                    k.extend_from_slice(&data);
                }
            }
        }
        Ok(Response { status, len: total, body: kept.map(Bytes::from) })
    }

    /// A form-encoded IAM/STS Query API call; returns the XML body.
    pub async fn query_api(
        &self,
        creds: &Credentials,
        service: &str,
        params: &[(&str, &str)],
    ) -> anyhow::Result<(u16, String)> {
        let form: String = params
            .iter()
            .map(|(k, v)| format!("{}={}", sign::encode_query(k), sign::encode_query(v)))
            .collect::<Vec<_>>()
            .join("&");
        let payload = Payload::new(Bytes::from(form));
        let call = Call {
            method: "POST",
            path: "/",
            query: vec![],
            headers: vec![("content-type".into(), "application/x-www-form-urlencoded; charset=utf-8".into())],
            payload: Some(&payload),
            service,
            keep_body: true,
        };
        // Query API calls always sign their body, whatever the S3 setting.
        let mut this = self.clone();
        this.payload_signing = PayloadSigning::Sha256;
        let r = this.send(creds, call).await?;
        Ok((r.status, String::from_utf8_lossy(&r.body.unwrap_or_default()).into_owned()))
    }
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The text of the first element named `name` in an XML document.
pub fn xml_text(doc: &str, name: &str) -> Option<String> {
    let d = roxmltree::Document::parse(doc).ok()?;
    let n = d.descendants().find(|n| n.tag_name().name() == name)?;
    Some(n.text().unwrap_or_default().to_string())
}
