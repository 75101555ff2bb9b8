//! Thread linking under concurrency: load clients -> A -> B, where A (Go, Python threaded,
//! Node) calls B with the id of its own request (`/work/{id}` -> `/b/{id}`) and propagates
//! nothing. For every A CLIENT span the parent must be the A SERVER span of the same id, or
//! nothing: a wrong parent merges unrelated requests into one trace and is never allowed.
//! Sequential requests must all be linked, and so must a thread-per-request server's (Python)
//! once its threads have shown that they serve one request each. Prints the counts of
//! correct/wrong/unlinked per concurrency (run with `--nocapture`). Root needed (loads eBPF).

mod common;

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use common::chain::{drive, ChainA};
use common::{require_root, serial, start_go_server, Agent, Otlp};
use otlp_sink::{ReceivedSpan, Sink, SPAN_KIND_CLIENT, SPAN_KIND_SERVER};

/// (concurrent clients, sequential requests per client); the first phase is sequential.
const PHASES: [(usize, usize); 3] = [(1, 20), (10, 5), (50, 4)];

#[test]
fn root_concurrent_links_go() -> Result<()> {
    measure(ChainA::Go)
}

#[test]
fn root_concurrent_links_python_threaded() -> Result<()> {
    measure(ChainA::Python)
}

#[test]
fn root_concurrent_links_node() -> Result<()> {
    measure(ChainA::Node)
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    correct: usize,
    wrong: usize,
    unlinked: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.correct + self.wrong + self.unlinked
    }
}

fn measure(a_impl: ChainA) -> Result<()> {
    require_root();
    let _serial = serial();
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let sink = rt.block_on(Sink::start())?;
    let b = start_go_server()?;
    let a = a_impl.start("svc-a", b.port)?;
    let ports = [a.port, b.port].map(|p| format!("--port={p}"));
    // The agent's per-process thread-linking decisions (debug lines) explain the numbers.
    let env = [("SPANWIRE_LOG", "info,spanwire::trace::serving=debug")];
    let agent = Agent::start_env(&ports, Otlp::Grpc, &sink, &env)?;
    let agent_log = agent.proc.stderr.clone();
    for (clients, requests) in PHASES {
        drive(a.port, clients, requests, &format!("n{clients}")).with_context(|| a.proc.describe())?;
    }
    let stats = agent.stop()?;
    let spans = sink.spans();
    let a_pid = i64::from(a.proc.pid());
    let of_a = |kind: i32, prefix: &'static str| {
        spans
            .iter()
            .filter(move |s| s.kind == kind && s.resource_int("process.pid") == Some(a_pid))
            .filter_map(move |s| Some((s.attr_str("url.path")?.strip_prefix(prefix)?.to_owned(), s)))
    };
    let servers: HashMap<String, &ReceivedSpan> = of_a(SPAN_KIND_SERVER, "/work/").collect();
    let mut tallies = [Tally::default(); PHASES.len()];
    let mut wrong = Vec::new();
    for (id, client) in of_a(SPAN_KIND_CLIENT, "/b/") {
        let phase = PHASES.iter().position(|(n, _)| id.starts_with(&format!("n{n}-"))).context("unknown id")?;
        let tally = &mut tallies[phase];
        let server = servers.get(&id).with_context(|| format!("no A SERVER span for {id}"))?;
        if client.parent_span_id.iter().all(|b| *b == 0) {
            tally.unlinked += 1;
        } else if client.parent_span_id == server.span_id && client.trace_id == server.trace_id {
            tally.correct += 1;
        } else {
            tally.wrong += 1;
            wrong.push(id);
        }
    }
    println!("thread linking, A in {a_impl:?} (A CLIENT spans: correct / wrong / unlinked):");
    for ((clients, requests), t) in PHASES.iter().zip(&tallies) {
        let pct = |n: usize| 100.0 * n as f64 / t.total().max(1) as f64;
        println!(
            "  {clients:>2} concurrent: {:>3} ({:>5.1}%) / {:>3} ({:>5.1}%) / {:>3} ({:>5.1}%)  of {}",
            t.correct,
            pct(t.correct),
            t.wrong,
            pct(t.wrong),
            t.unlinked,
            pct(t.unlinked),
            clients * requests
        );
    }
    let a_pid_field = format!("pid={a_pid}");
    for line in agent_log.all().iter().filter(|l| l.contains("thread linking")) {
        if line.split_whitespace().any(|w| w == a_pid_field) {
            println!("  agent: {}", line.split_once("serving: ").map_or(line.as_str(), |(_, m)| m));
        }
    }
    println!("  link_ambiguous_total {:?}, took {:?}", stats.get("link_ambiguous_total").ok(), started.elapsed());
    let want: usize = PHASES.iter().map(|(c, r)| c * r).sum();
    ensure!(servers.len() == want, "A SERVER spans: {} of {want}", servers.len());
    for ((clients, requests), t) in PHASES.iter().zip(&tallies) {
        ensure!(t.total() == clients * requests, "A CLIENT spans at {clients} concurrent: {t:?}");
    }
    ensure!(wrong.is_empty(), "{} A CLIENT spans have another request's parent: {wrong:?}", wrong.len());
    ensure!(tallies[0].correct == PHASES[0].1, "sequential requests are all linked: {:?}", tallies[0]);
    if a_impl == ChainA::Python {
        // Thread per request: its threads earn trust during the 10-client level; after that no
        // call is ambiguous.
        ensure!(tallies[2].unlinked == 0, "a thread-per-request server keeps its links: {:?}", tallies[2]);
    }
    let unlinked: usize = tallies.iter().map(|t| t.unlinked).sum();
    ensure!(
        stats.get("link_ambiguous_total")? == unlinked as u64,
        "every unlinked A CLIENT span was refused as ambiguous (and nothing else was): {unlinked} unlinked, {stats:?}"
    );
    drop(rt);
    Ok(())
}
