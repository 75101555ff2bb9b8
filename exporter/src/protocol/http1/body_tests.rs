#![allow(clippy::unwrap_used)]

use super::body::*;

/// Feeds fully captured pieces; returns (total consumed, done).
fn feed_all(dec: &mut BodyDecoder, pieces: &[&[u8]]) -> (u64, bool) {
    let mut total = 0;
    for p in pieces {
        let r = dec.feed(p, p.len() as u64).unwrap();
        total += r.consumed;
        if r.done {
            return (total, true);
        }
    }
    (total, false)
}

#[test]
fn length_uses_real_counts() {
    let mut d = BodyDecoder::new(BodyKind::Length(1000));
    assert_eq!(d.feed(b"abc", 600).unwrap(), Progress { consumed: 600, done: false });
    assert_eq!(d.feed(b"", 500).unwrap(), Progress { consumed: 400, done: true });
    assert!(d.is_done());
    assert!(BodyDecoder::new(BodyKind::Length(0)).is_done());
    assert!(BodyDecoder::new(BodyKind::Empty).is_done());
}

#[test]
fn close_delimited_never_ends() {
    let mut d = BodyDecoder::new(BodyKind::CloseDelimited);
    assert!(d.is_close_delimited());
    assert_eq!(d.feed(b"x", 10).unwrap(), Progress { consumed: 10, done: false });
}

#[test]
fn chunked_whole_and_bytewise() {
    let body: &[u8] = b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    let r = d.feed(body, body.len() as u64).unwrap();
    assert_eq!(r, Progress { consumed: body.len() as u64 - 4, done: true });
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    let pieces: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(feed_all(&mut d, &pieces), (body.len() as u64 - 4, true));
}

#[test]
fn chunked_lf_only_and_uppercase_hex() {
    let body: &[u8] = b"A\n0123456789\n0\n\n";
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert_eq!(feed_all(&mut d, &[body]), (body.len() as u64, true));
}

#[test]
fn chunked_gap_inside_data_is_skipped() {
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    // "400\r\n" + 1024 data bytes, only the first 10 captured
    let r = d.feed(b"400\r\nxxxxx", 5 + 1024).unwrap();
    assert_eq!(r, Progress { consumed: 1029, done: false });
    let r = d.feed(b"\r\n0\r\n\r\n", 7).unwrap();
    assert_eq!(r, Progress { consumed: 7, done: true });
}

#[test]
fn chunked_gap_hiding_framing_loses_sync() {
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert!(d.feed(b"4\r\nab", 20).is_err());
    let mut d = BodyDecoder::new(BodyKind::Chunked);
    assert!(d.feed(b"4\r\nabcd\r\n", 12).is_err());
}

#[test]
fn chunked_invalid_framing() {
    for bad in [&b"zz\r\n"[..], b"5\r\nhelloXX", b"11111111111111111\r\n", b"\r\n"] {
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        assert!(d.feed(bad, bad.len() as u64).is_err(), "{bad:?}");
    }
}

#[test]
fn last_chunk_heuristic() {
    assert!(ends_with_last_chunk(b"0\r\n\r\n"));
    assert!(ends_with_last_chunk(b"3\r\nabc\r\n0\r\n\r\n"));
    assert!(!ends_with_last_chunk(b"10\r\n\r\n"));
    assert!(!ends_with_last_chunk(b"abc"));
}
