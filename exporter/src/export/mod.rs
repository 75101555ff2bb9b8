//! The export stage: batches telemetry, groups it by process (one OTLP resource each), and
//! sends spans and logs to the console or to OTLP endpoints.
//!
//! One exporter serves every process: before each group is exported the exporter's resource
//! is set to that process's. This costs one request per process per flush instead of one
//! connection per process, and needs no per-service exporter lifecycle. A small pool of
//! exporters lets requests overlap (an exporter carries one resource at a time).

pub mod console;
pub mod otlp;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::InstrumentationScope;
use opentelemetry_otlp::{LogExporter, SpanExporter};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::decorate::process::ProcessInfo;
use crate::signals::logs::{body_value, LogLine};
use crate::signals::traces::SpanBuilder;
use crate::signals::Telemetry;
use crate::stats::Stats;

pub enum Backend {
    Console(console::Console),
    Otlp { spans: Vec<SpanExporter>, logs: Vec<LogExporter> },
}

pub struct ExportStage {
    pub backend: Backend,
    pub stats: Arc<Stats>,
    pub clock: Arc<Clock>,
    pub batch_max_spans: usize,
    pub flush_interval: Duration,
    pub rpc_semconv: crate::config::RpcSemconv,
}

/// One process's share of a flush.
struct Group {
    process: Arc<ProcessInfo>,
    spans: Vec<SpanData>,
    logs: Vec<SdkLogRecord>,
}

/// Exporters not in use, and the way to give them back.
struct Pool<E> {
    size: usize,
    idle_tx: mpsc::Sender<E>,
    idle_rx: mpsc::Receiver<E>,
}

impl<E> Pool<E> {
    fn new(exporters: Vec<E>) -> Self {
        let size = exporters.len();
        let (idle_tx, idle_rx) = mpsc::channel(size.max(1));
        for e in exporters {
            let _ = idle_tx.try_send(e);
        }
        Pool { size, idle_tx, idle_rx }
    }

    /// Waits for every exporter to come back, then hands them out for shutdown.
    async fn drain(mut self) -> Vec<E> {
        let mut all = Vec::with_capacity(self.size);
        for _ in 0..self.size {
            if let Some(e) = self.idle_rx.recv().await {
                all.push(e);
            }
        }
        all
    }
}

struct Builders {
    spans: SpanBuilder,
    logger: SdkLogger,
    scope: InstrumentationScope,
}

impl ExportStage {
    /// Runs until the input channel closes, then flushes and shuts the exporters down.
    pub async fn run(self, mut rx: mpsc::Receiver<Vec<Telemetry>>) {
        let ExportStage { backend, stats, clock, batch_max_spans, flush_interval, rpc_semconv } = self;
        let (console, span_pool, log_pool) = match backend {
            Backend::Console(c) => (Some(c), Pool::new(Vec::new()), Pool::new(Vec::new())),
            Backend::Otlp { spans, logs } => (None, Pool::new(spans), Pool::new(logs)),
        };
        let mut pools = (span_pool, log_pool);
        let provider = SdkLoggerProvider::builder().build();
        let scope = InstrumentationScope::builder("spanwire").with_version(env!("CARGO_PKG_VERSION")).build();
        let builders = Builders { spans: SpanBuilder::new(rpc_semconv), logger: provider.logger("spanwire"), scope };
        let mut pending: Vec<Telemetry> = Vec::new();
        let mut tick = tokio::time::interval(flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        while open || !pending.is_empty() {
            let flush_now = if open {
                tokio::select! {
                    batch = rx.recv() => match batch {
                        Some(b) => {
                            pending.extend(b);
                            pending.len() >= batch_max_spans
                        }
                        None => {
                            open = false;
                            true
                        }
                    },
                    _ = tick.tick() => true,
                }
            } else {
                true
            };
            while flush_now && !pending.is_empty() {
                let n = pending.len().min(batch_max_spans);
                let groups = group_by_process(&builders, &clock, pending.drain(..n));
                match &console {
                    Some(c) => write_console(c, groups, &stats),
                    None => {
                        if !dispatch(groups, &mut pools, &stats, &builders.scope).await {
                            return;
                        }
                    }
                }
            }
        }
        let (span_pool, log_pool) = pools;
        for exp in span_pool.drain().await {
            if let Err(e) = exp.shutdown() {
                tracing::debug!(error = %e, "OTLP span exporter shutdown");
            }
        }
        for exp in log_pool.drain().await {
            if let Err(e) = exp.shutdown() {
                tracing::debug!(error = %e, "OTLP log exporter shutdown");
            }
        }
    }
}

/// Hands the groups' spans and logs to free exporters (waiting for one: backpressure fills the
/// queue before it, which counts drops). False when the pools are gone.
async fn dispatch(
    groups: Vec<Group>,
    pools: &mut (Pool<SpanExporter>, Pool<LogExporter>),
    stats: &Arc<Stats>,
    scope: &InstrumentationScope,
) -> bool {
    let mut span_groups = Vec::new();
    let mut log_groups = Vec::new();
    for g in groups {
        if !g.spans.is_empty() {
            span_groups.push((g.process.clone(), g.spans));
        }
        if !g.logs.is_empty() {
            log_groups.push((g.process, g.logs));
        }
    }
    if !span_groups.is_empty() {
        let Some(exp) = pools.0.idle_rx.recv().await else { return false };
        tokio::spawn(export_spans(exp, span_groups, stats.clone(), pools.0.idle_tx.clone()));
    }
    if !log_groups.is_empty() {
        let Some(exp) = pools.1.idle_rx.recv().await else { return false };
        tokio::spawn(export_logs(exp, log_groups, scope.clone(), stats.clone(), pools.1.idle_tx.clone()));
    }
    true
}

fn write_console(c: &console::Console, groups: Vec<Group>, stats: &Stats) {
    for g in groups {
        let (n, m) = (g.spans.len() as u64, g.logs.len() as u64);
        match c.write(&g.process, &g.spans, &g.logs) {
            Ok(()) => {
                stats.spans_exported.add(n);
                stats.logs_exported.add(m);
            }
            Err(e) => {
                record_failure(stats, n, &e.to_string());
                stats.logs_export_failed.add(m);
            }
        }
    }
}

async fn export_spans(
    mut exp: SpanExporter,
    groups: Vec<(Arc<ProcessInfo>, Vec<SpanData>)>,
    stats: Arc<Stats>,
    idle: mpsc::Sender<SpanExporter>,
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

async fn export_logs(
    mut exp: LogExporter,
    groups: Vec<(Arc<ProcessInfo>, Vec<SdkLogRecord>)>,
    scope: InstrumentationScope,
    stats: Arc<Stats>,
    idle: mpsc::Sender<LogExporter>,
) {
    for (process, logs) in groups {
        let n = logs.len() as u64;
        exp.set_resource(&process.resource);
        let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> = logs.iter().map(|l| (l, &scope)).collect();
        match exp.export(LogBatch::new(&refs)).await {
            Ok(()) => stats.logs_exported.add(n),
            Err(e) => {
                stats.logs_export_failed.add(n);
                if stats.export_failures.get() == 0 {
                    tracing::warn!(error = %e, logs = n, "log export failed (logged once; counted in export_failures_total)");
                }
                stats.export_failures.add(1);
            }
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

/// Builds span data and log records and groups them by process, keeping arrival order.
fn group_by_process(b: &Builders, clock: &Clock, items: impl Iterator<Item = Telemetry>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for item in items {
        let idx = match groups.iter().position(|g| Arc::ptr_eq(&g.process, item.process())) {
            Some(i) => i,
            None => {
                groups.push(Group { process: item.process().clone(), spans: Vec::new(), logs: Vec::new() });
                groups.len() - 1
            }
        };
        match item {
            Telemetry::Span(s) => groups[idx].spans.push(b.spans.build(&s, clock)),
            Telemetry::Log(l) => groups[idx].logs.push(log_record(&b.logger, &l, clock)),
        }
    }
    groups
}

fn log_record(logger: &SdkLogger, l: &LogLine, clock: &Clock) -> SdkLogRecord {
    let mut r = logger.create_log_record();
    let ts = clock.to_system_time(l.ts_ns);
    r.set_timestamp(ts);
    r.set_observed_timestamp(ts);
    if let Some(level) = l.severity {
        let (number, text) = level.severity();
        r.set_severity_number(number);
        r.set_severity_text(text);
    }
    r.set_body(body_value(l));
    r.add_attribute("log.iostream", l.source);
    if l.truncated {
        r.add_attribute("spanwire.log.truncated", true);
    }
    if let Some(ids) = &l.trace {
        r.set_trace_context(ids.trace_id, ids.span_id, Some(ids.flags));
    }
    r
}
