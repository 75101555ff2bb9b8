//! One test per semantic rule of the pairing state machine.

use super::*;
use crate::protocol::http1::head::Method;

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
const OK5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

fn no_errors(s: &Http1Stats) {
    assert_eq!(*s, Http1Stats::default(), "unexpected stats");
}

#[test]
fn server_exchange_timing_and_role() {
    let mut c = Conv::server();
    assert_eq!(c.conn.role(), None);
    let r = c.req(GET);
    assert_eq!(c.conn.role(), Some(Role::Server));
    let s = c.resp(OK5);
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    let e = &ex[0];
    assert_eq!(e.role, Role::Server);
    assert_eq!((e.start_ns, e.end_ns), (r.exit, s.exit), "read exit -> write exit");
    assert_eq!((e.request.method.clone(), e.request.path.as_str()), (Method::Get, "/a"));
    assert_eq!((e.response.status, e.response_body_bytes, e.request_body_bytes), (200, 5, 0));
    no_errors(&c.stats);
}

#[test]
fn client_exchange_timing_and_role() {
    let mut c = Conv::client();
    let r = c.req(GET);
    assert_eq!(c.conn.role(), Some(Role::Client));
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe");
    let s = c.resp(b"llo");
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].role, Role::Client);
    assert_eq!((ex[0].start_ns, ex[0].end_ns), (r.enter, s.exit), "write enter -> last read exit");
}

#[test]
fn head_split_across_segments() {
    let mut c = Conv::server();
    let first = c.req(b"GET /sp");
    c.req(b"lit HTTP/1.1\r\nHo");
    c.req(b"st: x\r\n\r");
    c.req(b"\n");
    c.resp(b"HTTP/1.1 20");
    c.resp(b"4 No Content\r\n");
    let last = c.resp(b"\r\n");
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].request.path, "/split");
    assert_eq!(ex[0].request.host.as_deref(), Some("x"));
    assert_eq!((ex[0].start_ns, ex[0].end_ns), (first.exit, last.exit));
    no_errors(&c.stats);
}

#[test]
fn content_length_bodies_use_real_byte_counts() {
    let mut c = Conv::server();
    let head = b"POST /up HTTP/1.1\r\nContent-Length: 10000\r\n\r\n";
    let mut seg = head.to_vec();
    seg.extend_from_slice(&[b'x'; 100]);
    c.feed_raw(Direction::Ingress, &seg[..64.min(seg.len())], seg.len() as u64);
    // 9900 body bytes left: two segments, barely captured
    c.feed_raw(Direction::Ingress, b"xx", 5000);
    c.feed_raw(Direction::Ingress, b"", 4900);
    c.resp_cap(b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\n", 64);
    assert!(c.out.is_empty(), "response body not complete yet");
    c.feed_raw(Direction::Egress, b"o", 3);
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!((ex[0].request_body_bytes, ex[0].response_body_bytes), (10000, 3));
    // The connection stays in sync for the next exchange.
    c.req(GET);
    c.resp(OK5);
    assert_eq!(c.take().len(), 1);
    no_errors(&c.stats);
}

#[test]
fn pipelined_requests_in_one_segment_pair_fifo() {
    let mut c = Conv::client();
    let r = c.req(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(c.conn.pending_requests(), 3);
    let s = c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    let ex = c.take();
    let got: Vec<_> = ex
        .iter()
        .map(|e| (e.request.path.as_str(), e.response.status, e.request_body_bytes, e.response_body_bytes))
        .collect();
    assert_eq!(got, vec![("/1", 200, 0, 1), ("/2", 404, 0, 0), ("/3", 201, 2, 2)]);
    assert!(ex.iter().all(|e| e.start_ns == r.enter && e.end_ns == s.exit));
    no_errors(&c.stats);
}

#[test]
fn message_tail_and_next_head_in_one_segment() {
    let mut c = Conv::server();
    c.req(b"POST /a HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc");
    let second = c.req(b"defGET /b HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no");
    let s1 = c.resp(b"kHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
    let s2 = c.resp(b"ok");
    let ex = c.take();
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].request.path.as_str(), ex[0].request_body_bytes, ex[0].end_ns), ("/a", 6, s1.exit));
    assert_eq!((ex[1].request.path.as_str(), ex[1].start_ns, ex[1].end_ns), ("/b", second.exit, s2.exit));
    no_errors(&c.stats);
}

#[test]
fn head_response_has_no_body() {
    let mut c = Conv::server();
    c.req(b"HEAD /f HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    c.resp(OK5);
    let ex = c.take();
    let got: Vec<_> = ex.iter().map(|e| (e.request.method.clone(), e.response_body_bytes)).collect();
    assert_eq!(got, vec![(Method::Head, 0), (Method::Get, 5)]);
    no_errors(&c.stats);
}

#[test]
fn status_204_and_304_have_no_body() {
    let mut c = Conv::client();
    c.req(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 204 No Content\r\n\r\n");
    c.resp(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 999\r\n\r\n");
    c.resp(OK5);
    let got: Vec<_> = c.take().iter().map(|e| (e.response.status, e.response_body_bytes)).collect();
    assert_eq!(got, vec![(204, 0), (304, 0), (200, 5)]);
    no_errors(&c.stats);
}

#[test]
fn interim_responses_are_skipped() {
    let mut c = Conv::server();
    let r = c.req(b"PUT /u HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    c.resp(b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(c.out.is_empty());
    c.req(b"data");
    c.resp(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n");
    let s = c.resp(OK5);
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert!(ex[0].request.expect_continue);
    assert_eq!((ex[0].response.status, ex[0].request_body_bytes), (200, 4));
    assert_eq!((ex[0].start_ns, ex[0].end_ns), (r.exit, s.exit));
    no_errors(&c.stats);
}

#[test]
fn switching_protocols_pairs_then_opaque() {
    let mut c = Conv::server();
    c.req(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    let s = c.resp(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello");
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!((ex[0].response.status, ex[0].end_ns), (101, s.exit));
    assert_eq!(ex[0].request.upgrade.as_deref(), Some("websocket"));
    assert!(c.conn.is_opaque());
    let before = c.stats;
    c.req(GET);
    c.resp(OK5);
    assert!(c.out.is_empty());
    assert_eq!(c.stats, before);
}

#[test]
fn connect_tunnel() {
    let mut c = Conv::client();
    c.req(b"CONNECT db:5432 HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno");
    assert!(!c.conn.is_opaque());
    c.req(b"CONNECT db:5432 HTTP/1.1\r\n\r\n");
    c.resp(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let got: Vec<_> =
        c.take().iter().map(|e| (e.request.path.clone(), e.response.status, e.response_body_bytes)).collect();
    assert_eq!(got, vec![("db:5432".to_string(), 407, 2), ("db:5432".to_string(), 200, 0)]);
    assert!(c.conn.is_opaque());
}

#[test]
fn chunked_bodies_both_directions() {
    let mut c = Conv::server();
    let body = b"4\r\nabcd\r\n0\r\n\r\n";
    c.req(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab");
    c.req(b"cd\r\n0\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n");
    assert!(c.out.is_empty());
    let s = c.resp(b"0\r\nTrailer: x\r\n\r\n");
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].request_body_bytes, body.len() as u64);
    assert_eq!(ex[0].response_body_bytes, 11 + 17);
    assert_eq!(ex[0].end_ns, s.exit);
    no_errors(&c.stats);
}

#[test]
fn chunked_gap_inside_chunk_data_keeps_sync() {
    let mut c = Conv::server();
    c.req(GET);
    let mut first = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n".to_vec();
    let head_len = first.len();
    first.extend_from_slice(&[b'z'; 40]);
    // Only the head and 40 data bytes captured out of head + 0x1000 data bytes.
    c.feed_raw(Direction::Egress, &first, (head_len + 0x1000) as u64);
    let s = c.resp(b"\r\n0\r\n\r\n");
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!((ex[0].response_body_bytes, ex[0].end_ns), (6 + 0x1000 + 7, s.exit));
    no_errors(&c.stats);
}

/// A response whose chunk framing is hidden by uncaptured bytes.
fn lost_chunked_response(c: &mut Conv) -> Fed {
    c.req(GET);
    let seg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n20\r\n";
    c.feed_raw(c.resp_dir(), &seg[..50], seg.len() as u64 + 100)
}

#[test]
fn chunked_lost_sync_ends_at_next_request() {
    let mut c = Conv::server();
    lost_chunked_response(&mut c);
    assert_eq!(c.stats.lost_sync, 1);
    let last = c.feed_raw(Direction::Egress, b"more data", 3000);
    assert!(c.out.is_empty());
    c.req(b"GET /next HTTP/1.1\r\n\r\n");
    let ex = c.take();
    assert_eq!(ex.len(), 1, "the next request ends the response");
    assert_eq!(ex[0].end_ns, last.exit);
    assert_eq!(ex[0].response_body_bytes, (73 + 100 - 47) + 3000);
    // and the next response pairs with /next
    c.resp(OK5);
    assert_eq!(c.take()[0].request.path, "/next");
}

#[test]
fn chunked_lost_sync_ends_at_next_response_head() {
    let mut c = Conv::client();
    c.req(b"GET /1 HTTP/1.1\r\n\r\n");
    let first = lost_chunked_response(&mut c);
    let s2 = c.resp(OK5);
    let ex = c.take();
    let got: Vec<_> = ex.iter().map(|e| (e.request.path.as_str(), e.end_ns)).collect();
    assert_eq!(got, vec![("/1", first.exit), ("/a", s2.exit)]);
}

#[test]
fn chunked_lost_sync_recognises_last_chunk() {
    let mut c = Conv::server();
    lost_chunked_response(&mut c);
    c.feed_raw(Direction::Egress, b"x", 500);
    let end = c.resp(b"\r\n0\r\n\r\n");
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].end_ns, end.exit);
    // back in sync: the next exchange is exact
    c.req(GET);
    c.resp(OK5);
    assert_eq!(c.take().len(), 1);
    assert_eq!(c.stats.lost_sync, 1);
    assert_eq!(c.stats.parse_errors, 0);
}

#[test]
fn chunked_lost_sync_ends_at_close() {
    let mut c = Conv::client();
    let last = lost_chunked_response(&mut c);
    c.close();
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].end_ns, last.exit);
}

#[test]
fn chunked_request_lost_sync_ends_at_response() {
    let mut c = Conv::server();
    let seg = b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
    let r = c.feed_raw(Direction::Ingress, seg, seg.len() as u64 + 1000);
    c.feed_raw(Direction::Ingress, b"", 2000);
    let s = c.resp(OK5);
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!((ex[0].start_ns, ex[0].end_ns), (r.exit, s.exit));
    assert_eq!(ex[0].request_body_bytes, (seg.len() as u64 + 1000 - 49) + 2000);
    assert_eq!(c.stats.lost_sync, 1);
}

#[test]
fn close_delimited_response_ends_at_last_segment() {
    let mut c = Conv::client();
    c.req(b"GET /old HTTP/1.0\r\n\r\n");
    c.resp(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome");
    let last = c.resp(b" more");
    assert!(c.out.is_empty());
    c.close();
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!((ex[0].end_ns, ex[0].response_body_bytes), (last.exit, 9));
    assert!(ex[0].end_ns < c.t, "not the close time");
    assert!(ex[0].response.connection_close);
    no_errors(&c.stats);
}

#[test]
fn close_counts_unanswered_requests() {
    let mut c = Conv::server();
    c.req(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    c.resp(OK5);
    let cut = c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npartial");
    c.close();
    let ex = c.take();
    assert_eq!(ex.len(), 2, "the response cut by the close still ends its request");
    assert_eq!((ex[1].request.path.as_str(), ex[1].response.status), ("/2", 200));
    assert_eq!((ex[1].end_ns, ex[1].response_body_bytes), (cut.exit, 7));
    assert_eq!(c.stats.dropped_requests, 1, "one unanswered");
}

#[test]
fn mid_connection_start_skips_until_a_head() {
    let mut c = Conv::server();
    c.feed(Direction::Ingress, b"lo\":\"rest of a json body\"}");
    c.feed(Direction::Egress, b"tail of a response body");
    c.feed(Direction::Egress, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(c.stats.skipped_segments, 2);
    assert_eq!(c.stats.unmatched_responses, 1);
    assert_eq!(c.conn.role(), None, "a response alone does not set the role");
    c.req(GET);
    c.resp(OK5);
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].role, Role::Server);
}

#[test]
fn head_start_split_byte_by_byte_from_connection_start() {
    let mut c = Conv::client();
    let first = c.req(b"P");
    for b in b"UT /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n!" {
        c.req(&[*b]);
    }
    for b in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" {
        c.resp(&[*b]);
    }
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    assert_eq!((ex[0].request.method.clone(), ex[0].start_ns, ex[0].request_body_bytes), (Method::Put, first.enter, 1));
    no_errors(&c.stats);
}

#[test]
fn garbage_resyncs_then_goes_opaque() {
    let mut c = Conv::server();
    c.req(GET);
    c.resp(OK5);
    c.req(b"\x16\x03\x01\x02\x00binary\r\n\r\n");
    assert_eq!(c.stats.parse_errors, 1);
    c.req(b"more binary");
    assert_eq!(c.stats.skipped_segments, 1);
    c.req(GET);
    c.resp(OK5);
    assert_eq!(c.take().len(), 2, "resynced at the next plausible head");
    for i in 0..MAX_CONSECUTIVE_ERRORS {
        assert!(!c.conn.is_opaque(), "after {i} errors");
        c.req(b"GET /\x00 HTTP/1.1\r\n\r\n");
    }
    assert!(c.conn.is_opaque());
    assert_eq!(c.stats.parse_errors, 1 + u64::from(MAX_CONSECUTIVE_ERRORS));
}

#[test]
fn invalid_response_head_resyncs() {
    let mut c = Conv::client();
    c.req(GET);
    c.resp(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx");
    assert_eq!(c.stats.parse_errors, 1);
    c.req(GET);
    c.resp(OK5);
    // FIFO: the response pairs with the oldest pending request
    assert_eq!(c.take().len(), 1);
    assert_eq!(c.conn.pending_requests(), 1);
}

#[test]
fn truncated_request_head() {
    let mut c = Conv::server();
    let head = b"GET /a/very/long/path?secret=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: something long\r\nAccept: */*\r\n\r\n";
    let r = c.req_cap(head, 48);
    let s = c.resp(OK5);
    let ex = c.take();
    assert_eq!(ex.len(), 1);
    let e = &ex[0];
    assert!(e.request.truncated);
    assert_eq!(e.request.path, "/a/very/long/path");
    assert_eq!(e.request.user_agent, None);
    assert_eq!((e.start_ns, e.end_ns, e.request_body_bytes), (r.exit, s.exit, 0));
    assert_eq!(c.stats.lost_sync, 1);
    c.req(GET);
    c.resp(OK5);
    assert_eq!(c.take().len(), 1);
}

#[test]
fn truncated_response_head_with_visible_length() {
    let mut c = Conv::client();
    c.req(GET);
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    c.resp_cap(head, 40);
    c.feed_raw(Direction::Ingress, b"body", 600);
    let s = c.feed_raw(Direction::Ingress, b"body", 400);
    let ex = c.take();
    assert_eq!(ex.len(), 1, "declared length reached");
    assert!(ex[0].response.truncated);
    assert_eq!((ex[0].response_body_bytes, ex[0].end_ns), (1000, s.exit));
    assert_eq!(c.stats.lost_sync, 0);
}

#[test]
fn truncated_response_head_without_length() {
    let mut c = Conv::client();
    c.req(GET);
    let mut seg = b"HTTP/1.1 200 OK\r\nServer: a-long-server-name\r\nContent-Length: 10\r\n\r\n".to_vec();
    seg.extend_from_slice(b"0123456789");
    let s = c.resp_cap(&seg, 30);
    c.req(GET);
    let ex = c.take();
    assert_eq!(ex.len(), 1, "ended by the next request");
    assert_eq!((ex[0].end_ns, ex[0].response.status), (s.exit, 200));
    assert_eq!(c.stats.lost_sync, 1);
}

#[test]
fn message_start_in_uncaptured_bytes() {
    let mut c = Conv::client();
    let seg = b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
    // Second head entirely uncaptured, then only its first byte captured.
    c.feed_raw(Direction::Egress, &seg[..19], seg.len() as u64);
    c.feed_raw(Direction::Egress, &seg[..20], seg.len() as u64);
    assert_eq!(c.stats.lost_sync, 2);
    assert_eq!(c.stats.parse_errors, 0);
    assert_eq!(c.conn.pending_requests(), 2);
}

#[test]
fn credentials_and_query_not_retained() {
    let mut c = Conv::server();
    c.req(b"GET /p?api_key=QSECRET HTTP/1.1\r\nAuthorization: Bearer ASECRET\r\nCookie: c=CSECRET\r\n\r\n");
    c.resp(b"HTTP/1.1 200 OK\r\nSet-Cookie: s=SSECRET\r\nContent-Length: 0\r\n\r\n");
    let ex = c.take();
    assert_eq!(ex[0].request.path, "/p");
    let dbg = format!("{ex:?}");
    for s in ["QSECRET", "ASECRET", "CSECRET", "SSECRET", "api_key"] {
        assert!(!dbg.contains(s), "{s} leaked");
    }
}

#[test]
fn pending_requests_are_capped() {
    let limits = Http1Limits { max_head_bytes: 1024, max_pending_requests: 2 };
    let mut c = Conv::with_limits(Role::Client, limits);
    c.req(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    assert_eq!((c.conn.pending_requests(), c.stats.dropped_requests), (2, 1));
    c.resp(OK5);
    assert_eq!(c.take()[0].request.path, "/2");
}

#[test]
fn oversized_head_is_a_parse_error() {
    let limits = Http1Limits { max_head_bytes: 64, max_pending_requests: 4 };
    let mut c = Conv::with_limits(Role::Server, limits);
    c.req(b"GET / HTTP/1.1\r\nX-Filler: aaaaaaaaaaaaaaaaaaaaaa");
    c.req(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n");
    assert_eq!(c.stats.parse_errors, 1);
    c.req(GET);
    c.resp(OK5);
    assert_eq!(c.take().len(), 1);
}

#[test]
fn empty_lines_between_messages_are_tolerated() {
    let mut c = Conv::server();
    c.req(b"POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n");
    c.req(b"\r\nGET /b HTTP/1.1\r\n\r\n");
    c.resp(OK5);
    c.resp(OK5);
    assert_eq!(c.take().len(), 2);
    no_errors(&c.stats);
}

#[test]
fn zero_length_and_inconsistent_segments_are_harmless() {
    let mut c = Conv::server();
    c.feed_raw(Direction::Ingress, b"", 0);
    // len smaller than data: treated as data.len()
    c.feed_raw(Direction::Ingress, GET, 3);
    c.resp(OK5);
    assert_eq!(c.take().len(), 1);
}

#[test]
fn truncated_garbage_is_a_parse_error_not_a_capture_loss() {
    let mut c = Conv::server();
    c.req_cap(b"GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n", 12);
    assert_eq!((c.stats.parse_errors, c.stats.lost_sync), (1, 0));
    // Unsynced: a segment too short to tell is skipped...
    c.req_cap(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 3);
    assert_eq!((c.stats.parse_errors, c.stats.skipped_segments), (1, 1));
    // ...in sync it is a capture loss.
    c.req(GET);
    c.resp(OK5);
    c.req_cap(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 3);
    assert_eq!((c.stats.parse_errors, c.stats.lost_sync), (1, 1));
}

#[test]
fn a_head_cut_by_the_close_is_counted_not_a_span() {
    let mut c = Conv::server();
    c.req(b"GET /slow HTTP/1.1\r\nHost: h\r\n");
    c.req(b"X-Trickle: 1\r\n");
    c.close();
    assert!(c.take().is_empty());
    assert_eq!(c.stats, Http1Stats { truncated_heads: 1, ..Default::default() });
    // Between keep-alive requests nothing is buffered: a close then cuts nothing.
    c.req(GET);
    c.resp(OK5);
    c.close();
    assert_eq!(c.take().len(), 1);
    assert_eq!(c.stats.truncated_heads, 1);
}
