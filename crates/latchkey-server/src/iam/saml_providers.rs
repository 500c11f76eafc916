//! SAML identity providers: an IdP's metadata document registered under a
//! name, which trust policies then name as
//! `"Federated": "arn:aws:iam::ACCOUNT:saml-provider/NAME"`.

use super::entities::{timestamp, validate_tags, Tag};
use super::query::Params;
use super::users::write_tags;
use super::{list_tags, save, transact, IamRequest, TagChange};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use latchkey_saml::IdpMetadata;
use latchkey_storage::IamKind;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// IAM's quota of SAML providers per account.
const PROVIDERS_PER_ACCOUNT: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlProvider {
    pub name: String,
    pub created: String,
    /// The metadata document as registered (already parsed once).
    pub metadata: String,
    /// The metadata's validUntil, IAM's timestamp format.
    #[serde(default)]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl SamlProvider {
    pub fn arn(&self, account: &str) -> String {
        provider_arn(account, &self.name)
    }
}

pub fn provider_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:saml-provider/{name}")
}

fn field_error(value: &str, field: &str, constraint: &str) -> S3Error {
    S3Error::msg(
        ErrorCode::ValidationError,
        format!("1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"),
    )
}

/// Provider names: 1–128 of `[\w._-]`.
fn validate_name(name: &str) -> S3Result<()> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(field_error(name, "name", "Member must have length between 1 and 128"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(field_error(name, "name", "Member must satisfy regular expression pattern: [\\w._-]+"));
    }
    Ok(())
}

/// Parses a metadata document as CreateSAMLProvider/UpdateSAMLProvider take it.
fn parse_metadata(doc: &str) -> S3Result<IdpMetadata> {
    let len = doc.chars().count();
    if !(1000..=10_000_000).contains(&len) {
        return Err(field_error("...", "sAMLMetadataDocument", "Member must have length between 1000 and 10000000"));
    }
    IdpMetadata::parse(doc).map_err(|e| S3Error::msg(ErrorCode::InvalidInput, format!("Could not parse metadata: {e}")))
}

fn valid_until(md: &IdpMetadata) -> Option<String> {
    md.valid_until.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()).map(timestamp)
}

/// `arn:aws:iam::ACCOUNT:saml-provider/NAME` → (ACCOUNT, NAME).
pub fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, name) = rest.split_once(":saml-provider/")?;
    let ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && validate_name(name).is_ok();
    ok.then_some((account, name))
}

fn not_found(arn: &str) -> S3Error {
    S3Error::msg(ErrorCode::NoSuchEntity, format!("SAMLProvider {arn} does not exist."))
}

/// The provider's name from a SAMLProviderArn of the caller's account.
fn name_of(p: &Params, account: &str) -> S3Result<String> {
    let arn = p.required("SAMLProviderArn")?;
    if arn.len() < 20 || arn.len() > 2048 {
        return Err(field_error(arn, "sAMLProviderArn", "Member must have length between 20 and 2048"));
    }
    match parse_arn(arn) {
        Some((acct, name)) if acct == account => Ok(name.to_string()),
        Some(_) => Err(not_found(arn)),
        None => Err(S3Error::msg(ErrorCode::InvalidInput, format!("ARN {arn} is not valid."))),
    }
}

/// The resource the IAM action is authorized on.
pub fn resource(action: &str, p: &Params, account: &str) -> String {
    if let Some(arn) = p.get("SAMLProviderArn") {
        return arn.to_string();
    }
    match (action, p.get("Name")) {
        ("CreateSAMLProvider", Some(name)) => provider_arn(account, name),
        _ => "*".to_string(),
    }
}

/// A provider of `account`, for AssumeRoleWithSAML.
pub async fn find(state: &Arc<AppState>, account: &str, name: &str) -> S3Result<Option<SamlProvider>> {
    let (acct, n) = (account.to_string(), name.to_string());
    let doc = state.meta(move |m| m.iam_get(&acct, IamKind::SamlProvider, &n)).await?;
    Ok(doc.and_then(|d| serde_json::from_str(&d).ok()))
}

async fn load(state: &Arc<AppState>, account: &str, name: &str, arn: &str) -> S3Result<SamlProvider> {
    find(state, account, name).await?.ok_or_else(|| not_found(arn))
}

/// Loads, changes and saves a provider in one transaction.
async fn update<F>(state: &Arc<AppState>, account: &str, name: String, arn: String, change: F) -> S3Result<SamlProvider>
where
    F: Fn(&mut SamlProvider) -> S3Result<()> + Send + 'static,
{
    transact(state, account, move |tx| {
        let mut provider: SamlProvider =
            super::load(tx, IamKind::SamlProvider, &name)?.ok_or_else(|| not_found(&arn))?;
        change(&mut provider)?;
        save(tx, IamKind::SamlProvider, &name, &provider)?;
        Ok(provider)
    })
    .await
}

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let account = req.account().to_string();
    let p = req.params;
    match action {
        "CreateSAMLProvider" => {
            let name = p.required("Name")?.to_string();
            validate_name(&name)?;
            let md = parse_metadata(p.required("SAMLMetadataDocument")?)?;
            let tags = p.tags("Tags")?;
            validate_tags(&tags)?;
            let provider = SamlProvider {
                name: name.clone(),
                created: timestamp(req.now),
                metadata: p.required("SAMLMetadataDocument")?.to_string(),
                valid_until: valid_until(&md),
                tags: tags.into_iter().map(|(key, value)| Tag { key, value }).collect(),
            };
            let saved = provider.clone();
            transact(state, &account, move |tx| {
                if tx.get(IamKind::SamlProvider, &saved.name)?.is_some() {
                    return Err(S3Error::msg(
                        ErrorCode::EntityAlreadyExists,
                        format!("SAMLProvider with name {} already exists.", saved.name),
                    ));
                }
                if tx.list(IamKind::SamlProvider)?.len() >= PROVIDERS_PER_ACCOUNT {
                    return Err(S3Error::msg(
                        ErrorCode::LimitExceeded,
                        format!("Cannot exceed quota for SAMLProvidersPerAccount: {PROVIDERS_PER_ACCOUNT}"),
                    ));
                }
                save(tx, IamKind::SamlProvider, &saved.name, &saved)
            })
            .await?;
            let mut x = req.xml(action);
            x.w().elem("SAMLProviderArn", provider.arn(&account));
            write_tags(&mut x, &provider.tags);
            Ok(x.finish(req.request_id))
        }
        "GetSAMLProvider" => {
            let name = name_of(p, &account)?;
            let provider = load(state, &account, &name, &provider_arn(&account, &name)).await?;
            let mut x = req.xml(action);
            x.w().elem("SAMLMetadataDocument", &provider.metadata).elem("CreateDate", &provider.created);
            x.w().elem_opt("ValidUntil", provider.valid_until.as_deref());
            write_tags(&mut x, &provider.tags);
            Ok(x.finish(req.request_id))
        }
        "ListSAMLProviders" => {
            let providers: Vec<SamlProvider> =
                transact(state, &account, |tx| super::load_all(tx, IamKind::SamlProvider)).await?;
            let mut x = req.xml(action);
            x.w().open("SAMLProviderList");
            for provider in &providers {
                x.w().open("member").elem("Arn", provider.arn(&account));
                x.w().elem_opt("ValidUntil", provider.valid_until.as_deref());
                x.w().elem("CreateDate", &provider.created).close();
            }
            x.w().close();
            Ok(x.finish(req.request_id))
        }
        "UpdateSAMLProvider" => {
            let name = name_of(p, &account)?;
            let document = p.required("SAMLMetadataDocument")?.to_string();
            let md = parse_metadata(&document)?;
            let until = valid_until(&md);
            let arn = provider_arn(&account, &name);
            update(state, &account, name, arn.clone(), move |provider| {
                provider.metadata = document.clone();
                provider.valid_until = until.clone();
                Ok(())
            })
            .await?;
            let mut x = req.xml(action);
            x.w().elem("SAMLProviderArn", arn);
            Ok(x.finish(req.request_id))
        }
        "DeleteSAMLProvider" => {
            let name = name_of(p, &account)?;
            let arn = provider_arn(&account, &name);
            transact(state, &account, move |tx| {
                if !tx.delete(IamKind::SamlProvider, &name)? {
                    return Err(not_found(&arn));
                }
                Ok(())
            })
            .await?;
            req.done(action)
        }
        "TagSAMLProvider" | "UntagSAMLProvider" => {
            let name = name_of(p, &account)?;
            let change = TagChange::from_params(p, action == "TagSAMLProvider")?;
            let arn = provider_arn(&account, &name);
            update(state, &account, name, arn, move |provider| change.apply(&mut provider.tags)).await?;
            req.done(action)
        }
        "ListSAMLProviderTags" => {
            let name = name_of(p, &account)?;
            let provider = load(state, &account, &name, &provider_arn(&account, &name)).await?;
            list_tags(req, action, provider.tags)
        }
        _ => Err(S3Error::msg(ErrorCode::InvalidAction, format!("Could not find operation {action}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_an_account_and_a_provider() {
        assert_eq!(
            parse_arn("arn:aws:iam::123456789012:saml-provider/Corp_IdP-1.x"),
            Some(("123456789012", "Corp_IdP-1.x"))
        );
        for bad in [
            "arn:aws:iam::12345:saml-provider/x",
            "arn:aws:iam::123456789012:oidc-provider/x",
            "arn:aws:iam::123456789012:saml-provider/",
            "arn:aws:iam::123456789012:saml-provider/has space",
            "nonsense",
        ] {
            assert_eq!(parse_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_1_to_128_of_word_dot_dash() {
        assert!(validate_name("a").is_ok());
        assert!(validate_name(&"a".repeat(128)).is_ok());
        assert!(validate_name(&"a".repeat(129)).is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a/b").is_err());
    }

    #[test]
    fn metadata_documents_are_1000_characters_at_least_and_must_parse() {
        assert_eq!(parse_metadata("<x/>").unwrap_err().code, ErrorCode::ValidationError);
        let padded = format!("<x>{}</x>", " ".repeat(1000));
        assert_eq!(parse_metadata(&padded).unwrap_err().code, ErrorCode::InvalidInput);
    }
}
