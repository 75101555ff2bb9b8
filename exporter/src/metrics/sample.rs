//! The protocol-neutral input of the RED metrics: one completed request as seen by one process.

use std::sync::Arc;

use crate::decorate::process::ProcessInfo;
use crate::protocol::grpc::GrpcCode;
use crate::request::Role;
use crate::signals::traces::{host_without_port, semconv_method, HttpSpan};

/// What a request was, with the fields its metrics' attributes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleKind {
    Http {
        /// Semantic-convention method (`GET`…, or `_OTHER`).
        method: &'static str,
        status_code: u16,
        /// The request path (no query); the aggregator derives `http.route` from it.
        path: String,
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
        let ex = &s.exchange;
        let (method, _) = semconv_method(&ex.request.method);
        let status = ex.response.status;
        let (local_port, remote_port) = (s.addrs.tuple.local.port(), s.addrs.tuple.remote.port());
        let host = ex.request.host.as_deref().map(host_without_port).filter(|h| !h.is_empty());
        let (server_address, server_port) = match ex.role {
            Role::Server => (host.map_or_else(|| s.addrs.local_ip.clone(), Arc::from), local_port),
            Role::Client => (host.map_or_else(|| s.addrs.remote_ip.clone(), Arc::from), remote_port),
        };
        RequestSample {
            role: ex.role,
            kind: SampleKind::Http {
                method,
                status_code: status,
                path: ex.request.path.clone(),
                protocol_version: if ex.request.version_minor == 0 { "1.0" } else { "1.1" },
                scheme: "http",
            },
            error_type: s.failed().then(|| status.to_string()),
            duration_s: ex.end_ns.saturating_sub(ex.start_ns) as f64 / 1e9,
            request_bytes: ex.request_body_bytes,
            response_bytes: ex.response_body_bytes,
            server_address,
            server_port,
            process: s.process.clone(),
        }
    }
}
