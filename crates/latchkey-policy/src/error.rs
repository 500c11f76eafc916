//! Why a policy document was refused.

/// A policy document AWS would refuse on write (`MalformedPolicyDocument` from
/// IAM and STS, `MalformedPolicy` from S3). `reason` is the message text AWS
/// returns, so the server can put it in the error body unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PolicyError {
    pub reason: String,
}

impl PolicyError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        PolicyError { reason: reason.into() }
    }
}
