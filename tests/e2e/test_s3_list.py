"""ListObjectsV2 and ListObjects (v1)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

import s3util
from s3util import empty_and_delete_bucket

TREE = [
    "a/1", "a/2", "a/b/3", "a/b/c/4",
    "b/1",
    "c",
    "d/e/f",
    "photos/2023/jan.jpg", "photos/2023/feb.jpg", "photos/2024/mar.jpg",
    "photos/readme.txt",
    "z",
]

MANY = 2500


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


@pytest.fixture(scope="module")
def tree_bucket(_shared_client):
    s3 = _shared_client
    name = s3util.unique_bucket_name("lk-tree")
    s3.create_bucket(Bucket=name)
    for k in TREE:
        s3.put_object(Bucket=name, Key=k, Body=k.encode())
    yield name
    empty_and_delete_bucket(s3, name)


@pytest.fixture(scope="module")
def many_bucket(_shared_client):
    """MANY keys: k/0000 .. k/2499 plus a few under other prefixes."""
    s3 = _shared_client
    name = s3util.unique_bucket_name("lk-many")
    s3.create_bucket(Bucket=name)
    keys = [f"k/{i:04d}" for i in range(MANY)] + [f"dir{j}/x" for j in range(5)]

    def put(k):
        s3.put_object(Bucket=name, Key=k, Body=b"")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))
    yield name, keys
    empty_and_delete_bucket(s3, name)


def keys_of(resp):
    return [o["Key"] for o in resp.get("Contents", [])]


def prefixes_of(resp):
    return [p["Prefix"] for p in resp.get("CommonPrefixes", [])]


# ---------------------------------------------------------------------------
# ListObjectsV2
# ---------------------------------------------------------------------------

def test_v2_lists_everything_in_order(s3, tree_bucket):
    resp = s3.list_objects_v2(Bucket=tree_bucket)
    assert keys_of(resp) == utf8_sorted(TREE)
    assert resp["KeyCount"] == len(TREE)
    assert resp["IsTruncated"] is False
    assert resp["Name"] == tree_bucket
    assert resp["MaxKeys"] == 1000
    for o in resp["Contents"]:
        assert o["Size"] == len(o["Key"])
        assert o["ETag"] == f'"{s3util.md5_hex(o["Key"].encode())}"'
        assert o.get("StorageClass") == "STANDARD"
        assert "Owner" not in o  # only with FetchOwner


def test_v2_prefix(s3, tree_bucket):
    resp = s3.list_objects_v2(Bucket=tree_bucket, Prefix="a/")
    assert keys_of(resp) == ["a/1", "a/2", "a/b/3", "a/b/c/4"]
    assert resp["Prefix"] == "a/"
    empty = s3.list_objects_v2(Bucket=tree_bucket, Prefix="nothing-here/")
    assert empty["KeyCount"] == 0 and "Contents" not in empty


def test_v2_delimiter(s3, tree_bucket):
    resp = s3.list_objects_v2(Bucket=tree_bucket, Delimiter="/")
    assert keys_of(resp) == ["c", "z"]
    assert prefixes_of(resp) == ["a/", "b/", "d/", "photos/"]
    assert resp["Delimiter"] == "/"
    assert resp["KeyCount"] == 6


def test_v2_prefix_and_delimiter(s3, tree_bucket):
    resp = s3.list_objects_v2(Bucket=tree_bucket, Prefix="photos/", Delimiter="/")
    assert keys_of(resp) == ["photos/readme.txt"]
    assert prefixes_of(resp) == ["photos/2023/", "photos/2024/"]
    resp = s3.list_objects_v2(Bucket=tree_bucket, Prefix="a/b", Delimiter="/")
    assert keys_of(resp) == []
    assert prefixes_of(resp) == ["a/b/"]


def test_v2_non_slash_delimiter(s3, tree_bucket):
    resp = s3.list_objects_v2(Bucket=tree_bucket, Prefix="photos/", Delimiter=".")
    assert keys_of(resp) == []
    assert prefixes_of(resp) == ["photos/2023/feb.", "photos/2023/jan.", "photos/2024/mar.",
                                 "photos/readme."]


def test_v2_max_keys_and_continuation(s3, tree_bucket):
    expected = utf8_sorted(TREE)
    first = s3.list_objects_v2(Bucket=tree_bucket, MaxKeys=5)
    assert keys_of(first) == expected[:5]
    assert first["IsTruncated"] is True
    assert first["KeyCount"] == 5 and first["MaxKeys"] == 5
    token = first["NextContinuationToken"]
    second = s3.list_objects_v2(Bucket=tree_bucket, MaxKeys=5, ContinuationToken=token)
    assert second["ContinuationToken"] == token
    assert keys_of(second) == expected[5:10]
    third = s3.list_objects_v2(Bucket=tree_bucket, MaxKeys=5,
                               ContinuationToken=second["NextContinuationToken"])
    assert keys_of(third) == expected[10:]
    assert third["IsTruncated"] is False
    assert "NextContinuationToken" not in third


def test_v2_max_keys_counts_common_prefixes(s3, tree_bucket):
    seen_keys, seen_prefixes, token, pages = [], [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        resp = s3.list_objects_v2(Bucket=tree_bucket, Delimiter="/", MaxKeys=2, **kw)
        pages += 1
        assert len(keys_of(resp)) + len(prefixes_of(resp)) <= 2
        seen_keys += keys_of(resp)
        seen_prefixes += prefixes_of(resp)
        if not resp["IsTruncated"]:
            break
        token = resp["NextContinuationToken"]
        assert pages < 20
    assert seen_keys == ["c", "z"]
    assert seen_prefixes == ["a/", "b/", "d/", "photos/"]
    assert pages == 3


def test_v2_start_after(s3, tree_bucket):
    expected = utf8_sorted(TREE)
    resp = s3.list_objects_v2(Bucket=tree_bucket, StartAfter="b/1")
    assert keys_of(resp) == expected[expected.index("b/1") + 1:]
    assert resp["StartAfter"] == "b/1"
    # StartAfter need not be an existing key
    resp = s3.list_objects_v2(Bucket=tree_bucket, StartAfter="photos/2023/g")
    assert keys_of(resp) == ["photos/2023/jan.jpg", "photos/2024/mar.jpg", "photos/readme.txt",
                             "z"]
    # past the end
    assert keys_of(s3.list_objects_v2(Bucket=tree_bucket, StartAfter="zz")) == []


def test_v2_continuation_token_overrides_start_after(s3, tree_bucket):
    expected = utf8_sorted(TREE)
    first = s3.list_objects_v2(Bucket=tree_bucket, MaxKeys=3)
    resp = s3.list_objects_v2(Bucket=tree_bucket, MaxKeys=3, StartAfter="photos/",
                              ContinuationToken=first["NextContinuationToken"])
    assert keys_of(resp) == expected[3:6]


def test_v2_invalid_continuation_token(s3, tree_bucket):
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket=tree_bucket, ContinuationToken="this-is-not-a-token")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert s3util.client_error_code(ei.value) == "InvalidArgument"


def test_v2_fetch_owner(s3, tree_bucket):
    without = s3.list_objects_v2(Bucket=tree_bucket, MaxKeys=2)
    assert all("Owner" not in o for o in without["Contents"])
    with_owner = s3.list_objects_v2(Bucket=tree_bucket, MaxKeys=2, FetchOwner=True)
    for o in with_owner["Contents"]:
        assert o["Owner"]["ID"]
    owner_id = s3.list_buckets()["Owner"]["ID"]
    assert with_owner["Contents"][0]["Owner"]["ID"] == owner_id


def test_v2_encoding_type_url(s3, bucket):
    keys = ["plain", "sp ace/x", "uni/ключ", "ctl\x01char", "amp&lt", "pct%41", "plus+"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    resp = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert resp.get("EncodingType") == "url"
    raw = keys_of(resp)
    # every returned key is URL-encoded: printable ASCII without spaces or controls
    for r in raw:
        assert r.isascii() and r.isprintable() and " " not in r, repr(r)
    assert [unquote_plus(r) for r in raw] == utf8_sorted(keys)
    # delimiter, prefix and common prefixes are encoded too
    resp = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/", Prefix="sp ace")
    assert [unquote_plus(p) for p in prefixes_of(resp)] == ["sp ace/"]
    assert unquote_plus(resp["Prefix"]) == "sp ace"
    assert " " not in resp["Prefix"]
    # a key with a control character cannot go into a DeleteObjects XML body
    s3.delete_object(Bucket=bucket, Key="ctl\x01char")


def test_v2_sort_order_is_utf8_binary(s3, bucket):
    keys = ["a", "B", "Z", "_", "é", "😀", "~", "0", "a/", "a0", "aa", "ä"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == utf8_sorted(keys)


def test_v2_paginator_many_keys(s3, many_bucket):
    name, keys = many_bucket
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=name))
    got = [k for p in pages for k in keys_of(p)]
    assert got == utf8_sorted(keys)
    assert len(pages) == 3  # 1000 keys per page by default
    assert [p["KeyCount"] for p in pages] == [1000, 1000, len(keys) - 2000]


def test_v2_paginator_small_pages(s3, many_bucket):
    name, keys = many_bucket
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=name, Prefix="k/", PaginationConfig={"PageSize": 333}))
    got = [k for p in pages for k in keys_of(p)]
    assert got == [f"k/{i:04d}" for i in range(MANY)]
    assert all(len(keys_of(p)) <= 333 for p in pages)
    assert len(pages) == -(-MANY // 333)


def test_v2_max_keys_is_capped_at_1000(s3, many_bucket):
    name, _ = many_bucket
    resp = s3.list_objects_v2(Bucket=name, MaxKeys=5000)
    assert len(keys_of(resp)) == 1000
    assert resp["IsTruncated"] is True


def test_v2_delimiter_over_many(s3, many_bucket):
    name, _ = many_bucket
    resp = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert keys_of(resp) == []
    assert prefixes_of(resp) == ["dir0/", "dir1/", "dir2/", "dir3/", "dir4/", "k/"]
    assert resp["IsTruncated"] is False


# ---------------------------------------------------------------------------
# ListObjects (v1)
# ---------------------------------------------------------------------------

def test_v1_lists_everything(s3, tree_bucket):
    resp = s3.list_objects(Bucket=tree_bucket)
    assert keys_of(resp) == utf8_sorted(TREE)
    assert resp["IsTruncated"] is False
    # v1 returns Owner for each object
    for o in resp["Contents"]:
        assert o["Owner"]["ID"]


def test_v1_marker_without_delimiter_has_no_next_marker(s3, tree_bucket):
    expected = utf8_sorted(TREE)
    first = s3.list_objects(Bucket=tree_bucket, MaxKeys=4)
    assert keys_of(first) == expected[:4]
    assert first["IsTruncated"] is True
    # "This element is returned only if you have the delimiter request parameter specified."
    assert "NextMarker" not in first
    second = s3.list_objects(Bucket=tree_bucket, MaxKeys=4, Marker=keys_of(first)[-1])
    assert second["Marker"] == keys_of(first)[-1]
    assert keys_of(second) == expected[4:8]


def test_v1_next_marker_with_delimiter(s3, tree_bucket):
    first = s3.list_objects(Bucket=tree_bucket, Delimiter="/", MaxKeys=2)
    assert first["IsTruncated"] is True
    assert prefixes_of(first) == ["a/", "b/"]
    assert first["NextMarker"] == "b/"
    second = s3.list_objects(Bucket=tree_bucket, Delimiter="/", MaxKeys=2,
                             Marker=first["NextMarker"])
    # listing resumes after everything rolled up under "b/"
    assert keys_of(second) == ["c"]
    assert prefixes_of(second) == ["d/"]
    assert second["NextMarker"] == "d/"
    third = s3.list_objects(Bucket=tree_bucket, Delimiter="/", MaxKeys=2,
                            Marker=second["NextMarker"])
    assert prefixes_of(third) == ["photos/"]
    assert keys_of(third) == ["z"]
    assert third["IsTruncated"] is False


def test_v1_paginator_with_delimiter(s3, tree_bucket):
    pages = list(s3.get_paginator("list_objects").paginate(
        Bucket=tree_bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert [k for p in pages for k in keys_of(p)] == ["c", "z"]
    assert [x for p in pages for x in prefixes_of(p)] == ["a/", "b/", "d/", "photos/"]


def test_v1_manual_pagination_many_keys(s3, many_bucket):
    name, keys = many_bucket
    got, marker, rounds = [], None, 0
    while True:
        kw = {"Marker": marker} if marker else {}
        resp = s3.list_objects(Bucket=name, MaxKeys=700, **kw)
        got += keys_of(resp)
        rounds += 1
        assert rounds <= 10
        if not resp["IsTruncated"]:
            break
        assert "NextMarker" not in resp
        marker = keys_of(resp)[-1]
    assert got == utf8_sorted(keys)
    assert rounds == 4


def test_v1_prefix_and_missing_bucket(s3, tree_bucket):
    resp = s3.list_objects(Bucket=tree_bucket, Prefix="photos/2023/")
    assert keys_of(resp) == ["photos/2023/feb.jpg", "photos/2023/jan.jpg"]
    with pytest.raises(ClientError) as ei:
        s3.list_objects(Bucket=s3util.unique_bucket_name())
    assert s3util.client_error_code(ei.value) == "NoSuchBucket"
