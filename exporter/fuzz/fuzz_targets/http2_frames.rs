//! Feeds arbitrary bytes, split at fuzzer-chosen points, in both directions
//! through `Http2Connection`, with fuzzer-chosen capture truncation, client
//! prefaces, frame headers and closes. Checks the memory and stream bounds
//! and timestamp order.
//!
//! Input layout: one config byte, then records of
//! `[control, length, gap, length bytes of payload]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::protocol::http2::frame::{FrameType, PREFACE};
use spanwire::request::http2::{Direction, Http2Connection, Http2Limits, Http2Stats, Segment};

fuzz_target!(|input: &[u8]| {
    let Some((&config, mut rest)) = input.split_first() else {
        return;
    };
    let limits = Http2Limits {
        max_streams: usize::from(config & 0x7) + 1,
        max_header_block_bytes: 64 << (config >> 3 & 0x3),
        max_table_size: 128 << (config >> 5 & 0x3),
        max_connection_bytes: if config & 0x80 != 0 { 8 * 1024 } else { 256 * 1024 },
    };
    let bound = Http2Connection::memory_bound(&limits);
    let mut conn = Http2Connection::new(limits);
    let mut stats = Http2Stats::default();
    let mut out = Vec::new();
    let mut t = 0u64;
    while let [control, len, gap, tail @ ..] = rest {
        t += 100;
        if control & 0x7 == 0x7 {
            conn.close(&mut out, &mut stats);
            rest = tail;
            continue;
        }
        let dir = if control & 1 == 0 { Direction::Ingress } else { Direction::Egress };
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        let mut data = Vec::with_capacity(n + 33);
        if control & 0x2 != 0 {
            data.extend_from_slice(PREFACE);
        }
        if control & 0x4 != 0 {
            // A frame header whose length covers the payload, type from `gap`.
            let kind = FrameType::from_u8(gap % 10);
            let l = (n as u32).to_be_bytes();
            data.extend_from_slice(&[l[1], l[2], l[3], kind.to_u8(), gap >> 4, 0, 0, 0, 1 + (gap & 0x6)]);
        }
        data.extend_from_slice(payload);
        // Bit 3: the syscall moved more bytes than were captured.
        let (captured, uncaptured) = if control & 0x8 != 0 {
            let keep = data.len().min(usize::from(*gap));
            (keep, (data.len() - keep) as u64 + (u64::from(*gap) << (control >> 4)))
        } else {
            (data.len(), 0)
        };
        let seg = Segment { data: &data[..captured], len: captured as u64 + uncaptured, enter_ns: t, exit_ns: t + 10 };
        conn.feed(dir, &seg, &mut out, &mut stats);
        assert!(conn.tracked_streams() <= limits.max_streams);
        assert!(conn.memory_bytes() <= bound, "{} > {bound}", conn.memory_bytes());
        rest = next;
    }
    conn.close(&mut out, &mut stats);
    assert_eq!(conn.tracked_streams(), 0);
    for e in &out {
        assert!(e.start_ns <= e.end_ns);
        assert!(e.grpc.as_ref().is_none_or(|g| g.message.as_ref().is_none_or(|m| m.len() <= 256)));
    }
});
