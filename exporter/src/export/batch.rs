//! Telemetry waiting for the next flush, encoded as it arrives and grouped by process, and
//! the OTLP requests a flush sends: one resource per process, one scope (`spanwire`).
//!
//! Spans are written straight into protobuf bytes (`signals::wire`); the trace request is
//! assembled from those bytes. Log records, a small share of the traffic, are prost messages.

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;

use super::otlp::raw_codec::Encoded;
use super::resource::ResourceCache;
use crate::clock::Clock;
use crate::decorate::process::ProcessInfo;
use crate::signals::traces::SpanEncoder;
use crate::signals::wire::{len_field_len, Writer};
use crate::signals::Telemetry;

/// One process's share of a flush.
pub struct Group {
    pub process: Arc<ProcessInfo>,
    /// The `spans` entries of an OTLP `ScopeSpans`, encoded (which decodes as a `ScopeSpans`).
    pub spans: Writer,
    pub span_count: u64,
    pub logs: Vec<LogRecord>,
}

/// Encoded spans and log records not yet flushed, in arrival order within each process.
#[derive(Default)]
pub struct Pending {
    groups: Vec<Group>,
    items: usize,
    /// Index of the group the last item went to: consecutive items mostly share a process.
    last: usize,
    /// Bytes of the largest group of the last flush: new groups start with that capacity so
    /// their buffers do not grow (and copy) a dozen times per flush.
    group_bytes_hint: usize,
}

impl Pending {
    /// Spans plus log records waiting.
    pub fn len(&self) -> usize {
        self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    pub fn push(&mut self, item: Telemetry, spans: &SpanEncoder, clock: &Clock) {
        let process = item.process();
        let idx = match self.groups.get(self.last) {
            Some(g) if Arc::ptr_eq(&g.process, process) => self.last,
            _ => match self.groups.iter().position(|g| Arc::ptr_eq(&g.process, process)) {
                Some(i) => i,
                None => {
                    let process = process.clone();
                    let spans = Writer::with_capacity(self.group_bytes_hint);
                    self.groups.push(Group { process, spans, span_count: 0, logs: Vec::new() });
                    self.groups.len() - 1
                }
            },
        };
        self.last = idx;
        let group = &mut self.groups[idx];
        match item {
            Telemetry::Span(s) => {
                spans.encode(&s, clock, &mut group.spans);
                group.span_count += 1;
            }
            Telemetry::Log(l) => group.logs.push(l.into_record(clock)),
        }
        self.items += 1;
    }

    /// Everything pending, leaving this empty.
    pub fn take(&mut self) -> Vec<Group> {
        self.group_bytes_hint = self.groups.iter().map(|g| g.spans.len()).max().unwrap_or(0);
        self.items = 0;
        self.last = 0;
        std::mem::take(&mut self.groups)
    }
}

/// The requests of one flush and how many spans and log records each carries.
pub struct Requests {
    /// An encoded `ExportTraceServiceRequest`.
    pub traces: Option<(Encoded, u64)>,
    pub logs: Option<(ExportLogsServiceRequest, u64)>,
}

/// Field numbers of the messages assembled here (opentelemetry/proto/trace/v1/trace.proto and
/// the trace collector service).
const REQUEST_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const SCOPE_SPANS_SCOPE: u32 = 1;

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "spanwire".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

pub fn requests(groups: Vec<Group>, resources: &mut ResourceCache) -> Requests {
    let scope = scope();
    let encoded_scope = scope.encode_to_vec();
    let mut chunks = Vec::with_capacity(groups.len() * 2);
    let mut resource_logs = Vec::new();
    let (mut span_count, mut log_count) = (0, 0);
    for g in groups {
        if g.span_count > 0 {
            span_count += g.span_count;
            // The group's spans follow its resource and scope as they are: the transport
            // writes the pieces in order, so span bytes are not copied into one buffer.
            let resource = resources.encoded(&g.process);
            let scope_spans_len = len_field_len(encoded_scope.len()) + g.spans.len();
            let resource_spans_len = len_field_len(resource.len()) + len_field_len(scope_spans_len);
            let mut head = Writer::with_capacity(resource.len() + encoded_scope.len() + 32);
            head.len_prefix(REQUEST_RESOURCE_SPANS, resource_spans_len);
            head.bytes(RESOURCE_SPANS_RESOURCE, resource);
            head.len_prefix(RESOURCE_SPANS_SCOPE_SPANS, scope_spans_len);
            head.bytes(SCOPE_SPANS_SCOPE, &encoded_scope);
            chunks.push(Bytes::from(head.into_bytes()));
            chunks.push(Bytes::from(g.spans.into_bytes()));
        }
        if !g.logs.is_empty() {
            log_count += g.logs.len() as u64;
            resource_logs.push(ResourceLogs {
                resource: Some(resources.get(&g.process).clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope.clone()),
                    log_records: g.logs,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
    }
    Requests {
        traces: (span_count > 0).then(|| (Encoded::new(chunks), span_count)),
        logs: (log_count > 0).then_some((ExportLogsServiceRequest { resource_logs }, log_count)),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use super::*;

    #[test]
    fn trace_request_decodes_with_one_resource_per_process() {
        let process = |pid| Arc::new(crate::decorate::process::test_process(pid, "srv", &format!("s{pid}")));
        let (a, b) = (process(1), process(2));
        let group = |p: &Arc<ProcessInfo>, names: &[&str]| {
            let mut spans = Writer::default();
            for n in names {
                let s = spans.open(2);
                spans.bytes(5, n.as_bytes());
                spans.close(s);
            }
            Group { process: p.clone(), spans, span_count: names.len() as u64, logs: Vec::new() }
        };
        let mut resources = ResourceCache::new("h".into());
        let r = requests(vec![group(&a, &["x", "y"]), group(&b, &["z"])], &mut resources);
        let (bytes, n) = r.traces.expect("spans");
        assert_eq!(n, 3);
        assert!(r.logs.is_none());
        let req = ExportTraceServiceRequest::decode(bytes.to_bytes()).expect("valid request");
        let summary: Vec<(String, Vec<String>)> = req
            .resource_spans
            .iter()
            .map(|rs| {
                let service = rs.resource.as_ref().expect("resource").attributes[0].value.clone().expect("value");
                let ss = &rs.scope_spans[0];
                assert_eq!(ss.scope.as_ref().expect("scope").name, "spanwire");
                (format!("{:?}", service.value), ss.spans.iter().map(|s| s.name.clone()).collect())
            })
            .collect();
        assert_eq!(summary.len(), 2);
        assert!(summary[0].0.contains("s1") && summary[1].0.contains("s2"), "{summary:?}");
        assert_eq!(summary[0].1, ["x", "y"]);
        assert_eq!(summary[1].1, ["z"]);
    }
}
