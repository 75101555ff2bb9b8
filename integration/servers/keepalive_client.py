#!/usr/bin/env python3
"""Sends a plan of HTTP/1.1 requests over ONE reused connection (stdlib only).

Plan syntax: comma-separated items, each "METHOD PATH [xN] [body=BYTES]", e.g.
  "GET /hello x3, POST /echo body=1000, GET /chunked?n=5000, GET /nope"
"xN" repeats the request N times; "body=BYTES" sends that many bytes
(Content-Length framing). Whitespace around items is ignored.

Prints one JSON object per request, in order:
  {"method", "path" (as sent, with query), "status", "elapsed_s"
   (around request()+getresponse()+read()), "local_port", "response_bytes"}
Exits 1 if a request fails or the connection was not reused.
"""

import argparse
import http.client
import json
import sys
import time

DEFAULT_PLAN = ("GET /hello x3, POST /echo body=1000, GET /chunked?n=5000, "
                "GET /nope, GET /status/500")


def parse_plan(spec):
    plan = []
    for item in spec.split(","):
        words = item.split()
        if not words:
            continue
        if len(words) < 2:
            raise ValueError("plan item %r needs METHOD PATH" % item)
        method, path, repeat, body_len = words[0].upper(), words[1], 1, None
        for opt in words[2:]:
            if opt.startswith("x") and opt[1:].isdigit():
                repeat = int(opt[1:])
            elif opt.startswith("body=") and opt[5:].isdigit():
                body_len = int(opt[5:])
            else:
                raise ValueError("bad option %r in plan item %r" % (opt, item))
        if not path.startswith("/"):
            raise ValueError("path must start with '/': %r" % item)
        plan.extend([(method, path, body_len)] * repeat)
    if not plan:
        raise ValueError("empty plan")
    return plan


def body_bytes(n):
    pattern = b"0123456789abcdef"
    return (pattern * (n // len(pattern) + 1))[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--plan", default=DEFAULT_PLAN)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    try:
        plan = parse_plan(args.plan)
    except ValueError as e:
        ap.error(str(e))

    conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
    conn.connect()
    sock = conn.sock
    local_port = sock.getsockname()[1]
    for method, path, body_len in plan:
        body = None if body_len is None else body_bytes(body_len)
        headers = {} if body is None else {"Content-Type": "application/octet-stream"}
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - start
        if conn.sock is not sock:
            print("connection was not reused before %s %s" % (method, path), file=sys.stderr)
            return 1
        if method == "POST" and path.startswith("/echo") and resp.status == 200 and data != body:
            print("echo mismatch", file=sys.stderr)
            return 1
        print(json.dumps({
            "method": method,
            "path": path,
            "status": resp.status,
            "elapsed_s": elapsed,
            "local_port": local_port,
            "response_bytes": len(data),
        }), flush=True)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
