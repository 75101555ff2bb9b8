"""Log-capture overhead benchmark (issue 5): what capturing stdout/stderr costs the agent.

Run through integration/bench_logs.sh (root; builds everything, enables kernel.bpf_stats_enabled).

Phases, one agent per phase, each exporting OTLP/gRPC to a fresh otlp-sink:
  http_base       wrk against the Go server started with -log-requests (one JSON line, one
                  write(2), per request), no agent
  http_logs_off   the same with `spanwire run --pid SERVER` and SPANWIRE_LOGS=0
  http_logs_on    the same with logs on (default config: 200 captured writes/s per process)
  http_logs_all   logs on with the per-process rate limit raised so every line is captured
  writer_default  a pure log writer (RATE lines/s to a file, one write each, no requests) with the
                  agent on and the default rate limit: records exported vs written, drops
  writer_all      the same writer with the limit raised: agent CPU and eBPF ns per log line

Agent CPU comes from /proc/PID/stat; eBPF run time from bpftool (kernel.bpf_stats_enabled) for this
agent's sw_* programs only, minus the background measured while idle before each phase (the syscall
tracepoints fire for every process on the machine). Prints a table and ends with exactly one line
`BENCH_LOGS {json}`; exits 1 if spans went missing without being counted or no log records arrived.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

from bench_common import agent_stats, bpf_runs, cpu_ticks, free_port, stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ["SW_BENCH_RUN"]  # scratch directory for logs
SERVER = os.environ["SW_BENCH_SERVER"]  # the built Go test server (integration/servers/go-http)
DURATION = int(os.environ.get("SW_BENCH_DURATION", "10"))
WRITER_RATE = int(os.environ.get("SW_BENCH_WRITER_RATE", "20000"))
WRITER_SECONDS = int(os.environ.get("SW_BENCH_WRITER_SECONDS", str(DURATION)))
AGENT = os.path.join(ROOT, "target/release/spanwire")
SINK = os.path.join(ROOT, "target/release/otlp-sink")
CLK_TCK = os.sysconf("SC_CLK_TCK")
IDLE_S = int(os.environ.get("SW_BENCH_IDLE_SECONDS", "3"))  # background eBPF time is measured this long first
UNLIMITED = 100_000_000  # logs.rate_per_process_per_s high enough never to bind
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

WRITER = r"""
import os, sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
fd = sys.stdout.fileno()
n, t0 = 0, time.monotonic()
sys.stderr.write("writer ready\n"); sys.stderr.flush()
os.read(0, 1)  # start when the driver says so
t0 = time.monotonic()
while True:
    el = time.monotonic() - t0
    if el >= seconds:
        break
    due = min(int(el * rate) + 1, int(seconds * rate))
    while n < due:
        os.write(fd, b'{"level":"info","msg":"tick","n":%d}\n' % n)
        n += 1
    time.sleep(0.001)
sys.stderr.write("writer lines=%d seconds=%.3f\n" % (n, time.monotonic() - t0)); sys.stderr.flush()
os.read(0, 1)  # stay alive until the agent has been stopped
"""


def text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return ANSI.sub("", f.read())


def wait_line(path, needle, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and needle in text(path):
            return
        if proc.poll() is not None:
            raise SystemExit(f"bench_logs: {path}: process exited before printing {needle!r}:\n{text(path)[-2000:]}")
        time.sleep(0.05)
    raise SystemExit(f"bench_logs: {path}: no {needle!r} within {timeout}s")


PROCS = []  # everything started, stopped in reverse order on the way out


def start(name, argv, env=None, **kw):
    out = open(os.path.join(RUN, name + ".log"), "w")
    proc = subprocess.Popen(argv, stdout=kw.pop("stdout", out), stderr=out, env=env, **kw)
    PROCS.append(proc)
    return proc, out.name


def sink_logs(path):
    m = re.findall(r"otlp-sink spans=(\d+) requests=\d+ logs=(\d+)", text(path))
    return (int(m[-1][0]), int(m[-1][1])) if m else (None, None)


def wrk(label, url):
    argv = ["wrk", "-t2", "-c50", f"-d{DURATION}s", "--latency", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=DURATION + 60)
    t = out.stdout + out.stderr
    open(os.path.join(RUN, f"wrk_{label}.txt"), "w").write(t)
    rps = re.search(r"^\s*Requests/sec:\s*([0-9.]+)", t, re.M)
    reqs = re.search(r"^\s*(\d+) requests in", t, re.M)
    if out.returncode != 0 or not rps or not reqs:
        raise SystemExit(f"bench_logs: wrk {label} failed:\n{t}")
    return {"rps": float(rps.group(1)), "requests": int(reqs.group(1))}


class Agent:
    """spanwire pinned to CPU 1, exporting to its own otlp-sink; measures CPU and eBPF time between
    begin() and end()."""

    def __init__(self, label, pid, logs, rate=None):
        self.label = label
        sg, sh = free_port(), free_port()
        self.sink, self.sink_log = start(f"{label}_sink", [SINK, "--grpc", f"127.0.0.1:{sg}", "--http", f"127.0.0.1:{sh}"])
        wait_line(self.sink_log, "otlp-sink listening", self.sink)
        argv = ["taskset", "-c", "1", AGENT, "run", "--pid", str(pid)]
        if rate is not None:
            cfg = os.path.join(RUN, f"{label}.yaml")
            with open(cfg, "w") as f:
                f.write(f"logs:\n  rate_per_process_per_s: {rate}\n")
            argv[5:5] = ["--config", cfg]
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sg}",
                   OTEL_EXPORTER_OTLP_PROTOCOL="grpc", SPANWIRE_LOGS="1" if logs else "0")
        self.foreign = set(bpf_runs())  # sw_* programs of another spanwire already running
        self.proc, self.log = start(f"{label}_agent", argv, env)
        wait_line(self.log, "capture started", self.proc)

    def begin(self):
        # Our programs: the sw_* ones that appeared while this agent started (another spanwire
        # started later by someone else on the machine is not counted).
        bpf = bpf_runs()
        self.mine = set(bpf) - self.foreign
        # The tracepoints fire for every process's syscalls (rejected early by the pid filter):
        # measure that background for IDLE_S with no load and subtract it from the phase.
        time.sleep(IDLE_S)
        bpf_idle = bpf_runs()
        self.idle_ns_per_s = sum(bpf_idle[i][0] - bpf[i][0] for i in self.mine if i in bpf_idle) / IDLE_S
        self.bpf0, self.cpu0, self.t0 = bpf_idle, cpu_ticks(self.proc.pid), time.monotonic()

    def end(self):
        time.sleep(2)  # let the exporter drain so its CPU is counted
        if self.proc.poll() is not None:
            raise SystemExit(f"bench_logs: agent died during {self.label} (see {self.log})")
        bpf1, cpu1 = bpf_runs(), cpu_ticks(self.proc.pid)
        elapsed = time.monotonic() - self.t0
        hwm = int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{self.proc.pid}/status").read()).group(1))
        stop(self.proc)
        stop(self.sink)
        stats = agent_stats(self.log)
        if stats is None:
            raise SystemExit(f"bench_logs: {self.label}: agent printed no spanwire_stats line")
        spans, logs = sink_logs(self.sink_log)
        if logs is None:
            raise SystemExit(f"bench_logs: {self.label}: sink printed no 'otlp-sink spans=… logs=…' line")
        ids = [i for i in bpf1 if i in self.mine]
        if not ids:
            raise SystemExit(f"bench_logs: {self.label}: no sw_* programs of this agent in bpftool's list")
        raw = sum(bpf1[i][0] - self.bpf0.get(i, (0, 0))[0] for i in ids)
        return {
            "cpu_s": (cpu1 - self.cpu0) / CLK_TCK,
            "bpf_ns_raw": raw,
            "bpf_ns": max(0.0, raw - self.idle_ns_per_s * elapsed),
            "bpf_background_ns_per_s": round(self.idle_ns_per_s),
            "bpf_runs": sum(bpf1[i][1] - self.bpf0.get(i, (0, 0))[1] for i in ids),
            "rss_mb": round(hwm / 1024, 1),
            "stats": stats, "spans_received": spans, "logs_received": logs,
        }


def diff(a, b):
    return None if a is None or b is None else round(a - b, 3)


def per(x, n, scale=1.0, nd=3):
    return round(x * scale / n, nd) if n else None


def http_phase(label, url, server_pid, server_log, logs, rate=None):
    lines0 = text(server_log).count('"msg":"request"')
    agent = Agent(label, server_pid, logs, rate)
    agent.begin()
    w = wrk(label, url)
    m = agent.end()
    lines = text(server_log).count('"msg":"request"') - lines0
    st = m["stats"]
    return {
        "rps": w["rps"], "requests": w["requests"], "log_lines_written": lines,
        "agent_cpu_us_per_req": per(m["cpu_s"], w["requests"], 1e6),
        "bpf_ns_per_req": per(m["bpf_ns"], w["requests"], 1, 1),
        "bpf_ns_per_req_raw": per(m["bpf_ns_raw"], w["requests"], 1, 1),
        "bpf_runs_per_req": per(m["bpf_runs"], w["requests"], 1, 2),
        "bpf_background_ns_per_s": m["bpf_background_ns_per_s"],
        "spans_exported": st.get("spans_exported_total"), "spans_received": m["spans_received"],
        "spans_queue_dropped": st.get("spans_queue_dropped_total"),
        "log_records_exported": st.get("log_records_exported_total"), "log_records_received": m["logs_received"],
        "log_writes_rate_limited": st.get("log_writes_rate_limited_total"),
        "log_lines_dropped": st.get("log_lines_dropped_total"),
        "ringbuf_drops": st.get("ringbuf_dropped_events_total"),
        "agent_cpu_s": round(m["cpu_s"], 3), "rss_mb": m["rss_mb"],
    }


def writer_phase(label, rate):
    out_path = os.path.join(RUN, f"{label}_stdout.log")
    with open(out_path, "wb") as out:
        w, wlog = start(f"{label}_writer", [sys.executable, "-c", WRITER, str(WRITER_RATE), str(WRITER_SECONDS)],
                        stdout=out, stdin=subprocess.PIPE)
    try:
        wait_line(wlog, "writer ready", w)
        agent = Agent(label, w.pid, True, rate)
        agent.begin()
        w.stdin.write(b"g")
        w.stdin.flush()
        wait_line(wlog, "writer lines=", w, timeout=WRITER_SECONDS + 30)
        m = agent.end()
    finally:
        if w.poll() is None:
            w.stdin.close()
            w.wait(10)
    # + 1: the writer's "writer lines=N" status line on stderr is captured too.
    lines = int(re.search(r"writer lines=(\d+)", text(wlog)).group(1)) + 1
    with open(out_path, "rb") as f:
        on_disk = f.read().count(b"\n")
    st = m["stats"]
    exported = st.get("log_records_exported_total")
    return {
        "lines_written": lines, "lines_per_s": round(lines / WRITER_SECONDS), "lines_in_file": on_disk,
        "log_records_exported": exported, "log_records_received": m["logs_received"],
        "log_writes_rate_limited": st.get("log_writes_rate_limited_total"),
        "log_lines_dropped": st.get("log_lines_dropped_total"),
        "ringbuf_drops": st.get("ringbuf_dropped_events_total"),
        "agent_cpu_us_per_line": per(m["cpu_s"], lines, 1e6),
        "agent_cpu_us_per_exported_line": per(m["cpu_s"], exported or 0, 1e6),
        "bpf_ns_per_line": per(m["bpf_ns"], lines, 1, 1),
        "bpf_ns_per_line_raw": per(m["bpf_ns_raw"], lines, 1, 1),
        "bpf_runs_per_line": per(m["bpf_runs"], lines, 1, 2),
        "bpf_background_ns_per_s": m["bpf_background_ns_per_s"],
        "agent_cpu_s": round(m["cpu_s"], 3), "rss_mb": m["rss_mb"],
    }


def main():
    port = free_port()
    server, server_log = start("server", [SERVER, "-addr", f"127.0.0.1:{port}", "-log-requests"])
    try:
        wait_line(server_log, "listening on", server)
        url = f"http://127.0.0.1:{port}/hello"
        base = wrk("base", url)
        http = {
            "logs_off": http_phase("http_logs_off", url, server.pid, server_log, False),
            "logs_on": http_phase("http_logs_on", url, server.pid, server_log, True),
            "logs_all": http_phase("http_logs_all", url, server.pid, server_log, True, UNLIMITED),
        }
    finally:
        stop(server)
    writer = {
        "default_limit": writer_phase("writer_default", None),
        "unlimited": writer_phase("writer_all", UNLIMITED),
    }

    print(f"\nspanwire log-capture overhead (wrk -t2 -c50 -d{DURATION}s against the Go server writing one log "
          f"line per request; agent pinned to CPU 1)\n")
    cols = [("no agent", None), ("logs off", "logs_off"), ("logs on", "logs_on"), ("logs on, no limit", "logs_all")]
    keys = ["rps", "requests", "log_lines_written", "agent_cpu_us_per_req", "bpf_ns_per_req", "bpf_ns_per_req_raw",
            "bpf_runs_per_req", "bpf_background_ns_per_s", "spans_exported",
            "spans_received", "spans_queue_dropped", "log_records_exported", "log_records_received", "log_writes_rate_limited",
            "log_lines_dropped", "ringbuf_drops", "rss_mb"]
    print(f"  {'':<26}" + "".join(f"{c:>19}" for c, _ in cols))
    for k in keys:
        row = [base.get(k, "") if key is None else http[key][k] for _, key in cols]
        print(f"  {k:<26}" + "".join(f"{'' if v is None else v!s:>19}" for v in row))
    print(f"\npure log writer ({WRITER_RATE} lines/s for {WRITER_SECONDS}s, one write(2) per line, no requests)\n")
    print(f"  {'':<32}{'default limit':>16}{'no limit':>16}")
    for k in writer["unlimited"]:
        print(f"  {k:<32}" + "".join(f"{'' if v is None else v!s:>16}" for v in
                                       (writer["default_limit"][k], writer["unlimited"][k])))
    print()

    problems = []
    for name, r in http.items():
        # Spans the agent dropped and counted (export queue full) are reported, not a failure;
        # spans that vanished without being counted are.
        unaccounted = r["requests"] - (r["spans_received"] or 0) - (r["spans_queue_dropped"] or 0)
        if r["spans_received"] is None or unaccounted > 0:
            problems.append(f"http {name}: {r['requests']} requests, {r['spans_received']} spans received, "
                            f"{r['spans_queue_dropped']} counted as dropped")
        elif r["spans_queue_dropped"]:
            print(f"bench_logs: NOTE: http {name}: the export queue was full: {r['spans_queue_dropped']} spans and "
                  f"{r['log_lines_dropped']} log lines dropped (counted)", file=sys.stderr)
    if http["logs_off"]["log_records_exported"]:
        problems.append("logs off but log records were exported")
    for name, r in list(writer.items()) + [("http logs_all", http["logs_all"])]:
        if not r["log_records_exported"]:
            problems.append(f"{name}: no log records exported")
    for p in problems:
        print(f"bench_logs: PROBLEM: {p}", file=sys.stderr)
    bench = {
        "duration_s": DURATION,
        "rps_no_agent": base["rps"],
        "rps_logs_off": http["logs_off"]["rps"],
        "rps_logs_on": http["logs_on"]["rps"],
        "agent_cpu_us_per_req_logs_off": http["logs_off"]["agent_cpu_us_per_req"],
        "agent_cpu_us_per_req_logs_on": http["logs_on"]["agent_cpu_us_per_req"],
        "agent_cpu_us_per_req_logs_all": http["logs_all"]["agent_cpu_us_per_req"],
        "bpf_ns_per_req_logs_off": http["logs_off"]["bpf_ns_per_req"],
        "bpf_ns_per_req_logs_on": http["logs_on"]["bpf_ns_per_req"],
        "bpf_ns_per_req_logs_all": http["logs_all"]["bpf_ns_per_req"],
        "agent_cpu_us_per_log_line": writer["unlimited"]["agent_cpu_us_per_line"],
        "bpf_ns_per_log_line": writer["unlimited"]["bpf_ns_per_line"],
        # Extra agent CPU per request when each request's log line is exported too.
        "agent_cpu_us_per_log_line_http": diff(http["logs_all"]["agent_cpu_us_per_req"],
                                               http["logs_off"]["agent_cpu_us_per_req"]),
        "writer_lines_written": writer["default_limit"]["lines_written"],
        "writer_records_exported_default_limit": writer["default_limit"]["log_records_exported"],
        "writer_rate_limited_default_limit": writer["default_limit"]["log_writes_rate_limited"],
        "log_lines_dropped": sum((r["log_lines_dropped"] or 0) for r in list(http.values()) + list(writer.values())),
        "spans_queue_dropped": sum((r["spans_queue_dropped"] or 0) for r in http.values()),
        "ringbuf_drops": sum((r["ringbuf_drops"] or 0) for r in list(http.values()) + list(writer.values())),
        "http": http, "writer": writer,
    }
    print("BENCH_LOGS " + json.dumps(bench, separators=(",", ":")))
    return 1 if problems else 0


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    try:
        rc = main()
    finally:
        for proc in reversed(PROCS):
            stop(proc, 5)
    sys.exit(rc)
