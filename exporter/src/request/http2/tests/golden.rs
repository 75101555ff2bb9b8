//! Real traffic recorded between curl / Go / grpc-go / Python grpcio clients
//! and servers (see tests/golden/http2/README.md), fed whole, split at
//! random points and with the capture cut short.

use super::*;
use crate::protocol::http2::frame::{parse_frame, Frame};

macro_rules! golden {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/golden/http2/", $name)).as_slice()
    };
}

/// One recorded read by the proxy: what one side wrote, in real time order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record {
    pub from_client: bool,
    pub bytes: &'static [u8],
}

/// Parses the recording format: `[b'C' | b'S'][u32 BE length][bytes]`...
pub(super) fn records(file: &'static [u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut rest = file;
    while let [dir, a, b, c, d, tail @ ..] = rest {
        let n = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        out.push(Record { from_client: *dir == b'C', bytes: &tail[..n] });
        rest = &tail[n..];
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expect {
    pub stream: u32,
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
    pub grpc: Option<(&'static str, u32, Option<&'static str>)>,
    pub req_body: u64,
    pub resp_body: u64,
}

fn http(stream: u32, method: &'static str, path: &'static str, status: u16, req: u64, resp: u64) -> Expect {
    Expect { stream, method, path, status, grpc: None, req_body: req, resp_body: resp }
}

fn rpc(stream: u32, method: &'static str, code: u32, msg: Option<&'static str>, req: u64, resp: u64) -> Expect {
    let path = match method {
        "grpc.examples.echo.Echo/UnaryEcho" => "/grpc.examples.echo.Echo/UnaryEcho",
        "grpc.examples.echo.Echo/ServerStreamingEcho" => "/grpc.examples.echo.Echo/ServerStreamingEcho",
        "demo.Echo/Unary" => "/demo.Echo/Unary",
        ECHO_UNARY => "/spanwire.test.Echo/Unary",
        ECHO_SERVER_STREAM => "/spanwire.test.Echo/ServerStream",
        _ => "/demo.Echo/Stream",
    };
    Expect {
        stream,
        method: "POST",
        path,
        status: 200,
        grpc: Some((method, code, msg)),
        req_body: req,
        resp_body: resp,
    }
}

pub(super) struct Golden {
    pub name: &'static str,
    pub file: &'static [u8],
    pub expect: Vec<Expect>,
}

const UNARY: &str = "grpc.examples.echo.Echo/UnaryEcho";
const ECHO_UNARY: &str = "spanwire.test.Echo/Unary";
const ECHO_SERVER_STREAM: &str = "spanwire.test.Echo/ServerStream";

/// The plan `Unary:ok,Unary:not_found,ServerStream:n:2:internal` of the
/// integration/servers/grpc apps, one call after another on one connection.
/// `ok_message` is what the server sends as grpc-message with status 0.
fn echo_plan(ok_message: Option<&'static str>) -> Vec<Expect> {
    vec![
        rpc(1, ECHO_UNARY, 0, ok_message, 9, 9),
        rpc(3, ECHO_UNARY, 5, Some("not found: requested by client"), 16, 0),
        rpc(5, ECHO_SERVER_STREAM, 13, Some("internal error: requested by client"), 19, 28),
    ]
}

pub(super) fn goldens() -> Vec<Golden> {
    let nf = Some("no such thing: missing");
    vec![
        Golden { name: "curl_get", file: golden!("curl_get.bin"), expect: vec![http(1, "GET", "/hello", 200, 0, 15)] },
        Golden {
            name: "curl_404",
            file: golden!("curl_404.bin"),
            expect: vec![http(1, "GET", "/missing", 404, 0, 19)],
        },
        Golden {
            name: "curl_post",
            file: golden!("curl_post.bin"),
            expect: vec![http(1, "POST", "/upload", 200, 1468, 15)],
        },
        Golden {
            name: "go_h2c_concurrent",
            file: golden!("go_h2c_concurrent.bin"),
            expect: vec![
                http(1, "GET", "/missing", 404, 0, 19),
                http(5, "POST", "/upload", 200, 1000, 15),
                http(3, "GET", "/hello", 200, 0, 15),
                http(7, "GET", "/big", 200, 0, 6000),
            ],
        },
        Golden { name: "grpc_unary", file: golden!("grpc_unary.bin"), expect: vec![rpc(1, UNARY, 0, None, 17, 17)] },
        Golden { name: "grpc_notfound", file: golden!("grpc_notfound.bin"), expect: vec![rpc(1, UNARY, 5, nf, 14, 0)] },
        Golden {
            name: "grpc_stream",
            file: golden!("grpc_stream.bin"),
            expect: vec![rpc(1, "grpc.examples.echo.Echo/ServerStreamingEcho", 0, None, 11, 33)],
        },
        Golden { name: "grpc_big", file: golden!("grpc_big.bin"), expect: vec![rpc(1, UNARY, 0, None, 10, 12008)] },
        Golden {
            name: "grpc_concurrent",
            file: golden!("grpc_concurrent.bin"),
            expect: vec![
                rpc(5, UNARY, 5, nf, 14, 0),
                rpc(11, UNARY, 5, nf, 14, 0),
                rpc(3, UNARY, 0, None, 8, 8),
                rpc(1, UNARY, 0, None, 11, 11),
                rpc(7, UNARY, 0, None, 10, 10),
                rpc(9, UNARY, 0, None, 9, 9),
            ],
        },
        Golden {
            name: "py_grpc",
            file: golden!("py_grpc.bin"),
            expect: vec![
                rpc(1, "demo.Echo/Unary", 0, None, 13, 13),
                rpc(3, "demo.Echo/Unary", 5, Some("no such thing"), 12, 0),
                rpc(5, "demo.Echo/Stream", 0, None, 9, 27),
            ],
        },
        Golden { name: "echo_go", file: golden!("echo_go.bin"), expect: echo_plan(None) },
        Golden { name: "echo_py", file: golden!("echo_py.bin"), expect: echo_plan(None) },
        // grpc-js servers send `grpc-message: OK` with status 0.
        Golden { name: "echo_node", file: golden!("echo_node.bin"), expect: echo_plan(Some("OK")) },
    ]
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Split {
    Whole,
    Bytes,
    Random(u64),
}

/// One fed segment: which side wrote it, where its bytes sit in that side's
/// byte stream, and its times.
struct FedSeg {
    from_client: bool,
    offset: usize,
    len: usize,
    fed: Fed,
}

pub(super) struct Run {
    pub exchanges: Vec<StreamExchange>,
    pub stats: Http2Stats,
    /// Expected (start, end) per stream id, derived from the fed segments.
    pub times: Vec<(u32, u64, u64)>,
}

pub(super) fn run(g: &Golden, role: Role, how: Split, cap: Option<usize>) -> Run {
    let mut c = Conv::new(role);
    let mut rng = XorShift(match how {
        Split::Random(seed) => seed,
        _ => 1,
    });
    let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut fed = Vec::new();
    for r in records(g.file) {
        let pieces = match how {
            Split::Whole => vec![r.bytes],
            Split::Bytes => r.bytes.chunks(1).collect(),
            Split::Random(_) => random_split(r.bytes, &mut rng, 64),
        };
        let dir = if r.from_client { c.c2s() } else { c.s2c() };
        for p in pieces {
            let data = &p[..cap.unwrap_or(usize::MAX).min(p.len())];
            let side = &mut streams[usize::from(r.from_client)];
            fed.push(FedSeg {
                from_client: r.from_client,
                offset: side.len(),
                len: p.len(),
                fed: c.feed_raw(dir, data, p.len() as u64),
            });
            side.extend_from_slice(p);
        }
    }
    c.close();
    let times = expected_times(&c, &streams, &fed);
    Run { exchanges: c.take(), stats: c.stats, times }
}

/// (stream, start, end) from an independent walk over the whole byte streams:
/// start = segment with the first request HEADERS frame header, end = segment
/// with the last byte of the response frame carrying END_STREAM.
fn expected_times(c: &Conv, streams: &[Vec<u8>; 2], fed: &[FedSeg]) -> Vec<(u32, u64, u64)> {
    let seg_at = |from_client: bool, off: usize| {
        fed.iter().find(|s| s.from_client == from_client && s.offset <= off && off < s.offset + s.len).unwrap().fed
    };
    let frames = |from_client: bool| {
        let b = &streams[usize::from(from_client)];
        let mut pos = if from_client { PREFACE.len() } else { 0 };
        let mut out = Vec::new();
        while pos < b.len() {
            let f = parse_frame(&b[pos..]).unwrap();
            out.push((pos, f.len, f.frame));
            pos += f.len;
        }
        out
    };
    let mut times: Vec<(u32, u64, u64)> = Vec::new();
    for (pos, _, f) in frames(true) {
        if let Frame::Headers { stream, .. } = f {
            if !times.iter().any(|t| t.0 == stream.0) {
                times.push((stream.0, c.req_start(seg_at(true, pos)), 0));
            }
        }
    }
    for (pos, len, f) in frames(false) {
        let (stream, end) = match f {
            Frame::Headers { stream, end_stream, .. } | Frame::Data { stream, end_stream, .. } => (stream, end_stream),
            _ => continue,
        };
        if let Some(t) = times.iter_mut().find(|t| t.0 == stream.0).filter(|_| end) {
            t.2 = seg_at(false, pos + len - 1).exit;
        }
    }
    times
}

fn check_fields(ctx: &str, e: &StreamExchange, x: &Expect, role: Role) {
    assert_eq!(e.role, role, "{ctx}");
    assert_eq!(e.stream_id, StreamId(x.stream), "{ctx}");
    assert_eq!(e.method.as_deref(), Some(x.method), "{ctx}");
    assert_eq!(e.path.as_deref(), Some(x.path), "{ctx}");
    assert_eq!(e.status, Some(x.status), "{ctx}");
    assert_eq!(e.scheme.as_deref(), Some("http"), "{ctx}");
    let grpc = e.grpc.as_ref().map(|g| (g.method.as_str(), g.status_code.unwrap(), g.message.as_deref()));
    assert_eq!(grpc, x.grpc, "{ctx}");
    assert_eq!((e.request_body_bytes, e.response_body_bytes), (x.req_body, x.resp_body), "{ctx}");
    assert_eq!((e.reset, e.end), (None, StreamEnd::Complete), "{ctx}");
    assert!(e.headers_known, "{ctx}");
}

fn check(g: &Golden, role: Role, how: Split, cap: Option<usize>) {
    let ctx = format!("{} {role:?} {how:?} cap={cap:?}", g.name);
    let r = run(g, role, how, cap);
    assert_eq!(r.exchanges.len(), g.expect.len(), "{ctx}: {:#?}", r.exchanges);
    for (e, x) in r.exchanges.iter().zip(&g.expect) {
        let ctx = format!("{ctx} stream {}", x.stream);
        check_fields(&ctx, e, x, role);
        let t = r.times.iter().find(|t| t.0 == x.stream).unwrap();
        assert_eq!((e.start_ns, e.end_ns), (t.1, t.2), "{ctx}");
    }
    assert_eq!(r.stats, Http2Stats::default(), "{ctx}");
}

const ROLES: [Role; 2] = [Role::Server, Role::Client];

#[test]
fn golden_whole_segments() {
    for g in &goldens() {
        for role in ROLES {
            check(g, role, Split::Whole, None);
        }
    }
}

#[test]
fn golden_byte_by_byte() {
    for g in &goldens() {
        for role in ROLES {
            check(g, role, Split::Bytes, None);
        }
    }
}

#[test]
fn golden_random_splits() {
    for g in &goldens() {
        for role in ROLES {
            for seed in 1..=20 {
                check(g, role, Split::Random(seed * 7919), None);
            }
        }
    }
}

#[test]
fn golden_with_capture_truncated_to_512_bytes() {
    for g in goldens().iter().filter(|g| g.name != "grpc_big") {
        for role in ROLES {
            // DATA payloads beyond the capture are followed by length.
            check(g, role, Split::Whole, Some(512));
        }
    }
}

#[test]
fn golden_grpc_big_truncated_loses_only_the_trailers() {
    // The server wrote HEADERS + DATA(12008) + trailers in one write: with 512
    // captured bytes the trailers' frame header is invisible.
    let g = goldens().into_iter().find(|g| g.name == "grpc_big").unwrap();
    for role in ROLES {
        let r = run(&g, role, Split::Whole, Some(512));
        assert_eq!(r.exchanges.len(), 1);
        let e = &r.exchanges[0];
        assert_eq!((e.method.as_deref(), e.status, e.response_body_bytes), (Some("POST"), Some(200), 12008));
        let grpc = e.grpc.as_ref().unwrap();
        assert_eq!((grpc.method.as_str(), grpc.status_code), (UNARY, None), "never a guessed status");
        assert!(!e.headers_known);
        assert_eq!(e.end, StreamEnd::Closed);
        let t = r.times[0];
        assert_eq!(e.start_ns, t.1);
        assert_eq!(e.end_ns, t.2, "ends with the segment that carried the (last seen) response bytes");
        assert_eq!((r.stats.lost_sync, r.stats.frame_errors, r.stats.hpack_errors), (1, 0, 0));
    }
}

#[test]
fn golden_fields_and_no_secrets() {
    let g = goldens();
    let r = run(&g[0], Role::Server, Split::Whole, None);
    let e = &r.exchanges[0];
    assert_eq!(e.authority.as_deref(), Some("127.0.0.1:18121"));
    assert_eq!(e.user_agent.as_deref(), Some("golden-recorder/1.0"));
    assert_eq!(e.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(e.traceparent.as_deref(), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    let unary = g.iter().find(|g| g.name == "grpc_unary").unwrap();
    let r2 = run(unary, Role::Client, Split::Whole, None);
    let e = &r2.exchanges[0];
    assert_eq!(e.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
    assert_eq!(e.content_type.as_deref(), Some("application/grpc"));
    assert!(e.user_agent.as_deref().unwrap().starts_with("golden-recorder grpc-go/"));
    let dbg = format!("{:?}{:?}", r.exchanges, r2.exchanges);
    for secret in ["s3cr3t", "c00kie", "lang=en"] {
        assert!(!dbg.contains(secret), "{secret} leaked");
    }
}

#[test]
fn golden_role_from_the_preface() {
    for g in &goldens() {
        for role in ROLES {
            let mut c = Conv::new(role);
            let first_client = records(g.file).into_iter().find(|r| r.from_client).unwrap();
            c.client(first_client.bytes);
            assert_eq!(c.conn.role(), Some(role), "{}", g.name);
        }
    }
}

#[test]
fn golden_h2c_upgrade() {
    // HTTP/1.1 request with `Upgrade: h2c`, `101`, then HTTP/2 with the
    // response on stream 1. The HTTP/1 layer handles the first two records.
    let recs = records(golden!("curl_upgrade.bin"));
    assert!(recs[0].bytes.starts_with(b"GET /hello HTTP/1.1\r\n") && recs[1].bytes.starts_with(b"HTTP/1.1 101"));
    for role in ROLES {
        let mut c = Conv::new(role);
        let up = H2cUpgrade {
            method: "GET".into(),
            path: "/hello".into(),
            authority: Some("127.0.0.1:18124".into()),
            user_agent: Some("golden-recorder/1.0".into()),
            start_ns: 42,
            ..H2cUpgrade::default()
        };
        c.conn = Http2Connection::after_h2c_upgrade(Http2Limits::default(), role, up);
        let mut last = None;
        for r in &recs[2..] {
            let fed = if r.from_client { c.client(r.bytes) } else { c.server(r.bytes) };
            if !r.from_client && r.bytes.ends_with(b"hello over h2c\n") {
                last = Some(fed);
            }
        }
        let ex = c.take();
        assert_eq!(ex.len(), 1, "{ex:?}");
        let e = &ex[0];
        assert_eq!(
            (e.stream_id, e.method.as_deref(), e.path.as_deref(), e.status),
            (StreamId(1), Some("GET"), Some("/hello"), Some(200))
        );
        assert_eq!((e.start_ns, e.end_ns, e.response_body_bytes), (42, last.unwrap().exit, 15));
        assert!(e.headers_known);
        assert_eq!(c.stats, Http2Stats::default());
    }
}
