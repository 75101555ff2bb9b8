#![allow(clippy::unwrap_used)]

use super::*;

mod golden;
mod proptests;
mod semantics;

/// Times of one fed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fed {
    pub enter: u64,
    pub exit: u64,
}

/// Drives one connection with synthetic, strictly increasing timestamps.
pub(super) struct Conv {
    pub conn: Http1Connection,
    pub stats: Http1Stats,
    pub out: Vec<Exchange>,
    pub t: u64,
    pub role: Role,
}

impl Conv {
    pub fn new(role: Role) -> Self {
        Self::with_limits(role, Http1Limits::default())
    }

    pub fn with_limits(role: Role, limits: Http1Limits) -> Self {
        Conv { conn: Http1Connection::new(limits), stats: Http1Stats::default(), out: Vec::new(), t: 0, role }
    }

    pub fn server() -> Self {
        Self::new(Role::Server)
    }

    pub fn client() -> Self {
        Self::new(Role::Client)
    }

    pub fn req_dir(&self) -> Direction {
        self.role.request_direction()
    }

    pub fn resp_dir(&self) -> Direction {
        self.role.request_direction().opposite()
    }

    /// Feeds a segment of which only `data` was captured out of `len` bytes.
    pub fn feed_raw(&mut self, dir: Direction, data: &[u8], len: u64) -> Fed {
        self.t += 100;
        let fed = Fed { enter: self.t, exit: self.t + 7 };
        let seg = Segment { data, len, enter_ns: fed.enter, exit_ns: fed.exit };
        self.conn.feed(dir, &seg, &mut self.out, &mut self.stats);
        assert!(self.conn.buffered_bytes(Direction::Ingress) <= self.conn.limits.max_head_bytes);
        assert!(self.conn.buffered_bytes(Direction::Egress) <= self.conn.limits.max_head_bytes);
        fed
    }

    pub fn feed(&mut self, dir: Direction, data: &[u8]) -> Fed {
        self.feed_raw(dir, data, data.len() as u64)
    }

    pub fn req(&mut self, data: &[u8]) -> Fed {
        self.feed(self.req_dir(), data)
    }

    pub fn resp(&mut self, data: &[u8]) -> Fed {
        self.feed(self.resp_dir(), data)
    }

    /// Captures at most `cap` bytes of `data`.
    pub fn req_cap(&mut self, data: &[u8], cap: usize) -> Fed {
        self.feed_raw(self.req_dir(), &data[..cap.min(data.len())], data.len() as u64)
    }

    pub fn resp_cap(&mut self, data: &[u8], cap: usize) -> Fed {
        self.feed_raw(self.resp_dir(), &data[..cap.min(data.len())], data.len() as u64)
    }

    pub fn close(&mut self) {
        self.t += 100;
        self.conn.close(self.t, &mut self.out, &mut self.stats);
    }

    /// Start timestamp of a message whose first segment is `f` in the request direction.
    pub fn req_start(&self, f: Fed) -> u64 {
        match self.req_dir() {
            Direction::Egress => f.enter,
            Direction::Ingress => f.exit,
        }
    }

    pub fn take(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.out)
    }
}

pub(super) use crate::request::test_support::{random_split, XorShift};
