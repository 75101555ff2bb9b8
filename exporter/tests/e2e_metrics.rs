//! End-to-end metrics: real servers and clients, the real agent, a real OTLP receiver.
//!
//! Every test here loads eBPF programs: they are named `root_*` and FAIL when not run as root.
//! Run: `sudo -E cargo test -p spanwire --test e2e_metrics`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::grpc::{grpc_client, start_grpc_server, GrpcLang};
use common::{
    clean_command, keepalive, python, require_root, serial, servers_dir, start_py_server, Agent, ChildProc, Otlp,
};
use otlp_sink::{PointValue, ReceivedPoint, Sink, Temporality};

const INTERVAL_MS: &str = "300";

struct Env {
    sink: Sink,
    _rt: tokio::runtime::Runtime,
}

impl Env {
    fn start() -> Result<Env> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let sink = rt.block_on(Sink::start())?;
        Ok(Env { sink, _rt: rt })
    }
}

fn attr_key(p: &ReceivedPoint) -> String {
    format!("{:?}", p.attributes)
}

/// Points of one metric for one service.
fn points<'a>(all: &'a [ReceivedPoint], name: &str, service: &str) -> Vec<&'a ReceivedPoint> {
    all.iter().filter(|p| p.name == name && p.resource_str("service.name") == Some(service)).collect()
}

/// Cumulative: the newest point of each series.
fn latest<'a>(pts: &[&'a ReceivedPoint]) -> Vec<&'a ReceivedPoint> {
    let mut by: BTreeMap<String, &ReceivedPoint> = BTreeMap::new();
    for p in pts {
        let e = by.entry(attr_key(p)).or_insert(p);
        if p.time_unix_nano >= e.time_unix_nano {
            *e = p;
        }
    }
    by.into_values().collect()
}

fn hist_sum(p: &ReceivedPoint) -> f64 {
    match &p.value {
        PointValue::Histogram { sum, .. } => *sum,
        _ => f64::NAN,
    }
}

/// (route, status) -> request count.
fn by_route_status(pts: &[&ReceivedPoint]) -> BTreeMap<(String, i64), u64> {
    let mut out = BTreeMap::new();
    for p in pts {
        let key =
            (p.attr_str("http.route").unwrap_or("-").to_owned(), p.attr_int("http.response.status_code").unwrap_or(-1));
        *out.entry(key).or_default() += p.number() as u64;
    }
    out
}

const PLAN: &str = "GET /hello x5, POST /echo body=1000 x3, POST /echo body=70000 x2, GET /status/500 x2, \
                    GET /status/204, GET /users/17, GET /users/42, GET /nope";

#[test]
fn root_red_histograms_count_every_request_per_route_and_status_http_cumulative() -> Result<()> {
    require_root();
    let _serial = serial();
    let env = Env::start()?;
    let server = start_py_server("metrics-py")?;
    let args = vec!["--port".to_string(), server.port.to_string()];
    let agent =
        Agent::start_env(&args, Otlp::HttpProtobuf, &env.sink, &[("OTEL_METRIC_EXPORT_INTERVAL", INTERVAL_MS)])?;
    let reqs = keepalive(server.port, PLAN, "metrics-client")?;
    ensure!(reqs.len() == 16, "client made {} requests", reqs.len());
    // Let at least one periodic export happen while the agent runs, then stop (final export).
    std::thread::sleep(Duration::from_millis(800));
    let stats = agent.stop()?;
    let all = env.sink.metrics();
    ensure!(env.sink.metric_requests() >= 2, "expected periodic exports and a final one");
    ensure!(all.iter().all(|p| p.via == otlp_sink::Protocol::Http));

    let server_pts = points(&all, "http.server.request.duration", "metrics-py");
    ensure!(server_pts.iter().all(|p| p.temporality == Temporality::Cumulative && p.unit == "s"));
    let got = by_route_status(&latest(&server_pts));
    let want: BTreeMap<(String, i64), u64> = [
        (("/hello", 200), 5),
        (("/echo", 200), 5),
        (("/status/*", 500), 2),
        (("/status/*", 204), 1),
        (("/users/*", 404), 2),
        (("/nope", 404), 1),
    ]
    .into_iter()
    .map(|((r, s), n)| ((r.to_owned(), s), n))
    .collect();
    assert_eq!(got, want, "server histogram counts per (route, status)");
    let failed: Vec<_> = latest(&server_pts).into_iter().filter(|p| p.attr_str("error.type").is_some()).collect();
    ensure!(failed.len() == 1 && failed[0].attr_str("error.type") == Some("500"), "only 5xx carry error.type");
    if let PointValue::Histogram { bounds, bucket_counts, .. } = &server_pts[0].value {
        assert_eq!(bounds, &[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]);
        assert_eq!(bucket_counts.len(), bounds.len() + 1);
    }

    // The client's histogram: no route, one series per status (server.address/port fixed).
    let client = latest(&points(&all, "http.client.request.duration", "metrics-client"));
    let total: u64 = client.iter().map(|p| p.number() as u64).sum();
    assert_eq!(total, 16, "client histogram counts");
    ensure!(client.iter().all(|p| p.attr_int("server.port") == Some(i64::from(server.port))));

    // Body sizes: exactly what the client sent and the server echoed.
    let body = |name: &str, service: &str| -> f64 {
        latest(&points(&all, name, service))
            .into_iter()
            .filter(|p| p.attr_str("http.route").is_none_or(|r| r == "/echo"))
            .filter(|p| p.attr_int("http.response.status_code") == Some(200))
            .map(hist_sum)
            .sum()
    };
    let sent = 3.0 * 1000.0 + 2.0 * 70000.0;
    assert_eq!(body("http.server.request.body.size", "metrics-py"), sent);
    assert_eq!(body("http.server.response.body.size", "metrics-py"), sent);
    assert_eq!(body("http.client.request.body.size", "metrics-client"), sent);

    // Self-metrics under the agent's own resource.
    let spans_created: Vec<_> = all.iter().filter(|p| p.name == "spanwire_spans_created_total").collect();
    ensure!(!spans_created.is_empty(), "self-metrics exported");
    let last = spans_created.iter().max_by_key(|p| p.time_unix_nano).context("a point")?;
    assert_eq!(last.resource_str("service.name"), Some("spanwire"), "the agent's own resource");
    assert_eq!(last.number() as u64, stats.get("spans_created_total")?, "self-metric equals the exit summary");
    ensure!(matches!(last.value, PointValue::Sum { monotonic: true, .. }));
    Ok(())
}

/// Runs many_paths_client.py: GET /users/<i> for i in 0..count.
fn many_paths(port: u16, count: usize) -> Result<()> {
    let mut cmd = clean_command(python()?);
    cmd.arg(servers_dir().join("many_paths_client.py"))
        .args(["--port", &port.to_string(), "--count", &count.to_string()])
        .env("OTEL_SERVICE_NAME", "many-paths");
    let mut proc = ChildProc::spawn("many_paths_client", &mut cmd)?;
    proc.finish(Duration::from_secs(120))?;
    let out = proc.stdout.all().join("\n");
    ensure!(out.contains(&format!("\"sent\": {count}")), "client output: {out}");
    Ok(())
}

#[test]
fn root_ten_thousand_ids_make_a_handful_of_series_grpc_delta() -> Result<()> {
    require_root();
    let _serial = serial();
    let env = Env::start()?;
    let server = start_py_server("ids-py")?;
    let args = vec!["--port".to_string(), server.port.to_string()];
    let extra =
        [("OTEL_METRIC_EXPORT_INTERVAL", INTERVAL_MS), ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")];
    let agent = Agent::start_env(&args, Otlp::Grpc, &env.sink, &extra)?;
    many_paths(server.port, 10_000)?;
    std::thread::sleep(Duration::from_millis(500));
    let stats = agent.stop()?;
    let all = env.sink.metrics();
    ensure!(all.iter().all(|p| p.via == otlp_sink::Protocol::Grpc));
    let pts = points(&all, "http.server.request.duration", "ids-py");
    ensure!(pts.iter().all(|p| p.temporality == Temporality::Delta));
    let series: std::collections::BTreeSet<String> = pts.iter().map(|p| attr_key(p)).collect();
    ensure!(series.len() <= 3, "10 000 ids made {} series: {series:?}", series.len());
    // Delta: each export carries what happened since the previous one; together, every request.
    let total: u64 = pts.iter().map(|p| p.number() as u64).sum();
    assert_eq!(total, 10_000);
    ensure!(pts.iter().all(|p| p.attr_str("http.route") == Some("/users/*")));
    ensure!(stats.get("http_route_segments_collapsed_total")? >= 10_000);
    assert_eq!(stats.get("metric_series_overflow_samples_total")?, 0);
    Ok(())
}

/// (rpc.method, rpc.response.status_code) -> count, from the newest cumulative points.
fn by_method_code(pts: &[&ReceivedPoint]) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for p in latest(pts) {
        let key = (
            p.attr_str("rpc.method").unwrap_or("-").to_owned(),
            p.attr_str("rpc.response.status_code").unwrap_or("-").to_owned(),
        );
        *out.entry(key).or_default() += p.number() as u64;
    }
    out
}

#[test]
fn root_rpc_histograms_count_every_grpc_call_per_method_and_code() -> Result<()> {
    require_root();
    let _serial = serial();
    let env = Env::start()?;
    let server = start_grpc_server(GrpcLang::Go, "rpc-metrics-server")?;
    let args = vec!["--port".to_string(), server.port.to_string()];
    let agent = Agent::start_env(&args, Otlp::Grpc, &env.sink, &[("OTEL_METRIC_EXPORT_INTERVAL", INTERVAL_MS)])?;
    let plan = "Unary:ok,Unary:ok,Unary:ok,Unary:not_found,Unary:internal,ServerStream:n:5";
    let calls = grpc_client(GrpcLang::Go, server.port, plan, "rpc-metrics-client")?;
    std::thread::sleep(Duration::from_millis(500));
    agent.stop()?;
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for c in &calls {
        *want.entry((c.method.clone(), c.status.clone())).or_default() += 1;
    }
    ensure!(want.values().sum::<u64>() == 6, "the client made {} calls", calls.len());
    let all = env.sink.metrics();
    let server_pts = points(&all, "rpc.server.call.duration", "rpc-metrics-server");
    ensure!(server_pts.iter().all(|p| p.unit == "s" && p.attr_str("rpc.system.name") == Some("grpc")));
    assert_eq!(by_method_code(&server_pts), want, "server histogram counts per (method, code)");
    // By pid: a short-lived client may be gone before the agent reads its environment, and then
    // its service.name falls back to the thread name (as for its spans).
    let client_pid = i64::from(calls[0].client_pid);
    let client_pts: Vec<&ReceivedPoint> = all
        .iter()
        .filter(|p| p.name == "rpc.client.call.duration")
        .filter(|p| p.resource.get("process.pid").and_then(|v| v.as_int()) == Some(client_pid))
        .collect();
    assert_eq!(by_method_code(&client_pts), want, "client histogram counts per (method, code)");
    let errors: Vec<_> = latest(&server_pts).into_iter().filter_map(|p| p.attr_str("error.type")).collect();
    assert_eq!(errors, ["INTERNAL"], "server-side error.type only for server faults");
    ensure!(points(&all, "rpc.server.duration", "rpc-metrics-server").is_empty(), "older names only on opt-in");
    Ok(())
}

/// (direction, network.io.direction) -> bytes for flows of this process with `port`.
fn tcp_bytes(all: &[ReceivedPoint], pid: u32, port: u16) -> BTreeMap<(String, String), u64> {
    let mine: Vec<&ReceivedPoint> = all
        .iter()
        .filter(|p| p.name == "spanwire.tcp.io")
        .filter(|p| p.resource.get("process.pid").and_then(|v| v.as_int()) == Some(i64::from(pid)))
        .filter(|p| {
            p.attr_int("network.peer.port") == Some(i64::from(port))
                || p.attr_int("server.port") == Some(i64::from(port))
        })
        .collect();
    let mut out = BTreeMap::new();
    for p in latest(&mine) {
        let key = (
            p.attr_str("spanwire.connection.direction").unwrap_or("-").to_owned(),
            p.attr_str("network.io.direction").unwrap_or("-").to_owned(),
        );
        *out.entry(key).or_default() += p.number() as u64;
    }
    out
}

fn within_1_percent(got: u64, want: u64) -> bool {
    (got as f64 - want as f64).abs() <= want as f64 * 0.01
}

#[test]
fn root_network_bytes_agree_with_bytes_transferred() -> Result<()> {
    require_root();
    let _serial = serial();
    let env = Env::start()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let args = vec!["--port".to_string(), port.to_string()];
    let agent = Agent::start_env(&args, Otlp::Grpc, &env.sink, &[("OTEL_METRIC_EXPORT_INTERVAL", INTERVAL_MS)])?;
    const UP: [usize; 3] = [1_000_000, 100_000, 12_345];
    const DOWN: usize = 2_000_000;
    let up_total: usize = UP.iter().sum();
    let server = std::thread::spawn(move || -> Result<usize> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 65536];
        let mut got = 0;
        while got < up_total {
            let n = s.read(&mut buf)?;
            ensure!(n > 0, "client closed early");
            got += n;
        }
        s.write_all(&vec![7u8; DOWN])?;
        Ok(got)
    });
    let mut c = TcpStream::connect(("127.0.0.1", port))?;
    for n in UP {
        c.write_all(&vec![1u8; n])?;
    }
    let mut received = 0;
    let mut buf = vec![0u8; 65536];
    while received < DOWN {
        let n = c.read(&mut buf)?;
        ensure!(n > 0, "server closed early");
        received += n;
    }
    let server_got = server.join().map_err(|_| anyhow::anyhow!("server thread panicked"))??;
    drop(c);
    std::thread::sleep(Duration::from_millis(800));
    agent.stop()?;
    let bytes = tcp_bytes(&env.sink.metrics(), std::process::id(), port);
    let get = |d: &str, io: &str| bytes.get(&(d.to_owned(), io.to_owned())).copied().unwrap_or(0);
    let checks = [
        ("client transmit", get("client", "transmit"), up_total),
        ("client receive", get("client", "receive"), received),
        ("server receive", get("server", "receive"), server_got),
        ("server transmit", get("server", "transmit"), DOWN),
    ];
    for (what, got, want) in checks {
        ensure!(within_1_percent(got, want as u64), "{what}: exported {got} bytes, transferred {want} ({bytes:?})");
    }
    Ok(())
}
