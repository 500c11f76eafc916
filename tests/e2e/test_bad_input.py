"""Malformed, unsupported and oversized requests: the right error, no state change,
and a server that stays healthy."""

from __future__ import annotations

import http.client
import os
import socket
import time

import pytest
import requests

import s3util

def entity_bomb(root: str, inner: str) -> bytes:
    """A 'billion laughs' document: <root><inner>&lol9;</inner></root>."""
    return ("""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
""" + f"<{root}>{inner.replace('BOMB', '&lol9;')}</{root}>").encode()


BILLION_LAUGHS = entity_bomb("Delete", "<Object><Key>BOMB</Key></Object>")

MALFORMED_BODIES = {
    "truncated": b"<Delete><Object><Key>a</Key></Object>",
    "not-xml": b"this is not xml at all",
    "binary": bytes(range(256)) * 4,
    "unclosed-tag": b"<Delete><Object><Key>a</Object></Delete>",
    "entity-bomb": BILLION_LAUGHS,
    "external-entity": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b"<Delete><Object><Key>&x;</Key></Object></Delete>",
}


def snapshot(s3) -> dict:
    """Every bucket, its objects (key, etag, size) and in-progress uploads."""
    state = {}
    for b in s3.list_buckets()["Buckets"]:
        name = b["Name"]
        objs = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            objs += [(o["Key"], o["ETag"], o["Size"]) for o in page.get("Contents", [])]
        ups = sorted((u["Key"], u["UploadId"]) for u in
                     s3.list_multipart_uploads(Bucket=name).get("Uploads", []))
        state[name] = (objs, ups)
    return state


def healthy(server) -> bool:
    try:
        return requests.get(f"{server.endpoint}/health/ready", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def assert_code(resp, http, err_code):
    assert resp.status_code == http, (resp.status_code, resp.text[:400])
    if err_code:
        assert s3util.error_code(resp.content) == err_code, resp.text[:400]


@pytest.fixture
def populated(s3, bucket):
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode() * 10)
    return bucket


# ---------------------------------------------------------------------------
# MalformedXML
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(MALFORMED_BODIES))
def test_delete_objects_malformed_xml(server, s3, populated, kind):
    body = MALFORMED_BODIES[kind]
    before = snapshot(s3)
    t0 = time.monotonic()
    r = server.request("POST", f"/{populated}", query={"delete": ""}, body=body,
                       headers={"Content-MD5": s3util.content_md5(body),
                                "Content-Type": "application/xml"})
    assert time.monotonic() - t0 < 20, "malformed XML must be rejected promptly"
    assert_code(r, 400, "MalformedXML")
    assert snapshot(s3) == before
    assert healthy(server)


def test_delete_objects_too_many_keys(server, s3, populated):
    body = ("<Delete>" + "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1001))
            + "</Delete>").encode()
    before = snapshot(s3)
    r = server.request("POST", f"/{populated}", query={"delete": ""}, body=body,
                       headers={"Content-MD5": s3util.content_md5(body)})
    assert_code(r, 400, "MalformedXML")
    assert snapshot(s3) == before


def test_delete_objects_requires_content_md5_or_checksum(server, s3, populated):
    body = b"<Delete><Object><Key>a</Key></Object></Delete>"
    before = snapshot(s3)
    r = server.request("POST", f"/{populated}", query={"delete": ""}, body=body)
    assert_code(r, 400, "InvalidRequest")
    assert snapshot(s3) == before
    # with Content-MD5 the same body works
    r = server.request("POST", f"/{populated}", query={"delete": ""}, body=body,
                       headers={"Content-MD5": s3util.content_md5(body)})
    assert r.status_code == 200, r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=populated)["Contents"]] == ["b", "c"]


@pytest.mark.parametrize("kind", ["truncated", "not-xml", "entity-bomb", "empty-parts"])
def test_complete_multipart_malformed_xml(server, s3, bucket, kind):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=1,
                          Body=b"part")["ETag"]
    body = {
        "truncated": b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        "not-xml": b"{\"parts\": [1]}",
        "entity-bomb": entity_bomb("CompleteMultipartUpload",
                                   "<Part><PartNumber>1</PartNumber><ETag>BOMB</ETag></Part>"),
        "empty-parts": b"<CompleteMultipartUpload></CompleteMultipartUpload>",
    }[kind]
    before = snapshot(s3)
    r = server.request("POST", f"/{bucket}/mpu", query={"uploadId": uid}, body=body)
    assert_code(r, 400, "MalformedXML")
    assert snapshot(s3) == before
    # the upload is intact and still completes
    assert len(s3.list_parts(Bucket=bucket, Key="mpu", UploadId=uid)["Parts"]) == 1
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="mpu")["Body"].read() == b"part"


@pytest.mark.parametrize("kind", ["truncated", "not-xml", "binary", "entity-bomb", "wrong-root"])
def test_create_bucket_malformed_xml(server, s3, kind):
    name = s3util.unique_bucket_name()
    body = {
        "truncated": b"<CreateBucketConfiguration><LocationConstraint>eu-west-1",
        "not-xml": b"location=eu-west-1",
        "binary": os.urandom(512),
        "entity-bomb": entity_bomb("CreateBucketConfiguration",
                                   "<LocationConstraint>BOMB</LocationConstraint>"),
        "wrong-root": b"<Delete><Object><Key>a</Key></Object></Delete>",
    }[kind]
    before = snapshot(s3)
    r = server.request("PUT", f"/{name}", body=body)
    assert_code(r, 400, "MalformedXML")
    assert snapshot(s3) == before
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_huge_xml_body_rejected(server, s3, populated):
    # ~8 MiB: far more than the 1000 keys a DeleteObjects request may carry
    body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 300_000 + b"</Delete>"
    before = snapshot(s3)
    r = server.request("POST", f"/{populated}", query={"delete": ""}, body=body,
                       headers={"Content-MD5": s3util.content_md5(body)})
    assert r.status_code == 400, r.text[:300]
    assert s3util.error_code(r.content) in ("MalformedXML", "MaxMessageLengthExceeded"), r.text[:300]
    assert snapshot(s3) == before
    assert healthy(server)


# ---------------------------------------------------------------------------
# invalid arguments
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("max_keys", ["abc", "-1"])
def test_invalid_max_keys(server, populated, max_keys):
    r = server.request("GET", f"/{populated}", query={"list-type": "2", "max-keys": max_keys})
    assert_code(r, 400, "InvalidArgument")


# ---------------------------------------------------------------------------
# unsupported operations
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method,subresource", [
    ("GET", {"torrent": ""}),                            # GetObjectTorrent
    ("POST", {"select": "", "select-type": "2"}),        # SelectObjectContent
], ids=["torrent", "select"])
def test_not_implemented(server, s3, populated, method, subresource):
    before = snapshot(s3)
    r = server.request(method, f"/{populated}/a", query=subresource,
                       body=b"<SelectObjectContentRequest/>" if method == "POST" else b"")
    assert_code(r, 501, "NotImplemented")
    assert snapshot(s3) == before


# ---------------------------------------------------------------------------
# size limits
# ---------------------------------------------------------------------------

def test_oversized_header(server, s3, populated):
    before = snapshot(s3)
    r = requests.get(f"{server.endpoint}/{populated}/a", timeout=30,
                     headers={"X-Junk": "j" * (64 * 1024)})
    # AWS: 400 RequestHeaderSectionTooLarge once the header section passes 8 KB
    assert_code(r, 400, "RequestHeaderSectionTooLarge")
    assert healthy(server)
    assert snapshot(s3) == before
    assert s3.get_object(Bucket=populated, Key="a")["Body"].read() == b"a" * 10


def test_too_many_headers(server, populated):
    headers = {f"X-Many-{i}": "v" * 100 for i in range(600)}
    r = requests.get(f"{server.endpoint}/{populated}/a", timeout=30, headers=headers)
    assert_code(r, 400, "RequestHeaderSectionTooLarge")
    assert healthy(server)


def test_entity_too_large_rejected_before_body(server, s3, populated):
    # a single PUT may be at most 5 GiB; the server must refuse from the headers alone
    size = 5 * 1024 ** 3 + 1
    signed = server.sign("PUT", f"/{populated}/huge", payload_hash=s3util.UNSIGNED_PAYLOAD,
                         headers={"Content-Length": str(size)})
    resp = s3util.raw_http("127.0.0.1", server.port, "PUT", signed.path, signed.headers,
                           b"x" * 4096, timeout=20)
    assert resp.status == 400, resp.body[:300]
    assert s3util.error_code(resp.body) == "EntityTooLarge"
    assert healthy(server)
    assert "huge" not in [o["Key"] for o in s3.list_objects_v2(Bucket=populated)["Contents"]]


def test_put_without_content_length(server, s3, populated):
    # neither Content-Length nor Transfer-Encoding: 411 MissingContentLength
    signed = server.sign("PUT", f"/{populated}/nolen", payload_hash=s3util.UNSIGNED_PAYLOAD)
    resp = s3util.raw_http("127.0.0.1", server.port, "PUT", signed.path, signed.headers, b"")
    assert resp.status == 411, resp.body[:300]
    assert s3util.error_code(resp.body) == "MissingContentLength"
    assert "nolen" not in [o["Key"] for o in s3.list_objects_v2(Bucket=populated)["Contents"]]


def test_put_with_plain_http_chunked_body(server, s3, populated):
    # Transfer-Encoding: chunked without aws-chunked content encoding. S3 used to
    # answer 501 NotImplemented; today it accepts it (SDKs send chunked bodies).
    signed = server.sign("PUT", f"/{populated}/chunked", payload_hash=s3util.UNSIGNED_PAYLOAD)
    r = requests.put(signed.url, headers=signed.headers, timeout=30,
                     data=iter([b"chunk one ", b"chunk two"]))  # Transfer-Encoding: chunked
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=populated, Key="chunked")["Body"].read() == b"chunk one chunk two"


def test_connection_reuse_after_early_error(server, s3, populated):
    """An error sent before the request body was read (here KeyTooLongError for a
    100 KB PUT) must leave the connection usable: either the server reads past
    the body and keeps the connection, or it says `Connection: close`."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        body = b"x" * 100_000
        signed = server.sign("PUT", f"/{populated}/" + "k" * 1025, body=body)
        headers = {k: v for k, v in signed.headers.items() if k.lower() != "host"}
        conn.request("PUT", signed.path, body=body, headers=headers)
        first = conn.getresponse()
        first.read()
        assert first.status == 400
        closing = (first.getheader("Connection") or "").lower() == "close"
        if closing:
            conn.close()
        signed = server.sign("GET", f"/{populated}/a")
        headers = {k: v for k, v in signed.headers.items() if k.lower() != "host"}
        try:
            conn.request("GET", signed.path, headers=headers)
            second = conn.getresponse()
            data = second.read()
        except (http.client.HTTPException, ConnectionError) as e:
            pytest.fail(f"the server closed the connection after an error response without "
                        f"'Connection: close': {e!r}")
        assert second.status == 200 and data == b"a" * 10
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# garbage on the wire
# ---------------------------------------------------------------------------

GARBAGE = {
    "tls-client-hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
    "unknown-method": b"GARBAGE / HTTP/1.1\r\n\r\n",
    "http-9.9": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "100k-request-line": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "negative-length": b"PUT /x/y HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "conflicting-lengths": b"PUT /x/y HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                           b"Content-Length: 7\r\n\r\nhello",
    "bad-chunk-size": b"PUT /x/y HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nbad\r\n0\r\n\r\n",
    "blank-lines": b"\r\n\r\n\r\n",
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_on_the_wire(server, s3, kind):
    payload = GARBAGE[kind]
    before = snapshot(s3)
    data = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before we are done sending
        try:
            while len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:  # reset or timeout: no (more) answer
            pass
    if data:
        status_line = data.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1."), status_line[:100]
        status = int(status_line.split()[1])
        assert 400 <= status < 600 and status != 500, status_line
    assert healthy(server)
    assert snapshot(s3) == before
