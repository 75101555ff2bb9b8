//! Internal state of an HTTP/1 connection: per-direction state machine
//! types and the pure helpers used by `Http1Connection`.

use crate::protocol::http1::body::{BodyDecoder, BodyKind};
use crate::protocol::http1::head::{self, HeadError, RequestHead, ResponseHead, Sniff};

use super::Http1Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Request,
    Response,
}

#[derive(Debug)]
pub(super) enum Head {
    Request(RequestHead),
    Response(ResponseHead),
}

#[derive(Debug)]
pub(super) struct PendingRequest {
    pub(super) id: u64,
    pub(super) head: RequestHead,
    pub(super) start_ns: u64,
    pub(super) body_bytes: u64,
}

#[derive(Debug)]
pub(super) enum Framing {
    Exact(BodyDecoder),
    /// The end is inferred: a segment starting with a head in this direction,
    /// a new message in the other direction, close, `declared` bytes after the
    /// head segment, or (framing unknown) a fully captured segment ending with
    /// the chunked last-chunk marker `0\r\n\r\n`.
    Approx {
        declared: Option<u64>,
    },
}

#[derive(Debug)]
pub(super) struct Body {
    pub(super) kind: Kind,
    /// Kind::Request: the queue id of the request.
    pub(super) request_id: u64,
    /// Kind::Response: the response head.
    pub(super) response: Option<ResponseHead>,
    /// Kind::Response: the request it answers (None: unmatched).
    pub(super) paired: Option<PendingRequest>,
    pub(super) framing: Framing,
    /// Real body bytes attributed to the message so far.
    pub(super) bytes: u64,
    /// Exit timestamp of the last segment that carried bytes of the message.
    pub(super) last_exit_ns: u64,
}

impl Body {
    pub(super) fn reported_bytes(&self) -> u64 {
        match self.framing {
            Framing::Approx { declared: Some(n), .. } => n,
            _ => self.bytes,
        }
    }
}

#[derive(Debug)]
pub(super) enum State {
    Unsynced,
    AwaitHead,
    Body(Box<Body>),
}

#[derive(Debug)]
pub(super) struct Side {
    pub(super) state: State,
    /// Partial head (or, while unsynced, a too-short-to-tell head prefix).
    pub(super) buf: Vec<u8>,
    /// `buf` length already scanned for the end of the head.
    pub(super) scanned: usize,
    /// Start timestamp of the message whose head is in `buf`.
    pub(super) head_start_ns: u64,
    /// Segments held in `buf` while unsynced (0: `buf` is not tentative).
    pub(super) tentative_segments: u64,
    /// The first line of `buf` was complete and valid.
    pub(super) first_line_ok: bool,
}

impl Side {
    pub(super) fn new() -> Self {
        Side {
            state: State::Unsynced,
            buf: Vec::new(),
            scanned: 0,
            head_start_ns: 0,
            tentative_segments: 0,
            first_line_ok: false,
        }
    }

    pub(super) fn reset_buf(&mut self) {
        // Freed, not kept: only a head split over segments uses it, and 10 000 idle keep-alive
        // connections holding a few hundred bytes each add up.
        self.buf = Vec::new();
        self.scanned = 0;
        self.tentative_segments = 0;
        self.first_line_ok = false;
    }
}

pub(super) fn sniff(kind: Option<Kind>, buf: &[u8]) -> Sniff {
    match kind {
        Some(Kind::Request) => head::sniff_request(buf),
        Some(Kind::Response) => head::sniff_response(buf),
        None => head::sniff_request(buf).or(head::sniff_response(buf)),
    }
}

/// Kind of a head when the role is not known yet.
pub(super) fn guess_kind(buf: &[u8]) -> Kind {
    if buf.starts_with(b"HTTP/") || b"HTTP/".starts_with(buf) {
        Kind::Response
    } else {
        Kind::Request
    }
}

/// Parses a whole head: `head` ends with its empty line (found by `find_head_end`; at most the
/// head size limit, as only that much is ever buffered).
pub(super) fn parse_complete(kind: Kind, head: &[u8]) -> Result<Head, HeadError> {
    match kind {
        Kind::Request => head::parse_request_head_exact(head).map(Head::Request),
        Kind::Response => head::parse_response_head_exact(head).map(Head::Response),
    }
}

pub(super) fn parse_truncated(kind: Kind, buf: &[u8]) -> Result<Head, HeadError> {
    match kind {
        Kind::Request => head::parse_request_head_truncated(buf).map(Head::Request),
        Kind::Response => head::parse_response_head_truncated(buf).map(Head::Response),
    }
}

/// State after a head of a message without body. After a head cut by the
/// capture limit we cannot be sure the head ended in that segment: the next
/// message is only recognised at a segment that starts like a head.
pub(super) fn after_head(truncated: bool) -> State {
    if truncated {
        State::Unsynced
    } else {
        State::AwaitHead
    }
}

/// Body framing for a head; `None` when the message has no body.
pub(super) fn framing(
    truncated: bool,
    chunked: bool,
    content_length: Option<u64>,
    default: BodyKind,
    stats: &mut Http1Stats,
) -> Option<Framing> {
    if truncated {
        return match (chunked, content_length) {
            (false, Some(0)) => None,
            (false, Some(n)) => Some(Framing::Approx { declared: Some(n) }),
            _ => {
                stats.lost_sync += 1;
                Some(Framing::Approx { declared: None })
            }
        };
    }
    let kind = match (chunked, content_length) {
        (true, _) => BodyKind::Chunked,
        (false, Some(n)) => BodyKind::Length(n),
        (false, None) => default,
    };
    let dec = BodyDecoder::new(kind);
    (!dec.is_done()).then_some(Framing::Exact(dec))
}

pub(super) fn validate_prefix(kind: Kind, buf: &[u8]) -> Result<(), HeadError> {
    match kind {
        Kind::Request => head::validate_request_prefix(buf),
        Kind::Response => head::validate_response_prefix(buf),
    }
}
