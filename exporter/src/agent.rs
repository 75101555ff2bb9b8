//! `spanwire run`: wires the stages together and owns their lifecycle.
//!
//! ```text
//! kernel ring buffer -> Reader -> [events] -> Processor -> [spans] -> ExportStage
//! ```
//! Shutdown (SIGINT/SIGTERM): detach the programs, drain the ring buffer, let each stage
//! finish as its input channel closes, flush the exporter; bounded by a 5 s deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::conn::ProtoLimits;
use crate::decorate::k8s::{self, K8sError};
use crate::decorate::process::{self, ProcessCache};
use crate::ebpf::loader::{KernelConfig, LoadError, LogCapture, Probes};
use crate::ebpf::reader::Reader;
use crate::ebpf::{exe_watch, fs};
use crate::export::otlp::{self, Destination};
use crate::export::{console::Console, Backend, ExportStage};
use crate::metrics::stage::queue_gauge;
use crate::pipeline::{LogSettings, Processor};
use crate::request::http1::Http1Limits;
use crate::request::http2::Http2Limits;
use crate::stats::Stats;

const SHUTDOWN_DEADLINE: Duration = Duration::from_millis(4000);
const EVENT_QUEUE_BATCHES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("missing privileges: run as root, or grant CAP_BPF and CAP_PERFMON (and CAP_SYS_ADMIN to mount tracefs); `spanwire check` lists what is missing")]
    Privileges,
    #[error(transparent)]
    Tracefs(#[from] fs::FsError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Otlp(#[from] otlp::OtlpError),
    #[error(transparent)]
    Kubernetes(#[from] K8sError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::stage::SetupError),
    #[error("cannot watch the ring buffer: {0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(cfg: Config) -> Result<Arc<Stats>, AgentError> {
    let stats = Arc::new(Stats::default());
    let clock = Arc::new(Clock::default());
    if !crate::ebpf::check::has_bpf_privileges() {
        return Err(AgentError::Privileges);
    }
    fs::ensure_tracefs()?;
    let sel = &cfg.selection;
    let mut probes = Probes::load(&KernelConfig {
        agent_pid: std::process::id(),
        payload_max_bytes: cfg.capture.payload_max_bytes,
        payload_wide_bytes: cfg.capture.http2_payload_max_bytes,
        ring_buffer_bytes: cfg.capture.ring_buffer_bytes,
        wakeup_bytes: cfg.capture.wakeup_bytes,
        capture_all: sel.is_everything(),
        ports: sel.ports.clone(),
        pids: sel.pids.clone(),
        logs: cfg
            .logs
            .enabled
            .then_some(LogCapture { max_bytes: cfg.logs.max_line_bytes, rate_per_s: cfg.logs.rate_per_process_per_s }),
    })?;
    let maps = probes.take_maps()?;

    let backend = match otlp::destination(&cfg.export, |k| std::env::var(k).ok()) {
        Destination::Console => Backend::Console(Console),
        Destination::Otlp(settings) => {
            tracing::info!(
                protocol = ?settings.protocol,
                traces = %settings.traces.endpoint,
                logs = %settings.logs.endpoint,
                "exporting over OTLP"
            );
            Backend::Otlp(otlp::OtlpClient::new(&settings, Duration::from_millis(cfg.export.timeout_ms))?)
        }
    };

    let cancel = CancellationToken::new();
    let k8s = k8s::start(&cfg.kubernetes, &process::host_name(), cancel.clone()).await?;
    let k8s_meta = k8s.as_ref().map(|k| k.metadata.clone());
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE_BATCHES);
    let (span_tx, span_rx) = mpsc::channel(cfg.export.queue_batches);
    let metrics = if cfg.metrics.enabled {
        let queues = vec![
            queue_gauge("spanwire_event_queue_batches", "Event batches waiting for the processor.", &ev_tx),
            queue_gauge("spanwire_export_queue_batches", "Span/log batches waiting for export.", &span_tx),
        ];
        Some(crate::metrics::stage::setup(&cfg, stats.clone(), queues)?)
    } else {
        None
    };
    crate::ebpf::release_load_memory(); // both objects are loaded (the network one by the metrics setup)
    let reader = Reader {
        ring: maps.events,
        counters: maps.counters,
        stats: stats.clone(),
        poll_interval: Duration::from_millis(cfg.capture.poll_interval_ms.max(1)),
    };
    let reader = tokio::spawn(reader.run(ev_tx, cancel.clone()));
    let mut log_pids = maps.log_pids;
    if cfg.logs.enabled {
        for pid in &sel.pids {
            if let Err(e) = log_pids.insert(pid, 1, 0) {
                tracing::warn!(pid, error = %e, "cannot capture stdout/stderr of selected process");
            }
        }
    }
    let logs = cfg.logs.enabled.then(|| LogSettings {
        pids: log_pids,
        known: sel.pids.iter().map(|p| crate::ebpf::records::Pid(*p)).collect(),
        max_line_bytes: cfg.logs.max_line_bytes as usize,
        max_lines_per_write: cfg.logs.max_lines_per_write,
        failed_requests: cfg.logs.failed_requests,
    });
    let processor = Processor::new(
        cfg.limits.max_connections,
        ProtoLimits {
            http1: Http1Limits {
                max_head_bytes: cfg.limits.max_head_bytes,
                max_pending_requests: cfg.limits.max_pending_requests,
            },
            http2: Http2Limits {
                max_streams: cfg.limits.http2_max_streams,
                max_header_block_bytes: cfg.limits.http2_max_header_block_bytes,
                max_table_size: cfg.limits.http2_max_table_size,
                max_connection_bytes: cfg.limits.http2_max_connection_bytes,
            },
        },
        Duration::from_secs(cfg.limits.connection_idle_timeout_s),
        stats.clone(),
        logs,
        Some(maps.wide_socks),
    )
    .with_process_cache(ProcessCache::new("/proc").with_k8s(k8s_meta.clone()));
    let processor = processor.with_metrics(metrics.as_ref().map(|m| m.red.clone()));
    let processor = tokio::spawn(processor.run(ev_rx, span_tx));
    let metrics_cancel = CancellationToken::new();
    let (metrics_stage, mut net_probes) = match metrics {
        Some(m) => (Some(tokio::spawn(m.stage.run(metrics_cancel.clone()))), m.net_probes),
        None => (None, None),
    };
    let exporter = ExportStage {
        backend,
        stats: stats.clone(),
        clock: clock.clone(),
        batch_max_spans: cfg.export.batch_max_spans,
        flush_interval: Duration::from_millis(cfg.export.flush_interval_ms),
        k8s: k8s_meta,
        max_concurrent_exports: cfg.export.max_concurrent_exports,
        retry: crate::export::retry::RetryPolicy::new(Duration::from_millis(cfg.export.retry_max_elapsed_ms)),
        shutdown: cancel.clone(),
        rpc_semconv: cfg.export.rpc_semconv,
    };
    let exporter = tokio::spawn(exporter.run(span_rx));
    let watcher =
        (!sel.exes.is_empty()).then(|| tokio::spawn(exe_watch::run(sel.exes.clone(), maps.pid_filter, cancel.clone())));
    let resync = tokio::spawn(resync_clock(clock, cancel.clone()));

    probes.attach()?;
    if let Some(net) = &mut net_probes {
        net.attach()?;
    }
    tracing::info!(
        programs = crate::ebpf::loader::PROGRAMS.len(),
        payload_max_bytes = cfg.capture.payload_max_bytes,
        pids = ?sel.pids, ports = ?sel.ports, exes = ?sel.exes,
        "capture started"
    );

    wait_for_signal().await?;
    tracing::info!("stopping: detaching programs and flushing");
    drop(probes);
    drop(net_probes);
    cancel.cancel();
    let finish = async {
        let _ = reader.await;
        let _ = processor.await;
        // Every request is recorded now: the last metrics export includes all of them.
        metrics_cancel.cancel();
        if let Some(m) = metrics_stage {
            let _ = m.await;
        }
        let _ = exporter.await;
        if let Some(w) = watcher {
            let _ = w.await;
        }
        let _ = resync.await;
        if let Some(k) = k8s {
            let _ = k.task.await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_DEADLINE, finish).await.is_err() {
        tracing::warn!("shutdown deadline passed; exiting with telemetry still pending");
    }
    Ok(stats)
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

async fn resync_clock(clock: Arc<Clock>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => clock.resync(),
        }
    }
}
