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
    Otlp(Box<opentelemetry_otlp::SpanExporter>),
}

pub struct ExportStage {
    pub backend: Backend,
    pub stats: Arc<Stats>,
    pub clock: Arc<Clock>,
    pub batch_max_spans: usize,
    pub flush_interval: Duration,
}

impl ExportStage {
    /// Runs until the input channel closes, then flushes and shuts the exporter down.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Vec<HttpSpan>>) {
        let builder = SpanBuilder::default();
        let mut pending: Vec<HttpSpan> = Vec::new();
        let mut tick = tokio::time::interval(self.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(b) => {
                        pending.extend(b);
                        if pending.len() >= self.batch_max_spans {
                            self.flush(&builder, &mut pending).await;
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => self.flush(&builder, &mut pending).await,
            }
        }
        self.flush(&builder, &mut pending).await;
        if let Backend::Otlp(exp) = &mut self.backend {
            if let Err(e) = exp.shutdown() {
                tracing::debug!(error = %e, "OTLP exporter shutdown");
            }
        }
    }

    async fn flush(&mut self, builder: &SpanBuilder, pending: &mut Vec<HttpSpan>) {
        if pending.is_empty() {
            return;
        }
        for (process, spans) in group_by_process(builder, &self.clock, pending.drain(..)) {
            let n = spans.len() as u64;
            let result = match &mut self.backend {
                Backend::Console(c) => c.write(&process, &spans).map_err(|e| e.to_string()),
                Backend::Otlp(exp) => {
                    exp.set_resource(&process.resource);
                    exp.export(spans).await.map_err(|e| e.to_string())
                }
            };
            match result {
                Ok(()) => self.stats.spans_exported.add(n),
                Err(e) => {
                    self.stats.spans_export_failed.add(n);
                    if self.stats.export_failures.get() == 0 {
                        tracing::warn!(error = %e, spans = n, "span export failed (logged once; counted in export_failures_total)");
                    }
                    self.stats.export_failures.add(1);
                }
            }
        }
    }
}

/// Builds span data and groups it by process, keeping arrival order inside each group.
fn group_by_process(
    builder: &SpanBuilder,
    clock: &Clock,
    spans: impl Iterator<Item = HttpSpan>,
) -> Vec<(Arc<ProcessInfo>, Vec<SpanData>)> {
    let mut groups: Vec<(Arc<ProcessInfo>, Vec<SpanData>)> = Vec::new();
    for s in spans {
        let data = builder.build(&s, clock);
        match groups.iter_mut().find(|(p, _)| Arc::ptr_eq(p, &s.process)) {
            Some((_, v)) => v.push(data),
            None => groups.push((s.process, vec![data])),
        }
    }
    groups
}
