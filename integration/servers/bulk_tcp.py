#!/usr/bin/env python3
"""Plain TCP traffic for the network-metric panels of the pipeline test.

  bulk_tcp.py server [--port 0]
      Accepts connections, reads each to EOF and answers "ok <bytes>\\n".
      Prints "listening on 127.0.0.1:PORT" when ready.
  bulk_tcp.py client --port P --bytes N [--connections C] [--refused-port Q] [--linger S]
      Sends N bytes on each of C connections to P (waiting for each answer), then, with
      --refused-port, connects to Q where nothing listens (one refused connection); then
      stays alive S seconds (so an observer sees the process after its traffic).
      Prints one JSON line: {"sent": ..., "acked": ..., "refused": true|false}.
"""
import argparse
import json
import socket
import sys
import threading
import time


def serve(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    print(f"listening on 127.0.0.1:{srv.getsockname()[1]}", flush=True)

    def handle(conn):
        with conn:
            total = 0
            while chunk := conn.recv(65536):
                total += len(chunk)
            conn.sendall(f"ok {total}\n".encode())

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def client(port, nbytes, connections, refused_port, linger):
    block = b"x" * 65536
    sent = acked = 0
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            left = nbytes
            while left > 0:
                n = min(left, len(block))
                s.sendall(block[:n])
                left -= n
            s.shutdown(socket.SHUT_WR)
            reply = s.makefile().readline().split()
            sent += nbytes
            acked += int(reply[1]) if len(reply) == 2 and reply[0] == "ok" else 0
    refused = False
    if refused_port:
        try:
            socket.create_connection(("127.0.0.1", refused_port), timeout=5).close()
        except ConnectionRefusedError:
            refused = True
    time.sleep(linger)
    print(json.dumps({"sent": sent, "acked": acked, "refused": refused}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--refused-port", type=int, default=0)
    ap.add_argument("--linger", type=float, default=0)
    args = ap.parse_args()
    if args.role == "server":
        try:
            serve(args.port)
        except KeyboardInterrupt:
            pass
    else:
        client(args.port, args.bytes, args.connections, args.refused_port, args.linger)
    sys.exit(0)


if __name__ == "__main__":
    main()
