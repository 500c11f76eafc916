"""The policy engine end to end: every S3 and IAM request allowed or denied as
AWS's documented evaluation logic decides, through boto3 and raw HTTP.

Checked against AWS's documentation:
  - IAM User Guide, "Policy evaluation logic" (explicit deny wins; same-account
    allow is the union of identity and resource policies; cross-account needs
    both sides; permissions boundaries never widen, but do not limit a
    resource policy's grant to a user ARN), "Condition operators" (a missing
    key makes a condition false, except for negated operators and ...IfExists),
    "Policy variables", and the examples "Amazon S3: Allows IAM users access to
    their S3 home directory", "IAM: Allows IAM users to manage their own
    credentials";
  - S3 User Guide, "Bucket policy examples" (public read, enforce TLS with
    aws:SecureTransport, cross-account), "Blocking public access" (the meaning
    of "public", BlockPublicPolicy, RestrictPublicBuckets), "Troubleshoot
    access denied (403 Forbidden) errors" (the message format);
  - S3 API Reference: PutBucketPolicy / GetBucketPolicy / DeleteBucketPolicy
    (MalformedPolicy, NoSuchBucketPolicy, 405 for other accounts, the bucket
    owner's root is never locked out), GetObject (403 instead of 404 without
    s3:ListBucket), DeleteObjects (per-key errors);
  - IAM API Reference: SimulatePrincipalPolicy, SimulateCustomPolicy.

Every test makes its own users, groups, buckets and accounts (fresh names), so
the tests are independent of each other and of their order. Buckets are
cleaned up by the operator's root, which may always delete a bucket policy.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import conftest
import s3util
from iamutil import compact, create_account, expect_error, iam_client, uniq
from iamutil import code as err_code
from iamutil import message as err_message
from iamutil import status as err_status

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
IAM_READ = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


# --------------------------------------------------------------------------
# policy documents
# --------------------------------------------------------------------------
def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    st.update(extra)
    return st


def deny(action, resource="*", **extra) -> dict:
    st = {"Effect": "Deny", "Action": action, "Resource": resource}
    st.update(extra)
    return st


def obj_arn(bucket: str, key: str = "*") -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def public_read(bucket: str, prefix: str = "") -> dict:
    """S3 User Guide: "Granting read-only permission to a public anonymous user"."""
    return doc({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                "Action": ["s3:GetObject"], "Resource": [obj_arn(bucket, prefix + "*")]})


# --------------------------------------------------------------------------
# principals
# --------------------------------------------------------------------------
class User:
    """An IAM user with an access key, and clients that use it."""

    def __init__(self, endpoint: str, iam, name: str, arn: str, key: dict):
        self.endpoint = endpoint
        self.admin_iam = iam          # the IAM client of the account that owns the user
        self.name = name
        self.arn = arn
        self.key = key["AccessKeyId"]
        self.secret = key["SecretAccessKey"]

    def s3(self, **cfg):
        return conftest.make_client(self.endpoint, self.key, self.secret, **cfg)

    def iam(self):
        return iam_client(self.endpoint, self.key, self.secret)

    def put_policy(self, policy: dict, name: str = "perms"):
        self.admin_iam.put_user_policy(UserName=self.name, PolicyName=name,
                                       PolicyDocument=compact(policy))

    def delete_policy(self, name: str = "perms"):
        self.admin_iam.delete_user_policy(UserName=self.name, PolicyName=name)


def make_user(iam, endpoint: str, policy: dict | None = None, *, managed=(),
              boundary: str | None = None, tags: list | None = None,
              name: str | None = None) -> User:
    name = name or uniq("u")
    kw = {}
    if boundary:
        kw["PermissionsBoundary"] = boundary
    if tags:
        kw["Tags"] = tags
    arn = iam.create_user(UserName=name, **kw)["User"]["Arn"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="perms", PolicyDocument=compact(policy))
    for p in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=p)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return User(endpoint, iam, name, arn, key)


def new_managed_policy(iam, policy: dict) -> str:
    return iam.create_policy(PolicyName=uniq("p"), PolicyDocument=compact(policy))["Policy"]["Arn"]


# --------------------------------------------------------------------------
# assertions
# --------------------------------------------------------------------------
def denied(fn, *args, **kwargs) -> ClientError:
    """The call fails with AccessDenied / HTTP 403."""
    return expect_error(fn, *args, error="AccessDenied", http=403, **kwargs)


def denial(principal_arn: str, action: str, resource: str) -> str:
    """The start of AWS's detailed same-account AccessDenied message for S3."""
    return (f"User: {principal_arn} is not authorized to perform: {action} "
            f'on resource: "{resource}"')


def assert_message(exc: ClientError, *parts: str):
    msg = err_message(exc)
    for p in parts:
        assert p in msg, f"expected {p!r} in the AccessDenied message, got {msg!r}"


def head_status(client, bucket: str, key: str) -> int:
    try:
        client.head_object(Bucket=bucket, Key=key)
        return 200
    except ClientError as e:
        return err_status(e)


def anon(method: str, url: str, **kw) -> requests.Response:
    """An anonymous (unsigned) request."""
    return requests.request(method, url, timeout=30, allow_redirects=False, **kw)


def xml_code(r: requests.Response) -> str | None:
    return s3util.error_code(r.content) if r.content else None


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


@pytest.fixture
def new_bucket(s3):
    """Fresh buckets of the operator account. At teardown the public access
    block and bucket policy go first (a bucket policy may deny even the root
    the object operations that emptying the bucket needs)."""
    created: list[str] = []

    def factory(*objects: str, tags: dict | None = None) -> str:
        name = s3util.unique_bucket_name("pol")
        s3.create_bucket(Bucket=name)
        created.append(name)
        for key in objects:
            kw = {}
            if tags and key in tags:
                kw["Tagging"] = tags[key]
            s3.put_object(Bucket=name, Key=key, Body=f"body of {key}".encode(), **kw)
        return name

    yield factory
    for name in created:
        for fn in (s3.delete_public_access_block, s3.delete_bucket_policy):
            try:
                fn(Bucket=name)
            except ClientError:
                pass
        s3util.empty_and_delete_bucket(s3, name)


@pytest.fixture
def tenant(server):
    """A second account (account B), with its own root keys and IAM."""
    return create_account(server)


# ==========================================================================
# 1. Home directories: ${aws:username} in Resource; s3:prefix on ListBucket
# ==========================================================================
def test_home_directory_get_only_own_prefix(server, iam, account_id, new_bucket, s3):
    bucket = new_bucket()
    user = make_user(iam, server.endpoint, doc(
        allow("s3:GetObject", obj_arn(bucket, "home/${aws:username}/*"))))
    other = uniq("someone")
    for key in (f"home/{user.name}/notes.txt", f"home/{user.name}/deep/er.txt",
                f"home/{other}/notes.txt", "top.txt", f"home/{user.name}"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    c = user.s3()

    assert c.get_object(Bucket=bucket, Key=f"home/{user.name}/notes.txt")["Body"].read() \
        == f"home/{user.name}/notes.txt".encode()
    assert c.get_object(Bucket=bucket, Key=f"home/{user.name}/deep/er.txt")["Body"].read()
    # HeadObject is authorized as s3:GetObject
    c.head_object(Bucket=bucket, Key=f"home/{user.name}/notes.txt")

    for key in (f"home/{other}/notes.txt", "top.txt", f"home/{user.name}"):
        e = denied(c.get_object, Bucket=bucket, Key=key)
        assert_message(e, denial(user.arn, "s3:GetObject", obj_arn(bucket, key)),
                       "because no identity-based policy allows the s3:GetObject action")
    # the variable is the caller's name, not a wildcard
    denied(c.get_object, Bucket=bucket, Key=f"home/{user.name}x/notes.txt")

    # reading is all it may do, even in its own prefix
    key = f"home/{user.name}/new.txt"
    e = denied(c.put_object, Bucket=bucket, Key=key, Body=b"x")
    assert_message(e, denial(user.arn, "s3:PutObject", obj_arn(bucket, key)),
                   "because no identity-based policy allows the s3:PutObject action")
    denied(c.delete_object, Bucket=bucket, Key=f"home/{user.name}/notes.txt")
    denied(c.list_objects_v2, Bucket=bucket, Prefix=f"home/{user.name}/")
    assert head_status(s3, bucket, key) == 404  # nothing was written


def test_home_directory_listing_restricted_by_prefix(server, iam, new_bucket, s3):
    """The IAM User Guide's home-directory policy: ListBucket only for the
    prefixes "", "home/" and "home/${aws:username}/*"."""
    bucket = new_bucket()
    user = make_user(iam, server.endpoint, doc(
        {"Sid": "ListObjectsInBucket", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": bucket_arn(bucket),
         "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}},
        allow("s3:*", [obj_arn(bucket, "home/${aws:username}"),
                       obj_arn(bucket, "home/${aws:username}/*")])))
    other = uniq("other")
    for key in (f"home/{user.name}/a.txt", f"home/{user.name}/b.txt", f"home/{other}/c.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    c = user.s3()

    own = c.list_objects_v2(Bucket=bucket, Prefix=f"home/{user.name}/")
    assert [o["Key"] for o in own["Contents"]] == [f"home/{user.name}/a.txt",
                                                   f"home/{user.name}/b.txt"]
    # the root listing and the home/ listing (explicit empty prefix, delimiter /)
    root = c.list_objects_v2(Bucket=bucket, Prefix="", Delimiter="/")
    assert [p["Prefix"] for p in root.get("CommonPrefixes", [])] == ["home/"]
    homes = c.list_objects_v2(Bucket=bucket, Prefix="home/", Delimiter="/")
    assert sorted(p["Prefix"] for p in homes["CommonPrefixes"]) == \
        sorted([f"home/{user.name}/", f"home/{other}/"])
    # ListObjects v1 is the same action with the same key
    assert len(c.list_objects(Bucket=bucket, Prefix=f"home/{user.name}/")["Contents"]) == 2

    e = denied(c.list_objects_v2, Bucket=bucket, Prefix=f"home/{other}/")
    assert_message(e, denial(user.arn, "s3:ListBucket", bucket_arn(bucket)))
    denied(c.list_objects, Bucket=bucket, Prefix=f"home/{other}/")
    denied(c.list_objects_v2, Bucket=bucket, Prefix="ho")
    # the s3:* grant on its home works: write, read back, delete
    c.put_object(Bucket=bucket, Key=f"home/{user.name}/new.txt", Body=b"mine")
    assert c.get_object(Bucket=bucket, Key=f"home/{user.name}/new.txt")["Body"].read() == b"mine"
    c.delete_object(Bucket=bucket, Key=f"home/{user.name}/new.txt")
    denied(c.put_object, Bucket=bucket, Key=f"home/{other}/new.txt", Body=b"x")


def test_listing_condition_on_prefix_and_delimiter(server, iam, new_bucket, s3):
    """The older form of the example: the root and home/ listings only with
    delimiter "/" (StringEquals on s3:prefix and s3:delimiter, both must hold)."""
    bucket = new_bucket("home/x/1", "home/y/2")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:ListBucket", bucket_arn(bucket),
              Condition={"StringEquals": {"s3:prefix": ["", "home/"], "s3:delimiter": ["/"]}})))
    c = user.s3()
    assert [p["Prefix"] for p in
            c.list_objects_v2(Bucket=bucket, Prefix="home/", Delimiter="/")["CommonPrefixes"]] \
        == ["home/x/", "home/y/"]
    c.list_objects_v2(Bucket=bucket, Prefix="", Delimiter="/")
    # without the delimiter the s3:delimiter key is missing: the condition is false
    denied(c.list_objects_v2, Bucket=bucket, Prefix="home/")
    denied(c.list_objects_v2, Bucket=bucket, Prefix="home/", Delimiter="|")
    denied(c.list_objects_v2, Bucket=bucket, Prefix="home/x/", Delimiter="/")


def test_max_keys_condition(server, iam, new_bucket):
    """S3 User Guide: limit s3:max-keys with NumericLessThanEquals."""
    bucket = new_bucket("a", "b", "c")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:ListBucket", bucket_arn(bucket),
              Condition={"NumericLessThanEquals": {"s3:max-keys": "2"}})))
    c = user.s3()
    r = c.list_objects_v2(Bucket=bucket, MaxKeys=2)
    assert [o["Key"] for o in r["Contents"]] == ["a", "b"] and r["IsTruncated"]
    denied(c.list_objects_v2, Bucket=bucket, MaxKeys=3)


def test_get_missing_key_is_403_without_list_bucket(server, iam, new_bucket):
    """GetObject: without s3:ListBucket a missing key is 403 AccessDenied, with
    it 404 NoSuchKey (S3 API Reference, GetObject "Permissions")."""
    bucket = new_bucket("present")
    user = make_user(iam, server.endpoint, doc(allow("s3:GetObject", obj_arn(bucket))))
    c = user.s3()
    c.get_object(Bucket=bucket, Key="present")
    denied(c.get_object, Bucket=bucket, Key="absent")
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket)),
                        allow("s3:ListBucket", bucket_arn(bucket))))
    expect_error(c.get_object, Bucket=bucket, Key="absent", error="NoSuchKey", http=404)


# ==========================================================================
# 2. Groups
# ==========================================================================
def test_group_policies_apply_to_members(server, iam, new_bucket):
    bucket = new_bucket("report.csv")
    user = make_user(iam, server.endpoint)
    c = user.s3()
    denied(c.get_object, Bucket=bucket, Key="report.csv")

    readers = uniq("g")
    iam.create_group(GroupName=readers)
    iam.put_group_policy(GroupName=readers, PolicyName="read",
                         PolicyDocument=compact(doc(allow("s3:GetObject", obj_arn(bucket)))))
    writers = uniq("g")
    iam.create_group(GroupName=writers)
    iam.attach_group_policy(GroupName=writers, PolicyArn=new_managed_policy(
        iam, doc(allow("s3:PutObject", obj_arn(bucket, "uploads/*")))))

    iam.add_user_to_group(GroupName=readers, UserName=user.name)
    assert c.get_object(Bucket=bucket, Key="report.csv")["Body"].read() == b"body of report.csv"
    denied(c.put_object, Bucket=bucket, Key="uploads/1", Body=b"x")

    iam.add_user_to_group(GroupName=writers, UserName=user.name)
    c.put_object(Bucket=bucket, Key="uploads/1", Body=b"x")         # managed policy of a group
    c.get_object(Bucket=bucket, Key="report.csv")                   # both groups count
    denied(c.put_object, Bucket=bucket, Key="elsewhere", Body=b"x")

    # removal takes effect on the very next request
    iam.remove_user_from_group(GroupName=readers, UserName=user.name)
    e = denied(c.get_object, Bucket=bucket, Key="report.csv")
    assert_message(e, "because no identity-based policy allows the s3:GetObject action")
    c.put_object(Bucket=bucket, Key="uploads/2", Body=b"x")
    iam.remove_user_from_group(GroupName=writers, UserName=user.name)
    denied(c.put_object, Bucket=bucket, Key="uploads/3", Body=b"x")


def test_group_deny_overrides_user_allow(server, iam, new_bucket):
    bucket = new_bucket("a", "secret/b")
    user = make_user(iam, server.endpoint, doc(allow("s3:GetObject", obj_arn(bucket))))
    g = uniq("g")
    iam.create_group(GroupName=g)
    iam.put_group_policy(GroupName=g, PolicyName="nosecret",
                         PolicyDocument=compact(doc(deny("s3:*", obj_arn(bucket, "secret/*")))))
    c = user.s3()
    c.get_object(Bucket=bucket, Key="secret/b")
    iam.add_user_to_group(GroupName=g, UserName=user.name)
    e = denied(c.get_object, Bucket=bucket, Key="secret/b")
    assert_message(e, denial(user.arn, "s3:GetObject", obj_arn(bucket, "secret/b")),
                   "with an explicit deny in an identity-based policy")
    c.get_object(Bucket=bucket, Key="a")


# ==========================================================================
# 3. Bucket policies: same account and cross-account
# ==========================================================================
def test_same_account_bucket_policy_alone_grants_a_user(server, iam, new_bucket, s3):
    """Within one account the allow is the union of identity and resource
    policies: a bucket policy naming the user is enough."""
    bucket = new_bucket("doc.txt", "other.txt")
    user = make_user(iam, server.endpoint)
    c = user.s3()
    e = denied(c.get_object, Bucket=bucket, Key="doc.txt")
    assert_message(e, "because no identity-based policy allows the s3:GetObject action")
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "s3:GetObject",
         "Resource": obj_arn(bucket, "doc.txt")})))
    assert c.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"body of doc.txt"
    denied(c.get_object, Bucket=bucket, Key="other.txt")
    denied(c.put_object, Bucket=bucket, Key="doc.txt", Body=b"x")


def test_bucket_policy_explicit_deny_beats_identity_allow(server, iam, new_bucket, s3):
    bucket = new_bucket("public/a", "private/b")
    user = make_user(iam, server.endpoint, doc(allow("s3:*", "*")))
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Sid": "NoPrivate", "Effect": "Deny", "Principal": {"AWS": user.arn},
         "Action": "s3:*", "Resource": obj_arn(bucket, "private/*")})))
    c = user.s3()
    c.get_object(Bucket=bucket, Key="public/a")
    e = denied(c.get_object, Bucket=bucket, Key="private/b")
    assert_message(e, denial(user.arn, "s3:GetObject", obj_arn(bucket, "private/b")),
                   "with an explicit deny in a resource-based policy")
    denied(c.delete_object, Bucket=bucket, Key="private/b")


def test_cross_account_user_needs_both_policies(server, tenant, new_bucket, s3):
    """A bucket policy granting account B's user read: B's identity policy
    must allow it too, and neither side alone is enough."""
    bucket = new_bucket("shared/doc.txt", "private/x.txt")
    b_iam = tenant.iam()
    b_user = make_user(b_iam, server.endpoint)
    assert b_user.arn == f"arn:aws:iam::{tenant.id}:user/{b_user.name}"
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Sid": "CrossAccountRead", "Effect": "Allow", "Principal": {"AWS": b_user.arn},
         "Action": ["s3:GetObject"], "Resource": obj_arn(bucket, "shared/*")})))
    c = b_user.s3()

    # resource policy only: B has not delegated anything to its user
    denied(c.get_object, Bucket=bucket, Key="shared/doc.txt")

    # both sides
    b_user.put_policy(doc(allow(["s3:GetObject", "s3:PutObject"], obj_arn(bucket))))
    assert c.get_object(Bucket=bucket, Key="shared/doc.txt")["Body"].read() \
        == b"body of shared/doc.txt"
    denied(c.get_object, Bucket=bucket, Key="private/x.txt")   # outside the bucket grant
    denied(c.put_object, Bucket=bucket, Key="shared/new", Body=b"x")  # not granted by A
    assert head_status(s3, bucket, "shared/new") == 404

    # B's own root is not the user the bucket policy names
    denied(tenant.s3().get_object, Bucket=bucket, Key="shared/doc.txt")

    # identity policy only
    s3.delete_bucket_policy(Bucket=bucket)
    denied(c.get_object, Bucket=bucket, Key="shared/doc.txt")


def test_cross_account_root_principal_delegates_to_identity_policies(server, tenant,
                                                                      new_bucket, s3):
    """A bucket policy naming account B (its root ARN, or the bare account id)
    delegates to B: B's root may use it, B's users only as far as B's identity
    policies allow."""
    bucket = new_bucket("shared/doc.txt")
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{tenant.id}:root"},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [bucket_arn(bucket), obj_arn(bucket)]})))
    b_root = tenant.s3()
    assert b_root.get_object(Bucket=bucket, Key="shared/doc.txt")["Body"].read()
    assert [o["Key"] for o in b_root.list_objects_v2(Bucket=bucket)["Contents"]] \
        == ["shared/doc.txt"]
    denied(b_root.put_object, Bucket=bucket, Key="x", Body=b"x")

    b_iam = tenant.iam()
    plain = make_user(b_iam, server.endpoint)
    denied(plain.s3().get_object, Bucket=bucket, Key="shared/doc.txt")
    reader = make_user(b_iam, server.endpoint, managed=[S3_READ])
    assert reader.s3().get_object(Bucket=bucket, Key="shared/doc.txt")["Body"].read()
    reader.s3().list_objects_v2(Bucket=bucket)

    # the bare account id is the same principal
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": tenant.id}, "Action": "s3:GetObject",
         "Resource": obj_arn(bucket)})))
    reader.s3().get_object(Bucket=bucket, Key="shared/doc.txt")
    denied(reader.s3().list_objects_v2, Bucket=bucket)
    denied(plain.s3().get_object, Bucket=bucket, Key="shared/doc.txt")


def test_bucket_policy_operations_from_another_account_are_405(server, tenant, new_bucket, s3):
    """PutBucketPolicy/GetBucketPolicy/DeleteBucketPolicy: with permission
    but not of the bucket owner's account -> 405 MethodNotAllowed."""
    bucket = new_bucket()
    policy = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{tenant.id}:root"},
                  "Action": ["s3:GetBucketPolicy", "s3:PutBucketPolicy",
                             "s3:DeleteBucketPolicy"],
                  "Resource": bucket_arn(bucket)})
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(policy))
    b = tenant.s3()
    expect_error(b.get_bucket_policy, Bucket=bucket, error="MethodNotAllowed", http=405)
    expect_error(b.delete_bucket_policy, Bucket=bucket, error="MethodNotAllowed", http=405)
    expect_error(b.put_bucket_policy, Bucket=bucket, Policy=compact(policy),
                 error="MethodNotAllowed", http=405)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])  # still there


# ==========================================================================
# 4. aws:SecureTransport (every request here is plain HTTP)
# ==========================================================================
def test_secure_transport_deny_in_identity_policy(server, iam, new_bucket):
    bucket = new_bucket("a")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:*", "*"),
        {"Sid": "DenyInsecure", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))
    c = user.s3()
    e = denied(c.get_object, Bucket=bucket, Key="a")
    assert_message(e, denial(user.arn, "s3:GetObject", obj_arn(bucket, "a")),
                   "with an explicit deny in an identity-based policy")
    denied(c.put_object, Bucket=bucket, Key="b", Body=b"x")
    denied(c.list_objects_v2, Bucket=bucket)

    # the same deny on "true" never applies over HTTP
    user.put_policy(doc(
        allow("s3:*", "*"),
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}}))
    assert c.get_object(Bucket=bucket, Key="a")["Body"].read() == b"body of a"
    # and an allow that requires TLS grants nothing
    user.put_policy(doc(allow("s3:*", "*", Condition={"Bool": {"aws:SecureTransport": "true"}})))
    denied(c.get_object, Bucket=bucket, Key="a")


def test_secure_transport_deny_in_bucket_policy(server, iam, new_bucket, s3):
    """S3 User Guide "Enforce encryption in transit": Deny s3:* to Principal *
    when aws:SecureTransport is false. It binds every principal, the bucket
    owner's root included, except for the bucket-policy operations of that
    root (no lock-out)."""
    bucket = new_bucket("a")
    policy = doc({"Sid": "RestrictToTLSRequestsOnly", "Effect": "Deny", "Principal": "*",
                  "Action": "s3:*", "Resource": [bucket_arn(bucket), obj_arn(bucket)],
                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(policy))
    user = make_user(iam, server.endpoint, doc(allow("s3:*", "*")))
    c = user.s3()
    e = denied(c.get_object, Bucket=bucket, Key="a")
    assert_message(e, denial(user.arn, "s3:GetObject", obj_arn(bucket, "a")),
                   "with an explicit deny in a resource-based policy")
    denied(c.list_objects_v2, Bucket=bucket)
    denied(c.put_object, Bucket=bucket, Key="b", Body=b"x")

    # the root of the owning account is denied the object operations too
    e = denied(s3.get_object, Bucket=bucket, Key="a")
    assert_message(e, "with an explicit deny in a resource-based policy")
    denied(s3.put_object, Bucket=bucket, Key="b", Body=b"x")


def test_bucket_owner_root_can_always_manage_the_bucket_policy(server, iam, new_bucket, s3):
    """PutBucketPolicy/GetBucketPolicy/DeleteBucketPolicy: the root principal of
    the bucket owner's account may always use them, even when the bucket policy
    explicitly denies it (no lock-out); nobody else may."""
    bucket = new_bucket("a")
    policy = doc({"Sid": "DenyEverything", "Effect": "Deny", "Principal": "*",
                  "Action": "s3:*", "Resource": [bucket_arn(bucket), obj_arn(bucket)]})
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(policy))
    user = make_user(iam, server.endpoint, doc(allow("s3:*", "*")))
    denied(user.s3().get_bucket_policy, Bucket=bucket)
    denied(user.s3().delete_bucket_policy, Bucket=bucket)
    denied(s3.get_object, Bucket=bucket, Key="a")

    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(policy))
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"body of a"
    user.s3().get_object(Bucket=bucket, Key="a")


# ==========================================================================
# 5. Anonymous access and Block Public Access
# ==========================================================================
def test_anonymous_public_read_via_bucket_policy(server, new_bucket, s3):
    bucket = new_bucket("pub/index.html", "private.txt")
    url = f"{server.endpoint}/{bucket}/pub/index.html"
    r = anon("GET", url)
    assert r.status_code == 403 and xml_code(r) == "AccessDenied", r.text
    assert s3util.error_message(r.content) == "Access Denied"

    s3.put_bucket_policy(Bucket=bucket, Policy=compact(public_read(bucket, "pub/")))
    r = anon("GET", url)
    assert r.status_code == 200 and r.content == b"body of pub/index.html"
    assert anon("HEAD", url).status_code == 200
    # only what the policy grants
    r = anon("GET", f"{server.endpoint}/{bucket}/private.txt")
    assert r.status_code == 403 and xml_code(r) == "AccessDenied"
    r = anon("PUT", f"{server.endpoint}/{bucket}/pub/new.html", data=b"defaced")
    assert r.status_code == 403 and xml_code(r) == "AccessDenied"
    r = anon("DELETE", url)
    assert r.status_code == 403 and xml_code(r) == "AccessDenied"
    r = anon("GET", f"{server.endpoint}/{bucket}?list-type=2")
    assert r.status_code == 403 and xml_code(r) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="pub/index.html")["Body"].read() \
        == b"body of pub/index.html"
    assert head_status(s3, bucket, "pub/new.html") == 404
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True

    # RestrictPublicBuckets: the public policy no longer grants anything to anonymous
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False,
        "BlockPublicPolicy": False, "RestrictPublicBuckets": True})
    cfg = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert cfg == {"BlockPublicAcls": False, "IgnorePublicAcls": False,
                   "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
    r = anon("GET", url)
    assert r.status_code == 403 and xml_code(r) == "AccessDenied", r.text
    # the policy itself is kept, and the owner still reads
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    s3.get_object(Bucket=bucket, Key="pub/index.html")

    s3.delete_public_access_block(Bucket=bucket)
    expect_error(s3.get_public_access_block, Bucket=bucket,
                 error="NoSuchPublicAccessBlockConfiguration", http=404)
    assert anon("GET", url).status_code == 200


def test_anonymous_public_list_and_write_only_when_granted(server, new_bucket, s3):
    bucket = new_bucket("a", "b")
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket",
         "Resource": bucket_arn(bucket)},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
         "Resource": obj_arn(bucket, "dropbox/*")})))
    r = anon("GET", f"{server.endpoint}/{bucket}?list-type=2")
    assert r.status_code == 200, r.text
    keys = [el.text for el in ET.fromstring(r.content).iter() if el.tag.endswith("}Key")
            or el.tag == "Key"]
    assert keys == ["a", "b"]
    r = anon("PUT", f"{server.endpoint}/{bucket}/dropbox/f", data=b"dropped")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="dropbox/f")["Body"].read() == b"dropped"
    r = anon("GET", f"{server.endpoint}/{bucket}/dropbox/f")
    assert r.status_code == 403


def test_restrict_public_buckets_blocks_cross_account_too(server, iam, tenant, new_bucket, s3):
    """RestrictPublicBuckets blocks public and cross-account access through a
    public bucket policy, including its non-public grants to other accounts;
    principals of the owner's account keep theirs."""
    bucket = new_bucket("pub/a", "team/b")
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": obj_arn(bucket, "pub/*")},
        {"Sid": "PartnerAccount", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{tenant.id}:root"},
         "Action": "s3:GetObject", "Resource": obj_arn(bucket)})))
    partner = make_user(tenant.iam(), server.endpoint, doc(allow("s3:GetObject", "*")))
    local = make_user(iam, server.endpoint, doc(allow("s3:GetObject", obj_arn(bucket))))
    partner.s3().get_object(Bucket=bucket, Key="team/b")
    partner.s3().get_object(Bucket=bucket, Key="pub/a")
    assert anon("GET", f"{server.endpoint}/{bucket}/pub/a").status_code == 200

    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "RestrictPublicBuckets": True})
    assert anon("GET", f"{server.endpoint}/{bucket}/pub/a").status_code == 403
    denied(partner.s3().get_object, Bucket=bucket, Key="team/b")
    denied(partner.s3().get_object, Bucket=bucket, Key="pub/a")
    denied(tenant.s3().get_object, Bucket=bucket, Key="team/b")
    local.s3().get_object(Bucket=bucket, Key="team/b")
    local.s3().get_object(Bucket=bucket, Key="pub/a")

    # with a non-public policy the same setting changes nothing for the partner
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Sid": "PartnerAccount", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{tenant.id}:root"},
         "Action": "s3:GetObject", "Resource": obj_arn(bucket)})))
    partner.s3().get_object(Bucket=bucket, Key="team/b")


def test_block_public_policy_refuses_public_policies(server, account_id, new_bucket, s3):
    bucket = new_bucket("a")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    denied(s3.put_bucket_policy, Bucket=bucket, Policy=compact(public_read(bucket)))
    denied(s3.put_bucket_policy, Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:*",
         "Resource": [bucket_arn(bucket), obj_arn(bucket)]})))
    expect_error(s3.get_bucket_policy, Bucket=bucket, error="NoSuchBucketPolicy", http=404)
    assert anon("GET", f"{server.endpoint}/{bucket}/a").status_code == 403

    # a policy for a fixed principal is not public
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
         "Action": "s3:GetObject", "Resource": obj_arn(bucket)})))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False


def test_block_public_policy_does_not_affect_existing_policy(server, new_bucket, s3):
    bucket = new_bucket("a")
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(public_read(bucket)))
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicPolicy": True})
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"][
        "BlockPublicPolicy"] is True
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert anon("GET", f"{server.endpoint}/{bucket}/a").status_code == 200
    # but it cannot be put again
    denied(s3.put_bucket_policy, Bucket=bucket, Policy=compact(public_read(bucket)))


def test_bucket_policy_status_is_public(server, account_id, tenant, new_bucket, s3):
    """The meaning of "public": Principal * unless limited to a fixed
    principal, a set of CIDRs with aws:SourceIp, a fixed aws:SourceAccount..."""
    bucket = new_bucket()

    def is_public(policy: dict) -> bool:
        s3.put_bucket_policy(Bucket=bucket, Policy=compact(policy))
        return s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]

    get = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": obj_arn(bucket)}
    assert is_public(doc(dict(get, Principal="*"))) is True
    assert is_public(doc(dict(get, Principal={"AWS": "*"}))) is True
    assert is_public(doc(dict(get, Principal={"AWS": f"arn:aws:iam::{tenant.id}:root"}))) \
        is False
    assert is_public(doc(dict(get, Principal={"AWS": account_id}))) is False
    assert is_public(doc(dict(get, Principal="*", Condition={
        "IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))) is False
    assert is_public(doc(dict(get, Principal="*", Condition={
        "StringEquals": {"aws:SourceAccount": tenant.id}}))) is False
    # a Deny to everyone is not a grant
    assert is_public(doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                          "Resource": obj_arn(bucket),
                          "Condition": {"Bool": {"aws:SecureTransport": "false"}}})) is False
    # one public statement makes the policy public
    assert is_public(doc(dict(get, Principal={"AWS": account_id}),
                         dict(get, Principal="*"))) is True


# ==========================================================================
# 6. Permissions boundaries
# ==========================================================================
def test_permissions_boundary_limits_an_administrator(server, iam, new_bucket, s3):
    bucket = new_bucket("a")
    boundary = new_managed_policy(iam, doc(allow("s3:GetObject", "*")))
    admin = make_user(iam, server.endpoint, managed=[ADMIN], boundary=boundary)
    c = admin.s3()
    assert c.get_object(Bucket=bucket, Key="a")["Body"].read() == b"body of a"
    e = denied(c.put_object, Bucket=bucket, Key="b", Body=b"x")
    assert_message(e, denial(admin.arn, "s3:PutObject", obj_arn(bucket, "b")),
                   "because no permissions boundary allows the s3:PutObject action")
    denied(c.list_objects_v2, Bucket=bucket)
    e = denied(admin.iam().list_users)
    assert_message(e, "no permissions boundary allows the iam:ListUsers action")
    assert head_status(s3, bucket, "b") == 404

    # removing the boundary restores AdministratorAccess
    iam.delete_user_permissions_boundary(UserName=admin.name)
    c.put_object(Bucket=bucket, Key="b", Body=b"x")
    admin.iam().list_users()


def test_permissions_boundary_never_widens(server, iam, new_bucket):
    bucket = new_bucket("a")
    boundary = new_managed_policy(iam, doc(allow("s3:*", "*"), allow("iam:*", "*")))
    user = make_user(iam, server.endpoint, doc(allow("s3:GetObject", obj_arn(bucket))),
                     boundary=boundary)
    c = user.s3()
    c.get_object(Bucket=bucket, Key="a")
    e = denied(c.put_object, Bucket=bucket, Key="b", Body=b"x")
    assert_message(e, "because no identity-based policy allows the s3:PutObject action")
    denied(user.iam().list_users)
    # an explicit deny in the boundary denies what the identity policy allows
    iam.create_policy_version(PolicyArn=boundary, SetAsDefault=True, PolicyDocument=compact(
        doc(allow("s3:*", "*"), deny("s3:GetObject", obj_arn(bucket, "a")))))
    e = denied(c.get_object, Bucket=bucket, Key="a")
    assert_message(e, "explicit deny in a permissions boundary")


def test_boundary_does_not_limit_bucket_policy_grant_to_user(server, iam, new_bucket, s3):
    """Within one account an implicit deny in a permissions boundary does not
    limit what a resource-based policy grants to the user's ARN itself."""
    bucket = new_bucket("a")
    boundary = new_managed_policy(iam, doc(allow("s3:GetObject", "*")))
    user = make_user(iam, server.endpoint, boundary=boundary)
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "s3:PutObject",
         "Resource": obj_arn(bucket, "in/*")})))
    c = user.s3()
    c.put_object(Bucket=bucket, Key="in/x", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="in/x")["Body"].read() == b"x"
    # GetObject: boundary allows, nothing else does
    denied(c.get_object, Bucket=bucket, Key="a")


# ==========================================================================
# 7. Condition keys end to end
# ==========================================================================
def test_existing_object_tag_condition(server, iam, new_bucket, s3):
    bucket = new_bucket("open", "closed", "untagged",
                        tags={"open": "classification=public",
                              "closed": "classification=secret"})
    user = make_user(iam, server.endpoint, doc(
        allow(["s3:GetObject", "s3:GetObjectTagging"], obj_arn(bucket),
              Condition={"StringEquals": {"s3:ExistingObjectTag/classification": "public"}})))
    c = user.s3()
    assert c.get_object(Bucket=bucket, Key="open")["Body"].read() == b"body of open"
    c.head_object(Bucket=bucket, Key="open")
    assert c.get_object_tagging(Bucket=bucket, Key="open")["TagSet"] == \
        [{"Key": "classification", "Value": "public"}]
    denied(c.get_object, Bucket=bucket, Key="closed")
    denied(c.get_object, Bucket=bucket, Key="untagged")
    denied(c.get_object_tagging, Bucket=bucket, Key="closed")
    # the object's current tags are what count
    s3.put_object_tagging(Bucket=bucket, Key="closed", Tagging={"TagSet": [
        {"Key": "classification", "Value": "public"}]})
    c.get_object(Bucket=bucket, Key="closed")
    s3.put_object_tagging(Bucket=bucket, Key="open", Tagging={"TagSet": [
        {"Key": "classification", "Value": "internal"}]})
    denied(c.get_object, Bucket=bucket, Key="open")


def test_request_object_tag_conditions_on_put(server, iam, new_bucket, s3):
    """S3 User Guide "Tagging and access control policies": require a tag value
    (s3:RequestObjectTag/KEY) and restrict the tag keys (s3:RequestObjectTagKeys)."""
    bucket = new_bucket()
    user = make_user(iam, server.endpoint, doc(
        allow(["s3:PutObject", "s3:PutObjectTagging"], obj_arn(bucket), Condition={
            "StringEquals": {"s3:RequestObjectTag/project": "alpha"},
            "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["project", "owner"]}})))
    c = user.s3()
    c.put_object(Bucket=bucket, Key="ok1", Body=b"x", Tagging="project=alpha")
    c.put_object(Bucket=bucket, Key="ok2", Body=b"x", Tagging="project=alpha&owner=me")
    assert s3.get_object_tagging(Bucket=bucket, Key="ok2")["TagSet"] and \
        {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key="ok2")["TagSet"]} \
        == {"project": "alpha", "owner": "me"}
    denied(c.put_object, Bucket=bucket, Key="bad1", Body=b"x", Tagging="project=beta")
    denied(c.put_object, Bucket=bucket, Key="bad2", Body=b"x")  # no tag: the key is missing
    denied(c.put_object, Bucket=bucket, Key="bad3", Body=b"x",
           Tagging="project=alpha&cost=1")                       # a key outside the set
    for k in ("bad1", "bad2", "bad3"):
        assert head_status(s3, bucket, k) == 404
    # multipart uploads carry the tags of CreateMultipartUpload
    up = c.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="project=alpha")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"])
    denied(c.create_multipart_upload, Bucket=bucket, Key="mp2", Tagging="project=zeta")


def test_principal_tag_variable_in_resource(server, iam, new_bucket, s3):
    bucket = new_bucket("blue/doc", "red/doc")
    user = make_user(iam, server.endpoint, doc(
        allow(["s3:GetObject", "s3:PutObject"], obj_arn(bucket, "${aws:PrincipalTag/team}/*"))),
        tags=[{"Key": "team", "Value": "blue"}])
    c = user.s3()
    c.get_object(Bucket=bucket, Key="blue/doc")
    c.put_object(Bucket=bucket, Key="blue/new", Body=b"x")
    denied(c.get_object, Bucket=bucket, Key="red/doc")
    denied(c.put_object, Bucket=bucket, Key="red/new", Body=b"x")
    # re-tagging the user moves its access on the next request
    iam.tag_user(UserName=user.name, Tags=[{"Key": "team", "Value": "red"}])
    c.get_object(Bucket=bucket, Key="red/doc")
    denied(c.get_object, Bucket=bucket, Key="blue/doc")
    # without the tag the variable does not resolve: the statement matches nothing
    iam.untag_user(UserName=user.name, TagKeys=["team"])
    denied(c.get_object, Bucket=bucket, Key="red/doc")
    denied(c.get_object, Bucket=bucket, Key="blue/doc")


def test_principal_tag_condition_and_principal_keys(server, iam, account_id, new_bucket):
    bucket = new_bucket("a")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:GetObject", obj_arn(bucket), Condition={
            "StringEquals": {"aws:PrincipalTag/dept": "eng",
                             "aws:PrincipalAccount": account_id,
                             "aws:PrincipalType": "User"},
            "ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{account_id}:user/*"}})),
        tags=[{"Key": "dept", "Value": "eng"}])
    user.s3().get_object(Bucket=bucket, Key="a")
    iam.tag_user(UserName=user.name, Tags=[{"Key": "dept", "Value": "sales"}])
    denied(user.s3().get_object, Bucket=bucket, Key="a")


def test_username_and_userid_variables(server, iam, new_bucket, s3):
    bucket = new_bucket()
    user = make_user(iam, server.endpoint, doc(
        allow("s3:PutObject", obj_arn(bucket, "by-id/${aws:userid}/*")),
        allow("s3:PutObject", obj_arn(bucket, "x"),
              Condition={"StringEquals": {"aws:username": "${aws:username}"}})))
    uid = iam.get_user(UserName=user.name)["User"]["UserId"]
    c = user.s3()
    c.put_object(Bucket=bucket, Key=f"by-id/{uid}/f", Body=b"x")
    denied(c.put_object, Bucket=bucket, Key=f"by-id/{user.name}/f", Body=b"x")
    c.put_object(Bucket=bucket, Key="x", Body=b"x")


def test_not_action_and_not_resource(server, iam, new_bucket, s3):
    bucket = new_bucket("public/a", "private/b")
    user = make_user(iam, server.endpoint, doc(
        {"Effect": "Allow", "NotAction": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
         "Resource": obj_arn(bucket, "public/*")},
        {"Effect": "Allow", "Action": "s3:GetObject",
         "NotResource": obj_arn(bucket, "private/*")}))
    c = user.s3()
    c.get_object(Bucket=bucket, Key="public/a")
    c.put_object(Bucket=bucket, Key="public/new", Body=b"x")
    c.get_object_tagging(Bucket=bucket, Key="public/a")
    e = denied(c.delete_object, Bucket=bucket, Key="public/a")
    assert_message(e, "because no identity-based policy allows the s3:DeleteObject action")
    denied(c.get_object, Bucket=bucket, Key="private/b")
    denied(c.put_object, Bucket=bucket, Key="private/new", Body=b"x")

    # Deny with NotResource: everything outside public/ is off limits
    user.put_policy(doc(allow("s3:*", "*"),
                        {"Effect": "Deny", "Action": "s3:*",
                         "NotResource": [bucket_arn(bucket), obj_arn(bucket, "public/*")]}))
    c.get_object(Bucket=bucket, Key="public/a")
    e = denied(c.get_object, Bucket=bucket, Key="private/b")
    assert_message(e, "with an explicit deny in an identity-based policy")
    c.list_objects_v2(Bucket=bucket)

    # Deny with NotAction: only reading is left
    user.put_policy(doc(allow("s3:*", "*"),
                        {"Effect": "Deny", "NotAction": ["s3:GetObject", "s3:ListBucket"],
                         "Resource": "*"}))
    c.get_object(Bucket=bucket, Key="private/b")
    denied(c.put_object, Bucket=bucket, Key="public/x", Body=b"x")


def test_if_exists_and_missing_keys(server, iam, new_bucket):
    """A missing key makes StringEquals false and StringNotEquals true;
    ...IfExists makes either true when the key is missing."""
    bucket = new_bucket("a")
    good = "https://app.example.com/page"
    user = make_user(iam, server.endpoint)

    def get(referer: str | None) -> int:
        headers = {"Referer": referer} if referer else {}
        r = server.request("GET", f"/{bucket}/a", access_key=user.key, secret_key=user.secret,
                           headers=headers)
        assert r.status_code in (200, 403), r.text
        if r.status_code == 403:
            assert s3util.error_code(r.content) == "AccessDenied"
        return r.status_code

    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket),
                              Condition={"StringEquals": {"aws:Referer": good}})))
    assert (get(None), get(good), get("https://evil.example/")) == (403, 200, 403)

    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket),
                              Condition={"StringEqualsIfExists": {"aws:Referer": good}})))
    assert (get(None), get(good), get("https://evil.example/")) == (200, 200, 403)

    # a Deny unless the referer is ours: IfExists denies a request without one too
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket)),
                        deny("s3:GetObject", obj_arn(bucket), Condition={
                            "StringNotEqualsIfExists": {"aws:Referer": good}})))
    assert (get(None), get(good), get("https://evil.example/")) == (403, 200, 403)

    # StringNotEquals on a missing key is true (negated operator): also denied
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket)),
                        deny("s3:GetObject", obj_arn(bucket), Condition={
                            "StringNotEquals": {"aws:Referer": good}})))
    assert (get(None), get(good)) == (403, 200)

    # the Null operator tests presence
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket),
                              Condition={"Null": {"aws:Referer": "true"}})))
    assert (get(None), get(good)) == (200, 403)


def test_source_ip_conditions(server, iam, new_bucket):
    bucket = new_bucket("a")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:GetObject", obj_arn(bucket),
              Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})))
    c = user.s3()
    c.get_object(Bucket=bucket, Key="a")
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket),
                              Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    denied(c.get_object, Bucket=bucket, Key="a")
    # several values are OR; an IPv6 range never matches 127.0.0.1
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket), Condition={
        "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32"]}})))
    c.get_object(Bucket=bucket, Key="a")
    # Deny from outside an allowed range (the S3 User Guide's pattern)
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket)),
                        deny("s3:*", "*", Condition={
                            "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "10.0.0.0/8"]}})))
    e = denied(c.get_object, Bucket=bucket, Key="a")
    assert_message(e, "with an explicit deny in an identity-based policy")
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket)),
                        deny("s3:*", "*", Condition={
                            "NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}})))
    c.get_object(Bucket=bucket, Key="a")


def test_date_and_epoch_conditions(server, iam, new_bucket):
    bucket = new_bucket("a")
    user = make_user(iam, server.endpoint)
    c = user.s3()

    def with_condition(cond: dict) -> bool:
        user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket), Condition=cond)))
        try:
            c.get_object(Bucket=bucket, Key="a")
            return True
        except ClientError as e:
            assert err_code(e) == "AccessDenied", e
            return False

    assert with_condition({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})
    assert not with_condition({"DateGreaterThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}})
    assert with_condition({"DateLessThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}})
    # a time window: both bounds must hold
    assert not with_condition({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                               "DateLessThan": {"aws:CurrentTime": "2021-01-01T00:00:00Z"}})
    assert with_condition({"NumericGreaterThan": {"aws:EpochTime": "1577836800"}})
    assert not with_condition({"NumericLessThan": {"aws:EpochTime": "1577836800"}})
    assert with_condition({"DateGreaterThan": {"aws:EpochTime": "1577836800"}})


def test_auth_type_and_signature_version(server, iam, new_bucket):
    """s3:authType REST-HEADER vs REST-QUERY-STRING (pre-signed URLs)."""
    bucket = new_bucket("a")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:GetObject", obj_arn(bucket),
              Condition={"StringEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}}),
        deny("s3:GetObject", obj_arn(bucket),
             Condition={"StringEquals": {"s3:authType": "REST-QUERY-STRING"}})))
    c = user.s3()
    c.get_object(Bucket=bucket, Key="a")
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"},
                                   ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403 and xml_code(r) == "AccessDenied", r.text
    # the other way round: only pre-signed URLs
    user.put_policy(doc(allow("s3:GetObject", obj_arn(bucket),
                              Condition={"StringEquals": {"s3:authType": "REST-QUERY-STRING"}})))
    denied(c.get_object, Bucket=bucket, Key="a")
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"body of a"


def test_copy_source_condition(server, iam, new_bucket, s3):
    """CopyObject needs s3:GetObject on the source and s3:PutObject on the
    target, where s3:x-amz-copy-source can restrict the source."""
    src = new_bucket("public/a", "private/b")
    dst = new_bucket()
    user = make_user(iam, server.endpoint, doc(
        allow("s3:GetObject", obj_arn(src)),
        allow("s3:PutObject", obj_arn(dst),
              Condition={"StringLike": {"s3:x-amz-copy-source": f"{src}/public/*"}})))
    c = user.s3()
    c.copy_object(Bucket=dst, Key="copy", CopySource={"Bucket": src, "Key": "public/a"})
    assert s3.get_object(Bucket=dst, Key="copy")["Body"].read() == b"body of public/a"
    denied(c.copy_object, Bucket=dst, Key="copy2", CopySource={"Bucket": src, "Key": "private/b"})
    # an ordinary PutObject has no copy source: the condition is false
    denied(c.put_object, Bucket=dst, Key="direct", Body=b"x")
    # the source needs s3:GetObject
    user.put_policy(doc(allow("s3:PutObject", obj_arn(dst))))
    e = denied(c.copy_object, Bucket=dst, Key="copy3",
               CopySource={"Bucket": src, "Key": "public/a"})
    assert_message(e, "s3:GetObject")
    assert head_status(s3, dst, "copy3") == 404


def test_role_session_tags_and_bucket_policy_naming_the_role(server, iam, account_id,
                                                             new_bucket, s3):
    """A role session is decided by the role's policies with the session's
    tags as aws:PrincipalTag; a bucket policy naming the role's ARN grants its
    sessions."""
    bucket = new_bucket("alpha/x", "beta/y", "shared/z")
    role_name = uniq("r")
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    user = make_user(iam, server.endpoint, doc(allow(["sts:AssumeRole", "sts:TagSession"],
                                                     role_arn)))
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": user.arn},
         "Action": ["sts:AssumeRole", "sts:TagSession"]})))
    iam.put_role_policy(RoleName=role_name, PolicyName="perms", PolicyDocument=compact(doc(
        allow("s3:GetObject", obj_arn(bucket, "${aws:PrincipalTag/project}/*"),
              Condition={"StringEquals": {"aws:PrincipalType": "AssumedRole"}}))))
    sts = boto3.session.Session(
        aws_access_key_id=user.key, aws_secret_access_key=user.secret,
        region_name=conftest.REGION).client("sts", endpoint_url=server.endpoint)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="alpha-session",
                            Tags=[{"Key": "project", "Value": "alpha"}])["Credentials"]
    c = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=conftest.REGION,
    ).client("s3", endpoint_url=server.endpoint,
             config=Config(s3={"addressing_style": "path"},
                           retries={"total_max_attempts": 1, "mode": "standard"}))
    assert c.get_object(Bucket=bucket, Key="alpha/x")["Body"].read() == b"body of alpha/x"
    e = denied(c.get_object, Bucket=bucket, Key="beta/y")
    assert_message(e, f"arn:aws:sts::{account_id}:assumed-role/{role_name}/alpha-session")
    denied(c.get_object, Bucket=bucket, Key="shared/z")
    s3.put_bucket_policy(Bucket=bucket, Policy=compact(doc(
        {"Effect": "Allow", "Principal": {"AWS": role_arn}, "Action": "s3:GetObject",
         "Resource": obj_arn(bucket, "shared/*")})))
    assert c.get_object(Bucket=bucket, Key="shared/z")["Body"].read() == b"body of shared/z"
    denied(c.get_object, Bucket=bucket, Key="beta/y")


# ==========================================================================
# 8. DeleteObjects is authorized per key
# ==========================================================================
def test_delete_objects_mixed_allowed_and_denied(server, iam, new_bucket, s3):
    bucket = new_bucket("tmp/a", "tmp/b", "keep/c", "keep/d")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:DeleteObject", obj_arn(bucket, "tmp/*"))))
    r = user.s3().delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "tmp/a"}, {"Key": "keep/c"}, {"Key": "tmp/b"}, {"Key": "keep/d"},
        {"Key": "tmp/never-existed"}]})
    assert sorted(d["Key"] for d in r.get("Deleted", [])) == ["tmp/a", "tmp/b",
                                                             "tmp/never-existed"]
    errors = {e["Key"]: e["Code"] for e in r.get("Errors", [])}
    assert errors == {"keep/c": "AccessDenied", "keep/d": "AccessDenied"}
    assert head_status(s3, bucket, "tmp/a") == 404
    assert head_status(s3, bucket, "keep/c") == 200 and head_status(s3, bucket, "keep/d") == 200

    # Quiet mode reports only the errors
    s3.put_object(Bucket=bucket, Key="tmp/e", Body=b"x")
    r = user.s3().delete_objects(Bucket=bucket, Delete={"Quiet": True, "Objects": [
        {"Key": "tmp/e"}, {"Key": "keep/c"}]})
    assert not r.get("Deleted")
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("keep/c", "AccessDenied")]
    assert head_status(s3, bucket, "tmp/e") == 404


def test_delete_objects_explicit_deny_per_key(server, iam, new_bucket, s3):
    bucket = new_bucket("a", "locked/b")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:*", "*"), deny("s3:DeleteObject", obj_arn(bucket, "locked/*"))))
    r = user.s3().delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a"}, {"Key": "locked/b"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["a"]
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [("locked/b", "AccessDenied")]
    assert head_status(s3, bucket, "locked/b") == 200


# ==========================================================================
# 9. IAM actions follow policies too
# ==========================================================================
def test_iam_read_only_user_can_list_but_not_create(server, iam, account_id):
    reader = make_user(iam, server.endpoint, managed=[IAM_READ])
    ri = reader.iam()
    names = {u["UserName"] for u in ri.list_users(MaxItems=1000)["Users"]}
    assert reader.name in names
    assert ri.get_user(UserName=reader.name)["User"]["Arn"] == reader.arn
    ri.list_policies(Scope="AWS", MaxItems=10)
    new = uniq("u")
    e = denied(ri.create_user, UserName=new)
    assert_message(e, f"User: {reader.arn} is not authorized to perform: iam:CreateUser",
                   f"arn:aws:iam::{account_id}:user/{new}",
                   "because no identity-based policy allows the iam:CreateUser action")
    denied(ri.create_access_key, UserName=reader.name)
    denied(ri.attach_user_policy, UserName=reader.name, PolicyArn=ADMIN)
    expect_error(iam.get_user, UserName=new, error="NoSuchEntity", http=404)
    # no S3 either
    denied(reader.s3().list_buckets)


def test_iam_self_management_via_username_variable(server, iam, account_id):
    """IAM: iam:* on arn:aws:iam::ACCOUNT:user/${aws:username} only."""
    user = make_user(iam, server.endpoint, doc(
        allow("iam:*", f"arn:aws:iam::{account_id}:user/${{aws:username}}")))
    other = make_user(iam, server.endpoint)
    ui = user.iam()
    assert ui.get_user()["User"]["UserName"] == user.name
    assert ui.get_user(UserName=user.name)["User"]["Arn"] == user.arn
    keys = ui.list_access_keys(UserName=user.name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [user.key]
    k2 = ui.create_access_key(UserName=user.name)["AccessKey"]
    ui.update_access_key(UserName=user.name, AccessKeyId=k2["AccessKeyId"], Status="Inactive")
    ui.delete_access_key(UserName=user.name, AccessKeyId=k2["AccessKeyId"])
    ui.tag_user(UserName=user.name, Tags=[{"Key": "self", "Value": "managed"}])

    e = denied(ui.get_user, UserName=other.name)
    assert_message(e, f"arn:aws:iam::{account_id}:user/{other.name}")
    denied(ui.create_access_key, UserName=other.name)
    denied(ui.list_access_keys, UserName=other.name)
    denied(ui.tag_user, UserName=other.name, Tags=[{"Key": "x", "Value": "y"}])
    denied(ui.create_user, UserName=uniq("u"))
    denied(ui.list_users)
    assert iam.list_access_keys(UserName=other.name)["AccessKeyMetadata"][0]["AccessKeyId"] \
        == other.key


def test_iam_explicit_deny_message(server, iam):
    user = make_user(iam, server.endpoint, doc(allow("iam:*", "*"),
                                               deny("iam:DeleteUser", "*")))
    victim = uniq("u")
    iam.create_user(UserName=victim)
    e = denied(user.iam().delete_user, UserName=victim)
    assert_message(e, f"User: {user.arn} is not authorized to perform: iam:DeleteUser",
                   "with an explicit deny in an identity-based policy")
    iam.get_user(UserName=victim)


# ==========================================================================
# 10. The policy simulator
# ==========================================================================
def _by_action(results: list) -> dict:
    return {r["EvalActionName"]: r for r in results}


def test_simulate_principal_policy_for_a_user(server, iam, account_id, new_bucket):
    bucket = new_bucket()
    user = make_user(iam, server.endpoint, doc(
        {"Sid": "ReadAll", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": obj_arn(bucket)},
        {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
        {"Sid": "DeleteToo", "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"}))
    r = iam.simulate_principal_policy(
        PolicySourceArn=user.arn,
        ActionNames=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        ResourceArns=[obj_arn(bucket, "k")])
    res = _by_action(r["EvaluationResults"])
    assert set(res) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    for a in res.values():
        assert a["EvalResourceName"] == obj_arn(bucket, "k")

    assert res["s3:GetObject"]["EvalDecision"] == "allowed"
    ms = res["s3:GetObject"]["MatchedStatements"]
    assert len(ms) == 1 and "perms" in ms[0]["SourcePolicyId"], ms
    assert ms[0].get("SourcePolicyType") == "user", ms

    assert res["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    assert res["s3:PutObject"].get("MatchedStatements", []) == []

    # only the deny statement is reported, although an allow matches too
    assert res["s3:DeleteObject"]["EvalDecision"] == "explicitDeny"
    ms = res["s3:DeleteObject"]["MatchedStatements"]
    assert len(ms) == 1 and "perms" in ms[0]["SourcePolicyId"], ms

    # the decision matches what the server does
    denied(user.s3().put_object, Bucket=bucket, Key="k", Body=b"x")


def test_simulate_principal_policy_includes_groups_and_boundary(server, iam, new_bucket):
    bucket = new_bucket()
    g = uniq("g")
    iam.create_group(GroupName=g)
    iam.put_group_policy(GroupName=g, PolicyName="grp-read",
                         PolicyDocument=compact(doc(allow("s3:GetObject", "*"))))
    boundary = new_managed_policy(iam, doc(allow(["s3:GetObject", "s3:PutObject"], "*")))
    user = make_user(iam, server.endpoint, managed=[ADMIN], boundary=boundary)
    plain = make_user(iam, server.endpoint)
    iam.add_user_to_group(GroupName=g, UserName=plain.name)

    res = _by_action(iam.simulate_principal_policy(
        PolicySourceArn=plain.arn, ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=[obj_arn(bucket, "k")])["EvaluationResults"])
    assert res["s3:GetObject"]["EvalDecision"] == "allowed"
    ms = res["s3:GetObject"]["MatchedStatements"]
    assert ms and "grp-read" in ms[0]["SourcePolicyId"], ms
    assert ms[0].get("SourcePolicyType") == "group", ms
    assert res["s3:PutObject"]["EvalDecision"] == "implicitDeny"

    res = _by_action(iam.simulate_principal_policy(
        PolicySourceArn=user.arn, ActionNames=["s3:PutObject", "s3:DeleteObject",
                                               "iam:CreateUser"],
        ResourceArns=["*"])["EvaluationResults"])
    assert res["s3:PutObject"]["EvalDecision"] == "allowed"
    assert res["s3:DeleteObject"]["EvalDecision"] == "implicitDeny"
    assert res["iam:CreateUser"]["EvalDecision"] == "implicitDeny"


_OFFICE_POLICY = compact(doc(
    {"Sid": "FromOffice", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
     "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}},
    {"Sid": "NotAfter", "Effect": "Deny", "Action": "s3:*", "Resource": "*",
     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}))


def _ip(v):
    return {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": [v], "ContextKeyType": "ip"}


def _when(v):
    return {"ContextKeyName": "aws:CurrentTime", "ContextKeyValues": [v],
            "ContextKeyType": "date"}


def _simulate_office(iam, *entries) -> dict:
    r = iam.simulate_custom_policy(PolicyInputList=[_OFFICE_POLICY],
                                   ActionNames=["s3:GetObject"], ContextEntries=list(entries))
    (result,) = r["EvaluationResults"]
    assert result["EvalActionName"] == "s3:GetObject"
    return result


def test_simulate_custom_policy_with_context_entries(server, iam):
    r = _simulate_office(iam, _ip("192.0.2.10"), _when("2025-06-01T00:00:00Z"))
    assert r["EvalDecision"] == "allowed"
    assert len(r["MatchedStatements"]) == 1
    assert _simulate_office(iam, _ip("203.0.113.5"), _when("2025-06-01T00:00:00Z"))[
        "EvalDecision"] == "implicitDeny"
    r = _simulate_office(iam, _ip("192.0.2.10"), _when("2031-06-01T00:00:00Z"))
    assert r["EvalDecision"] == "explicitDeny"
    assert len(r["MatchedStatements"]) == 1
    # without the keys the conditions cannot match, and the simulator says which are missing
    r = _simulate_office(iam)
    assert r["EvalDecision"] == "implicitDeny"
    assert set(r.get("MissingContextValues", [])) >= {"aws:SourceIp"}


def test_simulate_custom_policy_matched_statement_id_and_position(server, iam):
    """MatchedStatements name the input policy as "PolicyInputList.N" (the AWS
    CLI's simulate-custom-policy example) and locate the statement in it
    (StartPosition/EndPosition, line and column)."""
    text = _OFFICE_POLICY                      # one line

    def span(m: dict) -> str:
        start, end = m["StartPosition"], m["EndPosition"]
        assert start["Line"] == end["Line"] == 1, m
        assert start["Column"] < end["Column"], m
        # allow for an off-by-one either way in the column convention
        return text[max(0, start["Column"] - 2):end["Column"] + 1]

    (m,) = _simulate_office(iam, _ip("192.0.2.10"), _when("2025-06-01T00:00:00Z"))[
        "MatchedStatements"]
    assert m["SourcePolicyId"] == "PolicyInputList.1", m
    assert "FromOffice" in span(m) and "NotAfter" not in span(m), (m, text)

    (m,) = _simulate_office(iam, _ip("192.0.2.10"), _when("2031-06-01T00:00:00Z"))[
        "MatchedStatements"]
    assert m["SourcePolicyId"] == "PolicyInputList.1", m
    assert "NotAfter" in span(m) and "FromOffice" not in span(m), (m, text)


def test_simulate_custom_policy_with_resource_policy(server, iam, account_id):
    """A resource policy in the simulation: same-account union."""
    caller = f"arn:aws:iam::{account_id}:user/simulated"
    identity = compact(doc(allow("s3:ListBucket", "*")))
    resource = compact(doc({"Effect": "Allow", "Principal": {"AWS": caller},
                            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::simbucket/*"}))
    r = iam.simulate_custom_policy(
        PolicyInputList=[identity], ResourcePolicy=resource, CallerArn=caller,
        ResourceOwner=f"arn:aws:iam::{account_id}:root",
        ActionNames=["s3:GetObject", "s3:PutObject"],
        ResourceArns=["arn:aws:s3:::simbucket/k"])
    res = _by_action(r["EvaluationResults"])
    assert res["s3:GetObject"]["EvalDecision"] == "allowed"
    assert res["s3:PutObject"]["EvalDecision"] == "implicitDeny"


def test_simulator_requires_permission(server, iam):
    user = make_user(iam, server.endpoint)
    denied(user.iam().simulate_custom_policy,
           PolicyInputList=[compact(doc(allow("s3:*")))], ActionNames=["s3:GetObject"])
    denied(user.iam().simulate_principal_policy, PolicySourceArn=user.arn,
           ActionNames=["s3:GetObject"])


# ==========================================================================
# 11. Bucket policy API errors
# ==========================================================================
def test_bucket_policy_put_get_delete(server, account_id, new_bucket, s3):
    bucket = new_bucket()
    expect_error(s3.get_bucket_policy, Bucket=bucket, error="NoSuchBucketPolicy", http=404)
    policy = doc({"Sid": "Read", "Effect": "Allow",
                  "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                  "Action": "s3:GetObject", "Resource": obj_arn(bucket)})
    r = s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy, indent=2))
    assert r["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    got = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert got["Version"] == "2012-10-17"
    (st,) = got["Statement"]
    assert st["Sid"] == "Read" and st["Effect"] == "Allow"
    assert st["Action"] in ("s3:GetObject", ["s3:GetObject"])
    assert st["Resource"] in (obj_arn(bucket), [obj_arn(bucket)])
    r = s3.delete_bucket_policy(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(s3.get_bucket_policy, Bucket=bucket, error="NoSuchBucketPolicy", http=404)
    # deleting again is fine
    s3.delete_bucket_policy(Bucket=bucket)
    expect_error(s3.get_bucket_policy, Bucket=s3util.unique_bucket_name("none"),
                 error="NoSuchBucket", http=404)


@pytest.mark.parametrize("why", [
    "invalid-json", "other-bucket", "missing-principal", "invalid-action", "bad-effect",
    "no-statement", "missing-resource", "unknown-user-principal", "empty"])
def test_put_bucket_policy_malformed(server, account_id, new_bucket, s3, why):
    bucket = new_bucket()
    ok = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
          "Resource": obj_arn(bucket)}
    text = {
        "invalid-json": '{"Version": "2012-10-17", "Statement": [',
        "other-bucket": compact(doc(dict(ok, Resource=obj_arn(bucket + "-other")))),
        "missing-principal": compact(doc({k: v for k, v in ok.items() if k != "Principal"})),
        "invalid-action": compact(doc(dict(ok, Action="s3:GetObjectz"))),
        "bad-effect": compact(doc(dict(ok, Effect="Perhaps"))),
        "no-statement": compact({"Version": "2012-10-17"}),
        "missing-resource": compact(doc({k: v for k, v in ok.items() if k != "Resource"})),
        "unknown-user-principal": compact(doc(dict(ok, Principal={
            "AWS": f"arn:aws:iam::{account_id}:user/{uniq('nobody')}"}))),
        "empty": "{}",
    }[why]
    expect_error(s3.put_bucket_policy, Bucket=bucket, Policy=text, error="MalformedPolicy",
                 http=400)
    expect_error(s3.get_bucket_policy, Bucket=bucket, error="NoSuchBucketPolicy", http=404)


def test_bucket_policy_permissions_for_users(server, iam, new_bucket, s3):
    bucket = new_bucket()
    user = make_user(iam, server.endpoint, doc(
        allow(["s3:PutBucketPolicy", "s3:GetBucketPolicy"], bucket_arn(bucket))))
    other = make_user(iam, server.endpoint, doc(allow("s3:GetObject", "*")))
    policy = compact(doc({"Effect": "Allow", "Principal": {"AWS": other.arn},
                          "Action": "s3:ListBucket", "Resource": bucket_arn(bucket)}))
    c = user.s3()
    c.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert json.loads(c.get_bucket_policy(Bucket=bucket)["Policy"])
    e = denied(c.delete_bucket_policy, Bucket=bucket)
    assert_message(e, denial(user.arn, "s3:DeleteBucketPolicy", bucket_arn(bucket)))
    denied(other.s3().get_bucket_policy, Bucket=bucket)
    other.s3().list_objects_v2(Bucket=bucket)       # granted by the policy just put
