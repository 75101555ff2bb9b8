//! HTTP/1.x body framing decoder working on captured prefixes.
//!
//! Every call gets the *captured* bytes of a piece of a syscall payload and the
//! *real* number of bytes of that piece (`len >= captured.len()`); the captured
//! bytes are a prefix of the real ones. Length-delimited and close-delimited
//! bodies only need the real counts; chunked bodies need the chunk framing to be
//! captured, except that uncaptured bytes falling entirely inside chunk data are
//! skipped using the real count.

use thiserror::Error;

/// Longest chunk extension (or trailer line) tolerated before giving up.
const MAX_FRAMING_LINE: u32 = 4096;
/// At most 16 hex digits fit in a u64.
const MAX_SIZE_DIGITS: u8 = 16;

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all (e.g. response to HEAD, 204, 304, request without length).
    Empty,
    Length(u64),
    Chunked,
    /// Ends when the connection closes.
    CloseDelimited,
}

/// Bytes of a piece that belong to the body, and whether the body is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Real bytes (<= the piece's `len`) that belonged to the body.
    pub consumed: u64,
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BodyError {
    /// Uncaptured bytes hide chunk framing, or the chunk framing is invalid.
    /// The framing of the rest of the message cannot be followed.
    #[error("lost chunked framing: {reason}")]
    LostSync { reason: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading chunk-size hex digits.
    Size {
        value: u64,
        digits: u8,
    },
    /// After the size: extensions / whitespace / CR up to LF.
    SizeTail {
        value: u64,
        seen: u32,
    },
    Data {
        remaining: u64,
    },
    /// After chunk data: expecting CR or LF.
    DataEnd,
    /// After chunk data and CR: expecting LF.
    DataEndLf,
    /// At the start of a trailer line (after the last chunk).
    TrailerStart,
    /// Inside a trailer line.
    TrailerLine {
        seen: u32,
    },
    /// Empty line's CR seen: expecting LF.
    TrailerEndLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Done,
    Length { remaining: u64 },
    Chunked(Chunk),
    CloseDelimited,
}

/// Incremental body framing decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDecoder {
    state: State,
}

fn lost<T>(reason: &'static str) -> Result<T, BodyError> {
    Err(BodyError::LostSync { reason })
}

impl BodyDecoder {
    pub fn new(kind: BodyKind) -> Self {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Chunked(Chunk::Size { value: 0, digits: 0 }),
            BodyKind::CloseDelimited => State::CloseDelimited,
        };
        BodyDecoder { state }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    pub fn is_close_delimited(&self) -> bool {
        self.state == State::CloseDelimited
    }

    /// Feeds one piece: `captured` is the captured prefix of `len` real bytes.
    /// On `done`, bytes after `consumed` belong to the next message.
    pub fn feed(&mut self, captured: &[u8], len: u64) -> Result<Progress, BodyError> {
        let captured = match usize::try_from(len) {
            Ok(l) if l < captured.len() => &captured[..l],
            _ => captured,
        };
        match &mut self.state {
            State::Done => Ok(Progress { consumed: 0, done: true }),
            State::Length { remaining } => {
                let n = (*remaining).min(len);
                *remaining -= n;
                let done = *remaining == 0;
                if done {
                    self.state = State::Done;
                }
                Ok(Progress { consumed: n, done })
            }
            State::CloseDelimited => Ok(Progress { consumed: len, done: false }),
            State::Chunked(c) => {
                let mut chunk = *c;
                let res = feed_chunked(&mut chunk, captured, len);
                match res {
                    Ok(p) if p.done => self.state = State::Done,
                    Ok(_) => self.state = State::Chunked(chunk),
                    Err(_) => self.state = State::CloseDelimited,
                }
                res
            }
        }
    }
}

fn hex_val(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Runs the chunk state machine over `captured`, then accounts for the
/// `len - captured.len()` uncaptured bytes (only possible inside chunk data).
fn feed_chunked(st: &mut Chunk, captured: &[u8], len: u64) -> Result<Progress, BodyError> {
    let mut i = 0usize;
    while i < captured.len() {
        let b = captured[i];
        match st {
            Chunk::Size { value, digits } => match hex_val(b) {
                Some(d) => {
                    if *digits >= MAX_SIZE_DIGITS {
                        return lost("chunk size too large");
                    }
                    *value = (*value << 4) | d;
                    *digits += 1;
                    i += 1;
                }
                None if *digits == 0 => return lost("missing chunk size"),
                None => *st = Chunk::SizeTail { value: *value, seen: 0 },
            },
            Chunk::SizeTail { value, seen } => {
                if b == b'\n' {
                    *st = if *value == 0 { Chunk::TrailerStart } else { Chunk::Data { remaining: *value } };
                } else if (b < 0x20 && b != b'\t' && b != b'\r') || b == 0x7f {
                    return lost("control character in chunk extension");
                } else {
                    *seen += 1;
                    if *seen > MAX_FRAMING_LINE {
                        return lost("chunk extension too long");
                    }
                }
                i += 1;
            }
            Chunk::Data { remaining } => {
                let avail = (captured.len() - i) as u64;
                let n = (*remaining).min(avail);
                *remaining -= n;
                // n <= avail, which fits in usize.
                i += usize::try_from(n).unwrap_or(captured.len() - i);
                if *remaining == 0 {
                    *st = Chunk::DataEnd;
                }
            }
            Chunk::DataEnd => {
                *st = match b {
                    b'\r' => Chunk::DataEndLf,
                    b'\n' => Chunk::Size { value: 0, digits: 0 },
                    _ => return lost("missing CRLF after chunk data"),
                };
                i += 1;
            }
            Chunk::DataEndLf => {
                if b != b'\n' {
                    return lost("missing LF after chunk data");
                }
                *st = Chunk::Size { value: 0, digits: 0 };
                i += 1;
            }
            Chunk::TrailerStart => {
                i += 1;
                match b {
                    b'\n' => return Ok(Progress { consumed: i as u64, done: true }),
                    b'\r' => *st = Chunk::TrailerEndLf,
                    _ => *st = Chunk::TrailerLine { seen: 1 },
                }
            }
            Chunk::TrailerLine { seen } => {
                i += 1;
                if b == b'\n' {
                    *st = Chunk::TrailerStart;
                } else {
                    *seen += 1;
                    if *seen > MAX_FRAMING_LINE {
                        return lost("trailer line too long");
                    }
                }
            }
            Chunk::TrailerEndLf => {
                if b != b'\n' {
                    return lost("missing LF after trailers");
                }
                return Ok(Progress { consumed: i as u64 + 1, done: true });
            }
        }
    }
    let gap = len.saturating_sub(captured.len() as u64);
    if gap > 0 {
        match st {
            Chunk::Data { remaining } if *remaining >= gap => {
                *remaining -= gap;
                if *remaining == 0 {
                    *st = Chunk::DataEnd;
                }
            }
            _ => return lost("uncaptured bytes hide chunk framing"),
        }
    }
    Ok(Progress { consumed: len, done: false })
}

/// Heuristic used after chunked framing was lost: does this fully captured
/// segment end with the last-chunk marker and an empty trailer section?
pub fn ends_with_last_chunk(data: &[u8]) -> bool {
    data == b"0\r\n\r\n" || data.ends_with(b"\r\n0\r\n\r\n")
}
