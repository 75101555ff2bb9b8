//! Span names and attributes of HTTP/2 streams: plain HTTP/2 requests and gRPC calls.
//!
//! Only what the capture made certain is emitted: a stream whose header blocks were
//! not all decoded (`headers_known == false`) simply lacks the unknown attributes.

#[allow(deprecated)]
use opentelemetry_semantic_conventions::attribute::{RPC_GRPC_STATUS_CODE, RPC_SERVICE, RPC_SYSTEM};
use opentelemetry_semantic_conventions::attribute::{RPC_METHOD, RPC_RESPONSE_STATUS_CODE, RPC_SYSTEM_NAME};
use opentelemetry_semantic_conventions::trace as sc;

use super::traces::{host_without_port, push_addresses, semconv_method, Attributes, HttpSpan, Outcome};
use crate::config::RpcSemconv;
use crate::protocol::grpc::{GrpcCall, GrpcCode};
use crate::protocol::http1::head::Method;
use crate::request::http2::StreamExchange;
use crate::request::Role;

/// Name and attributes of a non-gRPC HTTP/2 request.
pub(super) fn http2_attributes(s: &HttpSpan, ex: &StreamExchange, failed: bool, attrs: &mut Attributes) -> String {
    let parsed =
        ex.method.as_deref().map(|m| Method::from_token(m.as_bytes()).unwrap_or_else(|| Method::Other(m.to_owned())));
    let method = parsed.as_ref().map(semconv_method);
    let mut name = match &method {
        Some((m, _)) if *m != "_OTHER" => (*m).to_owned(),
        _ => "HTTP".to_owned(),
    };
    if let Some((m, original)) = method {
        attrs.str(sc::HTTP_REQUEST_METHOD, m);
        if let Some(original) = original {
            attrs.str(sc::HTTP_REQUEST_METHOD_ORIGINAL, original);
        }
    }
    if let Some(status) = ex.status {
        attrs.int(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(status));
    }
    if let Some(path) = &ex.path {
        attrs.str(sc::URL_PATH, path.as_str());
    }
    attrs.str(sc::URL_SCHEME, ex.scheme.as_deref().unwrap_or("http"));
    push_addresses(attrs, s, ex.role, ex.authority.as_deref().map(host_without_port), "2");
    if ex.role == Role::Server {
        if let Some(route) = s.route.as_deref() {
            name.push(' ');
            name.push_str(route);
            attrs.str(sc::HTTP_ROUTE, route);
        }
    }
    if failed {
        if let Some(status) = ex.status {
            attrs.str(sc::ERROR_TYPE, &status.to_string());
        }
    }
    name
}

/// Name, attributes and status of a gRPC call, in the configured semantic-convention generation(s).
pub(super) fn grpc_attributes(
    s: &HttpSpan,
    ex: &StreamExchange,
    call: &GrpcCall,
    failed: bool,
    semconv: RpcSemconv,
    attrs: &mut Attributes,
) -> (String, Outcome) {
    let code = call.outcome(ex.reset, ex.end_ns.saturating_sub(ex.start_ns));
    let code_name = code.map(|c| GrpcCode::from_u32(c).map_or_else(|| c.to_string(), |g| g.name().to_string()));
    if semconv.new_names() {
        attrs.str(RPC_SYSTEM_NAME, "grpc");
        attrs.str(RPC_METHOD, call.method.as_str());
        if let Some(name) = &code_name {
            attrs.str(RPC_RESPONSE_STATUS_CODE, name.as_str());
        }
    }
    if semconv.old_names() {
        let (service, method) = call.method.split_once('/').unwrap_or((&call.method, ""));
        #[allow(deprecated)]
        {
            attrs.str(RPC_SYSTEM, "grpc");
            attrs.str(RPC_SERVICE, service);
            if !semconv.new_names() {
                attrs.str(RPC_METHOD, method);
            }
            if let Some(c) = code {
                attrs.int(RPC_GRPC_STATUS_CODE, i64::from(c));
            }
        }
    }
    push_addresses(attrs, s, ex.role, ex.authority.as_deref().map(host_without_port), "2");
    if failed {
        if let Some(name) = &code_name {
            attrs.str(sc::ERROR_TYPE, name);
        }
    }
    (call.method.clone(), Outcome { failed, message: call.message.clone() })
}
