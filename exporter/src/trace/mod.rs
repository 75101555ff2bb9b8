//! Span identity and parent linking.
//!
//! Ids are decided when a request *starts*, so requests made while it is served can
//! become its children:
//! - SERVER: when the agent saw the CLIENT side of the same TCP connection on this node (the
//!   mirrored tuple), the server span is the child of that client span — unless the request
//!   carries a `traceparent` of another trace; otherwise a valid W3C `traceparent` makes it
//!   join that trace with a remote parent; otherwise it starts a trace.
//! - CLIENT: a request carrying a `traceparent` joins it (remote parent); otherwise it is the
//!   child of the server request its process or thread is serving when that is unambiguous
//!   (see [`serving`]); otherwise it starts a trace.

pub mod serving;
pub mod traceparent;

use std::collections::VecDeque;
use std::net::SocketAddr;

use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use crate::ebpf::records::{Pid, Tuple};
use crate::fast_map::FastMap;
use serving::{Lookup, Serving, ThreadsMove};
use traceparent::parse_traceparent;

/// The identity of one span and its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `SpanId::INVALID` for a root span.
    pub parent_span_id: SpanId,
    pub parent_is_remote: bool,
    pub flags: TraceFlags,
    pub trace_state: TraceState,
}

/// How a span got its parent (for tests and debugging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentSource {
    Root,
    TraceParent,
    LocalPeer,
    /// The only server request in flight in the process.
    Process,
    /// The only server request in flight on the thread, in a thread-per-request process.
    Thread,
    /// No parent: several server requests in flight could own this client request.
    Ambiguous,
}

/// (client's local address, client's remote address) of a connection.
type ConnTuple = (SocketAddr, SocketAddr);

pub struct Linker {
    ids: RandomIdGenerator,
    /// Server requests in flight, per process.
    serving: Serving,
    /// Client requests in flight, by the client's tuple, oldest first.
    outgoing: FastMap<ConnTuple, VecDeque<SpanIds>>,
    max_entries: usize,
    /// Client requests left without a parent because the owner was ambiguous.
    ambiguous: u64,
}

impl Linker {
    pub fn new(max_entries: usize) -> Self {
        Linker {
            ids: RandomIdGenerator::default(),
            serving: Serving::new(max_entries),
            outgoing: FastMap::default(),
            max_entries,
            ambiguous: 0,
        }
    }

    /// `threads_move(pid)` says whether a process's runtime moves requests between threads
    /// (see [`serving`]); such processes get no thread links.
    pub fn with_threads_move(self, threads_move: ThreadsMove) -> Self {
        Linker { serving: self.serving.with_threads_move(threads_move), ..self }
    }

    /// Forgets what it knows about processes that have exited.
    pub fn retain_processes(&mut self, alive: impl Fn(Pid) -> bool) {
        self.serving.retain_processes(alive);
    }

    /// Server requests in flight and client connections tracked (bounded by `max_entries`
    /// processes and connections).
    pub fn len(&self) -> usize {
        self.serving.in_flight() + self.outgoing.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server request thread `tid` of `pid` is serving, if that is unambiguous.
    pub fn serving(&self, pid: Pid, tid: u32) -> Option<&SpanIds> {
        self.serving.lookup(pid, tid).parent()
    }

    /// Client requests left without a parent so far because the owner was ambiguous.
    pub fn ambiguous_total(&self) -> u64 {
        self.ambiguous
    }

    /// A server read the head of a request on `tuple` (its own view) in thread `tid`.
    pub fn server_started(
        &mut self,
        pid: Pid,
        tid: u32,
        tuple: &Tuple,
        traceparent: Option<&str>,
        tracestate: Option<&str>,
    ) -> (SpanIds, ParentSource) {
        let span_id = self.ids.new_span_id();
        let peer_client = self.take_outgoing(&(tuple.remote, tuple.local));
        let incoming = traceparent.and_then(parse_traceparent);
        let (ids, source) = match (peer_client, incoming) {
            (Some(client), None) => (child_of(&client, span_id), ParentSource::LocalPeer),
            (Some(client), Some(tp)) if tp.trace_id == client.trace_id => {
                (child_of(&client, span_id), ParentSource::LocalPeer)
            }
            (_, Some(tp)) => (remote_child(&tp, span_id, tracestate), ParentSource::TraceParent),
            (None, None) => (self.root(span_id), ParentSource::Root),
        };
        self.serving.started(pid, tid, &ids);
        (ids, source)
    }

    /// The server request `ids` of `pid` was answered (or dropped).
    pub fn server_finished(&mut self, pid: Pid, ids: &SpanIds) {
        self.serving.finished(pid, ids);
    }

    /// A request of `pid` (server or client) started by thread `started` was completed —
    /// its last response byte written or read — by thread `finished`.
    pub fn completed_by(&mut self, pid: Pid, started: u32, finished: u32) {
        self.serving.completed_by(pid, started, finished);
    }

    /// A client wrote the head of a request on `tuple` (its own view) in thread `tid`.
    pub fn client_started(
        &mut self,
        pid: Pid,
        tid: u32,
        tuple: &Tuple,
        traceparent: Option<&str>,
        tracestate: Option<&str>,
    ) -> (SpanIds, ParentSource) {
        let span_id = self.ids.new_span_id();
        let outgoing = traceparent.and_then(parse_traceparent);
        let (ids, source) = match (outgoing, self.serving.lookup(pid, tid)) {
            (Some(tp), _) => (remote_child(&tp, span_id, tracestate), ParentSource::TraceParent),
            (None, Lookup::Process(server)) => (child_of(server, span_id), ParentSource::Process),
            (None, Lookup::Thread(server)) => (child_of(server, span_id), ParentSource::Thread),
            (None, Lookup::Ambiguous) => (self.root(span_id), ParentSource::Ambiguous),
            (None, Lookup::Idle) => (self.root(span_id), ParentSource::Root),
        };
        if source == ParentSource::Ambiguous {
            self.ambiguous += 1;
        }
        let key = (tuple.local, tuple.remote);
        if self.outgoing.len() < self.max_entries || self.outgoing.contains_key(&key) {
            let q = self.outgoing.entry(key).or_default();
            if q.len() < 64 {
                q.push_back(ids.clone());
            }
        }
        (ids, source)
    }

    /// The client request was answered (or dropped): its server side, if observed, has
    /// already claimed it; otherwise forget it.
    pub fn client_finished(&mut self, tuple: &Tuple, ids: &SpanIds) {
        let key = (tuple.local, tuple.remote);
        if let Some(q) = self.outgoing.get_mut(&key) {
            q.retain(|c| c.span_id != ids.span_id);
            if q.is_empty() {
                self.outgoing.remove(&key);
            }
        }
    }

    fn take_outgoing(&mut self, key: &ConnTuple) -> Option<SpanIds> {
        let q = self.outgoing.get_mut(key)?;
        let ids = q.pop_front();
        if q.is_empty() {
            self.outgoing.remove(key);
        }
        ids
    }

    fn root(&self, span_id: SpanId) -> SpanIds {
        SpanIds {
            trace_id: self.ids.new_trace_id(),
            span_id,
            parent_span_id: SpanId::INVALID,
            parent_is_remote: false,
            flags: TraceFlags::SAMPLED,
            trace_state: TraceState::default(),
        }
    }
}

fn child_of(parent: &SpanIds, span_id: SpanId) -> SpanIds {
    SpanIds {
        trace_id: parent.trace_id,
        span_id,
        parent_span_id: parent.span_id,
        parent_is_remote: false,
        flags: parent.flags,
        trace_state: parent.trace_state.clone(),
    }
}

fn remote_child(tp: &traceparent::TraceParent, span_id: SpanId, tracestate: Option<&str>) -> SpanIds {
    SpanIds {
        trace_id: tp.trace_id,
        span_id,
        parent_span_id: tp.span_id,
        parent_is_remote: true,
        flags: tp.flags,
        trace_state: tracestate.and_then(|s| s.parse().ok()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(local: &str, remote: &str) -> Tuple {
        Tuple { local: local.parse().unwrap(), remote: remote.parse().unwrap() }
    }

    const A_TO_B: (&str, &str) = ("127.0.0.1:40000", "127.0.0.1:8080");

    #[test]
    fn chain_client_server_client_server() {
        let mut l = Linker::new(1024);
        // curl (pid 1) -> A (pid 2) on :9000; A -> B (pid 3) on :8080.
        let (curl, s0) = l.client_started(Pid(1), 11, &tuple("127.0.0.1:50000", "127.0.0.1:9000"), None, None);
        assert_eq!(s0, ParentSource::Root);
        let (a_srv, s1) = l.server_started(Pid(2), 21, &tuple("127.0.0.1:9000", "127.0.0.1:50000"), None, None);
        assert_eq!(s1, ParentSource::LocalPeer);
        assert_eq!((a_srv.trace_id, a_srv.parent_span_id), (curl.trace_id, curl.span_id));
        let (a_cli, s2) = l.client_started(Pid(2), 21, &tuple(A_TO_B.0, A_TO_B.1), None, None);
        assert_eq!(s2, ParentSource::Process, "A's only request in flight");
        assert_eq!((a_cli.trace_id, a_cli.parent_span_id), (curl.trace_id, a_srv.span_id));
        let (b_srv, s3) = l.server_started(Pid(3), 31, &tuple(A_TO_B.1, A_TO_B.0), None, None);
        assert_eq!(s3, ParentSource::LocalPeer);
        assert_eq!((b_srv.trace_id, b_srv.parent_span_id), (curl.trace_id, a_cli.span_id));
        l.server_finished(Pid(3), &b_srv);
        l.client_finished(&tuple(A_TO_B.0, A_TO_B.1), &a_cli);
        l.server_finished(Pid(2), &a_srv);
        l.client_finished(&tuple("127.0.0.1:50000", "127.0.0.1:9000"), &curl);
        assert!(l.is_empty(), "nothing left behind");
    }

    #[test]
    fn traceparent_wins_and_a_finished_request_has_no_children() {
        let mut l = Linker::new(1024);
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (srv, src) = l.server_started(Pid(2), 21, &tuple("127.0.0.1:9000", "127.0.0.1:1"), Some(tp), Some("k=v"));
        assert_eq!(src, ParentSource::TraceParent);
        assert!(srv.parent_is_remote);
        assert_eq!(srv.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(srv.trace_state.header(), "k=v");
        let (child, _) = l.client_started(Pid(2), 21, &tuple(A_TO_B.0, A_TO_B.1), None, None);
        assert_eq!(child.trace_id, srv.trace_id);
        let other_tp = "00-11111111111111111111111111111111-2222222222222222-01";
        let (own, src) =
            l.client_started(Pid(2), 21, &tuple("127.0.0.1:40003", "127.0.0.1:8080"), Some(other_tp), None);
        assert_eq!(src, ParentSource::TraceParent, "an outgoing traceparent wins over the thread");
        assert_eq!(own.trace_id.to_string(), "11111111111111111111111111111111");
        let (elsewhere, src) = l.client_started(Pid(7), 21, &tuple("127.0.0.1:40001", "127.0.0.1:8080"), None, None);
        assert_eq!(src, ParentSource::Root, "another process serves nothing");
        assert_ne!(elsewhere.trace_id, srv.trace_id);
        l.server_finished(Pid(2), &srv);
        let (after, src) = l.client_started(Pid(2), 21, &tuple("127.0.0.1:40002", "127.0.0.1:8080"), None, None);
        assert_eq!(src, ParentSource::Root, "a finished request has no children");
        assert_ne!(after.trace_id, srv.trace_id);
        assert_eq!(l.ambiguous_total(), 0);
    }

    #[test]
    fn concurrent_requests_leave_client_requests_unlinked_and_counted() {
        let mut l = Linker::new(1024);
        let (s1, _) = l.server_started(Pid(2), 21, &tuple("127.0.0.1:9000", "127.0.0.1:1"), None, None);
        let (s2, _) = l.server_started(Pid(2), 22, &tuple("127.0.0.1:9000", "127.0.0.1:2"), None, None);
        let (c, src) = l.client_started(Pid(2), 21, &tuple(A_TO_B.0, A_TO_B.1), None, None);
        assert_eq!(src, ParentSource::Ambiguous, "the process's threads are not trusted yet");
        assert!(c.parent_span_id == SpanId::INVALID && c.trace_id != s1.trace_id && c.trace_id != s2.trace_id);
        assert_eq!(l.ambiguous_total(), 1);
        assert_eq!(l.serving(Pid(2), 21), None, "log lines are not stamped either");
        l.server_finished(Pid(2), &s1);
        let (c, src) = l.client_started(Pid(2), 21, &tuple("127.0.0.1:40001", "127.0.0.1:8080"), None, None);
        assert_eq!((src, c.parent_span_id), (ParentSource::Process, s2.span_id), "one left: the goroutine case");
        assert_eq!(l.serving(Pid(2), 99), Some(&s2));
    }
    #[test]
    fn client_traceparent_is_used_end_to_end_and_peer_link_is_kept() {
        let mut l = Linker::new(1024);
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = tuple("127.0.0.1:50000", "127.0.0.1:9000");
        let (curl, src) = l.client_started(Pid(1), 1, &t, Some(tp), None);
        assert_eq!(src, ParentSource::TraceParent);
        assert_eq!(curl.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let (srv, src) = l.server_started(Pid(2), 2, &tuple("127.0.0.1:9000", "127.0.0.1:50000"), Some(tp), None);
        assert_eq!(src, ParentSource::LocalPeer, "same trace: the local client span is the closer parent");
        assert_eq!((srv.trace_id, srv.parent_span_id), (curl.trace_id, curl.span_id));
        // A traceparent of another trace wins over the local peer.
        let other = "00-11111111111111111111111111111111-2222222222222222-01";
        l.client_started(Pid(1), 1, &t, None, None);
        let (srv2, src) = l.server_started(Pid(2), 2, &tuple("127.0.0.1:9000", "127.0.0.1:50000"), Some(other), None);
        assert_eq!(src, ParentSource::TraceParent);
        assert_eq!(srv2.trace_id.to_string(), "11111111111111111111111111111111");
    }

    #[test]
    fn pipelined_client_requests_pair_in_order_and_state_is_bounded() {
        let mut l = Linker::new(2);
        let t = tuple(A_TO_B.0, A_TO_B.1);
        let (c1, _) = l.client_started(Pid(2), 1, &t, None, None);
        let (c2, _) = l.client_started(Pid(2), 1, &t, None, None);
        let (s1, _) = l.server_started(Pid(3), 9, &tuple(A_TO_B.1, A_TO_B.0), None, None);
        let (s2, _) = l.server_started(Pid(3), 9, &tuple(A_TO_B.1, A_TO_B.0), None, None);
        assert_eq!((s1.parent_span_id, s2.parent_span_id), (c1.span_id, c2.span_id));
        l.server_finished(Pid(3), &s1);
        l.server_finished(Pid(3), &s2);
        for i in 0..100 {
            l.client_started(Pid(5), i, &tuple(&format!("127.0.0.1:{}", 1000 + i), "127.0.0.1:80"), None, None);
            l.server_started(Pid(6 + i), i, &tuple("127.0.0.1:80", &format!("127.0.0.2:{}", 1000 + i)), None, None);
        }
        assert!(l.len() <= 4, "bounded: {}", l.len());
    }
}
