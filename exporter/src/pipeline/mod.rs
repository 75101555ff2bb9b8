//! The processing stage: kernel events -> connection table -> HTTP exchanges -> spans.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::clock::monotonic_ns;
use crate::conn::{Conn, ConnAddrs, ConnKey, ConnTable};
use crate::decorate::process::ProcessCache;
use crate::ebpf::records::{EventKind, RawEvent};
use crate::request::http1::{Exchange, Http1Limits, Http1Stats};
use crate::request::Segment;
use crate::signals::traces::HttpSpan;
use crate::stats::Stats;

pub struct Processor {
    conns: ConnTable,
    procs: ProcessCache,
    stats: Arc<Stats>,
    http_stats: Http1Stats,
    reported: Http1Stats,
    idle_timeout: Duration,
    last_sweep_ns: u64,
}

const SWEEP_EVERY_NS: u64 = 10_000_000_000;

impl Processor {
    pub fn new(max_conns: usize, limits: Http1Limits, idle_timeout: Duration, stats: Arc<Stats>) -> Self {
        Processor {
            conns: ConnTable::new(max_conns, limits),
            procs: ProcessCache::new("/proc"),
            stats,
            http_stats: Http1Stats::default(),
            reported: Http1Stats::default(),
            idle_timeout,
            last_sweep_ns: monotonic_ns(),
        }
    }

    /// Runs until the event channel closes; spans go to `tx` (dropped and counted when full).
    pub async fn run(mut self, mut rx: mpsc::Receiver<Vec<RawEvent>>, tx: mpsc::Sender<Vec<HttpSpan>>) {
        while let Some(batch) = rx.recv().await {
            let spans = self.process_batch(batch);
            self.send(&tx, spans);
            let now = monotonic_ns();
            if now.saturating_sub(self.last_sweep_ns) > SWEEP_EVERY_NS {
                self.last_sweep_ns = now;
                self.sweep(now);
            }
        }
        // Shutdown: requests still waiting for a response are not spans; count them.
        for conn in self.conns.drain() {
            self.http_stats.dropped_requests += conn.http1.pending_requests() as u64;
        }
        self.report_http_stats();
    }

    fn send(&self, tx: &mpsc::Sender<Vec<HttpSpan>>, spans: Vec<HttpSpan>) {
        if spans.is_empty() {
            return;
        }
        let n = spans.len() as u64;
        self.stats.spans_created.add(n);
        match tx.try_send(spans) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.spans_queue_dropped.lost(n, "export queue full: spans dropped (collector too slow?)")
            }
            Err(TrySendError::Closed(_)) => self.stats.spans_queue_dropped.add(n),
        }
    }

    pub fn process_batch(&mut self, batch: Vec<RawEvent>) -> Vec<HttpSpan> {
        let mut spans = Vec::new();
        let mut exchanges = Vec::new();
        for ev in batch {
            let key = ConnKey { pid: ev.pid, sock: ev.sock };
            match ev.kind {
                EventKind::Data => {
                    let Some(dir) = ev.direction else { continue };
                    let (conn, displaced) = self.conns.entry(key, ev.tuple, ev.exit_ns);
                    let addrs = conn.addrs.clone();
                    if !conn.http1.is_opaque() {
                        let seg = Segment {
                            data: &ev.payload,
                            len: u64::try_from(ev.ret).unwrap_or(0),
                            enter_ns: ev.enter_ns,
                            exit_ns: ev.exit_ns,
                        };
                        conn.http1.feed(dir, &seg, &mut exchanges, &mut self.http_stats);
                    }
                    if let Some(old) = displaced {
                        self.finish(old, ev.exit_ns, &ev, &mut spans);
                    }
                    self.emit(&ev, &addrs, &mut exchanges, &mut spans);
                }
                EventKind::Connect | EventKind::Accept => {
                    // A new connection on this socket: whatever was tracked under it is over.
                    if let Some(old) = self.conns.remove(&key) {
                        self.finish(old, ev.exit_ns, &ev, &mut spans);
                    }
                    let (_, displaced) = self.conns.entry(key, ev.tuple, ev.exit_ns);
                    if let Some(old) = displaced {
                        self.finish(old, ev.exit_ns, &ev, &mut spans);
                    }
                    // Resolve the process now, while it surely exists.
                    self.procs.get(ev.pid, &ev.comm);
                }
                EventKind::Close => {
                    if let Some(old) = self.conns.remove(&key) {
                        self.finish(old, ev.exit_ns, &ev, &mut spans);
                    }
                }
            }
        }
        self.report_http_stats();
        spans
    }

    /// Closes a connection's protocol state and turns what completes into spans.
    fn finish(&mut self, mut conn: Conn, ts_ns: u64, ev: &RawEvent, spans: &mut Vec<HttpSpan>) {
        let mut exchanges = Vec::new();
        conn.http1.close(ts_ns, &mut exchanges, &mut self.http_stats);
        self.emit(ev, &conn.addrs, &mut exchanges, spans);
    }

    fn emit(&mut self, ev: &RawEvent, addrs: &ConnAddrs, exchanges: &mut Vec<Exchange>, spans: &mut Vec<HttpSpan>) {
        if exchanges.is_empty() {
            return;
        }
        let process = self.procs.get(ev.pid, &ev.comm);
        for exchange in exchanges.drain(..) {
            spans.push(HttpSpan { exchange, process: process.clone(), addrs: addrs.clone(), tid: ev.tid });
        }
    }

    /// Evicts idle connections (their pending requests are counted as dropped) and exited processes.
    fn sweep(&mut self, now_ns: u64) {
        let cutoff = now_ns.saturating_sub(self.idle_timeout.as_nanos() as u64);
        let idle = self.conns.evict_idle(cutoff);
        self.stats.conn_evicted.add(idle.len() as u64);
        for conn in idle {
            self.http_stats.dropped_requests += conn.http1.pending_requests() as u64;
        }
        self.procs.sweep();
        self.report_http_stats();
    }

    /// Moves HTTP parser counters into the shared stats (as deltas), logging each kind once.
    fn report_http_stats(&mut self) {
        let (now, before) = (self.http_stats, self.reported);
        let s = &self.stats;
        s.http_parse_errors.lost(now.parse_errors - before.parse_errors, "unparseable HTTP/1 traffic");
        s.http_unmatched_responses
            .lost(now.unmatched_responses - before.unmatched_responses, "HTTP responses without a request");
        s.http_unmatched_requests
            .lost(now.dropped_requests - before.dropped_requests, "HTTP requests without a response were dropped");
        s.http_skipped_segments.add(now.skipped_segments - before.skipped_segments);
        s.http_lost_sync
            .lost(now.lost_sync - before.lost_sync, "HTTP body framing lost to the capture limit (span end inferred)");
        self.reported = now;
    }
}
