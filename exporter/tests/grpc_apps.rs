//! The gRPC and h2c test applications themselves, without the agent: every
//! gRPC client language against every server language, the h2c client and
//! curl against the h2c server. The e2e tests of HTTP/2 + gRPC tracing rely on
//! exactly what these tests pin down.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::grpc::{
    grpc_client, grpc_client_concurrent, start_grpc_server, GrpcClientCall, GrpcLang, INTERNAL_MESSAGE,
    NOT_FOUND_MESSAGE,
};
use common::h2c::{h2c_client, start_h2c_server};
use common::{curl_with_args, Server};

/// One planned call and everything its client must report.
struct Expect {
    call: &'static str,
    method: &'static str,
    command: &'static str,
    status: &'static str,
    code: i64,
    message: &'static str,
    messages: u64,
    reply_bytes: u64,
    last_reply: &'static str,
}

const fn expect(call: &'static str, method: &'static str, command: &'static str) -> Expect {
    Expect { call, method, command, status: "OK", code: 0, message: "", messages: 0, reply_bytes: 0, last_reply: "" }
}

/// The call ends with `messages` replies, the last being `last_reply`.
const fn replies(e: Expect, last_reply: &'static str, messages: u64, reply_bytes: u64) -> Expect {
    Expect { messages, reply_bytes, last_reply, ..e }
}

/// The call ends with this error status.
const fn failed(e: Expect, status: &'static str, code: i64, message: &'static str) -> Expect {
    Expect { status, code, message, ..e }
}

const UNARY: &str = "spanwire.test.Echo/Unary";
const SERVER_STREAM: &str = "spanwire.test.Echo/ServerStream";
const CLIENT_STREAM: &str = "spanwire.test.Echo/ClientStream";
const BIDI: &str = "spanwire.test.Echo/Bidi";

const X100: &str =
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// The deadline call (last in the plan): the client gives up after 100 ms of a 2 s sleep.
const DEADLINE_MS: u64 = 100;
/// How much earlier than the client's deadline a server may end the call (see below).
const DEADLINE_SLACK_MS: u64 = 3;

const PLAN: [Expect; 12] = [
    replies(expect("Unary:ok", UNARY, "ok"), "ok", 1, 2),
    failed(expect("Unary:not_found", UNARY, "not_found"), "NOT_FOUND", 5, NOT_FOUND_MESSAGE),
    failed(expect("Unary:internal", UNARY, "internal"), "INTERNAL", 13, INTERNAL_MESSAGE),
    failed(expect("Unary:bogus", UNARY, "bogus"), "INVALID_ARGUMENT", 3, "unknown command: bogus"),
    replies(expect("Unary:big:70000", UNARY, "big:70000"), X100, 1, 70_000),
    replies(expect("ServerStream:n:5", SERVER_STREAM, "n:5"), "reply 5", 5, 35),
    replies(
        failed(expect("ServerStream:n:2:internal", SERVER_STREAM, "n:2:internal"), "INTERNAL", 13, INTERNAL_MESSAGE),
        "reply 2",
        2,
        14,
    ),
    failed(expect("ServerStream:not_found", SERVER_STREAM, "not_found"), "NOT_FOUND", 5, NOT_FOUND_MESSAGE),
    replies(expect("ClientStream:n:3", CLIENT_STREAM, "n:3"), "received 3", 1, 10),
    replies(expect("Bidi:n:4", BIDI, "n:4"), "echo m4", 4, 28),
    failed(expect("Bidi:not_found", BIDI, "not_found"), "NOT_FOUND", 5, NOT_FOUND_MESSAGE),
    // The message is the library's own wording; it is not compared.
    failed(expect("Unary:sleep:2000@deadline=100", UNARY, "sleep:2000"), "DEADLINE_EXCEEDED", 4, ""),
];

/// A grpc-go server resets the stream (RST_STREAM CANCEL) when its own copy of the
/// deadline passes. grpc-go and grpcio clients report such a reset as DEADLINE_EXCEEDED
/// once their deadline has passed; grpc-js reports CANCELLED if it reads the reset
/// before its own deadline timer has run, which happens under load.
fn cancelled_at_deadline(client: GrpcLang, server: GrpcLang, got: &GrpcClientCall, want: &Expect) -> bool {
    (client, server) == (GrpcLang::Node, GrpcLang::Go)
        && want.status == "DEADLINE_EXCEEDED"
        && (got.status.as_str(), got.code, got.message.as_str()) == ("CANCELLED", 1, "Call cancelled")
}

fn check_call(got: &GrpcClientCall, want: &Expect, raced: bool) -> Result<()> {
    ensure!(got.method == want.method && got.command == want.command, "wrong call");
    ensure!(raced || (got.status == want.status && got.code == want.code), "status {} ({})", got.status, got.code);
    if want.status != "DEADLINE_EXCEEDED" {
        ensure!(got.message == want.message, "message {:?}", got.message);
    }
    ensure!(got.messages == want.messages, "{} messages", got.messages);
    ensure!(got.reply_bytes == want.reply_bytes, "{} reply bytes", got.reply_bytes);
    ensure!(got.last_reply == want.last_reply, "last reply {:?}", got.last_reply);
    ensure!(got.start_unix_nano <= got.end_unix_nano, "ends before it starts");
    Ok(())
}

fn servers() -> Result<Vec<(GrpcLang, Server)>> {
    GrpcLang::ALL
        .iter()
        .map(|&lang| Ok((lang, start_grpc_server(lang, &format!("echo-server-{}", lang.name()))?)))
        .collect()
}

/// The whole plan, one call after another on one connection, against every server.
fn plan_against_every_server(client: GrpcLang) -> Result<()> {
    let plan: Vec<&str> = PLAN.iter().map(|e| e.call).collect();
    let service = format!("echo-client-{}", client.name());
    for (server_lang, server) in servers()? {
        let calls = grpc_client(client, server.port, &plan.join(","), &service)
            .with_context(|| format!("{client:?} client, {server_lang:?} server"))?;
        let context = || format!("{client:?} client, {server_lang:?} server: {calls:#?}");
        ensure!(calls.len() == PLAN.len(), "{} calls\n{}", calls.len(), context());
        for (got, want) in calls.iter().zip(&PLAN) {
            let raced = cancelled_at_deadline(client, server_lang, got, want);
            check_call(got, want, raced).with_context(|| format!("call {:?}\n{}", want.call, context()))?;
            ensure!(got.server_port == server.port && got.client_service == service, "{}", context());
        }
        let port = calls[0].client_port.with_context(|| format!("no local port\n{}", context()))?;
        ensure!(calls.iter().all(|c| c.client_port == Some(port)), "more than one connection\n{}", context());
        // Sequential: each call starts after the previous one ended.
        ensure!(calls.windows(2).all(|w| w[0].end_unix_nano <= w[1].start_unix_nano), "overlap\n{}", context());
        // Servers learn the deadline from grpc-timeout, which clients round up, but
        // grpcio keeps time in whole cached milliseconds: its server may end the call
        // up to ~1 ms before the client's deadline. It must not wait for the 2 s sleep.
        let late = calls.last().context("empty")?;
        let took = Duration::from_nanos(late.end_unix_nano - late.start_unix_nano);
        ensure!(late.deadline_ms == Some(DEADLINE_MS), "deadline_ms {:?}", late.deadline_ms);
        let window = Duration::from_millis(DEADLINE_MS - DEADLINE_SLACK_MS)..Duration::from_millis(1500);
        ensure!(window.contains(&took), "deadline call took {took:?}\n{}", context());
    }
    Ok(())
}

/// 20 calls in flight at once on one connection: all started before any ended.
fn concurrency_against_every_server(client: GrpcLang) -> Result<()> {
    const N: usize = 20;
    for (server_lang, server) in servers()? {
        let calls =
            grpc_client_concurrent(client, server.port, &format!("Unary:sleep:500 x{N}"), N, "echo-concurrent")?;
        let context = || format!("{client:?} client, {server_lang:?} server: {calls:#?}");
        ensure!(calls.len() == N, "{} calls\n{}", calls.len(), context());
        ensure!(calls.iter().all(|c| c.status == "OK" && c.messages == 1), "not all OK\n{}", context());
        let port = calls[0].client_port.with_context(|| format!("no local port\n{}", context()))?;
        ensure!(calls.iter().all(|c| c.client_port == Some(port)), "more than one connection\n{}", context());
        let last_start = calls.iter().map(|c| c.start_unix_nano).max().context("empty")?;
        let first_end = calls.iter().map(|c| c.end_unix_nano).min().context("empty")?;
        ensure!(last_start < first_end, "calls were not all in flight at once\n{}", context());
    }
    Ok(())
}

#[test]
fn grpc_go_client_against_every_server() -> Result<()> {
    plan_against_every_server(GrpcLang::Go)?;
    concurrency_against_every_server(GrpcLang::Go)
}

#[test]
fn grpc_python_client_against_every_server() -> Result<()> {
    plan_against_every_server(GrpcLang::Python)?;
    concurrency_against_every_server(GrpcLang::Python)
}

#[test]
fn grpc_node_client_against_every_server() -> Result<()> {
    plan_against_every_server(GrpcLang::Node)?;
    concurrency_against_every_server(GrpcLang::Node)
}

#[test]
fn h2c_client_runs_concurrent_requests_on_one_connection() -> Result<()> {
    let server = start_h2c_server()?;
    let plan = ["/hello", "/status/404", "/status/204", "/bytes/100000", "POST /echo body=1000", "/sleep/500 x8"];
    let reqs = h2c_client(server.port, &plan, 16)?;
    let want: [(&str, &str, u16, u64); 5] = [
        ("GET", "/hello", 200, 6),
        ("GET", "/status/404", 404, 11),
        ("GET", "/status/204", 204, 0),
        ("GET", "/bytes/100000", 200, 100_000),
        ("POST", "/echo", 200, 1000),
    ];
    let sleeps: Vec<_> = reqs.iter().skip(want.len()).collect();
    ensure!(reqs.len() == want.len() + 8, "{reqs:#?}");
    for (got, (method, path, status, bytes)) in reqs.iter().zip(want) {
        ensure!(
            (got.method.as_str(), got.path.as_str(), got.status, got.body_bytes) == (method, path, status, bytes),
            "{got:#?}"
        );
    }
    ensure!(sleeps.iter().all(|r| r.path == "/sleep/500" && r.status == 200 && r.body_bytes == 3), "{reqs:#?}");
    for r in &reqs {
        ensure!(r.proto == "HTTP/2.0" && r.client_port == reqs[0].client_port, "{r:#?}");
        // wrote_headers is taken by the writer after its write returned, so under
        // load it can come after the response's first byte; it is not ordered with it.
        let times = [r.start_unix_nano, r.first_byte_unix_nano, r.end_unix_nano];
        ensure!(times.windows(2).all(|w| w[0] <= w[1]), "timing out of order: {r:#?}");
        ensure!(r.start_unix_nano <= r.wrote_headers_unix_nano, "headers written before the start: {r:#?}");
    }
    let last_start = sleeps.iter().map(|r| r.start_unix_nano).max().context("no sleeps")?;
    let first_end = sleeps.iter().map(|r| r.end_unix_nano).min().context("no sleeps")?;
    ensure!(last_start < first_end, "sleep requests were not all in flight at once: {reqs:#?}");
    Ok(())
}

#[test]
fn curl_speaks_h2c_with_prior_knowledge_and_upgrade() -> Result<()> {
    let server = start_h2c_server()?;
    let cases: [(&[&str], &str, i64, &str); 3] = [
        (&["--http2-prior-knowledge"], "/hello", 200, "2"),
        (&["--http2"], "/status/503", 503, "2"),
        // HTTP/1.1 without an upgrade: the version check above can fail.
        (&[], "/hello", 200, "1.1"),
    ];
    for (args, target, status, version) in cases {
        let r = curl_with_args(server.port, "GET", target, None, args)?;
        ensure!(r.status == status && r.http_version == version, "curl {args:?} {target}: {r:#?}");
    }
    Ok(())
}
