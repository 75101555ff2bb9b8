//! HTTP/1, HTTP/2 and gRPC calls to OTLP spans with semantic-convention attributes
//! (HTTP/2 and gRPC attributes in `rpc.rs`), built directly as protobuf messages.

use std::sync::Arc;

use opentelemetry::trace::SpanId;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, SpanFlags};
use opentelemetry_semantic_conventions::trace as sc;

use super::rpc;
use super::wire::Writer;
use crate::clock::Clock;
use crate::config::RpcSemconv;
use crate::conn::ConnAddrs;
use crate::decorate::k8s::{peer, K8sMetadata};
use crate::decorate::process::ProcessInfo;
use crate::protocol::grpc::{is_span_error, GrpcCode};
use crate::protocol::http1::head::Method;
use crate::request::http1::Exchange;
use crate::request::{Call, Role};
use crate::trace::SpanIds;

/// One HTTP/1, HTTP/2 or gRPC call as observed in one process.
#[derive(Debug, Clone)]
pub struct HttpSpan {
    pub call: Call,
    pub process: Arc<ProcessInfo>,
    pub addrs: ConnAddrs,
    pub ids: SpanIds,
    /// `http.route` of a server's HTTP (not gRPC) request: shared by the span and its metrics.
    pub route: Option<Arc<str>>,
}

impl HttpSpan {
    /// Failed by the semantic conventions: HTTP 5xx for a server, any status >= 400 for a
    /// client; gRPC by the per-code rules (`protocol::grpc::is_span_error`).
    pub fn failed(&self) -> bool {
        let role = self.call.role();
        match &self.call {
            Call::Http1(ex) => http_status_failed(role, Some(ex.response.status)),
            Call::Http2(ex) => match &ex.grpc {
                Some(g) => {
                    g.outcome(ex.reset, ex.end_ns.saturating_sub(ex.start_ns)).is_some_and(|c| is_span_error(role, c))
                }
                None => http_status_failed(role, ex.status),
            },
        }
    }

    /// One line saying what failed, for the failed-request log record.
    pub fn failure_summary(&self) -> String {
        let side = match self.call.role() {
            Role::Server => "server",
            Role::Client => "client",
        };
        match &self.call {
            Call::Http1(ex) => {
                format!("HTTP {} {} {} failed ({side})", ex.response.status, ex.request.method, ex.request.path)
            }
            Call::Http2(ex) => match &ex.grpc {
                Some(g) => {
                    let code = g.outcome(ex.reset, ex.end_ns.saturating_sub(ex.start_ns)).map_or_else(
                        || "UNKNOWN_STATUS".to_string(),
                        |c| GrpcCode::from_u32(c).map_or_else(|| c.to_string(), |c| c.name().to_string()),
                    );
                    let msg = g.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                    format!("gRPC {} {code} failed ({side}){msg}", g.method)
                }
                None => format!(
                    "HTTP/2 {} {} {} failed ({side})",
                    ex.status.map_or_else(|| "-".to_string(), |s| s.to_string()),
                    ex.method.as_deref().unwrap_or("-"),
                    ex.path.as_deref().unwrap_or("-"),
                ),
            },
        }
    }

    /// A failure worth a log line at ERROR (server-side faults) rather than WARN.
    pub fn failed_severely(&self) -> bool {
        match &self.call {
            Call::Http1(ex) => ex.response.status >= 500,
            Call::Http2(ex) => match &ex.grpc {
                Some(g) => g
                    .outcome(ex.reset, ex.end_ns.saturating_sub(ex.start_ns))
                    .is_some_and(|c| is_span_error(Role::Server, c)),
                None => ex.status.is_some_and(|s| s >= 500),
            },
        }
    }
}

fn http_status_failed(role: Role, status: Option<u16>) -> bool {
    status.is_some_and(|s| match role {
        Role::Server => s >= 500,
        Role::Client => s >= 400,
    })
}

/// Field numbers of the OTLP messages written here (opentelemetry/proto/trace/v1/trace.proto).
mod field {
    pub const SCOPE_SPANS_SPANS: u32 = 2;
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const TRACE_STATE: u32 = 3;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START_TIME: u32 = 7;
    pub const END_TIME: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const STATUS: u32 = 15;
    pub const FLAGS: u32 = 16;
    pub const STATUS_MESSAGE: u32 = 2;
    pub const STATUS_CODE: u32 = 3;
}

/// The attributes of the span being written.
pub(super) struct Attributes<'a>(&'a mut Writer);

impl Attributes<'_> {
    pub fn str(&mut self, key: &'static str, value: &str) {
        self.0.attr_str(field::ATTRIBUTES, key, value);
    }

    pub fn int(&mut self, key: &'static str, value: i64) {
        self.0.attr_int(field::ATTRIBUTES, key, value);
    }
}

/// How a span ended: failed (status `Error`, with a message) or not (status `Unset`).
pub(super) struct Outcome {
    pub failed: bool,
    pub message: Option<String>,
}

/// Turns observed calls into OTLP spans; holds what is shared by all of them.
#[derive(Clone, Default)]
pub struct SpanEncoder {
    rpc_semconv: RpcSemconv,
    /// Resolves the remote address of a span to its Kubernetes workload (`peer.k8s.*`).
    k8s: Option<Arc<K8sMetadata>>,
}

impl SpanEncoder {
    pub fn new(rpc_semconv: RpcSemconv) -> Self {
        SpanEncoder { rpc_semconv, k8s: None }
    }

    pub fn with_k8s(self, k8s: Option<Arc<K8sMetadata>>) -> Self {
        SpanEncoder { k8s, ..self }
    }

    /// Writes the span as one `spans` entry of an OTLP `ScopeSpans`.
    pub fn encode(&self, s: &HttpSpan, clock: &Clock, w: &mut Writer) {
        let span = w.open_wide(field::SCOPE_SPANS_SPANS);
        let failed = s.failed();
        let mut attrs = Attributes(w);
        let (name, outcome) = match &s.call {
            Call::Http1(ex) => (http1_attributes(s, ex, failed, &mut attrs), Outcome { failed, message: None }),
            Call::Http2(ex) => match &ex.grpc {
                Some(g) => rpc::grpc_attributes(s, ex, g, failed, self.rpc_semconv, &mut attrs),
                None => (rpc::http2_attributes(s, ex, failed, &mut attrs), Outcome { failed, message: None }),
            },
        };
        if let Some(meta) = &self.k8s {
            for kv in peer::attributes(meta, s.addrs.tuple.remote.ip()) {
                attrs.0.attr_str(field::ATTRIBUTES, kv.key.as_str(), &kv.value.as_str());
            }
        }
        let kind = match s.call.role() {
            Role::Server => SpanKind::Server,
            Role::Client => SpanKind::Client,
        };
        let ids = &s.ids;
        let mut flags = u32::from(ids.flags.to_u8()) | SpanFlags::ContextHasIsRemoteMask as u32;
        if ids.parent_is_remote {
            flags |= SpanFlags::ContextIsRemoteMask as u32;
        }
        w.bytes(field::TRACE_ID, &ids.trace_id.to_bytes());
        w.bytes(field::SPAN_ID, &ids.span_id.to_bytes());
        w.bytes_nonempty(field::TRACE_STATE, ids.trace_state.header().as_bytes());
        if ids.parent_span_id != SpanId::INVALID {
            w.bytes(field::PARENT_SPAN_ID, &ids.parent_span_id.to_bytes());
        }
        w.fixed32(field::FLAGS, flags);
        w.bytes_nonempty(field::NAME, name.as_bytes());
        w.uint(field::KIND, kind as u64);
        w.fixed64(field::START_TIME, clock.to_unix_nanos(s.call.start_ns()));
        w.fixed64(field::END_TIME, clock.to_unix_nanos(s.call.end_ns()));
        let status = w.open(field::STATUS);
        if outcome.failed {
            w.bytes_nonempty(field::STATUS_MESSAGE, outcome.message.unwrap_or_default().as_bytes());
            w.uint(field::STATUS_CODE, StatusCode::Error as u64);
        }
        w.close(status);
        w.close(span);
    }
}

/// Name and attributes of an HTTP/1.x span.
fn http1_attributes(s: &HttpSpan, ex: &Exchange, failed: bool, attrs: &mut Attributes) -> String {
    let (method, method_original) = semconv_method(&ex.request.method);
    let status_code = ex.response.status;
    let route = s.route.as_deref().filter(|_| ex.role == Role::Server);
    let name = match (route, method) {
        (Some(route), "_OTHER") => format!("HTTP {route}"),
        (Some(route), m) => format!("{m} {route}"),
        (None, "_OTHER") => "HTTP".to_owned(),
        (None, m) => m.to_owned(),
    };

    attrs.str(sc::HTTP_REQUEST_METHOD, method);
    if let Some(original) = method_original {
        attrs.str(sc::HTTP_REQUEST_METHOD_ORIGINAL, original);
    }
    attrs.int(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(status_code));
    attrs.str(sc::URL_PATH, &ex.request.path);
    attrs.str(sc::URL_SCHEME, "http");
    let version = if ex.request.version_minor == 0 { "1.0" } else { "1.1" };
    let host = ex.request.host.as_deref().map(host_without_port);
    push_addresses(attrs, s, ex.role, host, version);
    if let Some(route) = route {
        attrs.str(sc::HTTP_ROUTE, route);
    }
    if failed {
        attrs.str(sc::ERROR_TYPE, &status_code.to_string());
    }
    name
}

/// Transport, peer and server/client address attributes shared by every HTTP/gRPC span.
pub(super) fn push_addresses(
    attrs: &mut Attributes,
    s: &HttpSpan,
    role: Role,
    host: Option<&str>,
    version: &'static str,
) {
    attrs.str(sc::NETWORK_TRANSPORT, "tcp");
    attrs.str(sc::NETWORK_PROTOCOL_VERSION, version);
    let (tuple, local_ip, remote_ip) = (&s.addrs.tuple, &*s.addrs.local_ip, &*s.addrs.remote_ip);
    attrs.str(sc::NETWORK_PEER_ADDRESS, remote_ip);
    attrs.int(sc::NETWORK_PEER_PORT, i64::from(tuple.remote.port()));
    match role {
        Role::Server => {
            attrs.str(sc::SERVER_ADDRESS, host.unwrap_or(local_ip));
            attrs.int(sc::SERVER_PORT, i64::from(tuple.local.port()));
            attrs.str(sc::CLIENT_ADDRESS, remote_ip);
        }
        Role::Client => {
            attrs.str(sc::SERVER_ADDRESS, host.unwrap_or(remote_ip));
            attrs.int(sc::SERVER_PORT, i64::from(tuple.remote.port()));
        }
    }
}

/// Semantic conventions allow only the standard methods; others are `_OTHER` plus the original.
pub(crate) fn semconv_method(m: &Method) -> (&'static str, Option<&str>) {
    match m {
        Method::Get => ("GET", None),
        Method::Head => ("HEAD", None),
        Method::Post => ("POST", None),
        Method::Put => ("PUT", None),
        Method::Delete => ("DELETE", None),
        Method::Connect => ("CONNECT", None),
        Method::Options => ("OPTIONS", None),
        Method::Trace => ("TRACE", None),
        Method::Patch => ("PATCH", None),
        Method::Other(s) => ("_OTHER", Some(s)),
    }
}

pub(crate) fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    // `:` is ASCII, so its index is a char boundary.
    memchr::memrchr(b':', host.as_bytes()).map_or(host, |i| &host[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_port_is_stripped() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "::1");
    }
}
