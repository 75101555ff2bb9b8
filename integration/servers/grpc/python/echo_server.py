#!/usr/bin/python3
"""spanwire.test.Echo gRPC test server (grpcio, generic handlers, no generated code).

Run with Debian's interpreter, which sees the apt package python3-grpcio:
  /usr/bin/python3 echo_server.py --port 0

Prints "listening on 127.0.0.1:PORT" (flushed) once the server is serving.
"""

import argparse
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

import echo_common as ec

# Enough handler threads for the clients' --concurrency tests (sleeping calls
# each hold one).
WORKERS = 64


class Failed(Exception):
    """A command asked for an error status."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def run(cmd, context):
    """Applies a command; returns the reply or raises Failed."""
    if cmd == "ok":
        return "ok"
    if cmd == "not_found":
        raise Failed(grpc.StatusCode.NOT_FOUND, ec.NOT_FOUND_MESSAGE)
    if cmd == "internal":
        raise Failed(grpc.StatusCode.INTERNAL, ec.INTERNAL_MESSAGE)
    if cmd.startswith("sleep:"):
        ms = ec.bounded(cmd[6:], ec.MAX_SLEEP_MS)
        if ms is not None:
            # Wakes early when the call is cancelled or its deadline passes.
            done = threading.Event()
            context.add_callback(done.set)
            done.wait(ms / 1000)
            return "ok"
    if cmd.startswith("big:"):
        n = ec.bounded(cmd[4:], ec.MAX_BIG)
        if n is not None:
            return "x" * n
    raise Failed(grpc.StatusCode.INVALID_ARGUMENT, "unknown command: " + cmd)


def unary(request, context):
    try:
        return run(request, context)
    except Failed as f:
        context.abort(f.code, f.message)


def server_stream(request, context):
    plan = ec.parse_stream(request)
    try:
        if plan is None:
            yield run(request, context)
            return
        count, final = plan
        for i in range(1, count + 1):
            yield ec.stream_reply(i)
        if final is not None:
            run(final, context)
    except Failed as f:
        context.set_code(f.code)
        context.set_details(f.message)


def client_stream(requests, context):
    received = 0
    try:
        for msg in requests:
            received += 1
            if not ec.is_client_message(msg):
                run(msg, context)
    except Failed as f:
        context.abort(f.code, f.message)
    return "received %d" % received


def bidi(requests, context):
    try:
        for msg in requests:
            yield "echo " + msg if ec.is_client_message(msg) else run(msg, context)
    except Failed as f:
        context.set_code(f.code)
        context.set_details(f.message)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    args = ap.parse_args()

    codec = {"request_deserializer": ec.decode, "response_serializer": ec.encode}
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, **codec),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, **codec),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, **codec),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi, **codec),
    }
    server = grpc.server(ThreadPoolExecutor(max_workers=WORKERS))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(ec.SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    if port == 0:
        raise SystemExit("could not bind 127.0.0.1:%d" % args.port)
    server.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
