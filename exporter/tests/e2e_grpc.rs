//! End-to-end HTTP/2 and gRPC: real gRPC servers and clients in Go (grpc-go), Python
//! (grpcio, C-core) and Node (@grpc/grpc-js), a plain h2c server with curl and a
//! multiplexing client. Every call must become exactly one CLIENT span in the client
//! process and one SERVER span in the server process, joined into one trace, with the
//! RPC semantic-convention attributes and span status rules. Root needed (loads eBPF).

mod common;

use anyhow::{ensure, Context, Result};
use common::grpc::{grpc_client, start_grpc_server, GrpcClientCall, GrpcLang};
use common::h2c::{h2c_client, start_h2c_server};
use common::{curl_with_args, require_root, serial, Agent, Otlp};
use otlp_sink::{ReceivedLog, ReceivedSpan, Sink, SPAN_KIND_CLIENT, SPAN_KIND_SERVER, STATUS_ERROR, STATUS_UNSET};

/// Unary calls with each outcome, a server-streaming call and a deadline that expires.
const PLAN: &str = "Unary:ok,Unary:ok,Unary:not_found,Unary:internal,ServerStream:n:5,Unary:sleep:300@deadline=100";
/// Spans of processes on one machine are timed by one clock; allow for scheduling.
const SLACK_NS: u64 = 5_000_000;

fn one<'a>(spans: &[&'a ReceivedSpan], what: &str, pred: impl Fn(&ReceivedSpan) -> bool) -> Result<&'a ReceivedSpan> {
    let found: Vec<&ReceivedSpan> = spans.iter().copied().filter(|s| pred(s)).collect();
    ensure!(found.len() == 1, "expected exactly one {what}, found {}: {found:#?}", found.len());
    Ok(found[0])
}

fn pid_of(s: &ReceivedSpan) -> Option<u32> {
    s.resource_int("process.pid").and_then(|p| u32::try_from(p).ok())
}

/// gRPC server span status: error only for these codes (semantic conventions).
fn server_error(status: &str) -> bool {
    matches!(status, "UNKNOWN" | "DEADLINE_EXCEEDED" | "UNIMPLEMENTED" | "INTERNAL" | "UNAVAILABLE" | "DATA_LOSS")
}

#[test]
fn root_grpc_go_python_node() -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let servers = [
        (GrpcLang::Go, start_grpc_server(GrpcLang::Go, "echo-go")?),
        (GrpcLang::Python, start_grpc_server(GrpcLang::Python, "echo-py")?),
        (GrpcLang::Node, start_grpc_server(GrpcLang::Node, "echo-node")?),
    ];
    let ports: Vec<u16> = servers.iter().map(|(_, s)| s.port).collect();
    let agent = Agent::start(&ports, Otlp::Grpc, &sink)?;

    // Every client language against every server language, one connection per pair.
    let mut calls: Vec<(GrpcClientCall, &common::Server)> = Vec::new();
    for client in GrpcLang::ALL {
        for (_, server) in &servers {
            let service = format!("client-{}", client.name());
            for call in grpc_client(client, server.port, PLAN, &service)? {
                calls.push((call, server));
            }
        }
    }
    let stats = agent.stop()?;
    let all = sink.spans();
    let spans: Vec<&ReceivedSpan> = all.iter().collect();
    let logs = sink.logs();
    ensure!(stats.get("spans_exported_total")? == all.len() as u64, "exported vs received: {stats:?}");
    ensure!(
        all.len() == 2 * calls.len(),
        "expected one CLIENT and one SERVER span per call ({} calls), got {} spans",
        calls.len(),
        all.len()
    );
    ensure!(stats.get("http2_hpack_errors_total")? == 0, "{stats:?}");
    ensure!(stats.get("http2_orphan_streams_total")? == 0, "{stats:?}");

    let expected: [(&str, &str); 6] = [
        ("Unary", "OK"),
        ("Unary", "OK"),
        ("Unary", "NOT_FOUND"),
        ("Unary", "INTERNAL"),
        ("ServerStream", "OK"),
        ("Unary", "DEADLINE_EXCEEDED"),
    ];
    for (call, server) in &calls {
        let (method, status) = expected[call.index];
        let ctx =
            || format!("{:?} client -> server :{} call {} ({})", call.client, server.port, call.index, call.command);
        // grpc-go's server resets the stream (CANCEL, no status) when the deadline it was sent
        // passes; grpc-js reports that as CANCELLED when the reset beats its own timer. On the
        // wire the deadline had passed, which is what the spans must say.
        let node_to_go = call.client == GrpcLang::Node && server.service == "echo-go";
        let seen_ok =
            call.status == status || (status == "DEADLINE_EXCEEDED" && node_to_go && call.status == "CANCELLED");
        ensure!(seen_ok, "the client saw {} instead of {status}: {}", call.status, ctx());
        let rpc_method = format!("spanwire.test.Echo/{method}");
        // The client's calls on one connection are sequential: its spans, in start order, are the calls.
        let mut mine: Vec<&ReceivedSpan> = spans
            .iter()
            .copied()
            .filter(|s| {
                s.kind == SPAN_KIND_CLIENT
                    && pid_of(s) == Some(call.client_pid)
                    && s.attr_int("server.port") == Some(i64::from(server.port))
            })
            .collect();
        mine.sort_by_key(|s| s.start_unix_nano);
        ensure!(mine.len() == expected.len(), "client spans of this connection: {mine:#?} ({})", ctx());
        let client = mine[call.index];
        let server_span =
            one(&spans, "SERVER span", |s| s.kind == SPAN_KIND_SERVER && s.parent_span_id == client.span_id.to_vec())
                .with_context(ctx)?;
        ensure!(server_span.trace_id == client.trace_id, "one trace: {}", ctx());
        ensure!(pid_of(server_span) == Some(server.proc.pid()), "server span in the server process: {}", ctx());
        ensure!(client.resource_str("service.name") == Some(call.client_service.as_str()), "{}", ctx());
        ensure!(server_span.resource_str("service.name") == Some(server.service.as_str()), "{}", ctx());

        for (s, side) in [(client, "client"), (server_span, "server")] {
            let ctx = || format!("{side} span {s:#?} of {}", ctx());
            ensure!(s.name == rpc_method, "span name: {}", ctx());
            ensure!(s.attr_str("rpc.system.name") == Some("grpc"), "{}", ctx());
            ensure!(s.attr_str("rpc.method") == Some(rpc_method.as_str()), "{}", ctx());
            ensure!(s.attr_str("rpc.response.status_code") == Some(status), "{}", ctx());
            ensure!(s.attr_str("network.protocol.version") == Some("2"), "{}", ctx());
            ensure!(s.attr("rpc.system").is_none() && s.attr("rpc.grpc.status_code").is_none(), "{}", ctx());
            ensure!(s.attr("url.path").is_none(), "gRPC spans carry rpc.*, not url.*: {}", ctx());
            let failed = if side == "server" { server_error(status) } else { status != "OK" };
            ensure!(s.status_code == if failed { STATUS_ERROR } else { STATUS_UNSET }, "span status: {}", ctx());
            ensure!(s.attr_str("error.type") == failed.then_some(status), "error.type: {}", ctx());
            ensure!(s.end_unix_nano >= s.start_unix_nano, "{}", ctx());
        }
        ensure!(client.attr_int("server.port") == Some(i64::from(server.port)), "{}", ctx());
        ensure!(client.attr_int("network.peer.port") == Some(i64::from(server.port)), "{}", ctx());
        if let Some(port) = call.client_port {
            ensure!(server_span.attr_int("network.peer.port") == Some(i64::from(port)), "{}", ctx());
        }
        // The client's span lies within what the client measured; the server's within the client's.
        let window = || format!("client {client:#?}\nserver {server_span:#?}\ncall {call:#?}\n{}", ctx());
        ensure!(client.start_unix_nano + SLACK_NS >= call.start_unix_nano, "client span starts early: {}", window());
        // An expired deadline ends the call in the client before anything is on the wire: the span
        // ends when the client's socket sees the stream end (the server's trailers or its own
        // RST_STREAM), which an event loop (Node) may get to some ms after the callback ran.
        let end_slack = if status == "DEADLINE_EXCEEDED" { 50_000_000 } else { SLACK_NS };
        ensure!(client.end_unix_nano <= call.end_unix_nano + end_slack, "client span ends late: {}", window());
        ensure!(server_span.start_unix_nano + SLACK_NS >= client.start_unix_nano, "server starts early: {}", window());
        ensure!(server_span.end_unix_nano <= client.end_unix_nano + SLACK_NS, "server ends late: {}", window());
        if status == "DEADLINE_EXCEEDED" {
            let d = client.end_unix_nano - client.start_unix_nano;
            ensure!((90_000_000..250_000_000).contains(&d), "deadline call lasted {d} ns: {}", ctx());
        }
        check_failure_logs(&logs, client, server_span, status).with_context(ctx)?;
    }
    Ok(())
}

/// A failed call has one log record carrying its span's ids, on each side where it failed.
fn check_failure_logs(logs: &[ReceivedLog], client: &ReceivedSpan, server: &ReceivedSpan, status: &str) -> Result<()> {
    for (span, failed) in [(client, status != "OK"), (server, server_error(status))] {
        let records: Vec<&ReceivedLog> = logs
            .iter()
            .filter(|l| l.span_id == span.span_id.to_vec() && l.trace_id == span.trace_id.to_vec())
            .collect();
        ensure!(records.len() == usize::from(failed), "failure log records for {status}: {records:#?}");
        if let Some(r) = records.first() {
            ensure!(r.body.contains(status) && r.body.contains(&span.name), "log body: {r:#?}");
        }
    }
    Ok(())
}

#[test]
fn root_h2c_curl_and_multiplexed_streams() -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let server = start_h2c_server()?;
    let agent = Agent::start(&[server.port], Otlp::HttpProtobuf, &sink)?;

    let prior = ["--http2-prior-knowledge"];
    let curls = [
        (curl_with_args(server.port, "GET", "/hello?token=s3cr3t", None, &prior)?, 200, "/hello"),
        (curl_with_args(server.port, "GET", "/status/503", None, &prior)?, 503, "/status/503"),
        // HTTP/1.1 with `Upgrade: h2c`: the request becomes stream 1 of an HTTP/2 connection.
        (curl_with_args(server.port, "GET", "/status/404", None, &["--http2"])?, 404, "/status/404"),
    ];
    const STREAMS: usize = 40;
    // Small bodies: the server batches all responses into a few writes, and a batch must fit
    // the HTTP/2 capture (4096 bytes) for every header block to be seen.
    let plan: Vec<String> = (0..STREAMS).map(|i| format!("/bytes/{}", 1 + i)).collect();
    let plan: Vec<&str> = plan.iter().map(String::as_str).collect();
    let multiplexed = h2c_client(server.port, &plan, STREAMS)?;
    let stats = agent.stop()?;
    let all = sink.spans();
    let spans: Vec<&ReceivedSpan> = all.iter().collect();
    ensure!(stats.get("spans_exported_total")? == all.len() as u64, "exported vs received: {stats:?}");
    // Both ends of the upgraded connection are observed.
    ensure!(stats.get("h2c_upgrades_total")? == 2, "{stats:?}");
    ensure!(stats.get("http2_hpack_desync_total")? == 0 && stats.get("http2_lost_sync_total")? == 0, "{stats:?}");
    ensure!(all.len() == 2 * (curls.len() + STREAMS), "one CLIENT + one SERVER span per request: {}", all.len());

    for (req, status, path) in &curls {
        let ctx = || format!("curl {} -> {status}", req.target);
        ensure!(req.status == i64::from(*status) && req.http_version == "2", "curl saw {req:?}");
        let client =
            one(&spans, "curl CLIENT span", |s| s.kind == SPAN_KIND_CLIENT && pid_of(s) == Some(req.client_pid))
                .with_context(ctx)?;
        let server_span =
            one(&spans, "SERVER span", |s| s.kind == SPAN_KIND_SERVER && s.parent_span_id == client.span_id.to_vec())
                .with_context(ctx)?;
        for s in [client, server_span] {
            let ctx = || format!("{s:#?} of {}", ctx());
            ensure!(s.attr_str("http.request.method") == Some("GET"), "{}", ctx());
            ensure!(s.attr_int("http.response.status_code") == Some(i64::from(*status)), "{}", ctx());
            ensure!(s.attr_str("url.path") == Some(*path), "no query string: {}", ctx());
            ensure!(s.attr_str("network.protocol.version") == Some("2"), "{}", ctx());
            ensure!(s.attr("rpc.system.name").is_none(), "{}", ctx());
        }
        ensure!(server_span.attr_str("http.route").is_some(), "{server_span:#?}");
        ensure!(server_span.name.starts_with("GET /"), "{server_span:#?}");
        let server_failed = *status >= 500;
        ensure!(server_span.status_code == if server_failed { STATUS_ERROR } else { STATUS_UNSET }, "{server_span:#?}");
        ensure!(client.status_code == if *status >= 400 { STATUS_ERROR } else { STATUS_UNSET }, "{client:#?}");
        ensure!(client.attr_int("network.peer.port") == Some(i64::from(server.port)), "{client:#?}");
        ensure!(server_span.attr_int("network.peer.port") == Some(i64::from(req.client_port)), "{server_span:#?}");
    }

    ensure!(multiplexed.len() == STREAMS, "client made {} requests", multiplexed.len());
    let port = multiplexed[0].client_port;
    ensure!(multiplexed.iter().all(|r| r.client_port == port && r.proto == "HTTP/2.0"), "one h2 connection");
    for req in &multiplexed {
        let ctx = || format!("multiplexed {} {}", req.method, req.path);
        ensure!(req.status == 200, "{}", ctx());
        let client = one(&spans, "CLIENT span", |s| {
            s.kind == SPAN_KIND_CLIENT && pid_of(s) == Some(req.client_pid) && s.attr_str("url.path") == Some(&req.path)
        })
        .with_context(ctx)?;
        let server_span =
            one(&spans, "SERVER span", |s| s.kind == SPAN_KIND_SERVER && s.attr_str("url.path") == Some(&req.path))
                .with_context(ctx)?;
        ensure!(server_span.parent_span_id == client.span_id.to_vec(), "linked: {client:#?} {server_span:#?}");
        ensure!(client.attr_int("http.response.status_code") == Some(200), "{client:#?}");
        ensure!(server_span.attr_str("http.route") == Some("/bytes/*"), "{server_span:#?}");
        ensure!(client.start_unix_nano + SLACK_NS >= req.start_unix_nano, "{}", ctx());
        ensure!(client.end_unix_nano <= req.end_unix_nano + SLACK_NS, "{}", ctx());
    }
    Ok(())
}
