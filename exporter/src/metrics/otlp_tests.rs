use std::sync::Arc;

use super::*;
use crate::metrics::histogram::{Histogram, DURATION_BOUNDS_S};
use crate::metrics::ResourceMetrics;

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
}

#[test]
fn endpoints_follow_the_specification() {
    let cfg = ExportConfig::default();
    assert_eq!(destination(&cfg, env(&[])).expect("ok"), MetricsDestination::Console);
    let d = destination(&cfg, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])).expect("ok");
    assert_eq!(
        d,
        MetricsDestination::Otlp {
            protocol: OtlpProtocol::HttpProtobuf,
            url: "http://c:4318/v1/metrics".into(),
            headers: vec![]
        }
    );
    let d = destination(
        &cfg,
        env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=x%20y"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "A=2"),
        ]),
    )
    .expect("ok");
    assert_eq!(
        d,
        MetricsDestination::Otlp {
            protocol: OtlpProtocol::Grpc,
            url: "http://m:4317".into(),
            headers: vec![("b".into(), "x y".into()), ("a".into(), "2".into())]
        }
    );
    let cfg = ExportConfig { endpoint: Some("http://c:4317".into()), protocol: Some(OtlpProtocol::Grpc), ..cfg };
    let d = destination(&cfg, env(&[])).expect("ok");
    assert!(
        matches!(d, MetricsDestination::Otlp { protocol: OtlpProtocol::Grpc, ref url, .. } if url == "http://c:4317")
    );
}

#[test]
fn bad_endpoints_and_headers_are_clear_errors() {
    let cfg = ExportConfig::default();
    let e = destination(&cfg, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317")])).expect_err("no scheme");
    assert!(e.to_string().contains("http://"), "{e}");
    let e = destination(
        &cfg,
        env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_HEADERS", "novalue")]),
    )
    .expect_err("bad header");
    assert!(e.to_string().contains("novalue"), "{e}");
}

fn collection(resources: usize, points_each: usize) -> Collection {
    let mut h = Histogram::new(DURATION_BOUNDS_S);
    h.record(0.02);
    let rm = |i: usize| ResourceMetrics {
        resource: vec![crate::signals::attributes::string("service.name", format!("s{i}"))],
        service: Arc::from("s"),
        pid: i as u32,
        metrics: vec![Metric {
            name: "http.server.request.duration".into(),
            unit: "s",
            description: "",
            data: MetricData::Histogram(
                (0..points_each)
                    .map(|j| HistogramPoint {
                        attrs: vec![("http.route", AttrValue::Str(format!("/r{j}").into()))],
                        start_unix_ns: 1,
                        hist: h.clone(),
                    })
                    .collect(),
            ),
        }],
    };
    Collection { time_unix_ns: 2, temporality: Temporality::Delta, resources: (0..resources).map(rm).collect() }
}

#[test]
fn requests_carry_one_resource_per_service_and_are_split_by_points() {
    let reqs = encode(&collection(10, 3), 7);
    assert_eq!(reqs.iter().map(|(_, n)| n).sum::<usize>(), 30);
    assert!(reqs.iter().all(|(r, n)| *n <= 7 && r.resource_metrics.len() * 3 == *n));
    let (first, _) = &reqs[0];
    let rm = &first.resource_metrics[0];
    let svc = &rm.resource.as_ref().expect("resource").attributes[0];
    assert_eq!(svc.key, "service.name");
    let m = &rm.scope_metrics[0].metrics[0];
    let Some(pb::metric::Data::Histogram(h)) = &m.data else { panic!("histogram expected") };
    assert_eq!(h.aggregation_temporality, pb::AggregationTemporality::Delta as i32);
    let p = &h.data_points[0];
    assert_eq!((p.count, p.start_time_unix_nano, p.time_unix_nano), (1, 1, 2));
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
    assert_eq!(m.unit, "s");
}
