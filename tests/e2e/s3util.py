"""Helpers shared by the latchkey end-to-end tests.

Everything here is plain Python with no server dependency, so the signing code
can be checked offline against AWS's published examples
(see test_sigv4.py::test_chunk_signer_matches_aws_example).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import http.client
import os
import random
import secrets
import socket
import string
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Iterable, Iterator
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MiB = 1024 * 1024


# --------------------------------------------------------------------------
# names, credentials, data
# --------------------------------------------------------------------------

def new_access_key_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def new_secret_access_key() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def unique_bucket_name(prefix: str = "lk") -> str:
    """A fresh, valid, DNS-compatible bucket name (<= 63 chars)."""
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def content_md5(data: bytes) -> str:
    return b64(hashlib.md5(data).digest())


def multipart_etag(parts: Iterable[bytes]) -> str:
    """S3's multipart ETag: md5 of the concatenated binary part md5s, '-N'."""
    digests = [hashlib.md5(p).digest() for p in parts]
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def random_bytes(n: int, seed: int | None = None) -> bytes:
    if seed is None:
        return os.urandom(n)
    return random.Random(seed).randbytes(n)


class DeterministicStream:
    """An iterable body of `size` bytes generated on the fly (never held whole).

    Iterating yields `chunk`-sized pieces; `len()` lets `requests` send a
    Content-Length instead of chunked transfer encoding. Every byte is a pure
    function of (seed, position), so a download can be checked against
    `expected_md5()` without storing the upload.
    """

    def __init__(self, size: int, seed: int = 1, chunk: int = MiB):
        self.size = size
        self.chunk = chunk
        self._block = random.Random(seed).randbytes(chunk)
        self.md5 = hashlib.md5()
        self.sent = 0

    def __len__(self) -> int:
        return self.size

    def piece(self, index: int, length: int) -> bytes:
        head = index.to_bytes(8, "little")
        return (head + self._block[8:])[:length]

    def __iter__(self) -> Iterator[bytes]:
        remaining = self.size
        index = 0
        while remaining > 0:
            n = min(self.chunk, remaining)
            data = self.piece(index, n)
            self.md5.update(data)
            self.sent += n
            yield data
            remaining -= n
            index += 1

    def expected_md5(self) -> str:
        h = hashlib.md5()
        remaining, index = self.size, 0
        while remaining > 0:
            n = min(self.chunk, remaining)
            h.update(self.piece(index, n))
            remaining -= n
            index += 1
        return h.hexdigest()


# --------------------------------------------------------------------------
# XML error bodies
# --------------------------------------------------------------------------

def _strip_ns(tag: str) -> str:
    return tag.split("}", 1)[1] if "}" in tag else tag


def parse_xml(body: bytes | str) -> ET.Element:
    if isinstance(body, str):
        body = body.encode()
    return ET.fromstring(body)


def xml_find_text(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _strip_ns(el.tag) == name:
            return el.text or ""
    return None


def error_code(body: bytes | str) -> str | None:
    """The <Code> of an S3 XML error body, or None if the body is not one."""
    try:
        root = parse_xml(body)
    except ET.ParseError:
        return None
    if _strip_ns(root.tag) != "Error":
        return None
    return xml_find_text(root, "Code")


def error_message(body: bytes | str) -> str | None:
    try:
        root = parse_xml(body)
    except ET.ParseError:
        return None
    return xml_find_text(root, "Message")


def client_error_code(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def client_error_status(exc) -> int:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


# --------------------------------------------------------------------------
# SigV4 (header auth), written out so tests can forge any part of it
# --------------------------------------------------------------------------

def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def uri_encode(s: str, safe: str = "-_.~") -> str:
    return quote(s, safe=safe)


def canonical_query(params: dict | list | None) -> str:
    if not params:
        return ""
    items = params.items() if isinstance(params, dict) else params
    enc = []
    for k, v in items:
        enc.append((uri_encode(str(k)), uri_encode("" if v is None else str(v))))
    enc.sort()
    return "&".join(f"{k}={v}" for k, v in enc)


def amz_now(offset_seconds: float = 0) -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_seconds)


@dataclass
class SignedRequest:
    method: str
    url: str
    path: str  # encoded path as sent on the wire
    query: str
    headers: dict
    signature: str
    signing_key: bytes
    scope: str
    amz_date: str
    extra: dict = field(default_factory=dict)


UNSIGNED_HEADERS = {"content-length", "user-agent", "expect", "transfer-encoding",
                    "connection", "accept-encoding", "accept"}


def sign_request(
    *,
    method: str,
    host: str,
    key_path: str,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    service: str = "s3",
    query: dict | list | None = None,
    headers: dict | None = None,
    payload_hash: str | None = None,
    body: bytes = b"",
    when: _dt.datetime | None = None,
    scheme: str = "http",
    sign_content_length: bool = False,
) -> SignedRequest:
    """Sign a request with SigV4 (Authorization header).

    key_path is the *decoded* path ("/bucket/my key"); it is URI-encoded once
    (S3 does not double-encode). payload_hash defaults to sha256(body).
    """
    when = when or amz_now()
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = when.strftime("%Y%m%d")
    if payload_hash is None:
        payload_hash = hashlib.sha256(body).hexdigest()
    hdrs = {"Host": host, "X-Amz-Date": amz_date, "X-Amz-Content-SHA256": payload_hash}
    for k, v in (headers or {}).items():
        # replace case-insensitively
        for existing in list(hdrs):
            if existing.lower() == k.lower():
                del hdrs[existing]
        hdrs[k] = v
    signed = sorted(
        {k.lower(): " ".join(str(v).strip().split()) for k, v in hdrs.items()
         if k.lower() not in UNSIGNED_HEADERS
         or (sign_content_length and k.lower() == "content-length")}.items()
    )
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in signed)
    signed_headers = ";".join(k for k, _ in signed)
    path = uri_encode(key_path, safe="/-_.~")
    cq = canonical_query(query)
    creq = "\n".join([method, path, cq, canonical_headers, signed_headers, payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    skey = signing_key(secret_key, date, region, service)
    sig = hmac.new(skey, sts.encode(), hashlib.sha256).hexdigest()
    hdrs["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={sig}"
    )
    url = f"{scheme}://{host}{path}" + (f"?{cq}" if cq else "")
    return SignedRequest(method, url, path, cq, hdrs, sig, skey, scope, amz_date,
                         extra={"canonical_request": creq, "string_to_sign": sts})


def chunk_signature(skey: bytes, amz_date: str, scope: str, prev_sig: str, data: bytes) -> str:
    """Signature of one aws-chunked chunk (sigv4-streaming)."""
    sts = "\n".join([
        "AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev_sig,
        EMPTY_SHA256, hashlib.sha256(data).hexdigest(),
    ])
    return hmac.new(skey, sts.encode(), hashlib.sha256).hexdigest()


def build_signed_chunks(data: bytes, chunk_size: int, skey: bytes, amz_date: str,
                        scope: str, seed_sig: str, corrupt_chunk: int | None = None,
                        tamper_data_chunk: int | None = None) -> tuple[bytes, list[str]]:
    """The STREAMING-AWS4-HMAC-SHA256-PAYLOAD body for `data`.

    Chunks are `chunk_size` bytes, then a final zero-length chunk. If
    corrupt_chunk is an index (the final empty chunk included), that chunk's
    signature is replaced by a wrong but well-formed one. If tamper_data_chunk
    is set, one byte of that chunk's data is flipped *after* signing.
    """
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    out = bytearray()
    sigs = []
    prev = seed_sig
    for idx, piece in enumerate(pieces):
        sig = chunk_signature(skey, amz_date, scope, prev, piece)
        sigs.append(sig)
        prev = sig
        sent_sig = sig
        if corrupt_chunk == idx:
            sent_sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        sent = piece
        if tamper_data_chunk == idx and piece:
            sent = bytes([piece[0] ^ 0xFF]) + piece[1:]
        out += f"{len(piece):x};chunk-signature={sent_sig}\r\n".encode() + sent + b"\r\n"
    return bytes(out), sigs


# --------------------------------------------------------------------------
# raw HTTP over a socket (for truncated bodies, oversized headers, early replies)
# --------------------------------------------------------------------------

@dataclass
class RawResponse:
    status: int
    headers: dict
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


def raw_http(host: str, port: int, method: str, target: str, headers: dict,
             body: bytes = b"", *, close_after_send: bool = False,
             timeout: float = 30.0) -> RawResponse | None:
    """Send a request byte-for-byte. Returns None if close_after_send.

    Headers are sent exactly as given (no Content-Length is added). If the
    server answers before the body is fully sent (and maybe closes), the
    response is still read.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        head = f"{method} {target} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += "\r\n"
        try:
            sock.sendall(head.encode("latin-1") + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if close_after_send:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read() if method != "HEAD" else b""
        return RawResponse(resp.status, dict(resp.getheaders()), data)
    finally:
        sock.close()


def wait_until(pred, timeout: float = 10.0, interval: float = 0.1):
    """Poll pred() until truthy or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    value = pred()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = pred()
    return value


def empty_and_delete_bucket(client, bucket: str) -> None:
    """Best-effort cleanup: objects, in-progress multipart uploads, the bucket."""
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                client.delete_objects(Bucket=bucket, Delete={"Objects": objs, "Quiet": True})
    except Exception:  # noqa: BLE001 - best effort
        pass
    try:
        for up in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    except Exception:  # noqa: BLE001 - best effort
        pass
    try:
        client.delete_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - best effort
        pass
