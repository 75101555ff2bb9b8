//! `otlp-sink --grpc ADDR --http ADDR [--jsonl FILE]`
//!
//! Prints `otlp-sink listening grpc=ADDR http=ADDR` once both listeners accept,
//! and `otlp-sink spans=N requests=M logs=L` then `otlp-sink metric_points=P` on SIGTERM/SIGINT
//! before exiting 0.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use otlp_sink::{Sink, SinkConfig};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Parser)]
#[command(name = "otlp-sink", about = "OTLP trace, log and metric receiver (gRPC + HTTP/protobuf)")]
struct Args {
    /// OTLP/gRPC listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4317")]
    grpc: SocketAddr,
    /// OTLP/HTTP listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4318")]
    http: SocketAddr,
    /// Append one JSON object per received span to this file.
    #[arg(long)]
    jsonl: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sink = Sink::start_with(SinkConfig { grpc: args.grpc, http: args.http, jsonl: args.jsonl }).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "otlp-sink listening grpc={} http={}", sink.grpc_addr, sink.http_addr)?;
        out.flush()?;
    }
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = sigint.recv() => {}
    }
    sink.shutdown().await?;
    let (spans, requests, logs) = (sink.spans().len(), sink.requests(), sink.logs().len());
    let points = sink.metrics().len();
    let mut out = std::io::stdout().lock();
    writeln!(out, "otlp-sink spans={spans} requests={requests} logs={logs}")?;
    writeln!(out, "otlp-sink metric_points={points}")?;
    out.flush()?;
    Ok(())
}
