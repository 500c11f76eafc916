//! latchkey's own account administration over the IAM endpoint: the
//! operator (root of the first account) creates tenant accounts.

use super::IamRequest;
use crate::auth::PrincipalKind;
use crate::bootstrap::{new_access_key_id, new_account, new_secret_access_key};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use latchkey_storage::{AccessKeyRecord, KeyOwner, KeyStatus, StorageError};
use rand::Rng;
use std::sync::Arc;

pub async fn handle(state: &Arc<AppState>, req: &IamRequest<'_>, action: &str) -> S3Result<HttpResponse> {
    let accounts = state.meta(|m| m.list_accounts()).await?;
    let operator = accounts.first().map(|a| a.id.clone()).unwrap_or_default();
    if req.caller.kind != PrincipalKind::AccountRoot || req.caller.account_id != operator {
        return Err(S3Error::msg(
            ErrorCode::AccessDenied,
            format!("{} is not authorized to perform: latchkey:{action}; only the operator account's root may manage accounts", crate::auth::Principal::arn(req.caller)),
        ));
    }
    match action {
        "CreateAccount" => {
            let name = req.params.required("AccountName")?.to_string();
            let ok = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
            if !ok {
                return Err(S3Error::msg(
                    ErrorCode::ValidationError,
                    "AccountName must be 1-64 characters of [A-Za-z0-9_+=,.@-].",
                ));
            }
            let account = new_account(&name, req.now);
            let key_id = new_access_key_id();
            let secret = new_secret_access_key();
            let mut nonce = [0u8; 24];
            rand::rngs::OsRng.fill(&mut nonce);
            let key = AccessKeyRecord {
                access_key_id: key_id.clone(),
                account_id: account.id.clone(),
                owner: KeyOwner::Root,
                secret_sealed: state.secret_sealer.seal(secret.as_bytes(), nonce),
                status: KeyStatus::Active,
                created: req.now,
            };
            let a2 = account.clone();
            match state.meta(move |m| m.create_account(&a2)).await {
                Ok(()) => {}
                Err(StorageError::AlreadyExists) => {
                    return Err(S3Error::msg(
                        ErrorCode::EntityAlreadyExists,
                        format!("An account named {name} already exists."),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
            state.meta(move |m| m.put_access_key(&key)).await?;
            state.identity_cache.invalidate();
            tracing::info!(account = %account.id, name = %account.name, "account created");
            let mut x = req.xml(action);
            x.w()
                .open("Account")
                .elem("AccountId", &account.id)
                .elem("AccountName", &account.name)
                .elem("AccessKeyId", &key_id)
                .elem("SecretAccessKey", &secret)
                .close();
            Ok(x.finish(req.request_id))
        }
        _ => {
            let mut x = req.xml(action);
            x.w().open("Accounts");
            for a in &accounts {
                x.w()
                    .open("member")
                    .elem("AccountId", &a.id)
                    .elem("AccountName", &a.name)
                    .elem("CreateDate", super::entities::timestamp(a.created))
                    .close();
            }
            x.w().close();
            Ok(x.finish(req.request_id))
        }
    }
}
