"""Browser form uploads (POST Object) with SigV4 POST policies, as boto3's
generate_presigned_post makes them (S3 "Browser-based uploads using POST",
"Creating a POST policy"). Nothing is stored unless every check passes."""
import os
import time

import pytest
import requests


def presigned_post(s3, bucket, key="uploads/${filename}", fields=None, conditions=None, expires=300):
    return s3.generate_presigned_post(bucket, key, Fields=fields or {}, Conditions=conditions or [], ExpiresIn=expires)


def keys(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def error_code(r):
    import re
    m = re.search(rb"<Code>([^<]+)</Code>", r.content)
    return m.group(1).decode() if m else None


def test_the_tutorial_form_uploads_with_metadata_and_size_limit(s3, bucket):
    # the AWS tutorial's form: content-length-range 1..10485760 and x-amz-meta-user
    post = presigned_post(s3, bucket, fields={"x-amz-meta-user": "alice"},
                          conditions=[["content-length-range", 1, 10485760], {"x-amz-meta-user": "alice"}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("cat.jpg", b"meow")}, timeout=30)
    assert r.status_code == 204, r.text
    o = s3.get_object(Bucket=bucket, Key="uploads/cat.jpg")
    assert o["Body"].read() == b"meow" and o["Metadata"] == {"user": "alice"}
    assert r.headers["ETag"] == o["ETag"]


def test_content_length_range_is_enforced_and_nothing_is_stored(s3, bucket):
    post = presigned_post(s3, bucket, key="f", conditions=[["content-length-range", 2, 8]])
    for body, code in [(b"", "EntityTooSmall"), (b"x", "EntityTooSmall"), (b"123456789", "EntityTooLarge")]:
        r = requests.post(post["url"], data=post["fields"], files={"file": ("f", body)}, timeout=30)
        assert (r.status_code, error_code(r)) == (400, code)
    assert keys(s3, bucket) == []
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"ok")}, timeout=30)
    assert r.status_code == 204


def test_a_key_outside_the_signed_prefix_is_denied(s3, bucket):
    post = presigned_post(s3, bucket)
    fields = dict(post["fields"], key="elsewhere/x")
    r = requests.post(post["url"], data=fields, files={"file": ("x", b"1")}, timeout=30)
    assert r.status_code == 403 and error_code(r) == "AccessDenied"
    assert b"Invalid according to Policy" in r.content
    assert keys(s3, bucket) == []


def test_fields_not_covered_by_the_policy_are_refused(s3, bucket):
    post = presigned_post(s3, bucket)
    fields = dict(post["fields"], **{"x-amz-meta-sneaky": "1"})
    r = requests.post(post["url"], data=fields, files={"file": ("x", b"1")}, timeout=30)
    assert r.status_code == 403 and b"Extra input fields" in r.content
    # x-ignore- fields need no condition
    fields = dict(post["fields"], **{"x-ignore-me": "1"})
    r = requests.post(post["url"], data=fields, files={"file": ("x", b"1")}, timeout=30)
    assert r.status_code == 204


def test_tampered_signature_and_expired_policy_are_refused(s3, bucket):
    post = presigned_post(s3, bucket)
    fields = dict(post["fields"], **{"x-amz-signature": "0" * 64})
    r = requests.post(post["url"], data=fields, files={"file": ("x", b"1")}, timeout=30)
    assert (r.status_code, error_code(r)) == (403, "SignatureDoesNotMatch")
    expired = presigned_post(s3, bucket, expires=1)
    time.sleep(2)
    r = requests.post(expired["url"], data=expired["fields"], files={"file": ("x", b"1")}, timeout=30)
    assert r.status_code == 403 and b"Policy expired" in r.content
    assert keys(s3, bucket) == []


def test_success_action_status_and_redirect(s3, bucket):
    post = presigned_post(s3, bucket, key="s201", fields={"success_action_status": "201"},
                          conditions=[{"success_action_status": "201"}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("x", b"1")}, timeout=30)
    assert r.status_code == 201 and b"<PostResponse" in r.content and b"<Key>s201</Key>" in r.content
    target = "https://example.com/done"
    post = presigned_post(s3, bucket, key="r", fields={"success_action_redirect": target},
                          conditions=[{"success_action_redirect": target}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("x", b"1")}, timeout=30,
                      allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"].startswith(target + "?bucket=") and "key=r" in r.headers["Location"]


def test_anonymous_forms_need_a_bucket_policy(s3, bucket):
    r = requests.post(s3.meta.endpoint_url + "/" + bucket, data={"key": "anon"}, files={"file": ("x", b"1")}, timeout=30)
    assert r.status_code == 403
    assert keys(s3, bucket) == []


def test_a_form_without_a_file_or_a_key_is_refused(s3, bucket):
    post = presigned_post(s3, bucket, key="k")
    r = requests.post(post["url"], data=post["fields"], files={"other": ("x", b"1")}, timeout=30)
    assert r.status_code == 400
    fields = {k: v for k, v in post["fields"].items() if k != "key"}
    r = requests.post(post["url"], data=fields, files={"file": ("x", b"1")}, timeout=30)
    assert r.status_code == 400 and error_code(r) == "InvalidArgument"


POST_MB = int(os.environ.get("LATCHKEY_E2E_POST_MB", "1024"))


def test_a_large_form_upload_streams_with_flat_memory(server_factory):
    """A 1 GiB (LATCHKEY_E2E_POST_MB) POST form upload: the server streams the
    file part to disk; its resident memory stays under 100 MiB."""
    import hashlib
    from test_memory import RssSampler, RSS_LIMIT_KIB
    srv = server_factory()
    s3 = srv.client()
    s3.create_bucket(Bucket="bigform")
    size = POST_MB * 1024 * 1024
    post = s3.generate_presigned_post("bigform", "big.bin", Conditions=[["content-length-range", 1, size]],
                                      ExpiresIn=600)
    boundary = "latchkeyboundary7MA4YWxkTrZu0gW"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in post["fields"].items())
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n' \
            f'Content-Type: application/octet-stream\r\n\r\n'.encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk = bytes(range(256)) * 4096  # 1 MiB
    md5 = hashlib.md5()

    class Body:
        """A file-like multipart body generated as it is read (requests sends
        its length as Content-Length and streams it)."""

        def __init__(self):
            self.parts = [head]
            self.sent = 0
            self.buf = b""

        def __len__(self):
            return len(head) + size + len(tail)

        def read(self, n=-1):
            n = n if n and n > 0 else 1 << 20
            while len(self.buf) < n:
                if self.parts:
                    self.buf += self.parts.pop()
                elif self.sent < size:
                    piece = chunk[: min(len(chunk), size - self.sent)]
                    md5.update(piece)
                    self.sent += len(piece)
                    self.buf += piece
                    if self.sent == size:
                        self.parts.append(tail)
                else:
                    break
            out, self.buf = self.buf[:n], self.buf[n:]
            return out

    sampler = RssSampler(srv)
    sampler.start()
    try:
        r = requests.post(post["url"], data=Body(), timeout=900, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    finally:
        sampler.stop()
    assert r.status_code == 204, r.text[:300]
    assert r.headers["ETag"].strip('"') == md5.hexdigest()
    assert s3.head_object(Bucket="bigform", Key="big.bin")["ContentLength"] == size
    assert sampler.peak_kib < RSS_LIMIT_KIB, f"server RSS peaked at {sampler.peak_kib} KiB"
