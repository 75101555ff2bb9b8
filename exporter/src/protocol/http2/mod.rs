//! HTTP/2 wire parsing: framing ([`frame`]), header compression ([`hpack`])
//! and the header fields spans keep ([`fields`]). Pure parsers and small
//! state machines, no I/O; see `crate::request::http2` for stream pairing.

pub mod fields;
pub mod frame;
pub mod hpack;

pub use fields::HeaderFields;
pub use frame::{
    is_client_preface, looks_like_http2_frames, parse_frame, Frame, FrameError, FrameHeader, FrameReader, FrameType,
    StreamId, PREFACE,
};
pub use hpack::{Decoder, FieldRef, HpackError};

/// Memory bounds of one HTTP/2 connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Limits {
    /// Streams tracked at once; beyond this the oldest is evicted (and counted).
    pub max_streams: usize,
    /// Largest header block (HEADERS/PUSH_PROMISE + CONTINUATION) buffered per
    /// direction; larger blocks are decoded up to this size and the HPACK
    /// state of that direction is then unknown.
    pub max_header_block_bytes: usize,
    /// Hard cap on the bytes of each HPACK dynamic table, whatever the peers
    /// negotiate (beyond it the table is only partly known).
    pub max_table_size: usize,
    /// Cap on the connection's estimated memory (buffers, tables, tracked
    /// streams); over it the oldest streams are evicted.
    pub max_connection_bytes: usize,
}

impl Default for Http2Limits {
    fn default() -> Self {
        Http2Limits {
            max_streams: 256,
            max_header_block_bytes: 16 * 1024,
            max_table_size: hpack::DEFAULT_MAX_TABLE_SIZE,
            max_connection_bytes: 512 * 1024,
        }
    }
}
