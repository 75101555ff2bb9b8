//! Exports spans to the sink with the real `opentelemetry-otlp` exporter over
//! both protocols, and exercises the HTTP framing and the binary by hand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol as OtlpProtocol, WithExportConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;
use otlp_sink::{AnyValueLite, Protocol, ReceivedSpan, Sink, SPAN_KIND_CLIENT, SPAN_KIND_SERVER};
use prost::Message;

const TRACE_ID: u128 = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10;
const T0: u64 = 1_700_000_000_000_000_000;

fn span_data(span_id: u64, kind: SpanKind, name: &'static str, status: Status) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(TRACE_ID),
            SpanId::from(span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: kind,
        name: name.into(),
        start_time: UNIX_EPOCH + Duration::from_nanos(T0 + span_id),
        end_time: UNIX_EPOCH + Duration::from_nanos(T0 + span_id + 1_500),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 503_i64),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("flag", true),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder("sink-test-scope").build(),
    }
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("sink-test")
        .with_attribute(KeyValue::new("process.pid", 4242_i64))
        .build()
}

fn assert_exported(spans: &[ReceivedSpan], via: Protocol) {
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let server = &spans[0];
    assert_eq!(server.via, via);
    assert_eq!(server.name, "GET /a");
    assert_eq!(server.kind, SPAN_KIND_SERVER);
    assert_eq!(server.scope, "sink-test-scope");
    assert_eq!(server.trace_id, TRACE_ID.to_be_bytes());
    assert_eq!(server.span_id, 7_u64.to_be_bytes());
    assert!(server.parent_span_id.is_empty());
    assert_eq!(server.start_unix_nano, T0 + 7);
    assert_eq!(server.end_unix_nano, T0 + 7 + 1_500);
    assert_eq!(server.duration_nanos(), Some(1_500));
    assert_eq!(server.status_code, otlp_sink::STATUS_ERROR);
    assert_eq!(server.service_name(), "sink-test");
    assert_eq!(server.resource_int("process.pid"), Some(4242));
    assert_eq!(server.attr_str("http.request.method"), Some("GET"));
    assert_eq!(server.attr_int("http.response.status_code"), Some(503));
    assert_eq!(server.attr("ratio"), Some(&AnyValueLite::Double(0.5)));
    assert_eq!(server.attr("flag"), Some(&AnyValueLite::Bool(true)));
    assert_eq!(server.attributes.len(), 4);

    let client = &spans[1];
    assert_eq!(client.kind, SPAN_KIND_CLIENT);
    assert_eq!(client.name, "GET");
    assert_eq!(client.span_id, 8_u64.to_be_bytes());
    assert_eq!(client.status_code, otlp_sink::STATUS_UNSET);
    assert_eq!(client.via, via);
}

fn batch() -> Vec<SpanData> {
    let error = Status::Error { description: "boom".into() };
    vec![span_data(7, SpanKind::Server, "GET /a", error), span_data(8, SpanKind::Client, "GET", Status::Unset)]
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_exporter_spans_arrive() -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let mut exporter =
        opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(sink.grpc_endpoint()).build()?;
    exporter.set_resource(&resource());
    exporter.export(batch()).await?;
    assert_eq!(sink.requests(), 1);
    assert_exported(&sink.spans(), Protocol::Grpc);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn http_proto_exporter_spans_arrive() -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(OtlpProtocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", sink.http_endpoint()))
        .build()?;
    exporter.set_resource(&resource());
    exporter.export(batch()).await?;
    exporter.export(batch()).await?;
    assert_eq!(sink.requests(), 2);
    let spans = sink.wait_for_spans(4, Duration::from_secs(5)).await?;
    assert_exported(&spans[..2], Protocol::Http);
    assert_exported(&spans[2..], Protocol::Http);
    Ok(())
}

fn hand_made_request(name: &str) -> Vec<u8> {
    let kv = |k: &str, v: any_value::Value| ProtoKeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(ProtoResource {
                attributes: vec![kv("service.name", any_value::Value::StringValue("raw".into()))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![ProtoSpan {
                    name: name.to_owned(),
                    kind: SPAN_KIND_SERVER,
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    attributes: vec![kv("url.path", any_value::Value::StringValue("/x".into()))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Sends one raw HTTP/1.1 request and returns (status line, headers+body).
fn raw_http(addr: std::net::SocketAddr, head: &str, body_parts: &[&[u8]]) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(head.as_bytes())?;
    for part in body_parts {
        s.write_all(part)?;
        s.flush()?;
    }
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    Ok(String::from_utf8_lossy(&resp).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn http_accepts_chunked_and_content_length_bodies() -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let addr = sink.http_addr;
    let body = hand_made_request("chunked");
    let (a, b) = body.split_at(body.len() / 2);
    let chunk = |c: &[u8]| [format!("{:x}\r\n", c.len()).into_bytes(), c.to_vec(), b"\r\n".to_vec()].concat();
    let (ca, cb) = (chunk(a), chunk(b));
    let head = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let resp = tokio::task::spawn_blocking(move || raw_http(addr, head, &[&ca, &cb, b"0\r\n\r\n"])).await??;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("content-length: 0\r\n"), "{resp}");

    let body = hand_made_request("sized");
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let resp = tokio::task::spawn_blocking(move || raw_http(addr, &head, &[&body])).await??;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");

    let spans = sink.spans();
    let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["chunked", "sized"]);
    assert_eq!(spans[0].service_name(), "raw");
    assert_eq!(spans[0].attr_str("url.path"), Some("/x"));
    assert_eq!(spans[0].trace_id, [1; 16]);
    assert_eq!(sink.requests(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn http_rejects_bad_requests() -> anyhow::Result<()> {
    let sink = Sink::start().await?;
    let addr = sink.http_addr;
    let cases: [(&str, &[u8], &str); 4] = [
        ("GET /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"", "405"),
        ("POST /v1/profiles HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", b"", "404"),
        (
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n",
            b"{}",
            "415",
        ),
        (
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\n",
            b"\xff\xff\xff",
            "400",
        ),
    ];
    for (head, body, code) in cases {
        let resp = tokio::task::spawn_blocking(move || raw_http(addr, head, &[body])).await??;
        assert!(resp.starts_with(&format!("HTTP/1.1 {code} ")), "{head:?}: {resp}");
    }
    assert_eq!(sink.requests(), 0);
    assert!(sink.spans().is_empty());
    Ok(())
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() > deadline {
            bail!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_prints_readiness_writes_jsonl_and_exits_on_sigterm() -> anyhow::Result<()> {
    let jsonl = std::env::temp_dir().join(format!(
        "otlp-sink-test-{}-{}.jsonl",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()
    ));
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_otlp-sink"))
            .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--jsonl"])
            .arg(&jsonl)
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().context("stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(10))?;
    let http = ready
        .strip_prefix("otlp-sink listening grpc=")
        .and_then(|rest| rest.split_once(" http="))
        .with_context(|| format!("bad readiness line {ready:?}"))?
        .1
        .to_owned();

    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(OtlpProtocol::HttpBinary)
        .with_endpoint(format!("http://{http}/v1/traces"))
        .build()?;
    exporter.set_resource(&resource());
    exporter.export(batch()).await?;

    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    ensure!(rc == 0, "kill failed");
    let status = wait_exit(&mut child.0, Duration::from_secs(10))?;
    assert!(status.success(), "{status}");
    let last = rx.recv_timeout(Duration::from_secs(5))?;
    assert_eq!(last, "otlp-sink spans=2 requests=1 logs=0");

    let lines = std::fs::read_to_string(&jsonl)?;
    std::fs::remove_file(&jsonl)?;
    let parsed: Vec<otlp_sink::serde_json::Value> =
        lines.lines().map(otlp_sink::serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0]["name"], "GET /a");
    assert_eq!(parsed[0]["kind"], 2);
    assert_eq!(parsed[0]["via"], "http");
    assert_eq!(parsed[0]["trace_id"], "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(parsed[0]["span_id"], "0000000000000007");
    assert_eq!(parsed[0]["resource"]["service.name"], "sink-test");
    assert_eq!(parsed[0]["attributes"]["http.response.status_code"], 503);
    assert_eq!(parsed[1]["name"], "GET");
    Ok(())
}
