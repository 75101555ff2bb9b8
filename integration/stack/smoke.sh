#!/usr/bin/env bash
# Smoke test of a running local stack (integration/stack.sh up). Two rounds, each sending one
# trace, one metric and one log record and asserting via Jaeger (/api/services, /api/traces),
# Prometheus (/api/v1/query) and VictoriaLogs (/select/logsql/query) that each arrived:
#   1. OTLP/HTTP into the Collector's 127.0.0.1:4318 (smoke.py, Python standard library only)
#   2. OTLP/gRPC into the Collector's 127.0.0.1:4317: smoke.py posts to a throwaway relay
#      Collector (same binary, OTLP/HTTP in on 127.0.0.1:${SMOKE_RELAY_PORT:-14399}, otlp_grpc out)
#
#   integration/stack/smoke.sh     # exit 0: all arrived; 1: a FAIL line per missing signal
#
# Environment knobs: SMOKE_TIMEOUT (seconds per check, default 60), SMOKE_RELAY_PORT,
# SMOKE_GRPC=0 to skip round 2.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stack="$here/../stack.sh"
fail() {
    echo "smoke: FAIL: $*" >&2
    exit 1
}
command -v python3 >/dev/null 2>&1 || fail "python3 is required"
curl -fs -o /dev/null --max-time 2 http://127.0.0.1:13133/ ||
    fail "the Collector's health endpoint 127.0.0.1:13133 does not answer; run: integration/stack.sh up"

echo "smoke: round 1: OTLP/HTTP -> 127.0.0.1:4318" >&2
python3 "$here/smoke.py"

[[ "${SMOKE_GRPC:-1}" == 1 ]] || exit 0
echo "smoke: round 2: OTLP/gRPC -> 127.0.0.1:4317 (through a relay Collector)" >&2
otelcol="$(bash "$stack" bin otelcol)"
port="${SMOKE_RELAY_PORT:-14399}"
tmp="$(mktemp -d)"
relay_pid=""
cleanup() {
    [[ -n "$relay_pid" ]] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/relay.yaml" <<YAML
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$port
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:4317
    tls:
      insecure: true
    # no queue: the HTTP request returns only after the gRPC export succeeded (or failed)
    sending_queue:
      enabled: false
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_grpc]}
    metrics: {receivers: [otlp], exporters: [otlp_grpc]}
    logs: {receivers: [otlp], exporters: [otlp_grpc]}
YAML
"$otelcol" --config "$tmp/relay.yaml" >"$tmp/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$relay_pid" 2>/dev/null || {
        cat "$tmp/relay.log" >&2
        fail "relay Collector exited"
    }
    sleep 0.1
done
SMOKE_COLLECTOR_HTTP="http://127.0.0.1:$port" python3 "$here/smoke.py" || {
    echo "smoke: relay log:" >&2
    tail -n 20 "$tmp/relay.log" >&2
    exit 1
}
