//! Per-stream state and the bounded table of tracked streams.

use crate::protocol::grpc::{self, GrpcCall};
use crate::protocol::http2::{HeaderFields, StreamId};

use super::{Direction, Role, StreamEnd, StreamExchange};

/// What one direction of a stream carried.
#[derive(Debug, Clone, Default)]
pub(super) struct StreamSide {
    /// A HEADERS (or PUSH_PROMISE) block for this side was seen.
    pub headers_seen: bool,
    /// `start_ns` of the segment holding the first header block's frame header.
    pub start_ns: u64,
    pub fields: HeaderFields,
    /// No block of this side was undecodable and no frame of it can have been lost.
    pub known: bool,
    /// DATA payload bytes, padding excluded.
    pub body_bytes: u64,
    pub ended: bool,
    /// Exit of the segment that completed the frame carrying END_STREAM.
    pub end_ns: u64,
}

impl StreamSide {
    fn new() -> Self {
        StreamSide { known: true, ..StreamSide::default() }
    }

    /// Takes a decoded header block of this side.
    pub fn add_block(&mut self, fields: HeaderFields, known: bool, start_ns: u64) {
        if !self.headers_seen {
            self.headers_seen = true;
            self.start_ns = start_ns;
            self.fields = fields;
        } else {
            self.fields.merge(fields);
        }
        self.known &= known;
    }
}

#[derive(Debug, Clone)]
pub(super) struct Stream {
    pub id: StreamId,
    /// Indexed by `Direction::index()`.
    pub sides: [StreamSide; 2],
    /// Exit of the last segment with a frame of this stream.
    pub last_ns: u64,
    /// Lost-sync epochs of both directions when the stream was opened.
    pub epochs: [u32; 2],
    pub reset: Option<u32>,
    /// Reported by `Http2Connection::take_started`.
    pub announced: bool,
}

impl Stream {
    pub fn new(id: StreamId, epochs: [u32; 2]) -> Self {
        Stream { id, sides: [StreamSide::new(), StreamSide::new()], last_ns: 0, epochs, reset: None, announced: false }
    }

    pub fn side(&mut self, dir: Direction) -> &mut StreamSide {
        &mut self.sides[dir.index()]
    }

    /// Direction of the request: the connection's role when known, else what
    /// the stream's own headers say (`:method` / `:status`). Never guessed.
    pub fn request_direction(&self, role: Option<Role>) -> Option<Direction> {
        if let Some(role) = role {
            return Some(role.request_direction());
        }
        let [a, b] = [Direction::Ingress, Direction::Egress];
        let side = |d: Direction| &self.sides[d.index()].fields;
        if side(a).method.is_some() || side(b).status.is_some() {
            Some(a)
        } else if side(b).method.is_some() || side(a).status.is_some() {
            Some(b)
        } else {
            None
        }
    }

    /// Heap and inline bytes held.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Stream>() + self.sides.iter().map(|s| s.fields.heap_bytes()).sum::<usize>()
    }

    /// The exchange for this stream, or `None` when its request was not seen
    /// (or it cannot be told which side sent it).
    pub fn into_exchange(self, role: Option<Role>, end: StreamEnd, end_ns: u64) -> Option<StreamExchange> {
        let req_dir = self.request_direction(role)?;
        let [s0, s1] = self.sides;
        let (req, resp) = if req_dir.index() == 0 { (s0, s1) } else { (s1, s0) };
        if !req.headers_seen {
            return None;
        }
        let content_type = resp.fields.content_type.clone().or_else(|| req.fields.content_type.clone());
        let is_grpc = content_type.as_deref().is_some_and(grpc::is_grpc_content_type);
        let grpc = match (is_grpc, req.fields.path.as_deref().and_then(grpc::rpc_method)) {
            (true, Some(method)) => Some(GrpcCall {
                method: method.to_owned(),
                status_code: resp.fields.grpc_status,
                message: resp.fields.grpc_message.clone(),
                timeout_ns: req.fields.grpc_timeout_ns,
            }),
            _ => None,
        };
        let authority = req.fields.authority().map(str::to_owned);
        let HeaderFields { method, path, scheme, traceparent, tracestate, user_agent, .. } = req.fields;
        Some(StreamExchange {
            role: role.unwrap_or(Role::from_request_direction(req_dir)),
            stream_id: self.id,
            method,
            path,
            authority,
            scheme,
            status: resp.fields.status,
            content_type,
            grpc,
            traceparent,
            tracestate,
            user_agent,
            start_ns: req.start_ns,
            end_ns: end_ns.max(req.start_ns),
            request_body_bytes: req.body_bytes,
            response_body_bytes: resp.body_bytes,
            reset: self.reset,
            headers_known: req.known && resp.known,
            end,
        })
    }
}

/// Tracked streams in the order they were opened (oldest first).
#[derive(Debug, Default)]
pub(super) struct StreamTable {
    streams: Vec<Stream>,
}

impl StreamTable {
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    pub fn position(&self, id: StreamId) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    pub fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    pub fn push(&mut self, s: Stream) {
        self.streams.push(s);
    }

    pub fn remove(&mut self, id: StreamId) -> Option<Stream> {
        self.position(id).map(|i| self.streams.remove(i))
    }

    pub fn pop_oldest(&mut self) -> Option<Stream> {
        (!self.streams.is_empty()).then(|| self.streams.remove(0))
    }

    pub fn ids(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.streams.iter().map(|s| s.id)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.streams.iter_mut()
    }

    pub fn drain(&mut self) -> impl Iterator<Item = Stream> + '_ {
        self.streams.drain(..)
    }

    pub fn memory_bytes(&self) -> usize {
        self.streams.iter().map(Stream::memory_bytes).sum()
    }
}
