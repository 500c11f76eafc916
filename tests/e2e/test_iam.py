"""The IAM Query API with boto3, checked against AWS's documented behaviour
(IAM API Reference: each action's response elements and errors; IAM quotas:
names, paths, policy sizes, 2 access keys, 10 managed policies, 5 policy
versions, 50 tags), plus latchkey's account administration (CreateAccount /
ListAccounts for the operator) and tenant isolation between accounts.

Every test uses fresh names (or a fresh tenant account where it needs exact
counts), so the tests are independent of each other and of their order.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

import conftest
import s3util
from iamutil import (ACCOUNT_RE, allow, compact, create_account, expect_error, iam_client,
                     iam_query, is_unique_id, query_error, sized_identity_policy,
                     sized_trust_policy, trust, uniq, with_whitespace, xml_all, xml_text)
from iamutil import code as err_code
from iamutil import message as err_message
from iamutil import status as err_status

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iam(server):
    """IAM client for the shared server's operator account root."""
    return iam_client(server.endpoint, server.access_key, server.secret_key)


@pytest.fixture(scope="module")
def iam_nv(server):
    """The same, without botocore's client-side parameter validation."""
    return iam_client(server.endpoint, server.access_key, server.secret_key, validate=False)


@pytest.fixture(scope="module")
def account_id(iam):
    arn = iam.get_user()["User"]["Arn"]
    return arn.split(":")[4]


@pytest.fixture
def tenant(server):
    """A fresh account (own IAM namespace, own root keys)."""
    return create_account(server)


@pytest.fixture
def user(iam):
    name = uniq("u")
    iam.create_user(UserName=name)
    return name


def new_user_with_key(iam, **kw):
    name = uniq("u")
    u = iam.create_user(UserName=name, **kw)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return u, key


def new_policy(iam, doc=None, **kw):
    return iam.create_policy(PolicyName=uniq("p"),
                             PolicyDocument=compact(doc or allow()), **kw)["Policy"]


def new_role(iam, doc=None, **kw):
    return iam.create_role(RoleName=uniq("r"),
                           AssumeRolePolicyDocument=compact(doc or trust()), **kw)["Role"]


def recent(ts: dt.datetime) -> bool:
    now = dt.datetime.now(dt.timezone.utc)
    return abs((now - ts).total_seconds()) < 600


# ==========================================================================
# users
# ==========================================================================
def test_root_get_user_without_name_is_the_caller(iam):
    u = iam.get_user()["User"]
    acct = u["UserId"]
    assert ACCOUNT_RE.match(acct), u
    assert u["Arn"] == f"arn:aws:iam::{acct}:root"
    assert isinstance(u["CreateDate"], dt.datetime)
    # the account id in the root ARN is the one in every entity ARN
    name = uniq("u")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    assert arn == f"arn:aws:iam::{acct}:user/{name}"


def test_create_and_get_user_fields(iam, account_id):
    name = uniq("Alice")
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost-center", "Value": "42"}]
    u = iam.create_user(UserName=name, Path="/division/team/", Tags=tags)["User"]
    assert u["UserName"] == name
    assert u["Path"] == "/division/team/"
    assert is_unique_id(u["UserId"], "AIDA"), u["UserId"]
    assert u["Arn"] == f"arn:aws:iam::{account_id}:user/division/team/{name}"
    assert recent(u["CreateDate"])
    assert sorted(u.get("Tags", []), key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])

    g = iam.get_user(UserName=name)["User"]
    for k in ("UserName", "Path", "UserId", "Arn", "CreateDate"):
        assert g[k] == u[k], k
    assert sorted(g["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])

    # default path is "/"
    n2 = uniq("u")
    u2 = iam.create_user(UserName=n2)["User"]
    assert u2["Path"] == "/" and u2["Arn"] == f"arn:aws:iam::{account_id}:user/{n2}"
    assert u2["UserId"] != u["UserId"]


def test_user_names_are_unique_case_insensitively(iam):
    name = uniq("CaseUser")
    iam.create_user(UserName=name)
    expect_error(iam.create_user, UserName=name, error="EntityAlreadyExists", http=409)
    expect_error(iam.create_user, UserName=name.lower(), error="EntityAlreadyExists", http=409)
    expect_error(iam.create_user, UserName=name.upper(), Path="/other/",
                 error="EntityAlreadyExists", http=409)


@pytest.mark.parametrize("bad", ["bad name", "bad/name", "bad:name", "bad*name", "naïve",
                                 "a" * 65, ""])
def test_user_name_validation(iam_nv, bad):
    expect_error(iam_nv.create_user, UserName=bad, error="ValidationError", http=400)


def test_user_name_limits_and_charset_accepted(iam):
    n64 = uniq("x") + "a" * (64 - len(uniq("x")))
    assert len(n64) == 64
    assert iam.create_user(UserName=n64)["User"]["UserName"] == n64
    special = uniq("s") + "+=,.@_-"
    assert iam.create_user(UserName=special)["User"]["UserName"] == special


@pytest.mark.parametrize("bad", ["noslash", "/leading-only", "trailing-only/",
                                 "/" + "a" * 511 + "/", "/sp ace/"])
def test_user_path_validation(iam_nv, bad):
    expect_error(iam_nv.create_user, UserName=uniq("u"), Path=bad,
                 error="ValidationError", http=400)


def test_user_path_max_length_accepted(iam):
    path = "/" + "p" * 510 + "/"
    assert len(path) == 512
    assert iam.create_user(UserName=uniq("u"), Path=path)["User"]["Path"] == path


def test_get_update_delete_nonexistent_user(iam):
    name = uniq("ghost")
    expect_error(iam.get_user, UserName=name, error="NoSuchEntity", http=404)
    expect_error(iam.update_user, UserName=name, NewPath="/x/", error="NoSuchEntity", http=404)
    expect_error(iam.delete_user, UserName=name, error="NoSuchEntity", http=404)
    expect_error(iam.list_access_keys, UserName=name, error="NoSuchEntity", http=404)
    expect_error(iam.create_access_key, UserName=name, error="NoSuchEntity", http=404)


def test_list_users_path_prefix_and_pagination(iam, iam_nv):
    base = "/" + uniq("lu") + "/"
    names = sorted(uniq("u") for _ in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=base)
    iam.create_user(UserName=uniq("u"), Path=base + "sub/")
    other = iam.create_user(UserName=uniq("u"), Path="/" + uniq("elsewhere") + "/")["User"]

    out = iam.list_users(PathPrefix=base)
    assert out["IsTruncated"] is False and "Marker" not in out
    listed = [u["UserName"] for u in out["Users"]]
    assert len(listed) == 6 and set(names) <= set(listed)
    assert other["UserName"] not in listed
    for u in out["Users"]:
        assert u["Path"].startswith(base) and u["Arn"].endswith("/" + u["UserName"])
        assert is_unique_id(u["UserId"], "AIDA") and isinstance(u["CreateDate"], dt.datetime)

    # everything appears in the unfiltered listing too
    all_names = [u["UserName"] for p in iam.get_paginator("list_users").paginate()
                 for u in p["Users"]]
    assert set(names) | {other["UserName"]} <= set(all_names)
    assert len(all_names) == len(set(all_names))

    # MaxItems/Marker
    seen, marker, pages = [], None, 0
    while True:
        kw = {"PathPrefix": base, "MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        page = iam.list_users(**kw)
        pages += 1
        assert len(page["Users"]) <= 2
        seen += [u["UserName"] for u in page["Users"]]
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        assert page["Marker"], page
        marker = page["Marker"]
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted(listed)

    expect_error(iam_nv.list_users, MaxItems=0, error="ValidationError", http=400)
    expect_error(iam_nv.list_users, MaxItems=1001, error="ValidationError", http=400)


def test_update_user_rename_and_path_keep_everything(iam, account_id):
    old = uniq("Old")
    u = iam.create_user(UserName=old)["User"]
    key = iam.create_access_key(UserName=old)["AccessKey"]
    group = uniq("g")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=old)
    iam.put_user_policy(UserName=old, PolicyName="inline", PolicyDocument=compact(allow()))
    pol = new_policy(iam)
    iam.attach_user_policy(UserName=old, PolicyArn=pol["Arn"])

    new = uniq("New")
    iam.update_user(UserName=old, NewUserName=new, NewPath="/moved/")
    expect_error(iam.get_user, UserName=old, error="NoSuchEntity", http=404)
    g = iam.get_user(UserName=new)["User"]
    assert g["UserName"] == new and g["Path"] == "/moved/"
    assert g["UserId"] == u["UserId"]
    assert g["Arn"] == f"arn:aws:iam::{account_id}:user/moved/{new}"

    keys = iam.list_access_keys(UserName=new)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key["AccessKeyId"]]
    assert keys[0]["UserName"] == new
    members = [m["UserName"] for m in iam.get_group(GroupName=group)["Users"]]
    assert members == [new]
    assert iam.list_user_policies(UserName=new)["PolicyNames"] == ["inline"]
    attached = iam.list_attached_user_policies(UserName=new)["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [pol["Arn"]]
    ents = iam.list_entities_for_policy(PolicyArn=pol["Arn"])["PolicyUsers"]
    assert [e["UserName"] for e in ents] == [new]

    # the renamed user's key still authenticates as that user
    s3u = conftest.make_client(iam.meta.endpoint_url, key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as ei:
        s3u.list_buckets()
    assert err_code(ei.value) != "InvalidAccessKeyId"

    # path only
    iam.update_user(UserName=new, NewPath="/again/")
    assert iam.get_user(UserName=new)["User"]["Path"] == "/again/"


def test_update_user_rename_conflicts(iam):
    a, b = uniq("ua"), uniq("ub")
    iam.create_user(UserName=a)
    iam.create_user(UserName=b)
    expect_error(iam.update_user, UserName=a, NewUserName=b, error="EntityAlreadyExists", http=409)
    expect_error(iam.update_user, UserName=a, NewUserName=b.upper(),
                 error="EntityAlreadyExists", http=409)
    assert iam.get_user(UserName=a)["User"]["UserName"] == a


def test_delete_user_conflicts_until_everything_is_removed(iam):
    name = uniq("del")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    expect_error(iam.delete_user, UserName=name, error="DeleteConflict", http=409)
    iam.delete_access_key(UserName=name, AccessKeyId=key)

    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=compact(allow()))
    expect_error(iam.delete_user, UserName=name, error="DeleteConflict", http=409)
    iam.delete_user_policy(UserName=name, PolicyName="p")

    pol = new_policy(iam)
    iam.attach_user_policy(UserName=name, PolicyArn=pol["Arn"])
    expect_error(iam.delete_user, UserName=name, error="DeleteConflict", http=409)
    iam.detach_user_policy(UserName=name, PolicyArn=pol["Arn"])

    group = uniq("g")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=name)
    expect_error(iam.delete_user, UserName=name, error="DeleteConflict", http=409)
    iam.remove_user_from_group(GroupName=group, UserName=name)

    iam.get_user(UserName=name)  # the refused deletes changed nothing
    iam.delete_user(UserName=name)
    expect_error(iam.get_user, UserName=name, error="NoSuchEntity", http=404)
    assert iam.get_group(GroupName=group)["Users"] == []
    assert iam.get_policy(PolicyArn=pol["Arn"])["Policy"]["AttachmentCount"] == 0
    # the name is free again
    iam.create_user(UserName=name)


# ==========================================================================
# access keys
# ==========================================================================
def test_create_access_key_fields_and_two_key_limit(iam, user):
    k1 = iam.create_access_key(UserName=user)["AccessKey"]
    assert k1["UserName"] == user
    assert k1["AccessKeyId"].startswith("AKIA") and len(k1["AccessKeyId"]) == 20
    assert k1["AccessKeyId"].isalnum() and k1["AccessKeyId"].isupper()
    assert len(k1["SecretAccessKey"]) == 40
    assert k1["Status"] == "Active"
    assert recent(k1["CreateDate"])
    k2 = iam.create_access_key(UserName=user)["AccessKey"]
    assert k2["AccessKeyId"] != k1["AccessKeyId"]
    assert k2["SecretAccessKey"] != k1["SecretAccessKey"]

    expect_error(iam.create_access_key, UserName=user, error="LimitExceeded", http=409)

    resp = iam.list_access_keys(UserName=user)
    meta = resp["AccessKeyMetadata"]
    assert resp["IsTruncated"] is False
    assert sorted(m["AccessKeyId"] for m in meta) == sorted([k1["AccessKeyId"], k2["AccessKeyId"]])
    for m in meta:
        assert m["UserName"] == user and m["Status"] == "Active"
        assert isinstance(m["CreateDate"], dt.datetime)
        assert "SecretAccessKey" not in m

    # after deleting one, a new one may be created
    iam.delete_access_key(UserName=user, AccessKeyId=k1["AccessKeyId"])
    iam.create_access_key(UserName=user)


def test_secret_is_returned_only_by_create_access_key(server, iam, user):
    key = iam.create_access_key(UserName=user)["AccessKey"]
    secret = key["SecretAccessKey"]
    for action, params in [("ListAccessKeys", {"UserName": user}),
                           ("GetUser", {"UserName": user}),
                           ("GetAccessKeyLastUsed", {"AccessKeyId": key["AccessKeyId"]}),
                           ("GetAccountAuthorizationDetails", {})]:
        r = iam_query(server.endpoint, server.access_key, server.secret_key, action, params)
        assert r.status_code == 200, (action, r.text)
        assert secret not in r.text, action
        assert "SecretAccessKey" not in r.text, action


def test_secrets_are_not_stored_or_logged_in_clear(server_factory):
    # "Secret access keys are stored encrypted with a master key ...; the
    # metadata store alone never reveals a secret. Nothing secret is logged."
    srv = server_factory(name="secrets")
    iam = iam_client(srv.endpoint, srv.access_key, srv.secret_key)
    _, key = new_user_with_key(iam)
    tenant = create_account(srv)
    tenant.iam().get_user()
    secrets = [key["SecretAccessKey"], tenant.secret_key, srv.secret_key]
    srv.terminate()  # flush everything to disk
    files = [p for p in srv.data_dir.rglob("*") if p.is_file()]
    assert files
    for path in files + [srv.log_path, srv.stdout_path]:
        data = path.read_bytes()
        for s in secrets:
            assert s.encode() not in data, f"a secret access key is readable in {path}"


def test_root_list_access_keys_without_user_name_lists_root_keys(server, iam):
    keys = iam.list_access_keys()["AccessKeyMetadata"]
    assert server.access_key in [k["AccessKeyId"] for k in keys]


def test_inactive_key_is_rejected_from_the_next_request_and_reactivates(server, iam):
    _, key = new_user_with_key(iam)
    iam.attach_user_policy(UserName=key["UserName"], PolicyArn=S3_FULL)
    kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
    s3u = conftest.make_client(server.endpoint, kid, secret)
    iamu = iam_client(server.endpoint, kid, secret)

    def s3_outcome():
        try:
            s3u.list_buckets()
            return "OK"
        except ClientError as e:
            return err_code(e)

    # Active: the key authenticates. (Until the policy engine lands an IAM
    # user is denied S3 (AccessDenied); with it, AmazonS3FullAccess allows.)
    assert s3_outcome() in ("OK", "AccessDenied")

    iam.update_access_key(UserName=key["UserName"], AccessKeyId=kid, Status="Inactive")
    meta = iam.list_access_keys(UserName=key["UserName"])["AccessKeyMetadata"]
    assert [m["Status"] for m in meta] == ["Inactive"]
    with pytest.raises(ClientError) as ei:
        s3u.list_buckets()
    assert (err_code(ei.value), err_status(ei.value)) == ("InvalidAccessKeyId", 403)
    with pytest.raises(ClientError) as ei:
        iamu.list_users()
    assert (err_code(ei.value), err_status(ei.value)) == ("InvalidClientTokenId", 403)

    iam.update_access_key(UserName=key["UserName"], AccessKeyId=kid, Status="Active")
    assert iam.list_access_keys(UserName=key["UserName"])["AccessKeyMetadata"][0]["Status"] == "Active"
    assert s3_outcome() in ("OK", "AccessDenied")


def test_update_access_key_errors(iam_nv, iam, user):
    kid = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    expect_error(iam_nv.update_access_key, UserName=user, AccessKeyId=kid, Status="Disabled",
                 error="ValidationError", http=400)
    expect_error(iam.update_access_key, UserName=user, AccessKeyId="AKIA" + "Z" * 16,
                 Status="Inactive", error="NoSuchEntity", http=404)
    other = uniq("u")
    iam.create_user(UserName=other)
    # a key can only be managed through the user that owns it
    expect_error(iam.update_access_key, UserName=other, AccessKeyId=kid, Status="Inactive",
                 error="NoSuchEntity", http=404)
    expect_error(iam.delete_access_key, UserName=other, AccessKeyId=kid,
                 error="NoSuchEntity", http=404)
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_deleted_key_is_rejected(server, iam):
    _, key = new_user_with_key(iam)
    user, kid = key["UserName"], key["AccessKeyId"]
    iam.delete_access_key(UserName=user, AccessKeyId=kid)
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    s3u = conftest.make_client(server.endpoint, kid, key["SecretAccessKey"])
    with pytest.raises(ClientError) as ei:
        s3u.list_buckets()
    assert (err_code(ei.value), err_status(ei.value)) == ("InvalidAccessKeyId", 403)
    iamu = iam_client(server.endpoint, kid, key["SecretAccessKey"])
    with pytest.raises(ClientError) as ei:
        iamu.get_user()
    assert (err_code(ei.value), err_status(ei.value)) == ("InvalidClientTokenId", 403)
    expect_error(iam.delete_access_key, UserName=user, AccessKeyId=kid,
                 error="NoSuchEntity", http=404)
    expect_error(iam.update_access_key, UserName=user, AccessKeyId=kid, Status="Active",
                 error="NoSuchEntity", http=404)


def test_get_access_key_last_used_for_unused_key(iam, user):
    kid = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    out = iam.get_access_key_last_used(AccessKeyId=kid)
    assert out["UserName"] == user
    last = out["AccessKeyLastUsed"]
    assert last["ServiceName"] == "N/A"
    assert last["Region"] == "N/A"
    assert "LastUsedDate" not in last


# ==========================================================================
# groups
# ==========================================================================
def test_group_lifecycle_and_membership(iam, account_id):
    group = uniq("Devs")
    g = iam.create_group(GroupName=group, Path="/eng/")["Group"]
    assert g["GroupName"] == group and g["Path"] == "/eng/"
    assert is_unique_id(g["GroupId"], "AGPA"), g["GroupId"]
    assert g["Arn"] == f"arn:aws:iam::{account_id}:group/eng/{group}"
    assert recent(g["CreateDate"])
    expect_error(iam.create_group, GroupName=group, error="EntityAlreadyExists", http=409)
    expect_error(iam.create_group, GroupName=group.lower(), error="EntityAlreadyExists", http=409)

    got = iam.get_group(GroupName=group)
    assert got["Group"]["GroupId"] == g["GroupId"] and got["Group"]["Arn"] == g["Arn"]
    assert got["Users"] == [] and got["IsTruncated"] is False

    u1, u2 = uniq("u"), uniq("u")
    for u in (u1, u2):
        iam.create_user(UserName=u)
        iam.add_user_to_group(GroupName=group, UserName=u)
    iam.add_user_to_group(GroupName=group, UserName=u1)  # idempotent
    members = iam.get_group(GroupName=group)["Users"]
    assert sorted(m["UserName"] for m in members) == sorted([u1, u2])
    for m in members:
        assert is_unique_id(m["UserId"], "AIDA") and m["Arn"].endswith("user/" + m["UserName"])

    groups = iam.list_groups_for_user(UserName=u1)["Groups"]
    assert [x["GroupName"] for x in groups] == [group]
    assert groups[0]["Arn"] == g["Arn"] and groups[0]["GroupId"] == g["GroupId"]

    listed = iam.list_groups(PathPrefix="/eng/")["Groups"]
    assert group in [x["GroupName"] for x in listed]
    assert all(x["Path"].startswith("/eng/") for x in listed)
    assert group not in [x["GroupName"] for x in iam.list_groups(PathPrefix="/" + uniq("none") + "/")["Groups"]]

    expect_error(iam.delete_group, GroupName=group, error="DeleteConflict", http=409)
    iam.remove_user_from_group(GroupName=group, UserName=u1)
    iam.remove_user_from_group(GroupName=group, UserName=u2)
    assert iam.list_groups_for_user(UserName=u1)["Groups"] == []

    pol = new_policy(iam)
    iam.attach_group_policy(GroupName=group, PolicyArn=pol["Arn"])
    expect_error(iam.delete_group, GroupName=group, error="DeleteConflict", http=409)
    iam.detach_group_policy(GroupName=group, PolicyArn=pol["Arn"])

    iam.put_group_policy(GroupName=group, PolicyName="inline", PolicyDocument=compact(allow()))
    expect_error(iam.delete_group, GroupName=group, error="DeleteConflict", http=409)
    iam.delete_group_policy(GroupName=group, PolicyName="inline")

    iam.delete_group(GroupName=group)
    expect_error(iam.get_group, GroupName=group, error="NoSuchEntity", http=404)
    expect_error(iam.delete_group, GroupName=group, error="NoSuchEntity", http=404)


def test_group_membership_errors(iam, user):
    group = uniq("g")
    iam.create_group(GroupName=group)
    expect_error(iam.add_user_to_group, GroupName=group, UserName=uniq("ghost"),
                 error="NoSuchEntity", http=404)
    expect_error(iam.add_user_to_group, GroupName=uniq("ghost"), UserName=user,
                 error="NoSuchEntity", http=404)
    expect_error(iam.list_groups_for_user, UserName=uniq("ghost"), error="NoSuchEntity", http=404)
    expect_error(iam.get_group, GroupName=uniq("ghost"), error="NoSuchEntity", http=404)


@pytest.mark.parametrize("bad", ["has space", "a" * 129, "x/y"])
def test_group_name_validation(iam_nv, bad):
    expect_error(iam_nv.create_group, GroupName=bad, error="ValidationError", http=400)


def test_group_name_128_chars_accepted(iam):
    name = uniq("g") + "g" * (128 - len(uniq("g")))
    assert len(name) == 128
    assert iam.create_group(GroupName=name)["Group"]["GroupName"] == name


# ==========================================================================
# roles
# ==========================================================================
def test_create_role_fields_and_get_role(iam, account_id):
    name = uniq("Role")
    doc = trust({"AWS": f"arn:aws:iam::{account_id}:root"},
                Condition={"StringEquals": {"sts:ExternalId": "ext-123"}})
    tags = [{"Key": "env", "Value": "test"}]
    r = iam.create_role(RoleName=name, Path="/svc/", AssumeRolePolicyDocument=json.dumps(doc, indent=2),
                        Description="a test role", MaxSessionDuration=7200, Tags=tags)["Role"]
    assert r["RoleName"] == name and r["Path"] == "/svc/"
    assert is_unique_id(r["RoleId"], "AROA"), r["RoleId"]
    assert r["Arn"] == f"arn:aws:iam::{account_id}:role/svc/{name}"
    assert recent(r["CreateDate"])
    assert r["AssumeRolePolicyDocument"] == doc  # boto3 URL-decodes and parses it
    assert r.get("Description") == "a test role"
    assert r.get("MaxSessionDuration") == 7200
    assert r.get("Tags") == tags

    g = iam.get_role(RoleName=name)["Role"]
    for k in ("RoleName", "Path", "RoleId", "Arn", "CreateDate"):
        assert g[k] == r[k], k
    assert g["AssumeRolePolicyDocument"] == doc
    assert g["Description"] == "a test role"
    assert g["MaxSessionDuration"] == 7200
    assert g["Tags"] == tags


def test_role_defaults(iam):
    r = new_role(iam)
    g = iam.get_role(RoleName=r["RoleName"])["Role"]
    assert g["Path"] == "/"
    assert g["MaxSessionDuration"] == 3600
    assert "PermissionsBoundary" not in g


def test_role_names_are_unique_case_insensitively(iam):
    r = new_role(iam)
    expect_error(iam.create_role, RoleName=r["RoleName"], AssumeRolePolicyDocument=compact(trust()),
                 error="EntityAlreadyExists", http=409)
    expect_error(iam.create_role, RoleName=r["RoleName"].upper(),
                 AssumeRolePolicyDocument=compact(trust()), error="EntityAlreadyExists", http=409)


@pytest.mark.parametrize("value", [0, 3599, 43201, 100000])
def test_max_session_duration_out_of_range(iam_nv, value):
    name = uniq("r")
    expect_error(iam_nv.create_role, RoleName=name, AssumeRolePolicyDocument=compact(trust()),
                 MaxSessionDuration=value, error="ValidationError", http=400)
    expect_error(iam_nv.get_role, RoleName=name, error="NoSuchEntity", http=404)


@pytest.mark.parametrize("value", [3600, 43200])
def test_max_session_duration_bounds_accepted(iam, value):
    r = new_role(iam, MaxSessionDuration=value)
    assert iam.get_role(RoleName=r["RoleName"])["Role"]["MaxSessionDuration"] == value


@pytest.mark.parametrize("bad", ["has space", "a" * 65, "r/x"])
def test_role_name_validation(iam_nv, bad):
    expect_error(iam_nv.create_role, RoleName=bad, AssumeRolePolicyDocument=compact(trust()),
                 error="ValidationError", http=400)


def test_list_roles_path_prefix_and_pagination(iam):
    base = "/" + uniq("lr") + "/"
    doc = trust({"Service": "lambda.amazonaws.com"})
    names = sorted(iam.create_role(RoleName=uniq("r"), Path=base,
                                   AssumeRolePolicyDocument=compact(doc))["Role"]["RoleName"]
                   for _ in range(3))
    out = iam.list_roles(PathPrefix=base)
    assert out["IsTruncated"] is False
    assert sorted(r["RoleName"] for r in out["Roles"]) == names
    for r in out["Roles"]:
        assert r["Path"] == base and is_unique_id(r["RoleId"], "AROA")
        assert r["AssumeRolePolicyDocument"] == doc
    seen = []
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=base,
                                                         PaginationConfig={"PageSize": 1}):
        assert len(page["Roles"]) <= 1
        seen += [r["RoleName"] for r in page["Roles"]]
    assert sorted(seen) == names


def test_update_role_and_assume_role_policy(iam, iam_nv, account_id):
    r = new_role(iam, Description="before")
    name = r["RoleName"]
    iam.update_role(RoleName=name, Description="after", MaxSessionDuration=14400)
    g = iam.get_role(RoleName=name)["Role"]
    assert g["Description"] == "after" and g["MaxSessionDuration"] == 14400
    expect_error(iam_nv.update_role, RoleName=name, MaxSessionDuration=50000,
                 error="ValidationError", http=400)
    assert iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 14400

    new_doc = trust({"AWS": f"arn:aws:iam::{account_id}:root"},
                    Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=compact(new_doc))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == new_doc

    # an identity policy (no Principal) is not a trust policy; nothing changes
    expect_error(iam.update_assume_role_policy, RoleName=name, PolicyDocument=compact(allow()),
                 error="MalformedPolicyDocument", http=400)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == new_doc

    ghost = uniq("ghost")
    expect_error(iam.update_role, RoleName=ghost, Description="x", error="NoSuchEntity", http=404)
    expect_error(iam.update_assume_role_policy, RoleName=ghost, PolicyDocument=compact(trust()),
                 error="NoSuchEntity", http=404)
    expect_error(iam.get_role, RoleName=ghost, error="NoSuchEntity", http=404)


def test_delete_role_conflicts_while_policies_are_attached(iam):
    r = new_role(iam)
    name = r["RoleName"]
    pol = new_policy(iam)
    iam.attach_role_policy(RoleName=name, PolicyArn=pol["Arn"])
    expect_error(iam.delete_role, RoleName=name, error="DeleteConflict", http=409)
    iam.detach_role_policy(RoleName=name, PolicyArn=pol["Arn"])

    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=compact(allow()))
    expect_error(iam.delete_role, RoleName=name, error="DeleteConflict", http=409)
    iam.delete_role_policy(RoleName=name, PolicyName="inline")

    iam.delete_role(RoleName=name)
    expect_error(iam.get_role, RoleName=name, error="NoSuchEntity", http=404)
    expect_error(iam.delete_role, RoleName=name, error="NoSuchEntity", http=404)


@pytest.mark.parametrize("doc,why", [
    ("{not json", "invalid JSON"),
    (compact(allow()), "no Principal"),
    (compact(trust(Resource="*")), "Resource in a trust policy"),
    (compact(trust(Effect="Permit")), "bad Effect"),
    ('[]', "not an object"),
])
def test_create_role_malformed_trust_policy(iam, doc, why):
    name = uniq("r")
    expect_error(iam.create_role, RoleName=name, AssumeRolePolicyDocument=doc,
                 error="MalformedPolicyDocument", http=400)
    expect_error(iam.get_role, RoleName=name, error="NoSuchEntity", http=404)


def test_trust_policy_size_quota(iam):
    ok = sized_trust_policy(2048)
    r = iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=ok)["Role"]
    # whitespace does not count
    spaced = with_whitespace(sized_trust_policy(2000), 1500)
    iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=spaced)
    name = uniq("r")
    expect_error(iam.create_role, RoleName=name, AssumeRolePolicyDocument=sized_trust_policy(2049),
                 error="LimitExceeded", http=409)
    expect_error(iam.get_role, RoleName=name, error="NoSuchEntity", http=404)
    expect_error(iam.update_assume_role_policy, RoleName=r["RoleName"],
                 PolicyDocument=sized_trust_policy(2200), error="LimitExceeded", http=409)


def test_create_role_with_permissions_boundary(iam):
    pol = new_policy(iam)
    r = new_role(iam, PermissionsBoundary=pol["Arn"])
    pb = iam.get_role(RoleName=r["RoleName"])["Role"]["PermissionsBoundary"]
    assert pb == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": pol["Arn"]}
    name = uniq("r")
    with pytest.raises(ClientError) as ei:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=compact(trust()),
                        PermissionsBoundary=pol["Arn"] + "-missing")
    # AWS: "Scope ARN: ... does not exist or is not attachable."
    assert err_code(ei.value) in ("NoSuchEntity", "InvalidInput"), ei.value.response
    expect_error(iam.get_role, RoleName=name, error="NoSuchEntity", http=404)


# ==========================================================================
# managed policies
# ==========================================================================
def test_create_and_get_policy_fields(iam, account_id):
    name = uniq("Pol")
    doc = allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::bucket/*")
    p = iam.create_policy(PolicyName=name, Path="/team/", PolicyDocument=json.dumps(doc, indent=4),
                          Description="reads and writes")["Policy"]
    assert p["PolicyName"] == name and p["Path"] == "/team/"
    assert is_unique_id(p["PolicyId"], "ANPA"), p["PolicyId"]
    assert p["Arn"] == f"arn:aws:iam::{account_id}:policy/team/{name}"
    assert p["DefaultVersionId"] == "v1"
    assert p["AttachmentCount"] == 0
    assert p["PermissionsBoundaryUsageCount"] == 0
    assert p["IsAttachable"] is True
    assert recent(p["CreateDate"]) and recent(p["UpdateDate"])

    g = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
    for k in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "AttachmentCount",
              "PermissionsBoundaryUsageCount", "IsAttachable", "CreateDate"):
        assert g[k] == p[k], k
    assert g["Description"] == "reads and writes"

    v = iam.get_policy_version(PolicyArn=p["Arn"], VersionId="v1")["PolicyVersion"]
    assert v["Document"] == doc  # boto3 URL-decodes and parses it
    assert v["VersionId"] == "v1" and v["IsDefaultVersion"] is True
    assert isinstance(v["CreateDate"], dt.datetime)

    expect_error(iam.create_policy, PolicyName=name, PolicyDocument=compact(allow()),
                 error="EntityAlreadyExists", http=409)
    expect_error(iam.create_policy, PolicyName=name.upper(), PolicyDocument=compact(allow()),
                 error="EntityAlreadyExists", http=409)
    expect_error(iam.get_policy, PolicyArn=f"arn:aws:iam::{account_id}:policy/{uniq('ghost')}",
                 error="NoSuchEntity", http=404)


def test_aws_managed_s3_policies_exist(iam):
    for arn, name in [(S3_FULL, "AmazonS3FullAccess"), (S3_READ, "AmazonS3ReadOnlyAccess")]:
        p = iam.get_policy(PolicyArn=arn)["Policy"]
        assert p["Arn"] == arn and p["PolicyName"] == name
        assert p["Path"] == "/" and p["IsAttachable"] is True
        assert is_unique_id(p["PolicyId"], "ANPA")
        v = iam.get_policy_version(PolicyArn=arn, VersionId=p["DefaultVersionId"])["PolicyVersion"]
        doc = v["Document"]
        assert isinstance(doc, dict) and doc["Version"] == "2012-10-17"
        actions = json.dumps(doc["Statement"])
        assert "s3:" in actions
    # an AWS managed policy cannot be changed or deleted by an account
    with pytest.raises(ClientError):
        iam.delete_policy(PolicyArn=S3_READ)
    with pytest.raises(ClientError):
        iam.create_policy_version(PolicyArn=S3_READ, PolicyDocument=compact(allow("s3:*")))
    iam.get_policy(PolicyArn=S3_READ)


def test_policy_versions(iam, iam_nv):
    p = new_policy(iam, allow("s3:GetObject"))
    arn = p["Arn"]
    docs = {"v1": allow("s3:GetObject")}

    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=compact(allow("s3:PutObject")))["PolicyVersion"]
    docs["v2"] = allow("s3:PutObject")
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"] is False
    assert isinstance(v2["CreateDate"], dt.datetime)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"

    v3 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=compact(allow("s3:ListBucket")),
                                   SetAsDefault=True)["PolicyVersion"]
    docs["v3"] = allow("s3:ListBucket")
    assert v3["VersionId"] == "v3" and v3["IsDefaultVersion"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["IsDefaultVersion"] is False

    for vid, doc in docs.items():
        got = iam.get_policy_version(PolicyArn=arn, VersionId=vid)["PolicyVersion"]
        assert got["Document"] == doc and got["VersionId"] == vid

    for i in (4, 5):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=compact(allow(f"s3:Get{i}")))
    listed = iam.list_policy_versions(PolicyArn=arn)
    versions = listed["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v1", "v2", "v3", "v4", "v5"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v3"]
    assert listed["IsTruncated"] is False

    expect_error(iam.create_policy_version, PolicyArn=arn, PolicyDocument=compact(allow()),
                 error="LimitExceeded", http=409)
    expect_error(iam.delete_policy_version, PolicyArn=arn, VersionId="v3",
                 error="DeleteConflict", http=409)

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    expect_error(iam.get_policy_version, PolicyArn=arn, VersionId="v1", error="NoSuchEntity", http=404)
    expect_error(iam.set_default_policy_version, PolicyArn=arn, VersionId="v1",
                 error="NoSuchEntity", http=404)
    expect_error(iam.delete_policy_version, PolicyArn=arn, VersionId="v1",
                 error="NoSuchEntity", http=404)
    # version ids are never reused
    v6 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=compact(allow("s3:Get6")))["PolicyVersion"]
    assert v6["VersionId"] == "v6"

    # DeletePolicy refuses while non-default versions exist
    expect_error(iam.delete_policy, PolicyArn=arn, error="DeleteConflict", http=409)
    iam.get_policy(PolicyArn=arn)
    for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not v["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
    iam.delete_policy(PolicyArn=arn)
    expect_error(iam.get_policy, PolicyArn=arn, error="NoSuchEntity", http=404)
    expect_error(iam.list_policy_versions, PolicyArn=arn, error="NoSuchEntity", http=404)


@pytest.mark.parametrize("bad", ["version1", "V1"])
def test_policy_version_id_validation(iam, iam_nv, bad):
    # VersionId pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?
    arn = new_policy(iam)["Arn"]
    expect_error(iam_nv.get_policy_version, PolicyArn=arn, VersionId=bad,
                 error="ValidationError", http=400)
    expect_error(iam_nv.set_default_policy_version, PolicyArn=arn, VersionId=bad,
                 error="ValidationError", http=400)


def test_delete_policy_conflicts_while_attached(iam, user):
    p = new_policy(iam)
    iam.attach_user_policy(UserName=user, PolicyArn=p["Arn"])
    expect_error(iam.delete_policy, PolicyArn=p["Arn"], error="DeleteConflict", http=409)
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["AttachmentCount"] == 1
    iam.detach_user_policy(UserName=user, PolicyArn=p["Arn"])
    iam.delete_policy(PolicyArn=p["Arn"])
    expect_error(iam.get_policy, PolicyArn=p["Arn"], error="NoSuchEntity", http=404)
    expect_error(iam.delete_policy, PolicyArn=p["Arn"], error="NoSuchEntity", http=404)


def test_list_policies_scope_and_only_attached(tenant):
    iam = tenant.iam()
    local = sorted([new_policy(iam, Path="/a/")["Arn"], new_policy(iam, Path="/b/")["Arn"],
                    new_policy(iam)["Arn"]])
    user = uniq("u")
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=local[0])
    iam.attach_user_policy(UserName=user, PolicyArn=S3_READ)

    def arns(**kw):
        return [p["Arn"] for page in iam.get_paginator("list_policies").paginate(**kw)
                for p in page["Policies"]]

    aws = arns(Scope="AWS")
    assert S3_FULL in aws and S3_READ in aws
    assert all(a.startswith("arn:aws:iam::aws:policy/") for a in aws)
    assert sorted(arns(Scope="Local")) == local
    everything = arns(Scope="All")
    assert set(everything) == set(aws) | set(local)
    assert sorted(arns()) == sorted(everything)  # Scope defaults to All

    assert arns(Scope="Local", OnlyAttached=True) == [local[0]]
    assert arns(Scope="AWS", OnlyAttached=True) == [S3_READ]
    assert sorted(arns(Scope="All", OnlyAttached=True)) == sorted([local[0], S3_READ])
    assert arns(Scope="Local", PathPrefix="/b/") == [a for a in local if ":policy/b/" in a]

    attached = {p["Arn"]: p for p in iam.list_policies(Scope="All", OnlyAttached=True)["Policies"]}
    # AttachmentCount is per account, AWS managed policies included
    assert attached[S3_READ]["AttachmentCount"] == 1
    assert attached[local[0]]["AttachmentCount"] == 1
    assert iam.get_policy(PolicyArn=S3_READ)["Policy"]["AttachmentCount"] == 1
    assert iam.get_policy(PolicyArn=S3_FULL)["Policy"]["AttachmentCount"] == 0

    page = iam.list_policies(Scope="Local", MaxItems=2)
    assert len(page["Policies"]) == 2 and page["IsTruncated"] is True and page["Marker"]
    rest = iam.list_policies(Scope="Local", MaxItems=2, Marker=page["Marker"])
    assert rest["IsTruncated"] is False
    assert sorted([p["Arn"] for p in page["Policies"] + rest["Policies"]]) == local


def test_attach_detach_list_attached_and_entities(iam):
    p = new_policy(iam)
    arn = p["Arn"]
    user, group = uniq("u"), uniq("g")
    u = iam.create_user(UserName=user)["User"]
    g = iam.create_group(GroupName=group)["Group"]
    r = new_role(iam)

    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=r["RoleName"], PolicyArn=arn)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)  # idempotent
    iam.attach_role_policy(RoleName=r["RoleName"], PolicyArn=S3_READ)

    want = {"PolicyName": p["PolicyName"], "PolicyArn": arn}
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == [want]
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == [want]
    role_att = iam.list_attached_role_policies(RoleName=r["RoleName"])
    assert role_att["IsTruncated"] is False
    assert sorted(role_att["AttachedPolicies"], key=lambda a: a["PolicyArn"]) == sorted(
        [want, {"PolicyName": "AmazonS3ReadOnlyAccess", "PolicyArn": S3_READ}],
        key=lambda a: a["PolicyArn"])
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 3

    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert ents["PolicyUsers"] == [{"UserName": user, "UserId": u["UserId"]}]
    assert ents["PolicyGroups"] == [{"GroupName": group, "GroupId": g["GroupId"]}]
    assert ents["PolicyRoles"] == [{"RoleName": r["RoleName"], "RoleId": r["RoleId"]}]
    assert ents["IsTruncated"] is False

    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == []
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    assert iam.list_entities_for_policy(PolicyArn=arn)["PolicyGroups"] == []
    # detaching what is not attached
    expect_error(iam.detach_group_policy, GroupName=group, PolicyArn=arn, error="NoSuchEntity", http=404)


def test_list_entities_for_policy_entity_filter(iam):
    arn = new_policy(iam)["Arn"]
    user, group = uniq("u"), uniq("g")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    role = new_role(iam)["RoleName"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    for flt, key, name in [("User", "PolicyUsers", user), ("Group", "PolicyGroups", group),
                           ("Role", "PolicyRoles", role)]:
        out = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter=flt)
        got = {k: out.get(k, []) for k in ("PolicyUsers", "PolicyGroups", "PolicyRoles")}
        name_key = {"PolicyUsers": "UserName", "PolicyGroups": "GroupName", "PolicyRoles": "RoleName"}
        assert [e[name_key[key]] for e in got.pop(key)] == [name], flt
        assert got == {k: [] for k in got}, (flt, got)


def test_attach_nonexistent_policy_or_entity(iam, account_id, user):
    ghost_arn = f"arn:aws:iam::{account_id}:policy/{uniq('ghost')}"
    group = uniq("g")
    iam.create_group(GroupName=group)
    role = new_role(iam)["RoleName"]
    expect_error(iam.attach_user_policy, UserName=user, PolicyArn=ghost_arn, error="NoSuchEntity", http=404)
    expect_error(iam.attach_group_policy, GroupName=group, PolicyArn=ghost_arn, error="NoSuchEntity", http=404)
    expect_error(iam.attach_role_policy, RoleName=role, PolicyArn=ghost_arn, error="NoSuchEntity", http=404)
    expect_error(iam.attach_user_policy, UserName=user, PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicyHere",
                 error="NoSuchEntity", http=404)
    p = new_policy(iam)
    expect_error(iam.attach_user_policy, UserName=uniq("ghost"), PolicyArn=p["Arn"], error="NoSuchEntity", http=404)
    expect_error(iam.attach_role_policy, RoleName=uniq("ghost"), PolicyArn=p["Arn"], error="NoSuchEntity", http=404)
    expect_error(iam.attach_group_policy, GroupName=uniq("ghost"), PolicyArn=p["Arn"], error="NoSuchEntity", http=404)
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["AttachmentCount"] == 0


def test_attach_policy_with_malformed_arn_is_invalid_input(iam, user):
    # AWS: InvalidInput "ARN this-is-not-an-arn-at-all is not valid."
    for bad in ["this-is-not-an-arn-at-all", "arn:aws:s3:::not-an-iam-policy"]:
        expect_error(iam.attach_user_policy, UserName=user, PolicyArn=bad,
                     error="InvalidInput", http=400)
        expect_error(iam.get_policy, PolicyArn=bad, error="InvalidInput", http=400)
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []


def test_ten_managed_policies_per_identity(iam):
    arns = [new_policy(iam)["Arn"] for _ in range(11)]
    user, group = uniq("u"), uniq("g")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    role = new_role(iam)["RoleName"]
    for a in arns[:10]:
        iam.attach_user_policy(UserName=user, PolicyArn=a)
        iam.attach_group_policy(GroupName=group, PolicyArn=a)
        iam.attach_role_policy(RoleName=role, PolicyArn=a)
    expect_error(iam.attach_user_policy, UserName=user, PolicyArn=arns[10], error="LimitExceeded", http=409)
    expect_error(iam.attach_group_policy, GroupName=group, PolicyArn=arns[10], error="LimitExceeded", http=409)
    expect_error(iam.attach_role_policy, RoleName=role, PolicyArn=arns[10], error="LimitExceeded", http=409)
    assert len(iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]) == 10
    assert iam.get_policy(PolicyArn=arns[10])["Policy"]["AttachmentCount"] == 0
    # re-attaching one already attached is not an 11th
    iam.attach_user_policy(UserName=user, PolicyArn=arns[0])
    iam.detach_user_policy(UserName=user, PolicyArn=arns[0])
    iam.attach_user_policy(UserName=user, PolicyArn=arns[10])


# ==========================================================================
# policy documents: validation and sizes
# ==========================================================================
MALFORMED_IDENTITY = [
    pytest.param("{not json", id="invalid-json"),
    pytest.param("[]", id="not-an-object"),
    pytest.param(compact(allow(Principal={"AWS": "*"})), id="principal"),
    pytest.param(compact({"Version": "2012-10-17",
                          "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}), id="no-resource"),
    pytest.param(compact(allow(Effect="Permit")), id="bad-effect"),
    pytest.param(compact({"Version": "2012-10-17",
                          "Statement": [{"Action": "s3:GetObject", "Resource": "*"}]}), id="no-effect"),
    pytest.param(compact({"Version": "2012-10-17",
                          "Statement": [{"Effect": "Allow", "Resource": "*"}]}), id="no-action"),
    pytest.param(compact(allow("GetObject")), id="action-without-service"),
    pytest.param(compact({"Version": "2012-10-18", "Statement": allow()["Statement"]}), id="bad-version"),
    pytest.param(compact({"Version": "2012-10-17"}), id="no-statement"),
]


@pytest.mark.parametrize("doc", MALFORMED_IDENTITY)
def test_create_policy_malformed_document(iam, account_id, doc):
    name = uniq("p")
    exc = expect_error(iam.create_policy, PolicyName=name, PolicyDocument=doc,
                       error="MalformedPolicyDocument", http=400)
    assert err_message(exc), "MalformedPolicyDocument should say why"
    expect_error(iam.get_policy, PolicyArn=f"arn:aws:iam::{account_id}:policy/{name}",
                 error="NoSuchEntity", http=404)


@pytest.mark.parametrize("doc", MALFORMED_IDENTITY)
def test_put_user_policy_malformed_document(iam, user, doc):
    expect_error(iam.put_user_policy, UserName=user, PolicyName="p", PolicyDocument=doc,
                 error="MalformedPolicyDocument", http=400)
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []


def test_create_policy_version_malformed_document(iam):
    p = new_policy(iam)
    expect_error(iam.create_policy_version, PolicyArn=p["Arn"],
                 PolicyDocument=compact(allow(Principal="*")), error="MalformedPolicyDocument", http=400)
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]] == ["v1"]


def test_valid_document_variants_are_accepted(iam, user):
    docs = [
        {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotAction": "s3:*",
                                                "NotResource": "arn:aws:s3:::b"}},
        {"Version": "2008-10-17", "Statement": [{"Sid": "One", "Effect": "Allow",
                                                 "Action": ["s3:Get*", "s3:List*"],
                                                 "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                                                 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    ]
    for i, doc in enumerate(docs):
        p = iam.create_policy(PolicyName=uniq("p"), PolicyDocument=json.dumps(doc))["Policy"]
        got = iam.get_policy_version(PolicyArn=p["Arn"], VersionId="v1")["PolicyVersion"]["Document"]
        assert got == doc
        iam.put_user_policy(UserName=user, PolicyName=f"p{i}", PolicyDocument=json.dumps(doc))
        assert iam.get_user_policy(UserName=user, PolicyName=f"p{i}")["PolicyDocument"] == doc


@pytest.mark.parametrize("bad", ["has space", "a" * 129, "x/y", "x:y"])
def test_policy_name_validation(iam_nv, bad):
    expect_error(iam_nv.create_policy, PolicyName=bad, PolicyDocument=compact(allow()),
                 error="ValidationError", http=400)


@pytest.mark.parametrize("bad", ["nopath", "/open", "/sp ace/"])
def test_policy_path_validation(iam_nv, bad):
    expect_error(iam_nv.create_policy, PolicyName=uniq("p"), Path=bad,
                 PolicyDocument=compact(allow()), error="ValidationError", http=400)


def test_policy_name_128_chars_accepted(iam):
    name = uniq("p") + "p" * (128 - len(uniq("p")))
    assert iam.create_policy(PolicyName=name, PolicyDocument=compact(allow()))["Policy"]["PolicyName"] == name


def test_managed_policy_size_quota(iam, account_id):
    # "The size of each managed policy cannot exceed 6,144 characters";
    # whitespace does not count.
    p = iam.create_policy(PolicyName=uniq("p"), PolicyDocument=sized_identity_policy(6144))["Policy"]
    iam.create_policy(PolicyName=uniq("p"),
                      PolicyDocument=with_whitespace(sized_identity_policy(6000), 3000))
    name = uniq("p")
    expect_error(iam.create_policy, PolicyName=name, PolicyDocument=sized_identity_policy(6145),
                 error="LimitExceeded", http=409)
    expect_error(iam.get_policy, PolicyArn=f"arn:aws:iam::{account_id}:policy/{name}",
                 error="NoSuchEntity", http=404)
    expect_error(iam.create_policy_version, PolicyArn=p["Arn"],
                 PolicyDocument=sized_identity_policy(7000), error="LimitExceeded", http=409)
    assert len(iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]) == 1


@pytest.mark.parametrize("kind,limit", [("user", 2048), ("group", 5120), ("role", 10240)])
def test_inline_policy_aggregate_size_quota(iam, kind, limit):
    # "the total aggregate policy size (the sum size of all inline policies)
    # per entity": user 2,048, group 5,120, role 10,240 characters.
    if kind == "user":
        ent = {"UserName": uniq("u")}
        iam.create_user(**ent)
        put, lst = iam.put_user_policy, iam.list_user_policies
    elif kind == "group":
        ent = {"GroupName": uniq("g")}
        iam.create_group(**ent)
        put, lst = iam.put_group_policy, iam.list_group_policies
    else:
        ent = {"RoleName": new_role(iam)["RoleName"]}
        put, lst = iam.put_role_policy, iam.list_role_policies

    big = int(limit * 0.6)
    put(**ent, PolicyName="a", PolicyDocument=sized_identity_policy(big))
    # replacing a policy does not count it twice
    put(**ent, PolicyName="a", PolicyDocument=sized_identity_policy(big))
    # whitespace does not count
    put(**ent, PolicyName="b", PolicyDocument=with_whitespace(sized_identity_policy(int(limit * 0.3)),
                                                               limit))
    expect_error(put, **ent, PolicyName="c", PolicyDocument=sized_identity_policy(int(limit * 0.2)),
                 error="LimitExceeded", http=409)
    assert sorted(lst(**ent)["PolicyNames"]) == ["a", "b"]
    # a single document over the limit on its own
    fresh_err = expect_error(put, **ent, PolicyName="a", PolicyDocument=sized_identity_policy(limit + 100),
                             error="LimitExceeded", http=409)
    assert err_message(fresh_err)


# ==========================================================================
# inline policies
# ==========================================================================
@pytest.mark.parametrize("kind", ["user", "group", "role"])
def test_inline_policy_crud(iam, kind):
    if kind == "user":
        key, name = "UserName", uniq("u")
        iam.create_user(UserName=name)
        put, get, lst, delete = (iam.put_user_policy, iam.get_user_policy,
                                 iam.list_user_policies, iam.delete_user_policy)
    elif kind == "group":
        key, name = "GroupName", uniq("g")
        iam.create_group(GroupName=name)
        put, get, lst, delete = (iam.put_group_policy, iam.get_group_policy,
                                 iam.list_group_policies, iam.delete_group_policy)
    else:
        key, name = "RoleName", new_role(iam)["RoleName"]
        put, get, lst, delete = (iam.put_role_policy, iam.get_role_policy,
                                 iam.list_role_policies, iam.delete_role_policy)
    ent = {key: name}
    d1, d2 = allow("s3:GetObject"), allow("s3:PutObject", "arn:aws:s3:::b/*")
    assert lst(**ent)["PolicyNames"] == []
    put(**ent, PolicyName="first", PolicyDocument=json.dumps(d1, indent=2))
    put(**ent, PolicyName="second", PolicyDocument=compact(d2))
    got = get(**ent, PolicyName="first")
    assert got[key] == name and got["PolicyName"] == "first"
    assert got["PolicyDocument"] == d1  # boto3 decodes it
    out = lst(**ent)
    assert sorted(out["PolicyNames"]) == ["first", "second"] and out["IsTruncated"] is False
    # Put overwrites
    put(**ent, PolicyName="first", PolicyDocument=compact(d2))
    assert get(**ent, PolicyName="first")["PolicyDocument"] == d2
    assert sorted(lst(**ent)["PolicyNames"]) == ["first", "second"]
    # inline policies are not managed policies
    attached = {"user": iam.list_attached_user_policies, "group": iam.list_attached_group_policies,
                "role": iam.list_attached_role_policies}[kind](**ent)["AttachedPolicies"]
    assert attached == []

    delete(**ent, PolicyName="first")
    expect_error(get, **ent, PolicyName="first", error="NoSuchEntity", http=404)
    expect_error(delete, **ent, PolicyName="first", error="NoSuchEntity", http=404)
    assert lst(**ent)["PolicyNames"] == ["second"]

    ghost = {key: uniq("ghost")}
    expect_error(put, **ghost, PolicyName="x", PolicyDocument=compact(d1), error="NoSuchEntity", http=404)
    expect_error(lst, **ghost, error="NoSuchEntity", http=404)


# ==========================================================================
# permissions boundaries
# ==========================================================================
def test_user_permissions_boundary(iam, user):
    p = new_policy(iam)
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=p["Arn"])
    pb = iam.get_user(UserName=user)["User"]["PermissionsBoundary"]
    assert pb == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": p["Arn"]}
    got = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
    assert got["PermissionsBoundaryUsageCount"] == 1
    assert got["AttachmentCount"] == 0
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []

    # replace with an AWS managed policy
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=S3_FULL)
    assert iam.get_user(UserName=user)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == S3_FULL
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["PermissionsBoundaryUsageCount"] == 0

    iam.delete_user_permissions_boundary(UserName=user)
    assert "PermissionsBoundary" not in iam.get_user(UserName=user)["User"]

    expect_error(iam.put_user_permissions_boundary, UserName=user,
                 PermissionsBoundary=p["Arn"] + "-missing", error="NoSuchEntity", http=404)
    expect_error(iam.put_user_permissions_boundary, UserName=uniq("ghost"),
                 PermissionsBoundary=p["Arn"], error="NoSuchEntity", http=404)
    assert "PermissionsBoundary" not in iam.get_user(UserName=user)["User"]


def test_role_permissions_boundary(iam):
    p = new_policy(iam)
    role = new_role(iam)["RoleName"]
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=p["Arn"])
    pb = iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]
    assert pb == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": p["Arn"]}
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["PermissionsBoundaryUsageCount"] == 1
    iam.delete_role_permissions_boundary(RoleName=role)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=role)["Role"]
    assert iam.get_policy(PolicyArn=p["Arn"])["Policy"]["PermissionsBoundaryUsageCount"] == 0
    expect_error(iam.put_role_permissions_boundary, RoleName=uniq("ghost"),
                 PermissionsBoundary=p["Arn"], error="NoSuchEntity", http=404)
    expect_error(iam.put_role_permissions_boundary, RoleName=role,
                 PermissionsBoundary=p["Arn"] + "-missing", error="NoSuchEntity", http=404)


# ==========================================================================
# tags
# ==========================================================================
def _tags(lst):
    return {t["Key"]: t["Value"] for t in lst}


def test_user_tags(iam, user):
    iam.tag_user(UserName=user, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    out = iam.list_user_tags(UserName=user)
    assert _tags(out["Tags"]) == {"a": "1", "b": "2"} and out["IsTruncated"] is False
    iam.tag_user(UserName=user, Tags=[{"Key": "a", "Value": "changed"}, {"Key": "c", "Value": ""}])
    assert _tags(iam.list_user_tags(UserName=user)["Tags"]) == {"a": "changed", "b": "2", "c": ""}
    assert _tags(iam.get_user(UserName=user)["User"]["Tags"]) == {"a": "changed", "b": "2", "c": ""}
    iam.untag_user(UserName=user, TagKeys=["a", "not-there"])
    assert _tags(iam.list_user_tags(UserName=user)["Tags"]) == {"b": "2", "c": ""}
    ghost = uniq("ghost")
    expect_error(iam.tag_user, UserName=ghost, Tags=[{"Key": "a", "Value": "1"}],
                 error="NoSuchEntity", http=404)
    expect_error(iam.list_user_tags, UserName=ghost, error="NoSuchEntity", http=404)
    expect_error(iam.untag_user, UserName=ghost, TagKeys=["a"], error="NoSuchEntity", http=404)


def test_role_tags(iam):
    role = new_role(iam, Tags=[{"Key": "k0", "Value": "v0"}])["RoleName"]
    iam.tag_role(RoleName=role, Tags=[{"Key": "k1", "Value": "v1"}])
    assert _tags(iam.list_role_tags(RoleName=role)["Tags"]) == {"k0": "v0", "k1": "v1"}
    assert _tags(iam.get_role(RoleName=role)["Role"]["Tags"]) == {"k0": "v0", "k1": "v1"}
    iam.untag_role(RoleName=role, TagKeys=["k0"])
    assert _tags(iam.list_role_tags(RoleName=role)["Tags"]) == {"k1": "v1"}
    expect_error(iam.tag_role, RoleName=uniq("ghost"), Tags=[{"Key": "a", "Value": "1"}],
                 error="NoSuchEntity", http=404)


def test_fifty_tags_per_user_and_role(iam):
    user = uniq("u")
    iam.create_user(UserName=user)
    role = new_role(iam)["RoleName"]
    fifty = [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(50)]
    for chunk in (fifty[:25], fifty[25:]):
        iam.tag_user(UserName=user, Tags=chunk)
        iam.tag_role(RoleName=role, Tags=chunk)
    assert len(iam.list_user_tags(UserName=user)["Tags"]) == 50
    # re-tagging an existing key is not a 51st tag
    iam.tag_user(UserName=user, Tags=[{"Key": "k00", "Value": "again"}])
    expect_error(iam.tag_user, UserName=user, Tags=[{"Key": "one-more", "Value": "x"}],
                 error="LimitExceeded", http=409)
    expect_error(iam.tag_role, RoleName=role, Tags=[{"Key": "one-more", "Value": "x"}],
                 error="LimitExceeded", http=409)
    assert len(iam.list_user_tags(UserName=user)["Tags"]) == 50
    assert "one-more" not in _tags(iam.list_role_tags(RoleName=role)["Tags"])


# ==========================================================================
# GetAccountAuthorizationDetails
# ==========================================================================
def test_get_account_authorization_details(tenant):
    iam = tenant.iam()
    acct = tenant.id
    user, group = uniq("u"), uniq("g")
    u = iam.create_user(UserName=user, Path="/people/", Tags=[{"Key": "t", "Value": "1"}])["User"]
    g = iam.create_group(GroupName=group)["Group"]
    iam.add_user_to_group(GroupName=group, UserName=user)
    role_doc = trust({"AWS": f"arn:aws:iam::{acct}:root"})
    r = iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=compact(role_doc))["Role"]
    pdoc = allow("s3:ListBucket", "arn:aws:s3:::b")
    p = iam.create_policy(PolicyName=uniq("p"), PolicyDocument=compact(pdoc))["Policy"]
    iam.create_policy_version(PolicyArn=p["Arn"], PolicyDocument=compact(allow("s3:*")))
    ipol = allow("s3:GetObject")
    iam.put_user_policy(UserName=user, PolicyName="ui", PolicyDocument=compact(ipol))
    iam.put_group_policy(GroupName=group, PolicyName="gi", PolicyDocument=compact(ipol))
    iam.put_role_policy(RoleName=r["RoleName"], PolicyName="ri", PolicyDocument=compact(ipol))
    iam.attach_user_policy(UserName=user, PolicyArn=p["Arn"])
    iam.attach_group_policy(GroupName=group, PolicyArn=S3_READ)
    iam.attach_role_policy(RoleName=r["RoleName"], PolicyArn=p["Arn"])

    pages = list(iam.get_paginator("get_account_authorization_details").paginate())
    users = [x for pg in pages for x in pg["UserDetailList"]]
    groups = [x for pg in pages for x in pg["GroupDetailList"]]
    roles = [x for pg in pages for x in pg["RoleDetailList"]]
    policies = [x for pg in pages for x in pg["Policies"]]

    assert [x["UserName"] for x in users] == [user]
    ud = users[0]
    assert ud["UserId"] == u["UserId"] and ud["Arn"] == u["Arn"] and ud["Path"] == "/people/"
    assert isinstance(ud["CreateDate"], dt.datetime)
    assert ud["GroupList"] == [group]
    assert ud["UserPolicyList"] == [{"PolicyName": "ui", "PolicyDocument": ipol}]
    assert ud["AttachedManagedPolicies"] == [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]}]
    assert _tags(ud.get("Tags", [])) == {"t": "1"}

    assert [x["GroupName"] for x in groups] == [group]
    gd = groups[0]
    assert gd["GroupId"] == g["GroupId"] and gd["Arn"] == g["Arn"]
    assert gd["GroupPolicyList"] == [{"PolicyName": "gi", "PolicyDocument": ipol}]
    assert gd["AttachedManagedPolicies"] == [{"PolicyName": "AmazonS3ReadOnlyAccess", "PolicyArn": S3_READ}]

    assert [x["RoleName"] for x in roles] == [r["RoleName"]]
    rd = roles[0]
    assert rd["RoleId"] == r["RoleId"] and rd["Arn"] == r["Arn"]
    assert rd["AssumeRolePolicyDocument"] == role_doc
    assert rd["RolePolicyList"] == [{"PolicyName": "ri", "PolicyDocument": ipol}]
    assert rd["AttachedManagedPolicies"] == [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]}]

    local = [x for x in policies if x["Arn"] == p["Arn"]]
    assert len(local) == 1
    pd = local[0]
    assert pd["PolicyName"] == p["PolicyName"] and pd["PolicyId"] == p["PolicyId"]
    assert pd["DefaultVersionId"] == "v1" and pd["IsAttachable"] is True
    versions = {v["VersionId"]: v for v in pd["PolicyVersionList"]}
    assert set(versions) == {"v1", "v2"}
    assert versions["v1"]["Document"] == pdoc and versions["v1"]["IsDefaultVersion"] is True
    assert versions["v2"]["Document"] == allow("s3:*") and versions["v2"]["IsDefaultVersion"] is False
    assert all(not x["Arn"].startswith(f"arn:aws:iam::{acct}:") or x["Arn"] == p["Arn"]
               for x in policies)
    # ManagedPolicyDetail carries the counts, as GetPolicy does
    assert pd.get("AttachmentCount") == 2, pd
    assert pd.get("PermissionsBoundaryUsageCount") == 0, pd



def test_get_account_authorization_details_filter(tenant):
    iam = tenant.iam()
    user, group = uniq("u"), uniq("g")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    role = new_role(iam)["RoleName"]
    p = new_policy(iam)
    iam.attach_role_policy(RoleName=role, PolicyArn=S3_READ)
    iam.attach_role_policy(RoleName=role, PolicyArn=p["Arn"])

    only_users = iam.get_account_authorization_details(Filter=["User"])
    assert [x["UserName"] for x in only_users["UserDetailList"]] == [user]
    assert not only_users.get("GroupDetailList") and not only_users.get("RoleDetailList")
    assert not only_users.get("Policies")
    only_local = iam.get_account_authorization_details(Filter=["LocalManagedPolicy"])
    assert [x["Arn"] for x in only_local["Policies"]] == [p["Arn"]]
    assert not only_local.get("UserDetailList") and not only_local.get("RoleDetailList")
    only_aws = iam.get_account_authorization_details(Filter=["AWSManagedPolicy"])
    aws_arns = [x["Arn"] for x in only_aws["Policies"]]
    assert S3_READ in aws_arns
    assert all(a.startswith("arn:aws:iam::aws:policy/") for a in aws_arns), aws_arns
    two = iam.get_account_authorization_details(Filter=["Role", "Group"])
    assert [x["RoleName"] for x in two["RoleDetailList"]] == [role]
    assert [x["GroupName"] for x in two["GroupDetailList"]] == [group]
    assert not two.get("UserDetailList") and not two.get("Policies")


# ==========================================================================
# errors on the wire
# ==========================================================================
def test_error_response_document(server, iam):
    r = iam_query(server.endpoint, server.access_key, server.secret_key, "GetUser",
                  {"UserName": uniq("ghost")})
    assert r.status_code == 404
    root = ET.fromstring(r.content)
    assert root.tag.endswith("ErrorResponse")
    assert xml_text(root, "Type") == "Sender"
    assert xml_text(root, "Code") == "NoSuchEntity"
    assert xml_text(root, "Message")
    assert xml_text(root, "RequestId")

    r = iam_query(server.endpoint, server.access_key, server.secret_key, "NoSuchActionAtAll")
    assert r.status_code == 400
    assert query_error(r)[0] == "InvalidAction"


def test_iam_authentication_failures(server):
    bad_key = iam_client(server.endpoint, s3util.new_access_key_id(), s3util.new_secret_access_key())
    expect_error(bad_key.list_users, error="InvalidClientTokenId", http=403)
    bad_secret = iam_client(server.endpoint, server.access_key, s3util.new_secret_access_key())
    expect_error(bad_secret.list_users, error="SignatureDoesNotMatch", http=403)


# ==========================================================================
# authorization before the policy engine
# ==========================================================================
# NOTE: these two tests describe the behaviour until the policy engine lands:
# only account roots may call IAM and S3. When it lands, an IAM user is
# authorized by its policies; these tests will then need a policy (or keep
# asserting the denial for a user without one, which is AWS's behaviour).
def test_iam_user_without_policy_is_denied_iam_list_users(server, iam, account_id):
    u, key = new_user_with_key(iam)
    iamu = iam_client(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    exc = expect_error(iamu.list_users, error="AccessDenied", http=403)
    msg = err_message(exc)
    assert f"User: {u['Arn']} is not authorized to perform: iam:ListUsers" in msg, msg
    assert "because no identity-based policy allows the iam:ListUsers action" in msg, msg


def test_list_users_denial_names_the_user_path_as_resource(server, iam, account_id):
    # Same transitional behaviour as above (see NOTE). ListUsers is
    # authorized against the user path being listed, arn:aws:iam::ACCT:user/
    # (+ PathPrefix), not against the caller.
    u, key = new_user_with_key(iam)
    iamu = iam_client(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    msg = err_message(expect_error(iamu.list_users, error="AccessDenied", http=403))
    assert f"iam:ListUsers on resource: arn:aws:iam::{account_id}:user/ because" in msg, msg


def test_iam_user_without_policy_is_denied_s3_list_buckets(server, iam):
    u, key = new_user_with_key(iam)
    s3u = conftest.make_client(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as ei:
        s3u.list_buckets()
    assert (err_code(ei.value), err_status(ei.value)) == ("AccessDenied", 403)
    msg = err_message(ei.value)
    assert f"User: {u['Arn']} is not authorized to perform: s3:ListAllMyBuckets" in msg, msg


# ==========================================================================
# accounts (latchkey's operator API) and tenant isolation
# ==========================================================================
def test_create_account_returns_root_credentials(server):
    name = uniq("acct")
    r = iam_query(server.endpoint, server.access_key, server.secret_key,
                  "CreateAccount", {"AccountName": name})
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag.endswith("CreateAccountResponse")
    acct_id, kid, secret = (xml_text(root, "AccountId"), xml_text(root, "AccessKeyId"),
                            xml_text(root, "SecretAccessKey"))
    assert ACCOUNT_RE.match(acct_id or ""), r.text
    assert kid.startswith("AKIA") and len(kid) == 20
    assert len(secret) == 40
    assert xml_text(root, "RequestId")

    t_iam = iam_client(server.endpoint, kid, secret)
    me = t_iam.get_user()["User"]
    assert me["UserId"] == acct_id and me["Arn"] == f"arn:aws:iam::{acct_id}:root"
    assert t_iam.list_users()["Users"] == []
    op_id = iam_client(server.endpoint, server.access_key, server.secret_key).get_user()["User"]["UserId"]
    assert acct_id != op_id

    r = iam_query(server.endpoint, server.access_key, server.secret_key, "ListAccounts")
    assert r.status_code == 200, r.text
    ids = xml_all(ET.fromstring(r.content), "AccountId")
    assert acct_id in ids and op_id in ids
    assert secret not in r.text


def test_only_the_operator_may_manage_accounts(server, iam, tenant):
    for action in ("CreateAccount", "ListAccounts"):
        r = iam_query(server.endpoint, tenant.access_key, tenant.secret_key, action,
                      {"AccountName": uniq("acct")} if action == "CreateAccount" else {})
        assert r.status_code == 403, r.text
        assert query_error(r)[0] == "AccessDenied"
    # nor may an IAM user of the operator account
    _, key = new_user_with_key(iam)
    r = iam_query(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"], "CreateAccount",
                  {"AccountName": uniq("acct")})
    assert r.status_code == 403, r.text
    assert query_error(r)[0] == "AccessDenied"


def test_accounts_cannot_see_or_touch_each_others_iam(server, iam, account_id, tenant):
    b = tenant.iam()
    # account A (the operator account) has a user with a key, a group, a role, a policy
    a_user = uniq("shared-name")
    iam.create_user(UserName=a_user)
    a_key = iam.create_access_key(UserName=a_user)["AccessKey"]
    a_group = uniq("g")
    iam.create_group(GroupName=a_group)
    a_role = new_role(iam)
    a_pol = new_policy(iam)

    # B sees none of them
    expect_error(b.get_user, UserName=a_user, error="NoSuchEntity", http=404)
    expect_error(b.get_group, GroupName=a_group, error="NoSuchEntity", http=404)
    expect_error(b.get_role, RoleName=a_role["RoleName"], error="NoSuchEntity", http=404)
    assert b.list_users()["Users"] == []
    assert b.list_groups()["Groups"] == []
    assert b.list_roles()["Roles"] == []
    assert b.list_policies(Scope="Local")["Policies"] == []
    details = b.get_account_authorization_details()
    assert not details["UserDetailList"] and not details["RoleDetailList"] and not details["GroupDetailList"]
    assert a_pol["Arn"] not in [p["Arn"] for p in details["Policies"]]
    with pytest.raises(ClientError) as ei:
        b.get_policy(PolicyArn=a_pol["Arn"])
    assert err_code(ei.value) in ("NoSuchEntity", "AccessDenied"), ei.value.response

    # ... and cannot change them
    for call, kw in [(b.delete_user, {"UserName": a_user}),
                     (b.delete_role, {"RoleName": a_role["RoleName"]}),
                     (b.delete_group, {"GroupName": a_group}),
                     (b.list_access_keys, {"UserName": a_user}),
                     (b.put_user_policy, {"UserName": a_user, "PolicyName": "x",
                                          "PolicyDocument": compact(allow())})]:
        with pytest.raises(ClientError) as ei:
            call(**kw)
        assert err_code(ei.value) == "NoSuchEntity", (call, ei.value.response)
    with pytest.raises(ClientError) as ei:
        b.delete_policy(PolicyArn=a_pol["Arn"])
    assert err_code(ei.value) in ("NoSuchEntity", "AccessDenied"), ei.value.response
    with pytest.raises(ClientError) as ei:
        b.create_policy_version(PolicyArn=a_pol["Arn"], PolicyDocument=compact(allow("*")),
                                SetAsDefault=True)
    assert err_code(ei.value) in ("NoSuchEntity", "AccessDenied"), ei.value.response

    # the same names are free in B (separate namespaces); B's ARNs carry B's id
    bu = b.create_user(UserName=a_user)["User"]
    assert bu["Arn"] == f"arn:aws:iam::{tenant.id}:user/{a_user}"
    # B cannot attach A's policy to its own user, nor manage A's key through it
    expect_error(b.attach_user_policy, UserName=a_user, PolicyArn=a_pol["Arn"],
                 error="NoSuchEntity", http=404)
    with pytest.raises(ClientError) as ei:
        b.update_access_key(UserName=a_user, AccessKeyId=a_key["AccessKeyId"], Status="Inactive")
    assert err_code(ei.value) == "NoSuchEntity"
    with pytest.raises(ClientError) as ei:
        b.delete_access_key(UserName=a_user, AccessKeyId=a_key["AccessKeyId"])
    assert err_code(ei.value) == "NoSuchEntity"

    # A's entities are intact
    assert iam.get_user(UserName=a_user)["User"]["Arn"] == f"arn:aws:iam::{account_id}:user/{a_user}"
    assert iam.list_access_keys(UserName=a_user)["AccessKeyMetadata"][0]["Status"] == "Active"
    iam.get_role(RoleName=a_role["RoleName"])
    iam.get_group(GroupName=a_group)
    pol = iam.get_policy(PolicyArn=a_pol["Arn"])["Policy"]
    assert pol["DefaultVersionId"] == "v1" and pol["AttachmentCount"] == 0
    assert iam.list_user_policies(UserName=a_user)["PolicyNames"] == []
    # and A does not see B's user
    a_users = [u for pg in iam.get_paginator("list_users").paginate() for u in pg["Users"]]
    assert [u["Arn"] for u in a_users if u["UserName"] == a_user] == [
        f"arn:aws:iam::{account_id}:user/{a_user}"]


def test_accounts_cannot_see_or_touch_each_others_buckets(s3, bucket, tenant):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"operator data")
    b = tenant.s3()
    assert bucket not in [x["Name"] for x in b.list_buckets()["Buckets"]]

    def denied(fn, **kw):
        with pytest.raises(ClientError) as ei:
            fn(**kw)
        got = (err_code(ei.value), err_status(ei.value))
        assert got in (("AccessDenied", 403), ("403", 403)), (fn.__name__, got)

    denied(b.list_objects_v2, Bucket=bucket)
    denied(b.get_object, Bucket=bucket, Key="secret.txt")
    denied(b.head_object, Bucket=bucket, Key="secret.txt")
    denied(b.put_object, Bucket=bucket, Key="secret.txt", Body=b"overwritten")
    denied(b.put_object, Bucket=bucket, Key="new.txt", Body=b"x")
    denied(b.delete_object, Bucket=bucket, Key="secret.txt")
    denied(b.delete_bucket, Bucket=bucket)
    denied(b.head_bucket, Bucket=bucket)
    # bucket names are global
    with pytest.raises(ClientError) as ei:
        b.create_bucket(Bucket=bucket)
    assert (err_code(ei.value), err_status(ei.value)) == ("BucketAlreadyExists", 409)

    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"operator data"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["secret.txt"]

    # the other way round: B's bucket is B's
    theirs = s3util.unique_bucket_name("lk-tenant")
    b.create_bucket(Bucket=theirs)
    try:
        b.put_object(Bucket=theirs, Key="k", Body=b"tenant data")
        assert theirs not in [x["Name"] for x in s3.list_buckets()["Buckets"]]
        with pytest.raises(ClientError) as ei:
            s3.get_object(Bucket=theirs, Key="k")
        assert (err_code(ei.value), err_status(ei.value)) == ("AccessDenied", 403)
        with pytest.raises(ClientError) as ei:
            s3.create_bucket(Bucket=theirs)
        assert (err_code(ei.value), err_status(ei.value)) == ("BucketAlreadyExists", 409)
    finally:
        s3util.empty_and_delete_bucket(b, theirs)
