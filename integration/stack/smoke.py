#!/usr/bin/env python3
"""End-to-end smoke test of the local stack (integration/stack.sh up).

Sends one span, one metric data point and one log record to the Collector over
OTLP/HTTP (JSON encoding, Python standard library only: no SDK to install), then
asserts through each backend's own query API that they arrived:

  traces   Jaeger    GET /api/services, GET /api/traces?service=...
  metrics  Prometheus GET /api/v1/query
  logs     VictoriaLogs GET /select/logsql/query

Every record carries a fresh run id, so reruns against a long-running stack do
not see earlier data. Exit 0 when all three arrived, 1 with a message per
missing signal otherwise.
"""

import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

COLLECTOR = os.environ.get("SMOKE_COLLECTOR_HTTP", "http://127.0.0.1:4318")
JAEGER = os.environ.get("SMOKE_JAEGER", "http://127.0.0.1:16686")
PROMETHEUS = os.environ.get("SMOKE_PROMETHEUS", "http://127.0.0.1:9090")
LOGS = os.environ.get("SMOKE_LOGS", "http://127.0.0.1:9428")
TIMEOUT = float(os.environ.get("SMOKE_TIMEOUT", "60"))

RUN_ID = secrets.token_hex(6)
SERVICE = "spanwire-smoke"
NAMESPACE = "spanwire"
K8S_NS = "smoke-ns"
K8S_POD = f"smoke-pod-{RUN_ID}"


def log(msg):
    print(f"smoke: {msg}", file=sys.stderr, flush=True)


def http(method, url, body=None):
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read().decode()


def attrs(d):
    return [{"key": k, "value": {"stringValue": v}} for k, v in d.items()]


def resource():
    return {
        "attributes": attrs(
            {
                "service.name": SERVICE,
                "service.namespace": NAMESPACE,
                "service.instance.id": f"smoke-{RUN_ID}",
                "k8s.namespace.name": K8S_NS,
                "k8s.pod.name": K8S_POD,
            }
        )
    }


SCOPE = {"name": "spanwire-smoke", "version": "1"}


def send(now_ns, trace_id, span_id):
    traces = {
        "resourceSpans": [
            {
                "resource": resource(),
                "scopeSpans": [
                    {
                        "scope": SCOPE,
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": f"GET /smoke/{RUN_ID}",
                                "kind": 2,  # SPAN_KIND_SERVER
                                "startTimeUnixNano": str(now_ns - 5_000_000),
                                "endTimeUnixNano": str(now_ns),
                                "attributes": attrs(
                                    {"http.request.method": "GET", "smoke.run_id": RUN_ID}
                                ),
                                "status": {"code": 1},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    metrics = {
        "resourceMetrics": [
            {
                "resource": resource(),
                "scopeMetrics": [
                    {
                        "scope": SCOPE,
                        "metrics": [
                            {
                                "name": "spanwire.smoke.requests",
                                "description": "smoke test counter",
                                "sum": {
                                    "aggregationTemporality": 2,  # CUMULATIVE
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "attributes": attrs({"run_id": RUN_ID}),
                                            "startTimeUnixNano": str(now_ns - 10_000_000_000),
                                            "timeUnixNano": str(now_ns),
                                            "asInt": "7",
                                        }
                                    ],
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }
    logs = {
        "resourceLogs": [
            {
                "resource": resource(),
                "scopeLogs": [
                    {
                        "scope": SCOPE,
                        "logRecords": [
                            {
                                "timeUnixNano": str(now_ns),
                                "observedTimeUnixNano": str(now_ns),
                                "severityNumber": 9,
                                "severityText": "INFO",
                                "body": {"stringValue": f"spanwire smoke log {RUN_ID}"},
                                "attributes": attrs({"smoke.run_id": RUN_ID}),
                                "traceId": trace_id,
                                "spanId": span_id,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    for path, body in (("traces", traces), ("metrics", metrics), ("logs", logs)):
        url = f"{COLLECTOR}/v1/{path}"
        try:
            status, text = http("POST", url, body)
        except (urllib.error.URLError, OSError) as e:
            log(f"FAIL: could not send {path} to the Collector at {url}: {e}")
            log("is the stack up? run: integration/stack.sh up")
            sys.exit(1)
        if status != 200:
            log(f"FAIL: Collector answered {status} for {url}: {text[:300]}")
            sys.exit(1)
        log(f"sent 1 {path[:-1] if path != 'metrics' else 'metric'} to {url}")


def poll(what, check):
    """Call check() until it returns a truthy description or TIMEOUT passes."""
    deadline = time.monotonic() + TIMEOUT
    last = "no answer yet"
    start = time.monotonic()
    while time.monotonic() < deadline:
        try:
            ok, detail = check()
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            ok, detail = False, f"query error: {e}"
        if ok:
            log(f"ok: {what}: {detail} ({time.monotonic() - start:.1f}s)")
            return True
        last = detail
        time.sleep(1)
    log(f"FAIL: {what} not found after {TIMEOUT:.0f}s; last answer: {last}")
    return False


def check_jaeger_services():
    _, text = http("GET", f"{JAEGER}/api/services")
    services = json.loads(text).get("data") or []
    return SERVICE in services, f"services={services}"


def check_jaeger_trace(trace_id):
    q = urllib.parse.urlencode({"service": SERVICE, "lookback": "1h", "limit": "100"})
    _, text = http("GET", f"{JAEGER}/api/traces?{q}")
    for t in json.loads(text).get("data") or []:
        if t.get("traceID") == trace_id:
            names = [s.get("operationName") for s in t.get("spans", [])]
            return True, f"trace {trace_id} spans={names}"
    return False, f"trace {trace_id} not among {len(json.loads(text).get('data') or [])} traces"


def check_prometheus():
    query = f'spanwire_smoke_requests_total{{run_id="{RUN_ID}"}}'
    q = urllib.parse.urlencode({"query": query})
    _, text = http("GET", f"{PROMETHEUS}/api/v1/query?{q}")
    result = json.loads(text)["data"]["result"]
    if not result:
        return False, f"{query} -> empty"
    labels, value = result[0]["metric"], result[0]["value"][1]
    if value != "7":
        return False, f"{query} -> value {value}, want 7"
    want = {
        "job": f"{NAMESPACE}/{SERVICE}",
        "k8s_namespace_name": K8S_NS,
        "k8s_pod_name": K8S_POD,
    }
    missing = {k: v for k, v in want.items() if labels.get(k) != v}
    if missing:
        return False, f"{query} labels {labels} lack {missing} (resource attribute promotion)"
    return True, f"{query} = {value}, labels {labels}"


def check_logs():
    query = f'"{RUN_ID}"'
    q = urllib.parse.urlencode({"query": query, "limit": "10"})
    _, text = http("GET", f"{LOGS}/select/logsql/query?{q}")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not rows:
        return False, f"LogsQL {query} -> no rows"
    row = rows[0]
    if row.get("_msg") != f"spanwire smoke log {RUN_ID}":
        return False, f"unexpected row {row}"
    stream = row.get("_stream", "")
    for want in (f'service.name="{SERVICE}"', f'k8s.pod.name="{K8S_POD}"'):
        if want not in stream:
            return False, f"_stream {stream} lacks {want} (stream-field promotion)"
    return True, f"_msg={row['_msg']!r} _stream={stream}"


def main():
    trace_id = secrets.token_hex(16)
    span_id = secrets.token_hex(8)
    log(f"run id {RUN_ID}, trace id {trace_id}")
    send(time.time_ns(), trace_id, span_id)
    results = [
        poll("Jaeger /api/services lists " + SERVICE, check_jaeger_services),
        poll("Jaeger /api/traces has the trace", lambda: check_jaeger_trace(trace_id)),
        poll("Prometheus /api/v1/query has the metric", check_prometheus),
        poll("VictoriaLogs /select/logsql/query has the log", check_logs),
    ]
    passed = sum(results)
    failed = len(results) - passed
    print(f"smoke: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
