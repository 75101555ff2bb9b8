"""Connection churn for the reliability tests: ROUNDS times, open CONNS keep-alive
connections to 127.0.0.1:PORT, send one GET on each, read every response, keep them all
open, then close them all. Prints one JSON line per round:
{"round": i, "requests": n, "ok": n_200}. Standard library only."""
import argparse
import json
import resource
import socket


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.conns + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
    request = b"GET /hello HTTP/1.1\r\nHost: churn\r\n\r\n"
    for r in range(args.rounds):
        socks = []
        for _ in range(args.conns):
            s = socket.create_connection(("127.0.0.1", args.port))
            s.sendall(request)
            socks.append(s)
        ok = 0
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
            if head.startswith(b"HTTP/1.1 200"):
                ok += 1
        for s in socks:
            s.close()
        print(json.dumps({"round": r, "requests": len(socks), "ok": ok}), flush=True)


if __name__ == "__main__":
    main()
