#!/usr/bin/env bash
# Metrics overhead benchmark: agent CPU per request with metrics off vs on, the kernel
# network programs' run time, and the RED aggregator's memory with 1 000 services x 50 routes.
#
#   sudo bash integration/bench_metrics.sh [--quick]
#
#   --quick      5 s wrk runs instead of 20 s
#
# Phases (the Go test server under `wrk -t2 -c50 GET /hello`, agent `--pid SERVER`,
# spans exported over OTLP/gRPC to otlp-sink in both):
#   off: SPANWIRE_METRICS=0 (no RED recording, no network programs, no metric exports)
#   on:  metrics on, OTEL_METRIC_EXPORT_INTERVAL=1000 (an export every second)
# Agent CPU from /proc/PID/stat (utime+stime) around the wrk run; eBPF run time of the
# sw_net_* programs from kernel.bpf_stats_enabled + bpftool. Then
# `cargo bench --bench metrics_memory` (exact heap bytes of the aggregator).
# Prints a table and one line `BENCH_METRICS {json}` last.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DURATION=20s
for arg in "$@"; do
    case "$arg" in
    --quick) DURATION=5s ;;
    -h | --help)
        sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "bench_metrics: unknown argument: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

die() {
    echo "bench_metrics: ERROR: $*" >&2
    exit 1
}
log() { echo "bench_metrics: $*" >&2; }

# shellcheck source=integration/setup.sh
source "$HERE/setup.sh"
cd "$SPANWIRE_ROOT"
BENCH_DIR="$SPANWIRE_ROOT/target/bench"
RUN="$BENCH_DIR/metrics-run"
rm -rf "$RUN"
mkdir -p "$RUN"

cargo build --release -p spanwire -p otlp-sink || die "cargo build --release failed"
(cd integration/servers/go-http && go build -o "$BENCH_DIR/gohttp" .) || die "go build of the test server failed"
AGENT_BIN="$SPANWIRE_ROOT/target/release/spanwire"
SINK_BIN="$SPANWIRE_ROOT/target/release/otlp-sink"

PIDS=()
BPF_STATS_OLD="$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)"
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    sysctl -q -w kernel.bpf_stats_enabled="$BPF_STATS_OLD" >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_for() { # file string timeout_s
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    tail -n 20 "$1" >&2 || true
    die "no '$2' in $1 within $3 s"
}
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
net_bpf_ns() {
    bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
print(sum(p.get("run_time_ns", 0) for p in json.load(sys.stdin) if p.get("name", "").startswith("sw_net_")))'
}

PORT="$(free_port)"
SINK_GRPC="$(free_port)"
SINK_HTTP="$(free_port)"
"$BENCH_DIR/gohttp" -addr "127.0.0.1:$PORT" >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for "$RUN/server.log" "listening on" 15
"$SINK_BIN" --grpc "127.0.0.1:$SINK_GRPC" --http "127.0.0.1:$SINK_HTTP" >"$RUN/sink.log" 2>&1 &
PIDS+=("$!")
wait_for "$RUN/sink.log" "otlp-sink listening" 15
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null || die "cannot enable kernel.bpf_stats_enabled"

phase() { # name metrics(0|1)
    local name="$1" on="$2" agent t0 t1 b0 b1
    env SPANWIRE_METRICS="$on" OTEL_METRIC_EXPORT_INTERVAL=1000 \
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_GRPC" OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
        "$AGENT_BIN" run --pid "$SERVER_PID" >"$RUN/agent_$name.out" 2>"$RUN/agent_$name.err" &
    agent=$!
    wait_for "$RUN/agent_$name.err" "capture started" 30
    t0="$(cpu_ticks "$agent")"
    b0="$(net_bpf_ns)"
    wrk -t2 -c50 -d"$DURATION" "http://127.0.0.1:$PORT/hello" >"$RUN/wrk_$name.txt" 2>&1 || die "wrk failed"
    t1="$(cpu_ticks "$agent")"
    b1="$(net_bpf_ns)"
    kill -TERM "$agent"
    wait "$agent" || die "agent ($name) exited non-zero"
    local reqs
    reqs="$(awk '/requests in/ { print $1 }' "$RUN/wrk_$name.txt")"
    echo "$name $reqs $((t1 - t0)) $((b1 - b0))" >>"$RUN/phases.txt"
    log "phase $name: $reqs requests, $((t1 - t0)) CPU ticks, net eBPF $((b1 - b0)) ns"
}
phase off 0
phase on 1

cargo bench -p spanwire --bench metrics_memory >"$RUN/memory.txt" 2>"$RUN/memory.err" || die "cargo bench failed"

python3 - "$RUN" "$(getconf CLK_TCK)" <<'PY'
import json, sys
run, hz = sys.argv[1], int(sys.argv[2])
phases = {}
for line in open(f"{run}/phases.txt"):
    name, reqs, ticks, net_ns = line.split()
    phases[name] = {"requests": int(reqs), "cpu_s": int(ticks) / hz, "net_bpf_ns": int(net_ns)}
for p in phases.values():
    p["cpu_us_per_req"] = p["cpu_s"] * 1e6 / max(p["requests"], 1)
    p["net_bpf_ns_per_req"] = p["net_bpf_ns"] / max(p["requests"], 1)
mem = next(json.loads(l.split(" ", 1)[1]) for l in open(f"{run}/memory.txt") if l.startswith("BENCH_METRICS_MEMORY "))
print()
print(open(f"{run}/memory.txt").read().split("BENCH_METRICS_MEMORY")[0].rstrip())
print()
print(f"  {'':<30}{'metrics off':>14}{'metrics on':>14}")
off, on = phases["off"], phases["on"]
for label, key, fmt in [("requests", "requests", "{:d}"), ("agent CPU (s)", "cpu_s", "{:.2f}"),
                        ("agent CPU per request (us)", "cpu_us_per_req", "{:.2f}"),
                        ("net eBPF ns per request", "net_bpf_ns_per_req", "{:.1f}")]:
    print(f"  {label:<30}{fmt.format(off[key]):>14}{fmt.format(on[key]):>14}")
bench = {
    "requests_off": off["requests"], "requests_on": on["requests"],
    "agent_cpu_us_per_req_off": round(off["cpu_us_per_req"], 3),
    "agent_cpu_us_per_req_on": round(on["cpu_us_per_req"], 3),
    "net_bpf_ns_per_req_on": round(on["net_bpf_ns_per_req"], 1),
    "red_memory_1000x50_bytes": mem["heap_bytes"], "red_series": mem["series"],
}
print()
print("BENCH_METRICS " + json.dumps(bench, separators=(",", ":")))
PY
