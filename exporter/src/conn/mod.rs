//! The connection table: per observed (process, socket) the tuple and protocol state.
//! Bounded: idle connections are evicted, and when full the least recently active one goes.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::ebpf::records::{Pid, SockId, Tuple};
use crate::fast_map::FastMap;
use crate::request::http1::Http1Limits;
use crate::request::http2::Http2Limits;
use crate::trace::SpanIds;

mod proto;

pub use proto::Proto;

/// Per-connection protocol limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtoLimits {
    pub http1: Http1Limits,
    pub http2: Http2Limits,
}

/// Span identity given to a request when it started, until its exchange completes.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// HTTP/1: the per-connection request number; HTTP/2: the stream id.
    pub request_id: u64,
    /// The thread that read (server) or wrote (client) the request head.
    pub tid: u32,
    pub ids: SpanIds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub pid: Pid,
    pub sock: SockId,
}

/// A connection's addresses, with the IP strings formatted once for all its spans.
#[derive(Debug, Clone)]
pub struct ConnAddrs {
    pub tuple: Tuple,
    pub local_ip: Arc<str>,
    pub remote_ip: Arc<str>,
}

impl ConnAddrs {
    pub fn new(tuple: Tuple) -> Self {
        ConnAddrs {
            tuple,
            local_ip: tuple.local.ip().to_string().into(),
            remote_ip: tuple.remote.ip().to_string().into(),
        }
    }
}

pub struct Conn {
    pub addrs: ConnAddrs,
    pub proto: Proto,
    /// The kernel socket this connection put in the kernel's `wide_socks` map, if any.
    pub wide_sock: Option<u64>,
    pub last_seen_ns: u64,
    /// Requests in flight with their span ids, oldest first.
    pub ctxs: VecDeque<RequestCtx>,
    /// HTTP/1: the next request id that has no span ids yet.
    pub next_ctx_id: u64,
}

impl Conn {
    /// Frees the request queues of a connection with nothing in flight: a keep-alive connection
    /// otherwise keeps its queues' capacity (~1.2 KB) between requests (bench_conns: 10 000 idle
    /// connections held ~12 MB this way).
    pub fn shrink_idle(&mut self) {
        if self.ctxs.is_empty() {
            self.ctxs = VecDeque::new();
        }
        self.proto.shrink_idle();
    }
}

/// Connections pushed out by [`ConnTable::entry`], to be closed by the caller. Boxed: this is
/// returned for every event and almost always empty, so it stays two words wide.
#[derive(Default)]
pub struct Displaced {
    /// The previous connection under the same key (the kernel reused the socket).
    pub replaced: Option<Box<Conn>>,
    /// The least recently active connection, evicted because the table was full.
    pub evicted: Option<Box<(ConnKey, Conn)>>,
}

pub struct ConnTable {
    map: FastMap<ConnKey, Conn>,
    max_conns: usize,
}

impl ConnTable {
    pub fn new(max_conns: usize) -> Self {
        ConnTable { map: FastMap::default(), max_conns: max_conns.max(1) }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The connection for `key`, created if new. A known socket address with a different tuple
    /// is a new connection on a reused kernel object: the old one is returned for closing.
    /// When the table is full the least recently active connection is evicted and returned.
    pub fn entry(&mut self, key: ConnKey, tuple: Tuple, now_ns: u64) -> (&mut Conn, Displaced) {
        let mut displaced = Displaced::default();
        // The common case, a known connection, costs one lookup here and one in `entry`.
        match self.map.get(&key) {
            Some(c) if c.addrs.tuple == tuple => {}
            known => {
                if known.is_some() {
                    displaced.replaced = self.map.remove(&key).map(Box::new);
                }
                if self.map.len() >= self.max_conns {
                    displaced.evicted = self.evict_oldest().map(Box::new);
                }
            }
        }
        let conn = self.map.entry(key).or_insert_with(|| Conn {
            addrs: ConnAddrs::new(tuple),
            proto: Proto::Unknown,
            wide_sock: None,
            last_seen_ns: now_ns,
            ctxs: VecDeque::new(),
            next_ctx_id: 0,
        });
        conn.last_seen_ns = conn.last_seen_ns.max(now_ns);
        (conn, displaced)
    }

    pub fn remove(&mut self, key: &ConnKey) -> Option<Conn> {
        self.map.remove(key)
    }

    /// Removes connections idle since before `cutoff_ns`.
    pub fn evict_idle(&mut self, cutoff_ns: u64) -> Vec<(ConnKey, Conn)> {
        let idle: Vec<ConnKey> = self.map.iter().filter(|(_, c)| c.last_seen_ns < cutoff_ns).map(|(k, _)| *k).collect();
        idle.into_iter().filter_map(|k| self.map.remove(&k).map(|c| (k, c))).collect()
    }

    /// Gives back the table's memory when it is mostly empty (a hash map keeps its largest
    /// capacity otherwise). Connections free their own queues as requests complete.
    pub fn shrink(&mut self) {
        if self.map.capacity() > 1024 && self.map.len() < self.map.capacity() / 4 {
            self.map.shrink_to(self.map.len() * 2);
        }
    }

    /// Removes every connection (shutdown).
    pub fn drain(&mut self) -> Vec<(ConnKey, Conn)> {
        self.map.drain().collect()
    }

    fn evict_oldest(&mut self) -> Option<(ConnKey, Conn)> {
        let key = self.map.iter().min_by_key(|(_, c)| c.last_seen_ns).map(|(k, _)| *k)?;
        self.map.remove(&key).map(|c| (key, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(port: u16) -> Tuple {
        Tuple {
            local: format!("127.0.0.1:{port}").parse().expect("addr"),
            remote: "127.0.0.1:80".parse().expect("addr"),
        }
    }

    fn key(sock: u64) -> ConnKey {
        ConnKey { pid: Pid(1), sock: SockId(sock) }
    }

    #[test]
    fn bounded_by_evicting_least_recent() {
        let mut t = ConnTable::new(2);
        assert!(t.entry(key(1), tuple(1), 10).1.evicted.is_none());
        assert!(t.entry(key(2), tuple(2), 20).1.evicted.is_none());
        t.entry(key(1), tuple(1), 30);
        let (_, displaced) = t.entry(key(3), tuple(3), 40);
        assert_eq!(displaced.evicted.map(|e| (e.0, e.1.addrs.tuple)), Some((key(2), tuple(2))));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn reused_socket_with_new_tuple_is_a_new_connection() {
        let mut t = ConnTable::new(8);
        t.entry(key(1), tuple(1), 10);
        let (c, old) = t.entry(key(1), tuple(9), 20);
        assert_eq!(c.addrs.tuple, tuple(9));
        assert_eq!(old.replaced.map(|c| c.addrs.tuple), Some(tuple(1)));
    }

    #[test]
    fn idle_connections_are_evicted() {
        let mut t = ConnTable::new(8);
        t.entry(key(1), tuple(1), 10);
        t.entry(key(2), tuple(2), 100);
        let gone = t.evict_idle(50);
        assert_eq!(gone.len(), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.drain().len(), 1);
        assert!(t.is_empty());
    }
}
