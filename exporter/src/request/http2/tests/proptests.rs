//! Bad input and arbitrary segmentation: counted errors, no panic, bounded
//! memory, and never a wrong value.

use super::golden::{goldens, records};
use super::*;
use crate::protocol::http2::frame::FrameHeader;
use proptest::prelude::*;

fn small_limits() -> Http2Limits {
    Http2Limits { max_streams: 8, max_header_block_bytes: 256, max_table_size: 512, max_connection_bytes: 16 * 1024 }
}

#[test]
fn oversized_header_block_is_unknown_and_bounded() {
    let limits = small_limits();
    let mut c = Conv::with_limits(Role::Server, limits);
    let mut block = request_block("GET", "/ok");
    for i in 0..40 {
        block.extend(
            BlockBuilder::new(false).literal(Indexing::Incremental, &format!("x-h{i}"), "vvvvvvvvvvvvvvvv").build(),
        );
    }
    assert!(block.len() > limits.max_header_block_bytes);
    c.client(Wire::new().preface().settings(&[]).headers(1, &block, true).bytes());
    c.server(Wire::new().headers(1, &response_block(200, None), true).bytes());
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    // The fields before the cut are exact; the block's end is unknown.
    assert_eq!((ex[0].method.as_deref(), ex[0].path.as_deref(), ex[0].status), (Some("GET"), Some("/ok"), Some(200)));
    assert!(!ex[0].headers_known);
    assert_eq!((c.stats.unknown_headers, c.stats.hpack_desync), (1, 1));
}

#[test]
fn oversized_block_in_continuations_is_bounded() {
    let limits = small_limits();
    let mut c = Conv::with_limits(Role::Server, limits);
    c.client(Wire::new().preface().frame(FrameType::Headers, 0, 1, &request_block("GET", "/")).bytes());
    for _ in 0..100 {
        c.client(Wire::new().frame(FrameType::Continuation, 0, 1, &[0x82; 100]).bytes());
    }
    c.client(Wire::new().frame(FrameType::Continuation, flags::END_HEADERS | flags::END_STREAM, 1, &[0x82]).bytes());
    assert_eq!(c.stats.unknown_headers, 1);
}

#[test]
fn table_size_update_beyond_the_limit_is_an_error() {
    let mut c = Conv::new(Role::Server);
    // The server advertises 256; the client acknowledges, then updates to 1024.
    c.server(Wire::new().settings(&[(1, 256)]).bytes());
    c.client(Wire::new().preface().settings(&[]).settings_ack().bytes());
    let ok = BlockBuilder::new(false).size_update(256).build();
    let mut block = ok.clone();
    block.extend(request_block("GET", "/a"));
    c.client(Wire::new().headers(1, &block, true).bytes());
    assert_eq!(c.stats.hpack_errors, 0);
    let mut bad = BlockBuilder::new(false).size_update(1024).build();
    bad.extend(request_block("GET", "/b"));
    c.client(Wire::new().headers(3, &bad, true).bytes());
    assert_eq!((c.stats.hpack_errors, c.stats.hpack_desync, c.stats.unknown_headers), (1, 1, 1));
    c.server(
        Wire::new().headers(1, &response_block(200, None), true).headers(3, &response_block(200, None), true).bytes(),
    );
    let ex = c.take();
    assert_eq!(ex[0].path.as_deref(), Some("/a"));
    assert_eq!((ex[1].path.as_deref(), ex[1].method.as_deref(), ex[1].headers_known), (None, None, false));
}

#[test]
fn continuation_without_headers_is_counted() {
    let mut c = Conv::new(Role::Server);
    c.client(
        Wire::new().preface().settings(&[]).frame(FrameType::Continuation, flags::END_HEADERS, 1, &[0x82]).bytes(),
    );
    assert_eq!(c.stats.frame_errors, 1);
    assert_eq!(c.stats.hpack_desync, 1, "the lost block may have changed the table");
    // A CONTINUATION for another stream than the open block's.
    let mut c = Conv::new(Role::Server);
    c.client(
        Wire::new()
            .preface()
            .frame(FrameType::Headers, 0, 1, &request_block("GET", "/"))
            .frame(FrameType::Continuation, flags::END_HEADERS, 3, &[])
            .bytes(),
    );
    assert_eq!(c.stats.frame_errors, 1);
}

#[test]
fn headers_interrupted_by_another_frame_is_counted() {
    let mut c = Conv::new(Role::Server);
    c.client(
        Wire::new().preface().frame(FrameType::Headers, 0, 1, &request_block("GET", "/")).data(1, 3, true).bytes(),
    );
    assert_eq!(c.stats.frame_errors, 1);
    assert_eq!(c.stats.unknown_headers, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_after_a_valid_preface(garbage in prop::collection::vec(any::<u8>(), 9..2000), server_side in any::<bool>()) {
        let mut c = Conv::with_limits(Role::Server, small_limits());
        let mut bytes = Wire::new().preface().settings(&[]).0;
        bytes.extend_from_slice(&garbage);
        for piece in bytes.chunks(300) {
            if server_side { c.server(piece) } else { c.client(piece) };
        }
        c.close();
        let first_valid = FrameHeader::parse(&garbage).map(|h| h.validate(16_384).is_ok()).unwrap_or(false);
        prop_assert!(c.stats.frame_errors >= 1 || first_valid);
        prop_assert!(c.take().iter().all(|e| e.start_ns <= e.end_ns));
    }

    #[test]
    fn arbitrary_segments_never_panic(
        config in any::<u8>(),
        segs in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..300), 0u64..5000), 0..40),
    ) {
        let limits = Http2Limits {
            max_streams: usize::from(config & 0x7) + 1,
            max_header_block_bytes: 16 << (config >> 5),
            max_table_size: 64 << (config >> 5),
            max_connection_bytes: 4096,
        };
        let mut c = Conv::with_limits(Role::Client, limits);
        for (ctl, data, extra) in &segs {
            let dir = if ctl & 1 == 0 { Direction::Ingress } else { Direction::Egress };
            let mut bytes = data.clone();
            if ctl & 2 != 0 {
                // Start with something that looks like HTTP/2.
                let mut w = Wire::new();
                if ctl & 4 != 0 { w = w.preface(); }
                w = w.headers(u32::from(*ctl >> 3) | 1, &request_block("GET", "/p"), ctl & 8 != 0);
                bytes = [w.0, bytes].concat();
            }
            let uncaptured = if ctl & 0x10 != 0 { *extra } else { 0 };
            c.feed_raw(dir, &bytes, bytes.len() as u64 + uncaptured);
        }
        c.close();
        prop_assert!(c.take().iter().all(|e| e.start_ns <= e.end_ns));
    }

    /// Goldens cut into random pieces, with random capture sizes, with the
    /// capture starting at a random record: values that are `Some` are always
    /// the real ones.
    #[test]
    fn goldens_never_yield_wrong_values(
        which in 0usize..10,
        seed in 1u64..u64::MAX,
        max_piece in 1usize..3000,
        cap in 9usize..600,
        skip in 0usize..6,
        server in any::<bool>(),
    ) {
        let gs = goldens();
        let g = &gs[which % gs.len()];
        let role = if server { Role::Server } else { Role::Client };
        let mut c = Conv::new(role);
        let mut rng = XorShift(seed);
        for r in records(g.file).into_iter().skip(skip) {
            let dir = if r.from_client { c.c2s() } else { c.s2c() };
            for p in random_split(r.bytes, &mut rng, max_piece) {
                c.feed_raw(dir, &p[..cap.min(p.len())], p.len() as u64);
            }
        }
        c.close();
        for e in c.take() {
            let x = g.expect.iter().find(|x| StreamId(x.stream) == e.stream_id);
            prop_assert!(x.is_some(), "unexpected stream {:?}", e.stream_id);
            let x = x.unwrap();
            prop_assert!(e.method.is_none() || e.method.as_deref() == Some(x.method));
            prop_assert!(e.path.is_none() || e.path.as_deref() == Some(x.path));
            prop_assert!(e.status.is_none() || e.status == Some(x.status));
            if let Some(grpc) = &e.grpc {
                let (m, code, msg) = x.grpc.unwrap();
                prop_assert_eq!(grpc.method.as_str(), m);
                prop_assert!(grpc.status_code.is_none() || grpc.status_code == Some(code));
                prop_assert!(grpc.message.is_none() || grpc.message.as_deref() == msg);
            }
            prop_assert!(e.request_body_bytes <= x.req_body && e.response_body_bytes <= x.resp_body);
            prop_assert!(e.start_ns <= e.end_ns);
            prop_assert_eq!(e.role, role);
        }
    }
}
