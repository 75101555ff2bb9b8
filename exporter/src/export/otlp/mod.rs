//! Where OTLP data goes and how: endpoints, protocol and headers per signal, decided from the
//! standard `OTEL_EXPORTER_OTLP_*` variables and the config file, and the client that sends.

pub mod client;
mod headers;
pub mod raw_codec;

use crate::config::{ExportConfig, OtlpProtocol};

pub use client::{ExportError, OtlpClient};

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("invalid OTLP endpoint {endpoint:?} (from {source_name}): {reason}")]
    Endpoint { endpoint: String, source_name: &'static str, reason: String },
    #[error("cannot build the OTLP HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

/// Where spans go, decided from the environment and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Console,
    Otlp(OtlpSettings),
}

/// Everything the OTLP client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    pub protocol: OtlpProtocol,
    pub traces: SignalTarget,
    pub logs: SignalTarget,
}

/// One signal's endpoint (the full URL for HTTP, scheme://host:port for gRPC) and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalTarget {
    pub endpoint: String,
    /// Where the endpoint came from (an env variable or the config file), for error messages.
    pub endpoint_source: &'static str,
    pub headers: Vec<(String, String)>,
}

/// The OTLP signals the export stage sends (metrics have their own stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
}

impl Signal {
    fn var(self, what: &'static str) -> &'static str {
        match (self, what) {
            (Signal::Traces, "ENDPOINT") => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            (Signal::Traces, "HEADERS") => "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            (Signal::Traces, _) => "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
            (Signal::Logs, "ENDPOINT") => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            (Signal::Logs, "HEADERS") => "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            (Signal::Logs, _) => "OTEL_EXPORTER_OTLP_LOGS_INSECURE",
        }
    }

    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }
}

/// OTLP when an endpoint is set (env wins over config); otherwise the console.
pub fn destination(cfg: &ExportConfig, env: impl Fn(&str) -> Option<String>) -> Destination {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT")).is_none()
        && cfg.endpoint.is_none()
    {
        return Destination::Console;
    }
    let protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .and_then(|p| OtlpProtocol::parse(&p))
        .or(cfg.protocol)
        .unwrap_or(OtlpProtocol::HttpProtobuf);
    let config_endpoint = cfg.endpoint.as_deref();
    Destination::Otlp(OtlpSettings {
        protocol,
        traces: signal_target(Signal::Traces, protocol, config_endpoint, &env),
        logs: signal_target(Signal::Logs, protocol, config_endpoint, &env),
    })
}

/// The signal's own env endpoint as is; else the generic env endpoint, else the config
/// file's, else the default (with `/v1/<signal>` appended for HTTP); headers from the
/// signal's own variable, else the generic one.
fn signal_target(
    signal: Signal,
    protocol: OtlpProtocol,
    config_endpoint: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
) -> SignalTarget {
    let http = protocol == OtlpProtocol::HttpProtobuf;
    let with_path = |base: &str| {
        if http {
            format!("{}{}", base.trim_end_matches('/'), signal.http_path())
        } else {
            base.to_owned()
        }
    };
    let (endpoint, endpoint_source) = if let Some(e) = env(signal.var("ENDPOINT")) {
        (e, signal.var("ENDPOINT"))
    } else if let Some(e) = env("OTEL_EXPORTER_OTLP_ENDPOINT") {
        (with_path(&e), "OTEL_EXPORTER_OTLP_ENDPOINT")
    } else if let Some(e) = config_endpoint {
        (with_path(e), "export.endpoint")
    } else if http {
        (with_path("http://localhost:4318"), "the default endpoint")
    } else {
        ("http://localhost:4317".to_owned(), "the default endpoint")
    };
    let endpoint = endpoint.trim().to_owned();
    // A gRPC endpoint without a scheme is https unless OTEL_EXPORTER_OTLP_(<SIGNAL>_)INSECURE says otherwise.
    let endpoint = if !http && !has_scheme(&endpoint) {
        let insecure = env(signal.var("INSECURE"))
            .or_else(|| env("OTEL_EXPORTER_OTLP_INSECURE"))
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        format!("{}://{endpoint}", if insecure { "http" } else { "https" })
    } else {
        endpoint
    };
    let headers = env(signal.var("HEADERS"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
        .map(|h| headers::parse(&h))
        .unwrap_or_default();
    SignalTarget { endpoint, endpoint_source, headers }
}

fn has_scheme(endpoint: &str) -> bool {
    endpoint.split_once("://").is_some_and(|(scheme, _)| !scheme.contains(['/', '?', '#']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn otlp(d: Destination) -> OtlpSettings {
        match d {
            Destination::Otlp(s) => s,
            Destination::Console => panic!("expected OTLP"),
        }
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
        let s = otlp(destination(
            &ExportConfig::default(),
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
        ));
        assert_eq!(s.protocol, OtlpProtocol::Grpc);
        assert_eq!((s.traces.endpoint.as_str(), s.logs.endpoint.as_str()), ("http://c:4317", "http://c:4317"));
        let s = otlp(destination(
            &ExportConfig::default(),
            env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")]),
        ));
        assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(s.traces.endpoint, "http://c:4318/v1/traces", "a signal's own endpoint is used as is");
        assert_eq!(s.logs.endpoint, "http://localhost:4318/v1/logs");
        let s = otlp(destination(&ExportConfig::default(), env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])));
        assert_eq!(
            (s.traces.endpoint.as_str(), s.logs.endpoint.as_str()),
            ("http://c:4318/v1/traces", "http://c:4318/v1/logs")
        );
    }

    #[test]
    fn config_endpoint_when_env_is_silent() {
        let cfg = ExportConfig {
            endpoint: Some("http://c:4317".into()),
            protocol: Some(OtlpProtocol::Grpc),
            ..Default::default()
        };
        let s = otlp(destination(&cfg, env(&[])));
        assert_eq!(s.protocol, OtlpProtocol::Grpc);
        assert_eq!((s.traces.endpoint.as_str(), s.traces.endpoint_source), ("http://c:4317", "export.endpoint"));
    }

    #[test]
    fn grpc_scheme_and_headers_per_signal() {
        let s = otlp(destination(
            &ExportConfig::default(),
            env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "true"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%20d, x=1"),
                ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "only=logs"),
            ]),
        ));
        assert_eq!((s.traces.endpoint.as_str(), s.logs.endpoint.as_str()), ("https://c:4317", "http://c:4317"));
        let pairs = |h: &[(String, String)]| h.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        assert_eq!(pairs(&s.traces.headers), ["api-key=abc d", "x=1"]);
        assert_eq!(pairs(&s.logs.headers), ["only=logs"]);
    }
}
