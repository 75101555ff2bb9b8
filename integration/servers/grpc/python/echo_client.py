#!/usr/bin/python3
"""Runs a plan of spanwire.test.Echo calls over ONE grpcio channel (one TCP
connection) and prints one JSON line per call, in plan order (format in
../README.md).

  /usr/bin/python3 echo_client.py --target 127.0.0.1:PORT \\
      --calls 'Unary:ok,ServerStream:n:5,Unary:sleep:300@deadline=100' [--concurrency N]

grpcio does not expose its sockets, so local_port comes from /proc: the one
ESTABLISHED TCP socket of this process whose peer is the target port.
Exits 1 if the plan did not run over exactly one connection.
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

import echo_common as ec

MAX_REPLY_TEXT = 100
TCP_ESTABLISHED = "01"


def parse_plan(spec):
    """[(method, command, deadline_ms or None)]; "xN" repeats an item."""
    plan = []
    for item in spec.split(","):
        words = item.split()
        if not words:
            continue
        repeat = 1
        for opt in words[1:]:
            if not (opt.startswith("x") and opt[1:].isdigit() and int(opt[1:]) >= 1):
                raise ValueError("bad option %r in plan item %r" % (opt, item))
            repeat = int(opt[1:])
        text, _, opts = words[0].partition("@")
        method, _, command = text.partition(":")
        if method not in ec.METHODS or not command:
            raise ValueError("plan item %r is not Method:command" % item)
        deadline = None
        if opts:
            if not (opts.startswith("deadline=") and opts[9:].isdigit() and int(opts[9:]) >= 1):
                raise ValueError("bad option %r (want deadline=MS)" % opts)
            deadline = int(opts[9:])
        plan.extend([(method, command, deadline)] * repeat)
    if not plan:
        raise ValueError("empty plan %r" % spec)
    return plan


def own_socket_inodes():
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def local_ports_to(remote_port):
    """Local ports of this process's ESTABLISHED TCP sockets (IPv4 or IPv6,
    grpcio may use v4-mapped dual-stack sockets) to remote_port."""
    inodes = own_socket_inodes()
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                    if (state == TCP_ESTABLISHED and inode in inodes
                            and int(remote.rsplit(":", 1)[1], 16) == remote_port):
                        ports.add(int(local.rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


class Client:
    def __init__(self, target):
        self.target_port = int(target.rsplit(":", 1)[1])
        self.channel = grpc.insecure_channel(target)
        codec = {"request_serializer": ec.encode, "response_deserializer": ec.decode}
        self.stubs = {
            "Unary": self.channel.unary_unary(ec.full_method("Unary"), **codec),
            "ServerStream": self.channel.unary_stream(ec.full_method("ServerStream"), **codec),
            "ClientStream": self.channel.stream_unary(ec.full_method("ClientStream"), **codec),
            "Bidi": self.channel.stream_stream(ec.full_method("Bidi"), **codec),
        }
        self.seen_ports = set()

    def local_port(self):
        ports = local_ports_to(self.target_port)
        self.seen_ports |= ports
        return ports.pop() if len(ports) == 1 else None

    def _call(self, method, command, timeout):
        """(replies, status code, details)."""
        stub = self.stubs[method]
        requests = ec.client_requests(method, command)
        replies = []
        try:
            if method == "Unary":
                replies.append(stub(command, timeout=timeout))
            elif method == "ClientStream":
                replies.append(stub(iter(requests), timeout=timeout))
            else:
                arg = command if method == "ServerStream" else iter(requests)
                for reply in stub(arg, timeout=timeout):
                    replies.append(reply)
        except grpc.RpcError as e:
            return replies, e.code(), e.details() or ""
        return replies, grpc.StatusCode.OK, ""

    def run(self, index, method, command, deadline_ms):
        timeout = deadline_ms / 1000 if deadline_ms else None
        start = time.time_ns()
        replies, code, details = self._call(method, command, timeout)
        end = time.time_ns()
        last = replies[-1][:MAX_REPLY_TEXT] if replies else ""
        return {
            "lang": "python", "index": index, "method": "%s/%s" % (ec.SERVICE, method),
            "command": command, "deadline_ms": deadline_ms, "code": code.value[0], "status": code.name,
            "message": details, "messages": len(replies), "reply_bytes": sum(len(r) for r in replies),
            "last_reply": last, "start_unix_nano": start, "end_unix_nano": end,
            "local_port": self.local_port(), "pid": os.getpid(),
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="server address, e.g. 127.0.0.1:50051")
    ap.add_argument("--calls", default="Unary:ok", help="Method:command[@deadline=MS][ xN],...")
    ap.add_argument("--concurrency", type=int, default=1, help="calls in flight at once")
    args = ap.parse_args()
    try:
        plan = parse_plan(args.calls)
    except ValueError as e:
        ap.error(str(e))
    if args.concurrency < 1:
        ap.error("--concurrency must be >= 1")

    client = Client(args.target)
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(client.run, i, *call) for i, call in enumerate(plan)]
        results = [f.result() for f in futures]
    for r in results:
        print(json.dumps(r), flush=True)
    client.channel.close()
    if len(client.seen_ports) != 1:
        print("expected exactly one connection, saw local ports %s" % sorted(client.seen_ports), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
