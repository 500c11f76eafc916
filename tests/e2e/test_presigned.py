"""Pre-signed URLs as the AWS tutorials make them (boto3
generate_presigned_url) used with curl and requests: signed headers such as
Content-Type are enforced, every method works, multipart parts can be
uploaded, and tampering is refused."""
import shutil
import subprocess

import pytest
import requests

CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_tutorial_upload_url_with_content_type_via_curl(s3, bucket, tmp_path):
    url = s3.generate_presigned_url("put_object", ExpiresIn=300,
                                    Params={"Bucket": bucket, "Key": "report.csv", "ContentType": "text/csv"})
    f = tmp_path / "report.csv"
    f.write_bytes(b"a,b\n1,2\n")
    out = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                          "-H", "Content-Type: text/csv", "--data-binary", f"@{f}", url],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout == "200"
    o = s3.get_object(Bucket=bucket, Key="report.csv")
    assert o["Body"].read() == b"a,b\n1,2\n" and o["ContentType"] == "text/csv"
    # the signed Content-Type is enforced
    out = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                          "-H", "Content-Type: text/html", "--data-binary", f"@{f}", url],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout == "403"


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_tutorial_download_url_for_an_hour_via_curl(s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"shared")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doc.txt"}, ExpiresIn=3600)
    assert "X-Amz-Expires=3600" in url
    out = subprocess.run([CURL, "-s", url], capture_output=True, timeout=60)
    assert out.stdout == b"shared"


def test_head_and_delete_urls(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"12345")
    head = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    r = requests.head(head, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Length"] == "5"
    delete = s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    assert requests.delete(delete, timeout=30).status_code == 204
    assert requests.head(head, timeout=30).status_code == 404


def test_multipart_parts_upload_through_presigned_urls(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for n, body in [(1, b"a" * (5 * 1024 * 1024)), (2, b"tail")]:
        url = s3.generate_presigned_url("upload_part", ExpiresIn=300, Params={
            "Bucket": bucket, "Key": "mp", "UploadId": up, "PartNumber": n})
        r = requests.put(url, data=body, timeout=60)
        assert r.status_code == 200, r.text
        parts.append({"PartNumber": n, "ETag": r.headers["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    assert s3.head_object(Bucket=bucket, Key="mp")["ContentLength"] == 5 * 1024 * 1024 + 4


def test_any_tampering_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"}, ExpiresIn=60)
    assert requests.get(url, timeout=30).status_code == 200
    for bad in [url.replace("/a?", "/b?"), url.replace("X-Amz-Expires=60", "X-Amz-Expires=600"),
                url[:-4] + ("0000" if not url.endswith("0000") else "1111")]:
        assert requests.get(bad, timeout=30).status_code == 403, bad
