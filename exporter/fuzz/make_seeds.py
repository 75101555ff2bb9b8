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


if __name__ == "__main__":
    main()
