//! Feeds arbitrary bytes, split at fuzzer-chosen points, in both directions
//! through `Http1Connection`, with fuzzer-chosen capture truncation and
//! closes. Checks the memory bounds and timestamp order.
//!
//! Input layout: one config byte, then records of
//! `[control, length, gap, length bytes of payload]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::request::http1::{Direction, Http1Connection, Http1Limits, Http1Stats, Segment};

fuzz_target!(|input: &[u8]| {
    let Some((&config, mut rest)) = input.split_first() else {
        return;
    };
    let limits =
        Http1Limits { max_head_bytes: 32usize << (config & 0x7), max_pending_requests: usize::from(config >> 4) };
    let mut conn = Http1Connection::new(limits);
    let mut stats = Http1Stats::default();
    let mut out = Vec::new();
    let mut t = 0u64;
    while let [control, len, gap, tail @ ..] = rest {
        t += 100;
        if control & 0x3 == 0x3 {
            conn.close(t, &mut out, &mut stats);
            rest = tail;
            continue;
        }
        let dir = if control & 1 == 0 { Direction::Ingress } else { Direction::Egress };
        let n = usize::from(*len).min(tail.len());
        let (data, next) = tail.split_at(n);
        // Bit 2: the syscall moved more bytes than were captured.
        let uncaptured = if control & 0x4 != 0 { u64::from(*gap) << (control >> 4) } else { 0 };
        let seg = Segment { data, len: data.len() as u64 + uncaptured, enter_ns: t, exit_ns: t + 10 };
        conn.feed(dir, &seg, &mut out, &mut stats);
        assert!(conn.buffered_bytes(Direction::Ingress) <= limits.max_head_bytes);
        assert!(conn.buffered_bytes(Direction::Egress) <= limits.max_head_bytes);
        assert!(conn.pending_requests() <= limits.max_pending_requests.max(1));
        rest = next;
    }
    conn.close(t + 100, &mut out, &mut stats);
    for e in &out {
        assert!(e.start_ns <= e.end_ns);
    }
});
