//! IAM OpenID Connect identity providers: the issuers an account trusts for
//! AssumeRoleWithWebIdentity, with the client ids (audiences) its tokens
//! must carry and the thumbprints of the certificates its keys are served
//! under (IAM API Reference, CreateOpenIDConnectProvider and friends).

use super::entities::{timestamp, validate_tags, Tag};
use super::query::Params;
use super::users::write_tags;
use super::{load, load_all, save, transact, IamRequest};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use latchkey_storage::IamKind;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// IAM quotas (IAM User Guide, "IAM and AWS STS quotas").
const MAX_PROVIDERS: usize = 100;
const MAX_CLIENT_IDS: usize = 100;
const MAX_THUMBPRINTS: usize = 5;
const MAX_URL_LEN: usize = 255;
const MAX_CLIENT_ID_LEN: usize = 255;

/// One provider, stored under its URL without `https://`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcProvider {
    /// As registered, `https://` included: tokens' `iss` must equal it.
    pub url: String,
    pub client_ids: Vec<String>,
    /// Lowercase hex SHA-1.
    pub thumbprints: Vec<String>,
    pub created: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl OidcProvider {
    /// `HOST[:PORT][/PATH]`: the storage key, the ARN's resource and the
    /// prefix of the provider's condition keys (`HOST/PATH:sub`).
    pub fn key(&self) -> &str {
        self.url.strip_prefix("https://").unwrap_or(&self.url)
    }

    pub fn arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:oidc-provider/{}", self.key())
    }
}

fn validation(value: &str, field: &str, constraint: &str) -> S3Error {
    S3Error::msg(
        ErrorCode::ValidationError,
        format!("1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"),
    )
}

/// `https://HOST[:PORT][/PATH]`, no query or fragment.
pub fn validate_url(url: &str) -> S3Result<()> {
    if url.is_empty() || url.chars().count() > MAX_URL_LEN {
        return Err(validation(url, "url", &format!("Member must have length between 1 and {MAX_URL_LEN}")));
    }
    let bad = |why: &str| S3Error::msg(ErrorCode::InvalidInput, format!("Invalid URL {url}: {why}"));
    let rest = url.strip_prefix("https://").ok_or_else(|| bad("the URL must begin with https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err(bad("the URL must name a host"));
    }
    if url.contains(['?', '#']) || !url.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad("query parameters, fragments and spaces are not allowed"));
    }
    Ok(())
}

fn validate_client_ids(ids: &[String]) -> S3Result<()> {
    if ids.len() > MAX_CLIENT_IDS {
        return Err(S3Error::msg(
            ErrorCode::LimitExceeded,
            format!("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"),
        ));
    }
    for id in ids {
        if id.is_empty() || id.chars().count() > MAX_CLIENT_ID_LEN {
            return Err(validation(id, "clientIDList", "Member must have length between 1 and 255"));
        }
    }
    Ok(())
}

/// 40 hex digits each, at most five; stored lowercase.
fn thumbprints(p: &Params, field: &str) -> S3Result<Vec<String>> {
    let list: Vec<String> = p.members(field).into_iter().map(str::to_ascii_lowercase).collect();
    if list.len() > MAX_THUMBPRINTS {
        return Err(S3Error::msg(
            ErrorCode::LimitExceeded,
            format!("Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: {MAX_THUMBPRINTS}"),
        ));
    }
    for t in &list {
        if t.len() != 40 {
            return Err(validation(t, "thumbprintList", "Member must have length of 40"));
        }
        if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(S3Error::msg(
                ErrorCode::InvalidInput,
                format!("Thumbprint {t} is not a hexadecimal SHA-1 hash."),
            ));
        }
    }
    Ok(dedup(list))
}

fn not_found(arn: &str) -> S3Error {
    S3Error::msg(ErrorCode::NoSuchEntity, format!("OpenIDConnect Provider not found for arn {arn}"))
}

/// `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH` of this account → `HOST/PATH`.
fn key_of_arn(arn: &str, account: &str) -> S3Result<String> {
    let rest = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(':'))
        .filter(|(acct, _)| acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(acct, res)| res.strip_prefix("oidc-provider/").map(|k| (acct, k)))
        .filter(|(_, k)| !k.is_empty());
    match rest {
        None => Err(S3Error::msg(ErrorCode::InvalidInput, format!("ARN {arn} is not valid."))),
        Some((acct, _)) if acct != account => Err(not_found(arn)),
        Some((_, key)) => Ok(key.to_string()),
    }
}

/// The IAM resource an OIDC provider action is authorized on.
pub fn resource(action: &str, p: &Params, account: &str) -> String {
    if let Some(arn) = p.get("OpenIDConnectProviderArn") {
        return arn.to_string();
    }
    match (action, p.get("Url")) {
        ("CreateOpenIDConnectProvider", Some(url)) => {
            format!("arn:aws:iam::{account}:oidc-provider/{}", url.strip_prefix("https://").unwrap_or(url))
        }
        _ => "*".to_string(),
    }
}

/// The provider whose URL is exactly `issuer`, in `account`, if registered.
pub async fn find_by_issuer(state: &Arc<AppState>, account: &str, issuer: &str) -> S3Result<Option<OidcProvider>> {
    let Some(key) = issuer.strip_prefix("https://").filter(|k| !k.is_empty()) else { return Ok(None) };
    let (acct, key) = (account.to_string(), key.to_string());
    let doc = state.meta(move |m| m.iam_get(&acct, IamKind::OidcProvider, &key)).await?;
    Ok(doc.and_then(|d| serde_json::from_str::<OidcProvider>(&d).ok()).filter(|p| p.url == issuer))
}

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let account = req.account().to_string();
    let p = req.params;
    match action {
        "CreateOpenIDConnectProvider" => {
            let url = p.required("Url")?.to_string();
            validate_url(&url)?;
            let client_ids: Vec<String> = p.members("ClientIDList").into_iter().map(str::to_string).collect();
            validate_client_ids(&client_ids)?;
            let thumbprints = thumbprints(p, "ThumbprintList")?;
            let tags = p.tags("Tags")?;
            validate_tags(&tags)?;
            let provider = OidcProvider {
                url: url.clone(),
                client_ids: dedup(client_ids),
                thumbprints,
                created: timestamp(req.now),
                tags: tags.into_iter().map(|(key, value)| Tag { key, value }).collect(),
            };
            let stored = provider.clone();
            transact(state, &account, move |tx| {
                if tx.get(IamKind::OidcProvider, stored.key())?.is_some() {
                    return Err(S3Error::msg(
                        ErrorCode::EntityAlreadyExists,
                        format!("Provider with url {} already exists.", stored.url),
                    ));
                }
                if tx.list(IamKind::OidcProvider)?.len() >= MAX_PROVIDERS {
                    return Err(S3Error::msg(
                        ErrorCode::LimitExceeded,
                        format!("Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS}"),
                    ));
                }
                save(tx, IamKind::OidcProvider, stored.key(), &stored)
            })
            .await?;
            let mut x = req.xml(action);
            x.w().elem("OpenIDConnectProviderArn", provider.arn(&account));
            write_tags(&mut x, &provider.tags);
            Ok(x.finish(req.request_id))
        }
        "GetOpenIDConnectProvider" => {
            let provider = load_provider(state, req).await?;
            let mut x = req.xml(action);
            x.w().open("ThumbprintList");
            for t in &provider.thumbprints {
                x.w().elem("member", t);
            }
            x.w().close().elem("CreateDate", &provider.created).open("ClientIDList");
            for c in &provider.client_ids {
                x.w().elem("member", c);
            }
            x.w().close().elem("Url", provider.key());
            write_tags(&mut x, &provider.tags);
            Ok(x.finish(req.request_id))
        }
        "ListOpenIDConnectProviders" => {
            let providers: Vec<OidcProvider> =
                transact(state, &account, move |tx| load_all(tx, IamKind::OidcProvider)).await?;
            let mut x = req.xml(action);
            x.w().open("OpenIDConnectProviderList");
            for provider in &providers {
                x.w().open("member").elem("Arn", provider.arn(&account)).close();
            }
            x.w().close();
            Ok(x.finish(req.request_id))
        }
        "DeleteOpenIDConnectProvider" => {
            let arn = p.required("OpenIDConnectProviderArn")?.to_string();
            let key = key_of_arn(&arn, &account)?;
            transact(state, &account, move |tx| {
                let found: Option<OidcProvider> = load(tx, IamKind::OidcProvider, &key)?;
                if found.filter(|f| f.key() == key).is_none() {
                    return Err(not_found(&arn));
                }
                tx.delete(IamKind::OidcProvider, &key)?;
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "AddClientIDToOpenIDConnectProvider" | "RemoveClientIDFromOpenIDConnectProvider" => {
            let client_id = p.required("ClientID")?.to_string();
            validate_client_ids(std::slice::from_ref(&client_id))?;
            let adding = action.starts_with("Add");
            // Both are idempotent: adding a listed id or removing an absent one succeeds.
            update(state, req, move |provider| {
                if adding {
                    if !provider.client_ids.contains(&client_id) {
                        provider.client_ids.push(client_id.clone());
                    }
                    validate_client_ids(&provider.client_ids)
                } else {
                    provider.client_ids.retain(|c| *c != client_id);
                    Ok(())
                }
            })
            .await?;
            req.done(action)
        }
        "UpdateOpenIDConnectProviderThumbprint" => {
            let list = thumbprints(p, "ThumbprintList")?;
            if p.get("ThumbprintList.member.1").is_none() {
                p.required("ThumbprintList")?;
            }
            update(state, req, move |provider| {
                provider.thumbprints = list.clone();
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "TagOpenIDConnectProvider" | "UntagOpenIDConnectProvider" => {
            let change = super::TagChange::from_params(p, action.starts_with("Tag"))?;
            update(state, req, move |provider| change.apply(&mut provider.tags)).await?;
            req.done(action)
        }
        "ListOpenIDConnectProviderTags" => {
            let provider = load_provider(state, req).await?;
            super::list_tags(req, action, provider.tags)
        }
        _ => Err(S3Error::new(ErrorCode::InvalidAction)),
    }
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

async fn load_provider(state: &Arc<AppState>, req: &IamRequest<'_>) -> S3Result<OidcProvider> {
    let arn = req.params.required("OpenIDConnectProviderArn")?.to_string();
    let key = key_of_arn(&arn, req.account())?;
    transact(state, req.account(), move |tx| {
        let found: Option<OidcProvider> = load(tx, IamKind::OidcProvider, &key)?;
        found.filter(|f| f.key() == key).ok_or_else(|| not_found(&arn))
    })
    .await
}

/// Loads the provider the request names, changes it, and stores it, in one transaction.
async fn update<F>(state: &Arc<AppState>, req: &IamRequest<'_>, change: F) -> S3Result<()>
where
    F: Fn(&mut OidcProvider) -> S3Result<()> + Send + 'static,
{
    let arn = req.params.required("OpenIDConnectProviderArn")?.to_string();
    let key = key_of_arn(&arn, req.account())?;
    transact(state, req.account(), move |tx| {
        let found: Option<OidcProvider> = load(tx, IamKind::OidcProvider, &key)?;
        let mut provider = found.filter(|f| f.key() == key).ok_or_else(|| not_found(&arn))?;
        change(&mut provider)?;
        save(tx, IamKind::OidcProvider, &key, &provider)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn provider_urls_are_https_without_query() {
        assert!(validate_url("https://idp.example.com").is_ok());
        assert!(validate_url("https://localhost:8443/realms/test").is_ok());
        for bad in
            ["http://idp.example.com", "https://", "https:///path", "https://a?b=c", "https://a#f", "idp.example.com"]
        {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_url(&format!("https://{}", "a".repeat(250))).unwrap_err().code, ErrorCode::ValidationError);
    }

    #[test]
    fn thumbprints_are_40_hex_digits_and_at_most_five() {
        let t = "9E99A48A9960B14926BB7F3B02E22DA2B0AB7280";
        let ok = thumbprints(&params(&[("ThumbprintList.member.1", t)]), "ThumbprintList").unwrap();
        assert_eq!(ok, vec![t.to_ascii_lowercase()]);
        let short = params(&[("ThumbprintList.member.1", "abc")]);
        assert_eq!(thumbprints(&short, "ThumbprintList").unwrap_err().code, ErrorCode::ValidationError);
        let not_hex = params(&[("ThumbprintList.member.1", &"g".repeat(40))]);
        assert_eq!(thumbprints(&not_hex, "ThumbprintList").unwrap_err().code, ErrorCode::InvalidInput);
        let six: Vec<(String, String)> =
            (1..=6).map(|i| (format!("ThumbprintList.member.{i}"), format!("{i:040}"))).collect();
        let six = Params(six);
        assert_eq!(thumbprints(&six, "ThumbprintList").unwrap_err().code, ErrorCode::LimitExceeded);
    }

    #[test]
    fn arns_name_a_provider_of_this_account() {
        let arn = "arn:aws:iam::123456789012:oidc-provider/localhost:8443/realms/x";
        assert_eq!(key_of_arn(arn, "123456789012").unwrap(), "localhost:8443/realms/x");
        assert_eq!(key_of_arn(arn, "210987654321").unwrap_err().code, ErrorCode::NoSuchEntity);
        for bad in ["arn:aws:iam::123456789012:saml-provider/x", "nonsense", "arn:aws:iam::123456789012:oidc-provider/"]
        {
            assert_eq!(key_of_arn(bad, "123456789012").unwrap_err().code, ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn the_arn_and_condition_key_prefix_are_the_url_without_its_scheme() {
        let p = OidcProvider {
            url: "https://idp.example.com/tenant".into(),
            client_ids: vec![],
            thumbprints: vec![],
            created: String::new(),
            tags: vec![],
        };
        assert_eq!(p.key(), "idp.example.com/tenant");
        assert_eq!(p.arn("123456789012"), "arn:aws:iam::123456789012:oidc-provider/idp.example.com/tenant");
    }
}
