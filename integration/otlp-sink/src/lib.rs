//! A real OTLP receiver (traces, logs, metrics) for integration tests.
//!
//! [`Sink`] accepts `ExportTraceServiceRequest`s over OTLP/gRPC and over
//! OTLP/HTTP with protobuf bodies (`POST /v1/traces`), log and metric exports likewise
//! (`/v1/logs`, `/v1/metrics`), and keeps everything it
//! received in memory (optionally also appending them as JSON lines to a file).

mod http;
mod log;
mod metric;
mod span;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

pub use log::{flatten_logs, ReceivedLog};
pub use metric::{flatten_metrics, PointValue, ReceivedPoint, Temporality};
/// Re-exported so test harnesses depending on this crate can parse JSON
/// (e.g. the agent's `spanwire_stats {json}` line) without another dependency.
pub use serde_json;
pub use span::{
    flatten, hex, AnyValueLite, Protocol, ReceivedSpan, SPAN_KIND_CLIENT, SPAN_KIND_SERVER, STATUS_ERROR, STATUS_UNSET,
};

/// Largest accepted request body / gRPC message.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// How long [`Sink::shutdown`] lets open connections drain.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Where a [`Sink`] listens, and whether it mirrors spans to a JSON-lines file.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// Appends one JSON object per received span to this file.
    pub jsonl: Option<PathBuf>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        SinkConfig { grpc: any, http: any, jsonl: None }
    }
}

/// Shared between the gRPC service, the HTTP server and the [`Sink`] handle.
#[derive(Debug)]
struct State {
    spans: Mutex<Vec<ReceivedSpan>>,
    logs: Mutex<Vec<ReceivedLog>>,
    metrics: Mutex<Vec<ReceivedPoint>>,
    requests: AtomicUsize,
    metric_requests: AtomicUsize,
    jsonl: Option<Mutex<File>>,
    changed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Records every span of `req`. Fails only if the JSON-lines file cannot be written.
    fn ingest(&self, req: &ExportTraceServiceRequest, via: Protocol) -> anyhow::Result<()> {
        let spans = flatten(req, via);
        if let Some(file) = &self.jsonl {
            let mut buf = Vec::new();
            for s in &spans {
                serde_json::to_writer(&mut buf, &s.to_json())?;
                buf.push(b'\n');
            }
            let mut f = lock(file);
            f.write_all(&buf).context("writing jsonl")?;
            f.flush().context("flushing jsonl")?;
        }
        lock(&self.spans).extend(spans);
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        Ok(())
    }
}

impl State {
    fn ingest_logs(&self, req: &ExportLogsServiceRequest, via: Protocol) {
        lock(&self.logs).extend(flatten_logs(req, via));
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn ingest_metrics(&self, req: &ExportMetricsServiceRequest, via: Protocol) {
        lock(&self.metrics).extend(flatten_metrics(req, via));
        self.metric_requests.fetch_add(1, Ordering::SeqCst);
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

struct GrpcService(Arc<State>);

#[tonic::async_trait]
impl LogsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.ingest_logs(request.get_ref(), Protocol::Grpc);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.ingest_metrics(request.get_ref(), Protocol::Grpc);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.ingest(request.get_ref(), Protocol::Grpc).map_err(|e| tonic::Status::internal(format!("{e:#}")))?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A running OTLP receiver. Dropping it stops both servers.
#[derive(Debug)]
pub struct Sink {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Sink {
    /// Starts a sink on free ports of 127.0.0.1.
    pub async fn start() -> anyhow::Result<Sink> {
        Sink::start_with(SinkConfig::default()).await
    }

    /// Starts a sink on the given addresses (port 0 picks a free port).
    pub async fn start_on(grpc: SocketAddr, http: SocketAddr) -> anyhow::Result<Sink> {
        Sink::start_with(SinkConfig { grpc, http, jsonl: None }).await
    }

    /// Starts a sink; both listeners are bound (and accepting) when this returns.
    pub async fn start_with(config: SinkConfig) -> anyhow::Result<Sink> {
        let jsonl = match &config.jsonl {
            Some(path) => Some(Mutex::new(
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            )),
            None => None,
        };
        let state = Arc::new(State {
            spans: Mutex::new(Vec::new()),
            logs: Mutex::new(Vec::new()),
            metrics: Mutex::new(Vec::new()),
            requests: AtomicUsize::new(0),
            metric_requests: AtomicUsize::new(0),
            jsonl,
            changed: Notify::new(),
        });
        let grpc_listener = TcpListener::bind(config.grpc)
            .await
            .with_context(|| format!("binding gRPC listener on {}", config.grpc))?;
        let http_listener = TcpListener::bind(config.http)
            .await
            .with_context(|| format!("binding HTTP listener on {}", config.http))?;
        let grpc_addr = grpc_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);

        let service = TraceServiceServer::new(GrpcService(state.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let logs_service =
            LogsServiceServer::new(GrpcService(state.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let metrics_service =
            MetricsServiceServer::new(GrpcService(state.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let mut grpc_stop = stop_rx.clone();
        let grpc_task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .add_service(logs_service)
                .add_service(metrics_service)
                .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(grpc_listener), async move {
                    let _ = grpc_stop.wait_for(|stopped| *stopped).await;
                })
                .await
                .context("gRPC server")
        });
        let http_task = tokio::spawn(http::serve(http_listener, state.clone(), stop_rx));

        Ok(Sink { grpc_addr, http_addr, state, stop, tasks: vec![grpc_task, http_task] })
    }

    /// `http://<grpc_addr>`, suitable for `OTEL_EXPORTER_OTLP_ENDPOINT` with protocol `grpc`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://<http_addr>` (base URL; exporters append `/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        lock(&self.state.spans).clone()
    }

    /// Every log record received so far, in arrival order.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        lock(&self.state.logs).clone()
    }

    /// Every metric data point received so far, in arrival order.
    pub fn metrics(&self) -> Vec<ReceivedPoint> {
        lock(&self.state.metrics).clone()
    }

    /// Number of metric export requests received so far (both protocols).
    pub fn metric_requests(&self) -> usize {
        self.state.metric_requests.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` metric export requests were received.
    pub async fn wait_for_metric_requests(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<ReceivedPoint>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.metric_requests() >= n {
                return Ok(self.metrics());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!(
                    "timed out after {timeout:?} waiting for {n} metric exports; have {}",
                    self.metric_requests()
                );
            }
        }
    }

    /// Number of export requests received so far (both protocols).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` spans were received; returns all spans then.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<ReceivedSpan>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let spans = self.spans();
            if spans.len() >= n {
                return Ok(spans);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                anyhow::bail!("timed out after {timeout:?} waiting for {n} spans; have {}", spans.len());
            }
        }
    }

    /// Stops both servers and waits (briefly) for them to finish. Spans
    /// received so far stay readable.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        for mut task in self.tasks.drain(..) {
            // Graceful shutdown waits for clients to hang up; don't wait forever.
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(joined) => joined.context("sink task panicked")??,
                Err(_) => task.abort(),
            }
        }
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
