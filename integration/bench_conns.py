"""Memory benchmark (issue 8): agent RSS with 10 000 open connections to 100 services.

Run through integration/bench_conns.sh (root; builds the Go server, the agent and otlp-sink).

100 Go test servers (OTEL_SERVICE_NAME=svc-00..svc-99, so 100 services with their own resources and
RED series) are observed with `spanwire run --exe gohttp`, exporting OTLP/gRPC to an otlp-sink. The
driver (not observed) then opens CONNS keep-alive connections spread evenly over the servers, sends
one request on each and keeps them open; later a second request on every connection, then closes
them all. The agent's VmRSS is sampled every 250 ms in each phase and split with /proc/PID/smaps into
the ring-buffer mapping (kernel memory sized by capture.ring_buffer_bytes, mapped twice, so counted
twice), the binary and the anonymous memory (heap, stacks). Peak (VmHWM) is reported too: it is
reached while the programs load (aya parses the kernel's BTF), before any connection.

Prints a table and ends with exactly one line `BENCH_CONNS {json}`; exits 1 if the agent did not
export one SERVER span per request or evicted connections.
"""
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

from bench_common import agent_stats, free_port, stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ["SW_BENCH_RUN"]
SERVER = os.environ["SW_BENCH_SERVER"]
SERVICES = int(os.environ.get("SW_BENCH_SERVICES", "100"))
CONNS = int(os.environ.get("SW_BENCH_CONNS", "10000"))
HOLD_S = float(os.environ.get("SW_BENCH_HOLD_SECONDS", "15"))
AGENT = os.path.join(ROOT, "target/release/spanwire")
SINK = os.path.join(ROOT, "target/release/otlp-sink")
PROCS = []


def start(name, argv, env=None):
    out = open(os.path.join(RUN, name + ".log"), "w")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    PROCS.append(proc)
    return proc, out.name


def wait_line(path, pattern, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, open(path, errors="replace").read())
        if m:
            return m
        if proc.poll() is not None:
            raise SystemExit(f"bench_conns: {path}: exited before printing {pattern!r}")
        time.sleep(0.05)
    raise SystemExit(f"bench_conns: {path}: no {pattern!r} within {timeout}s")


def memory(pid):
    """VmRSS split into ring-buffer mapping, the agent binary and anonymous memory (KiB)."""
    ring = binary = 0
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                name = parts[5] if len(parts) > 5 else ""
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                if name == "anon_inode:bpf-map":
                    ring += kib
                elif name.endswith("/spanwire"):
                    binary += kib
    status = open(f"/proc/{pid}/status").read()
    field = lambda k: int(re.search(rf"^{k}:\s+(\d+)", status, re.M).group(1))
    return {"rss": field("VmRSS"), "hwm": field("VmHWM"), "anon": field("RssAnon"), "ring": ring, "binary": binary}


def sample(pid, seconds):
    """Largest VmRSS seen (and its split) over `seconds`."""
    best = memory(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.25)
        m = memory(pid)
        if m["rss"] > best["rss"]:
            best = m
    return best


def request(sock, port):
    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    data = b""
    while not (b"\r\n\r\n" in data and data.endswith(b"hello\n")):
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(f"bench_conns: server on port {port} closed a connection")
        data += chunk


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = CONNS + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard) if hard != resource.RLIM_INFINITY else want,) * 2)
    ports = []
    for i in range(SERVICES):
        env = dict(os.environ, OTEL_SERVICE_NAME=f"svc-{i:02d}")
        proc, log = start(f"server{i}", [SERVER, "-addr", "127.0.0.1:0"], env)
        ports.append(int(wait_line(log, r"listening on 127\.0\.0\.1:(\d+)", proc).group(1)))
    grpc = free_port()
    sink, sink_log = start("sink", [SINK, "--grpc", f"127.0.0.1:{grpc}", "--http", f"127.0.0.1:{free_port()}"])
    wait_line(sink_log, "otlp-sink listening", sink)
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{grpc}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    agent, agent_log = start("agent", ["taskset", "-c", "1", AGENT, "run", "--exe", os.path.basename(SERVER)], env)
    wait_line(agent_log, "capture started", agent)
    time.sleep(1)  # --exe: the /proc scan (every 250 ms) has found the servers

    idle = sample(agent.pid, 5)
    socks = []
    t0 = time.monotonic()
    for n in range(CONNS):
        port = ports[n % SERVICES]
        s = socket.create_connection(("127.0.0.1", port))
        request(s, port)
        socks.append((s, port))
    opened_s = time.monotonic() - t0
    held = sample(agent.pid, HOLD_S)
    for s, port in socks:
        request(s, port)
    active = sample(agent.pid, HOLD_S)
    for s, _ in socks:
        s.close()
    closed = sample(agent.pid, HOLD_S)
    stop(agent)
    stop(sink)
    stats = agent_stats(agent_log) or {}
    spans = re.findall(r"otlp-sink spans=(\d+)", open(sink_log).read())
    spans = int(spans[-1]) if spans else -1
    for p in reversed(PROCS):
        stop(p)

    mib = lambda kib: round(kib / 1024, 1)
    print(f"\nspanwire memory: {SERVICES} services (Go servers), {CONNS} keep-alive connections "
          f"(opened in {opened_s:.1f} s), agent pinned to CPU 1, exporting OTLP/gRPC")
    print(f"  {'phase':28} {'RSS MiB':>8} {'anon':>7} {'ring map':>9} {'binary':>7}")
    for label, m in [("idle (servers, no conns)", idle), (f"{CONNS} conns open", held),
                     (f"{CONNS} conns, 2nd request", active), ("all closed", closed)]:
        print(f"  {label:28} {mib(m['rss']):>8} {mib(m['anon']):>7} {mib(m['ring']):>9} {mib(m['binary']):>7}")
    print(f"  peak RSS (VmHWM, reached while loading programs): {mib(closed['hwm'])} MiB")
    print(f"  SERVER spans exported {spans} / requests {2 * CONNS}; "
          f"connections evicted {stats.get('connections_evicted_total')}")
    out = {
        "services": SERVICES, "connections": CONNS,
        "rss_idle_mb": mib(idle["rss"]), "rss_open_mb": mib(held["rss"]), "rss_active_mb": mib(active["rss"]),
        "rss_closed_mb": mib(closed["rss"]), "anon_open_mb": mib(held["anon"]), "anon_active_mb": mib(active["anon"]),
        "ring_mapping_mb": mib(active["ring"]), "binary_mb": mib(active["binary"]), "rss_peak_mb": mib(closed["hwm"]),
        "requests": 2 * CONNS, "spans_exported": spans,
        "connections_evicted": stats.get("connections_evicted_total"),
    }
    print("BENCH_CONNS " + json.dumps(out))
    if spans != 2 * CONNS or stats.get("connections_evicted_total"):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in reversed(PROCS):
            stop(p, timeout=5)
