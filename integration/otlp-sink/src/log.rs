//! Received log records, flattened for assertions.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

use crate::span::{attributes, AnyValueLite, Protocol};

/// One log record with its resource.
#[derive(Debug, Clone)]
pub struct ReceivedLog {
    pub resource: BTreeMap<String, AnyValueLite>,
    pub body: String,
    pub severity_number: i32,
    pub severity_text: String,
    /// Empty when the record carries no trace context.
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub time_unix_nano: u64,
    pub attributes: BTreeMap<String, AnyValueLite>,
    pub via: Protocol,
}

impl ReceivedLog {
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(AnyValueLite::as_str)
    }
}

pub fn flatten_logs(req: &ExportLogsServiceRequest, via: Protocol) -> Vec<ReceivedLog> {
    let mut out = Vec::new();
    for rl in &req.resource_logs {
        let resource = rl.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        for sl in &rl.scope_logs {
            for r in &sl.log_records {
                let body = match r.body.as_ref().map(|b| AnyValueLite::from(Some(b))) {
                    Some(AnyValueLite::Str(s)) => s,
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                out.push(ReceivedLog {
                    resource: resource.clone(),
                    body,
                    severity_number: r.severity_number,
                    severity_text: r.severity_text.clone(),
                    trace_id: r.trace_id.clone(),
                    span_id: r.span_id.clone(),
                    time_unix_nano: r.time_unix_nano,
                    attributes: attributes(&r.attributes),
                    via,
                });
            }
        }
    }
    out
}
