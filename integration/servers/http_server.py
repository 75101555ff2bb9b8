#!/usr/bin/env python3
"""Keep-alive HTTP/1.1 test server (stdlib only) for spanwire's e2e tests.

Routes (same as go-http/):
  GET  /hello          200 "hello\\n"
  POST /echo           200 echoing the request body (Content-Length or chunked)
  GET  /chunked?n=K    200 chunked body of K bytes in 4 pieces (hand-written framing)
  GET  /status/{code}  that status (200..599) with a short body; none for 204/304
  anything else        404

Prints "listening on HOST:PORT" (flushed) once the socket is listening.
"""

import argparse
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 64 << 20
MAX_CHUNKED = 64 << 20


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Socket timeout: idle or stalled clients release their thread.
    timeout = 30
    # Headers and body go out in separate send() calls (a useful case for the
    # agent's reassembly); without TCP_NODELAY that costs a delayed-ACK stall.
    disable_nagle_algorithm = True

    def version_string(self):
        return "spanwire-test-py"

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def _fixed(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        if status in (204, 304):
            self.end_headers()
            return
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_line(self):
        line = self.rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise BadRequest("truncated chunk line")
        return line

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            parts, total = [], 0
            while True:
                size_text = self._read_line().split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BadRequest("bad chunk size") from None
                if size == 0:
                    while self._read_line() not in (b"\r\n", b"\n"):
                        pass  # trailers
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    raise BadRequest("body too large")
                data = self.rfile.read(size)
                if len(data) != size or self._read_line() not in (b"\r\n", b"\n"):
                    raise BadRequest("truncated chunk")
                parts.append(data)
        length_text = self.headers.get("Content-Length", "0")
        try:
            length = int(length_text)
        except ValueError:
            raise BadRequest("bad content-length") from None
        if length < 0 or length > MAX_BODY:
            raise BadRequest("bad content-length")
        data = self.rfile.read(length)
        if len(data) != length:
            raise BadRequest("truncated body")
        return data

    def _chunked(self, query):
        try:
            n = int(parse_qs(query).get("n", [""])[0])
        except ValueError:
            n = -1
        if n < 0 or n > MAX_CHUNKED:
            self._fixed(400, b"bad n\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        for i in range(4):
            size = n - sent if i == 3 else n // 4
            sent += size
            if size:
                piece = bytes([ord("a") + i]) * size
                self.wfile.write(b"%x\r\n%s\r\n" % (size, piece))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _status(self, code_text):
        try:
            code = int(code_text)
        except ValueError:
            code = 0
        if not 200 <= code <= 599:
            self._fixed(404, b"not found\n")
            return
        self._fixed(code, b"status %d\n" % code)

    def _dispatch(self):
        url = urlsplit(self.path)
        try:
            # Always consume the body so the connection stays usable.
            body = self._read_body()
        except BadRequest as e:
            self.close_connection = True
            self._fixed(400, ("%s\n" % e).encode())
            return
        if self.command == "GET" and url.path == "/hello":
            self._fixed(200, b"hello\n")
        elif self.command == "POST" and url.path == "/echo":
            self._fixed(200, body, "application/octet-stream")
        elif self.command == "GET" and url.path == "/chunked":
            self._chunked(url.query)
        elif self.command == "GET" and url.path.startswith("/status/"):
            self._status(url.path[len("/status/"):])
        else:
            self._fixed(404, b"not found\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def do_HEAD(self):
        self._dispatch()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = ap.parse_args()
    server = Server((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
