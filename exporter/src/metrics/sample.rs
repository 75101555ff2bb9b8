//! The protocol-neutral input of the RED metrics: one completed request as seen by one process.

use std::sync::Arc;

use crate::decorate::process::ProcessInfo;
use crate::protocol::grpc::GrpcCode;
use crate::protocol::http1::head::Method;
use crate::request::{Call, Role};
use crate::signals::traces::{host_without_port, semconv_method, HttpSpan};

/// What a request was, with the fields its metrics' attributes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleKind {
    Http {
        /// Semantic-convention method (`GET`…, or `_OTHER`).
        method: &'static str,
        /// `None` when the response status was not seen (HTTP/2 stream reset).
        status_code: Option<u16>,
        /// `http.route` (servers; see `signals::route`).
        route: Option<Arc<str>>,
        /// `1.0`, `1.1` or `2`.
        protocol_version: &'static str,
        scheme: &'static str,
    },
    Rpc {
        /// `grpc`.
        system: &'static str,
        /// `pkg.Service/Method`.
        method: String,
        /// `None` when the call ended without a status (stream reset, connection closed).
        code: Option<GrpcCode>,
    },
}

/// One request/response (or RPC) that completed, in one process.
#[derive(Debug, Clone)]
pub struct RequestSample {
    pub role: Role,
    pub kind: SampleKind,
    /// `error.type` when the request failed by the conventions (status code, gRPC code name…).
    pub error_type: Option<String>,
    pub duration_s: f64,
    /// Body bytes of the request and of the response as they crossed the socket.
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// The server's name (Host header, `:authority`) or address, and port.
    pub server_address: Arc<str>,
    pub server_port: u16,
    pub process: Arc<ProcessInfo>,
}

impl From<&HttpSpan> for RequestSample {
    fn from(s: &HttpSpan) -> Self {
        let role = s.call.role();
        let failed = s.failed();
        let (kind, error_type, host, request_bytes, response_bytes) = match &s.call {
            Call::Http1(ex) => {
                let status = ex.response.status;
                let kind = SampleKind::Http {
                    method: semconv_method(&ex.request.method).0,
                    status_code: Some(status),
                    route: s.route.clone(),
                    protocol_version: if ex.request.version_minor == 0 { "1.0" } else { "1.1" },
                    scheme: "http",
                };
                let error = failed.then(|| status.to_string());
                (kind, error, ex.request.host.as_deref(), ex.request_body_bytes, ex.response_body_bytes)
            }
            Call::Http2(ex) => {
                let kind = match &ex.grpc {
                    Some(g) => SampleKind::Rpc {
                        system: "grpc",
                        method: g.method.clone(),
                        code: g.outcome(ex.reset, ex.end_ns.saturating_sub(ex.start_ns)).and_then(GrpcCode::from_u32),
                    },
                    None => SampleKind::Http {
                        method: ex.method.as_deref().map_or("_OTHER", |m| {
                            let parsed =
                                Method::from_token(m.as_bytes()).unwrap_or_else(|| Method::Other(m.to_owned()));
                            semconv_method(&parsed).0
                        }),
                        status_code: ex.status,
                        route: s.route.clone(),
                        protocol_version: "2",
                        scheme: if ex.scheme.as_deref() == Some("https") { "https" } else { "http" },
                    },
                };
                let error = match &kind {
                    SampleKind::Rpc { code, .. } if failed => {
                        Some(code.map_or_else(|| "UNKNOWN_STATUS".to_string(), |c| c.name().to_string()))
                    }
                    SampleKind::Http { status_code: Some(st), .. } if failed => Some(st.to_string()),
                    _ => None,
                };
                (kind, error, ex.authority.as_deref(), ex.request_body_bytes, ex.response_body_bytes)
            }
        };
        let (local_port, remote_port) = (s.addrs.tuple.local.port(), s.addrs.tuple.remote.port());
        let host = host.map(host_without_port).filter(|h| !h.is_empty());
        let (server_address, server_port) = match role {
            Role::Server => (host.map_or_else(|| s.addrs.local_ip.clone(), Arc::from), local_port),
            Role::Client => (host.map_or_else(|| s.addrs.remote_ip.clone(), Arc::from), remote_port),
        };
        RequestSample {
            role,
            kind,
            error_type,
            duration_s: s.call.end_ns().saturating_sub(s.call.start_ns()) as f64 / 1e9,
            request_bytes,
            response_bytes,
            server_address,
            server_port,
            process: s.process.clone(),
        }
    }
}
