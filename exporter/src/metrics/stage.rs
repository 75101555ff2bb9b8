//! The metrics stage: every export interval, collects RED, network and self metrics and
//! sends them to OTLP or the console. Runs until cancelled, then exports once more.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::network::NetworkReader;
use super::otlp::{encode, MetricsClient, MAX_POINTS_PER_REQUEST};
use super::red::RedRecorder;
use super::self_metrics::SelfMetrics;
use super::{unix_now_ns, Collection, Temporality};
use crate::decorate::process::ProcessInfo;
use crate::stats::Stats;

pub enum MetricsBackend {
    Console,
    Otlp(Box<MetricsClient>),
}

pub struct MetricsStage {
    pub backend: MetricsBackend,
    pub interval: Duration,
    pub temporality: Temporality,
    pub red: Option<Arc<RedRecorder>>,
    pub network: Option<NetworkReader>,
    pub self_metrics: SelfMetrics,
    pub stats: Arc<Stats>,
    /// One warning per collector outage, not one per failed export.
    pub outage: crate::export::outage::Outage,
}

fn alive(p: &ProcessInfo) -> bool {
    std::path::Path::new(&format!("/proc/{}", p.pid.0)).exists()
}

/// One `ResourceMetrics` per resource: RED and network metrics of the same process arrive
/// separately. Prometheus' OTLP receiver silently dropped a short-lived process's series when
/// its resource appeared twice in one request (found by the pipeline test, e2e_stack.rs).
fn merge_resources(resources: Vec<super::ResourceMetrics>) -> Vec<super::ResourceMetrics> {
    let mut out: Vec<super::ResourceMetrics> = Vec::with_capacity(resources.len());
    for r in resources {
        match out.iter_mut().find(|o| o.pid == r.pid && o.resource == r.resource) {
            Some(o) => o.metrics.extend(r.metrics),
            None => out.push(r),
        }
    }
    out
}

impl MetricsStage {
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + self.interval, self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.export_once().await;
        }
        // Final export at shutdown, so short runs (and the last interval) are not lost.
        self.export_once().await;
    }

    pub fn collect(&mut self) -> Collection {
        let now = unix_now_ns();
        let t = self.temporality;
        let mut resources = Vec::new();
        if let Some(red) = &self.red {
            // Only the copy/move of the series happens under the lock the processor records with.
            let snapshot = red.with(|agg| agg.snapshot(now, t, alive));
            resources.extend(snapshot.build());
        }
        if let Some(net) = &mut self.network {
            resources.extend(net.collect(now, t));
        }
        resources.push(self.self_metrics.collect(now, t));
        Collection { time_unix_ns: now, temporality: t, resources: merge_resources(resources) }
    }

    async fn export_once(&mut self) {
        let collection = self.collect();
        match &mut self.backend {
            MetricsBackend::Console => {
                if let Err(e) = super::console::write(&collection) {
                    self.stats.metric_points_export_failed.lost(collection.points() as u64, "console write failed");
                    tracing::debug!(error = %e, "writing metrics to stdout failed");
                } else {
                    self.stats.metric_points_exported.add(collection.points() as u64);
                }
            }
            MetricsBackend::Otlp(client) => {
                for (req, points) in encode(&collection, MAX_POINTS_PER_REQUEST) {
                    match client.export(req).await {
                        Ok(()) => {
                            self.stats.metric_points_exported.add(points as u64);
                            self.outage.succeeded();
                        }
                        Err(e) => {
                            self.stats.export_failures.add(1);
                            self.stats.metric_points_export_failed.add(points as u64);
                            self.outage.failed(&e, points as u64);
                        }
                    }
                }
            }
        }
    }
}

/// What `spanwire run` needs to start metrics: the recorder for the processing stage, the
/// network probes to attach, and the stage to spawn.
pub struct MetricsSetup {
    pub red: Arc<RedRecorder>,
    pub net_probes: Option<crate::ebpf::net::NetProbes>,
    pub stage: MetricsStage,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Export(#[from] super::otlp::MetricsExportError),
}

/// Builds the metrics side from the config. Network probes that cannot load are reported and
/// left out (RED and self metrics still work); a bad endpoint is an error.
pub fn setup(
    cfg: &crate::config::Config,
    stats: Arc<Stats>,
    queues: Vec<super::self_metrics::QueueGauge>,
) -> Result<MetricsSetup, SetupError> {
    use super::otlp::{destination, MetricsDestination};
    use super::red::{RedAggregator, RedConfig};
    let env = |k: &str| std::env::var(k).ok();
    let backend = match destination(&cfg.export, env)? {
        MetricsDestination::Console => MetricsBackend::Console,
        MetricsDestination::Otlp { protocol, url, headers } => {
            tracing::info!(?protocol, endpoint = %url, "exporting metrics over OTLP");
            let timeout = Duration::from_millis(cfg.export.timeout_ms);
            MetricsBackend::Otlp(Box::new(MetricsClient::new(protocol, &url, headers, timeout)?))
        }
    };
    let red_cfg = RedConfig { series_cap: cfg.metrics.series_cap_per_metric, rpc_semconv: cfg.export.rpc_semconv };
    let red = Arc::new(RedRecorder::new(RedAggregator::new(red_cfg, stats.clone())));
    let now = unix_now_ns();
    let mut net_probes = None;
    let mut network = None;
    if cfg.metrics.network {
        match crate::ebpf::net::NetProbes::load(std::process::id()).and_then(|mut p| {
            let maps = p.take_maps()?;
            Ok((p, maps))
        }) {
            Ok((probes, maps)) => {
                net_probes = Some(probes);
                let selection = super::network::FlowSelection::from_config(&cfg.selection);
                network = Some(NetworkReader::new(maps.flows, maps.counters, selection, stats.clone(), now));
            }
            Err(e) => tracing::warn!(error = %e, "network metrics disabled: the kernel rejected net.bpf.o"),
        }
    }
    let agent = crate::decorate::process::ProcessCache::new("/proc").get(
        crate::ebpf::records::Pid(std::process::id()),
        None,
        "spanwire",
    );
    let self_metrics = SelfMetrics::new(
        stats.clone(),
        crate::export::resource::resource_attributes(&agent, crate::export::resource::host_name()),
        agent.pid.0,
        queues,
        now,
    );
    let stage = MetricsStage {
        backend,
        interval: Duration::from_millis(cfg.metrics.export_interval_ms.max(1)),
        temporality: cfg.metrics.temporality,
        red: Some(red.clone()),
        network,
        self_metrics,
        stats,
        outage: crate::export::outage::Outage::new("metric"),
    };
    Ok(MetricsSetup { red, net_probes, stage })
}

/// The depth of a bounded channel, without keeping it open.
pub fn queue_gauge<T: Send + 'static>(
    name: &'static str,
    description: &'static str,
    tx: &tokio::sync::mpsc::Sender<T>,
) -> super::self_metrics::QueueGauge {
    let weak = tx.downgrade();
    super::self_metrics::QueueGauge {
        name,
        description,
        depth: Box::new(move || weak.upgrade().map(|tx| tx.max_capacity() - tx.capacity())),
    }
}
