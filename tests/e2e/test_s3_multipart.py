"""Multipart uploads: the low-level API and boto3's managed transfers."""

from __future__ import annotations

import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

import s3util
from s3util import MiB
from s3util import client_error_code as code
from s3util import client_error_status as status

PART = 5 * MiB  # minimum size of every part but the last


def expect_error(fn, err_code, http, **kw):
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    assert status(ei.value) == http, ei.value.response
    if err_code:
        assert code(ei.value) == err_code, ei.value.response.get("Error")
    return ei.value


def upload_parts(s3, bucket, key, upload_id, parts):
    out = []
    for n, data in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data)
        assert r["ETag"] == f'"{s3util.md5_hex(data)}"'
        out.append({"PartNumber": n, "ETag": r["ETag"]})
    return out


def test_multipart_roundtrip(s3, bucket):
    parts_data = [os.urandom(PART), os.urandom(PART), os.urandom(1234)]
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="application/x-tar",
                                     Metadata={"kind": "multipart"})
    uid = mpu["UploadId"]
    assert mpu["Bucket"] == bucket and mpu["Key"] == "big" and uid
    parts = upload_parts(s3, bucket, "big", uid, parts_data)
    # not visible before completion
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key="big")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    expected_etag = s3util.multipart_etag(parts_data)
    assert done["ETag"] == expected_etag
    assert done["Key"] == "big" and done["Bucket"] == bucket
    whole = b"".join(parts_data)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ETag"] == expected_etag
    assert got["ContentLength"] == len(whole)
    assert got["ContentType"] == "application/x-tar"
    assert got["Metadata"] == {"kind": "multipart"}
    assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(whole).hexdigest()
    # ranged read across a part boundary
    rng = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={PART - 10}-{PART + 9}")
    assert rng["Body"].read() == whole[PART - 10:PART + 10]
    # the upload is gone once completed
    expect_error(s3.list_parts, "NoSuchUpload", 404, Bucket=bucket, Key="big", UploadId=uid)
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uid not in [u["UploadId"] for u in ups]


def test_single_small_part_is_allowed(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="one")
    parts = upload_parts(s3, bucket, "one", mpu["UploadId"], [b"tiny"])
    done = s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=mpu["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == s3util.multipart_etag([b"tiny"])
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"tiny"


def test_part_reupload_replaces_previous(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="re")
    uid = mpu["UploadId"]
    s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=b"old")
    r = s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=b"new!")
    listed = s3.list_parts(Bucket=bucket, Key="re", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [(1, r["ETag"], 4)]
    s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"new!"


def test_entity_too_small(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="small")
    uid = mpu["UploadId"]
    parts = upload_parts(s3, bucket, "small", uid, [os.urandom(MiB), os.urandom(MiB)])
    expect_error(s3.complete_multipart_upload, "EntityTooSmall", 400, Bucket=bucket,
                 Key="small", UploadId=uid, MultipartUpload={"Parts": parts})
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key="small")
    # the upload is still there and can be aborted
    assert len(s3.list_parts(Bucket=bucket, Key="small", UploadId=uid)["Parts"]) == 2
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)


def test_invalid_part(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="ip")
    uid = mpu["UploadId"]
    parts = upload_parts(s3, bucket, "ip", uid, [os.urandom(PART), b"last"])
    bad_etag = [parts[0], {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}]
    expect_error(s3.complete_multipart_upload, "InvalidPart", 400, Bucket=bucket, Key="ip",
                 UploadId=uid, MultipartUpload={"Parts": bad_etag})
    # part 3 was never uploaded (and every other part is big enough)
    never_uploaded = [parts[0], {"PartNumber": 3, "ETag": parts[1]["ETag"]}]
    expect_error(s3.complete_multipart_upload, "InvalidPart", 400, Bucket=bucket, Key="ip",
                 UploadId=uid, MultipartUpload={"Parts": never_uploaded})
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key="ip")
    # a correct list still completes afterwards
    s3.complete_multipart_upload(Bucket=bucket, Key="ip", UploadId=uid,
                                 MultipartUpload={"Parts": parts})
    assert s3.head_object(Bucket=bucket, Key="ip")["ContentLength"] == PART + 4


def test_invalid_part_order(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="order")
    uid = mpu["UploadId"]
    parts = upload_parts(s3, bucket, "order", uid, [os.urandom(PART), os.urandom(PART), b"last"])
    swapped = [parts[1], parts[0], parts[2]]  # every non-last part is big enough
    expect_error(s3.complete_multipart_upload, "InvalidPartOrder", 400, Bucket=bucket,
                 Key="order", UploadId=uid, MultipartUpload={"Parts": swapped})
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key="order")
    s3.abort_multipart_upload(Bucket=bucket, Key="order", UploadId=uid)


def test_part_number_out_of_range(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="pn")
    uid = mpu["UploadId"]
    for bad in (0, 10001):
        expect_error(s3.upload_part, "InvalidArgument", 400, Bucket=bucket, Key="pn",
                     UploadId=uid, PartNumber=bad, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="pn", UploadId=uid)


def test_abort(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="ab")
    uid = mpu["UploadId"]
    parts = upload_parts(s3, bucket, "ab", uid, [os.urandom(PART), b"x"])
    assert s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(s3.list_parts, "NoSuchUpload", 404, Bucket=bucket, Key="ab", UploadId=uid)
    expect_error(s3.upload_part, "NoSuchUpload", 404, Bucket=bucket, Key="ab", UploadId=uid,
                 PartNumber=3, Body=b"late")
    expect_error(s3.complete_multipart_upload, "NoSuchUpload", 404, Bucket=bucket, Key="ab",
                 UploadId=uid, MultipartUpload={"Parts": parts})
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key="ab")
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uid not in [u["UploadId"] for u in ups]


def test_unknown_upload_id(s3, bucket):
    expect_error(s3.upload_part, "NoSuchUpload", 404, Bucket=bucket, Key="k",
                 UploadId="does-not-exist", PartNumber=1, Body=b"x")
    expect_error(s3.abort_multipart_upload, "NoSuchUpload", 404, Bucket=bucket, Key="k",
                 UploadId="does-not-exist")


def test_list_parts_pagination(s3, bucket):
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="lp")
    uid = mpu["UploadId"]
    sizes = {1: 100, 2: 200, 3: 300, 5: 500}  # gaps are allowed
    etags = {}
    for n, size in sizes.items():
        etags[n] = s3.upload_part(Bucket=bucket, Key="lp", UploadId=uid, PartNumber=n,
                                  Body=b"p" * size)["ETag"]
    first = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    assert first["UploadId"] == uid and first["Key"] == "lp"
    rest = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2,
                         PartNumberMarker=first["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3, 5]
    assert rest["IsTruncated"] is False
    for p in first["Parts"] + rest["Parts"]:
        assert p["Size"] == sizes[p["PartNumber"]]
        assert p["ETag"] == etags[p["PartNumber"]]
        assert p["LastModified"]
    s3.abort_multipart_upload(Bucket=bucket, Key="lp", UploadId=uid)


def test_list_multipart_uploads(s3, bucket):
    u1 = s3.create_multipart_upload(Bucket=bucket, Key="logs/a")["UploadId"]
    u2 = s3.create_multipart_upload(Bucket=bucket, Key="logs/b")["UploadId"]
    u3 = s3.create_multipart_upload(Bucket=bucket, Key="other")["UploadId"]
    resp = s3.list_multipart_uploads(Bucket=bucket)
    got = {(u["Key"], u["UploadId"]) for u in resp["Uploads"]}
    assert got == {("logs/a", u1), ("logs/b", u2), ("other", u3)}
    assert [u["Key"] for u in resp["Uploads"]] == ["logs/a", "logs/b", "other"]
    for u in resp["Uploads"]:
        assert u["Initiated"]
    pref = s3.list_multipart_uploads(Bucket=bucket, Prefix="logs/")
    assert sorted(u["Key"] for u in pref["Uploads"]) == ["logs/a", "logs/b"]
    delim = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in delim.get("CommonPrefixes", [])] == ["logs/"]
    assert [u["Key"] for u in delim.get("Uploads", [])] == ["other"]
    for key, uid in (("logs/a", u1), ("logs/b", u2), ("other", u3)):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_upload_part_copy(s3, bucket):
    source = os.urandom(2 * PART + MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="assembled")
    uid = mpu["UploadId"]
    src = {"Bucket": bucket, "Key": "src"}
    first, second = source[PART:2 * PART], source[:PART]
    # copy the second 5 MiB as part 1 and the first 5 MiB as part 2
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource=src, CopySourceRange=f"bytes={PART}-{2 * PART - 1}")
    assert p1["CopyPartResult"]["ETag"] == f'"{s3util.md5_hex(first)}"'
    p2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2,
                             CopySource=src, CopySourceRange=f"bytes=0-{PART - 1}")
    assert p2["CopyPartResult"]["ETag"] == f'"{s3util.md5_hex(second)}"'
    p3 = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=3,
                        Body=b"tail")
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
             {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]},
             {"PartNumber": 3, "ETag": p3["ETag"]}]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == s3util.multipart_etag([first, second, b"tail"])
    got = s3.get_object(Bucket=bucket, Key="assembled")["Body"].read()
    assert got == first + second + b"tail"


def test_upload_part_copy_whole_object_and_bad_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="small-src", Body=b"0123456789")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="d")["UploadId"]
    src = {"Bucket": bucket, "Key": "small-src"}
    whole = s3.upload_part_copy(Bucket=bucket, Key="d", UploadId=uid, PartNumber=1,
                                CopySource=src)
    assert whole["CopyPartResult"]["ETag"] == f'"{s3util.md5_hex(b"0123456789")}"'
    # a range outside the source object is rejected
    with pytest.raises(ClientError) as ei:
        s3.upload_part_copy(Bucket=bucket, Key="d", UploadId=uid, PartNumber=2,
                            CopySource=src, CopySourceRange="bytes=5-20")
    assert status(ei.value) in (400, 416)
    assert code(ei.value) in ("InvalidArgument", "InvalidRange")
    s3.abort_multipart_upload(Bucket=bucket, Key="d", UploadId=uid)


def test_managed_transfer_upload_and_download(s3, bucket, tmp_path):
    size = 17 * MiB + 321
    src = tmp_path / "upload.bin"
    with open(src, "wb") as f:
        for i in range(0, size, MiB):
            f.write(os.urandom(min(MiB, size - i)))
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                         max_concurrency=4, use_threads=True)
    s3.upload_file(str(src), bucket, "managed/file.bin", Config=cfg,
                   ExtraArgs={"Metadata": {"via": "upload_file"}})
    head = s3.head_object(Bucket=bucket, Key="managed/file.bin")
    assert head["ContentLength"] == size
    assert head["ETag"].endswith('-4"'), head["ETag"]  # 5+5+5+2.x MiB
    assert head["Metadata"] == {"via": "upload_file"}
    dst = tmp_path / "download.bin"
    s3.download_file(bucket, "managed/file.bin", str(dst), Config=cfg)
    assert dst.stat().st_size == size

    def md5_file(p):
        h = hashlib.md5()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(MiB), b""):
                h.update(block)
        return h.hexdigest()

    assert md5_file(dst) == md5_file(src)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
