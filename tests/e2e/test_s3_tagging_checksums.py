"""Object tagging and additional checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
import requests
from awscrt import checksums as crt_checksums
from botocore.exceptions import ClientError

import s3util
from s3util import client_error_code as code
from s3util import client_error_status as status


def expect_error(fn, err_code, http, **kw):
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    assert status(ei.value) == http, ei.value.response
    if err_code:
        assert code(ei.value) == err_code, ei.value.response.get("Error")
    return ei.value


def assert_absent(s3, bucket, key):
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key=key)


# ---------------------------------------------------------------------------
# tagging
# ---------------------------------------------------------------------------

def tagset(resp):
    return {t["Key"]: t["Value"] for t in resp["TagSet"]}


def test_put_get_delete_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"tagged")
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="t")) == {}
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [
        {"Key": "project", "Value": "latchkey"},
        {"Key": "with space", "Value": "v=1 x+y/z:@"},
        {"Key": "empty", "Value": ""},
    ]})
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="t")) == {
        "project": "latchkey", "with space": "v=1 x+y/z:@", "empty": ""}
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 3
    # PutObjectTagging replaces the whole set
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [
        {"Key": "only", "Value": "one"}]})
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="t")) == {"only": "one"}
    resp = s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="t")) == {}
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"tagged"


def test_tagging_header_on_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="h", Body=b"x", Tagging="team=storage&env=test%20env")
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="h")) == {
        "team": "storage", "env": "test env"}
    assert s3.get_object(Bucket=bucket, Key="h")["TagCount"] == 2


def test_tagging_on_missing_object(s3, bucket):
    expect_error(s3.get_object_tagging, "NoSuchKey", 404, Bucket=bucket, Key="none")
    expect_error(s3.put_object_tagging, "NoSuchKey", 404, Bucket=bucket, Key="none",
                 Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})


def test_tagging_limits(s3, bucket):
    s3.put_object(Bucket=bucket, Key="lim", Body=b"x")
    eleven = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    e = expect_error(s3.put_object_tagging, None, 400, Bucket=bucket, Key="lim",
                     Tagging={"TagSet": eleven})
    assert code(e) in ("BadRequest", "InvalidTag")
    expect_error(s3.put_object_tagging, "InvalidTag", 400, Bucket=bucket, Key="lim",
                 Tagging={"TagSet": [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}]})
    expect_error(s3.put_object_tagging, "InvalidTag", 400, Bucket=bucket, Key="lim",
                 Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    expect_error(s3.put_object_tagging, "InvalidTag", 400, Bucket=bucket, Key="lim",
                 Tagging={"TagSet": [{"Key": "k", "Value": "v" * 257}]})
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="lim")) == {}


def test_copy_object_copies_tags_by_default(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "src"})
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="copied")) == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="retagged", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="b=2")
    assert tagset(s3.get_object_tagging(Bucket=bucket, Key="retagged")) == {"b": "2"}


# ---------------------------------------------------------------------------
# checksums
# ---------------------------------------------------------------------------

def expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif algorithm == "CRC32C":
        raw = crt_checksums.crc32c(data).to_bytes(4, "big")
    elif algorithm == "CRC64NVME":
        raw = crt_checksums.crc64nvme(data).to_bytes(8, "big")
    elif algorithm == "SHA1":
        raw = hashlib.sha1(data).digest()
    elif algorithm == "SHA256":
        raw = hashlib.sha256(data).digest()
    else:
        raise ValueError(algorithm)
    return base64.b64encode(raw).decode()


ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_put_with_checksum_algorithm_roundtrip(s3, bucket, algorithm):
    data = os.urandom(300_001)
    member = f"Checksum{algorithm}"
    want = expected_checksum(algorithm, data)
    put = s3.put_object(Bucket=bucket, Key=f"ck-{algorithm}", Body=data,
                        ChecksumAlgorithm=algorithm)
    assert put.get(member) == want
    head = s3.head_object(Bucket=bucket, Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert head.get(member) == want
    got = s3.get_object(Bucket=bucket, Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert got.get(member) == want
    assert got["Body"].read() == data  # botocore also validates the checksum here


def test_default_put_sends_crc32(s3, bucket):
    # Current botocore computes a CRC32 for every PutObject by default
    # (request_checksum_calculation=when_supported); S3 stores and echoes it.
    data = b"default checksum body" * 1000
    put = s3.put_object(Bucket=bucket, Key="default", Body=data)
    assert put.get("ChecksumCRC32") == expected_checksum("CRC32", data)
    head = s3.head_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == expected_checksum("CRC32", data)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_checksum_is_bad_digest(s3, bucket, algorithm):
    data = b"the body the checksum was not computed over"
    wrong = expected_checksum(algorithm, b"something else entirely")
    expect_error(s3.put_object, "BadDigest", 400, Bucket=bucket, Key=f"bad-{algorithm}",
                 Body=data, **{f"Checksum{algorithm}": wrong})
    assert_absent(s3, bucket, f"bad-{algorithm}")


def test_malformed_checksum_value_rejected(s3, bucket):
    expect_error(s3.put_object, None, 400, Bucket=bucket, Key="malformed", Body=b"x",
                 ChecksumSHA256="not-a-valid-sha256")
    assert_absent(s3, bucket, "malformed")


def test_multipart_with_checksum_algorithm(s3, bucket):
    part1, part2 = os.urandom(5 * s3util.MiB), os.urandom(1000)
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="mpu-ck", ChecksumAlgorithm="SHA256")
    uid = mpu["UploadId"]
    parts = []
    for n, data in enumerate((part1, part2), start=1):
        r = s3.upload_part(Bucket=bucket, Key="mpu-ck", UploadId=uid, PartNumber=n, Body=data,
                           ChecksumAlgorithm="SHA256")
        assert r["ChecksumSHA256"] == expected_checksum("SHA256", data)
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mpu-ck", UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    # composite checksum: sha256 of the concatenated binary part checksums, "-N"
    composite = hashlib.sha256(hashlib.sha256(part1).digest() + hashlib.sha256(part2).digest())
    want = base64.b64encode(composite.digest()).decode() + "-2"
    assert done.get("ChecksumSHA256") == want
    assert s3.get_object(Bucket=bucket, Key="mpu-ck")["Body"].read() == part1 + part2


# ---------------------------------------------------------------------------
# aws-chunked bodies with trailing checksums (what SDKs send over TLS)
# ---------------------------------------------------------------------------

def unsigned_trailer_body(data: bytes, trailer_name: str, trailer_value: str,
                          chunk: int = 64 * 1024) -> bytes:
    out = bytearray()
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    out += f"0\r\n{trailer_name}:{trailer_value}\r\n\r\n".encode()
    return bytes(out)


def trailer_headers(data: bytes, body_len: int | None, trailer: str) -> dict:
    h = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Trailer": trailer,
        "X-Amz-Decoded-Content-Length": str(len(data)),
    }
    if body_len is not None:
        h["Content-Length"] = str(body_len)
    return h


@pytest.mark.parametrize("transfer", ["content-length", "http-chunked"])
def test_streaming_unsigned_payload_trailer(server, s3, bucket, transfer):
    data = os.urandom(200_000)
    crc = expected_checksum("CRC32", data)
    body = unsigned_trailer_body(data, "x-amz-checksum-crc32", crc)
    key = f"trailer-{transfer}"
    if transfer == "content-length":
        signed = server.sign("PUT", f"/{bucket}/{key}",
                             payload_hash=s3util.STREAMING_UNSIGNED_TRAILER,
                             headers=trailer_headers(data, len(body), "x-amz-checksum-crc32"))
        r = requests.put(signed.url, headers=signed.headers, data=body, timeout=60)
    else:
        # like botocore over TLS: HTTP chunked transfer wrapping the aws-chunked body
        signed = server.sign("PUT", f"/{bucket}/{key}",
                             payload_hash=s3util.STREAMING_UNSIGNED_TRAILER,
                             headers=trailer_headers(data, None, "x-amz-checksum-crc32"))
        pieces = [body[i:i + 50_000] for i in range(0, len(body), 50_000)]
        r = requests.put(signed.url, headers=signed.headers, data=iter(pieces), timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers.get("ETag") == f'"{s3util.md5_hex(data)}"'
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == crc
    assert head["ContentLength"] == len(data)


def test_streaming_unsigned_payload_trailer_wrong_checksum(server, s3, bucket):
    data = os.urandom(100_000)
    wrong = expected_checksum("CRC32", b"not the data")
    body = unsigned_trailer_body(data, "x-amz-checksum-crc32", wrong)
    signed = server.sign("PUT", f"/{bucket}/bad-trailer",
                         payload_hash=s3util.STREAMING_UNSIGNED_TRAILER,
                         headers=trailer_headers(data, len(body), "x-amz-checksum-crc32"))
    r = requests.put(signed.url, headers=signed.headers, data=body, timeout=60)
    assert r.status_code == 400, r.text
    assert s3util.error_code(r.content) == "BadDigest"
    assert_absent(s3, bucket, "bad-trailer")


def test_streaming_decoded_length_mismatch(server, s3, bucket):
    data = os.urandom(10_000)
    body = unsigned_trailer_body(data, "x-amz-checksum-crc32", expected_checksum("CRC32", data))
    headers = trailer_headers(data, len(body), "x-amz-checksum-crc32")
    headers["X-Amz-Decoded-Content-Length"] = str(len(data) + 5)
    signed = server.sign("PUT", f"/{bucket}/bad-length",
                         payload_hash=s3util.STREAMING_UNSIGNED_TRAILER, headers=headers)
    r = requests.put(signed.url, headers=signed.headers, data=body, timeout=60)
    assert r.status_code == 400, r.text
    assert_absent(s3, bucket, "bad-length")
