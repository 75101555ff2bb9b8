#!/usr/bin/env bash
# HTTP/2 and gRPC overhead benchmark (issue 3): h2load against the Go h2c server
# (GET /hello) and the grpc-go Echo server (unary calls), each without and then
# with the agent exporting spans over OTLP/gRPC to otlp-sink. Reports req/s,
# p50/p99 added latency (from h2load's per-request log), agent CPU and eBPF run
# time per request, peak RSS, ring-buffer drops, spans exported vs received.
#
#   sudo bash integration/bench_h2.sh [--quick]     # --quick: 5 s per run instead of 15 s
#
# Ends with exactly one line `BENCH_H2 {json}`; exits non-zero if spans were lost.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DURATION=15
[[ "${1:-}" == "--quick" ]] && DURATION=5
# shellcheck source=integration/setup.sh
source "$HERE/setup.sh"
cd "$SPANWIRE_ROOT"
cargo build --release -p otlp-sink >&2
OUT="$SPANWIRE_ROOT/target/bench/h2"
RUN="$OUT/run"
rm -rf "$RUN" && mkdir -p "$RUN"
(cd integration/servers/h2c && GOTOOLCHAIN=local go build -o "$OUT/" ./...) >&2
(cd integration/servers/grpc/go && GOTOOLCHAIN=local go build -o "$OUT/" ./...) >&2
OLD="$(sysctl -n kernel.bpf_stats_enabled)"
sysctl -q -w kernel.bpf_stats_enabled=1
trap 'sysctl -q -w kernel.bpf_stats_enabled="$OLD"' EXIT
SW_BENCH_BIN="$OUT" SW_BENCH_RUN="$RUN" SW_BENCH_DURATION="$DURATION" python3 "$HERE/bench_h2.py"
