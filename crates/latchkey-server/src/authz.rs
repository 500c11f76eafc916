//! The authorization gate every request passes. The policy engine will own
//! it; until then the rule is: an account's root may act on its own
//! account's resources, everyone else is denied.

use crate::auth::{Principal, PrincipalKind};
use crate::error::{ErrorCode, S3Error, S3Result};

/// What is being asked.
pub struct AccessRequest<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    /// The account that owns the resource, when it exists (None for account-
    /// level actions such as ListAllMyBuckets and CreateBucket).
    pub resource_account: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Why, in words a person can act on.
    Deny(String),
}

pub fn decide(principal: Option<&Principal>, req: &AccessRequest<'_>) -> Decision {
    let Some(p) = principal else {
        return Decision::Deny(format!(
            "Anonymous access to {} is denied: no policy allows {} to anonymous principals",
            req.resource, req.action
        ));
    };
    let own_account = req.resource_account.is_none_or(|a| a == p.account_id);
    match (&p.kind, own_account) {
        (PrincipalKind::AccountRoot, true) => Decision::Allow,
        (PrincipalKind::AccountRoot, false) => Decision::Deny(format!(
            "User: {} is not authorized to perform: {} on resource: {} because no resource-based policy allows the {} action",
            p.arn(),
            req.action,
            req.resource,
            req.action
        )),
        (PrincipalKind::User(_), _) => Decision::Deny(format!(
            "User: {} is not authorized to perform: {} on resource: {} because no identity-based policy allows the {} action",
            p.arn(),
            req.action,
            req.resource,
            req.action
        )),
    }
}

/// [`decide`], as a result for handlers.
pub fn authorize(principal: Option<&Principal>, req: &AccessRequest<'_>) -> S3Result<()> {
    match decide(principal, req) {
        Decision::Allow => Ok(()),
        Decision::Deny(why) => {
            tracing::info!(action = req.action, resource = req.resource, reason = %why, "access denied");
            Err(S3Error::msg(ErrorCode::AccessDenied, why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(account: &str) -> Principal {
        Principal { account_id: account.into(), kind: PrincipalKind::AccountRoot, access_key_id: "AKIAEXAMPLE".into() }
    }

    fn req(owner: Option<&'static str>) -> AccessRequest<'static> {
        AccessRequest { action: "s3:GetObject", resource: "arn:aws:s3:::b/k", resource_account: owner }
    }

    #[test]
    fn the_root_of_the_owning_account_is_allowed() {
        assert_eq!(decide(Some(&root("111111111111")), &req(Some("111111111111"))), Decision::Allow);
    }

    #[test]
    fn the_root_of_another_account_is_denied() {
        assert!(matches!(decide(Some(&root("222222222222")), &req(Some("111111111111"))), Decision::Deny(_)));
    }

    #[test]
    fn anonymous_requests_are_denied() {
        assert!(matches!(decide(None, &req(Some("111111111111"))), Decision::Deny(_)));
    }

    #[test]
    fn users_are_denied_until_policies_exist() {
        let user = Principal {
            account_id: "111111111111".into(),
            kind: PrincipalKind::User("alice".into()),
            access_key_id: "AKIAEXAMPLE".into(),
        };
        let Decision::Deny(why) = decide(Some(&user), &req(Some("111111111111"))) else { panic!() };
        assert!(why.contains("arn:aws:iam::111111111111:user/alice"));
    }
}
