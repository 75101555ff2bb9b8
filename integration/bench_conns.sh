#!/usr/bin/env bash
# Agent memory with many open connections and services (issue 8's RSS target):
#
#   sudo bash integration/bench_conns.sh
#
# 100 Go test servers (100 services) observed with `spanwire run --exe gohttp`; 10 000 keep-alive
# connections opened and held, a second request on each, then all closed. Prints VmRSS per phase,
# split into anonymous memory, the ring-buffer mapping and the binary (integration/bench_conns.py),
# and ends with one line `BENCH_CONNS {json}`. Knobs: SW_BENCH_SERVICES, SW_BENCH_CONNS,
# SW_BENCH_HOLD_SECONDS (default 15 per phase; the whole run takes about 1.5 minutes once built).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
# shellcheck source=integration/setup.sh
source "$HERE/setup.sh"
cd "$SPANWIRE_ROOT"
OUT="$SPANWIRE_ROOT/target/bench/conns"
RUN="$OUT/run"
rm -rf "$RUN"
mkdir -p "$RUN"
cargo build --release -p otlp-sink >&2
(cd integration/servers/go-http && GOTOOLCHAIN=local go build -o "$OUT/gohttp" .) >&2
SW_BENCH_RUN="$RUN" SW_BENCH_SERVER="$OUT/gohttp" python3 "$HERE/bench_conns.py"
