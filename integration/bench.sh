#!/usr/bin/env bash
# Overhead benchmark: the Go HTTP test server under wrk, without and with the
# agent exporting spans over OTLP/gRPC to the local otlp-sink.
#
#   sudo bash integration/bench.sh [--quick] [--keep]
#   bash integration/bench.sh --self-test     # parser check on fake inputs, no root
#
#   --quick      10 s wrk runs instead of 30 s, 5 s h2load runs instead of 15 s
#   --keep       keep the logs in target/bench/run/ (they are kept anyway on failure)
#
# Phases, in one run:
#   (a) base:  wrk -t2 -c50 -d30s --latency http://127.0.0.1:PORT/hello
#   (b) agent: the same with `spanwire run --pid SERVER_PID` running (one SERVER
#       span per request), exporting to
#       otlp-sink; kernel.bpf_stats_enabled=1 and bpftool snapshots give the
#       eBPF run time of programs named sw_*, /proc/PID/stat the agent's CPU,
#       /proc/PID/status (VmHWM) its peak RSS; SIGTERM makes the agent print
#       `spanwire_stats {json}` as its last stderr line and the sink print
#       `otlp-sink spans=N requests=M`.
#   (c) HTTP/2 and gRPC: integration/bench_h2.py runs h2load -c10 -m10 against the
#       Go h2c server and the grpc-go Echo server, without and with the agent; its
#       results are nested under "h2c" and "grpc" in the BENCH line.
# The agent runs pinned to CPU 1 (taskset). Prints a table, then exactly one line
# `BENCH {json}` as the last line: rps_baseline, rps_agent, p50_added_us,
# p99_added_us, agent_cpu_us_per_req, bpf_ns_per_req, rss_mb, requests,
# spans_exported, drops (HTTP/1.1 under wrk) plus h2c/grpc objects with the same keys.
# Exits non-zero (and prints no BENCH line) if anything is missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DURATION=30s
H2_SECONDS=15
KEEP=0
SELF_TEST=0
for arg in "$@"; do
    case "$arg" in
    --quick)
        DURATION=10s
        H2_SECONDS=5
        ;;
    --keep) KEEP=1 ;;
    --self-test) SELF_TEST=1 ;;
    -h | --help)
        sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "bench: unknown argument: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

die() {
    echo "bench: ERROR: $*" >&2
    exit 1
}
log() { echo "bench: $*" >&2; }

# --- report / parsing (python) ------------------------------------------------
write_report_py() { # path
    cat >"$1" <<'PY'
"""Parse the benchmark's raw outputs and print a table and the BENCH line."""
import json, os, re, sys

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def lat_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"bad wrk latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(path):
    t = read(path)
    out = {"errors": 0, "non2xx": 0}
    m = re.search(r"^\s*Requests/sec:\s*([0-9.]+)", t, re.M)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+)", t, re.M)
    out["requests"] = int(m.group(1)) if m else None
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s*{pct}(?:\.0+)?%\s+(\S+)", t, re.M)
        out[key] = lat_ms(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if m:
        out["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    if m:
        out["non2xx"] = int(m.group(1))
    return out


def bpf_progs(path):
    """{prog id: (name, run_time_ns, run_cnt)} for programs named sw_*."""
    data = json.loads(read(path) or "[]")
    res = {}
    for p in data:
        name = p.get("name", "")
        if name.startswith("sw_"):
            res[p["id"]] = (name, int(p.get("run_time_ns", 0)), int(p.get("run_cnt", 0)))
    return res


def cpu_ticks(path):
    # comm (field 2) may contain spaces and ')': split after the last ')'.
    rest = read(path).rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state); utime/stime are fields 14/15.
    return int(rest[11]) + int(rest[12])


def vm_hwm_kb(path):
    m = re.search(r"^VmHWM:\s+(\d+)\s+kB", read(path), re.M)
    return int(m.group(1)) if m else None


def agent_stats(path):
    last = None
    for line in read(path).splitlines():
        line = ANSI.sub("", line)
        i = line.find("spanwire_stats {")
        if i >= 0:
            last = line[i + len("spanwire_stats "):].strip()
    return json.loads(last) if last else None


def sink_counts(path):
    last = None
    for line in read(path).splitlines():
        m = re.search(r"otlp-sink spans=(\d+) requests=(\d+)", ANSI.sub("", line))
        if m:
            last = (int(m.group(1)), int(m.group(2)))
    return last


def rnd(x, n=3):
    return None if x is None else round(x, n)


def main(d, clk_tck, duration):
    p = lambda name: os.path.join(d, name)
    problems = []
    base, agent = parse_wrk(p("wrk_base.txt")), parse_wrk(p("wrk_agent.txt"))
    for label, w in (("base", base), ("agent", agent)):
        for k in ("rps", "requests", "p50", "p99"):
            if w[k] is None:
                problems.append(f"wrk ({label}): could not parse {k}")
        if w["requests"] == 0:
            problems.append(f"wrk ({label}): no requests completed")
        if w["non2xx"]:
            problems.append(f"wrk ({label}): {w['non2xx']} non-2xx responses")

    before, after = bpf_progs(p("bpf_before.json")), bpf_progs(p("bpf_after.json"))
    # sw_* programs already loaded before our agent started belong to another
    # spanwire instance: leave them out.
    foreign = bpf_progs(p("bpf_pre.json")) if os.path.exists(p("bpf_pre.json")) else {}
    if foreign:
        print(f"bench: note: ignoring {len(foreign)} sw_* programs loaded before the agent started "
              "(another spanwire is running)", file=sys.stderr)
    run_ns = run_cnt = 0
    names = set()
    per_prog = {}  # name -> [run ns, runs]
    for pid_, (name, ns, cnt) in after.items():
        if pid_ in foreign:
            continue
        _, ns0, cnt0 = before.get(pid_, (name, 0, 0))
        run_ns += ns - ns0
        run_cnt += cnt - cnt0
        names.add(name)
        acc = per_prog.setdefault(name, [0, 0])
        acc[0] += ns - ns0
        acc[1] += cnt - cnt0
    if not names:
        problems.append("bpftool: no programs named sw_* loaded while the agent ran")

    ticks = cpu_ticks(p("stat_after")) - cpu_ticks(p("stat_before"))
    cpu_s = ticks / clk_tck
    hwm = vm_hwm_kb(p("status_after"))
    if hwm is None:
        problems.append("no VmHWM in /proc/PID/status")

    stats = agent_stats(p("agent.stderr"))
    if stats is None:
        problems.append("agent printed no 'spanwire_stats {json}' line on SIGTERM")
        stats = {}
    sink = sink_counts(p("sink.log"))
    if sink is None:
        problems.append("sink printed no 'otlp-sink spans=N requests=M' line on SIGTERM")

    reqs = agent["requests"]
    per_req = lambda x: None if (x is None or not reqs) else x / reqs
    sub = lambda a, b: None if (a is None or b is None) else round((a - b) * 1000, 1)
    bench = {
        "rps_baseline": base["rps"],
        "rps_agent": agent["rps"],
        "p50_added_us": sub(agent["p50"], base["p50"]),
        "p99_added_us": sub(agent["p99"], base["p99"]),
        "agent_cpu_us_per_req": rnd(per_req(cpu_s * 1e6)),
        "bpf_ns_per_req": rnd(per_req(run_ns), 1),
        "rss_mb": rnd(hwm / 1024 if hwm is not None else None, 1),
        "requests": reqs,
        "spans_exported": stats.get("spans_exported_total"),
        "spans_received": sink[0] if sink else None,
        "drops": stats.get("ringbuf_dropped_events_total"),
        "agent_cpu_s": rnd(cpu_s),
        "bpf_run_s": rnd(run_ns / 1e9, 4),
    }
    for k in ("spans_exported", "drops"):
        if bench[k] is None and stats:
            problems.append(f"spanwire_stats has no {'spans_exported_total' if k == 'spans_exported' else 'ringbuf_dropped_events_total'}")
    h2 = os.path.join(d, "bench_h2.json")
    if os.path.exists(h2):
        bench.update(json.loads(read(h2)))

    def pct(a, b):
        return "" if (a is None or b is None or b == 0) else f"{(a - b) / b * 100:+.1f}%"

    f = lambda x, fmt="{:.2f}": "n/a" if x is None else fmt.format(x)
    rows = [
        ("requests/s", f(base["rps"]), f(agent["rps"]), pct(agent["rps"], base["rps"])),
        ("p50 latency (ms)", f(base["p50"], "{:.3f}"), f(agent["p50"], "{:.3f}"), pct(agent["p50"], base["p50"])),
        ("p99 latency (ms)", f(base["p99"], "{:.3f}"), f(agent["p99"], "{:.3f}"), pct(agent["p99"], base["p99"])),
        ("requests", f(base["requests"], "{}"), f(reqs, "{}"), ""),
        ("socket errors", f(base["errors"], "{}"), f(agent["errors"], "{}"), ""),
    ]
    print(f"\nspanwire overhead benchmark (wrk -t2 -c50 -d{duration}, GET /hello)\n")
    print(f"  {'':<22}{'base':>14}{'with agent':>14}{'change':>11}")
    for r in rows:
        print(f"  {r[0]:<22}{r[1]:>14}{r[2]:>14}{r[3]:>11}")
    print()
    detail = [
        ("spans exported (agent)", f(bench["spans_exported"], "{}")),
        ("spans received (sink)", f(bench["spans_received"], "{}")),
        ("OTLP export requests (sink)", f(sink[1] if sink else None, "{}")),
        ("ring buffer drops", f(bench["drops"], "{}")),
        ("agent CPU (s)", f(bench["agent_cpu_s"], "{:.3f}")),
        ("agent CPU per request (us)", f(bench["agent_cpu_us_per_req"], "{:.3f}")),
        ("agent peak RSS (MiB)", f(bench["rss_mb"], "{:.1f}")),
        ("eBPF run time (s)", f(bench["bpf_run_s"], "{:.4f}")),
        ("eBPF runs", f(run_cnt, "{}")),
        ("eBPF ns per request", f(bench["bpf_ns_per_req"], "{:.1f}")),
        ("eBPF programs (sw_*)", ", ".join(sorted(names)) or "none"),
    ]
    for k, v in detail:
        print(f"  {k:<30}{v}")
    busy = sorted(((ns, cnt, name) for name, (ns, cnt) in per_prog.items() if cnt > 0), reverse=True)
    if busy and reqs:
        print(f"\n  {'eBPF program':<22}{'runs/req':>10}{'ns/run':>10}{'ns/req':>10}")
        for ns, cnt, name in busy[:8]:
            print(f"  {name:<22}{cnt / reqs:>10.2f}{ns / cnt:>10.0f}{ns / reqs:>10.0f}")
    print()
    if problems:
        for pr in problems:
            print(f"bench: ERROR: {pr}", file=sys.stderr)
        return 1
    print("BENCH " + json.dumps(bench, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
PY
}

# Fake inputs in the exact formats the real tools print; checks the parser.
SELF_TEST_DIR=""
self_test() {
    SELF_TEST_DIR="$(mktemp -d)"
    trap 'rm -rf "$SELF_TEST_DIR"' EXIT
    local d="$SELF_TEST_DIR"
    write_report_py "$d/report.py"
    cat >"$d/wrk_base.txt" <<'EOF'
Running 10s test @ http://127.0.0.1:41234/hello
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   615.21us    1.02ms  28.03ms   95.12%
    Req/Sec    45.10k     3.71k   52.80k    70.50%
  Latency Distribution
     50%  410.00us
     75%  601.00us
     90%    1.00ms
     99%    5.52ms
  897654 requests in 10.00s, 107.86MB read
Requests/sec:  89765.40
Transfer/sec:     10.79MB
EOF
    cat >"$d/wrk_agent.txt" <<'EOF'
Running 10s test @ http://127.0.0.1:41234/hello
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.90ms    1.50ms   1.02s    94.00%
    Req/Sec    40.00k     3.00k   45.00k    70.00%
  Latency Distribution
     50%  500.00us
     75%  800.00us
     90%    1.50ms
     99%    1.20s
  800000 requests in 10.00s, 96.13MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  80000.00
Transfer/sec:      9.61MB
EOF
    cat >"$d/bpf_before.json" <<'EOF'
[{"id":7,"type":"cgroup_skb","name":"other","tag":"6deef7357e7b4530","gpl_compatible":true},{"id":41,"type":"tracepoint","name":"sw_sys_enter_re","tag":"aa","gpl_compatible":true,"run_time_ns":1000,"run_cnt":10},{"id":42,"type":"tracepoint","name":"sw_sys_exit_rea","tag":"bb","gpl_compatible":true}]
EOF
    cat >"$d/bpf_after.json" <<'EOF'
[{"id":7,"type":"cgroup_skb","name":"other","tag":"6deef7357e7b4530","gpl_compatible":true,"run_time_ns":99999999,"run_cnt":5},{"id":41,"type":"tracepoint","name":"sw_sys_enter_re","tag":"aa","gpl_compatible":true,"run_time_ns":400001000,"run_cnt":1600010},{"id":42,"type":"tracepoint","name":"sw_sys_exit_rea","tag":"bb","gpl_compatible":true,"run_time_ns":400000000,"run_cnt":1600000},{"id":43,"type":"tracepoint","name":"sw_sched_exit","tag":"cc","gpl_compatible":true,"run_time_ns":0,"run_cnt":0}]
EOF
    echo '[{"id":5,"type":"tracepoint","name":"sw_foreign","run_time_ns":7,"run_cnt":1}]' >"$d/bpf_pre.json"
    sed 's/^\[/[{"id":5,"type":"tracepoint","name":"sw_foreign","run_time_ns":999999999,"run_cnt":9},/' \
        "$d/bpf_after.json" >"$d/x" && mv "$d/x" "$d/bpf_after.json"
    echo '4242 (spanwire) S 1 4242 4242 0 -1 4194560 900 0 0 0 100 20 0 0 20 0 5 0 12345 0 0' >"$d/stat_before"
    echo '4242 (span wire) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 350 70 0 0 20 0 5 0 12345 0 0' >"$d/stat_after"
    printf 'Name:\tspanwire\nVmPeak:\t  200000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\n' >"$d/status_after"
    printf '%s\n' \
        '2026-01-01T00:00:00Z  INFO spanwire: capture started pids=[123]' \
        'spanwire_stats {"spans_exported_total":1,"ringbuf_dropped_events_total":9}' \
        $'\e[2m2026-01-01T00:00:10Z\e[0m \e[32m INFO\e[0m spanwire_stats {"spans_exported_total":799990,"ringbuf_dropped_events_total":3,"events_total":1600000}' \
        >"$d/agent.stderr"
    printf 'otlp-sink listening grpc=127.0.0.1:1 http=127.0.0.1:2\notlp-sink spans=799990 requests=1700\n' >"$d/sink.log"

    local out rc=0
    out="$(python3 "$d/report.py" "$d" 100 10s)" || rc=$?
    echo "$out"
    [[ $rc -eq 0 ]] || die "self-test: report exited $rc"
    [[ "$(tail -n1 <<<"$out")" == BENCH\ * ]] || die "self-test: last line is not BENCH"
    [[ "$(grep -c '^BENCH ' <<<"$out")" -eq 1 ]] || die "self-test: not exactly one BENCH line"
    python3 - "$(tail -n1 <<<"$out" | cut -d' ' -f2-)" <<'PY' || die "self-test: wrong values"
import json, sys
b = json.loads(sys.argv[1])
want = {
    "rps_baseline": 89765.40, "rps_agent": 80000.0, "p50_added_us": 90.0, "p99_added_us": 1194480.0,
    "requests": 800000, "spans_exported": 799990, "spans_received": 799990,
    "drops": 3, "agent_cpu_s": 3.0, "agent_cpu_us_per_req": 3.75,
    "bpf_ns_per_req": 1000.0, "bpf_run_s": 0.8, "rss_mb": 50.0,
}
assert set(b) == set(want), sorted(set(b) ^ set(want))
bad = {k: (b[k], v) for k, v in want.items() if abs(b[k] - v) > 1e-9}
assert not bad, bad
PY
    # A missing stats line must fail without a BENCH line.
    grep -v spanwire_stats "$d/agent.stderr" >"$d/x" && mv "$d/x" "$d/agent.stderr"
    rc=0
    out="$(python3 "$d/report.py" "$d" 100 10s 2>/dev/null)" || rc=$?
    [[ $rc -ne 0 ]] || die "self-test: missing spanwire_stats did not fail"
    ! grep -q '^BENCH ' <<<"$out" || die "self-test: BENCH printed despite failure"
    echo "bench self-test: 2 passed, 0 failed"
}

if [[ "$SELF_TEST" -eq 1 ]]; then
    self_test
    exit 0
fi

# --- set up and build ---------------------------------------------------------
# shellcheck source=integration/setup.sh
source "$HERE/setup.sh"
cd "$SPANWIRE_ROOT"

BENCH_DIR="$SPANWIRE_ROOT/target/bench"
RUN="$BENCH_DIR/run"
rm -rf "$RUN"
mkdir -p "$RUN"

log "building otlp-sink"
cargo build --release -p otlp-sink || die "cargo build --release -p otlp-sink failed"
log "building Go test server (integration/servers/go-http)"
(cd "$SPANWIRE_ROOT/integration/servers/go-http" && go build -o "$BENCH_DIR/gohttp" .) ||
    die "go build of integration/servers/go-http failed"

AGENT_BIN="$SPANWIRE_ROOT/target/release/spanwire"
SINK_BIN="$SPANWIRE_ROOT/target/release/otlp-sink"
for b in "$AGENT_BIN" "$SINK_BIN" "$BENCH_DIR/gohttp"; do
    [[ -x "$b" ]] || die "missing binary $b"
done
write_report_py "$RUN/report.py"

# --- process bookkeeping ------------------------------------------------------
SERVER_PID=""
SINK_PID=""
AGENT_PID=""
BPF_STATS_OLD=""
OK=0

stop_pid() { # pid [timeout_s]: SIGTERM, wait, SIGKILL
    local pid="$1" t="${2:-10}" i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for ${t}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$AGENT_PID" 5
    stop_pid "$SINK_PID" 5
    stop_pid "$SERVER_PID" 5
    if [[ -n "$BPF_STATS_OLD" ]]; then
        sysctl -q -w kernel.bpf_stats_enabled="$BPF_STATS_OLD" >/dev/null 2>&1 || true
    fi
    if [[ $rc -ne 0 || "$OK" -ne 1 ]]; then
        log "logs kept in $RUN"
    elif [[ "$KEEP" -ne 1 ]]; then
        rm -rf "$RUN"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for_line() { # file fixed-string timeout_s pid what
    local file="$1" pat="$2" t="$3" pid="$4" what="$5" i
    for ((i = 0; i < t * 10; i++)); do
        if grep -qF -- "$pat" "$file" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$what exited before printing '$pat'; last output:"
            tail -n 30 "$file" >&2 || true
            die "$what did not start"
        fi
        sleep 0.1
    done
    log "$what printed no '$pat' within ${t}s; last output:"
    tail -n 30 "$file" >&2 || true
    die "$what did not become ready within ${t}s"
}

run_wrk() { # out_file
    log "wrk -t2 -c50 -d$DURATION --latency $URL"
    wrk -t2 -c50 -d"$DURATION" --latency "$URL" >"$1" 2>&1 || {
        cat "$1" >&2
        die "wrk failed"
    }
    cat "$1" >&2
}

# --- start the test server and the sink ---------------------------------------
PORT="$(free_port)"
SINK_GRPC="$(free_port)"
SINK_HTTP="$(free_port)"
while [[ "$SINK_GRPC" == "$PORT" ]]; do SINK_GRPC="$(free_port)"; done
while [[ "$SINK_HTTP" == "$PORT" || "$SINK_HTTP" == "$SINK_GRPC" ]]; do SINK_HTTP="$(free_port)"; done
URL="http://127.0.0.1:$PORT/hello"

"$BENCH_DIR/gohttp" -addr "127.0.0.1:$PORT" >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
wait_for_line "$RUN/server.log" "listening on" 15 "$SERVER_PID" "Go test server"
curl -fsS -o /dev/null --max-time 5 "$URL" || die "GET $URL failed"

"$SINK_BIN" --grpc "127.0.0.1:$SINK_GRPC" --http "127.0.0.1:$SINK_HTTP" >"$RUN/sink.log" 2>&1 &
SINK_PID=$!
wait_for_line "$RUN/sink.log" "otlp-sink listening" 15 "$SINK_PID" "otlp-sink"

# --- (a) without the agent ----------------------------------------------------
log "phase (a): without the agent"
run_wrk "$RUN/wrk_base.txt"

# --- (b) with the agent -------------------------------------------------------
log "phase (b): with the agent"
BPF_STATS_OLD="$(sysctl -n kernel.bpf_stats_enabled)"
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null || die "cannot enable kernel.bpf_stats_enabled"

bpftool prog show --json >"$RUN/bpf_pre.json"
# The agent pinned to CPU 1 (one core, as issue 8 measures it); wrk and the server float.
env OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_GRPC" OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
    taskset -c 1 "$AGENT_BIN" run --pid "$SERVER_PID" >"$RUN/agent.stdout" 2>"$RUN/agent.stderr" &
AGENT_PID=$!
wait_for_line "$RUN/agent.stderr" "capture started" 30 "$AGENT_PID" "spanwire agent"

bpftool prog show --json >"$RUN/bpf_before.json"
cat "/proc/$AGENT_PID/stat" >"$RUN/stat_before"
run_wrk "$RUN/wrk_agent.txt"
# Let the batch exporter drain so its CPU is counted.
sleep 2
kill -0 "$AGENT_PID" 2>/dev/null || die "agent died during the run (see $RUN/agent.stderr)"
bpftool prog show --json >"$RUN/bpf_after.json"
cat "/proc/$AGENT_PID/stat" >"$RUN/stat_after"
cat "/proc/$AGENT_PID/status" >"$RUN/status_after"

log "stopping the agent (SIGTERM)"
stop_pid "$AGENT_PID" 20
AGENT_PID=""
log "stopping otlp-sink (SIGTERM)"
stop_pid "$SINK_PID" 10
SINK_PID=""

# --- (c) HTTP/2 and gRPC: h2load, base vs agent (integration/bench_h2.py) -----
log "phase (c): HTTP/2 (h2c) and gRPC under h2load"
H2_DIR="$BENCH_DIR/h2"
mkdir -p "$H2_DIR/run"
(cd "$SPANWIRE_ROOT/integration/servers/h2c" && GOTOOLCHAIN=local go build -o "$H2_DIR/" ./...) ||
    die "go build of integration/servers/h2c failed"
(cd "$SPANWIRE_ROOT/integration/servers/grpc/go" && GOTOOLCHAIN=local go build -o "$H2_DIR/" ./...) ||
    die "go build of integration/servers/grpc/go failed"
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
SW_BENCH_BIN="$H2_DIR" SW_BENCH_RUN="$H2_DIR/run" SW_BENCH_DURATION="$H2_SECONDS" \
    python3 "$HERE/bench_h2.py" >"$RUN/bench_h2.txt" || {
    cat "$RUN/bench_h2.txt" >&2
    die "HTTP/2 phase failed (logs in $H2_DIR/run)"
}
sysctl -q -w kernel.bpf_stats_enabled="$BPF_STATS_OLD" >/dev/null || true
BPF_STATS_OLD=""
grep -v '^BENCH_H2 ' "$RUN/bench_h2.txt" >&2
grep '^BENCH_H2 ' "$RUN/bench_h2.txt" | cut -d' ' -f2- >"$RUN/bench_h2.json"

[[ "$KEEP" -eq 1 ]] && log "logs in $RUN"
python3 "$RUN/report.py" "$RUN" "$(getconf CLK_TCK)" "$DURATION" || die "incomplete results"
OK=1
