//! HTTP exchanges to OpenTelemetry spans with semantic-convention attributes.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::{SpanContext, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue, StringValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_semantic_conventions::trace as sc;

use super::route::derive_route;
use crate::clock::Clock;
use crate::conn::ConnAddrs;
use crate::decorate::process::ProcessInfo;
use crate::protocol::http1::head::Method;
use crate::request::http1::Exchange;
use crate::request::Role;
use crate::trace::SpanIds;

/// One HTTP request/response as observed in one process.
#[derive(Debug, Clone)]
pub struct HttpSpan {
    pub exchange: Exchange,
    pub process: Arc<ProcessInfo>,
    pub addrs: ConnAddrs,
    pub ids: SpanIds,
}

impl HttpSpan {
    /// Failed by the semantic conventions: 5xx for a server, any status >= 400 for a client.
    pub fn failed(&self) -> bool {
        let status = self.exchange.response.status;
        match self.exchange.role {
            Role::Server => status >= 500,
            Role::Client => status >= 400,
        }
    }
}

/// Builds spans; holds what is shared by all of them.
pub struct SpanBuilder {
    scope: InstrumentationScope,
}

impl Default for SpanBuilder {
    fn default() -> Self {
        SpanBuilder { scope: InstrumentationScope::builder("spanwire").with_version(env!("CARGO_PKG_VERSION")).build() }
    }
}

impl SpanBuilder {
    pub fn build(&self, s: &HttpSpan, clock: &Clock) -> SpanData {
        let ex = &s.exchange;
        let (method, method_original) = semconv_method(&ex.request.method);
        let status_code = ex.response.status;
        let route = derive_route(&ex.request.path);
        let failed = s.failed();
        let (kind, name) = match ex.role {
            Role::Server => (SpanKind::Server, format!("{method} {route}")),
            Role::Client => (SpanKind::Client, method.to_string()),
        };
        let name = if method == "_OTHER" { name.replacen("_OTHER", "HTTP", 1) } else { name };

        let mut attrs = Vec::with_capacity(14);
        attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method.to_string()));
        if let Some(original) = method_original {
            attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD_ORIGINAL, original));
        }
        attrs.push(KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(status_code)));
        attrs.push(KeyValue::new(sc::URL_PATH, ex.request.path.clone()));
        attrs.push(KeyValue::new(sc::URL_SCHEME, "http"));
        attrs.push(KeyValue::new(sc::NETWORK_TRANSPORT, "tcp"));
        let version = if ex.request.version_minor == 0 { "1.0" } else { "1.1" };
        attrs.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, version));
        let (tuple, local_ip, remote_ip) = (&s.addrs.tuple, &s.addrs.local_ip, &s.addrs.remote_ip);
        attrs.push(KeyValue::new(sc::NETWORK_PEER_ADDRESS, StringValue::from(remote_ip.clone())));
        attrs.push(KeyValue::new(sc::NETWORK_PEER_PORT, i64::from(tuple.remote.port())));
        let host = ex.request.host.as_deref().map(host_without_port);
        match ex.role {
            Role::Server => {
                attrs.push(KeyValue::new(sc::HTTP_ROUTE, route));
                let server = host.map_or_else(|| StringValue::from(local_ip.clone()), |h| h.to_string().into());
                attrs.push(KeyValue::new(sc::SERVER_ADDRESS, server));
                attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(tuple.local.port())));
                attrs.push(KeyValue::new(sc::CLIENT_ADDRESS, StringValue::from(remote_ip.clone())));
            }
            Role::Client => {
                let server = host.map_or_else(|| StringValue::from(remote_ip.clone()), |h| h.to_string().into());
                attrs.push(KeyValue::new(sc::SERVER_ADDRESS, server));
                attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(tuple.remote.port())));
            }
        }
        if failed {
            attrs.push(KeyValue::new(sc::ERROR_TYPE, status_code.to_string()));
        }

        let ids = &s.ids;
        SpanData {
            span_context: SpanContext::new(ids.trace_id, ids.span_id, ids.flags, false, ids.trace_state.clone()),
            parent_span_id: ids.parent_span_id,
            parent_span_is_remote: ids.parent_is_remote,
            span_kind: kind,
            name: Cow::Owned(name),
            start_time: clock.to_system_time(ex.start_ns),
            end_time: clock.to_system_time(ex.end_ns.max(ex.start_ns)),
            attributes: attrs,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: if failed { Status::error("") } else { Status::Unset },
            instrumentation_scope: self.scope.clone(),
        }
    }
}

/// Semantic conventions allow only the standard methods; others are `_OTHER` plus the original.
pub(crate) fn semconv_method(m: &Method) -> (&'static str, Option<String>) {
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
        Method::Other(s) => ("_OTHER", Some(s.clone())),
    }
}

pub(crate) fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
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
