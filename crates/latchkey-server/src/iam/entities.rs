//! IAM entities as latchkey stores them (one JSON document each), with the
//! naming rules, ids and ARNs AWS gives them.

use crate::error::{ErrorCode, S3Error, S3Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub path: String,
    pub id: String,
    pub created: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Inline policies by name.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Attached managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub boundary: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub path: String,
    pub id: String,
    pub created: String,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub id: String,
    pub created: String,
    pub trust_policy: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: u32,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    #[serde(default)]
    pub boundary: Option<String>,
}

/// A virtual MFA device; its TOTP seed is sealed with the master key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaDevice {
    pub name: String,
    pub path: String,
    pub seed_sealed: String,
    pub created: String,
    /// The user it is enabled for.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub enabled: Option<String>,
    /// The last TOTP step accepted, so a code cannot be used twice.
    #[serde(default)]
    pub last_step: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub id: String,
    pub document: String,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub name: String,
    pub path: String,
    pub id: String,
    pub created: String,
    pub updated: String,
    #[serde(default)]
    pub description: Option<String>,
    pub default_version: String,
    pub next_version: u32,
    pub versions: Vec<PolicyVersion>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    pub fn default_document(&self) -> &str {
        self.versions.iter().find(|v| v.id == self.default_version).map(|v| v.document.as_str()).unwrap_or("")
    }
}

/// AWS-managed policies that S3 users rely on, under `arn:aws:iam::aws:policy/`.
pub fn aws_managed_policies() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "AmazonS3FullAccess",
            "ANPAIFIR6V6BVTRAHWINE",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}"#,
        ),
        (
            "AmazonS3ReadOnlyAccess",
            "ANPAIZTJ4DXE7G6AGAE6M",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#,
        ),
        (
            "IAMFullAccess",
            "ANPAI7XKCFMBPM3QQRRVQ",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
        ),
        (
            "IAMReadOnlyAccess",
            "ANPAJKSO7NDY4T57MWDSQ",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
        ),
        (
            "AdministratorAccess",
            "ANPAIWMBCKSKIEE64ZLYK",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        ),
    ]
}

pub const AWS_POLICY_PREFIX: &str = "arn:aws:iam::aws:policy/";

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A unique id as AWS forms them: a four-letter prefix (AIDA user, AGPA
/// group, AROA role, ANPA policy) and 17 base32 characters.
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::rngs::OsRng;
    let tail: String = (0..17).map(|_| BASE32[rng.gen_range(0..BASE32.len())] as char).collect();
    format!("{prefix}{tail}")
}

/// IAM's timestamp format: `2024-01-02T03:04:05Z`.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub fn arn(account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{path}{name}")
}

fn validation(msg: String) -> S3Error {
    S3Error::msg(ErrorCode::ValidationError, msg)
}

/// Names of users, groups, roles and policies: `[\w+=,.@-]+` of bounded length.
pub fn validate_name(field: &str, name: &str, max: usize) -> S3Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if name.is_empty() || name.chars().count() > max {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    if !ok_chars {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )));
    }
    Ok(())
}

/// Paths: `/` or `/a/b/`, at most 512 characters of printable ASCII.
pub fn validate_path(path: &str) -> S3Result<()> {
    let ok = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if !ok {
        return Err(validation(format!(
            "1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
        )));
    }
    Ok(())
}

/// IAM tags: at most 50, keys 1–128, values 0–256, keys unique
/// (case-insensitively).
pub fn validate_tags(tags: &[(String, String)]) -> S3Result<()> {
    if tags.len() > 50 {
        return Err(S3Error::msg(ErrorCode::LimitExceeded, "The number of tags has reached the maximum limit."));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(S3Error::msg(
                ErrorCode::ValidationError,
                format!("Invalid tag: key '{k}' or its value has an invalid length."),
            ));
        }
        if tags[..i].iter().any(|(k2, _)| k2.eq_ignore_ascii_case(k)) {
            return Err(S3Error::msg(
                ErrorCode::InvalidInput,
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    Ok(())
}

/// Merges tags into a tag set: new values replace old ones for the same key.
pub fn merge_tags(existing: &mut Vec<Tag>, new: Vec<(String, String)>) -> S3Result<()> {
    for (k, v) in new {
        match existing.iter_mut().find(|t| t.key.eq_ignore_ascii_case(&k)) {
            Some(t) => t.value = v,
            None => existing.push(Tag { key: k, value: v }),
        }
    }
    if existing.len() > 50 {
        return Err(S3Error::msg(ErrorCode::LimitExceeded, "The number of tags has reached the maximum limit."));
    }
    Ok(())
}

/// Policy documents travel URL-encoded in IAM responses (botocore decodes them).
pub fn encode_document(doc: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(doc, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shape() {
        let id = new_id("AIDA");
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
    }

    #[test]
    fn names_and_paths_follow_iam_rules() {
        assert!(validate_name("userName", "alice.smith@example+x", 64).is_ok());
        assert!(validate_name("userName", "bad name", 64).is_err());
        assert!(validate_name("userName", &"a".repeat(65), 64).is_err());
        assert!(validate_path("/").is_ok());
        assert!(validate_path("/division_abc/subdivision_xyz/").is_ok());
        assert!(validate_path("/no-trailing").is_err());
    }

    #[test]
    fn tag_keys_are_unique_ignoring_case() {
        assert!(validate_tags(&[("a".into(), "1".into()), ("A".into(), "2".into())]).is_err());
    }
}
