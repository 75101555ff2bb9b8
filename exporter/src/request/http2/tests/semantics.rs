//! Stream life cycles, role inference, HPACK desync, limits and timing on
//! synthetic frames.

use super::*;

fn grpc_status(e: &StreamExchange) -> Option<u32> {
    e.grpc.as_ref().and_then(|g| g.status_code)
}

#[test]
fn many_concurrent_streams_interleaved() {
    const N: u32 = 60;
    for role in [Role::Server, Role::Client] {
        let mut c = Conv::new(role);
        let mut rng = XorShift(7);
        c.client(Wire::new().preface().settings(&[]).bytes());
        c.server(Wire::new().settings(&[]).settings_ack().bytes());
        let ids: Vec<u32> = (0..N).map(|i| 2 * i + 1).collect();
        // Requests: HEADERS in id order (as the protocol requires), request bodies
        // interleaved randomly with later HEADERS.
        let mut c2s: Vec<Vec<u8>> = Vec::new();
        let mut bodies: Vec<(u32, usize)> = Vec::new();
        for &id in &ids {
            c2s.push(Wire::new().headers(id, &grpc_request_block(&format!("/pkg.Svc/M{id}")), false).0);
            bodies.push((id, 5 + id as usize));
            while !bodies.is_empty() && rng.below(3) == 0 {
                let (id, len) = bodies.remove(rng.below(bodies.len()));
                c2s.push(Wire::new().data(id, len, true).0);
            }
        }
        for (id, len) in bodies.drain(..) {
            c2s.push(Wire::new().data(id, len, true).0);
        }
        // Responses: each stream's frames in order, streams interleaved randomly.
        let mut pending: Vec<(u32, Vec<Vec<u8>>)> = ids
            .iter()
            .map(|&id| {
                let frames = vec![
                    Wire::new().headers(id, &response_block(200, Some("application/grpc")), false).0,
                    Wire::new().data(id, 100 + id as usize, false).0,
                    Wire::new().data(id, 7, false).0,
                    Wire::new().headers(id, &trailers_block(id % 17, Some("m")), true).0,
                ];
                (id, frames)
            })
            .collect();
        let all_c2s = c2s.concat();
        for piece in random_split(&all_c2s, &mut rng, 200) {
            c.client(piece);
        }
        let mut s2c = Vec::new();
        while !pending.is_empty() {
            let k = rng.below(pending.len());
            s2c.extend(pending[k].1.remove(0));
            if pending[k].1.is_empty() {
                pending.remove(k);
            }
        }
        for piece in random_split(&s2c, &mut rng, 300) {
            c.server(piece);
        }
        let mut ex = c.take();
        assert_eq!(ex.len(), N as usize);
        ex.sort_by_key(|e| e.stream_id);
        for (e, id) in ex.iter().zip(&ids) {
            let ctx = format!("{role:?} stream {id}");
            assert_eq!(e.stream_id, StreamId(*id), "{ctx}");
            assert_eq!(e.path, Some(format!("/pkg.Svc/M{id}")), "{ctx}");
            assert_eq!(e.grpc.as_ref().unwrap().method, format!("pkg.Svc/M{id}"), "{ctx}");
            assert_eq!(grpc_status(e), Some(id % 17), "{ctx}");
            assert_eq!((e.request_body_bytes, e.response_body_bytes), (5 + u64::from(*id), 107 + u64::from(*id)));
            assert!(e.headers_known && e.start_ns < e.end_ns, "{ctx}");
        }
        assert_eq!(c.stats, Http2Stats::default());
    }
}

#[test]
fn role_from_method_without_preface() {
    for role in [Role::Server, Role::Client] {
        let mut c = Conv::new(role);
        // Mid-connection: no preface, no SETTINGS.
        c.client(Wire::new().headers(41, &request_block("GET", "/x"), true).bytes());
        assert_eq!(c.conn.role(), Some(role));
        c.server(Wire::new().headers(41, &response_block(204, None), true).bytes());
        let ex = c.take();
        assert_eq!(ex.len(), 1);
        assert_eq!((ex[0].role, ex[0].status, ex[0].headers_known), (role, Some(204), true));
        assert_eq!(c.stats.hpack_desync, 2, "both tables are unknown mid-connection");
    }
}

#[test]
fn response_first_mid_connection_is_an_orphan() {
    let mut c = Conv::new(Role::Server);
    c.server(Wire::new().headers(5, &response_block(200, None), false).data(5, 10, true).bytes());
    assert_eq!(c.conn.role(), Some(Role::Server), "a :status says who the server is");
    c.client(Wire::new().headers(7, &request_block("GET", "/next"), true).bytes());
    c.server(Wire::new().headers(7, &response_block(200, None), true).bytes());
    let ex = c.take();
    assert_eq!(ex.iter().map(|e| e.stream_id).collect::<Vec<_>>(), vec![StreamId(7)]);
    assert_eq!(c.stats.orphan_streams, 1);
}

#[test]
fn mid_connection_dynamic_references_are_unknown_until_resync() {
    let mut c = Conv::new(Role::Server);
    // Capture starts mid-connection: 0xbe refers to an entry we never saw.
    let mut block = request_block("POST", "/a");
    block.push(0xbe);
    c.client(Wire::new().headers(1, &block, true).bytes());
    c.server(Wire::new().headers(1, &[0x88, 0xbf], true).bytes());
    let ex = c.take();
    assert_eq!((ex[0].method.as_deref(), ex[0].path.as_deref(), ex[0].status), (Some("POST"), Some("/a"), Some(200)));
    assert!(!ex[0].headers_known);
    // The client empties its table (size update to 0): exact again; a new entry is known.
    let resync = BlockBuilder::new(false)
        .size_update(0)
        .size_update(4096)
        .indexed(3)
        .literal_indexed_name(Indexing::Incremental, 4, "/b")
        .build();
    c.client(Wire::new().headers(3, &resync, true).headers(5, &[0x83, 0xbe], true).bytes());
    c.server(Wire::new().headers(3, &[0x88], true).headers(5, &[0x88], true).bytes());
    let ex = c.take();
    assert_eq!((ex[0].path.as_deref(), ex[0].headers_known), (Some("/b"), true));
    assert_eq!((ex[1].path.as_deref(), ex[1].headers_known), (Some("/b"), true));
    assert_eq!(c.stats.hpack_errors, 0);
}

#[test]
fn reset_goaway_and_close() {
    let mut c = Conv::new(Role::Client);
    c.client(
        Wire::new()
            .preface()
            .settings(&[])
            .headers(1, &request_block("GET", "/reset"), true)
            .headers(3, &request_block("GET", "/slow"), true)
            .headers(5, &request_block("GET", "/late"), true)
            .headers(7, &request_block("GET", "/refused"), true)
            .bytes(),
    );
    let rst = c.server(Wire::new().rst(1, 8).bytes());
    let ex = c.take();
    assert_eq!(
        (ex[0].stream_id, ex[0].reset, ex[0].end, ex[0].end_ns),
        (StreamId(1), Some(8), StreamEnd::Reset, rst.exit)
    );
    c.server(Wire::new().headers(3, &response_block(200, None), false).data(3, 50, false).bytes());
    // GOAWAY: streams above 5 will not be processed.
    let ga = c.server(Wire::new().goaway(5, 0).bytes());
    let ex = c.take();
    assert_eq!(
        (ex[0].stream_id, ex[0].end, ex[0].end_ns, ex[0].status),
        (StreamId(7), StreamEnd::GoAway, ga.exit, None)
    );
    let last = c.server(Wire::new().data(3, 10, false).bytes());
    c.close();
    let ex = c.take();
    assert_eq!(ex.len(), 2);
    assert_eq!(
        (ex[0].stream_id, ex[0].end, ex[0].status, ex[0].response_body_bytes),
        (StreamId(3), StreamEnd::Closed, Some(200), 60)
    );
    assert_eq!(ex[0].end_ns, last.exit, "a closed stream ends with its last frame");
    assert_eq!((ex[1].stream_id, ex[1].status), (StreamId(5), None));
}

#[test]
fn informational_continuation_padding_and_priority() {
    let mut c = Conv::new(Role::Server);
    let block = request_block("PUT", "/up?secret=1");
    let (a, b) = block.split_at(4);
    let (b, d) = b.split_at(3);
    // HEADERS with PADDED + PRIORITY, then two CONTINUATIONs; each frame in its own segment,
    // the last one split in two.
    let mut head = vec![2u8, 0, 0, 0, 0, 16];
    head.extend_from_slice(a);
    head.extend_from_slice(&[0, 0]);
    let start =
        c.client(Wire::new().preface().frame(FrameType::Headers, flags::PADDED | flags::PRIORITY, 1, &head).bytes());
    c.client(Wire::new().frame(FrameType::Continuation, 0, 1, b).bytes());
    let cont = Wire::new().frame(FrameType::Continuation, flags::END_HEADERS, 1, d).0;
    c.client(&cont[..5]);
    c.client(&cont[5..]);
    // Padded DATA: 10 data bytes + 5 padding.
    let mut data = vec![5u8];
    data.extend_from_slice(&[b'd'; 10]);
    data.extend_from_slice(&[0; 5]);
    c.client(Wire::new().frame(FrameType::Data, flags::PADDED | flags::END_STREAM, 1, &data).bytes());
    c.server(
        Wire::new().headers(1, &response_block(100, None), false).headers(1, &response_block(201, None), false).bytes(),
    );
    let end = c.server(Wire::new().data(1, 3, true).bytes());
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    let e = &ex[0];
    assert_eq!((e.method.as_deref(), e.path.as_deref(), e.status), (Some("PUT"), Some("/up"), Some(201)));
    assert_eq!((e.request_body_bytes, e.response_body_bytes), (10, 3));
    assert_eq!((e.start_ns, e.end_ns), (c.req_start(start), end.exit));
    assert_eq!(c.stats, Http2Stats::default());
}

#[test]
fn server_push() {
    let mut c = Conv::new(Role::Client);
    c.client(Wire::new().preface().headers(1, &request_block("GET", "/index"), true).bytes());
    let mut promise = 2u32.to_be_bytes().to_vec();
    promise.extend(request_block("GET", "/style.css"));
    c.server(
        Wire::new()
            .frame(FrameType::PushPromise, flags::END_HEADERS, 1, &promise)
            .headers(1, &response_block(200, None), false)
            .headers(2, &response_block(200, Some("text/css")), false)
            .data(1, 11, true)
            .data(2, 22, true)
            .bytes(),
    );
    let ex = c.take();
    let got: Vec<_> = ex.iter().map(|e| (e.stream_id.0, e.path.clone().unwrap(), e.response_body_bytes)).collect();
    assert_eq!(got, vec![(1, "/index".to_string(), 11), (2, "/style.css".to_string(), 22)]);
}

#[test]
fn streams_beyond_the_limit_evict_the_oldest() {
    let limits = Http2Limits { max_streams: 4, ..Http2Limits::default() };
    let mut c = Conv::with_limits(Role::Server, limits);
    let mut w = Wire::new().preface();
    for id in [1, 3, 5, 7, 9, 11] {
        w = w.headers(id, &request_block("GET", &format!("/{id}")), true);
    }
    c.client(w.bytes());
    assert_eq!((c.conn.tracked_streams(), c.stats.streams_evicted), (4, 2));
    let mut w = Wire::new();
    for id in [1, 3, 5, 7, 9, 11] {
        w = w.headers(id, &response_block(200, None), true);
    }
    c.server(w.bytes());
    let ids: Vec<u32> = c.take().iter().map(|e| e.stream_id.0).collect();
    assert_eq!(ids, vec![5, 7, 9, 11]);
}

#[test]
fn memory_cap_evicts_streams() {
    let limits = Http2Limits { max_connection_bytes: 64 * 1024, ..Http2Limits::default() };
    let mut c = Conv::with_limits(Role::Server, limits);
    let long = format!("/{}", "p".repeat(8000));
    let mut w = Wire::new().preface();
    for id in 0..20 {
        w = w.headers(2 * id + 1, &request_block("GET", &long), true);
    }
    c.client(w.bytes());
    assert!(c.conn.memory_bytes() <= limits.max_connection_bytes);
    assert!(c.stats.streams_evicted > 0);
}

#[test]
fn lost_request_sync_does_not_hold_the_exchange() {
    let mut c = Conv::new(Role::Server);
    c.client(Wire::new().preface().settings(&[]).headers(1, &grpc_request_block("/a.B/Up"), false).bytes());
    // A large upload: several DATA frames in one read, the capture ends in the
    // first payload, so END_STREAM is not seen.
    let mut upload = Wire::new();
    for _ in 0..3 {
        upload = upload.data(1, 16_384, false);
    }
    let upload = upload.data(1, 100, true).0;
    c.feed_raw(c.c2s(), &upload[..512], upload.len() as u64);
    assert_eq!(c.stats.lost_sync, 1);
    let end = c.server(
        Wire::new()
            .headers(1, &response_block(200, Some("application/grpc")), false)
            .headers(1, &trailers_block(0, None), true)
            .bytes(),
    );
    let ex = c.take();
    assert_eq!(ex.len(), 1, "completes with the response");
    assert_eq!((ex[0].end_ns, grpc_status(&ex[0]), ex[0].request_body_bytes), (end.exit, Some(0), 16_384));
    assert!(!ex[0].headers_known, "request frames were lost");
}

#[test]
fn truncated_header_frame_keeps_the_captured_fields() {
    let mut c = Conv::new(Role::Client);
    let mut block = request_block("GET", "/visible");
    for i in 0..30 {
        block
            .extend(BlockBuilder::new(false).literal(Indexing::Incremental, &format!("x-custom-{i}"), "value").build());
    }
    let w = Wire::new().preface().settings(&[]).headers(1, &block, true).0;
    c.feed_raw(c.c2s(), &w[..120], w.len() as u64);
    c.server(Wire::new().headers(1, &response_block(200, None), true).bytes());
    let ex = c.take();
    assert_eq!(
        (ex[0].method.as_deref(), ex[0].path.as_deref(), ex[0].status),
        (Some("GET"), Some("/visible"), Some(200))
    );
    assert!(!ex[0].headers_known);
    assert_eq!((c.stats.unknown_headers, c.stats.hpack_desync, c.stats.lost_sync), (1, 1, 0));
}

#[test]
fn timing_follows_the_segments() {
    for role in [Role::Server, Role::Client] {
        let mut c = Conv::new(role);
        c.client(Wire::new().preface().settings(&[]).bytes());
        let first = c.client(Wire::new().headers(1, &request_block("POST", "/t"), false).bytes());
        c.client(Wire::new().data(1, 10, false).bytes());
        c.client(Wire::new().data(1, 10, true).bytes());
        c.server(Wire::new().headers(1, &response_block(200, None), false).bytes());
        c.server(Wire::new().data(1, 5, false).bytes());
        let last = c.server(Wire::new().data(1, 5, true).bytes());
        c.server(Wire::new().frame(FrameType::WindowUpdate, 0, 0, &[0, 0, 0, 10]).bytes());
        let ex = c.take();
        assert_eq!((ex[0].start_ns, ex[0].end_ns), (c.req_start(first), last.exit), "{role:?}");
        assert_eq!((ex[0].request_body_bytes, ex[0].response_body_bytes), (20, 10));
    }
}

#[test]
fn repeated_garbage_makes_the_connection_opaque() {
    let mut c = Conv::new(Role::Server);
    c.client(Wire::new().preface().bytes());
    for _ in 0..MAX_CONSECUTIVE_ERRORS {
        // Each segment starts with plausible frames, the HEADERS has impossible padding.
        let bad = [200, 0x82];
        c.client(
            Wire::new().settings(&[]).frame(FrameType::Headers, flags::PADDED | flags::END_HEADERS, 1, &bad).bytes(),
        );
    }
    assert!(c.conn.is_opaque());
    let errors = c.stats.frame_errors;
    c.client(Wire::new().frame(FrameType::Ping, 0, 0, &[0; 3]).bytes());
    assert_eq!(c.stats.frame_errors, errors, "opaque: no longer parsed");
}

#[test]
fn role_from_stream_ids_without_decodable_headers() {
    for role in [Role::Server, Role::Client] {
        let mut c = Conv::new(role);
        // Mid-connection, blocks made only of unknown dynamic entries.
        c.client(Wire::new().headers(9, &[0xbe, 0xbf], false).bytes());
        assert_eq!(c.conn.role(), None);
        // HEADERS without END_STREAM on an older odd stream: only a server does that.
        c.server(Wire::new().headers(7, &[0xc0], false).bytes());
        assert_eq!(c.conn.role(), Some(role));
        let mut c = Conv::new(role);
        c.server(Wire::new().data(2, 10, false).bytes());
        assert_eq!(c.conn.role(), Some(role), "DATA on an even stream comes from the server");
        // END_STREAM HEADERS could be request trailers: no conclusion.
        let mut c = Conv::new(role);
        c.client(Wire::new().headers(9, &[0xbe], false).bytes());
        c.server(Wire::new().headers(7, &[0xbe], true).bytes());
        assert_eq!(c.conn.role(), None);
        c.close();
        assert!(c.take().is_empty(), "no exchange when the sides cannot be told apart");
        // Stream 7 (below 9) is taken as already closed and not tracked.
        assert_eq!(c.stats.orphan_streams, 1);
    }
}
