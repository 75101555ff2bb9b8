//! Flattened view of received OTLP spans, and conversion from the protobuf form.

use std::collections::BTreeMap;
use std::fmt;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

/// Transport a span arrived over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// OTLP/gRPC `TraceService/Export`.
    Grpc,
    /// OTLP/HTTP with a binary protobuf body (`POST /v1/traces`).
    Http,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        })
    }
}

/// A simplified OTLP `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValueLite {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Arrays, key/value lists, bytes and unset values, rendered with `Debug`.
    Other(String),
}

impl AnyValueLite {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValueLite::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            AnyValueLite::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AnyValueLite::Double(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AnyValueLite::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Textual rendering of any variant (used e.g. to scan for leaked secrets).
    pub fn render(&self) -> String {
        match self {
            AnyValueLite::Str(s) | AnyValueLite::Other(s) => s.clone(),
            AnyValueLite::Int(i) => i.to_string(),
            AnyValueLite::Double(d) => d.to_string(),
            AnyValueLite::Bool(b) => b.to_string(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            AnyValueLite::Str(s) => serde_json::Value::from(s.as_str()),
            AnyValueLite::Int(i) => serde_json::Value::from(*i),
            AnyValueLite::Double(d) => serde_json::Value::from(*d),
            AnyValueLite::Bool(b) => serde_json::Value::from(*b),
            AnyValueLite::Other(s) => serde_json::json!({ "other": s }),
        }
    }
}

impl From<Option<&AnyValue>> for AnyValueLite {
    fn from(v: Option<&AnyValue>) -> Self {
        match v.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => AnyValueLite::Str(s.clone()),
            Some(any_value::Value::IntValue(i)) => AnyValueLite::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => AnyValueLite::Double(*d),
            Some(any_value::Value::BoolValue(b)) => AnyValueLite::Bool(*b),
            Some(other) => AnyValueLite::Other(format!("{other:?}")),
            None => AnyValueLite::Other("<unset>".to_owned()),
        }
    }
}

/// One span as received by the sink, with its resource and scope flattened in.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub resource: BTreeMap<String, AnyValueLite>,
    pub scope: String,
    pub name: String,
    /// Protobuf `SpanKind`: 1=INTERNAL 2=SERVER 3=CLIENT 4=PRODUCER 5=CONSUMER.
    pub kind: i32,
    /// All zeroes if the received id did not have exactly 16 bytes.
    pub trace_id: [u8; 16],
    /// All zeroes if the received id did not have exactly 8 bytes.
    pub span_id: [u8; 8],
    pub parent_span_id: Vec<u8>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: BTreeMap<String, AnyValueLite>,
    /// Protobuf `Status.code`: 0=UNSET 1=OK 2=ERROR.
    pub status_code: i32,
    pub via: Protocol,
}

pub const SPAN_KIND_SERVER: i32 = 2;
pub const SPAN_KIND_CLIENT: i32 = 3;
pub const STATUS_UNSET: i32 = 0;
pub const STATUS_ERROR: i32 = 2;

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&AnyValueLite> {
        self.attributes.get(key)
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(AnyValueLite::as_str)
    }

    pub fn attr_int(&self, key: &str) -> Option<i64> {
        self.attr(key).and_then(AnyValueLite::as_int)
    }

    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(AnyValueLite::as_str)
    }

    pub fn resource_int(&self, key: &str) -> Option<i64> {
        self.resource.get(key).and_then(AnyValueLite::as_int)
    }

    /// `resource["service.name"]`, or "" when absent.
    pub fn service_name(&self) -> &str {
        self.resource_str("service.name").unwrap_or("")
    }

    /// End minus start, or `None` if the end precedes the start.
    pub fn duration_nanos(&self) -> Option<u64> {
        self.end_unix_nano.checked_sub(self.start_unix_nano)
    }

    /// One JSON object describing the span (ids hex-encoded), as written by `--jsonl`.
    pub fn to_json(&self) -> serde_json::Value {
        let map = |m: &BTreeMap<String, AnyValueLite>| {
            m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<serde_json::Map<_, _>>()
        };
        serde_json::json!({
            "via": self.via.to_string(),
            "resource": map(&self.resource),
            "scope": self.scope,
            "name": self.name,
            "kind": self.kind,
            "trace_id": hex(&self.trace_id),
            "span_id": hex(&self.span_id),
            "parent_span_id": hex(&self.parent_span_id),
            "start_unix_nano": self.start_unix_nano,
            "end_unix_nano": self.end_unix_nano,
            "attributes": map(&self.attributes),
            "status_code": self.status_code,
        })
    }
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, AnyValueLite> {
    kvs.iter().map(|kv| (kv.key.clone(), AnyValueLite::from(kv.value.as_ref()))).collect()
}

/// Flattens an export request into one [`ReceivedSpan`] per span.
pub fn flatten(req: &ExportTraceServiceRequest, via: Protocol) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let resource = rs.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            for span in &ss.spans {
                out.push(ReceivedSpan {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    name: span.name.clone(),
                    kind: span.kind,
                    trace_id: span.trace_id.as_slice().try_into().unwrap_or([0; 16]),
                    span_id: span.span_id.as_slice().try_into().unwrap_or([0; 8]),
                    parent_span_id: span.parent_span_id.clone(),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                    status_code: span.status.as_ref().map_or(0, |s| s.code),
                    via,
                });
            }
        }
    }
    out
}
