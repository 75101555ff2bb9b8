//! Between a connection's protocol state and the linker: feeds segments, gives
//! span ids to requests when they start, and pairs completed calls with them.

use crate::conn::{Conn, ConnAddrs, Proto, ProtoLimits, RequestCtx};
use crate::ebpf::records::Pid;
use crate::request::http1::{Exchange, Http1Stats};
use crate::request::http2::{H2cUpgrade, Http2Connection, Http2Stats, StartedStream, StreamExchange};
use crate::request::{Call, Direction, Role, Segment};
use crate::trace::{Linker, SpanIds};

/// Parser counters of every protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtoStats {
    pub http1: Http1Stats,
    pub http2: Http2Stats,
    /// HTTP/1.1 connections that switched to HTTP/2 with `Upgrade: h2c`.
    pub h2c_upgrades: u64,
}

/// Who fed a segment: the process and the thread that made the syscall.
#[derive(Debug, Clone, Copy)]
pub struct Feeder {
    pub pid: Pid,
    pub tid: u32,
}

/// The request tracking of all connections: span identity (the linker), protocol
/// limits and parser counters.
pub struct Calls {
    pub linker: Linker,
    pub limits: ProtoLimits,
    pub stats: ProtoStats,
}

impl Calls {
    /// Feeds one captured segment; completed calls with their span ids go to `out`.
    pub fn feed(
        &mut self,
        conn: &mut Conn,
        dir: Direction,
        seg: &Segment,
        who: Feeder,
        out: &mut Vec<(Call, SpanIds)>,
    ) {
        let Calls { linker, limits, stats } = self;
        conn.proto.detect(seg.data, limits);
        if conn.proto.is_opaque() {
            return;
        }
        match &mut conn.proto {
            Proto::Unknown => {}
            Proto::Http1(h1) => {
                let mut exchanges = Vec::new();
                h1.feed(dir, seg, &mut exchanges, &mut stats.http1);
                start_http1(linker, conn, who);
                let mut rest = None;
                for ex in exchanges {
                    match h2c_upgrade(&ex) {
                        Some(up) => {
                            rest = frames_after_head(seg, dir, &ex);
                            // Stream 1 is this request: it keeps the span ids it started with.
                            stats.h2c_upgrades += 1;
                            drop_older(linker, conn, ex.role, who.pid, ex.request_id);
                            if let Some(ctx) = conn.ctxs.front_mut() {
                                ctx.request_id = 1;
                            }
                            conn.proto =
                                Proto::Http2(Box::new(Http2Connection::after_h2c_upgrade(limits.http2, ex.role, up)));
                        }
                        None => out.push(end_http1(linker, conn, who.pid, Some(who.tid), ex)),
                    }
                }
                if let Some(rest) = rest {
                    // The HTTP/2 frames that followed `101 Switching Protocols` in the same read.
                    self.feed(conn, dir, &rest, who, out);
                }
            }
            Proto::Http2(h2) => {
                let mut exchanges = Vec::new();
                h2.feed(dir, seg, &mut exchanges, &mut stats.http2);
                let mut started = Vec::new();
                h2.take_started(&mut started);
                start_http2(linker, conn, who, started);
                for ex in exchanges {
                    out.push(end_http2(linker, conn, who.pid, Some(who.tid), ex));
                }
                forget_untracked(linker, conn, who.pid);
            }
        }
    }

    /// The connection closed (or was evicted): what completes becomes calls, the
    /// rest is forgotten. The protocol state is reset.
    pub fn close(&mut self, conn: &mut Conn, pid: Pid, ts_ns: u64, out: &mut Vec<(Call, SpanIds)>) {
        close(conn, pid, ts_ns, &mut self.linker, &mut self.stats, out);
    }

    /// Forgets the span ids of requests that will never complete.
    pub fn forget(&mut self, conn: &mut Conn, pid: Pid) {
        forget(&mut self.linker, conn, pid);
    }
}

fn close(
    conn: &mut Conn,
    pid: Pid,
    ts_ns: u64,
    linker: &mut Linker,
    stats: &mut ProtoStats,
    out: &mut Vec<(Call, SpanIds)>,
) {
    match &mut conn.proto {
        Proto::Unknown => {}
        Proto::Http1(h1) => {
            let mut exchanges = Vec::new();
            h1.close(ts_ns, &mut exchanges, &mut stats.http1);
            for ex in exchanges {
                out.push(end_http1(linker, conn, pid, None, ex));
            }
        }
        Proto::Http2(h2) => {
            let mut exchanges = Vec::new();
            h2.close(&mut exchanges, &mut stats.http2);
            for ex in exchanges {
                out.push(end_http2(linker, conn, pid, None, ex));
            }
        }
    }
    forget(linker, conn, pid);
}

fn forget(linker: &mut Linker, conn: &mut Conn, pid: Pid) {
    let role = conn.proto.role().unwrap_or(Role::Server);
    for ctx in std::mem::take(&mut conn.ctxs) {
        release(linker, &conn.addrs, role, pid, &ctx);
    }
}

/// The bytes after the `101` head when this segment carried the whole head from its
/// start (the server's SETTINGS and first frames often arrive in the same read).
fn frames_after_head<'a>(seg: &Segment<'a>, dir: Direction, ex: &Exchange) -> Option<Segment<'a>> {
    let head_len = ex.response.head_len;
    let whole_head = seg.data.starts_with(b"HTTP/1.") && !ex.response.truncated && head_len < seg.data.len();
    (dir == ex.role.request_direction().opposite() && whole_head).then(|| Segment {
        data: &seg.data[head_len..],
        len: seg.real_len() - head_len as u64,
        ..*seg
    })
}

/// `101 Switching Protocols` to `h2c`: the request that becomes stream 1.
fn h2c_upgrade(ex: &Exchange) -> Option<H2cUpgrade> {
    let h2c = ex.request.upgrade.as_deref().is_some_and(|u| u.trim().eq_ignore_ascii_case("h2c"));
    (ex.response.status == 101 && h2c).then(|| H2cUpgrade {
        method: ex.request.method.as_str().to_owned(),
        path: ex.request.path.clone(),
        authority: ex.request.host.clone(),
        user_agent: ex.request.user_agent.clone(),
        traceparent: ex.request.traceparent.clone(),
        tracestate: ex.request.tracestate.clone(),
        start_ns: ex.start_ns,
    })
}

fn started(
    linker: &mut Linker,
    addrs: &ConnAddrs,
    role: Role,
    who: Feeder,
    tp: Option<&str>,
    ts: Option<&str>,
) -> SpanIds {
    let tuple = &addrs.tuple;
    let (ids, _) = match role {
        Role::Server => linker.server_started(who.pid, who.tid, tuple, tp, ts),
        Role::Client => linker.client_started(who.pid, who.tid, tuple, tp, ts),
    };
    ids
}

/// Gives span ids to HTTP/1 requests whose head was just read (server) or written (client).
fn start_http1(linker: &mut Linker, conn: &mut Conn, who: Feeder) {
    let Proto::Http1(h1) = &conn.proto else { return };
    let Some(role) = h1.role() else { return };
    for (request_id, head) in h1.pending() {
        if request_id < conn.next_ctx_id {
            continue;
        }
        let ids = started(linker, &conn.addrs, role, who, head.traceparent.as_deref(), head.tracestate.as_deref());
        conn.ctxs.push_back(RequestCtx { request_id, tid: who.tid, ids });
        conn.next_ctx_id = request_id + 1;
    }
}

fn start_http2(linker: &mut Linker, conn: &mut Conn, who: Feeder, streams: Vec<StartedStream>) {
    let Some(role) = conn.proto.role() else { return };
    for s in streams {
        let ids = started(linker, &conn.addrs, role, who, s.traceparent.as_deref(), s.tracestate.as_deref());
        conn.ctxs.push_back(RequestCtx { request_id: u64::from(s.stream_id.0), tid: who.tid, ids });
    }
}

/// Releases HTTP/1 requests older than `request_id`: they were dropped.
fn drop_older(linker: &mut Linker, conn: &mut Conn, role: Role, pid: Pid, request_id: u64) {
    while conn.ctxs.front().is_some_and(|c| c.request_id < request_id) {
        if let Some(old) = conn.ctxs.pop_front() {
            release(linker, &conn.addrs, role, pid, &old);
        }
    }
}

/// The span ids of a completed HTTP/1 exchange (completed by thread `by`, when known);
/// requests older than it were dropped and are forgotten.
fn end_http1(linker: &mut Linker, conn: &mut Conn, pid: Pid, by: Option<u32>, ex: Exchange) -> (Call, SpanIds) {
    drop_older(linker, conn, ex.role, pid, ex.request_id);
    let ctx = match conn.ctxs.front() {
        Some(c) if c.request_id == ex.request_id => conn.ctxs.pop_front(),
        _ => None,
    };
    let ids = finish(linker, &conn.addrs, ex.role, pid, by, ctx);
    (Call::Http1(ex), ids)
}

fn end_http2(linker: &mut Linker, conn: &mut Conn, pid: Pid, by: Option<u32>, ex: StreamExchange) -> (Call, SpanIds) {
    let id = u64::from(ex.stream_id.0);
    let ctx = conn.ctxs.iter().position(|c| c.request_id == id).and_then(|i| conn.ctxs.remove(i));
    let ids = finish(linker, &conn.addrs, ex.role, pid, by, ctx);
    (Call::Http2(ex), ids)
}

/// Releases a started request's ids, telling the linker which thread completed it; a
/// request that completed unseen gets fresh ids.
fn finish(
    linker: &mut Linker,
    addrs: &ConnAddrs,
    role: Role,
    pid: Pid,
    by: Option<u32>,
    ctx: Option<RequestCtx>,
) -> SpanIds {
    let ctx = match ctx {
        Some(ctx) => {
            if let Some(by) = by {
                linker.completed_by(pid, ctx.tid, by);
            }
            ctx
        }
        None => {
            RequestCtx { request_id: 0, tid: 0, ids: started(linker, addrs, role, Feeder { pid, tid: 0 }, None, None) }
        }
    };
    release(linker, addrs, role, pid, &ctx);
    ctx.ids
}

/// HTTP/2 streams evicted by the parser's bounds never complete: forget their ids.
fn forget_untracked(linker: &mut Linker, conn: &mut Conn, pid: Pid) {
    let Proto::Http2(h2) = &conn.proto else { return };
    if conn.ctxs.len() <= h2.tracked_streams() {
        return;
    }
    let role = h2.role().unwrap_or(Role::Server);
    let (keep, gone): (Vec<RequestCtx>, Vec<RequestCtx>) =
        std::mem::take(&mut conn.ctxs).into_iter().partition(|c| h2.is_tracked(stream_id(c.request_id)));
    conn.ctxs = keep.into();
    for ctx in gone {
        release(linker, &conn.addrs, role, pid, &ctx);
    }
}

fn stream_id(request_id: u64) -> crate::request::http2::StreamId {
    crate::request::http2::StreamId(u32::try_from(request_id).unwrap_or(u32::MAX))
}

fn release(linker: &mut Linker, addrs: &ConnAddrs, role: Role, pid: Pid, ctx: &RequestCtx) {
    match role {
        Role::Server => linker.server_finished(pid, &ctx.ids),
        Role::Client => linker.client_finished(&addrs.tuple, &ctx.ids),
    }
}
