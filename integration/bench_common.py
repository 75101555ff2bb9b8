"""Helpers shared by the benchmark drivers (bench_h2.py, bench_logs.py)."""
import json
import signal
import socket
import subprocess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, timeout=20):
    """SIGTERM, wait, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bpf_runs():
    """{prog id: (run_time_ns, run_cnt)} of the loaded programs named sw_*."""
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True, check=True).stdout
    return {p["id"]: (int(p.get("run_time_ns", 0)), int(p.get("run_cnt", 0)))
            for p in json.loads(out or "[]") if p.get("name", "").startswith("sw_")}


def cpu_ticks(pid):
    # comm may contain spaces and ')': split after the last ')'; utime, stime are fields 14, 15.
    rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def agent_stats(path):
    """The last `spanwire_stats {json}` the agent printed, or None."""
    last = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            i = line.find("spanwire_stats {")
            if i >= 0:
                last = json.loads(line[i + len("spanwire_stats "):])
    return last
