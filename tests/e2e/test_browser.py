"""Uploads from a real browser: headless Chromium (Debian's package, driven by
playwright-core) on a page served from another origin submits an HTML form
built from a pre-signed POST and PUTs with fetch() to a pre-signed URL.
The oversized file, a key outside the allowed prefix and an expired policy
are refused in the browser too. A screenshot is kept as a test artifact."""
import html
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "target" / "test-artifacts"


def _require_browser():
    missing = [p for p in (CHROMIUM, str(BROWSER_DIR / "node_modules" / "playwright-core")) if not os.path.exists(p)]
    if missing:
        if os.environ.get("LATCHKEY_SKIP_BROWSER") == "1":
            pytest.skip("browser tests skipped by LATCHKEY_SKIP_BROWSER=1")
        pytest.fail(f"browser test prerequisites missing (scripts/test.sh installs them): {missing}")


def form_page(post: dict, done_url: str) -> str:
    fields = dict(post["fields"])
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' if k != "key"
        else f'<input type="text" name="key" value="{html.escape(v)}">'
        for k, v in fields.items())
    return f"""<!doctype html><html><head><title>latchkey upload</title></head><body>
<h1>Upload to latchkey</h1>
<form id="form" action="{html.escape(post['url'])}" method="post" enctype="multipart/form-data">
{inputs}
<input type="file" id="file" name="file">
<button id="submit" type="submit">Upload</button>
</form></body></html>"""


@pytest.fixture
def page_server(tmp_path):
    root = tmp_path / "site"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()


def test_browser_form_and_fetch_uploads(server, s3, bucket, page_server, tmp_path):
    _require_browser()
    root, origin = page_server
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [origin.rstrip("/")], "AllowedMethods": ["GET", "PUT", "POST"],
        "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"]}]})
    done = origin + "done.html"
    (root / "done.html").write_text("<!doctype html><html><body><h1>Uploaded</h1><p id=q></p>"
                                    "<script>document.getElementById('q').textContent=location.search</script>"
                                    "</body></html>")
    post = s3.generate_presigned_post(
        bucket, "uploads/${filename}",
        Fields={"success_action_redirect": done, "x-amz-meta-user": "browser"},
        Conditions=[["content-length-range", 1, 1024], {"success_action_redirect": done},
                    {"x-amz-meta-user": "browser"}],
        ExpiresIn=300)
    (root / "form.html").write_text(form_page(post, done))
    expired = s3.generate_presigned_post(bucket, "uploads/${filename}", ExpiresIn=1,
                                         Fields={"success_action_redirect": done},
                                         Conditions=[{"success_action_redirect": done}])
    (root / "expired.html").write_text(form_page(expired, done))
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "from-fetch.txt",
                                                              "ContentType": "text/plain"}, ExpiresIn=300)
    time.sleep(1.5)  # let the short policy expire
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "browser-upload.png"
    spec = {
        "chromium": CHROMIUM, "pageUrl": origin, "putUrl": put_url, "screenshot": str(shot),
        "cases": [
            {"name": "ok", "file": {"name": "hello.txt", "size": 10}, "screenshot": True},
            {"name": "oversized", "file": {"name": "big.txt", "size": 2048}},
            {"name": "outside_prefix", "file": {"name": "x.txt", "size": 5}, "key": "private/${filename}"},
            {"name": "expired", "page": "expired.html", "file": {"name": "late.txt", "size": 5}},
        ],
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    out = subprocess.run(["node", str(BROWSER_DIR / "upload.mjs"), str(spec_path)], capture_output=True,
                         text=True, timeout=120, cwd=BROWSER_DIR)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])

    # (1) the form upload landed and the browser followed the redirect
    assert res["ok"]["url"].startswith(done), res["ok"]
    assert "key=uploads%2Fhello.txt" in res["ok"]["url"]
    obj = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert obj["Body"].read() == b"a" * 10 and obj["Metadata"] == {"user": "browser"}
    assert shot.exists() and shot.stat().st_size > 0
    # refused in the browser too, and nothing stored
    assert res["oversized"]["status"] == 400 and "EntityTooLarge" in res["oversized"]["text"]
    assert res["outside_prefix"]["status"] == 403 and "Invalid according to Policy" in res["outside_prefix"]["text"]
    assert res["expired"]["status"] == 403 and "Policy expired" in res["expired"]["text"]
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "uploads/big.txt" not in stored and "private/x.txt" not in stored and "uploads/late.txt" not in stored
    # (2) the cross-origin fetch PUT, preflighted, with ETag exposed by CORS
    assert res["fetchPut"].get("status") == 200, res["fetchPut"]
    assert res["fetchPut"]["etag"] == s3.head_object(Bucket=bucket, Key="from-fetch.txt")["ETag"]
