#!/usr/bin/env python3
"""Drives --clients concurrent HTTP/1.1 clients against service A: each sends
--requests GET /work/{label}-c{client}-r{n} sequentially over its own keep-alive
connection. All clients start together (a barrier). Stdlib only.

Prints one JSON line {"requests": K, "failed": F} and exits 1 if any failed.
"""
import argparse
import http.client
import json
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--label", required=True)
    args = ap.parse_args()
    start = threading.Barrier(args.clients)
    lock = threading.Lock()
    done = {"requests": 0, "failed": 0}

    def client(c):
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=20)
        start.wait()
        for n in range(args.requests):
            ok = False
            try:
                conn.request("GET", f"/work/{args.label}-c{c}-r{n}")
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except OSError as e:
                print(f"client {c} request {n}: {e}", file=sys.stderr)
            with lock:
                done["requests"] += 1
                done["failed"] += 0 if ok else 1
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(done), flush=True)
    sys.exit(1 if done["failed"] else 0)


if __name__ == "__main__":
    main()
