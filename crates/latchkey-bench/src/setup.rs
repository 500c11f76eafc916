//! Everything a workload needs on the server, created over the wire with
//! the same signed requests the workloads use.

use crate::client::{xml_text, Call, Payload, S3Client};
use crate::runner::{drive, Bounds, Outcome};
use crate::sign::Credentials;
use anyhow::{anyhow, bail};
use std::time::Duration;

pub const BUCKET: &str = "lkbench";
pub const LIST_BUCKET: &str = "lkbench-list";
pub const POLICY_BUCKET: &str = "lkbench-policy";
/// Objects every GET/HEAD row reads from, per size.
pub const GET_POOL: u64 = 64;

pub async fn create_bucket(c: &S3Client, creds: &Credentials, name: &str) -> anyhow::Result<()> {
    let path = format!("/{name}");
    let r = c.send(creds, Call { keep_body: true, ..Call::s3("PUT", &path) }).await?;
    let body = String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()).into_owned();
    if r.status == 200 || body.contains("BucketAlreadyOwnedByYou") {
        return Ok(());
    }
    bail!("CreateBucket {name}: HTTP {} {}", r.status, body.chars().take(300).collect::<String>())
}

pub async fn put(c: &S3Client, creds: &Credentials, bucket: &str, key: &str, p: &Payload) -> Result<u64, String> {
    let path = format!("/{bucket}/{key}");
    let r = c.send(creds, Call { payload: Some(p), ..Call::s3("PUT", &path) }).await.map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("PUT {path}: HTTP {}", r.status));
    }
    Ok(p.bytes.len() as u64)
}

/// PUTs `count` objects named by `key(i)` at high concurrency.
pub async fn fill(
    c: &S3Client,
    creds: &Credentials,
    bucket: &'static str,
    count: u64,
    concurrency: usize,
    p: Payload,
    key: fn(u64) -> String,
) -> anyhow::Result<Outcome> {
    let (c2, creds2) = (c.clone(), creds.clone());
    let bounds = Bounds { duration: Duration::from_secs(3600), count: Some(count) };
    let o = drive(concurrency, bounds, move |i| {
        let (c, creds, p) = (c2.clone(), creds2.clone(), p.clone());
        async move { put(&c, &creds, bucket, &key(i), &p).await }
    })
    .await;
    if o.errors > 0 {
        bail!("filling {bucket}: {} of {count} PUTs failed: {}", o.errors, o.first_error.unwrap_or_default());
    }
    Ok(o)
}

/// An IAM or STS Query API call that must succeed; returns its XML.
pub async fn call(c: &S3Client, creds: &Credentials, service: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut all = params.to_vec();
    let version = if service == "sts" { "2011-06-15" } else { "2010-05-08" };
    all.push(("Version", version));
    let (status, body) = c.query_api(creds, service, &all).await?;
    if status != 200 {
        bail!("{} {}: HTTP {status} {}", service, params[0].1, body.chars().take(400).collect::<String>());
    }
    Ok(body)
}

/// The identities the authentication rows use.
pub struct Identities {
    /// An IAM user's long-term key, allowed s3:* and sts:AssumeRole.
    pub user: Credentials,
    pub role_arn: String,
    /// Temporary credentials from AssumeRole.
    pub session: Credentials,
    /// A user with no identity policy, let in by the 20-statement bucket policy.
    pub policy_user: Credentials,
}

/// The account id, if the endpoint speaks STS at all.
pub async fn account_id(c: &S3Client, root: &Credentials) -> Option<String> {
    let (status, body) =
        c.query_api(root, "sts", &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]).await.ok()?;
    (status == 200).then(|| xml_text(&body, "Account")).flatten()
}

async fn user_with_key(c: &S3Client, root: &Credentials, name: &str) -> anyhow::Result<Credentials> {
    call(c, root, "iam", &[("Action", "CreateUser"), ("UserName", name)]).await?;
    let xml = call(c, root, "iam", &[("Action", "CreateAccessKey"), ("UserName", name)]).await?;
    Ok(Credentials {
        access_key: xml_text(&xml, "AccessKeyId").ok_or_else(|| anyhow!("CreateAccessKey: no AccessKeyId"))?,
        secret_key: xml_text(&xml, "SecretAccessKey").ok_or_else(|| anyhow!("CreateAccessKey: no secret"))?,
        session_token: None,
    })
}

pub async fn assume_role(
    c: &S3Client,
    creds: &Credentials,
    role_arn: &str,
    session_name: &str,
) -> anyhow::Result<Credentials> {
    let xml = call(
        c,
        creds,
        "sts",
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("DurationSeconds", "3600"),
        ],
    )
    .await?;
    Ok(Credentials {
        access_key: xml_text(&xml, "AccessKeyId").ok_or_else(|| anyhow!("AssumeRole: no AccessKeyId"))?,
        secret_key: xml_text(&xml, "SecretAccessKey").ok_or_else(|| anyhow!("AssumeRole: no secret"))?,
        session_token: Some(xml_text(&xml, "SessionToken").ok_or_else(|| anyhow!("AssumeRole: no SessionToken"))?),
    })
}

/// A bucket policy of `n` statements of which only the last lets
/// `user_arn` in; the others name other principals or prefixes, or deny
/// under conditions that do not hold, so each must be evaluated. (Principals
/// must exist, as in AWS: the account and the bench role.)
pub fn bucket_policy(account: &str, bucket: &str, user_arn: &str, role_arn: &str, n: usize) -> String {
    let mut statements = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        let s = match i % 4 {
            0 => serde_json::json!({
                "Sid": format!("TeamPrefix{i}"), "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": format!("arn:aws:s3:::{bucket}/team-{i}/*")}),
            1 => serde_json::json!({
                "Sid": format!("DenyFromNet{i}"), "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                "Condition": {"IpAddress": {"aws:SourceIp": format!("203.0.113.{i}/32")}}}),
            2 => serde_json::json!({
                "Sid": format!("AgentOnly{i}"), "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/agent-{i}/*"),
                "Condition": {"StringLike": {"aws:UserAgent": format!("agent-{i}/*")}}}),
            _ => serde_json::json!({
                "Sid": format!("DenyOtherTag{i}"), "Effect": "Deny",
                "Principal": {"AWS": role_arn},
                "Action": "s3:DeleteObject", "Resource": format!("arn:aws:s3:::{bucket}/*"),
                "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": format!("t{i}")}}}),
        };
        statements.push(s);
    }
    statements.push(serde_json::json!({
        "Sid": "BenchUser", "Effect": "Allow", "Principal": {"AWS": user_arn},
        "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]}));
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

pub async fn identities(c: &S3Client, root: &Credentials, account: &str, tag: &str) -> anyhow::Result<Identities> {
    let user_name = format!("lkb-user-{tag}");
    let user = user_with_key(c, root, &user_name).await?;
    let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","sts:AssumeRole"],"Resource":"*"}]}"#;
    call(
        c,
        root,
        "iam",
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", &user_name),
            ("PolicyName", "bench"),
            ("PolicyDocument", allow_all),
        ],
    )
    .await?;
    let role_name = format!("lkb-role-{tag}");
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let xml = call(
        c,
        root,
        "iam",
        &[("Action", "CreateRole"), ("RoleName", &role_name), ("AssumeRolePolicyDocument", &trust)],
    )
    .await?;
    let role_arn = xml_text(&xml, "Arn").ok_or_else(|| anyhow!("CreateRole: no Arn"))?;
    let s3_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::{BUCKET}","arn:aws:s3:::{BUCKET}/*"]}}]}}"#
    );
    call(
        c,
        root,
        "iam",
        &[("Action", "PutRolePolicy"), ("RoleName", &role_name), ("PolicyName", "s3"), ("PolicyDocument", &s3_only)],
    )
    .await?;
    // A new key or policy may take a moment to be visible on some servers.
    let mut session = None;
    for attempt in 0..20 {
        match assume_role(c, &user, &role_arn, "bench-session").await {
            Ok(s) => {
                session = Some(s);
                break;
            }
            Err(e) if attempt == 19 => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let policy_user_name = format!("lkb-bp-{tag}");
    let policy_user = user_with_key(c, root, &policy_user_name).await?;
    let policy_user_arn = format!("arn:aws:iam::{account}:user/{policy_user_name}");
    let policy = bucket_policy(account, POLICY_BUCKET, &policy_user_arn, &role_arn, 20);
    let pp = Payload::new(bytes::Bytes::from(policy));
    let path = format!("/{POLICY_BUCKET}");
    let mut put_policy = Call::s3("PUT", &path);
    put_policy.query = vec![("policy".into(), String::new())];
    put_policy.payload = Some(&pp);
    put_policy.keep_body = true;
    let r = c.send(root, put_policy).await?;
    if r.status != 200 && r.status != 204 {
        bail!("PutBucketPolicy: HTTP {} {}", r.status, String::from_utf8_lossy(r.body.as_deref().unwrap_or_default()));
    }
    Ok(Identities { user, role_arn, session: session.expect("set or returned"), policy_user })
}
