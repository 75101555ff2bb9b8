//! End-to-end trace linking and logs: curl -> A (Python, propagates nothing) -> B (Go). Every
//! curl request must become exactly one trace: curl CLIENT -> A SERVER -> A CLIENT -> B
//! SERVER; the JSON line A prints while serving it becomes a log record carrying A's server
//! span ids and the line's severity. Root needed (loads eBPF); tests are named `root_*` and
//! fail clearly without it.

mod common;

use anyhow::{ensure, Context, Result};
use common::{curl, curl_with_headers, require_root, serial, start_chain_a, start_go_server, Agent, Otlp};
use otlp_sink::{hex, ReceivedLog, ReceivedSpan, Sink, SPAN_KIND_CLIENT, SPAN_KIND_SERVER};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const CROSS_PROCESS_SLACK_NS: u64 = 5_000_000;

fn one<'a>(spans: &[&'a ReceivedSpan], what: &str, pred: impl Fn(&ReceivedSpan) -> bool) -> Result<&'a ReceivedSpan> {
    let found: Vec<&ReceivedSpan> = spans.iter().copied().filter(|s| pred(s)).collect();
    ensure!(found.len() == 1, "expected exactly one {what}, found {}: {found:#?}", found.len());
    Ok(found[0])
}

#[test]
fn root_chain_grpc() -> Result<()> {
    chain(Otlp::Grpc)
}

#[test]
fn root_chain_http_protobuf() -> Result<()> {
    chain(Otlp::HttpProtobuf)
}

/// Severity numbers of the OpenTelemetry log data model.
const SEVERITY_INFO: i32 = 9;
const SEVERITY_ERROR: i32 = 17;

fn chain(otlp: Otlp) -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let b = start_go_server()?;
    let a = start_chain_a("svc-a", b.port)?;
    let agent = Agent::start(&[a.port, b.port], otlp, &sink)?;

    let mut requests = Vec::new();
    for i in 0..6 {
        requests.push((curl(a.port, "GET", &format!("/work/{i}"), None)?, false));
    }
    let header = format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-01");
    requests.push((curl_with_headers(a.port, "GET", "/traced", None, &[&header])?, true));
    requests.push((curl(a.port, "GET", "/fail", None)?, false));
    let failed = curl(b.port, "GET", "/status/503", None)?;
    ensure!(failed.status == 503);
    let stats = agent.stop()?;
    let logs = sink.logs();
    let all = sink.spans();
    let spans: Vec<&ReceivedSpan> = all.iter().collect();
    ensure!(stats.get("spans_exported_total")? == all.len() as u64, "exported vs received: {stats:?}");

    for (req, traced) in &requests {
        let curl_span = one(&spans, "curl CLIENT span", |s| {
            s.kind == SPAN_KIND_CLIENT && s.resource_int("process.pid") == Some(i64::from(req.client_pid))
        })?;
        let trace: Vec<&ReceivedSpan> = spans.iter().copied().filter(|s| s.trace_id == curl_span.trace_id).collect();
        let ctx = || format!("trace of {} {}: {trace:#?}", req.method, req.target);
        ensure!(trace.len() == 4, "expected 4 spans, got {}: {}", trace.len(), ctx());
        let a_server =
            one(&trace, "A SERVER", |s| s.kind == SPAN_KIND_SERVER && s.resource_str("service.name") == Some("svc-a"))
                .with_context(ctx)?;
        let a_client =
            one(&trace, "A CLIENT", |s| s.kind == SPAN_KIND_CLIENT && s.resource_str("service.name") == Some("svc-a"))
                .with_context(ctx)?;
        let b_server = one(&trace, "B SERVER", |s| {
            s.kind == SPAN_KIND_SERVER && s.resource_str("service.name") == Some(b.service.as_str())
        })
        .with_context(ctx)?;
        ensure!(a_server.parent_span_id == curl_span.span_id, "A server's parent is curl's client span: {}", ctx());
        ensure!(a_server.attr_str("url.path") == Some(req.path()), "A server path: {}", ctx());
        ensure!(a_client.parent_span_id == a_server.span_id, "A client's parent is A's server span: {}", ctx());
        ensure!(a_client.attr_int("server.port") == Some(i64::from(b.port)), "A client calls B: {}", ctx());
        ensure!(b_server.parent_span_id == a_client.span_id, "B server's parent is A's client span: {}", ctx());
        ensure!(b_server.attr_str("url.path") == Some("/hello"), "B path: {}", ctx());
        // Children lie inside their parents in time: exactly within one thread; across processes
        // the writer's syscall may return after the reader's, so allow a little slack there.
        let inside = |child: &ReceivedSpan, parent: &ReceivedSpan, slack: u64| {
            child.start_unix_nano + slack >= parent.start_unix_nano
                && child.end_unix_nano <= parent.end_unix_nano + slack
        };
        ensure!(inside(a_server, curl_span, CROSS_PROCESS_SLACK_NS), "A server inside curl: {}", ctx());
        ensure!(inside(a_client, a_server, 0), "A client inside A server: {}", ctx());
        ensure!(inside(b_server, a_client, CROSS_PROCESS_SLACK_NS), "B server inside A client: {}", ctx());
        // The line A printed while serving this request carries A's server span ids.
        let line = one_log(&logs, &format!("\"path\": \"{}\"", req.target), |l| {
            l.resource_str("service.name") == Some("svc-a")
        })?;
        ensure!(
            line.trace_id == curl_span.trace_id && line.span_id == a_server.span_id,
            "log ids: {line:#?}\n{}",
            ctx()
        );
        let want = if req.target == "/fail" { SEVERITY_ERROR } else { SEVERITY_INFO };
        ensure!(line.severity_number == want, "severity of {:?}: {line:#?}", line.body);
        ensure!(line.time_unix_nano >= a_server.start_unix_nano && line.time_unix_nano <= a_server.end_unix_nano);
        if *traced {
            ensure!(hex(&curl_span.trace_id) == TRACE_ID, "incoming traceparent's trace id is used: {}", ctx());
            ensure!(hex(&curl_span.parent_span_id) == PARENT_ID, "curl span's parent is the caller's: {}", ctx());
        } else {
            ensure!(curl_span.parent_span_id.is_empty() || curl_span.parent_span_id == [0u8; 8], "root: {}", ctx());
        }
    }
    let traces: std::collections::BTreeSet<[u8; 16]> = all.iter().map(|s| s.trace_id).collect();
    // One trace per chain request, plus the direct request to B.
    let want = requests.len() + 1;
    ensure!(traces.len() == want, "one trace per request: got {} traces for {want} requests", traces.len());
    // A failed request yields one log record with its span's ids.
    let b_failed = one(&spans, "B SERVER 503", |s| {
        s.kind == SPAN_KIND_SERVER && s.attr_int("http.response.status_code") == Some(503)
    })?;
    let record = one_log(&logs, "HTTP 503 GET /status/503 failed (server)", |_| true)?;
    ensure!(record.trace_id == b_failed.trace_id && record.span_id == b_failed.span_id, "{record:#?}");
    ensure!(record.severity_number == SEVERITY_ERROR);
    ensure!(stats.get("log_records_exported_total")? == logs.len() as u64, "exported vs received logs: {stats:?}");
    drop(rt);
    Ok(())
}

fn one_log<'a>(
    logs: &'a [ReceivedLog],
    contains: &str,
    pred: impl Fn(&ReceivedLog) -> bool,
) -> Result<&'a ReceivedLog> {
    let found: Vec<&ReceivedLog> = logs.iter().filter(|l| l.body.contains(contains) && pred(l)).collect();
    ensure!(found.len() == 1, "expected one log record containing {contains:?}, found {}: {logs:#?}", found.len());
    Ok(found[0])
}

/// A client that reads only the response head and closes (urllib's `urlopen(url).status`,
/// here http.client) still gets its CLIENT span with the status, and the server's SERVER span
/// (joined by the mirrored connection) has that span as parent. Before, the response cut by
/// the close was dropped and the server span pointed at a parent that was never exported.
#[test]
fn root_client_reading_only_the_head_gets_its_span() -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let b = start_go_server()?;
    let agent = Agent::start(&[b.port], Otlp::Grpc, &sink)?;
    // 256 KiB echoed back: far more than the client's first read, so the body is cut when the
    // client closes. The fourth connection (8 MiB, the server's write blocks) is still open when
    // the agent stops: its exchange is abandoned with the head seen, and must still be a span.
    let script = format!(
        "import http.client, sys\n\
         def call(size):\n\
         \x20   c = http.client.HTTPConnection('127.0.0.1', {port})\n\
         \x20   c.request('POST', '/echo', body=b'x' * size)\n\
         \x20   r = c.getresponse()\n\
         \x20   assert r.status == 200, r.status\n\
         \x20   return c, r\n\
         for i in range(3):\n\
         \x20   c, r = call(262144)\n\
         \x20   r.close()\n\
         \x20   c.close()\n\
         held = call(8 << 20)\n\
         print('held', flush=True)\n\
         sys.stdin.read()\n",
        port = b.port
    );
    let mut client = std::process::Command::new(common::python()?)
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(client.stdout.take().context("stdout")?), &mut line)?;
    if line.trim() != "held" {
        let out = client.wait_with_output()?;
        anyhow::bail!("client failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The three closed connections are spans while the agent runs: the server's last write and
    // its close come after the client's reset, when the socket's local port reads 0 (before, the
    // port filter dropped them and the span waited for shutdown or was lost).
    let before_stop = rt.block_on(sink.wait_for_spans(6, std::time::Duration::from_secs(10)));
    ensure!(before_stop.is_ok(), "closed connections' spans while running: {before_stop:?}");
    let stats = agent.stop()?;
    drop(client.stdin.take());
    let out = client.wait_with_output()?;
    ensure!(out.status.success(), "client failed: {}", String::from_utf8_lossy(&out.stderr));
    let all = sink.spans();
    let spans: Vec<&ReceivedSpan> = all.iter().collect();
    let servers: Vec<&ReceivedSpan> = spans.iter().copied().filter(|s| s.kind == SPAN_KIND_SERVER).collect();
    let clients: Vec<&ReceivedSpan> = spans.iter().copied().filter(|s| s.kind == SPAN_KIND_CLIENT).collect();
    ensure!(servers.len() == 4 && clients.len() == 4, "4 server + 4 client spans expected: {spans:#?}\n{stats:?}");
    for server in servers {
        let client = one(&clients, "the server span's parent", |c| c.span_id.as_slice() == server.parent_span_id)?;
        ensure!(client.trace_id == server.trace_id, "one trace: {client:#?} {server:#?}");
        ensure!(client.attr_int("http.response.status_code") == Some(200), "client status: {client:#?}");
        ensure!(client.attr_str("http.request.method") == Some("POST"), "client method: {client:#?}");
    }
    Ok(())
}
