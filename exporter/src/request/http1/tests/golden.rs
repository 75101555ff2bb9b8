//! Real traffic recorded from Python's http.server and Go's net/http
//! (see tests/golden/http1/README.md), fed in many splittings.

use super::*;
use crate::protocol::http1::head::{find_head_end, Method};

macro_rules! golden {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/golden/http1/", $name)).as_slice()
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Plain,
    StartsRequest,
    EndsResponse,
}

/// One burst of bytes in one direction, in real time order.
struct Step {
    request_side: bool,
    bytes: &'static [u8],
    mark: Mark,
}

struct Expect {
    method: Method,
    path: &'static str,
    status: u16,
    req_body: u64,
    resp_body: u64,
}

struct Golden {
    name: &'static str,
    steps: Vec<Step>,
    expect: Vec<Expect>,
}

fn ex(method: Method, path: &'static str, status: u16, req_body: u64, resp_body: u64) -> Expect {
    Expect { method, path, status, req_body, resp_body }
}

fn req(bytes: &'static [u8]) -> Step {
    Step { request_side: true, bytes, mark: Mark::StartsRequest }
}

fn resp(bytes: &'static [u8]) -> Step {
    Step { request_side: false, bytes, mark: Mark::EndsResponse }
}

fn plain(request_side: bool, bytes: &'static [u8]) -> Step {
    Step { request_side, bytes, mark: Mark::Plain }
}

fn split_head(b: &'static [u8]) -> (&'static [u8], &'static [u8]) {
    b.split_at(find_head_end(b, 0).unwrap())
}

fn goldens() -> Vec<Golden> {
    let simple =
        |name, q: &'static [u8], r: &'static [u8], e| Golden { name, steps: vec![req(q), resp(r)], expect: vec![e] };
    let (cont_head, cont_body) = split_head(golden!("go_continue.req.bin"));
    let (cont_interim, cont_final) = split_head(golden!("go_continue.resp.bin"));
    let (up_head, up_after) = split_head(golden!("go_upgrade.req.bin"));
    let (up_101, up_echo) = split_head(golden!("go_upgrade.resp.bin"));
    vec![
        simple(
            "py_get",
            golden!("py_get.req.bin"),
            golden!("py_get.resp.bin"),
            ex(Method::Get, "/hello.txt", 200, 0, 18),
        ),
        simple(
            "py_head",
            golden!("py_head.req.bin"),
            golden!("py_head.resp.bin"),
            ex(Method::Head, "/hello.txt", 200, 0, 0),
        ),
        simple(
            "py_404",
            golden!("py_404.req.bin"),
            golden!("py_404.resp.bin"),
            ex(Method::Get, "/missing.html", 404, 0, 335),
        ),
        simple(
            "py_304",
            golden!("py_304.req.bin"),
            golden!("py_304.resp.bin"),
            ex(Method::Get, "/hello.txt", 304, 0, 0),
        ),
        Golden {
            name: "go_keepalive",
            steps: vec![
                req(golden!("go_keepalive_1.req.bin")),
                resp(golden!("go_keepalive_1.resp.bin")),
                req(golden!("go_keepalive_2.req.bin")),
                resp(golden!("go_keepalive_2.resp.bin")),
                req(golden!("go_keepalive_3.req.bin")),
                resp(golden!("go_keepalive_3.resp.bin")),
            ],
            expect: vec![
                ex(Method::Get, "/hello", 200, 0, 13),
                ex(Method::Get, "/hello", 200, 0, 13),
                ex(Method::Get, "/nope", 404, 0, 19),
            ],
        },
        simple(
            "go_post",
            golden!("go_post.req.bin"),
            golden!("go_post.resp.bin"),
            ex(Method::Post, "/upload", 200, 34, 13),
        ),
        simple(
            "go_stream",
            golden!("go_stream.req.bin"),
            golden!("go_stream.resp.bin"),
            ex(Method::Get, "/stream", 200, 0, 41),
        ),
        simple("go_big", golden!("go_big.req.bin"), golden!("go_big.resp.bin"), ex(Method::Get, "/big", 200, 0, 2130)),
        simple(
            "go_204",
            golden!("go_204.req.bin"),
            golden!("go_204.resp.bin"),
            ex(Method::Delete, "/nocontent", 204, 0, 0),
        ),
        Golden {
            name: "go_continue",
            steps: vec![req(cont_head), plain(false, cont_interim), plain(true, cont_body), resp(cont_final)],
            expect: vec![ex(Method::Put, "/upload", 200, 100, 14)],
        },
        Golden {
            name: "go_upgrade",
            steps: vec![req(up_head), resp(up_101), plain(true, up_after), plain(false, up_echo)],
            expect: vec![ex(Method::Get, "/echo", 101, 0, 0)],
        },
    ]
}

#[derive(Debug, Clone, Copy)]
enum Split {
    Whole,
    Bytes,
    Random(u64),
    /// Head in one segment, body in two (how Python's server writes).
    HeadBody,
}

fn split(bytes: &'static [u8], how: Split, rng: &mut XorShift) -> Vec<&'static [u8]> {
    match how {
        Split::Whole => vec![bytes],
        Split::Bytes => bytes.chunks(1).collect(),
        Split::Random(_) => random_split(bytes, rng, 48),
        Split::HeadBody => match find_head_end(bytes, 0) {
            Some(end) if end < bytes.len() => {
                let (head, body) = bytes.split_at(end);
                let (a, b) = body.split_at(body.len() / 2);
                [head, a, b].into_iter().filter(|p| !p.is_empty()).collect()
            }
            _ => vec![bytes],
        },
    }
}

struct Run {
    exchanges: Vec<Exchange>,
    stats: Http1Stats,
    /// Expected (start, end) of each exchange, from the segments actually fed.
    times: Vec<(u64, u64)>,
}

fn run(g: &Golden, role: Role, how: Split, cap: Option<usize>) -> Run {
    let mut c = Conv::new(role);
    let mut rng = XorShift(match how {
        Split::Random(seed) => seed,
        _ => 1,
    });
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    for step in &g.steps {
        let dir = if step.request_side { c.req_dir() } else { c.resp_dir() };
        let mut fed = Vec::new();
        for piece in split(step.bytes, how, &mut rng) {
            let data = &piece[..cap.unwrap_or(usize::MAX).min(piece.len())];
            fed.push(c.feed_raw(dir, data, piece.len() as u64));
        }
        match (step.mark, fed.first(), fed.last()) {
            (Mark::StartsRequest, Some(first), _) => starts.push(c.req_start(*first)),
            (Mark::EndsResponse, _, Some(last)) => ends.push(last.exit),
            _ => {}
        }
    }
    c.close();
    Run { exchanges: c.take(), stats: c.stats, times: starts.into_iter().zip(ends).collect() }
}

fn check(g: &Golden, role: Role, how: Split, cap: Option<usize>, check_bodies: bool) {
    let ctx = format!("{} {role:?} {how:?} cap={cap:?}", g.name);
    let r = run(g, role, how, cap);
    assert_eq!(r.exchanges.len(), g.expect.len(), "{ctx}: {:?}", r.exchanges);
    for (i, (e, x)) in r.exchanges.iter().zip(&g.expect).enumerate() {
        let ctx = format!("{ctx} #{i}");
        assert_eq!(e.role, role, "{ctx}");
        assert_eq!(e.request.method, x.method, "{ctx}");
        assert_eq!(e.request.path, x.path, "{ctx}");
        assert_eq!(e.response.status, x.status, "{ctx}");
        assert_eq!((e.start_ns, e.end_ns), r.times[i], "{ctx}");
        if check_bodies {
            assert_eq!((e.request_body_bytes, e.response_body_bytes), (x.req_body, x.resp_body), "{ctx}");
        }
    }
    assert_eq!(r.stats.parse_errors, 0, "{ctx}");
    assert_eq!(r.stats.unmatched_responses, 0, "{ctx}");
    assert_eq!(r.stats.dropped_requests, 0, "{ctx}");
    if cap.is_none() {
        assert_eq!(r.stats, Http1Stats::default(), "{ctx}");
    }
}

const ROLES: [Role; 2] = [Role::Server, Role::Client];

#[test]
fn golden_whole_segments() {
    for g in &goldens() {
        for role in ROLES {
            check(g, role, Split::Whole, None, true);
            check(g, role, Split::HeadBody, None, true);
        }
    }
}

#[test]
fn golden_byte_by_byte() {
    for g in &goldens() {
        for role in ROLES {
            check(g, role, Split::Bytes, None, true);
        }
    }
}

#[test]
fn golden_random_splits() {
    for g in &goldens() {
        for role in ROLES {
            for seed in 1..=20 {
                check(g, role, Split::Random(seed * 7919), None, true);
            }
        }
    }
}

#[test]
fn golden_with_capture_truncated_to_64_bytes() {
    for g in &goldens() {
        for role in ROLES {
            // Head and body in separate syscalls: everything is recovered,
            // body sizes included, from 64-byte prefixes.
            check(g, role, Split::HeadBody, Some(64), true);
            // One syscall per message: method, path, status and timing are
            // exact; body sizes may be unknown when the head is cut.
            check(g, role, Split::Whole, Some(64), false);
            // Generous capture: exact.
            check(g, role, Split::Whole, Some(4096), true);
        }
    }
}

#[test]
fn golden_go_stream_as_written_by_go() {
    // Write boundaries observed with strace: head + first chunk, one write per
    // following chunk, then the last chunk alone.
    let resp = golden!("go_stream.resp.bin");
    let (head, body) = split_head(resp);
    let first = head.len() + 12;
    let writes = [&resp[..first], &body[12..24], &body[24..36], &body[36..]];
    assert_eq!(writes[3], b"0\r\n\r\n");
    for (cap, body_bytes, lost) in [(256, 41, 0), (64, 41 - 12, 1)] {
        let mut c = Conv::server();
        let r = c.req(golden!("go_stream.req.bin"));
        let mut last = r;
        for w in writes {
            last = c.resp_cap(w, cap);
        }
        let ex = c.take();
        assert_eq!(ex.len(), 1, "cap {cap}: complete without waiting for close");
        assert_eq!((ex[0].start_ns, ex[0].end_ns), (r.exit, last.exit), "cap {cap}");
        assert_eq!(ex[0].response_body_bytes, body_bytes, "cap {cap}: chunk in the cut head segment is not counted");
        assert_eq!(c.stats.lost_sync, lost, "cap {cap}");
    }
}

#[test]
fn golden_keepalive_pipelined_in_one_segment() {
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for i in 1..=3 {
        let (q, r): (&[u8], &[u8]) = match i {
            1 => (golden!("go_keepalive_1.req.bin"), golden!("go_keepalive_1.resp.bin")),
            2 => (golden!("go_keepalive_2.req.bin"), golden!("go_keepalive_2.resp.bin")),
            _ => (golden!("go_keepalive_3.req.bin"), golden!("go_keepalive_3.resp.bin")),
        };
        reqs.extend_from_slice(q);
        resps.extend_from_slice(r);
    }
    let mut c = Conv::client();
    c.req(&reqs);
    let mut rng = XorShift(42);
    for piece in random_split(&resps, &mut rng, 100) {
        c.resp(piece);
    }
    let got: Vec<_> =
        c.take().iter().map(|e| (e.request.path.clone(), e.response.status, e.response_body_bytes)).collect();
    let want = [("/hello", 200, 13), ("/hello", 200, 13), ("/nope", 404, 19)];
    assert_eq!(got, want.map(|(p, s, b)| (p.to_string(), s, b)));
    assert_eq!(c.stats, Http1Stats::default());
}

#[test]
fn golden_fields_and_no_secrets() {
    let g = goldens();
    let r = run(&g[0], Role::Server, Split::Whole, None);
    let e = &r.exchanges[0];
    assert_eq!(e.request.host.as_deref(), Some("127.0.0.1:18081"));
    assert_eq!(e.request.user_agent.as_deref(), Some("golden-recorder/1.0"));
    assert_eq!((e.response.version_minor, e.response.content_length), (0, Some(18)));
    assert!(e.response.connection_close);
    let dbg = format!("{:?}", r.exchanges);
    for secret in ["s3cr3t", "c00kie", "lang=en"] {
        assert!(!dbg.contains(secret), "{secret} leaked");
    }
    let ka = g.iter().find(|g| g.name == "go_keepalive").unwrap();
    let r = run(ka, Role::Client, Split::Whole, None);
    assert_eq!(
        r.exchanges[1].request.traceparent.as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert!(r.exchanges.iter().all(|e| !e.response.connection_close));
}
