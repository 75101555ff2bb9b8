//! HTTP/2 framing (RFC 9113 §3.4, §4, §6): the client connection preface,
//! frame headers, the payloads of every frame type, and [`FrameReader`], an
//! incremental per-direction reader over captured prefixes + real lengths.
//!
//! The reader never buffers DATA payloads: it follows them by length, so a
//! 1 MiB DATA frame of which 512 bytes were captured costs nothing. A frame
//! header that falls in uncaptured bytes loses frame sync. Sync is regained
//! only at a segment start that looks like a chain of plausible frames, and
//! is trusted only once checked: either every frame of that segment was
//! visible and they end exactly with it, or (on probation, frames reported
//! as [`ReadEvent::Unconfirmed`]) a later frame ends exactly with a segment.

use thiserror::Error;

mod reader;

pub use reader::{plausible_chain, Capture, Cursor, FrameDone, FrameReader, ReadEvent};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 9;
/// `SETTINGS_MAX_FRAME_SIZE` until the receiver advertises another value.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// Largest frame length the 24-bit length field can express.
pub const MAX_FRAME_LEN: u32 = (1 << 24) - 1;
/// Bytes of a SETTINGS payload that are kept (more entries are ignored).
pub const MAX_SETTINGS_PAYLOAD: usize = 6 * 64;
/// Frames whose headers must all look valid at a segment start to regain sync.
pub(crate) const RESYNC_CHAIN: usize = 8;

/// Frame flags (RFC 9113 §6).
pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// An HTTP/2 stream identifier (31 bits; 0 is the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId(pub u32);

impl StreamId {
    pub const CONNECTION: StreamId = StreamId(0);

    /// Client-initiated streams are odd (RFC 9113 §5.1.1).
    pub fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    fn from_be(b: [u8; 4]) -> StreamId {
        StreamId(u32::from_be_bytes(b) & 0x7fff_ffff)
    }
}

/// Frame type (RFC 9113 §6); unknown types must be ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown(u8),
}

impl FrameType {
    pub fn from_u8(b: u8) -> FrameType {
        match b {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(b) => b,
        }
    }

    /// Flags defined for this type (others are legal but never sent in practice).
    fn defined_flags(self) -> u8 {
        match self {
            FrameType::Data => flags::END_STREAM | flags::PADDED,
            FrameType::Headers => flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY,
            FrameType::Settings | FrameType::Ping => flags::ACK,
            FrameType::PushPromise => flags::END_HEADERS | flags::PADDED,
            FrameType::Continuation => flags::END_HEADERS,
            _ => 0,
        }
    }

    /// Whether the payload is an HPACK header block fragment.
    pub fn carries_header_block(self) -> bool {
        matches!(self, FrameType::Headers | FrameType::PushPromise | FrameType::Continuation)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("incomplete frame: {needed} more bytes needed")]
    Incomplete { needed: usize },
    #[error("{kind:?} frame of {length} bytes exceeds the maximum frame size {max}")]
    TooLarge { kind: FrameType, length: u32, max: u32 },
    #[error("{kind:?} frame has an invalid length of {length} bytes")]
    BadLength { kind: FrameType, length: u32 },
    #[error("{kind:?} frame on stream {stream}: {reason}")]
    BadStream { kind: FrameType, stream: u32, reason: &'static str },
    #[error("{kind:?} frame: padding of {pad} bytes does not fit a payload of {length} bytes")]
    BadPadding { kind: FrameType, pad: u8, length: u32 },
    #[error("bytes do not match the HTTP/2 client connection preface")]
    BadPreface,
}

/// The 9-byte frame header (RFC 9113 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub length: u32,
    pub kind: FrameType,
    pub flags: u8,
    pub stream_id: StreamId,
    /// The reserved bit was set (receivers must ignore it).
    pub reserved: bool,
}

impl FrameHeader {
    /// Parses the header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<FrameHeader, FrameError> {
        let Some(h) = buf.first_chunk::<FRAME_HEADER_LEN>() else {
            return Err(FrameError::Incomplete { needed: FRAME_HEADER_LEN - buf.len() });
        };
        Ok(FrameHeader {
            length: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: FrameType::from_u8(h[3]),
            flags: h[4],
            stream_id: StreamId::from_be([h[5], h[6], h[7], h[8]]),
            reserved: h[5] & 0x80 != 0,
        })
    }

    pub fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        let l = self.length.min(MAX_FRAME_LEN).to_be_bytes();
        let s = (self.stream_id.0 | if self.reserved { 0x8000_0000 } else { 0 }).to_be_bytes();
        [l[1], l[2], l[3], self.kind.to_u8(), self.flags, s[0], s[1], s[2], s[3]]
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// END_STREAM on DATA or HEADERS.
    pub fn end_stream(&self) -> bool {
        matches!(self.kind, FrameType::Data | FrameType::Headers) && self.has(flags::END_STREAM)
    }

    /// END_HEADERS on HEADERS, PUSH_PROMISE or CONTINUATION.
    pub fn end_headers(&self) -> bool {
        self.kind.carries_header_block() && self.has(flags::END_HEADERS)
    }

    /// ACK on SETTINGS or PING.
    pub fn ack(&self) -> bool {
        matches!(self.kind, FrameType::Settings | FrameType::Ping) && self.has(flags::ACK)
    }

    /// Checks what RFC 9113 makes a connection error: lengths and stream ids.
    /// `max_frame_size` is the receiver's `SETTINGS_MAX_FRAME_SIZE`.
    pub fn validate(&self, max_frame_size: u32) -> Result<(), FrameError> {
        let (kind, length, stream) = (self.kind, self.length, self.stream_id.0);
        if length > max_frame_size {
            return Err(FrameError::TooLarge { kind, length, max: max_frame_size });
        }
        let bad_len = || Err(FrameError::BadLength { kind, length });
        let bad_stream = |reason| Err(FrameError::BadStream { kind, stream, reason });
        let needs_stream = matches!(
            kind,
            FrameType::Data
                | FrameType::Headers
                | FrameType::Priority
                | FrameType::RstStream
                | FrameType::PushPromise
                | FrameType::Continuation
        );
        if needs_stream && stream == 0 {
            return bad_stream("must not be the connection");
        }
        if matches!(kind, FrameType::Settings | FrameType::Ping | FrameType::GoAway) && stream != 0 {
            return bad_stream("must be the connection");
        }
        match kind {
            FrameType::Settings if length % 6 != 0 || (self.has(flags::ACK) && length != 0) => bad_len(),
            FrameType::Ping if length != 8 => bad_len(),
            FrameType::GoAway if length < 8 => bad_len(),
            FrameType::RstStream | FrameType::WindowUpdate if length != 4 => bad_len(),
            FrameType::Priority if length != 5 => bad_len(),
            FrameType::PushPromise if length < 4 => bad_len(),
            _ => Ok(()),
        }
    }

    /// Stricter than [`validate`](Self::validate): what a real implementation
    /// sends. Used to find frame boundaries when sync was lost.
    pub fn is_plausible(&self, max_frame_size: u32) -> bool {
        let min_len = match self.kind {
            // A header block is never empty; a PRIORITY field needs 5 bytes.
            FrameType::Headers => 1 + if self.has(flags::PRIORITY) { 5 } else { 0 },
            FrameType::PushPromise => 5,
            _ => 0,
        };
        !matches!(self.kind, FrameType::Unknown(_))
            && !self.reserved
            && self.flags & !self.kind.defined_flags() == 0
            && self.length >= min_len
            && self.validate(max_frame_size).is_ok()
    }

    /// Bytes of the payload worth buffering: the header block fragment, the
    /// fixed fields of control frames, the pad length of DATA. `None` means
    /// the whole payload (up to the caller's limit).
    fn keep_len(&self) -> Option<u32> {
        match self.kind {
            FrameType::Data => Some(u32::from(self.has(flags::PADDED))),
            FrameType::Headers | FrameType::PushPromise | FrameType::Continuation => None,
            FrameType::Settings => Some(self.length.min(MAX_SETTINGS_PAYLOAD as u32)),
            FrameType::Ping | FrameType::GoAway => Some(8),
            FrameType::RstStream | FrameType::WindowUpdate => Some(4),
            FrameType::Priority => Some(5),
            FrameType::Unknown(_) => Some(0),
        }
    }
}

/// Stream dependency fields of HEADERS and PRIORITY (deprecated, but parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub exclusive: bool,
    pub dependency: StreamId,
    pub weight: u8,
}

impl Priority {
    fn parse(b: &[u8]) -> Option<Priority> {
        let &[a, b1, c, d, weight, ..] = b else {
            return None;
        };
        Some(Priority { exclusive: a & 0x80 != 0, dependency: StreamId::from_be([a, b1, c, d]), weight })
    }
}

/// Known SETTINGS parameters (RFC 9113 §6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingId {
    HeaderTableSize,
    EnablePush,
    MaxConcurrentStreams,
    InitialWindowSize,
    MaxFrameSize,
    MaxHeaderListSize,
    Other(u16),
}

impl SettingId {
    pub fn from_u16(v: u16) -> SettingId {
        match v {
            1 => SettingId::HeaderTableSize,
            2 => SettingId::EnablePush,
            3 => SettingId::MaxConcurrentStreams,
            4 => SettingId::InitialWindowSize,
            5 => SettingId::MaxFrameSize,
            6 => SettingId::MaxHeaderListSize,
            other => SettingId::Other(other),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub id: SettingId,
    pub value: u32,
}

/// The parameters of a SETTINGS payload, in order.
pub fn settings(payload: &[u8]) -> impl Iterator<Item = Setting> + '_ {
    payload.chunks_exact(6).map(|c| Setting {
        id: SettingId::from_u16(u16::from_be_bytes([c[0], c[1]])),
        value: u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
    })
}

/// GOAWAY fields (the debug data is not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoAway {
    pub last_stream_id: StreamId,
    pub error_code: u32,
}

/// A parsed frame. Header block fragments borrow from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Data { stream: StreamId, end_stream: bool, data_len: u32 },
    Headers { stream: StreamId, end_stream: bool, end_headers: bool, priority: Option<Priority>, fragment: &'a [u8] },
    Priority { stream: StreamId, priority: Priority },
    RstStream { stream: StreamId, error_code: u32 },
    Settings { ack: bool, payload: &'a [u8] },
    PushPromise { stream: StreamId, end_headers: bool, promised: StreamId, fragment: &'a [u8] },
    Ping { ack: bool },
    GoAway(GoAway),
    WindowUpdate { stream: StreamId, increment: u32 },
    Continuation { stream: StreamId, end_headers: bool, fragment: &'a [u8] },
    Unknown { kind: u8, stream: StreamId },
}

/// A frame parsed from the start of a buffer and its total length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFrame<'a> {
    pub header: FrameHeader,
    pub frame: Frame<'a>,
    /// Header + payload bytes.
    pub len: usize,
}

/// Parses one complete frame at the start of `buf` (lengths up to the
/// protocol maximum are accepted; callers that know the peer's
/// `SETTINGS_MAX_FRAME_SIZE` check it with [`FrameHeader::validate`]).
pub fn parse_frame(buf: &[u8]) -> Result<ParsedFrame<'_>, FrameError> {
    let header = FrameHeader::parse(buf)?;
    header.validate(MAX_FRAME_LEN)?;
    let end = FRAME_HEADER_LEN + header.length as usize;
    let Some(payload) = buf.get(FRAME_HEADER_LEN..end) else {
        return Err(FrameError::Incomplete { needed: end - buf.len() });
    };
    let frame = Frame::parse(&header, payload)?;
    Ok(ParsedFrame { header, frame, len: end })
}

impl<'a> Frame<'a> {
    /// Parses a complete payload of the frame described by `h`.
    pub fn parse(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        Frame::parse_captured(h, payload, true)
    }

    /// Parses a payload of which only a prefix may have been captured
    /// (`complete == false`): header block fragments are then cut, and
    /// padding that cannot be located is assumed to lie in the missing part.
    pub fn parse_captured(h: &FrameHeader, payload: &'a [u8], complete: bool) -> Result<Frame<'a>, FrameError> {
        let stream = h.stream_id;
        let need = |n: usize| -> Result<(), FrameError> {
            if payload.len() < n {
                Err(FrameError::Incomplete { needed: n - payload.len() })
            } else {
                Ok(())
            }
        };
        Ok(match h.kind {
            FrameType::Data => {
                let pad = if h.has(flags::PADDED) {
                    need(1)?;
                    pad_overhead(h, payload[0])?
                } else {
                    0
                };
                Frame::Data { stream, end_stream: h.end_stream(), data_len: h.length - pad }
            }
            FrameType::Headers => {
                let (body, _) = unpad(h, payload, complete)?;
                let (priority, fragment) = if h.has(flags::PRIORITY) {
                    need(usize::from(h.has(flags::PADDED)) + 5)?;
                    (Priority::parse(body), body.get(5..).unwrap_or_default())
                } else {
                    (None, body)
                };
                Frame::Headers { stream, end_stream: h.end_stream(), end_headers: h.end_headers(), priority, fragment }
            }
            FrameType::Priority => {
                need(5)?;
                let priority = Priority::parse(payload).ok_or(FrameError::Incomplete { needed: 5 })?;
                Frame::Priority { stream, priority }
            }
            FrameType::RstStream => Frame::RstStream { stream, error_code: be_u32(payload)? },
            FrameType::Settings => Frame::Settings { ack: h.ack(), payload },
            FrameType::PushPromise => {
                let (body, _) = unpad(h, payload, complete)?;
                let Some((promised, fragment)) = body.split_first_chunk::<4>() else {
                    return Err(FrameError::Incomplete { needed: 4 });
                };
                Frame::PushPromise {
                    stream,
                    end_headers: h.end_headers(),
                    promised: StreamId::from_be(*promised),
                    fragment,
                }
            }
            FrameType::Ping => Frame::Ping { ack: h.ack() },
            FrameType::GoAway => {
                need(8)?;
                let last = StreamId::from_be([payload[0], payload[1], payload[2], payload[3]]);
                Frame::GoAway(GoAway { last_stream_id: last, error_code: be_u32(&payload[4..])? })
            }
            FrameType::WindowUpdate => Frame::WindowUpdate { stream, increment: be_u32(payload)? & 0x7fff_ffff },
            FrameType::Continuation => Frame::Continuation { stream, end_headers: h.end_headers(), fragment: payload },
            FrameType::Unknown(kind) => Frame::Unknown { kind, stream },
        })
    }
}

fn be_u32(b: &[u8]) -> Result<u32, FrameError> {
    match b.first_chunk::<4>() {
        Some(c) => Ok(u32::from_be_bytes(*c)),
        None => Err(FrameError::Incomplete { needed: 4 - b.len() }),
    }
}

/// Bytes taken by padding (pad length field + padding) in a PADDED frame.
fn pad_overhead(h: &FrameHeader, pad: u8) -> Result<u32, FrameError> {
    let overhead = u32::from(pad) + 1;
    if overhead > h.length {
        return Err(FrameError::BadPadding { kind: h.kind, pad, length: h.length });
    }
    Ok(overhead)
}

/// Strips padding from a (possibly cut) payload: returns the content and the pad length.
fn unpad<'a>(h: &FrameHeader, payload: &'a [u8], complete: bool) -> Result<(&'a [u8], u8), FrameError> {
    if !h.has(flags::PADDED) {
        return Ok((payload, 0));
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(FrameError::Incomplete { needed: 1 });
    };
    pad_overhead(h, pad)?;
    let content_len = h.length as usize - 1 - usize::from(pad);
    if complete && rest.len() < content_len {
        return Err(FrameError::Incomplete { needed: content_len - rest.len() });
    }
    Ok((&rest[..content_len.min(rest.len())], pad))
}

/// Payload bytes of a DATA frame excluding padding; `pad` is the first
/// payload byte when it was captured (without it the padding is counted).
pub fn data_len(h: &FrameHeader, pad: Option<u8>) -> u32 {
    match pad {
        Some(p) if h.has(flags::PADDED) => h.length.saturating_sub(u32::from(p) + 1),
        _ => h.length,
    }
}

/// Writes a frame (header + payload) to `out`; the length field is the
/// payload length (cut at 2^24-1). For tests and tools.
pub fn write_frame(out: &mut Vec<u8>, kind: FrameType, flags: u8, stream: StreamId, payload: &[u8]) {
    let length = u32::try_from(payload.len()).unwrap_or(MAX_FRAME_LEN).min(MAX_FRAME_LEN);
    let h = FrameHeader { length, kind, flags, stream_id: stream, reserved: false };
    out.extend_from_slice(&h.encode());
    out.extend_from_slice(&payload[..length as usize]);
}

/// Whether `buf` starts with the client connection preface; a shorter `buf`
/// (at least 4 bytes, `PRI `) counts when it is a prefix of the preface.
pub fn is_client_preface(buf: &[u8]) -> bool {
    let n = buf.len().min(PREFACE.len());
    n >= 4 && buf[..n] == PREFACE[..n]
}

/// Whether `buf` starts with a plausible SETTINGS or HEADERS frame (and any
/// further fully visible frame headers are plausible too). Cheap; for
/// protocol detection of connections whose preface was not seen.
pub fn looks_like_http2_frames(buf: &[u8]) -> bool {
    match FrameHeader::parse(buf) {
        Ok(h) if matches!(h.kind, FrameType::Settings | FrameType::Headers) => {
            plausible_chain(buf, buf.len() as u64, DEFAULT_MAX_FRAME_SIZE)
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
