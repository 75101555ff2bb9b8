//! Metrics on the console when no OTLP endpoint is configured: one line per data point,
//! in the style of the span and log lines.

use std::fmt::Write as _;
use std::io::Write;

use super::{AttrValue, Attrs, Collection, MetricData, Number};

fn push_attrs(line: &mut String, attrs: &Attrs) {
    for (k, v) in attrs {
        let _ = match v {
            AttrValue::Str(s) => write!(line, " {k}=\"{}\"", s.escape_debug()),
            AttrValue::Int(i) => write!(line, " {k}={i}"),
            AttrValue::Bool(b) => write!(line, " {k}={b}"),
        };
    }
}

/// `metric service=… pid=… name=… unit=… count=… sum=… attr=…` lines.
pub fn format(c: &Collection) -> Vec<String> {
    let mut lines = Vec::with_capacity(c.points());
    for rm in &c.resources {
        for m in &rm.metrics {
            let head = format!("metric service={} pid={} name={} unit={}", rm.service, rm.pid, m.name, m.unit);
            match &m.data {
                MetricData::Histogram(points) => {
                    for p in points {
                        let mut line = format!("{head} count={} sum={:.6}", p.hist.count(), p.hist.sum());
                        push_attrs(&mut line, &p.attrs);
                        lines.push(line);
                    }
                }
                MetricData::Sum { points, .. } | MetricData::Gauge(points) => {
                    for p in points {
                        let mut line = match p.value {
                            Number::Int(i) => format!("{head} value={i}"),
                            Number::Double(d) => format!("{head} value={d}"),
                        };
                        push_attrs(&mut line, &p.attrs);
                        lines.push(line);
                    }
                }
            }
        }
    }
    lines
}

pub fn write(c: &Collection) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in format(c) {
        writeln!(out, "{line}")?;
    }
    out.flush()
}
