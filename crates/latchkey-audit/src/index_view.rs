//! The fields the index needs, read from a logged event without building
//! the whole event: strings are borrowed from the line where they can be,
//! and everything else in the line is skipped.

use serde::Deserialize;
use std::borrow::Cow;

type Text<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct IndexView<'a> {
    #[serde(borrow)]
    pub event_time: Cow<'a, str>,
    #[serde(borrow)]
    pub event_source: Cow<'a, str>,
    #[serde(borrow)]
    pub event_name: Cow<'a, str>,
    #[serde(borrow)]
    pub aws_region: Cow<'a, str>,
    #[serde(borrow)]
    pub error_code: Text<'a>,
    #[serde(borrow)]
    pub user_identity: ViewIdentity<'a>,
    #[serde(borrow)]
    pub request_parameters: Option<ViewParams<'a>>,
    #[serde(borrow)]
    pub response_elements: Option<ViewResponse<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ViewIdentity<'a> {
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow)]
    pub access_key_id: Text<'a>,
    #[serde(borrow)]
    pub session_context: Option<ViewSession<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ViewSession<'a> {
    #[serde(borrow)]
    pub session_issuer: Option<ViewIssuer<'a>>,
    #[serde(borrow)]
    pub source_identity: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ViewIssuer<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub arn: Cow<'a, str>,
}

/// Request parameters are strings (see `redact_parameters`); only these are read.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ViewParams<'a> {
    #[serde(borrow)]
    pub bucket_name: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(borrow)]
    pub role_session_name: Text<'a>,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub source_identity: Text<'a>,
    #[serde(borrow)]
    pub role_arn: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ViewResponse<'a> {
    #[serde(borrow)]
    pub credentials: Option<ViewKey<'a>>,
    #[serde(borrow)]
    pub access_key: Option<ViewKey<'a>>,
    #[serde(borrow)]
    pub assumed_role_user: Option<ViewArn<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ViewKey<'a> {
    #[serde(borrow)]
    pub access_key_id: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ViewArn<'a> {
    #[serde(borrow)]
    pub arn: Text<'a>,
}

impl IndexView<'_> {
    pub fn caller_session_name(&self) -> Option<&str> {
        crate::event::session_name_of(self.user_identity.arn.as_deref()?)
    }

    pub fn issued_session_name(&self) -> Option<&str> {
        let p = self.request_parameters.as_ref();
        p.and_then(|p| p.role_session_name.as_deref().or(p.name.as_deref())).or_else(|| {
            let arn = self.response_elements.as_ref()?.assumed_role_user.as_ref()?.arn.as_deref()?;
            arn.rsplit('/').next()
        })
    }

    pub fn issued_access_key_id(&self) -> Option<&str> {
        let r = self.response_elements.as_ref()?;
        r.credentials
            .as_ref()
            .and_then(|c| c.access_key_id.as_deref())
            .or_else(|| r.access_key.as_ref()?.access_key_id.as_deref())
    }

    pub fn source_identity(&self) -> Option<&str> {
        let ctx = self.user_identity.session_context.as_ref();
        ctx.and_then(|c| c.source_identity.as_deref())
            .or_else(|| self.request_parameters.as_ref()?.source_identity.as_deref())
    }

    pub fn bucket(&self) -> Option<&str> {
        self.request_parameters.as_ref()?.bucket_name.as_deref()
    }

    pub fn key(&self) -> Option<&str> {
        self.request_parameters.as_ref()?.key.as_deref()
    }

    pub fn decision(&self) -> &'static str {
        crate::event::decision_of(self.error_code.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;

    #[test]
    fn the_view_reads_what_the_full_event_says() {
        let e = AuditEvent {
            event_time: "2026-11-23T10:00:00Z".into(),
            event_name: "AssumeRole".into(),
            event_source: "sts.amazonaws.com".into(),
            user_identity: UserIdentity {
                kind: "AssumedRole".into(),
                arn: Some("arn:aws:sts::111122223333:assumed-role/r/parent \"quoted\"".into()),
                access_key_id: Some("ASIAPARENT".into()),
                session_context: Some(SessionContext { source_identity: Some("badge-7".into()), ..Default::default() }),
                ..Default::default()
            },
            request_parameters: Some(serde_json::json!({"roleSessionName": "child", "Host": "h", "n": "1"})),
            response_elements: Some(serde_json::json!({
                "credentials": {"accessKeyId": "ASIACHILD", "expiration": "x"},
                "assumedRoleUser": {"arn": "arn:aws:sts::1:assumed-role/r/child"},
                "packedPolicySize": 3
            })),
            error_code: Some("AccessDenied".into()),
            ..Default::default()
        };
        let line = serde_json::to_string(&e).unwrap();
        let v: IndexView<'_> = serde_json::from_str(&line).unwrap();
        assert_eq!(v.caller_session_name(), e.caller_session_name());
        assert_eq!(v.issued_session_name(), e.issued_session_name());
        assert_eq!(v.issued_access_key_id(), e.issued_access_key_id());
        assert_eq!(v.source_identity(), e.source_identity());
        assert_eq!(v.decision(), e.decision());
        assert_eq!(v.bucket(), None);
    }
}
