//! Per-connection HTTP/1.x request/response pairing over captured segments.
//!
//! Each direction of a connection is a small state machine:
//!
//! * `Unsynced`: we do not know where messages start (capture began mid-stream,
//!   a parse error, or an inferred message end). A segment is only taken as the
//!   start of a message if it *starts* with a plausible head (a very short
//!   segment that is a prefix of one is held back until it can be told apart).
//! * `AwaitHead`: the next byte starts a head; bytes are buffered (up to
//!   `max_head_bytes`) until the empty line is seen.
//! * `Body`: body framing is followed with the *real* byte counts; if the
//!   framing cannot be followed (chunk framing hidden by uncaptured bytes, or a
//!   head cut by the capture limit) the end of the message is inferred.
//!
//! Requests are queued when their head is complete; a final response pairs with
//! the oldest queued request (pipelining is FIFO) and an [`Exchange`] is emitted
//! when the response is complete.

use std::collections::VecDeque;

use crate::protocol::http1::body::{ends_with_last_chunk, BodyKind};
use crate::protocol::http1::head::{self, find_head_end, HeadError, Method, RequestHead, ResponseHead, Sniff};

mod state;

use state::{
    after_head, framing, guess_kind, parse_complete, parse_truncated, sniff, validate_prefix, Body, Framing, Head,
    Kind, PendingRequest, Side, State,
};

pub use super::{Direction, Role, Segment};

/// Consecutive head parse errors (with no valid head in between) after which
/// the connection is considered not to be HTTP/1 and becomes opaque.
pub const MAX_CONSECUTIVE_ERRORS: u32 = 8;
/// Bytes looked at when sniffing a possibly split head start.
const PROBE_LEN: usize = 16;
/// While the first line is shorter than this it is re-validated on every segment.
const EARLY_CHECK_LEN: usize = 32;

/// Memory bounds of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http1Limits {
    /// Largest head buffered per direction; larger heads are parse errors.
    pub max_head_bytes: usize,
    /// Requests waiting for a response; beyond this the oldest is dropped.
    pub max_pending_requests: usize,
}

impl Default for Http1Limits {
    fn default() -> Self {
        Http1Limits { max_head_bytes: head::DEFAULT_MAX_HEAD_BYTES, max_pending_requests: 64 }
    }
}

/// A request paired with its final response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Per-connection request number, as in [`Http1Connection::pending`].
    pub request_id: u64,
    pub role: Role,
    pub request: RequestHead,
    pub response: ResponseHead,
    /// When the first request byte existed for the traced process
    /// (write entry for a client, read exit for a server).
    pub start_ns: u64,
    /// Exit of the syscall that carried the last response byte.
    pub end_ns: u64,
    /// Body bytes on the wire (chunk framing included) seen for the request
    /// when the response completed.
    pub request_body_bytes: u64,
    /// Body bytes on the wire after the response head (chunk framing included).
    pub response_body_bytes: u64,
}

/// Counters; the caller owns them and may share them across connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Http1Stats {
    /// Heads that started plausibly but were invalid (or too large).
    pub parse_errors: u64,
    /// Final responses with no pending request.
    pub unmatched_responses: u64,
    /// Segments dropped while looking for the start of a message.
    pub skipped_segments: u64,
    /// Messages whose end had to be inferred, and message starts hidden in
    /// uncaptured bytes.
    pub lost_sync: u64,
    /// Pending requests discarded (cap, close or opaque without response).
    pub dropped_requests: u64,
    /// Heads cut off by the connection closing (slow or aborted peers).
    pub truncated_heads: u64,
}

/// HTTP/1.x state of one TCP connection.
#[derive(Debug)]
pub struct Http1Connection {
    limits: Http1Limits,
    role: Option<Role>,
    opaque: bool,
    consecutive_errors: u32,
    next_id: u64,
    pending: VecDeque<PendingRequest>,
    sides: [Side; 2],
}

impl Http1Connection {
    pub fn new(limits: Http1Limits) -> Self {
        Http1Connection {
            limits,
            role: None,
            opaque: false,
            consecutive_errors: 0,
            next_id: 0,
            pending: VecDeque::new(),
            sides: [Side::new(), Side::new()],
        }
    }

    /// Whether the connection stopped being parsed (protocol upgrade, CONNECT
    /// tunnel, or repeated garbage). Feeding it further is a no-op.
    pub fn is_opaque(&self) -> bool {
        self.opaque
    }

    /// Role of the traced process, known once a request head was seen.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Bytes currently buffered for `dir` (always `<= max_head_bytes`).
    pub fn buffered_bytes(&self, dir: Direction) -> usize {
        self.sides[dir.index()].buf.len()
    }

    /// Requests waiting for a response (always `<= max_pending_requests`, min 1).
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Gives back the request queue's memory when nothing is in flight (see `Conn::shrink_idle`).
    pub fn shrink_idle(&mut self) {
        if self.pending.is_empty() {
            self.pending = VecDeque::new();
        }
    }

    /// Requests seen but not yet answered, oldest first, with their per-connection id (the
    /// `request_id` their exchange will carry). Lets the caller act when a request starts.
    pub fn pending(&self) -> impl Iterator<Item = (u64, &RequestHead)> {
        self.pending.iter().map(|p| (p.id, &p.head))
    }

    /// Feeds one captured segment. Completed exchanges are appended to `out`.
    pub fn feed(&mut self, dir: Direction, seg: &Segment, out: &mut Vec<Exchange>, stats: &mut Http1Stats) {
        if self.opaque {
            return;
        }
        let len = seg.real_len();
        let mut pos = 0u64;
        // Every step consumes at least one captured byte or changes state so
        // that the next one does; the budget only guards against mistakes.
        let mut budget = seg.data.len().saturating_mul(4).saturating_add(64);
        while pos < len && !self.opaque && budget > 0 {
            budget -= 1;
            let next = match self.sides[dir.index()].state {
                State::Unsynced if pos > 0 => None,
                State::Unsynced => self.resync(dir, seg, stats),
                State::AwaitHead => self.head_step(dir, seg, pos, out, stats),
                State::Body(_) => self.body_step(dir, seg, pos, out, stats),
            };
            match next {
                Some(p) => pos = p,
                None => break,
            }
        }
    }

    /// The connection closed at `ts_ns`: a response whose head was seen ends, at its
    /// last segment (not at `ts_ns`, so the span does not include the peer's idle
    /// time) — close-delimited bodies end this way, cut length-delimited or chunked ones
    /// too; requests still waiting for a response head are dropped. The connection is reset to its initial state (role is kept).
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>, stats: &mut Http1Stats) {
        let _ = ts_ns;
        if !self.opaque {
            for want in [Kind::Request, Kind::Response] {
                for dir in [Direction::Ingress, Direction::Egress] {
                    let State::Body(body) = &self.sides[dir.index()].state else {
                        continue;
                    };
                    if body.kind != want {
                        continue;
                    }
                    // Close-delimited bodies end here. So does a length-delimited or chunked
                    // response cut by the close: its head (status) was exchanged, and a client
                    // that reads only the head and closes (urllib's `urlopen(...).status`) is
                    // common. Dropping it left the peer's SERVER span with a parent that was
                    // never exported.
                    let end = body.last_exit_ns;
                    self.finish_body(dir, end, out, State::Unsynced);
                }
            }
            stats.dropped_requests += self.pending.len() as u64;
            let cut = self.sides.iter().filter(|s| matches!(s.state, State::AwaitHead) && !s.buf.is_empty());
            stats.truncated_heads += cut.count() as u64;
        }
        self.pending.clear();
        self.sides = [Side::new(), Side::new()];
        self.consecutive_errors = 0;
    }

    fn expected_kind(&self, dir: Direction) -> Option<Kind> {
        self.role.map(|r| if r.request_direction() == dir { Kind::Request } else { Kind::Response })
    }

    /// Unsynced, at the start of a segment: does a message start here?
    fn resync(&mut self, dir: Direction, seg: &Segment, stats: &mut Http1Stats) -> Option<u64> {
        let kind = self.expected_kind(dir);
        let max = self.limits.max_head_bytes;
        let data = seg.data;
        let fully_captured = !seg.is_truncated();
        let side = &mut self.sides[dir.index()];
        if side.tentative_segments > 0 {
            let mut probe = side.buf.clone();
            probe.extend_from_slice(&data[..data.len().min(PROBE_LEN)]);
            match sniff(kind, &probe) {
                Sniff::Match => {
                    side.tentative_segments = 0;
                    side.state = State::AwaitHead;
                    return Some(0);
                }
                Sniff::Partial if fully_captured && data.len() <= PROBE_LEN && probe.len() <= max => {
                    side.buf = probe;
                    side.tentative_segments += 1;
                    return None;
                }
                _ => {
                    stats.skipped_segments += side.tentative_segments;
                    side.reset_buf();
                }
            }
        }
        match sniff(kind, data) {
            Sniff::Match => {
                side.reset_buf();
                side.state = State::AwaitHead;
                Some(0)
            }
            Sniff::Partial if fully_captured && !data.is_empty() && data.len() <= max => {
                side.reset_buf();
                side.buf.extend_from_slice(data);
                side.head_start_ns = seg.start_ns(dir);
                side.tentative_segments = 1;
                None
            }
            _ => {
                stats.skipped_segments += 1;
                None
            }
        }
    }

    /// AwaitHead: buffer head bytes from `pos`, parse once complete.
    fn head_step(
        &mut self,
        dir: Direction,
        seg: &Segment,
        mut pos: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Http1Stats,
    ) -> Option<u64> {
        let max = self.limits.max_head_bytes;
        let expected = self.expected_kind(dir);
        let data = seg.data;
        let side = &mut self.sides[dir.index()];
        if side.buf.is_empty() {
            // Tolerate empty lines between messages.
            while let Some(b'\r' | b'\n') = usize::try_from(pos).ok().and_then(|p| data.get(p)) {
                pos += 1;
            }
            if pos >= seg.real_len() {
                return None;
            }
            if pos >= data.len() as u64 {
                // The next message starts in bytes that were not captured.
                stats.lost_sync += 1;
                side.state = State::Unsynced;
                return None;
            }
            side.reset_buf();
            side.head_start_ns = seg.start_ns(dir);
        }
        let avail = usize::try_from(pos).ok().and_then(|p| data.get(p..)).unwrap_or_default();
        let prev = side.buf.len();
        let take = avail.len().min(max.saturating_sub(prev));
        if prev == 0 {
            // The common case, a head that starts in this segment: parsed in place. Only a head
            // that continues in the next segment is buffered (no copy per message, and an idle
            // keep-alive connection holds no buffer).
            let chunk = &avail[..take];
            let kind = expected.unwrap_or_else(|| guess_kind(chunk));
            if let Some(end) = find_head_end(chunk, 0) {
                let parsed = parse_complete(kind, &chunk[..end]);
                side.reset_buf();
                return self.complete_head(dir, parsed, seg, pos + end.max(1) as u64, out, stats);
            }
            if take == avail.len() && take < max && seg.is_truncated() {
                self.truncated_head(dir, kind, chunk, seg, out, stats);
                return None;
            }
        }
        let side = &mut self.sides[dir.index()];
        side.buf.extend_from_slice(&avail[..take]);
        let kind = expected.unwrap_or_else(|| guess_kind(&side.buf));
        if let Some(end) = find_head_end(&side.buf, side.scanned.saturating_sub(3)) {
            let parsed = parse_complete(kind, &side.buf[..end]);
            side.reset_buf();
            let consumed = end.saturating_sub(prev).max(1) as u64;
            return self.complete_head(dir, parsed, seg, pos + consumed, out, stats);
        }
        side.scanned = side.buf.len();
        if take < avail.len() || side.buf.len() >= max {
            self.parse_error(dir, stats);
            return None;
        }
        if seg.is_truncated() {
            let buf = std::mem::take(&mut side.buf);
            self.truncated_head(dir, kind, &buf, seg, out, stats);
            return None;
        }
        let new_line = avail[..take].contains(&b'\n');
        if !side.first_line_ok && (prev < EARLY_CHECK_LEN || new_line) {
            match validate_prefix(kind, &side.buf) {
                Ok(()) => side.first_line_ok = side.buf.contains(&b'\n'),
                Err(_) => self.parse_error(dir, stats),
            }
        }
        None
    }

    /// A whole head was parsed (or failed to): on success, the position after it in the segment.
    fn complete_head(
        &mut self,
        dir: Direction,
        parsed: Result<Head, HeadError>,
        seg: &Segment,
        next: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Http1Stats,
    ) -> Option<u64> {
        match parsed {
            Ok(h) => {
                self.on_head(dir, h, seg, out, stats);
                Some(next)
            }
            Err(_) => {
                self.parse_error(dir, stats);
                None
            }
        }
    }

    /// The rest of the syscall was not captured: the head in `buf` is cut.
    fn truncated_head(
        &mut self,
        dir: Direction,
        kind: Kind,
        buf: &[u8],
        seg: &Segment,
        out: &mut Vec<Exchange>,
        stats: &mut Http1Stats,
    ) {
        let parsed = parse_truncated(kind, buf);
        // Only a valid but too short first line is a capture problem.
        let too_short = !buf.contains(&b'\n') && validate_prefix(kind, buf).is_ok();
        let side = &mut self.sides[dir.index()];
        side.reset_buf();
        match parsed {
            Ok(h) => self.on_head(dir, h, seg, out, stats),
            Err(_) if too_short => {
                stats.lost_sync += 1;
                self.sides[dir.index()].state = State::Unsynced;
            }
            Err(_) => self.parse_error(dir, stats),
        }
    }

    fn on_head(&mut self, dir: Direction, h: Head, seg: &Segment, out: &mut Vec<Exchange>, stats: &mut Http1Stats) {
        self.consecutive_errors = 0;
        match h {
            Head::Request(h) => self.on_request(dir, h, seg, out, stats),
            Head::Response(h) => self.on_response(dir, h, seg, out, stats),
        }
    }

    fn on_request(
        &mut self,
        dir: Direction,
        h: RequestHead,
        seg: &Segment,
        out: &mut Vec<Exchange>,
        stats: &mut Http1Stats,
    ) {
        if self.role.is_none() {
            self.role = Some(Role::from_request_direction(dir));
        }
        // A new request ends a response whose end is being inferred.
        self.finish_approx(dir.opposite(), out);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let body = framing(h.truncated, h.chunked, h.content_length, BodyKind::Empty, stats);
        let cap = self.limits.max_pending_requests.max(1);
        while self.pending.len() >= cap {
            self.pending.pop_front();
            stats.dropped_requests += 1;
        }
        let side = &mut self.sides[dir.index()];
        let after_head = after_head(h.truncated);
        self.pending.push_back(PendingRequest { id, head: h, start_ns: side.head_start_ns, body_bytes: 0 });
        side.state = match body {
            None => after_head,
            Some(framing) => State::Body(Box::new(Body {
                kind: Kind::Request,
                request_id: id,
                response: None,
                paired: None,
                framing,
                bytes: 0,
                last_exit_ns: seg.exit_ns,
            })),
        };
    }

    fn on_response(
        &mut self,
        dir: Direction,
        h: ResponseHead,
        seg: &Segment,
        out: &mut Vec<Exchange>,
        stats: &mut Http1Stats,
    ) {
        let interim = (100..200).contains(&h.status) && h.status != 101;
        if interim {
            // 100 Continue, 103 Early Hints...: not paired, no body.
            self.sides[dir.index()].state = after_head(h.truncated);
            return;
        }
        // A final response ends a request whose end is being inferred.
        self.finish_approx(dir.opposite(), out);
        let request = self.pending.pop_front();
        if request.is_none() {
            stats.unmatched_responses += 1;
        }
        let method = request.as_ref().map(|r| &r.head.method);
        let tunnel = h.status == 101 || (method == Some(&Method::Connect) && (200..300).contains(&h.status));
        let no_body = tunnel || method == Some(&Method::Head) || h.status == 204 || h.status == 304 || h.status < 200;
        let body = if no_body {
            None
        } else {
            framing(h.truncated, h.chunked, h.content_length, BodyKind::CloseDelimited, stats)
        };
        match body {
            None => {
                let next = after_head(h.truncated);
                if let Some(req) = request {
                    out.push(self.exchange(dir, req, h, seg.exit_ns, 0));
                }
                self.sides[dir.index()].state = next;
                if tunnel {
                    self.become_opaque(stats);
                }
            }
            Some(framing) => {
                self.sides[dir.index()].state = State::Body(Box::new(Body {
                    kind: Kind::Response,
                    request_id: 0,
                    response: Some(h),
                    paired: request,
                    framing,
                    bytes: 0,
                    last_exit_ns: seg.exit_ns,
                }));
            }
        }
    }

    fn exchange(
        &self,
        response_dir: Direction,
        req: PendingRequest,
        response: ResponseHead,
        end_ns: u64,
        response_body_bytes: u64,
    ) -> Exchange {
        Exchange {
            request_id: req.id,
            role: self.role.unwrap_or(Role::from_request_direction(response_dir.opposite())),
            request: req.head,
            response,
            start_ns: req.start_ns,
            end_ns,
            request_body_bytes: req.body_bytes,
            response_body_bytes,
        }
    }

    /// Body: account the bytes from `pos` to the current message.
    fn body_step(
        &mut self,
        dir: Direction,
        seg: &Segment,
        pos: u64,
        out: &mut Vec<Exchange>,
        stats: &mut Http1Stats,
    ) -> Option<u64> {
        let len = seg.real_len();
        let data = seg.data;
        let side = &mut self.sides[dir.index()];
        let State::Body(body) = &mut side.state else {
            return None;
        };
        let kind = body.kind;
        let rest = len - pos;
        let (next, finished) = match &mut body.framing {
            Framing::Exact(dec) => {
                let captured = usize::try_from(pos).ok().and_then(|p| data.get(p..)).unwrap_or_default();
                match dec.feed(captured, rest) {
                    Ok(p) => {
                        body.bytes += p.consumed;
                        body.last_exit_ns = seg.exit_ns;
                        let state = p.done.then_some(State::AwaitHead);
                        let next = (p.consumed > 0 || p.done).then_some(pos + p.consumed);
                        (next, state)
                    }
                    Err(_) => {
                        stats.lost_sync += 1;
                        body.bytes += rest;
                        body.last_exit_ns = seg.exit_ns;
                        body.framing = Framing::Approx { declared: None };
                        (None, None)
                    }
                }
            }
            Framing::Approx { declared } => {
                if pos == 0 && sniff(Some(kind), data) == Sniff::Match {
                    // The next message starts here; this one ended before.
                    let end = body.last_exit_ns;
                    self.finish_body(dir, end, out, State::AwaitHead);
                    return Some(0);
                }
                body.bytes += rest;
                body.last_exit_ns = seg.exit_ns;
                if declared.is_some_and(|n| body.bytes >= n) {
                    (None, Some(State::Unsynced))
                } else if declared.is_none() && !seg.is_truncated() && ends_with_last_chunk(data) {
                    (None, Some(State::AwaitHead))
                } else {
                    (None, None)
                }
            }
        };
        match finished {
            Some(state) => self.finish_body(dir, seg.exit_ns, out, state),
            None => self.update_request_body(dir),
        }
        next
    }

    /// Copies the body progress of an in-flight request to its queue entry.
    fn update_request_body(&mut self, dir: Direction) {
        if let State::Body(body) = &self.sides[dir.index()].state {
            if body.kind == Kind::Request {
                let (id, n) = (body.request_id, body.reported_bytes());
                self.set_request_body(id, n);
            }
        }
    }

    fn set_request_body(&mut self, id: u64, bytes: u64) {
        if let Some(r) = self.pending.iter_mut().find(|r| r.id == id) {
            r.body_bytes = bytes;
            return;
        }
        for side in &mut self.sides {
            if let State::Body(body) = &mut side.state {
                if let Some(r) = body.paired.as_mut().filter(|r| r.id == id) {
                    r.body_bytes = bytes;
                }
            }
        }
    }

    /// Ends the message in `Body` state on `dir` at `end_ns`; emits the
    /// exchange for a matched response. `next` becomes the side's state.
    fn finish_body(&mut self, dir: Direction, end_ns: u64, out: &mut Vec<Exchange>, next: State) {
        let old = std::mem::replace(&mut self.sides[dir.index()].state, next);
        let State::Body(body) = old else {
            return;
        };
        let bytes = body.reported_bytes();
        let body = *body;
        match (body.kind, body.response, body.paired) {
            (Kind::Request, _, _) => self.set_request_body(body.request_id, bytes),
            (Kind::Response, Some(head), Some(req)) => {
                out.push(self.exchange(dir, req, head, end_ns, bytes));
            }
            (Kind::Response, _, _) => {}
        }
    }

    /// Ends an inferred-length message on `dir` (the other direction started a message).
    fn finish_approx(&mut self, dir: Direction, out: &mut Vec<Exchange>) {
        if let State::Body(body) = &self.sides[dir.index()].state {
            if matches!(body.framing, Framing::Approx { .. }) {
                let end = body.last_exit_ns;
                self.finish_body(dir, end, out, State::Unsynced);
            }
        }
    }

    fn parse_error(&mut self, dir: Direction, stats: &mut Http1Stats) {
        stats.parse_errors += 1;
        self.consecutive_errors += 1;
        let side = &mut self.sides[dir.index()];
        side.reset_buf();
        side.state = State::Unsynced;
        if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
            self.become_opaque(stats);
        }
    }

    fn become_opaque(&mut self, stats: &mut Http1Stats) {
        self.opaque = true;
        stats.dropped_requests += self.pending.len() as u64;
        self.pending = VecDeque::new();
        for side in &mut self.sides {
            if let State::Body(body) = &side.state {
                if body.paired.is_some() {
                    stats.dropped_requests += 1;
                }
            }
            *side = Side::new();
        }
    }
}

#[cfg(test)]
mod tests;
