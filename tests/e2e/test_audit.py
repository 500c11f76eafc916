"""Audit trail, metrics and access logs (issue: "Audit trail and monitoring").

Each test starts its own server (the audit log is per data directory) and
reads the log with `latchkey audit`, the way an operator would.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import conftest
from iamutil import compact, iam_client, uniq

REGION = conftest.REGION
METRICS_TOKEN = "metrics-" + "x" * 24


def _cfg() -> Config:
    return Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)


def _client(srv, service: str, ak: str, sk: str, token: str | None = None):
    return boto3.session.Session(
        aws_access_key_id=ak, aws_secret_access_key=sk, aws_session_token=token, region_name=REGION
    ).client(service, endpoint_url=srv.endpoint, config=_cfg())


def _audit(srv, *args: str) -> list[dict]:
    """`latchkey audit ... --output json` against the server's data directory."""
    out = subprocess.run(
        [str(conftest.latchkey_bin()), "audit", "--data-dir", str(srv.data_dir), "--output", "json", *args],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _wait_for(srv, predicate, *args: str, timeout: float = 10.0) -> list[dict]:
    """Audit events arrive asynchronously (bounded queue, writer thread)."""
    deadline = time.monotonic() + timeout
    events: list[dict] = []
    while time.monotonic() < deadline:
        events = _audit(srv, *args)
        if predicate(events):
            return events
        time.sleep(0.2)
    raise AssertionError(f"audit events did not arrive: {json.dumps(events, indent=1)[:4000]}")


def _start(server_factory, **env):
    extra = {"LATCHKEY_METRICS_TOKEN": METRICS_TOKEN, "LATCHKEY_AUDIT_SYNC_MS": "100"}
    extra.update(env)
    return server_factory(extra_env=extra)


def _reader_setup(srv):
    """A bucket with one object, a user, and a role the user may assume that
    can read but not write the bucket."""
    root_s3 = _client(srv, "s3", srv.access_key, srv.secret_key)
    root_iam = iam_client(srv.endpoint, srv.access_key, srv.secret_key)
    bucket = uniq("audit")
    root_s3.create_bucket(Bucket=bucket)
    root_s3.put_object(Bucket=bucket, Key="docs/report.txt", Body=b"quarterly numbers")
    account = _client(srv, "sts", srv.access_key, srv.secret_key).get_caller_identity()["Account"]
    user = uniq("alice")
    root_iam.create_user(UserName=user)
    key = root_iam.create_access_key(UserName=user)["AccessKey"]
    root_iam.put_user_policy(
        UserName=user, PolicyName="assume",
        PolicyDocument=compact({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}),
    )
    role = uniq("reader")
    root_iam.create_role(
        RoleName=role,
        AssumeRolePolicyDocument=compact({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}]}),
    )
    root_iam.put_role_policy(
        RoleName=role, PolicyName="read-reports",
        PolicyDocument=compact({"Version": "2012-10-17", "Statement": [{
            "Sid": "ReadReports", "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/docs/*"}]}),
    )
    return bucket, account, user, key, role


def test_a_session_is_traceable_from_assume_role_to_each_decision(server_factory):
    srv = _start(server_factory)
    bucket, account, user, key, role = _reader_setup(srv)
    sts = _client(srv, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    time.sleep(1.1)  # a fresh IAM user key is usable at once, but keep event times distinct
    session = uniq("audit-session")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=session, SourceIdentity="alice-badge-42"
    )["Credentials"]
    s3 = _client(srv, "s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert s3.get_object(Bucket=bucket, Key="docs/report.txt")["Body"].read() == b"quarterly numbers"
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="docs/forged.txt", Body=b"nope")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    events = _wait_for(srv, lambda ev: len(ev) >= 3, "--session", session)
    by_name = {e["eventName"]: e for e in events}
    assert set(by_name) >= {"AssumeRole", "GetObject", "PutObject"}, [e["eventName"] for e in events]

    assume = by_name["AssumeRole"]
    assert assume["eventSource"] == "sts.amazonaws.com"
    assert assume["userIdentity"]["type"] == "IAMUser"
    assert assume["userIdentity"]["arn"] == f"arn:aws:iam::{account}:user/{user}"
    assert assume["userIdentity"]["accessKeyId"] == key["AccessKeyId"]
    assert assume["requestParameters"]["roleArn"] == f"arn:aws:iam::{account}:role/{role}"
    assert assume["requestParameters"]["roleSessionName"] == session
    assert assume["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert assume["responseElements"]["assumedRoleUser"]["arn"] == \
        f"arn:aws:sts::{account}:assumed-role/{role}/{session}"
    assert "errorCode" not in assume

    get = by_name["GetObject"]
    assert get["eventSource"] == "s3.amazonaws.com" and get["eventCategory"] == "Data"
    ident = get["userIdentity"]
    assert ident["type"] == "AssumedRole"
    assert ident["arn"] == f"arn:aws:sts::{account}:assumed-role/{role}/{session}"
    assert ident["accessKeyId"] == creds["AccessKeyId"]
    assert ident["sessionContext"]["sessionIssuer"]["arn"] == f"arn:aws:iam::{account}:role/{role}"
    assert ident["sessionContext"]["sessionIssuer"]["type"] == "Role"
    assert ident["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert ident["sessionContext"]["attributes"]["creationDate"]
    assert ident["sessionContext"]["sourceIdentity"] == "alice-badge-42"
    assert get["requestParameters"]["bucketName"] == bucket
    assert get["requestParameters"]["key"] == "docs/report.txt"
    assert {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/docs/report.txt"} in get["resources"]
    auth = get["additionalEventData"]["authorization"]
    assert auth["decision"] == "Allow"
    assert auth["action"] == "s3:GetObject"
    granting = [st for st in auth["statements"] if st["sid"] == "ReadReports"]
    assert granting and granting[0]["policyType"] == "IdentityInline", auth
    assert granting[0]["policyArn"] == f"arn:aws:iam::{account}:role/{role}"
    assert granting[0]["policyName"] == "read-reports" and granting[0]["effect"] == "Allow"
    assert get["readOnly"] is True

    put = by_name["PutObject"]
    assert put["errorCode"] == "AccessDenied"
    assert put["additionalEventData"]["authorization"]["decision"] == "Deny"
    assert put["additionalEventData"]["authorization"]["reason"] == "NoIdentityAllow"
    assert "s3:PutObject" in put["errorMessage"]
    assert put["readOnly"] is False

    # The same session is found by its key, its source identity and its principal ARN.
    by_key = _audit(srv, "--access-key", creds["AccessKeyId"])
    assert {e["eventName"] for e in by_key} >= {"AssumeRole", "GetObject", "PutObject"}
    assert {e["eventName"] for e in _audit(srv, "--source-identity", "alice-badge-42")} >= {"GetObject", "PutObject"}
    denials = _audit(srv, "--principal", f"arn:aws:sts::{account}:assumed-role/{role}/*", "--decision", "deny")
    assert [e["eventName"] for e in denials] == ["PutObject"]
    # "Who touched this key?"
    touched = _audit(srv, "--bucket", bucket, "--key-prefix", "docs/")
    assert {e["eventName"] for e in touched} >= {"PutObject", "GetObject"}

    # No event carries a secret key or a session token.
    raw = "".join(p.read_text() for p in (srv.data_dir / "audit").glob("events-*.jsonl"))
    for secret in (creds["SecretAccessKey"], creds["SessionToken"], key["SecretAccessKey"], srv.secret_key):
        assert secret not in raw
    # Nor does the table output.
    table = subprocess.run([str(conftest.latchkey_bin()), "audit", "--data-dir", str(srv.data_dir),
                            "--session", session], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "ReadReports" in table and "NoIdentityAllow" in table


def test_failed_logins_and_iam_calls_are_audited_without_secrets(server_factory):
    srv = _start(server_factory)
    root_iam = iam_client(srv.endpoint, srv.access_key, srv.secret_key)
    user = uniq("carol")
    root_iam.create_user(UserName=user)
    key = root_iam.create_access_key(UserName=user)["AccessKey"]
    bad = _client(srv, "s3", key["AccessKeyId"], "0" * 40)
    with pytest.raises(ClientError):
        bad.list_buckets()
    unknown = _client(srv, "sts", "AKIAUNKNOWNUNKNOWN00", "0" * 40)
    with pytest.raises(ClientError):
        unknown.get_caller_identity()
    events = _wait_for(srv, lambda ev: len(ev) >= 2, "--decision", "deny")
    kinds = {(e["eventName"], e["errorCode"], e["userIdentity"].get("accessKeyId")) for e in events}
    assert ("ListBuckets", "SignatureDoesNotMatch", key["AccessKeyId"]) in kinds, kinds
    assert ("GetCallerIdentity", "InvalidClientTokenId", "AKIAUNKNOWNUNKNOWN00") in kinds or \
        any(e["userIdentity"].get("accessKeyId") == "AKIAUNKNOWNUNKNOWN00" for e in events), kinds
    assert all(e["userIdentity"]["type"] == "Unknown" for e in events)
    created = _audit(srv, "--event", "CreateAccessKey")
    assert created and created[0]["userIdentity"]["type"] == "Root"
    raw = "".join(p.read_text() for p in (srv.data_dir / "audit").glob("events-*.jsonl"))
    assert key["SecretAccessKey"] not in raw and srv.secret_key not in raw


def test_access_key_and_role_last_used_come_from_the_trail(server_factory):
    srv = _start(server_factory)
    bucket, account, user, key, role = _reader_setup(srv)
    root_iam = iam_client(srv.endpoint, srv.access_key, srv.secret_key)
    never = root_iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert never["ServiceName"] == "N/A" and "LastUsedDate" not in never
    assert "LastUsedDate" not in root_iam.get_role(RoleName=role)["Role"].get("RoleLastUsed", {})
    sts = _client(srv, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="lastused")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        used = root_iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        role_used = root_iam.get_role(RoleName=role)["Role"].get("RoleLastUsed", {})
        if "LastUsedDate" in used and "LastUsedDate" in role_used:
            break
        time.sleep(0.2)
    assert used["ServiceName"] == "sts" and used["Region"] == REGION
    assert role_used["Region"] == REGION


def test_metrics_are_prometheus_text_and_count_what_happened(server_factory):
    srv = _start(server_factory)
    bucket, account, user, key, role = _reader_setup(srv)
    assert requests.get(f"{srv.endpoint}/metrics", timeout=10).status_code == 403
    assert requests.get(f"{srv.endpoint}/metrics", headers={"Authorization": "Bearer wrong"},
                        timeout=10).status_code == 403
    sts = _client(srv, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="m1")["Credentials"]
    s3 = _client(srv, "s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    s3.get_object(Bucket=bucket, Key="docs/report.txt")["Body"].read()
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    with pytest.raises(ClientError):
        _client(srv, "s3", creds["AccessKeyId"], "0" * 40, creds["SessionToken"]).list_buckets()
    text = requests.get(f"{srv.endpoint}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                        timeout=10).text
    # The OpenMetrics parser is strict: the whole exposition must be valid.
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def value(name, suffix="_total", **labels):
        return sum(s.value for s in samples
                   if s.name == name + suffix and all(s.labels.get(k) == want for k, want in labels.items()))

    assert value("latchkey_requests", api="s3", operation="GetObject", status="200") == 1
    assert value("latchkey_requests", api="s3", operation="PutObject", status="403") == 1
    assert value("latchkey_requests", api="sts", operation="AssumeRole", status="200") == 1
    assert value("latchkey_denials", api="s3", reason="NoIdentityAllow") == 1
    assert value("latchkey_sts_credentials_issued", action="AssumeRole",
                 role=f"arn:aws:iam::{account}:role/{role}") == 1
    assert value("latchkey_authentication_failures", kind="bad_signature") == 1
    assert value("latchkey_active_sessions", suffix="") == 1
    assert value("latchkey_request_duration_seconds", suffix="_count", api="s3", operation="GetObject") == 1
    assert value("latchkey_received_bytes", api="s3") >= len(b"quarterly numbers")
    assert value("latchkey_sent_bytes", api="s3") >= len(b"quarterly numbers")
    assert value("latchkey_audit_events_dropped") == 0
    assert value("latchkey_audit_events_written") >= 1
    assert creds["SecretAccessKey"] not in text and creds["SessionToken"] not in text


def test_the_audit_log_survives_kill_9(server_factory):
    """Events of acknowledged requests are in the log after a crash. The
    documented bound: events still in the in-memory queue when the process
    dies (those of the last few milliseconds) can be lost; everything the
    writer appended survives, since a crash of the process alone does not
    lose written pages. Here every request acknowledged more than 200 ms
    before the kill must be there."""
    srv = _start(server_factory)
    s3 = _client(srv, "s3", srv.access_key, srv.secret_key)
    bucket = uniq("crash")
    s3.create_bucket(Bucket=bucket)
    acked: list[tuple[str, float]] = []
    stop = threading.Event()

    def writer(n: int):
        c = _client(srv, "s3", srv.access_key, srv.secret_key)
        i = 0
        while not stop.is_set():
            key = f"w{n}/k{i}"
            try:
                c.put_object(Bucket=bucket, Key=key, Body=b"x" * 100)
            except Exception:
                return
            acked.append((key, time.monotonic()))
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    srv.kill9()
    killed_at = time.monotonic()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    srv.start()
    logged = {e["requestParameters"]["key"] for e in _audit(srv, "--bucket", bucket, "--event", "PutObject")}
    must = [k for k, at in acked if at < killed_at - 0.2]
    missing = [k for k in must if k not in logged]
    assert len(acked) > 50
    assert not missing, f"{len(missing)} of {len(must)} acknowledged writes have no audit event"


def test_server_access_logs_are_delivered_to_the_target_bucket(server_factory):
    srv = _start(server_factory, LATCHKEY_ACCESS_LOG_INTERVAL="1")
    s3 = _client(srv, "s3", srv.access_key, srv.secret_key)
    source, logs = uniq("src"), uniq("logs")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=logs)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": logs, "TargetPrefix": "access/"}})
    got = s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]
    assert got["TargetBucket"] == logs and got["TargetPrefix"] == "access/"
    s3.put_object(Bucket=source, Key="hello.txt", Body=b"hello")
    s3.get_object(Bucket=source, Key="hello.txt")["Body"].read()
    with pytest.raises(ClientError):
        s3.get_object(Bucket=source, Key="missing.txt")
    deadline = time.monotonic() + 15
    lines: list[str] = []
    while time.monotonic() < deadline:
        objs = s3.list_objects_v2(Bucket=logs, Prefix="access/").get("Contents", [])
        lines = [ln for o in objs for ln in s3.get_object(Bucket=logs, Key=o["Key"])["Body"].read().decode().splitlines()]
        if any(" NoSuchKey " in ln for ln in lines) and any(" REST.GET.OBJECT hello.txt " in ln for ln in lines):
            break
        time.sleep(0.3)
    assert any(" REST.PUT.OBJECT hello.txt " in ln and f'"PUT /{source}/hello.txt HTTP/1.1" 200 ' in ln
               for ln in lines), lines
    assert any(" REST.GET.OBJECT hello.txt " in ln for ln in lines), lines
    account = _client(srv, "sts", srv.access_key, srv.secret_key).get_caller_identity()["Account"]
    assert all(ln.startswith(f"{account} {source} [") for ln in lines), lines  # the bucket owner first
    assert any(" NoSuchKey " in ln for ln in lines), lines
    key = objs[0]["Key"]
    assert key.startswith("access/") and len(key.split("/")[1]) == len("2026-11-23-11-00-00-") + 16
    # Turning it off: an empty status.
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=source)
    # Another account's bucket is not a valid target.
    other = uniq("foreign")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": other, "TargetPrefix": ""}})
    assert e.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("content-length", "0"))
        _Collector.received.append(self.rfile.read(n))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_events_also_go_to_stdout_and_a_webhook(server_factory):
    hook = HTTPServer(("127.0.0.1", 0), _Collector)
    t = threading.Thread(target=hook.serve_forever, daemon=True)
    t.start()
    try:
        srv = _start(server_factory, LATCHKEY_AUDIT_STDOUT="true",
                     LATCHKEY_AUDIT_WEBHOOK=f"http://127.0.0.1:{hook.server_port}/events")
        s3 = _client(srv, "s3", srv.access_key, srv.secret_key)
        bucket = uniq("hook")
        s3.create_bucket(Bucket=bucket)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(bucket.encode() in b for b in _Collector.received):
            time.sleep(0.1)
        delivered = [json.loads(ln) for b in _Collector.received for ln in b.splitlines() if ln.strip()]
        assert any(e["eventName"] == "CreateBucket" and e["requestParameters"]["bucketName"] == bucket
                   for e in delivered)
        stdout = srv.stdout_path.read_text()
        assert any(json.loads(ln).get("eventName") == "CreateBucket" for ln in stdout.splitlines()
                   if ln.startswith("{"))
    finally:
        hook.shutdown()


def test_audit_follow_prints_new_events_as_they_happen(server_factory):
    srv = _start(server_factory)
    s3 = _client(srv, "s3", srv.access_key, srv.secret_key)
    s3.create_bucket(Bucket=uniq("before"))
    proc = subprocess.Popen(
        [str(conftest.latchkey_bin()), "audit", "--data-dir", str(srv.data_dir), "--output", "json", "--follow",
         "--event", "CreateBucket"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        later = uniq("after")
        got: list[dict] = []

        def read():
            for line in proc.stdout:
                got.append(json.loads(line))
                if got[-1]["requestParameters"].get("bucketName") == later:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.5)
        s3.create_bucket(Bucket=later)
        reader.join(timeout=15)
        names = [e["requestParameters"]["bucketName"] for e in got]
        assert names[-1:] == [later], names
        assert len(names) == 2, "the earlier event once, then the new one"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_grant_by_bucket_policy_names_the_bucket_and_sid(server_factory):
    srv = _start(server_factory)
    bucket, account, user, key, role = _reader_setup(srv)
    root_s3 = _client(srv, "s3", srv.access_key, srv.secret_key)
    root_s3.put_bucket_policy(Bucket=bucket, Policy=compact({"Version": "2012-10-17", "Statement": [{
        "Sid": "UserMayList", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"},
        "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}]}))
    user_s3 = _client(srv, "s3", key["AccessKeyId"], key["SecretAccessKey"])
    user_s3.list_objects_v2(Bucket=bucket)
    events = _wait_for(srv, lambda ev: len(ev) >= 1, "--access-key", key["AccessKeyId"], "--event", "ListObjectsV2")
    auth = events[-1]["additionalEventData"]["authorization"]
    assert auth["decision"] == "Allow" and auth["action"] == "s3:ListBucket"
    assert auth["statements"] == [{
        "policy": f"resource policy of arn:aws:s3:::{bucket}", "policyType": "Resource",
        "policyArn": f"arn:aws:s3:::{bucket}", "sid": "UserMayList", "effect": "Allow"}], auth
