//! The agent's own counters (`stats::Stats`) and queue depths, as metrics of the agent's resource.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::KeyValue as PbKeyValue;

use super::{Metric, MetricData, Number, NumberPoint, ResourceMetrics, Temporality};
use crate::stats::Stats;

/// A queue whose depth is reported as a gauge; `None` once the queue is gone.
pub struct QueueGauge {
    pub name: &'static str,
    pub description: &'static str,
    pub depth: Box<dyn Fn() -> Option<usize> + Send + Sync>,
}

pub struct SelfMetrics {
    stats: Arc<Stats>,
    resource: Vec<PbKeyValue>,
    pid: u32,
    start_unix_ns: u64,
    /// Totals at the previous collection (delta temporality reports the difference).
    previous: Vec<u64>,
    queues: Vec<QueueGauge>,
}

impl SelfMetrics {
    pub fn new(
        stats: Arc<Stats>,
        resource: Vec<PbKeyValue>,
        pid: u32,
        queues: Vec<QueueGauge>,
        now_unix_ns: u64,
    ) -> Self {
        SelfMetrics { stats, resource, pid, start_unix_ns: now_unix_ns, previous: Vec::new(), queues }
    }

    pub fn collect(&mut self, now_unix_ns: u64, temporality: Temporality) -> ResourceMetrics {
        let snapshot = self.stats.snapshot();
        self.previous.resize(snapshot.len(), 0);
        let mut metrics = Vec::with_capacity(snapshot.len() + self.queues.len());
        for (i, (counter, total)) in snapshot.into_iter().enumerate() {
            let value = match temporality {
                Temporality::Cumulative => total,
                Temporality::Delta => total.saturating_sub(self.previous[i]),
            };
            self.previous[i] = total;
            metrics.push(Metric {
                name: format!("spanwire_{counter}").into(), // `spanwire_<noun>_<unit>_total`
                unit: "1",
                description: "spanwire self-telemetry counter (see exporter/src/stats.rs)",
                data: MetricData::Sum {
                    monotonic: true,
                    points: vec![NumberPoint {
                        attrs: Vec::new(),
                        start_unix_ns: self.start_unix_ns,
                        value: Number::Int(i64::try_from(value).unwrap_or(i64::MAX)),
                    }],
                },
            });
        }
        for q in &self.queues {
            if let Some(depth) = (q.depth)() {
                metrics.push(Metric {
                    name: q.name.into(),
                    unit: "{batch}",
                    description: q.description,
                    data: MetricData::Gauge(vec![NumberPoint {
                        attrs: Vec::new(),
                        start_unix_ns: 0,
                        value: Number::Int(depth as i64),
                    }]),
                });
            }
        }
        if temporality == Temporality::Delta {
            self.start_unix_ns = now_unix_ns;
        }
        ResourceMetrics { resource: self.resource.clone(), service: Arc::from("spanwire"), pid: self.pid, metrics }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_monotonic_sums_and_delta_subtracts() {
        let stats = Arc::new(Stats::default());
        let queues =
            vec![QueueGauge { name: "spanwire_export_queue_batches", description: "", depth: Box::new(|| Some(3)) }];
        let mut m = SelfMetrics::new(stats.clone(), Vec::new(), 1, queues, 5);
        stats.http_parse_errors.add(4);
        let value = |rm: &ResourceMetrics, name: &str| {
            rm.metrics.iter().find(|m| m.name == name).and_then(|m| match &m.data {
                MetricData::Sum { monotonic: true, points } | MetricData::Gauge(points) => Some(points[0].value),
                _ => None,
            })
        };
        let first = m.collect(10, Temporality::Delta);
        assert_eq!(value(&first, "spanwire_http_parse_errors_total"), Some(Number::Int(4)));
        assert_eq!(value(&first, "spanwire_export_queue_batches"), Some(Number::Int(3)));
        stats.http_parse_errors.add(1);
        let second = m.collect(20, Temporality::Delta);
        assert_eq!(value(&second, "spanwire_http_parse_errors_total"), Some(Number::Int(1)));
        let third = m.collect(30, Temporality::Cumulative);
        assert_eq!(value(&third, "spanwire_http_parse_errors_total"), Some(Number::Int(5)));
    }
}
