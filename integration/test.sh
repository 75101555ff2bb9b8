#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run execs this):
#
#   sudo bash integration/test.sh
#
# 1. integration/setup.sh (packages, tracefs/bpffs, cargo build --release)
# 2. cargo clippy --workspace --all-targets -- -D warnings
# 3. cargo fmt --all -- --check
# 4. integration/stack.sh up (builds the Collector, Jaeger, Prometheus and VictoriaLogs from Go
#    modules on first use, ~20 min, cached in ~/.cache/spanwire-stack), `stack.sh validate`
#    (otelcol validate on every otel-config/*.yaml) and integration/stack/dashboards.py schema
#    (grafana/ dashboards against Grafana's dashboard model)
#    integration/kubernetes/validate.sh (manifests against Kubernetes schemas, offline once cached)
# 5. cargo test --workspace --release --no-fail-fast -- --test-threads=1
#    (tests need root and load eBPF programs, so they run serially; e2e_stack.rs drives the
#    running stack). The stack is stopped at the end if this script started it.
#
# Every step runs even if an earlier one failed (except setup); the script
# exits non-zero if any step failed.
#
# Environment knobs:
#   SPANWIRE_TEST_TIMEOUT   limit for `cargo test`, default 50m (timeout(1) syntax)
set -euo pipefail

# shellcheck source=integration/setup.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
cd "$SPANWIRE_ROOT"

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# Components are part of the rustup toolchain; install them only if missing.
for comp in clippy rustfmt; do
    sub="$comp"
    [[ "$comp" == rustfmt ]] && sub=fmt
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        echo "test: cargo $sub missing; trying 'rustup component add $comp'" >&2
        rustup component add "$comp" >&2 || {
            echo "test: ERROR: cargo $sub is not available" >&2
            exit 1
        }
    fi
done

failed=()
step() { # name cmd...
    local name="$1"
    shift
    echo "==> $name: $*"
    local t0=$SECONDS rc=0
    "$@" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "==> $name: FAILED (exit $rc, $((SECONDS - t0))s)"
        failed+=("$name")
    else
        echo "==> $name: ok ($((SECONDS - t0))s)"
    fi
}

step clippy cargo clippy --workspace --all-targets -- -D warnings
step fmt cargo fmt --all -- --check
# The pipeline backends. Stopped on exit only if they were not running before.
stack_was_up=0
bash integration/stack.sh status >/dev/null 2>&1 && stack_was_up=1
if [[ "$stack_was_up" -eq 0 ]]; then
    trap 'bash integration/stack.sh down >/dev/null 2>&1 || true' EXIT
fi
step stack bash integration/stack.sh up
step otel-config bash integration/stack.sh validate
step dashboards /usr/bin/python3 integration/stack/dashboards.py schema
step manifests bash integration/kubernetes/validate.sh
# timeout(1) moves itself to a new process group; keep Ctrl-C working on a tty.
to_args=(-k 30s)
[[ -t 0 ]] && to_args+=(--foreground)
test_log="$(mktemp)"
run_tests() {
    timeout "${to_args[@]}" "${SPANWIRE_TEST_TIMEOUT:-50m}" \
        cargo test --workspace --release --no-fail-fast -- --test-threads=1 2>&1 | tee "$test_log"
    return "${PIPESTATUS[0]}"
}
step test run_tests
# One closing line with the totals of every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
rm -f "$test_log"

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "test.sh: FAILED steps: ${failed[*]}"
    exit 1
fi
echo "test.sh: all steps passed"
