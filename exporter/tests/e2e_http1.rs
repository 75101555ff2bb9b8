//! End-to-end: real servers and clients, the real agent, a real OTLP receiver.
//!
//! Every test here loads eBPF programs: they are named `root_*` and FAIL when
//! not run as root. Run: `sudo -E cargo test -p spanwire --test e2e_http1`.

mod common;

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::{ensure, Result};
use common::{
    bad_client, curl, hostname, keepalive, require_root, rss_kib, serial, start_go_server, start_py_server, unix_nanos,
    Agent, ClientKind, ClientRequest, Otlp, Server, Stats,
};
use otlp_sink::{AnyValueLite, ReceivedSpan, Sink, SPAN_KIND_CLIENT, SPAN_KIND_SERVER, STATUS_ERROR, STATUS_UNSET};

/// (method, target, body, expected status) for one curl request each.
const CURL_CASES: &[(&str, &str, Option<&str>, i64)] = &[
    ("GET", "/hello", None, 200),
    ("POST", "/echo", Some("name=spanwire&payload=0123456789"), 200),
    ("GET", "/chunked?n=5000", None, 200),
    ("GET", "/nope", None, 404),
    ("GET", "/status/500", None, 500),
    ("GET", "/hello?token=secret", None, 200),
];

/// keepalive_client.py plan: (item, repeat, expected status).
const KEEPALIVE_PLAN: &[(&str, usize, i64)] = &[
    ("GET /hello", 3, 200),
    ("POST /echo body=1000", 1, 200),
    ("GET /chunked?n=5000", 1, 200),
    ("GET /nope", 1, 404),
    ("GET /status/500", 1, 500),
    ("GET /status/204", 1, 204),
    ("GET /hello?token=secret", 1, 200),
];

const KEEPALIVE_SERVICE: &str = "ka-client";
const PY_SERVICE: &str = "py-server";
/// Tolerance when comparing span timestamps with the test's wall clock
/// (covers the agent's monotonic -> unix conversion).
const CLOCK_SLACK_NANOS: u64 = 100_000_000;
const MAX_AGENT_RSS_KIB: u64 = 200 * 1024;

fn keepalive_plan() -> String {
    KEEPALIVE_PLAN.iter().map(|(item, n, _)| format!("{item} x{n}")).collect::<Vec<_>>().join(", ")
}

fn expected_keepalive_statuses() -> Vec<i64> {
    KEEPALIVE_PLAN.iter().flat_map(|(_, n, status)| std::iter::repeat_n(*status, *n)).collect()
}

/// Sink + tokio runtime that serves it while the test thread blocks.
struct Env {
    sink: Sink,
    // Dropped after `sink` (fields drop in declaration order).
    _rt: tokio::runtime::Runtime,
}

impl Env {
    fn start() -> Result<Env> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let sink = rt.block_on(Sink::start())?;
        Ok(Env { sink, _rt: rt })
    }
}

fn run_curl_cases(server: &Server) -> Result<Vec<ClientRequest>> {
    let mut out = Vec::new();
    for (method, target, body, status) in CURL_CASES {
        let req = curl(server.port, method, target, *body)?;
        ensure!(
            req.status == *status,
            "curl {method} {target} on {} returned {} (expected {status})",
            server.proc.name,
            req.status
        );
        out.push(req);
    }
    Ok(out)
}

fn run_keepalive(server: &Server) -> Result<Vec<ClientRequest>> {
    let reqs = keepalive(server.port, &keepalive_plan(), KEEPALIVE_SERVICE)?;
    let statuses: Vec<i64> = reqs.iter().map(|r| r.status).collect();
    ensure!(statuses == expected_keepalive_statuses(), "keepalive statuses on {}: {statuses:?}", server.proc.name);
    Ok(reqs)
}

fn show(s: &ReceivedSpan) -> String {
    let attr = |k: &str| s.attr(k).map_or("-".to_owned(), AnyValueLite::render);
    format!(
        "{kind} svc={svc} pid={pid} name={name:?} {m} {p} -> {st} server.port={sp} peer={pa}:{pp} dur={dur:?}",
        kind = match s.kind {
            SPAN_KIND_SERVER => "SERVER".to_owned(),
            SPAN_KIND_CLIENT => "CLIENT".to_owned(),
            k => format!("kind{k}"),
        },
        svc = s.service_name(),
        pid = s.resource_int("process.pid").unwrap_or(-1),
        name = s.name,
        m = attr("http.request.method"),
        p = attr("url.path"),
        st = attr("http.response.status_code"),
        sp = attr("server.port"),
        pa = attr("network.peer.address"),
        pp = attr("network.peer.port"),
        dur = s.duration_nanos(),
    )
}

fn show_all(spans: &[ReceivedSpan]) -> String {
    spans.iter().map(show).collect::<Vec<_>>().join("\n")
}

/// Identifies the request a span belongs to. SERVER: (service, server.port,
/// peer port = client's port, ...); CLIENT: (service, pid, server.port, ...).
type Key = (String, i64, i64, String, String, i64);

fn span_key(s: &ReceivedSpan) -> Key {
    let int = |k: &str| s.attr_int(k).unwrap_or(-1);
    let text = |k: &str| s.attr_str(k).unwrap_or("<missing>").to_owned();
    let (a, b) = if s.kind == SPAN_KIND_SERVER {
        (int("server.port"), int("network.peer.port"))
    } else {
        (s.resource_int("process.pid").unwrap_or(-1), int("server.port"))
    };
    (s.service_name().to_owned(), a, b, text("http.request.method"), text("url.path"), int("http.response.status_code"))
}

fn request_key(kind: i32, server: &Server, r: &ClientRequest) -> Key {
    let (service, a, b) = if kind == SPAN_KIND_SERVER {
        (server.service.clone(), r.server_port.into(), r.client_port.into())
    } else {
        (r.client_service.clone(), r.client_pid.into(), r.server_port.into())
    };
    (service, a, b, r.method.clone(), r.path().to_owned(), r.status)
}

/// Exactly one span of `kind` per request (compared as multisets of keys),
/// paired with its request in issue order.
fn pair<'s, 'r>(
    kind: i32,
    spans: &[&'s ReceivedSpan],
    reqs: &[(&'r Server, &'r ClientRequest)],
) -> Result<Vec<(&'r Server, &'r ClientRequest, &'s ReceivedSpan)>> {
    let mut by_key: BTreeMap<Key, Vec<&ReceivedSpan>> = BTreeMap::new();
    for s in spans.iter().filter(|s| s.kind == kind) {
        by_key.entry(span_key(s)).or_default().push(s);
    }
    let mut wanted: BTreeMap<Key, Vec<(&Server, &ClientRequest)>> = BTreeMap::new();
    for (server, r) in reqs {
        wanted.entry(request_key(kind, server, r)).or_default().push((server, r));
    }
    let mut problems = Vec::new();
    for key in by_key.keys().chain(wanted.keys()) {
        let got = by_key.get(key).map_or(0, Vec::len);
        let want = wanted.get(key).map_or(0, Vec::len);
        if got != want && !problems.iter().any(|p: &String| p.starts_with(&format!("{key:?}"))) {
            problems.push(format!("{key:?}: expected {want} span(s), got {got}"));
        }
    }
    ensure!(problems.is_empty(), "kind {kind} span mismatch:\n{}", problems.join("\n"));
    let mut out = Vec::new();
    for (key, mut got) in by_key {
        got.sort_by_key(|s| s.start_unix_nano);
        let want = wanted.remove(&key).unwrap_or_default();
        out.extend(want.into_iter().zip(got).map(|((srv, r), s)| (srv, r, s)));
    }
    Ok(out)
}

/// Every contract attribute of one span, against the request it belongs to.
fn check_span(kind: i32, server: &Server, r: &ClientRequest, s: &ReceivedSpan, host: &str) -> Vec<String> {
    let mut p = Vec::new();
    let mut expect = |what: &str, ok: bool| {
        if !ok {
            p.push(format!("{what} wrong in [{}] for {} {}", show(s), r.method, r.target));
        }
    };
    let server_side = kind == SPAN_KIND_SERVER;
    expect("name", s.name == r.method || s.name.starts_with(&format!("{} ", r.method)));
    expect("url.scheme", s.attr_str("url.scheme") == Some("http"));
    expect("network.peer.address", s.attr_str("network.peer.address") == Some("127.0.0.1"));
    let peer_port = if server_side { r.client_port } else { r.server_port };
    expect("network.peer.port", s.attr_int("network.peer.port") == Some(peer_port.into()));
    expect("server.port", s.attr_int("server.port") == Some(r.server_port.into()));
    expect("http.request.method", s.attr_str("http.request.method") == Some(&r.method));
    expect("url.path", s.attr_str("url.path") == Some(r.path()));
    expect("http.response.status_code", s.attr_int("http.response.status_code") == Some(r.status));
    let is_error = if server_side { r.status >= 500 } else { r.status >= 400 };
    let error_type = is_error.then(|| r.status.to_string());
    expect("error.type", s.attr_str("error.type") == error_type.as_deref());
    let status = if is_error { STATUS_ERROR } else { STATUS_UNSET };
    expect("status.code", s.status_code == status);
    let (service, pid, exe) = if server_side {
        (&server.service, server.proc.pid(), &server.exe)
    } else {
        (&r.client_service, r.client_pid, &r.client_exe)
    };
    expect("service.name", s.service_name() == service);
    expect("process.pid", s.resource_int("process.pid") == Some(pid.into()));
    expect("process.executable.name", s.resource_str("process.executable.name") == Some(exe));
    expect("host.name", s.resource_str("host.name") == Some(host));
    expect("trace_id", s.trace_id != [0; 16]);
    expect("span_id", s.span_id != [0; 8]);
    let dur = s.duration_nanos().unwrap_or(0);
    if dur == 0 || dur > r.elapsed_nanos + r.elapsed_slack_nanos {
        p.push(format!(
            "duration {dur} ns not in (0, {}] measured by the client, [{}] for {} {}",
            r.elapsed_nanos,
            show(s),
            r.method,
            r.target
        ));
    }
    let (lo, hi) = r.window;
    if s.start_unix_nano + CLOCK_SLACK_NANOS < lo || s.end_unix_nano > hi + CLOCK_SLACK_NANOS {
        p.push(format!(
            "span [{}..{}] outside the request's wall-clock window [{lo}..{hi}]: [{}]",
            s.start_unix_nano,
            s.end_unix_nano,
            show(s)
        ));
    }
    p
}

/// No query string (e.g. `token=secret`) in any span name, attribute or resource.
fn check_no_query(spans: &[&ReceivedSpan]) -> Result<()> {
    for s in spans {
        let texts = std::iter::once(s.name.clone())
            .chain(s.attributes.values().map(AnyValueLite::render))
            .chain(s.resource.values().map(AnyValueLite::render));
        for t in texts {
            ensure!(!t.contains("secret") && !t.contains('?'), "query string leaked ({t:?}) in [{}]", show(s));
        }
    }
    Ok(())
}

/// Pairs spans with requests for both kinds and checks every pair.
fn check_requests(spans: &[&ReceivedSpan], reqs: &[(&Server, &ClientRequest)]) -> Result<()> {
    let host = hostname()?;
    let mut problems = Vec::new();
    for kind in [SPAN_KIND_SERVER, SPAN_KIND_CLIENT] {
        for (server, r, s) in pair(kind, spans, reqs)? {
            problems.extend(check_span(kind, server, r, s, &host));
        }
    }
    ensure!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

fn check_export_stats(stats: &Stats, spans: &[ReceivedSpan], sink: &Sink, otlp: Otlp) -> Result<()> {
    ensure!(
        stats.get("spans_exported_total")? == u64::try_from(spans.len())?,
        "spans_exported_total {} but the sink received {} span(s)",
        stats.get("spans_exported_total")?,
        spans.len()
    );
    ensure!(stats.get("export_failures_total")? == 0, "export failures: {stats:?}");
    ensure!(stats.get("ringbuf_dropped_events_total")? == 0, "ring buffer drops: {stats:?}");
    ensure!(sink.requests() >= 1, "sink got no export request");
    let wrong_via: Vec<_> = spans.iter().filter(|s| s.via != otlp.via()).collect();
    ensure!(wrong_via.is_empty(), "spans not sent via {otlp:?}: {wrong_via:?}");
    Ok(())
}

/// Failure diagnostics (libtest shows captured output of failed tests).
fn dump(agent_log: &common::Lines, servers: &[&Server]) {
    eprintln!("--- agent stderr:\n{}", agent_log.text());
    for server in servers {
        eprintln!("{}", server.proc.describe());
    }
}

/// Scenario a: curl + keep-alive traffic to a Python and a Go server.
fn scenario_traffic(otlp: Otlp) -> Result<()> {
    require_root();
    let _serial = serial();
    let env = Env::start()?;
    let py = start_py_server(PY_SERVICE)?;
    let go = start_go_server()?;
    let agent = Agent::start(&[py.port, go.port], otlp, &env.sink)?;
    let log = agent.proc.stderr.clone();
    let result = traffic_body(&env.sink, agent, &py, &go, otlp);
    if result.is_err() {
        dump(&log, &[&py, &go]);
    }
    result
}

fn traffic_body(sink: &Sink, agent: Agent, py: &Server, go: &Server, otlp: Otlp) -> Result<()> {
    let mut reqs = Vec::new();
    for server in [py, go] {
        reqs.extend(run_curl_cases(server)?.into_iter().map(|r| (server, r)));
        let ka = run_keepalive(server)?;
        let ports: Vec<u16> = ka.iter().map(|r| r.client_port).collect();
        ensure!(ports.windows(2).all(|w| w[0] == w[1]), "keep-alive client used several connections: {ports:?}");
        reqs.extend(ka.into_iter().map(|r| (server, r)));
    }
    let stats = agent.stop()?;
    // The agent flushed before exiting, and the sink records a span before
    // acknowledging the export: everything is here now.
    let spans = sink.spans();
    // Shown by the test harness on failure (or with --nocapture); the
    // assertions below refer to this listing.
    println!("stats: {stats:?}\nspans:\n{}", show_all(&spans));
    let reqs: Vec<(&Server, &ClientRequest)> = reqs.iter().map(|(s, r)| (*s, r)).collect();

    // Exactly one SERVER span per request per server process, one CLIENT span
    // per request per client process, and nothing else.
    for server in [py, go] {
        let count = |kind| {
            let mut m: BTreeMap<(String, String, i64), usize> = BTreeMap::new();
            for s in spans.iter().filter(|s| s.kind == kind && s.service_name() == server.service) {
                let k = span_key(s);
                *m.entry((k.3, k.4, k.5)).or_default() += 1;
            }
            m
        };
        let mut want: BTreeMap<(String, String, i64), usize> = BTreeMap::new();
        for (_, r) in reqs.iter().filter(|(s, _)| s.port == server.port) {
            *want.entry((r.method.clone(), r.path().to_owned(), r.status)).or_default() += 1;
        }
        ensure!(
            count(SPAN_KIND_SERVER) == want,
            "SERVER spans of {} per (method, path, status): got {:?}, want {want:?}",
            server.service,
            count(SPAN_KIND_SERVER),
        );
    }
    let curl_count = reqs.iter().filter(|(_, r)| r.client == ClientKind::Curl).count();
    let curl_spans = spans.iter().filter(|s| s.kind == SPAN_KIND_CLIENT && s.service_name() == "curl").count();
    ensure!(curl_spans == curl_count, "{curl_spans} curl CLIENT spans for {curl_count} curl requests",);
    ensure!(
        spans.len() == 2 * reqs.len(),
        "expected {} spans (SERVER + CLIENT for {} requests), got {}",
        2 * reqs.len(),
        reqs.len(),
        spans.len(),
    );
    let span_refs: Vec<&ReceivedSpan> = spans.iter().collect();
    check_requests(&span_refs, &reqs)?;
    check_no_query(&span_refs)?;
    check_export_stats(&stats, &spans, sink, otlp)?;
    ensure!(stats.get("http_parse_errors_total")? == 0, "parse errors on valid traffic: {stats:?}");
    Ok(())
}

/// Scenario b: malformed traffic, then normal requests still traced correctly.
fn scenario_bad_input(otlp: Otlp) -> Result<()> {
    require_root();
    let _serial = serial();
    let env = Env::start()?;
    let py = start_py_server(PY_SERVICE)?;
    let go = start_go_server()?;
    let agent = Agent::start(&[py.port, go.port], otlp, &env.sink)?;
    let log = agent.proc.stderr.clone();
    let result = bad_input_body(&env.sink, agent, &py, &go, otlp);
    if result.is_err() {
        dump(&log, &[&py, &go]);
    }
    result
}

fn bad_input_body(sink: &Sink, mut agent: Agent, py: &Server, go: &Server, otlp: Otlp) -> Result<()> {
    let bad_start = unix_nanos(SystemTime::now());
    for server in [py, go] {
        let cases = bad_client(server.port)?;
        ensure!(cases.len() > 10, "bad_client ran only {} case(s)", cases.len());
    }
    agent.ensure_alive()?;
    let mut reqs = Vec::new();
    for server in [py, go] {
        for (method, target, body) in
            [("GET", "/hello", None), ("POST", "/echo", Some("x=1")), ("GET", "/status/500", None)]
        {
            let r = curl(server.port, method, target, body)?;
            reqs.push((server, r));
        }
    }
    agent.ensure_alive()?;
    let rss = rss_kib(agent.pid())?;
    ensure!(rss < MAX_AGENT_RSS_KIB, "agent RSS {rss} KiB >= {MAX_AGENT_RSS_KIB} KiB");
    let stats = agent.stop()?;
    let spans = sink.spans();
    // Shown by the test harness on failure (or with --nocapture); the
    // assertions below refer to this listing.
    println!("stats: {stats:?}\nspans:\n{}", show_all(&spans));
    ensure!(spans.iter().all(|s| s.start_unix_nano + CLOCK_SLACK_NANOS >= bad_start), "span from before the test",);

    // Only the curl requests have known outcomes: select their spans by the
    // client's pid (CLIENT) or the client's port within its window (SERVER).
    let reqs: Vec<(&Server, &ClientRequest)> = reqs.iter().map(|(s, r)| (*s, r)).collect();
    let ours: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| {
            reqs.iter().any(|(_, r)| {
                let in_window = s.start_unix_nano + CLOCK_SLACK_NANOS >= r.window.0;
                match s.kind {
                    SPAN_KIND_CLIENT => s.resource_int("process.pid") == Some(r.client_pid.into()),
                    SPAN_KIND_SERVER => in_window && s.attr_int("network.peer.port") == Some(r.client_port.into()),
                    _ => false,
                }
            })
        })
        .collect();
    check_requests(&ours, &reqs)?;
    // (Malformed requests' spans may legitimately carry odd bytes; only ours.)
    check_no_query(&ours)?;
    check_export_stats(&stats, &spans, sink, otlp)?;
    ensure!(stats.get("http_parse_errors_total")? > 0, "malformed traffic counted no parse error: {stats:?}");
    Ok(())
}

#[test]
fn root_traffic_grpc() -> Result<()> {
    scenario_traffic(Otlp::Grpc)
}

#[test]
fn root_traffic_http_protobuf() -> Result<()> {
    scenario_traffic(Otlp::HttpProtobuf)
}

#[test]
fn root_bad_input_grpc() -> Result<()> {
    scenario_bad_input(Otlp::Grpc)
}

#[test]
fn root_bad_input_http_protobuf() -> Result<()> {
    scenario_bad_input(Otlp::HttpProtobuf)
}
