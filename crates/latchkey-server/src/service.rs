//! One request, start to finish: health checks, authentication, routing, the
//! gate, the handler, and AWS-shaped errors with request ids.

use crate::auth::{authenticate, RequestHead};
use crate::body::RequestBody;
use crate::error::S3Error;
use crate::response::{self, set_header, HttpResponse};
use crate::router::{resolve_target, route, Query};
use crate::s3::{self, S3Request};
use crate::state::AppState;
use http::{Method, Request, StatusCode};
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;

/// Largest header section accepted (S3 answers larger ones with
/// RequestHeaderSectionTooLarge; the connection layer cuts off far larger ones).
const MAX_HEADER_SECTION: usize = 16 * 1024;

fn request_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016X}")
}

pub async fn handle<B>(state: Arc<AppState>, req: Request<B>) -> Result<HttpResponse, std::convert::Infallible>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let started_at = OffsetDateTime::now_utc();
    let id = request_id();
    let source_ip = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let user_agent = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes_in = declared_body_bytes(req.headers());
    let metrics_auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let has_body = req.headers().get("content-length").is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key("transfer-encoding");
    let query_protocol = is_query_protocol(&req);
    // CORS needs the bucket and the Origin whatever the outcome.
    let cors_relevant = req.headers().contains_key("origin") || method == Method::OPTIONS;
    let cors_bucket = if query_protocol || !cors_relevant {
        None
    } else {
        let host = req.headers().get("host").and_then(|h| h.to_str().ok()).map(str::to_string);
        resolve_target(host.as_deref(), &path, &state.config.domains).ok().and_then(|t| t.bucket)
    };
    let request_headers = if cors_relevant { req.headers().clone() } else { http::HeaderMap::new() };
    // Browsers call the unsigned STS actions (AssumeRoleWithWebIdentity) cross-origin.
    let unsigned_sts_cors =
        query_protocol && request_headers.contains_key("origin") && !request_headers.contains_key("authorization");
    let mut error: Option<(&'static str, String)> = None;
    let (mut resp, record) = crate::audit::scope(async {
        let resp = match (&method, path.as_str()) {
            (&Method::GET | &Method::HEAD, "/health/live" | "/health/ready") => {
                let mut r = response::status(StatusCode::OK);
                *r.body_mut() = response::full("ok\n");
                r
            }
            (&Method::GET, "/metrics") => metrics_response(&state, metrics_auth.as_deref()),
            (&Method::OPTIONS, "/")
                if cors_bucket.is_none() && crate::federation::cors::is_preflight(&request_headers) =>
            {
                crate::federation::cors::preflight(&request_headers)
            }
            // Preflight requests carry no credentials; the bucket's CORS rules answer.
            (&Method::OPTIONS, _) if cors_bucket.is_some() => {
                let bucket = cors_bucket.clone().unwrap_or_default();
                match crate::s3::cors::preflight(&state, &bucket, &request_headers).await {
                    Ok(r) => r,
                    Err(e) => response::error(&e, &path, &id, false),
                }
            }
            _ => match dispatch(&state, req, &id).await {
                Ok(r) => r,
                Err(e) => {
                    error = Some((e.code.as_str(), e.message.to_string()));
                    let mut r = if query_protocol {
                        crate::iam::query::error_response(&e, crate::iam::entities::IAM_NS, &id)
                    } else {
                        response::error(&e, &path, &id, method == Method::HEAD)
                    };
                    // The body may be unread; closing is the only way to stay in
                    // step with the client on this connection.
                    if has_body {
                        set_header(&mut r, "connection", "close");
                    }
                    r
                }
            },
        };
        resp
    })
    .await;
    if let (Some(b), false) = (&cors_bucket, method == Method::OPTIONS) {
        crate::s3::cors::decorate(&state, b, method.as_str(), &request_headers, &mut resp).await;
    }
    if unsigned_sts_cors {
        crate::federation::cors::decorate(&mut resp);
    }
    set_header(&mut resp, "x-amz-request-id", &id);
    set_header(&mut resp, "x-amz-id-2", &id);
    set_header(&mut resp, "server", "latchkey");
    let bytes_out = if method == Method::HEAD { 0 } else { declared_body_bytes(resp.headers()) };
    let exchange = crate::audit::Exchange {
        request_id: &id,
        method: method.as_str(),
        path: &path,
        started: started_at,
        region: &state.config.region,
        source_ip,
        user_agent: &user_agent,
        status: resp.status().as_u16(),
        error: error.as_ref().map(|(c, m)| (*c, m.as_str())),
        bytes_in,
        bytes_out,
    };
    state.monitoring.finish(&record, &exchange, started.elapsed().as_secs_f64());
    // The query is left out: a pre-signed URL's query is a bearer credential.
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(resp)
}

async fn dispatch<B>(state: &Arc<AppState>, req: Request<B>, id: &str) -> Result<HttpResponse, S3Error>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let now = OffsetDateTime::now_utc();
    let (parts, body) = req.into_parts();
    let header_bytes: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADER_SECTION {
        return Err(S3Error::new(crate::error::ErrorCode::RequestHeaderSectionTooLarge)
            .with("MaxSizeAllowed", MAX_HEADER_SECTION.to_string()));
    }
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    if is_query_protocol_parts(&parts.method, &raw_path, &raw_query, &parts.headers) {
        return query_dispatch(state, parts, body, id, now).await;
    }
    let head = RequestHead {
        body_sha256: None,
        method: parts.method.as_str(),
        raw_path: &raw_path,
        raw_query: &raw_query,
        headers: &parts.headers,
    };
    // Routed once, before authentication so that refused requests are audited
    // as the operation they asked for; a routing error is reported after it.
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).or(parts.uri.host()).map(str::to_string);
    let query = Query::parse(&raw_query);
    let routed = resolve_target(host.as_deref(), &raw_path, &state.config.domains)
        .and_then(|t| route(&parts.method, t, &query, parts.headers.contains_key("x-amz-copy-source")));
    note_s3_request(state, &parts.method, host.as_deref(), &raw_path, &raw_query, routed.as_ref().ok());
    let auth = authenticate(state, &head, now).await?;
    // Browser form uploads carry their credentials in the form.
    if parts.method == Method::POST {
        let ct = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
            let host = parts.headers.get("host").and_then(|h| h.to_str().ok());
            let target = resolve_target(host, &raw_path, &state.config.domains)?;
            if let (Some(bucket), None) = (target.bucket, target.key) {
                crate::audit::note(|r| {
                    r.operation = Some("PostObject".into());
                    r.read_only = false;
                    r.data_event = true;
                });
                let req = crate::s3::post_object::PostRequest {
                    bucket,
                    content_type: ct,
                    host,
                    now,
                    facts: request_facts(&parts, now),
                };
                return crate::s3::post_object::post_object(state, req, body).await;
            }
        }
    }
    if raw_path == crate::s3::control::PUBLIC_ACCESS_BLOCK_PATH {
        let caller = crate::authz::Caller::load(state, auth.principal.clone(), &request_facts(&parts, now)).await?;
        let mut body = RequestBody::new(body, auth.body, state.config.max_object_size);
        return crate::s3::control::handle(state, &parts.method, &parts.headers, &caller, &mut body).await;
    }
    let endpoint = routed?;
    let mut plan = auth.body;
    if matches!(endpoint, crate::router::Endpoint::CompleteMultipartUpload { .. }) {
        // Here x-amz-checksum-* states the whole object's checksum (checked by
        // the handler), not the checksum of the XML body.
        if let Some(crate::body::ChecksumClaim::Header { .. }) = plan.checksum {
            plan.checksum = None;
        }
    }
    let caller = crate::authz::Caller::load(state, auth.principal.clone(), &request_facts(&parts, now)).await?;
    let body = RequestBody::new(body, plan, state.config.max_object_size);
    let req = S3Request {
        endpoint,
        headers: parts.headers,
        query,
        body,
        principal: auth.principal,
        caller: Arc::new(caller),
        auth_type: auth.auth_type,
        now,
    };
    s3::handle(state, req).await
}

/// The peer's address, put in each request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

fn request_facts(parts: &http::request::Parts, now: OffsetDateTime) -> crate::authz::RequestFacts<'_> {
    let h = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    crate::authz::RequestFacts {
        source_ip: parts.extensions.get::<PeerAddr>().map(|p| p.0.ip()),
        user_agent: h("user-agent"),
        referer: h("referer"),
        // TLS termination arrives with the transport layer's TLS support.
        secure_transport: false,
        now,
    }
}

/// IAM and STS speak the Query protocol: `POST /` with a form body. MinIO's
/// clients also send the unsigned federation calls as `POST /?Action=...`
/// with the parameters in the URL.
fn is_query_protocol_parts(method: &Method, path: &str, raw_query: &str, headers: &http::HeaderMap) -> bool {
    method == Method::POST
        && path == "/"
        && (headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
            || unsigned_action_in_url(raw_query))
}

fn unsigned_action_in_url(raw_query: &str) -> bool {
    form_urlencoded::parse(raw_query.as_bytes())
        .any(|(k, v)| k == "Action" && crate::sts::UNSIGNED_ACTIONS.contains(&v.as_ref()))
}

fn is_query_protocol<B>(req: &Request<B>) -> bool {
    is_query_protocol_parts(req.method(), req.uri().path(), req.uri().query().unwrap_or(""), req.headers())
}

/// Largest Query-protocol body (policy documents are at most 10 KiB).
const MAX_QUERY_BODY: usize = 256 * 1024;

async fn query_dispatch<B>(
    state: &Arc<AppState>,
    parts: http::request::Parts,
    body: B,
    id: &str,
    now: OffsetDateTime,
) -> Result<HttpResponse, S3Error>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use sha2::Digest;
    let plan = crate::body::BodyPlan {
        mode: crate::body::PayloadMode::Unsigned,
        length: parts.headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()),
        content_md5: None,
        checksum: None,
    };
    let mut reader = RequestBody::new(body, plan, MAX_QUERY_BODY as u64);
    let bytes = reader.read_all(MAX_QUERY_BODY).await.map_err(|e| {
        if e.code == crate::error::ErrorCode::MalformedXML {
            S3Error::msg(crate::error::ErrorCode::InvalidInput, "The request body is too large.")
        } else {
            e
        }
    })?;
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let head = RequestHead {
        body_sha256: Some(hex::encode(sha2::Sha256::digest(&bytes))),
        method: parts.method.as_str(),
        raw_path: &raw_path,
        raw_query: &raw_query,
        headers: &parts.headers,
    };
    let mut params = crate::iam::query::Params::parse(&bytes);
    if unsigned_action_in_url(&raw_query) {
        // MinIO's clients: the parameters are in the URL (the body, if any, adds to them).
        let mut merged = crate::iam::query::Params::parse(raw_query.as_bytes());
        merged.0.extend(params.0.into_iter().filter(|(k, _)| k != "Action"));
        params = merged;
    }
    let action = params.get("Action").unwrap_or("Unknown").to_string();
    let signed_service = crate::auth::claimed_service(&parts.headers, &raw_query);
    crate::audit::note(|r| {
        r.audited = true;
        r.api = if crate::sts::UNSIGNED_ACTIONS.contains(&action.as_str()) || signed_service.as_deref() == Some("sts") {
            crate::audit::Api::Sts
        } else {
            crate::audit::Api::Iam
        };
        r.read_only = ["Get", "List", "Simulate", "Decode"].iter().any(|p| action.starts_with(p));
        r.request_parameters =
            Some(latchkey_audit::event::redact_parameters(params.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        r.operation = Some(action.clone());
    });
    // Federation calls carry the identity provider's proof instead of a signature.
    if params.get("Action").is_some_and(|a| crate::sts::UNSIGNED_ACTIONS.contains(&a)) {
        let req =
            crate::sts::UnsignedStsRequest { params: &params, facts: request_facts(&parts, now), now, request_id: id };
        return crate::sts::handle_unsigned(state, req).await;
    }
    let auth = authenticate(state, &head, now).await?;
    match (auth.service.as_deref(), auth.principal.as_ref()) {
        (Some("iam"), Some(caller)) => {
            let gate = crate::authz::Caller::load(state, Some(caller.clone()), &request_facts(&parts, now)).await?;
            crate::iam::handle(
                state,
                crate::iam::IamRequest { caller, gate: &gate, params: &params, now, request_id: id },
            )
            .await
        }
        (Some("sts"), Some(caller)) => {
            let gate = crate::authz::Caller::load(state, Some(caller.clone()), &request_facts(&parts, now)).await?;
            crate::sts::handle(
                state,
                crate::sts::StsRequest { caller, gate: &gate, params: &params, now, request_id: id },
            )
            .await
        }
        _ => Err(S3Error::msg(
            crate::error::ErrorCode::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        )),
    }
}

/// A message's body length as its headers declare it (the decoded length of
/// aws-chunked uploads).
fn declared_body_bytes(headers: &http::HeaderMap) -> u64 {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    get("x-amz-decoded-content-length").or_else(|| get("content-length")).unwrap_or(0)
}

/// `/metrics`: Prometheus's text format, for the configured bearer token
/// (or for anyone when made public).
fn metrics_response(state: &AppState, authorization: Option<&str>) -> HttpResponse {
    if !state.monitoring.metrics_allowed(authorization) {
        let mut r = response::status(StatusCode::FORBIDDEN);
        let hint = if state.monitoring.metrics_configured() {
            "metrics: a valid bearer token is required\n"
        } else {
            "metrics: set LATCHKEY_METRICS_TOKEN (or LATCHKEY_METRICS_PUBLIC=true) to enable /metrics\n"
        };
        *r.body_mut() = response::full(hint);
        return r;
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut r = response::status(StatusCode::OK);
    set_header(&mut r, "content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8");
    *r.body_mut() = response::full(state.monitoring.metrics.render(now));
    r
}

/// What an S3 request is, for its audit event, noted before authentication
/// so that refused requests are described too.
fn note_s3_request(
    state: &AppState,
    method: &Method,
    host: Option<&str>,
    raw_path: &str,
    raw_query: &str,
    endpoint: Option<&crate::router::Endpoint>,
) {
    let (bucket, key) = match endpoint {
        Some(e) => (e.bucket().map(str::to_string), e.key()),
        // Unroutable: name what the address says, if anything.
        None => match resolve_target(host, raw_path, &state.config.domains) {
            Ok(t) => (t.bucket, t.key),
            Err(_) => (None, None),
        },
    };
    let operation = match endpoint {
        Some(e) => e.operation(),
        None if raw_path == crate::s3::control::PUBLIC_ACCESS_BLOCK_PATH => format!(
            "{}PublicAccessBlock",
            match *method {
                Method::GET => "Get",
                Method::DELETE => "Delete",
                _ => "Put",
            }
        ),
        None => format!("{method}"),
    };
    let data_event = key.is_some()
        || matches!(operation.as_str(), "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "DeleteObjects");
    crate::audit::note(|r| {
        r.audited = true;
        r.api = crate::audit::Api::S3;
        r.read_only = *method == Method::GET || *method == Method::HEAD;
        r.data_event = data_event;
        r.request_parameters = Some(crate::audit::s3_parameters(bucket.as_deref(), key.as_deref(), host, raw_query));
        r.resources = crate::audit::s3_resources(bucket.as_deref(), key.as_deref(), None);
        r.operation = Some(operation);
    });
}
