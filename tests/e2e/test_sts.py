"""The STS Query API end to end: temporary credentials from AssumeRole,
GetFederationToken and GetSessionToken, used with S3, IAM and STS through
boto3, the aws CLI and pre-signed URLs.

One test per pattern users follow (issue 5, "How it is shown"), each checked
against AWS's documentation:
  - STS API Reference: AssumeRole, GetFederationToken, GetSessionToken,
    GetCallerIdentity, GetAccessKeyInfo (parameters, limits, errors);
  - IAM User Guide: "Pass session tags in AWS STS", "Role chaining" (the
    1-hour cap), "Revoke IAM role temporary security credentials"
    (AWSRevokeOlderSessions: Deny * when aws:TokenIssueTime is older),
    "Permissions for GetFederationToken" (no policy, no permissions;
    user's policies ∩ federation policy), cross-account access (the role's
    trust policy AND the caller's identity policy must both allow).

Every test makes its own users, roles, buckets and accounts (fresh names), so
the tests are independent of each other and of their order. Nothing waits
for credentials to expire: expiry is only exercised through forged tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import string
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import conftest
import s3util
from iamutil import compact, create_account, expect_error, iam_client, is_unique_id, uniq
from iamutil import code as err_code
from iamutil import message as err_message
from iamutil import status as err_status

REGION = conftest.REGION
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
TEMP_KEY_RE = re.compile(r"^ASIA[A-Z0-9]{16}$")


# --------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------
def _cfg(validate: bool = True, **extra) -> Config:
    return Config(retries={"total_max_attempts": 1, "mode": "standard"},
                  connect_timeout=10, read_timeout=60,
                  parameter_validation=validate, **extra)


def _session(ak: str, sk: str, token: str | None = None) -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id=ak, aws_secret_access_key=sk,
                                 aws_session_token=token, region_name=REGION)


def sts_client(endpoint: str, ak: str, sk: str, token: str | None = None, *,
               validate: bool = True):
    """boto3 STS client. validate=False turns off botocore's own parameter
    checks, so that the server's validation is what is tested."""
    return _session(ak, sk, token).client("sts", endpoint_url=endpoint, config=_cfg(validate))


def s3_client(endpoint: str, ak: str, sk: str, token: str | None = None):
    return _session(ak, sk, token).client(
        "s3", endpoint_url=endpoint,
        config=_cfg(signature_version="s3v4", s3={"addressing_style": "path"}))


def iam_client_tok(endpoint: str, ak: str, sk: str, token: str | None = None):
    return _session(ak, sk, token).client("iam", endpoint_url=endpoint, config=_cfg())


class Creds:
    """Temporary credentials from an STS response, with clients that use them."""

    def __init__(self, endpoint: str, c: dict):
        self.endpoint = endpoint
        self.raw = c
        self.key = c["AccessKeyId"]
        self.secret = c["SecretAccessKey"]
        self.token = c["SessionToken"]
        self.expiration = c["Expiration"]

    def s3(self):
        return s3_client(self.endpoint, self.key, self.secret, self.token)

    def sts(self, validate: bool = True):
        return sts_client(self.endpoint, self.key, self.secret, self.token, validate=validate)

    def iam(self):
        return iam_client_tok(self.endpoint, self.key, self.secret, self.token)


class Principal:
    """An IAM user with an access key."""

    def __init__(self, endpoint: str, name: str, arn: str, key: dict):
        self.endpoint = endpoint
        self.name = name
        self.arn = arn
        self.key = key["AccessKeyId"]
        self.secret = key["SecretAccessKey"]

    def sts(self, validate: bool = True):
        return sts_client(self.endpoint, self.key, self.secret, validate=validate)

    def s3(self):
        return s3_client(self.endpoint, self.key, self.secret)

    def assume(self, role_arn: str, session: str | None = None, **kw) -> tuple[Creds, dict]:
        r = self.sts().assume_role(RoleArn=role_arn, RoleSessionName=session or uniq("s"), **kw)
        return Creds(self.endpoint, r["Credentials"]), r


# --------------------------------------------------------------------------
# IAM helpers
# --------------------------------------------------------------------------
def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    st.update(extra)
    return st


def trust_stmt(principal_arn, actions=("sts:AssumeRole",), **extra) -> dict:
    st = {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": list(actions)}
    st.update(extra)
    return st


def make_user(iam, endpoint: str, policy: dict | None = None) -> Principal:
    name = uniq("u")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="perms", PolicyDocument=compact(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Principal(endpoint, name, arn, key)


def make_role(iam, trust: dict, policy: dict | None = None, *, name: str | None = None,
              max_session: int | None = None) -> dict:
    kw = {"MaxSessionDuration": max_session} if max_session else {}
    role = iam.create_role(RoleName=name or uniq("r"),
                           AssumeRolePolicyDocument=compact(trust), **kw)["Role"]
    if policy is not None:
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName="perms",
                            PolicyDocument=compact(policy))
    return role


def denied(fn, *args, **kwargs) -> ClientError:
    """The call fails with AccessDenied / HTTP 403."""
    return expect_error(fn, *args, error="AccessDenied", http=403, **kwargs)


def invalid(fn, *args, **kwargs) -> ClientError:
    """The call fails with ValidationError / HTTP 400."""
    return expect_error(fn, *args, error="ValidationError", http=400, **kwargs)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def assert_lifetime(expiration: dt.datetime, seconds: int, slack: int = 60):
    """Expiration is `seconds` after now (give or take the time the call took)."""
    left = (expiration - utcnow()).total_seconds()
    assert seconds - slack <= left <= seconds + 5, \
        f"credentials live {left:.0f}s, expected about {seconds}s"


def assert_temp_creds(c: dict):
    assert TEMP_KEY_RE.match(c["AccessKeyId"]), c["AccessKeyId"]
    assert len(c["SecretAccessKey"]) >= 40
    assert c["SessionToken"]
    assert isinstance(c["Expiration"], dt.datetime)


def tamper(token: str) -> str:
    """The token with one character in the middle changed to another
    character of the same alphabet (so it still decodes)."""
    i = len(token) // 2
    alphabet = string.ascii_letters + string.digits
    repl = next(ch for ch in alphabet if ch != token[i])
    return token[:i] + repl + token[i + 1:]


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iam(server):
    """IAM client for the shared server's operator account root."""
    return iam_client(server.endpoint, server.access_key, server.secret_key)


@pytest.fixture(scope="module")
def account_id(iam):
    return iam.get_user()["User"]["Arn"].split(":")[4]


@pytest.fixture(scope="module")
def root_sts(server):
    return sts_client(server.endpoint, server.access_key, server.secret_key)


@pytest.fixture(scope="module")
def assumable(server, iam):
    """(user, role) where the user may assume the role (identity policy and
    trust policy both allow), the role's MaxSessionDuration is 2 hours and it
    may read and write anything in S3. Used by the validation tests."""
    role_name = uniq("r")
    user = make_user(iam, server.endpoint, doc(allow(["sts:AssumeRole", "sts:TagSession"],
                                                     f"arn:aws:iam::*:role/{role_name}")))
    role = make_role(iam, doc(trust_stmt(user.arn, ["sts:AssumeRole", "sts:TagSession"])),
                     doc(allow("s3:*")), name=role_name, max_session=7200)
    return user, role


# ==========================================================================
# 1. An application assumes a role with an ExternalId for 15 minutes and can
#    put/get only in the role's bucket; a wrong ExternalId is denied.
# ==========================================================================
def test_pattern1_app_assumes_role_with_external_id(server, iam, account_id, bucket_factory, s3):
    role_bucket, other_bucket = bucket_factory(), bucket_factory()
    s3.put_object(Bucket=other_bucket, Key="secret.txt", Body=b"not yours")
    ext = "app-" + uniq("ext")
    role_name = uniq("r")
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    # The application's user may call sts:AssumeRole on the role (identity
    # policy); the role trusts the account, but only with the ExternalId.
    app = make_user(iam, server.endpoint, doc(allow("sts:AssumeRole", role_arn)))
    role = make_role(
        iam,
        doc(trust_stmt(f"arn:aws:iam::{account_id}:root",
                       Condition={"StringEquals": {"sts:ExternalId": ext}})),
        doc(allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{role_bucket}/*"),
            allow("s3:ListBucket", f"arn:aws:s3:::{role_bucket}")),
        name=role_name)
    assert role["Arn"] == role_arn

    # the application's own long-term key has no S3 permissions
    denied(app.s3().get_object, Bucket=other_bucket, Key="secret.txt")

    creds, resp = app.assume(role_arn, "app-session", ExternalId=ext, DurationSeconds=900)
    assert_temp_creds(resp["Credentials"])
    assert_lifetime(creds.expiration, 900)
    aru = resp["AssumedRoleUser"]
    assert aru["Arn"] == f"arn:aws:sts::{account_id}:assumed-role/{role_name}/app-session"
    role_id, _, session = aru["AssumedRoleId"].partition(":")
    assert session == "app-session"
    assert is_unique_id(role_id, "AROA") and role_id == role["RoleId"]

    c = creds.s3()
    c.put_object(Bucket=role_bucket, Key="data/report.csv", Body=b"a,b\n1,2\n")
    assert c.get_object(Bucket=role_bucket, Key="data/report.csv")["Body"].read() == b"a,b\n1,2\n"
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=role_bucket).get("Contents", [])]
    assert keys == ["data/report.csv"]
    # ... and nothing else
    denied(c.put_object, Bucket=other_bucket, Key="x", Body=b"x")
    denied(c.get_object, Bucket=other_bucket, Key="secret.txt")
    denied(c.delete_object, Bucket=role_bucket, Key="data/report.csv")
    denied(c.list_buckets)

    # the ExternalId is required and must match
    sts = app.sts()
    denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="app-session",
           ExternalId="wrong-" + ext, DurationSeconds=900)
    denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="app-session",
           DurationSeconds=900)
    # an ExternalId that is not 2..1224 characters is a validation error
    invalid(app.sts(validate=False).assume_role, RoleArn=role_arn,
            RoleSessionName="app-session", ExternalId="x")
    invalid(app.sts(validate=False).assume_role, RoleArn=role_arn,
            RoleSessionName="app-session", ExternalId="x" * 1225)


# ==========================================================================
# 2. A user assumes a role through the CLI, exports the three variables,
#    then `aws s3api list-buckets` and `aws sts get-caller-identity`.
# ==========================================================================
class CliWith(conftest.AwsCli):
    """`aws` with the given credentials in the environment, as a shell
    user would have them after `export AWS_ACCESS_KEY_ID=...` etc."""

    def __init__(self, srv, home, access_key: str, secret_key: str, token: str | None = None):
        super().__init__(srv, home)
        self.creds = (access_key, secret_key, token)

    def env(self) -> dict:
        env = super().env()
        ak, sk, token = self.creds
        env["AWS_ACCESS_KEY_ID"] = ak
        env["AWS_SECRET_ACCESS_KEY"] = sk
        env.pop("AWS_SESSION_TOKEN", None)
        if token:
            env["AWS_SESSION_TOKEN"] = token
        return env


def test_pattern2_cli_assume_role_and_export(server, iam, account_id, bucket, tmp_path):
    role_name = uniq("r")
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    user = make_user(iam, server.endpoint, doc(allow("sts:AssumeRole", role_arn)))
    make_role(iam, doc(trust_stmt(user.arn)),
              doc(allow("s3:ListAllMyBuckets", "*")), name=role_name)

    as_user = CliWith(server, tmp_path / "user", user.key, user.secret)
    out = as_user.run("sts", "assume-role", "--role-arn", role_arn,
                      "--role-session-name", "cli-session",
                      "--query", "Credentials", "--output", "json").stdout
    creds = json.loads(out)
    assert set(creds) >= {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert TEMP_KEY_RE.match(creds["AccessKeyId"])

    # export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_SESSION_TOKEN=...
    as_role = CliWith(server, tmp_path / "role", creds["AccessKeyId"],
                      creds["SecretAccessKey"], creds["SessionToken"])
    listed = json.loads(as_role.run("s3api", "list-buckets", "--output", "json").stdout)
    assert bucket in [b["Name"] for b in listed["Buckets"]]

    ident = json.loads(as_role.run("sts", "get-caller-identity", "--output", "json").stdout)
    assert ident["Arn"] == f"arn:aws:sts::{account_id}:assumed-role/{role_name}/cli-session"
    assert ident["Account"] == account_id
    assert re.fullmatch(r"AROA[A-Z0-9]{17}:cli-session", ident["UserId"]), ident["UserId"]

    # the user's own identity, for comparison
    ident_user = json.loads(as_user.run("sts", "get-caller-identity", "--output", "json").stdout)
    assert ident_user["Arn"] == user.arn

    # forgetting to export AWS_SESSION_TOKEN: the temporary key is unknown
    no_token = CliWith(server, tmp_path / "notoken", creds["AccessKeyId"],
                       creds["SecretAccessKey"])
    p = no_token.run("s3api", "list-buckets", check=False)
    assert p.returncode != 0
    assert "InvalidAccessKeyId" in p.stderr, p.stderr
    p = no_token.run("sts", "get-caller-identity", check=False)
    assert p.returncode != 0
    assert "InvalidClientTokenId" in p.stderr, p.stderr


# ==========================================================================
# 3. GetFederationToken with a policy scoped to users/user-123/* (with an
#    s3:prefix condition on ListBucket): reads inside allowed, outside denied.
# ==========================================================================
def test_pattern3_federation_token_scoped_to_user_prefix(server, iam, account_id, bucket, s3):
    for key in ("users/user-123/a.txt", "users/user-123/sub/b.txt",
                "users/user-456/c.txt", "top.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    # the proxy application's user: broad S3 access, may federate
    proxy = make_user(iam, server.endpoint, doc(
        allow("s3:*", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]),
        allow("sts:GetFederationToken", "*")))
    fed_policy = doc(
        allow("s3:ListBucket", f"arn:aws:s3:::{bucket}",
              Condition={"StringLike": {"s3:prefix": ["users/user-123/*"]}}),
        allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{bucket}/users/user-123/*"))
    r = proxy.sts().get_federation_token(Name="user-123", Policy=compact(fed_policy),
                                         DurationSeconds=900)
    assert_temp_creds(r["Credentials"])
    assert_lifetime(r["Credentials"]["Expiration"], 900)
    fu = r["FederatedUser"]
    assert fu["Arn"] == f"arn:aws:sts::{account_id}:federated-user/user-123"
    assert fu["FederatedUserId"] == f"{account_id}:user-123"
    assert 0 <= r["PackedPolicySize"] <= 100
    creds = Creds(server.endpoint, r["Credentials"])

    ident = creds.sts().get_caller_identity()
    assert ident["Arn"] == fu["Arn"]
    assert ident["UserId"] == f"{account_id}:user-123"
    assert ident["Account"] == account_id

    c = creds.s3()
    listed = c.list_objects_v2(Bucket=bucket, Prefix="users/user-123/")
    assert [o["Key"] for o in listed["Contents"]] == ["users/user-123/a.txt",
                                                       "users/user-123/sub/b.txt"]
    assert c.get_object(Bucket=bucket, Key="users/user-123/a.txt")["Body"].read() \
        == b"users/user-123/a.txt"
    c.put_object(Bucket=bucket, Key="users/user-123/new.txt", Body=b"new")
    # outside the prefix: denied
    denied(c.list_objects_v2, Bucket=bucket, Prefix="users/user-456/")
    denied(c.list_objects_v2, Bucket=bucket)
    denied(c.list_objects_v2, Bucket=bucket, Prefix="users/")
    denied(c.get_object, Bucket=bucket, Key="users/user-456/c.txt")
    denied(c.get_object, Bucket=bucket, Key="top.txt")
    denied(c.put_object, Bucket=bucket, Key="users/user-456/evil.txt", Body=b"x")
    denied(c.delete_object, Bucket=bucket, Key="users/user-123/a.txt")

    # STS API Reference, GetFederationToken: credentials it returns cannot call
    # GetFederationToken or GetSessionToken (or any STS operation except
    # GetCallerIdentity), nor IAM.
    denied(creds.sts().get_federation_token, Name="user-123", Policy=compact(fed_policy))
    denied(creds.sts().get_session_token)


def test_pattern3_federation_without_policy_and_intersection(server, iam, bucket, s3):
    """No session policy: no permissions. With one: the calling user's
    policies ∩ the federation policy (it cannot grant more than the user has)."""
    s3.put_object(Bucket=bucket, Key="users/user-123/a.txt", Body=b"a")
    proxy = make_user(iam, server.endpoint, doc(
        allow(["s3:GetObject", "s3:ListBucket"],
              [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]),
        allow("sts:GetFederationToken", "*")))
    # the user itself can read
    assert proxy.s3().get_object(Bucket=bucket, Key="users/user-123/a.txt")["Body"].read() == b"a"

    bare = Creds(server.endpoint,
                 proxy.sts().get_federation_token(Name="nopolicy", DurationSeconds=900)["Credentials"])
    denied(bare.s3().get_object, Bucket=bucket, Key="users/user-123/a.txt")
    denied(bare.s3().list_objects_v2, Bucket=bucket)
    # GetCallerIdentity needs no permission
    assert bare.sts().get_caller_identity()["Arn"].endswith(":federated-user/nopolicy")

    generous = doc(allow("s3:*", "*"))
    wide = Creds(server.endpoint, proxy.sts().get_federation_token(
        Name="wide", Policy=compact(generous), DurationSeconds=900)["Credentials"])
    assert wide.s3().get_object(Bucket=bucket, Key="users/user-123/a.txt")["Body"].read() == b"a"
    # the federation policy allows PutObject, the user's policies do not
    denied(wide.s3().put_object, Bucket=bucket, Key="users/user-123/b.txt", Body=b"b")
    denied(wide.s3().delete_object, Bucket=bucket, Key="users/user-123/a.txt")

    # the user's policies are evaluated live
    iam.delete_user_policy(UserName=proxy.name, PolicyName="perms")
    denied(wide.s3().get_object, Bucket=bucket, Key="users/user-123/a.txt")


def test_federated_user_cannot_call_iam_or_assume_role(server, iam, account_id):
    """STS API Reference, GetFederationToken, Permissions: its credentials
    'cannot call any IAM operations using the CLI or the AWS API' and
    'cannot call any STS operations except GetCallerIdentity' -- even when
    both the user's and the federation policy allow the action."""
    role = make_role(iam, doc(trust_stmt(f"arn:aws:iam::{account_id}:root")))
    everything = doc(allow(["sts:*", "iam:*"], "*"))
    proxy = make_user(iam, server.endpoint, everything)
    fed = Creds(server.endpoint, proxy.sts().get_federation_token(
        Name="fed-admin", Policy=compact(everything), DurationSeconds=900)["Credentials"])
    assert fed.sts().get_caller_identity()["Arn"].endswith(":federated-user/fed-admin")
    denied(fed.sts().assume_role, RoleArn=role["Arn"], RoleSessionName="from-fed")
    denied(fed.iam().get_user, UserName=proxy.name)
    denied(fed.iam().create_user, UserName=uniq("u"))


def test_federation_token_validation(server, iam):
    proxy = make_user(iam, server.endpoint, doc(allow("sts:GetFederationToken", "*")))
    nv = proxy.sts(validate=False)
    pol = compact(doc(allow("s3:GetObject", "*")))
    # Name: 2..32 characters of [\w+=,.@-]
    invalid(nv.get_federation_token, Name="a", Policy=pol)
    invalid(nv.get_federation_token, Name="a" * 33, Policy=pol)
    invalid(nv.get_federation_token, Name="bad name", Policy=pol)
    invalid(nv.get_federation_token, Name="bad/name", Policy=pol)
    ok = nv.get_federation_token(Name="a" * 32, Policy=pol, DurationSeconds=900)
    assert ok["FederatedUser"]["Arn"].endswith(":federated-user/" + "a" * 32)
    ok = nv.get_federation_token(Name="Az09_+=,.@-", Policy=pol, DurationSeconds=900)
    assert ok["FederatedUser"]["Arn"].endswith(":federated-user/Az09_+=,.@-")
    # DurationSeconds: 900..129600 for an IAM user; 43200 by default
    invalid(nv.get_federation_token, Name="bob", Policy=pol, DurationSeconds=899)
    invalid(nv.get_federation_token, Name="bob", Policy=pol, DurationSeconds=129601)
    r = nv.get_federation_token(Name="bob", Policy=pol, DurationSeconds=129600)
    assert_lifetime(r["Credentials"]["Expiration"], 129600)
    r = nv.get_federation_token(Name="bob", Policy=pol)
    assert_lifetime(r["Credentials"]["Expiration"], 43200)
    # Policy: at most 2048 characters
    big = compact(doc(allow("s3:GetObject", "arn:aws:s3:::b/" + "k" * 2100)))
    invalid(nv.get_federation_token, Name="bob", Policy=big)
    # a user without sts:GetFederationToken is denied
    nobody = make_user(iam, server.endpoint, doc(allow("s3:GetObject", "*")))
    denied(nobody.sts().get_federation_token, Name="bob", Policy=pol)


def test_root_sessions_default_to_one_hour(server, root_sts):
    """GetFederationToken / GetSessionToken API Reference, DurationSeconds:
    sessions obtained with root user credentials are restricted to 3,600
    seconds; 'If the specified duration is longer than one hour, the session
    obtained by using root user credentials defaults to one hour' (it is not
    an error)."""
    pol = compact(doc(allow("s3:ListAllMyBuckets", "*")))
    r = root_sts.get_federation_token(Name="rootfed", Policy=pol, DurationSeconds=7200)
    assert_lifetime(r["Credentials"]["Expiration"], 3600)
    r = root_sts.get_session_token(DurationSeconds=7200)
    assert_lifetime(r["Credentials"]["Expiration"], 3600)
    r = root_sts.get_session_token()
    assert_lifetime(r["Credentials"]["Expiration"], 3600)


# ==========================================================================
# 4. Cross-account: account B's user assumes a role in account A trusted by
#    B's root with an ExternalId, and lists A's bucket.
# ==========================================================================
def test_pattern4_cross_account_assume_role(server):
    a = create_account(server)
    b = create_account(server)
    a_s3 = a.s3()
    a_bucket = s3util.unique_bucket_name()
    a_s3.create_bucket(Bucket=a_bucket)
    try:
        a_s3.put_object(Bucket=a_bucket, Key="shared/report.txt", Body=b"from A")
        ext = uniq("ext")
        role_name = uniq("xacct")
        role_arn = f"arn:aws:iam::{a.id}:role/{role_name}"
        make_role(a.iam(),
                  doc(trust_stmt(f"arn:aws:iam::{b.id}:root",
                                 Condition={"StringEquals": {"sts:ExternalId": ext}})),
                  doc(allow("s3:ListBucket", f"arn:aws:s3:::{a_bucket}"),
                      allow("s3:GetObject", f"arn:aws:s3:::{a_bucket}/*")),
                  name=role_name)

        b_iam = b.iam()
        bob = make_user(b_iam, server.endpoint)  # no identity policy yet
        # B's user, on its own, cannot see A's bucket
        denied(bob.s3().list_objects_v2, Bucket=a_bucket)
        # cross-account: the trust policy alone is not enough, B must also
        # allow its user to call sts:AssumeRole on the role
        denied(bob.sts().assume_role, RoleArn=role_arn, RoleSessionName="bob", ExternalId=ext)
        b_iam.put_user_policy(UserName=bob.name, PolicyName="assume",
                              PolicyDocument=compact(doc(allow("sts:AssumeRole", role_arn))))
        # ... and the ExternalId must be given and right
        denied(bob.sts().assume_role, RoleArn=role_arn, RoleSessionName="bob")
        denied(bob.sts().assume_role, RoleArn=role_arn, RoleSessionName="bob",
               ExternalId=ext + "x")

        creds, resp = bob.assume(role_arn, "bob", ExternalId=ext)
        assert resp["AssumedRoleUser"]["Arn"] == \
            f"arn:aws:sts::{a.id}:assumed-role/{role_name}/bob"
        assert_lifetime(creds.expiration, 3600)  # default DurationSeconds
        ident = creds.sts().get_caller_identity()
        assert ident["Account"] == a.id
        assert ident["Arn"] == f"arn:aws:sts::{a.id}:assumed-role/{role_name}/bob"

        c = creds.s3()
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=a_bucket)["Contents"]]
        assert keys == ["shared/report.txt"]
        assert c.get_object(Bucket=a_bucket, Key="shared/report.txt")["Body"].read() == b"from A"
        denied(c.put_object, Bucket=a_bucket, Key="shared/evil.txt", Body=b"x")

        # GetAccessKeyInfo tells which account a key belongs to
        root_sts = sts_client(server.endpoint, server.access_key, server.secret_key)
        assert root_sts.get_access_key_info(AccessKeyId=bob.key)["Account"] == b.id
        assert root_sts.get_access_key_info(AccessKeyId=a.access_key)["Account"] == a.id

        # B revokes its user's permission: new AssumeRole calls are denied
        b_iam.delete_user_policy(UserName=bob.name, PolicyName="assume")
        denied(bob.sts().assume_role, RoleArn=role_arn, RoleSessionName="bob", ExternalId=ext)
        # a role that does not exist is indistinguishable from one not trusting you
        b_iam.put_user_policy(UserName=bob.name, PolicyName="assume",
                              PolicyDocument=compact(doc(allow("sts:AssumeRole", "*"))))
        denied(bob.sts().assume_role, RoleArn=f"arn:aws:iam::{a.id}:role/no-such-role",
               RoleSessionName="bob", ExternalId=ext)
    finally:
        conftest.empty_and_delete_bucket(a_s3, a_bucket)


# ==========================================================================
# 5. Credential vending: one role, sessions tagged UserId=<id>; each session
#    can touch only users/<its id>/.
# ==========================================================================
def test_pattern5_credential_vending_with_session_tags(server, iam, account_id, bucket, s3):
    s3.put_object(Bucket=bucket, Key="users/bob/private.txt", Body=b"bob's")
    role_name = uniq("vend")
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    vendor = make_user(iam, server.endpoint,
                       doc(allow(["sts:AssumeRole", "sts:TagSession"], role_arn)))
    prefix = "users/${aws:PrincipalTag/UserId}/"
    make_role(iam,
              doc(trust_stmt(vendor.arn, ["sts:AssumeRole", "sts:TagSession"])),
              doc(allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                        f"arn:aws:s3:::{bucket}/{prefix}*"),
                  allow("s3:ListBucket", f"arn:aws:s3:::{bucket}",
                        Condition={"StringLike": {"s3:prefix": [prefix + "*"]}})),
              name=role_name)

    def vend(user_id: str) -> Creds:
        creds, resp = vendor.assume(role_arn, f"vend-{user_id}",
                                    Tags=[{"Key": "UserId", "Value": user_id}],
                                    DurationSeconds=900)
        assert 0 < resp["PackedPolicySize"] <= 100
        return creds

    alice, bob = vend("alice").s3(), vend("bob").s3()
    alice.put_object(Bucket=bucket, Key="users/alice/notes.txt", Body=b"alice's")
    assert alice.get_object(Bucket=bucket, Key="users/alice/notes.txt")["Body"].read() == b"alice's"
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=bucket, Prefix="users/alice/")
            ["Contents"]] == ["users/alice/notes.txt"]
    denied(alice.get_object, Bucket=bucket, Key="users/bob/private.txt")
    denied(alice.put_object, Bucket=bucket, Key="users/bob/private.txt", Body=b"overwritten")
    denied(alice.delete_object, Bucket=bucket, Key="users/bob/private.txt")
    denied(alice.list_objects_v2, Bucket=bucket, Prefix="users/bob/")
    denied(alice.list_objects_v2, Bucket=bucket)

    assert bob.get_object(Bucket=bucket, Key="users/bob/private.txt")["Body"].read() == b"bob's"
    denied(bob.get_object, Bucket=bucket, Key="users/alice/notes.txt")
    bob.delete_object(Bucket=bucket, Key="users/bob/private.txt")
    assert s3.get_object(Bucket=bucket, Key="users/alice/notes.txt")["Body"].read() == b"alice's"

    # an untagged session of the same role has no UserId: it can touch nothing
    # (a policy variable whose key is missing makes its statement not match)
    untagged, _ = vendor.assume(role_arn, "untagged")
    denied(untagged.s3().get_object, Bucket=bucket, Key="users/alice/notes.txt")
    denied(untagged.s3().put_object, Bucket=bucket, Key="users//x", Body=b"x")


def test_session_tags_need_tag_session_and_limits(server, iam, account_id, assumable):
    user, role = assumable
    # a role whose trust policy allows sts:AssumeRole but not sts:TagSession
    strict = make_role(iam, doc(trust_stmt(user.arn)), doc(allow("s3:*")))
    strict_arn = strict["Arn"]
    iam.put_user_policy(UserName=user.name, PolicyName="strict", PolicyDocument=compact(
        doc(allow(["sts:AssumeRole", "sts:TagSession"], strict_arn))))
    user.assume(strict_arn, "untagged")  # no tags: fine
    denied(user.sts().assume_role, RoleArn=strict_arn, RoleSessionName="tagged",
           Tags=[{"Key": "UserId", "Value": "alice"}])

    # trust policy conditions on the requested tags (aws:RequestTag/...)
    cond = make_role(iam, doc(trust_stmt(
        user.arn, ["sts:AssumeRole", "sts:TagSession"],
        Condition={"StringEquals": {"aws:RequestTag/Team": "blue"}})))
    iam.put_user_policy(UserName=user.name, PolicyName="cond", PolicyDocument=compact(
        doc(allow(["sts:AssumeRole", "sts:TagSession"], cond["Arn"]))))
    user.assume(cond["Arn"], "blue", Tags=[{"Key": "Team", "Value": "blue"}])
    denied(user.sts().assume_role, RoleArn=cond["Arn"], RoleSessionName="red",
           Tags=[{"Key": "Team", "Value": "red"}])

    # limits (IAM User Guide, "Pass session tags"): at most 50 tags, keys of
    # at most 128 characters, values of at most 256
    nv = user.sts(validate=False)
    arn = role["Arn"]
    tags50 = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    user.assume(arn, "fifty", Tags=tags50)
    invalid(nv.assume_role, RoleArn=arn, RoleSessionName="many",
            Tags=tags50 + [{"Key": "k50", "Value": "v"}])
    user.assume(arn, "longkey", Tags=[{"Key": "k" * 128, "Value": "v" * 256}])
    invalid(nv.assume_role, RoleArn=arn, RoleSessionName="longkey",
            Tags=[{"Key": "k" * 129, "Value": "v"}])
    invalid(nv.assume_role, RoleArn=arn, RoleSessionName="longvalue",
            Tags=[{"Key": "k", "Value": "v" * 257}])


# ==========================================================================
# 6. A session policy narrows a role; role chaining honours the 1 h cap;
#    tokens tampered with or without the token are rejected; revoking
#    sessions (aws:TokenIssueTime) cuts off existing sessions, not new ones.
# ==========================================================================
def test_pattern6_session_policy_narrows_role(server, iam, account_id, bucket_factory, s3):
    bucket, other = bucket_factory(), bucket_factory()
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    s3.put_object(Bucket=other, Key="o.txt", Body=b"o")
    role_name = uniq("r")
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    user = make_user(iam, server.endpoint, doc(allow("sts:AssumeRole", role_arn)))
    make_role(iam, doc(trust_stmt(user.arn)),
              doc(allow("s3:*", [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])),
              name=role_name)

    # without a session policy: everything the role allows
    full, resp = user.assume(role_arn)
    full.s3().put_object(Bucket=bucket, Key="full.txt", Body=b"f")

    # an inline session policy narrows it to reads
    read_only = doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"))
    narrow, resp = user.assume(role_arn, Policy=compact(read_only))
    assert 0 < resp["PackedPolicySize"] <= 100
    assert narrow.s3().get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    denied(narrow.s3().put_object, Bucket=bucket, Key="b.txt", Body=b"b")
    denied(narrow.s3().list_objects_v2, Bucket=bucket)

    # a session policy can never grant more than the role has
    wide, _ = user.assume(role_arn, Policy=compact(doc(allow("s3:*", "*"))))
    assert wide.s3().get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    denied(wide.s3().get_object, Bucket=other, Key="o.txt")
    denied(wide.s3().put_object, Bucket=other, Key="x", Body=b"x")

    # a managed policy as a session policy (PolicyArns)
    managed, _ = user.assume(role_arn, PolicyArns=[{"arn": S3_READ}])
    assert managed.s3().get_object(Bucket=bucket, Key="a.txt")["Body"].read() == b"a"
    denied(managed.s3().put_object, Bucket=bucket, Key="m.txt", Body=b"m")

    # permissions are evaluated live: editing the role's policy changes the
    # sessions already issued
    iam.put_role_policy(RoleName=role_name, PolicyName="perms", PolicyDocument=compact(
        doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"))))
    denied(full.s3().put_object, Bucket=bucket, Key="full2.txt", Body=b"f")
    assert full.s3().get_object(Bucket=bucket, Key="full.txt")["Body"].read() == b"f"
    iam.delete_role_policy(RoleName=role_name, PolicyName="perms")
    denied(full.s3().get_object, Bucket=bucket, Key="full.txt")
    denied(narrow.s3().get_object, Bucket=bucket, Key="a.txt")


def test_pattern6_role_chaining_one_hour_cap(server, iam, account_id, bucket, s3):
    role_a_name, role_b_name = uniq("ra"), uniq("rb")
    arn_a = f"arn:aws:iam::{account_id}:role/{role_a_name}"
    arn_b = f"arn:aws:iam::{account_id}:role/{role_b_name}"
    user = make_user(iam, server.endpoint, doc(
        allow(["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"], arn_a)))
    make_role(iam, doc(trust_stmt(user.arn, ["sts:AssumeRole", "sts:TagSession",
                                             "sts:SetSourceIdentity"])),
              doc(allow(["sts:AssumeRole", "sts:TagSession"], arn_b)),
              name=role_a_name, max_session=43200)
    make_role(iam, doc(trust_stmt(arn_a, ["sts:AssumeRole", "sts:TagSession"])),
              doc(allow("s3:PutObject",
                        f"arn:aws:s3:::{bucket}/projects/${{aws:PrincipalTag/Project}}/*"),
                  allow("s3:PutObject",
                        f"arn:aws:s3:::{bucket}/teams/${{aws:PrincipalTag/Team}}/*")),
              name=role_b_name, max_session=43200)

    # the first hop may be long: role A allows 12 hours
    first, resp = user.assume(arn_a, "hop1", DurationSeconds=7200, SourceIdentity="alice",
                              Tags=[{"Key": "Project", "Value": "apollo"},
                                    {"Key": "Team", "Value": "blue"}],
                              TransitiveTagKeys=["Project"])
    assert_lifetime(first.expiration, 7200)
    assert resp["SourceIdentity"] == "alice"

    # chained: at most one hour, even though role B allows 12
    sts_a = first.sts(validate=False)
    err = invalid(sts_a.assume_role, RoleArn=arn_b, RoleSessionName="hop2",
                  DurationSeconds=3601)
    assert "1 hour" in err_message(err) or "role chaining" in err_message(err), err_message(err)
    invalid(sts_a.assume_role, RoleArn=arn_b, RoleSessionName="hop2", DurationSeconds=43200)
    r = sts_a.assume_role(RoleArn=arn_b, RoleSessionName="hop2", DurationSeconds=3600)
    assert_lifetime(r["Credentials"]["Expiration"], 3600)
    r = sts_a.assume_role(RoleArn=arn_b, RoleSessionName="hop2")
    assert_lifetime(r["Credentials"]["Expiration"], 3600)
    assert r["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{account_id}:assumed-role/{role_b_name}/hop2"
    # the source identity is sticky through the chain
    assert r.get("SourceIdentity") == "alice"
    second = Creds(server.endpoint, r["Credentials"])
    assert second.sts().get_caller_identity()["Arn"] == r["AssumedRoleUser"]["Arn"]

    # the transitive tag (Project) came along, the other one (Team) did not
    c = second.s3()
    c.put_object(Bucket=bucket, Key="projects/apollo/plan.txt", Body=b"p")
    denied(c.put_object, Bucket=bucket, Key="projects/gemini/plan.txt", Body=b"p")
    denied(c.put_object, Bucket=bucket, Key="teams/blue/x.txt", Body=b"t")

    # a transitive tag cannot be overridden further down the chain, and the
    # source identity cannot be changed
    with pytest.raises(ClientError) as ei:
        sts_a.assume_role(RoleArn=arn_b, RoleSessionName="hop2",
                          Tags=[{"Key": "Project", "Value": "gemini"}])
    assert err_status(ei.value) in (400, 403), ei.value.response
    with pytest.raises(ClientError) as ei:
        sts_a.assume_role(RoleArn=arn_b, RoleSessionName="hop2", SourceIdentity="mallory")
    assert err_status(ei.value) in (400, 403), ei.value.response

    # the chained session may not loop back into role A without trust
    denied(second.sts().assume_role, RoleArn=arn_a, RoleSessionName="loop")


def test_source_identity_needs_set_source_identity(server, iam, account_id):
    user = make_user(iam, server.endpoint, doc(allow(["sts:AssumeRole", "sts:SetSourceIdentity"],
                                                     "*")))
    role = make_role(iam, doc(trust_stmt(user.arn)))  # sts:AssumeRole only
    user.assume(role["Arn"], "plain")
    denied(user.sts().assume_role, RoleArn=role["Arn"], RoleSessionName="si",
           SourceIdentity="alice")
    role2 = make_role(iam, doc(trust_stmt(user.arn, ["sts:AssumeRole", "sts:SetSourceIdentity"])))
    _, r = user.assume(role2["Arn"], "si", SourceIdentity="alice")
    assert r["SourceIdentity"] == "alice"


def test_pattern6_tokens_tampered_missing_or_foreign_are_rejected(server, assumable, bucket, s3):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    user, role = assumable
    creds, _ = user.assume(role["Arn"], "tok")
    other, _ = user.assume(role["Arn"], "tok2")
    ep = server.endpoint
    assert s3_client(ep, creds.key, creds.secret, creds.token) \
        .get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"

    # the temporary key without its token: unknown key (S3), invalid (STS, IAM)
    expect_error(s3_client(ep, creds.key, creds.secret).get_object, Bucket=bucket, Key="k",
                 error="InvalidAccessKeyId", http=403)
    expect_error(sts_client(ep, creds.key, creds.secret).get_caller_identity,
                 error="InvalidClientTokenId", http=403)
    expect_error(iam_client_tok(ep, creds.key, creds.secret).list_users,
                 error="InvalidClientTokenId", http=403)

    # tampered, truncated or made-up tokens: S3 says InvalidToken (400),
    # STS and IAM say InvalidClientTokenId (403)
    for bad in (tamper(creds.token), creds.token[:-8], creds.token[: len(creds.token) // 2],
                "IQoJb3JpZ2luX2VjEJr" + "A" * 200, "garbage"):
        expect_error(s3_client(ep, creds.key, creds.secret, bad).get_object,
                     Bucket=bucket, Key="k", error="InvalidToken", http=400)
        expect_error(sts_client(ep, creds.key, creds.secret, bad).get_caller_identity,
                     error="InvalidClientTokenId", http=403)
        expect_error(iam_client_tok(ep, creds.key, creds.secret, bad).list_users,
                     error="InvalidClientTokenId", http=403)

    # another session's token with this key: rejected
    with pytest.raises(ClientError) as ei:
        s3_client(ep, creds.key, creds.secret, other.token).get_object(Bucket=bucket, Key="k")
    assert (err_code(ei.value), err_status(ei.value)) in (
        ("InvalidToken", 400), ("InvalidAccessKeyId", 403), ("SignatureDoesNotMatch", 403)), \
        ei.value.response
    with pytest.raises(ClientError) as ei:
        sts_client(ep, creds.key, creds.secret, other.token).get_caller_identity()
    assert err_status(ei.value) == 403, ei.value.response
    assert err_code(ei.value) in ("InvalidClientTokenId", "SignatureDoesNotMatch")

    # the right token but the wrong secret: the signature does not match
    expect_error(s3_client(ep, creds.key, other.secret, creds.token).get_object,
                 Bucket=bucket, Key="k", error="SignatureDoesNotMatch", http=403)
    expect_error(sts_client(ep, creds.key, other.secret, creds.token).get_caller_identity,
                 error="SignatureDoesNotMatch", http=403)

    # a session token sent with a long-term key is not accepted either
    with pytest.raises(ClientError) as ei:
        s3_client(ep, user.key, user.secret, creds.token).get_object(Bucket=bucket, Key="k")
    assert err_status(ei.value) in (400, 403), ei.value.response

    # nothing was broken by all that: the real credentials still work
    assert creds.s3().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_pattern6_revoke_older_sessions(server, iam, account_id, bucket, s3):
    """IAM User Guide, "Revoke IAM role temporary security credentials": an
    inline role policy AWSRevokeOlderSessions denies everything to sessions
    whose aws:TokenIssueTime is before the revocation time; sessions
    assumed afterwards are not affected."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    role_name = uniq("r")
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    user = make_user(iam, server.endpoint, doc(allow("sts:AssumeRole", role_arn)))
    make_role(iam, doc(trust_stmt(user.arn)),
              doc(allow(["s3:GetObject", "s3:ListBucket"],
                        [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])),
              name=role_name)

    old, _ = user.assume(role_arn, "old")
    assert old.s3().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    time.sleep(1.2)  # the revocation time is whole seconds after the old session
    revoke_at = utcnow().replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    iam.put_role_policy(RoleName=role_name, PolicyName="AWSRevokeOlderSessions",
                        PolicyDocument=json.dumps({
                            "Version": "2012-10-17",
                            "Statement": [{
                                "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                                "Condition": {"DateLessThan": {"aws:TokenIssueTime": revoke_at}},
                            }]}))
    denied(old.s3().get_object, Bucket=bucket, Key="k")
    denied(old.s3().list_objects_v2, Bucket=bucket)
    # GetCallerIdentity needs no permission: it still answers
    assert old.sts().get_caller_identity()["Arn"].endswith(f"/{role_name}/old")

    new, _ = user.assume(role_arn, "new")
    assert new.s3().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert [o["Key"] for o in new.s3().list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]

    # the user's long-term credentials are not sessions and are unaffected
    # by the role's policy; removing the revocation policy restores the old
    # session
    iam.delete_role_policy(RoleName=role_name, PolicyName="AWSRevokeOlderSessions")
    assert old.s3().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_presigned_url_with_temporary_credentials(server, assumable, bucket, s3):
    s3.put_object(Bucket=bucket, Key="dl/file.bin", Body=b"payload")
    user, role = assumable
    creds, _ = user.assume(role["Arn"], "presign", DurationSeconds=900)
    url = creds.s3().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dl/file.bin"}, ExpiresIn=300)
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    assert ("X-Amz-Security-Token", creds.token) in query
    assert any(k == "X-Amz-Credential" and v.startswith(creds.key + "/") for k, v in query)

    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"payload"

    def with_query(q):
        return urlunsplit(parts._replace(query=urlencode(q)))

    # without X-Amz-Security-Token the temporary key is unknown
    r = requests.get(with_query([(k, v) for k, v in query if k != "X-Amz-Security-Token"]),
                     timeout=30)
    assert r.status_code == 403, r.text
    assert s3util.error_code(r.content) == "InvalidAccessKeyId", r.text
    # a tampered token is rejected
    r = requests.get(with_query([(k, tamper(v) if k == "X-Amz-Security-Token" else v)
                                 for k, v in query]), timeout=30)
    assert r.status_code == 400, r.text
    assert s3util.error_code(r.content) == "InvalidToken", r.text

    # the URL dies with the session's permissions: revoke the role's sessions
    time.sleep(1.2)
    revoke_at = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    iam = iam_client(server.endpoint, server.access_key, server.secret_key)
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="AWSRevokeOlderSessions",
                        PolicyDocument=compact(doc({
                            "Effect": "Deny", "Action": "*", "Resource": "*",
                            "Condition": {"DateLessThan": {"aws:TokenIssueTime": revoke_at}}})))
    try:
        r = requests.get(url, timeout=30)
        assert r.status_code == 403, r.text
        assert s3util.error_code(r.content) == "AccessDenied", r.text
    finally:
        iam.delete_role_policy(RoleName=role["RoleName"], PolicyName="AWSRevokeOlderSessions")


# ==========================================================================
# AssumeRole validation (STS API Reference, AssumeRole: parameters)
# ==========================================================================
@pytest.mark.parametrize("name", ["a", "x" * 65, "bad name", "bad/name", "bad:name",
                                  "bad*name", "ünïcode"])
def test_assume_role_session_name_invalid(assumable, name):
    user, role = assumable
    invalid(user.sts(validate=False).assume_role, RoleArn=role["Arn"], RoleSessionName=name)


@pytest.mark.parametrize("name", ["ab", "x" * 64, "Az09_+=,.@-", "user@example.com"])
def test_assume_role_session_name_valid(assumable, account_id, name):
    user, role = assumable
    creds, r = user.assume(role["Arn"], name, DurationSeconds=900)
    assert r["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{account_id}:assumed-role/{role['RoleName']}/{name}"
    assert r["AssumedRoleUser"]["AssumedRoleId"].endswith(":" + name)


@pytest.mark.parametrize("seconds", [0, 899, 7201, 43201])
def test_assume_role_duration_invalid(assumable, seconds):
    """900 up to the role's MaxSessionDuration (here 7200)."""
    user, role = assumable
    invalid(user.sts(validate=False).assume_role, RoleArn=role["Arn"],
            RoleSessionName="dur", DurationSeconds=seconds)


def test_assume_role_duration_limits(server, iam, assumable):
    user, role = assumable
    for seconds in (900, 3600, 7200):
        creds, _ = user.assume(role["Arn"], "dur", DurationSeconds=seconds)
        assert_lifetime(creds.expiration, seconds)
    creds, _ = user.assume(role["Arn"], "dur")  # default: one hour
    assert_lifetime(creds.expiration, 3600)
    # a role with the default MaxSessionDuration (1 hour)
    default = make_role(iam, doc(trust_stmt(user.arn)))
    iam.put_user_policy(UserName=user.name, PolicyName="default", PolicyDocument=compact(
        doc(allow("sts:AssumeRole", default["Arn"]))))
    assert default["MaxSessionDuration"] == 3600
    creds, _ = user.assume(default["Arn"], "dur", DurationSeconds=3600)
    assert_lifetime(creds.expiration, 3600)
    err = invalid(user.sts().assume_role, RoleArn=default["Arn"], RoleSessionName="dur",
                  DurationSeconds=3601)
    assert "MaxSessionDuration" in err_message(err), err_message(err)


def test_assume_role_policy_parameters(server, iam, assumable):
    user, role = assumable
    nv = user.sts(validate=False)
    arn = role["Arn"]

    def policy_of(n: int) -> str:
        base = compact(doc(allow("s3:GetObject", "arn:aws:s3:::b/")))
        pad = n - len(base)
        out = compact(doc(allow("s3:GetObject", "arn:aws:s3:::b/" + "k" * pad)))
        assert len(out) == n
        return out

    # Policy: at most 2048 characters
    user.assume(arn, "p2048", Policy=policy_of(2048))
    invalid(nv.assume_role, RoleArn=arn, RoleSessionName="p2049", Policy=policy_of(2049))
    invalid(nv.assume_role, RoleArn=arn, RoleSessionName="pbig", Policy=policy_of(4096))
    # not JSON / not a policy
    expect_error(nv.assume_role, RoleArn=arn, RoleSessionName="pbad", Policy="{not json",
                 error="MalformedPolicyDocument", http=400)
    # PolicyArns: at most 10
    pols = [iam.create_policy(PolicyName=uniq("p"), PolicyDocument=compact(
        doc(allow("s3:GetObject", "*"))))["Policy"]["Arn"] for _ in range(11)]
    user.assume(arn, "arns10", PolicyArns=[{"arn": a} for a in pols[:10]])
    invalid(nv.assume_role, RoleArn=arn, RoleSessionName="arns11",
            PolicyArns=[{"arn": a} for a in pols])
    # RoleArn must be a role ARN
    invalid(nv.assume_role, RoleArn="not-an-arn", RoleSessionName="arn")


def test_assume_role_denied_cases(server, iam, account_id, assumable):
    user, role = assumable
    # a role that does not exist: AccessDenied, as for one that does not trust you
    err = denied(user.sts().assume_role,
                 RoleArn=f"arn:aws:iam::{account_id}:role/{uniq('missing')}",
                 RoleSessionName="xx")
    assert "sts:AssumeRole" in err_message(err)
    # the identity policy allows it, the trust policy names someone else
    other = make_user(iam, server.endpoint)
    untrusting = make_role(iam, doc(trust_stmt(other.arn)))
    iam.put_user_policy(UserName=user.name, PolicyName="untrusting", PolicyDocument=compact(
        doc(allow("sts:AssumeRole", untrusting["Arn"]))))
    denied(user.sts().assume_role, RoleArn=untrusting["Arn"], RoleSessionName="xx")
    # a trust policy with a condition on sts:RoleSessionName
    named = make_role(iam, doc(trust_stmt(
        user.arn, Condition={"StringLike": {"sts:RoleSessionName": "${aws:username}"}})))
    iam.put_user_policy(UserName=user.name, PolicyName="named", PolicyDocument=compact(
        doc(allow("sts:AssumeRole", named["Arn"]))))
    user.assume(named["Arn"], user.name)
    denied(user.sts().assume_role, RoleArn=named["Arn"], RoleSessionName="someone-else")


def test_root_cannot_assume_role(iam, account_id, root_sts):
    """AWS refuses AssumeRole with root credentials ("Roles may not be assumed
    by root accounts."), even when the trust policy trusts the account."""
    role = make_role(iam, doc(trust_stmt(f"arn:aws:iam::{account_id}:root")))
    denied(root_sts.assume_role, RoleArn=role["Arn"], RoleSessionName="root")


# ==========================================================================
# GetSessionToken, GetCallerIdentity, GetAccessKeyInfo
# ==========================================================================
def test_get_session_token_for_user(server, iam, account_id, bucket, s3):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    r = user.sts().get_session_token(DurationSeconds=900)
    assert_temp_creds(r["Credentials"])
    assert_lifetime(r["Credentials"]["Expiration"], 900)
    creds = Creds(server.endpoint, r["Credentials"])
    # the session is the user: same identity, same permissions (live)
    ident = creds.sts().get_caller_identity()
    assert ident["Arn"] == user.arn
    assert ident["UserId"] == iam.get_user(UserName=user.name)["User"]["UserId"]
    assert creds.s3().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    denied(creds.s3().put_object, Bucket=bucket, Key="k2", Body=b"x")
    iam.delete_user_policy(UserName=user.name, PolicyName="perms")
    denied(creds.s3().get_object, Bucket=bucket, Key="k")

    # default 12 hours, 900..129600 for an IAM user
    assert_lifetime(user.sts().get_session_token()["Credentials"]["Expiration"], 43200)
    assert_lifetime(user.sts().get_session_token(DurationSeconds=129600)
                    ["Credentials"]["Expiration"], 129600)
    nv = user.sts(validate=False)
    invalid(nv.get_session_token, DurationSeconds=899)
    invalid(nv.get_session_token, DurationSeconds=129601)

    # not with session credentials (of any kind)
    denied(creds.sts().get_session_token)
    role = make_role(iam, doc(trust_stmt(user.arn)))
    iam.put_user_policy(UserName=user.name, PolicyName="assume", PolicyDocument=compact(
        doc(allow("sts:AssumeRole", role["Arn"]))))
    role_creds, _ = user.assume(role["Arn"], "gst-chain")
    denied(role_creds.sts().get_session_token)
    denied(role_creds.sts().get_federation_token, Name="fed",
           Policy=compact(doc(allow("s3:*", "*"))))


def test_get_session_token_credentials_cannot_call_iam_without_mfa(server, iam):
    """STS API Reference, GetSessionToken: credentials it returns 'cannot call
    any IAM API operations unless MFA authentication information is included
    in the request'."""
    user = make_user(iam, server.endpoint, doc(allow("iam:*", "*")))
    assert iam_client(server.endpoint, user.key, user.secret).get_user(UserName=user.name)
    creds = Creds(server.endpoint, user.sts().get_session_token(DurationSeconds=900)
                  ["Credentials"])
    denied(creds.iam().get_user, UserName=user.name)


def test_get_caller_identity_for_each_principal(server, iam, account_id, root_sts, assumable):
    ident = root_sts.get_caller_identity()
    assert ident == {**ident, "UserId": account_id, "Account": account_id,
                     "Arn": f"arn:aws:iam::{account_id}:root"}

    # needs no permission, even when explicitly denied
    user = make_user(iam, server.endpoint, doc(
        {"Effect": "Deny", "Action": "sts:GetCallerIdentity", "Resource": "*"}))
    ident = user.sts().get_caller_identity()
    assert ident["Arn"] == user.arn
    assert ident["Account"] == account_id
    assert is_unique_id(ident["UserId"], "AIDA")
    assert ident["UserId"] == iam.get_user(UserName=user.name)["User"]["UserId"]

    u, role = assumable
    creds, r = u.assume(role["Arn"], "who-am-i")
    ident = creds.sts().get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{account_id}:assumed-role/{role['RoleName']}/who-am-i"
    assert ident["UserId"] == f"{role['RoleId']}:who-am-i"
    assert ident["Account"] == account_id


def test_get_access_key_info(server, iam, account_id, root_sts, assumable):
    user, role = assumable
    assert root_sts.get_access_key_info(AccessKeyId=server.access_key)["Account"] == account_id
    assert root_sts.get_access_key_info(AccessKeyId=user.key)["Account"] == account_id
    creds, _ = user.assume(role["Arn"], "info")
    assert user.sts().get_access_key_info(AccessKeyId=creds.key)["Account"] == account_id
    tenant = create_account(server)
    assert root_sts.get_access_key_info(AccessKeyId=tenant.access_key)["Account"] == tenant.id
