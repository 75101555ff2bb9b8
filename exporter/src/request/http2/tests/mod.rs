#![allow(clippy::unwrap_used)]

use super::*;
use crate::protocol::http2::frame::{flags, write_frame, FrameType};
use crate::protocol::http2::hpack::encode::{BlockBuilder, Indexing};

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
/// `role` is the traced process: its client side writes (Egress) when it is
/// the client.
pub(super) struct Conv {
    pub conn: Http2Connection,
    pub stats: Http2Stats,
    pub out: Vec<StreamExchange>,
    pub t: u64,
    pub role: Role,
}

impl Conv {
    pub fn new(role: Role) -> Self {
        Self::with_limits(role, Http2Limits::default())
    }

    pub fn with_limits(role: Role, limits: Http2Limits) -> Self {
        Conv { conn: Http2Connection::new(limits), stats: Http2Stats::default(), out: Vec::new(), t: 0, role }
    }

    /// Direction of bytes the client sends.
    pub fn c2s(&self) -> Direction {
        self.role.request_direction()
    }

    pub fn s2c(&self) -> Direction {
        self.c2s().opposite()
    }

    /// Feeds a segment of which only `data` was captured out of `len` bytes.
    pub fn feed_raw(&mut self, dir: Direction, data: &[u8], len: u64) -> Fed {
        self.t += 100;
        let fed = Fed { enter: self.t, exit: self.t + 7 };
        let seg = Segment { data, len, enter_ns: fed.enter, exit_ns: fed.exit };
        self.conn.feed(dir, &seg, &mut self.out, &mut self.stats);
        let limits = self.conn.limits;
        assert!(self.conn.tracked_streams() <= limits.max_streams.max(1));
        assert!(
            self.conn.memory_bytes() <= Http2Connection::memory_bound(&limits),
            "{} bytes",
            self.conn.memory_bytes()
        );
        fed
    }

    pub fn feed(&mut self, dir: Direction, data: &[u8]) -> Fed {
        self.feed_raw(dir, data, data.len() as u64)
    }

    /// Bytes from the client.
    pub fn client(&mut self, data: &[u8]) -> Fed {
        self.feed(self.c2s(), data)
    }

    /// Bytes from the server.
    pub fn server(&mut self, data: &[u8]) -> Fed {
        self.feed(self.s2c(), data)
    }

    pub fn close(&mut self) {
        self.conn.close(&mut self.out, &mut self.stats);
    }

    /// `start_ns` of a request whose first segment is `f` (client writes it).
    pub fn req_start(&self, f: Fed) -> u64 {
        match self.c2s() {
            Direction::Egress => f.enter,
            Direction::Ingress => f.exit,
        }
    }

    pub fn take(&mut self) -> Vec<StreamExchange> {
        std::mem::take(&mut self.out)
    }
}

/// Builds frames.
#[derive(Default)]
pub(super) struct Wire(pub Vec<u8>);

impl Wire {
    pub fn new() -> Self {
        Wire(Vec::new())
    }

    pub fn preface(mut self) -> Self {
        self.0.extend_from_slice(PREFACE);
        self
    }

    pub fn frame(mut self, kind: FrameType, flags: u8, stream: u32, payload: &[u8]) -> Self {
        write_frame(&mut self.0, kind, flags, StreamId(stream), payload);
        self
    }

    pub fn settings(self, pairs: &[(u16, u32)]) -> Self {
        let mut p = Vec::new();
        for (id, v) in pairs {
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&v.to_be_bytes());
        }
        self.frame(FrameType::Settings, 0, 0, &p)
    }

    pub fn settings_ack(self) -> Self {
        self.frame(FrameType::Settings, flags::ACK, 0, &[])
    }

    pub fn headers(self, stream: u32, block: &[u8], end_stream: bool) -> Self {
        let f = flags::END_HEADERS | if end_stream { flags::END_STREAM } else { 0 };
        self.frame(FrameType::Headers, f, stream, block)
    }

    pub fn data(self, stream: u32, len: usize, end_stream: bool) -> Self {
        self.frame(FrameType::Data, if end_stream { flags::END_STREAM } else { 0 }, stream, &vec![b'x'; len])
    }

    pub fn rst(self, stream: u32, code: u32) -> Self {
        self.frame(FrameType::RstStream, 0, stream, &code.to_be_bytes())
    }

    pub fn goaway(self, last: u32, code: u32) -> Self {
        let mut p = last.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        self.frame(FrameType::GoAway, 0, 0, &p)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A request block: `:method`, `:scheme http`, `:path`, `:authority`, literals without indexing.
pub(super) fn request_block(method: &str, path: &str) -> Vec<u8> {
    let b = BlockBuilder::new(true);
    let b = match method {
        "GET" => b.indexed(2),
        "POST" => b.indexed(3),
        m => b.literal_indexed_name(Indexing::Without, 2, m),
    };
    b.indexed(6)
        .literal_indexed_name(Indexing::Without, 4, path)
        .literal_indexed_name(Indexing::Without, 1, "example.com")
        .build()
}

/// A gRPC request block; with `index` the content-type is added to the dynamic table.
pub(super) fn grpc_request_block(path: &str) -> Vec<u8> {
    BlockBuilder::new(true)
        .indexed(3)
        .indexed(6)
        .literal_indexed_name(Indexing::Without, 4, path)
        .literal_indexed_name(Indexing::Without, 1, "svc:50051")
        .literal_indexed_name(Indexing::Without, 31, "application/grpc")
        .literal(Indexing::Without, "te", "trailers")
        .build()
}

pub(super) fn response_block(status: u16, content_type: Option<&str>) -> Vec<u8> {
    let b = BlockBuilder::new(true).literal_indexed_name(Indexing::Without, 8, &status.to_string());
    match content_type {
        Some(ct) => b.literal_indexed_name(Indexing::Without, 31, ct).build(),
        None => b.build(),
    }
}

pub(super) fn trailers_block(grpc_status: u32, message: Option<&str>) -> Vec<u8> {
    let b = BlockBuilder::new(false).literal(Indexing::Without, "grpc-status", &grpc_status.to_string());
    match message {
        Some(m) => b.literal(Indexing::Without, "grpc-message", m).build(),
        None => b.build(),
    }
}

pub(super) use crate::request::test_support::{random_split, XorShift};
