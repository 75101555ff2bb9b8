#!/usr/bin/env python3
"""Writes the committed seed corpus (fuzz/seeds/<target>/) from the golden recordings under
tests/golden and hand-written edge cases, in each target's input layout (see the targets'
doc comments). Deterministic: rerun after changing a layout or adding a golden file.

    python3 exporter/fuzz/make_seeds.py
"""
import hashlib
import pathlib
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
GOLDEN = FUZZ.parent / "tests" / "golden"
SEEDS = FUZZ / "seeds"
MAX_SEED = 8 * 1024


def write(target, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data[:MAX_SEED])


def records(segments):
    """[control, length, gap, payload] records, payloads split at 255 bytes."""
    out = b""
    for control, data in segments:
        for i in range(0, max(len(data), 1), 255):
            piece = data[i:i + 255]
            out += bytes([control, len(piece), 0]) + piece
    return out


def h2_records(path):
    """(is_client, bytes) of a golden HTTP/2 recording."""
    raw, i, out = path.read_bytes(), 0, []
    while i + 5 <= len(raw):
        (n,) = struct.unpack(">I", raw[i + 1:i + 5])
        out.append((raw[i] == ord("C"), raw[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def header_blocks(stream):
    """HEADERS / CONTINUATION fragments of one direction's frames (padding and priority removed)."""
    if stream.startswith(b"PRI * HTTP/2.0"):
        stream = stream[24:]
    i, blocks = 0, []
    while i + 9 <= len(stream):
        n = int.from_bytes(stream[i:i + 3], "big")
        kind, flags, payload = stream[i + 3], stream[i + 4], stream[i + 9:i + 9 + n]
        if kind == 1:
            pad = payload[0] if flags & 0x8 else 0
            payload = payload[1 if flags & 0x8 else 0:len(payload) - pad]
            blocks.append(payload[5:] if flags & 0x20 else payload)
        elif kind == 9:
            blocks.append(payload)
        i += 9 + n
    return blocks


def main():
    # http1: config 0x47 (4 KiB heads, 4 pending); the server reads requests, writes responses.
    for req in sorted((GOLDEN / "http1").glob("*.req.bin")):
        resp = req.with_name(req.name.replace(".req.", ".resp.")).read_bytes()
        write("http1", b"\x47" + records([(0, req.read_bytes()[:2048]), (1, resp[:2048]), (3, b"")]))
    for case in [b"POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
                 b"POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
                 b"POST /e HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
                 b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 600 + b"\r\n\r\n",
                 b"\x16\x03\x01\x02\x00garbage\r\n\r\n"]:
        write("http1", b"\x20" + records([(0, case), (1, b"HTTP/1.1 400 Bad Request\r\n\r\n")]))
    # http2_frames and hpack: every golden connection; traced process = server.
    for f in sorted((GOLDEN / "http2").glob("*.bin")):
        recs = h2_records(f)
        segs = [(0 if client else 1, data[:1024]) for client, data in recs]
        write("http2_frames", b"\x3f" + records(segs[:24]))
        client = b"".join(d for c, d in recs if c)
        blocks = [b for b in header_blocks(client) if len(b) <= 255][:16]
        if blocks:
            write("hpack", b"\x00" + b"".join(bytes([len(b)]) + b for b in blocks))
            write("hpack", b"\x4b" + b"".join(bytes([len(b)]) + b for b in blocks))
    for s in [b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
              b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
              b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra",
              b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
              b" 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01 "]:
        write("traceparent", s)
    for s in [b"1S", b"99999999H", b"100m", b"0n", b"123456789u", b"0", b"14", b"4294967296",
              b"%E2%9C%93 caf%C3%A9", b"%zz%", b"%", b"/helloworld.Greeter/SayHello", b"/a/b/c"]:
        write("grpc_fields", b"\x10" + s)
    for s in [b'{"level":"error","msg":"x"}\n{"severity":"WARN"}\n', b"level=warn msg=x\r\nINFO: ok\n",
              b"[ERROR] \xff\xfe broken utf8\n\n\n", "caf\u00e9 \u2713 WARNING\n".encode()]:
        write("log_lines", b"\x08\x03" + s)
    for s in [b"/users/123/orders/9f8e1c2d", b"/a/550e8400-e29b-41d4-a716-446655440000/b", b"*",
              b"//x//", b"/dGhpcyBpcyBhIHRva2VuMTIzNDU2", "/caf\u00e9/\u2713/42".encode()]:
        write("route", s)
    cid = "3f4d8b2a9c1e7f60" * 4
    uid = "550e8400-e29b-41d4-a716-446655440000"
    for s in [f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.replace('-', '_')}.slice/cri-containerd-{cid}.scope\n",
              f"0::/kubepods/besteffort/pod{uid}/{cid}\n",
              f"12:memory:/docker/{cid}\n11:cpu,cpuacct:/docker/{cid}\n0::/\n",
              f"0::/machine.slice/libpod-{cid}.scope/container\n",
              f"0::/kubepods.slice/kubepods-pod{uid.replace('-', '_')}.slice/crio-conmon-{cid}.scope\n",
              "0::/user.slice/user-0.slice/session-1.scope\n", "0::\n::\n:::\n"]:
        write("proc_cgroup", s.encode())
    for s in [b"PATH=/bin\0OTEL_SERVICE_NAME=checkout\0HOME=/root\0",
              b"OTEL_RESOURCE_ATTRIBUTES=a=b,service.name= cart ,service.namespace=shop\0",
              b"OTEL_SERVICE_NAME=\0OTEL_RESOURCE_ATTRIBUTES=service.name=x,,=,\xff\0",
              b"=\0\0\0NOEQUALS\0OTEL_SERVICE_NAME==\0"]:
        write("proc_environ", s)
    # Ring-buffer records: the sw_event header (spanwire.h, 120 bytes), then the payload.
    def record(kind, direction, payload, family=2, captured=None):
        tuple_ = bytes([127, 0, 0, 1] + [0] * 12) + bytes([127, 0, 0, 1] + [0] * 12)
        tuple_ += struct.pack("<HHHH", 8080, 41234, family, 0)
        head = struct.pack("<BBBBIIiQQQqQII", kind, direction, 1, 0, 4242, 4243, 7, 0xffff888102d265c0,
                           1_000_000, 1_000_500, len(payload), 123456789,
                           len(payload) if captured is None else captured, 0)
        head += b"python3".ljust(16, b"\0") + tuple_
        assert len(head) == 120, len(head)
        return head + payload
    write("ring_record", record(1, 1, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"))
    write("ring_record", record(1, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
    write("ring_record", record(2, 0, b"", family=10))
    write("ring_record", record(5, 2, b'{"level":"error","msg":"x"}\n', family=0))
    write("ring_record", record(1, 1, b"short", captured=4000))
    write("ring_record", record(9, 1, b"", family=99))


if __name__ == "__main__":
    main()
