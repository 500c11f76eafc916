"""CORS as S3 documents it ("Configuring cross-origin resource sharing",
PutBucketCors / GetBucketCors / DeleteBucketCors): bucket rules, preflight
OPTIONS answered without credentials, CORS headers on actual responses —
errors included — so browsers can use pre-signed URLs."""
import botocore
import pytest
import requests

RULES = {
    "CORSRules": [
        {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["PUT", "POST"],
         "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]
}


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_cors_configuration_round_trips_and_can_be_deleted(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == ["https://*.example.com"]
    assert got[0]["AllowedMethods"] == ["PUT", "POST"]
    assert got[0]["ExposeHeaders"] == ["ETag"] and got[0]["MaxAgeSeconds"] == 3000
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e)[1] == 404


def test_unsupported_methods_and_bad_documents_are_refused(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert code(e) == ("InvalidRequest", 400)
    assert "PATCH" in e.value.response["Error"]["Message"]


def test_preflight_is_answered_from_the_rules_without_credentials(server, s3, bucket):
    url = f"{server.endpoint}/{bucket}/uploads/photo.jpg"
    # no CORS configuration yet
    r = requests.options(url, headers={"Origin": "https://app.example.com",
                                       "Access-Control-Request-Method": "PUT"}, timeout=30)
    assert r.status_code == 403 and b"CORS is not enabled" in r.content
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = requests.options(url, headers={"Origin": "https://app.example.com",
                                       "Access-Control-Request-Method": "PUT",
                                       "Access-Control-Request-Headers": "content-type, x-amz-meta-user"},
                         timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-user"
    assert r.headers["Access-Control-Max-Age"] == "3000"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    # an origin or method the rules do not allow
    for origin, method in [("https://evil.test", "PUT"), ("https://app.example.com", "DELETE")]:
        r = requests.options(url, headers={"Origin": origin, "Access-Control-Request-Method": method}, timeout=30)
        assert r.status_code == 403
        assert "Access-Control-Allow-Origin" not in r.headers
    # a preflight without the required headers
    r = requests.options(url, timeout=30)
    assert r.status_code == 400


def test_actual_responses_carry_cors_headers_even_on_errors(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "public.txt"}, ExpiresIn=300)
    r = requests.get(url, headers={"Origin": "https://anywhere.test"}, timeout=30)
    assert r.status_code == 200 and r.content == b"hello"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "GET"
    # an error response (here: anonymous, denied) still lets the browser read it
    r = requests.get(f"{server.endpoint}/{bucket}/public.txt", headers={"Origin": "https://anywhere.test"}, timeout=30)
    assert r.status_code == 403
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # no Origin, no CORS headers
    r = requests.get(url, timeout=30)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_presigned_put_from_an_allowed_origin(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.bin",
                                                         "ContentType": "application/octet-stream"},
                                    ExpiresIn=300)
    r = requests.put(url, data=b"bytes", headers={"Origin": "https://app.example.com",
                                                  "Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    assert s3.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == b"bytes"
