"""Virtual MFA devices, MFA-protected API access through STS, and
DecodeAuthorizationMessage, end to end, checked against AWS's documentation:

  - IAM API Reference: CreateVirtualMFADevice, EnableMFADevice,
    DeactivateMFADevice, DeleteVirtualMFADevice, ListMFADevices,
    ListVirtualMFADevices, DeleteUser (DeleteConflict while an MFA device
    is still enabled);
  - IAM User Guide, "Secure API access with MFA" (Configuring MFA-protected
    API access): trust policies requiring aws:MultiFactorAuthPresent,
    Bool vs BoolIfExists (the key is absent for long-term access keys and
    false for temporary credentials obtained without MFA),
    aws:MultiFactorAuthAge, GetSessionToken with MFA for IAM calls;
  - STS API Reference: AssumeRole / GetSessionToken SerialNumber and
    TokenCode ("MultiFactorAuthentication failed with invalid MFA one time
    pass code."), DecodeAuthorizationMessage (needs
    sts:DecodeAuthorizationMessage; InvalidAuthorizationMessageException).

One-time codes are computed here from the seed the server returns (RFC 6238:
HMAC-SHA1, 30-second steps, 6 digits; the helper is checked against the
RFC's test vectors). A device is enabled with the two codes a real device
showed last (the previous step's and the current one), so each test may use
the following step's code at once (enabling a device costs two requests,
so each test enables its own rather than sharing one and waiting). Only the
replay test waits for a step boundary (at most 30 s); codes are never
computed in the last 2 s of a step. Every test makes its own users,
devices, roles and buckets (the DecodeAuthorizationMessage tests share one
read-only decoder user), so the tests are independent of each other and of
their order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import string
import struct
import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import conftest
import s3util
from iamutil import compact, expect_error, iam_client, uniq
from iamutil import code as err_code
from iamutil import message as err_message

REGION = conftest.REGION
STEP = 30
MFA_FAILED = "MultiFactorAuthentication failed with invalid MFA one time pass code."
ENCODED_RE = re.compile(r"Encoded authorization failure message: (\S+)$")


# --------------------------------------------------------------------------
# TOTP (RFC 6238) from the Base32StringSeed
# --------------------------------------------------------------------------
def seed_text(seed) -> str:
    """boto3 gives Base32StringSeed as bytes: the base32 text of the seed."""
    return seed.decode("ascii") if isinstance(seed, (bytes, bytearray)) else str(seed)


def seed_key(seed) -> bytes:
    s = seed_text(seed).strip().upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def totp(seed, step: int, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1) for time step `step` (= unix time // 30)."""
    mac = hmac.new(seed_key(seed), struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    n = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return f"{n % 10 ** digits:0{digits}d}"


def now_step() -> int:
    return int(time.time()) // STEP


def _sleep_until(t: float) -> None:
    left = t - time.time()
    if left > 0:
        time.sleep(left)


def avoid_step_end(margin: float = 2.0) -> None:
    """If the current step ends within `margin` seconds, wait for the next
    one, so that codes computed now are still current when they arrive."""
    if STEP - time.time() % STEP < margin:
        _sleep_until((now_step() + 1) * STEP + 0.2)


class Device:
    """An enabled virtual MFA device: its serial number, seed, and the last
    time step whose code has been used (codes cannot be used twice)."""

    def __init__(self, serial: str, seed, user: str, last: int):
        self.serial = serial
        self.seed = seed
        self.user = user
        self.last = last

    def code(self, step: int) -> str:
        return totp(self.seed, step)

    def next_code(self) -> str:
        """A code not used before: the step after the last used one, at
        most one step ahead of now (waits for a step boundary otherwise)."""
        cur = now_step()
        k = max(self.last + 1, cur)
        if k > cur + 1:
            _sleep_until((k - 1) * STEP + 0.2)
        self.last = k
        return self.code(k)

    def wrong_code(self) -> str:
        """Six digits that are none of the device's codes near now."""
        cur = now_step()
        near = {self.code(s) for s in range(cur - 4, cur + 5)}
        for cand in ("000000", "123456", "999999", "424242", "135790"):
            if cand not in near:
                return cand
        raise AssertionError("unreachable")


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


def sts_client(endpoint, ak, sk, token=None, *, validate=True):
    return _session(ak, sk, token).client("sts", endpoint_url=endpoint, config=_cfg(validate))


def s3_client(endpoint, ak, sk, token=None):
    return _session(ak, sk, token).client(
        "s3", endpoint_url=endpoint,
        config=_cfg(signature_version="s3v4", s3={"addressing_style": "path"}))


def iam_client_tok(endpoint, ak, sk, token=None, *, validate=True):
    return _session(ak, sk, token).client("iam", endpoint_url=endpoint, config=_cfg(validate))


class Creds:
    """Temporary credentials from an STS response."""

    def __init__(self, endpoint: str, c: dict):
        self.endpoint = endpoint
        self.key = c["AccessKeyId"]
        self.secret = c["SecretAccessKey"]
        self.token = c["SessionToken"]

    def s3(self):
        return s3_client(self.endpoint, self.key, self.secret, self.token)

    def sts(self):
        return sts_client(self.endpoint, self.key, self.secret, self.token)

    def iam(self):
        return iam_client_tok(self.endpoint, self.key, self.secret, self.token)


class Principal:
    """An IAM user with an access key (and maybe an enabled MFA device)."""

    def __init__(self, endpoint: str, name: str, arn: str, key: dict):
        self.endpoint = endpoint
        self.name = name
        self.arn = arn
        self.key = key["AccessKeyId"]
        self.secret = key["SecretAccessKey"]
        self.device: Device | None = None

    def sts(self, validate: bool = True):
        return sts_client(self.endpoint, self.key, self.secret, validate=validate)

    def s3(self):
        return s3_client(self.endpoint, self.key, self.secret)

    def iam(self, validate: bool = True):
        return iam_client_tok(self.endpoint, self.key, self.secret, validate=validate)


# --------------------------------------------------------------------------
# IAM helpers
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


def trust_stmt(principal_arn, **extra) -> dict:
    st = {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}
    st.update(extra)
    return st


MFA_PRESENT = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def make_user(iam, endpoint: str, policy: dict | None = None, *, key: bool = True) -> Principal:
    name = uniq("u")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="perms", PolicyDocument=compact(policy))
    k = iam.create_access_key(UserName=name)["AccessKey"] if key else \
        {"AccessKeyId": "", "SecretAccessKey": ""}
    return Principal(endpoint, name, arn, k)


def make_role(iam, trust: dict, policy: dict | None = None) -> dict:
    role = iam.create_role(RoleName=uniq("r"), AssumeRolePolicyDocument=compact(trust))["Role"]
    if policy is not None:
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName="perms",
                            PolicyDocument=compact(policy))
    return role


def create_device(iam, name: str | None = None, **kw) -> tuple[str, bytes]:
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=name or uniq("mfa"), **kw)
    d = d["VirtualMFADevice"]
    return d["SerialNumber"], d["Base32StringSeed"]


def enable_device(iam, user_name: str, serial: str, seed) -> Device:
    """EnableMFADevice with the two codes a device showed last: the previous
    step's and the current step's."""
    avoid_step_end()
    c = now_step()
    iam.enable_mfa_device(UserName=user_name, SerialNumber=serial,
                          AuthenticationCode1=totp(seed, c - 1),
                          AuthenticationCode2=totp(seed, c))
    return Device(serial, seed, user_name, last=c)


def make_mfa_user(iam, endpoint: str, policy: dict | None = None) -> Principal:
    """A user with an access key and an enabled virtual MFA device."""
    user = make_user(iam, endpoint, policy)
    serial, seed = create_device(iam)
    user.device = enable_device(iam, user.name, serial, seed)
    return user


def denied(fn, *args, **kwargs) -> ClientError:
    return expect_error(fn, *args, error="AccessDenied", http=403, **kwargs)


def mfa_denied(fn, *args, **kwargs) -> ClientError:
    """AccessDenied for a one-time code the server does not accept."""
    exc = denied(fn, *args, **kwargs)
    assert err_message(exc).startswith("MultiFactorAuthentication failed"), err_message(exc)
    return exc


def invalid(fn, *args, **kwargs) -> ClientError:
    return expect_error(fn, *args, error="ValidationError", http=400, **kwargs)


def virtual_devices(iam, status: str | None = None) -> dict[str, dict]:
    kw = {"AssignmentStatus": status} if status else {}
    out: dict[str, dict] = {}
    for page in iam.get_paginator("list_virtual_mfa_devices").paginate(**kw):
        for d in page["VirtualMFADevices"]:
            out[d["SerialNumber"]] = d
    return out


def mfa_serials(iam_c, **kw) -> list[str]:
    return [d["SerialNumber"] for d in iam_c.list_mfa_devices(**kw)["MFADevices"]]


def tamper(blob: str) -> str:
    i = len(blob) // 2
    alphabet = string.ascii_letters + string.digits
    repl = next(ch for ch in alphabet if ch != blob[i])
    return blob[:i] + repl + blob[i + 1:]


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iam(server):
    return iam_client(server.endpoint, server.access_key, server.secret_key)


@pytest.fixture(scope="module")
def account_id(iam):
    return iam.get_user()["User"]["Arn"].split(":")[4]


@pytest.fixture(scope="module")
def decoder(server, iam):
    """A user allowed sts:DecodeAuthorizationMessage (and nothing else)."""
    return make_user(iam, server.endpoint, doc(allow("sts:DecodeAuthorizationMessage")))


def decode(principal: Principal, blob: str) -> dict:
    r = principal.sts().decode_authorization_message(EncodedMessage=blob)
    return json.loads(r["DecodedMessage"])


def encoded_from_query_error(exc: ClientError) -> str:
    """The blob at the end of an IAM/STS AccessDenied message."""
    m = ENCODED_RE.search(err_message(exc))
    assert m, f"no encoded authorization message in {err_message(exc)!r}"
    return m.group(1)


# ==========================================================================
# the test's own TOTP
# ==========================================================================
def test_totp_helper_matches_rfc6238():
    """RFC 6238 Appendix B (SHA1 seed "12345678901234567890"), 8 digits, and
    the 6-digit codes virtual MFA devices show (the last six of those)."""
    seed = base64.b32encode(b"12345678901234567890")
    for t, code8 in [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                     (1234567890, "89005924"), (2000000000, "69279037"),
                     (20000000000, "65353130")]:
        assert totp(seed, t // STEP, digits=8) == code8
        assert totp(seed, t // STEP) == code8[-6:]
    # the same seed as unpadded base32 text, as authenticator apps take it
    assert totp(seed.rstrip(b"=").decode(), 1) == "287082"


# ==========================================================================
# CreateVirtualMFADevice / ListVirtualMFADevices / DeleteVirtualMFADevice
# ==========================================================================
def test_create_list_and_delete_virtual_mfa_device(iam, account_id):
    name = uniq("mfa")
    r = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    serial = r["SerialNumber"]
    assert serial == f"arn:aws:iam::{account_id}:mfa/{name}"
    # the seed: base32 text (RFC 4648 alphabet) of a key of at least 80 bits
    seed = r["Base32StringSeed"]
    assert isinstance(seed, bytes)
    assert re.fullmatch(rb"[A-Z2-7]+=*", seed), seed
    assert len(seed_key(seed)) >= 10
    assert re.fullmatch(r"\d{6}", totp(seed, now_step()))
    # a second device has another seed
    serial2, seed2 = create_device(iam)
    assert seed2 != seed and serial2 != serial

    # listed as unassigned, without its seed (shown once, at creation)
    for status in (None, "Any", "Unassigned"):
        listed = virtual_devices(iam, status)
        assert serial in listed, status
        assert "User" not in listed[serial]
        assert "EnableDate" not in listed[serial]
        assert not listed[serial].get("Base32StringSeed")
        assert not listed[serial].get("QRCodePNG")
    assert serial not in virtual_devices(iam, "Assigned")

    # names are unique in the account
    e = expect_error(iam.create_virtual_mfa_device, VirtualMFADeviceName=name,
                     error="EntityAlreadyExists", http=409)
    assert name in err_message(e)

    # a path is part of the device's ARN (its serial number)
    pname = uniq("mfa")
    p = iam.create_virtual_mfa_device(VirtualMFADeviceName=pname, Path="/division/team/")
    assert p["VirtualMFADevice"]["SerialNumber"] == \
        f"arn:aws:iam::{account_id}:mfa/division/team/{pname}"
    assert p["VirtualMFADevice"]["SerialNumber"] in virtual_devices(iam)

    # deleting an unassigned device
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert serial not in virtual_devices(iam)
    assert serial2 in virtual_devices(iam)
    expect_error(iam.delete_virtual_mfa_device, SerialNumber=serial,
                 error="NoSuchEntity", http=404)
    expect_error(iam.delete_virtual_mfa_device,
                 SerialNumber=f"arn:aws:iam::{account_id}:mfa/{uniq('none')}",
                 error="NoSuchEntity", http=404)
    # the name is free again
    serial3, _ = create_device(iam, name)
    assert serial3 == serial
    for s in (serial2, serial3, p["VirtualMFADevice"]["SerialNumber"]):
        iam.delete_virtual_mfa_device(SerialNumber=s)


def test_create_virtual_mfa_device_validation(server):
    nv = iam_client(server.endpoint, server.access_key, server.secret_key, validate=False)
    for bad in ("bad name", "bad/name", "x" * 227, ""):
        invalid(nv.create_virtual_mfa_device, VirtualMFADeviceName=bad)
    for bad_path in ("noslash", "/no-trailing", "no-leading/"):
        invalid(nv.create_virtual_mfa_device, VirtualMFADeviceName=uniq("mfa"), Path=bad_path)
    # 226 characters of [\w+=,.@-] are fine
    ok = nv.create_virtual_mfa_device(VirtualMFADeviceName="a" * 220 + "_+=,.@")
    nv.delete_virtual_mfa_device(SerialNumber=ok["VirtualMFADevice"]["SerialNumber"])


# ==========================================================================
# EnableMFADevice / ListMFADevices
# ==========================================================================
def test_enable_mfa_device_needs_two_consecutive_codes(server, iam, account_id):
    user = make_user(iam, server.endpoint, doc(allow("iam:ListMFADevices", "*")))
    serial, seed = create_device(iam)

    avoid_step_end()
    c = now_step()
    dev = Device(serial, seed, user.name, c)
    wrong = dev.wrong_code()
    for c1, c2 in [(wrong, totp(seed, c)),             # first code wrong
                   (totp(seed, c - 1), wrong),         # second code wrong
                   (totp(seed, c), totp(seed, c - 1)),  # in the wrong order
                   (totp(seed, c), totp(seed, c)),      # the same code twice
                   (totp(seed, c - 2), totp(seed, c))]:  # not consecutive
        e = expect_error(iam.enable_mfa_device, UserName=user.name, SerialNumber=serial,
                         AuthenticationCode1=c1, AuthenticationCode2=c2,
                         error="InvalidAuthenticationCode", http=403)
        assert err_message(e)
    assert serial in virtual_devices(iam, "Unassigned")
    assert mfa_serials(iam, UserName=user.name) == []

    before = time.time()
    dev = enable_device(iam, user.name, serial, seed)

    listed = iam.list_mfa_devices(UserName=user.name)
    assert listed["IsTruncated"] is False
    [m] = listed["MFADevices"]
    assert m["UserName"] == user.name
    assert m["SerialNumber"] == serial
    assert abs(m["EnableDate"].timestamp() - before) < 120

    assigned = virtual_devices(iam, "Assigned")
    assert serial in assigned
    assert assigned[serial]["User"]["UserName"] == user.name
    assert assigned[serial]["User"]["Arn"] == user.arn
    assert abs(assigned[serial]["EnableDate"].timestamp() - before) < 120
    assert not assigned[serial].get("Base32StringSeed")
    assert serial not in virtual_devices(iam, "Unassigned")
    assert serial in virtual_devices(iam, "Any")

    # the user lists its own devices without naming itself
    assert mfa_serials(user.iam()) == [serial]

    # a device serves one user: enabling it again (for anyone) is refused
    other = make_user(iam, server.endpoint)
    avoid_step_end()
    c = now_step()
    expect_error(iam.enable_mfa_device, UserName=other.name, SerialNumber=serial,
                 AuthenticationCode1=totp(seed, c), AuthenticationCode2=totp(seed, c + 1),
                 error="EntityAlreadyExists", http=409)
    assert mfa_serials(iam, UserName=other.name) == []
    assert mfa_serials(iam, UserName=user.name) == [serial]

    # unknown user, unknown device
    serial2, seed2 = create_device(iam)
    c = now_step()
    expect_error(iam.enable_mfa_device, UserName=uniq("nobody"), SerialNumber=serial2,
                 AuthenticationCode1=totp(seed2, c - 1), AuthenticationCode2=totp(seed2, c),
                 error="NoSuchEntity", http=404)
    expect_error(iam.enable_mfa_device, UserName=other.name,
                 SerialNumber=f"arn:aws:iam::{account_id}:mfa/{uniq('none')}",
                 AuthenticationCode1="123456", AuthenticationCode2="654321",
                 error="NoSuchEntity", http=404)
    iam.delete_virtual_mfa_device(SerialNumber=serial2)


def test_enable_mfa_device_code_format_is_validated(server, iam):
    """AuthenticationCode1/2: 'Fixed length of 6. Pattern: [\\d]+'."""
    user = make_user(iam, server.endpoint)
    serial, seed = create_device(iam)
    nv = iam_client(server.endpoint, server.access_key, server.secret_key, validate=False)
    c = now_step()
    good = totp(seed, c)
    for bad in ("12345", "1234567", "abcdef", "12 345"):
        invalid(nv.enable_mfa_device, UserName=user.name, SerialNumber=serial,
                AuthenticationCode1=bad, AuthenticationCode2=good)
        invalid(nv.enable_mfa_device, UserName=user.name, SerialNumber=serial,
                AuthenticationCode1=good, AuthenticationCode2=bad)
    assert serial in virtual_devices(iam, "Unassigned")
    iam.delete_virtual_mfa_device(SerialNumber=serial)


def test_list_mfa_devices_defaults_to_the_caller(server, iam):
    """ListMFADevices: without UserName, the user is the one whose access
    key signed the request; an unknown UserName is NoSuchEntity."""
    lister = doc(allow("iam:ListMFADevices", "*"))
    owner = make_mfa_user(iam, server.endpoint, lister)
    bystander = make_user(iam, server.endpoint, lister)
    assert mfa_serials(owner.iam()) == [owner.device.serial]
    assert mfa_serials(bystander.iam()) == []
    assert mfa_serials(bystander.iam(), UserName=owner.name) == [owner.device.serial]
    assert mfa_serials(iam, UserName=owner.name) == [owner.device.serial]


def test_list_mfa_devices_as_root_lists_the_root_users_devices(server, iam):
    """Without UserName the user is implied by the signing access key: for
    the account root's key, that is the root user, whose MFA devices are its
    own -- an IAM user's device is not one of them."""
    owner = make_mfa_user(iam, server.endpoint)
    listed = iam.list_mfa_devices()["MFADevices"]
    assert owner.device.serial not in [d["SerialNumber"] for d in listed]
    assert all(d.get("UserName") != owner.name for d in listed)


def test_list_mfa_devices_of_unknown_user(iam):
    """ListMFADevices errors: NoSuchEntity (404) for a user that does not exist."""
    expect_error(iam.list_mfa_devices, UserName=uniq("nobody"), error="NoSuchEntity", http=404)


def test_device_with_a_path_is_named_by_its_full_serial(server, iam, account_id):
    """A virtual device's serial number is its ARN, path included
    (arn:aws:iam::ACCT:mfa/PATH/NAME); the same name under another path (or
    none) names no device."""
    name = uniq("mfa")
    r = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/ops/")
    serial = r["VirtualMFADevice"]["SerialNumber"]
    seed = r["VirtualMFADevice"]["Base32StringSeed"]
    assert serial == f"arn:aws:iam::{account_id}:mfa/ops/{name}"
    user = make_user(iam, server.endpoint)
    user.device = enable_device(iam, user.name, serial, seed)
    assert mfa_serials(iam, UserName=user.name) == [serial]
    assert virtual_devices(iam, "Assigned")[serial]["User"]["UserName"] == user.name
    # GetSessionToken with the full serial number
    user.sts().get_session_token(DurationSeconds=900, SerialNumber=serial,
                                 TokenCode=user.device.next_code())

    for wrong in (f"arn:aws:iam::{account_id}:mfa/{name}",
                  f"arn:aws:iam::{account_id}:mfa/other/{name}"):
        expect_error(iam.deactivate_mfa_device, UserName=user.name, SerialNumber=wrong,
                     error="NoSuchEntity", http=404)
        expect_error(iam.delete_virtual_mfa_device, SerialNumber=wrong,
                     error="NoSuchEntity", http=404)
    assert mfa_serials(iam, UserName=user.name) == [serial]
    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert serial not in virtual_devices(iam)


# ==========================================================================
# DeactivateMFADevice, DeleteVirtualMFADevice and DeleteUser
# ==========================================================================
def test_deactivate_then_delete_device_and_user(server, iam, account_id):
    # a user with no access keys, policies or groups: only the device holds it
    user = make_user(iam, server.endpoint, key=False)
    serial, seed = create_device(iam)
    enable_device(iam, user.name, serial, seed)

    e = expect_error(iam.delete_virtual_mfa_device, SerialNumber=serial,
                     error="DeleteConflict", http=409)
    assert err_message(e)
    expect_error(iam.delete_user, UserName=user.name, error="DeleteConflict", http=409)
    assert iam.get_user(UserName=user.name)["User"]["UserName"] == user.name
    assert mfa_serials(iam, UserName=user.name) == [serial]

    # the device is not enabled for another user
    other = make_user(iam, server.endpoint, key=False)
    expect_error(iam.deactivate_mfa_device, UserName=other.name, SerialNumber=serial,
                 error="NoSuchEntity", http=404)
    expect_error(iam.deactivate_mfa_device, UserName=user.name,
                 SerialNumber=f"arn:aws:iam::{account_id}:mfa/{uniq('none')}",
                 error="NoSuchEntity", http=404)
    assert mfa_serials(iam, UserName=user.name) == [serial]

    iam.deactivate_mfa_device(UserName=user.name, SerialNumber=serial)
    assert mfa_serials(iam, UserName=user.name) == []
    assert serial in virtual_devices(iam, "Unassigned")
    assert serial not in virtual_devices(iam, "Assigned")
    expect_error(iam.deactivate_mfa_device, UserName=user.name, SerialNumber=serial,
                 error="NoSuchEntity", http=404)

    iam.delete_user(UserName=user.name)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert serial not in virtual_devices(iam)
    iam.delete_user(UserName=other.name)


# ==========================================================================
# AssumeRole with SerialNumber / TokenCode
# ==========================================================================
def test_assume_role_whose_trust_policy_requires_mfa(server, iam, account_id, bucket, s3):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    user = make_mfa_user(iam, server.endpoint)
    role = make_role(iam, doc(trust_stmt(user.arn, Condition=MFA_PRESENT)),
                     doc(allow(["s3:GetObject"], f"arn:aws:s3:::{bucket}/*")))
    iam.put_user_policy(UserName=user.name, PolicyName="assume",
                        PolicyDocument=compact(doc(allow("sts:AssumeRole", role["Arn"]))))
    sts = user.sts()

    # without MFA: the trust policy's condition does not hold
    denied(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="no-mfa")
    # a wrong code
    e = denied(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="bad",
               SerialNumber=user.device.serial, TokenCode=user.device.wrong_code())
    assert err_message(e) == MFA_FAILED, err_message(e)

    code = user.device.next_code()
    r = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="with-mfa",
                        SerialNumber=user.device.serial, TokenCode=code, DurationSeconds=900)
    creds = Creds(server.endpoint, r["Credentials"])
    assert r["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{account_id}:assumed-role/{role['RoleName']}/with-mfa"
    assert creds.sts().get_caller_identity()["Arn"] == r["AssumedRoleUser"]["Arn"]
    assert creds.s3().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"

    # the same code again (still within its 30 seconds) is refused
    mfa_denied(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="replay",
               SerialNumber=user.device.serial, TokenCode=code)
    # ... and so is GetSessionToken with it
    mfa_denied(sts.get_session_token, SerialNumber=user.device.serial, TokenCode=code)


def test_sts_mfa_parameters_checked(server, iam, account_id):
    """SerialNumber must name the caller's own enabled device and TokenCode
    must be six digits."""
    alice = make_mfa_user(iam, server.endpoint)
    bob = make_mfa_user(iam, server.endpoint)
    plain = make_user(iam, server.endpoint)
    role = make_role(iam, doc(trust_stmt([alice.arn, bob.arn, plain.arn], Condition=MFA_PRESENT)))
    for u in (alice, bob, plain):
        iam.put_user_policy(UserName=u.name, PolicyName="assume",
                            PolicyDocument=compact(doc(allow("sts:AssumeRole", role["Arn"]))))
    avoid_step_end()
    cur = now_step()
    bob_code = bob.device.code(cur + 1)   # valid for Bob's device, unused

    # Alice with Bob's device and Bob's valid code
    mfa_denied(alice.sts().assume_role, RoleArn=role["Arn"], RoleSessionName="ss",
               SerialNumber=bob.device.serial, TokenCode=bob_code)
    mfa_denied(alice.sts().get_session_token, SerialNumber=bob.device.serial,
               TokenCode=bob_code)
    # a user without any device
    mfa_denied(plain.sts().assume_role, RoleArn=role["Arn"], RoleSessionName="ss",
               SerialNumber=bob.device.serial, TokenCode=bob_code)
    # a device that does not exist
    mfa_denied(alice.sts().assume_role, RoleArn=role["Arn"], RoleSessionName="ss",
               SerialNumber=f"arn:aws:iam::{account_id}:mfa/{uniq('none')}",
               TokenCode=alice.device.code(cur + 1))
    # TokenCode: six digits
    nv = alice.sts(validate=False)
    for bad in ("12345", "1234567", "abcdef"):
        invalid(nv.assume_role, RoleArn=role["Arn"], RoleSessionName="ss",
                SerialNumber=alice.device.serial, TokenCode=bad)
        invalid(nv.get_session_token, SerialNumber=alice.device.serial, TokenCode=bad)

    # Bob's code was not spent by Alice's attempts
    bob.sts().assume_role(RoleArn=role["Arn"], RoleSessionName="bob",
                          SerialNumber=bob.device.serial, TokenCode=bob_code)


def test_role_session_carries_mfa_condition_keys(server, iam, bucket, s3):
    """The role trusts the user with or without MFA; the role's own policy
    denies deletes unless the session was obtained with MFA (BoolIfExists
    aws:MultiFactorAuthPresent false) and allows listing only within an
    hour of the MFA authentication (NumericLessThan aws:MultiFactorAuthAge)."""
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    user = make_mfa_user(iam, server.endpoint)
    role = make_role(iam, doc(trust_stmt(user.arn)), doc(
        allow(["s3:GetObject", "s3:DeleteObject"], f"arn:aws:s3:::{bucket}/*"),
        deny("s3:DeleteObject", f"arn:aws:s3:::{bucket}/*",
             Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
        allow("s3:ListBucket", f"arn:aws:s3:::{bucket}",
              Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        # never true for a fresh MFA session: grants nothing
        allow("s3:PutObject", f"arn:aws:s3:::{bucket}/*",
              Condition={"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}})))
    iam.put_user_policy(UserName=user.name, PolicyName="assume",
                        PolicyDocument=compact(doc(allow("sts:AssumeRole", role["Arn"]))))

    plain = Creds(server.endpoint, user.sts().assume_role(
        RoleArn=role["Arn"], RoleSessionName="plain")["Credentials"])
    assert plain.s3().get_object(Bucket=bucket, Key="a")["Body"].read() == b"a"
    denied(plain.s3().delete_object, Bucket=bucket, Key="a")
    denied(plain.s3().list_objects_v2, Bucket=bucket)

    mfa = Creds(server.endpoint, user.sts().assume_role(
        RoleArn=role["Arn"], RoleSessionName="mfa", SerialNumber=user.device.serial,
        TokenCode=user.device.next_code())["Credentials"])
    assert mfa.s3().get_object(Bucket=bucket, Key="a")["Body"].read() == b"a"
    keys = [o["Key"] for o in mfa.s3().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["a", "b"]
    mfa.s3().delete_object(Bucket=bucket, Key="a")
    denied(mfa.s3().put_object, Bucket=bucket, Key="c", Body=b"c")
    # the plain session is still refused
    denied(plain.s3().delete_object, Bucket=bucket, Key="b")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["b"]


# ==========================================================================
# GetSessionToken with SerialNumber / TokenCode
# ==========================================================================
def test_get_session_token_with_mfa(server, iam, bucket, s3):
    """IAM User Guide, MFA-protected API access: the user's own policy
    requires MFA for deletes (BoolIfExists: denies long-term keys and
    sessions without MFA) and, with plain Bool, for writes under bool/ (which
    therefore does not stop the long-term key, where the key is absent).
    STS API Reference: GetSessionToken credentials can call IAM only when
    MFA information was included."""
    s3.put_object(Bucket=bucket, Key="keep", Body=b"keep")
    user = make_mfa_user(iam, server.endpoint, doc(
        allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"arn:aws:s3:::{bucket}/*"),
        deny("s3:DeleteObject", f"arn:aws:s3:::{bucket}/*",
             Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
        deny("s3:PutObject", f"arn:aws:s3:::{bucket}/bool/*",
             Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
        allow("s3:ListBucket", f"arn:aws:s3:::{bucket}",
              Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        allow(["iam:GetUser", "iam:ListMFADevices"], "*")))

    # the long-term key: no MFA key at all
    lt = user.s3()
    lt.put_object(Bucket=bucket, Key="bool/long-term", Body=b"x")
    denied(lt.delete_object, Bucket=bucket, Key="bool/long-term")
    denied(lt.list_objects_v2, Bucket=bucket)
    assert user.iam().get_user(UserName=user.name)["User"]["Arn"] == user.arn

    # GetSessionToken without MFA: aws:MultiFactorAuthPresent is false
    plain = Creds(server.endpoint, user.sts().get_session_token(DurationSeconds=900)
                  ["Credentials"])
    denied(plain.s3().put_object, Bucket=bucket, Key="bool/plain", Body=b"x")
    denied(plain.s3().delete_object, Bucket=bucket, Key="bool/long-term")
    denied(plain.s3().list_objects_v2, Bucket=bucket)
    plain.s3().put_object(Bucket=bucket, Key="other/plain", Body=b"x")
    denied(plain.iam().get_user, UserName=user.name)

    # a wrong code
    e = denied(user.sts().get_session_token, DurationSeconds=900,
               SerialNumber=user.device.serial, TokenCode=user.device.wrong_code())
    assert err_message(e) == MFA_FAILED, err_message(e)

    # with MFA
    r = user.sts().get_session_token(DurationSeconds=900, SerialNumber=user.device.serial,
                                     TokenCode=user.device.next_code())
    mfa = Creds(server.endpoint, r["Credentials"])
    assert mfa.sts().get_caller_identity()["Arn"] == user.arn
    c = mfa.s3()
    c.put_object(Bucket=bucket, Key="bool/mfa", Body=b"x")
    c.delete_object(Bucket=bucket, Key="bool/long-term")
    listed = sorted(o["Key"] for o in c.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == ["bool/mfa", "keep", "other/plain"]
    # ... and IAM, within the user's permissions
    i = mfa.iam()
    assert i.get_user(UserName=user.name)["User"]["Arn"] == user.arn
    assert mfa_serials(i, UserName=user.name) == [user.device.serial]
    denied(i.create_user, UserName=uniq("u"))


def test_mfa_code_is_single_use_until_the_next_step(server, iam):
    """A code once accepted is refused for the rest of its time step; the
    device's next code is accepted when it comes. Waits for one step
    boundary (at most 30 s)."""
    user = make_mfa_user(iam, server.endpoint)
    dev = user.device
    first = dev.next_code()
    user.sts().get_session_token(DurationSeconds=900, SerialNumber=dev.serial, TokenCode=first)
    mfa_denied(user.sts().get_session_token, DurationSeconds=900, SerialNumber=dev.serial,
               TokenCode=first)
    # so is the code that enabled the device (the step before)
    mfa_denied(user.sts().get_session_token, DurationSeconds=900, SerialNumber=dev.serial,
               TokenCode=dev.code(dev.last - 1))
    second = dev.next_code()       # waits for the step boundary
    assert second != first
    r = user.sts().get_session_token(DurationSeconds=900, SerialNumber=dev.serial,
                                     TokenCode=second)
    assert r["Credentials"]["SessionToken"]
    mfa_denied(user.sts().get_session_token, DurationSeconds=900, SerialNumber=dev.serial,
               TokenCode=second)


# ==========================================================================
# DecodeAuthorizationMessage
# ==========================================================================
def test_decode_iam_denial(server, iam, account_id, decoder):
    target = make_user(iam, server.endpoint, key=False)
    target_arn = f"arn:aws:iam::{account_id}:user/{target.name}"
    nobody = make_user(iam, server.endpoint, doc(allow("s3:GetObject", "*")))

    # implicit deny
    e = denied(nobody.iam().get_user, UserName=target.name)
    blob = encoded_from_query_error(e)
    d = decode(decoder, blob)
    assert d["allowed"] is False
    assert d["explicitDeny"] is False
    assert d["context"]["principal"]["arn"] == nobody.arn
    assert d["context"]["action"] == "iam:GetUser"
    assert d["context"]["resource"] == target_arn

    # explicit deny
    blocked = make_user(iam, server.endpoint, doc(allow("iam:GetUser", "*"),
                                                  deny("iam:GetUser", target_arn)))
    assert blocked.iam().get_user(UserName=blocked.name)["User"]["Arn"] == blocked.arn
    e = denied(blocked.iam().get_user, UserName=target.name)
    d = decode(decoder, encoded_from_query_error(e))
    assert d["allowed"] is False
    assert d["explicitDeny"] is True
    assert d["context"]["principal"]["arn"] == blocked.arn
    assert d["context"]["action"] == "iam:GetUser"
    assert d["context"]["resource"] == target_arn

    # the account root may decode it too
    root_sts = sts_client(server.endpoint, server.access_key, server.secret_key)
    again = json.loads(root_sts.decode_authorization_message(EncodedMessage=blob)
                       ["DecodedMessage"])
    assert again["context"]["principal"]["arn"] == nobody.arn


def test_decode_sts_denial(server, iam, account_id, decoder):
    """An STS Query-API denial: GetFederationToken by a user whose policies
    do not allow sts:GetFederationToken."""
    user = make_user(iam, server.endpoint, doc(allow("s3:GetObject", "*")))
    e = denied(user.sts().get_federation_token, Name="fed-user",
               Policy=compact(doc(allow("s3:GetObject", "*"))))
    d = decode(decoder, encoded_from_query_error(e))
    assert d["allowed"] is False
    assert d["explicitDeny"] is False
    assert d["context"]["principal"]["arn"] == user.arn
    assert d["context"]["action"] == "sts:GetFederationToken"
    assert d["context"]["resource"] == f"arn:aws:sts::{account_id}:federated-user/fed-user"


def test_decode_assume_role_denial(server, iam, account_id, decoder):
    """An AssumeRole denial is an STS Query-API denial too: the role trusts
    the account (so the caller's identity policy must allow sts:AssumeRole
    as well) and the user's policy does not."""
    user = make_user(iam, server.endpoint, doc(allow("s3:GetObject", "*")))
    role = make_role(iam, doc(trust_stmt(f"arn:aws:iam::{account_id}:root")))
    e = denied(user.sts().assume_role, RoleArn=role["Arn"], RoleSessionName="ss")
    d = decode(decoder, encoded_from_query_error(e))
    assert d["allowed"] is False
    assert d["explicitDeny"] is False
    assert d["context"]["principal"]["arn"] == user.arn
    assert d["context"]["action"] == "sts:AssumeRole"
    assert d["context"]["resource"] == role["Arn"]


def test_decode_s3_denial(server, iam, decoder, bucket, s3):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"s")
    user = make_user(iam, server.endpoint, doc(
        allow("s3:GetObject", f"arn:aws:s3:::{bucket}/public/*")))
    # the raw S3 error document carries <EncodedAuthorizationMessage>
    r = server.request("GET", f"/{bucket}/secret.txt", access_key=user.key,
                       secret_key=user.secret)
    assert r.status_code == 403, r.text
    assert s3util.error_code(r.content) == "AccessDenied"
    blob = s3util.xml_find_text(s3util.parse_xml(r.content), "EncodedAuthorizationMessage")
    assert blob, r.text
    d = decode(decoder, blob)
    assert d["allowed"] is False
    assert d["explicitDeny"] is False
    assert d["context"]["principal"]["arn"] == user.arn
    assert d["context"]["action"] == "s3:GetObject"
    assert d["context"]["resource"] == f"arn:aws:s3:::{bucket}/secret.txt"

    # boto3 exposes it in the error too
    with pytest.raises(ClientError) as ei:
        user.s3().get_object(Bucket=bucket, Key="secret.txt")
    assert err_code(ei.value) == "AccessDenied"
    blob2 = ei.value.response["Error"].get("EncodedAuthorizationMessage")
    assert blob2
    assert decode(decoder, blob2)["context"]["action"] == "s3:GetObject"

    # anonymous callers get no encoded message
    anon = requests.get(f"{server.endpoint}/{bucket}/secret.txt", timeout=30)
    assert anon.status_code == 403
    assert s3util.error_code(anon.content) == "AccessDenied"
    assert s3util.xml_find_text(s3util.parse_xml(anon.content),
                                "EncodedAuthorizationMessage") is None


def test_decode_needs_permission_and_an_intact_message(server, iam, decoder):
    nobody = make_user(iam, server.endpoint, doc(allow("s3:GetObject", "*")))
    e = denied(nobody.iam().list_users)
    blob = encoded_from_query_error(e)
    assert decode(decoder, blob)["context"]["principal"]["arn"] == nobody.arn

    # without sts:DecodeAuthorizationMessage: AccessDenied, even for one's own denial
    denied(nobody.sts().decode_authorization_message, EncodedMessage=blob)
    # explicitly denied
    blocked = make_user(iam, server.endpoint, doc(
        allow("sts:DecodeAuthorizationMessage"), deny("sts:DecodeAuthorizationMessage")))
    denied(blocked.sts().decode_authorization_message, EncodedMessage=blob)

    # a tampered or made-up message
    for bad in (tamper(blob), blob[:-8], "bm90IGEgbWVzc2FnZQ", "not a message"):
        e = expect_error(decoder.sts().decode_authorization_message, EncodedMessage=bad,
                         error="InvalidAuthorizationMessageException", http=400)
        assert err_message(e)
