//! RED metrics: request duration and body-size histograms per service and attribute set.

use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry_semantic_conventions::attribute as sc;

use super::cardinality::{Capped, Slot};
use super::histogram::{Histogram, DURATION_BOUNDS_MS, DURATION_BOUNDS_S, SIZE_BOUNDS_BY};
use super::sample::{RequestSample, SampleKind};
use super::{Attrs, HistogramPoint, Metric, MetricData, ResourceMetrics, Temporality};
pub use crate::config::RpcSemconv;
use crate::decorate::process::ProcessInfo;
use crate::export::resource::{host_name, resource_attributes};
use crate::fast_map::FastMap;
use crate::protocol::grpc::GrpcCode;
use crate::request::Role;
use crate::stats::Stats;

#[derive(Debug, Clone, Copy)]
pub struct RedConfig {
    /// Distinct series per metric family per service before the overflow series is used.
    pub series_cap: usize,
    /// Which generation of RPC metric names and attributes to emit (the spans' setting).
    pub rpc_semconv: RpcSemconv,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HttpKey {
    method: &'static str,
    status: Option<u16>,
    /// Server only.
    route: Option<Arc<str>>,
    error_type: Option<Arc<str>>,
    /// Client only (opt-in on servers, and mostly constant there).
    server: Option<(Arc<str>, u16)>,
    version: &'static str,
    scheme: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RpcKey {
    system: &'static str,
    method: Arc<str>,
    code: Option<GrpcCode>,
    error_type: Option<Arc<str>>,
    server: Option<(Arc<str>, u16)>,
}

#[derive(Debug, Clone)]
struct HttpSeries {
    duration: Histogram,
    request_size: Histogram,
    response_size: Histogram,
}

impl HttpSeries {
    fn new() -> Self {
        HttpSeries {
            duration: Histogram::new(DURATION_BOUNDS_S),
            request_size: Histogram::new(SIZE_BOUNDS_BY),
            response_size: Histogram::new(SIZE_BOUNDS_BY),
        }
    }
}

struct Service {
    process: Arc<ProcessInfo>,
    /// Start of the current aggregation period (cumulative: first sample; delta: last export).
    start_unix_ns: u64,
    http_server: Capped<HttpKey, HttpSeries>,
    http_client: Capped<HttpKey, HttpSeries>,
    rpc_server: Capped<RpcKey, Histogram>,
    rpc_client: Capped<RpcKey, Histogram>,
}

impl Service {
    fn new(process: Arc<ProcessInfo>, cap: usize, now_unix_ns: u64) -> Self {
        Service {
            process,
            start_unix_ns: now_unix_ns,
            http_server: Capped::new(cap),
            http_client: Capped::new(cap),
            rpc_server: Capped::new(cap),
            rpc_client: Capped::new(cap),
        }
    }

    fn series(&self) -> usize {
        self.http_server.len() + self.http_client.len() + self.rpc_server.len() + self.rpc_client.len()
    }
}

/// Per-service histograms. Services are keyed by pid and start time, like their resources.
pub struct RedAggregator {
    cfg: RedConfig,
    services: FastMap<(u32, u64), Service>,
    stats: Arc<Stats>,
}

impl RedAggregator {
    pub fn new(cfg: RedConfig, stats: Arc<Stats>) -> Self {
        RedAggregator { cfg, services: FastMap::default(), stats }
    }

    pub fn record(&mut self, s: &RequestSample, now_unix_ns: u64) {
        self.record_with(s, || now_unix_ns);
    }

    /// [`Self::record`], reading the clock only when the sample is its service's first.
    pub fn record_with(&mut self, s: &RequestSample, now_unix_ns: impl FnOnce() -> u64) {
        let key = (s.process.pid.0, s.process.start_ticks);
        let cap = self.cfg.series_cap;
        let svc = self.services.entry(key).or_insert_with(|| Service::new(s.process.clone(), cap, now_unix_ns()));
        let error_type = s.error_type.as_deref().map(Arc::from);
        let server = Some((s.server_address.clone(), s.server_port));
        let slot = match &s.kind {
            SampleKind::Http { method, status_code, route, protocol_version, scheme } => {
                let (family, route, server) = match s.role {
                    Role::Server => (&mut svc.http_server, route.clone(), None),
                    Role::Client => (&mut svc.http_client, None, server),
                };
                let key = HttpKey {
                    method,
                    status: *status_code,
                    route,
                    error_type,
                    server,
                    version: protocol_version,
                    scheme,
                };
                let (series, slot) = family.slot(key, HttpSeries::new);
                series.duration.record(s.duration_s);
                series.request_size.record(s.request_bytes as f64);
                series.response_size.record(s.response_bytes as f64);
                slot
            }
            SampleKind::Rpc { system, method, code } => {
                let (family, server) = match s.role {
                    Role::Server => (&mut svc.rpc_server, None),
                    Role::Client => (&mut svc.rpc_client, server),
                };
                let key = RpcKey { system, method: Arc::from(method.as_str()), code: *code, error_type, server };
                let (h, slot) = family.slot(key, || Histogram::new(DURATION_BOUNDS_S));
                h.record(s.duration_s);
                slot
            }
        };
        if slot == Slot::Overflow {
            self.stats
                .metric_series_overflow
                .lost(1, "metric series cap reached for a service: samples go to the otel.metric.overflow=true series");
        }
    }

    /// Series currently held (all services, all families).
    pub fn series(&self) -> usize {
        self.services.values().map(Service::series).sum()
    }

    pub fn services(&self) -> usize {
        self.services.len()
    }

    /// Everything recorded, one `ResourceMetrics` per service. With delta temporality the
    /// histograms start over; services whose process is gone (`alive` false) are forgotten
    /// after this last report.
    pub fn collect(
        &mut self,
        now_unix_ns: u64,
        temporality: Temporality,
        alive: impl Fn(&ProcessInfo) -> bool,
    ) -> Vec<ResourceMetrics> {
        let snapshot = self.snapshot(now_unix_ns, temporality, alive);
        snapshot.build()
    }

    /// The cheap part of a collection, done while the recorder is locked: the series are
    /// moved out (delta) or copied (cumulative); attributes and points are built afterwards
    /// by [`Snapshot::build`] without blocking the processing stage.
    pub fn snapshot(
        &mut self,
        now_unix_ns: u64,
        temporality: Temporality,
        alive: impl Fn(&ProcessInfo) -> bool,
    ) -> Snapshot {
        let cap = self.cfg.series_cap;
        let mut services = Vec::with_capacity(self.services.len());
        for svc in self.services.values_mut() {
            if svc.series() == 0 {
                continue;
            }
            let copy = match temporality {
                Temporality::Cumulative => Service {
                    process: svc.process.clone(),
                    start_unix_ns: svc.start_unix_ns,
                    http_server: svc.http_server.clone(),
                    http_client: svc.http_client.clone(),
                    rpc_server: svc.rpc_server.clone(),
                    rpc_client: svc.rpc_client.clone(),
                },
                Temporality::Delta => std::mem::replace(svc, Service::new(svc.process.clone(), cap, now_unix_ns)),
            };
            services.push(copy);
        }
        self.services.retain(|_, svc| alive(&svc.process));
        Snapshot { services, rpc_semconv: self.cfg.rpc_semconv }
    }
}

/// Series taken out of the aggregator, to be turned into metrics.
pub struct Snapshot {
    services: Vec<Service>,
    rpc_semconv: RpcSemconv,
}

impl Snapshot {
    pub fn build(self) -> Vec<ResourceMetrics> {
        let semconv = self.rpc_semconv;
        self.services
            .iter()
            .map(|svc| ResourceMetrics {
                resource: resource_attributes(&svc.process, host_name()),
                service: Arc::from(svc.process.service_name.as_str()),
                pid: svc.process.pid.0,
                metrics: service_metrics(svc, semconv),
            })
            .filter(|rm| !rm.metrics.is_empty())
            .collect()
    }
}

/// Shared between the processing stage (records) and the metrics stage (collects).
pub struct RedRecorder(Mutex<RedAggregator>);

impl RedRecorder {
    pub fn new(agg: RedAggregator) -> Self {
        RedRecorder(Mutex::new(agg))
    }

    pub fn record(&self, s: &RequestSample) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).record_with(s, super::unix_now_ns);
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut RedAggregator) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

const OVERFLOW: &str = "otel.metric.overflow";

fn http_attrs(k: &HttpKey) -> Attrs {
    let mut a: Attrs = Vec::with_capacity(8);
    a.push((sc::HTTP_REQUEST_METHOD, k.method.into()));
    if let Some(status) = k.status {
        a.push((sc::HTTP_RESPONSE_STATUS_CODE, i64::from(status).into()));
    }
    if let Some(r) = &k.route {
        a.push((sc::HTTP_ROUTE, r.clone().into()));
    }
    if let Some(e) = &k.error_type {
        a.push((sc::ERROR_TYPE, e.clone().into()));
    }
    if let Some((addr, port)) = &k.server {
        a.push((sc::SERVER_ADDRESS, addr.clone().into()));
        a.push((sc::SERVER_PORT, i64::from(*port).into()));
    }
    a.push((sc::URL_SCHEME, k.scheme.into()));
    a.push((sc::NETWORK_PROTOCOL_NAME, "http".into()));
    a.push((sc::NETWORK_PROTOCOL_VERSION, k.version.into()));
    a
}

fn rpc_attrs(k: &RpcKey, old: bool) -> Attrs {
    let mut a: Attrs = Vec::with_capacity(6);
    if old {
        let (service, method) = k.method.split_once('/').unwrap_or(("", &k.method));
        a.push(("rpc.system", k.system.into()));
        a.push(("rpc.service", service.to_string().into()));
        a.push(("rpc.method", method.to_string().into()));
        if let Some(c) = k.code {
            a.push(("rpc.grpc.status_code", i64::from(c.code()).into()));
        }
    } else {
        a.push(("rpc.system.name", k.system.into()));
        a.push(("rpc.method", k.method.clone().into()));
        if let Some(c) = k.code {
            a.push(("rpc.response.status_code", c.name().into()));
        }
    }
    if let Some(e) = &k.error_type {
        a.push((sc::ERROR_TYPE, e.clone().into()));
    }
    if let Some((addr, port)) = &k.server {
        a.push((sc::SERVER_ADDRESS, addr.clone().into()));
        a.push((sc::SERVER_PORT, i64::from(*port).into()));
    }
    a
}

fn overflow_attrs() -> Attrs {
    vec![(OVERFLOW, super::AttrValue::Bool(true))]
}

struct Desc {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
}

const HTTP_SERVER: [Desc; 3] = [
    Desc { name: "http.server.request.duration", unit: "s", description: "Duration of HTTP server requests." },
    Desc { name: "http.server.request.body.size", unit: "By", description: "Size of HTTP server request bodies." },
    Desc { name: "http.server.response.body.size", unit: "By", description: "Size of HTTP server response bodies." },
];
const HTTP_CLIENT: [Desc; 3] = [
    Desc { name: "http.client.request.duration", unit: "s", description: "Duration of HTTP client requests." },
    Desc { name: "http.client.request.body.size", unit: "By", description: "Size of HTTP client request bodies." },
    Desc { name: "http.client.response.body.size", unit: "By", description: "Size of HTTP client response bodies." },
];
const RPC_SERVER: Desc =
    Desc { name: "rpc.server.call.duration", unit: "s", description: "Duration of RPCs measured by the server." };
const RPC_CLIENT: Desc =
    Desc { name: "rpc.client.call.duration", unit: "s", description: "Duration of RPCs measured by the client." };
const RPC_SERVER_OLD: Desc =
    Desc { name: "rpc.server.duration", unit: "ms", description: "Duration of inbound RPCs (older conventions)." };
const RPC_CLIENT_OLD: Desc =
    Desc { name: "rpc.client.duration", unit: "ms", description: "Duration of outbound RPCs (older conventions)." };

fn histogram_metric(d: &Desc, points: Vec<HistogramPoint>) -> Option<Metric> {
    (!points.is_empty()).then(|| Metric {
        name: d.name.into(),
        unit: d.unit,
        description: d.description,
        data: MetricData::Histogram(points),
    })
}

fn http_metrics(family: &Capped<HttpKey, HttpSeries>, descs: &[Desc; 3], start: u64, out: &mut Vec<Metric>) {
    let pick: [fn(&HttpSeries) -> &Histogram; 3] = [|s| &s.duration, |s| &s.request_size, |s| &s.response_size];
    for (desc, pick) in descs.iter().zip(pick) {
        let mut points: Vec<HistogramPoint> = family
            .series()
            .map(|(k, s)| HistogramPoint { attrs: http_attrs(k), start_unix_ns: start, hist: pick(s).clone() })
            .collect();
        if let Some(s) = family.overflow() {
            points.push(HistogramPoint { attrs: overflow_attrs(), start_unix_ns: start, hist: pick(s).clone() });
        }
        out.extend(histogram_metric(desc, points));
    }
}

fn rpc_metrics(family: &Capped<RpcKey, Histogram>, desc: &Desc, old: bool, start: u64, out: &mut Vec<Metric>) {
    let convert = |h: &Histogram| if old { h.scaled(1e3, DURATION_BOUNDS_MS) } else { h.clone() };
    let mut points: Vec<HistogramPoint> = family
        .series()
        .map(|(k, h)| HistogramPoint { attrs: rpc_attrs(k, old), start_unix_ns: start, hist: convert(h) })
        .collect();
    if let Some(h) = family.overflow() {
        points.push(HistogramPoint { attrs: overflow_attrs(), start_unix_ns: start, hist: convert(h) });
    }
    out.extend(histogram_metric(desc, points));
}

fn service_metrics(svc: &Service, semconv: RpcSemconv) -> Vec<Metric> {
    let start = svc.start_unix_ns;
    let mut out = Vec::new();
    http_metrics(&svc.http_server, &HTTP_SERVER, start, &mut out);
    http_metrics(&svc.http_client, &HTTP_CLIENT, start, &mut out);
    if semconv.new_names() {
        rpc_metrics(&svc.rpc_server, &RPC_SERVER, false, start, &mut out);
        rpc_metrics(&svc.rpc_client, &RPC_CLIENT, false, start, &mut out);
    }
    if semconv.old_names() {
        rpc_metrics(&svc.rpc_server, &RPC_SERVER_OLD, true, start, &mut out);
        rpc_metrics(&svc.rpc_client, &RPC_CLIENT_OLD, true, start, &mut out);
    }
    out
}

#[cfg(test)]
#[path = "red_tests.rs"]
mod tests;
