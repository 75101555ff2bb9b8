use std::sync::Arc;

use opentelemetry_sdk::Resource;

use super::*;
use crate::ebpf::records::Pid;
use crate::metrics::AttrValue;

fn process(pid: u32, name: &str) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        pid: Pid(pid),
        exe_name: name.into(),
        service_name: name.into(),
        start_ticks: 7,
        container: None,
        env: Default::default(),
        pod: None,
        resource: Resource::builder_empty().with_service_name(name.to_string()).build(),
    })
}

fn http(p: &Arc<ProcessInfo>, role: Role, path: &str, status: u16, secs: f64) -> RequestSample {
    RequestSample {
        role,
        kind: SampleKind::Http {
            method: "GET",
            status_code: Some(status),
            route: Some(crate::signals::route::route_of(path).0.into()),
            protocol_version: "1.1",
            scheme: "http",
        },
        error_type: (status >= 500).then(|| status.to_string()),
        duration_s: secs,
        request_bytes: 10,
        response_bytes: 1000,
        server_address: Arc::from("example"),
        server_port: 8080,
        process: p.clone(),
    }
}

fn agg(cap: usize) -> (RedAggregator, Arc<Stats>) {
    let stats = Arc::new(Stats::default());
    (RedAggregator::new(RedConfig { series_cap: cap, rpc_semconv: RpcSemconv::New }, stats.clone()), stats)
}

fn attr<'a>(p: &'a HistogramPoint, key: &str) -> Option<&'a AttrValue> {
    p.attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn histograms<'a>(r: &'a [ResourceMetrics], name: &str) -> Vec<&'a HistogramPoint> {
    r.iter()
        .flat_map(|rm| rm.metrics.iter())
        .filter(|m| m.name == name)
        .flat_map(|m| match &m.data {
            MetricData::Histogram(p) => p.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn counts_per_route_and_status_are_exact() {
    let (mut a, _) = agg(100);
    let p = process(1, "svc");
    for i in 0..30 {
        a.record(&http(&p, Role::Server, &format!("/users/{i}"), 200, 0.02), 0);
    }
    for _ in 0..7 {
        a.record(&http(&p, Role::Server, "/health", 200, 0.001), 0);
    }
    for _ in 0..3 {
        a.record(&http(&p, Role::Server, "/users/9", 503, 0.3), 0);
    }
    let r = a.collect(1, Temporality::Cumulative, |_| true);
    let pts = histograms(&r, "http.server.request.duration");
    let count = |route: &str, status: i64| {
        pts.iter()
            .filter(|p| attr(p, "http.route") == Some(&AttrValue::Str(route.into())))
            .filter(|p| attr(p, "http.response.status_code") == Some(&AttrValue::Int(status)))
            .map(|p| p.hist.count())
            .sum::<u64>()
    };
    assert_eq!((count("/users/*", 200), count("/health", 200), count("/users/*", 503)), (30, 7, 3));
    assert_eq!(pts.len(), 3);
    let failed = pts.iter().find(|p| attr(p, "error.type").is_some()).expect("5xx has error.type");
    assert_eq!(attr(failed, "error.type"), Some(&AttrValue::Str("503".into())));
    let sizes = histograms(&r, "http.server.response.body.size");
    assert_eq!(sizes.iter().map(|p| p.hist.sum()).sum::<f64>(), 40.0 * 1000.0);
}

#[test]
fn ten_thousand_ids_make_one_series() {
    let (mut a, _) = agg(1000);
    let p = process(1, "svc");
    for i in 0..10_000 {
        a.record(&http(&p, Role::Server, &format!("/users/{i}"), 200, 0.01), 0);
    }
    assert_eq!(a.series(), 1);
}

#[test]
fn series_beyond_the_cap_go_to_the_overflow_series() {
    let (mut a, stats) = agg(5);
    let p = process(1, "svc");
    for i in 0..50 {
        a.record(&http(&p, Role::Server, &format!("/page-{}", char::from(b'a' + (i % 26) as u8)), 200, 0.01), 0);
    }
    let r = a.collect(1, Temporality::Cumulative, |_| true);
    let pts = histograms(&r, "http.server.request.duration");
    assert_eq!(pts.len(), 6, "5 series and the overflow series");
    let overflow: Vec<_> =
        pts.iter().filter(|p| attr(p, "otel.metric.overflow") == Some(&AttrValue::Bool(true))).collect();
    assert_eq!(overflow.len(), 1);
    let total: u64 = pts.iter().map(|p| p.hist.count()).sum();
    assert_eq!(total, 50, "nothing is lost in overflow");
    assert_eq!(stats.metric_series_overflow.get(), overflow[0].hist.count());
}

#[test]
fn delta_starts_over_and_cumulative_keeps_counting() {
    for (t, second) in [(Temporality::Delta, 1), (Temporality::Cumulative, 3)] {
        let (mut a, _) = agg(10);
        let p = process(1, "svc");
        a.record(&http(&p, Role::Client, "/x", 200, 0.01), 0);
        a.record(&http(&p, Role::Client, "/x", 200, 0.01), 0);
        let first = a.collect(100, t, |_| true);
        assert_eq!(histograms(&first, "http.client.request.duration")[0].hist.count(), 2);
        a.record(&http(&p, Role::Client, "/y", 200, 0.01), 200);
        let r = a.collect(300, t, |_| true);
        let pts = histograms(&r, "http.client.request.duration");
        assert_eq!(pts.iter().map(|p| p.hist.count()).sum::<u64>(), second, "{t:?}");
        let start = pts[0].start_unix_ns;
        assert_eq!(start, if t == Temporality::Delta { 100 } else { 0 });
        assert_eq!(attr(pts[0], "server.address"), Some(&AttrValue::Str("example".into())));
        assert!(attr(pts[0], "http.route").is_none(), "client metrics have no route");
    }
}

#[test]
fn services_get_their_own_resource_and_dead_ones_are_forgotten() {
    let (mut a, _) = agg(10);
    let (p1, p2) = (process(1, "one"), process(2, "two"));
    a.record(&http(&p1, Role::Server, "/", 200, 0.01), 0);
    a.record(&http(&p2, Role::Server, "/", 200, 0.01), 0);
    let r = a.collect(1, Temporality::Cumulative, |p| p.pid.0 == 1);
    let mut names: Vec<&str> = r.iter().map(|rm| &*rm.service).collect();
    names.sort();
    assert_eq!(names, ["one", "two"], "a dead service is reported a last time");
    assert_eq!(a.services(), 1);
}

#[test]
fn rpc_names_follow_the_opt_in() {
    let stats = Arc::new(Stats::default());
    let mut a = RedAggregator::new(RedConfig { series_cap: 10, rpc_semconv: RpcSemconv::Dup }, stats);
    let p = process(1, "svc");
    let mut s = http(&p, Role::Server, "/", 200, 0.02);
    s.kind = SampleKind::Rpc { system: "grpc", method: "pkg.Greeter/Hello".into(), code: Some(GrpcCode::NotFound) };
    a.record(&s, 0);
    let r = a.collect(1, Temporality::Cumulative, |_| true);
    let new = histograms(&r, "rpc.server.call.duration");
    assert_eq!(attr(new[0], "rpc.method"), Some(&AttrValue::Str("pkg.Greeter/Hello".into())));
    assert_eq!(attr(new[0], "rpc.response.status_code"), Some(&AttrValue::Str("NOT_FOUND".into())));
    let old = histograms(&r, "rpc.server.duration");
    assert_eq!(attr(old[0], "rpc.service"), Some(&AttrValue::Str("pkg.Greeter".into())));
    assert_eq!(attr(old[0], "rpc.grpc.status_code"), Some(&AttrValue::Int(5)));
    assert!((old[0].hist.sum() - 20.0).abs() < 1e-9, "milliseconds");
    assert_eq!(old[0].hist.bucket_counts(), new[0].hist.bucket_counts());
}
