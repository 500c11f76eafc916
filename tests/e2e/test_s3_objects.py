"""Buckets and single objects through boto3, judged by AWS S3's documented behaviour."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from botocore.exceptions import ClientError

import s3util
from s3util import client_error_code as code
from s3util import client_error_status as status

UTC = dt.timezone.utc


def http_headers(resp: dict) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


def http_status(resp: dict) -> int:
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def expect_error(fn, err_code: str | None, http: int, **kw) -> ClientError:
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    e = ei.value
    assert status(e) == http, (status(e), code(e), e.response.get("Error"))
    if err_code is not None:
        assert code(e) == err_code, (code(e), e.response.get("Error"))
    return e


def assert_absent(s3, bucket, key):
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key=key)


# ---------------------------------------------------------------------------
# buckets
# ---------------------------------------------------------------------------

def test_list_buckets_shows_created_buckets(s3, bucket_factory):
    a, b = bucket_factory(), bucket_factory()
    resp = s3.list_buckets()
    names = [x["Name"] for x in resp["Buckets"]]
    assert a in names and b in names
    for x in resp["Buckets"]:
        if x["Name"] in (a, b):
            assert isinstance(x["CreationDate"], dt.datetime)
    assert resp.get("Owner", {}).get("ID"), "ListBuckets must return the Owner"


def test_create_bucket_location_constraint(s3):
    name = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    try:
        loc = s3.get_bucket_location(Bucket=name)
        assert loc["LocationConstraint"] == "eu-west-1"
    finally:
        try:
            s3.delete_bucket(Bucket=name)
        except ClientError:
            pass


def test_bucket_in_us_east_1_has_null_location(s3, bucket):
    # GetBucketLocation: "Buckets in Region us-east-1 have a LocationConstraint of null."
    loc = s3.get_bucket_location(Bucket=bucket)
    assert loc.get("LocationConstraint") in (None, "")


@pytest.mark.parametrize("name", [
    "ab",                        # shorter than 3
    "a" * 64,                    # longer than 63
    "UpperCase-bucket",          # uppercase letters
    "under_score-bucket",        # underscore
    "-leading-hyphen",           # must begin with letter or digit
    "trailing-hyphen-",          # must end with letter or digit
    ".leading-dot",
    "double..dots",              # two adjacent periods
    "192.168.5.4",               # formatted as an IP address
    "xn--punycode-prefix",       # reserved prefix xn--
    "sthree-reserved",           # reserved prefix sthree-
    "reserved-suffix-s3alias",   # reserved suffix -s3alias
    "reserved-suffix--ol-s3",    # reserved suffix --ol-s3
])
def test_create_bucket_invalid_name(s3, name):
    expect_error(s3.create_bucket, "InvalidBucketName", 400, Bucket=name)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in names


def test_create_existing_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep-me", Body=b"still here")
    # AWS: BucketAlreadyOwnedByYou (409) in every region; in us-east-1 only, for
    # legacy compatibility, S3 answers 200 OK instead. Either way nothing is lost.
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        assert status(e) == 409 and code(e) == "BucketAlreadyOwnedByYou", e.response["Error"]
    assert s3.get_object(Bucket=bucket, Key="keep-me")["Body"].read() == b"still here"


def test_head_bucket(s3, bucket):
    assert http_status(s3.head_bucket(Bucket=bucket)) == 200
    e = expect_error(s3.head_bucket, None, 404, Bucket=s3util.unique_bucket_name())
    assert code(e) in ("404", "NoSuchBucket", "NotFound")


def test_delete_bucket(s3):
    name = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="x", Body=b"1")
    expect_error(s3.delete_bucket, "BucketNotEmpty", 409, Bucket=name)
    assert http_status(s3.head_bucket(Bucket=name)) == 200
    s3.delete_object(Bucket=name, Key="x")
    resp = s3.delete_bucket(Bucket=name)
    assert http_status(resp) == 204
    expect_error(s3.head_bucket, None, 404, Bucket=name)
    expect_error(s3.delete_bucket, "NoSuchBucket", 404, Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_operations_on_missing_bucket(s3):
    missing = s3util.unique_bucket_name()
    expect_error(s3.put_object, "NoSuchBucket", 404, Bucket=missing, Key="k", Body=b"x")
    expect_error(s3.get_object, "NoSuchBucket", 404, Bucket=missing, Key="k")
    expect_error(s3.list_objects_v2, "NoSuchBucket", 404, Bucket=missing)


# ---------------------------------------------------------------------------
# put / get / head / delete
# ---------------------------------------------------------------------------

def test_put_get_head_delete_roundtrip(s3, bucket):
    body = s3util.random_bytes(123457)
    etag = f'"{s3util.md5_hex(body)}"'
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ETag"] == etag

    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentLength"] == len(body)
    assert isinstance(got["LastModified"], dt.datetime)
    assert http_headers(got).get("accept-ranges") == "bytes"

    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ETag"] == etag
    assert head["ContentLength"] == len(body)
    assert head["LastModified"] == got["LastModified"]

    assert http_status(s3.delete_object(Bucket=bucket, Key="obj")) == 204
    assert_absent(s3, bucket, "obj")
    # deleting a key that does not exist succeeds too
    assert http_status(s3.delete_object(Bucket=bucket, Key="obj")) == 204


def test_empty_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0 and got["Body"].read() == b""


def test_overwrite_replaces_content_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"v": "1"},
                  ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second!")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second!"
    assert got["Metadata"] == {}
    assert got["ContentType"] != "text/plain"


def test_get_missing_key_is_nosuchkey_xml(s3, server, bucket):
    expect_error(s3.get_object, "NoSuchKey", 404, Bucket=bucket, Key="nope")
    # the raw response is an XML error document with Code, Message, RequestId
    r = server.request("GET", f"/{bucket}/nope")
    assert r.status_code == 404
    assert "xml" in r.headers.get("Content-Type", "")
    root = s3util.parse_xml(r.content)
    assert root.tag.endswith("Error")
    assert s3util.xml_find_text(root, "Code") == "NoSuchKey"
    assert s3util.xml_find_text(root, "Message")
    assert s3util.xml_find_text(root, "Key") == "nope"
    assert s3util.xml_find_text(root, "RequestId") == r.headers.get("x-amz-request-id")
    # HEAD has no body, just the status
    expect_error(s3.head_object, None, 404, Bucket=bucket, Key="nope")


def test_metadata_and_content_headers_roundtrip(s3, bucket):
    expires = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket, Key="meta", Body=b"<html/>",
        Metadata={"color": "blue", "multi-word": "two words"},
        ContentType="text/html; charset=utf-8",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="report.html"',
        ContentLanguage="de-CH",
        CacheControl="max-age=3600, must-revalidate",
        Expires=expires,
    )
    for resp in (s3.get_object(Bucket=bucket, Key="meta"),
                 s3.head_object(Bucket=bucket, Key="meta")):
        assert resp["Metadata"] == {"color": "blue", "multi-word": "two words"}
        assert resp["ContentType"] == "text/html; charset=utf-8"
        assert resp["ContentEncoding"] == "identity"
        assert resp["ContentDisposition"] == 'attachment; filename="report.html"'
        assert resp["ContentLanguage"] == "de-CH"
        assert resp["CacheControl"] == "max-age=3600, must-revalidate"
        h = http_headers(resp)
        assert h["x-amz-meta-color"] == "blue"
        assert h["expires"] == "Thu, 02 Jan 2031 03:04:05 GMT"


def test_metadata_too_large(s3, bucket):
    # User-defined metadata is limited to 2 KB -> MetadataTooLarge (400).
    expect_error(s3.put_object, "MetadataTooLarge", 400, Bucket=bucket, Key="big-meta",
                 Body=b"x", Metadata={"a": "v" * 1500, "b": "w" * 1500})
    assert_absent(s3, bucket, "big-meta")


# ---------------------------------------------------------------------------
# ranges
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rng,expected,content_range", [
    ("bytes=0-4", b"01234", "bytes 0-4/10"),
    ("bytes=-5", b"56789", "bytes 5-9/10"),
    ("bytes=5-", b"56789", "bytes 5-9/10"),
    ("bytes=3-3", b"3", "bytes 3-3/10"),
    ("bytes=8-100", b"89", "bytes 8-9/10"),
    ("bytes=-100", b"0123456789", "bytes 0-9/10"),
])
def test_range_get(s3, bucket, rng, expected, content_range):
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    resp = s3.get_object(Bucket=bucket, Key="digits", Range=rng)
    assert http_status(resp) == 206
    assert resp["Body"].read() == expected
    assert resp["ContentRange"] == content_range
    assert resp["ContentLength"] == len(expected)


def test_range_head(s3, bucket):
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    resp = s3.head_object(Bucket=bucket, Key="digits", Range="bytes=2-6")
    assert http_status(resp) == 206
    assert resp["ContentLength"] == 5
    assert resp["ContentRange"] == "bytes 2-6/10"


@pytest.mark.parametrize("rng", ["bytes=10-20", "bytes=100-"])
def test_range_unsatisfiable(s3, bucket, rng):
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    expect_error(s3.get_object, "InvalidRange", 416, Bucket=bucket, Key="digits", Range=rng)


# ---------------------------------------------------------------------------
# conditional requests
# ---------------------------------------------------------------------------

@pytest.fixture
def cond_obj(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="cond", Body=b"conditional body")
    head = s3.head_object(Bucket=bucket, Key="cond")
    return bucket, put["ETag"], head["LastModified"]


def test_if_match(s3, cond_obj):
    bucket, etag, _ = cond_obj
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag)["Body"].read() == b"conditional body"
    assert http_status(s3.head_object(Bucket=bucket, Key="cond", IfMatch=etag)) == 200
    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key="cond",
                 IfMatch='"0123456789abcdef0123456789abcdef"')
    expect_error(s3.head_object, None, 412, Bucket=bucket, Key="cond",
                 IfMatch='"0123456789abcdef0123456789abcdef"')


def test_if_none_match(s3, cond_obj):
    bucket, etag, _ = cond_obj
    e = expect_error(s3.get_object, None, 304, Bucket=bucket, Key="cond", IfNoneMatch=etag)
    assert e.response["ResponseMetadata"]["HTTPHeaders"].get("etag") == etag
    expect_error(s3.head_object, None, 304, Bucket=bucket, Key="cond", IfNoneMatch=etag)
    got = s3.get_object(Bucket=bucket, Key="cond", IfNoneMatch='"ffffffffffffffffffffffffffffffff"')
    assert got["Body"].read() == b"conditional body"


def test_if_modified_since(s3, cond_obj):
    bucket, _, lm = cond_obj
    expect_error(s3.get_object, None, 304, Bucket=bucket, Key="cond", IfModifiedSince=lm)
    expect_error(s3.head_object, None, 304, Bucket=bucket, Key="cond", IfModifiedSince=lm)
    got = s3.get_object(Bucket=bucket, Key="cond", IfModifiedSince=lm - dt.timedelta(days=1))
    assert http_status(got) == 200


def test_if_unmodified_since(s3, cond_obj):
    bucket, _, lm = cond_obj
    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket=bucket, Key="cond",
                 IfUnmodifiedSince=lm - dt.timedelta(days=1))
    expect_error(s3.head_object, None, 412, Bucket=bucket, Key="cond",
                 IfUnmodifiedSince=lm - dt.timedelta(days=1))
    got = s3.get_object(Bucket=bucket, Key="cond", IfUnmodifiedSince=lm + dt.timedelta(days=1))
    assert http_status(got) == 200


def test_conditional_combinations(s3, cond_obj):
    bucket, etag, lm = cond_obj
    # If-Match true + If-Unmodified-Since false -> 200 (documented in GetObject)
    got = s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag,
                        IfUnmodifiedSince=lm - dt.timedelta(days=1))
    assert http_status(got) == 200
    # If-None-Match false + If-Modified-Since true -> 304
    expect_error(s3.get_object, None, 304, Bucket=bucket, Key="cond", IfNoneMatch=etag,
                 IfModifiedSince=lm - dt.timedelta(days=1))


def test_conditional_put_if_none_match_star(s3, bucket):
    # PutObject If-None-Match: * -> 412 PreconditionFailed if the key exists.
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=bucket, Key="once",
                 Body=b"second", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_conditional_put_if_match(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="cas", Body=b"v1")
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket=bucket, Key="cas",
                 Body=b"v2", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v1"
    s3.put_object(Bucket=bucket, Key="cas", Body=b"v2", IfMatch=put["ETag"])
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v2"
    # If-Match on a key that does not exist: 404 NoSuchKey
    expect_error(s3.put_object, "NoSuchKey", 404, Bucket=bucket, Key="never-written",
                 Body=b"x", IfMatch=put["ETag"])


# ---------------------------------------------------------------------------
# response header overrides
# ---------------------------------------------------------------------------

def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"data", ContentType="text/plain")
    resp = s3.get_object(
        Bucket=bucket, Key="o",
        ResponseContentType="application/x-override",
        ResponseContentDisposition='attachment; filename="x.bin"',
        ResponseCacheControl="no-store",
        ResponseContentEncoding="x-custom",
        ResponseContentLanguage="fr",
        ResponseExpires=dt.datetime(2032, 6, 7, 8, 9, 10, tzinfo=UTC),
    )
    h = http_headers(resp)
    assert resp["Body"].read() == b"data"
    assert h["content-type"] == "application/x-override"
    assert h["content-disposition"] == 'attachment; filename="x.bin"'
    assert h["cache-control"] == "no-store"
    assert h["content-encoding"] == "x-custom"
    assert h["content-language"] == "fr"
    assert h["expires"] == "Mon, 07 Jun 2032 08:09:10 GMT"
    # the stored object is unchanged
    assert s3.head_object(Bucket=bucket, Key="o")["ContentType"] == "text/plain"


# ---------------------------------------------------------------------------
# DeleteObjects
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("quiet", [False, True])
def test_delete_objects(s3, bucket, quiet):
    existing = ["d/1", "d/2", "d/3"]
    for k in existing:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"s")
    keys = existing + ["missing/1", "missing/2"]
    resp = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": k} for k in keys], "Quiet": quiet})
    assert http_status(resp) == 200
    assert not resp.get("Errors")
    deleted = sorted(d["Key"] for d in resp.get("Deleted", []))
    if quiet:
        assert deleted == []  # quiet mode reports only errors
    else:
        assert deleted == sorted(keys)  # missing keys are reported as deleted
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == ["survivor"]


# ---------------------------------------------------------------------------
# CopyObject
# ---------------------------------------------------------------------------

@pytest.fixture
def copy_src(s3, bucket):
    body = s3util.random_bytes(70000)
    put = s3.put_object(Bucket=bucket, Key="src/obj", Body=body, ContentType="image/png",
                        Metadata={"origin": "source", "n": "1"}, CacheControl="max-age=5")
    return bucket, body, put["ETag"]


def test_copy_object_metadata_copy(s3, copy_src, bucket_factory):
    bucket, body, etag = copy_src
    dest_bucket = bucket_factory()
    resp = s3.copy_object(Bucket=dest_bucket, Key="dst/copy",
                          CopySource={"Bucket": bucket, "Key": "src/obj"})
    assert resp["CopyObjectResult"]["ETag"] == etag
    assert isinstance(resp["CopyObjectResult"]["LastModified"], dt.datetime)
    got = s3.get_object(Bucket=dest_bucket, Key="dst/copy")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"origin": "source", "n": "1"}
    assert got["ContentType"] == "image/png"
    assert got["CacheControl"] == "max-age=5"
    assert got["ETag"] == etag


def test_copy_object_metadata_replace(s3, copy_src):
    bucket, body, _ = copy_src
    s3.copy_object(Bucket=bucket, Key="dst/replaced", MetadataDirective="REPLACE",
                   CopySource={"Bucket": bucket, "Key": "src/obj"},
                   Metadata={"fresh": "yes"}, ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="dst/replaced")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"fresh": "yes"}
    assert got["ContentType"] == "text/plain"
    # source untouched
    assert s3.head_object(Bucket=bucket, Key="src/obj")["Metadata"] == {"origin": "source", "n": "1"}


def test_copy_object_to_itself(s3, copy_src):
    bucket, body, _ = copy_src
    expect_error(s3.copy_object, "InvalidRequest", 400, Bucket=bucket, Key="src/obj",
                 CopySource={"Bucket": bucket, "Key": "src/obj"})
    s3.copy_object(Bucket=bucket, Key="src/obj", CopySource={"Bucket": bucket, "Key": "src/obj"},
                   MetadataDirective="REPLACE", Metadata={"changed": "1"})
    got = s3.get_object(Bucket=bucket, Key="src/obj")
    assert got["Metadata"] == {"changed": "1"}
    assert got["Body"].read() == body


def test_copy_object_missing_source(s3, bucket):
    expect_error(s3.copy_object, "NoSuchKey", 404, Bucket=bucket, Key="dst",
                 CopySource={"Bucket": bucket, "Key": "does-not-exist"})
    assert_absent(s3, bucket, "dst")


def test_copy_object_preconditions(s3, copy_src):
    bucket, body, etag = copy_src
    lm = s3.head_object(Bucket=bucket, Key="src/obj")["LastModified"]
    src = {"Bucket": bucket, "Key": "src/obj"}
    wrong = '"0123456789abcdef0123456789abcdef"'
    day = dt.timedelta(days=1)
    failing = [
        {"CopySourceIfMatch": wrong},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfUnmodifiedSince": lm - day},
        {"CopySourceIfModifiedSince": lm},
        # If-None-Match false + If-Modified-Since true -> 412 (documented)
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": lm - day},
    ]
    for i, cond in enumerate(failing):
        expect_error(s3.copy_object, "PreconditionFailed", 412, Bucket=bucket,
                     Key=f"dst/fail{i}", CopySource=src, **cond)
        assert_absent(s3, bucket, f"dst/fail{i}")
    passing = [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": wrong},
        {"CopySourceIfUnmodifiedSince": lm + day},
        {"CopySourceIfModifiedSince": lm - day},
        # If-Match true + If-Unmodified-Since false -> copy proceeds (documented)
        {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": lm - day},
    ]
    for i, cond in enumerate(passing):
        s3.copy_object(Bucket=bucket, Key=f"dst/ok{i}", CopySource=src, **cond)
        assert s3.get_object(Bucket=bucket, Key=f"dst/ok{i}")["Body"].read() == body


# ---------------------------------------------------------------------------
# key names
# ---------------------------------------------------------------------------

SPECIAL_KEYS = [
    "unicode/ключ/日本語/😀.txt",
    "with space  and double space",
    "plus+sign+",
    "percent%20literal%",
    "question?mark?",
    "hash#tag#",
    "/leading-slash",
    "//double-leading-slash",
    "a//double/slash",
    "trailing-slash/",
    "amp&equals=semi;colon,comma",
    "tilde~star*paren()quote'bang!at@dollar$",
    "brackets[]{}<>^`|\\backslash",
    "café-é-NFC",
    "cafe\u0301-NFD",
    "tab\there",
]


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_special_key_names(s3, bucket, key):
    body = key.encode("utf-8") * 3
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert_absent(s3, bucket, key)


def test_nfc_and_nfd_keys_are_distinct(s3, bucket):
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    s3.put_object(Bucket=bucket, Key=nfc, Body=b"nfc")
    s3.put_object(Bucket=bucket, Key=nfd, Body=b"nfd")
    assert s3.get_object(Bucket=bucket, Key=nfc)["Body"].read() == b"nfc"
    assert s3.get_object(Bucket=bucket, Key=nfd)["Body"].read() == b"nfd"
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 2


def test_key_length_limit(s3, bucket):
    ok = "k" * 1024
    s3.put_object(Bucket=bucket, Key=ok, Body=b"max")
    assert s3.get_object(Bucket=bucket, Key=ok)["Body"].read() == b"max"
    expect_error(s3.put_object, "KeyTooLongError", 400, Bucket=bucket, Key="k" * 1025, Body=b"x")
    # the limit is 1024 *bytes* of UTF-8, not characters
    ok_multibyte = "é" * 512  # 1024 bytes
    s3.put_object(Bucket=bucket, Key=ok_multibyte, Body=b"x")
    expect_error(s3.put_object, "KeyTooLongError", 400, Bucket=bucket, Key="é" * 513, Body=b"x")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted([ok, ok_multibyte])


# ---------------------------------------------------------------------------
# integrity
# ---------------------------------------------------------------------------

def test_content_md5_mismatch_is_bad_digest(s3, bucket):
    body = b"the real body"
    expect_error(s3.put_object, "BadDigest", 400, Bucket=bucket, Key="md5", Body=body,
                 ContentMD5=s3util.content_md5(b"some other body"))
    assert_absent(s3, bucket, "md5")
    s3.put_object(Bucket=bucket, Key="md5", Body=body, ContentMD5=s3util.content_md5(body))
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == body


def test_content_md5_malformed_is_invalid_digest(s3, bucket):
    expect_error(s3.put_object, "InvalidDigest", 400, Bucket=bucket, Key="md5bad",
                 Body=b"x", ContentMD5="not-base64-md5!")
    assert_absent(s3, bucket, "md5bad")


# ---------------------------------------------------------------------------
# request ids
# ---------------------------------------------------------------------------

def test_request_id_on_every_response(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    etag = s3.head_object(Bucket=bucket, Key="r")["ETag"]
    responses = [
        s3.list_buckets(),
        s3.head_bucket(Bucket=bucket),
        s3.put_object(Bucket=bucket, Key="r2", Body=b"x"),
        s3.get_object(Bucket=bucket, Key="r"),
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-1"),
        s3.head_object(Bucket=bucket, Key="r"),
        s3.list_objects_v2(Bucket=bucket),
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "r2"}]}),
        s3.delete_object(Bucket=bucket, Key="r2"),
    ]
    for resp in responses:
        assert http_headers(resp).get("x-amz-request-id"), resp["ResponseMetadata"]
    errors = [
        (s3.get_object, dict(Bucket=bucket, Key="missing")),
        (s3.head_object, dict(Bucket=bucket, Key="missing")),
        (s3.get_object, dict(Bucket=bucket, Key="r", IfNoneMatch=etag)),
        (s3.get_object, dict(Bucket=bucket, Key="r", IfMatch='"00"')),
        (s3.get_object, dict(Bucket=bucket, Key="r", Range="bytes=50-60")),
        (s3.head_bucket, dict(Bucket=s3util.unique_bucket_name())),
    ]
    for fn, kw in errors:
        with pytest.raises(ClientError) as ei:
            fn(**kw)
        assert ei.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id"), kw
    # and on unauthenticated rejections
    r = requests.get(f"{server.endpoint}/{bucket}/r", timeout=30)
    assert r.status_code == 403 and r.headers.get("x-amz-request-id")
    # request ids are unique
    ids = {http_headers(s3.head_object(Bucket=bucket, Key="r"))["x-amz-request-id"]
           for _ in range(5)}
    assert len(ids) == 5


# ---------------------------------------------------------------------------
# ACLs: buckets are BucketOwnerEnforced (S3's default): ACLs are disabled
# ---------------------------------------------------------------------------

def test_acls_are_disabled_as_with_bucket_owner_enforced(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
        assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    for call in (lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
                 lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read-write")):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessControlListNotSupported"
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
