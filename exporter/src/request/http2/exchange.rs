//! What a tracked stream becomes, and the counters.

use super::{GrpcCall, Role, StreamId};

/// How a stream's exchange came to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The response ended with END_STREAM.
    Complete,
    /// RST_STREAM from either side (`StreamExchange::reset` has the code).
    Reset,
    /// A GOAWAY said the stream will not be processed.
    GoAway,
    /// The connection closed with the stream in flight.
    Closed,
}

/// One HTTP/2 stream: a request and its response (for streaming gRPC, the
/// whole call). Never holds credentials, query strings or payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamExchange {
    pub role: Role,
    pub stream_id: StreamId,
    pub method: Option<String>,
    /// `:path` without query string or fragment.
    pub path: Option<String>,
    /// `:authority`, else `host`.
    pub authority: Option<String>,
    pub scheme: Option<String>,
    /// Final (non-1xx) `:status` when seen.
    pub status: Option<u16>,
    /// Response `content-type`, else the request's.
    pub content_type: Option<String>,
    /// Set when the content type is gRPC and `:path` names a method.
    pub grpc: Option<GrpcCall>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub user_agent: Option<String>,
    /// First request HEADERS: write entry for a client, read exit for a server.
    pub start_ns: u64,
    /// Exit of the syscall that completed the response (END_STREAM of the last
    /// HEADERS/DATA), of the RST_STREAM/GOAWAY, or of the stream's last frame
    /// when the connection closed.
    pub end_ns: u64,
    /// DATA payload bytes (padding excluded) of the request.
    pub request_body_bytes: u64,
    pub response_body_bytes: u64,
    /// RST_STREAM error code.
    pub reset: Option<u32>,
    /// Every header block of the stream was captured and decoded with a known
    /// HPACK state, and the connection role is known. When `false`, fields
    /// that are `Some` are still exact; the `None` ones may exist.
    pub headers_known: bool,
    pub end: StreamEnd,
}

/// A stream whose request headers were just seen: the moment its span starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedStream {
    pub stream_id: StreamId,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// Counters; the caller owns them and may share them across connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Http2Stats {
    /// Frames that broke the protocol (bad lengths, stream ids, padding,
    /// CONTINUATION without HEADERS, preface mismatch).
    pub frame_errors: u64,
    /// Header blocks HPACK could not decode (invalid index, Huffman, size update beyond the limit).
    pub hpack_errors: u64,
    /// Times a direction's HPACK dynamic table state became unknown.
    pub hpack_desync: u64,
    /// Frame headers that fell in uncaptured bytes.
    pub lost_sync: u64,
    /// Streams dropped without an exchange: over `max_streams` or the memory cap.
    pub streams_evicted: u64,
    /// Header blocks not fully decoded (cut, too large, unknown table entries).
    pub unknown_headers: u64,
    /// Streams whose request HEADERS were never seen (not emitted).
    pub orphan_streams: u64,
}

/// The request that an HTTP/1.1 `Upgrade: h2c` turned into stream 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2cUpgrade {
    pub method: String,
    pub path: String,
    pub authority: Option<String>,
    pub user_agent: Option<String>,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// Start of the HTTP/1.1 request, as `StreamExchange::start_ns`.
    pub start_ns: u64,
}
