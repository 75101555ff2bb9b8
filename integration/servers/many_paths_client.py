#!/usr/bin/env python3
"""GETs PREFIX<i> for i in 0..COUNT over one keep-alive connection (stdlib only).

Prints one line at the end: {"sent": COUNT, "statuses": {"404": COUNT, ...}}.
Used to check that distinct ids in paths collapse into a handful of metric series.
"""

import argparse
import http.client
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--prefix", default="/users/")
    args = ap.parse_args()
    conn = http.client.HTTPConnection(args.host, args.port, timeout=30)
    statuses = {}
    for i in range(args.count):
        conn.request("GET", "%s%d" % (args.prefix, i))
        resp = conn.getresponse()
        resp.read()
        statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
    conn.close()
    print(json.dumps({"sent": args.count, "statuses": statuses}), flush=True)


if __name__ == "__main__":
    main()
