#!/usr/bin/env bash
# Log-capture overhead benchmark (issue 5): agent CPU per request with log
# capture off and on, and agent CPU / eBPF time per log line for a pure writer.
#
#   sudo bash integration/bench_logs.sh [--quick] [--keep]
#
#   --quick   10 s wrk phases and 5 s writer phases instead of 30 s (whole run
#             under 2 minutes once built; SPANWIRE_SKIP_BUILD=1 skips setup's build)
#   --keep    keep the raw logs in target/bench/logs/run/ (kept anyway on failure)
#
# Phases (integration/bench_logs.py): wrk -t2 -c50 against the Go test server
# started with -log-requests (one JSON line, one write(2), per request) without
# the agent, then with `spanwire run --pid SERVER` and SPANWIRE_LOGS=0, logs on
# (default: 200 captured writes/s per process), and logs on with the rate limit
# raised; then a pure log writer (SW_BENCH_WRITER_RATE lines/s, default 20000,
# no requests) with the default limit and with the limit raised. The agent is
# pinned to CPU 1; each phase exports OTLP/gRPC to its own otlp-sink. eBPF run
# time counts only this agent's sw_* programs, minus the background measured
# for a few idle seconds before each phase (the tracepoints also fire, and are
# rejected by the pid filter, for every other process's syscalls).
# Prints tables, then exactly one last line `BENCH_LOGS {json}`; exits non-zero
# if spans were lost without being counted or no log records arrived.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DURATION=30
WRITER_SECONDS=30
IDLE_SECONDS=3
KEEP=0
for arg in "$@"; do
    case "$arg" in
    --quick)
        DURATION=10
        WRITER_SECONDS=5
        IDLE_SECONDS=2
        ;;
    --keep) KEEP=1 ;;
    -h | --help)
        sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "bench_logs: unknown argument: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

# shellcheck source=integration/setup.sh
source "$HERE/setup.sh"
cd "$SPANWIRE_ROOT"
OUT="$SPANWIRE_ROOT/target/bench/logs"
RUN="$OUT/run"
rm -rf "$RUN"
mkdir -p "$RUN"
cargo build --release -p otlp-sink >&2
(cd integration/servers/go-http && GOTOOLCHAIN=local go build -o "$OUT/gohttp" .) >&2

OLD="$(sysctl -n kernel.bpf_stats_enabled)"
OK=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    sysctl -q -w kernel.bpf_stats_enabled="$OLD" >/dev/null 2>&1 || true
    if [[ $rc -ne 0 || "$OK" -ne 1 ]]; then
        echo "bench_logs: logs kept in $RUN" >&2
    elif [[ "$KEEP" -ne 1 ]]; then
        rm -rf "$RUN"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
sysctl -q -w kernel.bpf_stats_enabled=1

# The driver stops every process it starts (SIGTERM, then SIGKILL) before it returns.
SW_BENCH_RUN="$RUN" SW_BENCH_SERVER="$OUT/gohttp" SW_BENCH_DURATION="$DURATION" \
    SW_BENCH_WRITER_SECONDS="$WRITER_SECONDS" SW_BENCH_IDLE_SECONDS="$IDLE_SECONDS" \
    python3 "$HERE/bench_logs.py"
OK=1
