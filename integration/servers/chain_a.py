#!/usr/bin/env python3
"""Service A of the trace-linking test: for every GET it calls service B
(GET /hello on --downstream-port; with --forward-id, GET /b/{id} for GET
/work/{id}) with http.client on a fresh connection, propagating NO trace
context, prints one log line, and answers 200.

Prints "listening on 127.0.0.1:PORT" when ready.
"""
import argparse
import http.client
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    downstream_port = 0
    forward_id = False

    def do_GET(self):  # noqa: N802 (http.server API)
        conn = http.client.HTTPConnection("127.0.0.1", self.downstream_port, timeout=10)
        try:
            conn.request("GET", self.downstream_path())
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        finally:
            conn.close()
        level = "error" if self.path.startswith("/fail") else "info"
        print(json.dumps({"level": level, "msg": "served", "path": self.path, "downstream": status}), flush=True)
        body = f"a->b {status}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def downstream_path(self):
        if self.forward_id and self.path.startswith("/work/"):
            return "/b/" + self.path[len("/work/"):]
        return "/hello"

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--downstream-port", type=int, required=True)
    ap.add_argument("--forward-id", action="store_true")
    args = ap.parse_args()
    Handler.downstream_port = args.downstream_port
    Handler.forward_id = args.forward_id
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
