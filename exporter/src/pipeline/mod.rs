//! The processing stage: kernel events -> connection table -> HTTP/1, HTTP/2 and gRPC calls -> spans.

mod requests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aya::maps::{HashMap as BpfHashMap, MapData};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::clock::monotonic_ns;
use crate::conn::{Conn, ConnAddrs, ConnKey, ConnTable, Displaced, Proto, ProtoLimits};
use crate::decorate::process::ProcessCache;
use crate::decorate::runtime;
use crate::ebpf::records::{EventKind, Pid, ProcStart, RawEvent};
use crate::fast_map::FastSet;
use crate::request::{Call, Direction, Segment};
use crate::signals::logs::{detect_level, split_lines, Level, LogLine};
use crate::signals::route::RouteCache;
use crate::signals::traces::HttpSpan;
use crate::signals::Telemetry;
use crate::stats::Stats;
use crate::trace::{Linker, SpanIds};
use requests::{Calls, Feeder, ProtoStats};

pub struct Processor {
    conns: ConnTable,
    procs: ProcessCache,
    calls: Calls,
    stats: Arc<Stats>,
    reported: ProtoStats,
    /// `link_ambiguous_total` already reported.
    reported_ambiguous: u64,
    idle_timeout: Duration,
    last_sweep_ns: u64,
    /// Events not processed yet: the newest are held back for `REORDER_WINDOW_NS`.
    held: Vec<RawEvent>,
    logs: Option<LogSettings>,
    /// RED metrics, recorded from every request that becomes a span.
    metrics: Option<Arc<crate::metrics::red::RedRecorder>>,
    /// The kernel's `wide_socks` map: HTTP/2 connections get a larger capture.
    wide_socks: Option<BpfHashMap<MapData, u64, u8>>,
    routes: RouteCache,
}

/// stdout/stderr capture: which processes the kernel captures, and how lines are cut.
pub struct LogSettings {
    /// The kernel's `log_pids` map: the agent adds each process it observes.
    pub pids: BpfHashMap<MapData, u32, u8>,
    pub known: FastSet<Pid>,
    pub max_line_bytes: usize,
    pub max_lines_per_write: usize,
    pub failed_requests: bool,
}

/// The process a connection's telemetry belongs to.
#[derive(Clone, Copy)]
struct Owner<'a> {
    pid: Pid,
    /// Unknown for a connection another event pushed out of the table.
    start: Option<ProcStart>,
    /// The kernel's thread name, for a process /proc no longer shows.
    comm: &'a str,
}

impl<'a> Owner<'a> {
    fn of(ev: &'a RawEvent) -> Self {
        Owner { pid: ev.pid, start: Some(ev.start), comm: &ev.comm }
    }
}

const SWEEP_EVERY_NS: u64 = 10_000_000_000;
/// Events reach the ring buffer at syscall *exit*, so a server's read can arrive before the
/// client's write that sent the bytes (which may still be returning on another CPU), even in
/// a later batch. Holding the newest events this long and processing in `effective_ns`
/// order makes the client's request start come first whenever its write returned within
/// the window.
const REORDER_WINDOW_NS: u64 = 2_000_000;
const REORDER_TICK: Duration = Duration::from_millis(5);

/// When the event's bytes existed for the process: a write's data at its enter, a read's at
/// its exit. Processing in this order lets a client's request start be seen before the
/// server (another process, maybe another CPU) reads it.
fn effective_ns(ev: &RawEvent) -> u64 {
    match (ev.kind, ev.direction) {
        (EventKind::Data, Some(Direction::Egress)) => ev.enter_ns,
        _ => ev.exit_ns,
    }
}

impl Processor {
    pub fn new(
        max_conns: usize,
        limits: ProtoLimits,
        idle_timeout: Duration,
        stats: Arc<Stats>,
        logs: Option<LogSettings>,
        wide_socks: Option<BpfHashMap<MapData, u64, u8>>,
    ) -> Self {
        Processor {
            conns: ConnTable::new(max_conns),
            procs: ProcessCache::new("/proc"),
            calls: Calls {
                linker: Linker::new(max_conns)
                    .with_threads_move(Box::new(|pid| runtime::is_go_process(Path::new("/proc"), pid))),
                limits,
                stats: ProtoStats::default(),
            },
            stats,
            reported: ProtoStats::default(),
            reported_ambiguous: 0,
            idle_timeout,
            last_sweep_ns: monotonic_ns(),
            held: Vec::new(),
            logs,
            metrics: None,
            wide_socks,
            routes: RouteCache::default(),
        }
    }

    /// Replaces the process cache (e.g. one that adds Kubernetes pod metadata).
    pub fn with_process_cache(mut self, procs: ProcessCache) -> Self {
        self.procs = procs;
        self
    }

    pub fn with_metrics(self, metrics: Option<Arc<crate::metrics::red::RedRecorder>>) -> Self {
        Processor { metrics, ..self }
    }

    /// Runs until the event channel closes; spans go to `tx` (dropped and counted when full).
    pub async fn run(mut self, mut rx: mpsc::Receiver<Vec<RawEvent>>, tx: mpsc::Sender<Vec<Telemetry>>) {
        let mut tick = tokio::time::interval(REORDER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let batch = tokio::select! {
                b = rx.recv() => match b {
                    Some(b) => b,
                    None => break,
                },
                _ = tick.tick() => Vec::new(),
            };
            let mut spans = self.process_batch(batch);
            let now = monotonic_ns();
            if now.saturating_sub(self.last_sweep_ns) > SWEEP_EVERY_NS {
                self.last_sweep_ns = now;
                self.sweep(now, &mut spans);
            }
            self.send(&tx, spans);
        }
        let mut spans = self.process_until(u64::MAX);
        // Shutdown: connections still open are abandoned like idle ones.
        for (key, conn) in self.conns.drain() {
            self.abandon(key.pid, conn, monotonic_ns(), &mut spans);
        }
        self.send(&tx, spans);
        self.report_http_stats();
    }

    fn send(&self, tx: &mpsc::Sender<Vec<Telemetry>>, items: Vec<Telemetry>) {
        if items.is_empty() {
            return;
        }
        let spans = items.iter().filter(|t| matches!(t, Telemetry::Span(_))).count() as u64;
        let logs = items.len() as u64 - spans;
        self.stats.spans_created.add(spans);
        self.stats.logs_created.add(logs);
        match tx.try_send(items) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.spans_queue_dropped.lost(spans, "export queue full: spans dropped (collector too slow?)");
                self.stats.log_lines_dropped.lost(logs, "export queue full: log records dropped");
            }
            Err(TrySendError::Closed(_)) => {
                self.stats.spans_queue_dropped.add(spans);
                self.stats.log_lines_dropped.add(logs);
            }
        }
    }

    /// Takes a batch from the reader and processes every held event older than the window.
    pub fn process_batch(&mut self, batch: Vec<RawEvent>) -> Vec<Telemetry> {
        if self.held.is_empty() {
            self.held = batch; // no copy of the events when nothing was held back
        } else {
            self.held.extend(batch);
        }
        self.process_until(monotonic_ns().saturating_sub(REORDER_WINDOW_NS))
    }

    fn process_until(&mut self, cutoff_ns: u64) -> Vec<Telemetry> {
        if self.held.is_empty() {
            return Vec::new();
        }
        self.held.sort_by_key(effective_ns);
        let ready = self.held.partition_point(|e| effective_ns(e) <= cutoff_ns);
        // Taken out of `self` so the ready events are read in place while `self` is updated.
        let mut held = std::mem::take(&mut self.held);
        let mut spans = Vec::with_capacity(ready / 2);
        for ev in &held[..ready] {
            let key = ConnKey { pid: ev.pid, sock: ev.sock };
            if ev.kind != EventKind::Log {
                self.watch_logs(ev.pid);
            }
            match ev.kind {
                EventKind::Log => self.on_log(ev, &mut spans),
                EventKind::Data => self.on_data(ev, key, &mut spans),
                EventKind::Connect | EventKind::Accept => {
                    // A new connection on this socket: whatever was tracked under it is over.
                    if let Some(old) = self.conns.remove(&key) {
                        self.finish(Owner::of(ev), old, ev.exit_ns, &mut spans);
                    }
                    let (_, displaced) = self.conns.entry(key, ev.tuple, ev.exit_ns);
                    self.close_displaced(displaced, ev, &mut spans);
                    // Resolve the process now, while it surely exists.
                    self.procs.get(ev.pid, Some(ev.start), &ev.comm);
                }
                EventKind::Close => {
                    if let Some(old) = self.conns.remove(&key) {
                        self.finish(Owner::of(ev), old, ev.exit_ns, &mut spans);
                    }
                }
            }
        }
        held.drain(..ready);
        self.held = held;
        self.report_http_stats();
        spans
    }

    /// Asks the kernel to capture stdout/stderr of a newly observed process.
    fn watch_logs(&mut self, pid: Pid) {
        let Some(logs) = &mut self.logs else { return };
        if logs.known.insert(pid) {
            if let Err(e) = logs.pids.insert(pid.0, 1, 0) {
                tracing::debug!(pid = pid.0, error = %e, "cannot watch stdout/stderr");
            }
        }
    }

    fn on_log(&mut self, ev: &RawEvent, out: &mut Vec<Telemetry>) {
        let Some(logs) = &self.logs else { return };
        let write_truncated = (ev.payload.len() as i64) < ev.ret;
        let (lines, skipped) = split_lines(&ev.payload, logs.max_line_bytes, logs.max_lines_per_write);
        self.stats
            .log_lines_dropped
            .lost(skipped as u64, "log lines beyond max_lines_per_write in one write were dropped");
        if lines.is_empty() {
            return;
        }
        let process = self.procs.get(ev.pid, Some(ev.start), &ev.comm);
        let trace = self.calls.linker.serving(ev.pid, ev.tid).cloned();
        let count = lines.len();
        for (i, (body, cut)) in lines.into_iter().enumerate() {
            out.push(Telemetry::Log(LogLine {
                process: process.clone(),
                ts_ns: ev.enter_ns,
                severity: detect_level(&body),
                body,
                source: if ev.fd == 2 { "stderr" } else { "stdout" },
                trace: trace.clone(),
                truncated: cut || (write_truncated && i + 1 == count),
            }));
        }
    }

    fn on_data(&mut self, ev: &RawEvent, key: ConnKey, spans: &mut Vec<Telemetry>) {
        let Some(dir) = ev.direction else { return };
        let (conn, displaced) = self.conns.entry(key, ev.tuple, ev.exit_ns);
        let seg = Segment {
            data: &ev.payload,
            len: u64::try_from(ev.ret).unwrap_or(0),
            enter_ns: ev.enter_ns,
            exit_ns: ev.exit_ns,
        };
        let who = Feeder { pid: ev.pid, tid: ev.tid };
        let mut done = Vec::new();
        self.calls.feed(conn, dir, &seg, who, &mut done);
        if !done.is_empty() {
            conn.shrink_idle(); // a request completed: an idle keep-alive connection holds no queue
        }
        if conn.wide_sock.is_none() && matches!(conn.proto, Proto::Http2(_)) {
            if let Some(map) = &mut self.wide_socks {
                match map.insert(key.sock.0, 1, 0) {
                    Ok(()) => conn.wide_sock = Some(key.sock.0),
                    Err(e) => tracing::debug!(error = %e, "cannot widen the capture of an HTTP/2 connection"),
                }
            }
        }
        let addrs = conn.addrs.clone();
        self.close_displaced(displaced, ev, spans);
        self.emit(Owner::of(ev), &addrs, done, spans);
    }

    /// Closes what `ConnTable::entry` pushed out; an evicted connection may be another process's.
    fn close_displaced(&mut self, displaced: Displaced, ev: &RawEvent, out: &mut Vec<Telemetry>) {
        if let Some(old) = displaced.replaced {
            self.finish(Owner::of(ev), *old, ev.exit_ns, out);
        }
        if let Some(evicted) = displaced.evicted {
            let (key, conn) = *evicted;
            self.stats.conn_evicted.lost(1, "connection table full: least recently active connections evicted");
            // Maybe another process's, or an earlier process's under the same pid.
            let comm = if key.pid == ev.pid { ev.comm.as_str() } else { "unknown" };
            self.finish(Owner { pid: key.pid, start: None, comm }, conn, ev.exit_ns, out);
        }
    }

    /// Closes a connection's protocol state and turns what completes into spans.
    fn finish(&mut self, owner: Owner, mut conn: Conn, ts_ns: u64, out: &mut Vec<Telemetry>) {
        self.unwiden(&conn);
        let mut done = Vec::new();
        self.calls.close(&mut conn, owner.pid, ts_ns, &mut done);
        self.emit(owner, &conn.addrs, done, out);
    }

    /// The connection is gone: its socket leaves `wide_socks` (an LRU map, so a miss only costs space).
    fn unwiden(&mut self, conn: &Conn) {
        if let (Some(sock), Some(map)) = (conn.wide_sock, &mut self.wide_socks) {
            let _ = map.remove(&sock);
        }
    }

    fn emit(&mut self, owner: Owner, addrs: &ConnAddrs, done: Vec<(Call, SpanIds)>, out: &mut Vec<Telemetry>) {
        if done.is_empty() {
            return;
        }
        let process = self.procs.get(owner.pid, owner.start, owner.comm);
        let failed_logs = self.logs.as_ref().is_some_and(|l| l.failed_requests);
        for (call, ids) in done {
            let route = call.server_http_path().map(|path| {
                let (route, collapsed) = self.routes.route(path);
                if collapsed > 0 {
                    self.stats.route_segments_collapsed.add(collapsed as u64);
                }
                route
            });
            let span = HttpSpan { call, process: process.clone(), addrs: addrs.clone(), ids, route };
            if let Some(m) = &self.metrics {
                m.record(&(&span).into());
            }
            if failed_logs && span.failed() {
                out.push(Telemetry::Log(failed_request_log(&span)));
            }
            out.push(Telemetry::Span(span));
        }
    }

    /// A connection the agent stops following while it is still open (idle past the timeout, or
    /// the agent shutting down). An HTTP/1 response whose head was seen ends at its last captured
    /// byte, as at a close: its status is known, and dropping it would leave the peer's span
    /// pointing at a parent never exported. Requests with no response yet (and HTTP/2 streams,
    /// whose end is unknown) are counted as dropped.
    fn abandon(&mut self, pid: Pid, mut conn: Conn, now_ns: u64, out: &mut Vec<Telemetry>) {
        if matches!(conn.proto, Proto::Http1(_)) {
            self.finish(Owner { pid, start: None, comm: "unknown" }, conn, now_ns, out);
            return;
        }
        self.unwiden(&conn);
        self.calls.stats.http1.dropped_requests += conn.proto.pending_requests() as u64;
        self.calls.forget(&mut conn, pid);
    }

    /// Evicts idle connections (see [`Self::abandon`]) and exited processes.
    fn sweep(&mut self, now_ns: u64, out: &mut Vec<Telemetry>) {
        let cutoff = now_ns.saturating_sub(self.idle_timeout.as_nanos() as u64);
        let idle = self.conns.evict_idle(cutoff);
        self.stats.conn_evicted.add(idle.len() as u64);
        for (key, conn) in idle {
            self.abandon(key.pid, conn, now_ns, out);
        }
        self.conns.shrink();
        self.procs.sweep();
        self.calls.linker.retain_processes(alive);
        if let Some(logs) = &mut self.logs {
            let gone: Vec<Pid> = logs.known.iter().copied().filter(|p| !alive(*p)).collect();
            for pid in gone {
                logs.known.remove(&pid);
                let _ = logs.pids.remove(&pid.0);
            }
        }
        self.report_http_stats();
    }

    /// Moves parser and linker counters into the shared stats (as deltas), logging each kind once.
    fn report_http_stats(&mut self) {
        let (now, before) = (self.calls.stats, self.reported);
        let s = &self.stats;
        let (h1, b1) = (now.http1, before.http1);
        s.http_parse_errors.lost(h1.parse_errors - b1.parse_errors, "unparseable HTTP/1 traffic");
        s.http_unmatched_responses
            .lost(h1.unmatched_responses - b1.unmatched_responses, "HTTP responses without a request");
        s.http_unmatched_requests
            .lost(h1.dropped_requests - b1.dropped_requests, "HTTP requests without a response were dropped");
        s.http_skipped_segments.add(h1.skipped_segments - b1.skipped_segments);
        s.http_truncated_heads
            .lost(h1.truncated_heads - b1.truncated_heads, "HTTP/1 heads cut off by the connection closing");
        s.http_lost_sync.lost(
            h1.lost_sync - b1.lost_sync,
            "HTTP body framing lost (capture limit or invalid framing; span end inferred)",
        );
        let (h2, b2) = (now.http2, before.http2);
        s.http2_frame_errors.lost(h2.frame_errors - b2.frame_errors, "invalid HTTP/2 frames");
        s.http2_hpack_errors.lost(h2.hpack_errors - b2.hpack_errors, "undecodable HTTP/2 header blocks (HPACK)");
        s.http2_hpack_desync.lost(
            h2.hpack_desync - b2.hpack_desync,
            "HTTP/2 header compression state lost (capture started mid-connection or a block was not captured): \
             affected attributes are left out",
        );
        s.http2_lost_sync.lost(h2.lost_sync - b2.lost_sync, "HTTP/2 frame boundaries lost to the capture limit");
        s.http2_streams_evicted
            .lost(h2.streams_evicted - b2.streams_evicted, "HTTP/2 streams evicted (stream or memory bound)");
        s.http2_unknown_headers.add(h2.unknown_headers - b2.unknown_headers);
        s.http2_orphan_streams
            .lost(h2.orphan_streams - b2.orphan_streams, "HTTP/2 responses whose request was not seen");
        s.h2c_upgrades.add(now.h2c_upgrades - before.h2c_upgrades);
        self.reported = now;
        let ambiguous = self.calls.linker.ambiguous_total();
        s.link_ambiguous.add(ambiguous - self.reported_ambiguous);
        self.reported_ambiguous = ambiguous;
    }
}

fn alive(pid: Pid) -> bool {
    Path::new(&format!("/proc/{}", pid.0)).exists()
}

/// The log record of a failed request (HTTP server 5xx / client >= 400, gRPC error), carrying the span's ids.
fn failed_request_log(span: &HttpSpan) -> LogLine {
    LogLine {
        process: span.process.clone(),
        ts_ns: span.call.end_ns(),
        body: span.failure_summary(),
        severity: Some(if span.failed_severely() { Level::Error } else { Level::Warn }),
        source: if matches!(span.call, Call::Http2(ref ex) if ex.grpc.is_some()) { "grpc" } else { "http" },
        trace: Some(span.ids.clone()),
        truncated: false,
    }
}
