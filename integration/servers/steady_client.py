"""Steady load for the reliability tests: GET PATH on one keep-alive connection to
127.0.0.1:PORT at RATE requests per second for SECONDS seconds (or exactly --count
requests), then prints one JSON line: {"requests": n, "ok": n_2xx}. Standard library only."""
import argparse
import http.client
import json
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/hello")
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--count", type=int, default=0, help="stop after this many requests")
    args = ap.parse_args()
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    start = time.monotonic()
    requests = ok = 0
    while True:
        if args.count and requests >= args.count:
            break
        if not args.count and time.monotonic() - start >= args.seconds:
            break
        conn.request("GET", args.path)
        resp = conn.getresponse()
        resp.read()
        requests += 1
        ok += 200 <= resp.status < 300
        # Next request on schedule; when behind (a slow moment), no sleep until caught up.
        delay = start + requests / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    conn.close()
    print(json.dumps({"requests": requests, "ok": ok}), flush=True)


if __name__ == "__main__":
    main()
