//! Span names and attributes of HTTP/2 streams: plain HTTP/2 requests and gRPC calls.
//!
//! Only what the capture made certain is emitted: a stream whose header blocks were
//! not all decoded (`headers_known == false`) simply lacks the unknown attributes.

use opentelemetry::trace::Status;
use opentelemetry::KeyValue;
#[allow(deprecated)]
use opentelemetry_semantic_conventions::attribute::{RPC_GRPC_STATUS_CODE, RPC_SERVICE, RPC_SYSTEM};
use opentelemetry_semantic_conventions::attribute::{RPC_METHOD, RPC_RESPONSE_STATUS_CODE, RPC_SYSTEM_NAME};
use opentelemetry_semantic_conventions::trace as sc;

use super::route::derive_route;
use super::traces::{host_without_port, push_addresses, semconv_method, HttpSpan};
use crate::config::RpcSemconv;
use crate::protocol::grpc::{GrpcCall, GrpcCode};
use crate::protocol::http1::head::Method;
use crate::request::http2::StreamExchange;
use crate::request::Role;

/// Name and attributes of a non-gRPC HTTP/2 request.
pub(super) fn http2_attributes(s: &HttpSpan, ex: &StreamExchange, failed: bool) -> (String, Vec<KeyValue>) {
    let method = ex.method.as_deref().map(|m| {
        let parsed = Method::from_token(m.as_bytes()).unwrap_or_else(|| Method::Other(m.to_owned()));
        semconv_method(&parsed)
    });
    let route = ex.path.as_deref().map(derive_route);
    let mut attrs = Vec::with_capacity(14);
    let mut name = match &method {
        Some((m, _)) if *m == "_OTHER" => "HTTP".to_string(),
        Some((m, _)) => m.to_string(),
        None => "HTTP".to_string(),
    };
    if let Some((m, original)) = method {
        attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, m));
        if let Some(original) = original {
            attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD_ORIGINAL, original));
        }
    }
    if let Some(status) = ex.status {
        attrs.push(KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
    }
    if let Some(path) = &ex.path {
        attrs.push(KeyValue::new(sc::URL_PATH, path.clone()));
    }
    attrs.push(KeyValue::new(sc::URL_SCHEME, ex.scheme.clone().unwrap_or_else(|| "http".into())));
    push_addresses(&mut attrs, s, ex.role, ex.authority.as_deref().map(host_without_port), "2");
    if ex.role == Role::Server {
        if let Some(route) = route {
            name = format!("{name} {route}");
            attrs.push(KeyValue::new(sc::HTTP_ROUTE, route));
        }
    }
    if failed {
        if let Some(status) = ex.status {
            attrs.push(KeyValue::new(sc::ERROR_TYPE, status.to_string()));
        }
    }
    (name, attrs)
}

/// Name, attributes and status of a gRPC call, in the configured semantic-convention generation(s).
pub(super) fn grpc_attributes(
    s: &HttpSpan,
    ex: &StreamExchange,
    call: &GrpcCall,
    failed: bool,
    semconv: RpcSemconv,
) -> (String, Vec<KeyValue>, Status) {
    let code = call.outcome(ex.reset, ex.end_ns.saturating_sub(ex.start_ns));
    let code_name = code.map(|c| GrpcCode::from_u32(c).map_or_else(|| c.to_string(), |g| g.name().to_string()));
    let mut attrs = Vec::with_capacity(14);
    if semconv.new_names() {
        attrs.push(KeyValue::new(RPC_SYSTEM_NAME, "grpc"));
        attrs.push(KeyValue::new(RPC_METHOD, call.method.clone()));
        if let Some(name) = &code_name {
            attrs.push(KeyValue::new(RPC_RESPONSE_STATUS_CODE, name.clone()));
        }
    }
    if semconv.old_names() {
        let (service, method) = call.method.split_once('/').unwrap_or((&call.method, ""));
        #[allow(deprecated)]
        {
            attrs.push(KeyValue::new(RPC_SYSTEM, "grpc"));
            attrs.push(KeyValue::new(RPC_SERVICE, service.to_string()));
            if !semconv.new_names() {
                attrs.push(KeyValue::new(RPC_METHOD, method.to_string()));
            }
            if let Some(c) = code {
                attrs.push(KeyValue::new(RPC_GRPC_STATUS_CODE, i64::from(c)));
            }
        }
    }
    push_addresses(&mut attrs, s, ex.role, ex.authority.as_deref().map(host_without_port), "2");
    let status = if failed {
        if let Some(name) = &code_name {
            attrs.push(KeyValue::new(sc::ERROR_TYPE, name.clone()));
        }
        Status::error(call.message.clone().unwrap_or_default())
    } else {
        Status::Unset
    };
    (call.method.clone(), attrs, status)
}
