#!/usr/bin/env python3
"""Sends malformed HTTP traffic to a server (stdlib only), one case per connection.

Cases: seeded random bytes, malformed request lines, a 100 KB header, truncated
requests (hang-up mid-headers / mid-body, a stalled request), a response sent
as if it were a request, and NUL/binary bytes inside a request line. Every
socket has a timeout, so a run is bounded (at most cases x --timeout seconds).

Prints one JSON object per case: {"case", "sent", "received", "first_line", "error"}
and exits 0 unless it could not connect at all.
"""

import argparse
import json
import random
import socket
import sys

SHUT, CLOSE, STALL = "shut", "close", "stall"


def cases(seed, rounds):
    rng = random.Random(seed)
    out = []
    for i in range(rounds):
        out.append(("random-%d" % i, rng.randbytes(rng.randint(1, 4096)), SHUT))
    # Random bytes right after a valid-looking method: parsers must not trust it.
    out.append(("random-after-get", b"GET /" + rng.randbytes(512), SHUT))
    for name, data in [
        ("no-version", b"GET\r\n\r\n"),
        ("bad-version", b"GET /hello HTTP/9.9\r\nHost: x\r\n\r\n"),
        ("garbage-line", b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n"),
        ("spaces", b"GET     /hello     HTTP/1.1    \r\n\r\n"),
        ("lf-only-garbage", b"PO ST /echo HTTP/1.1\n\n"),
        ("nul-in-line", b"GET /he\x00llo HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("header-no-colon", b"GET /hello HTTP/1.1\r\nHost x\r\nnonsense\r\n\r\n"),
        ("negative-length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        ("bad-chunk-size", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           b"\r\nzz\r\nhello\r\n0\r\n\r\n"),
        ("response-as-request", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
    ]:
        out.append((name, data, SHUT))
    big = b"X-Big: " + b"a" * (100 * 1024) + b"\r\n"
    out.append(("oversized-header", b"GET /hello HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n", SHUT))
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 200) for i in range(500))
    out.append(("many-headers", b"GET /hello HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n", SHUT))
    # Truncated requests: hang up mid-request, or stall until our timeout.
    out.append(("truncated-headers", b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Part", CLOSE))
    out.append(("truncated-body", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                                  b"\r\nonly-part", CLOSE))
    out.append(("truncated-line", b"GET /hel", SHUT))
    out.append(("stalled-request", b"GET /hello HTTP/1.1\r\nHost: x\r\n", STALL))
    return out


def run_case(host, port, timeout, name, data, mode):
    """mode: SHUT = send, half-close, read until EOF; CLOSE = send and hang up
    at once; STALL = send and read until the server answers or the timeout."""
    result = {"case": name, "sent": 0, "received": 0, "first_line": None, "error": None}
    buf = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            try:
                s.sendall(data)
                result["sent"] = len(data)
                if mode == SHUT:
                    s.shutdown(socket.SHUT_WR)
                while mode != CLOSE and len(buf) < 1 << 20:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            except socket.timeout:
                result["error"] = "timeout"
            except OSError as e:  # e.g. reset by the server mid-send
                result["error"] = type(e).__name__
    except OSError as e:
        result["error"] = "connect: %s" % e
    result["received"] = len(buf)
    if buf:
        result["first_line"] = buf.split(b"\r\n", 1)[0][:80].decode("latin-1")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--random-rounds", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=2.0, help="per-socket timeout, seconds")
    args = ap.parse_args()
    connected = 0
    for name, data, mode in cases(args.seed, args.random_rounds):
        r = run_case(args.host, args.port, args.timeout, name, data, mode)
        if not (r["error"] or "").startswith("connect"):
            connected += 1
        print(json.dumps(r), flush=True)
    return 0 if connected else 1


if __name__ == "__main__":
    sys.exit(main())
