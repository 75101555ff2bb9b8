//! A collector that hangs (issue 8): it accepts connections and never answers — no HTTP/2
//! SETTINGS, no HTTP response — as a wedged or overloaded process does. Unlike a refused
//! connection, every export attempt waits for the export timeout. Under load the agent must
//! stay up with bounded memory, count every lost span, warn once, exit on SIGTERM within 5 s
//! while exports hang, and deliver fresh spans once a working collector takes over the port.
//! Root needed (loads eBPF). About 35 s per protocol.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::{require_root, rss_kib, serial, start_go_server, steady, Agent, Otlp};
use otlp_sink::Sink;

/// Seconds of load while the collector hangs, and its rate.
const HANG_SECS: u32 = 20;
const RATE: u32 = 400;
/// Requests after a working collector took over.
const AFTER: usize = 300;
/// Export timeout and retry budget given to the agent (a config file): short, so the test is quick.
const CONFIG: &str = "export:\n  timeout_ms: 2000\n  retry_max_elapsed_ms: 6000\n";
/// Measured peak growth was a few MiB (in-flight and waiting batches only); 8 000 spans kept
/// would be ~8 MiB more, so a bound of 16 MiB still fails if the backlog were held.
const RSS_GROWTH_MAX_MIB: u64 = 16;

/// Accepts connections on `addr` and holds them open without reading or answering.
struct HangingCollector {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<Vec<TcpStream>>>,
}

impl HangingCollector {
    fn start() -> Result<HangingCollector> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, accepted) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        accepted2.fetch_add(1, Ordering::Relaxed);
                        held.push(s);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held
        });
        Ok(HangingCollector { addr, stop, accepted, thread: Some(thread) })
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every held connection; returns how many were accepted.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            drop(t.join());
        }
        self.accepted.load(Ordering::Relaxed)
    }
}

/// `spanwire run` arguments: the config above, observing only `pid`.
fn agent_args(name: &str, pid: u32) -> Result<(Vec<String>, std::path::PathBuf)> {
    let config = std::env::temp_dir().join(format!("spanwire-hang-{name}-{}.yaml", std::process::id()));
    std::fs::write(&config, CONFIG)?;
    Ok((vec!["--config".into(), config.display().to_string(), "--pid".into(), pid.to_string()], config))
}

#[test]
fn root_collector_hangs_under_load_grpc() -> Result<()> {
    hang_then_recover(Otlp::Grpc)
}

#[test]
fn root_collector_hangs_under_load_http() -> Result<()> {
    hang_then_recover(Otlp::HttpProtobuf)
}

fn hang_then_recover(otlp: Otlp) -> Result<()> {
    require_root();
    let _serial = serial();
    let hanging = HangingCollector::start()?;
    let addr = hanging.addr;
    let server = start_go_server()?;
    let (args, config) = agent_args(&format!("{otlp:?}"), server.proc.pid())?;
    let mut agent = Agent::start_to(&args, &hanging.endpoint(), otlp, &[])?;
    let agent_pid = agent.pid();
    let rss_before = rss_kib(agent_pid)?;

    let (secs, rate) = (HANG_SECS.to_string(), RATE.to_string());
    let mut load = steady::start(server.port, &["--path", "/hello", "--seconds", &secs, "--rate", &rate])?;
    let (mut rss_peak, started) = (rss_before, Instant::now());
    while load.try_status()?.is_none() {
        ensure!(started.elapsed() < Duration::from_secs(u64::from(HANG_SECS) + 30), "load client hung");
        rss_peak = rss_peak.max(rss_kib(agent_pid)?);
        std::thread::sleep(Duration::from_millis(200));
    }
    let during = steady::finish(load, Duration::from_secs(5))?;
    agent.ensure_alive()?;
    let hang_stderr = agent.proc.stderr.text();
    let accepted = hanging.stop();

    // A working collector on the same port.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let (grpc, http) = match otlp {
        Otlp::Grpc => (addr, any),
        Otlp::HttpProtobuf => (any, addr),
    };
    let sink = rt.block_on(Sink::start_on(grpc, http))?;
    let n = AFTER.to_string();
    let after = steady::finish(
        steady::start(server.port, &["--path", "/status/201", "--count", &n, "--rate", "400"])?,
        common::CLIENT_TIMEOUT,
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while steady::count_path(&sink.spans(), "/status/201") < AFTER {
        ensure!(
            Instant::now() < deadline,
            "{} of {AFTER} spans after the recovery",
            steady::count_path(&sink.spans(), "/status/201")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.proc.stderr.wait_for(|l| l.contains("span export recovered"), Duration::from_secs(30))?;
    let stats = agent.stop()?;
    let spans = sink.spans();
    std::fs::remove_file(&config).ok();

    println!(
        "{otlp:?}: {during} requests while hanging ({accepted} connections held); agent RSS {} MiB before, peak {} MiB; {stats:?}",
        rss_before / 1024,
        rss_peak / 1024
    );
    ensure!(accepted > 0, "the agent never connected to the hanging collector");
    ensure!(during > u64::from(RATE * HANG_SECS) / 2, "the load ran: {during} requests");
    ensure!(after == AFTER as u64, "{after} requests after the recovery");
    ensure!(steady::count_path(&spans, "/status/201") == AFTER, "every span after the recovery arrived, once");
    let created = stats.get("spans_created_total")?;
    let exported = stats.get("spans_exported_total")?;
    let failed = stats.get("spans_export_failed_total")?;
    let queue_dropped = stats.get("spans_queue_dropped_total")?;
    ensure!(created == exported + failed + queue_dropped, "every span exported or counted as lost: {stats:?}");
    ensure!(exported == spans.len() as u64, "what was exported arrived: {stats:?}");
    let late = steady::count_path(&spans, "/hello") as u64;
    ensure!(failed + queue_dropped + late >= during, "{during} requests while hanging, {late} late spans: {stats:?}");
    ensure!(failed + queue_dropped > 0, "a hanging collector lost nothing? {stats:?}");
    let warned = hang_stderr.matches("span export failed").count();
    ensure!(warned == 1, "one warning for the hang, not one per batch ({warned}):\n{hang_stderr}");
    let growth_mib = rss_peak.saturating_sub(rss_before) / 1024;
    ensure!(growth_mib < RSS_GROWTH_MAX_MIB, "agent RSS grew {growth_mib} MiB while the collector hung");
    Ok(())
}

/// SIGTERM while every export hangs: the agent exits within 5 s (Agent::stop enforces it) and
/// the spans it could not deliver are counted, not silently gone.
#[test]
fn root_sigterm_while_the_collector_hangs() -> Result<()> {
    require_root();
    let _serial = serial();
    let hanging = HangingCollector::start()?;
    let server = start_go_server()?;
    // Export timeout 2 s: exit measured 3.5 s. With the default 3 s it measured 4.5 s (the
    // agent's 4 s shutdown deadline), too close to the 5 s bound on a loaded CI machine.
    let (args, config) = agent_args("sigterm", server.proc.pid())?;
    let agent = Agent::start_to(&args, &hanging.endpoint(), Otlp::Grpc, &[])?;
    let requests = steady::finish(
        steady::start(server.port, &["--path", "/hello", "--count", "2000", "--rate", "1000"])?,
        common::CLIENT_TIMEOUT,
    )?;
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let stats = agent.stop()?;
    let took = started.elapsed();
    let accepted = hanging.stop();
    std::fs::remove_file(&config).ok();
    println!("exit took {took:?} with {accepted} hanging connections; {stats:?}");
    let created = stats.get("spans_created_total")?;
    ensure!(created == requests, "{requests} requests, {created} spans: {stats:?}");
    let lost = stats.get("spans_export_failed_total")? + stats.get("spans_queue_dropped_total")?;
    ensure!(stats.get("spans_exported_total")? == 0, "nothing can be exported to a hanging collector: {stats:?}");
    ensure!(lost == created, "every span counted as lost at exit: {stats:?}");
    Ok(())
}
