#!/usr/bin/python3
"""Checks grafana/ (dashboards + provisioning) offline and against the running stack.

  dashboards.py schema
      Type-checks every dashboard against Grafana's own TypeScript model (@grafana/schema,
      the `Dashboard` interface, with tsc --strict: unknown fields and wrong types fail) and
      checks what the model leaves open: unique panel ids and refIds, panels inside the
      24-column grid and not overlapping, every target on a provisioned datasource of the
      right type with a query, every $variable defined, links and derived fields pointing at
      provisioned datasources.

  dashboards.py queries --services REGEX --trace-service NAME [--window S] [--timeout S]
      Runs every query of every panel and variable against the real backends, with the
      variables substituted as Grafana would (namespace = All, service = REGEX as a
      multi-value selection, ${service} = NAME for the Jaeger search), over the last S
      seconds. A query passes when it returns data with at least one value > 0 (Prometheus,
      LogsQL stats), at least one log line (LogsQL) or at least one trace (Jaeger). Queries
      are retried until --timeout, since telemetry arrives in batches.

Ends with `dashboards: N checked, N failed` and exits 1 when anything failed.
Needs Debian's python3 (python3-yaml) and, for `schema`, node + npm (packages cached under
${SPANWIRE_STACK_CACHE:-~/.cache/spanwire-stack}/grafana-schema-<version>).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRAFANA = os.path.join(ROOT, "grafana")
DASHBOARDS = os.path.join(GRAFANA, "dashboards")
DATASOURCES = os.path.join(GRAFANA, "provisioning", "datasources", "spanwire.yaml")
SCHEMA_VERSION = "13.2.3"  # @grafana/schema (Apache-2.0), Grafana 13.2's dashboard model
TYPESCRIPT_VERSION = "5.9.3"
PROMETHEUS = "http://127.0.0.1:9090"
VICTORIALOGS = "http://127.0.0.1:9428"
JAEGER = "http://127.0.0.1:16686"
# Grafana's own variables (and the per-field/per-value ones used in links).
BUILTIN_VARS = {"__rate_interval", "__range", "__interval", "__all", "__field", "__value", "__data", "__series"}

failures = []
checked = 0


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", flush=True)


def ok(msg):
    print(f"ok: {msg}", flush=True)


def load_dashboards():
    out = []
    for name in sorted(os.listdir(DASHBOARDS)):
        if name.endswith(".json"):
            with open(os.path.join(DASHBOARDS, name)) as f:
                out.append((name, json.load(f)))
    if not out:
        sys.exit(f"no dashboards in {DASHBOARDS}")
    return out


def load_datasources():
    with open(DATASOURCES) as f:
        doc = yaml.safe_load(f)
    return {d["uid"]: d for d in doc["datasources"]}


def panels(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


# --- schema ---------------------------------------------------------------------------

def npm_dir():
    cache = os.environ.get("SPANWIRE_STACK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spanwire-stack")
    d = os.path.join(cache, f"grafana-schema-{SCHEMA_VERSION}-ts{TYPESCRIPT_VERSION}")
    if not os.path.exists(os.path.join(d, "node_modules", "typescript", "bin", "tsc")):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "package.json"), "w") as f:
            json.dump({"private": True}, f)
        print(f"installing @grafana/schema@{SCHEMA_VERSION} typescript@{TYPESCRIPT_VERSION} into {d}", flush=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error",
                        f"typescript@{TYPESCRIPT_VERSION}", f"@grafana/schema@{SCHEMA_VERSION}"],
                       cwd=d, check=True)
    return d


def typecheck(dashboards):
    d = npm_dir()
    model = os.path.join(d, "node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen")
    lines = [f"import type {{ Dashboard }} from {json.dumps(model)};"]
    for i, (name, dash) in enumerate(dashboards):
        lines.append(f"// {name}\nexport const d{i}: Dashboard = {json.dumps(dash)};")
    src = os.path.join(d, "check.ts")
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([os.path.join(d, "node_modules/.bin/tsc"), "--noEmit", "--strict", "--target", "es2022",
                        "--moduleResolution", "node", src], capture_output=True, text=True)
    if r.returncode != 0:
        fail("dashboards do not match Grafana's Dashboard model:\n" + (r.stdout + r.stderr)[-4000:])
    else:
        ok(f"{len(dashboards)} dashboards type-check against @grafana/schema {SCHEMA_VERSION} (tsc --strict)")


def structure(name, dash, datasources):
    global checked
    ids, cells = set(), []
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    for p in panels(dash):
        checked += 1
        where = f"{name} panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            fail(f"{where}: duplicate panel id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not (0 <= g.get("x", -1) and g.get("w", 0) > 0 and g["x"] + g["w"] <= 24 and g.get("h", 0) > 0):
            fail(f"{where}: gridPos {g} outside the 24-column grid")
        cell = (g.get("x", 0), g.get("y", 0), g.get("w", 0), g.get("h", 0))
        for other in cells:
            if (cell[0] < other[0] + other[2] and other[0] < cell[0] + cell[2]
                    and cell[1] < other[1] + other[3] and other[1] < cell[1] + cell[3]):
                fail(f"{where}: overlaps another panel at {other}")
        cells.append(cell)
        if p.get("type") == "row":
            continue
        refs = [t.get("refId") for t in p.get("targets", [])]
        if not refs or len(set(refs)) != len(refs):
            fail(f"{where}: targets missing or refIds not unique: {refs}")
        for t in p.get("targets", []):
            ds = t.get("datasource") or p.get("datasource") or {}
            prov = datasources.get(ds.get("uid"))
            if prov is None or prov["type"] != ds.get("type"):
                fail(f"{where}: target {t.get('refId')} uses datasource {ds}, not a provisioned one")
            elif prov["type"] == "jaeger":
                if t.get("queryType") != "search" or not t.get("service"):
                    fail(f"{where}: Jaeger target needs queryType search and a service")
            elif not t.get("expr"):
                fail(f"{where}: target {t.get('refId')} has no expr")
    for s in strings(dash):
        for m in re.finditer(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", s):
            var = m.group(1)
            if var not in variables and var not in BUILTIN_VARS:
                fail(f"{name}: ${var} is used but not defined (in {s[:80]!r})")
    for v in dash.get("templating", {}).get("list", []):
        ds = v.get("datasource")
        if ds and datasources.get(ds.get("uid"), {}).get("type") != ds.get("type"):
            fail(f"{name}: variable {v['name']} uses datasource {ds}, not a provisioned one")
    ok(f"{name}: structure ({len(ids)} panels, variables {sorted(variables)})")


def provisioning(datasources):
    for uid, d in datasources.items():
        jd = d.get("jsonData") or {}
        for link in jd.get("exemplarTraceIdDestinations", []) + jd.get("derivedFields", []):
            if link.get("datasourceUid") not in datasources:
                fail(f"datasource {uid}: link to unknown datasource {link.get('datasourceUid')}")
    types = sorted(d["type"] for d in datasources.values())
    if types != ["jaeger", "prometheus", "victoriametrics-logs-datasource"]:
        fail(f"provisioned datasource types {types}")
    ok(f"provisioning: datasources {sorted(datasources)}")


# --- queries --------------------------------------------------------------------------

def http_json(url, params, post=False):
    data = urllib.parse.urlencode(params, doseq=True)
    req = urllib.request.Request(url, data=data.encode()) if post else urllib.request.Request(f"{url}?{data}")
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read().decode()
    return body


def positive(values):
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            return True
    return False


def substitute(text, args):
    return (text.replace("${service}", args.trace_service)
            .replace("$service", args.services)
            .replace("$namespace", ".*")
            .replace("$__rate_interval", "1m")
            .replace("$__range", f"{args.window}s"))


def run_prometheus(expr, instant, args):
    now = time.time()
    if instant:
        doc = json.loads(http_json(f"{PROMETHEUS}/api/v1/query", {"query": expr, "time": now}, post=True))
        series = doc["data"]["result"]
        values = [s["value"][1] for s in series]
    else:
        doc = json.loads(http_json(f"{PROMETHEUS}/api/v1/query_range",
                                   {"query": expr, "start": now - args.window, "end": now, "step": 5}, post=True))
        series = doc["data"]["result"]
        values = [v[1] for s in series for v in s["values"]]
    return len(series), positive(values)


def run_logsql(expr, qtype, args):
    now = time.time()
    rng = {"start": f"{now - args.window:.3f}", "end": f"{now:.3f}"}
    if qtype == "statsRange":
        doc = json.loads(http_json(f"{VICTORIALOGS}/select/logsql/stats_query_range",
                                   {"query": expr, "step": "10s", **rng}, post=True))
        series = doc["data"]["result"]
        return len(series), positive(v[1] for s in series for v in s["values"])
    if qtype == "stats":
        doc = json.loads(http_json(f"{VICTORIALOGS}/select/logsql/stats_query", {"query": expr, "time": f"{now:.3f}"}, post=True))
        series = doc["data"]["result"]
        return len(series), positive(s["value"][1] for s in series)
    body = http_json(f"{VICTORIALOGS}/select/logsql/query", {"query": expr, "limit": 50, **rng}, post=True)
    lines = [ln for ln in body.splitlines() if ln.strip()]
    return len(lines), bool(lines)


def run_jaeger(service, limit):
    doc = json.loads(http_json(f"{JAEGER}/api/traces", {"service": service, "limit": limit, "lookback": "1h"}))
    traces = doc.get("data") or []
    return len(traces), bool(traces)


def poll(what, fn, args):
    global checked
    checked += 1
    deadline = time.time() + args.timeout
    last = None
    while True:
        try:
            n, good = fn()
            if good:
                ok(f"{what}: {n} result(s)")
                return
            last = f"{n} result(s), none with data > 0"
        except (urllib.error.URLError, KeyError, ValueError) as e:
            last = f"error: {e}"
        if time.time() >= deadline:
            fail(f"{what}: {last}")
            return
        time.sleep(2)


def check_queries(dashboards, datasources, args):
    for name, dash in dashboards:
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
            if not m:
                fail(f"{name} variable {v['name']}: unsupported query {q!r}")
                continue
            selector, label = substitute(m.group(1), args), m.group(2)

            def values(selector=selector, label=label):
                now = time.time()
                doc = json.loads(http_json(f"{PROMETHEUS}/api/v1/label/{label}/values",
                                           {"match[]": selector, "start": now - args.window, "end": now}))
                return len(doc["data"]), bool(doc["data"])

            if label == "k8s_namespace_name" and args.no_k8s:
                # Outside Kubernetes no series has the label: the query must still be valid.
                global checked
                checked += 1
                try:
                    n, _ = values()
                    ok(f"{name} variable {v['name']}: valid, {n} value(s) (no Kubernetes here)")
                except (urllib.error.URLError, KeyError, ValueError) as e:
                    fail(f"{name} variable {v['name']}: {e}")
                continue
            poll(f"{name} variable {v['name']} = {q}", values, args)
        for p in panels(dash):
            for t in p.get("targets", []):
                ds = datasources[(t.get("datasource") or p.get("datasource"))["uid"]]
                what = f"{name} / {p['title']} / {t['refId']}"
                if ds["type"] == "prometheus":
                    expr = substitute(t["expr"], args)
                    poll(f"{what} [PromQL {expr}]", lambda e=expr, i=t.get("instant", False): run_prometheus(e, i, args), args)
                elif ds["type"] == "victoriametrics-logs-datasource":
                    expr = substitute(t["expr"], args)
                    poll(f"{what} [LogsQL {t.get('queryType')} {expr}]",
                         lambda e=expr, q=t.get("queryType", "instant"): run_logsql(e, q, args), args)
                else:
                    service = substitute(t["service"], args)
                    poll(f"{what} [Jaeger search service={service}]",
                         lambda s=service, n=t.get("limit", 20): run_jaeger(s, n), args)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("schema")
    q = sub.add_parser("queries")
    q.add_argument("--services", required=True, help="regex of service names ($service)")
    q.add_argument("--trace-service", required=True, help="one service for the Jaeger search (${service})")
    q.add_argument("--window", type=int, default=600, help="seconds of data to query")
    q.add_argument("--timeout", type=int, default=60, help="seconds to wait for each query's data")
    q.add_argument("--no-k8s", action="store_true", help="allow the namespace variable to be empty")
    args = ap.parse_args()
    dashboards, datasources = load_dashboards(), load_datasources()
    if args.cmd == "schema":
        provisioning(datasources)
        for name, dash in dashboards:
            structure(name, dash, datasources)
        typecheck(dashboards)
    else:
        check_queries(dashboards, datasources, args)
    print(f"dashboards: {checked} checked, {len(failures)} failed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
