"""The aws CLI (v1) against latchkey with --endpoint-url, unchanged commands."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import requests

import s3util
from s3util import MiB


def write_random(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            n = min(MiB, remaining)
            f.write(os.urandom(n))
            remaining -= n
    return path


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def tree_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_same_tree(a: Path, b: Path):
    fa, fb = tree_files(a), tree_files(b)
    assert fa == fb
    match, mismatch, errors = filecmp.cmpfiles(a, b, fa, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)


@pytest.fixture
def cli_bucket(aws, s3):
    name = s3util.unique_bucket_name("lk-cli")
    out = aws.run("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in out.stdout
    yield name
    s3util.empty_and_delete_bucket(s3, name)


def test_mb_ls_rb(aws, s3):
    name = s3util.unique_bucket_name("lk-cli")
    aws.run("s3", "mb", f"s3://{name}")
    assert name in aws.run("s3", "ls").stdout
    # rb refuses a non-empty bucket, rb --force empties it first
    s3.put_object(Bucket=name, Key="x", Body=b"x")
    assert aws.run("s3", "rb", f"s3://{name}", check=False).returncode != 0
    assert name in aws.run("s3", "ls").stdout
    out = aws.run("s3", "rb", f"s3://{name}", "--force")
    assert f"remove_bucket: {name}" in out.stdout
    assert name not in aws.run("s3", "ls").stdout
    assert aws.run("s3api", "head-bucket", "--bucket", name, check=False).returncode != 0


def test_cp_small_up_and_down(aws, cli_bucket, tmp_path):
    src = tmp_path / "hello world.txt"
    src.write_bytes(b"hello from the aws cli\n")
    aws.run("s3", "cp", str(src), f"s3://{cli_bucket}/docs/hello world.txt")
    listing = aws.run("s3", "ls", f"s3://{cli_bucket}/docs/").stdout
    assert "hello world.txt" in listing
    assert " 23 " in listing  # size column
    dst = tmp_path / "down.txt"
    aws.run("s3", "cp", f"s3://{cli_bucket}/docs/hello world.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    # stdout streaming
    out = aws.run("s3", "cp", f"s3://{cli_bucket}/docs/hello world.txt", "-")
    assert out.stdout == "hello from the aws cli\n"


def test_cp_large_uses_multipart(aws, s3, cli_bucket, tmp_path):
    src = write_random(tmp_path / "big.bin", 20 * MiB)
    aws.run("s3", "cp", str(src), f"s3://{cli_bucket}/big.bin")
    head = s3.head_object(Bucket=cli_bucket, Key="big.bin")
    assert head["ContentLength"] == 20 * MiB
    assert "-" in head["ETag"], "a 20 MiB aws s3 cp is a multipart upload (8 MiB parts)"
    assert head["ETag"].endswith('-3"'), head["ETag"]
    dst = tmp_path / "big.down"
    aws.run("s3", "cp", f"s3://{cli_bucket}/big.bin", str(dst))
    assert md5_file(dst) == md5_file(src)
    assert not s3.list_multipart_uploads(Bucket=cli_bucket).get("Uploads")


def test_sync_up_and_down(aws, s3, cli_bucket, tmp_path):
    up = tmp_path / "up"
    files = {
        "root.txt": 10,
        "empty.txt": 0,
        "dir one/a.bin": 5000,
        "dir one/nested/b.bin": 70000,
        "dir one/nested/deeper/c + d.txt": 123,
        "unicodé/ファイル.txt": 42,
        # no multipart-sized file here: with parts and many small PUTs in flight
        # at once, aws CLI 1.46's vendored botocore sometimes misreads a correct
        # "100 Continue" + "200 OK" exchange (seen on a loaded 2-core machine;
        # the server's bytes were verified with a proxy). test_cp_large_uses_multipart
        # covers multipart through the CLI.
        "big/large.bin": 3 * MiB,
    }
    for rel, size in files.items():
        write_random(up / rel, size)
        # sync re-uploads files newer than the object; S3's LastModified has
        # one-second resolution, so keep local mtimes clearly in the past
        os.utime(up / rel, (time.time() - 3600, time.time() - 3600))
    aws.run("s3", "sync", str(up), f"s3://{cli_bucket}/tree")
    listed = aws.run("s3", "ls", "--recursive", f"s3://{cli_bucket}/tree/").stdout
    assert len([line for line in listed.splitlines() if line.strip()]) == len(files)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket, Prefix="tree/")["Contents"])
    assert keys == sorted(f"tree/{rel}" for rel in files)

    down = tmp_path / "down"
    aws.run("s3", "sync", f"s3://{cli_bucket}/tree", str(down))
    assert_same_tree(up, down)

    # a second sync with no changes transfers nothing
    again = aws.run("s3", "sync", str(up), f"s3://{cli_bucket}/tree")
    assert "upload:" not in again.stdout, again.stdout

    # change one file (different size), delete another, sync with --delete
    write_random(up / "dir one/a.bin", 6000)
    (up / "root.txt").unlink()
    out = aws.run("s3", "sync", str(up), f"s3://{cli_bucket}/tree", "--delete")
    assert "dir one/a.bin" in out.stdout
    assert "delete:" in out.stdout and "root.txt" in out.stdout
    assert "nested/b.bin" not in out.stdout
    down2 = tmp_path / "down2"
    aws.run("s3", "sync", f"s3://{cli_bucket}/tree", str(down2))
    assert_same_tree(up, down2)


def test_rm_recursive(aws, s3, cli_bucket):
    for k in ("keep/one", "gone/a", "gone/b/c", "gone/d"):
        s3.put_object(Bucket=cli_bucket, Key=k, Body=b"x")
    out = aws.run("s3", "rm", "--recursive", f"s3://{cli_bucket}/gone/")
    assert out.stdout.count("delete:") == 3
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=cli_bucket).get("Contents", [])]
    assert keys == ["keep/one"]
    aws.run("s3", "rm", "--recursive", f"s3://{cli_bucket}")
    assert not s3.list_objects_v2(Bucket=cli_bucket).get("Contents")


def test_s3api_commands(aws, cli_bucket, tmp_path):
    body = tmp_path / "body.json"
    body.write_text('{"hello": "world"}')
    put = json.loads(aws.run(
        "s3api", "put-object", "--bucket", cli_bucket, "--key", "api/obj.json",
        "--body", str(body), "--content-type", "application/json",
        "--metadata", "origin=cli,kind=test").stdout)
    assert put["ETag"] == f'"{md5_file(body)}"'

    head = json.loads(aws.run("s3api", "head-object", "--bucket", cli_bucket,
                              "--key", "api/obj.json").stdout)
    assert head["ContentLength"] == body.stat().st_size
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"origin": "cli", "kind": "test"}

    out = tmp_path / "out.json"
    got = json.loads(aws.run("s3api", "get-object", "--bucket", cli_bucket,
                             "--key", "api/obj.json", str(out)).stdout)
    assert got["ETag"] == put["ETag"]
    assert out.read_text() == '{"hello": "world"}'

    listing = json.loads(aws.run("s3api", "list-objects-v2", "--bucket", cli_bucket,
                                 "--prefix", "api/").stdout)
    assert [o["Key"] for o in listing["Contents"]] == ["api/obj.json"]

    missing = aws.run("s3api", "head-object", "--bucket", cli_bucket, "--key", "nope",
                      check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr or "Not Found" in missing.stderr


def test_presign(aws, s3, cli_bucket):
    s3.put_object(Bucket=cli_bucket, Key="shared/report.txt", Body=b"presigned by the cli")
    url = aws.run("s3", "presign", f"s3://{cli_bucket}/shared/report.txt",
                  "--expires-in", "300").stdout.strip()
    assert url.startswith("http://127.0.0.1:")
    r = requests.get(url, timeout=30)
    assert r.status_code == 200
    assert r.content == b"presigned by the cli"
