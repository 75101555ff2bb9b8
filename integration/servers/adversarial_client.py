#!/usr/bin/env python3
"""Adversarial HTTP/1.1 traffic for the reliability tests (stdlib only): slowloris
connections that trickle header bytes and never finish, a head 32 times the agent's head limit, chunked
bodies with impossible chunk sizes, and random bytes after a valid exchange on a
keep-alive connection. One connection per case (slowloris: --slow-conns of them).

Prints one JSON object per connection: {"case", "local_port", "responses": [status, ...]}
listing the status line of every response the server sent, so a test can tell exactly
which exchanges happened. Exits 0 unless it could not connect.
"""

import argparse
import json
import random
import socket
import time

# Each request fits in one read of the server, so it answers (400) before closing instead of
# resetting the connection over unread bytes, which could discard the answer at the client.
CHUNK_SIZES = [b"ffffffffffffffffffff", b"-5", b"zz", b"7fffffffffffffff", b"0x10"]


def statuses(data):
    """Status codes of the response heads found in `data`."""
    out = []
    for line in data.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12 and line[9:12].isdigit():
            out.append(int(line[9:12]))
    return out


def read_all(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:  # timeout, or reset by the server
        pass
    return data


def report(case, port, responses):
    print(json.dumps({"case": case, "local_port": port, "responses": responses}), flush=True)


def send(s, data, half_close=False):
    """Sends what the server still takes: it may answer and close (or reset) early."""
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def slowloris(host, port, conns, seconds):
    socks = []
    for _ in range(conns):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /slowloris HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        for s in socks:
            s.sendall(b"X-Trickle-%d: %d\r\n" % (i, i))
        i += 1
        time.sleep(0.2)
    for s in socks:
        s.setblocking(False)
        try:
            early = s.recv(65536)
        except OSError:  # nothing sent yet (or reset)
            early = b""
        report("slowloris", s.getsockname()[1], statuses(early))
        s.close()


def endless_headers(host, port, total):
    """A head of `total` bytes: far beyond the agent's limit, but under the server's (net/http:
    1 MiB), so the server reads all of it and answers instead of resetting the connection."""
    with socket.create_connection((host, port), timeout=5) as s:
        local_port = s.getsockname()[1]
        line = b"X-Endless: " + b"e" * 1000 + b"\r\n"
        head = b"GET /endless HTTP/1.1\r\nHost: x\r\n" + line * (total // len(line)) + b"\r\n"
        send(s, head, half_close=True)
        report("endless-headers", local_port, statuses(read_all(s)))


def bad_chunks(host, port):
    for size in CHUNK_SIZES:
        with socket.create_connection((host, port), timeout=5) as s:
            local_port = s.getsockname()[1]
            head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            send(s, head + size + b"\r\nhello\r\n0\r\n\r\n", half_close=True)
            report("chunk-size " + size[:24].decode(), local_port, statuses(read_all(s)))


def random_after_valid(host, port, rng, rounds):
    for _ in range(rounds):
        with socket.create_connection((host, port), timeout=5) as s:
            local_port = s.getsockname()[1]
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"hello\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            # Not a method's first letter: the server must not mistake it for a request.
            junk = bytes([rng.choice(b"\x00\x01\x16\x80\xff")]) + rng.randbytes(4095)
            send(s, junk, half_close=True)
            report("random-after-valid", local_port, statuses(data + read_all(s)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--slow-conns", type=int, default=100)
    ap.add_argument("--slow-seconds", type=float, default=5.0)
    ap.add_argument("--endless-bytes", type=int, default=512 << 10)
    ap.add_argument("--random-rounds", type=int, default=8)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    slowloris(args.host, args.port, args.slow_conns, args.slow_seconds)
    endless_headers(args.host, args.port, args.endless_bytes)
    bad_chunks(args.host, args.port)
    random_after_valid(args.host, args.port, rng, args.random_rounds)


if __name__ == "__main__":
    main()
