//! AssumeRoleWithSAML: a base64 samlp:Response from an identity provider
//! registered with CreateSAMLProvider, exchanged for a role session.
//!
//! The Response is verified by `latchkey_saml` against the provider's stored
//! metadata; the role's trust policy then decides through the one gate, with
//! the assertion's `saml:*` keys; each assertion is accepted once.

use super::saml_claims::{condition_keys, grants_role, name_qualifier, requested_session, subject_type};
use crate::authz::Caller;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::iam::query::QueryXml;
use crate::iam::saml_providers;
use crate::response::HttpResponse;
use crate::state::AppState;
use crate::sts::{
    check_trust, duration, field_error, issue_role_session, load_role, session_policy_params, Cap, RoleSession,
    TrustRequest, UnsignedStsRequest, STS_NS,
};
use latchkey_saml::{verify_response, Expectations, IdpMetadata, RejectionKind, VerifiedAssertion};
use latchkey_storage::IamKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Clock skew tolerated on the assertion's time bounds.
const SKEW_SECONDS: i64 = 60;

/// Extra accepted Audience/Recipient values, comma-separated (latchkey's own
/// sign-in URL, say), beside AWS's.
const AUDIENCES_ENV: &str = "LATCHKEY_SAML_AUDIENCES";

/// What AWS's sign-in endpoint accepts as Audience and Recipient.
fn accepted_audiences(region: &str) -> Vec<String> {
    let mut list = vec![
        "https://signin.aws.amazon.com/saml".to_string(),
        "urn:amazon:webservices".to_string(),
        format!("https://{region}.signin.aws.amazon.com/saml"),
    ];
    if let Ok(extra) = std::env::var(AUDIENCES_ENV) {
        list.extend(extra.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string));
    }
    list
}

fn check_length(value: &str, field: &str, min: usize, max: usize) -> S3Result<()> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(field_error(
            if n > 256 { "..." } else { value },
            field,
            &format!("Member must have length between {min} and {max}"),
        ));
    }
    Ok(())
}

fn not_authorized() -> S3Error {
    S3Error::msg(ErrorCode::AccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML")
}

pub async fn assume_role_with_saml(state: &Arc<AppState>, req: &UnsignedStsRequest<'_>) -> S3Result<HttpResponse> {
    let p = req.params;
    let role_arn = p.required("RoleArn")?.to_string();
    check_length(&role_arn, "roleArn", 20, 2048)?;
    let provider_arn = p.required("PrincipalArn")?.to_string();
    check_length(&provider_arn, "principalArn", 20, 2048)?;
    let saml_response = p.required("SAMLAssertion")?.to_string();
    check_length(&saml_response, "sAMLAssertion", 4, 100_000)?;
    let (policy, policy_arns) = session_policy_params(p)?;
    let now = req.now.unix_timestamp();

    let no_provider = || S3Error::msg(ErrorCode::InvalidIdentityToken, "Specified provider doesn't exist");
    let (provider_account, provider_name) = saml_providers::parse_arn(&provider_arn).ok_or_else(no_provider)?;
    let (provider_account, provider_name) = (provider_account.to_string(), provider_name.to_string());
    let provider = saml_providers::find(state, &provider_account, &provider_name).await?.ok_or_else(no_provider)?;
    let metadata = IdpMetadata::parse(&provider.metadata).map_err(S3Error::internal)?;
    if metadata.valid_until.is_some_and(|t| t <= now) {
        return Err(S3Error::msg(ErrorCode::InvalidIdentityToken, "The SAML provider's metadata is no longer valid"));
    }

    let audiences = accepted_audiences(&state.config.region);
    let assertion = tokio::task::spawn_blocking(move || {
        verify_response(&saml_response, &metadata, &Expectations { audiences: &audiences, now, skew: SKEW_SECONDS })
    })
    .await
    .map_err(S3Error::internal)?
    .map_err(|r| {
        let code = match r.kind {
            RejectionKind::Invalid => ErrorCode::InvalidIdentityToken,
            RejectionKind::Expired => ErrorCode::ExpiredTokenException,
            RejectionKind::IdpRejected => ErrorCode::IDPRejectedClaim,
        };
        S3Error::msg(code, r.message)
    })?;

    // The provider must have granted this very role.
    if !grants_role(&assertion, &role_arn, &provider_arn) {
        return Err(not_authorized());
    }
    crate::audit::note_federated_user(
        "SAMLUser",
        &provider_arn,
        &assertion.name_id,
        format!("{provider_name}:{}", assertion.name_id),
        &provider_account,
    );
    let session = requested_session(&assertion)?;
    let (role_account, role) = load_role(state, &role_arn).await?.ok_or_else(not_authorized)?;
    if role_account != provider_account {
        return Err(not_authorized());
    }

    // The trust policy decides, for the provider as a Federated principal.
    let saml_keys = condition_keys(&assertion, &provider_account, &provider_name);
    let mut keys = saml_keys.clone();
    keys.push(("aws:FederatedProvider".into(), vec![provider_arn.clone()]));
    let caller = Caller::external(state, latchkey_policy::Principal::web_identity(&provider_arn), &req.facts);
    check_trust(
        state,
        &caller,
        TrustRequest {
            action: "sts:AssumeRoleWithSAML",
            role: &role,
            role_arn: &role_arn,
            role_account: &role_account,
            session_name: &session.name,
            keys,
            tags: &session.tags,
            transitive_tag_keys: &session.transitive_tag_keys,
            source_identity: session.source_identity.as_deref(),
            sets_source_identity: session.source_identity.is_some(),
        },
    )?;

    let mut secs = duration(p, 900, role.max_session_duration as i64, 3600, Cap::Role)?;
    if let Some(cap) = session.duration {
        secs = secs.min(cap);
    }
    remember_once(state, &provider_account, &assertion, now).await?;
    let issued = issue_role_session(
        state,
        RoleSession {
            role: &role,
            role_account: &role_account,
            session_name: &session.name,
            secs,
            not_after: assertion.session_not_on_or_after,
            policy,
            policy_arns,
            tags: session.tags,
            transitive_tag_keys: session.transitive_tag_keys,
            source_identity: session.source_identity.clone(),
            mfa_authenticated_at: None,
            chained: false,
            now,
            federation_keys: saml_keys,
        },
    )?;
    tracing::info!(role = %role_arn, session = %session.name, provider = %provider_arn, "role assumed with SAML");
    let mut x = QueryXml::new("AssumeRoleWithSAML", STS_NS);
    issued.write_xml(&mut x);
    x.w()
        .elem("Subject", &assertion.name_id)
        .elem("SubjectType", subject_type(assertion.name_id_format.as_deref()))
        .elem("Issuer", &assertion.issuer)
        .elem("Audience", &assertion.recipient)
        .elem("NameQualifier", name_qualifier(&assertion.issuer, &provider_account, &provider_name))
        .elem_opt("SourceIdentity", session.source_identity.as_deref());
    Ok(x.finish(req.request_id))
}

/// A used assertion, remembered until it could no longer be accepted anyway.
#[derive(Serialize, Deserialize)]
struct ReplayMarker {
    name: String,
    expires: i64,
}

/// Markers of this module are named `saml:<sha256(issuer, assertion ID)>`.
const MARKER_PREFIX: &str = "saml:";

fn marker_name(a: &VerifiedAssertion) -> String {
    let mut h = Sha256::new();
    h.update(a.issuer.as_bytes());
    h.update([0]);
    h.update(a.id.as_bytes());
    format!("{MARKER_PREFIX}{}", hex::encode(h.finalize()))
}

/// One-time use: refuses an assertion already exchanged, and forgets the
/// markers whose assertions have expired, in one transaction.
async fn remember_once(state: &Arc<AppState>, account: &str, a: &VerifiedAssertion, now: i64) -> S3Result<()> {
    let name = marker_name(a);
    let expires = a.expires_at + SKEW_SECONDS;
    crate::iam::transact(state, account, move |tx| {
        if let Some(doc) = tx.get(IamKind::ReplayMarker, &name)? {
            // An unreadable marker counts as a live one.
            let live = match serde_json::from_str::<ReplayMarker>(&doc) {
                Ok(m) => m.expires > now,
                Err(_) => true,
            };
            if live {
                return Err(S3Error::msg(ErrorCode::InvalidIdentityToken, "Duplicate SAML assertion"));
            }
        }
        for doc in tx.list(IamKind::ReplayMarker)? {
            if let Ok(m) = serde_json::from_str::<ReplayMarker>(&doc) {
                if m.name.starts_with(MARKER_PREFIX) && m.expires <= now {
                    tx.delete(IamKind::ReplayMarker, &m.name)?;
                }
            }
        }
        let marker = ReplayMarker { name: name.clone(), expires };
        crate::iam::save(tx, IamKind::ReplayMarker, &name, &marker)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_audiences_and_the_regional_sign_in_url_are_accepted() {
        let list = accepted_audiences("eu-west-1");
        assert!(list.contains(&"https://signin.aws.amazon.com/saml".to_string()));
        assert!(list.contains(&"urn:amazon:webservices".to_string()));
        assert!(list.contains(&"https://eu-west-1.signin.aws.amazon.com/saml".to_string()));
    }

    #[test]
    fn markers_are_per_issuer_and_assertion() {
        let mk = |issuer: &str, id: &str| VerifiedAssertion {
            id: id.into(),
            issuer: issuer.into(),
            name_id: "n".into(),
            name_id_format: None,
            recipient: "r".into(),
            audiences: vec![],
            attributes: vec![],
            session_not_on_or_after: None,
            expires_at: 0,
        };
        assert_eq!(marker_name(&mk("a", "1")), marker_name(&mk("a", "1")));
        assert_ne!(marker_name(&mk("a", "1")), marker_name(&mk("b", "1")));
        assert_ne!(marker_name(&mk("a", "1")), marker_name(&mk("a", "2")));
        assert!(marker_name(&mk("a", "1")).starts_with(MARKER_PREFIX));
    }
}
