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
    Otlp(MetricsClient),
}

pub struct MetricsStage {
    pub backend: MetricsBackend,
    pub interval: Duration,
    pub temporality: Temporality,
    pub red: Option<Arc<RedRecorder>>,
    pub network: Option<NetworkReader>,
    pub self_metrics: SelfMetrics,
    pub stats: Arc<Stats>,
}

fn alive(p: &ProcessInfo) -> bool {
    std::path::Path::new(&format!("/proc/{}", p.pid.0)).exists()
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
            resources.extend(red.with(|agg| agg.collect(now, t, alive)));
        }
        if let Some(net) = &mut self.network {
            resources.extend(net.collect(now, t));
        }
        resources.push(self.self_metrics.collect(now, t));
        Collection { time_unix_ns: now, temporality: t, resources }
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
                        Ok(()) => self.stats.metric_points_exported.add(points as u64),
                        Err(e) => {
                            self.stats.export_failures.add(1);
                            self.stats.metric_points_export_failed.lost(
                                points as u64,
                                "metric export failed: data points lost (collector unreachable or rejecting?)",
                            );
                            tracing::debug!(error = %e, points, "metric export failed");
                        }
                    }
                }
            }
        }
    }
}
