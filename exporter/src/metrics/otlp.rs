//! Collections to `ExportMetricsServiceRequest`s, sent over OTLP/gRPC (tonic) or OTLP/HTTP
//! with a protobuf body (reqwest), configured by the standard `OTEL_EXPORTER_OTLP_*` variables.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1 as pb;
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use prost::Message;

use super::{AttrValue, Attrs, Collection, HistogramPoint, Metric, MetricData, Number, NumberPoint, Temporality};
use crate::config::{ExportConfig, OtlpProtocol};

/// Data points per export request: keeps requests well below the usual 4 MiB gRPC limit.
pub const MAX_POINTS_PER_REQUEST: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum MetricsExportError {
    #[error("invalid OTLP metrics endpoint {endpoint:?}: {reason}; set OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT to a URL such as http://127.0.0.1:4317")]
    Endpoint { endpoint: String, reason: String },
    #[error("invalid OTEL_EXPORTER_OTLP_(METRICS_)HEADERS entry {0:?}: expected key=value pairs separated by commas")]
    Header(String),
    #[error("OTLP/gRPC metrics export failed: {0}")]
    Grpc(#[from] tonic::Status),
    #[error("OTLP/HTTP metrics export failed")]
    Http(#[from] reqwest::Error),
    #[error("OTLP/HTTP metrics export rejected with status {status}: {body}")]
    HttpStatus { status: u16, body: String },
    #[error("the collector rejected {rejected} data points: {message}")]
    Rejected { rejected: i64, message: String },
}

/// Where metrics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsDestination {
    Console,
    Otlp { protocol: OtlpProtocol, url: String, headers: Vec<(String, String)> },
}

/// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as is) wins over `OTEL_EXPORTER_OTLP_ENDPOINT` and
/// the config's endpoint (both get `/v1/metrics` appended for HTTP); no endpoint: the console.
pub fn destination(
    cfg: &ExportConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<MetricsDestination, MetricsExportError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let protocol = get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
        .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .and_then(|p| OtlpProtocol::parse(&p))
        .or(cfg.protocol)
        .unwrap_or(OtlpProtocol::HttpProtobuf);
    let url = if let Some(url) = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
        url.trim().to_string()
    } else if let Some(base) = get("OTEL_EXPORTER_OTLP_ENDPOINT").or_else(|| cfg.endpoint.clone()) {
        let base = base.trim().trim_end_matches('/').to_string();
        match protocol {
            OtlpProtocol::Grpc => base,
            OtlpProtocol::HttpProtobuf => format!("{base}/v1/metrics"),
        }
    } else {
        return Ok(MetricsDestination::Console);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(MetricsExportError::Endpoint {
            endpoint: url,
            reason: "must start with http:// or https://".into(),
        });
    }
    let mut headers = parse_headers(get("OTEL_EXPORTER_OTLP_HEADERS").as_deref().unwrap_or(""))?;
    for (k, v) in parse_headers(get("OTEL_EXPORTER_OTLP_METRICS_HEADERS").as_deref().unwrap_or(""))? {
        headers.retain(|(old, _)| !old.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
    Ok(MetricsDestination::Otlp { protocol, url, headers })
}

/// `key1=value1,key2=value2` with percent-encoded values, as the specification defines.
fn parse_headers(s: &str) -> Result<Vec<(String, String)>, MetricsExportError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_ascii_lowercase(), percent_decode(v.trim()))),
            _ => Err(MetricsExportError::Header(pair.to_string())),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends requests to one endpoint.
pub struct MetricsClient {
    url: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    transport: Transport,
}

enum Transport {
    Grpc(MetricsServiceClient<tonic::transport::Channel>),
    Http(reqwest::Client),
}

impl MetricsClient {
    pub fn new(
        protocol: OtlpProtocol,
        url: &str,
        headers: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<Self, MetricsExportError> {
        let bad = |reason: String| MetricsExportError::Endpoint { endpoint: url.to_string(), reason };
        let transport = match protocol {
            OtlpProtocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(url.to_string())
                    .map_err(|e| bad(e.to_string()))?
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .connect_lazy();
                Transport::Grpc(MetricsServiceClient::new(channel))
            }
            OtlpProtocol::HttpProtobuf => {
                Transport::Http(reqwest::Client::builder().timeout(timeout).build().map_err(|e| bad(e.to_string()))?)
            }
        };
        Ok(MetricsClient { url: url.to_string(), headers, timeout, transport })
    }

    pub async fn export(&mut self, req: ExportMetricsServiceRequest) -> Result<(), MetricsExportError> {
        let partial = match &mut self.transport {
            Transport::Grpc(client) => {
                let mut request = tonic::Request::new(req);
                request.set_timeout(self.timeout);
                for (k, v) in &self.headers {
                    if let (Ok(k), Ok(v)) = (
                        k.parse::<tonic::metadata::MetadataKey<tonic::metadata::Ascii>>(),
                        v.parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>(),
                    ) {
                        request.metadata_mut().insert(k, v);
                    }
                }
                client.export(request).await?.into_inner().partial_success
            }
            Transport::Http(client) => {
                let mut builder =
                    client.post(&self.url).header("content-type", "application/x-protobuf").body(req.encode_to_vec());
                for (k, v) in &self.headers {
                    builder = builder.header(k.as_str(), v.as_str());
                }
                let resp = builder.send().await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                if !status.is_success() {
                    let body = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
                    return Err(MetricsExportError::HttpStatus { status: status.as_u16(), body });
                }
                opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse::decode(body)
                    .ok()
                    .and_then(|r| r.partial_success)
            }
        };
        match partial {
            Some(p) if p.rejected_data_points > 0 => {
                Err(MetricsExportError::Rejected { rejected: p.rejected_data_points, message: p.error_message })
            }
            _ => Ok(()),
        }
    }
}

/// The collection as requests of at most about `max_points` data points each (a resource is
/// never split; one larger than that goes alone).
pub fn encode(c: &Collection, max_points: usize) -> Vec<(ExportMetricsServiceRequest, usize)> {
    let scope = InstrumentationScope {
        name: "spanwire".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    };
    let temporality = match c.temporality {
        Temporality::Cumulative => pb::AggregationTemporality::Cumulative,
        Temporality::Delta => pb::AggregationTemporality::Delta,
    } as i32;
    let mut out = Vec::new();
    let mut current = ExportMetricsServiceRequest::default();
    let mut points = 0;
    for rm in &c.resources {
        let n = rm.points();
        if n == 0 {
            continue;
        }
        if points > 0 && points + n > max_points {
            out.push((std::mem::take(&mut current), points));
            points = 0;
        }
        current.resource_metrics.push(pb::ResourceMetrics {
            resource: Some(PbResource { attributes: rm.resource.clone(), ..Default::default() }),
            scope_metrics: vec![pb::ScopeMetrics {
                scope: Some(scope.clone()),
                metrics: rm.metrics.iter().map(|m| metric(m, c.time_unix_ns, temporality)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
        points += n;
    }
    if points > 0 {
        out.push((current, points));
    }
    out
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn attrs(a: &Attrs) -> Vec<KeyValue> {
    a.iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::Str(s) => any_value::Value::StringValue(s.to_string()),
                AttrValue::Int(i) => any_value::Value::IntValue(*i),
                AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
            };
            kv(k, v)
        })
        .collect()
}

fn histogram_point(p: &HistogramPoint, time: u64) -> pb::HistogramDataPoint {
    pb::HistogramDataPoint {
        attributes: attrs(&p.attrs),
        start_time_unix_nano: p.start_unix_ns,
        time_unix_nano: time,
        count: p.hist.count(),
        sum: Some(p.hist.sum()),
        bucket_counts: p.hist.bucket_counts().to_vec(),
        explicit_bounds: p.hist.bounds().to_vec(),
        min: p.hist.min(),
        max: p.hist.max(),
        ..Default::default()
    }
}

fn number_point(p: &NumberPoint, time: u64) -> pb::NumberDataPoint {
    let value = match p.value {
        Number::Int(i) => pb::number_data_point::Value::AsInt(i),
        Number::Double(d) => pb::number_data_point::Value::AsDouble(d),
    };
    pb::NumberDataPoint {
        attributes: attrs(&p.attrs),
        start_time_unix_nano: p.start_unix_ns,
        time_unix_nano: time,
        value: Some(value),
        ..Default::default()
    }
}

fn metric(m: &Metric, time: u64, temporality: i32) -> pb::Metric {
    let data = match &m.data {
        MetricData::Histogram(points) => pb::metric::Data::Histogram(pb::Histogram {
            data_points: points.iter().map(|p| histogram_point(p, time)).collect(),
            aggregation_temporality: temporality,
        }),
        MetricData::Sum { monotonic, points } => pb::metric::Data::Sum(pb::Sum {
            data_points: points.iter().map(|p| number_point(p, time)).collect(),
            aggregation_temporality: temporality,
            is_monotonic: *monotonic,
        }),
        MetricData::Gauge(points) => {
            pb::metric::Data::Gauge(pb::Gauge { data_points: points.iter().map(|p| number_point(p, time)).collect() })
        }
    };
    pb::Metric {
        name: m.name.to_string(),
        description: m.description.to_string(),
        unit: m.unit.to_string(),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
