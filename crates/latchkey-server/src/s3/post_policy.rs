//! POST policies (S3 "Creating a POST policy"): the JSON document a browser
//! form is signed over, and the check of a form's fields against it. Pure.

use base64::Engine;
use serde_json::Value;
use time::OffsetDateTime;

/// One condition of a POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `{"field": "value"}` or `["eq", "$field", "value"]`.
    Eq { field: String, value: String },
    /// `["starts-with", "$field", "prefix"]` (an empty prefix allows anything).
    StartsWith { field: String, prefix: String },
    /// `["content-length-range", min, max]`.
    ContentLengthRange { min: u64, max: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    pub expiration: OffsetDateTime,
    pub conditions: Vec<Condition>,
}

/// Why a form does not satisfy its policy — AWS's "Invalid according to
/// Policy: ..." texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyViolation {
    Malformed(String),
    Expired,
    ConditionFailed(String),
    ExtraField(String),
}

impl std::fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyViolation::Malformed(m) => write!(f, "Invalid Policy: {m}"),
            PolicyViolation::Expired => f.write_str("Invalid according to Policy: Policy expired."),
            PolicyViolation::ConditionFailed(c) => {
                write!(f, "Invalid according to Policy: Policy Condition failed: {c}")
            }
            PolicyViolation::ExtraField(n) => {
                write!(f, "Invalid according to Policy: Extra input fields: {n}")
            }
        }
    }
}

fn field_name(v: &Value) -> Result<String, PolicyViolation> {
    let s = v.as_str().ok_or_else(|| PolicyViolation::Malformed("condition field must be a string".into()))?;
    let name = s.strip_prefix('$').ok_or_else(|| PolicyViolation::Malformed(format!("field {s} must start with $")))?;
    Ok(name.to_ascii_lowercase())
}

fn number(v: &Value) -> Result<u64, PolicyViolation> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| PolicyViolation::Malformed("content-length-range bounds must be integers".into()))
}

impl PostPolicy {
    /// Parses the base64 `policy` form field.
    pub fn parse(b64: &str) -> Result<PostPolicy, PolicyViolation> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| PolicyViolation::Malformed("the policy is not valid base64".into()))?;
        let v: Value = serde_json::from_slice(&raw)
            .map_err(|_| PolicyViolation::Malformed("the policy is not valid JSON".into()))?;
        let exp = v
            .get("expiration")
            .and_then(Value::as_str)
            .ok_or_else(|| PolicyViolation::Malformed("Policy missing expiration.".into()))?;
        let expiration = OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339)
            .map_err(|_| PolicyViolation::Malformed(format!("Invalid Policy: Invalid 'expiration' value: '{exp}'")))?;
        let list = v
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| PolicyViolation::Malformed("Policy missing conditions.".into()))?;
        let mut conditions = Vec::new();
        for c in list {
            match c {
                Value::Object(map) => {
                    for (k, val) in map {
                        let value = val
                            .as_str()
                            .ok_or_else(|| PolicyViolation::Malformed(format!("condition {k} must be a string")))?;
                        conditions.push(Condition::Eq { field: k.to_ascii_lowercase(), value: value.to_string() });
                    }
                }
                Value::Array(items) if items.len() == 3 => {
                    let op = items[0].as_str().unwrap_or("").to_ascii_lowercase();
                    match op.as_str() {
                        "eq" | "starts-with" => {
                            let field = field_name(&items[1])?;
                            let value = items[2]
                                .as_str()
                                .ok_or_else(|| PolicyViolation::Malformed("condition value must be a string".into()))?
                                .to_string();
                            conditions.push(if op == "eq" {
                                Condition::Eq { field, value }
                            } else {
                                Condition::StartsWith { field, prefix: value }
                            });
                        }
                        "content-length-range" => {
                            let (min, max) = (number(&items[1])?, number(&items[2])?);
                            conditions.push(Condition::ContentLengthRange { min, max });
                        }
                        other => {
                            return Err(PolicyViolation::Malformed(format!("Invalid condition operator: {other}")))
                        }
                    }
                }
                _ => {
                    return Err(PolicyViolation::Malformed("a condition must be an object or a 3-element array".into()))
                }
            }
        }
        Ok(PostPolicy { expiration, conditions })
    }

    /// Fields that need no condition (S3: the signature itself, the policy,
    /// the file, and `x-ignore-` fields).
    fn exempt(name: &str) -> bool {
        matches!(name, "x-amz-signature" | "policy" | "file" | "awsaccesskeyid" | "signature")
            || name.starts_with("x-ignore-")
    }

    /// Checks the form's fields (lowercased names, the bucket included as
    /// `bucket`, the key after `${filename}` substitution) at `now`.
    /// The file's size is checked separately with [`PostPolicy::length_range`].
    pub fn check(&self, fields: &[(String, String)], now: OffsetDateTime) -> Result<(), PolicyViolation> {
        if now >= self.expiration {
            return Err(PolicyViolation::Expired);
        }
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let mut covered: Vec<&str> = Vec::new();
        for c in &self.conditions {
            match c {
                Condition::Eq { field, value } => {
                    covered.push(field);
                    if get(field) != Some(value.as_str()) {
                        return Err(PolicyViolation::ConditionFailed(format!("[\"eq\", \"${field}\", \"{value}\"]")));
                    }
                }
                Condition::StartsWith { field, prefix } => {
                    covered.push(field);
                    // Content-Type may list several values, each checked.
                    let actual = get(field).unwrap_or("");
                    let ok = if field == "content-type" {
                        actual.split(',').all(|p| p.trim().starts_with(prefix.as_str()))
                    } else {
                        actual.starts_with(prefix.as_str())
                    };
                    if !ok || (get(field).is_none() && !prefix.is_empty()) {
                        return Err(PolicyViolation::ConditionFailed(format!(
                            "[\"starts-with\", \"${field}\", \"{prefix}\"]"
                        )));
                    }
                }
                Condition::ContentLengthRange { .. } => {}
            }
        }
        for (name, _) in fields {
            if !Self::exempt(name) && name != "bucket" && !covered.contains(&name.as_str()) {
                return Err(PolicyViolation::ExtraField(name.clone()));
            }
        }
        Ok(())
    }

    /// The allowed file size, when the policy limits it.
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().find_map(|c| match c {
            Condition::ContentLengthRange { min, max } => Some((*min, *max)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    // The example policy of the S3 documentation ("Example: Browser-based
    // upload using HTTP POST (using AWS Signature Version 4)").
    const DOC: &str = r#"{ "expiration": "2015-12-30T12:00:00.000Z",
  "conditions": [
    {"bucket": "sigv4examplebucket"},
    ["starts-with", "$key", "user/user1/"],
    {"acl": "public-read"},
    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},
    ["starts-with", "$Content-Type", "image/"],
    {"x-amz-meta-uuid": "14365123651274"},
    {"x-amz-server-side-encryption": "AES256"},
    ["starts-with", "$x-amz-meta-tag", ""],
    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
    {"x-amz-date": "20151229T000000Z" }
  ]
}"#;

    fn form() -> Vec<(String, String)> {
        [
            ("bucket", "sigv4examplebucket"),
            ("key", "user/user1/photo.jpg"),
            ("acl", "public-read"),
            ("success_action_redirect", "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"),
            ("content-type", "image/jpeg"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-meta-tag", ""),
            ("x-amz-credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-date", "20151229T000000Z"),
            ("policy", "..."),
            ("x-amz-signature", "..."),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const BEFORE: OffsetDateTime = datetime!(2015-12-29 00:00 UTC);

    #[test]
    fn the_documentation_example_form_satisfies_its_policy() {
        let p = PostPolicy::parse(&b64(DOC)).unwrap();
        assert_eq!(p.conditions.len(), 11);
        p.check(&form(), BEFORE).unwrap();
    }

    #[test]
    fn an_expired_policy_fails() {
        let p = PostPolicy::parse(&b64(DOC)).unwrap();
        assert_eq!(p.check(&form(), datetime!(2015-12-31 00:00 UTC)), Err(PolicyViolation::Expired));
    }

    #[test]
    fn a_key_outside_the_prefix_fails() {
        let p = PostPolicy::parse(&b64(DOC)).unwrap();
        let mut f = form();
        f[1].1 = "user/user2/photo.jpg".into();
        assert!(matches!(p.check(&f, BEFORE), Err(PolicyViolation::ConditionFailed(c)) if c.contains("$key")));
    }

    #[test]
    fn an_uncovered_field_fails() {
        let p = PostPolicy::parse(&b64(DOC)).unwrap();
        let mut f = form();
        f.push(("x-amz-meta-extra".into(), "1".into()));
        assert_eq!(p.check(&f, BEFORE), Err(PolicyViolation::ExtraField("x-amz-meta-extra".into())));
        let mut f = form();
        f.push(("x-ignore-me".into(), "1".into()));
        assert!(p.check(&f, BEFORE).is_ok());
    }

    #[test]
    fn content_length_range_and_eq_arrays_parse() {
        let doc = r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","$key","a"],["content-length-range",1,10485760]]}"#;
        let p = PostPolicy::parse(&b64(doc)).unwrap();
        assert_eq!(p.length_range(), Some((1, 10485760)));
        let f = vec![("key".to_string(), "a".to_string())];
        assert!(p.check(&f, BEFORE).is_ok());
    }

    #[test]
    fn malformed_policies_are_refused() {
        for doc in [
            r#"{"conditions":[]}"#,
            r#"{"expiration":"soon","conditions":[]}"#,
            r#"{"expiration":"2030-01-01T00:00:00Z"}"#,
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["nope","$key","a"]]}"#,
            "not json",
        ] {
            assert!(matches!(PostPolicy::parse(&b64(doc)), Err(PolicyViolation::Malformed(_))), "{doc}");
        }
        assert!(PostPolicy::parse("!!!").is_err());
    }

    proptest! {
        #[test]
        fn parsing_and_checking_never_panic(s in "\\PC{0,300}", k in "\\PC{0,20}", v in "\\PC{0,20}") {
            if let Ok(p) = PostPolicy::parse(&b64(&s)) {
                let _ = p.check(&[(k, v)], BEFORE);
            }
        }
    }
}
