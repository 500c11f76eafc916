"""Helpers for the IAM end-to-end tests (test_iam.py, test_iam_cli.py).

boto3 IAM clients for a latchkey server, raw SigV4-signed IAM Query requests
(for latchkey's own CreateAccount/ListAccounts, which botocore does not know),
policy documents of exact sizes, and error accessors.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import conftest

REGION = "us-east-1"
IAM_VERSION = "2010-05-08"
ACCOUNT_RE = re.compile(r"^\d{12}$")

# AWS's unique-id formats: 4-letter prefix + 17 upper-case letters/digits.
def is_unique_id(value: str, prefix: str) -> bool:
    return bool(re.fullmatch(prefix + r"[A-Z0-9]{17}", value or ""))


def uniq(prefix: str = "lk") -> str:
    """A fresh IAM name (letters, digits, '-'), well under every length limit."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def iam_client(endpoint: str, access_key: str, secret_key: str, *,
               validate: bool = True):
    """boto3 IAM client, no retries. validate=False turns off botocore's own
    parameter checks so that the server's validation is what is tested."""
    session = boto3.session.Session(aws_access_key_id=access_key,
                                    aws_secret_access_key=secret_key,
                                    region_name=REGION)
    return session.client(
        "iam", endpoint_url=endpoint,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      connect_timeout=10, read_timeout=60,
                      parameter_validation=validate))


def code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def status(exc: ClientError) -> int:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


def message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", "") or ""


def expect_error(fn, *args, error: str, http: int | None = None, **kwargs) -> ClientError:
    """Calls fn and asserts it fails with `error` (and HTTP status `http`)."""
    with pytest.raises(ClientError) as ei:
        fn(*args, **kwargs)
    exc = ei.value
    got = (code(exc), status(exc))
    assert code(exc) == error, f"expected {error}/{http}, got {got}: {message(exc)!r}"
    if http is not None:
        assert status(exc) == http, f"expected {error}/{http}, got {got}: {message(exc)!r}"
    return exc


# --------------------------------------------------------------------------
# raw IAM Query requests
# --------------------------------------------------------------------------

def iam_query(endpoint: str, access_key: str, secret_key: str, action: str,
              params: dict | None = None, timeout: float = 30) -> requests.Response:
    """POST / with Action=...&Version=2010-05-08&..., SigV4-signed for
    service "iam", region us-east-1 (as botocore signs IAM requests)."""
    body = urlencode({"Action": action, "Version": IAM_VERSION, **(params or {})})
    url = endpoint.rstrip("/") + "/"
    req = AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(access_key, secret_key), "iam", REGION).add_auth(req)
    return requests.post(url, data=body, headers=dict(req.headers.items()), timeout=timeout)


def _local(tag: str) -> str:
    return tag.split("}", 1)[1] if "}" in tag else tag


def xml_text(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el.text or ""
    return None


def xml_all(root: ET.Element, name: str) -> list[str]:
    return [el.text or "" for el in root.iter() if _local(el.tag) == name]


@dataclass
class Account:
    """A tenant account created through latchkey's CreateAccount."""
    id: str
    name: str
    access_key: str
    secret_key: str
    endpoint: str

    def iam(self, validate: bool = True):
        return iam_client(self.endpoint, self.access_key, self.secret_key, validate=validate)

    def s3(self):
        return conftest.make_client(self.endpoint, self.access_key, self.secret_key)


def create_account(srv, name: str | None = None, *, access_key: str | None = None,
                   secret_key: str | None = None) -> Account:
    """CreateAccount as the operator (the server's first account root)."""
    name = name or uniq("acct")
    r = iam_query(srv.endpoint, access_key or srv.access_key, secret_key or srv.secret_key,
                  "CreateAccount", {"AccountName": name})
    assert r.status_code == 200, f"CreateAccount: HTTP {r.status_code}\n{r.text}"
    root = ET.fromstring(r.content)
    acct = Account(id=xml_text(root, "AccountId"), name=name,
                   access_key=xml_text(root, "AccessKeyId"),
                   secret_key=xml_text(root, "SecretAccessKey"), endpoint=srv.endpoint)
    assert acct.id and acct.access_key and acct.secret_key, r.text
    return acct


def query_error(r: requests.Response) -> tuple[str | None, str | None]:
    """(Code, Message) of an IAM <ErrorResponse>."""
    try:
        root = ET.fromstring(r.content)
    except ET.ParseError:
        return None, None
    return xml_text(root, "Code"), xml_text(root, "Message")


# --------------------------------------------------------------------------
# policy documents
# --------------------------------------------------------------------------

def allow(action="s3:GetObject", resource="*", **extra) -> dict:
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    st.update(extra)
    return {"Version": "2012-10-17", "Statement": [st]}


def trust(principal=None, action="sts:AssumeRole", **extra) -> dict:
    st = {"Effect": "Allow",
          "Principal": principal or {"Service": "ec2.amazonaws.com"},
          "Action": action}
    st.update(extra)
    return {"Version": "2012-10-17", "Statement": [st]}


def compact(doc) -> str:
    return json.dumps(doc, separators=(",", ":"))


def sized_identity_policy(n: int) -> str:
    """A valid identity policy whose compact JSON is exactly n characters,
    with no whitespace anywhere (so its IAM size is n)."""
    def build(k: int) -> str:
        return compact(allow("s3:GetObject", "arn:aws:s3:::sizing-bucket/" + "a" * k))
    base = len(build(0))
    assert n >= base, n
    out = build(n - base)
    assert len(out) == n and not any(c.isspace() for c in out)
    return out


def sized_trust_policy(n: int) -> str:
    """A valid role trust policy whose compact JSON is exactly n characters."""
    def build(k: int) -> str:
        return compact(trust({"Service": "ec2.amazonaws.com"},
                             Condition={"StringEquals": {"sts:ExternalId": "x" * (k + 1)}}))
    base = len(build(0))
    assert n >= base, n
    out = build(n - base)
    assert len(out) == n and not any(c.isspace() for c in out)
    return out


def with_whitespace(doc_json: str, extra: int) -> str:
    """The same document with `extra` more characters of whitespace between
    its JSON tokens (none inside strings)."""
    doc = json.loads(doc_json)
    text = json.dumps(doc, indent=2)
    pad = extra - (len(text) - len(doc_json))
    assert pad >= 0
    return text[:-1] + " " * pad + "}" if pad else text
