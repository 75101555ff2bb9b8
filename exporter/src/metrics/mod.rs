//! Metrics: RED histograms from the requests that make spans, network metrics aggregated in
//! the kernel, and the agent's own counters, exported as OTLP metrics (or to the console).
//!
//! ```text
//! Processor ──RequestSample──► red::RedRecorder (per service, per series histograms)
//! kernel net maps ───────────► network::NetworkReader
//! stats::Stats ──────────────► self_metrics
//!                     every OTEL_METRIC_EXPORT_INTERVAL: stage::MetricsStage ─► otlp / console
//! ```
//! Aggregation is done here rather than with the opentelemetry SDK's `MeterProvider`: the SDK
//! ties one resource to a provider, and this agent reports for many services at once; building
//! `ExportMetricsServiceRequest`s directly gives one `ResourceMetrics` per service in a single
//! request and keeps the per-series cost to one small struct (see docs/metrics.md).

pub mod cardinality;
pub mod console;
pub mod histogram;
pub mod network;
pub mod otlp;
pub mod red;
pub mod sample;
pub mod self_metrics;
pub mod stage;

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::KeyValue as PbKeyValue;

use histogram::Histogram;

/// An attribute value of a data point.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(Arc<str>),
    Int(i64),
    Bool(bool),
}

impl From<&'static str> for AttrValue {
    fn from(s: &'static str) -> Self {
        AttrValue::Str(Arc::from(s))
    }
}

impl From<Arc<str>> for AttrValue {
    fn from(s: Arc<str>) -> Self {
        AttrValue::Str(s)
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(Arc::from(s))
    }
}

impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::Int(v)
    }
}

pub type Attrs = Vec<(&'static str, AttrValue)>;

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: cumulative (default) or delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    #[default]
    Cumulative,
    Delta,
}

impl Temporality {
    /// The values the specification defines; `lowmemory` means delta for the instruments this
    /// agent has (histograms and monotonic counters from synchronous recordings).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Some(Temporality::Cumulative),
            "delta" | "lowmemory" => Some(Temporality::Delta),
            _ => None,
        }
    }
}

/// A number of a sum or gauge point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Double(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    pub attrs: Attrs,
    pub start_unix_ns: u64,
    pub hist: Histogram,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumberPoint {
    pub attrs: Attrs,
    pub start_unix_ns: u64,
    pub value: Number,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricData {
    Histogram(Vec<HistogramPoint>),
    /// Sums follow the batch's temporality; `monotonic` for counters.
    Sum {
        monotonic: bool,
        points: Vec<NumberPoint>,
    },
    Gauge(Vec<NumberPoint>),
}

impl MetricData {
    pub fn points(&self) -> usize {
        match self {
            MetricData::Histogram(p) => p.len(),
            MetricData::Sum { points, .. } | MetricData::Gauge(points) => points.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Static for the fixed instruments; owned for the self-metrics built from counter names.
    pub name: Cow<'static, str>,
    pub unit: &'static str,
    pub description: &'static str,
    pub data: MetricData,
}

/// Every metric of one resource (one service, or the agent itself) in one collection.
#[derive(Debug, Clone)]
pub struct ResourceMetrics {
    /// Resource attributes (`export::resource::resource_attributes`).
    pub resource: Vec<PbKeyValue>,
    /// For the console: the service and pid the resource stands for.
    pub service: Arc<str>,
    pub pid: u32,
    pub metrics: Vec<Metric>,
}

impl ResourceMetrics {
    pub fn points(&self) -> usize {
        self.metrics.iter().map(|m| m.data.points()).sum()
    }
}

/// One collection: everything exported at one interval, with its timestamp.
#[derive(Debug, Clone)]
pub struct Collection {
    pub time_unix_ns: u64,
    pub temporality: Temporality,
    pub resources: Vec<ResourceMetrics>,
}

impl Collection {
    pub fn points(&self) -> usize {
        self.resources.iter().map(ResourceMetrics::points).sum()
    }
}

pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}
