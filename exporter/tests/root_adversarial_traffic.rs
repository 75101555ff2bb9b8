//! Adversarial traffic on observed sockets (issue 8), against the real Go server:
//! slowloris connections that never finish their head, a 512 KiB head (32 times the agent's limit), chunked
//! bodies with impossible chunk sizes, random bytes after a valid exchange. The agent must stay
//! up with bounded memory, count what it could not parse, invent no span for garbage, and
//! still produce exactly the right spans for well-formed requests afterwards. Root needed.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::{
    clean_command, curl, python, require_root, rss_kib, serial, servers_dir, start_go_server, Agent, ChildProc, Otlp,
};
use otlp_sink::{serde_json, ReceivedSpan, Sink, SPAN_KIND_SERVER};

const SLOW_CONNS: u64 = 100;
const RANDOM_ROUNDS: usize = 8;
/// Well-formed requests on a fresh connection after the attack.
const AFTER: usize = 200;
/// Bound on the agent's RSS growth: 100 slowloris connections hold at most one 16 KiB head
/// buffer each (1.6 MiB); the 512 KiB head is cut at 16 KiB; nothing else is kept per byte.
const RSS_GROWTH_MAX_MIB: u64 = 24;

/// One connection of adversarial_client.py and the responses it got.
struct Attack {
    case: String,
    local_port: u16,
    responses: Vec<i64>,
}

/// The spans a connection must have produced: (method, path, status).
fn expected(a: &Attack) -> Vec<(&'static str, &'static str, i64)> {
    match a.case.as_str() {
        // A head that never ends is no request.
        "slowloris" => vec![],
        // The capture holds only the first bytes of each read, so the parser takes a head cut
        // by the capture limit as a request (request line and the headers captured); the server
        // did answer it (404), so that exchange is real.
        "endless-headers" => a.responses.first().map(|&s| ("GET", "/endless", s)).into_iter().collect(),
        // A valid request head: the exchange is real, whatever the server made of the body.
        c if c.starts_with("chunk-size") => a.responses.first().map(|&s| ("POST", "/echo", s)).into_iter().collect(),
        // The valid exchange only; a response to the junk answers no request.
        "random-after-valid" => vec![("GET", "/hello", 200)],
        other => panic!("unknown case {other}"),
    }
}

fn span_key(s: &ReceivedSpan) -> (String, String, i64) {
    (
        s.attr_str("http.request.method").unwrap_or("").to_owned(),
        s.attr_str("url.path").unwrap_or("").to_owned(),
        s.attr_int("http.response.status_code").unwrap_or(0),
    )
}

fn run_attacks(port: u16, agent_pid: u32) -> Result<(Vec<Attack>, u64)> {
    let mut cmd = clean_command(python()?);
    cmd.arg(servers_dir().join("adversarial_client.py")).args([
        "--port",
        &port.to_string(),
        "--slow-conns",
        &SLOW_CONNS.to_string(),
        "--random-rounds",
        &RANDOM_ROUNDS.to_string(),
    ]);
    let mut client = ChildProc::spawn("adversarial-client", &mut cmd)?;
    let (mut rss_peak, deadline) = (0, Instant::now() + Duration::from_secs(120));
    while client.try_status()?.is_none() {
        ensure!(Instant::now() < deadline, "adversarial client hung\n{}", client.describe());
        rss_peak = rss_peak.max(rss_kib(agent_pid).context("the agent died under attack")?);
        std::thread::sleep(Duration::from_millis(100));
    }
    client.finish(Duration::from_secs(5))?;
    let mut attacks = Vec::new();
    for line in client.stdout.all() {
        let v: serde_json::Value = serde_json::from_str(&line)?;
        attacks.push(Attack {
            case: v["case"].as_str().context("case")?.to_owned(),
            local_port: u16::try_from(v["local_port"].as_u64().context("local_port")?)?,
            responses: v["responses"].as_array().context("responses")?.iter().filter_map(|s| s.as_i64()).collect(),
        });
    }
    Ok((attacks, rss_peak))
}

#[test]
fn root_adversarial_traffic_is_counted_and_invents_no_spans() -> Result<()> {
    require_root();
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let server = start_go_server()?;
    let args = vec!["--pid".to_string(), server.proc.pid().to_string()];
    let mut agent = Agent::start_with(&args, Otlp::Grpc, &sink)?;
    let rss_before = rss_kib(agent.pid())?;

    let (attacks, rss_peak) = run_attacks(server.port, agent.pid())?;
    let count = |case: &str| attacks.iter().filter(|a| a.case.starts_with(case)).count();
    ensure!(count("slowloris") == SLOW_CONNS as usize && count("random-after-valid") == RANDOM_ROUNDS, "cases ran");
    ensure!(count("endless-headers") == 1 && count("chunk-size") == 5, "cases ran");
    agent.ensure_alive()?;

    // Well-formed traffic on fresh connections afterwards.
    let mut cmd = clean_command(python()?);
    cmd.arg(servers_dir().join("steady_client.py"))
        .args(["--port", &server.port.to_string(), "--path", "/status/200", "--count", &AFTER.to_string()])
        .args(["--rate", "1000"]);
    ChildProc::spawn("steady-client", &mut cmd)?.finish(common::CLIENT_TIMEOUT)?;
    let hello = curl(server.port, "GET", "/hello", None)?;
    ensure!(hello.status == 200, "curl got {}", hello.status);

    let want: usize = attacks.iter().map(|a| expected(a).len()).sum::<usize>() + AFTER + 1;
    rt.block_on(sink.wait_for_spans(want, Duration::from_secs(60)))?;
    let stats = agent.stop()?;
    let spans: Vec<ReceivedSpan> = sink.spans().into_iter().filter(|s| s.kind == SPAN_KIND_SERVER).collect();
    println!(
        "agent RSS {} MiB before, peak {} MiB under attack; {} spans; {stats:?}",
        rss_before / 1024,
        rss_peak / 1024,
        spans.len()
    );

    let mut by_port: BTreeMap<i64, Vec<&ReceivedSpan>> = BTreeMap::new();
    for s in &spans {
        by_port.entry(s.attr_int("network.peer.port").unwrap_or(0)).or_default().push(s);
    }
    for a in &attacks {
        let got: Vec<_> =
            by_port.remove(&i64::from(a.local_port)).unwrap_or_default().into_iter().map(span_key).collect();
        let want: Vec<_> = expected(a).into_iter().map(|(m, p, s)| (m.to_owned(), p.to_owned(), s)).collect();
        ensure!(
            got == want,
            "{} (port {}, responses {:?}): spans {got:?}, want {want:?}",
            a.case,
            a.local_port,
            a.responses
        );
    }
    let curl_spans = by_port.remove(&i64::from(hello.client_port)).unwrap_or_default();
    ensure!(
        curl_spans.iter().map(|s| span_key(s)).collect::<Vec<_>>() == [("GET".to_owned(), "/hello".to_owned(), 200)],
        "the curl request after the attack: {:?}",
        curl_spans.iter().map(|s| span_key(s)).collect::<Vec<_>>()
    );
    // What is left is the steady client's keep-alive connection.
    let rest: Vec<_> = by_port.into_values().flatten().collect();
    ensure!(rest.len() == AFTER, "{} spans for {AFTER} well-formed requests", rest.len());
    for s in &rest {
        ensure!(span_key(s) == ("GET".to_owned(), "/status/200".to_owned(), 200), "{:?}", span_key(s));
        ensure!(s.attr_int("server.port") == Some(i64::from(server.port)) && s.name == "GET /status/*", "{}", s.name);
    }

    ensure!(stats.get("http_truncated_heads_total")? == SLOW_CONNS, "slowloris heads counted: {stats:?}");
    ensure!(stats.get("http_parse_errors_total")? > 0, "garbage where a head should be: {stats:?}");
    // net/http answers junk with a 400 (the client may miss it: the reset for its unread junk
    // can discard it); that response answers no request the agent saw.
    let junk_answers = RANDOM_ROUNDS as u64;
    ensure!(stats.get("http_unmatched_responses_total")? >= junk_answers, "answers to junk: {stats:?}");
    ensure!(stats.get("http_lost_sync_total")? > 0, "bad chunk sizes lose the body framing: {stats:?}");
    ensure!(stats.get("ringbuf_dropped_events_total")? == 0, "{stats:?}");
    let growth_mib = rss_peak.saturating_sub(rss_before) / 1024;
    ensure!(growth_mib < RSS_GROWTH_MAX_MIB, "agent RSS grew {growth_mib} MiB under attack");
    Ok(())
}
