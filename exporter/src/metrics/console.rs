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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::histogram::{Histogram, DURATION_BOUNDS_S};
    use crate::metrics::{HistogramPoint, Metric, NumberPoint, ResourceMetrics, Temporality};

    #[test]
    fn one_line_per_point_with_attributes() {
        let mut h = Histogram::new(DURATION_BOUNDS_S);
        h.record(0.5);
        let c = Collection {
            time_unix_ns: 1,
            temporality: Temporality::Cumulative,
            resources: vec![ResourceMetrics {
                resource: Vec::new(),
                service: Arc::from("svc"),
                pid: 7,
                metrics: vec![
                    Metric {
                        name: "http.server.request.duration".into(),
                        unit: "s",
                        description: "",
                        data: MetricData::Histogram(vec![HistogramPoint {
                            attrs: vec![("http.route", "/a\"b".into()), ("http.response.status_code", 200.into())],
                            start_unix_ns: 0,
                            hist: h,
                        }]),
                    },
                    Metric {
                        name: "spanwire.tcp.srtt".into(),
                        unit: "s",
                        description: "",
                        data: MetricData::Gauge(vec![NumberPoint {
                            attrs: vec![("otel.metric.overflow", AttrValue::Bool(true))],
                            start_unix_ns: 0,
                            value: Number::Double(0.25),
                        }]),
                    },
                ],
            }],
        };
        assert_eq!(
            format(&c),
            [
                "metric service=svc pid=7 name=http.server.request.duration unit=s count=1 sum=0.500000 \
                 http.route=\"/a\\\"b\" http.response.status_code=200",
                "metric service=svc pid=7 name=spanwire.tcp.srtt unit=s value=0.25 otel.metric.overflow=true",
            ]
        );
    }
}
