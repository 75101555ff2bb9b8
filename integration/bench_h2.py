"""HTTP/2 and gRPC overhead benchmark: h2load against the Go h2c server and the grpc-go
Echo server, without and then with the agent (exporting OTLP/gRPC to otlp-sink).

Run through integration/bench_h2.sh (root; builds everything). Prints a table per load and
ends with exactly one line `BENCH_H2 {json}`.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

from bench_common import agent_stats, bpf_runs, cpu_ticks, free_port, stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ["SW_BENCH_BIN"]  # directory with the built Go servers
RUN = os.environ["SW_BENCH_RUN"]  # scratch directory for logs
DURATION = os.environ.get("SW_BENCH_DURATION", "10")
AGENT = os.path.join(ROOT, "target/release/spanwire")
SINK = os.path.join(ROOT, "target/release/otlp-sink")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def wait_line(path, needle, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and needle in open(path, errors="replace").read():
            return
        if proc.poll() is not None:
            raise SystemExit(f"bench_h2: {path}: process exited before printing {needle!r}")
        time.sleep(0.05)
    raise SystemExit(f"bench_h2: {path}: no {needle!r} within {timeout}s")


def start(name, argv, env=None):
    out = open(os.path.join(RUN, name + ".log"), "w")
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env), out.name


def grpc_body():
    """One gRPC message: uncompressed, StringValue{value: "ok"}."""
    msg = b"\x0a\x02ok"
    path = os.path.join(RUN, "grpc_body.bin")
    with open(path, "wb") as f:
        f.write(b"\x00" + len(msg).to_bytes(4, "big") + msg)
    return path


def h2load(label, url, extra):
    log = os.path.join(RUN, f"h2load_{label}.tsv")
    argv = ["h2load", "-c", "10", "-m", "10", "-t", "1", "-D", DURATION, f"--log-file={log}", *extra, url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=int(DURATION) + 60)
    text = out.stdout + out.stderr
    open(os.path.join(RUN, f"h2load_{label}.txt"), "w").write(text)
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    rps = re.search(r"finished in [0-9.]+\w+, ([0-9.]+) req/s", text)
    if out.returncode != 0 or not m or not rps:
        raise SystemExit(f"bench_h2: h2load {label} failed:\n{text}")
    lat = sorted(int(line.split("\t")[2]) for line in open(log) if line.count("\t") >= 2)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None
    return {"rps": float(rps.group(1)), "done": int(m.group(2)), "ok": int(m.group(3)), "failed": int(m.group(4)),
            "p50_us": pct(0.50), "p99_us": pct(0.99), "mean_us": statistics.fmean(lat) if lat else None}


def phase(name, server_argv, url, extra):
    port = free_port()
    server, _ = start(f"{name}_server", [a.replace("PORT", str(port)) for a in server_argv])
    try:
        time.sleep(1.0)
        url = url.replace("PORT", str(port))
        base = h2load(f"{name}_base", url, extra)
        sink_grpc, sink_http = free_port(), free_port()
        sink, sink_log = start(f"{name}_sink", [SINK, "--grpc", f"127.0.0.1:{sink_grpc}", "--http", f"127.0.0.1:{sink_http}"])
        wait_line(sink_log, "otlp-sink listening", sink)
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink_grpc}",
                   OTEL_EXPORTER_OTLP_PROTOCOL="grpc", SPANWIRE_LOGS="0")
        # The agent on CPU 1 (issue 8's setup); load and server share the machine.
        agent, agent_log = start(f"{name}_agent", ["taskset", "-c", "1", AGENT, "run", "--pid", str(server.pid)], env)
        wait_line(agent_log, "capture started", agent)
        bpf0, cpu0 = bpf_runs(), cpu_ticks(agent.pid)
        with_agent = h2load(f"{name}_agent", url, extra)
        time.sleep(2)  # let the exporter drain so its CPU is counted
        bpf1, cpu1 = bpf_runs(), cpu_ticks(agent.pid)
        hwm = int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{agent.pid}/status").read()).group(1))
        stop(agent)
        stop(sink)
        stats = agent_stats(agent_log) or {}
        received = None
        for line in open(sink_log, errors="replace"):
            m = re.search(r"otlp-sink spans=(\d+)", line)
            if m:
                received = int(m.group(1))
    finally:
        stop(server)
    reqs = with_agent["done"]
    run_ns = sum(ns - bpf0.get(i, (0, 0))[0] for i, (ns, _) in bpf1.items())
    return {
        "rps_baseline": base["rps"], "rps_agent": with_agent["rps"],
        "p50_added_us": with_agent["p50_us"] - base["p50_us"], "p99_added_us": with_agent["p99_us"] - base["p99_us"],
        "agent_cpu_us_per_req": round((cpu1 - cpu0) / CLK_TCK * 1e6 / reqs, 3) if reqs else None,
        "bpf_ns_per_req": round(run_ns / reqs, 1) if reqs else None,
        "rss_mb": round(hwm / 1024, 1), "requests": reqs, "failed_requests": with_agent["failed"],
        "spans_exported": stats.get("spans_exported_total"), "spans_received": received,
        "drops": stats.get("ringbuf_dropped_events_total"),
        "hpack_desync": stats.get("http2_hpack_desync_total"), "lost_sync": stats.get("http2_lost_sync_total"),
    }


def main():
    results = {
        "h2c": phase("h2c", [os.path.join(BIN, "h2c-server"), "--port", "PORT"], "http://127.0.0.1:PORT/hello", []),
        "grpc": phase("grpc", [os.path.join(BIN, "grpc-echo-server"), "--port", "PORT"],
                      "http://127.0.0.1:PORT/spanwire.test.Echo/Unary",
                      ["-d", grpc_body(), "-H", "content-type: application/grpc", "-H", "te: trailers"]),
    }
    print(f"\nspanwire HTTP/2 + gRPC overhead (h2load -c10 -m10 -D{DURATION}; agent pinned to CPU 1)\n")
    keys = list(results["h2c"].keys())
    print(f"  {'':<24}{'h2c GET /hello':>18}{'gRPC Echo/Unary':>18}")
    for k in keys:
        print(f"  {k:<24}{str(results['h2c'][k]):>18}{str(results['grpc'][k]):>18}")
    problems = []
    for name, r in results.items():
        if r["spans_exported"] is None or r["spans_received"] is None:
            problems.append(f"{name}: no span counts")
        elif r["requests"] and r["spans_received"] < r["requests"]:
            problems.append(f"{name}: {r['requests']} requests but {r['spans_received']} spans received")
    print()
    for p in problems:
        print(f"bench_h2: LOST SPANS: {p}", file=sys.stderr)
    print("BENCH_H2 " + json.dumps(results, separators=(",", ":")))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
