//! Per-connection HTTP/2 stream tracking over captured segments.
//!
//! Each direction has a [`FrameReader`] (frames followed by length, DATA
//! payloads never buffered) and an HPACK [`Decoder`]. Header blocks are
//! decoded in full (the dynamic table depends on every field) and only the
//! fields spans need are kept. A stream becomes a [`StreamExchange`] when its
//! response ends (and its request ended, or may have lost its END_STREAM to
//! a sync loss), when it is reset, when a GOAWAY says it will not be
//! processed, or when the connection closes.
//!
//! What is not known is never guessed: a header block that was not captured
//! in full, or one that refers to dynamic table entries we never saw
//! (capture started mid-connection), leaves the affected fields `None` and
//! the exchange `headers_known == false`; see `protocol::http2::hpack::table`
//! for when the HPACK state becomes trustworthy again.

use std::collections::VecDeque;

use crate::protocol::http2::frame::{
    self, settings, Capture, Cursor, Frame, FrameDone, FrameType, ReadEvent, SettingId, DEFAULT_MAX_FRAME_SIZE,
    MAX_FRAME_LEN,
};
use crate::protocol::http2::hpack::Decoder;
use crate::protocol::http2::{FrameReader, HeaderFields, PREFACE};

mod exchange;
mod stream;

pub use exchange::{H2cUpgrade, Http2Stats, StartedStream, StreamEnd, StreamExchange};
use stream::{Stream, StreamTable};

pub use super::{Direction, Role, Segment};
pub use crate::protocol::grpc::GrpcCall;
pub use crate::protocol::http2::{is_client_preface, looks_like_http2_frames, Http2Limits, StreamId};

/// Invalid frames, with no decodable header block in between, after which
/// the connection is considered not to be HTTP/2 and becomes opaque.
pub const MAX_CONSECUTIVE_ERRORS: u32 = 8;
/// Non-ACKed SETTINGS remembered per direction.
const MAX_PENDING_SETTINGS: usize = 8;

/// Whether we saw the connection start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Unknown,
    /// The client preface was seen: both HPACK tables start empty.
    Fresh,
    /// A header block came before any preface.
    MidStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing seen in this direction yet.
    First,
    /// Inside the client preface; bytes matched so far.
    Preface(usize),
    Frames,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Headers { end_stream: bool },
    PushPromise { promised: StreamId },
}

/// A header block waiting for CONTINUATION frames.
#[derive(Debug)]
struct PendingBlock {
    stream: StreamId,
    kind: BlockKind,
    buf: Vec<u8>,
    /// Bytes of the block were not captured or did not fit.
    cut: bool,
    start_ns: u64,
}

#[derive(Debug)]
struct Side {
    phase: Phase,
    reader: FrameReader,
    hpack: Decoder,
    block: Option<PendingBlock>,
    /// HEADER_TABLE_SIZE of SETTINGS this side sent, waiting for the peer's ACK.
    pending_table_sizes: VecDeque<Option<u32>>,
    /// Largest SETTINGS_MAX_FRAME_SIZE this side advertised.
    max_frame_size: Option<u32>,
    /// Incremented when this direction loses frame sync.
    epoch: u32,
}

impl Side {
    fn new(limits: &Http2Limits) -> Self {
        Side {
            phase: Phase::First,
            reader: FrameReader::new(limits.max_header_block_bytes),
            hpack: Decoder::new(limits.max_table_size),
            block: None,
            pending_table_sizes: VecDeque::new(),
            max_frame_size: None,
            epoch: 0,
        }
    }

    fn memory_bytes(&self) -> usize {
        self.reader.buffered_bytes()
            + self.block.as_ref().map_or(0, |b| b.buf.capacity())
            + self.hpack.table().size()
            + std::mem::size_of::<Side>()
    }
}

/// HTTP/2 state of one TCP connection.
#[derive(Debug)]
pub struct Http2Connection {
    limits: Http2Limits,
    role: Option<Role>,
    opaque: bool,
    consecutive_errors: u32,
    start: Start,
    sides: [Side; 2],
    streams: StreamTable,
    /// Highest stream id seen opened, per parity (even, odd).
    max_opened: [u32; 2],
    /// Highest odd stream id of a HEADERS frame seen from each direction.
    max_odd_headers: [u32; 2],
}

impl Http2Connection {
    pub fn new(limits: Http2Limits) -> Self {
        Http2Connection {
            limits,
            role: None,
            opaque: false,
            consecutive_errors: 0,
            start: Start::Unknown,
            sides: [Side::new(&limits), Side::new(&limits)],
            streams: StreamTable::default(),
            max_opened: [0; 2],
            max_odd_headers: [0; 2],
        }
    }

    /// A connection that switched from HTTP/1.1 after `101 Switching Protocols`
    /// to `Upgrade: h2c`: `request` is stream 1 (already sent, half-closed),
    /// the client preface follows in the request direction. The client's
    /// `HTTP2-Settings` are not parsed, so the server's HPACK size updates are
    /// not checked against a limit.
    pub fn after_h2c_upgrade(limits: Http2Limits, role: Role, request: H2cUpgrade) -> Self {
        let mut c = Http2Connection::new(limits);
        c.role = Some(role);
        c.start = Start::Fresh;
        let req_dir = role.request_direction();
        c.sides[req_dir.opposite().index()].hpack.set_limit(None);
        let mut fields = HeaderFields::default();
        fields.add(b":method", request.method.as_bytes());
        fields.add(b":path", request.path.as_bytes());
        for (name, value) in [
            (&b":authority"[..], &request.authority),
            (b"user-agent", &request.user_agent),
            (b"traceparent", &request.traceparent),
            (b"tracestate", &request.tracestate),
        ] {
            if let Some(v) = value {
                fields.add(name, v.as_bytes());
            }
        }
        let mut s = Stream::new(StreamId(1), [0; 2]);
        // The caller gave stream 1 its span when the HTTP/1.1 request started.
        s.announced = true;
        let side = s.side(req_dir);
        side.add_block(fields, true, request.start_ns);
        side.ended = true;
        side.end_ns = request.start_ns;
        s.last_ns = request.start_ns;
        c.streams.push(s);
        c.max_opened[1] = 1;
        c
    }

    /// Whether the connection stopped being parsed (repeated invalid frames).
    /// Feeding it further is a no-op.
    pub fn is_opaque(&self) -> bool {
        self.opaque
    }

    /// Role of the traced process: from the client preface, else from which
    /// side sent `:method` (or `:status`), PUSH_PROMISE, frames on even
    /// streams, or HEADERS on an odd stream older than the peer's newest.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Appends the streams whose request headers were seen since the last
    /// call (each stream once), in the order they were opened.
    pub fn take_started(&mut self, out: &mut Vec<StartedStream>) {
        let role = self.role;
        for s in self.streams.iter_mut().filter(|s| !s.announced) {
            let Some(req_dir) = s.request_direction(role) else { continue };
            let side = &s.sides[req_dir.index()];
            if !side.headers_seen {
                continue;
            }
            s.announced = true;
            out.push(StartedStream {
                stream_id: s.id,
                traceparent: side.fields.traceparent.clone(),
                tracestate: side.fields.tracestate.clone(),
            });
        }
    }

    /// Whether stream `id` is still tracked (not completed, reset or evicted).
    pub fn is_tracked(&self, id: StreamId) -> bool {
        self.streams.position(id).is_some()
    }

    /// Streams currently tracked (always `<= max_streams`).
    pub fn tracked_streams(&self) -> usize {
        self.streams.len()
    }

    /// Most [`memory_bytes`](Self::memory_bytes) can be after a `feed`: the
    /// cap, unless the fixed parts (buffers and tables at their limits) exceed it.
    pub fn memory_bound(limits: &Http2Limits) -> usize {
        let per_side = 2 * limits.max_header_block_bytes
            + limits.max_header_block_bytes.max(frame::MAX_SETTINGS_PAYLOAD)
            + limits.max_table_size
            + frame::FRAME_HEADER_LEN
            + 64
            + std::mem::size_of::<Side>();
        limits.max_connection_bytes.max(2 * per_side)
    }

    /// Estimated bytes held by this connection.
    pub fn memory_bytes(&self) -> usize {
        self.sides.iter().map(Side::memory_bytes).sum::<usize>() + self.streams.memory_bytes()
    }

    /// Feeds one captured segment. Completed exchanges are appended to `out`.
    pub fn feed(&mut self, dir: Direction, seg: &Segment, out: &mut Vec<StreamExchange>, stats: &mut Http2Stats) {
        if self.opaque {
            return;
        }
        let i = dir.index();
        let mut cur = Cursor::new(seg.data, seg.real_len(), seg.start_ns(dir));
        if self.sides[i].phase != Phase::Frames {
            self.preface_step(dir, &mut cur, stats);
        }
        // Every event consumes a frame header (9 bytes) or ends the segment;
        // the budget only guards against mistakes.
        let mut budget = seg.data.len() / 4 + 16;
        while !cur.is_done() && !self.opaque && budget > 0 {
            budget -= 1;
            let max = self.max_frame_size(dir);
            let Some(ev) = self.sides[i].reader.next(&mut cur, max) else {
                break;
            };
            match ev {
                ReadEvent::Frame(done) => {
                    let payload = self.sides[i].reader.take_payload();
                    self.on_frame(dir, done, &payload, seg, out, stats);
                    self.sides[i].reader.restore_payload(payload);
                }
                ReadEvent::LostSync => {
                    stats.lost_sync += 1;
                    self.lost_sync(dir, stats);
                }
                ReadEvent::Invalid(_) => self.frame_error(dir, stats),
                ReadEvent::Resynced => {}
                ReadEvent::Unconfirmed(h) => {
                    if h.kind.carries_header_block() {
                        // Maybe a real header block we cannot use: the table may have changed.
                        self.forget_hpack(dir, stats);
                    }
                }
            }
        }
        self.enforce_memory(stats);
    }

    /// The connection closed: streams in flight become exchanges ending at
    /// their last frame. The connection is reset to its initial state (role is kept).
    pub fn close(&mut self, out: &mut Vec<StreamExchange>, stats: &mut Http2Stats) {
        let role = self.role;
        let streams: Vec<Stream> = self.streams.drain().collect();
        for s in streams {
            let end_ns = s.last_ns;
            emit(s, role, StreamEnd::Closed, end_ns, out, stats);
        }
        let limits = self.limits;
        *self = Http2Connection { role, ..Http2Connection::new(limits) };
    }

    /// `SETTINGS_MAX_FRAME_SIZE` that frames flowing in `dir` must respect.
    fn max_frame_size(&self, dir: Direction) -> u32 {
        match (self.sides[dir.opposite().index()].max_frame_size, self.start) {
            (Some(m), _) => m.max(DEFAULT_MAX_FRAME_SIZE),
            (None, Start::Fresh) => DEFAULT_MAX_FRAME_SIZE,
            (None, _) => MAX_FRAME_LEN,
        }
    }

    /// First bytes of a direction: the client preface, or frames.
    fn preface_step(&mut self, dir: Direction, cur: &mut Cursor<'_>, stats: &mut Http2Stats) {
        let side = &mut self.sides[dir.index()];
        if side.phase == Phase::First {
            let n = cur.data.len().min(PREFACE.len());
            if n > 0 && cur.data[..n] == PREFACE[..n] {
                side.phase = Phase::Preface(0);
            } else {
                side.phase = Phase::Frames;
                // After the client preface, the server's first bytes are its SETTINGS frame.
                let known_start = self.start == Start::Fresh && self.role.is_some_and(|r| r.request_direction() != dir);
                side.reader = FrameReader::at_start(self.limits.max_header_block_bytes, cur.data, cur.len, known_start);
                return;
            }
        }
        let Phase::Preface(matched) = side.phase else {
            return;
        };
        let n = (PREFACE.len() - matched).min(usize::try_from(cur.len - cur.pos).unwrap_or(usize::MAX));
        let got = cur.captured(n as u64);
        if got != &PREFACE[matched..matched + got.len()] {
            side.phase = Phase::Frames;
            side.reader.lose_sync();
            cur.pos = cur.len;
            stats.frame_errors += 1;
            return;
        }
        cur.pos += n as u64;
        if matched + n < PREFACE.len() {
            side.phase = Phase::Preface(matched + n);
            return;
        }
        side.phase = Phase::Frames;
        if self.start == Start::Unknown {
            self.start = Start::Fresh;
        }
        self.role.get_or_insert(Role::from_request_direction(dir));
    }

    fn on_frame(
        &mut self,
        dir: Direction,
        done: FrameDone,
        payload: &[u8],
        seg: &Segment,
        out: &mut Vec<StreamExchange>,
        stats: &mut Http2Stats,
    ) {
        let h = done.header;
        let i = dir.index();
        if self.sides[i].block.is_some() && h.kind != FrameType::Continuation {
            // A header block must be followed by its CONTINUATION frames.
            stats.frame_errors += 1;
            self.abandon_block(dir, stats);
        }
        let complete = done.capture == Capture::Complete;
        let frame = match Frame::parse_captured(&h, payload, complete) {
            Ok(f) => f,
            Err(_) if h.kind == FrameType::Data && !complete => {
                Frame::Data { stream: h.stream_id, end_stream: h.end_stream(), data_len: frame::data_len(&h, None) }
            }
            Err(_) => {
                if h.kind.carries_header_block() {
                    // The block is lost: the table may have changed.
                    self.forget_hpack(dir, stats);
                    self.mark_unknown(dir, h.stream_id, stats);
                }
                if complete {
                    self.frame_error(dir, stats);
                }
                return;
            }
        };
        if let Some(s) = self.streams.get_mut(h.stream_id) {
            s.last_ns = seg.exit_ns;
        }
        match frame {
            Frame::Data { stream, end_stream, data_len } => {
                self.role_from_stream_ids(dir, stream, end_stream, false);
                if let Some(s) = self.streams.get_mut(stream) {
                    s.side(dir).body_bytes += u64::from(data_len);
                    if end_stream {
                        self.end_side(dir, stream, seg.exit_ns, out, stats);
                    }
                }
            }
            Frame::Headers { stream, end_stream, end_headers, fragment, .. } => {
                self.role_from_stream_ids(dir, stream, end_stream, true);
                let kind = BlockKind::Headers { end_stream };
                self.header_block(dir, stream, kind, fragment, !complete, done.start_ns, end_headers, seg, out, stats);
            }
            Frame::PushPromise { stream, end_headers, promised, fragment } => {
                if self.role.is_none() {
                    self.role = Some(Role::from_request_direction(dir.opposite()));
                }
                let kind = BlockKind::PushPromise { promised };
                self.header_block(dir, stream, kind, fragment, !complete, done.start_ns, end_headers, seg, out, stats);
            }
            Frame::Continuation { stream, end_headers, fragment } => {
                self.continuation(dir, stream, fragment, !complete, end_headers, seg, out, stats);
            }
            Frame::RstStream { stream, error_code } => {
                if let Some(mut s) = self.streams.remove(stream) {
                    s.reset = Some(error_code);
                    emit(s, self.role, StreamEnd::Reset, seg.exit_ns, out, stats);
                }
            }
            Frame::Settings { ack: true, .. } => {
                // Our peer acknowledged: its HEADER_TABLE_SIZE now binds our encoder.
                let sent_by_peer = &mut self.sides[dir.opposite().index()].pending_table_sizes;
                if let Some(Some(size)) = sent_by_peer.pop_front() {
                    self.sides[i].hpack.set_limit(Some(size as usize));
                }
            }
            Frame::Settings { ack: false, payload } => self.settings(dir, payload),
            Frame::GoAway(g) => self.goaway(dir, g.last_stream_id, seg.exit_ns, out, stats),
            Frame::Priority { .. } | Frame::Ping { .. } | Frame::WindowUpdate { .. } | Frame::Unknown { .. } => {}
        }
    }

    /// Role rules that need no header decoding, both certain:
    /// * HEADERS or DATA on an even (server-initiated) stream come from the server;
    /// * HEADERS without END_STREAM on an odd stream below one the other side
    ///   already sent HEADERS on come from the server (a client's HEADERS
    ///   without END_STREAM open a new stream, whose id exceeds every id the
    ///   server has used).
    fn role_from_stream_ids(&mut self, dir: Direction, stream: StreamId, end_stream: bool, headers: bool) {
        let from_server = if stream.is_client_initiated() {
            headers && !end_stream && stream.0 < self.max_odd_headers[dir.opposite().index()]
        } else {
            stream.0 != 0
        };
        if headers && stream.is_client_initiated() {
            let m = &mut self.max_odd_headers[dir.index()];
            *m = (*m).max(stream.0);
        }
        if from_server && self.role.is_none() {
            self.role = Some(Role::from_request_direction(dir.opposite()));
        }
    }

    fn settings(&mut self, dir: Direction, payload: &[u8]) {
        let side = &mut self.sides[dir.index()];
        let mut table_size = None;
        for s in settings(payload) {
            match s.id {
                SettingId::HeaderTableSize => table_size = Some(s.value),
                SettingId::MaxFrameSize => {
                    let v = s.value.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_LEN);
                    side.max_frame_size = Some(side.max_frame_size.map_or(v, |m| m.max(v)));
                }
                _ => {}
            }
        }
        if side.pending_table_sizes.len() >= MAX_PENDING_SETTINGS {
            side.pending_table_sizes.pop_front();
        }
        side.pending_table_sizes.push_back(table_size);
    }

    #[allow(clippy::too_many_arguments)]
    fn header_block(
        &mut self,
        dir: Direction,
        stream: StreamId,
        kind: BlockKind,
        fragment: &[u8],
        cut: bool,
        start_ns: u64,
        end_headers: bool,
        seg: &Segment,
        out: &mut Vec<StreamExchange>,
        stats: &mut Http2Stats,
    ) {
        if end_headers {
            let block = PendingBlock { stream, kind, buf: Vec::new(), cut, start_ns };
            self.finish_block(dir, block, fragment, seg, out, stats);
            return;
        }
        let max = self.limits.max_header_block_bytes;
        let take = fragment.len().min(max);
        let block =
            PendingBlock { stream, kind, buf: fragment[..take].to_vec(), cut: cut || take < fragment.len(), start_ns };
        self.sides[dir.index()].block = Some(block);
    }

    #[allow(clippy::too_many_arguments)]
    fn continuation(
        &mut self,
        dir: Direction,
        stream: StreamId,
        fragment: &[u8],
        cut: bool,
        end_headers: bool,
        seg: &Segment,
        out: &mut Vec<StreamExchange>,
        stats: &mut Http2Stats,
    ) {
        let max = self.limits.max_header_block_bytes;
        let side = &mut self.sides[dir.index()];
        let Some(block) = side.block.as_mut().filter(|b| b.stream == stream) else {
            // CONTINUATION without HEADERS: a block we cannot decode changed the table.
            stats.frame_errors += 1;
            self.abandon_block(dir, stats);
            self.forget_hpack(dir, stats);
            self.mark_unknown(dir, stream, stats);
            return;
        };
        if !block.cut {
            let take = fragment.len().min(max.saturating_sub(block.buf.len()));
            block.buf.extend_from_slice(&fragment[..take]);
            block.cut = cut || take < fragment.len();
        }
        if end_headers {
            if let Some(mut block) = side.block.take() {
                let buf = std::mem::take(&mut block.buf);
                self.finish_block(dir, block, &buf, seg, out, stats);
            }
        }
    }

    /// Decodes a complete (or cut) header block and applies it to its stream.
    fn finish_block(
        &mut self,
        dir: Direction,
        block: PendingBlock,
        bytes: &[u8],
        seg: &Segment,
        out: &mut Vec<StreamExchange>,
        stats: &mut Http2Stats,
    ) {
        if self.start == Start::Unknown {
            // Header blocks before any preface: the tables' contents are unknown.
            self.start = Start::MidStream;
            for d in [Direction::Ingress, Direction::Egress] {
                self.sides[d.index()].hpack = Decoder::unknown(self.limits.max_table_size);
                stats.hpack_desync += 1;
            }
        }
        let hpack = &mut self.sides[dir.index()].hpack;
        let was_synced = hpack.is_synced();
        let mut fields = HeaderFields::default();
        let decoded = hpack.decode(bytes, !block.cut, |f| {
            if let crate::protocol::http2::FieldRef::Known { name, value } = f {
                fields.add(name, value);
            }
        });
        let known = match decoded {
            Ok(o) => {
                // A decodable header block: this is HTTP/2 after all.
                self.consecutive_errors = 0;
                o.unknown_fields == 0 && !o.truncated
            }
            Err(_) => {
                stats.hpack_errors += 1;
                fields = HeaderFields::default();
                false
            }
        };
        if was_synced && !hpack.is_synced() {
            stats.hpack_desync += 1;
        }
        if !known {
            stats.unknown_headers += 1;
        }
        if self.role.is_none() {
            if fields.method.is_some() {
                self.role = Some(Role::from_request_direction(dir));
            } else if fields.status.is_some() {
                self.role = Some(Role::from_request_direction(dir.opposite()));
            }
        }
        match block.kind {
            BlockKind::Headers { end_stream } => {
                if let Some(s) = self.open_stream(dir, block.stream, stats) {
                    s.side(dir).add_block(fields, known, block.start_ns);
                    s.last_ns = seg.exit_ns;
                    if end_stream {
                        self.end_side(dir, block.stream, seg.exit_ns, out, stats);
                    }
                }
            }
            BlockKind::PushPromise { promised } => {
                // The promised request, as if the client had sent it complete.
                let req_dir = dir.opposite();
                if let Some(s) = self.open_stream(req_dir, promised, stats) {
                    let side = s.side(req_dir);
                    side.add_block(fields, known, block.start_ns);
                    side.ended = true;
                    side.end_ns = seg.exit_ns;
                    s.last_ns = seg.exit_ns;
                }
            }
        }
    }

    /// The tracked stream `id`, starting to track it when it is new.
    fn open_stream(&mut self, dir: Direction, id: StreamId, stats: &mut Http2Stats) -> Option<&mut Stream> {
        if self.streams.position(id).is_none() {
            let parity = usize::from(id.is_client_initiated());
            if id.0 <= self.max_opened[parity] {
                // Already finished, evicted, or opened before the capture and seen since.
                return None;
            }
            self.max_opened[parity] = id.0;
            if self.role.is_some_and(|r| r.request_direction() != dir) {
                // A response whose request we never saw.
                stats.orphan_streams += 1;
                return None;
            }
            while self.streams.len() >= self.limits.max_streams.max(1) {
                self.streams.pop_oldest();
                stats.streams_evicted += 1;
            }
            let epochs = [self.sides[0].epoch, self.sides[1].epoch];
            self.streams.push(Stream::new(id, epochs));
        }
        self.streams.get_mut(id)
    }

    /// END_STREAM on `dir` of stream `id`; emits the exchange when complete.
    fn end_side(
        &mut self,
        dir: Direction,
        id: StreamId,
        end_ns: u64,
        out: &mut Vec<StreamExchange>,
        stats: &mut Http2Stats,
    ) {
        let role = self.role;
        let Some(s) = self.streams.get_mut(id) else {
            return;
        };
        let side = s.side(dir);
        side.ended = true;
        side.end_ns = end_ns;
        let Some(req_dir) = s.request_direction(role) else {
            return;
        };
        let (req, resp) = (&s.sides[req_dir.index()], &s.sides[req_dir.opposite().index()]);
        // The request's END_STREAM may have been lost with frame sync.
        let req_may_be_lost = s.epochs[req_dir.index()] != self.sides[req_dir.index()].epoch;
        if resp.ended && (req.ended || req_may_be_lost) {
            let end_ns = resp.end_ns;
            if let Some(s) = self.streams.remove(id) {
                emit(s, role, StreamEnd::Complete, end_ns, out, stats);
            }
        }
    }

    /// GOAWAY sent in `dir`: streams initiated by its receiver above
    /// `last` will not be processed.
    fn goaway(
        &mut self,
        dir: Direction,
        last: StreamId,
        end_ns: u64,
        out: &mut Vec<StreamExchange>,
        stats: &mut Http2Stats,
    ) {
        let Some(role) = self.role else {
            return;
        };
        // The receiver initiates odd streams when it is the client.
        let receiver_is_client = role.request_direction() == dir.opposite();
        let doomed: Vec<StreamId> =
            self.streams.ids().filter(|id| id.is_client_initiated() == receiver_is_client && *id > last).collect();
        for id in doomed {
            if let Some(s) = self.streams.remove(id) {
                emit(s, self.role, StreamEnd::GoAway, end_ns, out, stats);
            }
        }
    }

    /// `dir` lost frame sync: header blocks may have been missed.
    fn lost_sync(&mut self, dir: Direction, stats: &mut Http2Stats) {
        let i = dir.index();
        self.sides[i].epoch = self.sides[i].epoch.wrapping_add(1);
        self.abandon_block(dir, stats);
        self.forget_hpack(dir, stats);
        for s in self.streams.iter_mut() {
            let side = s.side(dir);
            if !side.ended {
                side.known = false;
            }
        }
    }

    fn frame_error(&mut self, dir: Direction, stats: &mut Http2Stats) {
        stats.frame_errors += 1;
        self.consecutive_errors += 1;
        self.sides[dir.index()].reader.lose_sync();
        self.lost_sync(dir, stats);
        if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
            self.opaque = true;
            for s in self.streams.drain() {
                drop(s);
                stats.streams_evicted += 1;
            }
        }
    }

    /// Drops a half-assembled header block: its stream's headers are unknown
    /// and so is the table.
    fn abandon_block(&mut self, dir: Direction, stats: &mut Http2Stats) {
        if let Some(block) = self.sides[dir.index()].block.take() {
            self.forget_hpack(dir, stats);
            self.mark_unknown(dir, block.stream, stats);
        }
    }

    fn forget_hpack(&mut self, dir: Direction, stats: &mut Http2Stats) {
        let hpack = &mut self.sides[dir.index()].hpack;
        if hpack.is_synced() {
            stats.hpack_desync += 1;
        }
        hpack.forget();
    }

    fn mark_unknown(&mut self, dir: Direction, id: StreamId, stats: &mut Http2Stats) {
        stats.unknown_headers += 1;
        if let Some(s) = self.streams.get_mut(id) {
            s.side(dir).known = false;
        }
    }

    fn enforce_memory(&mut self, stats: &mut Http2Stats) {
        while !self.streams.is_empty() && self.memory_bytes() > self.limits.max_connection_bytes {
            self.streams.pop_oldest();
            stats.streams_evicted += 1;
        }
    }
}

fn emit(
    s: Stream,
    role: Option<Role>,
    end: StreamEnd,
    end_ns: u64,
    out: &mut Vec<StreamExchange>,
    stats: &mut Http2Stats,
) {
    match s.into_exchange(role, end, end_ns) {
        Some(e) => out.push(e),
        None => stats.orphan_streams += 1,
    }
}

#[cfg(test)]
mod tests;
