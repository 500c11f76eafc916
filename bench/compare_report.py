#!/usr/bin/env python3
"""Merges the machine's limits and each server's latchkey-bench JSON into one
table: every workload side by side, latchkey's ratio to the best peer and to
the machine's limit, and the issue's targets met or missed.

    python3 bench/compare_report.py LIMITS.json OUT_BASENAME latchkey=a.json s3s-fs=b.json moto=c.json

Writes OUT_BASENAME.md and OUT_BASENAME.json; prints the Markdown. Standard
library only.
"""
import json
import sys

DURABILITY = {
    "latchkey": "fsync of data file and directory, then SQLite commit (WAL, synchronous=FULL), before the ack",
    "s3s-fs": "writes files, never fsyncs (page cache only)",
    "moto": "in memory (nothing on disk)",
}


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if v >= 100:
        s = f"{v:.0f}"
    elif v >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def size_text(n):
    if not n:
        return "-"
    if n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


def ok(row):
    return row is not None and row.get("status") == "ok" and row.get("ops", 0) > 0 and row.get("errors", 0) == 0


def metric(row):
    """The figure ratios compare: MB/s where bytes move, else ops/s."""
    return row["mb_per_s"] if row["mb_per_s"] > 0 else row["ops_per_s"]


def main():
    limits_path, out, *servers = sys.argv[1:]
    limits = json.load(open(limits_path))
    results = {}
    for spec in servers:
        name, path = spec.split("=", 1)
        try:
            results[name] = {r["id"]: r for r in json.load(open(path))["rows"]}
        except (OSError, ValueError) as e:
            print(f"warning: no results for {name}: {e}", file=sys.stderr)
            results[name] = {}
    names = [s.split("=", 1)[0] for s in servers]
    peers = [n for n in names if n != "latchkey"]
    order = []
    for n in names:
        for rid in results[n]:
            if rid not in order:
                order.append(rid)

    lines = []
    head = "| workload | size | conc |"
    rule = "|---|---|---:|"
    for n in names:
        head += f" {n} ops/s | {n} MB/s | {n} p50/p99 ms |"
        rule += "---:|---:|---:|"
    head += " latchkey ÷ best peer | latchkey ÷ machine limit |"
    rule += "---:|---:|"
    lines += [head, rule]
    merged = []
    for rid in order:
        any_row = next(results[n][rid] for n in names if rid in results[n])
        line = f"| {any_row['label']} | {size_text(any_row['size'])} | {any_row['concurrency']} |"
        entry = {"id": rid, "label": any_row["label"], "size": any_row["size"],
                 "concurrency": any_row["concurrency"], "servers": {}}
        for n in names:
            r = results[n].get(rid)
            entry["servers"][n] = r
            if r is None or r.get("status") != "ok":
                st = "error" if r is not None and r.get("status") == "error" else "n/a"
                line += f" {st} | {st} | {st} |"
                continue
            err = f" ({r['errors']} errors)" if r["errors"] else ""
            mb = fmt(r["mb_per_s"]) if r["mb_per_s"] > 0 else "-"
            line += f" {fmt(r['ops_per_s'])}{err} | {mb} | {fmt(r['p50_ms'])} / {fmt(r['p99_ms'])} |"
        lk = results.get("latchkey", {}).get(rid)
        best = max((metric(results[p][rid]) for p in peers if ok(results[p].get(rid))), default=None)
        ratio_peer = metric(lk) / best if ok(lk) and best else None
        limit, limit_name = None, None
        if ok(lk) and lk["size"] >= (1 << 20) and lk["mb_per_s"] > 0:
            if rid.startswith("put") or rid == "memory":
                limit, limit_name = limits.get("disk_write_fdatasync_mb_s"), "dd fdatasync write"
            elif rid.startswith("get"):
                limit, limit_name = limits.get("loopback_tcp_mb_s"), "iperf3 loopback"
        ratio_limit = lk["mb_per_s"] / limit if limit else None
        entry["latchkey_vs_best_peer"] = ratio_peer
        entry["latchkey_vs_machine_limit"] = ratio_limit
        entry["machine_limit"] = limit_name
        line += f" {fmt(ratio_peer, '×')} | {fmt(ratio_limit, '×') + ' of ' + limit_name if ratio_limit else '-'} |"
        lines.append(line)
        merged.append(entry)

    def row(server, rid):
        return results.get(server, {}).get(rid)

    def peer_ratio(rid, server="s3s-fs"):
        a, b = row("latchkey", rid), row(server, rid)
        return metric(a) / metric(b) if ok(a) and ok(b) else None

    targets = []
    for rid, what in [("get-1m", "GET 1 MiB ≥ 1.0× s3s-fs"), ("get-64m", "GET 64 MiB ≥ 1.0× s3s-fs"),
                      ("put-4k", "PUT 4 KiB ≥ 1.0× s3s-fs ops/s"), ("get-4k", "GET 4 KiB ≥ 1.0× s3s-fs ops/s")]:
        r = peer_ratio(rid)
        targets.append((what, fmt(r, "×"), None if r is None else r >= 1.0))
    put64 = row("latchkey", "put-64m")
    disk = limits.get("disk_write_fdatasync_mb_s")
    r = put64["mb_per_s"] / disk if ok(put64) and disk else None
    targets.append(("PUT 64 MiB durable ≥ 0.9× dd fdatasync write", fmt(r, "×"), None if r is None else r >= 0.9))
    root, sess = row("latchkey", "get-4k-auth-root"), row("latchkey", "get-4k-session")
    cost = None
    if ok(root) and ok(sess) and root.get("server_cpu_us_per_op") is not None and sess.get("server_cpu_us_per_op") is not None:
        cost = sess["server_cpu_us_per_op"] - root["server_cpu_us_per_op"]
    targets.append(("session token + policies < 5 µs/request over the root's long-term key (server CPU)",
                    fmt(cost, " µs") if cost is not None else "n/a", None if cost is None else cost < 5))
    r1, s1 = row("latchkey", "get-4k-c1-root"), row("latchkey", "get-4k-c1-session")
    lat = (s1["p50_ms"] - r1["p50_ms"]) * 1000 if ok(r1) and ok(s1) else None
    mem = row("latchkey", "memory")
    peak = mem.get("rss_peak_mib") if ok(mem) else None
    targets.append(("resident memory < 100 MiB with 64 concurrent 64 MiB PUTs", fmt(peak, " MiB"),
                    None if peak is None else peak < 100))

    md = ["# latchkey benchmark", "",
          f"Machine: {limits.get('host')} — {limits.get('cpu')}, {limits.get('cores')} cores, "
          f"{limits.get('memory_gib')} GiB; {limits.get('date')}; commit {limits.get('commit')}. "
          f"Clients and servers share the machine; all traffic on loopback.", "",
          "## Machine limits", "",
          "| measure | value | how |", "|---|---:|---|"]
    for key, label, how in [
        ("disk_write_fdatasync_mb_s", "sequential write, fdatasync", "dd bs=4M conv=fdatasync"),
        ("disk_write_direct_mb_s", "sequential write, O_DIRECT", "dd bs=4M oflag=direct"),
        ("disk_read_direct_mb_s", "sequential read, O_DIRECT", "dd bs=4M iflag=direct"),
        ("disk_read_cached_mb_s", "sequential read, page cache", "dd bs=4M (file just written)"),
        ("loopback_tcp_mb_s", "loopback TCP, 1 stream", "iperf3 -c 127.0.0.1"),
        ("sha256_mb_s", "SHA-256, 1 core", "Python hashlib (OpenSSL), 64 MiB buffers"),
        ("md5_mb_s", "MD5, 1 core", "Python hashlib (OpenSSL), 64 MiB buffers"),
    ]:
        md.append(f"| {label} | {fmt(limits.get(key), ' MB/s')} | {how} |")
    md += ["", "## Servers", "", "| server | durability of an acknowledged PUT | version |", "|---|---|---|"]
    for n in names:
        md.append(f"| {n} | {DURABILITY.get(n, '?')} | {limits.get('versions', {}).get(n, '?')} |")
    md += ["", "## Results", "",
           "MB/s are 10^6 payload bytes per second. n/a: the server has no such operation (s3s-fs has no IAM/STS) "
           "or the row was not run. Ratios compare MB/s where bytes move, else ops/s; the best peer is the faster "
           "of the others that finished the row without errors. moto verifies no signatures and evaluates no "
           "policies; s3s-fs verifies signatures but has no IAM.", ""]
    md += lines
    md += ["", "## Targets (reported, not asserted)", "", "| target | measured | met |", "|---|---:|---|"]
    for what, val, met in targets:
        md.append(f"| {what} | {val} | {'yes' if met else ('no' if met is False else 'n/a')} |")
    if lat is not None:
        md += ["", f"Session token vs account root at one client: median latency difference {lat:.0f} µs "
                   f"(GET 4 KiB, p50 {fmt(s1['p50_ms'])} vs {fmt(r1['p50_ms'])} ms). The server-CPU figure above "
                   f"compares the 16-client rows run back to back (server CPU time / requests)."]
    if ok(mem):
        md += [f"Memory row: peak VmRSS {fmt(mem.get('rss_peak_mib'))} MiB sampled every 10 ms "
               f"(before: {fmt(mem.get('rss_before_mib'))} MiB; VmHWM after: {fmt(mem.get('hwm_mib'))} MiB)."]
    text = "\n".join(md) + "\n"
    open(out + ".md", "w").write(text)
    json.dump({"limits": limits, "servers": names, "durability": {n: DURABILITY.get(n) for n in names},
               "rows": merged, "targets": [{"target": t, "measured": v, "met": m} for t, v, m in targets]},
              open(out + ".json", "w"), indent=2)
    print(text)


if __name__ == "__main__":
    main()
