//! The embedded default when no OTLP endpoint is configured: one readable line per span.

use std::io::Write;
use std::time::UNIX_EPOCH;

use opentelemetry::logs::AnyValue;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::logs::SdkLogRecord;
use opentelemetry_sdk::trace::SpanData;

use crate::decorate::process::ProcessInfo;

pub fn format_span(process: &ProcessInfo, span: &SpanData) -> String {
    let kind = match span.span_kind {
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        SpanKind::Internal => "INTERNAL",
    };
    let dur = span.end_time.duration_since(span.start_time).unwrap_or_default();
    let start_us = span.start_time.duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let mut line = format!(
        "span {kind} service={} pid={} name=\"{}\" duration_ms={:.3} start_unix_us={start_us} trace_id={} span_id={}",
        process.service_name,
        process.pid.0,
        span.name,
        dur.as_secs_f64() * 1e3,
        span.span_context.trace_id(),
        span.span_context.span_id(),
    );
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        line.push_str(&format!(" parent_id={}", span.parent_span_id));
    }
    if matches!(span.status, Status::Error { .. }) {
        line.push_str(" status=ERROR");
    }
    for kv in &span.attributes {
        match &kv.value {
            Value::String(s) => line.push_str(&format!(" {}=\"{}\"", kv.key, s.as_str().escape_debug())),
            other => line.push_str(&format!(" {}={other}", kv.key)),
        }
    }
    line
}

pub fn format_log(process: &ProcessInfo, log: &SdkLogRecord) -> String {
    let mut line = format!(
        "log service={} pid={} severity={}",
        process.service_name,
        process.pid.0,
        log.severity_text().unwrap_or("UNSPECIFIED")
    );
    if let Some(tc) = log.trace_context() {
        line.push_str(&format!(" trace_id={} span_id={}", tc.trace_id, tc.span_id));
    }
    if let Some(AnyValue::String(body)) = log.body() {
        line.push_str(&format!(" body=\"{}\"", body.as_str().escape_debug()));
    }
    line
}

/// Writes spans and log records to stdout, one line each.
#[derive(Debug, Default)]
pub struct Console;

impl Console {
    pub fn write(&self, process: &ProcessInfo, spans: &[SpanData], logs: &[SdkLogRecord]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        for s in spans {
            writeln!(out, "{}", format_span(process, s))?;
        }
        for l in logs {
            writeln!(out, "{}", format_log(process, l))?;
        }
        out.flush()
    }
}
