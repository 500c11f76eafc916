#!/usr/bin/env bash
# The one command that runs latchkey's whole test suite:
#   1. a Python venv at <repo>/.venv with tests/e2e/requirements.txt,
#   2. cargo build --workspace --all-targets,
#   3. cargo test --workspace (Rust unit and integration tests),
#   4. pytest tests/e2e (end-to-end tests against target/debug/latchkey).
# Needs a Rust toolchain and python3. Exits non-zero if anything fails.
#
# Environment:
#   LATCHKEY_E2E_BIG_MB   size of the streaming memory test in MiB (default 5120)
#   PYTEST_ARGS           extra arguments for pytest (e.g. "-k sigv4 -x")
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv"
REQ="tests/e2e/requirements.txt"

step() { printf '\n==> %s\n' "$*"; }

# --- Python environment -------------------------------------------------------
make_venv() {
    rm -rf "$VENV"
    python3 -m venv "$VENV"
}
if [[ ! -x "$VENV/bin/python" ]]; then
    step "creating $VENV"
    if ! make_venv 2>/dev/null; then
        # Debian ships venv support separately (python3-venv)
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            step "installing python3-venv"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            make_venv
        else
            echo "error: python3 -m venv failed; install python3-venv" >&2
            exit 1
        fi
    fi
fi
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    step "installing $REQ into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$want" > "$stamp"
fi

# --- Debian packages the tests need ------------------------------------------
# chromium: browser tests (driven by playwright-core, no downloaded browsers);
# slapd, ldap-utils: a real OpenLDAP directory for the LDAP federation tests.
DEBIAN_PACKAGES=(chromium slapd ldap-utils)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        step "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        # slapd's post-install asks nothing when non-interactive; the tests run their own instance.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "warning: missing Debian packages ${missing[*]}; some tests will fail" >&2
    fi
fi
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
    step "installing playwright-core into tests/browser"
    (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi

# --- Rust --------------------------------------------------------------------
step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

step "cargo test --workspace"
cargo test --workspace

# --- end-to-end ----------------------------------------------------------------
if [[ -z "${LATCHKEY_BIN:-}" && -n "${CARGO_TARGET_DIR:-}" ]]; then
    export LATCHKEY_BIN="$CARGO_TARGET_DIR/debug/latchkey"
fi
export LATCHKEY_E2E_BIG_MB="${LATCHKEY_E2E_BIG_MB:-5120}"

# --- fuzzing (bounded) -----------------------------------------------------------
# Every parser's fuzz target runs for LATCHKEY_FUZZ_SECONDS (default 20) when a
# nightly toolchain and cargo-fuzz are present; a crash fails the run.
fuzz_seconds="${LATCHKEY_FUZZ_SECONDS:-20}"
if [[ "$fuzz_seconds" != 0 ]] && cargo +nightly --version >/dev/null 2>&1 && cargo +nightly fuzz --version >/dev/null 2>&1; then
    for dir in crates/*/fuzz; do
        for target in $(cd "$dir" && cargo +nightly fuzz list); do
            step "fuzz $dir $target (${fuzz_seconds}s)"
            mkdir -p "$dir/corpus/$target"
            (cd "$dir" && cargo +nightly fuzz run "$target" "corpus/$target" -- \
                -max_total_time="$fuzz_seconds" -max_len=4096 -print_final_stats=0 >/dev/null 2>"fuzz-$target.log") || {
                echo "fuzz target $target crashed; see $dir/fuzz-$target.log and $dir/artifacts/" >&2
                tail -30 "$dir/fuzz-$target.log" >&2
                exit 1
            }
        done
    done
else
    echo "(skipping fuzzing: needs a nightly toolchain with cargo-fuzz)"
fi

step "pytest tests/e2e (LATCHKEY_E2E_BIG_MB=$LATCHKEY_E2E_BIG_MB)"
set +e
# shellcheck disable=SC2086
"$VENV/bin/python" -m pytest tests/e2e -q -rfE --timeout=600 ${PYTEST_ARGS:-}
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
    echo "e2e tests failed (pytest exit code $rc)" >&2
fi
exit $rc
