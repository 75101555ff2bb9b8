//! Collector absent for 60 s under load (issue 8): the agent exports over gRPC to an OTLP
//! sink that dies (its runtime, listeners and connections dropped, as when a collector
//! crashes) while a client keeps a steady rate on the observed server, and comes back on
//! the same ports a minute later. The agent must keep its memory bounded, count every lost
//! span, warn once for the outage (not per batch), and deliver every span of the requests
//! made after the collector is back. Root needed (loads eBPF). Takes about 80 s.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::{require_root, rss_kib, serial, start_go_server, steady, Agent, Otlp};
use otlp_sink::{ReceivedSpan, Sink};
use tokio::runtime::Runtime;

const OUTAGE_SECS: u32 = 60;
/// Requests per second during the outage.
const RATE: u32 = 400;
/// Requests made before the outage and after the recovery.
const REQUESTS: usize = 500;
/// Bound on the agent's RSS growth from before the outage to its peak during it. A minute of
/// lost spans (24 000, ~1 KiB each as processed and encoded) would be ~24 MiB if any of it
/// were kept; the export queue (256 batches) does not fill because a refused connection fails
/// an export at once, so only allocator noise and in-flight batches remain.
const RSS_GROWTH_MAX_MIB: u64 = 16;

/// The sink with its own runtime: dropping both is a collector process dying.
struct Collector {
    sink: Sink,
    rt: Runtime,
}

impl Collector {
    fn start(grpc: SocketAddr, http: SocketAddr) -> Result<Collector> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let sink = rt.block_on(Sink::start_on(grpc, http))?;
        Ok(Collector { sink, rt })
    }

    /// Waits until `n` SERVER spans for `path` have arrived; returns every span received.
    fn wait_for_path(&self, path: &str, n: usize) -> Result<Vec<ReceivedSpan>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.sink.spans();
            if steady::count_path(&spans, path) >= n {
                return Ok(spans);
            }
            ensure!(Instant::now() < deadline, "{} of {n} spans for {path} arrived", steady::count_path(&spans, path));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Dies: listeners and open connections closed, nothing answers on the ports.
    fn kill(self) -> Vec<ReceivedSpan> {
        let spans = self.sink.spans();
        drop(self.sink);
        self.rt.shutdown_background();
        spans
    }
}

#[test]
fn root_collector_absent_for_a_minute_under_load() -> Result<()> {
    require_root();
    let _serial = serial();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let collector = Collector::start(any, any)?;
    let (grpc, http) = (collector.sink.grpc_addr, collector.sink.http_addr);
    let server = start_go_server()?;
    let args = vec!["--pid".to_string(), server.proc.pid().to_string()];
    let agent = Agent::start_with(&args, Otlp::Grpc, &collector.sink)?;
    let agent_pid = agent.pid();

    let n = REQUESTS.to_string();
    let before = steady::finish(
        steady::start(server.port, &["--path", "/status/200", "--count", &n, "--rate", "400"])?,
        common::CLIENT_TIMEOUT,
    )?;
    collector.wait_for_path("/status/200", REQUESTS)?;
    let rss_before = rss_kib(agent_pid)?;
    let first_spans = collector.kill();

    let secs = OUTAGE_SECS.to_string();
    let rate = RATE.to_string();
    let mut load = steady::start(server.port, &["--path", "/hello", "--seconds", &secs, "--rate", &rate])?;
    let (mut rss_peak, started) = (rss_before, Instant::now());
    while load.try_status()?.is_none() {
        ensure!(started.elapsed() < Duration::from_secs(u64::from(OUTAGE_SECS) + 30), "load client hung");
        rss_peak = rss_peak.max(rss_kib(agent_pid)?);
        std::thread::sleep(Duration::from_millis(200));
    }
    let during = steady::finish(load, Duration::from_secs(5))?;
    let outage_stderr = agent.proc.stderr.text();

    let collector = Collector::start(grpc, http)?;
    let after = steady::finish(
        steady::start(server.port, &["--path", "/status/201", "--count", &n, "--rate", "400"])?,
        common::CLIENT_TIMEOUT,
    )?;
    collector.wait_for_path("/status/201", REQUESTS)?;
    agent.proc.stderr.wait_for(|l| l.contains("span export recovered"), Duration::from_secs(30))?;
    let stats = agent.stop()?;
    // Read after the agent's exit flush: what it exported is all here.
    let second_spans = &collector.sink.spans()[..];

    println!(
        "outage: {during} requests in {OUTAGE_SECS} s; agent RSS {} MiB before, peak {} MiB during; {stats:?}",
        rss_before / 1024,
        rss_peak / 1024
    );
    ensure!(before == REQUESTS as u64 && after == REQUESTS as u64, "{before} / {after} requests");
    ensure!(during > u64::from(RATE * OUTAGE_SECS) / 2, "the load ran: {during} requests");
    ensure!(steady::count_path(second_spans, "/status/201") == REQUESTS, "every span after the recovery arrived, once");
    let created = stats.get("spans_created_total")?;
    let exported = stats.get("spans_exported_total")?;
    let failed = stats.get("spans_export_failed_total")?;
    let queue_dropped = stats.get("spans_queue_dropped_total")?;
    ensure!(created == exported + failed + queue_dropped, "every span exported or counted as lost: {stats:?}");
    ensure!(exported == (first_spans.len() + second_spans.len()) as u64, "what was exported arrived: {stats:?}");
    // Outage spans still queued when the collector came back may have been delivered late.
    let late = steady::count_path(second_spans, "/hello") as u64;
    ensure!(failed + queue_dropped + late >= during, "{during} outage requests, {late} late spans: {stats:?}");
    ensure!(failed > 0 && stats.get("export_failures_total")? > 0, "{stats:?}");
    let warned = outage_stderr.matches("span export failed").count();
    ensure!(warned == 1, "one warning for the outage, not one per batch ({warned}):\n{outage_stderr}");
    let growth_mib = rss_peak.saturating_sub(rss_before) / 1024;
    ensure!(growth_mib < RSS_GROWTH_MAX_MIB, "agent RSS grew {growth_mib} MiB during the outage");
    Ok(())
}
