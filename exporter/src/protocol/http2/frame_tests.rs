#![allow(clippy::unwrap_used)]

use super::*;

fn frame(kind: FrameType, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, kind, flags, StreamId(stream), payload);
    out
}

#[test]
fn header_round_trip_and_reserved_bit() {
    let h =
        FrameHeader { length: 70000, kind: FrameType::Headers, flags: 0x25, stream_id: StreamId(7), reserved: true };
    let b = h.encode();
    assert_eq!(b, [0x01, 0x11, 0x70, 0x01, 0x25, 0x80, 0, 0, 7]);
    assert_eq!(FrameHeader::parse(&b).unwrap(), h);
    assert_eq!(FrameHeader::parse(&b[..5]), Err(FrameError::Incomplete { needed: 4 }));
    assert!(h.end_stream() && h.end_headers() && h.has(flags::PRIORITY));
    assert!(!h.is_plausible(MAX_FRAME_LEN), "reserved bit set");
}

#[test]
fn every_frame_type_parses() {
    let headers = frame(FrameType::Headers, flags::END_HEADERS | flags::END_STREAM, 1, &[0x82, 0x84]);
    let p = parse_frame(&headers).unwrap();
    assert_eq!(p.len, 11);
    assert_eq!(
        p.frame,
        Frame::Headers {
            stream: StreamId(1),
            end_stream: true,
            end_headers: true,
            priority: None,
            fragment: &[0x82, 0x84]
        }
    );
    // PADDED + PRIORITY: pad length 2, dependency 3 (exclusive), weight 15, fragment, padding.
    let payload = [2, 0x80, 0, 0, 3, 15, 0x82, 0, 0];
    let f = frame(FrameType::Headers, flags::PADDED | flags::PRIORITY | flags::END_HEADERS, 5, &payload);
    assert_eq!(
        parse_frame(&f).unwrap().frame,
        Frame::Headers {
            stream: StreamId(5),
            end_stream: false,
            end_headers: true,
            priority: Some(Priority { exclusive: true, dependency: StreamId(3), weight: 15 }),
            fragment: &[0x82],
        }
    );
    let data = frame(FrameType::Data, flags::PADDED | flags::END_STREAM, 3, &[3, b'a', b'b', 0, 0, 0]);
    assert_eq!(parse_frame(&data).unwrap().frame, Frame::Data { stream: StreamId(3), end_stream: true, data_len: 2 });
    let prio = frame(FrameType::Priority, 0, 3, &[0, 0, 0, 1, 200]);
    assert_eq!(
        parse_frame(&prio).unwrap().frame,
        Frame::Priority {
            stream: StreamId(3),
            priority: Priority { exclusive: false, dependency: StreamId(1), weight: 200 }
        }
    );
    let rst = frame(FrameType::RstStream, 0, 3, &8u32.to_be_bytes());
    assert_eq!(parse_frame(&rst).unwrap().frame, Frame::RstStream { stream: StreamId(3), error_code: 8 });
    let mut sp = Vec::new();
    for (id, v) in [(1u16, 65536u32), (5, 32768), (0x99, 1)] {
        sp.extend_from_slice(&id.to_be_bytes());
        sp.extend_from_slice(&v.to_be_bytes());
    }
    let st = frame(FrameType::Settings, 0, 0, &sp);
    let Frame::Settings { ack: false, payload } = parse_frame(&st).unwrap().frame else { panic!() };
    let got: Vec<_> = settings(payload).collect();
    assert_eq!(got[0], Setting { id: SettingId::HeaderTableSize, value: 65536 });
    assert_eq!(got[1], Setting { id: SettingId::MaxFrameSize, value: 32768 });
    assert_eq!(got[2].id, SettingId::Other(0x99));
    let ack = frame(FrameType::Settings, flags::ACK, 0, &[]);
    assert!(matches!(parse_frame(&ack).unwrap().frame, Frame::Settings { ack: true, .. }));
    let pp = frame(FrameType::PushPromise, flags::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]);
    assert_eq!(
        parse_frame(&pp).unwrap().frame,
        Frame::PushPromise { stream: StreamId(1), end_headers: true, promised: StreamId(2), fragment: &[0x82] }
    );
    let ping = frame(FrameType::Ping, flags::ACK, 0, &[1; 8]);
    assert_eq!(parse_frame(&ping).unwrap().frame, Frame::Ping { ack: true });
    let mut ga = Vec::new();
    ga.extend_from_slice(&7u32.to_be_bytes());
    ga.extend_from_slice(&2u32.to_be_bytes());
    ga.extend_from_slice(b"debug");
    let g = frame(FrameType::GoAway, 0, 0, &ga);
    assert_eq!(parse_frame(&g).unwrap().frame, Frame::GoAway(GoAway { last_stream_id: StreamId(7), error_code: 2 }));
    let wu = frame(FrameType::WindowUpdate, 0, 0, &0x8000_0100u32.to_be_bytes());
    assert_eq!(parse_frame(&wu).unwrap().frame, Frame::WindowUpdate { stream: StreamId(0), increment: 256 });
    let c = frame(FrameType::Continuation, flags::END_HEADERS, 1, &[0x84]);
    assert_eq!(
        parse_frame(&c).unwrap().frame,
        Frame::Continuation { stream: StreamId(1), end_headers: true, fragment: &[0x84] }
    );
    let u = frame(FrameType::Unknown(0xc), 0, 0, b"origin");
    assert_eq!(parse_frame(&u).unwrap().frame, Frame::Unknown { kind: 0xc, stream: StreamId(0) });
}

#[test]
fn protocol_errors() {
    let cases: Vec<(Vec<u8>, FrameError)> = vec![
        (
            frame(FrameType::Data, 0, 0, b"x"),
            FrameError::BadStream { kind: FrameType::Data, stream: 0, reason: "must not be the connection" },
        ),
        (
            frame(FrameType::Settings, 0, 1, &[]),
            FrameError::BadStream { kind: FrameType::Settings, stream: 1, reason: "must be the connection" },
        ),
        (frame(FrameType::Settings, 0, 0, &[0; 5]), FrameError::BadLength { kind: FrameType::Settings, length: 5 }),
        (
            frame(FrameType::Settings, flags::ACK, 0, &[0; 6]),
            FrameError::BadLength { kind: FrameType::Settings, length: 6 },
        ),
        (frame(FrameType::Ping, 0, 0, &[0; 7]), FrameError::BadLength { kind: FrameType::Ping, length: 7 }),
        (frame(FrameType::RstStream, 0, 1, &[0; 3]), FrameError::BadLength { kind: FrameType::RstStream, length: 3 }),
        (
            frame(FrameType::WindowUpdate, 0, 1, &[0; 5]),
            FrameError::BadLength { kind: FrameType::WindowUpdate, length: 5 },
        ),
        (frame(FrameType::GoAway, 0, 0, &[0; 4]), FrameError::BadLength { kind: FrameType::GoAway, length: 4 }),
        (
            frame(FrameType::Data, flags::PADDED, 1, &[5, 0]),
            FrameError::BadPadding { kind: FrameType::Data, pad: 5, length: 2 },
        ),
        (
            frame(FrameType::Headers, flags::PADDED | flags::END_HEADERS, 1, &[9]),
            FrameError::BadPadding { kind: FrameType::Headers, pad: 9, length: 1 },
        ),
    ];
    for (bytes, err) in cases {
        assert_eq!(parse_frame(&bytes).unwrap_err(), err);
    }
    let big = FrameHeader { length: 20000, kind: FrameType::Data, flags: 0, stream_id: StreamId(1), reserved: false };
    assert!(matches!(big.validate(DEFAULT_MAX_FRAME_SIZE), Err(FrameError::TooLarge { .. })));
    assert_eq!(parse_frame(&frame(FrameType::Data, 0, 1, b"abc")[..10]), Err(FrameError::Incomplete { needed: 2 }));
}

#[test]
fn preface_and_detection() {
    assert!(is_client_preface(PREFACE));
    assert!(is_client_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"));
    assert!(is_client_preface(b"PRI * HT"));
    assert!(!is_client_preface(b"PRI"));
    assert!(!is_client_preface(b"GET / HTTP/1.1\r\n"));
    let settings = frame(FrameType::Settings, 0, 0, &[0, 3, 0, 0, 0, 100]);
    assert!(looks_like_http2_frames(&settings));
    let mut two = settings.clone();
    two.extend(frame(FrameType::WindowUpdate, 0, 0, &[0, 0, 1, 0]));
    assert!(looks_like_http2_frames(&two));
    two.extend([0x47, 0x45, 0x54, 0x20, 0x2f, 0, 0, 0, 0]);
    assert!(!looks_like_http2_frames(&two), "a third header that makes no sense");
    assert!(looks_like_http2_frames(&frame(FrameType::Headers, flags::END_HEADERS, 1, &[0x82])));
    assert!(!looks_like_http2_frames(&frame(FrameType::Data, 0, 1, b"x")));
    assert!(!looks_like_http2_frames(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert!(!looks_like_http2_frames(b"HTTP/1.1 200 OK\r\n"));
    assert!(!looks_like_http2_frames(&settings[..5]));
}

/// Runs `segments` (captured bytes, real length) through a reader.
fn read_all(reader: &mut FrameReader, segments: &[(&[u8], u64)]) -> Vec<(ReadEvent, Vec<u8>)> {
    let mut events = Vec::new();
    for (t, (data, len)) in segments.iter().enumerate() {
        let mut cur = Cursor::new(data, *len, t as u64);
        while let Some(ev) = reader.next(&mut cur, DEFAULT_MAX_FRAME_SIZE) {
            events.push((ev, reader.payload().to_vec()));
        }
        assert!(cur.is_done());
    }
    events
}

fn stream_of_frames() -> Vec<u8> {
    let mut b = Vec::new();
    write_frame(&mut b, FrameType::Settings, 0, StreamId(0), &[0, 4, 0, 1, 0, 0]);
    write_frame(&mut b, FrameType::Headers, flags::END_HEADERS, StreamId(1), &[0x82, 0x86, 0x84]);
    write_frame(&mut b, FrameType::Data, 0, StreamId(1), &[7; 3000]);
    write_frame(&mut b, FrameType::Data, flags::END_STREAM, StreamId(1), &[8; 10]);
    write_frame(&mut b, FrameType::Ping, 0, StreamId(0), &[1; 8]);
    b
}

fn kinds(events: &[(ReadEvent, Vec<u8>)]) -> Vec<(FrameType, u32, Vec<u8>)> {
    events
        .iter()
        .map(|(e, p)| match e {
            ReadEvent::Frame(d) => (d.header.kind, d.header.length, p.clone()),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn reader_same_frames_whatever_the_split() {
    let bytes = stream_of_frames();
    let whole = read_all(&mut FrameReader::new(1024), &[(&bytes, bytes.len() as u64)]);
    let want = vec![
        (FrameType::Settings, 6, vec![0, 4, 0, 1, 0, 0]),
        (FrameType::Headers, 3, vec![0x82, 0x86, 0x84]),
        (FrameType::Data, 3000, vec![]),
        (FrameType::Data, 10, vec![]),
        (FrameType::Ping, 8, vec![1; 8]),
    ];
    assert_eq!(kinds(&whole), want);
    for piece in [1, 2, 5, 9, 10, 17, 1000] {
        let segs: Vec<(&[u8], u64)> = bytes.chunks(piece).map(|c| (c, c.len() as u64)).collect();
        assert_eq!(kinds(&read_all(&mut FrameReader::new(1024), &segs)), want, "pieces of {piece}");
    }
}

#[test]
fn reader_skips_uncaptured_data_payload() {
    let bytes = stream_of_frames();
    // Segment 1: SETTINGS + HEADERS + DATA header + 100 payload bytes captured, the
    // rest of the DATA payload uncaptured; segment 2 starts at the next frame.
    let cut = 15 + 12 + 9 + 3000;
    let segs: Vec<(&[u8], u64)> =
        vec![(&bytes[..15 + 12 + 9 + 100], cut as u64), (&bytes[cut..], (bytes.len() - cut) as u64)];
    let events = read_all(&mut FrameReader::new(1024), &segs);
    assert_eq!(kinds(&events).len(), 5);
    let ReadEvent::Frame(d) = events[2].0 else { panic!() };
    assert_eq!((d.capture, d.start_ns), (Capture::Complete, 0));
    let ReadEvent::Frame(d) = events[3].0 else { panic!() };
    assert_eq!(d.start_ns, 1);
}

#[test]
fn reader_loses_sync_in_uncaptured_header_and_resyncs_at_a_segment_start() {
    let bytes = stream_of_frames();
    let mut r = FrameReader::new(1024);
    // Capture ends inside the DATA(3000) payload and the segment holds the
    // next two frames too: their headers are not visible.
    let first_len = 15 + 12 + 9 + 3000 + 19;
    let events = read_all(&mut r, &[(&bytes[..64], first_len as u64)]);
    assert_eq!(events.last().unwrap().0, ReadEvent::LostSync);
    assert!(!r.is_synced());
    // A segment that starts with garbage is skipped; one made of whole frames resyncs.
    let mut two = bytes[first_len..].to_vec();
    write_frame(&mut two, FrameType::WindowUpdate, 0, StreamId(0), &[0, 0, 1, 0]);
    let events = read_all(&mut r, &[(&[0xff; 20], 20), (&two, two.len() as u64)]);
    assert_eq!(events[0].0, ReadEvent::Resynced);
    assert_eq!(
        kinds(&events[1..]),
        vec![(FrameType::Ping, 8, vec![1; 8]), (FrameType::WindowUpdate, 4, vec![0, 0, 1, 0])]
    );
    assert!(r.is_confirmed());
    // A single frame filling a segment is only a hint: on probation until a second one.
    let mut r = FrameReader::unsynced(1024);
    let events = read_all(&mut r, &[(&bytes[first_len..], (bytes.len() - first_len) as u64)]);
    assert!(matches!(events[1].0, ReadEvent::Unconfirmed(_)));
    let events = read_all(&mut r, &[(&two[17..], 13)]);
    assert!(matches!(events[0].0, ReadEvent::Frame(_)));
}

#[test]
fn reader_marks_truncated_and_oversized_blocks() {
    let mut b = Vec::new();
    write_frame(&mut b, FrameType::Headers, flags::END_HEADERS, StreamId(1), &[0x82; 40]);
    let events = read_all(&mut FrameReader::new(1024), &[(&b[..20], b.len() as u64)]);
    let ReadEvent::Frame(d) = events[0].0 else { panic!() };
    assert_eq!(d.capture, Capture::Truncated);
    assert_eq!(events[0].1.len(), 11);
    let mut r = FrameReader::new(16);
    let events = read_all(&mut r, &[(&b, b.len() as u64)]);
    let ReadEvent::Frame(d) = events[0].0 else { panic!() };
    assert_eq!(d.capture, Capture::Oversized);
    assert_eq!(events[0].1.len(), 16);
    assert!(r.buffered_bytes() <= 16);
}

#[test]
fn reader_rejects_invalid_headers() {
    let mut r = FrameReader::new(1024);
    let bad = frame(FrameType::Ping, 0, 0, &[0; 3]);
    let events = read_all(&mut r, &[(&bad, bad.len() as u64)]);
    assert!(matches!(events[0].0, ReadEvent::Invalid(FrameError::BadLength { .. })));
    assert!(!r.is_synced());
}

#[test]
fn reader_payload_stays_a_prefix_after_a_hole() {
    let mut b = Vec::new();
    let payload: Vec<u8> = (0..100).collect();
    write_frame(&mut b, FrameType::Headers, flags::END_HEADERS, StreamId(1), &payload);
    // 9 + 10 bytes captured of a 60-byte segment, then the rest fully captured.
    let events = read_all(&mut FrameReader::new(1024), &[(&b[..19], 60), (&b[60..], (b.len() - 60) as u64)]);
    let ReadEvent::Frame(d) = events[0].0 else { panic!() };
    assert_eq!(d.capture, Capture::Truncated);
    assert_eq!(events[0].1, (0..10).collect::<Vec<u8>>());
}

#[test]
fn resync_on_a_partly_visible_chain_is_on_probation() {
    let mut b = Vec::new();
    write_frame(&mut b, FrameType::Headers, flags::END_HEADERS, StreamId(3), &[0x82; 20]);
    write_frame(&mut b, FrameType::Data, 0, StreamId(3), &[0; 100]);
    write_frame(&mut b, FrameType::Ping, 0, StreamId(0), &[0; 8]);
    let mut r = FrameReader::unsynced(1024);
    // The segment ends inside the DATA frame: its end cannot be checked.
    let events = read_all(&mut r, &[(&b[..60], 60)]);
    assert_eq!(events[0].0, ReadEvent::Resynced);
    assert!(matches!(events[1].0, ReadEvent::Unconfirmed(h) if h.kind == FrameType::Headers));
    assert!(r.is_synced() && !r.is_confirmed());
    // The DATA frame, a second one, ends exactly with the next segment: confirmed from then on.
    let events = read_all(&mut r, &[(&b[60..138], 78), (&b[138..], 17)]);
    assert!(matches!(events[0].0, ReadEvent::Frame(d) if d.header.kind == FrameType::Data));
    assert!(matches!(events[1].0, ReadEvent::Frame(d) if d.header.kind == FrameType::Ping));
    assert!(r.is_confirmed());
    // One frame ending with a segment is not enough.
    let mut r = FrameReader::unsynced(1024);
    let events = read_all(&mut r, &[(&b[..60], 60), (&b[60..], (b.len() - 60) as u64)]);
    assert!(matches!(events[2].0, ReadEvent::Unconfirmed(h) if h.kind == FrameType::Data));
    assert!(matches!(events[3].0, ReadEvent::Frame(d) if d.header.kind == FrameType::Ping));
}

#[test]
fn probation_failure_is_silent() {
    // Looks like a HEADERS frame, but the next header is nonsense.
    let mut b = frame(FrameType::Headers, flags::END_HEADERS, 1, &[0x82]);
    b.extend_from_slice(&[0xff; 9]);
    b.extend_from_slice(&[0; 30]);
    // As the first segment of a direction, one whole frame is trusted; then the nonsense is an error.
    let mut r = FrameReader::at_start(1024, &b[..10], 10, false);
    let events = read_all(&mut r, &[(&b[..10], 10), (&b[10..], (b.len() - 10) as u64)]);
    assert!(matches!(events[0].0, ReadEvent::Frame(_)));
    assert!(matches!(events[1].0, ReadEvent::Invalid(_)));
    // After a loss it is only a hint, and the nonsense ends it silently.
    let mut r = FrameReader::unsynced(1024);
    let events = read_all(&mut r, &[(&b[..10], 10), (&b[10..], (b.len() - 10) as u64)]);
    assert_eq!(events.len(), 2);
    assert!(matches!(events[1].0, ReadEvent::Unconfirmed(_)));
    let mut r = FrameReader::at_start(1024, &b[..5], 5, false);
    let events = read_all(&mut r, &[(&b[..5], 5), (&b[5..], (b.len() - 5) as u64)]);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(events[0].0, ReadEvent::Unconfirmed(_)));
    assert!(!r.is_synced(), "dropped without an error");
    // After a loss, a segment too short for a header is not a resync point.
    let mut r = FrameReader::unsynced(1024);
    assert!(read_all(&mut r, &[(&b[..5], 5)]).is_empty());
    assert!(!r.is_synced());
}
