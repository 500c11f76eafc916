#!/usr/bin/env bash
# One command, one machine: the machine's limits (disk, loopback TCP,
# hashing), then latchkey, s3s-fs and moto started in turn on loopback with
# fresh data directories on the same disk, each driven by the same
# latchkey-bench suite; one table of results side by side.
#
#   bench/compare.sh [--quick] [--only latchkey,s3s-fs,moto]
#
# Installs what it needs into bench/.tools (iperf3 from Debian's packages if
# missing, s3s-fs with cargo, moto in a venv); scratch data goes to
# bench/.scratch and is removed at the end. Results: bench/results/
# <date>-<host>.md and .json, and bench/results/latest.md. Loopback only;
# every run is bounded in time and count (about 15 minutes, 5 with --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/bench/.tools
SCRATCH=$ROOT/bench/.scratch
RESULTS=$ROOT/bench/results
S3S_FS_VERSION=0.14.0   # the newest release that builds with Rust 1.95
MOTO_VERSION=5.2.5
KEY=AKIABENCHBENCHBENCH1
SECRET=benchbenchbenchbenchbenchbenchbenchbench

QUICK=0
ONLY=latchkey,s3s-fs,moto
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
SUITE_ARGS=(suite)
[ $QUICK = 1 ] && SUITE_ARGS+=(--quick)

say() { printf '\n== %s\n' "$*" >&2; }
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH" "$TOOLS" "$RESULTS"

# ---------------------------------------------------------------- tools
say "tools"
if ! command -v iperf3 >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3) >/dev/null
  else
    echo "iperf3 is missing and this is not root: the loopback TCP limit will be n/a" >&2
  fi
fi
if [ ! -x "$TOOLS/bin/s3s-fs" ] || ! "$TOOLS/bin/s3s-fs" --version | grep -q "$S3S_FS_VERSION"; then
  cargo install s3s-fs --version "$S3S_FS_VERSION" --locked --features binary --root "$TOOLS"
fi
if [ ! -x "$TOOLS/moto-venv/bin/moto_server" ]; then
  python3 -m venv "$TOOLS/moto-venv"
  "$TOOLS/moto-venv/bin/pip" install -q "moto[server]==$MOTO_VERSION"
fi
cargo build --release -p latchkey-server -p latchkey-bench
LATCHKEY=$ROOT/target/release/latchkey
BENCH=$ROOT/target/release/latchkey-bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # port, pid
  for _ in $(seq 1 300); do
    kill -0 "$2" 2>/dev/null || { echo "server exited during start-up" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not listen on $1 within 30 s" >&2; return 1
}

# ---------------------------------------------------------------- limits
say "machine limits"
DD_COUNT=$([ $QUICK = 1 ] && echo 128 || echo 512)   # 4 MiB blocks: 512 MiB or 2 GiB
dd_rate() {  # dd's summary line -> MB/s (10^6 bytes per second)
  awk '/bytes/ && /copied/ { b=$1; for (i=1;i<=NF;i++) if ($i ~ /^s,?$/) s=$(i-1); gsub(",", ".", s); printf "%.1f", b/s/1e6 }'
}
DDF=$SCRATCH/dd.bin
W_SYNC=$(dd if=/dev/zero of="$DDF" bs=4M count="$DD_COUNT" conv=fdatasync 2>&1 | dd_rate)
R_CACHED=$(dd if="$DDF" of=/dev/null bs=4M 2>&1 | dd_rate)
rm -f "$DDF"
W_DIRECT=$(dd if=/dev/zero of="$DDF" bs=4M count="$DD_COUNT" oflag=direct 2>&1 | dd_rate || true)
R_DIRECT=$(dd if="$DDF" of=/dev/null bs=4M iflag=direct 2>&1 | dd_rate || true)
rm -f "$DDF"
TCP=null
if command -v iperf3 >/dev/null; then
  P=$(free_port)
  iperf3 -s -1 -B 127.0.0.1 -p "$P" >/dev/null 2>&1 & PIDS+=($!)
  sleep 0.5
  TCP=$(iperf3 -c 127.0.0.1 -p "$P" -t "$([ $QUICK = 1 ] && echo 3 || echo 5)" -J 2>/dev/null |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6, 1))' || echo null)
fi
read -r SHA MD5 < <(python3 - <<'PY'
import hashlib, time
buf = bytes(64 << 20)
def rate(name):
    h, n, t = hashlib.new(name), 0, time.perf_counter()
    while time.perf_counter() - t < 1.0:
        h.update(buf); n += len(buf)
    return n / (time.perf_counter() - t) / 1e6
print(f"{rate('sha256'):.1f} {rate('md5'):.1f}")
PY
)
python3 - "$SCRATCH/limits.json" <<PY
import json, os, platform, subprocess, sys, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
num = lambda s: float(s) if s not in ("", "null") else None
json.dump({
    "host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
    "date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": commit + ("+dirty" if dirty else ""),
    "quick": $QUICK == 1,
    "disk_write_fdatasync_mb_s": num("$W_SYNC"), "disk_write_direct_mb_s": num("$W_DIRECT"),
    "disk_read_direct_mb_s": num("$R_DIRECT"), "disk_read_cached_mb_s": num("$R_CACHED"),
    "loopback_tcp_mb_s": num("$TCP"), "sha256_mb_s": num("$SHA"), "md5_mb_s": num("$MD5"),
    "versions": {"latchkey": commit, "s3s-fs": "$S3S_FS_VERSION", "moto": "$MOTO_VERSION"},
}, open(sys.argv[1], "w"), indent=2)
PY
cat "$SCRATCH/limits.json" >&2

# ---------------------------------------------------------------- servers
run_suite() {  # name, port, pid, extra suite args...
  local name=$1 port=$2 pid=$3; shift 3
  say "$name (pid $pid, port $port)"
  AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET "$BENCH" --endpoint "http://127.0.0.1:$port" \
    --server-pid "$pid" --label "$name" --json "$SCRATCH/$name.json" "${SUITE_ARGS[@]}" "$@" \
    | tee "$SCRATCH/$name.md" || echo "$name: the suite failed" >&2
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

REPORT_ARGS=()
if [[ ,$ONLY, == *,latchkey,* ]]; then
  P=$(free_port); mkdir -p "$SCRATCH/latchkey-data"
  LATCHKEY_ROOT_ACCESS_KEY_ID=$KEY LATCHKEY_ROOT_SECRET_ACCESS_KEY=$SECRET LATCHKEY_LOG=warn \
    "$LATCHKEY" serve --data-dir "$SCRATCH/latchkey-data" --listen "127.0.0.1:$P" >"$SCRATCH/latchkey.log" 2>&1 &
  PID=$!; PIDS+=($PID)
  wait_port "$P" "$PID"
  run_suite latchkey "$P" "$PID"
  rm -rf "$SCRATCH/latchkey-data"
  REPORT_ARGS+=("latchkey=$SCRATCH/latchkey.json")
fi
if [[ ,$ONLY, == *,s3s-fs,* ]]; then
  P=$(free_port); mkdir -p "$SCRATCH/s3s-fs-data"
  "$TOOLS/bin/s3s-fs" --host 127.0.0.1 --port "$P" --access-key "$KEY" --secret-key "$SECRET" \
    "$SCRATCH/s3s-fs-data" >"$SCRATCH/s3s-fs.log" 2>&1 &
  PID=$!; PIDS+=($PID)
  wait_port "$P" "$PID"
  run_suite s3s-fs "$P" "$PID"
  rm -rf "$SCRATCH/s3s-fs-data"
  REPORT_ARGS+=("s3s-fs=$SCRATCH/s3s-fs.json")
fi
if [[ ,$ONLY, == *,moto,* ]]; then
  P=$(free_port)
  "$TOOLS/moto-venv/bin/moto_server" -H 127.0.0.1 -p "$P" >"$SCRATCH/moto.log" 2>&1 &
  PID=$!; PIDS+=($PID)
  wait_port "$P" "$PID"
  # moto keeps every object in Python memory: 64 concurrent 64 MiB uploads
  # measure nothing useful there, and the 100,000-key fill takes minutes.
  run_suite moto "$P" "$PID" --skip memory
  REPORT_ARGS+=("moto=$SCRATCH/moto.json")
fi

# ---------------------------------------------------------------- report
say "report"
OUT=$RESULTS/$(date +%Y-%m-%d-%H%M)-$(hostname -s)
python3 bench/compare_report.py "$SCRATCH/limits.json" "$OUT" "${REPORT_ARGS[@]}"
cp "$OUT.md" "$RESULTS/latest.md"
echo "wrote $OUT.md, $OUT.json and $RESULTS/latest.md" >&2
