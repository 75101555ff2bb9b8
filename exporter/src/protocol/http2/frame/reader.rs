//! Incremental per-direction frame reader over captured prefixes + real
//! lengths, and the rules for finding frame boundaries again after a loss.

use super::{FrameError, FrameHeader, FrameType, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, RESYNC_CHAIN};

/// Whether `data` (captured prefix of `len` bytes) starts with a chain of
/// plausible frame headers, following lengths through the captured bytes.
pub fn plausible_chain(data: &[u8], len: u64, max_frame_size: u32) -> bool {
    chain_at_start(data, len, max_frame_size, 1).is_some()
}

/// How far the frame chain at the start of a segment could be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// Enough frames, every header captured and plausible, ending exactly
    /// where the segment ends.
    Exact,
    /// Plausible as far as visible (a header lies in uncaptured bytes, the
    /// segment ends inside a frame, or more frames than checked).
    Partial,
}

/// `min_exact`: frames needed for [`Chain::Exact`].
fn chain_at_start(data: &[u8], len: u64, max_frame_size: u32, min_exact: usize) -> Option<Chain> {
    let mut pos = 0u64;
    for i in 0..RESYNC_CHAIN {
        if pos == len && i >= min_exact.max(1) {
            return Some(Chain::Exact);
        }
        if pos > len {
            return Some(Chain::Partial);
        }
        let rest = usize::try_from(pos).ok().and_then(|p| data.get(p..)).unwrap_or_default();
        if i > 0 && rest.len() < FRAME_HEADER_LEN {
            return Some(Chain::Partial);
        }
        match FrameHeader::parse(rest) {
            // A CONTINUATION cannot be used without its HEADERS.
            Ok(h) if h.is_plausible(max_frame_size) && (i > 0 || h.kind != FrameType::Continuation) => {
                pos += (FRAME_HEADER_LEN as u64) + u64::from(h.length);
            }
            _ => return None,
        }
    }
    Some(Chain::Partial)
}

/// Whether `data`, fewer than 9 bytes, can be the start of a plausible frame header.
fn plausible_header_prefix(data: &[u8], max_frame_size: u32) -> bool {
    let mut h = [0u8; FRAME_HEADER_LEN];
    let n = data.len().min(FRAME_HEADER_LEN);
    h[..n].copy_from_slice(&data[..n]);
    let Ok(header) = FrameHeader::parse(&h) else {
        return false;
    };
    // Unknown bytes are zero: the smallest length, type DATA, no flags, stream 0.
    let length_ok = header.length <= max_frame_size;
    let kind_ok = n < 4 || !matches!(header.kind, FrameType::Unknown(_) | FrameType::Continuation);
    let flags_ok = n < 5 || header.flags & !header.kind.defined_flags() == 0;
    let reserved_ok = n < 6 || !header.reserved;
    !data.is_empty() && length_ok && kind_ok && flags_ok && reserved_ok
}

/// Whether a reader may take the start of this segment as a frame boundary,
/// and whether that needs confirming (see [`FrameReader`]).
///
/// `first`: the first segment seen in this direction. Segments start where a
/// write started, which is nearly always a frame boundary; after a sync loss
/// the search is stricter, since skipped segments can start anywhere: two
/// whole frames are needed, and segments too short for a header are ignored.
fn boundary_at_start(data: &[u8], len: u64, max_frame_size: u32, first: bool) -> Option<Sync> {
    if data.len() >= FRAME_HEADER_LEN {
        let min_exact = if first { 1 } else { 2 };
        return match chain_at_start(data, len, max_frame_size, min_exact)? {
            Chain::Exact => Some(Sync::Confirmed),
            Chain::Partial => Some(Sync::Probation),
        };
    }
    let short = first && data.len() as u64 == len && plausible_header_prefix(data, max_frame_size);
    short.then_some(Sync::Probation)
}

/// Trust in the frame boundaries a reader follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    Confirmed,
    /// Boundaries guessed from a segment start that could not be fully
    /// checked: frames are reported as [`ReadEvent::Unconfirmed`] (and must
    /// not be used) until a second frame ends exactly where a segment ends;
    /// that frame and the following ones are trusted.
    Probation,
}

/// The part of a segment not yet consumed by a reader.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    /// Captured prefix of the segment.
    pub data: &'a [u8],
    /// Real length of the segment.
    pub len: u64,
    /// Bytes consumed so far.
    pub pos: u64,
    /// Timestamp attached to frames whose first byte is in this segment.
    pub start_ns: u64,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8], len: u64, start_ns: u64) -> Self {
        Cursor { data, len: len.max(data.len() as u64), pos: 0, start_ns }
    }

    pub fn is_done(&self) -> bool {
        self.pos >= self.len
    }

    /// Captured bytes among the next `n`.
    pub fn captured(&self, n: u64) -> &'a [u8] {
        let start = usize::try_from(self.pos).unwrap_or(usize::MAX).min(self.data.len());
        let end = usize::try_from(self.pos.saturating_add(n)).unwrap_or(usize::MAX).min(self.data.len());
        &self.data[start..end]
    }
}

/// How much of a finished frame's kept payload was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// Every byte worth keeping was captured and is in [`FrameReader::payload`].
    Complete,
    /// Some of those bytes were not captured; the payload holds a prefix.
    Truncated,
    /// The header block fragment was larger than the reader's buffer limit.
    Oversized,
}

/// A frame whose last byte was consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDone {
    pub header: FrameHeader,
    pub capture: Capture,
    /// `start_ns` of the cursor in which the frame header began.
    pub start_ns: u64,
}

/// What [`FrameReader::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEvent {
    Frame(FrameDone),
    /// A frame header lies in uncaptured bytes: frame sync is lost.
    LostSync,
    /// A frame header that no peer would send: frame sync is lost.
    Invalid(FrameError),
    /// Frame sync was regained at the start of this segment.
    Resynced,
    /// A frame read while sync is not confirmed: its content must not be
    /// trusted (a header block in it still changed the HPACK table).
    Unconfirmed(FrameHeader),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Header,
    Payload { header: FrameHeader, remaining: u32, keep: u32, lost: bool, oversized: bool },
    Unsynced,
}

/// Incremental frame reader for one direction of a connection.
#[derive(Debug, Clone)]
pub struct FrameReader {
    state: ReadState,
    sync: Sync,
    /// Frames completed on probation.
    probation_frames: u32,
    head: [u8; FRAME_HEADER_LEN],
    head_len: usize,
    frame_start_ns: u64,
    payload: Vec<u8>,
    max_block: usize,
}

impl FrameReader {
    /// A reader positioned at a frame boundary. Header block fragments are
    /// buffered up to `max_block` bytes.
    pub fn new(max_block: usize) -> Self {
        FrameReader {
            state: ReadState::Header,
            sync: Sync::Confirmed,
            probation_frames: 0,
            head: [0; FRAME_HEADER_LEN],
            head_len: 0,
            frame_start_ns: 0,
            payload: Vec::new(),
            max_block,
        }
    }

    /// A reader that does not know where frames start.
    pub fn unsynced(max_block: usize) -> Self {
        FrameReader { state: ReadState::Unsynced, ..FrameReader::new(max_block) }
    }

    /// A reader for a direction whose first segment is `data` (of real length
    /// `len`): at a frame boundary if the segment starts like frames do.
    /// `known_start`: the segment is known to start with a frame (a server's
    /// first bytes after the client preface was seen); it only has to look
    /// like one.
    pub fn at_start(max_block: usize, data: &[u8], len: u64, known_start: bool) -> Self {
        let max = DEFAULT_MAX_FRAME_SIZE;
        let sync = match boundary_at_start(data, len, max, true) {
            Some(_) if known_start => Some(Sync::Confirmed),
            None if known_start && plausible_header_prefix(data, max) => Some(Sync::Confirmed),
            other => other,
        };
        match sync {
            Some(sync) => FrameReader { sync, ..FrameReader::new(max_block) },
            None => FrameReader::unsynced(max_block),
        }
    }

    pub fn is_synced(&self) -> bool {
        self.state != ReadState::Unsynced
    }

    /// Synced, and the boundaries were confirmed.
    pub fn is_confirmed(&self) -> bool {
        self.is_synced() && self.sync == Sync::Confirmed
    }

    /// Whether the reader is between frames (no partial header or payload).
    pub fn at_boundary(&self) -> bool {
        self.state == ReadState::Header && self.head_len == 0
    }

    /// Kept payload of the frame last returned by [`next`](Self::next).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Moves the kept payload out (give it back with [`restore_payload`](Self::restore_payload)
    /// to reuse its allocation).
    pub fn take_payload(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.payload)
    }

    pub fn restore_payload(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.payload = buf;
    }

    /// Bytes held (always `<= max(max_block, MAX_SETTINGS_PAYLOAD) + 9`).
    pub fn buffered_bytes(&self) -> usize {
        self.payload.len() + self.head_len
    }

    /// Consumes bytes of `cur` up to the next event. `None` when the segment
    /// is used up (or skipped because sync is lost). `max_frame_size` is the
    /// receiver's limit, checked on every header.
    pub fn next(&mut self, cur: &mut Cursor<'_>, max_frame_size: u32) -> Option<ReadEvent> {
        loop {
            match self.state {
                ReadState::Unsynced => {
                    let max = max_frame_size.min(DEFAULT_MAX_FRAME_SIZE);
                    let boundary = if cur.pos == 0 { boundary_at_start(cur.data, cur.len, max, false) } else { None };
                    if let Some(sync) = boundary {
                        self.state = ReadState::Header;
                        self.head_len = 0;
                        self.sync = sync;
                        self.probation_frames = 0;
                        return Some(ReadEvent::Resynced);
                    }
                    cur.pos = cur.len;
                    return None;
                }
                ReadState::Header => {
                    if cur.is_done() {
                        return None;
                    }
                    if self.head_len == 0 {
                        self.frame_start_ns = cur.start_ns;
                    }
                    let want = (FRAME_HEADER_LEN - self.head_len) as u64;
                    let n = want.min(cur.len - cur.pos);
                    let got = cur.captured(n);
                    if (got.len() as u64) < n {
                        return self.lose_or_drop(cur, ReadEvent::LostSync);
                    }
                    self.head[self.head_len..self.head_len + got.len()].copy_from_slice(got);
                    self.head_len += got.len();
                    cur.pos += n;
                    if self.head_len < FRAME_HEADER_LEN {
                        return None;
                    }
                    self.head_len = 0;
                    let header = match FrameHeader::parse(&self.head) {
                        Ok(h) => h,
                        Err(e) => return self.lose_or_drop(cur, ReadEvent::Invalid(e)),
                    };
                    if self.sync == Sync::Probation && !header.is_plausible(max_frame_size.min(DEFAULT_MAX_FRAME_SIZE))
                    {
                        return self.lose_or_drop(cur, ReadEvent::LostSync);
                    }
                    if let Err(e) = header.validate(max_frame_size) {
                        return self.lose_or_drop(cur, ReadEvent::Invalid(e));
                    }
                    let limit = u32::try_from(self.max_block).unwrap_or(u32::MAX);
                    let keep = header.keep_len().unwrap_or(header.length.min(limit));
                    let oversized = header.kind.carries_header_block() && header.length > limit;
                    self.payload.clear();
                    self.state = ReadState::Payload { header, remaining: header.length, keep, lost: false, oversized };
                }
                ReadState::Payload { header, remaining, keep, lost, oversized } => {
                    if remaining > 0 && cur.is_done() {
                        return None;
                    }
                    let n = u64::from(remaining).min(cur.len - cur.pos);
                    let offset = header.length - remaining;
                    let mut lost = lost;
                    // After a hole the payload must stay a prefix: nothing more is kept.
                    if offset < keep && !lost {
                        let want = u64::from(keep - offset).min(n);
                        let got = cur.captured(want);
                        self.payload.extend_from_slice(got);
                        lost |= (got.len() as u64) < want;
                    }
                    cur.pos += n;
                    let remaining = remaining - n as u32;
                    if remaining > 0 {
                        self.state = ReadState::Payload { header, remaining, keep, lost, oversized };
                        return None;
                    }
                    self.state = ReadState::Header;
                    let capture = if lost {
                        Capture::Truncated
                    } else if oversized {
                        Capture::Oversized
                    } else {
                        Capture::Complete
                    };
                    if self.sync == Sync::Probation {
                        self.probation_frames += 1;
                        if !cur.is_done() || self.probation_frames < 2 {
                            return Some(ReadEvent::Unconfirmed(header));
                        }
                        // A second frame that ends exactly where the segment ends.
                        self.sync = Sync::Confirmed;
                    }
                    return Some(ReadEvent::Frame(FrameDone { header, capture, start_ns: self.frame_start_ns }));
                }
            }
        }
    }

    /// Forgets frame boundaries; the rest of the segment is skipped.
    pub fn lose_sync(&mut self) {
        self.state = ReadState::Unsynced;
        self.sync = Sync::Confirmed;
        self.head_len = 0;
        self.payload.clear();
    }

    /// Drops sync and the rest of the segment. On probation the guessed
    /// boundary was simply wrong: nothing to report.
    fn lose_or_drop(&mut self, cur: &mut Cursor<'_>, ev: ReadEvent) -> Option<ReadEvent> {
        let confirmed = self.sync == Sync::Confirmed;
        self.lose_sync();
        cur.pos = cur.len;
        confirmed.then_some(ev)
    }
}
