"""Authentication: SigV4 header auth, presigned URLs, aws-chunked signed streaming.

Requests are signed by s3util.sign_request (checked below against botocore's
S3SigV4Auth and against AWS's published chunked-upload example), then mutated
and sent with `requests` or a raw socket.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import s3util

AWS_EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def assert_error(resp, http: int, err_code: str | None):
    assert resp.status_code == http, (resp.status_code, resp.text[:500])
    assert resp.headers.get("x-amz-request-id"), "error responses carry x-amz-request-id"
    if err_code is not None:
        assert s3util.error_code(resp.content) == err_code, resp.text[:500]


def assert_absent(s3, bucket, key, settle: float = 0.0):
    """The key is not there (checked repeatedly for `settle` seconds)."""
    deadline = time.monotonic() + settle
    while True:
        with pytest.raises(ClientError) as ei:
            s3.head_object(Bucket=bucket, Key=key)
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert key not in keys


# ---------------------------------------------------------------------------
# the signer itself (no server needed)
# ---------------------------------------------------------------------------

def test_chunk_signer_matches_aws_example():
    """AWS's sigv4-streaming 'Example: PUT Object' (66560 bytes of 'a', 64 KiB chunks)."""
    when = dt.datetime(2013, 5, 24, tzinfo=dt.timezone.utc)
    signed = s3util.sign_request(
        method="PUT", host="s3.amazonaws.com", key_path="/examplebucket/chunkObject.txt",
        access_key=AWS_EXAMPLE_KEY, secret_key=AWS_EXAMPLE_SECRET, when=when,
        payload_hash=s3util.STREAMING_PAYLOAD, sign_content_length=True,
        headers={"x-amz-storage-class": "REDUCED_REDUNDANCY", "Content-Encoding": "aws-chunked",
                 "Content-Length": "66824", "x-amz-decoded-content-length": "66560"})
    assert signed.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    body, sigs = s3util.build_signed_chunks(b"a" * 66560, 65536, signed.signing_key,
                                            signed.amz_date, signed.scope, signed.signature)
    assert sigs == [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]
    assert len(body) == 66824


def test_header_signer_matches_botocore():
    when = dt.datetime(2024, 2, 29, 12, 34, 56, tzinfo=dt.timezone.utc)
    body = b"hello world"
    ours = s3util.sign_request(
        method="PUT", host="127.0.0.1:9000", key_path="/bkt/some key/ünï+%.txt",
        access_key=AWS_EXAMPLE_KEY, secret_key=AWS_EXAMPLE_SECRET, when=when, body=body,
        query={"x-id": "PutObject"}, headers={"Content-Type": "text/plain",
                                              "x-amz-meta-a": "  b   c "})
    req = AWSRequest(method="PUT", url=ours.url, data=body,
                     headers={"Content-Type": "text/plain", "x-amz-meta-a": "  b   c "})
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        S3SigV4Auth(Credentials(AWS_EXAMPLE_KEY, AWS_EXAMPLE_SECRET), "s3", "us-east-1").add_auth(req)
    assert req.headers["Authorization"] == ours.headers["Authorization"]


# ---------------------------------------------------------------------------
# header auth
# ---------------------------------------------------------------------------

@pytest.fixture
def obj(s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"top secret")
    return bucket, "secret.txt"


def test_valid_raw_signed_request(server, obj):
    bucket, key = obj
    r = server.request("GET", f"/{bucket}/{key}")
    assert r.status_code == 200 and r.content == b"top secret"
    r = server.request("GET", f"/{bucket}", query={"list-type": "2"})
    assert r.status_code == 200
    assert key in [s3util.xml_find_text(c, "Key") for c in s3util.parse_xml(r.content)
                   if c.tag.endswith("Contents")]


def test_wrong_secret(server, obj):
    bucket, key = obj
    r = server.request("GET", f"/{bucket}/{key}", secret_key=s3util.new_secret_access_key())
    assert_error(r, 403, "SignatureDoesNotMatch")


def test_unknown_access_key(server, obj):
    bucket, key = obj
    r = server.request("GET", f"/{bucket}/{key}", access_key=s3util.new_access_key_id(),
                       secret_key=s3util.new_secret_access_key())
    assert_error(r, 403, "InvalidAccessKeyId")


@pytest.mark.parametrize("offset_minutes", [-20, 20])
def test_request_time_too_skewed(server, obj, offset_minutes):
    bucket, key = obj
    r = server.request("GET", f"/{bucket}/{key}", when=s3util.amz_now(offset_minutes * 60))
    assert_error(r, 403, "RequestTimeTooSkewed")


def test_small_skew_is_accepted(server, obj):
    bucket, key = obj
    r = server.request("GET", f"/{bucket}/{key}", when=s3util.amz_now(-4 * 60))
    assert r.status_code == 200


def test_wrong_region_in_scope(server, obj):
    bucket, key = obj
    r = server.request("GET", f"/{bucket}/{key}", region="eu-west-1")
    assert_error(r, 400, "AuthorizationHeaderMalformed")


def test_wrong_service_in_scope(server, obj):
    bucket, key = obj
    r = server.request("GET", f"/{bucket}/{key}", service="ec2")
    assert r.status_code in (400, 403), r.text


@pytest.mark.parametrize("path_kind", ["service", "bucket", "object"])
def test_anonymous_requests_denied(server, obj, path_kind):
    bucket, key = obj
    path = {"service": "/", "bucket": f"/{bucket}", "object": f"/{bucket}/{key}"}[path_kind]
    r = requests.get(server.endpoint + path, timeout=30)
    assert_error(r, 403, "AccessDenied")
    assert b"top secret" not in r.content


def test_anonymous_put_denied(server, s3, bucket):
    r = requests.put(f"{server.endpoint}/{bucket}/anon", data=b"x", timeout=30)
    assert_error(r, 403, "AccessDenied")
    assert_absent(s3, bucket, "anon")


def test_unsupported_authorization_type(server, obj):
    bucket, key = obj
    r = requests.get(f"{server.endpoint}/{bucket}/{key}", timeout=30,
                     headers={"Authorization": "Bearer abc.def.ghi"})
    assert_error(r, 400, "InvalidArgument")


V2_NOT_SUPPORTED = "The authorization mechanism you have provided is not supported"


def test_sigv2_header_rejected(server, obj):
    # SigV2 ("AWS key:signature"): regions opened since 2014 answer 400 InvalidRequest
    bucket, key = obj
    date = s3util._dt.datetime.now(s3util._dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    sts = f"GET\n\n\n{date}\n/{bucket}/{key}"
    sig = s3util.b64(s3util.hmac.new(server.secret_key.encode(), sts.encode(), "sha1").digest())
    r = requests.get(f"{server.endpoint}/{bucket}/{key}", timeout=30,
                     headers={"Date": date, "Authorization": f"AWS {server.access_key}:{sig}"})
    assert_error(r, 400, "InvalidRequest")
    assert V2_NOT_SUPPORTED in (s3util.error_message(r.content) or "")
    assert b"top secret" not in r.content


def test_sigv2_presigned_url_rejected(server, obj):
    # what `aws s3 presign` (CLI v1) produces by default
    bucket, key = obj
    expires = int(time.time()) + 300
    sts = f"GET\n\n\n{expires}\n/{bucket}/{key}"
    sig = s3util.b64(s3util.hmac.new(server.secret_key.encode(), sts.encode(), "sha1").digest())
    r = requests.get(f"{server.endpoint}/{bucket}/{key}", timeout=30, params={
        "AWSAccessKeyId": server.access_key, "Signature": sig, "Expires": str(expires)})
    assert_error(r, 400, "InvalidRequest")
    assert b"top secret" not in r.content


def test_malformed_authorization_header(server, obj):
    bucket, key = obj
    signed = server.sign("GET", f"/{bucket}/{key}")
    headers = dict(signed.headers)
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=garbage, Signature=zzz"
    r = requests.get(signed.url, headers=headers, timeout=30)
    assert r.status_code in (400, 403), r.text
    assert s3util.error_code(r.content) in ("AuthorizationHeaderMalformed", "InvalidArgument",
                                            "SignatureDoesNotMatch", "AccessDenied")


def test_signed_header_modified_after_signing(server, s3, bucket):
    signed = server.sign("PUT", f"/{bucket}/meta", body=b"x",
                         headers={"x-amz-meta-owner": "alice"})
    headers = dict(signed.headers)
    headers["x-amz-meta-owner"] = "mallory"
    r = requests.put(signed.url, headers=headers, data=b"x", timeout=30)
    assert_error(r, 403, "SignatureDoesNotMatch")
    assert_absent(s3, bucket, "meta")


def test_path_modified_after_signing(server, s3, bucket):
    signed = server.sign("PUT", f"/{bucket}/intended", body=b"x")
    url = signed.url.replace("/intended", "/other")
    r = requests.put(url, headers=signed.headers, data=b"x", timeout=30)
    assert_error(r, 403, "SignatureDoesNotMatch")
    assert_absent(s3, bucket, "other")


def test_payload_hash_mismatch(server, s3, bucket):
    body = b"the body actually sent"
    wrong_hash = s3util.hashlib.sha256(b"a different body").hexdigest()
    r = server.request("PUT", f"/{bucket}/sha", body=body, payload_hash=wrong_hash)
    assert_error(r, 400, "XAmzContentSHA256Mismatch")
    assert_absent(s3, bucket, "sha")


def test_unsigned_payload_header_auth(server, s3, bucket):
    r = server.request("PUT", f"/{bucket}/unsigned", body=b"unsigned body",
                       payload_hash=s3util.UNSIGNED_PAYLOAD)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"unsigned body"


# ---------------------------------------------------------------------------
# presigned URLs
# ---------------------------------------------------------------------------

def test_presigned_get_and_put(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                    ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"top secret"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"},
                                        ExpiresIn=300)
    r = requests.put(put_url, data=b"uploaded via presigned url", timeout=30)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded via presigned url"


def test_presigned_response_overrides(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": key, "ResponseContentDisposition": 'attachment; filename="s.txt"'})
    r = requests.get(url, timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="s.txt"'


def _mutate_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    q.update(changes)
    return urlunsplit(parts._replace(query=urlencode(q)))


def test_presigned_tampered(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                    ExpiresIn=300)
    sig = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    for bad in (
        _mutate_query(url, **{"X-Amz-Signature": flipped}),
        _mutate_query(url, **{"X-Amz-Expires": "600"}),
        url.replace(f"/{key}?", "/other.txt?"),
    ):
        r = requests.get(bad, timeout=30)
        assert r.status_code == 403, (bad, r.text)
        assert s3util.error_code(r.content) == "SignatureDoesNotMatch", r.text
        assert b"top secret" not in r.content


def test_presigned_expired(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                    ExpiresIn=1)
    time.sleep(2.5)
    r = requests.get(url, timeout=30)
    assert_error(r, 403, "AccessDenied")
    assert "Request has expired" in (s3util.error_message(r.content) or "")


def test_presigned_expires_too_long(s3, obj):
    bucket, key = obj
    ok = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                   ExpiresIn=604800)
    assert requests.get(ok, timeout=30).status_code == 200
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                         ExpiresIn=604801)
    r = requests.get(too_long, timeout=30)
    assert_error(r, 400, "AuthorizationQueryParametersError")
    assert b"top secret" not in r.content


def test_presigned_unknown_key(server, obj):
    bucket, key = obj
    other = server.client(access_key=s3util.new_access_key_id(),
                          secret_key=s3util.new_secret_access_key())
    url = other.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                       ExpiresIn=60)
    assert_error(requests.get(url, timeout=30), 403, "InvalidAccessKeyId")


# ---------------------------------------------------------------------------
# STREAMING-AWS4-HMAC-SHA256-PAYLOAD (signed chunks)
# ---------------------------------------------------------------------------

CHUNK = 64 * 1024


def streaming_put(server, bucket, key, data, *, corrupt_chunk=None, tamper_data_chunk=None,
                  declared_length=None, close_after=None):
    """PUT `data` as a signed aws-chunked body over a raw socket."""
    # the encoded length is needed for Content-Length before signing
    probe, _ = s3util.build_signed_chunks(data, CHUNK, b"k" * 32, "20000101T000000Z",
                                          "x", "0" * 64)
    body_len = len(probe)
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "Content-Length": str(declared_length if declared_length is not None else body_len),
        "Content-Type": "application/octet-stream",
    }
    signed = server.sign("PUT", f"/{bucket}/{key}", payload_hash=s3util.STREAMING_PAYLOAD,
                         headers=headers)
    body, _ = s3util.build_signed_chunks(data, CHUNK, signed.signing_key, signed.amz_date,
                                         signed.scope, signed.signature,
                                         corrupt_chunk=corrupt_chunk,
                                         tamper_data_chunk=tamper_data_chunk)
    assert len(body) == body_len
    if close_after is not None:
        body = body[:close_after]
    return s3util.raw_http("127.0.0.1", server.port, "PUT", signed.path, signed.headers, body,
                           close_after_send=close_after is not None)


def test_streaming_signed_chunks_upload(server, s3, bucket):
    data = os.urandom(3 * CHUNK + 12345)
    resp = streaming_put(server, bucket, "chunked", data)
    assert resp.status == 200, resp.body
    assert resp.header("ETag") == f'"{s3util.md5_hex(data)}"'
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got.get("ContentEncoding") in (None, "")  # aws-chunked is not stored


def test_streaming_single_small_chunk(server, s3, bucket):
    resp = streaming_put(server, bucket, "small-chunked", b"tiny payload")
    assert resp.status == 200, resp.body
    assert s3.get_object(Bucket=bucket, Key="small-chunked")["Body"].read() == b"tiny payload"


@pytest.mark.parametrize("which", ["first", "middle", "final-empty"])
def test_streaming_bad_chunk_signature(server, s3, bucket, which):
    data = os.urandom(3 * CHUNK + 100)
    index = {"first": 0, "middle": 2, "final-empty": 4}[which]
    resp = streaming_put(server, bucket, f"badsig-{which}", data, corrupt_chunk=index)
    assert resp.status == 403, resp.body
    assert s3util.error_code(resp.body) == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, f"badsig-{which}")


def test_streaming_tampered_chunk_data(server, s3, bucket):
    data = os.urandom(2 * CHUNK + 100)
    resp = streaming_put(server, bucket, "tampered", data, tamper_data_chunk=1)
    assert resp.status == 403, resp.body
    assert s3util.error_code(resp.body) == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "tampered")


def test_streaming_overwrite_with_bad_signature_keeps_old_object(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"original")
    resp = streaming_put(server, bucket, "keep", os.urandom(2 * CHUNK), corrupt_chunk=1)
    assert resp.status == 403
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"original"


# ---------------------------------------------------------------------------
# truncated bodies
# ---------------------------------------------------------------------------

def test_truncated_streaming_body_not_created(server, s3, bucket):
    data = os.urandom(4 * CHUNK)
    streaming_put(server, bucket, "trunc-chunked", data, close_after=2 * CHUNK + 50)
    assert_absent(s3, bucket, "trunc-chunked", settle=2.0)
    assert requests.get(f"{server.endpoint}/health/ready", timeout=10).status_code == 200


@pytest.mark.parametrize("payload", ["signed", "unsigned"])
def test_truncated_plain_body_not_created(server, s3, bucket, payload):
    full = os.urandom(1_000_000)
    sent = full[:300_000]
    key = f"trunc-{payload}"
    signed = server.sign(
        "PUT", f"/{bucket}/{key}", body=full,
        payload_hash=None if payload == "signed" else s3util.UNSIGNED_PAYLOAD,
        headers={"Content-Length": str(len(full))})
    s3util.raw_http("127.0.0.1", server.port, "PUT", signed.path, signed.headers, sent,
                    close_after_send=True)
    assert_absent(s3, bucket, key, settle=2.0)
    # an existing object is not clobbered by a truncated overwrite either
    s3.put_object(Bucket=bucket, Key=key, Body=b"complete")
    s3util.raw_http("127.0.0.1", server.port, "PUT", signed.path, signed.headers, sent,
                    close_after_send=True)
    time.sleep(1.0)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"complete"
