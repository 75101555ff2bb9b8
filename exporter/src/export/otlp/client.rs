//! A small OTLP client: `ExportTraceServiceRequest`s and `ExportLogsServiceRequest`s over
//! gRPC (tonic) or HTTP/protobuf (reqwest), with the configured headers and timeout. Requests
//! arrive encoded (cheap to clone for a retry); retrying is the caller's (`export::retry`).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::raw_codec::{Encoded, RawCodec};
use super::{OtlpError, OtlpSettings, Signal, SignalTarget};
use crate::config::OtlpProtocol;

const TRACE_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const LOGS_EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const USER_AGENT: &str = concat!("spanwire/", env!("CARGO_PKG_VERSION"));

/// Why one export call failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("gRPC export failed: {0}")]
    Grpc(#[from] tonic::Status),
    #[error("HTTP export failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP export failed with status code {status}")]
    HttpStatus { status: u16 },
}

/// Sends OTLP requests; cheap to clone (connections are shared).
#[derive(Clone)]
pub struct OtlpClient(Arc<Transport>);

// One instance per agent, behind an `Arc`: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Transport {
    Grpc(Grpc),
    Http(Http),
}

struct Grpc {
    traces: tonic::client::Grpc<Channel>,
    traces_metadata: MetadataMap,
    logs: tonic::client::Grpc<Channel>,
    logs_metadata: MetadataMap,
}

struct Http {
    client: reqwest::Client,
    traces_url: String,
    traces_headers: HeaderMap,
    logs_url: String,
    logs_headers: HeaderMap,
}

impl OtlpClient {
    /// Connects lazily: building never touches the network.
    pub fn new(settings: &OtlpSettings, timeout: Duration) -> Result<Self, OtlpError> {
        let transport = match settings.protocol {
            OtlpProtocol::Grpc => Transport::Grpc(Grpc {
                traces: tonic::client::Grpc::new(channel(&settings.traces, timeout)?),
                traces_metadata: metadata(&settings.traces),
                logs: tonic::client::Grpc::new(channel(&settings.logs, timeout)?),
                logs_metadata: metadata(&settings.logs),
            }),
            OtlpProtocol::HttpProtobuf => {
                check_http_url(&settings.traces)?;
                check_http_url(&settings.logs)?;
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .user_agent(USER_AGENT)
                    .build()
                    .map_err(OtlpError::HttpClient)?;
                Transport::Http(Http {
                    client,
                    traces_url: settings.traces.endpoint.clone(),
                    traces_headers: header_map(&settings.traces),
                    logs_url: settings.logs.endpoint.clone(),
                    logs_headers: header_map(&settings.logs),
                })
            }
        };
        Ok(OtlpClient(Arc::new(transport)))
    }

    /// Sends an encoded `ExportTraceServiceRequest` or `ExportLogsServiceRequest`.
    pub async fn export(&self, signal: Signal, request: Encoded) -> Result<(), ExportError> {
        match (&*self.0, signal) {
            (Transport::Grpc(g), Signal::Traces) => {
                unary(&g.traces, &g.traces_metadata, TRACE_EXPORT_PATH, request).await
            }
            (Transport::Grpc(g), Signal::Logs) => unary(&g.logs, &g.logs_metadata, LOGS_EXPORT_PATH, request).await,
            (Transport::Http(h), Signal::Traces) => post(&h.client, &h.traces_url, &h.traces_headers, request).await,
            (Transport::Http(h), Signal::Logs) => post(&h.client, &h.logs_url, &h.logs_headers, request).await,
        }
    }
}

async fn unary(
    client: &tonic::client::Grpc<Channel>,
    metadata: &MetadataMap,
    path: &'static str,
    request: Encoded,
) -> Result<(), ExportError> {
    let mut grpc = client.clone();
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let request = tonic::Request::from_parts(metadata.clone(), Default::default(), request);
    grpc.unary(request, PathAndQuery::from_static(path), RawCodec).await?;
    Ok(())
}

async fn post(client: &reqwest::Client, url: &str, headers: &HeaderMap, body: Encoded) -> Result<(), ExportError> {
    let response = client
        .post(url)
        .headers(headers.clone())
        .header(CONTENT_TYPE, "application/x-protobuf")
        .body(body.to_bytes())
        .send()
        .await?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(ExportError::HttpStatus { status: status.as_u16() })
    }
}

fn invalid(target: &SignalTarget, reason: impl Into<String>) -> OtlpError {
    OtlpError::Endpoint {
        endpoint: target.endpoint.clone(),
        source_name: target.endpoint_source,
        reason: reason.into(),
    }
}

/// This build has no TLS: an https endpoint is refused up front rather than failing every export.
fn refuse_https(target: &SignalTarget) -> Result<(), OtlpError> {
    if target.endpoint.starts_with("https://") {
        return Err(invalid(
            target,
            "https needs TLS, which this build does not include; use http:// (for a schemeless gRPC endpoint \
             set OTEL_EXPORTER_OTLP_INSECURE=true)",
        ));
    }
    Ok(())
}

fn channel(target: &SignalTarget, timeout: Duration) -> Result<Channel, OtlpError> {
    refuse_https(target)?;
    let endpoint = Endpoint::from_shared(target.endpoint.clone()).map_err(|e| invalid(target, e.to_string()))?;
    Ok(endpoint
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(USER_AGENT)
        .map_err(|e| invalid(target, e.to_string()))?
        .connect_lazy())
}

fn check_http_url(target: &SignalTarget) -> Result<(), OtlpError> {
    refuse_https(target)?;
    reqwest::Url::parse(&target.endpoint).map(|_| ()).map_err(|e| invalid(target, e.to_string()))
}

/// gRPC metadata from the configured headers; names or values gRPC cannot carry are skipped
/// with a warning.
fn metadata(target: &SignalTarget) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (k, v) in &target.headers {
        match (MetadataKey::from_str(&k.to_ascii_lowercase()), MetadataValue::try_from(v.as_str())) {
            (Ok(key), Ok(value)) => {
                map.insert(key, value);
            }
            _ => tracing::warn!(header = %k, "OTLP header not usable as gRPC metadata; skipped"),
        }
    }
    map
}

fn header_map(target: &SignalTarget) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in &target.headers {
        match (HeaderName::from_str(k), HeaderValue::from_str(v)) {
            (Ok(name), Ok(value)) => {
                map.insert(name, value);
            }
            _ => tracing::warn!(header = %k, "OTLP header is not a valid HTTP header; skipped"),
        }
    }
    map
}
