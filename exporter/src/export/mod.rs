//! The export stage: batches spans, groups them by process (one OTLP resource each), and
//! sends them to the console or an OTLP endpoint.
//!
//! One exporter serves every process: before each group is exported the exporter's resource
//! is set to that process's. This costs one request per process per flush instead of one
//! connection per process, and needs no per-service exporter lifecycle.

pub mod console;
pub mod otlp;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::decorate::process::ProcessInfo;
use crate::signals::traces::{HttpSpan, SpanBuilder};
use crate::stats::Stats;

pub enum Backend {
    Console(console::Console),
    /// Several exporters so that exports overlap: each carries one resource at a time, so one
    /// in-flight request per exporter.
    Otlp(Vec<opentelemetry_otlp::SpanExporter>),
}

pub struct ExportStage {
    pub backend: Backend,
    pub stats: Arc<Stats>,
    pub clock: Arc<Clock>,
    pub batch_max_spans: usize,
    pub flush_interval: Duration,
}

type Groups = Vec<(Arc<ProcessInfo>, Vec<SpanData>)>;

impl ExportStage {
    /// Runs until the input channel closes, then flushes and shuts the exporters down.
    pub async fn run(self, mut rx: mpsc::Receiver<Vec<HttpSpan>>) {
        let ExportStage { backend, stats, clock, batch_max_spans, flush_interval } = self;
        let (console, exporters) = match backend {
            Backend::Console(c) => (Some(c), Vec::new()),
            Backend::Otlp(v) => (None, v),
        };
        let pool_size = exporters.len();
        let (idle_tx, mut idle_rx) = mpsc::channel(pool_size.max(1));
        for e in exporters {
            let _ = idle_tx.try_send(e);
        }
        let builder = SpanBuilder::default();
        let mut pending: Vec<HttpSpan> = Vec::new();
        let mut tick = tokio::time::interval(flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let flush_now = tokio::select! {
                batch = rx.recv() => match batch {
                    Some(b) => {
                        pending.extend(b);
                        pending.len() >= batch_max_spans
                    }
                    None => break,
                },
                _ = tick.tick() => true,
            };
            while flush_now && !pending.is_empty() {
                let n = pending.len().min(batch_max_spans);
                let groups = group_by_process(&builder, &clock, pending.drain(..n));
                match &console {
                    Some(c) => write_console(c, groups, &stats),
                    None => {
                        // Waits for a free exporter: backpressure fills the span queue, which counts drops.
                        let Some(exp) = idle_rx.recv().await else { return };
                        tokio::spawn(export_groups(exp, groups, stats.clone(), idle_tx.clone()));
                    }
                }
            }
        }
        while !pending.is_empty() {
            let n = pending.len().min(batch_max_spans);
            let groups = group_by_process(&builder, &clock, pending.drain(..n));
            match &console {
                Some(c) => write_console(c, groups, &stats),
                None => {
                    let Some(exp) = idle_rx.recv().await else { return };
                    tokio::spawn(export_groups(exp, groups, stats.clone(), idle_tx.clone()));
                }
            }
        }
        // Wait for in-flight exports, then shut every exporter down.
        for _ in 0..pool_size {
            if let Some(exp) = idle_rx.recv().await {
                if let Err(e) = exp.shutdown() {
                    tracing::debug!(error = %e, "OTLP exporter shutdown");
                }
            }
        }
    }
}

fn write_console(c: &console::Console, groups: Groups, stats: &Stats) {
    for (process, spans) in groups {
        let n = spans.len() as u64;
        match c.write(&process, &spans) {
            Ok(()) => stats.spans_exported.add(n),
            Err(e) => record_failure(stats, n, &e.to_string()),
        }
    }
}

async fn export_groups(
    mut exp: opentelemetry_otlp::SpanExporter,
    groups: Groups,
    stats: Arc<Stats>,
    idle: mpsc::Sender<opentelemetry_otlp::SpanExporter>,
) {
    for (process, spans) in groups {
        let n = spans.len() as u64;
        exp.set_resource(&process.resource);
        match exp.export(spans).await {
            Ok(()) => stats.spans_exported.add(n),
            Err(e) => record_failure(&stats, n, &e.to_string()),
        }
    }
    let _ = idle.send(exp).await;
}

fn record_failure(stats: &Stats, spans: u64, error: &str) {
    stats.spans_export_failed.add(spans);
    if stats.export_failures.get() == 0 {
        tracing::warn!(error, spans, "span export failed (logged once; counted in export_failures_total)");
    }
    stats.export_failures.add(1);
}

/// Builds span data and groups it by process, keeping arrival order inside each group.
fn group_by_process(builder: &SpanBuilder, clock: &Clock, spans: impl Iterator<Item = HttpSpan>) -> Groups {
    let mut groups: Groups = Vec::new();
    for s in spans {
        let data = builder.build(&s, clock);
        match groups.iter_mut().find(|(p, _)| Arc::ptr_eq(p, &s.process)) {
            Some((_, v)) => v.push(data),
            None => groups.push((s.process, vec![data])),
        }
    }
    groups
}
