"""OpenID Connect federation end to end: IAM OIDC identity providers and
AssumeRoleWithWebIdentity, against a real HTTPS issuer on loopback
(oidcutil.Issuer: certificates, discovery document, JWKS and RSA/EC keys
made for the run; tokens minted with PyJWT).

Checked against AWS's documentation:
  - IAM API Reference: CreateOpenIDConnectProvider, GetOpenIDConnectProvider,
    ListOpenIDConnectProviders, DeleteOpenIDConnectProvider,
    Add/RemoveClientID..., UpdateOpenIDConnectProviderThumbprint,
    Tag/Untag/ListOpenIDConnectProviderTags;
  - STS API Reference: AssumeRoleWithWebIdentity (parameters, response,
    errors InvalidIdentityToken, ExpiredTokenException, IDPCommunicationError);
  - IAM User Guide: "Create a role for OpenID Connect federation" (Federated
    trust policies with HOST:sub / HOST:aud conditions), "Pass session tags
    using AssumeRoleWithWebIdentity" (the https://aws.amazon.com/tags claim),
    "Obtain the thumbprint for an OpenID Connect identity provider".

The issuer's CA is not in any public root store, so latchkey trusts it only
through the provider's thumbprint — as AWS does for IdPs with private CAs.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import http.server
import json
import subprocess
import threading
import time

import boto3
import jwt
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

import conftest
import s3util
from iamutil import compact, create_account, expect_error, iam_client, uniq
from iamutil import message as err_message
from oidcutil import SOURCE_IDENTITY_CLAIM, TAGS_CLAIM, Issuer, Pki, SigningKey, unsigned_token

REGION = conftest.REGION
CLIENT_ID = "latchkey-app"


# --------------------------------------------------------------------------
# clients and fixtures
# --------------------------------------------------------------------------
def _cfg(**extra) -> Config:
    return Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                  read_timeout=60, **extra)


def anonymous_sts(endpoint: str):
    """An STS client with no credentials at all: AssumeRoleWithWebIdentity
    needs none (botocore sends it unsigned)."""
    return boto3.session.Session(region_name=REGION).client(
        "sts", endpoint_url=endpoint, config=_cfg(signature_version=UNSIGNED))


def s3_with(endpoint: str, creds: dict):
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=REGION,
    ).client("s3", endpoint_url=endpoint,
             config=_cfg(signature_version="s3v4", s3={"addressing_style": "path"}))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("oidc-pki"))


@pytest.fixture
def issuer(pki):
    iss = Issuer(pki, path="/realms/test").start()
    yield iss
    iss.stop()


@pytest.fixture
def account(server):
    return create_account(server)


@pytest.fixture
def sts(server):
    return anonymous_sts(server.endpoint)


def register(iam, issuer: Issuer, client_ids=(CLIENT_ID,), thumbprints=None) -> str:
    return iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=list(client_ids),
        ThumbprintList=list(thumbprints if thumbprints is not None else [issuer.pki.ca_thumbprint]),
    )["OpenIDConnectProviderArn"]


def web_trust(provider_arn: str, conditions: dict | None = None, actions=("sts:AssumeRoleWithWebIdentity",)) -> dict:
    st = {"Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": list(actions)}
    if conditions:
        st["Condition"] = conditions
    return {"Version": "2012-10-17", "Statement": [st]}


def make_role(iam, trust: dict, policy: dict | None = None) -> str:
    role = iam.create_role(RoleName=uniq("web"), AssumeRolePolicyDocument=compact(trust))["Role"]
    if policy is not None:
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName="perms", PolicyDocument=compact(policy))
    return role["Arn"]


def assume(sts, role_arn: str, token: str, **kw) -> dict:
    return sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName=kw.pop("name", "web-session"),
                                             WebIdentityToken=token, **kw)


def rejected(sts, role_arn: str, token: str, error: str, http: int | None = None) -> ClientError:
    return expect_error(assume, sts, role_arn, token, error=error, http=http)


@pytest.fixture
def federated(server, account, issuer):
    """An account with the issuer registered and a role any of its tokens for
    CLIENT_ID may assume."""
    iam = account.iam()
    arn = register(iam, issuer)
    role = make_role(iam, web_trust(arn), {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]})
    return iam, arn, role


# --------------------------------------------------------------------------
# IAM OIDC providers
# --------------------------------------------------------------------------
def test_provider_crud_client_ids_thumbprints_and_tags(server, account, issuer):
    iam = account.iam()
    thumb = issuer.pki.ca_thumbprint
    arn = iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=["app-1", "app-2"], ThumbprintList=[thumb.upper()],
        Tags=[{"Key": "team", "Value": "blue"}])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{account.id}:oidc-provider/localhost:{issuer.port}/realms/test"

    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == f"localhost:{issuer.port}/realms/test", "Url is reported without https://"
    assert got["ClientIDList"] == ["app-1", "app-2"]
    assert got["ThumbprintList"] == [thumb]
    assert got["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert got["CreateDate"].year >= 2024
    assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]

    # The same URL twice is refused.
    e = expect_error(iam.create_open_id_connect_provider, Url=issuer.url, ClientIDList=["x"],
                     ThumbprintList=[thumb], error="EntityAlreadyExists", http=409)
    assert issuer.url in err_message(e)

    # Client ids: adding twice and removing an absent one are no-ops.
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app-3")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app-3")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app-1")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="never-added")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["app-2", "app-3"]

    # Thumbprints are replaced as a whole.
    other = "a" * 40
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[thumb, other])
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [thumb, other]

    # Tags.
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["team"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [
        {"Key": "env", "Value": "test"}]

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert {"Arn": arn} not in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    e = expect_error(iam.get_open_id_connect_provider, OpenIDConnectProviderArn=arn, error="NoSuchEntity", http=404)
    assert arn in err_message(e)
    expect_error(iam.delete_open_id_connect_provider, OpenIDConnectProviderArn=arn, error="NoSuchEntity")


def test_provider_validation(server, account):
    iam = account.iam(validate=False)
    expect_error(iam.create_open_id_connect_provider, Url="http://idp.example.com", ClientIDList=["a"],
                 ThumbprintList=["a" * 40], error="InvalidInput", http=400)
    expect_error(iam.create_open_id_connect_provider, Url="https://idp.example.com/?x=1", ClientIDList=["a"],
                 ThumbprintList=["a" * 40], error="InvalidInput")
    expect_error(iam.create_open_id_connect_provider, Url="https://idp.example.com", ClientIDList=["a"],
                 ThumbprintList=["abc"], error="ValidationError", http=400)
    expect_error(iam.create_open_id_connect_provider, Url="https://idp.example.com", ClientIDList=["a"],
                 ThumbprintList=["z" * 40], error="InvalidInput")
    expect_error(iam.create_open_id_connect_provider, Url="https://idp.example.com", ClientIDList=["a"],
                 ThumbprintList=[f"{i:040x}" for i in range(6)], error="LimitExceeded")
    expect_error(iam.create_open_id_connect_provider, Url="https://idp.example.com", ClientIDList=["x" * 256],
                 ThumbprintList=["a" * 40], error="ValidationError")
    # Thumbprints are optional in today's IAM (public-CA IdPs need none).
    arn = iam.create_open_id_connect_provider(Url="https://idp.example.com", ClientIDList=["a"])[
        "OpenIDConnectProviderArn"]
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == []
    expect_error(iam.get_open_id_connect_provider, OpenIDConnectProviderArn="arn:aws:iam::123:nope",
                 error="InvalidInput")
    foreign = f"arn:aws:iam::{'9' * 12}:oidc-provider/idp.example.com"
    expect_error(iam.get_open_id_connect_provider, OpenIDConnectProviderArn=foreign, error="NoSuchEntity")


def test_provider_actions_go_through_the_gate(server, account, issuer):
    """A user with only iam:GetOpenIDConnectProvider can read but not create or delete."""
    iam = account.iam()
    arn = register(iam, issuer)
    user = uniq("u")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=compact({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetOpenIDConnectProvider", "Resource": arn}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    limited = iam_client(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    assert limited.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == [CLIENT_ID]
    e = expect_error(limited.delete_open_id_connect_provider, OpenIDConnectProviderArn=arn, error="AccessDenied",
                     http=403)
    assert "iam:DeleteOpenIDConnectProvider" in err_message(e)
    expect_error(limited.create_open_id_connect_provider, Url="https://other.example.com", ClientIDList=["a"],
                 ThumbprintList=["a" * 40], error="AccessDenied")
    expect_error(limited.list_open_id_connect_providers, error="AccessDenied")


# --------------------------------------------------------------------------
# AssumeRoleWithWebIdentity
# --------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_web_identity_with_rs256_and_es256(server, sts, account, issuer, federated, alg):
    iam, provider_arn, role_arn = federated
    token = issuer.mint("alice", CLIENT_ID, alg=alg)
    r = assume(sts, role_arn, token, name="alice-session", DurationSeconds=900)
    c = r["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and c["SessionToken"]
    assert r["SubjectFromWebIdentityToken"] == "alice"
    assert r["Audience"] == CLIENT_ID
    assert r["Provider"] == provider_arn
    role_name = role_arn.rsplit("/", 1)[1]
    assert r["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account.id}:assumed-role/{role_name}/alice-session"
    assert r["PackedPolicySize"] >= 0
    left = (c["Expiration"] - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 800 <= left <= 905, left
    who = boto3.session.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                                aws_session_token=c["SessionToken"], region_name=REGION).client(
        "sts", endpoint_url=server.endpoint, config=_cfg()).get_caller_identity()
    assert who["Arn"] == r["AssumedRoleUser"]["Arn"]
    assert who["Account"] == account.id


def test_rejected_tokens(server, sts, account, issuer, federated):
    iam, provider_arn, role_arn = federated
    # Expired.
    old = int(time.time()) - 3600
    e = rejected(sts, role_arn, issuer.mint("alice", CLIENT_ID, iat=old, exp=old + 600), "ExpiredTokenException",
                 400)
    assert "Token expired" in err_message(e)
    # Wrong audience.
    e = rejected(sts, role_arn, issuer.mint("alice", "someone-else"), "InvalidIdentityToken", 400)
    assert err_message(e) == "Incorrect token audience"
    # An issuer with no provider in the account.
    other = issuer.claims("alice", CLIENT_ID)
    other["iss"] = "https://accounts.example.com"
    token = jwt.encode(other, issuer.key("RS256").private, algorithm="RS256", headers={"kid": issuer.key().kid})
    e = rejected(sts, role_arn, token, "InvalidIdentityToken")
    assert err_message(e) == "No OpenIDConnect provider found in your account for https://accounts.example.com"
    # alg: none.
    rejected(sts, role_arn, unsigned_token(issuer.claims("alice", CLIENT_ID)), "InvalidIdentityToken")
    # HS256 with the issuer's public key as the HMAC secret (the classic confusion).
    # (PyJWT refuses PEM keys as HMAC secrets, so it is signed by hand.)
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.key().kid}
    b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()  # noqa: E731
    signing_input = f"{b(json.dumps(header).encode())}.{b(json.dumps(issuer.claims('alice', CLIENT_ID)).encode())}"
    sig = hmac.new(issuer.key().public_pem(), signing_input.encode(), hashlib.sha256).digest()
    rejected(sts, role_arn, f"{signing_input}.{b(sig)}", "InvalidIdentityToken")
    # Re-signed with another key under the issuer's kid.
    forged = jwt.encode(issuer.claims("alice", CLIENT_ID), SigningKey("RS256").private, algorithm="RS256",
                        headers={"kid": issuer.key().kid})
    rejected(sts, role_arn, forged, "InvalidIdentityToken")
    # A tampered payload (sub changed) under a genuine signature.
    good = issuer.mint("alice", CLIENT_ID)
    h, p, s = good.split(".")
    evil = b(json.dumps(issuer.claims("mallory", CLIENT_ID)).encode())
    rejected(sts, role_arn, f"{h}.{evil}.{s}", "InvalidIdentityToken")
    # Not a JWT at all.
    e = rejected(sts, role_arn, "this-is-not-a-jwt", "InvalidIdentityToken")
    assert "not a valid JWT" in err_message(e)
    # And the genuine token still works after all that.
    assert assume(sts, role_arn, good)["SubjectFromWebIdentityToken"] == "alice"


def test_unknown_kid_is_refetched_once_and_floods_are_rate_limited(server, sts, account, issuer, federated):
    iam, provider_arn, role_arn = federated
    assume(sts, role_arn, issuer.mint("alice", CLIENT_ID))
    assert issuer.jwks_fetches == 1
    assume(sts, role_arn, issuer.mint("alice", CLIENT_ID, alg="ES256"))
    assert issuer.jwks_fetches == 1, "keys are cached"
    stranger = SigningKey("RS256", kid="not-published")
    e = rejected(sts, role_arn, issuer.mint("alice", CLIENT_ID, key=stranger), "InvalidIdentityToken")
    assert "verification key" in err_message(e)
    assert issuer.jwks_fetches == 2, "an unknown kid makes latchkey look again"
    for i in range(12):
        rejected(sts, role_arn, issuer.mint("alice", CLIENT_ID, key=SigningKey("RS256", kid=f"flood-{i}")),
                 "InvalidIdentityToken")
    assert issuer.jwks_fetches <= 4, f"a flood of made-up kids fetched the JWKS {issuer.jwks_fetches} times"
    # Known keys keep working during the flood.
    assert assume(sts, role_arn, issuer.mint("bob", CLIENT_ID))["SubjectFromWebIdentityToken"] == "bob"


def test_key_rotation_at_the_idp_is_picked_up(server, sts, account, pki):
    iss = Issuer(pki, path="").start()  # a provider with no path: keys are HOST:PORT:sub
    try:
        iam = account.iam()
        arn = register(iam, iss)
        role = make_role(iam, web_trust(arn, {"StringEquals": {f"{iss.host_path}:aud": CLIENT_ID}}))
        assume(sts, role, iss.mint("alice", CLIENT_ID))
        old_key = iss.key("RS256")
        new_key = iss.rotate("RS256")
        assert new_key.kid != old_key.kid
        r = assume(sts, role, iss.mint("alice", CLIENT_ID))
        assert r["SubjectFromWebIdentityToken"] == "alice"
        assert iss.jwks_fetches == 2
    finally:
        iss.stop()


def test_wrong_thumbprint_is_an_idp_communication_error(server, sts, account, issuer):
    iam = account.iam()
    arn = register(iam, issuer, thumbprints=["0" * 40])
    role = make_role(iam, web_trust(arn))
    e = rejected(sts, role, issuer.mint("alice", CLIENT_ID), "IDPCommunicationError", 400)
    assert "could not be reached" in err_message(e)
    assert issuer.jwks_fetches == 0, "no document is read from a server that is not trusted"
    # With the CA's thumbprint the same IdP is trusted.
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                   ThumbprintList=[issuer.pki.ca_thumbprint])
    assert assume(sts, role, issuer.mint("alice", CLIENT_ID))["SubjectFromWebIdentityToken"] == "alice"


def test_an_impostor_showing_the_trusted_ca_is_refused(server, sts, account, pki, tmp_path):
    """The thumbprinted CA anchors the chain; it is not enough to present it.
    A server whose leaf that CA did not sign is not trusted."""
    impostor = Issuer(Pki(tmp_path / "impostor", name="impostor", present_ca=pki.ca)).start()
    try:
        iam = account.iam()
        arn = register(iam, impostor, thumbprints=[pki.ca_thumbprint])
        role = make_role(iam, web_trust(arn))
        rejected(sts, role, impostor.mint("alice", CLIENT_ID), "IDPCommunicationError")
        assert impostor.discovery_fetches == 0 and impostor.jwks_fetches == 0
    finally:
        impostor.stop()


def test_a_self_signed_idp_is_trusted_by_its_own_thumbprint(server, sts, account, tmp_path):
    own = Pki(tmp_path / "selfsigned", name="selfsigned", self_signed=True)
    iss = Issuer(own).start()
    try:
        iam = account.iam()
        arn = register(iam, iss, thumbprints=[own.leaf_thumbprint])
        role = make_role(iam, web_trust(arn))
        assert assume(sts, role, iss.mint("alice", CLIENT_ID))["SubjectFromWebIdentityToken"] == "alice"
    finally:
        iss.stop()


def test_trust_policy_conditions_on_sub_and_aud(server, sts, account, issuer):
    iam = account.iam()
    arn = register(iam, issuer, client_ids=(CLIENT_ID, "other-app"))
    hp = issuer.host_path
    role = make_role(iam, web_trust(arn, {"StringEquals": {f"{hp}:sub": "alice", f"{hp}:aud": CLIENT_ID}}))
    assert assume(sts, role, issuer.mint("alice", CLIENT_ID))["SubjectFromWebIdentityToken"] == "alice"
    e = rejected(sts, role, issuer.mint("bob", CLIENT_ID), "AccessDenied", 403)
    assert "sts:AssumeRoleWithWebIdentity" in err_message(e)
    rejected(sts, role, issuer.mint("alice", "other-app"), "AccessDenied", 403)
    # A trust policy for another provider (or sts:AssumeRole only) does not let the web identity in.
    plain = make_role(iam, web_trust(arn, actions=("sts:AssumeRole",)))
    rejected(sts, plain, issuer.mint("alice", CLIENT_ID), "AccessDenied")
    # A role that does not exist is indistinguishable from one that does not trust the provider.
    missing = f"arn:aws:iam::{account.id}:role/{uniq('none')}"
    rejected(sts, missing, issuer.mint("alice", CLIENT_ID), "AccessDenied")


def test_session_tags_from_the_token_reach_principal_tag(server, sts, account, issuer):
    iam = account.iam()
    s3 = account.s3()
    bucket = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="blue/report.txt", Body=b"blue")
    s3.put_object(Bucket=bucket, Key="red/report.txt", Body=b"red")
    try:
        arn = register(iam, issuer)
        role = make_role(iam, web_trust(arn, actions=("sts:AssumeRoleWithWebIdentity", "sts:TagSession")), {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/${{aws:PrincipalTag/team}}/*"}]})
        token = issuer.mint("alice", CLIENT_ID, **{TAGS_CLAIM: {"principal_tags": {"team": ["blue"]},
                                                                "transitive_tag_keys": ["team"]},
                                                   SOURCE_IDENTITY_CLAIM: "alice"})
        # Tags need sts:TagSession and a source identity sts:SetSourceIdentity.
        rejected(sts, role, token, "AccessDenied")
        iam.update_assume_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyDocument=compact(web_trust(
            arn, actions=("sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"))))
        r = assume(sts, role, token)
        assert r["SourceIdentity"] == "alice"
        tagged = s3_with(server.endpoint, r["Credentials"])
        assert tagged.get_object(Bucket=bucket, Key="blue/report.txt")["Body"].read() == b"blue"
        expect_error(tagged.get_object, Bucket=bucket, Key="red/report.txt", error="AccessDenied")
        # Malformed tags claims are refused.
        bad = issuer.mint("alice", CLIENT_ID, **{TAGS_CLAIM: {"principal_tags": {"team": "not-a-list-of-one"},
                                                              "transitive_tag_keys": ["nope"]}})
        rejected(sts, role, bad, "InvalidParameterValue")
    finally:
        s3util.empty_and_delete_bucket(s3, bucket)


def credential_vending_role(iam, issuer: Issuer, provider_arn: str, bucket: str) -> str:
    """One role for every user: each may use only users/<their sub>/ (the
    policy variable is the provider's sub condition key)."""
    sub = f"${{{issuer.host_path}:sub}}"
    return make_role(iam, web_trust(provider_arn, {"StringEquals": {f"{issuer.host_path}:aud": CLIENT_ID}}), {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": f"arn:aws:s3:::{bucket}/users/{sub}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
             "Condition": {"StringLike": {"s3:prefix": [f"users/{sub}/*"]}}},
        ]})


def test_credential_vending_each_user_gets_only_their_prefix(server, sts, account, issuer):
    """No custom credential-vending service: one role, two OIDC users, each
    confined to users/<sub>/ by ${HOST/PATH:sub}."""
    iam = account.iam()
    s3 = account.s3()
    bucket = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=bucket)
    try:
        arn = register(iam, issuer)
        role = credential_vending_role(iam, issuer, arn, bucket)
        alice = s3_with(server.endpoint, assume(sts, role, issuer.mint("alice", CLIENT_ID), name="alice")["Credentials"])
        bob = s3_with(server.endpoint,
                      assume(sts, role, issuer.mint("bob", CLIENT_ID, alg="ES256"), name="bob")["Credentials"])
        alice.put_object(Bucket=bucket, Key="users/alice/notes.txt", Body=b"alice's")
        bob.put_object(Bucket=bucket, Key="users/bob/notes.txt", Body=b"bob's")
        assert alice.get_object(Bucket=bucket, Key="users/alice/notes.txt")["Body"].read() == b"alice's"
        assert bob.get_object(Bucket=bucket, Key="users/bob/notes.txt")["Body"].read() == b"bob's"
        listed = alice.list_objects_v2(Bucket=bucket, Prefix="users/alice/")
        assert [o["Key"] for o in listed["Contents"]] == ["users/alice/notes.txt"]
        for who, other in ((alice, "bob"), (bob, "alice")):
            expect_error(who.get_object, Bucket=bucket, Key=f"users/{other}/notes.txt", error="AccessDenied")
            expect_error(who.put_object, Bucket=bucket, Key=f"users/{other}/evil.txt", Body=b"x", error="AccessDenied")
            expect_error(who.list_objects_v2, Bucket=bucket, Prefix=f"users/{other}/", error="AccessDenied")
            expect_error(who.put_object, Bucket=bucket, Key="top-level.txt", Body=b"x", error="AccessDenied")
        assert s3.get_object(Bucket=bucket, Key="users/bob/notes.txt")["Body"].read() == b"bob's"
    finally:
        s3util.empty_and_delete_bucket(s3, bucket)


def test_session_policy_narrows_the_web_identity_session(server, sts, account, issuer):
    iam = account.iam()
    s3 = account.s3()
    bucket = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=bucket)
    try:
        arn = register(iam, issuer)
        role = credential_vending_role(iam, issuer, arn, bucket)
        read_only = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
        r = assume(sts, role, issuer.mint("gina", CLIENT_ID), Policy=compact(read_only))
        assert r["PackedPolicySize"] > 0
        gina = s3_with(server.endpoint, r["Credentials"])
        expect_error(gina.put_object, Bucket=bucket, Key="users/gina/x.txt", Body=b"x", error="AccessDenied")
        s3.put_object(Bucket=bucket, Key="users/gina/x.txt", Body=b"from the owner")
        assert gina.get_object(Bucket=bucket, Key="users/gina/x.txt")["Body"].read() == b"from the owner"
    finally:
        s3util.empty_and_delete_bucket(s3, bucket)


def test_aws_cli_assume_role_with_web_identity(server, account, issuer, tmp_path):
    iam = account.iam()
    s3 = account.s3()
    bucket = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=bucket)
    try:
        arn = register(iam, issuer)
        role = credential_vending_role(iam, issuer, arn, bucket)
        cli = conftest.AwsCli(server, tmp_path / "awshome")
        token_file = tmp_path / "token.jwt"
        token_file.write_text(issuer.mint("carol", CLIENT_ID))
        out = cli.run("sts", "assume-role-with-web-identity", "--role-arn", role, "--role-session-name", "carol",
                      "--web-identity-token", token_file.read_text(), "--duration-seconds", "900",
                      "--output", "json")
        r = json.loads(out.stdout)
        assert r["SubjectFromWebIdentityToken"] == "carol"
        assert r["Provider"] == arn and r["Audience"] == CLIENT_ID
        c = r["Credentials"]
        src = tmp_path / "hello.txt"
        src.write_text("from the aws CLI")
        env_cli = conftest.AwsCli(server, tmp_path / "awshome2")
        base_env = env_cli.env

        def with_session():
            env = base_env()
            env.update({"AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                        "AWS_SESSION_TOKEN": c["SessionToken"]})
            return env
        env_cli.env = with_session
        env_cli.run("s3", "cp", str(src), f"s3://{bucket}/users/carol/hello.txt")
        denied = env_cli.run("s3", "cp", str(src), f"s3://{bucket}/users/dave/hello.txt", check=False)
        assert denied.returncode != 0 and "AccessDenied" in denied.stderr
        assert s3.get_object(Bucket=bucket, Key="users/carol/hello.txt")["Body"].read() == b"from the aws CLI"
        # The CLI sees the same errors boto3 does.
        token_file.write_text(issuer.mint("carol", "wrong-audience"))
        bad = cli.run("sts", "assume-role-with-web-identity", "--role-arn", role, "--role-session-name", "carol",
                      "--web-identity-token", token_file.read_text(), check=False)
        assert bad.returncode != 0 and "InvalidIdentityToken" in bad.stderr
    finally:
        s3util.empty_and_delete_bucket(s3, bucket)


def test_validation_errors(server, sts, account, issuer, federated):
    iam, provider_arn, role_arn = federated
    raw = boto3.session.Session(region_name=REGION).client(
        "sts", endpoint_url=server.endpoint, config=_cfg(signature_version=UNSIGNED, parameter_validation=False))
    token = issuer.mint("alice", CLIENT_ID)
    for kw in ({"RoleSessionName": "x"}, {"RoleSessionName": "has space"},
               {"DurationSeconds": 899}, {"DurationSeconds": 3601},
               {"RoleArn": "arn:aws:iam::123:role/x"}, {"WebIdentityToken": "abc"}):
        args = {"RoleArn": role_arn, "RoleSessionName": "ok-name", "WebIdentityToken": token, **kw}
        expect_error(raw.assume_role_with_web_identity, **args, error="ValidationError", http=400)


def test_cors_preflight_and_headers_for_browser_calls(server, issuer, federated):
    """Browsers call AssumeRoleWithWebIdentity cross-origin (STS answers CORS)."""
    iam, provider_arn, role_arn = federated
    pre = requests.options(server.endpoint + "/", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-user-agent"}, timeout=10)
    assert pre.status_code == 200, pre.text
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "x-amz-user-agent" in pre.headers["Access-Control-Allow-Headers"].lower()
    body = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role_arn,
            "RoleSessionName": "browser", "WebIdentityToken": issuer.mint("alice", CLIENT_ID)}
    ok = requests.post(server.endpoint + "/", data=body, headers={"Origin": "http://app.example"}, timeout=10)
    assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == "*"
    body["WebIdentityToken"] = issuer.mint("alice", "nope")
    bad = requests.post(server.endpoint + "/", data=body, headers={"Origin": "http://app.example"}, timeout=10)
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == "*"
    assert "InvalidIdentityToken" in bad.text


def test_browser_signs_in_with_oidc_and_uploads_to_its_own_prefix(server, account, issuer, tmp_path):
    """Headless Chromium: a page from another origin gets an ID token from the
    issuer, calls AssumeRoleWithWebIdentity with fetch (preflighted), signs
    SigV4 pre-signed URLs itself with the credentials, and PUTs to
    users/<sub>/ — its own prefix only."""
    from test_browser import ARTIFACTS, BROWSER_DIR, CHROMIUM, _require_browser

    _require_browser()
    iam = account.iam()
    s3 = account.s3()
    bucket = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=bucket)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><html><head><title>OIDC sign-in</title></head>"
                                     "<body><p>signing in…</p></body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    page_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=page_srv.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{page_srv.server_address[1]}"
    try:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": [origin], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"]}]})
        arn = register(iam, issuer)
        role = credential_vending_role(iam, issuer, arn, bucket)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "browser-oidc.png"
        spec = {"chromium": CHROMIUM, "pageUrl": origin + "/index.html", "tokenUrl": f"{issuer.url}/token",
                "clientId": CLIENT_ID, "stsUrl": server.endpoint + "/", "s3Url": server.endpoint, "bucket": bucket,
                "roleArn": role, "sub": "erin", "otherSub": "frank", "screenshot": str(shot)}
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(json.dumps(spec))
        out = subprocess.run(["node", str(BROWSER_DIR / "oidc.mjs"), str(spec_path)], capture_output=True,
                             text=True, timeout=120, cwd=BROWSER_DIR)
        assert out.returncode == 0, out.stderr[-2000:]
        res = json.loads(out.stdout.strip().splitlines()[-1])
        assert "error" not in res, res
        assert res["stsStatus"] == 200 and res["subject"] == "erin" and res["provider"] == arn, res
        assert res["accessKeyId"].startswith("ASIA")
        assert res["ownPut"]["status"] == 200, res
        stored = s3.get_object(Bucket=bucket, Key="users/erin/from-browser.txt")
        assert stored["Body"].read() == b"hello from erin's browser"
        assert res["ownPut"]["etag"] == stored["ETag"]
        assert res["ownGet"] == {"status": 200, "text": "hello from erin's browser"}
        assert res["otherPut"]["status"] == 403 and "AccessDenied" in res["otherPut"]["text"], res
        expect_error(s3.head_object, Bucket=bucket, Key="users/frank/from-browser.txt", error="404")
        assert shot.exists() and shot.stat().st_size > 0
    finally:
        page_srv.shutdown()
        s3util.empty_and_delete_bucket(s3, bucket)


def test_web_identity_sign_ins_are_audited_without_the_token(server, sts, account, issuer, federated):
    """The audit trail names the IdP user (CloudTrail's WebIdentityUser) for
    allowed and refused sign-ins, and never holds the token."""
    import json
    import subprocess
    import time
    import conftest

    _, provider_arn, role_arn = federated
    sub = "audited-" + uniq("sub")
    good = issuer.mint(sub, CLIENT_ID)
    creds = assume(sts, role_arn, good, name="audited")["Credentials"]
    expired = issuer.mint(sub, CLIENT_ID, exp=int(time.time()) - 3600)
    rejected(sts, role_arn, expired, "ExpiredTokenException")
    events = []
    for _ in range(50):
        out = subprocess.run([str(conftest.latchkey_bin()), "audit", "--data-dir", str(server.data_dir),
                              "--event", "AssumeRoleWithWebIdentity", "--output", "json"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        events = [e for e in (json.loads(ln) for ln in out.splitlines() if ln.strip())
                  if e["requestParameters"].get("roleArn") == role_arn]
        if len(events) >= 2:
            break
        time.sleep(0.2)
    ok = [e for e in events if "errorCode" not in e]
    assert ok, events
    ident = ok[0]["userIdentity"]
    assert ident["type"] == "WebIdentityUser" and ident["userName"] == sub
    assert ident["identityProvider"] == provider_arn.split(":oidc-provider/")[1]
    assert ok[0]["recipientAccountId"] == account.id
    assert ok[0]["requestParameters"]["webIdentityToken"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert ok[0]["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert any(e.get("errorCode") == "ExpiredTokenException" for e in events), events
    raw = "".join(p.read_text() for p in (server.data_dir / "audit").glob("events-*.jsonl"))
    for secret in (good, expired, creds["SecretAccessKey"], creds["SessionToken"]):
        assert secret not in raw
