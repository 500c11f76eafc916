//! AssumeRoleWithWebIdentity: an OpenID Connect ID token, issued by a
//! provider registered in the role's account, exchanged for a role session
//! (STS API Reference, AssumeRoleWithWebIdentity). The token is never logged.

use super::jwks::{self, IdpUnreachable};
use super::jwt::{self, TokenError, WebIdentity};
use crate::authz::Caller;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::iam::oidc_providers::{find_by_issuer, OidcProvider};
use crate::iam::query::QueryXml;
use crate::response::HttpResponse;
use crate::state::AppState;
use crate::sts::{self, RoleSession, UnsignedStsRequest, STS_NS};
use std::sync::Arc;

const ACTION: &str = "AssumeRoleWithWebIdentity";

fn token_error(e: TokenError) -> S3Error {
    match e {
        TokenError::Invalid(m) => S3Error::msg(ErrorCode::InvalidIdentityToken, m),
        TokenError::Expired(m) => S3Error::msg(ErrorCode::ExpiredTokenException, m),
        TokenError::BadTag(m) => S3Error::msg(ErrorCode::InvalidParameterValue, m),
    }
}

fn unreachable(_: IdpUnreachable) -> S3Error {
    // The cause is logged by the fetcher; the caller learns what AWS says.
    S3Error::msg(
        ErrorCode::IDPCommunicationError,
        "The request could not be fulfilled because the identity provider (IDP) that was asked to verify the \
         incoming identity token could not be reached. This is often a transient error caused by network conditions.",
    )
}

fn not_authorized() -> S3Error {
    S3Error::msg(ErrorCode::AccessDenied, format!("Not authorized to perform sts:{ACTION}"))
}

/// The condition keys a verified token supplies, named after the provider
/// (`HOST/PATH:sub`, ...) as IAM names them ("Available keys for OIDC
/// federation"); they go to the trust policy and into the session.
fn identity_keys(provider: &OidcProvider, provider_arn: &str, id: &WebIdentity) -> Vec<(String, Vec<String>)> {
    let p = provider.key();
    let mut keys = vec![(format!("{p}:sub"), vec![id.subject.clone()])];
    // With an authorized party, `aud` is the azp and `oaud` the token's aud.
    match &id.azp {
        Some(azp) => {
            keys.push((format!("{p}:aud"), vec![azp.clone()]));
            keys.push((format!("{p}:oaud"), id.aud.clone()));
        }
        None => keys.push((format!("{p}:aud"), id.aud.clone())),
    }
    if !id.amr.is_empty() {
        keys.push((format!("{p}:amr"), id.amr.clone()));
    }
    keys.push(("aws:FederatedProvider".into(), vec![provider_arn.to_string()]));
    keys
}

pub async fn assume_role_with_web_identity(
    state: &Arc<AppState>,
    req: &UnsignedStsRequest<'_>,
) -> S3Result<HttpResponse> {
    let p = req.params;
    let role_arn = p.required("RoleArn")?.to_string();
    let session_name = p.required("RoleSessionName")?.to_string();
    sts::check_name(&session_name, "roleSessionName", 2, 64)?;
    let token = p.required("WebIdentityToken")?;
    if token.len() < 4 || token.len() > jwt::MAX_TOKEN_LEN {
        return Err(sts::field_error(
            "...",
            "webIdentityToken",
            &format!("Member must have length between 4 and {}", jwt::MAX_TOKEN_LEN),
        ));
    }
    if let Some(pid) = p.get("ProviderId") {
        // Only OAuth 2.0 providers (Login with Amazon, Facebook) use it; OpenID Connect names its issuer in the token.
        if pid.chars().count() < 4 || pid.chars().count() > 2048 {
            return Err(sts::field_error(pid, "providerId", "Member must have length between 4 and 2048"));
        }
    }
    let (policy, policy_arns) = sts::session_policy_params(p)?;
    let (role_account, _) = sts::parse_role_arn(&role_arn)?;

    // The token: its issuer names the provider, whose keys verify it.
    let unverified = jwt::read_unverified(token).map_err(token_error)?;
    let provider = find_by_issuer(state, &role_account, &unverified.issuer).await?.ok_or_else(|| {
        S3Error::msg(
            ErrorCode::InvalidIdentityToken,
            format!("No OpenIDConnect provider found in your account for {}", jwt::printable(&unverified.issuer)),
        )
    })?;
    let provider_arn = provider.arn(&role_account);
    let keys = jwks::signing_keys(&provider_arn, &provider.url, &provider.thumbprints, &unverified)
        .await
        .map_err(unreachable)?;
    if keys.is_empty() {
        return Err(S3Error::msg(
            ErrorCode::InvalidIdentityToken,
            "Couldn't retrieve verification key from your identity provider,  please reference \
             AssumeRoleWithWebIdentity documentation for requirements",
        ));
    }
    let key_refs: Vec<&jsonwebtoken::jwk::Jwk> = keys.iter().collect();
    let claims = jwt::verify_signature(token, unverified.alg, &key_refs).map_err(token_error)?;
    let trust = jwt::ProviderTrust { url: &provider.url, client_ids: &provider.client_ids };
    let identity = jwt::check_claims(&claims, &trust, req.now.unix_timestamp()).map_err(token_error)?;
    let host = provider_arn.split_once(":oidc-provider/").map(|(_, h)| h).unwrap_or(&provider_arn);
    crate::audit::note_federated_user(
        "WebIdentityUser",
        host,
        &identity.subject,
        format!("{host}:{}:{}", identity.audience, identity.subject),
        provider_arn.split(':').nth(4).unwrap_or_default(),
    );

    // The role's trust policy decides, as for AssumeRole. A missing role is
    // indistinguishable from one that does not trust the provider.
    let (role_account, role) = sts::load_role(state, &role_arn).await?.ok_or_else(not_authorized)?;
    let caller = Caller::external(state, latchkey_policy::Principal::web_identity(&provider_arn), &req.facts);
    let federation_keys = identity_keys(&provider, &provider_arn, &identity);
    sts::check_trust(
        state,
        &caller,
        sts::TrustRequest {
            action: "sts:AssumeRoleWithWebIdentity",
            role: &role,
            role_arn: &role_arn,
            role_account: &role_account,
            session_name: &session_name,
            keys: federation_keys.clone(),
            tags: &identity.tags,
            transitive_tag_keys: &identity.transitive_tag_keys,
            source_identity: identity.source_identity.as_deref(),
            sets_source_identity: identity.source_identity.is_some(),
        },
    )
    .map_err(|e| if e.code == ErrorCode::AccessDenied { not_authorized() } else { e })?;

    let secs = sts::duration(p, 900, role.max_session_duration as i64, 3600, sts::Cap::Role)?;
    let issued = sts::issue_role_session(
        state,
        RoleSession {
            role: &role,
            role_account: &role_account,
            session_name: &session_name,
            secs,
            not_after: None,
            policy,
            policy_arns,
            tags: identity.tags.clone(),
            transitive_tag_keys: identity.transitive_tag_keys.clone(),
            source_identity: identity.source_identity.clone(),
            mfa_authenticated_at: None,
            chained: false,
            now: req.now.unix_timestamp(),
            federation_keys,
        },
    )?;
    tracing::info!(role = %role_arn, session = %session_name, provider = %provider_arn, "role assumed with web identity");
    let mut x = QueryXml::new(ACTION, STS_NS);
    issued.write_xml(&mut x);
    x.w()
        .elem("SubjectFromWebIdentityToken", &identity.subject)
        .elem("Provider", &provider_arn)
        .elem("Audience", &identity.audience)
        .elem_opt("SourceIdentity", identity.source_identity.as_deref());
    Ok(x.finish(req.request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `${HOST:PORT/PATH:sub}` in a role's policy resolves to the session's
    /// subject although the key holds ':' and '/' (credential vending).
    #[test]
    fn role_policies_resolve_the_providers_variables() {
        use latchkey_policy::{ContextKeys, Policy, PolicyId, PolicyKind, PolicySource};
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::b/users/${localhost:8443/realms/x:sub}/*"}]}"#;
        let policy = Arc::new(Policy::parse(doc, PolicyKind::Identity).unwrap());
        let mut keys = ContextKeys::new();
        keys.insert("localhost:8443/realms/x:sub", ["system:serviceaccount:alice".to_string()]);
        let principal = latchkey_policy::Principal::assumed_role("123456789012", "/", "web", "s", "AROAEXAMPLE");
        let id = PolicyId::new(PolicySource::IdentityInline { entity: "role".into(), name: "p".into() });
        let caller = Caller::for_simulation(principal, vec![(id, policy)], None, keys);
        let allowed = |key: &str| {
            let resource = format!("arn:aws:s3:::b/{key}");
            crate::authz::decide(
                &caller,
                &crate::authz::AccessRequest::new("s3:GetObject", &resource, Some("123456789012")),
            )
            .0
            .allowed
        };
        assert!(allowed("users/system:serviceaccount:alice/notes.txt"));
        assert!(!allowed("users/system:serviceaccount:bob/notes.txt"));
        assert!(!allowed("users/${localhost:8443/realms/x:sub}/notes.txt"));
    }

    #[test]
    fn a_verified_identity_supplies_the_providers_condition_keys() {
        let provider = OidcProvider {
            url: "https://localhost:8443/realms/x".into(),
            client_ids: vec!["app".into()],
            thumbprints: vec![],
            created: String::new(),
            tags: vec![],
        };
        let arn = provider.arn("123456789012");
        let id = WebIdentity {
            subject: "alice".into(),
            audience: "app".into(),
            aud: vec!["app".into()],
            azp: None,
            amr: vec!["pwd".into()],
            tags: vec![],
            transitive_tag_keys: vec![],
            source_identity: None,
        };
        let keys = identity_keys(&provider, &arn, &id);
        let get = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("localhost:8443/realms/x:sub"), Some(vec!["alice".to_string()]));
        assert_eq!(get("localhost:8443/realms/x:aud"), Some(vec!["app".to_string()]));
        assert_eq!(get("localhost:8443/realms/x:amr"), Some(vec!["pwd".to_string()]));
        assert_eq!(get("aws:FederatedProvider"), Some(vec![arn.clone()]));
        assert_eq!(get("localhost:8443/realms/x:oaud"), None);
        let with_azp = WebIdentity { azp: Some("app".into()), aud: vec!["api".into()], ..id };
        let keys = identity_keys(&provider, &arn, &with_azp);
        let get = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("localhost:8443/realms/x:aud"), Some(vec!["app".to_string()]));
        assert_eq!(get("localhost:8443/realms/x:oaud"), Some(vec!["api".to_string()]));
    }
}
