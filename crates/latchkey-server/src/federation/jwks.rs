//! The signing keys of OpenID Connect providers: found through
//! `<issuer>/.well-known/openid-configuration` → `jwks_uri`, fetched over
//! HTTPS only (see `idp_tls` for which certificates are trusted), cached per
//! IAM provider, and fetched again when a token names a key the cache does
//! not have (the IdP rotated its keys) — at a bounded rate, so tokens with
//! made-up key ids cannot make latchkey hammer the IdP.

use super::idp_tls;
use super::jwt::{candidate_keys, parse_jwks, UnverifiedToken};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::Jwk;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Keys are used for this long before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Fetches per provider: a burst of this many, then one per `REFILL_EVERY`.
const FETCH_BURST: u32 = 4;
const REFILL_EVERY: Duration = Duration::from_secs(15);
/// One IdP request, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery document or JWKS read.
const MAX_DOCUMENT: usize = 512 * 1024;
/// Providers remembered at once (entries are cheap; this only bounds memory).
const MAX_ENTRIES: usize = 4096;

/// Why no key could be had; IDPCommunicationError for the caller.
#[derive(Debug)]
pub struct IdpUnreachable(pub String);

/// A token bucket: fetches allowed now, refilled over time.
struct FetchBudget {
    tokens: u32,
    refilled_at: Instant,
}

impl FetchBudget {
    fn full(now: Instant) -> Self {
        FetchBudget { tokens: FETCH_BURST, refilled_at: now }
    }

    fn take(&mut self, now: Instant) -> bool {
        let earned = (now.saturating_duration_since(self.refilled_at).as_millis() / REFILL_EVERY.as_millis()) as u32;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(FETCH_BURST);
            self.refilled_at += REFILL_EVERY * earned;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

struct ProviderKeys {
    keys: Vec<Jwk>,
    fetched_at: Option<Instant>,
    budget: FetchBudget,
}

/// Per provider (ARN and thumbprints: a changed ThumbprintList is a new
/// trust decision and never reuses keys fetched under the old one).
type Entries = HashMap<String, Arc<tokio::sync::Mutex<ProviderKeys>>>;

static CACHE: LazyLock<Mutex<Entries>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn entry(provider_arn: &str, thumbprints: &[String]) -> Arc<tokio::sync::Mutex<ProviderKeys>> {
    let key = format!("{provider_arn}\n{}", thumbprints.join(","));
    let mut map = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
        map.clear();
    }
    map.entry(key)
        .or_insert_with(|| {
            Arc::new(tokio::sync::Mutex::new(ProviderKeys {
                keys: vec![],
                fetched_at: None,
                budget: FetchBudget::full(Instant::now()),
            }))
        })
        .clone()
}

/// The keys that may have signed `token`: from the cache, or fetched when
/// the cache is empty, old, or lacks the key the token names. An empty list
/// means the IdP publishes no such key.
pub async fn signing_keys(
    provider_arn: &str,
    issuer: &str,
    thumbprints: &[String],
    token: &UnverifiedToken,
) -> Result<Vec<Jwk>, IdpUnreachable> {
    let entry = entry(provider_arn, thumbprints);
    // Held across the fetch: concurrent requests wait for one fetch.
    let mut cached = entry.lock().await;
    let now = Instant::now();
    let fresh = cached.fetched_at.is_some_and(|t| now.duration_since(t) < KEYS_TTL);
    let known: Vec<Jwk> = candidate_keys(&cached.keys, token).into_iter().cloned().collect();
    if fresh && !known.is_empty() {
        return Ok(known);
    }
    if !cached.budget.take(now) {
        tracing::debug!(provider = provider_arn, "IdP key fetch skipped: fetch budget spent");
        return match cached.fetched_at {
            Some(_) => Ok(known),
            None => Err(IdpUnreachable("too many failed attempts to reach the identity provider".into())),
        };
    }
    let keys = fetch_keys(issuer, thumbprints).await.inspect_err(|e| {
        tracing::warn!(provider = provider_arn, error = %e.0, "IdP keys could not be fetched");
    })?;
    cached.keys = keys;
    cached.fetched_at = Some(Instant::now());
    Ok(candidate_keys(&cached.keys, token).into_iter().cloned().collect())
}

type IdpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn client(thumbprints: &[String]) -> Result<IdpClient, IdpUnreachable> {
    let tls = idp_tls::client_config(thumbprints).map_err(|e| IdpUnreachable(format!("TLS setup: {e}")))?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

async fn get_json(client: &IdpClient, url: &str) -> Result<serde_json::Value, IdpUnreachable> {
    let body = get(client, url).await?;
    serde_json::from_slice(&body).map_err(|_| IdpUnreachable(format!("{url} did not answer with JSON")))
}

async fn get(client: &IdpClient, url: &str) -> Result<Bytes, IdpUnreachable> {
    if !url.starts_with("https://") {
        return Err(IdpUnreachable(format!("{url} is not an https URL")));
    }
    let req = http::Request::get(url)
        .header("accept", "application/json")
        .header("user-agent", "latchkey")
        .body(Empty::<Bytes>::new())
        .map_err(|_| IdpUnreachable(format!("{url} is not a valid URL")))?;
    let fetch = async {
        let resp = client.request(req).await.map_err(|e| IdpUnreachable(format!("{url}: {}", error_chain(&e))))?;
        if resp.status() != http::StatusCode::OK {
            return Err(IdpUnreachable(format!("{url} answered HTTP {}", resp.status().as_u16())));
        }
        let body = Limited::new(resp.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|e| IdpUnreachable(format!("{url}: {e}")))?;
        Ok(body.to_bytes())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fetch)
        .await
        .map_err(|_| IdpUnreachable(format!("{url} did not answer within {}s", REQUEST_TIMEOUT.as_secs())))?
}

/// The innermost cause, which says what went wrong (a certificate, a refused connection).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}

/// Discovery document, then the JWKS it points to.
async fn fetch_keys(issuer: &str, thumbprints: &[String]) -> Result<Vec<Jwk>, IdpUnreachable> {
    let client = client(thumbprints)?;
    let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let discovery = get_json(&client, &discovery_url).await?;
    let jwks_uri = discovery
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or_else(|| IdpUnreachable(format!("{discovery_url} names no jwks_uri")))?;
    let body = get(&client, jwks_uri).await?;
    parse_jwks(&body).map_err(|e| IdpUnreachable(format!("{jwks_uri}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fetch_budget_allows_a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let mut b = FetchBudget::full(t0);
        for _ in 0..FETCH_BURST {
            assert!(b.take(t0));
        }
        assert!(!b.take(t0), "a flood of unknown key ids gets no more fetches");
        assert!(!b.take(t0 + REFILL_EVERY / 2));
        assert!(b.take(t0 + REFILL_EVERY));
        assert!(!b.take(t0 + REFILL_EVERY));
        // Refills never exceed the burst.
        let later = t0 + REFILL_EVERY * 100;
        for _ in 0..FETCH_BURST {
            assert!(b.take(later));
        }
        assert!(!b.take(later));
    }
}
