//! The embedded default when no OTLP endpoint is configured: one readable line per span.

use std::fmt::Write as _;
use std::io::Write as _;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};

use crate::decorate::process::ProcessInfo;

pub fn format_span(process: &ProcessInfo, span: &Span) -> String {
    let kind = match SpanKind::try_from(span.kind) {
        Ok(SpanKind::Server) => "SERVER",
        Ok(SpanKind::Client) => "CLIENT",
        Ok(SpanKind::Producer) => "PRODUCER",
        Ok(SpanKind::Consumer) => "CONSUMER",
        _ => "INTERNAL",
    };
    let dur_ns = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano);
    let mut line = format!(
        "span {kind} service={} pid={} name=\"{}\" duration_ms={:.3} start_unix_us={} trace_id={} span_id={}",
        process.service_name,
        process.pid.0,
        span.name,
        dur_ns as f64 / 1e6,
        span.start_time_unix_nano / 1000,
        Hex(&span.trace_id),
        Hex(&span.span_id),
    );
    if !span.parent_span_id.is_empty() {
        let _ = write!(line, " parent_id={}", Hex(&span.parent_span_id));
    }
    if span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32) {
        line.push_str(" status=ERROR");
    }
    for kv in &span.attributes {
        let _ = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => write!(line, " {}=\"{}\"", kv.key, s.escape_debug()),
            Some(Value::IntValue(i)) => write!(line, " {}={i}", kv.key),
            Some(Value::BoolValue(b)) => write!(line, " {}={b}", kv.key),
            Some(Value::DoubleValue(d)) => write!(line, " {}={d}", kv.key),
            _ => write!(line, " {}=?", kv.key),
        };
    }
    line
}

pub fn format_log(process: &ProcessInfo, log: &LogRecord) -> String {
    let severity = if log.severity_text.is_empty() { "UNSPECIFIED" } else { &log.severity_text };
    let mut line = format!("log service={} pid={} severity={severity}", process.service_name, process.pid.0);
    if !log.trace_id.is_empty() {
        let _ = write!(line, " trace_id={} span_id={}", Hex(&log.trace_id), Hex(&log.span_id));
    }
    if let Some(AnyValue { value: Some(Value::StringValue(body)) }) = &log.body {
        let _ = write!(line, " body=\"{}\"", body.escape_debug());
    }
    line
}

/// Lower-case hex, as trace and span ids are written.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Writes spans and log records to stdout, one line each.
#[derive(Debug, Default)]
pub struct Console;

impl Console {
    pub fn write(&self, process: &ProcessInfo, spans: &[Span], logs: &[LogRecord]) -> std::io::Result<()> {
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
