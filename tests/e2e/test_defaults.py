"""Out-of-the-box behaviour: generated root credentials, health endpoints,
virtual-host addressing, configuration by environment and by TOML file."""

from __future__ import annotations

import configparser
import stat

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

import s3util
from conftest import _LIVE_SERVERS, LatchkeyServer, free_port


def test_generated_root_credentials(server_factory, monkeypatch):
    srv = server_factory(name="nocreds", with_root_env=False)
    cred_file = srv.data_dir / "root-credentials"
    assert cred_file.is_file(), "root-credentials not written to the data dir"
    mode = stat.S_IMODE(cred_file.stat().st_mode)
    assert mode == 0o600, oct(mode)

    cp = configparser.ConfigParser()
    cp.read(cred_file)
    assert "latchkey" in cp.sections()
    key_id = cp["latchkey"]["aws_access_key_id"].strip()
    secret = cp["latchkey"]["aws_secret_access_key"].strip()
    assert key_id.startswith("AKIA") and len(key_id) == 20 and key_id.isalnum(), key_id
    assert len(secret) == 40


    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(cred_file))
    session = boto3.session.Session(profile_name="latchkey", region_name="us-east-1")
    client = session.client("s3", endpoint_url=srv.endpoint,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"total_max_attempts": 1, "mode": "standard"}))
    name = s3util.unique_bucket_name()
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="k", Body=b"v")
    assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]

    # restart: the same credentials stay valid and the file is not rewritten
    before = cred_file.read_bytes()
    log_size = srv.log_path.stat().st_size
    srv.restart()
    assert cred_file.read_bytes() == before
    # they are shown at most once, on first start: never again in the log
    with open(srv.log_path, "rb") as f:
        f.seek(log_size)
        assert secret.encode() not in f.read(), "the root secret was logged again on restart"
    assert client.get_object(Bucket=name, Key="k")["Body"].read() == b"v"

    # and other keys are still rejected
    bad = srv.client(access_key=s3util.new_access_key_id(),
                     secret_key=s3util.new_secret_access_key())
    with pytest.raises(ClientError) as ei:
        bad.list_buckets()
    assert s3util.client_error_code(ei.value) == "InvalidAccessKeyId"


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_health_endpoints_without_auth(server, path):
    r = requests.get(server.endpoint + path, timeout=10)
    assert r.status_code == 200


def test_virtual_host_style(server, s3, bucket):
    vhost = f"{bucket}.localhost:{server.port}"
    signed = server.sign("PUT", "/virtual/key.txt", host=vhost, body=b"via virtual host",
                         headers={"Content-Type": "text/plain"})
    r = requests.put(f"http://127.0.0.1:{server.port}/virtual/key.txt", headers=signed.headers,
                     data=b"via virtual host", timeout=30)
    assert r.status_code == 200, r.text
    # visible path-style
    got = s3.get_object(Bucket=bucket, Key="virtual/key.txt")
    assert got["Body"].read() == b"via virtual host"
    assert got["ContentType"] == "text/plain"
    # GET virtual-host style
    signed = server.sign("GET", "/virtual/key.txt", host=vhost)
    r = requests.get(f"http://127.0.0.1:{server.port}/virtual/key.txt", headers=signed.headers,
                     timeout=30)
    assert r.status_code == 200 and r.content == b"via virtual host"
    # list the bucket virtual-host style: GET / on the bucket's host
    signed = server.sign("GET", "/", host=vhost, query={"list-type": "2"})
    r = requests.get(f"http://127.0.0.1:{server.port}/?list-type=2", headers=signed.headers,
                     timeout=30)
    assert r.status_code == 200, r.text
    root = s3util.parse_xml(r.content)
    assert root.tag.endswith("ListBucketResult")
    assert s3util.xml_find_text(root, "Name") == bucket
    assert s3util.xml_find_text(root, "Key") == "virtual/key.txt"
    # GET / on the plain host is still ListBuckets
    signed = server.sign("GET", "/")
    r = requests.get(signed.url, headers=signed.headers, timeout=30)
    assert r.status_code == 200
    assert s3util.parse_xml(r.content).tag.endswith("ListAllMyBucketsResult")


def test_env_var_configuration(server_factory, tmp_path):
    port = free_port()
    data_dir = tmp_path / "env-data"
    srv = server_factory(name="envcfg", use_cli_flags=False, port=port, data_dir=data_dir,
                         extra_env={"LATCHKEY_LISTEN": f"127.0.0.1:{port}",
                                    "LATCHKEY_DATA_DIR": str(data_dir)})
    c = srv.client()
    name = s3util.unique_bucket_name()
    c.create_bucket(Bucket=name)
    c.put_object(Bucket=name, Key="k", Body=b"env configured")
    assert data_dir.is_dir() and any(data_dir.iterdir()), "data dir from LATCHKEY_DATA_DIR unused"
    srv.restart()
    assert srv.client().get_object(Bucket=name, Key="k")["Body"].read() == b"env configured"


def test_toml_config_file(server_factory, tmp_path):
    port = free_port()
    data_dir = tmp_path / "toml-data"
    cfg = tmp_path / "latchkey.toml"
    cfg.write_text(
        "# latchkey test configuration\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'data_dir = "{data_dir}"\n'
        'region = "eu-central-1"\n'
    )
    srv = server_factory(name="tomlcfg", use_cli_flags=False, port=port, data_dir=data_dir,
                         extra_args=["--config", str(cfg)])
    c = srv.client(region="eu-central-1")
    name = s3util.unique_bucket_name()
    c.create_bucket(Bucket=name,
                    CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    c.put_object(Bucket=name, Key="k", Body=b"toml configured")
    assert c.get_object(Bucket=name, Key="k")["Body"].read() == b"toml configured"
    assert data_dir.is_dir() and any(data_dir.iterdir())
    # requests scoped to another region are refused, naming the expected one
    r = srv.request("GET", f"/{name}/k", region="us-east-1")
    assert r.status_code == 400, r.text
    assert s3util.error_code(r.content) == "AuthorizationHeaderMalformed"
    assert "eu-central-1" in (s3util.error_message(r.content) or "")


def test_server_refuses_port_in_use(server, tmp_path):
    other = LatchkeyServer(tmp_path / "dup", port=server.port, name="dup")
    other.start(wait=False)
    try:
        code = other.proc.wait(timeout=30)
        assert code != 0, "a second server on a busy port must fail"
    finally:
        if other.is_running():
            other.terminate()
        other._close_logs()
        if other in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(other)
    assert requests.get(f"{server.endpoint}/health/ready", timeout=10).status_code == 200
