//! HTTP exchanges to OpenTelemetry spans with semantic-convention attributes.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue, StringValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SpanData, SpanEvents, SpanLinks};
use opentelemetry_semantic_conventions::trace as sc;

use super::route::derive_route;
use crate::clock::Clock;
use crate::conn::ConnAddrs;
use crate::decorate::process::ProcessInfo;
use crate::protocol::http1::head::Method;
use crate::request::http1::Exchange;
use crate::request::Role;

/// One HTTP request/response as observed in one process.
#[derive(Debug, Clone)]
pub struct HttpSpan {
    pub exchange: Exchange,
    pub process: Arc<ProcessInfo>,
    pub addrs: ConnAddrs,
    pub tid: u32,
}

/// Builds spans; holds what is shared by all of them.
pub struct SpanBuilder {
    ids: RandomIdGenerator,
    scope: InstrumentationScope,
}

impl Default for SpanBuilder {
    fn default() -> Self {
        SpanBuilder {
            ids: RandomIdGenerator::default(),
            scope: InstrumentationScope::builder("spanwire").with_version(env!("CARGO_PKG_VERSION")).build(),
        }
    }
}

impl SpanBuilder {
    pub fn build(&self, s: &HttpSpan, clock: &Clock) -> SpanData {
        let ex = &s.exchange;
        let (method, method_original) = semconv_method(&ex.request.method);
        let status_code = ex.response.status;
        let route = derive_route(&ex.request.path);
        let (kind, name, failed) = match ex.role {
            Role::Server => (SpanKind::Server, format!("{method} {route}"), status_code >= 500),
            Role::Client => (SpanKind::Client, method.to_string(), status_code >= 400),
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

        let incoming = match ex.role {
            Role::Server => ex.request.traceparent.as_deref().and_then(parse_traceparent),
            Role::Client => None,
        };
        let (trace_id, parent, flags, remote) = match incoming {
            Some(tp) => (tp.trace_id, tp.span_id, tp.flags, true),
            None => (self.ids.new_trace_id(), SpanId::INVALID, TraceFlags::SAMPLED, false),
        };
        let trace_state = match (&incoming, ex.request.tracestate.as_deref()) {
            (Some(_), Some(ts)) => TraceState::from_str(ts).unwrap_or_default(),
            _ => TraceState::default(),
        };
        SpanData {
            span_context: SpanContext::new(trace_id, self.ids.new_span_id(), flags, false, trace_state),
            parent_span_id: parent,
            parent_span_is_remote: remote,
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
fn semconv_method(m: &Method) -> (&'static str, Option<String>) {
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

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// A W3C `traceparent` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub flags: TraceFlags,
}

/// Parses `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids and version `ff` are invalid.
pub fn parse_traceparent(v: &str) -> Option<TraceParent> {
    let mut parts = v.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok().filter(|t| *t != TraceId::INVALID)?;
    let span_id = SpanId::from_hex(span).ok().filter(|s| *s != SpanId::INVALID)?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
    Some(TraceParent { trace_id, span_id, flags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_valid_and_invalid() {
        let tp = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
        assert_eq!(format!("{}", tp.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(format!("{}", tp.span_id), "00f067aa0ba902b7");
        assert!(tp.flags.is_sampled());
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn host_header_port_is_stripped() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "::1");
    }
}
