//! AssumeRoleWithWebIdentity (being written).
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::response::HttpResponse;
use crate::state::AppState;
use crate::sts::UnsignedStsRequest;
use std::sync::Arc;

pub async fn assume_role_with_web_identity(_state: &Arc<AppState>, _req: &UnsignedStsRequest<'_>) -> S3Result<HttpResponse> {
    Err(S3Error::new(ErrorCode::NotImplemented))
}
