//! Application log lines (captured stdout/stderr writes) and failed-request events as log
//! records, with severity and the trace context of the request being served.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};

use super::attributes::{boolean, string};
use crate::clock::Clock;
use crate::decorate::process::ProcessInfo;
use crate::trace::SpanIds;

/// One log record about to be exported.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub process: Arc<ProcessInfo>,
    /// CLOCK_MONOTONIC of the write (or of the failed request's end).
    pub ts_ns: u64,
    pub body: String,
    pub severity: Option<Level>,
    /// Where the line came from: `stdout`, `stderr`, or `http` for failed-request events.
    pub source: &'static str,
    /// The span the writing thread was serving, if any.
    pub trace: Option<SpanIds>,
    /// The line was cut at the capture or line limit.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn severity(self) -> (SeverityNumber, &'static str) {
        match self {
            Level::Trace => (SeverityNumber::Trace, "TRACE"),
            Level::Debug => (SeverityNumber::Debug, "DEBUG"),
            Level::Info => (SeverityNumber::Info, "INFO"),
            Level::Warn => (SeverityNumber::Warn, "WARN"),
            Level::Error => (SeverityNumber::Error, "ERROR"),
            Level::Fatal => (SeverityNumber::Fatal, "FATAL"),
        }
    }

    fn from_word(w: &str) -> Option<Level> {
        Some(match w.to_ascii_lowercase().as_str() {
            "trace" | "finest" | "finer" => Level::Trace,
            "debug" | "dbug" | "fine" => Level::Debug,
            "info" | "information" | "notice" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" | "severe" => Level::Error,
            "fatal" | "critical" | "crit" | "panic" | "emerg" | "alert" => Level::Fatal,
            _ => return None,
        })
    }
}

/// Severity of a log line: a JSON object's `level` / `severity` / `levelname` / `log.level`
/// field; else a `level=…` pair; else an upper-case marker word (`ERROR`, `[WARN]`, `INFO:`)
/// among the first words; else unknown.
pub fn detect_level(line: &str) -> Option<Level> {
    let t = line.trim_start();
    if t.starts_with('{') {
        for key in ["\"level\"", "\"severity\"", "\"levelname\"", "\"log.level\"", "\"lvl\""] {
            if let Some(v) = json_string_field(t, key) {
                return Level::from_word(v);
            }
        }
        return None;
    }
    if let Some(i) = t.find("level=") {
        let v: String = t[i + 6..].trim_start_matches('"').chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        if let Some(l) = Level::from_word(&v) {
            return Some(l);
        }
    }
    t.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .take(8)
        .filter(|w| w.len() >= 4 && w.chars().all(|c| c.is_ascii_uppercase()))
        .find_map(Level::from_word)
}

/// The string value of `key` in a flat JSON object, without a full JSON parse.
fn json_string_field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let rest = &s[s.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

/// Splits one captured write into lines (at most `max_lines`), each cut at `max_len` bytes
/// on a char boundary. Returns the lines and whether anything was cut or left out.
pub fn split_lines(bytes: &[u8], max_len: usize, max_lines: usize) -> (Vec<(String, bool)>, usize) {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut skipped = 0;
    for raw in text.split('\n') {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if out.len() == max_lines {
            skipped += 1;
            continue;
        }
        let mut cut = line.len();
        if cut > max_len {
            cut = max_len;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
        }
        out.push((line[..cut].to_string(), cut < line.len()));
    }
    (out, skipped)
}

impl LogLine {
    /// The OTLP log record, stamped with the trace context of the span being served.
    pub fn into_record(self, clock: &Clock) -> LogRecord {
        let ts = clock.to_unix_nanos(self.ts_ns);
        let (severity_number, severity_text) = self.severity.map_or((SeverityNumber::Unspecified, ""), Level::severity);
        let mut attributes = Vec::with_capacity(2);
        attributes.push(string("log.iostream", self.source));
        if self.truncated {
            attributes.push(boolean("spanwire.log.truncated", true));
        }
        let (trace_id, span_id, flags) = match &self.trace {
            Some(ids) => {
                (ids.trace_id.to_bytes().to_vec(), ids.span_id.to_bytes().to_vec(), u32::from(ids.flags.to_u8()))
            }
            None => (Vec::new(), Vec::new(), 0),
        };
        LogRecord {
            time_unix_nano: ts,
            observed_time_unix_nano: ts,
            severity_number: severity_number as i32,
            severity_text: severity_text.to_owned(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(self.body)) }),
            attributes,
            flags,
            trace_id,
            span_id,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_from_json_text_and_markers() {
        assert_eq!(detect_level(r#"{"level":"error","msg":"x"}"#), Some(Level::Error));
        assert_eq!(detect_level(r#"{"msg":"x", "severity" : "WARNING"}"#), Some(Level::Warn));
        assert_eq!(detect_level(r#"{"levelname": "CRITICAL"}"#), Some(Level::Fatal));
        assert_eq!(detect_level(r#"{"msg":"no level"}"#), None);
        assert_eq!(detect_level("time=1 level=info msg=started"), Some(Level::Info));
        assert_eq!(detect_level("2026-11-23 12:00:00 ERROR db down"), Some(Level::Error));
        assert_eq!(detect_level("[WARN] disk 91%"), Some(Level::Warn));
        assert_eq!(detect_level("INFO:root:hello"), Some(Level::Info));
        assert_eq!(detect_level("an error happened"), None, "lower-case prose is not a marker");
        assert_eq!(detect_level("GET /hello 200"), None);
    }

    #[test]
    fn lines_are_split_bounded_and_cut_on_char_boundaries() {
        let (lines, skipped) = split_lines(b"one\r\ntwo\n\nthree", 100, 10);
        let texts: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        assert_eq!(skipped, 0);
        let (lines, _) = split_lines("héllo wörld".as_bytes(), 2, 10);
        assert_eq!(lines, vec![("h".to_string(), true)]);
        let (lines, skipped) = split_lines(b"a\nb\nc\n", 100, 2);
        assert_eq!((lines.len(), skipped), (2, 1));
        let (lines, _) = split_lines(b"\xff\xfe ok", 100, 2);
        assert_eq!(lines.len(), 1, "invalid UTF-8 is replaced, not dropped");
    }
}
