//! The export stage: encodes telemetry into OTLP messages as it arrives, groups it by
//! process (one OTLP resource each), and sends each flush to the console or to the OTLP
//! endpoints as one trace request and one logs request.
//!
//! Up to `max_concurrent_exports` trace requests (and two logs requests) are in flight at
//! once; when all are busy the stage waits, so the queue before it fills and counts drops.
//! Transient failures are retried with backoff (`retry`), holding the request's slot.

pub mod batch;
pub mod console;
pub mod otlp;
pub mod outage;
pub mod resource;
pub mod retry;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::trace::v1::ScopeSpans;
use prost::Message;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use self::batch::{requests, Group, Pending};
use self::otlp::raw_codec::Encoded;
use self::otlp::{OtlpClient, Signal};
use self::outage::Outage;
use self::resource::ResourceCache;
use self::retry::{export_with_retry, RetryPolicy, Slots};
use crate::clock::Clock;
use crate::signals::traces::SpanEncoder;
use crate::signals::Telemetry;
use crate::stats::Stats;

/// Log export requests in flight at once (logs are a small share of the traffic).
const MAX_CONCURRENT_LOG_EXPORTS: usize = 2;
/// Failed requests that may wait to be retried at once (the rest are dropped and counted).
const WAITING_REQUESTS: usize = 8;

pub enum Backend {
    Console(console::Console),
    Otlp(OtlpClient),
}

pub struct ExportStage {
    pub backend: Backend,
    pub stats: Arc<Stats>,
    pub clock: Arc<Clock>,
    pub batch_max_spans: usize,
    pub flush_interval: Duration,
    pub max_concurrent_exports: usize,
    pub retry: RetryPolicy,
    /// The agent's shutdown signal: retries stop waiting as soon as it fires, so SIGTERM with
    /// a dead collector still exits promptly.
    pub shutdown: CancellationToken,
    pub rpc_semconv: crate::config::RpcSemconv,
    /// Kubernetes metadata for peer attributes of spans (`decorate::k8s::peer`).
    pub k8s: Option<Arc<crate::decorate::k8s::K8sMetadata>>,
}

/// Where flushed telemetry goes, with the export slots of each signal.
struct Sink {
    backend: Backend,
    span_slots: Arc<Semaphore>,
    log_slots: Arc<Semaphore>,
    resources: ResourceCache,
    stats: Arc<Stats>,
    retry: Arc<Retry>,
}

/// What every export task shares for retrying.
struct Retry {
    policy: RetryPolicy,
    spans: Outage,
    logs: Outage,
    /// Requests waiting to retry (both signals): bounds what an outage holds in memory.
    waiting: Semaphore,
    /// Fired when the input is done: retries stop waiting so shutdown stays prompt.
    shutdown: CancellationToken,
}

impl ExportStage {
    /// Runs until the input channel closes, then flushes and waits for exports in flight.
    pub async fn run(self, mut rx: mpsc::Receiver<Vec<Telemetry>>) {
        let ExportStage {
            backend,
            stats,
            clock,
            batch_max_spans,
            flush_interval,
            max_concurrent_exports,
            retry,
            shutdown,
            rpc_semconv,
            k8s,
        } = self;
        let span_slots = max_concurrent_exports.max(1);
        let log_slots = span_slots.min(MAX_CONCURRENT_LOG_EXPORTS);
        let mut sink = Sink {
            backend,
            span_slots: Arc::new(Semaphore::new(span_slots)),
            log_slots: Arc::new(Semaphore::new(log_slots)),
            resources: ResourceCache::for_this_host(),
            stats,
            retry: Arc::new(Retry {
                policy: retry,
                spans: Outage::new("span"),
                logs: Outage::new("log"),
                waiting: Semaphore::new(WAITING_REQUESTS),
                shutdown,
            }),
        };
        let encoder = SpanEncoder::new(rpc_semconv).with_k8s(k8s);
        let mut pending = Pending::default();
        let mut tick = tokio::time::interval(flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = rx.recv() => {
                    let Some(batch) = batch else { break };
                    for item in batch {
                        pending.push(item, &encoder, &clock);
                        if pending.len() >= batch_max_spans {
                            sink.flush(pending.take()).await;
                        }
                    }
                }
                _ = tick.tick() => {
                    if !pending.is_empty() {
                        sink.flush(pending.take()).await;
                    }
                    sink.resources.sweep();
                }
            }
        }
        // No more backoff waits: requests still failing now are dropped and counted.
        sink.retry.shutdown.cancel();
        if !pending.is_empty() {
            sink.flush(pending.take()).await;
        }
        // Every slot back: the exports in flight have finished (each is bounded by the timeout).
        let _ = sink.span_slots.acquire_many(span_slots as u32).await;
        let _ = sink.log_slots.acquire_many(log_slots as u32).await;
        let _ = sink.retry.waiting.acquire_many(WAITING_REQUESTS as u32).await;
    }
}

impl Sink {
    /// Writes the groups to the console, or hands their requests to free export slots
    /// (waiting for one: backpressure).
    async fn flush(&mut self, groups: Vec<Group>) {
        let client = match &self.backend {
            Backend::Console(c) => return write_console(c, groups, &self.stats),
            Backend::Otlp(client) => client,
        };
        let client = client.clone();
        let requests = requests(groups, &mut self.resources);
        if let Some((request, n)) = requests.traces {
            self.send(&client, Signal::Traces, request, n).await;
        }
        if let Some((request, n)) = requests.logs {
            self.send(&client, Signal::Logs, Bytes::from(request.encode_to_vec()).into(), n).await;
        }
    }

    /// Waits for a free slot of the signal, then sends `request` (`n` items) in its own task,
    /// retrying transient failures, and counts the outcome.
    async fn send(&self, client: &OtlpClient, signal: Signal, request: Encoded, n: u64) {
        let pool = match signal {
            Signal::Traces => self.span_slots.clone(),
            Signal::Logs => self.log_slots.clone(),
        };
        let Ok(slot) = pool.clone().acquire_owned().await else { return };
        let (client, stats, retry) = (client.clone(), self.stats.clone(), self.retry.clone());
        tokio::spawn(async move {
            let (outage, exported, failed) = match signal {
                Signal::Traces => (&retry.spans, &stats.spans_exported, &stats.spans_export_failed),
                Signal::Logs => (&retry.logs, &stats.logs_exported, &stats.logs_export_failed),
            };
            let slots = Slots { pool: &pool, held: Some(slot), waiting: &retry.waiting };
            let sent = export_with_retry(&retry.policy, outage, &stats, &retry.shutdown, slots, || {
                client.export(signal, request.clone())
            })
            .await;
            match sent {
                Ok(()) => exported.add(n),
                Err(_) => {
                    failed.add(n);
                    outage.lost(n);
                }
            }
        });
    }
}

fn write_console(c: &console::Console, groups: Vec<Group>, stats: &Stats) {
    for g in groups {
        let (n, m) = (g.span_count, g.logs.len() as u64);
        // The encoded `spans` entries are a valid `ScopeSpans` message on their own.
        let spans = ScopeSpans::decode(g.spans.as_bytes()).map(|s| s.spans).unwrap_or_default();
        match c.write(&g.process, &spans, &g.logs) {
            Ok(()) => {
                stats.spans_exported.add(n);
                stats.logs_exported.add(m);
            }
            Err(e) => {
                stats.spans_export_failed.add(n);
                stats.logs_export_failed.add(m);
                if stats.export_failures.get() == 0 {
                    tracing::warn!(error = %e, "console write failed (logged once; counted in export_failures_total)");
                }
                stats.export_failures.add(1);
            }
        }
    }
}
