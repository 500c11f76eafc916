"""Fixtures for the latchkey end-to-end tests.

The tests start real `latchkey serve` processes on 127.0.0.1 (a free port each)
and talk to them with boto3, the aws CLI, and raw signed HTTP requests. They are
written against AWS S3's documented behaviour.

Environment:
  LATCHKEY_BIN          server binary (default <repo>/target/debug/latchkey)
  LATCHKEY_E2E_BIG_MB   size of the streaming memory test (default 5120)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError

import s3util
from s3util import empty_and_delete_bucket  # noqa: F401  (re-exported for tests)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "latchkey"
REGION = "us-east-1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0

# ---------------------------------------------------------------------------
# Isolation: nothing from the host's AWS setup may leak into the tests.
# ---------------------------------------------------------------------------
for _k in list(os.environ):
    if _k.startswith("AWS_"):
        del os.environ[_k]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for _k in ("NO_PROXY", "no_proxy"):
    os.environ[_k] = "127.0.0.1,localhost,.localhost"
for _k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_k, None)


def latchkey_bin() -> Path:
    return Path(os.environ.get("LATCHKEY_BIN") or DEFAULT_BIN)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_client(endpoint: str, access_key: str, secret_key: str, region: str = REGION,
                **config_kwargs):
    cfg = dict(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=32,
    )
    cfg.update(config_kwargs)
    session = boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
    )
    client = session.client("s3", endpoint_url=endpoint, config=Config(**cfg))
    client.meta.events.register("needs-retry.s3", _reconnect_once)
    return client


def _reconnect_once(attempts=1, caught_exception=None, **kwargs):
    """Retries are off (every error must be the server's first answer), except
    this: a request that found its pooled keep-alive connection closed, with no
    response at all, is sent once more on a fresh connection, as every HTTP
    client does. (test_bad_input::test_connection_reuse_after_early_error checks
    that the server does not leave such stale connections behind.)"""
    if attempts == 1 and isinstance(caught_exception, ConnectionClosedError):
        return 0
    return None


# ---------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------
_LIVE_SERVERS: list["LatchkeyServer"] = []


class LatchkeyServer:
    """One `latchkey serve` process.

    args/env describe how it is started; by default with
    `--data-dir DIR --listen 127.0.0.1:PORT` and root keys in the environment.
    """

    def __init__(self, workdir: Path, *, data_dir: Path | None = None,
                 with_root_env: bool = True, access_key: str | None = None,
                 secret_key: str | None = None, use_cli_flags: bool = True,
                 extra_args: list[str] | None = None, extra_env: dict | None = None,
                 port: int | None = None, name: str = "latchkey"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.with_root_env = with_root_env
        self.access_key = access_key or (s3util.new_access_key_id() if with_root_env else None)
        self.secret_key = secret_key or (s3util.new_secret_access_key() if with_root_env else None)
        self.use_cli_flags = use_cli_flags
        self.extra_args = list(extra_args or [])
        self.extra_env = dict(extra_env or {})
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_path = self.workdir / f"{name}.stderr.log"
        self.stdout_path = self.workdir / f"{name}.stdout.log"
        self._log = None
        self._out = None

    # -- addresses --------------------------------------------------------
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- lifecycle --------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [str(latchkey_bin()), "serve"]
        if self.use_cli_flags:
            cmd += ["--data-dir", str(self.data_dir), "--listen", self.host]
        return cmd + self.extra_args

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
        env.setdefault("RUST_BACKTRACE", "1")
        if self.with_root_env:
            env["LATCHKEY_ROOT_ACCESS_KEY_ID"] = self.access_key
            env["LATCHKEY_ROOT_SECRET_ACCESS_KEY"] = self.secret_key
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True) -> "LatchkeyServer":
        binary = latchkey_bin()
        if not binary.exists():
            pytest.fail(
                f"latchkey binary not found at {binary}; build it with "
                "`cargo build --workspace` or set LATCHKEY_BIN", pytrace=False)
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        self._log.flush()
        self._out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(
            self.command(), env=self.environment(), stdin=subprocess.DEVNULL,
            stdout=self._out, stderr=self._log, cwd=str(self.workdir),
        )
        if self not in _LIVE_SERVERS:
            _LIVE_SERVERS.append(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"latchkey exited with code {self.proc.returncode} before becoming ready\n"
                    + self.log_tail(), pytrace=False)
            try:
                r = requests.get(f"{self.endpoint}/health/ready", timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:  # not listening yet
                last = repr(e)
            time.sleep(0.1)
        pytest.fail(f"latchkey not ready after {timeout}s (last: {last})\n" + self.log_tail(),
                    pytrace=False)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait; SIGKILL if it does not stop in time. Returns exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self._note(f"did not exit within {timeout}s of SIGTERM; killed")
        self._close_logs()
        return self.proc.returncode

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._note("killed with SIGKILL by the test")
        self._close_logs()

    def restart(self) -> "LatchkeyServer":
        if self.is_running():
            self.terminate()
        return self.start()

    def _note(self, text: str) -> None:
        with open(self.log_path, "ab") as f:
            f.write(f"\n===== test harness: {text}\n".encode())

    def _close_logs(self) -> None:
        for f in (self._log, self._out):
            if f and not f.closed:
                f.close()

    def log_tail(self, max_bytes: int = 20000) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return "(no server log)"
        text = data[-max_bytes:].decode("utf-8", "replace")
        return f"----- {self.name} stderr ({self.log_path}), last {len(text)} chars -----\n{text}"

    # -- clients ----------------------------------------------------------
    def client(self, region: str = REGION, access_key: str | None = None,
               secret_key: str | None = None, **config_kwargs):
        return make_client(self.endpoint, access_key or self.access_key,
                           secret_key or self.secret_key, region=region, **config_kwargs)

    def sign(self, method: str, key_path: str, **kw) -> s3util.SignedRequest:
        kw.setdefault("access_key", self.access_key)
        kw.setdefault("secret_key", self.secret_key)
        kw.setdefault("host", self.host)
        return s3util.sign_request(method=method, key_path=key_path, **kw)

    def request(self, method: str, key_path: str, *, body: bytes = b"", timeout: float = 60,
                **kw) -> requests.Response:
        """A raw SigV4-signed request sent with `requests`."""
        s = self.sign(method, key_path, body=body, **kw)
        return requests.request(method, s.url, headers=s.headers, data=body, timeout=timeout,
                                allow_redirects=False)

    def vmrss_kib(self) -> int | None:
        return _status_kib(self.pid, "VmRSS")

    def vmhwm_kib(self) -> int | None:
        return _status_kib(self.pid, "VmHWM")


def _status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


# ---------------------------------------------------------------------------
# pytest hooks: show server logs for failing tests
# ---------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in list(_LIVE_SERVERS):
            report.sections.append((f"latchkey log: {srv.workdir.name}/{srv.name}",
                                    srv.log_tail()))


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server for most tests (fresh data dir for the session)."""
    srv = LatchkeyServer(tmp_path_factory.mktemp("server"), name="shared")
    srv.start()
    yield srv
    srv.terminate()
    if srv in _LIVE_SERVERS:
        _LIVE_SERVERS.remove(srv)


@pytest.fixture
def server_factory(tmp_path):
    """Start extra servers for one test; all are stopped at teardown."""
    started: list[LatchkeyServer] = []

    def factory(start: bool = True, **kw) -> LatchkeyServer:
        kw.setdefault("name", f"server{len(started)}")
        srv = LatchkeyServer(tmp_path / kw["name"], **kw)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in started:
        try:
            if srv.is_running():
                srv.terminate(timeout=15)
        finally:
            srv._close_logs()
            if srv in _LIVE_SERVERS:
                _LIVE_SERVERS.remove(srv)


class RequestIdRecorder:
    """Checks that every HTTP response the client sees carries x-amz-request-id."""

    def __init__(self):
        self.missing: list[str] = []
        self.seen = 0

    def __call__(self, response=None, operation=None, **kwargs):
        if response is None:
            return None
        http_response = response[0]
        self.seen += 1
        if not http_response.headers.get("x-amz-request-id"):
            name = getattr(operation, "name", "?")
            self.missing.append(f"{name} -> HTTP {http_response.status_code}")
        return None


@pytest.fixture(scope="session")
def _shared_client(server):
    client = server.client()
    recorder = RequestIdRecorder()
    client.meta.events.register("needs-retry.s3", recorder)
    client._latchkey_recorder = recorder  # type: ignore[attr-defined]
    return client


@pytest.fixture
def s3(_shared_client):
    """boto3 S3 client (path-style, us-east-1, no retries) for the shared server.

    After the test, asserts that every response it received had x-amz-request-id.
    """
    recorder = _shared_client._latchkey_recorder
    recorder.missing.clear()
    yield _shared_client
    missing = list(recorder.missing)
    recorder.missing.clear()
    assert not missing, f"responses without x-amz-request-id: {missing[:10]}"


@pytest.fixture
def bucket(s3):
    """A fresh, empty bucket on the shared server; emptied and deleted afterwards."""
    name = s3util.unique_bucket_name()
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(s3, name)


@pytest.fixture
def bucket_factory(s3):
    created = []

    def factory(**kw):
        name = s3util.unique_bucket_name()
        s3.create_bucket(Bucket=name, **kw)
        created.append(name)
        return name

    yield factory
    for name in created:
        empty_and_delete_bucket(s3, name)


# ---------------------------------------------------------------------------
# aws CLI
# ---------------------------------------------------------------------------
def aws_cli_path() -> str:
    cand = Path(sys.executable).parent / "aws"
    if cand.exists():
        return str(cand)
    found = shutil.which("aws")
    if not found:
        pytest.fail("aws CLI not found (pip install awscli into the venv)", pytrace=False)
    return found


class AwsCli:
    """Runs `aws` against one server with an isolated config and credentials."""

    def __init__(self, srv: LatchkeyServer, home: Path):
        self.srv = srv
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file = self.home / "aws-config"
        self.config_file.write_text(
            "[default]\n"
            f"region = {REGION}\n"
            "s3 =\n"
            "    addressing_style = path\n"
            # aws CLI v1 presigns with SigV2 unless told otherwise; latchkey,
            # like every S3 region opened since 2014, accepts only SigV4
            "    signature_version = s3v4\n"
        )

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("LATCHKEY_")}
        env.update({
            "HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": self.srv.access_key,
            "AWS_SECRET_ACCESS_KEY": self.srv.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(self.config_file),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        })
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 600,
            cwd: str | None = None) -> subprocess.CompletedProcess:
        cmd = [aws_cli_path(), "--endpoint-url", self.srv.endpoint, *args]
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            pytest.fail(
                f"aws {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-5000:]}\nstderr:\n{proc.stderr[-5000:]}",
                pytrace=False)
        return proc


@pytest.fixture
def aws(server, tmp_path):
    return AwsCli(server, tmp_path / "awshome")
