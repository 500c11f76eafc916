//! The slice of the S3 Control API latchkey serves: the account-level
//! Block Public Access configuration (`/v20180820/configuration/publicAccessBlock`,
//! with the account in `x-amz-account-id`). SDKs put the account id in the
//! host name (`ACCOUNT.s3-control...`, or `ACCOUNT.<endpoint host>` with a
//! custom endpoint), so that name must reach latchkey (wildcard DNS or a
//! hosts entry); latchkey recognises the request by its path whatever the
//! host.

use super::bucket::{account_public_access_block, PublicAccessBlock, S3_CONTROL_NS};
use crate::authz::{authorize, AccessRequest, Caller};
use crate::body::RequestBody;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::{self, HttpResponse};
use crate::state::AppState;
use http::{Method, StatusCode};
use latchkey_storage::IamKind;
use std::sync::Arc;

pub const PUBLIC_ACCESS_BLOCK_PATH: &str = "/v20180820/configuration/publicAccessBlock";

pub async fn handle(
    state: &Arc<AppState>,
    method: &Method,
    headers: &http::HeaderMap,
    caller: &Caller,
    body: &mut RequestBody,
) -> S3Result<HttpResponse> {
    let principal = caller.principal.as_ref().ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))?;
    let account = headers.get("x-amz-account-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    if account != principal.account_id {
        return Err(S3Error::msg(
            ErrorCode::AccessDenied,
            "The x-amz-account-id header must name the caller's own account.",
        ));
    }
    let action = match *method {
        Method::GET => "s3:GetAccountPublicAccessBlock",
        Method::PUT | Method::DELETE => "s3:PutAccountPublicAccessBlock",
        _ => return Err(S3Error::new(ErrorCode::MethodNotAllowed)),
    };
    authorize(caller, &AccessRequest::new(action, "*", Some(account)))?;
    let acct = account.to_string();
    match *method {
        Method::GET => match account_public_access_block(state, &acct).await? {
            Some(cfg) => Ok(response::xml(StatusCode::OK, cfg.to_xml_in(S3_CONTROL_NS))),
            None => Err(S3Error::new(ErrorCode::NoSuchPublicAccessBlockConfiguration).with("AccountId", acct)),
        },
        Method::PUT => {
            let raw = body.read_all(crate::xml::MAX_XML_BODY).await?;
            let cfg = PublicAccessBlock::parse(&raw)?;
            let doc = cfg.to_xml();
            crate::iam::transact(state, &acct, move |tx| {
                tx.put(IamKind::AccountSetting, "publicAccessBlock", &doc)?;
                Ok(())
            })
            .await?;
            Ok(response::status(StatusCode::OK))
        }
        _ => {
            crate::iam::transact(state, &acct, |tx| {
                tx.delete(IamKind::AccountSetting, "publicAccessBlock")?;
                Ok(())
            })
            .await?;
            Ok(response::status(StatusCode::NO_CONTENT))
        }
    }
}
