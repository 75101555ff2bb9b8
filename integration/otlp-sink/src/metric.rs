//! Received metric data points, flattened for assertions: one [`ReceivedPoint`] per data point.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, NumberDataPoint};

use crate::span::{attributes, AnyValueLite, Protocol};

/// `AggregationTemporality` of a sum or histogram (`Unspecified` for gauges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    Unspecified,
    Delta,
    Cumulative,
}

impl From<i32> for Temporality {
    fn from(v: i32) -> Self {
        match v {
            1 => Temporality::Delta,
            2 => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        }
    }
}

/// The value of one data point.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    Histogram {
        count: u64,
        sum: f64,
        bounds: Vec<f64>,
        bucket_counts: Vec<u64>,
    },
    /// A sum; integer points are converted to `f64` (exact below 2^53).
    Sum {
        value: f64,
        monotonic: bool,
    },
    Gauge {
        value: f64,
    },
    /// Exponential histograms and summaries are not decoded.
    Other,
}

/// One data point with its metric and resource.
#[derive(Debug, Clone)]
pub struct ReceivedPoint {
    pub resource: BTreeMap<String, AnyValueLite>,
    pub scope: String,
    pub name: String,
    pub unit: String,
    pub temporality: Temporality,
    pub attributes: BTreeMap<String, AnyValueLite>,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    pub value: PointValue,
    pub via: Protocol,
}

impl ReceivedPoint {
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(AnyValueLite::as_str)
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(AnyValueLite::as_str)
    }

    pub fn attr_int(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(AnyValueLite::as_int)
    }

    /// The histogram count, or the sum/gauge value.
    pub fn number(&self) -> f64 {
        match &self.value {
            PointValue::Histogram { count, .. } => *count as f64,
            PointValue::Sum { value, .. } | PointValue::Gauge { value } => *value,
            PointValue::Other => f64::NAN,
        }
    }
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        Some(number_data_point::Value::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

pub fn flatten_metrics(req: &ExportMetricsServiceRequest, via: Protocol) -> Vec<ReceivedPoint> {
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        let resource = rm.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        for sm in &rm.scope_metrics {
            let scope = sm.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            for m in &sm.metrics {
                let point = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
                             start: u64,
                             time: u64,
                             temporality: Temporality,
                             value: PointValue| ReceivedPoint {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    name: m.name.clone(),
                    unit: m.unit.clone(),
                    temporality,
                    attributes: attributes(attrs),
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value,
                    via,
                };
                match &m.data {
                    Some(metric::Data::Histogram(h)) => {
                        for p in &h.data_points {
                            let value = PointValue::Histogram {
                                count: p.count,
                                sum: p.sum.unwrap_or(f64::NAN),
                                bounds: p.explicit_bounds.clone(),
                                bucket_counts: p.bucket_counts.clone(),
                            };
                            let t = Temporality::from(h.aggregation_temporality);
                            out.push(point(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, t, value));
                        }
                    }
                    Some(metric::Data::Sum(s)) => {
                        for p in &s.data_points {
                            let value = PointValue::Sum { value: number(p), monotonic: s.is_monotonic };
                            let t = Temporality::from(s.aggregation_temporality);
                            out.push(point(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, t, value));
                        }
                    }
                    Some(metric::Data::Gauge(g)) => {
                        for p in &g.data_points {
                            let value = PointValue::Gauge { value: number(p) };
                            let t = Temporality::Unspecified;
                            out.push(point(&p.attributes, p.start_time_unix_nano, p.time_unix_nano, t, value));
                        }
                    }
                    _ => out.push(point(&[], 0, 0, Temporality::Unspecified, PointValue::Other)),
                }
            }
        }
    }
    out
}
