//! OTLP span exporter (gRPC via tonic, or HTTP/protobuf), configured by the standard
//! `OTEL_EXPORTER_OTLP_*` variables unless the config file sets an endpoint.

use std::time::Duration;

use opentelemetry_otlp::{LogExporter, Protocol, SpanExporter, WithExportConfig};

use crate::config::{ExportConfig, OtlpProtocol};

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("cannot build the OTLP {protocol:?} span exporter; check OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL")]
    Build {
        protocol: OtlpProtocol,
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// Where spans go, decided from the environment and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Console,
    Otlp { protocol: OtlpProtocol, endpoint: Option<String> },
}

/// OTLP when an endpoint is set (env wins over config); otherwise the console.
pub fn destination(cfg: &ExportConfig, env: impl Fn(&str) -> Option<String>) -> Destination {
    let env_endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .filter(|v| !v.is_empty());
    if env_endpoint.is_none() && cfg.endpoint.is_none() {
        return Destination::Console;
    }
    let protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .and_then(|p| OtlpProtocol::parse(&p))
        .or(cfg.protocol)
        .unwrap_or(OtlpProtocol::HttpProtobuf);
    // The exporter builder reads the env endpoint itself (adding /v1/traces for HTTP);
    // only a config-file endpoint is passed explicitly.
    let endpoint = if env_endpoint.is_some() { None } else { cfg.endpoint.clone() };
    Destination::Otlp { protocol, endpoint }
}

pub fn build(protocol: OtlpProtocol, endpoint: Option<&str>, timeout: Duration) -> Result<SpanExporter, OtlpError> {
    let built = match protocol {
        OtlpProtocol::Grpc => {
            let mut b = SpanExporter::builder().with_tonic().with_timeout(timeout);
            if let Some(e) = endpoint {
                b = b.with_endpoint(e);
            }
            b.build()
        }
        OtlpProtocol::HttpProtobuf => {
            let mut b = SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary).with_timeout(timeout);
            if let Some(e) = endpoint {
                b = b.with_endpoint(format!("{}/v1/traces", e.trim_end_matches('/')));
            }
            b.build()
        }
    };
    built.map_err(|source| OtlpError::Build { protocol, source })
}

/// The log exporter, configured like the span exporter (`OTEL_EXPORTER_OTLP_LOGS_*` env honoured).
pub fn build_logs(protocol: OtlpProtocol, endpoint: Option<&str>, timeout: Duration) -> Result<LogExporter, OtlpError> {
    let built = match protocol {
        OtlpProtocol::Grpc => {
            let mut b = LogExporter::builder().with_tonic().with_timeout(timeout);
            if let Some(e) = endpoint {
                b = b.with_endpoint(e);
            }
            b.build()
        }
        OtlpProtocol::HttpProtobuf => {
            let mut b = LogExporter::builder().with_http().with_protocol(Protocol::HttpBinary).with_timeout(timeout);
            if let Some(e) = endpoint {
                b = b.with_endpoint(format!("{}/v1/logs", e.trim_end_matches('/')));
            }
            b.build()
        }
    };
    built.map_err(|source| OtlpError::Build { protocol, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn console_without_endpoint() {
        assert_eq!(destination(&ExportConfig::default(), env(&[])), Destination::Console);
        assert_eq!(
            destination(&ExportConfig::default(), env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])),
            Destination::Console
        );
    }

    #[test]
    fn env_endpoint_and_protocol() {
        let d = destination(
            &ExportConfig::default(),
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
        );
        assert_eq!(d, Destination::Otlp { protocol: OtlpProtocol::Grpc, endpoint: None });
        let d = destination(
            &ExportConfig::default(),
            env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")]),
        );
        assert_eq!(d, Destination::Otlp { protocol: OtlpProtocol::HttpProtobuf, endpoint: None });
    }

    #[test]
    fn config_endpoint_when_env_is_silent() {
        let cfg = ExportConfig {
            endpoint: Some("http://c:4317".into()),
            protocol: Some(OtlpProtocol::Grpc),
            ..Default::default()
        };
        assert_eq!(
            destination(&cfg, env(&[])),
            Destination::Otlp { protocol: OtlpProtocol::Grpc, endpoint: Some("http://c:4317".into()) }
        );
    }
}
