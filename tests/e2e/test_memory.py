"""Streaming: a 5 GiB object goes up and down without the server buffering it.

The size is LATCHKEY_E2E_BIG_MB MiB (default 5120 = 5 GiB, the largest single
PUT S3 allows). The body is generated on the fly and checked by MD5, and the
server's resident memory (VmRSS sampled from /proc, plus its VmHWM peak) must
stay under 100 MiB throughout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading

import pytest
import requests

import s3util
from s3util import MiB

BIG_MB = int(os.environ.get("LATCHKEY_E2E_BIG_MB", "5120"))
RSS_LIMIT_KIB = 100 * 1024
# generous: ~4 MiB/s worst case for a debug build, both directions, plus slack
TIMEOUT = 300 + BIG_MB // 2


class RssSampler(threading.Thread):
    def __init__(self, srv, interval=0.05):
        super().__init__(daemon=True)
        self.srv = srv
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            rss = self.srv.vmrss_kib()
            if rss is not None:
                self.peak_kib = max(self.peak_kib, rss)
                self.samples += 1
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=5)


class GuardedStream(s3util.DeterministicStream):
    """Stops sending (failing the upload early) once the server's RSS is over the limit."""

    def __init__(self, size, seed, sampler):
        super().__init__(size, seed=seed)
        self.sampler = sampler

    def __iter__(self):
        for piece in super().__iter__():
            if self.sampler.peak_kib >= RSS_LIMIT_KIB:
                raise RuntimeError(
                    f"server VmRSS reached {self.sampler.peak_kib} KiB after {self.sent} bytes "
                    "of the upload")
            yield piece


@pytest.mark.timeout(TIMEOUT)
def test_big_streaming_upload_and_download_bounded_memory(server_factory):
    srv = server_factory(name="memory")
    client = srv.client()
    bucket = s3util.unique_bucket_name("lk-big")
    client.create_bucket(Bucket=bucket)
    size = BIG_MB * MiB
    baseline = srv.vmrss_kib()

    sampler = RssSampler(srv)
    sampler.start()
    try:
        # upload: presigned PUT (UNSIGNED-PAYLOAD), Content-Length, body generated on the fly
        put_url = client.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "big.bin"}, ExpiresIn=3600)
        body = GuardedStream(size, seed=42, sampler=sampler)
        r = requests.put(put_url, data=body, timeout=600)
        assert r.status_code == 200, r.text[:500]
        assert body.sent == size
        upload_md5 = body.md5.hexdigest()
        assert r.headers.get("ETag") == f'"{upload_md5}"'
        upload_peak = sampler.peak_kib

        head = client.head_object(Bucket=bucket, Key="big.bin")
        assert head["ContentLength"] == size

        # download: presigned GET, streamed and hashed
        get_url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "big.bin"}, ExpiresIn=3600)
        h = hashlib.md5()
        received = 0
        with requests.get(get_url, stream=True, timeout=600) as resp:
            assert resp.status_code == 200
            assert int(resp.headers["Content-Length"]) == size
            for chunk in resp.iter_content(chunk_size=MiB):
                h.update(chunk)
                received += len(chunk)
                assert sampler.peak_kib < RSS_LIMIT_KIB, \
                    f"server VmRSS reached {sampler.peak_kib} KiB during the download"
        assert received == size
        assert h.hexdigest() == upload_md5

        # a ranged read from the far end of the object
        tail = client.get_object(Bucket=bucket, Key="big.bin",
                                 Range=f"bytes={size - 100}-{size - 1}")["Body"].read()
        index, offset = divmod(size - 100, body.chunk)
        expected = body.piece(index, body.chunk)[offset:offset + 100]
        assert tail == expected
    finally:
        sampler.stop()
        hwm = srv.vmhwm_kib()
        # GiBs of test data: do not leave them behind, whatever happened
        srv.terminate()
        shutil.rmtree(srv.data_dir, ignore_errors=True)

    report = (f"baseline VmRSS {baseline} KiB, peak sampled VmRSS {sampler.peak_kib} KiB "
              f"(upload phase {upload_peak} KiB, {sampler.samples} samples), VmHWM {hwm} KiB")
    print(report)
    assert sampler.samples > 10, report
    assert sampler.peak_kib < RSS_LIMIT_KIB, report
    assert hwm is None or hwm < RSS_LIMIT_KIB, report
