//! `latchkey account ...`: a small SigV4-signing client for latchkey's admin
//! actions on a running server, authorised by the operator's root keys from
//! the standard AWS environment variables or shared-credentials profile.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use latchkey_sigv4 as sigv4;
use sha2::Digest;

/// Credentials as the AWS CLI finds them: AWS_ACCESS_KEY_ID /
/// AWS_SECRET_ACCESS_KEY, else the profile (AWS_PROFILE or "default") in
/// AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

pub fn credentials_from_environment() -> anyhow::Result<Credentials> {
    if let (Ok(id), Ok(secret)) = (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials { access_key_id: id, secret_access_key: secret });
    }
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let path = match std::env::var("AWS_SHARED_CREDENTIALS_FILE") {
        Ok(p) => std::path::PathBuf::from(p),
        Err(_) => std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".aws/credentials"),
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no AWS_ACCESS_KEY_ID in the environment and no credentials file at {}", path.display())
    })?;
    parse_credentials_file(&text, &profile)
        .ok_or_else(|| anyhow!("profile [{profile}] in {} has no keys", path.display()))
}

/// Reads one profile from an AWS shared-credentials (INI) file.
pub fn parse_credentials_file(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_profile = line[1..line.len() - 1].trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some(Credentials { access_key_id: id?, secret_access_key: secret? })
}

/// Sends one signed Query-protocol action to the IAM endpoint and returns the
/// response XML.
pub async fn call(endpoint: &str, creds: &Credentials, params: &[(&str, &str)]) -> anyhow::Result<String> {
    let uri: http::Uri = endpoint.parse().context("invalid --endpoint-url")?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// endpoints are supported by this client for now");
    }
    let host = uri.authority().ok_or_else(|| anyhow!("--endpoint-url needs a host"))?.to_string();
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let body = form.finish();
    let now = time::OffsetDateTime::now_utc();
    let amz_date = sigv4::format_amz_date(now);
    let scope = sigv4::CredentialScope {
        access_key_id: creds.access_key_id.clone(),
        date: amz_date[..8].to_string(),
        region: "us-east-1".into(),
        service: "iam".into(),
    };
    let body_hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let headers = vec![
        ("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()),
        ("host".to_string(), host.clone()),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let parts = sigv4::RequestParts { method: "POST", raw_path: "/", raw_query: "", headers: &headers };
    let canonical =
        sigv4::canonical_request(&parts, &signed, &body_hash, &sigv4::CanonicalOptions::for_service("iam", false))
            .map_err(|e| anyhow!("signing: {e}"))?;
    let sts = sigv4::string_to_sign(&amz_date, &scope, &canonical);
    let key = sigv4::signing_key(&creds.secret_access_key, &scope.date, &scope.region, &scope.service);
    let signature = sigv4::signature_hex(&key, &sts);
    let authz = format!(
        "{} Credential={}/{}, SignedHeaders={}, Signature={}",
        sigv4::ALGORITHM,
        creds.access_key_id,
        scope.scope_string(),
        signed.join(";"),
        signature
    );
    let mut req = http::Request::post(uri.clone());
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let req = req.header("authorization", authz).body(Full::new(Bytes::from(body)))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let resp = client.request(req).await.with_context(|| format!("cannot reach {endpoint}"))?;
    let status = resp.status();
    let text = String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes()).into_owned();
    if !status.is_success() {
        let code = xml_field(&text, "Code").unwrap_or_else(|| status.to_string());
        let message = xml_field(&text, "Message").unwrap_or_default();
        bail!("{code}: {message}");
    }
    Ok(text)
}

/// The text of the first `<name>` element (responses are ours and simple).
pub fn xml_field(xml: &str, name: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.descendants().find(|n| n.has_tag_name(name)).and_then(|n| n.text()).map(str::to_string)
}

/// Every `<name>` element's text, in order.
pub fn xml_fields(xml: &str, name: &str) -> Vec<String> {
    let Ok(doc) = roxmltree::Document::parse(xml) else { return vec![] };
    doc.descendants().filter(|n| n.has_tag_name(name)).map(|n| n.text().unwrap_or("").to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_read_from_a_credentials_file() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n[latchkey]\naws_access_key_id=C\naws_secret_access_key = D\n";
        let c = parse_credentials_file(text, "latchkey").unwrap();
        assert_eq!((c.access_key_id.as_str(), c.secret_access_key.as_str()), ("C", "D"));
        assert!(parse_credentials_file(text, "other").is_none());
    }
}
