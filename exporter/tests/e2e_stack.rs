//! The whole pipeline with the real backends of integration/stack.sh: spanwire → OpenTelemetry
//! Collector (otel-config/agent.yaml) → Jaeger (traces), Prometheus (metrics), VictoriaLogs
//! (logs), asserted through the backends' own query APIs, plus every query of every Grafana
//! dashboard in grafana/ (integration/stack/dashboards.py). `integration/stack.sh up` runs
//! first (a cold build of the backends takes ~20 min; cached, seconds).
//!
//! Service names carry a per-run id, so data from earlier runs in the long-lived backends
//! cannot satisfy an assertion. Root needed (loads eBPF).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::grpc::{grpc_client, start_grpc_server, GrpcLang};
use common::stack::{
    eventually, get_json, jaeger_spans, jaeger_trace, jaeger_traces, logsql, stack, JaegerSpan, COLLECTOR_GRPC,
    COLLECTOR_HTTP, JAEGER,
};
use common::{
    python, repo_root, require_root, serial, servers_dir, start_chain_a, start_go_server_named, Agent, ChildProc, Otlp,
    Server,
};

const PARENT_ID: &str = "b7ad6b7169203331";
const BACKEND_WAIT: Duration = Duration::from_secs(90);

fn run_id() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{:x}{:x}", secs % 0x10_0000, std::process::id() % 0x100)
}

/// Python HTTP client run as `service`: one fresh connection per request ("PORT PATH [HEADER]"
/// per line of `plan`); returns the statuses. It lingers 3 s after the last request: the agent
/// reads a process's metadata (OTEL_SERVICE_NAME) from /proc shortly after its first event (a
/// client that exits within milliseconds is named after its executable), and a process's
/// network flows are only reported while it is alive at a metric export.
fn http_client(service: &str, plan: &[(u16, &str, Option<&str>)]) -> Result<Vec<u16>> {
    const SCRIPT: &str = r#"
import json, sys, time, urllib.error, urllib.request
out = []
for line in sys.stdin.read().splitlines():
    port, path, *header = line.split(" ", 2)
    headers = dict([header[0].split(": ", 1)]) if header else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            r.read(); out.append(r.status)
    except urllib.error.HTTPError as e:
        out.append(e.code)
time.sleep(3)
print(json.dumps(out))
"#;
    let input: String = plan
        .iter()
        .map(|(port, path, header)| format!("{port} {path}{}\n", header.map(|h| format!(" {h}")).unwrap_or_default()))
        .collect();
    let mut cmd = common::clean_command(python()?);
    cmd.env("OTEL_SERVICE_NAME", service)
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().context("python3 client")?;
    std::io::Write::write_all(child.stdin.as_mut().context("stdin")?, input.as_bytes())?;
    drop(child.stdin.take());
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "HTTP client failed: {out:?}");
    serde_json::from_slice(&out.stdout).context("HTTP client output")
}

fn start_bulk_server(service: &str) -> Result<Server> {
    let py = python()?;
    let mut cmd = common::clean_command(&py);
    cmd.arg(servers_dir().join("bulk_tcp.py")).arg("server").env("OTEL_SERVICE_NAME", service);
    let proc = ChildProc::spawn("bulk-server", &mut cmd)?;
    let line = proc.stdout.wait_for(|l| l.starts_with("listening on "), Duration::from_secs(30))?;
    let port = line.rsplit(':').next().and_then(|p| p.parse().ok()).context("bulk server port")?;
    Ok(Server { proc, port, service: service.to_owned(), exe: common::exe_name(&py)? })
}

/// Drops 10 % of the packets sent to `port` on this host (nftables), so TCP retransmits.
struct PacketLoss(String);

impl PacketLoss {
    fn to_port(port: u16, run: &str) -> Result<PacketLoss> {
        let table = format!("spanwire_stack_{run}");
        let rules = format!(
            "table inet {table} {{\n chain input {{\n  type filter hook input priority -10; policy accept;\n  \
             tcp dport {port} numgen random mod 10 == 0 drop\n }}\n}}\n"
        );
        let mut nft = Command::new("nft").args(["-f", "-"]).stdin(std::process::Stdio::piped()).spawn()?;
        std::io::Write::write_all(nft.stdin.as_mut().context("nft stdin")?, rules.as_bytes())?;
        ensure!(nft.wait()?.success(), "nft -f failed (is nftables installed? integration/setup.sh)");
        Ok(PacketLoss(table))
    }
}

impl Drop for PacketLoss {
    fn drop(&mut self) {
        let _ = Command::new("nft").args(["delete", "table", "inet", &self.0]).status();
    }
}

fn find<'a>(spans: &'a [JaegerSpan], service: &str, kind: &str) -> Result<&'a JaegerSpan> {
    let found: Vec<&JaegerSpan> = spans.iter().filter(|s| s.service == service && s.kind == kind).collect();
    ensure!(found.len() == 1, "expected one {kind} span of {service}, found {}: {spans:#?}", found.len());
    Ok(found[0])
}

/// curl CLIENT → A SERVER → A CLIENT → B SERVER, each the parent of the next.
fn assert_chain(spans: &[JaegerSpan], cli: &str, a: &str, b: &str) -> Result<()> {
    ensure!(spans.len() == 4, "expected 4 spans, got {}: {spans:#?}", spans.len());
    let c = find(spans, cli, "client")?;
    let a_server = find(spans, a, "server")?;
    let a_client = find(spans, a, "client")?;
    let b_server = find(spans, b, "server")?;
    ensure!(a_server.parent.as_ref() == Some(&c.span_id), "A SERVER's parent is not curl's CLIENT: {spans:#?}");
    ensure!(a_client.parent.as_ref() == Some(&a_server.span_id), "A CLIENT's parent is not A SERVER: {spans:#?}");
    ensure!(b_server.parent.as_ref() == Some(&a_client.span_id), "B SERVER's parent is not A CLIENT: {spans:#?}");
    ensure!(a_server.operation.starts_with("GET"), "A SERVER operation {:?}", a_server.operation);
    Ok(())
}

#[test]
fn root_stack_pipeline() -> Result<()> {
    require_root();
    let _serial = serial();
    stack(&["up"])?;
    let run = run_id();
    let (svc_a, svc_b, svc_cli) = (format!("stack-a-{run}"), format!("stack-b-{run}"), format!("stack-cli-{run}"));
    let (svc_grpc, svc_grpcc) = (format!("stack-grpc-{run}"), format!("stack-grpcc-{run}"));
    let (svc_net, svc_netc) = (format!("stack-net-{run}"), format!("stack-netc-{run}"));
    let b = start_go_server_named(&svc_b)?;
    let a = start_chain_a(&svc_a, b.port)?;
    let grpc = start_grpc_server(GrpcLang::Go, &svc_grpc)?;
    let bulk = start_bulk_server(&svc_net)?;
    let refused_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let ports: Vec<String> = [a.port, b.port, grpc.port, bulk.port, refused_port]
        .iter()
        .flat_map(|p| ["--port".to_string(), p.to_string()])
        .collect();
    let agent = Agent::start_to(&ports, COLLECTOR_GRPC, Otlp::Grpc, &[("OTEL_METRIC_EXPORT_INTERVAL", "2000")])?;

    // Workload, twice (8 s apart: several metric exports, so Prometheus' rate() sees the
    // counters grow): HTTP chain, server errors, gRPC, bulk TCP with loss, a refused connect.
    // The first round also sends a traceparent, with a trace id of this run only (the
    // backends keep earlier runs' traces).
    let trace_id = format!("5a{run:0>30}");
    let header = format!("traceparent: 00-{trace_id}-{PARENT_ID}-01");
    let paths: Vec<String> = (0..8).map(|i| format!("/work/{i}")).collect();
    for round in 0..2 {
        let mut plan: Vec<(u16, &str, Option<&str>)> = paths.iter().map(|p| (a.port, p.as_str(), None)).collect();
        if round == 0 {
            plan.push((a.port, "/traced", Some(&header)));
        }
        plan.push((a.port, "/fail", None));
        plan.extend([(b.port, "/status/503", None); 3]);
        let statuses = http_client(&svc_cli, &plan)?;
        let ok = plan.len() - 3;
        ensure!(statuses == [vec![200; ok], vec![503; 3]].concat(), "statuses {statuses:?}");
        // The first call sleeps so the client is still alive when the agent reads its /proc entry.
        let calls = grpc_client(
            GrpcLang::Go,
            grpc.port,
            "Unary:sleep:500,Unary:ok x6,Unary:not_found,Unary:internal x2",
            &svc_grpcc,
        )?;
        ensure!(calls.len() == 10, "gRPC calls: {calls:?}");
        let _loss = PacketLoss::to_port(bulk.port, &format!("{run}_{round}"))?;
        let out = Command::new(python()?)
            .env("OTEL_SERVICE_NAME", &svc_netc)
            .arg(servers_dir().join("bulk_tcp.py"))
            .args(["client", "--port", &bulk.port.to_string(), "--bytes", "4000000", "--connections", "3"])
            .args(["--refused-port", &refused_port.to_string(), "--linger", "3"])
            .output()?;
        let line = String::from_utf8_lossy(&out.stdout);
        ensure!(out.status.success() && line.contains("\"refused\": true"), "bulk client: {line} {out:?}");
        if round == 0 {
            std::thread::sleep(Duration::from_secs(8));
        }
    }

    // Traces in Jaeger.
    let services = eventually("Jaeger /api/services lists the run's services", BACKEND_WAIT, || {
        let doc = get_json(&format!("{JAEGER}/api/services"), &[])?;
        let list: Vec<String> =
            doc["data"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        let want = [&svc_a, &svc_b, &svc_cli, &svc_grpc, &svc_grpcc];
        Ok(want.iter().all(|w| list.contains(w)).then_some(list))
    })?;
    println!("Jaeger services include the run's: {} in total", services.len());
    let traces = eventually("19 complete 4-span traces of service A", BACKEND_WAIT, || {
        let traces = jaeger_traces(&svc_a, 100)?;
        let complete = traces.iter().filter(|t| t["spans"].as_array().map_or(0, Vec::len) == 4).count();
        Ok((traces.len() >= 19 && complete == traces.len()).then_some(traces))
    })?;
    ensure!(traces.len() == 19, "A served 19 requests, Jaeger has {} traces", traces.len());
    for t in &traces {
        assert_chain(&jaeger_spans(t), &svc_cli, &svc_a, &svc_b)?;
    }
    let traced = eventually("the traceparent's trace", BACKEND_WAIT, || jaeger_trace(&trace_id))?;
    let spans = jaeger_spans(&traced);
    let a_server = find(&spans, &svc_a, "server")?;
    ensure!(find(&spans, &svc_b, "server").is_ok(), "B's span is not in the incoming trace: {spans:#?}");
    ensure!(a_server.tag("url.path").and_then(|v| v.as_str()) == Some("/traced"), "{a_server:#?}");
    let grpc_traces = jaeger_traces(&svc_grpc, 100)?;
    ensure!(grpc_traces.len() == 20, "20 gRPC calls, {} traces", grpc_traces.len());
    for t in &grpc_traces {
        let spans = jaeger_spans(t);
        let server = find(&spans, &svc_grpc, "server")?;
        let client = find(&spans, &svc_grpcc, "client")?;
        ensure!(server.parent.as_ref() == Some(&client.span_id), "gRPC server not under client: {spans:#?}");
        ensure!(server.operation == "spanwire.test.Echo/Unary", "{server:#?}");
    }
    println!("Jaeger: 19 HTTP traces of 4 spans with the right parents, the traceparent trace, 20 gRPC traces");

    // Logs: A's lines carry its SERVER span's ids, which resolve in Jaeger.
    let lines = eventually("A's log lines in VictoriaLogs", BACKEND_WAIT, || {
        let lines = logsql(&format!("_time:1h {{service.name=\"{svc_a}\"}} trace_id:*"), 100)?;
        Ok((lines.len() >= 19).then_some(lines))
    })?;
    ensure!(lines.len() == 19, "A printed 19 lines, VictoriaLogs has {}: {lines:#?}", lines.len());
    let mut severities = BTreeMap::new();
    for line in &lines {
        let trace_id = line["trace_id"].as_str().context("trace_id")?;
        let span_id = line["span_id"].as_str().context("span_id")?;
        let trace = jaeger_trace(trace_id)?.with_context(|| format!("log line's trace {trace_id} not in Jaeger"))?;
        let spans = jaeger_spans(&trace);
        let server = find(&spans, &svc_a, "server")?;
        ensure!(server.span_id == span_id, "log line's span {span_id} is not A's SERVER span: {line}");
        *severities.entry(line["severity_text"].as_str().unwrap_or("").to_owned()).or_insert(0) += 1;
    }
    ensure!(severities.get("ERROR") == Some(&2) && severities.get("INFO") == Some(&17), "severities {severities:?}");
    println!("VictoriaLogs: 19 lines of A, each trace_id/span_id = A's SERVER span in Jaeger; {severities:?}");

    // Every dashboard query returns data for this run's services.
    let regex = format!(
        "({})",
        [&svc_a, &svc_b, &svc_cli, &svc_grpc, &svc_grpcc, &svc_net, &svc_netc].map(|s| s.as_str()).join("|")
    );
    let out = Command::new("/usr/bin/python3")
        .arg(repo_root().join("integration/stack/dashboards.py"))
        .args(["queries", "--services", &regex, "--trace-service", &svc_a, "--window", "300", "--timeout", "90"])
        .arg("--no-k8s")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    ensure!(out.status.success() && text.contains(" 0 failed"), "dashboard queries failed (see above)");

    let stats = agent.stop()?;
    ensure!(stats.get("spans_export_failed_total")? == 0, "{stats:?}");
    ensure!(stats.get("spans_exported_total")? == stats.get("spans_created_total")?, "{stats:?}");
    drop((a, b, grpc, bulk));
    Ok(())
}

/// Collector stopped and restarted mid-run: a short outage is bridged by retries (nothing lost);
/// a longer one than the retry budget loses what was sent during it, counted exactly; data
/// after each recovery arrives. Over OTLP/HTTP (the other test uses gRPC).
#[test]
fn root_stack_collector_restart() -> Result<()> {
    require_root();
    let _serial = serial();
    stack(&["up"])?;
    let run = run_id();
    let svc = format!("stack-restart-{run}");
    let server = start_go_server_named(&svc)?;
    let config = std::env::temp_dir().join(format!("spanwire-restart-{run}.yaml"));
    std::fs::write(&config, "export:\n  retry_max_elapsed_ms: 6000\n  flush_interval_ms: 200\n")?;
    let args = ["--config".to_string(), config.display().to_string(), "--pid".into(), server.proc.pid().to_string()];
    let agent = Agent::start_to(&args, COLLECTOR_HTTP, Otlp::HttpProtobuf, &[])?;
    let count_paths = |prefix: &str| -> Result<usize> {
        let traces = jaeger_traces(&svc, 500)?;
        Ok(traces
            .iter()
            .flat_map(jaeger_spans)
            .filter(|s| s.tag("url.path").and_then(|v| v.as_str()).is_some_and(|p| p.starts_with(prefix)))
            .count())
    };
    let requests = |prefix: &str, n: usize, gap: Duration| -> Result<()> {
        for i in 0..n {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port))?;
            write!(s, "GET /{prefix}/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            ensure!(reply.starts_with("HTTP/1.1 404"), "reply {reply:?}");
            std::thread::sleep(gap);
        }
        Ok(())
    };
    // Unknown paths get a 404 from the Go server: a span like any other.
    requests("before", 5, Duration::ZERO)?;
    eventually("spans before the outage", BACKEND_WAIT, || Ok((count_paths("/before")? == 5).then_some(())))?;

    // Short outage (~2 s, within the 6 s retry budget): retried, nothing lost.
    stack(&["stop", "otelcol"])?;
    requests("short", 5, Duration::from_millis(300))?;
    stack(&["start", "otelcol"])?;
    eventually("spans sent during the short outage", BACKEND_WAIT, || Ok((count_paths("/short")? == 5).then_some(())))?;

    // Long outage (~15 s, beyond the budget): requests early in it are lost, and counted.
    stack(&["stop", "otelcol"])?;
    requests("long", 10, Duration::from_millis(1500))?;
    stack(&["start", "otelcol"])?;
    requests("after", 5, Duration::ZERO)?;
    eventually("spans after recovery", BACKEND_WAIT, || Ok((count_paths("/after")? == 5).then_some(())))?;
    // Give requests still retrying from the outage's end time to land before counting.
    std::thread::sleep(Duration::from_secs(8));
    let long_arrived = count_paths("/long")?;
    let log = agent.proc.stderr.text();
    let stats = agent.stop()?;
    let failed = stats.get("spans_export_failed_total")?;
    println!(
        "long outage: {long_arrived}/10 spans arrived, {failed} counted as failed; retries {}, failures {}",
        stats.get("export_retries_total")?,
        stats.get("export_failures_total")?
    );
    ensure!(failed > 0, "a 15 s outage with a 6 s retry budget must lose spans: {stats:?}");
    ensure!(long_arrived as u64 + failed == 10, "lost spans not counted exactly: {long_arrived} + {failed} != 10");
    ensure!(stats.get("spans_created_total")? == 25, "{stats:?}");
    ensure!(stats.get("spans_exported_total")? == 25 - failed, "{stats:?}");
    ensure!(stats.get("export_retries_total")? > 0, "{stats:?}");
    // One warning and one recovery line per outage, not one per failed request.
    let (warned, recovered) = (log.matches("span export failed").count(), log.matches("span export recovered").count());
    ensure!(
        (warned, recovered) == (2, 2),
        "expected 2 outage warnings and 2 recoveries, got {warned}/{recovered}:\n{log}"
    );
    std::fs::remove_file(&config).ok();
    drop(server);
    Ok(())
}
