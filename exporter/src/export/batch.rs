//! Telemetry waiting for the next flush, encoded as it arrives and grouped by process, and
//! the OTLP requests a flush sends: one resource per process, one scope (`spanwire`).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::resource::ResourceCache;
use crate::clock::Clock;
use crate::decorate::process::ProcessInfo;
use crate::signals::traces::SpanEncoder;
use crate::signals::Telemetry;

/// One process's share of a flush.
pub struct Group {
    pub process: Arc<ProcessInfo>,
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
}

/// Encoded spans and log records not yet flushed, in arrival order within each process.
#[derive(Default)]
pub struct Pending {
    groups: Vec<Group>,
    items: usize,
    /// Index of the group the last item went to: consecutive items mostly share a process.
    last: usize,
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
                    self.groups.push(Group { process, spans: Vec::new(), logs: Vec::new() });
                    self.groups.len() - 1
                }
            },
        };
        self.last = idx;
        let group = &mut self.groups[idx];
        match item {
            Telemetry::Span(s) => group.spans.push(spans.encode(&s, clock)),
            Telemetry::Log(l) => group.logs.push(l.into_record(clock)),
        }
        self.items += 1;
    }

    /// Everything pending, leaving this empty.
    pub fn take(&mut self) -> Vec<Group> {
        self.items = 0;
        self.last = 0;
        std::mem::take(&mut self.groups)
    }
}

/// The requests of one flush and how many spans and log records each carries.
pub struct Requests {
    pub traces: Option<(ExportTraceServiceRequest, u64)>,
    pub logs: Option<(ExportLogsServiceRequest, u64)>,
}

pub fn requests(groups: Vec<Group>, resources: &mut ResourceCache) -> Requests {
    let scope = InstrumentationScope {
        name: "spanwire".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    };
    let (mut resource_spans, mut resource_logs) = (Vec::new(), Vec::new());
    let (mut span_count, mut log_count) = (0, 0);
    for g in groups {
        let resource = resources.get(&g.process);
        if !g.spans.is_empty() {
            span_count += g.spans.len() as u64;
            resource_spans.push(ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans { scope: Some(scope.clone()), spans: g.spans, schema_url: String::new() }],
                schema_url: String::new(),
            });
        }
        if !g.logs.is_empty() {
            log_count += g.logs.len() as u64;
            resource_logs.push(ResourceLogs {
                resource: Some(resource.clone()),
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
        traces: (span_count > 0).then_some((ExportTraceServiceRequest { resource_spans }, span_count)),
        logs: (log_count > 0).then_some((ExportLogsServiceRequest { resource_logs }, log_count)),
    }
}
