"""SAML 2.0 federation end to end: IAM SAML providers and AssumeRoleWithSAML,
with an identity provider made per run (samlutil.Idp: RSA key, self-signed
certificate, metadata) whose Responses are signed by signxml.

Checked against AWS's documentation:
  - IAM API Reference: CreateSAMLProvider, GetSAMLProvider, ListSAMLProviders,
    UpdateSAMLProvider, DeleteSAMLProvider, Tag/Untag/ListSAMLProviderTags;
  - STS API Reference: AssumeRoleWithSAML (parameters, response fields,
    NameQualifier = BASE64(SHA1(issuer + account + "/" + provider name)),
    SessionNotOnOrAfter capping the session);
  - IAM User Guide: "Configure SAML assertions for the authentication
    response" (Role, RoleSessionName, PrincipalTag:*, audience and recipient
    https://signin.aws.amazon.com/saml), "Create a role for SAML 2.0
    federation" (Federated trust policies with SAML:aud conditions).

Attacks: tampered attributes, the classic XML signature wrapping variants
(XSW1-XSW8 of Somorovsky et al., "On Breaking SAML"), a signature by another
key (with that key's certificate in KeyInfo), expired, wrong audience and
replayed assertions.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import hashlib
import json

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from lxml import etree

import conftest
from iamutil import compact, create_account, expect_error, uniq
from iamutil import message as err_message
from samlutil import AWS_SAML, NS, Claims, Idp, b64, now, signed_response

REGION = conftest.REGION
ATTR = "https://aws.amazon.com/SAML/Attributes/"


def _cfg(**extra) -> Config:
    return Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                  read_timeout=60, **extra)


def anonymous_sts(endpoint: str):
    """AssumeRoleWithSAML needs no credentials: botocore sends it unsigned."""
    return boto3.session.Session(region_name=REGION).client(
        "sts", endpoint_url=endpoint, config=_cfg(signature_version=UNSIGNED))


def s3_with(endpoint: str, creds: dict):
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=REGION,
    ).client("s3", endpoint_url=endpoint,
             config=_cfg(signature_version="s3v4", s3={"addressing_style": "path"}))


class Federation:
    """An account with a SAML provider, a role trusting it, and a bucket the
    role may use."""

    def __init__(self, srv, *, trust_condition: dict | None = None, tag_session: bool = True,
                 role_policy: dict | None = None):
        self.srv = srv
        self.account = create_account(srv)
        self.iam = self.account.iam()
        self.idp = Idp(f"https://idp-{uniq('x')}.example.com/saml")
        self.provider_name = uniq("corp")
        self.provider_arn = self.iam.create_saml_provider(
            Name=self.provider_name, SAMLMetadataDocument=self.idp.metadata())["SAMLProviderArn"]
        self.bucket = uniq("saml")
        self.account.s3().create_bucket(Bucket=self.bucket)
        condition = trust_condition or {"StringEquals": {"SAML:aud": AWS_SAML}}
        actions = ["sts:AssumeRoleWithSAML"] + (["sts:TagSession"] if tag_session else [])
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": self.provider_arn},
            "Action": actions, "Condition": condition}]}
        self.role_name = uniq("saml-role")
        self.role_arn = self.iam.create_role(
            RoleName=self.role_name, AssumeRolePolicyDocument=compact(trust))["Role"]["Arn"]
        policy = role_policy or {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{self.bucket}", f"arn:aws:s3:::{self.bucket}/*"]}]}
        self.iam.put_role_policy(RoleName=self.role_name, PolicyName="bucket",
                                 PolicyDocument=compact(policy))
        self.sts = anonymous_sts(srv.endpoint)

    def claims(self, **kw) -> Claims:
        kw.setdefault("roles", [f"{self.role_arn},{self.provider_arn}"])
        return Claims(issuer=self.idp.entity_id, **kw)

    def assume(self, xml: str, **kw):
        return self.sts.assume_role_with_saml(
            RoleArn=self.role_arn, PrincipalArn=self.provider_arn, SAMLAssertion=b64(xml), **kw)


@pytest.fixture
def fed(server):
    return Federation(server)


# --------------------------------------------------------------------------
# IAM SAML providers
# --------------------------------------------------------------------------
def test_saml_provider_lifecycle(server):
    account = create_account(server)
    iam = account.iam()
    idp = Idp("https://idp.example.com/saml")
    name = uniq("corp")
    created = iam.create_saml_provider(
        Name=name, SAMLMetadataDocument=idp.metadata(valid_until="2099-01-01T00:00:00Z"),
        Tags=[{"Key": "team", "Value": "blue"}])
    arn = created["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{account.id}:saml-provider/{name}"
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == idp.metadata(valid_until="2099-01-01T00:00:00Z")
    assert got["ValidUntil"].year == 2099
    assert abs((got["CreateDate"] - now()).total_seconds()) < 120
    assert got["Tags"] == [{"Key": "team", "Value": "blue"}]
    listed = iam.list_saml_providers()["SAMLProviderList"]
    assert [p["Arn"] for p in listed] == [arn]

    expect_error(iam.create_saml_provider, Name=name, SAMLMetadataDocument=idp.metadata(),
                 error="EntityAlreadyExists", http=409)
    garbage = "<md:EntityDescriptor>" + "x" * 2000
    expect_error(iam.create_saml_provider, Name=uniq("bad"), SAMLMetadataDocument=garbage,
                 error="InvalidInput", http=400)
    no_cert = idp.metadata().replace("use=\"signing\"", "use=\"encryption\"")
    expect_error(iam.create_saml_provider, Name=uniq("bad"), SAMLMetadataDocument=no_cert,
                 error="InvalidInput", http=400)

    other = Idp("https://idp.example.com/saml")
    assert iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=other.metadata())[
        "SAMLProviderArn"] == arn
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == other.metadata()

    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["team"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]

    iam.delete_saml_provider(SAMLProviderArn=arn)
    expect_error(iam.get_saml_provider, SAMLProviderArn=arn, error="NoSuchEntity", http=404)
    expect_error(iam.delete_saml_provider, SAMLProviderArn=arn, error="NoSuchEntity", http=404)
    assert iam.list_saml_providers()["SAMLProviderList"] == []


def test_saml_providers_are_per_account_and_need_permission(server):
    a, b = create_account(server), create_account(server)
    idp = Idp("https://idp.example.com/saml")
    arn = a.iam().create_saml_provider(Name="corp", SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"]
    expect_error(b.iam().get_saml_provider, SAMLProviderArn=arn, error="NoSuchEntity")
    # A user without iam:*SAMLProvider permissions cannot read or change it.
    iam = a.iam()
    user = uniq("u")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    from iamutil import iam_client
    as_user = iam_client(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    expect_error(as_user.get_saml_provider, SAMLProviderArn=arn, error="AccessDenied", http=403)
    expect_error(as_user.delete_saml_provider, SAMLProviderArn=arn, error="AccessDenied", http=403)


def test_saml_provider_with_the_aws_cli(server, tmp_path):
    account = create_account(server)
    cli = _cli(server, account, tmp_path)
    idp = Idp("https://idp.example.com/saml")
    doc = tmp_path / "metadata.xml"
    doc.write_text(idp.metadata())
    out = json.loads(cli.run("iam", "create-saml-provider", "--name", "corp",
                             "--saml-metadata-document", f"file://{doc}").stdout)
    arn = out["SAMLProviderArn"]
    listed = json.loads(cli.run("iam", "list-saml-providers").stdout)["SAMLProviderList"]
    assert [p["Arn"] for p in listed] == [arn]
    got = json.loads(cli.run("iam", "get-saml-provider", "--saml-provider-arn", arn).stdout)
    assert got["SAMLMetadataDocument"] == idp.metadata()
    cli.run("iam", "delete-saml-provider", "--saml-provider-arn", arn)


def _cli(server, account, tmp_path):
    class AccountCli(conftest.AwsCli):
        def env(self):
            e = super().env()
            e["AWS_ACCESS_KEY_ID"], e["AWS_SECRET_ACCESS_KEY"] = account.access_key, account.secret_key
            return e
    return AccountCli(server, tmp_path / "awshome")


# --------------------------------------------------------------------------
# AssumeRoleWithSAML: success
# --------------------------------------------------------------------------
def test_assertion_signed_response_gives_credentials_that_work_for_s3(server, fed):
    c = fed.claims()
    r = fed.assume(signed_response(fed.idp, c, sign="assertion"))
    assert r["Subject"] == "alice@example.com"
    assert r["SubjectType"] == "persistent"
    assert r["Issuer"] == fed.idp.entity_id
    assert r["Audience"] == AWS_SAML
    expected_nq = base64.b64encode(hashlib.sha1(
        f"{fed.idp.entity_id}{fed.account.id}/{fed.provider_name}".encode()).digest()).decode()
    assert r["NameQualifier"] == expected_nq
    assert r["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{fed.account.id}:assumed-role/{fed.role_name}/alice"
    assert r["AssumedRoleUser"]["AssumedRoleId"].endswith(":alice")
    assert r["PackedPolicySize"] >= 0
    creds = r["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    s3 = s3_with(server.endpoint, creds)
    s3.put_object(Bucket=fed.bucket, Key="from-saml.txt", Body=b"hello")
    assert s3.get_object(Bucket=fed.bucket, Key="from-saml.txt")["Body"].read() == b"hello"
    other = uniq("other")
    fed.account.s3().create_bucket(Bucket=other)
    expect_error(s3.put_object, Bucket=other, Key="x", Body=b"x", error="AccessDenied", http=403)
    sts = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=REGION).client(
        "sts", endpoint_url=server.endpoint, config=_cfg())
    assert sts.get_caller_identity()["Arn"] == r["AssumedRoleUser"]["Arn"]


@pytest.mark.parametrize("sign", ["response", "both"])
def test_signed_responses_are_accepted(fed, sign):
    r = fed.assume(signed_response(fed.idp, fed.claims(), sign=sign))
    assert r["Subject"] == "alice@example.com"


def test_assume_role_with_saml_from_the_aws_cli(server, fed, tmp_path):
    xml = signed_response(fed.idp, fed.claims(session_name="cli-user"), sign="response")
    cli = conftest.AwsCli(server, tmp_path / "awshome")
    out = json.loads(cli.run("sts", "assume-role-with-saml", "--role-arn", fed.role_arn,
                             "--principal-arn", fed.provider_arn, "--saml-assertion", b64(xml),
                             "--duration-seconds", "900").stdout)
    assert out["AssumedRoleUser"]["Arn"].endswith(f"/{fed.role_name}/cli-user")
    exp = dt.datetime.fromisoformat(out["Credentials"]["Expiration"].replace("Z", "+00:00"))
    assert abs((exp - now()).total_seconds() - 900) < 60
    s3_with(server.endpoint, out["Credentials"]).list_objects_v2(Bucket=fed.bucket)


# --------------------------------------------------------------------------
# AssumeRoleWithSAML: refusals
# --------------------------------------------------------------------------
def test_a_tampered_attribute_is_refused(fed):
    for sign in ("assertion", "response"):
        xml = signed_response(fed.idp, fed.claims(), sign=sign)
        tampered = xml.replace("<saml:AttributeValue>alice</saml:AttributeValue>",
                               "<saml:AttributeValue>admin</saml:AttributeValue>")
        assert tampered != xml
        e = expect_error(fed.assume, tampered, error="InvalidIdentityToken", http=400)
        assert "signature" in err_message(e).lower()


def _evil(fed, c: Claims) -> Claims:
    return dataclasses.replace(c, name_id="root@example.com", session_name="root",
                               assertion_id="_evil" + c.assertion_id)


def _parse(xml: str):
    return etree.fromstring(xml.encode())


def _s(el) -> str:
    return etree.tostring(el).decode()


def _xsw_documents(fed):
    """The wrapping attacks, each around a Response genuinely signed by the IdP."""
    from samlutil import assertion_xml, response_xml
    docs = {}
    c = fed.claims()
    evil = _evil(fed, c)
    evil_assertion = assertion_xml(evil, placeholder=False)

    # Assertion-signed Response.
    signed = _parse(signed_response(fed.idp, c, sign="assertion"))
    signed_assertion = signed.find("saml:Assertion", NS)
    # XSW3: an evil assertion before the signed one.
    doc = copy.deepcopy(signed)
    doc.find("saml:Assertion", NS).addprevious(_parse(evil_assertion))
    docs["XSW3 evil assertion before the signed one"] = _s(doc)
    # XSW3': after it.
    doc = copy.deepcopy(signed)
    doc.append(_parse(evil_assertion))
    docs["XSW3 evil assertion after the signed one"] = _s(doc)
    # XSW4: the signed assertion wrapped inside the evil one.
    doc = copy.deepcopy(signed)
    wrapper = _parse(evil_assertion)
    wrapper.append(copy.deepcopy(signed_assertion))
    doc.replace(doc.find("saml:Assertion", NS), wrapper)
    docs["XSW4 signed assertion inside the evil one"] = _s(doc)
    # XSW5: the signature moved onto the evil assertion (same ID), original kept beside.
    doc = copy.deepcopy(signed)
    same_id = _parse(assertion_xml(dataclasses.replace(evil, assertion_id=c.assertion_id), placeholder=False))
    same_id.find("saml:Issuer", NS).addnext(copy.deepcopy(signed_assertion.find("ds:Signature", NS)))
    doc.find("saml:Assertion", NS).addprevious(same_id)
    docs["XSW5 evil assertion with the copied signature"] = _s(doc)
    # XSW6: the original inside the copied signature's ds:Object.
    doc = copy.deepcopy(signed)
    carrier = _parse(assertion_xml(dataclasses.replace(evil, assertion_id=c.assertion_id), placeholder=False))
    sig = copy.deepcopy(signed_assertion.find("ds:Signature", NS))
    obj = etree.SubElement(sig, f"{{{NS['ds']}}}Object")
    original = copy.deepcopy(signed_assertion)
    original.remove(original.find("ds:Signature", NS))
    obj.append(original)
    carrier.find("saml:Issuer", NS).addnext(sig)
    doc.replace(doc.find("saml:Assertion", NS), carrier)
    docs["XSW6 original inside the signature's Object"] = _s(doc)
    # XSW7: the original in samlp:Extensions, the evil assertion in its place.
    doc = copy.deepcopy(signed)
    ext = etree.Element(f"{{{NS['samlp']}}}Extensions")
    ext.append(copy.deepcopy(signed_assertion))
    doc.find("saml:Issuer", NS).addnext(ext)
    doc.replace(doc.find("saml:Assertion", NS), _parse(evil_assertion))
    docs["XSW7 original in Extensions"] = _s(doc)
    # XSW8: the evil assertion keeps the signature; the original (unsigned) in its Object.
    doc = copy.deepcopy(signed)
    carrier = _parse(evil_assertion)
    sig = copy.deepcopy(signed_assertion.find("ds:Signature", NS))
    obj = etree.SubElement(sig, f"{{{NS['ds']}}}Object")
    obj.append(original)
    carrier.find("saml:Issuer", NS).addnext(sig)
    doc.replace(doc.find("saml:Assertion", NS), carrier)
    docs["XSW8 evil assertion, original in Object"] = _s(doc)

    # Response-signed Response.
    rsigned = _parse(signed_response(fed.idp, c, sign="response"))
    rsig = rsigned.find("ds:Signature", NS)
    runsigned = copy.deepcopy(rsigned)
    runsigned.remove(runsigned.find("ds:Signature", NS))
    evil_response = _parse(response_xml(dataclasses.replace(evil, response_id="_evilresp"),
                                        evil_assertion, placeholder=False))
    # XSW1: the evil Response carries the signature; the original inside its Object.
    doc = copy.deepcopy(evil_response)
    sig = copy.deepcopy(rsig)
    etree.SubElement(sig, f"{{{NS['ds']}}}Object").append(copy.deepcopy(runsigned))
    doc.find("saml:Issuer", NS).addnext(sig)
    docs["XSW1 evil response, original in Object"] = _s(doc)
    # XSW2: the original detached beside the signature.
    doc = copy.deepcopy(evil_response)
    doc.find("saml:Issuer", NS).addnext(copy.deepcopy(rsig))
    doc.find("saml:Issuer", NS).addnext(copy.deepcopy(runsigned))
    docs["XSW2 evil response, original detached"] = _s(doc)
    # The signed Response's assertion swapped for the evil one.
    doc = copy.deepcopy(rsigned)
    doc.replace(doc.find("saml:Assertion", NS), _parse(evil_assertion))
    docs["signed response, assertion replaced"] = _s(doc)
    return docs, c, signed


def test_signature_wrapping_attacks_are_refused(fed):
    docs, c, signed = _xsw_documents(fed)
    assert len(docs) == 10
    for name, xml in docs.items():
        assert "root@example.com" in xml, name
        e = expect_error(fed.assume, xml, error="InvalidIdentityToken", http=400)
        assert "Duplicate" not in err_message(e), name
    # The genuine Response they were built from is still good (and unused).
    assert fed.assume(_s(signed))["Subject"] == "alice@example.com"


def test_an_expired_assertion_is_refused(fed):
    c = fed.claims(not_before=now() - dt.timedelta(minutes=20), not_on_or_after=now() - dt.timedelta(minutes=5))
    expect_error(fed.assume, signed_response(fed.idp, c), error="ExpiredTokenException", http=400)
    early = fed.claims(not_before=now() + dt.timedelta(minutes=10))
    expect_error(fed.assume, signed_response(fed.idp, early), error="InvalidIdentityToken", http=400)


def test_a_wrong_audience_or_recipient_is_refused(fed):
    for c in (fed.claims(audience="https://elsewhere.example.com"),
              fed.claims(recipient="https://elsewhere.example.com/acs")):
        expect_error(fed.assume, signed_response(fed.idp, c), error="InvalidIdentityToken", http=400)
    assert fed.assume(signed_response(fed.idp, fed.claims(audience="urn:amazon:webservices")))


def test_a_replayed_assertion_is_refused(fed):
    xml = signed_response(fed.idp, fed.claims())
    fed.assume(xml)
    e = expect_error(fed.assume, xml, error="InvalidIdentityToken", http=400)
    assert "Duplicate" in err_message(e)


def test_a_signature_by_another_certificate_is_refused(fed):
    stranger = Idp(fed.idp.entity_id)  # same entity ID, other key; its cert rides in KeyInfo
    xml = signed_response(stranger, fed.claims())
    assert stranger.cert_b64() in "".join(xml.split())
    expect_error(fed.assume, xml, error="InvalidIdentityToken", http=400)
    unsigned = signed_response(fed.idp, fed.claims(), sign="none")
    expect_error(fed.assume, unsigned, error="InvalidIdentityToken", http=400)


def test_the_issuer_must_be_the_providers_entity(fed):
    c = dataclasses.replace(fed.claims(), issuer="https://other-idp.example.com")
    expect_error(fed.assume, signed_response(fed.idp, c), error="InvalidIdentityToken", http=400)


def test_a_failed_authentication_status_is_idp_rejected(fed):
    c = fed.claims(status="urn:oasis:names:tc:SAML:2.0:status:Responder")
    expect_error(fed.assume, signed_response(fed.idp, c, sign="response"), error="IDPRejectedClaim", http=403)


def test_the_role_attribute_must_name_this_role(fed):
    other_role = fed.role_arn + "-other"
    c = fed.claims(roles=[f"{other_role},{fed.provider_arn}"])
    expect_error(fed.assume, signed_response(fed.idp, c), error="AccessDenied", http=403)
    # Either order of the pair is accepted, among several pairs.
    c = fed.claims(roles=[f"{other_role},{fed.provider_arn}", f"{fed.provider_arn},{fed.role_arn}"])
    assert fed.assume(signed_response(fed.idp, c))


def test_role_session_name_is_required(fed):
    c = fed.claims(session_name=None)
    e = expect_error(fed.assume, signed_response(fed.idp, c), error="InvalidIdentityToken", http=400)
    assert "RoleSessionName" in err_message(e)


def test_an_unknown_provider_is_refused(fed):
    xml = signed_response(fed.idp, fed.claims())
    expect_error(fed.sts.assume_role_with_saml, RoleArn=fed.role_arn,
                 PrincipalArn=fed.provider_arn + "-gone", SAMLAssertion=b64(xml),
                 error="InvalidIdentityToken", http=400)


def test_metadata_past_its_valid_until_is_refused(fed):
    fed.iam.update_saml_provider(SAMLProviderArn=fed.provider_arn,
                                 SAMLMetadataDocument=fed.idp.metadata(valid_until="2001-01-01T00:00:00Z"))
    e = expect_error(fed.assume, signed_response(fed.idp, fed.claims()), error="InvalidIdentityToken", http=400)
    assert "no longer valid" in err_message(e)


def test_an_oversized_assertion_is_a_validation_error(fed):
    expect_error(fed.sts.assume_role_with_saml, RoleArn=fed.role_arn, PrincipalArn=fed.provider_arn,
                 SAMLAssertion="A" * 100_004, error="ValidationError", http=400)


def test_garbage_assertions_are_refused(fed):
    for junk in ["AAAA", b64("<x/>"), "not base64 at all!!", b64("<!DOCTYPE x []><x/>")]:
        expect_error(fed.sts.assume_role_with_saml, RoleArn=fed.role_arn, PrincipalArn=fed.provider_arn,
                     SAMLAssertion=junk, error="InvalidIdentityToken", http=400)


# --------------------------------------------------------------------------
# Trust policy conditions, session tags, session length
# --------------------------------------------------------------------------
def test_trust_policy_conditions_on_saml_aud_and_sub(server):
    fed = Federation(server, trust_condition={"StringEquals": {
        "SAML:aud": AWS_SAML, "saml:sub": "alice@example.com",
        "saml:edupersonprincipalname": "alice@example.edu"}})
    epn = ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", ["alice@example.edu"])
    assert fed.assume(signed_response(fed.idp, fed.claims(attributes=[epn])))
    bob = fed.claims(name_id="bob@example.com", session_name="bob", attributes=[epn])
    expect_error(fed.assume, signed_response(fed.idp, bob), error="AccessDenied", http=403)
    wrong_epn = fed.claims(attributes=[("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", ["mallory@example.edu"])])
    expect_error(fed.assume, signed_response(fed.idp, wrong_epn), error="AccessDenied", http=403)
    regional = fed.claims(recipient="https://us-east-1.signin.aws.amazon.com/saml", attributes=[epn])
    expect_error(fed.assume, signed_response(fed.idp, regional), error="AccessDenied", http=403)


def test_principal_tags_reach_policy_variables(server):
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": "arn:aws:s3:::*/${aws:PrincipalTag/team}/*"}]}
    fed = Federation(server, role_policy=policy)
    c = fed.claims(attributes=[(ATTR + "PrincipalTag:team", ["blue"]),
                               (ATTR + "TransitiveTagKeys", ["team"])])
    s3 = s3_with(server.endpoint, fed.assume(signed_response(fed.idp, c))["Credentials"])
    s3.put_object(Bucket=fed.bucket, Key="blue/a.txt", Body=b"ok")
    expect_error(s3.put_object, Bucket=fed.bucket, Key="red/a.txt", Body=b"no", error="AccessDenied", http=403)

    no_tagging = Federation(server, tag_session=False)
    c = no_tagging.claims(attributes=[(ATTR + "PrincipalTag:team", ["blue"])])
    expect_error(no_tagging.assume, signed_response(no_tagging.idp, c), error="AccessDenied", http=403)


def test_session_not_on_or_after_caps_the_expiration(fed):
    end = now() + dt.timedelta(seconds=1200)
    r = fed.assume(signed_response(fed.idp, fed.claims(session_not_on_or_after=end)), DurationSeconds=3600)
    assert abs((r["Credentials"]["Expiration"] - end).total_seconds()) <= 1
    r = fed.assume(signed_response(fed.idp, fed.claims(attributes=[(ATTR + "SessionDuration", ["1000"])])))
    assert abs((r["Credentials"]["Expiration"] - now()).total_seconds() - 1000) < 60


# --------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------
def test_concurrent_sign_ins_and_a_concurrent_replay(fed):
    from concurrent.futures import ThreadPoolExecutor
    from botocore.exceptions import ClientError

    xmls = [signed_response(fed.idp, fed.claims(session_name=f"user{i}"), sign=("assertion", "response")[i % 2])
            for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda x: fed.assume(x)["AssumedRoleUser"]["Arn"].rsplit("/", 1)[1], xmls))
    assert sorted(names) == sorted(f"user{i}" for i in range(24))

    # The same assertion sent eight times at once is accepted exactly once.
    xml = signed_response(fed.idp, fed.claims())

    def attempt(_):
        try:
            fed.assume(xml)
            return "ok"
        except ClientError as e:
            return err_message(e)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("ok") == 1, outcomes
    assert all("Duplicate" in o for o in outcomes if o != "ok"), outcomes
