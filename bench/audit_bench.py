#!/usr/bin/env python3
"""The cost of the audit trail, measured: request throughput with auditing on
and off (same release binary, same workloads, alternating runs so drift hits
both), and `latchkey audit` query times over a log of 1,000,000 events.

    python3 bench/audit_bench.py [--rounds 3] [--seconds 8] [--events 1000000]

Needs target/release/latchkey and target/release/latchkey-bench (built if
missing). Loopback only; every run is bounded. Writes
bench/results/audit-<date>.md and .json, and bench/results/audit-latest.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATCHKEY = ROOT / "target/release/latchkey"
BENCH = ROOT / "target/release/latchkey-bench"
KEY, SECRET = "AKIAAUDITBENCHAUDIT1", "auditbenchauditbenchauditbenchauditbench"
WORKLOADS = [("get", "4KiB", 16), ("put", "4KiB", 16), ("head", "4KiB", 16)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data: Path, audit: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    env.update(LATCHKEY_ROOT_ACCESS_KEY_ID=KEY, LATCHKEY_ROOT_SECRET_ACCESS_KEY=SECRET,
               LATCHKEY_AUDIT="true" if audit else "false", LATCHKEY_LOG="warn")
    proc = subprocess.Popen([str(LATCHKEY), "serve", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/health/ready", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("latchkey did not start")


def run_workload(url: str, pid: int, workload: str, size: str, conc: int, seconds: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([str(BENCH), "--endpoint", url, "--access-key", KEY, "--secret-key", SECRET,
                        "--server-pid", str(pid), "--json", out.name, "run", "--workload", workload, "--size", size,
                        "--concurrency", str(conc), "--duration", str(seconds)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds * 10 + 120)
        rows = json.load(open(out.name))["rows"]
    return rows[-1]


def throughput(rounds: int, seconds: int) -> dict:
    results: dict = {w: {"on": [], "off": []} for w, _, _ in WORKLOADS}
    for r in range(rounds):
        for audit in ((True, False) if r % 2 == 0 else (False, True)):
            data = Path(tempfile.mkdtemp(prefix="audit-bench-", dir=ROOT / "target"))
            proc, url = start(data, audit)
            try:
                for w, size, conc in WORKLOADS:
                    row = run_workload(url, proc.pid, w, size, conc, seconds)
                    results[w]["on" if audit else "off"].append(row["ops_per_s"])
                    print(f"round {r + 1} audit={'on ' if audit else 'off'} {w:<5} {row['ops_per_s']:9.0f} ops/s",
                          file=sys.stderr)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
                shutil.rmtree(data, ignore_errors=True)
    return results


def timed(args: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600).stdout
    return time.perf_counter() - t, len([ln for ln in out.splitlines() if ln.strip()])


def queries(events: int) -> dict:
    data = Path(tempfile.mkdtemp(prefix="audit-query-", dir=ROOT / "target"))
    try:
        base = [str(LATCHKEY), "audit", "--data-dir", str(data)]
        gen_s, _ = timed(base + ["--generate", str(events)])
        index_s, _ = timed(base + ["--event", "NoSuchEvent"])
        asks = {
            "everything session user0042 did": ["--session", "user0042"],
            "who touched users/user0042/ in bucket3": ["--bucket", "bucket3", "--key-prefix", "users/user0042/"],
            "everything key ASIABENCH00000000042 did": ["--access-key", "ASIABENCH00000000042"],
            "denials of one principal": ["--principal", "arn:aws:sts::111122223333:assumed-role/bench/user0040",
                                         "--decision", "deny"],
            "last day's PutObject, first 1000": ["--event", "PutObject", "--since", "2d", "--limit", "1000"],
        }
        out = {"events": events, "append_seconds": gen_s, "first_index_seconds": index_s, "queries": {}}
        for name, q in asks.items():
            best, n = min(timed(base + ["--output", "json"] + q) for _ in range(3))
            out["queries"][name] = {"seconds": best, "events": n}
        out["log_bytes"] = sum(p.stat().st_size for p in (data / "audit").iterdir())
        return out
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--events", type=int, default=1_000_000)
    a = ap.parse_args()
    if not LATCHKEY.exists() or not BENCH.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "latchkey-server", "-p", "latchkey-bench"], check=True,
                       cwd=ROOT)
    tp = throughput(a.rounds, a.seconds)
    q = queries(a.events)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    now = dt.datetime.now(dt.timezone.utc)
    lines = [
        "# The cost of the audit trail",
        "",
        f"{now:%Y-%m-%d %H:%M} UTC, commit {commit}, {os.cpu_count()} cores; client and server share the machine. "
        f"Command: `python3 bench/audit_bench.py --rounds {a.rounds} --seconds {a.seconds} --events {a.events}`.",
        "",
        "## Throughput, auditing on vs off",
        "",
        f"Median of {a.rounds} alternating runs of {a.seconds} s each; latchkey-bench, account root, fresh data directory.",
        "",
        "| workload | conc | audit off ops/s | audit on ops/s | on ÷ off |",
        "|---|---:|---:|---:|---:|",
    ]
    for w, size, conc in WORKLOADS:
        off, on = statistics.median(tp[w]["off"]), statistics.median(tp[w]["on"])
        lines.append(f"| {w.upper()} {size} | {conc} | {off:.0f} | {on:.0f} | {on / off:.3f} |")
    lines += [
        "",
        f"## `latchkey audit` over {q['events']:,} events",
        "",
        f"Log: {q['log_bytes'] / 1e9:.2f} GB (segments + index). Appending the events: {q['append_seconds']:.1f} s "
        f"({q['append_seconds'] / q['events'] * 1e6:.1f} µs each to serialize and append). Indexing them all on the "
        f"first query: {q['first_index_seconds']:.1f} s (done in the background by the server as it runs, at the "
        "lowest CPU priority).",
        "",
        "| question | events found | seconds (best of 3) |",
        "|---|---:|---:|",
    ]
    for name, r in q["queries"].items():
        lines.append(f"| {name} | {r['events']} | {r['seconds']:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    results = ROOT / "bench/results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = f"{now:%Y-%m-%d-%H%M}"
    (results / f"audit-{stamp}.md").write_text(text)
    (results / "audit-latest.md").write_text(text)
    (results / f"audit-{stamp}.json").write_text(json.dumps({"throughput": tp, "queries": q}, indent=1))


if __name__ == "__main__":
    main()
