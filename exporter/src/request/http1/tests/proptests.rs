//! Property tests: arbitrary input never panics and stays bounded; generated
//! valid conversations are recovered exactly whatever the segmentation.

use super::*;
use proptest::prelude::*;

/// Fragments that steer random input into the interesting states.
const FRAGMENTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"POST /x?q=1 HTTP/1.1\r\n",
    b"HEAD /h HTTP/1.0\n",
    b"CONNECT a:1 HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 101 Switching\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.0 204 No\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 99999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"\r\n",
    b"\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffffff\r\n",
    b"\x00\x01\xff",
];

fn segment_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(prop::sample::select(FRAGMENTS), 1..6).prop_map(|f| f.concat()),
    ]
}

#[derive(Debug, Clone)]
struct Op {
    egress: bool,
    bytes: Vec<u8>,
    /// Uncaptured bytes after the captured ones.
    gap: u16,
    close: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (any::<bool>(), segment_bytes(), prop_oneof![3 => Just(0u16), 1 => any::<u16>()], prop::bool::weighted(0.03))
        .prop_map(|(egress, bytes, gap, close)| Op { egress, bytes, gap, close })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics_and_stays_bounded(
        ops in prop::collection::vec(op(), 0..60),
        max_head in prop_oneof![Just(64usize), Just(1024), Just(16 * 1024)],
        max_pending in 0usize..4,
    ) {
        let limits = Http1Limits { max_head_bytes: max_head, max_pending_requests: max_pending };
        let mut conn = Http1Connection::new(limits);
        let mut stats = Http1Stats::default();
        let mut out = Vec::new();
        let mut t = 0u64;
        for op in &ops {
            t += 10;
            if op.close {
                conn.close(t, &mut out, &mut stats);
                continue;
            }
            let dir = if op.egress { Direction::Egress } else { Direction::Ingress };
            let seg = Segment { data: &op.bytes, len: op.bytes.len() as u64 + u64::from(op.gap), enter_ns: t, exit_ns: t + 5 };
            conn.feed(dir, &seg, &mut out, &mut stats);
            prop_assert!(conn.buffered_bytes(Direction::Ingress) <= max_head);
            prop_assert!(conn.buffered_bytes(Direction::Egress) <= max_head);
            prop_assert!(conn.pending_requests() <= max_pending.max(1));
        }
        for e in &out {
            prop_assert!(e.start_ns <= e.end_ns, "{e:?}");
        }
    }
}

#[derive(Debug, Clone)]
enum GenBody {
    Empty,
    Length(Vec<u8>),
    Chunked(Vec<Vec<u8>>),
}

#[derive(Debug, Clone)]
struct GenExchange {
    method: &'static str,
    path: String,
    query: Option<String>,
    req_body: GenBody,
    status: u16,
    resp_body: GenBody,
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"];
const STATUSES: &[u16] = &[200, 201, 204, 301, 304, 404, 500];

fn body() -> impl Strategy<Value = GenBody> {
    // No upper-case letters or digits: bodies never look like heads or chunk markers.
    let bytes = |max| prop::collection::vec(prop::sample::select(b"abcdefxyz-_. \r\n".to_vec()), 0..max);
    prop_oneof![
        Just(GenBody::Empty),
        bytes(300).prop_map(GenBody::Length),
        prop::collection::vec(bytes(120).prop_filter("non-empty chunk", |c| !c.is_empty()), 0..4)
            .prop_map(GenBody::Chunked),
    ]
}

fn exchange() -> impl Strategy<Value = GenExchange> {
    (
        prop::sample::select(METHODS),
        "/[a-z0-9/]{0,20}",
        prop::option::of("[a-z]{1,5}=[a-z0-9]{0,5}"),
        body(),
        prop::sample::select(STATUSES),
        body(),
    )
        .prop_map(|(method, path, query, req_body, status, resp_body)| {
            let req_body = if matches!(method, "POST" | "PUT" | "PATCH") { req_body } else { GenBody::Empty };
            GenExchange { method, path, query, req_body, status, resp_body }
        })
}

/// Appends framing headers and the empty line to `head`; returns the wire body.
fn frame(b: &GenBody, head: &mut Vec<u8>, send_body: bool, empty_needs_length: bool) -> Vec<u8> {
    let mut body = Vec::new();
    match b {
        GenBody::Empty if empty_needs_length => head.extend_from_slice(b"Content-Length: 0\r\n"),
        GenBody::Empty => {}
        GenBody::Length(v) => {
            head.extend_from_slice(format!("Content-Length: {}\r\n", v.len()).as_bytes());
            body.extend_from_slice(v);
        }
        GenBody::Chunked(chunks) => {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            for c in chunks {
                body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                body.extend_from_slice(c);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\n\r\n");
        }
    }
    head.extend_from_slice(b"\r\n");
    if send_body {
        body
    } else {
        Vec::new()
    }
}

/// Wire bytes of (request, response) and the expected body sizes.
fn encode(g: &GenExchange) -> (Vec<u8>, Vec<u8>, u64, u64) {
    let query = g.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
    let mut req =
        format!("{} {}{} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer PROPSECRET\r\n", g.method, g.path, query)
            .into_bytes();
    let req_body = frame(&g.req_body, &mut req, true, false);
    req.extend_from_slice(&req_body);
    let mut resp = format!("HTTP/1.1 {} Whatever\r\nServer: prop\r\n", g.status).into_bytes();
    let bodyless = g.method == "HEAD" || g.status == 204 || g.status == 304;
    let resp_body = if g.status == 204 {
        resp.extend_from_slice(b"\r\n");
        Vec::new()
    } else {
        frame(&g.resp_body, &mut resp, !bodyless, true)
    };
    resp.extend_from_slice(&resp_body);
    (req, resp, req_body.len() as u64, resp_body.len() as u64)
}

/// Random split of a message in which only the last piece holding head
/// bytes may be cut by the capture limit `cap` (a head is assumed to end in
/// the syscall whose capture was truncated).
fn capture_split<'a>(msg: &'a [u8], rng: &mut XorShift, max_piece: usize, cap: usize) -> Vec<&'a [u8]> {
    let end = crate::protocol::http1::head::find_head_end(msg, 0).unwrap_or(msg.len());
    let (head, body) = msg.split_at(end);
    let mut pieces = random_split(head, rng, max_piece.min(cap));
    if rng.below(2) == 0 && !pieces.is_empty() {
        // Merge a random tail of the head pieces: the last head syscall may be long.
        let i = rng.below(pieces.len());
        let start: usize = pieces[..i].iter().map(|p| p.len()).sum();
        pieces.truncate(i);
        pieces.push(&head[start..]);
    }
    let mut body_pieces = random_split(body, rng, max_piece);
    if rng.below(2) == 0 && !body_pieces.is_empty() {
        // Merge the last head piece with the first body piece (one syscall).
        let first = body_pieces.remove(0);
        let last_head = pieces.pop().unwrap_or_default();
        let start = end - last_head.len();
        pieces.push(&msg[start..end + first.len()]);
    }
    pieces.extend(body_pieces);
    pieces
}

fn role_of(server: bool) -> Role {
    if server {
        Role::Server
    } else {
        Role::Client
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn keepalive_conversation_is_recovered_exactly(
        conv in prop::collection::vec(exchange(), 1..6),
        server in any::<bool>(),
        seed in 1u64..u64::MAX,
        max_piece in 1usize..80,
    ) {
        let mut c = Conv::new(role_of(server));
        let mut rng = XorShift(seed);
        let mut expected = Vec::new();
        for g in &conv {
            let (req, resp, req_body, resp_body) = encode(g);
            let mut first = None;
            for p in random_split(&req, &mut rng, max_piece) {
                first.get_or_insert(c.req(p));
            }
            let mut last = None;
            for p in random_split(&resp, &mut rng, max_piece) {
                last = Some(c.resp(p));
            }
            let (Some(first), Some(last)) = (first, last) else { return Err(TestCaseError::fail("empty message")) };
            expected.push((g.method.to_string(), g.path.clone(), g.status, req_body, resp_body, c.req_start(first), last.exit));
        }
        c.close();
        let got: Vec<_> = c.out.iter().map(|e| (e.request.method.as_str().to_string(), e.request.path.clone(), e.response.status, e.request_body_bytes, e.response_body_bytes, e.start_ns, e.end_ns)).collect();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(c.stats, Http1Stats::default());
        let leaked = format!("{:?}", c.out).contains("PROPSECRET");
        prop_assert!(!leaked);
    }

    #[test]
    fn keepalive_conversation_with_truncated_capture(
        conv in prop::collection::vec(exchange(), 1..6),
        server in any::<bool>(),
        seed in 1u64..u64::MAX,
        max_piece in 1usize..200,
        cap in 32usize..128,
    ) {
        let mut c = Conv::new(role_of(server));
        let mut rng = XorShift(seed);
        let mut expected = Vec::new();
        for g in &conv {
            let (req, resp, _, _) = encode(g);
            let mut first = None;
            for p in capture_split(&req, &mut rng, max_piece, cap) {
                first.get_or_insert(c.req_cap(p, cap));
            }
            let mut last = None;
            for p in capture_split(&resp, &mut rng, max_piece, cap) {
                last = Some(c.resp_cap(p, cap));
            }
            let (Some(first), Some(last)) = (first, last) else { return Err(TestCaseError::fail("empty message")) };
            expected.push((g.method.to_string(), g.status, c.req_start(first), last.exit));
        }
        c.close();
        let got: Vec<_> = c.out.iter().map(|e| (e.request.method.as_str().to_string(), e.response.status, e.start_ns, e.end_ns)).collect();
        prop_assert_eq!(got, expected);
        for (e, g) in c.out.iter().zip(&conv) {
            // The request line may be cut by the capture limit: a prefix of the path.
            prop_assert!(g.path.starts_with(&e.request.path), "{} vs {}", e.request.path, g.path);
        }
        prop_assert_eq!(c.stats.parse_errors, 0);
        prop_assert_eq!(c.stats.unmatched_responses, 0);
        prop_assert_eq!(c.stats.dropped_requests, 0);
    }

    #[test]
    fn pipelined_conversation_split_anywhere(
        conv in prop::collection::vec(exchange(), 1..6),
        server in any::<bool>(),
        seed in 1u64..u64::MAX,
        max_piece in 1usize..300,
    ) {
        let mut c = Conv::new(role_of(server));
        let mut rng = XorShift(seed);
        let (mut reqs, mut resps, mut expected) = (Vec::new(), Vec::new(), Vec::new());
        let (mut req_starts, mut resp_ends) = (Vec::new(), Vec::new());
        for g in &conv {
            let (req, resp, req_body, resp_body) = encode(g);
            req_starts.push(reqs.len());
            reqs.extend_from_slice(&req);
            resps.extend_from_slice(&resp);
            resp_ends.push(resps.len() - 1);
            expected.push((g.path.clone(), g.status, req_body, resp_body));
        }
        // Segment index containing each byte offset -> timestamps.
        let mut req_seg_start = Vec::new();
        let mut off = 0;
        for p in random_split(&reqs, &mut rng, max_piece) {
            let f = c.req(p);
            req_seg_start.extend(std::iter::repeat_n(c.req_start(f), p.len()));
            off += p.len();
        }
        prop_assert_eq!(off, reqs.len());
        let mut resp_seg_exit = Vec::new();
        for p in random_split(&resps, &mut rng, max_piece) {
            let f = c.resp(p);
            resp_seg_exit.extend(std::iter::repeat_n(f.exit, p.len()));
        }
        c.close();
        let got: Vec<_> = c.out.iter().map(|e| (e.request.path.clone(), e.response.status, e.request_body_bytes, e.response_body_bytes)).collect();
        prop_assert_eq!(got, expected);
        for (i, e) in c.out.iter().enumerate() {
            prop_assert_eq!(e.start_ns, req_seg_start[req_starts[i]]);
            prop_assert_eq!(e.end_ns, resp_seg_exit[resp_ends[i]]);
        }
        prop_assert_eq!(c.stats, Http1Stats::default());
    }
}
