//! Metric exports over both protocols arrive as flattened data points.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::ensure;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use otlp_sink::{PointValue, Protocol, Sink, Temporality};
use prost::Message;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn request() -> ExportMetricsServiceRequest {
    let hist = Metric {
        name: "http.server.request.duration".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("http.route", "/users/*")],
                start_time_unix_nano: 1,
                time_unix_nano: 2,
                count: 3,
                sum: Some(0.5),
                bucket_counts: vec![1, 2, 0],
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let sum = Metric {
        name: "spanwire.tcp.io".into(),
        unit: "By".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                value: Some(number_data_point::Value::AsInt(1234)),
                ..Default::default()
            }],
            aggregation_temporality: 1,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![kv("service.name", "svc")], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics { metrics: vec![hist, sum], ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn check(sink: &Sink, via: Protocol) -> anyhow::Result<()> {
    let points = sink.metrics();
    ensure!(points.len() == 2, "{points:?}");
    let h = &points[0];
    ensure!(h.via == via && h.resource_str("service.name") == Some("svc"));
    ensure!(h.temporality == Temporality::Cumulative && h.attr_str("http.route") == Some("/users/*"));
    assert_eq!(
        h.value,
        PointValue::Histogram { count: 3, sum: 0.5, bounds: vec![0.1, 1.0], bucket_counts: vec![1, 2, 0] }
    );
    let s = &points[1];
    assert_eq!(s.value, PointValue::Sum { value: 1234.0, monotonic: true });
    ensure!(s.temporality == Temporality::Delta && s.number() == 1234.0);
    assert_eq!(sink.metric_requests(), 1);
    Ok(())
}

#[tokio::test]
async fn grpc_metrics_arrive() -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let mut client = MetricsServiceClient::connect(sink.grpc_endpoint()).await?;
    client.export(request()).await?;
    sink.wait_for_metric_requests(1, Duration::from_secs(5)).await?;
    check(&sink, Protocol::Grpc)
}

#[tokio::test]
async fn http_metrics_arrive_and_bad_bodies_are_rejected() -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let addr = sink.http_addr;
    let post = move |body: Vec<u8>| -> anyhow::Result<String> {
        let mut s = TcpStream::connect(addr)?;
        let head = format!(
            "POST /v1/metrics HTTP/1.1\r\nHost: sink\r\nContent-Type: application/x-protobuf\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes())?;
        s.write_all(&body)?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        Ok(resp)
    };
    let resp = tokio::task::spawn_blocking(move || post(request().encode_to_vec())).await??;
    ensure!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    check(&sink, Protocol::Http)?;
    let resp = tokio::task::spawn_blocking(move || post(vec![0xff, 0xff, 0xff])).await??;
    ensure!(resp.starts_with("HTTP/1.1 400"), "garbage must be a 400: {resp}");
    Ok(())
}
