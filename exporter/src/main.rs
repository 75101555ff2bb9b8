//! The `spanwire` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use spanwire::config::Config;

/// The pipeline allocates many small, short-lived objects per request (heads, spans, OTLP
/// messages); with glibc malloc a third of the agent's CPU went to malloc/free (perf, 15k req/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "spanwire", version, about = "Zero-instrumentation eBPF observability agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Capture traffic and export spans (console when no OTLP endpoint is configured).
    Run {
        /// YAML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Observe this process (repeatable).
        #[arg(long = "pid")]
        pids: Vec<u32>,
        /// Observe connections whose local or remote port is PORT (repeatable).
        #[arg(long = "port")]
        ports: Vec<u16>,
        /// Observe processes running this executable (file name; repeatable).
        #[arg(long = "exe")]
        exes: Vec<String>,
    },
    /// Report whether this machine can run the agent; exit 0 only when it can.
    Check,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPANWIRE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Check => check(),
        Command::Run { config, pids, ports, exes } => match run(config, pids, ports, exes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("spanwire: error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn check() -> ExitCode {
    let items = spanwire::ebpf::check::run_checks();
    for item in &items {
        println!("{item}");
    }
    if items.iter().all(|i| i.ok) {
        println!("spanwire check: ok, `spanwire run` can work here");
        ExitCode::SUCCESS
    } else {
        println!("spanwire check: FAILED, fix the MISSING items above");
        ExitCode::FAILURE
    }
}

fn run(config: Option<PathBuf>, pids: Vec<u32>, ports: Vec<u16>, exes: Vec<String>) -> anyhow::Result<()> {
    let mut cfg = match &config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    cfg.apply_env(|k| std::env::var(k).ok())?;
    cfg.selection.pids.extend(pids);
    cfg.selection.ports.extend(ports);
    cfg.selection.exes.extend(exes);
    cfg.validate()?;
    // One thread: the stages hand batches to each other without cross-core wake-ups, and the
    // agent never takes more than one core from the node's workloads.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let stats = runtime.block_on(spanwire::agent::run(cfg))?;
    eprintln!("{}", stats.summary_line());
    Ok(())
}
