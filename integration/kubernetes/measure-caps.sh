#!/usr/bin/env bash
# Measures which Linux capabilities the agent needs: runs `spanwire run` as root restricted to
# a capability bounding set (setpriv), observes a Python server running as `nobody` (another
# user, as in a real node), sends one request and reports whether a span came out and whether
# the server's own OTEL_SERVICE_NAME (read from /proc/<pid>/environ) named it. Prints one line per capability set.
#
#   sudo bash integration/kubernetes/measure-caps.sh [path/to/spanwire]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin="${1:-target/release/spanwire}"
[[ -x "$bin" ]] || { echo "measure-caps: build first: cargo build --release" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || { echo "measure-caps: run as root" >&2; exit 1; }

tmp="$(mktemp -d)"
chmod 755 "$tmp"
cleanup() {
    [[ -n "${srv:-}" ]] && kill "$srv" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
# The real interpreter (pyenv shims live under /root, which nobody cannot read).
py="$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')"
cp integration/servers/http_server.py "$tmp/"
OTEL_SERVICE_NAME=capsprobe setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
    "$py" "$tmp/http_server.py" --port 0 >"$tmp/srv.out" 2>&1 &
srv=$!
for _ in $(seq 50); do grep -q "listening on" "$tmp/srv.out" 2>/dev/null && break; sleep 0.1; done
port="$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$tmp/srv.out" | head -1)"
[[ -n "$port" ]] || { echo "measure-caps: server did not start" >&2; cat "$tmp/srv.out" >&2; exit 1; }

try() { # caps
    local caps="$1" out="$tmp/agent.$1.out"
    SPANWIRE_KUBERNETES=off SPANWIRE_LOGS=0 setpriv --bounding-set="-all${caps:+,+${caps//,/,+}}" \
        --inh-caps=-all -- "$bin" run --port "$port" >"$out" 2>&1 &
    local agent=$! started=no span=no env=no
    for _ in $(seq 100); do
        grep -q "capture started" "$out" && { started=yes; break; }
        kill -0 "$agent" 2>/dev/null || break
        sleep 0.1
    done
    if [[ $started == yes ]]; then
        curl -s -o /dev/null "http://127.0.0.1:$port/hello" || true
        sleep 2
        grep -q "GET /hello" "$out" && span=yes
        # The server's OTEL_SERVICE_NAME is only seen when /proc/<pid>/environ is readable
        # (ptrace read access: same user, or CAP_SYS_PTRACE).
        grep -q "service=capsprobe" "$out" && env=yes
    fi
    kill -INT "$agent" 2>/dev/null || true
    wait "$agent" 2>/dev/null || true
    printf '%-52s started=%-3s span=%-3s process_env_read=%s\n' "${caps:-none}" "$started" "$span" "$env"
    [[ $started == no ]] && grep -m1 -i "error" "$out" | cut -c1-200 | sed 's/^/    /' || true
}

try ""
try "bpf"
try "bpf,perfmon"
try "bpf,perfmon,sys_ptrace"
try "bpf,perfmon,dac_read_search"
try "bpf,perfmon,sys_ptrace,dac_read_search"
try "bpf,perfmon,sys_ptrace,dac_read_search,sys_resource"
