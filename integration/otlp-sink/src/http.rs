//! OTLP/HTTP (binary protobuf) receiver: `POST /v1/traces`, `POST /v1/logs` and `POST /v1/metrics`.
//!
//! hyper's HTTP/1.1 server handles framing (Content-Length and chunked
//! request bodies, keep-alive).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::{Protocol, State, MAX_MESSAGE_BYTES};

const PROTOBUF: &str = "application/x-protobuf";

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // e.g. EMFILE: back off briefly instead of spinning.
                        eprintln!("otlp-sink: http accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let state = state.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(req, &state).await) }
                    });
                    // Connection-level errors (client hung up mid-request...) are the
                    // client's problem; the request was not recorded.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
    conns.shutdown().await;
    Ok(())
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means "stop".
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(msg.into())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    resp
}

async fn handle(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    match export(req, state).await {
        Ok(resp) => resp,
        Err((status, msg)) => text(status, msg),
    }
}

type HttpError = (StatusCode, String);

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn export(req: Request<Incoming>, state: &State) -> Result<Response<Full<Bytes>>, HttpError> {
    let path = req.uri().path().to_owned();
    if !matches!(path.as_str(), "/v1/traces" | "/v1/logs" | "/v1/metrics") {
        return Err((StatusCode::NOT_FOUND, "only /v1/traces, /v1/logs and /v1/metrics are served\n".into()));
    }
    if req.method() != Method::POST {
        return Err((StatusCode::METHOD_NOT_ALLOWED, "use POST\n".into()));
    }
    let content_type = header_str(&req, header::CONTENT_TYPE).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case(PROTOBUF) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-type {content_type:?} unsupported; use {PROTOBUF}\n"),
        ));
    }
    if let Some(enc) = header_str(&req, header::CONTENT_ENCODING) {
        if !enc.eq_ignore_ascii_case("identity") {
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("content-encoding {enc:?} unsupported\n")));
        }
    }
    let body = Limited::new(req.into_body(), MAX_MESSAGE_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n"))
            } else {
                (StatusCode::BAD_REQUEST, format!("reading body: {e}\n"))
            }
        })?
        .to_bytes();
    let bad = |e: prost::DecodeError| (StatusCode::BAD_REQUEST, format!("bad protobuf: {e}\n"));
    let reply = if path == "/v1/logs" {
        state.ingest_logs(&ExportLogsServiceRequest::decode(body).map_err(bad)?, Protocol::Http);
        ExportLogsServiceResponse::default().encode_to_vec()
    } else if path == "/v1/metrics" {
        state.ingest_metrics(&ExportMetricsServiceRequest::decode(body).map_err(bad)?, Protocol::Http);
        ExportMetricsServiceResponse::default().encode_to_vec()
    } else {
        let decoded = ExportTraceServiceRequest::decode(body).map_err(bad)?;
        state.ingest(&decoded, Protocol::Http).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")))?;
        ExportTraceServiceResponse::default().encode_to_vec()
    };
    let mut resp = Response::new(Full::new(Bytes::from(reply)));
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(PROTOBUF));
    Ok(resp)
}
